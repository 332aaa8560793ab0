//! The numeric vocabulary of resource descriptors (contract §8.1, §8.2, §10): type codes, share
//! dispositions, interface types and the per-type flag bits, with the values of `wdm.h`.
//!
//! Type codes and interface types are open newtypes rather than enums because a descriptor may
//! carry a code this crate does not know, and bus filters must keep such tags intact.

use core::fmt;

/// A `CM_RESOURCE_TYPE` value as stored in the UCHAR `Type` field of a descriptor.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct CmResourceType(pub u8);

impl CmResourceType {
    /// `CmResourceTypeNull` (reserved).
    pub const NULL: Self = Self(0);
    /// `CmResourceTypePort`: an I/O port range (`u.Port`).
    pub const PORT: Self = Self(1);
    /// `CmResourceTypeInterrupt` (`u.Interrupt`, or `u.MessageInterrupt` when
    /// [`CM_RESOURCE_INTERRUPT_MESSAGE`] is set).
    pub const INTERRUPT: Self = Self(2);
    /// `CmResourceTypeMemory`: a memory range whose length fits 32 bits (`u.Memory`).
    pub const MEMORY: Self = Self(3);
    /// `CmResourceTypeDma` (`u.Dma`, or `u.DmaV3` when [`CM_RESOURCE_DMA_V3`] is set).
    pub const DMA: Self = Self(4);
    /// `CmResourceTypeDeviceSpecific`: `u.DeviceSpecificData`, whose data follows the
    /// descriptor; it must be the last descriptor of its list.
    pub const DEVICE_SPECIFIC: Self = Self(5);
    /// `CmResourceTypeBusNumber` (`u.BusNumber`).
    pub const BUS_NUMBER: Self = Self(6);
    /// `CmResourceTypeMemoryLarge`: `u.Memory40/48/64`, chosen by the `LARGE_*` flags.
    pub const MEMORY_LARGE: Self = Self(7);
    /// `CmResourceTypeNonArbitrated`: bit 0x80 marks a type the arbiters ignore.
    pub const NON_ARBITRATED: Self = Self(128);
    /// `CmResourceTypeConfigData` (same value as [`Self::NON_ARBITRATED`]).
    pub const CONFIG_DATA: Self = Self(128);
    /// `CmResourceTypeDevicePrivate` (`u.DevicePrivate.Data[3]`).
    pub const DEVICE_PRIVATE: Self = Self(129);
    /// `CmResourceTypePcCardConfig` (`u.DevicePrivate`).
    pub const PC_CARD_CONFIG: Self = Self(130);
    /// `CmResourceTypeMfCardConfig` (`u.DevicePrivate`).
    pub const MF_CARD_CONFIG: Self = Self(131);
    /// `CmResourceTypeConnection` (`u.Connection`, Windows 8 and later).
    pub const CONNECTION: Self = Self(132);

    /// Whether an arbiter assigns resources of this type (bit 0x80 clear).
    pub const fn is_arbitrated(self) -> bool {
        self.0 & Self::NON_ARBITRATED.0 == 0
    }
}

impl fmt::Debug for CmResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::NULL => "Null",
            Self::PORT => "Port",
            Self::INTERRUPT => "Interrupt",
            Self::MEMORY => "Memory",
            Self::DMA => "Dma",
            Self::DEVICE_SPECIFIC => "DeviceSpecific",
            Self::BUS_NUMBER => "BusNumber",
            Self::MEMORY_LARGE => "MemoryLarge",
            Self::CONFIG_DATA => "ConfigData",
            Self::DEVICE_PRIVATE => "DevicePrivate",
            Self::PC_CARD_CONFIG => "PcCardConfig",
            Self::MF_CARD_CONFIG => "MfCardConfig",
            Self::CONNECTION => "Connection",
            Self(other) => return write!(f, "CmResourceType({other})"),
        };
        f.write_str(name)
    }
}

/// `CM_SHARE_DISPOSITION`: whether other devices or drivers may use the same resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum ShareDisposition {
    /// `CmResourceShareUndetermined` (reserved).
    Undetermined = 0,
    /// `CmResourceShareDeviceExclusive`: no other device may use it.
    #[default]
    DeviceExclusive = 1,
    /// `CmResourceShareDriverExclusive`: no other driver may use it (not for WDM drivers).
    DriverExclusive = 2,
    /// `CmResourceShareShared`: other devices may use it too.
    Shared = 3,
}

