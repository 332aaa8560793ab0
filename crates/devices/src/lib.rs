//! Device models for the hosted machine.
//!
//! Each model implements [`MmioDevice`]: the machine decodes a guest access to a BAR, and
//! hands the model the offset, width and value. Models are plain state machines: they use no
//! time, no threads and no host resources, so the same sequence of accesses always produces
//! the same results.
//!
//! Models:
//! - [`edu`]: QEMU's `edu` educational PCI device (identification, liveness, factorial,
//!   interrupts, DMA registers and buffer).
#![no_std]

extern crate alloc;

pub mod edu;
pub mod mmio;

pub use edu::{EDU_BAR0_SIZE, EDU_DEVICE_ID, EDU_VENDOR_ID, Edu};
pub use mmio::{AccessWidth, MmioDevice};
