//! The NT-named facade: Windows' calling conventions over the safe API.
//!
//! Each routine takes the raw values a driver passes (signed `PHYSICAL_ADDRESS`, `SIZE_T`,
//! `MEMORY_CACHING_TYPE` as an `i32`, pointers) and turns every error of the safe API into what
//! Windows does: a NULL return, or a bug check with the documented code and parameters raised
//! through the platform. This module is the only place where that conversion happens.
//!
//! Each routine is `#[track_caller]`, so a bug check names the driver's line.
//!
//! Decisions where the documentation leaves room (contract §15):
//! - An invalid `MEMORY_CACHING_TYPE` (any value outside `0..MmMaximumCacheType`, with no
//!   masking) makes `MmMapIoSpace` return NULL.
//! - Zero bytes and a physical range that wraps or passes 2^52 return NULL.
//! - `MmMapIoSpace` over unlocked RAM raises 0x1A/0x1233 (P2 = the first unlocked PFN).
//! - `MmMapIoSpace` of a range that a live mapping (or the frame's recorded attribute) gives
//!   another memory type returns NULL and records a diagnostic in the verifier log: two memory
//!   types for one page are undefined on x86, so the second mapping is never created.
//! - `MmUnmapIoSpace` of an unknown address raises 0xDA/0x400 (P2 = VA, P3 = pages); of an
//!   address inside a mapping but not its base, 0xDA/0x03 (P2 = base, P3 = expected VA,
//!   P4 = requested VA); with a size spanning another page count, 0xDA/0x02 (P2 = VA,
//!   P3 = pages mapped, P4 = pages requested).
//! - IRQL violations raise 0xC4 with the routine's verifier subcode where one exists (0x73,
//!   0x7B), else 0x0A IRQL_NOT_LESS_OR_EQUAL (P1 = the address involved, P2 = IRQL, P3 = 0,
//!   P4 = 0).

use core::ffi::c_void;
use core::panic::Location;

use crate::address::{PhysicalAddress, VirtualAddress};
use crate::bug_check::{code, memory_management, pte_misuse, verifier};
use crate::caching::MemoryCachingType;
use crate::io_space::{MapIoSpaceError, UnmapIoSpaceError};
use crate::irql::{self, Irql};
use crate::memory_manager::MemoryManager;
use crate::protection::PageProtection;
use crate::verifier::{Diagnostic, DiagnosticKind};

/// `MmMapIoSpace(PhysicalAddress, NumberOfBytes, CacheType) -> PVOID`.
#[track_caller]
pub fn mm_map_io_space(
    mm: &MemoryManager,
    physical_address: i64,
    number_of_bytes: usize,
    cache_type: i32,
) -> *mut c_void {
    let Ok(caching) = MemoryCachingType::try_from(cache_type) else {
        return core::ptr::null_mut();
    };
    let protection = PageProtection::read_write_execute(caching.policy());
    map(mm, physical_address, number_of_bytes, protection, Location::caller())
}

/// `MmMapIoSpaceEx(PhysicalAddress, NumberOfBytes, Protect) -> PVOID`.
#[track_caller]
pub fn mm_map_io_space_ex(
    mm: &MemoryManager,
    physical_address: i64,
    number_of_bytes: usize,
    protect: u32,
) -> *mut c_void {
    let Ok(protection) = PageProtection::from_protect(protect) else {
        return core::ptr::null_mut();
    };
    map(mm, physical_address, number_of_bytes, protection, Location::caller())
}

fn map(
    mm: &MemoryManager,
    physical_address: i64,
    number_of_bytes: usize,
    protection: PageProtection,
    location: &'static Location<'static>,
) -> *mut c_void {
    let physical = PhysicalAddress(physical_address as u64);
    let bytes = number_of_bytes as u64;
    match mm.map_io_space_with(physical, bytes, protection, location) {
        Ok(mapping) => mapping.into_raw().as_ptr(),
        Err(MapIoSpaceError::Irql(error)) => mm.bug_check(
            code::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::MAP_IO_SPACE_IRQL, error.current.0.into(), physical.0, bytes],
            location,
        ),
        Err(MapIoSpaceError::RamNotLocked { pfn }) => mm.bug_check(
            code::MEMORY_MANAGEMENT,
            [memory_management::MAP_UNLOCKED_PAGE, pfn.0, 0, 0],
            location,
        ),
        Err(MapIoSpaceError::CacheConflict(conflict)) => {
            mm.verifier_log().record(Diagnostic { kind: DiagnosticKind::CacheConflict(conflict), location });
            core::ptr::null_mut()
        }
        Err(
            MapIoSpaceError::ZeroLength
            | MapIoSpaceError::AddressRangeWraps
            | MapIoSpaceError::VaExhausted
            | MapIoSpaceError::OutOfPageTableFrames,
        ) => core::ptr::null_mut(),
    }
}

