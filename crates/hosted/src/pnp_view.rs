//! The machine as the PnP manager sees it: the bus-relative windows its PCI host bridge
//! decodes (what an arbiter may hand out) and its legacy devices with their fixed resources.

use iospace_pnp::arbiter::{AddressSpace, Window};
use iospace_pnp::resource::{BusAddress, RawResourceList, Resource, ResourceEntry, ResourceList};

use crate::description::{DeviceKind, PCI_IO_WINDOW, PCI_WINDOW_32, PCI_WINDOW_64};
use crate::machine::Machine;

/// Ports a 16550 UART decodes.
const UART_PORTS: u32 = 8;

/// A device on the machine that is not on PCI, with its fixed resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyDevice {
    /// Its kind, as the description names it (`uart`).
    pub kind: &'static str,
    /// Its bus-relative resources (ISA).
    pub resources: RawResourceList,
}

impl Machine {
    /// The windows of the PCI host bridge, bus-relative: the 32-bit and 64-bit memory windows
    /// and the I/O window. The same on both personalities (only the translation differs).
    pub fn pci_windows(&self) -> Vec<Window> {
        [
            (AddressSpace::Memory, PCI_WINDOW_32),
            (AddressSpace::Memory, PCI_WINDOW_64),
            (AddressSpace::Port, PCI_IO_WINDOW),
        ]
        .into_iter()
        .filter_map(|(space, (start, length))| Window::new(space, BusAddress(start), length))
        .collect()
    }

    /// The devices that are not on PCI: each UART, at its ports.
    pub fn legacy_devices(&self) -> Vec<LegacyDevice> {
        self.description()
            .devices
            .iter()
            .filter(|device| device.kind == DeviceKind::Uart)
            .map(|device| {
                let ports = Resource::Port {
                    start: BusAddress(u64::from(device.uart_port())),
                    length: UART_PORTS,
                    flags: iospace_pnp::cm_constants::CM_RESOURCE_PORT_IO,
                };
                LegacyDevice {
                    kind: device.kind.name(),
                    resources: ResourceList::new(vec![ResourceEntry::exclusive(ports)])
                        .expect("one port range is a valid list"),
                }
            })
            .collect()
    }
}
