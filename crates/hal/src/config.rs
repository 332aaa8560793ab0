//! PCI configuration space: the platform's access to it, the `PCI_SLOT_NUMBER` encoding, and
//! `HalGetBusDataByOffset` / `HalSetBusDataByOffset` for `PCIConfiguration`.
//!
//! NT semantics of the two routines, and the decisions where the documentation is silent:
//! - Only `PCIConfiguration` is supported; every other `BUS_DATA_TYPE` (CMOS, EISA, ...)
//!   transfers nothing and returns 0, as for a bus the system does not have.
//! - A bus that does not exist: 0. Bus numbers above 255 never exist.
//! - An empty slot (the vendor ID reads as `PCI_INVALID_VENDORID` = 0xFFFF):
//!   `HalGetBusDataByOffset` writes 0xFFFF into the first two bytes of the buffer (the
//!   `VendorID` member when the buffer is a `PCI_COMMON_CONFIG`; fewer bytes if the buffer is
//!   shorter) and returns 2, whatever the offset. `HalSetBusDataByOffset` writes nothing and
//!   returns 0.
//! - Otherwise the routine transfers `min(Length, 256 - Offset)` bytes and returns the count:
//!   the legacy interface reaches the 256 bytes of conventional configuration space (PCIe's
//!   extended space is the PCI bus driver's business). An offset of 256 or more transfers
//!   nothing and returns 0.
//! - A zero-length buffer transfers nothing and returns 0 without touching the bus.
//! - The reserved bits 8..31 of the slot number are ignored, as the union's bit fields do.

use core::fmt;

use crate::address::BusDataType;

/// `PCI_INVALID_VENDORID`: what the vendor ID of an empty slot reads as.
pub const PCI_INVALID_VENDORID: u16 = 0xFFFF;
/// `PCI_MAX_DEVICES`: devices per bus.
pub const PCI_MAX_DEVICES: u8 = 32;
/// `PCI_MAX_FUNCTION`: functions per device.
pub const PCI_MAX_FUNCTION: u8 = 8;
/// Bytes of conventional configuration space per function, the reach of the HAL routines.
pub const PCI_CONFIG_SPACE_BYTES: u32 = 256;
/// The largest PCI bus number.
pub const PCI_MAX_BUS_NUMBER: u32 = 255;

/// A device and function on a PCI bus.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PciSlot {
    device: u8,
    function: u8,
}

impl PciSlot {
    /// Device `device` (0..32), function `function` (0..8), or `None` if either is out of range.
    pub const fn new(device: u8, function: u8) -> Option<Self> {
        if device < PCI_MAX_DEVICES && function < PCI_MAX_FUNCTION {
            Some(Self { device, function })
        } else {
            None
        }
    }

    /// The device number, 0..32.
    pub const fn device(self) -> u8 {
        self.device
    }

    /// The function number, 0..8.
    pub const fn function(self) -> u8 {
        self.function
    }

    /// The slot a `PCI_SLOT_NUMBER.u.AsULONG` designates: `DeviceNumber` in bits 0..4,
    /// `FunctionNumber` in bits 5..7; the reserved bits 8..31 are ignored.
    pub const fn from_slot_number(slot_number: u32) -> Self {
        Self { device: (slot_number & 0x1F) as u8, function: ((slot_number >> 5) & 0x7) as u8 }
    }

    /// The `PCI_SLOT_NUMBER.u.AsULONG` of this slot (reserved bits 0).
    pub const fn slot_number(self) -> u32 {
        self.device as u32 | (self.function as u32) << 5
    }
}

impl fmt::Debug for PciSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PciSlot({:02x}.{})", self.device, self.function)
    }
}

impl fmt::Display for PciSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}.{}", self.device, self.function)
    }
}

/// PCI configuration space as the platform reaches it (metal: ECAM or ports 0xCF8/0xCFC;
/// hosted: the host bridge model).
///
/// An implementation behaves as the hardware does: a function that is not there reads as all
/// ones and ignores writes. Callers keep `offset + len` within 256 bytes.
pub trait PciConfigAccess: Send + Sync {
    /// Reads `buffer.len()` bytes from `offset` of the configuration space of `slot` on `bus`.
    /// Returns the bytes read: 0 if the bus does not exist; `buffer.len()` otherwise, an empty
    /// slot filling the buffer with 0xFF.
    fn read_config(&self, bus: u32, slot: PciSlot, offset: u32, buffer: &mut [u8]) -> usize;

    /// Writes `data` at `offset` of the configuration space of `slot` on `bus`. Returns the
    /// bytes written: 0 if the bus does not exist; `data.len()` otherwise (read-only registers
    /// keep their value, as on hardware).
    fn write_config(&self, bus: u32, slot: PciSlot, offset: u32, data: &[u8]) -> usize;
}

/// The bus and slot a call addresses, once the bus is known to exist and the slot to be
/// occupied; or what the routine returns instead.
enum Target {
    Present(u32, PciSlot),
    /// The bus does not exist, the type is not PCI, or nothing was asked for.
    Nothing,
    /// The slot is empty.
    EmptySlot,
}

