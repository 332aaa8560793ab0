//! The PCI host bridge of the hosted machine, driven as a driver would: enumeration through
//! `HalGetBusDataByOffset`, BAR sizing through ports 0xCF8/0xCFC and ECAM, BARs assigned by
//! firmware, translated and mapped with `MmMapIoSpace`, and the device models reached through the
//! register and port routines. Scenarios run on both personalities.

mod common;

use common::*;
use iospace_devices::edu::{DMA_FROM_DEVICE, DMA_IRQ, DMA_START, EDU_IDENTIFICATION, IRQ_DMA, regs};
use iospace_devices::pci::{command, status};
use iospace_devices::pci_testdev::header;
use iospace_hal::ports::*;
use iospace_hal::registers::*;
use iospace_hal::{
    AddressSpace, InterfaceType, PciSlot, hal_get_bus_data_by_offset, hal_set_bus_data_by_offset,
};
use iospace_hosted::Machine;
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::nt;

const EDU: (u16, u16) = (0x1234, 0x11e8);
const IVSHMEM: (u16, u16) = (0x1af4, 0x1110);
const PCI_TESTDEV: (u16, u16) = (0x1b36, 0x0005);
const HOST_BRIDGE: (u16, u16) = (0x8086, 0x29c0);
const ECAM_BASE: u64 = 0xB000_0000;

/// Both personalities' machines.
fn machines() -> [Machine; 2] {
    [machine(), boot(&memory_mapped_ports())]
}

fn find(machine: &Machine, (vendor, device): (u16, u16)) -> PciSlot {
    find_pci(machine, vendor, device).expect("the device is on bus 0")
}

/// CONFIG_ADDRESS for register `offset` of device `device` on bus 0.
fn config_address(device: u8, offset: u8) -> u32 {
    0x8000_0000 | u32::from(device) << 11 | u32::from(offset & 0xFC)
}

#[test]
fn enumeration_through_hal_get_bus_data_finds_the_q35_devices() {
    for machine in machines() {
        assert_eq!(find(&machine, HOST_BRIDGE).device(), 0);
        assert_eq!(find(&machine, EDU).device(), 1, "devices take numbers from 1 in description order");
        assert_eq!(find(&machine, IVSHMEM).device(), 2);
        assert_eq!(find(&machine, PCI_TESTDEV).device(), 3);
        // The host bridge's class is 0x0600.
        assert_eq!(config_read_u32(&machine, PciSlot::new(0, 0).unwrap(), 0x08) >> 16, 0x0600);
        // An empty slot: 2 bytes of PCI_INVALID_VENDORID; another bus: 0.
        let mut buffer = [0u8; 4];
        let empty = PciSlot::new(9, 0).unwrap().slot_number();
        assert_eq!(hal_get_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, empty, &mut buffer, 0), 2);
        assert_eq!(buffer[..2], [0xFF, 0xFF]);
        let function_1 = PciSlot::new(1, 1).unwrap().slot_number();
        assert_eq!(hal_get_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, function_1, &mut buffer, 0), 2);
        assert_eq!(hal_get_bus_data_by_offset(&machine, PCI_CONFIGURATION, 1, 0, &mut buffer, 0), 0);
        // A whole header reads at once.
        let mut header = [0u8; 64];
        let edu = find(&machine, EDU).slot_number();
        assert_eq!(hal_get_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, edu, &mut header, 0), 64);
        assert_eq!(header[..4], [0x34, 0x12, 0xe8, 0x11]);
        assert_eq!(header[0x3D], 1, "edu's interrupt pin is INTA#");
        assert_eq!(header[0x3C], 10, "firmware routed it: link B (device 1, INTA#) at IRQ 10");
    }
}