/// A share-disposition byte outside `0..=3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidShareDisposition(pub u8);

impl fmt::Display for InvalidShareDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "share disposition {} is not a CM_SHARE_DISPOSITION value", self.0)
    }
}

impl core::error::Error for InvalidShareDisposition {}

impl TryFrom<u8> for ShareDisposition {
    type Error = InvalidShareDisposition;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(Self::Undetermined),
            1 => Ok(Self::DeviceExclusive),
            2 => Ok(Self::DriverExclusive),
            3 => Ok(Self::Shared),
            other => Err(InvalidShareDisposition(other)),
        }
    }
}

/// An `INTERFACE_TYPE` (a 4-byte C enum; open because firmware may report any value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct InterfaceType(pub i32);

impl InterfaceType {
    /// `InterfaceTypeUndefined`.
    pub const UNDEFINED: Self = Self(-1);
    /// `Internal`.
    pub const INTERNAL: Self = Self(0);
    /// `Isa`.
    pub const ISA: Self = Self(1);
    /// `Eisa`.
    pub const EISA: Self = Self(2);
    /// `MicroChannel`.
    pub const MICRO_CHANNEL: Self = Self(3);
    /// `TurboChannel`.
    pub const TURBO_CHANNEL: Self = Self(4);
    /// `PCIBus`.
    pub const PCI_BUS: Self = Self(5);
    /// `VMEBus`.
    pub const VME_BUS: Self = Self(6);
    /// `NuBus`.
    pub const NU_BUS: Self = Self(7);
    /// `PCMCIABus`.
    pub const PCMCIA_BUS: Self = Self(8);
    /// `CBus`.
    pub const C_BUS: Self = Self(9);
    /// `MPIBus`.
    pub const MPI_BUS: Self = Self(10);
    /// `MPSABus`.
    pub const MPSA_BUS: Self = Self(11);
    /// `ProcessorInternal`.
    pub const PROCESSOR_INTERNAL: Self = Self(12);
    /// `InternalPowerBus`.
    pub const INTERNAL_POWER_BUS: Self = Self(13);
    /// `PNPISABus`.
    pub const PNP_ISA_BUS: Self = Self(14);
    /// `PNPBus`.
    pub const PNP_BUS: Self = Self(15);
    /// `Vmcs`.
    pub const VMCS: Self = Self(16);
    /// `ACPIBus`.
    pub const ACPI_BUS: Self = Self(17);
}

/// `CM_RESOURCE_PORT_MEMORY`: the port is reached in memory space (the value is zero, so a port
/// is in memory space exactly when [`CM_RESOURCE_PORT_IO`] is clear).
pub const CM_RESOURCE_PORT_MEMORY: u16 = 0x0000;
/// `CM_RESOURCE_PORT_IO`: the port is in I/O space.
pub const CM_RESOURCE_PORT_IO: u16 = 0x0001;
/// `CM_RESOURCE_PORT_10_BIT_DECODE`.
pub const CM_RESOURCE_PORT_10_BIT_DECODE: u16 = 0x0004;
/// `CM_RESOURCE_PORT_12_BIT_DECODE`.
pub const CM_RESOURCE_PORT_12_BIT_DECODE: u16 = 0x0008;
/// `CM_RESOURCE_PORT_16_BIT_DECODE`.
pub const CM_RESOURCE_PORT_16_BIT_DECODE: u16 = 0x0010;
/// `CM_RESOURCE_PORT_POSITIVE_DECODE`.
pub const CM_RESOURCE_PORT_POSITIVE_DECODE: u16 = 0x0020;
/// `CM_RESOURCE_PORT_PASSIVE_DECODE`: decoded by the device but not used by the driver.
pub const CM_RESOURCE_PORT_PASSIVE_DECODE: u16 = 0x0040;
/// `CM_RESOURCE_PORT_WINDOW_DECODE` (for system use).
pub const CM_RESOURCE_PORT_WINDOW_DECODE: u16 = 0x0080;
/// `CM_RESOURCE_PORT_BAR`.
pub const CM_RESOURCE_PORT_BAR: u16 = 0x0100;

