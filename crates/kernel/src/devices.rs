//! The machine's devices, driven the way a driver would at START: each PCI function's raw
//! resources come from the BARs the firmware assigned, the HAL translates them, the translated
//! memory resources are mapped with `MmMapIoSpace`, and the registers are reached with the
//! HAL's register and port routines, choosing the routine by the raw type.
//!
//! edu: identification, liveness, factorial, and a DMA round trip through contiguous memory.
//! ivshmem: a pattern written over BAR2 through a write-combined mapping and read back; the
//! host checks the shared-memory file afterwards ([`ivshmem_pattern_word`]). pci-testdev: a
//! counted write to its memory BAR and to its port BAR. COM1: its scratch register.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;

use iospace_devices::edu::{
    DMA_FROM_DEVICE, DMA_START, EDU_BUFFER_OFFSET, EDU_DEVICE_ID, EDU_DMA_MASK, EDU_IDENTIFICATION,
    EDU_VENDOR_ID, STATUS_COMPUTING, regs as edu_regs,
};
use iospace_devices::ivshmem::{IVSHMEM_DEVICE_ID, IVSHMEM_SHARED_MEMORY_BAR, IVSHMEM_VENDOR_ID};
use iospace_devices::pci_testdev::{PCI_TESTDEV_DEVICE_ID, PCI_TESTDEV_VENDOR_ID};
use iospace_hal::address::InterfaceType;
use iospace_hal::ports::{read_port_uchar, read_port_ulong, write_port_uchar};
use iospace_hal::registers::{
    read_register_buffer_ulong, read_register_uchar, read_register_ulong, read_register_ulong64,
    write_register_buffer_ulong, write_register_uchar, write_register_ulong, write_register_ulong64,
};
use iospace_mm::address::PAGE_SIZE;
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::nt;
use iospace_mm::protection::{PAGE_READWRITE, PAGE_WRITECOMBINE};
use iospace_pnp::resource::{PortLocation, Resource};
use iospace_pnp::translation::ResourcePair;

use crate::console::COM1;
use crate::machine::Machine;
use crate::pci::PciFunction;
use crate::report::Report;
use crate::resources::{BusResourceTranslator, isa_port_resources, raw_resources, translate};

/// Word `index` of the pattern written over ivshmem's shared memory. The host recomputes it
/// (`iospace qemu`) to check the shared-memory file: keep the two in step.
pub const fn ivshmem_pattern_word(index: u64) -> u32 {
    (index as u32).wrapping_mul(0x9E37_79B9) ^ 0x10C5_AA55
}

/// How many register reads a poll of a device's busy bit may take before giving up. edu's
/// DMA completes after 100 ms of virtual time; each read takes a microsecond or more.
const POLL_LIMIT: u64 = 50_000_000;

/// Bytes of the edu DMA round trip (the device buffer holds 4 KiB).
const EDU_DMA_BYTES: usize = 1024;

/// pci-testdev's header: where to write (offset 4), the count (offset 12), the name (16).
const TESTDEV_OFFSET: u64 = 4;
const TESTDEV_COUNT: u64 = 12;
const TESTDEV_NAME: u64 = 16;
/// The byte the no-eventfd tests count.
const TESTDEV_DATA: u8 = 0xFA;

/// 16550 scratch and line-status registers.
const UART_SCRATCH: u64 = 7;
const UART_LINE_STATUS: u64 = 5;

/// What a device's exercise is given: the machine, the function, its resources.
type Exercise = fn(&Machine, &PciFunction, &ResourcePair, &mut Report);

/// Runs every device and records what it saw.
pub fn run(machine: &Machine, report: &mut Report) {
    let devices: [(u16, u16, &str, Exercise); 3] = [
        (EDU_VENDOR_ID, EDU_DEVICE_ID, "edu", edu),
        (IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID, "ivshmem", ivshmem),
        (PCI_TESTDEV_VENDOR_ID, PCI_TESTDEV_DEVICE_ID, "pci-testdev", pci_testdev),
    ];
    for (vendor, device, name, exercise) in devices {
        let Some(function) = machine.function(vendor, device) else {
            report.check(&format!("{name} present on the PCI bus"), false, "not found".into());
            continue;
        };
        crate::pci::enable_bus_master(&machine.config, function);
        match resources(machine, function) {
            Ok(pair) => {
                report.check(&format!("{name} resources: raw BARs -> translated"), true, describe(&pair));
                exercise(machine, function, &pair, report);
            }
            Err(error) => report.check(&format!("{name} resources: raw BARs -> translated"), false, error),
        }
    }
    uart(machine, report);
}

