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
