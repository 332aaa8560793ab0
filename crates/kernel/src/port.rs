//! The x86 I/O instructions, sized.
//!
//! None is marked `nomem`: a port access may start a device that reads or writes memory (a DMA
//! engine), so the compiler must not move memory accesses across it.

use core::arch::asm;

/// `in al, dx`.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: an I/O read touches no memory; what it does to a device is the caller's intent.
    unsafe { asm!("in al, dx", out("al") value, in("dx") port, options(nostack, preserves_flags)) };
    value
}

/// `in ax, dx`.
pub fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: as `inb`.
    unsafe { asm!("in ax, dx", out("ax") value, in("dx") port, options(nostack, preserves_flags)) };
    value
}

/// `in eax, dx`.
pub fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as `inb`.
    unsafe { asm!("in eax, dx", out("eax") value, in("dx") port, options(nostack, preserves_flags)) };
    value
}

/// `out dx, al`.
pub fn outb(port: u16, value: u8) {
    // SAFETY: an I/O write touches no memory the compiler knows of.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nostack, preserves_flags)) };
}

/// `out dx, ax`.
pub fn outw(port: u16, value: u16) {
    // SAFETY: as `outb`.
    unsafe { asm!("out dx, ax", in("dx") port, in("ax") value, options(nostack, preserves_flags)) };
}

/// `out dx, eax`.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, preserves_flags)) };
}
