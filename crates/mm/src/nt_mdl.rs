//! The NT facade of MDLs, locked pages, MDL mappings and reserved mappings.
//!
//! As in [`crate::nt`], each routine takes what a driver passes and turns every error of the
//! safe API into NULL, an `NTSTATUS` or the documented bug check. Decisions where the
//! documentation leaves room:
//! - `MmProbeAndLockPages` raises an exception in Windows; here it returns
//!   `Err(STATUS_ACCESS_VIOLATION)` and leaves the MDL unlocked.
//! - A NULL MDL pointer is a page fault on address 0: bug check 0x50
//!   PAGE_FAULT_IN_NONPAGED_AREA (P1 = 0, P2 = 0 for a read).
//! - `MmMapLockedPages` is reported by the verifier as 0xC4/0x81, and `BugCheckOnFailure = TRUE`
//!   as 0xC4/0x82, while [`VerifierOptions`](crate::memory_manager::VerifierOptions) asks for it
//!   (the default). Without the verifier, a failed mapping that asked for a bug check stops with
//!   0x3F NO_MORE_SYSTEM_PTES (P1 = 0, P2 = pages), or with 0x1A/0x1000 when the failure was a
//!   cache-attribute conflict; an MDL carrying the legacy `MDL_MAPPING_CAN_FAIL` bit gets NULL
//!   instead (contract §4.2).
//! - An IRQL violation with no verifier subcode of its own raises 0x0A IRQL_NOT_LESS_OR_EQUAL
//!   (P1 = the address involved, P2 = IRQL).
//! - `MmFreeMappingAddress` of an address that is no reservation raises 0xDA/0x102, and
//!   `MmUnmapReservedMapping` of one raises 0xDA/0x109 (the range "appears empty").
//! - `MmFreePagesFromMdl` of an MDL that holds no pages from `MmAllocatePagesForMdl(Ex)` raises
//!   0x1A/0x1236 (P2 = the MDL).
//! - `MmUnlockPages` and `MmFreePagesFromMdl` release the MDL's system mapping as
//!   `MmUnmapLockedPages` would; a mapping that call cannot release (a reserved mapping still in
//!   place, or a `MappedSystemVa` that is no mapping of this MDL) raises what it raises:
//!   0xDA/0x06 (P2 = MDL, P3 = `MappedSystemVa`, P4 = pages), and nothing is unlocked or freed.
//!   `IoFreeMdl` of a partial MDL whose own mapping is such a mapping raises 0xC4/0xB8.
//! - A mapping refused because a page already has another memory type through a live mapping
//!   (contract claim 71) returns NULL and is recorded in the verifier log, as `MmMapIoSpace`
//!   records its conflicts.
//! - `IoBuildPartialMdl` into a target too small raises 0x40 with P1 = source, P2 = target,
//!   P3 = pages needed.

use core::ffi::c_void;
use core::panic::Location;

use crate::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use crate::bug_check::code;
use crate::caching::{CachePolicy, MemoryCachingType};
use crate::irql::IrqlTooHigh;
use crate::locked_pages::{LockOperation, MdlMisuse, PartialMdlError, ProbeError, ProcessorMode};
use crate::mdl::{Mdl, MdlPtr, flags, size_of_mdl};
use crate::mdl_mapping::{MapMdlError, MappingPriority, NORMAL_PAGE_PRIORITY, UnmapMdlError};
use crate::memory_manager::MemoryManager;
use crate::pages_for_mdl::{FreePagesError, PagesForMdlError, PagesRequest};
use crate::reserved_mapping::{FreeReservationError, ReserveError, ReservedMapError, ReservedUnmapError};
use crate::system_mapping::MapFramesError;
use crate::verifier::{Diagnostic, DiagnosticKind};

/// `STATUS_ACCESS_VIOLATION`, the exception `MmProbeAndLockPages` raises.
pub const STATUS_ACCESS_VIOLATION: i32 = 0xC000_0005_u32 as i32;

