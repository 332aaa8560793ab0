//! `READ_REGISTER_*`, `WRITE_REGISTER_*` and their `_BUFFER_` forms (contract §11).
//!
//! On Windows these are inline helpers in `wdm.h`; here they are exported routines, because a
//! device page of the hosted machine is not host memory: the access goes through the page
//! tables to the device model that decodes the physical address (`iospace_hal::registers` on
//! the booted machine). RAM mapped into the window (pool, contiguous memory) may be accessed
//! the same way.
//!
//! Every write is followed by a full barrier, so the device sees it before anything after the
//! call (claim 72); buffer forms move `Count` elements between the buffer and *consecutive*
//! registers (claim 73).
//!
//! # IRQL
//! Any, provided the register (and buffer) is mapped.
//!
//! # Bug checks
//! 0x50 for an address that is not mapped, 0xBE for a write through a read-only mapping, 0x1E
//! (`STATUS_DATATYPE_MISALIGNMENT`) for a register address that is not a multiple of the width.

use iospace_hal::registers;

use crate::boundary::{enter, page_fault};

/// The `Count` elements at `buffer` as a slice; NULL with a non-zero count is a page fault.
///
/// # Safety
/// `buffer` is NULL or valid for reads (and, for `_mut`, writes) of `count` elements that
/// nothing else accesses during the call.
pub(crate) unsafe fn elements<'a, T>(buffer: *mut T, count: u32, write: bool) -> &'a mut [T] {
    if count == 0 {
        return &mut [];
    }
    if buffer.is_null() {
        page_fault(0, write);
    }
    // SAFETY: the caller's contract: `count` valid elements at a non-null `buffer`.
    unsafe { std::slice::from_raw_parts_mut(buffer, count as usize) }
}

macro_rules! register_exports {
    ($type:ty, $c:literal, $read:ident, $write:ident, $read_buffer:ident, $write_buffer:ident,
     $hal_read:ident, $hal_write:ident, $hal_read_buffer:ident, $hal_write_buffer:ident) => {
        #[doc = concat!("`", $c, " ", stringify!($read), "(volatile ", $c, " *Register)`: one load of a `", $c, "`.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $read(register: *const $type) -> $type {
            enter(stringify!($read), |machine| registers::$hal_read(machine, machine.mm(), register))
        }

        #[doc = concat!("`VOID ", stringify!($write), "(volatile ", $c, " *Register, ", $c, " Value)`: one store, ")]
        /// then a full barrier.
        #[unsafe(no_mangle)]
        pub extern "C" fn $write(register: *mut $type, value: $type) {
            enter(stringify!($write), |machine| registers::$hal_write(machine, machine.mm(), register, value))
        }

        #[doc = concat!("`VOID ", stringify!($read_buffer), "(volatile ", $c, " *Register, P", $c, " Buffer, ULONG Count)`: ")]
        /// fills `Buffer` from `Count` consecutive registers.
        ///
        /// # Safety
        /// `buffer` is valid for writes of `count` elements.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $read_buffer(register: *const $type, buffer: *mut $type, count: u32) {
            enter(stringify!($read_buffer), |machine| {
                // SAFETY: the caller's contract.
                let buffer = unsafe { elements(buffer, count, true) };
                registers::$hal_read_buffer(machine, machine.mm(), register, buffer)
            })
        }

        #[doc = concat!("`VOID ", stringify!($write_buffer), "(volatile ", $c, " *Register, P", $c, " Buffer, ULONG Count)`: ")]
        /// writes `Count` elements of `Buffer` to consecutive registers, then a full barrier.
        ///
        /// # Safety
        /// `buffer` is valid for reads of `count` elements.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $write_buffer(register: *mut $type, buffer: *mut $type, count: u32) {
            enter(stringify!($write_buffer), |machine| {
                // SAFETY: the caller's contract.
                let buffer = unsafe { elements(buffer, count, false) };
                registers::$hal_write_buffer(machine, machine.mm(), register, buffer)
            })
        }
    };
}

register_exports!(
    u8,
    "UCHAR",
    READ_REGISTER_UCHAR,
    WRITE_REGISTER_UCHAR,
    READ_REGISTER_BUFFER_UCHAR,
    WRITE_REGISTER_BUFFER_UCHAR,
    read_register_uchar,
    write_register_uchar,
    read_register_buffer_uchar,
    write_register_buffer_uchar
);
register_exports!(
    u16,
    "USHORT",
    READ_REGISTER_USHORT,
    WRITE_REGISTER_USHORT,
    READ_REGISTER_BUFFER_USHORT,
    WRITE_REGISTER_BUFFER_USHORT,
    read_register_ushort,
    write_register_ushort,
    read_register_buffer_ushort,
    write_register_buffer_ushort
);
register_exports!(
    u32,
    "ULONG",
    READ_REGISTER_ULONG,
    WRITE_REGISTER_ULONG,
    READ_REGISTER_BUFFER_ULONG,
    WRITE_REGISTER_BUFFER_ULONG,
    read_register_ulong,
    write_register_ulong,
    read_register_buffer_ulong,
    write_register_buffer_ulong
);
register_exports!(
    u64,
    "ULONG64",
    READ_REGISTER_ULONG64,
    WRITE_REGISTER_ULONG64,
    READ_REGISTER_BUFFER_ULONG64,
    WRITE_REGISTER_BUFFER_ULONG64,
    read_register_ulong64,
    write_register_ulong64,
    read_register_buffer_ulong64,
    write_register_buffer_ulong64
);