fn resources(machine: &Machine, function: &PciFunction) -> Result<ResourcePair, String> {
    let raw = raw_resources(function).map_err(|error| format!("{error:?}"))?;
    let translator = BusResourceTranslator::new(&machine.translator, InterfaceType::PciBus, function.bus);
    translate(raw, &translator).map_err(|error| format!("{error:?}"))
}

/// One line per resource: raw start -> translated start, and the length.
fn describe(pair: &ResourcePair) -> String {
    let entries: Vec<String> = pair
        .iter()
        .map(|(raw, translated)| match (&raw.resource, &translated.resource) {
            (Resource::Memory { start, length, .. }, Resource::Memory { start: cpu, .. }) => {
                format!("mem {:#x}->{cpu} ({:#x})", start.0, length.bytes())
            }
            (Resource::Port { start, length, .. }, Resource::Port { start: PortLocation::Io(port), .. }) => {
                format!("port {:#x}->{port} ({length})", start.0)
            }
            _ => "other".into(),
        })
        .collect();
    entries.join(", ")
}

/// The translated memory resource of BAR `bar`, and its length: the raw list has one entry per
/// decoding BAR, in BAR order.
fn bar_memory(function: &PciFunction, pair: &ResourcePair, bar: u8) -> Option<(u64, u64)> {
    let index = function.bars.iter().position(|candidate| candidate.index == bar)?;
    match pair.get(index)?.1.resource {
        Resource::Memory { start, length, .. } => Some((start.0, length.bytes())),
        _ => None,
    }
}

/// The first translated I/O port resource of the pair.
fn first_port(pair: &ResourcePair) -> Option<u16> {
    pair.iter().find_map(|(_, translated)| match translated.resource {
        Resource::Port { start: PortLocation::Io(port), .. } => u16::try_from(port.0).ok(),
        _ => None,
    })
}

fn register<T>(base: *mut c_void, offset: u64) -> *mut T {
    (base as u64 + offset) as *mut T
}

fn edu(machine: &Machine, function: &PciFunction, pair: &ResourcePair, report: &mut Report) {
    let (mm, io) = (&machine.mm, &machine.io);
    let Some((bar0, bytes)) = bar_memory(function, pair, 0) else {
        report.check("edu BAR0 is memory", false, "no memory resource".into());
        return;
    };
    let base = nt::mm_map_io_space(mm, bar0 as i64, bytes as usize, MemoryCachingType::NonCached as i32);
    report.check("MmMapIoSpace(edu BAR0, MmNonCached)", !base.is_null(), format!("{base:p}"));
    if base.is_null() {
        return;
    }
    let id = read_register_ulong(io, mm, register(base, edu_regs::IDENTIFICATION));
    report.check("edu identification", id == EDU_IDENTIFICATION, format!("{id:#010x}"));

    let probe = 0x1234_5678u32;
    write_register_ulong(io, mm, register(base, edu_regs::LIVENESS), probe);
    let inverse = read_register_ulong(io, mm, register(base, edu_regs::LIVENESS));
    report.check(
        "edu liveness (reads back the inverse)",
        inverse == !probe,
        format!("wrote {probe:#010x}, read {inverse:#010x}"),
    );

    write_register_ulong(io, mm, register(base, edu_regs::FACTORIAL), 10);
    let mut polls = 0;
    while read_register_ulong(io, mm, register(base, edu_regs::STATUS)) & STATUS_COMPUTING != 0
        && polls < POLL_LIMIT
    {
        polls += 1;
    }
    let factorial = read_register_ulong(io, mm, register(base, edu_regs::FACTORIAL));
    report.check("edu factorial(10)", factorial == 3_628_800, format!("{factorial} after {polls} polls"));

    edu_dma(machine, base, report);
    report.capture_mappings(mm);
    nt::mm_unmap_io_space(mm, base, bytes as usize);
}