type Site = &'static Location<'static>;

fn verifier(mm: &MemoryManager, subcode: u64, p2: u64, p3: u64, p4: u64, location: Site) -> ! {
    mm.bug_check(code::DRIVER_VERIFIER_DETECTED_VIOLATION, [subcode, p2, p3, p4], location)
}

fn pte_misuse(mm: &MemoryManager, subcode: u64, p2: u64, p3: u64, p4: u64, location: Site) -> ! {
    mm.bug_check(code::SYSTEM_PTE_MISUSE, [subcode, p2, p3, p4], location)
}

fn irql_not_less_or_equal(mm: &MemoryManager, address: u64, error: IrqlTooHigh, location: Site) -> ! {
    mm.bug_check(code::IRQL_NOT_LESS_OR_EQUAL, [address, error.current.0.into(), 0, 0], location)
}

/// The MDL behind a driver's pointer; NULL is a page fault.
fn mdl_at(mm: &MemoryManager, mdl: *mut Mdl, location: Site) -> MdlPtr {
    // SAFETY: the facade's callers (drivers) pass MDLs they own, initialised by these routines
    // or `MmInitializeMdl`; that is the routine's documented contract.
    match unsafe { MdlPtr::from_raw(mdl) } {
        Some(mdl) => mdl,
        None => mm.bug_check(code::PAGE_FAULT_IN_NONPAGED_AREA, [0, 0, 0, 0], location),
    }
}

/// Raises the bug check for an MDL misuse; `irql_subcode` is the routine's 0xC4 IRQL subcode.
fn misuse(
    mm: &MemoryManager,
    mdl: MdlPtr,
    misuse: MdlMisuse,
    irql_subcode: Option<u64>,
    location: Site,
) -> ! {
    let address = mdl.as_ptr() as u64;
    let flags = u64::from(mdl.flags());
    match misuse {
        MdlMisuse::Irql(error) => match irql_subcode {
            Some(subcode) => verifier(mm, subcode, error.current.0.into(), address, 0, location),
            None => irql_not_less_or_equal(mm, address, error, location),
        },
        MdlMisuse::ProbeWrongFlags => verifier(mm, 0xB0, address, flags, 0, location),
        MdlMisuse::NotRam(pfn) => verifier(mm, 0x6F, address, pfn.0, 0, location),
        MdlMisuse::UnlockNotLocked => verifier(mm, 0x7C, address, flags, 0, location),
        MdlMisuse::UnlockNonPagedPool => verifier(mm, 0x7D, address, flags, 0, location),
        MdlMisuse::UnlockPartial => verifier(mm, 0xB4, address, flags, 0, location),
        MdlMisuse::PagedPool => verifier(mm, 0x7F, address, mdl.virtual_address(), 0, location),
        MdlMisuse::FreeMapped => verifier(mm, 0xB8, address, flags, 0, location),
        MdlMisuse::LockCountUnderflow(pfn) => {
            mm.bug_check(code::PFN_LIST_CORRUPT, [0x07, pfn.0, 0, 0], location)
        }
        MdlMisuse::NotAnMdl => mm.bug_check(0xC2, [0x42, address, 0, 0], location),
        MdlMisuse::MappedElsewhere(mapping) => {
            pte_misuse(mm, 0x06, address, mapping.0, mdl.page_count(), location)
        }
    }
}

/// `MmSizeOfMdl(Base, Length) -> SIZE_T`.
pub fn mm_size_of_mdl(base: *const c_void, length: usize) -> usize {
    size_of_mdl(base as u64, length as u64) as usize
}

