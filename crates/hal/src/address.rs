//! Bus-relative (raw) addresses and the enums that say which bus and which space an address
//! belongs to: `INTERFACE_TYPE`, `BUS_DATA_TYPE` and the `AddressSpace` argument of
//! `HalTranslateBusAddress`.
//!
//! A [`BusAddress`] is what a device decodes (a BAR value, an ISA port): the raw side of a
//! resource. CPU physical addresses, the translated side, are `iospace_mm`'s
//! [`PhysicalAddress`](iospace_mm::address::PhysicalAddress) for memory, or a port number for
//! I/O space. Keeping them distinct types means a raw address can never be mapped by mistake.

use core::fmt;

/// A bus-relative address: what the device on the bus decodes (contract §8.5, "raw").
///
/// It is only meaningful together with the bus it belongs to ([`InterfaceType`] and bus
/// number) and the space it lies in ([`AddressSpace`]); translation turns it into a CPU
/// address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct BusAddress(pub u64);

impl BusAddress {
    /// This address plus `bytes`, or `None` if the sum leaves the 64-bit space.
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(sum) => Some(Self(sum)),
            None => None,
        }
    }
}

impl fmt::Debug for BusAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusAddress({:#x})", self.0)
    }
}

impl fmt::Display for BusAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// The space an address lies in, numbered as `HalTranslateBusAddress`'s `AddressSpace`
/// argument: 0 = memory, 1 = I/O (port) space (contract §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum AddressSpace {
    /// Memory space: the CPU reaches it through a mapping (`MmMapIoSpace`).
    Memory = 0,
    /// I/O space: ports, reached with `in`/`out` and never mapped.
    Port = 1,
}

impl AddressSpace {
    /// The space numbered `value` in `HalTranslateBusAddress`'s convention, or `None` for any
    /// other value (the Alpha-era "user-mode view" and sparse/dense spaces are not supported).
    pub const fn from_nt(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Memory),
            1 => Some(Self::Port),
            _ => None,
        }
    }

    /// The NT number of the space.
    pub const fn to_nt(self) -> u32 {
        self as u32
    }
}

/// A value that is not a member of the NT enum it was given as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownValue(pub i32);

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a member of the enum", self.0)
    }
}

impl core::error::Error for UnknownValue {}

/// `INTERFACE_TYPE`: the kind of bus an address or a device belongs to (a 4-byte C enum;
/// values from `wdm.h`, contract §10). Variant names are the `wdm.h` names in Rust case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum InterfaceType {
    /// `InterfaceTypeUndefined` = −1.
    Undefined = -1,
    /// `Internal` = 0: the system board's own decoding.
    Internal = 0,
    /// `Isa` = 1.
    Isa = 1,
    /// `Eisa` = 2.
    Eisa = 2,
    /// `MicroChannel` = 3.
    MicroChannel = 3,
    /// `TurboChannel` = 4.
    TurboChannel = 4,
    /// `PCIBus` = 5.
    PciBus = 5,
    /// `VMEBus` = 6.
    VmeBus = 6,
    /// `NuBus` = 7.
    NuBus = 7,
    /// `PCMCIABus` = 8.
    PcmciaBus = 8,
    /// `CBus` = 9.
    CBus = 9,
    /// `MPIBus` = 10.
    MpiBus = 10,
    /// `MPSABus` = 11.
    MpsaBus = 11,
    /// `ProcessorInternal` = 12.
    ProcessorInternal = 12,
    /// `InternalPowerBus` = 13.
    InternalPowerBus = 13,
    /// `PNPISABus` = 14.
    PnpIsaBus = 14,
    /// `PNPBus` = 15.
    PnpBus = 15,
    /// `Vmcs` = 16.
    Vmcs = 16,
    /// `ACPIBus` = 17.
    AcpiBus = 17,
}

/// `MaximumInterfaceType`: one past the largest valid [`InterfaceType`].
pub const MAXIMUM_INTERFACE_TYPE: i32 = 18;

impl TryFrom<i32> for InterfaceType {
    type Error = UnknownValue;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Ok(match value {
            -1 => Self::Undefined,
            0 => Self::Internal,
            1 => Self::Isa,
            2 => Self::Eisa,
            3 => Self::MicroChannel,
            4 => Self::TurboChannel,
            5 => Self::PciBus,
            6 => Self::VmeBus,
            7 => Self::NuBus,
            8 => Self::PcmciaBus,
            9 => Self::CBus,
            10 => Self::MpiBus,
            11 => Self::MpsaBus,
            12 => Self::ProcessorInternal,
            13 => Self::InternalPowerBus,
            14 => Self::PnpIsaBus,
            15 => Self::PnpBus,
            16 => Self::Vmcs,
            17 => Self::AcpiBus,
            _ => return Err(UnknownValue(value)),
        })
    }
}

