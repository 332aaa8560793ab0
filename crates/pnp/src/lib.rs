//! iospace Plug and Play: resource descriptors and their x64 layouts, requirements, the
//! arbiter, and raw/translated resource lists (contract §8, §9).
//!
//! The raw versus translated distinction is carried by the type system: a
//! [`resource::ResourceList<Raw>`](resource::RawResourceList) holds bus-relative
//! [`resource::BusAddress`]es, a [`resource::TranslatedResourceList`] holds CPU physical
//! addresses and port locations, and a [`translation::ResourcePair`] keeps the two index-aligned.
//! Requirements and arbitration are raw only; translation is the HAL's, behind
//! [`translation::Translator`].
//!
//! Module map:
//! - [`cm_constants`]: type codes, share dispositions, interface types, flag bits.
//! - [`resource`]: typed resources and the two list views.
//! - [`cm_layout`]: `CM_RESOURCE_LIST` bytes (mirrors, serialisation, parsing).
//! - [`large_memory`]: Memory40/48/64 lengths and `Rtl{Cm,Io}{Encode,Decode}MemIoResource`.
//! - [`requirements`]: typed `IO_RESOURCE_REQUIREMENTS_LIST`, groups and options.
//! - [`io_layout`]: `IO_RESOURCE_REQUIREMENTS_LIST` bytes.
//! - [`arbiter`]: non-overlapping assignment from requirements.
//! - [`translation`]: raw/translated pairing and the HAL's `Translator` seam.
//! - [`irp_minor`]: PnP IRP codes and the requirement-IRP rules.
//! - [`status`]: the `NTSTATUS` values used here.
//! - [`driver`]: the safe `Driver` trait function drivers implement, and their `DeviceContext`.
//! - [`device_state`]: the §9 device states and the PnP IRPs that move them.
//! - [`pnp_manager`]: sends the IRPs in order, keeps each device's state and resources, and
//!   stops the machine when a device keeps a mapping past STOP, SURPRISE_REMOVAL or REMOVE.
#![no_std]

extern crate alloc;

pub mod arbiter;
mod byte_reader;
pub mod cm_constants;
pub mod cm_layout;
pub mod device_state;
pub mod driver;
pub mod hal_translator;
pub mod io_layout;
pub mod irp_minor;
pub mod large_memory;
pub mod pci_enumeration;
pub mod pnp_manager;
pub mod requirements;
pub mod resource;
pub mod status;
pub mod translation;

#[cfg(test)]
mod test_support;

pub use device_state::{DeviceState, IrpRecord, PnpIrp};
pub use driver::{DeviceContext, Driver};
pub use pnp_manager::{DeviceId, PnpError, PnpManager};
