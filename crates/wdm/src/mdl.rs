//! MDL routines: allocation, locking, partial MDLs, pages for MDLs and system mappings
//! (contract §4, §5).
//!
//! Each routine is `iospace_mm::nt_mdl`'s routine of the same name on the booted machine; the
//! decisions where the documentation leaves room are listed there. Two are this layer's:
//!
//! - `MmProbeAndLockPages` raises an exception on Windows, which a driver catches with
//!   `__try`/`__except`. C has no such thing, so an invalid range is the bug check Windows
//!   ends with when nobody catches it: [`PROBE_FAILED`] (0x1E `KMODE_EXCEPTION_NOT_HANDLED`)
//!   with P1 = `STATUS_ACCESS_VIOLATION`, P2 = 0, P3 = 0 for `IoReadAccess` and 1 otherwise,
//!   P4 = the MDL's virtual address (the start of the range probed), laid out as the exception
//!   parameters of an access violation. The MDL is left unlocked. `IospProbeAndLockPages`
//!   is the caught form: it returns the status instead.
//! - `IoAllocateMdl` with an IRP returns NULL: there is no I/O manager here, so no IRP whose
//!   chain the MDL could join.
//!
//! The header macros (`MmInitializeMdl`, `MmGetSystemAddressForMdlSafe`,
//! `MmPrepareMdlForReuse`, the `MmGetMdl*` accessors) expand in the driver, as on Windows, and
//! call the routines here.

use std::ffi::c_void;

use iospace_mm::bug_check::{BugCheck, kmode_exception_not_handled};
use iospace_mm::mdl::{Mdl, MdlPtr};
use iospace_mm::nt_mdl;

use crate::boundary::{enter, enter_without_machine, raise};
use crate::status;

/// The bug-check code of an `MmProbeAndLockPages` that fails: `KMODE_EXCEPTION_NOT_HANDLED`.
pub const PROBE_FAILED: u32 = kmode_exception_not_handled::CODE;

/// `PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer, BOOLEAN
/// ChargeQuota, PIRP Irp)`: an MDL from nonpaged pool describing `Length` bytes at
/// `VirtualAddress`, its PFN array not filled in; NULL for a length above 4 GB − 4 KB, when
/// pool is exhausted, or when `Irp` is not NULL (no I/O manager here). `SecondaryBuffer` only
/// matters with an IRP; `ChargeQuota` is reserved and ignored.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn IoAllocateMdl(
    virtual_address: *mut c_void,
    length: u32,
    _secondary_buffer: u8,
    _charge_quota: u8,
    irp: *mut c_void,
) -> *mut Mdl {
    enter("IoAllocateMdl", |machine| {
        if !irp.is_null() {
            return std::ptr::null_mut();
        }
        nt_mdl::io_allocate_mdl(machine.mm(), virtual_address, length)
    })
}

/// `VOID IoFreeMdl(PMDL Mdl)`: frees an MDL from [`IoAllocateMdl`]. A partial MDL's own
/// mapping is released with it; any other MDL must be unmapped first.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0xC4/0xB8 for a mapped non-partial MDL; 0xC2/0x42 for an address that is no such MDL.
///
/// # Safety
/// `mdl` is NULL (a page fault, 0x50) or points to an MDL no other thread changes meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoFreeMdl(mdl: *mut Mdl) {
    enter("IoFreeMdl", |machine| nt_mdl::io_free_mdl(machine.mm(), mdl))
}

/// `VOID IoBuildPartialMdl(PMDL SourceMdl, PMDL TargetMdl, PVOID VirtualAddress, ULONG
/// Length)`: makes `TargetMdl` describe `Length` bytes at `VirtualAddress` inside the locked
/// `SourceMdl` (0 = to its end), sharing the source's system mapping if it has one.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0x12E when the range is not inside the source; 0x40 when the target is too small.
///
/// # Safety
/// Both MDL pointers are NULL (0x50) or point to MDLs no other thread changes meanwhile; the
/// target has room for the PFN entries its `Size` (or its `IoAllocateMdl` block) promises.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoBuildPartialMdl(
    source_mdl: *mut Mdl,
    target_mdl: *mut Mdl,
    virtual_address: *mut c_void,
    length: u32,
) {
    enter("IoBuildPartialMdl", |machine| {
        nt_mdl::io_build_partial_mdl(machine.mm(), source_mdl, target_mdl, virtual_address, length)
    })
}

/// `SIZE_T MmSizeOfMdl(PVOID Base, SIZE_T Length)`: 48 + 8 × the pages `Length` bytes at
/// `Base` span. Needs no machine.
///
/// # IRQL
/// Any.
#[unsafe(no_mangle)]
pub extern "C" fn MmSizeOfMdl(base: *mut c_void, length: usize) -> usize {
    enter_without_machine("MmSizeOfMdl", || nt_mdl::mm_size_of_mdl(base, length))
}

