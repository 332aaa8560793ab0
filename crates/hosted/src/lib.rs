//! The hosted iospace platform: a whole machine inside a Linux process.
//!
//! RAM is a memfd; the system VA window is one reserved region of the process whose host
//! mappings follow the core's page tables, so the addresses the memory manager returns are real
//! pointers and two mappings of one RAM page alias for real. Device pages stay inaccessible and
//! are reached through the register routines, which route each access to a device model.
//!
//! The devices sit where QEMU's q35 puts them: a host bridge with PCI bus 0 ([`pci_bus`]),
//! configuration space through ports 0xCF8/0xCFC and ECAM, BARs assigned at boot as QEMU's
//! firmware does, edu, ivshmem-plain (its shared memory a file another process can open:
//! [`shared_file`]), pci-testdev and a 16550A at COM1 ([`legacy_ports`]). A description can
//! choose the memory-mapped-ports personality instead of x86 ([`description`]).
//!
//! ```
//! use iospace_hosted::Machine;
//! use iospace_mm::{address::PhysicalAddress, caching::CachePolicy};
//! use iospace_devices::mmio::AccessWidth;
//!
//! let machine = Machine::boot_default().unwrap();
//! let registers = machine.mm().map_io_space(PhysicalAddress(0xFEA0_0000), 0x100, CachePolicy::Uncached).unwrap();
//! let id = machine.read_register(registers.address(), AccessWidth::Dword).unwrap();
//! assert_eq!(id, 0x010000ed);
//! // The ivshmem shared file outlives the machine, for the host to inspect; this example has
//! // no use for it.
//! for path in machine.ivshmem_paths() {
//!     std::fs::remove_file(path).unwrap();
//! }
//! ```

pub mod description;
pub mod device_bus;
mod firmware;
pub mod host_bridge;
pub mod io_access;
pub mod legacy_ports;
pub mod machine;
pub mod pci_bus;
pub mod platform;
pub mod pnp_view;
pub mod ram;
pub mod ram_dma;
pub mod shared_file;
pub mod translation_cache;
mod volatile;
pub mod window;

pub use description::MachineDescription;
pub use machine::{BootError, Machine, RegisterAccessError};