#[test]
fn firmware_assigns_every_bar_and_enables_decoding_and_bus_mastering() {
    let machine = machine();
    let edu = find(&machine, EDU);
    let ivshmem = find(&machine, IVSHMEM);
    let testdev = find(&machine, PCI_TESTDEV);
    assert_eq!(raw_bar(&machine, edu, 0), (AddressSpace::Memory, 0xFEA0_0000));
    let (space, ivshmem_bar0) = raw_bar(&machine, ivshmem, 0);
    assert_eq!(space, AddressSpace::Memory);
    assert!((0xC000_0000..0xFEC0_0000).contains(&ivshmem_bar0) && ivshmem_bar0 % 4096 == 0);
    assert_eq!(raw_bar(&machine, ivshmem, 2), (AddressSpace::Memory, 0x80_0000_0000), "64-bit window");
    let (_, testdev_bar0) = raw_bar(&machine, testdev, 0);
    assert!(testdev_bar0 % 4096 == 0 && testdev_bar0 != ivshmem_bar0, "no two devices share a page");
    assert_eq!(raw_bar(&machine, testdev, 1), (AddressSpace::Port, 0xC000));
    for (slot, expected) in [
        (edu, command::MEMORY_SPACE | command::BUS_MASTER),
        (ivshmem, command::MEMORY_SPACE | command::BUS_MASTER),
        (testdev, command::MEMORY_SPACE | command::IO_SPACE | command::BUS_MASTER),
    ] {
        assert_eq!(config_read_u32(&machine, slot, 0x04) & 0xFFFF, u32::from(expected), "{slot}");
    }
    // The listing the CLI uses: each device's BAR0 as the CPU sees it.
    let devices = machine.bus().devices();
    let names: Vec<_> = devices.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, ["edu", "pci-testdev", "ivshmem"], "by address");
    assert_eq!(devices[0].1.0, 0xFEA0_0000);
    assert_eq!(devices[0].2, 1 << 20);
    assert_eq!(machine.bus().legacy().uart_ports(), [0x3F8]);
}

#[test]
fn bar_sizing_through_config_ports_0xcf8_0xcfc() {
    let machine = machine();
    let mm = machine.mm();
    let address = |register| config_address(1, register) as *mut u32;
    let data = 0xCFC as *mut u32;
    let config_port = 0xCF8 as *mut u32;
    // The edu's BAR0, sized as a driver (or the PCI bus driver) does: decoding off, all ones,
    // read back the mask, restore, decoding on.
    write_port_ulong(&machine, mm, config_port, address(0x04) as u32);
    let command_register = read_port_ulong(&machine, mm, data);
    write_port_ulong(&machine, mm, data, command_register & !u32::from(command::MEMORY_SPACE));
    write_port_ulong(&machine, mm, config_port, address(0x10) as u32);
    let original = read_port_ulong(&machine, mm, data);
    assert_eq!(original, 0xFEA0_0000);
    write_port_ulong(&machine, mm, data, 0xFFFF_FFFF);
    let mask = read_port_ulong(&machine, mm, data);
    assert_eq!(mask, 0xFFF0_0000, "1 MiB, 32-bit, non-prefetchable");
    assert_eq!((!(mask & !0xF)).wrapping_add(1), 1 << 20);
    write_port_ulong(&machine, mm, data, original);
    write_port_ulong(&machine, mm, config_port, address(0x04) as u32);
    write_port_ulong(&machine, mm, data, command_register);
    // CONFIG_ADDRESS reads back; byte and word lanes of CONFIG_DATA reach the right registers.
    write_port_ulong(&machine, mm, config_port, config_address(1, 0));
    assert_eq!(read_port_ulong(&machine, mm, config_port), config_address(1, 0));
    assert_eq!(read_port_ushort(&machine, mm, 0xCFE as *mut u16), 0x11e8);
    assert_eq!(read_port_uchar(&machine, mm, 0xCFD as *mut u8), 0x12);

    // The device decodes again where it was.
    let (registers, mapped) =
        driver_pointer::<u8>(&machine, InterfaceType::PciBus, (AddressSpace::Memory, 0xFEA0_0000), 0x1000);
    let id = read_register_ulong(&machine, mm, registers.cast());
    assert_eq!(id, EDU_IDENTIFICATION);
    release_pointer(&machine, (registers, mapped), 0x1000);
}

