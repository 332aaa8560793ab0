//! `iospace run`: the main job. Boots a machine, maps the edu device's registers with
//! `MmMapIoSpace` as a driver would at start-device, checks the device, unmaps, and collects
//! what happened into a [`Report`].

use std::ffi::c_void;
use std::path::Path;

use iospace_devices::edu::{EDU_IDENTIFICATION, STATUS_COMPUTING, regs};
use iospace_devices::mmio::AccessWidth;
use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::PAGE_SIZE;
use iospace_mm::address::{LARGE_PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::mdl::Mdl;
use iospace_mm::pool::POOL_FLAG_NON_PAGED;
use iospace_mm::protection::{PAGE_READWRITE, PAGE_WRITECOMBINE};
use iospace_mm::{nt, nt_mdl};

use crate::report::{Check, MappingLine, Report};

/// The pool tag of everything `run` allocates ('Iosp').
const TAG: u32 = u32::from_le_bytes(*b"Iosp");
/// Pages of the reserved mapping, and of the buffer mapped into it.
const RESERVED_PAGES: usize = 4;
const BUFFER_PAGES: usize = 3;
/// Round trips through the reservation.
const RESERVED_ROUNDS: u64 = 100;
/// The edu device's DMA engine reaches 28 bits of physical address.
const EDU_DMA_LIMIT: i64 = (1 << 28) - 1;
/// The DMA buffer: 16 KiB that never straddles a 64 KiB boundary.
const DMA_BYTES: usize = 0x4000;
const DMA_BOUNDARY: i64 = 0x1_0000;

/// Where the 64-bit PCI window of the q35 layout starts: a 2 MiB-aligned device range there
/// shows a large-page mapping.
const PCI_WINDOW_64: u64 = 0x80_0000_0000;

/// Errors that stop `run` before it can report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The machine description could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The machine did not boot.
    #[error(transparent)]
    Boot(#[from] iospace_hosted::BootError),
    /// The description is invalid.
    #[error(transparent)]
    Description(#[from] iospace_hosted::description::DescriptionError),
    /// The machine has no edu device to drive.
    #[error("the machine has no edu device")]
    NoEdu,
}

/// Boots the machine in `machine` (or the default one) and runs the edu scenario.
pub fn run(machine: Option<&Path>) -> Result<Report, RunError> {
    let description = match machine {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| RunError::Read { path: path.display().to_string(), source })?;
            MachineDescription::from_toml(&text)?
        }
        None => MachineDescription::default(),
    };
    let machine = Machine::boot(&description)?;
    let report = drive(&machine);
    // Shared-memory files the description did not name are the machine's own scratch: remove
    // them; a file the user named is kept for them to inspect.
    let named = description.devices.iter().any(|device| device.path.is_some());
    if !named {
        for path in machine.ivshmem_paths() {
            let _ = std::fs::remove_file(path);
        }
    }
    report
}

/// Runs the scenario on a booted machine.
fn drive(machine: &Machine) -> Result<Report, RunError> {
    let (_, edu_bar0, edu_bytes) =
        machine.bus().devices().into_iter().find(|(name, _, _)| *name == "edu").ok_or(RunError::NoEdu)?;

    let mut report = Report::new(machine);
    let mm = machine.mm();

    // Start-device: map the registers, uncached, as the seed document says.
    let registers =
        nt::mm_map_io_space(mm, edu_bar0.0 as i64, edu_bytes as usize, MemoryCachingType::NonCached as i32);
    report.checks.push(Check::new(
        "MmMapIoSpace(edu BAR0, MmNonCached)",
        !registers.is_null(),
        format!("{registers:p}"),
    ));
    if registers.is_null() {
        return Ok(report);
    }
    // A 2 MiB-aligned range of the 64-bit window, write-combined and non-executable.
    let window = nt::mm_map_io_space_ex(
        mm,
        PCI_WINDOW_64 as i64,
        LARGE_PAGE_SIZE as usize,
        PAGE_READWRITE | PAGE_WRITECOMBINE,
    );
    report.checks.push(Check::new(
        "MmMapIoSpaceEx(2 MiB, PAGE_READWRITE | PAGE_WRITECOMBINE)",
        !window.is_null(),
        format!("{window:p}"),
    ));

    exercise_edu(machine, VirtualAddress::from_ptr(registers), edu_bar0, &mut report);
    let reserved = reserved_mapping(machine, &mut report);
    let dma = dma_buffer(machine, &mut report);
    report.mappings = peak_mappings(machine);
    release_reserved_mapping(machine, reserved, &mut report);
    release_dma_buffer(machine, dma, &mut report);

    // Stop-device: give every mapping back.
    nt::mm_unmap_io_space(mm, registers, edu_bytes as usize);
    if !window.is_null() {
        nt::mm_unmap_io_space(mm, window, LARGE_PAGE_SIZE as usize);
    }
    let outstanding = mm.io_mappings().len()
        + mm.mdl_mappings().list().len()
        + mm.reservations().list().len()
        + mm.contiguous_allocations().len();
    report.checks.push(Check::new(
        "every mapping, reservation and allocation released",
        outstanding == 0,
        format!("{outstanding} outstanding"),
    ));
    let valid_after = nt::mm_is_address_valid(mm, registers as *const c_void);
    report.checks.push(Check::new("MmIsAddressValid after unmap", !valid_after, format!("{valid_after}")));
    report.outstanding = outstanding;
    Ok(report)
}

