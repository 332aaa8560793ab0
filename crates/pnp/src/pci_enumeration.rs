//! The PCI bus driver's side of resource assignment: find the functions on the bus, size their
//! BARs, report what each BAR needs as an `IO_RESOURCE_REQUIREMENTS_LIST`, and program the
//! BARs with what the arbiter assigned (contract §8.4).
//!
//! Everything goes through [`PciConfigAccess`], so the same code runs over the hosted machine's
//! host bridge and over ports 0xCF8/0xCFC on metal.
//!
//! Decisions:
//! - Buses 0 to 255 are scanned; a bus that does not exist ends nothing (bridges are not
//!   followed: a bus behind a bridge is found by the scan itself, as its number is decoded).
//! - BARs are sized the usual way: decoding off, all ones written, the mask read back, the
//!   original value restored, decoding restored. Type-1 headers (bridges) have only BAR0/BAR1
//!   and are reported with them; other header types with none.
//! - A memory BAR asks for its size, aligned to its size **and at least a page**, so that no
//!   page ever holds two devices' registers (a page has one caching type, contract §6.3).
//! - The first alternative list is the firmware's placement, `IO_RESOURCE_PREFERRED`, with the
//!   general requirement as its `ALTERNATIVE`, as a PCI bus driver offers a device's boot
//!   configuration: the arbiter keeps the firmware's choice when it is free and moves the BAR
//!   otherwise.

use alloc::vec::Vec;
use core::fmt;

use iospace_hal::config::{PCI_INVALID_VENDORID, PCI_MAX_BUS_NUMBER, PCI_MAX_DEVICES, PCI_MAX_FUNCTION};
use iospace_hal::config::{PciConfigAccess, PciSlot};
use iospace_mm::address::PAGE_SIZE;

use crate::cm_constants::{CM_RESOURCE_MEMORY_PREFETCHABLE, CM_RESOURCE_PORT_IO, InterfaceType};
use crate::large_memory::RangeNotEncodable;
use crate::requirements::{
    IoOption, IoResourceDescriptor, IoResourceList, IoResourceRequirementsList, Requirement,
};
use crate::resource::{BusAddress, Raw, RawResourceList, Resource, ResourceEntry, ResourceList};

/// Configuration-space offsets of the common header.
mod offsets {
    pub const VENDOR_ID: u32 = 0x00;
    pub const COMMAND: u32 = 0x04;
    pub const REVISION_ID: u32 = 0x08;
    pub const HEADER_TYPE: u32 = 0x0E;
    pub const BAR0: u32 = 0x10;
}

/// Command register bits.
mod command {
    pub const IO_SPACE: u16 = 0x0001;
    pub const MEMORY_SPACE: u16 = 0x0002;
    pub const BUS_MASTER: u16 = 0x0004;
}

/// The highest bus address a 32-bit memory BAR can hold.
const MEMORY_32_MAXIMUM: u64 = 0xFFFF_FFFF;
/// The highest port an I/O BAR is given (x86 port space).
const PORT_MAXIMUM: u64 = 0xFFFF;

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// 32-bit memory space.
    Memory32 {
        /// Reads have no side effects.
        prefetchable: bool,
    },
    /// 64-bit memory space (the BAR and the next one).
    Memory64 {
        /// Reads have no side effects.
        prefetchable: bool,
    },
    /// I/O (port) space.
    Io,
}

impl BarKind {
    /// Whether the BAR decodes memory space.
    pub const fn is_memory(self) -> bool {
        !matches!(self, Self::Io)
    }
}

/// One implemented BAR of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Its index (0..6; a 64-bit BAR also uses `index + 1`).
    pub index: u8,
    /// What it decodes.
    pub kind: BarKind,
    /// Bytes (or ports) it decodes: a power of two.
    pub size: u64,
    /// The bus address it holds now.
    pub base: BusAddress,
}

impl Bar {
    /// The requirement this BAR makes: its size, naturally aligned (memory: at least a page),
    /// anywhere its width can reach.
    pub fn requirement(&self) -> Result<Requirement, RangeNotEncodable> {
        self.requirement_within(BusAddress(0), None)
    }