/// RAM -> edu's buffer -> RAM, through a contiguous buffer below the device's 28-bit limit.
fn edu_dma(machine: &Machine, base: *mut c_void, report: &mut Report) {
    let (mm, io) = (&machine.mm, &machine.io);
    let name = "edu DMA round trip through contiguous memory";
    let buffer = nt::mm_allocate_contiguous_memory_specify_cache(
        mm,
        2 * PAGE_SIZE as usize,
        0,
        EDU_DMA_MASK as i64,
        0,
        MemoryCachingType::Cached as i32,
    );
    if buffer.is_null() {
        report.check(name, false, "MmAllocateContiguousMemorySpecifyCache returned NULL".into());
        return;
    }
    let source = buffer.cast::<u8>();
    // SAFETY: the allocation is two pages; the destination is the second one.
    let destination = unsafe { source.add(PAGE_SIZE as usize) };
    for index in 0..EDU_DMA_BYTES {
        // SAFETY: both halves are inside the allocation, mapped write-back for the kernel.
        unsafe {
            source.add(index).write_volatile((index as u8).wrapping_mul(7) ^ 0x3C);
            destination.add(index).write_volatile(0);
        }
    }
    let source_physical = nt::mm_get_physical_address(mm, source.cast()) as u64;
    let destination_physical = nt::mm_get_physical_address(mm, destination.cast()) as u64;
    let transfer = |from: u64, to: u64, command: u64| {
        write_register_ulong64(io, mm, register(base, edu_regs::DMA_SOURCE), from);
        write_register_ulong64(io, mm, register(base, edu_regs::DMA_DESTINATION), to);
        write_register_ulong64(io, mm, register(base, edu_regs::DMA_COUNT), EDU_DMA_BYTES as u64);
        write_register_ulong64(io, mm, register(base, edu_regs::DMA_COMMAND), command);
        let mut polls = 0;
        while read_register_ulong64(io, mm, register(base, edu_regs::DMA_COMMAND)) & DMA_START != 0
            && polls < POLL_LIMIT
        {
            polls += 1;
        }
        polls < POLL_LIMIT
    };
    let completed = transfer(source_physical, EDU_BUFFER_OFFSET, DMA_START)
        && transfer(EDU_BUFFER_OFFSET, destination_physical, DMA_START | DMA_FROM_DEVICE);
    let matching = (0..EDU_DMA_BYTES)
        // SAFETY: as above.
        .filter(|&index| unsafe {
            destination.add(index).read_volatile() == source.add(index).read_volatile()
        })
        .count();
    report.capture_mappings(mm);
    nt::mm_free_contiguous_memory(mm, buffer);
    report.check(
        name,
        completed && matching == EDU_DMA_BYTES,
        format!("{EDU_DMA_BYTES} bytes PA {source_physical:#x} -> device -> PA {destination_physical:#x}, {matching} match"),
    );
}

fn ivshmem(machine: &Machine, function: &PciFunction, pair: &ResourcePair, report: &mut Report) {
    let (mm, io) = (&machine.mm, &machine.io);
    let Some((bar2, bytes)) = bar_memory(function, pair, IVSHMEM_SHARED_MEMORY_BAR) else {
        report.check("ivshmem BAR2 is memory", false, "no shared-memory BAR".into());
        return;
    };
    let base = nt::mm_map_io_space_ex(mm, bar2 as i64, bytes as usize, PAGE_READWRITE | PAGE_WRITECOMBINE);
    report.check(
        "MmMapIoSpaceEx(ivshmem BAR2, PAGE_READWRITE | PAGE_WRITECOMBINE)",
        !base.is_null(),
        format!("{base:p}"),
    );
    if base.is_null() {
        return;
    }
    let words = (bytes / 4) as usize;
    let pattern: Vec<u32> = (0..words as u64).map(ivshmem_pattern_word).collect();
    write_register_buffer_ulong(io, mm, base.cast(), &pattern);
    io_barrier(machine);
    let mut back = alloc::vec![0u32; words];
    read_register_buffer_ulong(io, mm, base.cast(), &mut back);
    let matching = back.iter().zip(&pattern).filter(|(a, b)| a == b).count();
    report.check(
        "ivshmem pattern over BAR2 (write-combined), read back",
        matching == words,
        format!("{matching} of {words} words, {} MiB", bytes >> 20),
    );
    report.capture_mappings(mm);
    nt::mm_unmap_io_space(mm, base, bytes as usize);
}