/// `IoAllocateMdl(VirtualAddress, Length, FALSE, FALSE, NULL) -> PMDL`. The IRP forms belong to
/// the I/O manager, which links the MDL into the IRP itself.
#[track_caller]
pub fn io_allocate_mdl(mm: &MemoryManager, virtual_address: *const c_void, length: u32) -> *mut Mdl {
    let location = Location::caller();
    match mm.allocate_mdl(VirtualAddress::from_ptr(virtual_address), length.into(), location) {
        Ok(mdl) => mdl.as_ptr(),
        Err(crate::locked_pages::AllocateMdlError::Irql(error)) => {
            irql_not_less_or_equal(mm, virtual_address as u64, error, location)
        }
        Err(_) => core::ptr::null_mut(),
    }
}

/// `IoFreeMdl(Mdl)`.
#[track_caller]
pub fn io_free_mdl(mm: &MemoryManager, mdl: *mut Mdl) {
    let location = Location::caller();
    let mdl = mdl_at(mm, mdl, location);
    if let Err(error) = mm.free_mdl(mdl) {
        misuse(mm, mdl, error, None, location);
    }
}

/// `MmProbeAndLockPages(Mdl, AccessMode, Operation)`: `Err(STATUS_ACCESS_VIOLATION)` stands for
/// the exception Windows raises.
#[track_caller]
pub fn mm_probe_and_lock_pages(
    mm: &MemoryManager,
    mdl: *mut Mdl,
    access_mode: u8,
    operation: u32,
) -> Result<(), i32> {
    let location = Location::caller();
    let mdl = mdl_at(mm, mdl, location);
    let mode = if access_mode == 0 { ProcessorMode::Kernel } else { ProcessorMode::User };
    let operation = match operation {
        0 => LockOperation::Read,
        1 => LockOperation::Write,
        _ => LockOperation::Modify,
    };
    match mm.probe_and_lock_pages(mdl, mode, operation) {
        Ok(()) => Ok(()),
        Err(ProbeError::AccessViolation(_)) => Err(STATUS_ACCESS_VIOLATION),
        Err(ProbeError::Misuse(error)) => misuse(mm, mdl, error, Some(0x70), location),
    }
}

/// `MmUnlockPages(Mdl)`.
#[track_caller]
pub fn mm_unlock_pages(mm: &MemoryManager, mdl: *mut Mdl) {
    let location = Location::caller();
    let mdl = mdl_at(mm, mdl, location);
    if let Err(error) = mm.unlock_pages(mdl) {
        misuse(mm, mdl, error, Some(0x78), location);
    }
}

/// `MmBuildMdlForNonPagedPool(Mdl)`. A page that is not mapped is a page fault (0x50).
#[track_caller]
pub fn mm_build_mdl_for_non_paged_pool(mm: &MemoryManager, mdl: *mut Mdl) {
    let location = Location::caller();
    let mdl = mdl_at(mm, mdl, location);
    match mm.build_mdl_for_non_paged_pool(mdl) {
        Ok(()) => {}
        Err(ProbeError::AccessViolation(address)) => {
            mm.bug_check(code::PAGE_FAULT_IN_NONPAGED_AREA, [address.0, 0, 0, 0], location)
        }
        Err(ProbeError::Misuse(error)) => misuse(mm, mdl, error, None, location),
    }
}

/// `IoBuildPartialMdl(SourceMdl, TargetMdl, VirtualAddress, Length)`.
#[track_caller]
pub fn io_build_partial_mdl(
    mm: &MemoryManager,
    source: *mut Mdl,
    target: *mut Mdl,
    virtual_address: *const c_void,
    length: u32,
) {
    let location = Location::caller();
    let (source_mdl, target_mdl) = (mdl_at(mm, source, location), mdl_at(mm, target, location));
    let address = VirtualAddress::from_ptr(virtual_address);
    match mm.build_partial_mdl(source_mdl, target_mdl, address, length.into()) {
        Ok(()) => {}
        Err(PartialMdlError::OutOfRange) => mm.bug_check(
            code::INVALID_MDL_RANGE,
            [source as u64, target as u64, address.0, length.into()],
            location,
        ),
        Err(PartialMdlError::TargetTooSmall { pages }) => {
            mm.bug_check(code::TARGET_MDL_TOO_SMALL, [source as u64, target as u64, pages, 0], location)
        }
        Err(PartialMdlError::Irql(error)) => irql_not_less_or_equal(mm, address.0, error, location),
    }
}

