//! A `wdm.h`-compatible C ABI over the hosted machine.
//!
//! C driver code includes `wdm.h` and `ntddk.h` from `crates/wdm/include/`, links against
//! `libiospace_wdm.a` or `libiospace_wdm.so`, and calls the routines Windows exports with
//! their Windows names and signatures. `iospace.h` adds the hosted machine's controls:
//! `IospBoot`, `IospShutdown`, `IospSetBugCheckCallback` and `IospOutstandingMappings`.
//!
//! Every routine is a thin call into the NT facades that already exist (`iospace_mm::nt`,
//! `iospace_mm::nt_mdl`, `iospace_hal`, `iospace_pnp::large_memory`) on the one machine the
//! process has booted ([`machine`]). What this crate adds is the boundary ([`boundary`]): a
//! bug check raised anywhere below a routine unwinds back to it and only then reaches the C
//! callback, and no Rust panic ever unwinds into C.
//!
//! Thread safety: every routine may be called from any thread; each thread is a CPU of the
//! machine with its own IRQL.
//!
//! The exported names are the Windows ones, hence the non-snake-case functions.
#![allow(non_snake_case)]

pub mod boundary;
pub mod contiguous;
pub mod control;
pub mod hal;
pub mod io_space;
pub mod kernel;
pub mod machine;
pub mod mdl;
pub mod pool;
pub mod ports;
pub mod registers;
pub mod reserved;
pub mod resources;
pub mod status;