fn io_barrier(machine: &Machine) {
    use iospace_hal::access::IoAccess;
    machine.io.memory_barrier();
}

fn pci_testdev(machine: &Machine, function: &PciFunction, pair: &ResourcePair, report: &mut Report) {
    let (mm, io) = (&machine.mm, &machine.io);
    if let Some((bar0, bytes)) = bar_memory(function, pair, 0) {
        let base = nt::mm_map_io_space(mm, bar0 as i64, bytes as usize, MemoryCachingType::NonCached as i32);
        if base.is_null() {
            report.check("pci-testdev memory BAR: counted write", false, "MmMapIoSpace returned NULL".into());
        } else {
            write_register_uchar(io, mm, register(base, 0), 0);
            let offset = u64::from(read_register_ulong(io, mm, register(base, TESTDEV_OFFSET)));
            let mut name = String::new();
            for at in 0..32 {
                match read_register_uchar(io, mm, register(base, TESTDEV_NAME + at)) {
                    0 => break,
                    byte => name.push(char::from(byte)),
                }
            }
            write_register_uchar(io, mm, register(base, offset), TESTDEV_DATA);
            let count = read_register_ulong(io, mm, register(base, TESTDEV_COUNT));
            report.check(
                "pci-testdev memory BAR: counted write",
                count == 1 && name == "mmio-no-eventfd",
                format!("test \"{name}\" at offset {offset:#x}: count {count}"),
            );
            report.capture_mappings(mm);
            nt::mm_unmap_io_space(mm, base, bytes as usize);
        }
    } else {
        report.check("pci-testdev memory BAR: counted write", false, "no memory resource".into());
    }
    match first_port(pair) {
        Some(port) => {
            let at = |offset: u64| (u64::from(port) + offset) as *mut u8;
            write_port_uchar(io, mm, at(0), 0);
            let offset = u64::from(read_port_ulong(io, mm, at(TESTDEV_OFFSET).cast()));
            write_port_uchar(io, mm, at(offset), TESTDEV_DATA);
            let count = read_port_ulong(io, mm, at(TESTDEV_COUNT).cast());
            report.check(
                "pci-testdev port BAR: counted write",
                count == 1,
                format!("ports {port:#x}+{offset:#x}: count {count}"),
            );
        }
        None => report.check("pci-testdev port BAR: counted write", false, "no port resource".into()),
    }
}

/// COM1, the console: a fixed ISA port range, raw port -> translated port, no mapping.
fn uart(machine: &Machine, report: &mut Report) {
    let (mm, io) = (&machine.mm, &machine.io);
    let translator = BusResourceTranslator::new(&machine.translator, InterfaceType::Isa, 0);
    let pair = match isa_port_resources(COM1, 8).and_then(|raw| translate(raw, &translator)) {
        Ok(pair) => pair,
        Err(error) => {
            report.check("COM1 resources: ISA port -> translated", false, format!("{error:?}"));
            return;
        }
    };
    let Some(port) = first_port(&pair) else {
        report.check("COM1 resources: ISA port -> translated", false, "no I/O port".into());
        return;
    };
    let at = |offset: u64| (u64::from(port) + offset) as *mut u8;
    let mut seen = Vec::new();
    for value in [0x5Au8, 0xA5] {
        write_port_uchar(io, mm, at(UART_SCRATCH), value);
        seen.push(read_port_uchar(io, mm, at(UART_SCRATCH)));
    }
    let line_status = read_port_uchar(io, mm, at(UART_LINE_STATUS));
    report.check(
        "16550 (COM1, the console): scratch register, transmitter",
        seen == [0x5A, 0xA5] && line_status & 0x20 != 0,
        format!("port {port:#x}, scratch {seen:02x?}, LSR {line_status:#04x}"),
    );
}