/// `MmUnmapIoSpace(BaseAddress, NumberOfBytes)`.
#[track_caller]
pub fn mm_unmap_io_space(mm: &MemoryManager, base_address: *mut c_void, number_of_bytes: usize) {
    let location = Location::caller();
    let address = VirtualAddress::from_ptr(base_address);
    let bytes = number_of_bytes as u64;
    let Err(error) = mm.unmap_io_space(address, bytes) else { return };
    let (code, parameters) = match error {
        UnmapIoSpaceError::Irql(error) => (
            code::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [verifier::UNMAP_IO_SPACE_IRQL, error.current.0.into(), address.0, bytes],
        ),
        UnmapIoSpaceError::NotMapped { address, pages } => {
            (code::SYSTEM_PTE_MISUSE, [pte_misuse::UNKNOWN_IO_SPACE_MAPPING, address.0, pages, 0])
        }
        UnmapIoSpaceError::NotTheBase { expected, requested } => (
            code::SYSTEM_PTE_MISUSE,
            [pte_misuse::WRONG_MAPPING_ADDRESS, expected.page_base().0, expected.0, requested.0],
        ),
        UnmapIoSpaceError::SizeMismatch { address, mapped_pages, requested_pages } => (
            code::SYSTEM_PTE_MISUSE,
            [pte_misuse::WRONG_MAPPING_COUNT, address.0, mapped_pages, requested_pages],
        ),
    };
    mm.bug_check(code, parameters, location)
}

/// `MmGetPhysicalAddress(BaseAddress) -> PHYSICAL_ADDRESS`: 0 for an address with no valid
/// translation.
pub fn mm_get_physical_address(mm: &MemoryManager, base_address: *const c_void) -> i64 {
    mm.physical_address(VirtualAddress::from_ptr(base_address)).map_or(0, |physical| physical.0 as i64)
}

/// `MmIsAddressValid(VirtualAddress) -> BOOLEAN`.
#[track_caller]
pub fn mm_is_address_valid(mm: &MemoryManager, virtual_address: *const c_void) -> bool {
    let address = VirtualAddress::from_ptr(virtual_address);
    check_irql(mm, Irql::DISPATCH, address.0, Location::caller());
    mm.is_address_valid(address)
}

/// `KeGetCurrentIrql() -> KIRQL`.
pub fn ke_get_current_irql(mm: &MemoryManager) -> u8 {
    mm.current_irql().0
}

/// `KeRaiseIrql(NewIrql, &OldIrql)`: raising to a lower level is bug check 0x09.
#[track_caller]
pub fn ke_raise_irql(mm: &MemoryManager, new_irql: u8) -> u8 {
    let current = mm.current_irql();
    if new_irql < current.0 || new_irql > Irql::HIGH.0 {
        mm.bug_check(
            code::IRQL_NOT_GREATER_OR_EQUAL,
            [current.0.into(), new_irql.into(), 0, 0],
            Location::caller(),
        );
    }
    mm.platform().set_current_irql(Irql(new_irql));
    current.0
}

/// `KeLowerIrql(NewIrql)`: lowering to a higher level is bug check 0x0A.
#[track_caller]
pub fn ke_lower_irql(mm: &MemoryManager, new_irql: u8) {
    let current = mm.current_irql();
    if new_irql > current.0 {
        mm.bug_check(
            code::IRQL_NOT_LESS_OR_EQUAL,
            [0, new_irql.into(), 0, current.0.into()],
            Location::caller(),
        );
    }
    mm.platform().set_current_irql(Irql(new_irql));
}

