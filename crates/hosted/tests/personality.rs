//! The two personalities side by side: x86 (separate port space, bus memory = CPU memory) and
//! memory-mapped ports (port space at a CPU physical window, bus memory at an offset). The
//! same driver steps — translate the raw resource, map it if it translated to memory, use the
//! routines its raw type calls for — work on both.

mod common;

use common::*;
use iospace_devices::uart16550::{fcr, lsr, mcr, regs};
use iospace_hal::ports::*;
use iospace_hal::registers::*;
use iospace_hal::{AddressSpace, InterfaceType, hal_translate_bus_address};
use iospace_hosted::Machine;
use iospace_hosted::description::{DEFAULT_MEMORY_OFFSET, DEFAULT_PORT_WINDOW};
use iospace_mm::nt;

const COM1: (AddressSpace, u64) = (AddressSpace::Port, 0x3F8);

/// Sends `message` through the UART at `base` (a port number or a mapped VA) in loopback mode
/// and reads it back, with the port routines only. At most 16 bytes: the receive FIFO.
fn uart_loopback(machine: &Machine, base: *mut u8, message: &[u8]) -> Vec<u8> {
    let mm = machine.mm();
    let port = |offset: u16| base.wrapping_add(offset.into());
    write_port_uchar(machine, mm, port(regs::MCR), mcr::LOOPBACK | mcr::OUT2);
    write_port_uchar(
        machine,
        mm,
        port(regs::IIR_FCR),
        fcr::ENABLE | fcr::CLEAR_RECEIVE | fcr::CLEAR_TRANSMIT,
    );
    // Claim 73: the buffer form writes the same port (THR) once per byte.
    write_port_buffer_uchar(machine, mm, port(regs::DATA), message);
    assert_ne!(read_port_uchar(machine, mm, port(regs::LSR)) & lsr::DATA_READY, 0);
    let mut received = vec![0u8; message.len()];
    read_port_buffer_uchar(machine, mm, port(regs::DATA), &mut received);
    assert_eq!(read_port_uchar(machine, mm, port(regs::LSR)) & lsr::DATA_READY, 0, "all taken");
    write_port_uchar(machine, mm, port(regs::MCR), mcr::OUT2);
    received
}

#[test]
fn claim_73_uart_loopback_through_port_numbers_on_x86() {
    let machine = machine();
    let (base, mapped) = driver_pointer::<u8>(&machine, InterfaceType::Isa, COM1, 8);
    assert!(!mapped, "ports stay ports on x86");
    assert_eq!(base as usize, 0x3F8);
    assert_eq!(uart_loopback(&machine, base, b"hello, COM1"), b"hello, COM1");
    // The same port routines with the literal port number, as a legacy driver writes them.
    let mm = machine.mm();
    write_port_uchar(&machine, mm, 0x3FF as *mut u8, 0x5A);
    assert_eq!(read_port_uchar(&machine, mm, 0x3FF as *const u8), 0x5A, "the scratch register");
    // Outside loopback, what the guest sends reaches the host side.
    write_port_buffer_uchar(&machine, mm, 0x3F8 as *mut u8, b"out");
    assert_eq!(machine.bus().legacy().take_output(0x3F8).unwrap(), b"out");
}

#[test]
fn claim_19_raw_port_translates_to_memory_mapped_and_used_with_port_routines() {
    let machine = boot(&memory_mapped_ports());
    let translated = machine.translator().translate_range(
        InterfaceType::Isa,
        0,
        iospace_hal::BusAddress(0x3F8),
        8,
        AddressSpace::Port,
    );
    assert_eq!(
        translated,
        Some((AddressSpace::Memory, DEFAULT_PORT_WINDOW + 0x3F8)),
        "raw Port, translated Memory"
    );
    let (base, mapped) = driver_pointer::<u8>(&machine, InterfaceType::Isa, COM1, 8);
    assert!(mapped);
    assert!(base as u64 > 0xFFFF, "a mapped VA, never mistaken for a port number");
    assert_eq!(nt::mm_get_physical_address(machine.mm(), base.cast()) as u64, DEFAULT_PORT_WINDOW + 0x3F8);
    assert_eq!(uart_loopback(&machine, base, b"via port window"), b"via port window");
    release_pointer(&machine, (base, mapped), 8);
}

#[test]
fn the_memory_mapped_personality_has_no_io_instructions() {
    let machine = boot(&memory_mapped_ports());
    let mm = machine.mm();
    // `in`/`out` reach nothing: the UART is only behind the port window.
    write_port_uchar(&machine, mm, 0x3FF as *mut u8, 0x5A);
    assert_eq!(read_port_uchar(&machine, mm, 0x3FF as *const u8), 0xFF);
    assert_eq!(read_port_ulong(&machine, mm, 0xCFC as *const u32), 0xFFFF_FFFF);
    // Configuration mechanism #1 works through the window, as any port does.
    let (config, mapped) =
        driver_pointer::<u8>(&machine, InterfaceType::Internal, (AddressSpace::Port, 0xCF8), 8);
    assert!(mapped);
    write_port_ulong(&machine, mm, config.cast(), 0x8000_0000 | 1 << 11);
    assert_eq!(read_port_ulong(&machine, mm, config.wrapping_add(4).cast()), 0x11e8_1234);
    assert_eq!(read_port_uchar(&machine, mm, 0x3FF as *const u8), 0xFF, "the scratch byte never got there");
    release_pointer(&machine, (config, mapped), 8);
}

