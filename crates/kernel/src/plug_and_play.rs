//! The Plug and Play session on metal: the reference drivers of `iospace-drivers`, unchanged,
//! started through the PnP manager on the devices QEMU emulates, exactly as `iospace run` does on
//! the hosted machine (enumerate, arbitrate, program the BARs, translate, start, rebalance edu,
//! remove everything).
//!
//! What the platform contributes is the [`Hardware`]: the memory manager over the live page
//! tables, [`MetalIo`](crate::io_access::MetalIo), configuration space through 0xCF8/0xCFC, the
//! x86 bus translator, the windows q35's host bridge decodes, and COM1 as a legacy device.

use alloc::vec;
use alloc::vec::Vec;

use iospace_drivers::catalog::DeviceKind;
use iospace_drivers::session::{self, Hardware, SessionReport};
use iospace_hal::address::{BusAddress, InterfaceType};
use iospace_hal::translation::{BusRange, BusTranslator, InvalidWindow, Personality};
use iospace_pnp::arbiter::{AddressSpace, Window};
use iospace_pnp::cm_constants::CM_RESOURCE_PORT_IO;
use iospace_pnp::resource::{RawResourceList, Resource, ResourceEntry, ResourceList};

use crate::console::COM1;
use crate::machine::Machine;

/// q35's 32-bit PCI memory window: above the ECAM region, below the I/O APIC.
pub const PCI_WINDOW_32: (u64, u64) = (0xC000_0000, 0xFEC0_0000 - 0xC000_0000);
/// The 64-bit PCI memory window used for 64-bit BARs: 128 GiB at 512 GiB, as on the hosted
/// machine (QEMU routes every address that is not RAM or a chipset device to PCI).
pub const PCI_WINDOW_64: (u64, u64) = (0x80_0000_0000, 128 << 30);
/// The I/O ports PCI devices get (SeaBIOS's range; the legacy ISA ports stay below).
pub const PCI_IO_WINDOW: (u64, u64) = (0xC000, 0x4000);
/// The ports of a 16550.
const UART_PORTS: u32 = 8;

/// Physical addresses reach 2^52 on x86-64: on a PC every bus address is the CPU address.
const PHYSICAL_SPACE: BusRange = BusRange { start: BusAddress(0), length: 1 << 52 };

/// The bus translator of a PC: the x86 personality over all of physical memory.
pub fn bus_translator() -> Result<BusTranslator, InvalidWindow> {
    Personality::X86.translator(&[PHYSICAL_SPACE])
}

/// What the host bridge decodes, for the arbiter.
pub fn pci_windows() -> Vec<Window> {
    [
        (AddressSpace::Memory, PCI_WINDOW_32),
        (AddressSpace::Memory, PCI_WINDOW_64),
        (AddressSpace::Port, PCI_IO_WINDOW),
    ]
    .into_iter()
    .filter_map(|(space, (start, length))| Window::new(space, BusAddress(start), length))
    .collect()
}

/// COM1's fixed resources: eight ports on the ISA bus.
fn com1_resources() -> RawResourceList {
    let ports =
        Resource::Port { start: BusAddress(u64::from(COM1)), length: UART_PORTS, flags: CM_RESOURCE_PORT_IO };
    ResourceList::new(vec![ResourceEntry::exclusive(ports)]).expect("one port range is a valid list")
}

/// Runs the session on `machine`, edu rebalanced.
pub fn run(machine: &Machine) -> SessionReport {
    let hardware =
        Hardware::new(&machine.mm, &machine.io, &machine.config, &machine.translator, pci_windows())
            .with_legacy(DeviceKind::Uart, InterfaceType::Isa, com1_resources())
            .rebalancing(DeviceKind::Edu);
    session::run(&hardware)
}