    /// The requirement that keeps the BAR exactly where it is.
    fn fixed_requirement(&self) -> Result<Requirement, RangeNotEncodable> {
        self.requirement_within(self.base, Some(BusAddress(self.base.0.saturating_add(self.size - 1))))
    }

    /// The BAR's requirement between `minimum` and `maximum` (default: what the BAR can hold).
    fn requirement_within(
        &self,
        minimum: BusAddress,
        maximum: Option<BusAddress>,
    ) -> Result<Requirement, RangeNotEncodable> {
        let reach = match self.kind {
            BarKind::Io => PORT_MAXIMUM,
            BarKind::Memory32 { .. } => MEMORY_32_MAXIMUM,
            BarKind::Memory64 { .. } => u64::MAX,
        };
        let maximum = maximum.unwrap_or(BusAddress(reach));
        match self.kind {
            // An I/O BAR decodes at most 256 ports, so its size fits the 32-bit length.
            BarKind::Io => Ok(Requirement::port(self.size as u32, self.size as u32, minimum, maximum)),
            _ => Requirement::memory(self.size, self.size.max(PAGE_SIZE), minimum, maximum),
        }
    }

    /// The descriptor flags of this BAR's resources.
    pub const fn flags(&self) -> u16 {
        match self.kind {
            BarKind::Io => CM_RESOURCE_PORT_IO,
            BarKind::Memory32 { prefetchable: true } | BarKind::Memory64 { prefetchable: true } => {
                CM_RESOURCE_MEMORY_PREFETCHABLE
            }
            _ => 0,
        }
    }
}

/// A function found on the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// Its bus number.
    pub bus: u32,
    /// Its device and function.
    pub slot: PciSlot,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class code: base class, subclass, programming interface (bits 23..16, 15..8, 7..0).
    pub class_code: u32,
    /// Its implemented BARs, in index order.
    pub bars: Vec<Bar>,
}

/// Why BARs could not be programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramError {
    /// The list does not have one entry per BAR.
    EntryCount {
        /// BARs of the function.
        bars: usize,
        /// Entries in the list.
        entries: usize,
    },
    /// Entry `index` is not a range of the BAR's space, of its size, that the BAR can hold.
    Mismatch {
        /// The entry (and BAR position).
        index: usize,
    },
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EntryCount { bars, entries } => {
                write!(f, "the function has {bars} BARs but the assignment {entries} entries")
            }
            Self::Mismatch { index } => {
                write!(f, "entry {index} cannot be programmed into the BAR it corresponds to")
            }
        }
    }
}

impl core::error::Error for ProgramError {}

fn read_u32(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, offset: u32) -> Option<u32> {
    let mut bytes = [0u8; 4];
    (config.read_config(bus, slot, offset, &mut bytes) == 4).then(|| u32::from_le_bytes(bytes))
}

fn write_u32(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, offset: u32, value: u32) {
    config.write_config(bus, slot, offset, &value.to_le_bytes());
}

fn read_u16(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, offset: u32) -> u16 {
    let mut bytes = [0u8; 2];
    config.read_config(bus, slot, offset, &mut bytes);
    u16::from_le_bytes(bytes)
}

fn write_u16(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, offset: u32, value: u16) {
    config.write_config(bus, slot, offset, &value.to_le_bytes());
}

fn read_u8(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, offset: u32) -> u8 {
    let mut byte = [0u8; 1];
    config.read_config(bus, slot, offset, &mut byte);
    byte[0]
}

/// Every function on every bus, in bus, device, function order.
pub fn scan(config: &dyn PciConfigAccess) -> Vec<PciDevice> {
    let mut found = Vec::new();
    for bus in 0..=PCI_MAX_BUS_NUMBER {
        for device in 0..PCI_MAX_DEVICES {
            for function in 0..PCI_MAX_FUNCTION {
                let Some(slot) = PciSlot::new(device, function) else { continue };
                let Some(id) = read_u32(config, bus, slot, offsets::VENDOR_ID) else { break };
                if id as u16 == PCI_INVALID_VENDORID {
                    if function == 0 {
                        break;
                    }
                    continue;
                }
                let header_type = read_u8(config, bus, slot, offsets::HEADER_TYPE);
                found.push(probe(config, bus, slot, id, header_type));
                if function == 0 && header_type & 0x80 == 0 {
                    break;
                }
            }
        }
    }
    found
}

