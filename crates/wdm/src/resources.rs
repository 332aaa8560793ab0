//! Large memory resources: `RtlCmEncodeMemIoResource` and `RtlCmDecodeMemIoResource`
//! (contract §8.3), `iospace_pnp::large_memory`'s routines over a C
//! `CM_PARTIAL_RESOURCE_DESCRIPTOR`. They need no machine.
//!
//! The C structure is 20 bytes packed to 4, the layout of
//! [`CmPartialResourceDescriptor`]; it is copied in and out rather than referenced, so a
//! descriptor the C compiler placed at any address is handled.

use iospace_pnp::cm_layout::CmPartialResourceDescriptor;
use iospace_pnp::large_memory::{rtl_cm_decode_mem_io_resource, rtl_cm_encode_mem_io_resource};

use crate::boundary::{enter_without_machine, page_fault};

/// `NTSTATUS RtlCmEncodeMemIoResource(PCM_PARTIAL_RESOURCE_DESCRIPTOR Descriptor, UCHAR Type,
/// ULONGLONG Length, ULONGLONG Start)`: stores a Port, Memory or MemoryLarge range in the
/// smallest form that holds `Length` exactly, setting `Type` and the `LARGE_*` flags.
/// `STATUS_INVALID_PARAMETER` for another type, `STATUS_UNSUCCESSFUL` for a length with no
/// exact encoding; the descriptor is unchanged then.
///
/// # IRQL
/// Any.
///
/// # Safety
/// `descriptor` is NULL (0x50) or valid for reads and writes of 20 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlCmEncodeMemIoResource(
    descriptor: *mut CmPartialResourceDescriptor,
    resource_type: u8,
    length: u64,
    start: u64,
) -> i32 {
    enter_without_machine("RtlCmEncodeMemIoResource", || {
        if descriptor.is_null() {
            page_fault(0, false);
        }
        // SAFETY: the caller passes 20 readable bytes (checked non-null), at any alignment.
        let mut copy = unsafe { descriptor.read_unaligned() };
        let status = rtl_cm_encode_mem_io_resource(&mut copy, resource_type, length, start);
        if status.is_success() {
            // SAFETY: as above, and writable.
            unsafe { descriptor.write_unaligned(copy) };
        }
        status.0
    })
}

/// `ULONGLONG RtlCmDecodeMemIoResource(PCM_PARTIAL_RESOURCE_DESCRIPTOR Descriptor, PULONGLONG
/// Start)`: the length in bytes of a Port, Memory or MemoryLarge descriptor, and its start
/// through `Start` when that is not NULL; 0 (and `Start` untouched) for any other descriptor.
///
/// # IRQL
/// Any.
///
/// # Safety
/// `descriptor` is NULL (0x50) or valid for reads of 20 bytes; `start` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlCmDecodeMemIoResource(
    descriptor: *const CmPartialResourceDescriptor,
    start: *mut u64,
) -> u64 {
    enter_without_machine("RtlCmDecodeMemIoResource", || {
        if descriptor.is_null() {
            page_fault(0, false);
        }
        // SAFETY: the caller passes 20 readable bytes (checked non-null), at any alignment.
        let copy = unsafe { descriptor.read_unaligned() };
        if start.is_null() {
            return rtl_cm_decode_mem_io_resource(&copy, None);
        }
        // SAFETY: the caller passes a readable and writable ULONGLONG (checked non-null), at
        // any alignment. Written back whether or not the routine stored a start, so a
        // descriptor it does not handle leaves the caller's value as it was.
        let mut first = unsafe { start.read_unaligned() };
        let length = rtl_cm_decode_mem_io_resource(&copy, Some(&mut first));
        // SAFETY: as above.
        unsafe { start.write_unaligned(first) };
        length
    })
}