/// `KeBugCheckEx(BugCheckCode, P1, P2, P3, P4)`.
#[track_caller]
pub fn ke_bug_check_ex(mm: &MemoryManager, bug_check_code: u32, p1: u64, p2: u64, p3: u64, p4: u64) -> ! {
    mm.bug_check(bug_check_code, [p1, p2, p3, p4], Location::caller())
}

/// Raises 0x0A when the current IRQL is above `maximum`.
fn check_irql(mm: &MemoryManager, maximum: Irql, address: u64, location: &'static Location<'static>) {
    if let Err(error) = irql::check(mm.current_irql(), maximum) {
        mm.bug_check(code::IRQL_NOT_LESS_OR_EQUAL, [address, error.current.0.into(), 0, 0], location);
    }
}

// =============================================================================================
// Pool, contiguous and non-cached memory (safe API in `pool.rs` and `contiguous.rs`).
//
// Decisions, in full in the module docs of `crate::pool` and `crate::contiguous`:
// - Pool misuse is 0xC2 BAD_POOL_CALLER: 0x07 double free (P3 = tag, P4 = address), 0x0A wrong
//   tag (P2 = address, P3 = allocator's tag, P4 = tag passed), 0x42 never pool (P2 = address),
//   0x99 inside pool but not an allocation's start (P2 = address), 0x9A must-succeed pool type,
//   0x9B tag 0 and 0x9D tag without letters or digits (ExAllocatePoolWithTag only;
//   ExAllocatePool2 returns NULL for those tags).
// - Pool IRQL and size rules use the verifier's 0xC4 subcodes: 0x00 zero bytes, 0x01 / 0x02
//   paged / nonpaged allocation above APC / DISPATCH (P2 = IRQL, P3 = pool type, P4 = bytes),
//   0x11 / 0x12 paged / nonpaged free above APC / DISPATCH (P4 = address).
// - Exhaustion returns NULL; with POOL_FLAG_RAISE_ON_FAILURE it is the unhandled exception
//   0x1E KMODE_EXCEPTION_NOT_HANDLED (P1 = STATUS_INSUFFICIENT_RESOURCES).
// - MmFreeContiguousMemory of anything but a live contiguous base: 0xC2/0x60 (P2 = address).
// - MmFreeNonCachedMemory: 0xDA/0x303 unknown address (P2 = address, P3 = pages given),
//   0xDA/0x304 inside an allocation (same parameters), 0xDA/0x305 wrong size (P2 = address,
//   P3 = pages given, P4 = pages allocated).
// - Contiguous and non-cached IRQL violations: 0x0A (P1 = address or 0, P2 = IRQL).
// =============================================================================================

use crate::bug_check::{bad_pool_caller, kmode_exception_not_handled, pool_verifier, pte_release};
use crate::contiguous::{ContiguousError, FreeContiguousError, FreeNonCachedError, NonCachedError};
use crate::pool::{
    FreePoolError, InvalidPoolType, POOL_TAG_NONE, PoolError, PoolFlags, PoolRequest, PoolType,
};

/// How an allocation routine treats what the safe pool API refused.
#[derive(Clone, Copy)]
struct PoolCall {
    /// The pool type as the driver gave it (or its equivalent for `ExAllocatePool2`).
    nt_pool_type: u32,
    bytes: u64,
    /// Bad tags are bug checks (`ExAllocatePoolWithTag`) rather than NULL (`ExAllocatePool2`).
    strict_tags: bool,
    /// `POOL_FLAG_RAISE_ON_FAILURE`.
    raise_on_failure: bool,
}