fn probe(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, id: u32, header_type: u8) -> PciDevice {
    let class_code = read_u32(config, bus, slot, offsets::REVISION_ID).unwrap_or(0) >> 8;
    let bar_count = match header_type & 0x7F {
        0 => 6,
        1 => 2,
        _ => 0,
    };
    PciDevice {
        bus,
        slot,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        class_code,
        bars: size_bars(config, bus, slot, bar_count),
    }
}

/// Sizes the first `count` BARs with decoding off, restoring everything afterwards.
fn size_bars(config: &dyn PciConfigAccess, bus: u32, slot: PciSlot, count: u8) -> Vec<Bar> {
    let saved_command = read_u16(config, bus, slot, offsets::COMMAND);
    write_u16(
        config,
        bus,
        slot,
        offsets::COMMAND,
        saved_command & !(command::IO_SPACE | command::MEMORY_SPACE),
    );
    let mut bars = Vec::new();
    let mut index = 0;
    while index < count {
        let offset = offsets::BAR0 + 4 * u32::from(index);
        let original = read_u32(config, bus, slot, offset).unwrap_or(0);
        write_u32(config, bus, slot, offset, u32::MAX);
        let mask = read_u32(config, bus, slot, offset).unwrap_or(0);
        write_u32(config, bus, slot, offset, original);
        let used = if original & 1 == 1 {
            // I/O: bits 31..2 hold the address; devices may hardwire the upper 16 bits to 0.
            let mut mask = mask & !0x3;
            if mask & 0xFFFF_0000 == 0 {
                mask |= 0xFFFF_0000;
            }
            if mask & 0xFFFF != 0 {
                let size = u64::from(!mask) + 1;
                bars.push(Bar {
                    index,
                    kind: BarKind::Io,
                    size,
                    base: BusAddress(u64::from(original & !0x3)),
                });
            }
            1
        } else if (original >> 1) & 0x3 == 0x2 && index + 1 < count {
            let high_offset = offset + 4;
            let original_high = read_u32(config, bus, slot, high_offset).unwrap_or(0);
            write_u32(config, bus, slot, high_offset, u32::MAX);
            let mask_high = read_u32(config, bus, slot, high_offset).unwrap_or(0);
            write_u32(config, bus, slot, high_offset, original_high);
            let mask = u64::from(mask_high) << 32 | u64::from(mask & !0xF);
            if mask != 0 {
                let base = u64::from(original_high) << 32 | u64::from(original & !0xF);
                let kind = BarKind::Memory64 { prefetchable: original & 0x8 != 0 };
                bars.push(Bar { index, kind, size: (!mask).wrapping_add(1), base: BusAddress(base) });
            }
            2
        } else {
            let mask = mask & !0xF;
            if mask != 0 {
                let kind = BarKind::Memory32 { prefetchable: original & 0x8 != 0 };
                let size = u64::from(!mask) + 1;
                bars.push(Bar { index, kind, size, base: BusAddress(u64::from(original & !0xF)) });
            }
            1
        };
        index += used;
    }
    write_u16(config, bus, slot, offsets::COMMAND, saved_command);
    bars
}

impl PciDevice {
    /// The `PCI_SLOT_NUMBER` of the function.
    pub fn slot_number(&self) -> u32 {
        self.slot.slot_number()
    }

