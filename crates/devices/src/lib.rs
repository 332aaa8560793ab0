//! Device models for the hosted machine: QEMU's `edu`, `ivshmem-plain` and `pci-testdev`, and a
//! 16550A UART, behaving as QEMU's do so that the same drivers run against these models and
//! against QEMU on metal.
//!
//! The machine reaches models through three interfaces:
//! - [`PciFunction`]: a PCI function's configuration space ([`PciConfigSpace`]) and the
//!   registers behind its BARs. The machine decodes which BAR (memory or I/O) an access hits
//!   and passes the BAR index and offset; it lends the function bus-master access to memory
//!   ([`DmaMemory`]) when it calls [`PciFunction::tick`].
//! - [`PortDevice`]: a device at fixed I/O ports, such as COM1.
//! - [`MmioDevice`]: a bare memory-mapped window, for machines that place a model at a fixed
//!   physical address without PCI.
//!
//! Models are plain state machines: they use no time, no threads and no host resources (the
//! ivshmem region is whatever [`SharedRegion`] the machine provides), so the same sequence of
//! accesses always produces the same results. Work that takes time on real hardware completes
//! on `tick`, or when a register read needs it; each model documents which. No guest access
//! panics: what a model does not decode reads all ones and writes are dropped.
//!
//! Models:
//! - [`edu`]: QEMU's `edu` educational device: identification, liveness, factorial,
//!   interrupts, DMA between guest RAM and its 4 KiB buffer.
//! - [`ivshmem`]: QEMU's `ivshmem-plain`: registers in BAR0, shared memory in BAR2.
//! - [`pci_testdev`]: QEMU's `pci-testdev`: write-counting tests in a memory BAR and an I/O BAR.
//! - [`uart16550`]: a 16550A UART with FIFOs and loopback, as QEMU's `serial`.
//!
//! Building blocks: [`pci`] (configuration space), [`pci_function`], [`dma`], [`port`],
//! [`mmio`].
#![no_std]

extern crate alloc;

pub mod dma;
pub mod edu;
pub mod ivshmem;
pub mod mmio;
pub mod pci;
pub mod pci_function;
pub mod pci_testdev;
pub mod port;
pub mod uart16550;

pub use dma::{DmaMemory, VecDmaMemory};
pub use edu::{EDU_BAR0_SIZE, EDU_DEVICE_ID, EDU_VENDOR_ID, Edu};
pub use ivshmem::{Ivshmem, SharedRegion, VecSharedRegion};
pub use mmio::{AccessWidth, MmioDevice};
pub use pci::{BarDescriptor, BarError, BarKind, ClassCode, PciConfigSpace, PciIdentity};
pub use pci_function::PciFunction;
pub use pci_testdev::PciTestdev;
pub use port::PortDevice;
pub use uart16550::Uart16550;
