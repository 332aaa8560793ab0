//! The interface through which the hosted machine routes I/O-port accesses to device models
//! that live at fixed ports (legacy ISA devices such as the COM1 UART).
//!
//! A model sees its ports as offsets `0..port_count()`. As with [`MmioDevice`], an access it
//! does not decode must not panic: reads return all ones, as a port with nothing behind it does
//! on a PC, and writes are dropped. Port accesses are 1, 2 or 4 bytes wide; the machine never
//! issues 8-byte ones, and models treat them as undecoded.
//!
//! [`MmioDevice`]: crate::mmio::MmioDevice

use crate::mmio::AccessWidth;

/// A device model decoding a range of I/O ports.
///
/// `Send` so that the machine can own models on whichever thread runs the guest CPU.
pub trait PortDevice: Send {
    /// A short name for logs and diagnostics, such as `"16550a"`.
    fn name(&self) -> &'static str;

    /// Ports the model decodes (offsets `0..port_count()`).
    fn port_count(&self) -> u16;

    /// Reads `width` bytes at port offset `offset`, zero-extended. Takes `&mut self` because
    /// port reads can have side effects (popping a FIFO, clearing status).
    fn port_read(&mut self, offset: u16, width: AccessWidth) -> u32;

    /// Writes the low `width` bytes of `value` at port offset `offset`.
    fn port_write(&mut self, offset: u16, width: AccessWidth, value: u32);

    /// Lets pending work complete, as if enough time had passed on real hardware. The default
    /// does nothing, for models whose every effect is immediate.
    fn tick(&mut self) {}

    /// Whether the device asserts its interrupt request line right now. The default is never.
    fn interrupt_pending(&self) -> bool {
        false
    }
}