/// `BUS_DATA_TYPE`: which configuration space `HalGetBusDataByOffset` and
/// `HalSetBusDataByOffset` address (a 4-byte C enum; values from `wdm.h`). Variant names are
/// the `wdm.h` names in Rust case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum BusDataType {
    /// `ConfigurationSpaceUndefined` = −1.
    Undefined = -1,
    /// `Cmos` = 0.
    Cmos = 0,
    /// `EisaConfiguration` = 1.
    EisaConfiguration = 1,
    /// `Pos` = 2.
    Pos = 2,
    /// `CbusConfiguration` = 3.
    CbusConfiguration = 3,
    /// `PCIConfiguration` = 4.
    PciConfiguration = 4,
    /// `VMEConfiguration` = 5.
    VmeConfiguration = 5,
    /// `NuBusConfiguration` = 6.
    NuBusConfiguration = 6,
    /// `PCMCIAConfiguration` = 7.
    PcmciaConfiguration = 7,
    /// `MPIConfiguration` = 8.
    MpiConfiguration = 8,
    /// `MPSAConfiguration` = 9.
    MpsaConfiguration = 9,
    /// `PNPISAConfiguration` = 10.
    PnpIsaConfiguration = 10,
    /// `SgiInternalConfiguration` = 11.
    SgiInternalConfiguration = 11,
}

/// `MaximumBusDataType`: one past the largest valid [`BusDataType`].
pub const MAXIMUM_BUS_DATA_TYPE: i32 = 12;

impl TryFrom<i32> for BusDataType {
    type Error = UnknownValue;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Ok(match value {
            -1 => Self::Undefined,
            0 => Self::Cmos,
            1 => Self::EisaConfiguration,
            2 => Self::Pos,
            3 => Self::CbusConfiguration,
            4 => Self::PciConfiguration,
            5 => Self::VmeConfiguration,
            6 => Self::NuBusConfiguration,
            7 => Self::PcmciaConfiguration,
            8 => Self::MpiConfiguration,
            9 => Self::MpsaConfiguration,
            10 => Self::PnpIsaConfiguration,
            11 => Self::SgiInternalConfiguration,
            _ => return Err(UnknownValue(value)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_types_have_the_wdm_values() {
        assert_eq!(InterfaceType::Undefined as i32, -1);
        assert_eq!(InterfaceType::Internal as i32, 0);
        assert_eq!(InterfaceType::Isa as i32, 1);
        assert_eq!(InterfaceType::PciBus as i32, 5);
        assert_eq!(InterfaceType::PnpIsaBus as i32, 14);
        assert_eq!(InterfaceType::AcpiBus as i32, 17);
        for value in -1..MAXIMUM_INTERFACE_TYPE {
            assert_eq!(InterfaceType::try_from(value).map(|t| t as i32), Ok(value));
        }
        assert_eq!(InterfaceType::try_from(MAXIMUM_INTERFACE_TYPE), Err(UnknownValue(18)));
        assert_eq!(InterfaceType::try_from(-2), Err(UnknownValue(-2)));
    }

    #[test]
    fn bus_data_types_have_the_wdm_values() {
        assert_eq!(BusDataType::Undefined as i32, -1);
        assert_eq!(BusDataType::Cmos as i32, 0);
        assert_eq!(BusDataType::PciConfiguration as i32, 4);
        assert_eq!(BusDataType::SgiInternalConfiguration as i32, 11);
        for value in -1..MAXIMUM_BUS_DATA_TYPE {
            assert_eq!(BusDataType::try_from(value).map(|t| t as i32), Ok(value));
        }
        assert_eq!(BusDataType::try_from(MAXIMUM_BUS_DATA_TYPE), Err(UnknownValue(12)));
    }

    #[test]
    fn address_space_numbers_follow_hal_translate_bus_address() {
        assert_eq!(AddressSpace::from_nt(0), Some(AddressSpace::Memory));
        assert_eq!(AddressSpace::from_nt(1), Some(AddressSpace::Port));
        assert_eq!(AddressSpace::from_nt(2), None);
        assert_eq!(AddressSpace::Port.to_nt(), 1);
    }

    #[test]
    fn bus_addresses_add_without_wrapping() {
        assert_eq!(BusAddress(0xFEB0_0000).checked_add(0x10), Some(BusAddress(0xFEB0_0010)));
        assert_eq!(BusAddress(u64::MAX).checked_add(1), None);
    }
}