/// `ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag) -> PVOID`: uninitialised pool, or NULL
/// when memory or system VA is exhausted or the pool type is unsupported.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
#[track_caller]
pub fn ex_allocate_pool_with_tag(
    mm: &MemoryManager,
    pool_type: u32,
    number_of_bytes: usize,
    tag: u32,
) -> *mut c_void {
    let location = Location::caller();
    let bytes = number_of_bytes as u64;
    let (kind, cache_aligned) = match PoolType::from_nt(pool_type) {
        Ok(decoded) => decoded,
        Err(InvalidPoolType::MustSucceed(_)) => mm.bug_check(
            bad_pool_caller::CODE,
            [bad_pool_caller::MUST_SUCCEED, pool_type.into(), bytes, tag.into()],
            location,
        ),
        Err(InvalidPoolType::Unsupported(_)) => return core::ptr::null_mut(),
    };
    let request = PoolRequest { pool_type: kind, bytes, tag, zeroed: false, cache_aligned };
    let call = PoolCall { nt_pool_type: pool_type, bytes, strict_tags: true, raise_on_failure: false };
    allocate_pool(mm, request, call, location)
}

/// `ExAllocatePool(PoolType, NumberOfBytes) -> PVOID` (obsolete): `ExAllocatePoolWithTag` with
/// the tag `'None'`.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
#[track_caller]
pub fn ex_allocate_pool(mm: &MemoryManager, pool_type: u32, number_of_bytes: usize) -> *mut c_void {
    ex_allocate_pool_with_tag(mm, pool_type, number_of_bytes, POOL_TAG_NONE)
}

/// `ExAllocatePool2(Flags, NumberOfBytes, Tag) -> PVOID`: zeroed pool unless
/// `POOL_FLAG_UNINITIALIZED`; NULL for invalid flags, a tag of 0 (or without letters or digits)
/// and exhaustion (a bug check 0x1E with `POOL_FLAG_RAISE_ON_FAILURE`).
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
#[track_caller]
pub fn ex_allocate_pool2(mm: &MemoryManager, flags: u64, number_of_bytes: usize, tag: u32) -> *mut c_void {
    let location = Location::caller();
    let Ok(flags) = PoolFlags::decode(flags) else {
        return core::ptr::null_mut();
    };
    let bytes = number_of_bytes as u64;
    let request = PoolRequest {
        pool_type: flags.pool_type,
        bytes,
        tag,
        zeroed: flags.zeroed,
        cache_aligned: flags.cache_aligned,
    };
    let call = PoolCall {
        nt_pool_type: flags.nt_pool_type,
        bytes,
        strict_tags: false,
        raise_on_failure: flags.raise_on_failure,
    };
    allocate_pool(mm, request, call, location)
}

fn allocate_pool(
    mm: &MemoryManager,
    request: PoolRequest,
    call: PoolCall,
    location: &'static Location<'static>,
) -> *mut c_void {
    let error = match mm.allocate_pool_with(request, location) {
        Ok(address) => return address.as_ptr(),
        Err(error) => error,
    };
    let pool_type = u64::from(call.nt_pool_type);
    let (code, parameters) = match error {
        PoolError::Irql(error) => {
            let subcode = match request.pool_type {
                PoolType::NonPaged => pool_verifier::NON_PAGED_ALLOCATION_IRQL,
                PoolType::Paged => pool_verifier::PAGED_ALLOCATION_IRQL,
            };
            (
                code::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [subcode, error.current.0.into(), pool_type, call.bytes],
            )
        }
        PoolError::ZeroBytes => (
            code::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [pool_verifier::ZERO_BYTE_ALLOCATION, mm.current_irql().0.into(), pool_type, 0],
        ),
        PoolError::ZeroTag if call.strict_tags => {
            (bad_pool_caller::CODE, [bad_pool_caller::ZERO_TAG, pool_type, call.bytes, 0])
        }
        PoolError::TagWithoutLettersOrDigits(tag) if call.strict_tags => (
            bad_pool_caller::CODE,
            [bad_pool_caller::TAG_WITHOUT_LETTERS_OR_DIGITS, tag.into(), pool_type, 0],
        ),
        PoolError::ZeroTag | PoolError::TagWithoutLettersOrDigits(_) => return core::ptr::null_mut(),
        PoolError::OutOfMemory | PoolError::VaExhausted | PoolError::OutOfPageTableFrames => {
            if !call.raise_on_failure {
                return core::ptr::null_mut();
            }
            (
                kmode_exception_not_handled::CODE,
                [kmode_exception_not_handled::STATUS_INSUFFICIENT_RESOURCES, 0, 0, 0],
            )
        }
    };
    mm.bug_check(code, parameters, location)
}