/// The edu checks a driver would make: identification, liveness, a factorial.
fn exercise_edu(machine: &Machine, registers: VirtualAddress, bar0: PhysicalAddress, report: &mut Report) {
    let read = |offset| machine.read_register(registers.add(offset), AccessWidth::Dword);
    let write = |offset, value| machine.write_register(registers.add(offset), AccessWidth::Dword, value);

    let physical = machine.mm().physical_address(registers);
    report.checks.push(Check::new(
        "MmGetPhysicalAddress(mapping) = BAR0",
        physical == Some(bar0),
        format!("{}", physical.unwrap_or_default()),
    ));

    let id = read(regs::IDENTIFICATION);
    report.checks.push(Check::new("edu identification", id == Ok(EDU_IDENTIFICATION.into()), show(id)));

    let probe = 0x1234_5678u64;
    let liveness = write(regs::LIVENESS, probe).and_then(|()| read(regs::LIVENESS));
    report.checks.push(Check::new(
        "edu liveness (reads back the inverse)",
        liveness == Ok(!probe & 0xFFFF_FFFF),
        format!("wrote {probe:#010x}, read {}", show(liveness)),
    ));

    let factorial = write(regs::FACTORIAL, 10).and_then(|()| {
        let mut polls = 0;
        while read(regs::STATUS)? & u64::from(STATUS_COMPUTING) != 0 && polls < 1000 {
            polls += 1;
        }
        read(regs::FACTORIAL)
    });
    report.checks.push(Check::new("edu factorial(10)", factorial == Ok(3_628_800), show(factorial)));
}

fn show(value: Result<u64, iospace_hosted::RegisterAccessError>) -> String {
    match value {
        Ok(value) => format!("{value:#010x} ({value})"),
        Err(error) => error.to_string(),
    }
}

/// What the reserved-mapping demonstration keeps until release.
struct Reserved {
    reservation: *mut c_void,
    buffer: *mut c_void,
    mdl: *mut Mdl,
}

/// A storage driver's pattern: reserve VA once, then map a locked buffer into it over and over.
fn reserved_mapping(machine: &Machine, report: &mut Report) -> Option<Reserved> {
    let mm = machine.mm();
    let reservation = nt_mdl::mm_allocate_mapping_address(mm, RESERVED_PAGES * PAGE_SIZE as usize, TAG);
    let buffer = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, BUFFER_PAGES * PAGE_SIZE as usize, TAG);
    let mdl = if buffer.is_null() {
        std::ptr::null_mut()
    } else {
        nt_mdl::io_allocate_mdl(mm, buffer, (BUFFER_PAGES * PAGE_SIZE as usize) as u32)
    };
    let ready =
        !reservation.is_null() && !mdl.is_null() && nt_mdl::mm_probe_and_lock_pages(mm, mdl, 0, 1).is_ok();
    report.checks.push(Check::new(
        "MmAllocateMappingAddress + IoAllocateMdl + MmProbeAndLockPages",
        ready,
        format!("{RESERVED_PAGES} pages reserved at {reservation:p}"),
    ));
    if !ready {
        return None;
    }
    let mut agreed = 0;
    let cached = MemoryCachingType::Cached as i32;
    for round in 0..RESERVED_ROUNDS {
        let mapped = nt_mdl::mm_map_locked_pages_with_reserved_mapping(mm, reservation, TAG, mdl, cached);
        if mapped.is_null() {
            break;
        }
        let slot = (round as usize * 8) % (BUFFER_PAGES * PAGE_SIZE as usize);
        // SAFETY: `mapped` and `buffer` both map the locked pool buffer (BUFFER_PAGES pages), and
        // `slot` + 8 stays inside it.
        let seen = unsafe {
            mapped.cast::<u8>().add(slot).cast::<u64>().write_unaligned(round ^ 0xA5A5);
            buffer.cast::<u8>().add(slot).cast::<u64>().read_unaligned()
        };
        agreed += u64::from(seen == round ^ 0xA5A5);
        if round + 1 < RESERVED_ROUNDS {
            nt_mdl::mm_unmap_reserved_mapping(mm, reservation, TAG, mdl);
        }
    }
    report.checks.push(Check::new(
        "MmMapLockedPagesWithReservedMapping round trips",
        agreed == RESERVED_ROUNDS,
        format!("{agreed} of {RESERVED_ROUNDS} writes seen through the pool buffer"),
    ));
    Some(Reserved { reservation, buffer, mdl })
}

