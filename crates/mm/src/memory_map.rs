//! The physical memory map the platform hands over at start-up: which physical ranges are RAM,
//! which belong to devices, which the firmware keeps, and (by omission) the holes between.

use alloc::vec::Vec;
use core::fmt;

use crate::address::{PAGE_SIZE, PhysicalAddress};

/// Largest physical address width x86-64 paging can express (MAXPHYADDR ≤ 52).
pub const PHYSICAL_ADDRESS_LIMIT: u64 = 1 << 52;

/// What a physical range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// RAM that the memory manager owns and tracks in the PFN database.
    Ram,
    /// Device memory: a window where buses decode registers and device memory.
    Device,
    /// Firmware-reserved memory (ACPI tables, BIOS shadow, ...), never handed out.
    Reserved,
}

impl RegionKind {
    /// A short lower-case name, for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ram => "ram",
            Self::Device => "device",
            Self::Reserved => "reserved",
        }
    }
}

/// One range of the map: `[start, start + bytes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: PhysicalAddress,
    /// Length in bytes (a multiple of the page size).
    pub bytes: u64,
    /// What the range is.
    pub kind: RegionKind,
}

impl Region {
    /// One past the last byte.
    pub const fn end(&self) -> u64 {
        self.start.0 + self.bytes
    }
    /// Whether the region holds `address`.
    pub const fn contains(&self, address: PhysicalAddress) -> bool {
        address.0 >= self.start.0 && address.0 < self.end()
    }
}

/// Why a memory map was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// A region is empty, or its start or length is not a multiple of the page size.
    Unaligned(Region),
    /// A region goes past the physical address limit (2^52) or wraps.
    OutOfRange(Region),
    /// Two regions overlap.
    Overlap(Region, Region),
    /// There is no RAM at all.
    NoRam,
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |r: &Region| (r.kind.name(), r.start.0, r.start.0.wrapping_add(r.bytes).wrapping_sub(1));
        match self {
            Self::Unaligned(r) => {
                let (kind, first, last) = show(r);
                write!(f, "{kind} region {first:#x}..={last:#x} is empty or not page-aligned")
            }
            Self::OutOfRange(r) => {
                let (kind, first, _) = show(r);
                write!(f, "{kind} region at {first:#x} of {:#x} bytes ends beyond 2^52", r.bytes)
            }
            Self::Overlap(a, b) => {
                let (ka, fa, la) = show(a);
                let (kb, fb, lb) = show(b);
                write!(f, "{ka} region {fa:#x}..={la:#x} overlaps {kb} region {fb:#x}..={lb:#x}")
            }
            Self::NoRam => f.write_str("the memory map has no RAM"),
        }
    }
}

impl core::error::Error for MemoryMapError {}

/// A validated memory map: page-aligned, non-overlapping regions sorted by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    regions: Vec<Region>,
}

impl MemoryMap {
    /// Validates and sorts `regions`.
    pub fn new(mut regions: Vec<Region>) -> Result<Self, MemoryMapError> {
        for region in &regions {
            if region.bytes == 0 || region.start.0 % PAGE_SIZE != 0 || region.bytes % PAGE_SIZE != 0 {
                return Err(MemoryMapError::Unaligned(*region));
            }
            match region.start.0.checked_add(region.bytes) {
                Some(end) if end <= PHYSICAL_ADDRESS_LIMIT => {}
                _ => return Err(MemoryMapError::OutOfRange(*region)),
            }
        }
        regions.sort_by_key(|region| region.start);
        for pair in regions.windows(2) {
            if pair[0].end() > pair[1].start.0 {
                return Err(MemoryMapError::Overlap(pair[0], pair[1]));
            }
        }
        if !regions.iter().any(|region| region.kind == RegionKind::Ram) {
            return Err(MemoryMapError::NoRam);
        }
        Ok(Self { regions })
    }

    /// All regions, by address.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The RAM regions, by address.
    pub fn ram(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter().filter(|region| region.kind == RegionKind::Ram)
    }

    /// The region holding `address`, or `None` for a hole.
    pub fn region_of(&self, address: PhysicalAddress) -> Option<&Region> {
        let index = self.regions.partition_point(|region| region.end() <= address.0);
        self.regions.get(index).filter(|region| region.contains(address))
    }

    /// What `address` is: `None` for a hole.
    pub fn kind_of(&self, address: PhysicalAddress) -> Option<RegionKind> {
        self.region_of(address).map(|region| region.kind)
    }

    /// Total bytes of RAM.
    pub fn ram_bytes(&self) -> u64 {
        self.ram().map(|region| region.bytes).sum()
    }

    /// One past the highest RAM byte.
    pub fn ram_end(&self) -> u64 {
        self.ram().map(Region::end).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn region(start: u64, bytes: u64, kind: RegionKind) -> Region {
        Region { start: PhysicalAddress(start), bytes, kind }
    }

    #[test]
    fn regions_are_sorted_and_looked_up() {
        let map = MemoryMap::new(vec![
            region(0xFEA0_0000, 0x10_0000, RegionKind::Device),
            region(0, 0x9F000, RegionKind::Ram),
            region(0x10_0000, 0x1FF0_0000, RegionKind::Ram),
        ])
        .unwrap();
        assert_eq!(map.regions()[0].start, PhysicalAddress(0));
        assert_eq!(map.kind_of(PhysicalAddress(0x1234)), Some(RegionKind::Ram));
        assert_eq!(map.kind_of(PhysicalAddress(0xA0000)), None);
        assert_eq!(map.kind_of(PhysicalAddress(0xFEA0_0004)), Some(RegionKind::Device));
        assert_eq!(map.kind_of(PhysicalAddress(0xFEB0_0000)), None);
        assert_eq!(map.ram_bytes(), 0x9F000 + 0x1FF0_0000);
        assert_eq!(map.ram_end(), 0x2000_0000);
    }

    #[test]
    fn bad_maps_are_refused_with_the_offending_regions() {
        let ram = region(0, 0x10000, RegionKind::Ram);
        let overlapping = region(0xF000, 0x2000, RegionKind::Device);
        assert_eq!(MemoryMap::new(vec![ram, overlapping]), Err(MemoryMapError::Overlap(ram, overlapping)));
        let unaligned = region(0x800, 0x1000, RegionKind::Ram);
        assert_eq!(MemoryMap::new(vec![unaligned]), Err(MemoryMapError::Unaligned(unaligned)));
        let huge = region(0xFFFF_FFFF_FFFF_F000, 0x2000, RegionKind::Device);
        assert_eq!(MemoryMap::new(vec![ram, huge]), Err(MemoryMapError::OutOfRange(huge)));
        let device = region(0x10000, 0x1000, RegionKind::Device);
        assert_eq!(MemoryMap::new(vec![device]), Err(MemoryMapError::NoRam));
    }
}