/// `MmPrepareMdlForReuse(Mdl)`.
#[track_caller]
pub fn mm_prepare_mdl_for_reuse(mm: &MemoryManager, mdl: *mut Mdl) {
    let mdl = mdl_at(mm, mdl, Location::caller());
    mm.prepare_mdl_for_reuse(mdl);
}

/// `MmAllocatePagesForMdl(LowAddress, HighAddress, SkipBytes, TotalBytes) -> PMDL`.
#[track_caller]
pub fn mm_allocate_pages_for_mdl(
    mm: &MemoryManager,
    low: i64,
    high: i64,
    skip: i64,
    total: usize,
) -> *mut Mdl {
    allocate_pages(mm, low, high, skip, total, None, 0, Location::caller())
}

/// `MmAllocatePagesForMdlEx(LowAddress, HighAddress, SkipBytes, TotalBytes, CacheType, Flags)`.
#[track_caller]
pub fn mm_allocate_pages_for_mdl_ex(
    mm: &MemoryManager,
    low: i64,
    high: i64,
    skip: i64,
    total: usize,
    cache_type: i32,
    flags: u32,
) -> *mut Mdl {
    let Ok(caching) = MemoryCachingType::try_from(cache_type) else {
        return core::ptr::null_mut();
    };
    allocate_pages(mm, low, high, skip, total, Some(caching.policy()), flags, Location::caller())
}

#[allow(clippy::too_many_arguments)]
fn allocate_pages(
    mm: &MemoryManager,
    low: i64,
    high: i64,
    skip: i64,
    total: usize,
    cache: Option<CachePolicy>,
    flags: u32,
    location: Site,
) -> *mut Mdl {
    let request = PagesRequest {
        low: PhysicalAddress(low as u64),
        high: PhysicalAddress(high as u64),
        skip: skip as u64,
        total: total as u64,
        cache,
        flags,
    };
    match mm.allocate_pages_for_mdl(&request, location) {
        Ok(mdl) => mdl.as_ptr(),
        Err(PagesForMdlError::Irql(error)) => verifier(mm, 0x7E, error.current.0.into(), 0, 0, location),
        Err(_) => core::ptr::null_mut(),
    }
}

/// `MmFreePagesFromMdl(MemoryDescriptorList)`.
#[track_caller]
pub fn mm_free_pages_from_mdl(mm: &MemoryManager, mdl: *mut Mdl) {
    let location = Location::caller();
    let mdl_ptr = mdl_at(mm, mdl, location);
    match mm.free_pages_from_mdl(mdl_ptr) {
        Ok(()) => {}
        Err(FreePagesError::Irql(error)) => {
            verifier(mm, 0x7E, error.current.0.into(), mdl as u64, 0, location)
        }
        Err(FreePagesError::NotPagesForMdl) => {
            mm.bug_check(code::MEMORY_MANAGEMENT, [0x1236, mdl as u64, 0, 0], location)
        }
        Err(FreePagesError::StillMapped) => pte_misuse(
            mm,
            0x06,
            mdl as u64,
            mdl_ptr.mapped_system_va() as u64,
            mdl_ptr.page_count(),
            location,
        ),
    }
}

/// `MmMapLockedPages(MemoryDescriptorList, AccessMode) -> PVOID`: obsolete; a cached mapping
/// that bug-checks on failure.
#[track_caller]
pub fn mm_map_locked_pages(mm: &MemoryManager, mdl: *mut Mdl, access_mode: u8) -> *mut c_void {
    let location = Location::caller();
    if mm.config().verifier.report_obsolete_routines {
        verifier(mm, 0x81, location.line().into(), mdl as u64, 0, location);
    }
    map_mdl(
        mm,
        mdl,
        access_mode,
        MemoryCachingType::Cached as i32,
        true,
        NORMAL_PAGE_PRIORITY,
        0x74,
        location,
    )
}