fn release_reserved_mapping(machine: &Machine, reserved: Option<Reserved>, report: &mut Report) {
    let Some(Reserved { reservation, buffer, mdl }) = reserved else { return };
    let mm = machine.mm();
    nt_mdl::mm_unmap_reserved_mapping(mm, reservation, TAG, mdl);
    let valid = nt::mm_is_address_valid(mm, reservation);
    nt_mdl::mm_free_mapping_address(mm, reservation, TAG);
    nt_mdl::mm_unlock_pages(mm, mdl);
    nt_mdl::io_free_mdl(mm, mdl);
    nt::ex_free_pool_with_tag(mm, buffer, TAG);
    report.checks.push(Check::new(
        "MmUnmapReservedMapping + MmFreeMappingAddress",
        !valid,
        format!("valid after unmap: {valid}"),
    ));
}

/// A DMA buffer as a driver for edu would allocate it: contiguous, below the device's 28-bit
/// limit, not crossing 64 KiB.
fn dma_buffer(machine: &Machine, report: &mut Report) -> *mut c_void {
    let mm = machine.mm();
    let buffer = nt::mm_allocate_contiguous_memory_specify_cache(
        mm,
        DMA_BYTES,
        0,
        EDU_DMA_LIMIT,
        DMA_BOUNDARY,
        MemoryCachingType::Cached as i32,
    );
    let first = nt::mm_get_physical_address(mm, buffer) as u64;
    let contiguous = !buffer.is_null()
        && (0..DMA_BYTES as u64 / PAGE_SIZE).all(|page| {
            let address = VirtualAddress::from_ptr(buffer).add(page * PAGE_SIZE).as_ptr::<c_void>();
            nt::mm_get_physical_address(mm, address) as u64 == first + page * PAGE_SIZE
        });
    let last = first + DMA_BYTES as u64 - 1;
    let placed = last <= EDU_DMA_LIMIT as u64 && first / DMA_BOUNDARY as u64 == last / DMA_BOUNDARY as u64;
    report.checks.push(Check::new(
        "MmAllocateContiguousMemorySpecifyCache (DMA buffer)",
        contiguous && placed,
        format!("PA {first:#x}..={last:#x}, physically contiguous: {contiguous}"),
    ));
    buffer
}

fn release_dma_buffer(machine: &Machine, buffer: *mut c_void, report: &mut Report) {
    if buffer.is_null() {
        return;
    }
    let mm = machine.mm();
    nt::mm_free_contiguous_memory(mm, buffer);
    let left = mm.contiguous_allocations().len();
    report.checks.push(Check::new("MmFreeContiguousMemory", left == 0, format!("{left} allocations left")));
}

/// Every live system mapping, for the report.
fn peak_mappings(machine: &Machine) -> Vec<MappingLine> {
    let mm = machine.mm();
    let mut lines: Vec<MappingLine> = mm.io_mappings().iter().map(MappingLine::from).collect();
    for reservation in mm.reservations().list() {
        lines.push(MappingLine::reserved(mm, &reservation));
    }
    for allocation in mm.contiguous_allocations() {
        lines.push(MappingLine::contiguous(mm, &allocation));
    }
    lines
}