    /// What the function needs: one group per BAR, the firmware's placement preferred. Fails
    /// only for a BAR whose size no requirement form can carry (not a power of two).
    pub fn requirements(&self) -> Result<IoResourceRequirementsList, RangeNotEncodable> {
        let mut descriptors = Vec::new();
        for bar in &self.bars {
            if bar.base.0 != 0 {
                descriptors.push(IoResourceDescriptor::new(
                    IoOption::PREFERRED,
                    bar.flags(),
                    bar.fixed_requirement()?,
                ));
                descriptors.push(IoResourceDescriptor::new(
                    IoOption::ALTERNATIVE,
                    bar.flags(),
                    bar.requirement()?,
                ));
            } else {
                descriptors.push(IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    bar.flags(),
                    bar.requirement()?,
                ));
            }
        }
        Ok(IoResourceRequirementsList::new(
            InterfaceType::PCI_BUS,
            self.bus,
            self.slot_number(),
            alloc::vec![IoResourceList::new(descriptors)],
        ))
    }

    /// The resources the BARs hold now (the firmware's assignment at boot): one entry per BAR.
    pub fn current_resources(&self) -> RawResourceList {
        let entries =
            self.bars.iter().filter_map(|bar| bar_resource(bar, bar.base).map(ResourceEntry::exclusive));
        ResourceList::new(entries.collect())
            .expect("ports and memory only: no device-specific data to misplace")
    }

    /// Writes `assigned` (one entry per BAR, in BAR order, as [`requirements`](Self::requirements)
    /// produces them) into the BARs, and enables the decoding they need and bus mastering.
    /// Decoding is off while the BARs change, so the device never decodes a half-written
    /// address.
    pub fn program(
        &mut self,
        config: &dyn PciConfigAccess,
        assigned: &RawResourceList,
    ) -> Result<(), ProgramError> {
        if assigned.len() != self.bars.len() {
            return Err(ProgramError::EntryCount { bars: self.bars.len(), entries: assigned.len() });
        }
        let mut bases = Vec::with_capacity(self.bars.len());
        for (index, (bar, entry)) in self.bars.iter().zip(assigned.iter()).enumerate() {
            let base = match (&entry.resource, bar.kind) {
                (Resource::Port { start, length, .. }, BarKind::Io) if u64::from(*length) == bar.size => {
                    start.0
                }
                (Resource::Memory { start, length, .. }, kind)
                    if kind.is_memory() && length.bytes() == bar.size =>
                {
                    start.0
                }
                _ => return Err(ProgramError::Mismatch { index }),
            };
            let fits = match bar.kind {
                BarKind::Memory32 { .. } => {
                    base.checked_add(bar.size - 1).is_some_and(|last| last <= MEMORY_32_MAXIMUM)
                }
                BarKind::Io => base.checked_add(bar.size - 1).is_some_and(|last| last <= PORT_MAXIMUM),
                BarKind::Memory64 { .. } => true,
            };
            if !fits || base % bar.size != 0 {
                return Err(ProgramError::Mismatch { index });
            }
            bases.push(base);
        }
        let (bus, slot) = (self.bus, self.slot);
        let saved = read_u16(config, bus, slot, offsets::COMMAND);
        write_u16(config, bus, slot, offsets::COMMAND, saved & !(command::IO_SPACE | command::MEMORY_SPACE));
        let mut enable = command::BUS_MASTER;
        for (bar, base) in self.bars.iter_mut().zip(bases) {
            let offset = offsets::BAR0 + 4 * u32::from(bar.index);
            let low_flags = read_u32(config, bus, slot, offset).unwrap_or(0)
                & if bar.kind.is_memory() { 0xF } else { 0x3 };
            write_u32(config, bus, slot, offset, base as u32 | low_flags);
            if let BarKind::Memory64 { .. } = bar.kind {
                write_u32(config, bus, slot, offset + 4, (base >> 32) as u32);
            }
            enable |= if bar.kind.is_memory() { command::MEMORY_SPACE } else { command::IO_SPACE };
            bar.base = BusAddress(base);
        }
        write_u16(config, bus, slot, offsets::COMMAND, saved | enable);
        Ok(())
    }
}

/// The raw resource of `bar` at `base`.
fn bar_resource(bar: &Bar, base: BusAddress) -> Option<Resource<Raw>> {
    match bar.kind {
        BarKind::Io => Some(Resource::Port { start: base, length: bar.size as u32, flags: bar.flags() }),
        _ => Resource::memory(base, bar.size, bar.flags()).ok(),
    }
}
