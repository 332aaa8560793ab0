//! Helpers shared by the hosted machine's integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::{Pfn, PhysicalAddress};
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::pfn_database::PageUse;
use iospace_mm::range_allocator::Placement;

/// Physical address of the default machine's edu BAR0.
pub const EDU_BAR0: PhysicalAddress = PhysicalAddress(0xFEA0_0000);

/// The default machine.
pub fn machine() -> Machine {
    boot(&MachineDescription::default())
}

/// The default machine with a system VA window of `mib` MiB.
pub fn machine_with_va(mib: u64) -> Machine {
    boot(&MachineDescription { system_va_mib: mib, ..MachineDescription::default() })
}

/// Boots `description`, then removes the ivshmem files from the file system: the machine keeps
/// its mappings of them, and a test that is not about ivshmem leaves nothing behind.
pub fn boot(description: &MachineDescription) -> Machine {
    let machine = Machine::boot(description).expect("the machine boots");
    for path in machine.ivshmem_paths() {
        let _ = std::fs::remove_file(path);
    }
    machine
}

/// One RAM page, allocated and locked, as an MDL would leave it.
pub fn locked_ram_page(machine: &Machine) -> Pfn {
    let pfns = machine.mm().pfn_database();
    let pfn = pfns.allocate(1, &Placement::ANY, PageUse::Allocated).expect("a free RAM page");
    pfns.lock(pfn).expect("an allocated page locks");
    pfn
}

/// Runs the test named `test` of this test binary in a child process with `IOSPACE_CHILD` set,
/// so that it can do what ends a process (a bug check without a hook, a fault).
pub fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("IOSPACE_CHILD", test)
        .output()
        .expect("the test binary runs")
}

/// Whether this process is the child `run_child` started for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var("IOSPACE_CHILD").is_ok_and(|name| name == test)
}

/// `PCIConfiguration`, the `BUS_DATA_TYPE` of PCI configuration space.
pub const PCI_CONFIGURATION: i32 = iospace_hal::BusDataType::PciConfiguration as i32;

/// The memory-mapped-ports personality with its defaults, on top of the default devices.
pub fn memory_mapped_ports() -> MachineDescription {
    MachineDescription {
        personality: iospace_hosted::description::PersonalityKind::MemoryMappedPorts,
        ..MachineDescription::default()
    }
}

/// Boots `description` and keeps the ivshmem files (for the tests that read them); the caller
/// removes them with [`remove_ivshmem_files`].
pub fn boot_keeping_files(description: &MachineDescription) -> Machine {
    Machine::boot(description).expect("the machine boots")
}

/// Removes a machine's ivshmem files.
pub fn remove_ivshmem_files(machine: &Machine) {
    for path in machine.ivshmem_paths() {
        let _ = std::fs::remove_file(path);
    }
}

/// A dword of configuration space through `HalGetBusDataByOffset`.
pub fn config_read_u32(machine: &Machine, slot: iospace_hal::PciSlot, offset: u32) -> u32 {
    let mut buffer = [0u8; 4];
    let read = iospace_hal::hal_get_bus_data_by_offset(
        machine,
        PCI_CONFIGURATION,
        0,
        slot.slot_number(),
        &mut buffer,
        offset,
    );
    assert_eq!(read, 4, "slot {slot} offset {offset:#x}");
    u32::from_le_bytes(buffer)
}

/// The slot of the first function with `vendor`/`device` on bus 0, found as a driver's
/// enumeration would: `HalGetBusDataByOffset` on every slot.
pub fn find_pci(machine: &Machine, vendor: u16, device: u16) -> Option<iospace_hal::PciSlot> {
    (0..32).find_map(|number| {
        let slot = iospace_hal::PciSlot::new(number, 0)?;
        let mut ids = [0u8; 4];
        let read = iospace_hal::hal_get_bus_data_by_offset(
            machine,
            PCI_CONFIGURATION,
            0,
            slot.slot_number(),
            &mut ids,
            0,
        );
        (read == 4 && ids == [vendor.to_le_bytes(), device.to_le_bytes()].concat()[..]).then_some(slot)
    })
}

/// A raw resource as configuration space describes it: the BAR's space and bus address.
pub fn raw_bar(
    machine: &Machine,
    slot: iospace_hal::PciSlot,
    index: u32,
) -> (iospace_hal::AddressSpace, u64) {
    let low = config_read_u32(machine, slot, 0x10 + 4 * index);
    if low & 1 == 1 {
        return (iospace_hal::AddressSpace::Port, u64::from(low & !0x3));
    }
    let mut address = u64::from(low & !0xF);
    if low & 0x6 == 0x4 {
        address |= u64::from(config_read_u32(machine, slot, 0x10 + 4 * (index + 1))) << 32;
    }
    (iospace_hal::AddressSpace::Memory, address)
}

/// What a driver does with a raw resource of `length` bytes on `interface` bus 0: translate it,
/// then map it if it translated to memory, or take the low 32 bits as the port number if it
/// translated to a port. Returns the pointer the driver uses with the register or port
/// routines, and whether it mapped anything.
pub fn driver_pointer<T>(
    machine: &Machine,
    interface: iospace_hal::InterfaceType,
    (space, bus): (iospace_hal::AddressSpace, u64),
    length: usize,
) -> (*mut T, bool) {
    let (translated_space, translated) = machine
        .translator()
        .translate_range(interface, 0, iospace_hal::BusAddress(bus), length as u64, space)
        .expect("the resource translates");
    match translated_space {
        iospace_hal::AddressSpace::Port => ((translated as u32) as usize as *mut T, false),
        iospace_hal::AddressSpace::Memory => {
            let mapped = iospace_mm::nt::mm_map_io_space(
                machine.mm(),
                translated as i64,
                length,
                iospace_mm::caching::MemoryCachingType::NonCached as i32,
            );
            assert!(!mapped.is_null(), "MmMapIoSpace({translated:#x}, {length:#x})");
            (mapped.cast(), true)
        }
    }
}

/// Undoes [`driver_pointer`].
pub fn release_pointer<T>(machine: &Machine, (pointer, mapped): (*mut T, bool), length: usize) {
    if mapped {
        iospace_mm::nt::mm_unmap_io_space(machine.mm(), pointer.cast(), length);
    }
}

/// Takes every free RAM frame, in runs as large as the free list allows; returns the runs.
pub fn take_all_frames(mm: &MemoryManager) -> Vec<(Pfn, u64)> {
    let pfns = mm.pfn_database();
    let mut taken = Vec::new();
    let mut chunk = pfns.free_frames();
    loop {
        let free = pfns.free_frames();
        if free == 0 {
            return taken;
        }
        chunk = chunk.min(free);
        match pfns.allocate(chunk, &Placement::ANY, PageUse::Allocated) {
            Ok(first) => taken.push((first, chunk)),
            Err(_) => chunk = (chunk / 2).max(1),
        }
    }
}

/// Returns the runs [`take_all_frames`] took.
pub fn give_back(mm: &MemoryManager, runs: Vec<(Pfn, u64)>) {
    for (first, count) in runs {
        mm.pfn_database().free(first, count, PageUse::Allocated).unwrap();
    }
}