#[test]
fn bar_sizing_through_ecam_and_decoding_follows_the_bar() {
    let machine = machine();
    let mm = machine.mm();
    let testdev = find(&machine, PCI_TESTDEV);
    let ecam = nt::mm_map_io_space(
        mm,
        (ECAM_BASE + (u64::from(testdev.device()) << 15)) as i64,
        4096,
        MemoryCachingType::NonCached as i32,
    );
    assert!(!ecam.is_null());
    let register = |offset: usize| ecam.cast::<u8>().wrapping_add(offset).cast::<u32>();
    assert_eq!(read_register_ulong(&machine, mm, register(0)), 0x0005_1b36);
    // BAR1, the I/O BAR: 256 ports.
    let original = read_register_ulong(&machine, mm, register(0x14));
    assert_eq!(original, 0xC001);
    write_register_ulong(&machine, mm, register(0x14), 0xFFFF_FFFF);
    assert_eq!(read_register_ulong(&machine, mm, register(0x14)), 0xFFFF_FF01);
    // While sized, the BAR decodes nothing: the port floats.
    assert_eq!(read_port_uchar(&machine, mm, 0xC000 as *mut u8), 0xFF);
    // Moved to 0xD000, it decodes there and not at 0xC000.
    write_register_ulong(&machine, mm, register(0x14), 0xD000);
    write_port_uchar(&machine, mm, 0xD000 as *mut u8, 0);
    assert_eq!(read_port_uchar(&machine, mm, 0xD000 as *mut u8), 3, "test 3 selected through BAR1");
    assert_eq!(read_port_uchar(&machine, mm, 0xC000 as *mut u8), 0xFF);
    write_register_ulong(&machine, mm, register(0x14), original);
    // BAR0 (4 KiB memory) sizes the same way.
    write_register_ulong(&machine, mm, register(0x10), 0xFFFF_FFFF);
    assert_eq!(read_register_ulong(&machine, mm, register(0x10)), 0xFFFF_F000);
    // Extended configuration space and other buses read all ones.
    assert_eq!(read_register_ulong(&machine, mm, register(0x100)), 0xFFFF_FFFF);
    nt::mm_unmap_io_space(mm, ecam, 4096);
    let other_bus = nt::mm_map_io_space(mm, (ECAM_BASE + (1 << 20)) as i64, 4096, 0);
    assert_eq!(read_register_ulong(&machine, mm, other_bus.cast()), 0xFFFF_FFFF);
    nt::mm_unmap_io_space(mm, other_bus, 4096);
}

#[test]
fn hal_set_bus_data_by_offset_writes_the_command_register() {
    let machine = machine();
    let edu = find(&machine, EDU);
    let slot = edu.slot_number();
    let off = command::BUS_MASTER.to_le_bytes();
    assert_eq!(hal_set_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, slot, &off, 0x04), 2);
    assert_eq!(config_read_u32(&machine, edu, 0x04) & 0xFFFF, u32::from(command::BUS_MASTER));
    // With memory decoding off, edu's registers float.
    let (registers, mapped) =
        driver_pointer::<u32>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 0x1000);
    assert_eq!(read_register_ulong(&machine, machine.mm(), registers), 0xFFFF_FFFF);
    let on = (command::BUS_MASTER | command::MEMORY_SPACE).to_le_bytes();
    assert_eq!(hal_set_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, slot, &on, 0x04), 2);
    assert_eq!(read_register_ulong(&machine, machine.mm(), registers), EDU_IDENTIFICATION);
    release_pointer(&machine, (registers, mapped), 0x1000);
    // Read-only identification keeps its value; an empty slot takes nothing.
    assert_eq!(hal_set_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, slot, &[0; 4], 0), 4);
    assert_eq!(config_read_u32(&machine, edu, 0), 0x11e8_1234);
    let empty = PciSlot::new(20, 0).unwrap().slot_number();
    assert_eq!(hal_set_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, empty, &on, 0x04), 0);
}

#[test]
fn edu_bar0_maps_and_reads_its_identification_on_both_personalities() {
    for machine in machines() {
        let edu = find(&machine, EDU);
        let (registers, mapped) =
            driver_pointer::<u32>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 1 << 20);
        assert!(mapped, "memory is always mapped");
        assert_eq!(read_register_ulong(&machine, machine.mm(), registers), 0x010000ed);
        release_pointer(&machine, (registers, mapped), 1 << 20);
    }
}

#[test]
fn claim_72_edu_sees_a_register_write_before_the_access_that_follows_it() {
    for machine in machines() {
        let mm = machine.mm();
        let edu = find(&machine, EDU);
        let (registers, mapped) =
            driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 0x1000);
        let register = |offset: u64| registers.wrapping_add(offset as usize).cast::<u32>();
        write_register_ulong(&machine, mm, register(regs::LIVENESS), 0x1234_5678);
        assert_eq!(read_register_ulong(&machine, mm, register(regs::LIVENESS)), !0x1234_5678);
        write_register_ulong(&machine, mm, register(regs::FACTORIAL), 5);
        assert_eq!(read_register_ulong(&machine, mm, register(regs::FACTORIAL)), 120);
        release_pointer(&machine, (registers, mapped), 0x1000);
    }
}

