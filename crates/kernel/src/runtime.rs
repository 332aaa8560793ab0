//! What a freestanding Rust binary must provide itself: the memory routines the compiler calls,
//! the panic handler, and an unwinding personality that is never used (`panic = "abort"`).
//!
//! The host target's `compiler_builtins` does not export `memcpy` and friends to a
//! `-nostartfiles` link, so they are here, written with string instructions so that the
//! compiler cannot turn them back into calls to themselves.

use core::arch::asm;
use core::panic::PanicInfo;

/// `memcpy`: copies `count` bytes from `source` to `destination` (the ranges do not overlap).
///
/// # Safety
/// Both ranges are valid for `count` bytes and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(destination: *mut u8, source: *const u8, count: usize) -> *mut u8 {
    // SAFETY: the caller gives two valid, disjoint ranges of `count` bytes; `rep movsb` copies
    // exactly that forwards (the direction flag is clear, as the ABI requires).
    unsafe {
        asm!(
            "rep movsb",
            inout("rdi") destination => _,
            inout("rsi") source => _,
            inout("rcx") count => _,
            options(nostack, preserves_flags)
        );
    }
    destination
}

/// `memmove`: copies `count` bytes from `source` to `destination`; the ranges may overlap.
///
/// # Safety
/// Both ranges are valid for `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(destination: *mut u8, source: *const u8, count: usize) -> *mut u8 {
    if (destination as usize) <= (source as usize) || (destination as usize) >= (source as usize) + count {
        // SAFETY: copying forwards never overwrites a source byte before it is read when the
        // destination starts at or below the source (or past its end).
        unsafe { memcpy(destination, source, count) };
    } else if count > 0 {
        // SAFETY: the destination overlaps the source from above: copy backwards, from the
        // last byte, with the direction flag set for the copy only and cleared again.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rdi") destination.add(count - 1) => _,
                inout("rsi") source.add(count - 1) => _,
                inout("rcx") count => _,
                options(nostack)
            );
        }
    }
    destination
}

/// `memset`: fills `count` bytes at `destination` with the low byte of `value`.
///
/// # Safety
/// The range is valid for writes of `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(destination: *mut u8, value: i32, count: usize) -> *mut u8 {
    // SAFETY: the caller gives a writable range of `count` bytes; `rep stosb` writes exactly it.
    unsafe {
        asm!(
            "rep stosb",
            inout("rdi") destination => _,
            inout("rcx") count => _,
            in("al") value as u8,
            options(nostack, preserves_flags)
        );
    }
    destination
}

/// `memcmp`: compares `count` bytes; negative, zero or positive as the first difference is.
///
/// # Safety
/// Both ranges are valid for reads of `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, count: usize) -> i32 {
    let mut index = 0;
    while index < count {
        // SAFETY: `index < count`, inside both ranges the caller vouches for.
        let (a, b) = unsafe { (left.add(index).read(), right.add(index).read()) };
        if a != b {
            return i32::from(a) - i32::from(b);
        }
        index += 1;
    }
    0
}

/// `bcmp`: zero when the `count` bytes are equal.
///
/// # Safety
/// Both ranges are valid for reads of `count` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(left: *const u8, right: *const u8, count: usize) -> i32 {
    // SAFETY: the same contract as `memcmp`.
    unsafe { memcmp(left, right, count) }
}

/// The unwinding personality: never called, since the kernel is built with `panic = "abort"`,
/// but the host target's precompiled `core` refers to it.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// The unwinder's resume entry: referenced by the host target's precompiled `alloc`, never
/// reached with `panic = "abort"`. Should it be, the kernel stops.
#[unsafe(no_mangle)]
#[allow(non_snake_case)]
pub extern "C" fn _Unwind_Resume() -> ! {
    panic!("_Unwind_Resume reached in a kernel built with panic = \"abort\"")
}

/// A panic is a bug in the kernel itself: report it as a bug check and stop.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::stop::kernel_panic(info)
}
