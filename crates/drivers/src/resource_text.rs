//! Resources, windows and mappings as the report prints them.

use alloc::format;
use alloc::string::String;

use iospace_pnp::resource::{PortLocation, Raw, Resource, Translated};

use crate::device_resources::{Access, Window};

/// A raw (bus-relative) resource: `Memory bus 0xfea00000 +0x100000`, `Port bus 0xc000 +0x100`.
pub fn raw(resource: &Resource<Raw>) -> String {
    match resource {
        Resource::Memory { start, length, .. } => {
            format!("Memory  bus {:#x} +{:#x}", start.0, length.bytes())
        }
        Resource::Port { start, length, .. } => format!("Port    bus {:#x} +{length:#x}", start.0),
        other => format!("type {}", other.type_code().0),
    }
}

/// A translated (CPU) resource: `Memory CPU 0xfea00000 +0x100000`, `Port I/O 0xc000 +0x100`,
/// `Port in memory CPU 0x900000c000 +0x100`.
pub fn translated(resource: &Resource<Translated>) -> String {
    match resource {
        Resource::Memory { start, length, .. } => {
            format!("Memory  CPU {:#x} +{:#x}", start.0, length.bytes())
        }
        Resource::Port { start: PortLocation::Io(port), length, .. } => {
            format!("Port    I/O {:#x} +{length:#x}", port.0)
        }
        Resource::Port { start: PortLocation::Memory(address), length, .. } => {
            format!("Port in memory CPU {:#x} +{length:#x}", address.0)
        }
        other => format!("type {}", other.type_code().0),
    }
}

/// Which routines reach a window, and where.
pub fn routines(window: &Window<'_>) -> String {
    match window.access() {
        Access::Registers(mapping) => format!("READ/WRITE_REGISTER_* at {}", mapping.address()),
        Access::MappedPorts(mapping) => format!("READ/WRITE_PORT_* at mapped {}", mapping.address()),
        Access::Ports(port) => format!("READ/WRITE_PORT_* on port {port:#x}"),
    }
}

/// A window's mapping: `CPU 0xfea00000 +0x100000 -> VA 0x...`.
pub fn mapping(window: &Window<'_>) -> String {
    match window.mapping() {
        Some(mapping) => format!(
            "MmMapIoSpace({}) -> {}, then {}",
            translated(&window.translated().resource).trim_start_matches("Memory").trim(),
            mapping.address(),
            routines(window)
        ),
        None => routines(window),
    }
}