fn target(
    config: &dyn PciConfigAccess,
    bus_data_type: i32,
    bus_number: u32,
    slot_number: u32,
    len: usize,
) -> Target {
    if BusDataType::try_from(bus_data_type) != Ok(BusDataType::PciConfiguration)
        || bus_number > PCI_MAX_BUS_NUMBER
        || len == 0
    {
        return Target::Nothing;
    }
    let slot = PciSlot::from_slot_number(slot_number);
    let mut vendor = [0u8; 2];
    if config.read_config(bus_number, slot, 0, &mut vendor) < vendor.len() {
        return Target::Nothing;
    }
    if u16::from_le_bytes(vendor) == PCI_INVALID_VENDORID {
        return Target::EmptySlot;
    }
    Target::Present(bus_number, slot)
}

/// How many of `len` bytes from `offset` lie in configuration space.
fn in_config_space(offset: u32, len: usize) -> usize {
    let room = PCI_CONFIG_SPACE_BYTES.saturating_sub(offset) as usize;
    len.min(room)
}

/// `HalGetBusDataByOffset(BusDataType, BusNumber, SlotNumber, Buffer, Offset, Length) -> ULONG`:
/// reads configuration data into `buffer` (its length is `Length`) and returns the bytes
/// transferred; 0 for a bus that does not exist, 2 (with 0xFFFF in the buffer's first two
/// bytes) for an empty slot. See the [module documentation](self) for every case.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (legacy HAL documentation). The routine holds no memory-manager
/// state, so it has nothing to check the level against; the platform's configuration access
/// must be usable up to that level.
pub fn hal_get_bus_data_by_offset(
    config: &dyn PciConfigAccess,
    bus_data_type: i32,
    bus_number: u32,
    slot_number: u32,
    buffer: &mut [u8],
    offset: u32,
) -> u32 {
    match target(config, bus_data_type, bus_number, slot_number, buffer.len()) {
        Target::Nothing => 0,
        Target::EmptySlot => {
            let invalid = PCI_INVALID_VENDORID.to_le_bytes();
            let fits = buffer.len().min(invalid.len());
            buffer[..fits].copy_from_slice(&invalid[..fits]);
            2
        }
        Target::Present(bus, slot) => {
            let len = in_config_space(offset, buffer.len());
            if len == 0 {
                return 0;
            }
            let read = config.read_config(bus, slot, offset, &mut buffer[..len]).min(len);
            // At most 256: the conversion cannot lose anything.
            read as u32
        }
    }
}

