//! Which driver serves which device.

use alloc::boxed::Box;

use iospace_pnp::driver::Driver;

use crate::edu::{self, EduDriver};
use crate::ivshmem::{self, IvshmemDriver};
use crate::journal::Journal;
use crate::pci_testdev::{self, PciTestdevDriver};
use crate::uart::UartDriver;

/// The devices this crate has drivers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// QEMU's edu.
    Edu,
    /// QEMU's ivshmem-plain.
    Ivshmem,
    /// QEMU's pci-testdev.
    PciTestdev,
    /// A 16550 UART.
    Uart,
}

impl DeviceKind {
    /// The kind of PCI function `vendor_id`:`device_id`, if a driver here serves it.
    pub const fn for_pci(vendor_id: u16, device_id: u16) -> Option<Self> {
        match (vendor_id, device_id) {
            (edu::VENDOR_ID, edu::DEVICE_ID) => Some(Self::Edu),
            (ivshmem::VENDOR_ID, ivshmem::DEVICE_ID) => Some(Self::Ivshmem),
            (pci_testdev::VENDOR_ID, pci_testdev::DEVICE_ID) => Some(Self::PciTestdev),
            _ => None,
        }
    }

    /// The kind a machine description or a firmware table names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Edu, Self::Ivshmem, Self::PciTestdev, Self::Uart].into_iter().find(|kind| kind.name() == name)
    }

    /// The device's short name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Edu => "edu",
            Self::Ivshmem => "ivshmem",
            Self::PciTestdev => "pci-testdev",
            Self::Uart => "uart",
        }
    }

    /// A new driver for the device, recording into `journal`.
    pub fn driver<'mm>(self, journal: Journal) -> Box<dyn Driver<'mm> + 'mm> {
        match self {
            Self::Edu => Box::new(EduDriver::new(journal)),
            Self::Ivshmem => Box::new(IvshmemDriver::new(journal)),
            Self::PciTestdev => Box::new(PciTestdevDriver::new(journal)),
            Self::Uart => Box::new(UartDriver::new(journal)),
        }
    }
}