/// `MmMapLockedPagesSpecifyCache(Mdl, AccessMode, CacheType, RequestedAddress,
/// BugCheckOnFailure, Priority) -> PVOID`. `RequestedAddress` matters only to user-mode
/// mappings, which this machine does not make.
#[track_caller]
pub fn mm_map_locked_pages_specify_cache(
    mm: &MemoryManager,
    mdl: *mut Mdl,
    access_mode: u8,
    cache_type: i32,
    _requested_address: *mut c_void,
    bug_check_on_failure: u32,
    priority: u32,
) -> *mut c_void {
    let location = Location::caller();
    if bug_check_on_failure != 0 && mm.config().verifier.report_bug_check_on_failure {
        verifier(mm, 0x82, mdl as u64, 0, 0, location);
    }
    map_mdl(mm, mdl, access_mode, cache_type, bug_check_on_failure != 0, priority, 0x76, location)
}

#[allow(clippy::too_many_arguments)]
fn map_mdl(
    mm: &MemoryManager,
    mdl: *mut Mdl,
    access_mode: u8,
    cache_type: i32,
    bug_check_on_failure: bool,
    priority: u32,
    irql_subcode: u64,
    location: Site,
) -> *mut c_void {
    let mdl_ptr = mdl_at(mm, mdl, location);
    let Ok(caching) = MemoryCachingType::try_from(cache_type) else {
        return core::ptr::null_mut();
    };
    let mode = if access_mode == 0 { ProcessorMode::Kernel } else { ProcessorMode::User };
    let priority = MappingPriority::from_raw(priority);
    // The legacy bit a driver may set around a mapping: fail with NULL, not a bug check.
    let bug_check_on_failure = bug_check_on_failure && !mdl_ptr.has_any_flags(flags::MDL_MAPPING_CAN_FAIL);
    match mm.map_locked_pages(mdl_ptr, mode, caching.policy(), priority, location) {
        Ok(address) => address.as_ptr(),
        Err(error) => map_failure(mm, mdl_ptr, error, bug_check_on_failure, irql_subcode, location),
    }
}

fn map_failure(
    mm: &MemoryManager,
    mdl: MdlPtr,
    error: MapMdlError,
    bug_check_on_failure: bool,
    irql_subcode: u64,
    location: Site,
) -> *mut c_void {
    let address = mdl.as_ptr() as u64;
    let flags = u64::from(mdl.flags());
    match error {
        MapMdlError::Irql(error) => verifier(mm, irql_subcode, error.current.0.into(), address, 0, location),
        MapMdlError::NotLocked => verifier(mm, 0x85, address, flags, 0, location),
        MapMdlError::AlreadyMapped => verifier(mm, 0xB2, address, flags, 0, location),
        MapMdlError::NotMarkedIoSpace(pfn) => verifier(mm, 0x89, address, pfn.0, 0, location),
        MapMdlError::CacheConflict(conflict) if bug_check_on_failure => {
            mm.bug_check(code::MEMORY_MANAGEMENT, [0x1000, address, conflict.pfn.0, 0], location)
        }
        MapMdlError::NoResources(MapFramesError::VaExhausted | MapFramesError::OutOfPageTableFrames)
            if bug_check_on_failure =>
        {
            let system_va = mm.system_va();
            mm.bug_check(
                code::NO_MORE_SYSTEM_PTES,
                [0, mdl.page_count(), system_va.free_pages(), system_va.total_pages()],
                location,
            )
        }
        MapMdlError::CacheConflict(conflict) => {
            mm.verifier_log().record(Diagnostic { kind: DiagnosticKind::CacheConflict(conflict), location });
            core::ptr::null_mut()
        }
        MapMdlError::UserMode | MapMdlError::NoResources(_) => core::ptr::null_mut(),
    }
}