/// `HalSetBusDataByOffset(BusDataType, BusNumber, SlotNumber, Buffer, Offset, Length) -> ULONG`:
/// writes `data` (its length is `Length`) to configuration space and returns the bytes
/// written; 0 for a bus that does not exist or an empty slot. See the
/// [module documentation](self) for every case.
///
/// # IRQL
/// At most `DISPATCH_LEVEL` (legacy HAL documentation); not checked, as for
/// [`hal_get_bus_data_by_offset`].
pub fn hal_set_bus_data_by_offset(
    config: &dyn PciConfigAccess,
    bus_data_type: i32,
    bus_number: u32,
    slot_number: u32,
    data: &[u8],
    offset: u32,
) -> u32 {
    match target(config, bus_data_type, bus_number, slot_number, data.len()) {
        Target::Nothing | Target::EmptySlot => 0,
        Target::Present(bus, slot) => {
            let len = in_config_space(offset, data.len());
            if len == 0 {
                return 0;
            }
            // At most 256: the conversion cannot lose anything.
            config.write_config(bus, slot, offset, &data[..len]).min(len) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::collections::BTreeMap;
    use std::sync::Mutex;

    /// Buses 0 and 1; a device at 00.0 (vendor 0x1234, device 0x11E8, the edu device) and one
    /// at 01:03.1.
    struct FakeBus {
        functions: Mutex<BTreeMap<(u32, PciSlot), [u8; 256]>>,
    }

    const PCI_CONFIGURATION: i32 = 4;

    impl FakeBus {
        fn new() -> Self {
            let mut functions = BTreeMap::new();
            let mut edu = [0u8; 256];
            edu[..4].copy_from_slice(&[0x34, 0x12, 0xE8, 0x11]);
            edu[0x10..0x14].copy_from_slice(&0xFEA0_0000u32.to_le_bytes());
            functions.insert((0, PciSlot::new(0, 0).unwrap()), edu);
            let mut other = [0u8; 256];
            other[..4].copy_from_slice(&[0x86, 0x80, 0x00, 0x01]);
            functions.insert((1, PciSlot::new(3, 1).unwrap()), other);
            Self { functions: Mutex::new(functions) }
        }
    }

    impl PciConfigAccess for FakeBus {
        fn read_config(&self, bus: u32, slot: PciSlot, offset: u32, buffer: &mut [u8]) -> usize {
            if bus > 1 {
                return 0;
            }
            let functions = self.functions.lock().unwrap();
            match functions.get(&(bus, slot)) {
                Some(space) => {
                    buffer.copy_from_slice(&space[offset as usize..offset as usize + buffer.len()])
                }
                None => buffer.fill(0xFF),
            }
            buffer.len()
        }

        fn write_config(&self, bus: u32, slot: PciSlot, offset: u32, data: &[u8]) -> usize {
            if bus > 1 {
                return 0;
            }
            if let Some(space) = self.functions.lock().unwrap().get_mut(&(bus, slot)) {
                for (index, &byte) in data.iter().enumerate() {
                    // The IDs are read-only.
                    if offset as usize + index >= 4 {
                        space[offset as usize + index] = byte;
                    }
                }
            }
            data.len()
        }
    }

    #[test]
    fn slot_numbers_follow_pci_slot_number() {
        let slot = PciSlot::new(3, 2).unwrap();
        assert_eq!(slot.slot_number(), 3 | 2 << 5);
        assert_eq!(PciSlot::from_slot_number(0x43), slot);
        assert_eq!(PciSlot::from_slot_number(0xFFFF_FF43), slot, "reserved bits are ignored");
        assert_eq!(PciSlot::from_slot_number(0xFF), PciSlot::new(31, 7).unwrap());
        assert_eq!(PciSlot::new(32, 0), None);
        assert_eq!(PciSlot::new(0, 8), None);
        assert_eq!((slot.device(), slot.function()), (3, 2));
        assert_eq!(alloc::format!("{slot} {slot:?}"), "03.2 PciSlot(03.2)");
    }

    #[test]
    fn an_occupied_slot_reads_its_configuration_space() {
        let bus = FakeBus::new();
        let mut header = [0u8; 4];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut header, 0), 4);
        assert_eq!(header, [0x34, 0x12, 0xE8, 0x11]);
        let mut bar0 = [0u8; 4];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut bar0, 0x10), 4);
        assert_eq!(u32::from_le_bytes(bar0), 0xFEA0_0000);
        let slot = PciSlot::new(3, 1).unwrap().slot_number();
        let mut vendor = [0u8; 2];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 1, slot, &mut vendor, 0), 2);
        assert_eq!(u16::from_le_bytes(vendor), 0x8086);
    }

    #[test]
    fn an_empty_slot_returns_2_and_pci_invalid_vendorid() {
        let bus = FakeBus::new();
        let mut buffer = [0u8; 8];
        let empty = PciSlot::new(5, 0).unwrap().slot_number();
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, empty, &mut buffer, 0), 2);
        assert_eq!(buffer, [0xFF, 0xFF, 0, 0, 0, 0, 0, 0]);
        // Whatever the offset, and a missing function of a present device is empty too.
        let mut buffer = [0u8; 4];
        let function_1 = PciSlot::new(0, 1).unwrap().slot_number();
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, function_1, &mut buffer, 0x10), 2);
        assert_eq!(buffer, [0xFF, 0xFF, 0, 0]);
        let mut one = [0u8; 1];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, empty, &mut one, 0), 2);
        assert_eq!(one, [0xFF]);
    }

    #[test]
    fn a_bus_that_does_not_exist_returns_0_and_leaves_the_buffer_alone() {
        let bus = FakeBus::new();
        let mut buffer = [0x5Au8; 4];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 2, 0, &mut buffer, 0), 0);
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 256, 0, &mut buffer, 0), 0);
        assert_eq!(buffer, [0x5A; 4]);
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 2, 0, &[1, 2], 0x40), 0);
    }

    #[test]
    fn other_bus_data_types_transfer_nothing() {
        let bus = FakeBus::new();
        let mut buffer = [0u8; 4];
        for bus_data_type in [-1, 0, 1, 3, 5, 11, 12, -7] {
            assert_eq!(hal_get_bus_data_by_offset(&bus, bus_data_type, 0, 0, &mut buffer, 0), 0);
            assert_eq!(hal_set_bus_data_by_offset(&bus, bus_data_type, 0, 0, &buffer, 0x40), 0);
        }
        assert_eq!(buffer, [0; 4]);
    }

    #[test]
    fn transfers_stop_at_the_end_of_configuration_space() {
        let bus = FakeBus::new();
        let mut buffer = [0u8; 16];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut buffer, 0xF8), 8);
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut buffer, 0x100), 0);
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut buffer, u32::MAX), 0);
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut [], 0), 0);
        let mut big = [0u8; 300];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut big, 0), 256);
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &[0; 16], 0xFC), 4);
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &[0; 16], 0x100), 0);
    }

    #[test]
    fn set_bus_data_writes_occupied_slots_only() {
        let bus = FakeBus::new();
        let command = 0x0006u16.to_le_bytes();
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &command, 0x04), 2);
        let mut read_back = [0u8; 2];
        assert_eq!(hal_get_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &mut read_back, 0x04), 2);
        assert_eq!(read_back, command);
        let empty = PciSlot::new(9, 0).unwrap().slot_number();
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, empty, &command, 0x04), 0);
        assert_eq!(hal_set_bus_data_by_offset(&bus, PCI_CONFIGURATION, 0, 0, &[], 0x04), 0);
    }
}
