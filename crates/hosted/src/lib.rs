//! The hosted iospace platform: a whole machine inside a Linux process.
//!
//! RAM is a memfd; the system VA window is one reserved region of the process whose host
//! mappings follow the core's page tables, so the addresses the memory manager returns are real
//! pointers and two mappings of one RAM page alias for real. Device pages stay inaccessible and
//! are reached through the register routines, which route each access to a device model.
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
//! ```

pub mod description;
pub mod device_bus;
pub mod io_access;
pub mod machine;
pub mod platform;
pub mod ram;
pub mod window;

pub use description::MachineDescription;
pub use machine::{BootError, Machine, RegisterAccessError};