#[test]
fn claim_73_register_buffers_walk_consecutive_registers_of_the_edu_buffer() {
    for machine in machines() {
        let mm = machine.mm();
        let edu = find(&machine, EDU);
        let (registers, mapped) =
            driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 1 << 20);
        let buffer = registers.wrapping_add(0x40000).cast::<u32>();
        let pattern: Vec<u32> = (0..16).map(|i| 0xA5A5_0000 | i).collect();
        write_register_buffer_ulong(&machine, mm, buffer, &pattern);
        for (i, &value) in pattern.iter().enumerate() {
            assert_eq!(read_register_ulong(&machine, mm, buffer.wrapping_add(i)), value);
        }
        let mut back = [0u32; 16];
        read_register_buffer_ulong(&machine, mm, buffer, &mut back);
        assert_eq!(back[..], pattern[..]);
        release_pointer(&machine, (registers, mapped), 1 << 20);
    }
}

/// Polls edu's DMA command register until the transfer is done.
fn wait_for_dma(machine: &Machine, command_register: *mut u64) {
    for _ in 0..100 {
        if read_register_ulong64(machine, machine.mm(), command_register) & DMA_START == 0 {
            return;
        }
    }
    panic!("edu DMA did not complete");
}

#[test]
fn edu_dma_round_trip_through_contiguous_memory() {
    // All the device buffer a transfer may cover: QEMU 7.2 refuses one reaching its last byte.
    const DMA_BYTES: usize = 0x1000 - 8;
    for machine in machines() {
        let mm = machine.mm();
        let edu = find(&machine, EDU);
        let (registers, mapped) =
            driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 1 << 20);
        let register64 = |offset: u64| registers.wrapping_add(offset as usize).cast::<u64>();
        let register32 = |offset: u64| registers.wrapping_add(offset as usize).cast::<u32>();

        // A DMA buffer edu can reach: below 2^28, physically contiguous.
        let buffer = nt::mm_allocate_contiguous_memory_specify_cache(
            mm,
            0x2000,
            0,
            (1 << 28) - 1,
            0,
            MemoryCachingType::Cached as i32,
        );
        assert!(!buffer.is_null());
        let physical = nt::mm_get_physical_address(mm, buffer) as u64;
        assert!(physical + 0x2000 <= 1 << 28);
        let bytes = buffer.cast::<u8>();
        for i in 0..DMA_BYTES {
            // SAFETY: the buffer is 0x2000 bytes of RAM mapped read-write.
            unsafe { bytes.add(i).write_volatile((i * 7 + 3) as u8) };
        }

        // RAM -> device buffer, with the completion interrupt.
        write_register_ulong64(&machine, mm, register64(regs::DMA_SOURCE), physical);
        write_register_ulong64(&machine, mm, register64(regs::DMA_DESTINATION), 0x40000);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COUNT), DMA_BYTES as u64);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COMMAND), DMA_START | DMA_IRQ);
        wait_for_dma(&machine, register64(regs::DMA_COMMAND));
        assert_eq!(read_register_ulong(&machine, mm, register32(regs::INTERRUPT_STATUS)), IRQ_DMA);
        assert!(machine.bus().pci().interrupt_pending(edu.device()), "INTA# asserted");
        let pci_status = config_read_u32(&machine, edu, 0x04) >> 16;
        assert_ne!(pci_status & u32::from(status::INTERRUPT), 0, "the PCI status shows the interrupt");
        write_register_ulong(&machine, mm, register32(regs::INTERRUPT_ACK), IRQ_DMA);
        assert_eq!(read_register_ulong(&machine, mm, register32(regs::INTERRUPT_STATUS)), 0);
        assert!(!machine.bus().pci().interrupt_pending(edu.device()));
        assert_eq!(
            read_register_ulong(&machine, mm, register32(0x40000 + 8)),
            u32::from_le_bytes([59, 66, 73, 80])
        );

        // Device buffer -> RAM, one page further on.
        write_register_ulong64(&machine, mm, register64(regs::DMA_SOURCE), 0x40000);
        write_register_ulong64(&machine, mm, register64(regs::DMA_DESTINATION), physical + 0x1000);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COUNT), DMA_BYTES as u64);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COMMAND), DMA_START | DMA_FROM_DEVICE);
        wait_for_dma(&machine, register64(regs::DMA_COMMAND));
        for i in 0..DMA_BYTES {
            // SAFETY: as above.
            let (sent, received) =
                unsafe { (bytes.add(i).read_volatile(), bytes.add(0x1000 + i).read_volatile()) };
            assert_eq!(sent, received, "byte {i:#x}");
        }

        // DMA to where there is no RAM is a master abort: nothing moves, the status says so.
        write_register_ulong64(&machine, mm, register64(regs::DMA_SOURCE), 0x40000);
        write_register_ulong64(&machine, mm, register64(regs::DMA_DESTINATION), 0x0A_0000);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COUNT), 0x10);
        write_register_ulong64(&machine, mm, register64(regs::DMA_COMMAND), DMA_START | DMA_FROM_DEVICE);
        wait_for_dma(&machine, register64(regs::DMA_COMMAND));
        let pci_status = config_read_u32(&machine, edu, 0x04) >> 16;
        assert_ne!(pci_status & u32::from(status::RECEIVED_MASTER_ABORT), 0);

        nt::mm_free_contiguous_memory(mm, buffer);
        release_pointer(&machine, (registers, mapped), 1 << 20);
    }
}

