//! The PVH `hvm_start_info` QEMU hands the kernel, and the physical memory map built from its
//! memory map table plus the device ranges the firmware assigned.
//!
//! The firmware's entries are byte-granular and may overlap (a reserved range inside RAM); the
//! memory manager wants page-aligned, disjoint regions. RAM is shrunk to whole pages, reserved
//! ranges are grown to whole pages, and where they meet, reserved wins. Device ranges (BARs)
//! are grown to whole pages, merged, and kept only where the firmware describes nothing else.

// The host unit-test build uses only the memory-map builder; the kernel uses everything.
#![cfg_attr(not(panic = "abort"), allow(dead_code))]

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use iospace_mm::address::{PAGE_SIZE, PhysicalAddress};
use iospace_mm::memory_map::{MemoryMap, MemoryMapError, Region, RegionKind};

/// `XEN_HVM_START_MAGIC_VALUE`.
const START_INFO_MAGIC: u32 = 0x336E_C578;
/// `XEN_HVM_MEMMAP_TYPE_RAM`.
const MEMMAP_TYPE_RAM: u32 = 1;

/// `struct hvm_start_info` (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// One entry of the firmware's memory map, as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareRange {
    /// First byte.
    pub start: u64,
    /// Bytes.
    pub bytes: u64,
    /// The E820 type: 1 RAM, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 unusable.
    pub kind: u32,
}

/// What the boot loader told the kernel.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// The firmware's memory map, as given.
    pub memory: Vec<FirmwareRange>,
    /// The kernel command line (QEMU's `-append`), empty if none.
    pub command_line: String,
}

/// Bytes of command line read at most.
const COMMAND_LINE_LIMIT: usize = 4096;

/// Why the start info was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartInfoError {
    /// The magic value is wrong: not a PVH boot.
    BadMagic(u32),
    /// Version 0 has no memory map.
    NoMemoryMap,
}

impl fmt::Display for StartInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(magic) => write!(f, "start info magic {magic:#x} is not PVH's"),
            Self::NoMemoryMap => f.write_str("the start info carries no memory map"),
        }
    }
}

/// Reads the start info at physical `address`.
///
/// # Safety
/// `address` is the `EBX` value of the PVH entry, and the start info and its memory map table
/// are identity-mapped and untouched since.
pub unsafe fn read(address: u64) -> Result<BootInfo, StartInfoError> {
    // SAFETY: the caller vouches for the structure at `address`; it may be unaligned in
    // principle, hence `read_unaligned`.
    let info = unsafe { (address as *const StartInfo).read_unaligned() };
    if info.magic != START_INFO_MAGIC {
        return Err(StartInfoError::BadMagic(info.magic));
    }
    if info.version < 1 || info.memmap_paddr == 0 {
        return Err(StartInfoError::NoMemoryMap);
    }
    let table = info.memmap_paddr as *const MemmapEntry;
    let memory = (0..info.memmap_entries as usize)
        .map(|index| {
            // SAFETY: the table has `memmap_entries` entries (PVH's contract, see above).
            let entry = unsafe { table.add(index).read_unaligned() };
            FirmwareRange { start: entry.addr, bytes: entry.size, kind: entry.kind }
        })
        .collect();
    let mut command_line = String::new();
    if info.cmdline_paddr != 0 {
        let text = info.cmdline_paddr as *const u8;
        for index in 0..COMMAND_LINE_LIMIT {
            // SAFETY: PVH's command line is a NUL-terminated string at `cmdline_paddr`,
            // identity-mapped like the start info; the loop stops at the NUL.
            match unsafe { text.add(index).read() } {
                0 => break,
                byte => command_line.push(char::from(byte)),
            }
        }
    }
    Ok(BootInfo { memory, command_line })
}

/// Half-open ranges `[start, end)`.
type Span = (u64, u64);

/// Sorts and merges overlapping or touching spans.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|&(start, end)| start < end);
    spans.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// `spans` minus every span of `holes` (both merged).
fn subtract(spans: &[Span], holes: &[Span]) -> Vec<Span> {
    let mut result = Vec::new();
    for &(mut start, end) in spans {
        for &(hole_start, hole_end) in holes {
            if hole_end <= start || hole_start >= end {
                continue;
            }
            if hole_start > start {
                result.push((start, hole_start));
            }
            start = start.max(hole_end);
        }
        if start < end {
            result.push((start, end));
        }
    }
    result
}

