//! `iospace run`: the main job. Boots a machine, runs the Plug and Play session (enumerate,
//! arbitrate, start the reference drivers, let them work, rebalance edu, remove everything),
//! then tours the memory manager's other mapping routines, and collects what happened into a
//! [`RunReport`].

use std::ffi::c_void;
use std::path::Path;

use iospace_drivers::catalog::DeviceKind;
use iospace_drivers::run_report::{self, RunReport};
use iospace_drivers::session::{self, Hardware, SessionReport};
use iospace_hal::address::InterfaceType;
use iospace_hosted::description::PersonalityKind;
use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::PAGE_SIZE;
use iospace_mm::address::{LARGE_PAGE_SIZE, VirtualAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::mdl::Mdl;
use iospace_mm::pool::POOL_FLAG_NON_PAGED;
use iospace_mm::protection::{PAGE_READWRITE, PAGE_WRITECOMBINE};
use iospace_mm::{nt, nt_mdl};

use crate::report::new_report;

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
}

/// How `iospace run` was asked to run.
#[derive(Debug, Default)]
pub struct RunOptions<'a> {
    /// A machine description file; the default machine if `None`.
    pub machine: Option<&'a Path>,
    /// Overrides the description's platform personality.
    pub personality: Option<PersonalityKind>,
}

/// Boots the machine the options name and runs the session and the tour on it.
pub fn run(options: &RunOptions<'_>) -> Result<RunReport, RunError> {
    let mut description = match options.machine {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| RunError::Read { path: path.display().to_string(), source })?;
            MachineDescription::from_toml(&text)?
        }
        None => MachineDescription::default(),
    };
    if let Some(personality) = options.personality {
        description.personality = personality;
    }
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
    Ok(report)
}

/// The Plug and Play session on `machine`, with edu rebalanced.
fn session(machine: &Machine) -> SessionReport {
    let mut hardware =
        Hardware::new(machine.mm(), machine, machine, machine.translator(), machine.pci_windows())
            .rebalancing(DeviceKind::Edu);
    for legacy in machine.legacy_devices() {
        if let Some(kind) = DeviceKind::from_name(legacy.kind) {
            hardware = hardware.with_legacy(kind, InterfaceType::Isa, legacy.resources);
        }
    }
    session::run(&hardware)
}

/// Runs the session, then the tour, on a booted machine.
fn drive(machine: &Machine) -> RunReport {
    let mut report = new_report(machine);
    report.session = session(machine);
    let mm = machine.mm();

    // A 2 MiB-aligned range of the 64-bit window, write-combined and non-executable.
    let window = nt::mm_map_io_space_ex(
        mm,
        PCI_WINDOW_64 as i64,
        LARGE_PAGE_SIZE as usize,
        PAGE_READWRITE | PAGE_WRITECOMBINE,
    );
    report.check(
        "MmMapIoSpaceEx(2 MiB, PAGE_READWRITE | PAGE_WRITECOMBINE)",
        !window.is_null(),
        format!("{window:p}"),
    );
    let reserved = reserved_mapping(machine, &mut report);
    let dma = dma_buffer(machine, &mut report);
    report.capture_mappings(mm);
    release_reserved_mapping(machine, reserved, &mut report);
    release_dma_buffer(machine, dma, &mut report);
    if !window.is_null() {
        nt::mm_unmap_io_space(mm, window, LARGE_PAGE_SIZE as usize);
    }
    let valid_after = nt::mm_is_address_valid(mm, window as *const c_void);
    report.check("MmIsAddressValid after MmUnmapIoSpace", !valid_after, format!("{valid_after}"));
    report.outstanding = run_report::left_behind(mm);
    report
}

/// What the reserved-mapping demonstration keeps until release.
struct Reserved {
    reservation: *mut c_void,
    buffer: *mut c_void,
    mdl: *mut Mdl,
}

/// A storage driver's pattern: reserve VA once, then map a locked buffer into it over and over.
fn reserved_mapping(machine: &Machine, report: &mut RunReport) -> Option<Reserved> {
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
    report.check(
        "MmAllocateMappingAddress + IoAllocateMdl + MmProbeAndLockPages",
        ready,
        format!("{RESERVED_PAGES} pages reserved at {reservation:p}"),
    );
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
    report.check(
        "MmMapLockedPagesWithReservedMapping round trips",
        agreed == RESERVED_ROUNDS,
        format!("{agreed} of {RESERVED_ROUNDS} writes seen through the pool buffer"),
    );
    Some(Reserved { reservation, buffer, mdl })
}

fn release_reserved_mapping(machine: &Machine, reserved: Option<Reserved>, report: &mut RunReport) {
    let Some(Reserved { reservation, buffer, mdl }) = reserved else { return };
    let mm = machine.mm();
    nt_mdl::mm_unmap_reserved_mapping(mm, reservation, TAG, mdl);
    let valid = nt::mm_is_address_valid(mm, reservation);
    nt_mdl::mm_free_mapping_address(mm, reservation, TAG);
    nt_mdl::mm_unlock_pages(mm, mdl);
    nt_mdl::io_free_mdl(mm, mdl);
    nt::ex_free_pool_with_tag(mm, buffer, TAG);
    report.check(
        "MmUnmapReservedMapping + MmFreeMappingAddress",
        !valid,
        format!("valid after unmap: {valid}"),
    );
}

/// A DMA buffer as a driver for edu would allocate it: contiguous, below the device's 28-bit
/// limit, not crossing 64 KiB.
fn dma_buffer(machine: &Machine, report: &mut RunReport) -> *mut c_void {
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
    report.check(
        "MmAllocateContiguousMemorySpecifyCache (DMA buffer)",
        contiguous && placed,
        format!("PA {first:#x}..={last:#x}, physically contiguous: {contiguous}"),
    );
    buffer
}

fn release_dma_buffer(machine: &Machine, buffer: *mut c_void, report: &mut RunReport) {
    if buffer.is_null() {
        return;
    }
    let mm = machine.mm();
    nt::mm_free_contiguous_memory(mm, buffer);
    let left = mm.contiguous_allocations().len();
    report.check("MmFreeContiguousMemory", left == 0, format!("{left} allocations left"));
}
