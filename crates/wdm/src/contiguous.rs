//! Contiguous and non-cached memory: `MmAllocateContiguousMemory(SpecifyCache)`,
//! `MmFreeContiguousMemory`, `MmAllocateNonCachedMemory`, `MmFreeNonCachedMemory` (contract §6).
//!
//! Each routine is `iospace_mm::nt`'s routine of the same name on the booted machine.

use std::ffi::c_void;

use iospace_mm::nt;

use crate::boundary::enter;

/// `PVOID MmAllocateContiguousMemory(SIZE_T NumberOfBytes, PHYSICAL_ADDRESS
/// HighestAcceptableAddress)`: physically contiguous, cached memory whose every byte lies at or
/// below the address, page-aligned and not zeroed; NULL on failure.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocateContiguousMemory(
    number_of_bytes: usize,
    highest_acceptable_address: i64,
) -> *mut c_void {
    enter("MmAllocateContiguousMemory", |machine| {
        nt::mm_allocate_contiguous_memory(machine.mm(), number_of_bytes, highest_acceptable_address)
    })
}

/// `PVOID MmAllocateContiguousMemorySpecifyCache(SIZE_T NumberOfBytes, PHYSICAL_ADDRESS
/// LowestAcceptableAddress, PHYSICAL_ADDRESS HighestAcceptableAddress, PHYSICAL_ADDRESS
/// BoundaryAddressMultiple, MEMORY_CACHING_TYPE CacheType)`: as
/// [`MmAllocateContiguousMemory`], within `[Lowest, Highest]`, never crossing a multiple of a
/// non-zero `BoundaryAddressMultiple` (a power of two), mapped with `CacheType`.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocateContiguousMemorySpecifyCache(
    number_of_bytes: usize,
    lowest_acceptable_address: i64,
    highest_acceptable_address: i64,
    boundary_address_multiple: i64,
    cache_type: i32,
) -> *mut c_void {
    enter("MmAllocateContiguousMemorySpecifyCache", |machine| {
        nt::mm_allocate_contiguous_memory_specify_cache(
            machine.mm(),
            number_of_bytes,
            lowest_acceptable_address,
            highest_acceptable_address,
            boundary_address_multiple,
            cache_type,
        )
    })
}

/// `VOID MmFreeContiguousMemory(PVOID BaseAddress)`: frees what a contiguous allocator
/// returned, given exactly.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0xC2/0x60 for any other address.
#[unsafe(no_mangle)]
pub extern "C" fn MmFreeContiguousMemory(base_address: *mut c_void) {
    enter("MmFreeContiguousMemory", |machine| nt::mm_free_contiguous_memory(machine.mm(), base_address))
}

/// `PVOID MmAllocateNonCachedMemory(SIZE_T NumberOfBytes)`: whole pages mapped uncached,
/// physically discontiguous, not zeroed; NULL on failure.
///
/// # IRQL
/// At most `APC_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocateNonCachedMemory(number_of_bytes: usize) -> *mut c_void {
    enter("MmAllocateNonCachedMemory", |machine| {
        nt::mm_allocate_non_cached_memory(machine.mm(), number_of_bytes)
    })
}

/// `VOID MmFreeNonCachedMemory(PVOID BaseAddress, SIZE_T NumberOfBytes)`: frees what
/// [`MmAllocateNonCachedMemory`] returned; the size must span the same pages.
///
/// # IRQL
/// At most `APC_LEVEL`.
///
/// # Bug checks
/// 0xDA/0x303 unknown address, 0xDA/0x304 inside an allocation, 0xDA/0x305 wrong size.
#[unsafe(no_mangle)]
pub extern "C" fn MmFreeNonCachedMemory(base_address: *mut c_void, number_of_bytes: usize) {
    enter("MmFreeNonCachedMemory", |machine| {
        nt::mm_free_non_cached_memory(machine.mm(), base_address, number_of_bytes)
    })
}
