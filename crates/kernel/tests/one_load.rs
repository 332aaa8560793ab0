//! On metal, `READ_REGISTER_ULONG` compiles to one load (issue 7, workload 7).
//!
//! The kernel is built as `iospace qemu` builds it, `metal_read_register_ulong` (the routine
//! instantiated for `MetalIo`) is found in the ELF and its machine code decoded; on every path
//! that returns it must read memory exactly once, 4 bytes at the register argument, with no
//! other access, no call and no fence (the exact definition is in `one_load_check`). The same
//! check must reject the write routine and the read through a trait object in the same image,
//! so it can fail. Skipped, loudly, where the kernel cannot be linked.

mod kernel_image;
mod one_load_check;

use iced_x86::Register;

use kernel_image::{function, kernel_image};
use one_load_check::check_one_load;

/// `metal_read_register_ulong(mm, register)` is `extern "C"`: `register` arrives in `rsi`.
const C_SECOND_ARGUMENT: Register = Register::RSI;
/// `metal_read_register_ulong_through_dyn(io, mm, register)` is a Rust function: the trait
/// object takes `rdi` and `rsi`, `mm` `rdx`, and `register` arrives in `rcx`.
const DYN_REGISTER_ARGUMENT: Register = Register::RCX;

#[test]
fn claim_72_metal_read_register_ulong_compiles_to_one_load_and_no_fence() {
    let Some(image) = kernel_image() else { return };
    let read = function(image, "metal_read_register_ulong");
    let verdict = check_one_load(read.code, read.address, C_SECOND_ARGUMENT);
    assert!(verdict.is_one_load(), "metal_read_register_ulong is not one load: {verdict}");
    eprintln!(
        "metal_read_register_ulong, one load on {} returning path(s):\n{}",
        verdict.returning_paths, verdict.listing
    );
}

#[test]
fn claim_72_the_one_load_check_rejects_the_write_routine_with_its_store_and_mfence() {
    let Some(image) = kernel_image() else { return };
    let write = function(image, "metal_write_register_ulong");
    let verdict = check_one_load(write.code, write.address, C_SECOND_ARGUMENT);
    assert!(!verdict.is_one_load(), "the write routine passed the one-load check: {verdict}");
    for expected in ["no memory read", "a memory write (4 bytes)", "a fence (Mfence)"] {
        assert!(verdict.mentions(expected), "expected {expected:?}: {verdict}");
    }
}

#[test]
fn the_one_load_check_rejects_the_read_through_a_trait_object() {
    let Some(image) = kernel_image() else { return };
    let read = function(image, "metal_read_register_ulong_through_dyn");
    let verdict = check_one_load(read.code, read.address, DYN_REGISTER_ARGUMENT);
    assert!(!verdict.is_one_load(), "the read through dyn passed the one-load check: {verdict}");
    assert!(verdict.mentions("a call"), "the access through the vtable is a call: {verdict}");
}