/// `CM_RESOURCE_MEMORY_READ_WRITE`.
pub const CM_RESOURCE_MEMORY_READ_WRITE: u16 = 0x0000;
/// `CM_RESOURCE_MEMORY_READ_ONLY`.
pub const CM_RESOURCE_MEMORY_READ_ONLY: u16 = 0x0001;
/// `CM_RESOURCE_MEMORY_WRITE_ONLY`.
pub const CM_RESOURCE_MEMORY_WRITE_ONLY: u16 = 0x0002;
/// `CM_RESOURCE_MEMORY_WRITEABILITY_MASK`.
pub const CM_RESOURCE_MEMORY_WRITEABILITY_MASK: u16 = 0x0003;
/// `CM_RESOURCE_MEMORY_PREFETCHABLE`.
pub const CM_RESOURCE_MEMORY_PREFETCHABLE: u16 = 0x0004;
/// `CM_RESOURCE_MEMORY_COMBINEDWRITE`.
pub const CM_RESOURCE_MEMORY_COMBINEDWRITE: u16 = 0x0008;
/// `CM_RESOURCE_MEMORY_24`.
pub const CM_RESOURCE_MEMORY_24: u16 = 0x0010;
/// `CM_RESOURCE_MEMORY_CACHEABLE`.
pub const CM_RESOURCE_MEMORY_CACHEABLE: u16 = 0x0020;
/// `CM_RESOURCE_MEMORY_WINDOW_DECODE`.
pub const CM_RESOURCE_MEMORY_WINDOW_DECODE: u16 = 0x0040;
/// `CM_RESOURCE_MEMORY_BAR`.
pub const CM_RESOURCE_MEMORY_BAR: u16 = 0x0080;
/// `CM_RESOURCE_MEMORY_COMPAT_FOR_INACCESSIBLE_RANGE`.
pub const CM_RESOURCE_MEMORY_COMPAT_FOR_INACCESSIBLE_RANGE: u16 = 0x0100;
/// `CM_RESOURCE_MEMORY_LARGE`: mask of the three `LARGE_*` bits (MemoryLarge only).
pub const CM_RESOURCE_MEMORY_LARGE: u16 = 0x0E00;
/// `CM_RESOURCE_MEMORY_LARGE_40`: `u.Memory40`, length in units of 2^8.
pub const CM_RESOURCE_MEMORY_LARGE_40: u16 = 0x0200;
/// `CM_RESOURCE_MEMORY_LARGE_48`: `u.Memory48`, length in units of 2^16.
pub const CM_RESOURCE_MEMORY_LARGE_48: u16 = 0x0400;
/// `CM_RESOURCE_MEMORY_LARGE_64`: `u.Memory64`, length in units of 2^32.
pub const CM_RESOURCE_MEMORY_LARGE_64: u16 = 0x0800;

/// `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE`.
pub const CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: u16 = 0x00;
/// `CM_RESOURCE_INTERRUPT_LATCHED`.
pub const CM_RESOURCE_INTERRUPT_LATCHED: u16 = 0x01;
/// `CM_RESOURCE_INTERRUPT_LEVEL_LATCHED_BITS`: mask of the trigger-mode bit.
pub const CM_RESOURCE_INTERRUPT_LEVEL_LATCHED_BITS: u16 = 0x0001;
/// `CM_RESOURCE_INTERRUPT_MESSAGE`: the union holds `u.MessageInterrupt`.
pub const CM_RESOURCE_INTERRUPT_MESSAGE: u16 = 0x02;
/// `CM_RESOURCE_INTERRUPT_POLICY_INCLUDED`.
pub const CM_RESOURCE_INTERRUPT_POLICY_INCLUDED: u16 = 0x04;
/// `CM_RESOURCE_INTERRUPT_SECONDARY_INTERRUPT` (Windows 8 and later).
pub const CM_RESOURCE_INTERRUPT_SECONDARY_INTERRUPT: u16 = 0x10;
/// `CM_RESOURCE_INTERRUPT_WAKE_HINT` (Windows 8 and later).
pub const CM_RESOURCE_INTERRUPT_WAKE_HINT: u16 = 0x20;
/// `CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN`: (ULONG)−2, placed in `MaximumVector`.
pub const CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN: u32 = 0xFFFF_FFFE;