/// `MmUnmapLockedPages(BaseAddress, MemoryDescriptorList)`.
#[track_caller]
pub fn mm_unmap_locked_pages(mm: &MemoryManager, base_address: *mut c_void, mdl: *mut Mdl) {
    let location = Location::caller();
    let mdl_ptr = mdl_at(mm, mdl, location);
    let address = VirtualAddress::from_ptr(base_address);
    let Err(error) = mm.unmap_locked_pages(address, mdl_ptr) else { return };
    let flags = u64::from(mdl_ptr.flags());
    match error {
        UnmapMdlError::Irql(error) => {
            verifier(mm, 0x79, error.current.0.into(), address.0, mdl as u64, location)
        }
        UnmapMdlError::NotMapped => verifier(mm, 0xB6, mdl as u64, flags, 0, location),
        UnmapMdlError::PartialBorrowsParent => verifier(mm, 0xB5, mdl as u64, flags, 0, location),
        UnmapMdlError::WrongAddress => {
            pte_misuse(mm, 0x06, mdl as u64, address.0, mdl_ptr.page_count(), location)
        }
    }
}

/// `MmGetSystemAddressForMdlSafe(Mdl, Priority) -> PVOID` (a macro in `wdm.h`).
#[track_caller]
pub fn mm_get_system_address_for_mdl_safe(mm: &MemoryManager, mdl: *mut Mdl, priority: u32) -> *mut c_void {
    let location = Location::caller();
    let mdl_ptr = mdl_at(mm, mdl, location);
    match mm.system_address_for_mdl(mdl_ptr, MappingPriority::from_raw(priority), location) {
        Ok(address) => address.as_ptr(),
        Err(error) => map_failure(mm, mdl_ptr, error, false, 0x76, location),
    }
}

/// `MmAllocateMappingAddress(NumberOfBytes, PoolTag) -> PVOID`.
#[track_caller]
pub fn mm_allocate_mapping_address(mm: &MemoryManager, number_of_bytes: usize, pool_tag: u32) -> *mut c_void {
    reserve(mm, number_of_bytes, pool_tag, 0, Location::caller())
}

/// `MmAllocateMappingAddressEx(NumberOfBytes, PoolTag, Flags) -> PVOID`: NULL for a zero tag.
#[track_caller]
pub fn mm_allocate_mapping_address_ex(
    mm: &MemoryManager,
    number_of_bytes: usize,
    pool_tag: u32,
    flags: u32,
) -> *mut c_void {
    if pool_tag == 0 {
        return core::ptr::null_mut();
    }
    reserve(mm, number_of_bytes, pool_tag, flags, Location::caller())
}

fn reserve(mm: &MemoryManager, bytes: usize, tag: u32, flags: u32, location: Site) -> *mut c_void {
    match mm.allocate_mapping_address(bytes as u64, tag, flags, location) {
        Ok(address) => address.as_ptr(),
        Err(ReserveError::ZeroBytes) => pte_misuse(mm, 0x100, 0, tag.into(), 0, location),
        Err(ReserveError::Irql(error)) => irql_not_less_or_equal(mm, 0, error, location),
        Err(ReserveError::InvalidParameter | ReserveError::NoResources) => core::ptr::null_mut(),
    }
}

/// `MmFreeMappingAddress(BaseAddress, PoolTag)`.
#[track_caller]
pub fn mm_free_mapping_address(mm: &MemoryManager, base_address: *mut c_void, pool_tag: u32) {
    let location = Location::caller();
    let base = VirtualAddress::from_ptr(base_address);
    let tag = u64::from(pool_tag);
    match mm.free_mapping_address(base, pool_tag) {
        Ok(()) => {}
        Err(FreeReservationError::NotReserved) => pte_misuse(mm, 0x102, base.0, tag, 0, location),
        Err(FreeReservationError::WrongTag { owner }) => {
            pte_misuse(mm, 0x101, base.0, tag, owner.into(), location)
        }
        Err(FreeReservationError::StillMapped { mapped_pages }) => {
            pte_misuse(mm, 0x103, base.0, tag, mapped_pages, location)
        }
        Err(FreeReservationError::Irql(error)) => irql_not_less_or_equal(mm, base.0, error, location),
    }
}

