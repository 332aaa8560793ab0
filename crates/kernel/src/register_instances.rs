//! The HAL's register routines instantiated for [`MetalIo`], under fixed symbol names, so that a
//! test can find them in the kernel image and read their machine code.
//!
//! # "Compiles to one load"
//!
//! [`metal_read_register_ulong`] is `READ_REGISTER_ULONG` with the platform's type known at
//! compile time. That it compiles to one load means, precisely: on every path through its
//! machine code that returns to the caller (the path on which the access does not fault), the
//! function
//! - performs exactly one memory read, of 4 bytes, at the address the `register` argument
//!   arrives in (`rsi`, the second integer argument of the C ABI), with no index and no
//!   displacement, that register being unchanged before the read;
//! - performs no other memory access: no store, no push or pop;
//! - makes no call and no indirect jump (a jump out of the function counts as a call), and
//!   has no loop;
//! - runs no fence: no `mfence`, `lfence` or `sfence` and no locked instruction. A read is a
//!   compiler barrier, then the load (claim 72); the compiler barrier is no instruction, and
//!   `KeMemoryBarrier`'s fence belongs to writes only.
//!
//! The alignment test and a conditional branch to a cold path are allowed: they are no memory
//! access. The cold path bug-checks 0x1E for a misaligned register and never returns, so it is
//! not a path that returns and may call what it likes.
//!
//! `tests/one_load.rs` builds the kernel, finds the symbol and checks that definition
//! instruction by instruction. It checks, too, that the definition rejects
//! [`metal_write_register_ulong`] (a store, then `mfence`: no load at all) and
//! [`metal_read_register_ulong_through_dyn`] (the same read with the platform behind a trait
//! object, as drivers hold it: the access is an indirect call), so the check can fail.
//!
//! The self-tests call all three on edu's registers: that keeps them in the image, and shows on
//! metal that they do what the routines do.

use iospace_hal::access::IoAccess;
use iospace_hal::registers::{read_register_ulong, write_register_ulong};
use iospace_mm::memory_manager::MemoryManager;

use crate::io_access::MetalIo;

/// `READ_REGISTER_ULONG(register)` instantiated for [`MetalIo`]: the alignment test, then one
/// 4-byte load at `register` (see the [module documentation](self) for the exact claim). `mm`
/// is the machine's memory manager, which a misaligned `register` bug-checks through (0x1E).
///
/// Never inlined and never mangled, so the routine exists once in the image under this name.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn metal_read_register_ulong(mm: &MemoryManager, register: *const u32) -> u32 {
    read_register_ulong(&MetalIo, mm, register)
}

/// `WRITE_REGISTER_ULONG(register, value)` instantiated for [`MetalIo`]: the alignment test,
/// one 4-byte store, then `mfence` (claim 72). It is not a load, and the one-load check
/// rejects it.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn metal_write_register_ulong(mm: &MemoryManager, register: *mut u32, value: u32) {
    write_register_ulong(&MetalIo, mm, register, value)
}

/// `READ_REGISTER_ULONG(register)` with the platform behind a trait object, as drivers get it
/// from their device context: the same behaviour, but the access is an indirect call through
/// the vtable, which the one-load check rejects.
#[unsafe(no_mangle)]
#[inline(never)]
pub fn metal_read_register_ulong_through_dyn(
    io: &dyn IoAccess,
    mm: &MemoryManager,
    register: *const u32,
) -> u32 {
    read_register_ulong(io, mm, register)
}
