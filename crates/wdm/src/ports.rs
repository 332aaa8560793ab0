//! `READ_PORT_*`, `WRITE_PORT_*` and their `_BUFFER_` forms (contract §11).
//!
//! The "port pointer" is a port number (a value up to 0xFFFF: the low 32 bits of a translated
//! `CmResourceTypePort`, cast to a pointer) or, on the memory-mapped-ports personality, the
//! address `MmMapIoSpace` returned for a port range that translated to memory; values above
//! 0xFFFF take the register path (`iospace_hal::ports`). Buffer forms access the *same* port
//! `Count` times (claim 73).
//!
//! # IRQL
//! Any.
//!
//! # Bug checks
//! On the memory-mapped path, those of the register routines.

use iospace_hal::ports;

use crate::boundary::enter;
use crate::registers::elements;

macro_rules! port_exports {
    ($type:ty, $c:literal, $read:ident, $write:ident, $read_buffer:ident, $write_buffer:ident,
     $hal_read:ident, $hal_write:ident, $hal_read_buffer:ident, $hal_write_buffer:ident) => {
        #[doc = concat!("`", $c, " ", stringify!($read), "(P", $c, " Port)`: one `", $c, "` from the port.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $read(port: *mut $type) -> $type {
            enter(stringify!($read), |machine| ports::$hal_read(machine, machine.mm(), port))
        }

        #[doc = concat!("`VOID ", stringify!($write), "(P", $c, " Port, ", $c, " Value)`: one `", $c, "` to the port.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $write(port: *mut $type, value: $type) {
            enter(stringify!($write), |machine| ports::$hal_write(machine, machine.mm(), port, value))
        }

        #[doc = concat!("`VOID ", stringify!($read_buffer), "(P", $c, " Port, P", $c, " Buffer, ULONG Count)`: ")]
        /// `Count` reads of the same port into `Buffer`.
        ///
        /// # Safety
        /// `buffer` is valid for writes of `count` elements.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $read_buffer(port: *mut $type, buffer: *mut $type, count: u32) {
            enter(stringify!($read_buffer), |machine| {
                // SAFETY: the caller's contract.
                let buffer = unsafe { elements(buffer, count, true) };
                ports::$hal_read_buffer(machine, machine.mm(), port, buffer)
            })
        }

        #[doc = concat!("`VOID ", stringify!($write_buffer), "(P", $c, " Port, P", $c, " Buffer, ULONG Count)`: ")]
        /// `Count` writes of the elements of `Buffer` to the same port, in order.
        ///
        /// # Safety
        /// `buffer` is valid for reads of `count` elements.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $write_buffer(port: *mut $type, buffer: *mut $type, count: u32) {
            enter(stringify!($write_buffer), |machine| {
                // SAFETY: the caller's contract.
                let buffer = unsafe { elements(buffer, count, false) };
                ports::$hal_write_buffer(machine, machine.mm(), port, buffer)
            })
        }
    };
}

port_exports!(
    u8,
    "UCHAR",
    READ_PORT_UCHAR,
    WRITE_PORT_UCHAR,
    READ_PORT_BUFFER_UCHAR,
    WRITE_PORT_BUFFER_UCHAR,
    read_port_uchar,
    write_port_uchar,
    read_port_buffer_uchar,
    write_port_buffer_uchar
);
port_exports!(
    u16,
    "USHORT",
    READ_PORT_USHORT,
    WRITE_PORT_USHORT,
    READ_PORT_BUFFER_USHORT,
    WRITE_PORT_BUFFER_USHORT,
    read_port_ushort,
    write_port_ushort,
    read_port_buffer_ushort,
    write_port_buffer_ushort
);
port_exports!(
    u32,
    "ULONG",
    READ_PORT_ULONG,
    WRITE_PORT_ULONG,
    READ_PORT_BUFFER_ULONG,
    WRITE_PORT_BUFFER_ULONG,
    read_port_ulong,
    write_port_ulong,
    read_port_buffer_ulong,
    write_port_buffer_ulong
);