#[test]
fn ivshmem_writes_through_bar2_reach_the_shared_file_seen_from_outside_the_machine() {
    for description in [iospace_hosted::MachineDescription::default(), memory_mapped_ports()] {
        let machine = boot_keeping_files(&description);
        let mm = machine.mm();
        let ivshmem = find(&machine, IVSHMEM);
        let bar2 = raw_bar(&machine, ivshmem, 2);
        let (shared, mapped) = driver_pointer::<u8>(&machine, InterfaceType::PciBus, bar2, 0x10000);
        let pattern: Vec<u32> = (0..64u32).map(|i| i.wrapping_mul(0x0101_0101) ^ 0xDEAD_BEEF).collect();
        let at = shared.wrapping_add(0x8000).cast::<u32>();
        write_register_buffer_ulong(&machine, mm, at, &pattern);
        write_register_uchar(&machine, mm, shared, b'!');

        // Another party opens the file: the bytes are there.
        let path = &machine.ivshmem_paths()[0];
        let file = std::fs::read(path).expect("the shared file exists");
        assert_eq!(file.len(), 4 << 20);
        let expected: Vec<u8> = pattern.iter().flat_map(|value| value.to_le_bytes()).collect();
        assert_eq!(file[0x8000..0x8000 + expected.len()], expected[..]);
        assert_eq!(file[0], b'!');
        // And what the other party writes, the guest reads.
        let mut other = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        std::io::Seek::seek(&mut other, std::io::SeekFrom::Start(0x100)).unwrap();
        std::io::Write::write_all(&mut other, &0x600D_F00Du32.to_le_bytes()).unwrap();
        drop(other);
        assert_eq!(read_register_ulong(&machine, mm, shared.wrapping_add(0x100).cast()), 0x600D_F00D);

        release_pointer(&machine, (shared, mapped), 0x10000);
        let path = path.clone();
        drop(machine);
        assert!(path.exists(), "the file outlives the machine");
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn a_large_ivshmem_bar_decodes_by_gib_granules_to_its_last_byte() {
    let path = std::env::temp_dir().join(format!("iospace-ivshmem-large-{}", std::process::id()));
    let mut description = iospace_hosted::MachineDescription::default();
    description.devices[1].size = Some(2 << 30);
    description.devices[1].path = Some(path.clone());
    let machine = boot_keeping_files(&description);
    let mm = machine.mm();
    let ivshmem = find(&machine, IVSHMEM);
    let (space, bar2) = raw_bar(&machine, ivshmem, 2);
    assert_eq!(bar2 % (2 << 30), 0, "naturally aligned");
    let last_page = (space, bar2 + (2 << 30) - 0x1000);
    let (pointer, mapped) = driver_pointer::<u8>(&machine, InterfaceType::PciBus, last_page, 0x1000);
    write_register_ulong64(&machine, mm, pointer.wrapping_add(0xFF8).cast(), 0x0123_4567_89AB_CDEF);
    release_pointer(&machine, (pointer, mapped), 0x1000);
    drop(machine);
    let file = std::fs::File::open(&path).unwrap();
    let mut last = [0u8; 8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, (2 << 30) - 8).unwrap();
    assert_eq!(u64::from_le_bytes(last), 0x0123_4567_89AB_CDEF);
    std::fs::remove_file(path).unwrap();
}

/// Selects pci-testdev test `number` (within the BAR's group) at `bar`, writes 0xFA to its offset
/// `writes` times and returns the count the device reports.
fn testdev_count_u8(machine: &Machine, bar: *mut u8, number: u8, writes: usize, port: bool) -> u32 {
    let mm = machine.mm();
    let at = |offset: u64| bar.wrapping_add(offset as usize);
    if port {
        write_port_uchar(machine, mm, at(header::TEST), number);
        let offset = read_port_ulong(machine, mm, at(header::OFFSET).cast());
        for _ in 0..writes {
            write_port_uchar(machine, mm, at(offset.into()), 0xFA);
        }
        read_port_ulong(machine, mm, at(header::COUNT).cast())
    } else {
        write_register_uchar(machine, mm, at(header::TEST), number);
        let offset = read_register_ulong(machine, mm, at(header::OFFSET).cast());
        for _ in 0..writes {
            write_register_uchar(machine, mm, at(offset.into()), 0xFA);
        }
        read_register_ulong(machine, mm, at(header::COUNT).cast())
    }
}

#[test]
fn pci_testdev_counts_memory_and_port_bar_writes_on_both_personalities() {
    for machine in machines() {
        let testdev = find(&machine, PCI_TESTDEV);
        let memory =
            driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_bar(&machine, testdev, 0), 0x1000);
        assert_eq!(testdev_count_u8(&machine, memory.0, 0, 3, false), 3, "mmio-no-eventfd counts");
        assert_eq!(testdev_count_u8(&machine, memory.0, 1, 3, false), 0, "the eventfd takes the writes");
        release_pointer(&machine, memory, 0x1000);
        let raw_ports = raw_bar(&machine, testdev, 1);
        assert_eq!(raw_ports.0, AddressSpace::Port);
        let ports = driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_ports, 0x100);
        assert_eq!(testdev_count_u8(&machine, ports.0, 0, 5, true), 5, "portio-no-eventfd counts");
        release_pointer(&machine, ports, 0x100);
    }
}