/// `ExFreePoolWithTag(P, Tag)`: frees pool; a non-zero `tag` must be the allocation's.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
#[track_caller]
pub fn ex_free_pool_with_tag(mm: &MemoryManager, p: *mut c_void, tag: u32) {
    free_pool(mm, p, (tag != 0).then_some(tag), Location::caller());
}

/// `ExFreePool(P)`: frees pool without checking its tag.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
#[track_caller]
pub fn ex_free_pool(mm: &MemoryManager, p: *mut c_void) {
    free_pool(mm, p, None, Location::caller());
}

fn free_pool(mm: &MemoryManager, p: *mut c_void, tag: Option<u32>, location: &'static Location<'static>) {
    let address = VirtualAddress::from_ptr(p);
    let Err(error) = mm.free_pool(address, tag) else { return };
    let (code, parameters) = match error {
        FreePoolError::Irql { error, pool_type } => {
            let subcode = match pool_type {
                PoolType::NonPaged => pool_verifier::NON_PAGED_FREE_IRQL,
                PoolType::Paged => pool_verifier::PAGED_FREE_IRQL,
            };
            (
                code::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [subcode, error.current.0.into(), pool_type.nt_value().into(), address.0],
            )
        }
        FreePoolError::NeverPool { address } => {
            (bad_pool_caller::CODE, [bad_pool_caller::NEVER_POOL, address.0, 0, 0])
        }
        FreePoolError::AlreadyFree { address, tag } => {
            (bad_pool_caller::CODE, [bad_pool_caller::DOUBLE_FREE, 0, tag.map_or(0, u64::from), address.0])
        }
        FreePoolError::NotAnAllocation { address } => {
            (bad_pool_caller::CODE, [bad_pool_caller::INVALID_ADDRESS, address.0, 0, 0])
        }
        FreePoolError::WrongTag { address, allocated, passed } => {
            (bad_pool_caller::CODE, [bad_pool_caller::WRONG_TAG, address.0, allocated.into(), passed.into()])
        }
    };
    mm.bug_check(code, parameters, location)
}

/// `MmAllocateContiguousMemory(NumberOfBytes, HighestAcceptableAddress) -> PVOID`: cached,
/// executable, physically contiguous memory whose every byte is at or below the address
/// (unsigned: -1 means anywhere); NULL on failure. Not zeroed.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[track_caller]
pub fn mm_allocate_contiguous_memory(
    mm: &MemoryManager,
    number_of_bytes: usize,
    highest_acceptable_address: i64,
) -> *mut c_void {
    allocate_contiguous(
        mm,
        number_of_bytes,
        0,
        highest_acceptable_address,
        0,
        crate::caching::CachePolicy::WriteBack,
        Location::caller(),
    )
}

/// `MmAllocateContiguousMemorySpecifyCache(NumberOfBytes, LowestAcceptableAddress,
/// HighestAcceptableAddress, BoundaryAddressMultiple, CacheType) -> PVOID`: NULL on failure,
/// for an invalid caching type, a boundary that is not 0 or a power of two, and impossible
/// bounds. Executable only with `MmCached` (C30030's reading). Not zeroed.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[track_caller]
pub fn mm_allocate_contiguous_memory_specify_cache(
    mm: &MemoryManager,
    number_of_bytes: usize,
    lowest_acceptable_address: i64,
    highest_acceptable_address: i64,
    boundary_address_multiple: i64,
    cache_type: i32,
) -> *mut c_void {
    let Ok(caching) = MemoryCachingType::try_from(cache_type) else {
        return core::ptr::null_mut();
    };
    allocate_contiguous(
        mm,
        number_of_bytes,
        lowest_acceptable_address,
        highest_acceptable_address,
        boundary_address_multiple,
        caching.policy(),
        Location::caller(),
    )
}

