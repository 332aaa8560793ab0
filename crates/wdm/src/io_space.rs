//! Mapping device memory and asking what an address maps: `MmMapIoSpace`, `MmMapIoSpaceEx`,
//! `MmUnmapIoSpace`, `MmGetPhysicalAddress`, `MmIsAddressValid` (contract §2, §6).
//!
//! Each routine is `iospace_mm::nt`'s routine of the same name on the booted machine; the
//! decisions where the documentation leaves room are listed there.
//!
//! `PHYSICAL_ADDRESS` is a union of 8 bytes whose members are all integers; the x86-64 calling
//! convention passes and returns it exactly as a 64-bit integer, which is how it appears here.

use std::ffi::c_void;

use iospace_mm::nt;

use crate::boundary::enter;

/// `PVOID MmMapIoSpace(PHYSICAL_ADDRESS PhysicalAddress, SIZE_T NumberOfBytes,
/// MEMORY_CACHING_TYPE CacheType)`: a system address for `NumberOfBytes` of device memory,
/// mapped read-write-execute with `CacheType`; it keeps the physical address's byte offset.
/// NULL for zero bytes, an invalid caching type, exhausted system VA, or a range another live
/// mapping gives a different memory type (recorded in the verifier log).
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0xC4/0x73 above it).
///
/// # Bug checks
/// 0x1A/0x1233 when the range covers RAM that is not locked.
#[unsafe(no_mangle)]
pub extern "C" fn MmMapIoSpace(
    physical_address: i64,
    number_of_bytes: usize,
    cache_type: i32,
) -> *mut c_void {
    enter("MmMapIoSpace", |machine| {
        nt::mm_map_io_space(machine.mm(), physical_address, number_of_bytes, cache_type)
    })
}

/// `PVOID MmMapIoSpaceEx(PHYSICAL_ADDRESS PhysicalAddress, SIZE_T NumberOfBytes, ULONG
/// Protect)`: as [`MmMapIoSpace`], with the page protection and memory type given as
/// `PAGE_*` flags: exactly one of `PAGE_READONLY`, `PAGE_READWRITE`, `PAGE_EXECUTE`,
/// `PAGE_EXECUTE_READ`, `PAGE_EXECUTE_READWRITE`, plus at most one of `PAGE_NOCACHE` and
/// `PAGE_WRITECOMBINE` (none means cached). NULL for any other combination.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
#[unsafe(no_mangle)]
pub extern "C" fn MmMapIoSpaceEx(physical_address: i64, number_of_bytes: usize, protect: u32) -> *mut c_void {
    enter("MmMapIoSpaceEx", |machine| {
        nt::mm_map_io_space_ex(machine.mm(), physical_address, number_of_bytes, protect)
    })
}

/// `VOID MmUnmapIoSpace(PVOID BaseAddress, SIZE_T NumberOfBytes)`: removes a mapping made by
/// [`MmMapIoSpace`] or [`MmMapIoSpaceEx`]; the address and size must be exactly those of the
/// mapping.
///
/// # IRQL
/// At most `APC_LEVEL` (the verifier's rule, 0xC4/0x7B above it; contract §15.1).
///
/// # Bug checks
/// 0xDA/0x400 for an address that is no I/O-space mapping, 0xDA/0x03 for an address inside one
/// that is not its base, 0xDA/0x02 for a size that spans another number of pages.
#[unsafe(no_mangle)]
pub extern "C" fn MmUnmapIoSpace(base_address: *mut c_void, number_of_bytes: usize) {
    enter("MmUnmapIoSpace", |machine| nt::mm_unmap_io_space(machine.mm(), base_address, number_of_bytes))
}

/// `PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress)`: the physical address a system
/// address maps (one page-table walk), or 0 when nothing valid maps it.
///
/// # IRQL
/// Any, provided the address is valid.
#[unsafe(no_mangle)]
pub extern "C" fn MmGetPhysicalAddress(base_address: *mut c_void) -> i64 {
    enter("MmGetPhysicalAddress", |machine| nt::mm_get_physical_address(machine.mm(), base_address))
}

/// `BOOLEAN MmIsAddressValid(PVOID VirtualAddress)`: TRUE when an access to the address would
/// not fault now.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (0x0A above it).
#[unsafe(no_mangle)]
pub extern "C" fn MmIsAddressValid(virtual_address: *mut c_void) -> u8 {
    enter("MmIsAddressValid", |machine| nt::mm_is_address_valid(machine.mm(), virtual_address).into())
}