/// `VOID MmProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
/// LOCK_OPERATION Operation)`: checks that every page of the MDL's buffer allows `Operation`,
/// locks the frames, fills the PFN array and sets `MDL_PAGES_LOCKED`.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` for nonpaged buffers, `APC_LEVEL` for paged pool (0xC4/0x70).
///
/// # Bug checks
/// An invalid range (not mapped, read-only for a write, or `UserMode`: there are no user
/// processes) is [`PROBE_FAILED`], as the module documentation describes. Misuse: 0xC4/0xB0
/// (an MDL already locked, partial, built for nonpaged pool or mapped), 0xC4/0x6F (frames that
/// are not RAM).
///
/// # Safety
/// As [`IoFreeMdl`]; the MDL has room for the PFN entries of its range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmProbeAndLockPages(
    memory_descriptor_list: *mut Mdl,
    access_mode: i8,
    operation: i32,
) {
    enter("MmProbeAndLockPages", |machine| {
        let mdl = memory_descriptor_list;
        if let Err(status) =
            nt_mdl::mm_probe_and_lock_pages(machine.mm(), mdl, access_mode as u8, operation as u32)
        {
            // SAFETY: the facade returns a status only for a non-null MDL it has read.
            let start = unsafe { MdlPtr::from_raw(mdl) }.map_or(0, MdlPtr::virtual_address);
            let write = u64::from(operation != 0);
            raise(BugCheck {
                code: PROBE_FAILED,
                parameters: [u64::from(status as u32), 0, write, start],
                location: None,
            });
        }
    })
}

/// `NTSTATUS IospProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
/// LOCK_OPERATION Operation)` (`iospace.h`): [`MmProbeAndLockPages`] inside the
/// `__try`/`__except` a Windows driver writes around it: an invalid range returns
/// `STATUS_ACCESS_VIOLATION` and leaves the MDL unlocked instead of raising. Misuse is still a
/// bug check.
///
/// # IRQL
/// As [`MmProbeAndLockPages`].
///
/// # Safety
/// As [`MmProbeAndLockPages`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IospProbeAndLockPages(
    memory_descriptor_list: *mut Mdl,
    access_mode: i8,
    operation: i32,
) -> i32 {
    enter("IospProbeAndLockPages", |machine| {
        match nt_mdl::mm_probe_and_lock_pages(
            machine.mm(),
            memory_descriptor_list,
            access_mode as u8,
            operation as u32,
        ) {
            Ok(()) => status::SUCCESS,
            Err(status) => status,
        }
    })
}

/// `VOID MmUnlockPages(PMDL MemoryDescriptorList)`: releases the MDL's system mapping, if any,
/// then unlocks the pages [`MmProbeAndLockPages`] locked.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x78).
///
/// # Bug checks
/// 0xC4/0x7C never locked, 0xC4/0x7D built for nonpaged pool, 0xC4/0xB4 partial; 0x4E/0x07
/// when a page would be unlocked more often than it was locked.
///
/// # Safety
/// As [`IoFreeMdl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmUnlockPages(memory_descriptor_list: *mut Mdl) {
    enter("MmUnlockPages", |machine| nt_mdl::mm_unlock_pages(machine.mm(), memory_descriptor_list))
}

/// `VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList)`: fills the PFN array of an MDL
/// over nonpaged memory and marks it `MDL_SOURCE_IS_NONPAGED_POOL`; `MappedSystemVa` becomes
/// the buffer's own address.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0xC4/0x7F over paged pool; 0x50 over a page that is not mapped.
///
/// # Safety
/// As [`MmProbeAndLockPages`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmBuildMdlForNonPagedPool(memory_descriptor_list: *mut Mdl) {
    enter("MmBuildMdlForNonPagedPool", |machine| {
        nt_mdl::mm_build_mdl_for_non_paged_pool(machine.mm(), memory_descriptor_list)
    })
}

/// `PMDL MmAllocatePagesForMdl(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
/// PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes)`: zeroed, locked, unmapped pages from
/// `[LowAddress, HighAddress]` (then windows `SkipBytes` higher), described by a new MDL that
/// may cover fewer than `TotalBytes`; NULL if no page could be had. Free the pages with
/// [`MmFreePagesFromMdl`] and then the MDL with `ExFreePool`.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x7E).
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocatePagesForMdl(
    low_address: i64,
    high_address: i64,
    skip_bytes: i64,
    total_bytes: usize,
) -> *mut Mdl {
    enter("MmAllocatePagesForMdl", |machine| {
        nt_mdl::mm_allocate_pages_for_mdl(machine.mm(), low_address, high_address, skip_bytes, total_bytes)
    })
}