/// `CM_RESOURCE_DMA_8`.
pub const CM_RESOURCE_DMA_8: u16 = 0x0000;
/// `CM_RESOURCE_DMA_16`.
pub const CM_RESOURCE_DMA_16: u16 = 0x0001;
/// `CM_RESOURCE_DMA_32`.
pub const CM_RESOURCE_DMA_32: u16 = 0x0002;
/// `CM_RESOURCE_DMA_8_AND_16`.
pub const CM_RESOURCE_DMA_8_AND_16: u16 = 0x0004;
/// `CM_RESOURCE_DMA_BUS_MASTER`.
pub const CM_RESOURCE_DMA_BUS_MASTER: u16 = 0x0008;
/// `CM_RESOURCE_DMA_TYPE_A`.
pub const CM_RESOURCE_DMA_TYPE_A: u16 = 0x0010;
/// `CM_RESOURCE_DMA_TYPE_B`.
pub const CM_RESOURCE_DMA_TYPE_B: u16 = 0x0020;
/// `CM_RESOURCE_DMA_TYPE_F`.
pub const CM_RESOURCE_DMA_TYPE_F: u16 = 0x0040;
/// `CM_RESOURCE_DMA_V3`: the union holds `u.DmaV3` (Windows 8 and later).
pub const CM_RESOURCE_DMA_V3: u16 = 0x0080;

/// `CM_RESOURCE_CONNECTION_CLASS_GPIO`.
pub const CM_RESOURCE_CONNECTION_CLASS_GPIO: u8 = 1;
/// `CM_RESOURCE_CONNECTION_CLASS_SERIAL`.
pub const CM_RESOURCE_CONNECTION_CLASS_SERIAL: u8 = 2;
/// `CM_RESOURCE_CONNECTION_CLASS_FUNCTION_CONFIG`.
pub const CM_RESOURCE_CONNECTION_CLASS_FUNCTION_CONFIG: u8 = 3;
/// `CM_RESOURCE_CONNECTION_TYPE_GPIO_IO` (class GPIO).
pub const CM_RESOURCE_CONNECTION_TYPE_GPIO_IO: u8 = 2;
/// `CM_RESOURCE_CONNECTION_TYPE_SERIAL_I2C` (class SERIAL).
pub const CM_RESOURCE_CONNECTION_TYPE_SERIAL_I2C: u8 = 1;
/// `CM_RESOURCE_CONNECTION_TYPE_SERIAL_SPI` (class SERIAL).
pub const CM_RESOURCE_CONNECTION_TYPE_SERIAL_SPI: u8 = 2;
/// `CM_RESOURCE_CONNECTION_TYPE_SERIAL_UART` (class SERIAL).
pub const CM_RESOURCE_CONNECTION_TYPE_SERIAL_UART: u8 = 3;
/// `CM_RESOURCE_CONNECTION_TYPE_FUNCTION_CONFIG` (class FUNCTION_CONFIG).
pub const CM_RESOURCE_CONNECTION_TYPE_FUNCTION_CONFIG: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_match_wdm_h() {
        let codes = [
            (CmResourceType::NULL, 0),
            (CmResourceType::PORT, 1),
            (CmResourceType::INTERRUPT, 2),
            (CmResourceType::MEMORY, 3),
            (CmResourceType::DMA, 4),
            (CmResourceType::DEVICE_SPECIFIC, 5),
            (CmResourceType::BUS_NUMBER, 6),
            (CmResourceType::MEMORY_LARGE, 7),
            (CmResourceType::CONFIG_DATA, 128),
            (CmResourceType::DEVICE_PRIVATE, 129),
            (CmResourceType::PC_CARD_CONFIG, 130),
            (CmResourceType::MF_CARD_CONFIG, 131),
            (CmResourceType::CONNECTION, 132),
        ];
        for (code, value) in codes {
            assert_eq!(code.0, value);
        }
        assert!(CmResourceType::MEMORY.is_arbitrated());
        assert!(!CmResourceType::DEVICE_PRIVATE.is_arbitrated());
    }

    #[test]
    fn large_flags_form_the_large_mask() {
        assert_eq!(
            CM_RESOURCE_MEMORY_LARGE_40 | CM_RESOURCE_MEMORY_LARGE_48 | CM_RESOURCE_MEMORY_LARGE_64,
            CM_RESOURCE_MEMORY_LARGE
        );
    }

    #[test]
    fn share_disposition_round_trips_and_rejects_unknown_values() {
        for value in 0..=3u8 {
            assert_eq!(ShareDisposition::try_from(value).map(|share| share as u8), Ok(value));
        }
        assert_eq!(ShareDisposition::try_from(4), Err(InvalidShareDisposition(4)));
    }
}