#[test]
fn claim_20_translated_ports_of_pci_testdev_are_used_unmapped_on_x86() {
    let machine = machine();
    let testdev = find(&machine, PCI_TESTDEV);
    let before = machine.mm().io_mappings().len();
    let (ports, mapped) =
        driver_pointer::<u8>(&machine, InterfaceType::PciBus, raw_bar(&machine, testdev, 1), 0x100);
    assert!(!mapped);
    assert_eq!(ports as usize, 0xC000, "the port number is the low 32 bits");
    assert_eq!(testdev_count_u8(&machine, ports, 0, 2, true), 2);
    assert_eq!(machine.mm().io_mappings().len(), before, "nothing was mapped");
}

#[test]
fn ports_nothing_decodes_float_high_and_the_tick_completes_pending_work() {
    let machine = machine();
    let mm = machine.mm();
    assert_eq!(read_port_ulong(&machine, mm, 0x1000 as *mut u32), 0xFFFF_FFFF);
    assert_eq!(read_port_uchar(&machine, mm, 0xCF9 as *mut u8), 0xFF, "only a dword reaches CONFIG_ADDRESS");
    write_port_ulong(&machine, mm, 0x1000 as *mut u32, 0);
    machine.tick();
}

#[test]
fn register_accesses_and_reconfiguration_on_other_threads_do_not_deadlock() {
    let machine = machine();
    let edu = find(&machine, EDU);
    let testdev = find(&machine, PCI_TESTDEV);
    let (registers, mapped) =
        driver_pointer::<u32>(&machine, InterfaceType::PciBus, raw_bar(&machine, edu, 0), 0x1000);
    let address = registers as usize;
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..2000 {
                    let id = read_register_ulong(&machine, machine.mm(), address as *const u32);
                    assert_eq!(id, EDU_IDENTIFICATION);
                }
            });
        }
        scope.spawn(|| {
            // Each write rebuilds the decode maps while the readers run.
            for i in 0..500u16 {
                let value = if i % 2 == 0 { 0 } else { command::MEMORY_SPACE | command::IO_SPACE };
                let slot = testdev.slot_number();
                hal_set_bus_data_by_offset(&machine, PCI_CONFIGURATION, 0, slot, &value.to_le_bytes(), 0x04);
            }
        });
    });
    release_pointer(&machine, (registers, mapped), 0x1000);
}