#[test]
fn bus_memory_appears_at_the_offset_and_not_at_the_bus_address() {
    let machine = boot(&memory_mapped_ports());
    let mm = machine.mm();
    let at = |physical: u64| {
        let va = nt::mm_map_io_space(mm, physical as i64, 0x1000, 0);
        assert!(!va.is_null());
        let id = read_register_ulong(&machine, mm, va.cast());
        nt::mm_unmap_io_space(mm, va, 0x1000);
        id
    };
    assert_eq!(at(0xFEA0_0000 + DEFAULT_MEMORY_OFFSET), 0x010000ed);
    assert_eq!(at(0xFEA0_0000), 0xFFFF_FFFF, "nothing decodes the bus address on the CPU side");
    let devices = machine.bus().devices();
    assert_eq!(devices[0].0, "edu");
    assert_eq!(devices[0].1.0, 0xFEA0_0000 + DEFAULT_MEMORY_OFFSET, "the listing gives CPU addresses");
    // The memory map places the windows at +offset and the port window as device memory.
    let map = mm.memory_map();
    use iospace_mm::address::PhysicalAddress;
    use iospace_mm::memory_map::RegionKind;
    assert_eq!(map.kind_of(PhysicalAddress(0xC000_0000 + DEFAULT_MEMORY_OFFSET)), Some(RegionKind::Device));
    assert_eq!(map.kind_of(PhysicalAddress(0xC000_0000)), None);
    assert_eq!(map.kind_of(PhysicalAddress(DEFAULT_PORT_WINDOW)), Some(RegionKind::Device));
}

#[test]
fn claim_74_hal_translate_bus_address_on_both_personalities() {
    let x86 = machine();
    let memory_mapped = boot(&memory_mapped_ports());
    let translate = |machine: &Machine, interface: InterfaceType, address: u64, space: u32| {
        let mut space = space;
        let mut translated = -1i64;
        let ok = hal_translate_bus_address(
            machine.translator(),
            interface as i32,
            0,
            address as i64,
            &mut space,
            &mut translated,
        );
        ok.then_some((space, translated as u64))
    };
    // x86: port -> port (LowPart is the port), memory -> the same memory.
    assert_eq!(translate(&x86, InterfaceType::Isa, 0x3F8, 1), Some((1, 0x3F8)));
    assert_eq!(translate(&x86, InterfaceType::PciBus, 0xC000, 1), Some((1, 0xC000)));
    assert_eq!(translate(&x86, InterfaceType::PciBus, 0xFEA0_0000, 0), Some((0, 0xFEA0_0000)));
    // Memory-mapped: port -> memory at the window, memory -> memory + offset.
    assert_eq!(
        translate(&memory_mapped, InterfaceType::Isa, 0x3F8, 1),
        Some((0, DEFAULT_PORT_WINDOW + 0x3F8))
    );
    assert_eq!(
        translate(&memory_mapped, InterfaceType::PciBus, 0xFEA0_0000, 0),
        Some((0, 0xFEA0_0000 + DEFAULT_MEMORY_OFFSET))
    );
    assert_eq!(translate(&memory_mapped, InterfaceType::PciBus, 0x1000, 0), None, "outside the PCI windows");
    // AddressSpace 0 is a CPU physical address: mapped, it reaches the device.
    for machine in [&x86, &memory_mapped] {
        let (space, physical) = translate(machine, InterfaceType::PciBus, 0xFEA0_0000, 0).unwrap();
        assert_eq!(space, 0);
        let va = nt::mm_map_io_space(machine.mm(), physical as i64, 0x1000, 0);
        assert_eq!(read_register_ulong(machine, machine.mm(), va.cast()), 0x010000ed);
        nt::mm_unmap_io_space(machine.mm(), va, 0x1000);
    }
    // AddressSpace 1 on x86: the low part is used as a port number as it is.
    let (_, port) = translate(&x86, InterfaceType::Isa, 0x3F8 + 7, 1).unwrap();
    write_port_uchar(&x86, x86.mm(), (port as u32) as usize as *mut u8, 0x42);
    assert_eq!(read_port_uchar(&x86, x86.mm(), 0x3FF as *const u8), 0x42);
}

#[test]
fn a_description_can_move_the_port_window_and_the_offset() {
    let description = iospace_hosted::MachineDescription::from_toml(
        "personality = \"memory-mapped-ports\"\nport_window = 0x3_0000_0000\nmemory_offset = 0x40_0000_0000\n\
         [[device]]\nkind = \"uart\"\nport = 0x2f8\n[[device]]\nkind = \"edu\"\n",
    )
    .unwrap();
    let machine = boot(&description);
    let (base, mapped) = driver_pointer::<u8>(&machine, InterfaceType::Isa, (AddressSpace::Port, 0x2F8), 8);
    assert_eq!(nt::mm_get_physical_address(machine.mm(), base.cast()) as u64, 0x3_0000_02F8);
    assert_eq!(uart_loopback(&machine, base, b"COM2"), b"COM2");
    release_pointer(&machine, (base, mapped), 8);
    assert_eq!(machine.bus().devices()[0].1.0, 0x40_FEA0_0000);
}