/// `MmMapLockedPagesWithReservedMapping(MappingAddress, PoolTag, Mdl, CacheType) -> PVOID`:
/// NULL only for parameter errors (an MDL larger than the reservation, an invalid caching type,
/// a cache-attribute conflict).
#[track_caller]
pub fn mm_map_locked_pages_with_reserved_mapping(
    mm: &MemoryManager,
    mapping_address: *mut c_void,
    pool_tag: u32,
    mdl: *mut Mdl,
    cache_type: i32,
) -> *mut c_void {
    let location = Location::caller();
    let mdl_ptr = mdl_at(mm, mdl, location);
    let base = VirtualAddress::from_ptr(mapping_address);
    let tag = u64::from(pool_tag);
    let Ok(caching) = MemoryCachingType::try_from(cache_type) else {
        return core::ptr::null_mut();
    };
    match mm.map_locked_pages_with_reserved_mapping(base, pool_tag, mdl_ptr, caching.policy()) {
        Ok(address) => address.as_ptr(),
        Err(ReservedMapError::NotReserved) => pte_misuse(mm, 0x105, base.0, tag, 0, location),
        Err(ReservedMapError::WrongTag { owner }) => {
            pte_misuse(mm, 0x104, base.0, tag, owner.into(), location)
        }
        Err(ReservedMapError::StillMapped { mapped_pages }) => {
            let last = base.0 + (mapped_pages - 1) * PAGE_SIZE;
            pte_misuse(mm, 0x107, base.0, base.0, last, location)
        }
        Err(ReservedMapError::NotLocked) => {
            verifier(mm, 0x85, mdl as u64, u64::from(mdl_ptr.flags()), 0, location)
        }
        Err(ReservedMapError::AlreadyMapped) => {
            verifier(mm, 0xB2, mdl as u64, u64::from(mdl_ptr.flags()), 0, location)
        }
        Err(ReservedMapError::Irql(error)) => irql_not_less_or_equal(mm, base.0, error, location),
        Err(ReservedMapError::TooLarge | ReservedMapError::CacheConflict(_)) => core::ptr::null_mut(),
    }
}

/// `MmUnmapReservedMapping(BaseAddress, PoolTag, Mdl)`.
#[track_caller]
pub fn mm_unmap_reserved_mapping(
    mm: &MemoryManager,
    base_address: *mut c_void,
    pool_tag: u32,
    mdl: *mut Mdl,
) {
    let location = Location::caller();
    let mdl_ptr = mdl_at(mm, mdl, location);
    let base = VirtualAddress::from_ptr(base_address);
    let tag = u64::from(pool_tag);
    let Err(error) = mm.unmap_reserved_mapping(base, pool_tag, mdl_ptr) else { return };
    match error {
        ReservedUnmapError::Empty => pte_misuse(mm, 0x109, base.0, tag, 0, location),
        ReservedUnmapError::WrongTag { owner } => pte_misuse(mm, 0x108, base.0, tag, owner.into(), location),
        ReservedUnmapError::MoreThanMapped { mapped_pages, requested_pages } => {
            pte_misuse(mm, 0x10A, base.0, mapped_pages, requested_pages, location)
        }
        ReservedUnmapError::PartNotMapped { requested_pages } => {
            pte_misuse(mm, 0x10B, base.0, tag, requested_pages, location)
        }
        ReservedUnmapError::NotAllUnmapped { requested_pages } => {
            pte_misuse(mm, 0x10C, base.0, tag, requested_pages, location)
        }
        ReservedUnmapError::Irql(error) => irql_not_less_or_equal(mm, base.0, error, location),
    }
}
