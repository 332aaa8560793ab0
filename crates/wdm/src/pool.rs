//! Pool: `ExAllocatePoolWithTag`, `ExAllocatePool2`, `ExFreePoolWithTag`, `ExFreePool`.
//!
//! Each routine is `iospace_mm::nt`'s routine of the same name on the booted machine. Pool is
//! RAM mapped into the system window, so the address returned is a real pointer the driver
//! reads and writes directly; `MmGetPhysicalAddress` of it is one page walk.

use std::ffi::c_void;

use iospace_mm::nt;

use crate::boundary::enter;

/// `PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)`:
/// uninitialised pool, 16-byte aligned (64 for the cache-aligned types), or NULL when memory
/// is exhausted or the pool type is unsupported. Supported: `NonPagedPool`, `PagedPool`,
/// `NonPagedPoolCacheAligned`, `PagedPoolCacheAligned`, `NonPagedPoolNx`,
/// `NonPagedPoolNxCacheAligned`.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`, paged pool at most `APC_LEVEL` (0xC4/0x02, 0x01).
///
/// # Bug checks
/// 0xC4/0x00 zero bytes; 0xC2/0x9B tag 0; 0xC2/0x9D a tag without letters or digits;
/// 0xC2/0x9A a must-succeed pool type.
#[unsafe(no_mangle)]
pub extern "C" fn ExAllocatePoolWithTag(pool_type: u32, number_of_bytes: usize, tag: u32) -> *mut c_void {
    enter("ExAllocatePoolWithTag", |machine| {
        nt::ex_allocate_pool_with_tag(machine.mm(), pool_type, number_of_bytes, tag)
    })
}

/// `PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)`: zeroed pool
/// (unless `POOL_FLAG_UNINITIALIZED`) of exactly one of `POOL_FLAG_NON_PAGED`,
/// `POOL_FLAG_NON_PAGED_EXECUTE` and `POOL_FLAG_PAGED`; NULL for invalid flags, a bad tag or
/// exhaustion.
///
/// # IRQL
/// As [`ExAllocatePoolWithTag`].
///
/// # Bug checks
/// 0x1E with `STATUS_INSUFFICIENT_RESOURCES` when exhausted with `POOL_FLAG_RAISE_ON_FAILURE`.
#[unsafe(no_mangle)]
pub extern "C" fn ExAllocatePool2(flags: u64, number_of_bytes: usize, tag: u32) -> *mut c_void {
    enter("ExAllocatePool2", |machine| nt::ex_allocate_pool2(machine.mm(), flags, number_of_bytes, tag))
}

/// `VOID ExFreePoolWithTag(PVOID P, ULONG Tag)`: frees pool; a non-zero `Tag` must be the
/// allocation's.
///
/// # IRQL
/// Nonpaged pool at most `DISPATCH_LEVEL`, paged pool at most `APC_LEVEL` (0xC4/0x12, 0x11).
///
/// # Bug checks
/// 0xC2/0x07 double free, 0xC2/0x0A wrong tag, 0xC2/0x42 never pool, 0xC2/0x99 not the start
/// of an allocation.
#[unsafe(no_mangle)]
pub extern "C" fn ExFreePoolWithTag(p: *mut c_void, tag: u32) {
    enter("ExFreePoolWithTag", |machine| nt::ex_free_pool_with_tag(machine.mm(), p, tag))
}

/// `VOID ExFreePool(PVOID P)`: frees pool without checking its tag; also how the MDL of
/// `MmAllocatePagesForMdl` is freed.
///
/// # IRQL
/// As [`ExFreePoolWithTag`].
#[unsafe(no_mangle)]
pub extern "C" fn ExFreePool(p: *mut c_void) {
    enter("ExFreePool", |machine| nt::ex_free_pool(machine.mm(), p))
}