/// The memory map of the machine: the firmware's RAM and reserved ranges, plus `devices`
/// (byte ranges of device memory, e.g. BARs).
pub fn memory_map(firmware: &[FirmwareRange], devices: &[Span]) -> Result<MemoryMap, MemoryMapError> {
    let down = |value: u64| value & !(PAGE_SIZE - 1);
    let up = |value: u64| value.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let end_of = |range: &FirmwareRange| range.start.saturating_add(range.bytes);
    let reserved = merge(
        firmware
            .iter()
            .filter(|range| range.kind != MEMMAP_TYPE_RAM)
            .map(|range| (down(range.start), up(end_of(range))))
            .collect(),
    );
    let ram = merge(
        firmware
            .iter()
            .filter(|range| range.kind == MEMMAP_TYPE_RAM)
            .map(|range| (up(range.start), down(end_of(range))))
            .collect(),
    );
    let ram = subtract(&ram, &reserved);
    let described = merge(ram.iter().chain(reserved.iter()).copied().collect());
    let devices = merge(devices.iter().map(|&(start, end)| (down(start), up(end))).collect());
    let devices = subtract(&devices, &described);

    let region = |kind: RegionKind| {
        move |&(start, end): &Span| Region { start: PhysicalAddress(start), bytes: end - start, kind }
    };
    let mut regions: Vec<Region> = ram.iter().map(region(RegionKind::Ram)).collect();
    regions.extend(reserved.iter().map(region(RegionKind::Reserved)));
    regions.extend(devices.iter().map(region(RegionKind::Device)));
    MemoryMap::new(regions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;

    fn range(start: u64, bytes: u64, kind: u32) -> FirmwareRange {
        FirmwareRange { start, bytes, kind }
    }

    fn spans(map: &MemoryMap, kind: RegionKind) -> Vec<(u64, u64)> {
        map.regions()
            .iter()
            .filter(|region| region.kind == kind)
            .map(|region| (region.start.0, region.end()))
            .collect()
    }

    /// QEMU q35's map with 512 MiB: byte-granular ends and a reserved range inside RAM.
    fn q35() -> Vec<FirmwareRange> {
        vec![
            range(0, 0x9FC00, RAM),
            range(0x9FC00, 0x400, RESERVED),
            range(0xF0000, 0x10000, RESERVED),
            range(0x10_0000, 0x1FEE_0000, RAM),
            range(0x1FFE_0000, 0x2_0000, RESERVED),
            range(0xB000_0000, 0x1000_0000, RESERVED),
        ]
    }

    #[test]
    fn ram_shrinks_to_whole_pages_and_reserved_grows() {
        let map = memory_map(&q35(), &[]).unwrap();
        assert_eq!(spans(&map, RegionKind::Ram), [(0, 0x9F000), (0x10_0000, 0x1FFE_0000)]);
        assert_eq!(
            spans(&map, RegionKind::Reserved),
            [
                (0x9F000, 0xA0000),
                (0xF0000, 0x10_0000),
                (0x1FFE_0000, 0x2000_0000),
                (0xB000_0000, 0xC000_0000)
            ]
        );
    }

    #[test]
    fn reserved_wins_where_it_overlaps_ram() {
        let firmware = [range(0, 0x100_0000, RAM), range(0x40_0800, 0x1000, RESERVED)];
        let map = memory_map(&firmware, &[]).unwrap();
        assert_eq!(spans(&map, RegionKind::Ram), [(0, 0x40_0000), (0x40_2000, 0x100_0000)]);
        assert_eq!(spans(&map, RegionKind::Reserved), [(0x40_0000, 0x40_2000)]);
    }

    #[test]
    fn device_ranges_are_merged_and_kept_only_where_the_firmware_says_nothing() {
        let devices = [
            (0xFEB0_0000, 0xFEB0_0100),
            (0xFEB0_0080, 0xFEB0_1800),
            (0xAFFF_F000, 0xB000_2000),
            (0xC000_0000, 0xC010_0000),
        ];
        let map = memory_map(&q35(), &devices).unwrap();
        assert_eq!(
            spans(&map, RegionKind::Device),
            [(0xAFFF_F000, 0xB000_0000), (0xC000_0000, 0xC010_0000), (0xFEB0_0000, 0xFEB0_2000)]
        );
    }

    #[test]
    fn a_map_without_ram_is_refused() {
        assert_eq!(memory_map(&[range(0, 0x800, RAM)], &[]), Err(MemoryMapError::NoRam));
    }
}
