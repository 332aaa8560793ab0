//! Reference drivers for the devices of the default machine — QEMU's `edu`, `ivshmem-plain`,
//! `pci-testdev` and a 16550 UART — written only against `iospace-mm`, `iospace-hal` and
//! `iospace-pnp`, so that the same drivers run on the hosted machine and on metal.
//!
//! Each driver follows "Mapping Bus-Relative Addresses to Virtual Addresses" by the book (the
//! steps are in [`iospace_pnp::driver::Driver`]); the common part — copy both lists, walk the
//! translated one, map memory, choose the access routines by the raw type, release — is
//! [`device_resources::DeviceResources`]. What each driver did is recorded in a
//! [`journal::Journal`], and [`session`] runs the whole flow on a machine: enumerate,
//! arbitrate, start, rebalance, remove.
#![no_std]

extern crate alloc;

pub mod catalog;
pub mod device_resources;
pub mod edu;
pub mod ivshmem;
pub mod journal;
pub mod pci_testdev;
pub mod resource_text;
pub mod run_report;
pub mod session;
pub mod uart;