fn allocate_contiguous(
    mm: &MemoryManager,
    number_of_bytes: usize,
    lowest: i64,
    highest: i64,
    boundary: i64,
    cache: crate::caching::CachePolicy,
    location: &'static Location<'static>,
) -> *mut c_void {
    match mm.allocate_contiguous(
        number_of_bytes as u64,
        PhysicalAddress(lowest as u64),
        PhysicalAddress(highest as u64),
        boundary as u64,
        cache,
        location,
    ) {
        Ok(address) => address.as_ptr(),
        Err(ContiguousError::Irql(error)) => {
            mm.bug_check(code::IRQL_NOT_LESS_OR_EQUAL, [0, error.current.0.into(), 0, 0], location)
        }
        Err(
            ContiguousError::ZeroLength
            | ContiguousError::BoundaryNotPowerOfTwo(_)
            | ContiguousError::ImpossibleConstraints
            | ContiguousError::Exhausted
            | ContiguousError::VaExhausted
            | ContiguousError::OutOfPageTableFrames,
        ) => core::ptr::null_mut(),
    }
}

/// `MmFreeContiguousMemory(BaseAddress)`: `BaseAddress` must be exactly what a contiguous
/// allocator returned; anything else is bug check 0xC2/0x60.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[track_caller]
pub fn mm_free_contiguous_memory(mm: &MemoryManager, base_address: *mut c_void) {
    let location = Location::caller();
    let address = VirtualAddress::from_ptr(base_address);
    match mm.free_contiguous(address) {
        Ok(()) => {}
        Err(FreeContiguousError::Irql(error)) => {
            mm.bug_check(code::IRQL_NOT_LESS_OR_EQUAL, [address.0, error.current.0.into(), 0, 0], location)
        }
        Err(FreeContiguousError::NotAllocated { address }) => mm.bug_check(
            bad_pool_caller::CODE,
            [bad_pool_caller::BAD_CONTIGUOUS_FREE, address.0, 0, 0],
            location,
        ),
    }
}

/// `MmAllocateNonCachedMemory(NumberOfBytes) -> PVOID`: whole pages mapped uncached, or NULL.
/// Not zeroed.
///
/// # IRQL
/// At most `APC_LEVEL`.
#[track_caller]
pub fn mm_allocate_non_cached_memory(mm: &MemoryManager, number_of_bytes: usize) -> *mut c_void {
    let location = Location::caller();
    match mm.allocate_non_cached_with(number_of_bytes as u64, location) {
        Ok(address) => address.as_ptr(),
        Err(NonCachedError::Irql(error)) => {
            mm.bug_check(code::IRQL_NOT_LESS_OR_EQUAL, [0, error.current.0.into(), 0, 0], location)
        }
        Err(
            NonCachedError::ZeroLength
            | NonCachedError::Exhausted
            | NonCachedError::VaExhausted
            | NonCachedError::OutOfPageTableFrames,
        ) => core::ptr::null_mut(),
    }
}

/// `MmFreeNonCachedMemory(BaseAddress, NumberOfBytes)`: the base must be what
/// `MmAllocateNonCachedMemory` returned and the size must span the same pages; misuse is bug
/// check 0xDA/0x303, 0x304 or 0x305.
///
/// # IRQL
/// At most `APC_LEVEL`.
#[track_caller]
pub fn mm_free_non_cached_memory(mm: &MemoryManager, base_address: *mut c_void, number_of_bytes: usize) {
    let location = Location::caller();
    let address = VirtualAddress::from_ptr(base_address);
    let Err(error) = mm.free_non_cached(address, number_of_bytes as u64) else { return };
    let (code, parameters) = match error {
        FreeNonCachedError::Irql(error) => {
            (code::IRQL_NOT_LESS_OR_EQUAL, [address.0, error.current.0.into(), 0, 0])
        }
        FreeNonCachedError::NotAllocated { address, pages } => {
            (code::SYSTEM_PTE_MISUSE, [pte_release::NEVER_RESERVED, address.0, pages, 0])
        }
        FreeNonCachedError::NotTheBase { address, pages, .. } => {
            (code::SYSTEM_PTE_MISUSE, [pte_release::MIDDLE_OF_ALLOCATION, address.0, pages, 0])
        }
        FreeNonCachedError::SizeMismatch { address, allocated_pages, requested_pages } => {
            (code::SYSTEM_PTE_MISUSE, [pte_release::WRONG_COUNT, address.0, requested_pages, allocated_pages])
        }
    };
    mm.bug_check(code, parameters, location)
}