/// `PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
/// PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes, MEMORY_CACHING_TYPE CacheType, ULONG
/// Flags)`: as [`MmAllocatePagesForMdl`], recording `CacheType` for the pages, with the
/// `MM_ALLOCATE_*` flags (`FULLY_REQUIRED`, `REQUIRE_CONTIGUOUS_CHUNKS`, `DONT_ZERO`, ...).
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x7E).
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocatePagesForMdlEx(
    low_address: i64,
    high_address: i64,
    skip_bytes: i64,
    total_bytes: usize,
    cache_type: i32,
    flags: u32,
) -> *mut Mdl {
    enter("MmAllocatePagesForMdlEx", |machine| {
        nt_mdl::mm_allocate_pages_for_mdl_ex(
            machine.mm(),
            low_address,
            high_address,
            skip_bytes,
            total_bytes,
            cache_type,
            flags,
        )
    })
}

/// `VOID MmFreePagesFromMdl(PMDL MemoryDescriptorList)`: gives back the pages of an MDL from
/// [`MmAllocatePagesForMdl`] (releasing its system mapping first), but not the MDL itself.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x7E).
///
/// # Bug checks
/// 0x1A/0x1236 for an MDL that holds no such pages.
///
/// # Safety
/// As [`IoFreeMdl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmFreePagesFromMdl(memory_descriptor_list: *mut Mdl) {
    enter("MmFreePagesFromMdl", |machine| {
        nt_mdl::mm_free_pages_from_mdl(machine.mm(), memory_descriptor_list)
    })
}

/// `PVOID MmMapLockedPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode)`: obsolete;
/// a cached kernel mapping that bug-checks on failure.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x74).
///
/// # Bug checks
/// Driver Verifier reports every use as 0xC4/0x81 unless the machine description turns
/// `report_obsolete_routines` off.
///
/// # Safety
/// As [`IoFreeMdl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmMapLockedPages(memory_descriptor_list: *mut Mdl, access_mode: i8) -> *mut c_void {
    enter("MmMapLockedPages", |machine| {
        nt_mdl::mm_map_locked_pages(machine.mm(), memory_descriptor_list, access_mode as u8)
    })
}

/// `PVOID MmMapLockedPagesSpecifyCache(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
/// MEMORY_CACHING_TYPE CacheType, PVOID RequestedAddress, ULONG BugCheckOnFailure, ULONG
/// Priority)`: maps the MDL's locked pages into system space and returns the address of the
/// buffer's first byte (also stored in `MappedSystemVa`, with `MDL_MAPPED_TO_SYSTEM_VA`). The
/// pages' recorded memory type wins over `CacheType`. `Priority` may carry
/// `MdlMappingNoWrite` and `MdlMappingNoExecute`. `UserMode` returns NULL (no processes).
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x76).
///
/// # Bug checks
/// 0xC4/0x85 pages not locked, 0xC4/0xB2 already mapped, 0xC4/0x89 device frames without
/// `MDL_IO_SPACE`; 0xC4/0x82 for `BugCheckOnFailure` = TRUE under the default verifier rules.
///
/// # Safety
/// As [`IoFreeMdl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmMapLockedPagesSpecifyCache(
    memory_descriptor_list: *mut Mdl,
    access_mode: i8,
    cache_type: i32,
    requested_address: *mut c_void,
    bug_check_on_failure: u32,
    priority: u32,
) -> *mut c_void {
    enter("MmMapLockedPagesSpecifyCache", |machine| {
        nt_mdl::mm_map_locked_pages_specify_cache(
            machine.mm(),
            memory_descriptor_list,
            access_mode as u8,
            cache_type,
            requested_address,
            bug_check_on_failure,
            priority,
        )
    })
}

/// `VOID MmUnmapLockedPages(PVOID BaseAddress, PMDL MemoryDescriptorList)`: removes the system
/// mapping [`MmMapLockedPagesSpecifyCache`] made for the MDL.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x79).
///
/// # Bug checks
/// 0xC4/0xB6 not mapped, 0xC4/0xB5 a partial MDL that borrows its parent's mapping, 0xDA/0x06
/// an address that is not this MDL's mapping.
///
/// # Safety
/// As [`IoFreeMdl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmUnmapLockedPages(base_address: *mut c_void, memory_descriptor_list: *mut Mdl) {
    enter("MmUnmapLockedPages", |machine| {
        nt_mdl::mm_unmap_locked_pages(machine.mm(), base_address, memory_descriptor_list)
    })
}
