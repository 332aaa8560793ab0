//! The iospace HAL: bus-relative to CPU translation, and the register, port and PCI
//! configuration routines drivers use to reach their devices.
//!
//! # Raw and translated
//!
//! A device's resources come in two views (contract §8.5). The **raw** view is what the bus
//! sees: the address a BAR decodes, a port on the ISA bus ([`BusAddress`]). The **translated**
//! view is what the CPU uses: a CPU physical address to map, or a port number for `in`/`out`.
//! A [`BusTranslator`] turns one into the other (`HalTranslateBusAddress`,
//! [`hal_translate_bus_address`]), and the translated *space* may differ from the raw one.
//!
//! Which routines a driver uses follows from the **raw** type; whether it maps anything
//! follows from the **translated** type:
//!
//! | Raw | Translated | What the driver does |
//! |---|---|---|
//! | Port | Port | port number = low 32 bits of the translated start; `READ/WRITE_PORT_*` ([`ports`]) on it, no mapping |
//! | Port | Memory | `MmMapIoSpace(translated start, length)`; `READ/WRITE_PORT_*` on the **mapped VA** |
//! | Memory | Memory | `MmMapIoSpace`; `READ/WRITE_REGISTER_*` ([`registers`]) on the VA |
//! | Memory | Port | possible in NT's model, not produced by either personality here: unsupported |
//!
//! The second row is why the port routines accept both a port number and a mapped address
//! (values above 0xFFFF): see [`ports`].
//!
//! Two [`Personality`]s build the translator of a machine: [`Personality::X86`] (a PC: the first
//! and third rows) and [`Personality::MemoryMappedPorts`] (port space memory-mapped at a CPU
//! window, bus memory offset from CPU memory: the second and third rows). The same driver must
//! work on both.
//!
//! # Platforms
//!
//! The routines reach devices through an [`IoAccess`] (volatile loads and stores, `in`/`out`,
//! barriers) and PCI configuration space through a [`PciConfigAccess`]; the hosted machine and
//! metal each implement them. Faults become bug checks raised through the memory manager, with
//! the driver's call site ([`bug_check`]).
#![no_std]

extern crate alloc;

pub mod access;
pub mod address;
pub mod bug_check;
pub mod config;
pub mod ports;
pub mod registers;
pub mod translation;

#[cfg(test)]
mod test_support;

pub use access::{AccessFault, IoAccess, Width};
pub use address::{AddressSpace, BusAddress, BusDataType, InterfaceType};
pub use config::{PciConfigAccess, PciSlot, hal_get_bus_data_by_offset, hal_set_bus_data_by_offset};
pub use ports::PortTarget;
pub use translation::{
    BusRange, BusTranslator, BusWindow, InvalidWindow, Personality, hal_translate_bus_address,
};
