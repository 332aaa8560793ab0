//! Leaving QEMU through its `isa-debug-exit` device, with the kernel's verdict as exit status.
//!
//! Writing `v` to the device's port makes QEMU exit with status `(v << 1) | 1`. Only
//! [`ExitCode::Success`] means success: a triple fault under `-no-reboot` exits with 0, and a
//! kernel that never reaches this file is stopped by the host's timeout.

use crate::port::outl;

/// The device's port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// What the kernel tells the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every check passed: QEMU exits with 33.
    Success = 0x10,
    /// A check failed: QEMU exits with 35.
    ChecksFailed = 0x11,
    /// The kernel stopped with a bug check: QEMU exits with 37.
    BugCheck = 0x12,
}

/// Ends the virtual machine with `code`. If the device is missing, the CPU halts forever and
/// the host's timeout ends the run.
pub fn exit(code: ExitCode) -> ! {
    outl(DEBUG_EXIT_PORT, code as u32);
    loop {
        // SAFETY: `cli; hlt` stops the CPU; nothing else runs on it.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
