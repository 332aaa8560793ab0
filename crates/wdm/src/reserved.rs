//! Reserved mappings: `MmAllocateMappingAddress(Ex)`, `MmFreeMappingAddress`,
//! `MmMapLockedPagesWithReservedMapping`, `MmUnmapReservedMapping` (contract §3).
//!
//! Each routine is `iospace_mm::nt_mdl`'s routine of the same name on the booted machine. The
//! page tables of a reservation are built when it is reserved, so mapping into it never fails
//! for want of memory.

use std::ffi::c_void;

use iospace_mm::mdl::Mdl;
use iospace_mm::nt_mdl;

use crate::boundary::enter;

/// `PVOID MmAllocateMappingAddress(SIZE_T NumberOfBytes, ULONG PoolTag)`: reserves system VA
/// for later MDL mappings, or returns NULL; nothing is mapped yet.
///
/// # IRQL
/// At most `APC_LEVEL`.
///
/// # Bug checks
/// 0xDA/0x100 for zero bytes.
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocateMappingAddress(number_of_bytes: usize, pool_tag: u32) -> *mut c_void {
    enter("MmAllocateMappingAddress", |machine| {
        nt_mdl::mm_allocate_mapping_address(machine.mm(), number_of_bytes, pool_tag)
    })
}

/// `PVOID MmAllocateMappingAddressEx(SIZE_T NumberOfBytes, ULONG PoolTag, ULONG Flags)`: as
/// [`MmAllocateMappingAddress`]; `Flags` is 0 or `MM_MAPPING_ADDRESS_DIVISIBLE` (the address is
/// then a multiple of the size). NULL for a zero tag or a request of 4 GB or more.
///
/// # IRQL
/// At most `APC_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn MmAllocateMappingAddressEx(
    number_of_bytes: usize,
    pool_tag: u32,
    flags: u32,
) -> *mut c_void {
    enter("MmAllocateMappingAddressEx", |machine| {
        nt_mdl::mm_allocate_mapping_address_ex(machine.mm(), number_of_bytes, pool_tag, flags)
    })
}

/// `VOID MmFreeMappingAddress(PVOID BaseAddress, ULONG PoolTag)`: releases a reservation that
/// is no longer mapped.
///
/// # IRQL
/// At most `APC_LEVEL`.
///
/// # Bug checks
/// 0xDA/0x101 wrong tag, 0xDA/0x102 not a reservation, 0xDA/0x103 still mapped.
#[unsafe(no_mangle)]
pub extern "C" fn MmFreeMappingAddress(base_address: *mut c_void, pool_tag: u32) {
    enter("MmFreeMappingAddress", |machine| {
        nt_mdl::mm_free_mapping_address(machine.mm(), base_address, pool_tag)
    })
}

/// `PVOID MmMapLockedPagesWithReservedMapping(PVOID MappingAddress, ULONG PoolTag, PMDL
/// MemoryDescriptorList, MEMORY_CACHING_TYPE CacheType)`: maps the MDL's locked pages at the
/// start of the reservation. Returns the address of the buffer's first byte (with the MDL's
/// byte offset); `MappedSystemVa` is set to the reservation's start, without it. NULL only
/// for parameter errors (an MDL larger than the reservation, an invalid caching type).
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0xDA/0x104 wrong tag, 0xDA/0x105 not a reservation, 0xDA/0x107 still mapped; 0xC4/0x85 for
/// an MDL whose pages are not locked, 0xC4/0xB2 for one already mapped.
///
/// # Safety
/// `memory_descriptor_list` points to an MDL (from `IoAllocateMdl`, `MmInitializeMdl` or
/// `MmAllocatePagesForMdl(Ex)`) that no other thread changes during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmMapLockedPagesWithReservedMapping(
    mapping_address: *mut c_void,
    pool_tag: u32,
    memory_descriptor_list: *mut Mdl,
    cache_type: i32,
) -> *mut c_void {
    enter("MmMapLockedPagesWithReservedMapping", |machine| {
        nt_mdl::mm_map_locked_pages_with_reserved_mapping(
            machine.mm(),
            mapping_address,
            pool_tag,
            memory_descriptor_list,
            cache_type,
        )
    })
}

/// `VOID MmUnmapReservedMapping(PVOID BaseAddress, ULONG PoolTag, PMDL MemoryDescriptorList)`:
/// removes the mapping the MDL made in the reservation; the reservation stays and can be
/// mapped again.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Bug checks
/// 0xDA/0x108 wrong tag, 0xDA/0x109 nothing mapped, 0xDA/0x10A more pages than mapped,
/// 0xDA/0x10B part not mapped, 0xDA/0x10C fewer pages than mapped.
///
/// # Safety
/// As [`MmMapLockedPagesWithReservedMapping`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmUnmapReservedMapping(
    base_address: *mut c_void,
    pool_tag: u32,
    memory_descriptor_list: *mut Mdl,
) {
    enter("MmUnmapReservedMapping", |machine| {
        nt_mdl::mm_unmap_reserved_mapping(machine.mm(), base_address, pool_tag, memory_descriptor_list)
    })
}
