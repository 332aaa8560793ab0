//! What the firmware does to PCI before the OS runs, as QEMU's firmware does on q35: give every
//! BAR a bus address from the host bridge's windows, then enable decoding and bus mastering.
//!
//! Placement:
//! - BARs the description fixes (`bar0`) first, where they are asked to be;
//! - 32-bit memory BARs, and 64-bit non-prefetchable ones, in the 32-bit window
//!   ([`PCI_WINDOW_32`]), packed downward from its top as SeaBIOS packs them;
//! - 64-bit prefetchable BARs (ivshmem's BAR2) in the 64-bit window ([`PCI_WINDOW_64`]),
//!   upward from its base;
//! - I/O BARs upward from port 0xC000 ([`PCI_IO_WINDOW`]).
//!
//! Larger BARs are placed first, so natural alignment wastes little. Every BAR is aligned to its
//! size; a memory BAR takes at least a whole page, so that no two devices share a page (a page
//! has one cache type, and the hosted machine decodes by page).

use iospace_devices::pci::{BarDescriptor, BarKind};
use iospace_mm::address::PAGE_SIZE;

use crate::description::{DescriptionError, PCI_IO_WINDOW, PCI_WINDOW_32, PCI_WINDOW_64};

/// A PCI device as firmware sees it.
#[derive(Clone, Debug)]
pub(crate) struct PciDeviceBars {
    /// How errors name the device.
    pub label: String,
    /// Its BARs.
    pub bars: Vec<BarDescriptor>,
    /// The bus address its BAR0 must have, if the description fixes it.
    pub fixed_bar0: Option<u64>,
}

/// One of the host bridge's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowKind {
    Memory32,
    Memory64,
    Io,
}

impl WindowKind {
    fn range(self) -> (u64, u64) {
        match self {
            Self::Memory32 => PCI_WINDOW_32,
            Self::Memory64 => PCI_WINDOW_64,
            Self::Io => PCI_IO_WINDOW,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Memory32 => "32-bit PCI memory window",
            Self::Memory64 => "64-bit PCI memory window",
            Self::Io => "PCI I/O window",
        }
    }

    /// The window firmware assigns a BAR of `kind` from.
    fn for_bar(kind: BarKind) -> Self {
        match kind {
            BarKind::Io => Self::Io,
            BarKind::Memory64 { prefetchable: true } => Self::Memory64,
            BarKind::Memory32 { .. } | BarKind::Memory64 { prefetchable: false } => Self::Memory32,
        }
    }

    /// The windows a BAR of `kind` may be fixed in: a 64-bit BAR may sit in either memory
    /// window, a 32-bit one only below 4 GiB.
    fn allowed(kind: BarKind) -> &'static [WindowKind] {
        match kind {
            BarKind::Io => &[Self::Io],
            BarKind::Memory32 { .. } => &[Self::Memory32],
            BarKind::Memory64 { .. } => &[Self::Memory32, Self::Memory64],
        }
    }
}

/// The span a BAR occupies: its size, and at least a page for memory.
fn footprint(bar: &BarDescriptor) -> u64 {
    if bar.kind.is_io() { bar.size } else { bar.size.max(PAGE_SIZE) }
}

/// Ranges `[start, end)` already taken.
#[derive(Default)]
struct Taken {
    ranges: Vec<(u64, u64, String)>,
}

impl Taken {
    fn overlapping(&self, start: u64, end: u64) -> Option<&(u64, u64, String)> {
        self.ranges.iter().find(|(first, last, _)| start < *last && *first < end)
    }

    /// The highest (downward) or lowest address aligned to `span` where `span` bytes fit in
    /// `window` without touching a taken range.
    fn find(&self, (base, length): (u64, u64), span: u64, downward: bool) -> Option<u64> {
        let end = base + length;
        let mut candidate =
            if downward { end.checked_sub(span)? / span * span } else { base.next_multiple_of(span) };
        loop {
            if candidate < base || candidate.checked_add(span)? > end {
                return None;
            }
            match self.overlapping(candidate, candidate + span) {
                None => return Some(candidate),
                Some(&(first, last, _)) => {
                    candidate = if downward {
                        first.checked_sub(span)? / span * span
                    } else {
                        last.next_multiple_of(span)
                    };
                }
            }
        }
    }
}

/// Where every BAR of `devices` goes: for each device, `(BAR index, bus address)` pairs.
pub(crate) fn assign(devices: &[PciDeviceBars]) -> Result<Vec<Vec<(u8, u64)>>, DescriptionError> {
    let invalid = DescriptionError::Invalid;
    let mut plan: Vec<Vec<(u8, u64)>> = vec![Vec::new(); devices.len()];
    let mut taken = Taken::default();

    // Fixed BARs first: they are where the description says, or the description is wrong.
    for (index, device) in devices.iter().enumerate() {
        let Some(address) = device.fixed_bar0 else { continue };
        let Some(bar) = device.bars.iter().find(|bar| bar.index == 0) else {
            return Err(invalid(format!("{}: bar0 is given but the device has no BAR0", device.label)));
        };
        let what = format!("{} BAR0", device.label);
        let span = footprint(bar);
        let end = address.saturating_add(span);
        let inside = WindowKind::allowed(bar.kind).iter().any(|window| {
            let (base, length) = window.range();
            address >= base && end <= base + length
        });
        if !inside {
            let windows: Vec<String> = WindowKind::allowed(bar.kind)
                .iter()
                .map(|window| {
                    let (base, length) = window.range();
                    format!("{} {base:#x}..{:#x}", window.name(), base + length)
                })
                .collect();
            let space = if bar.kind.is_io() { "an I/O" } else { "a PCI memory" };
            return Err(invalid(format!(
                "{what} {address:#x}..{end:#x} is not inside {space} window ({})",
                windows.join(" or ")
            )));
        }
        if address % span != 0 {
            return Err(invalid(format!(
                "{what} at {address:#x} is not aligned to its size {:#x} (a BAR holds only a naturally aligned address)",
                span
            )));
        }
        if let Some((first, _, other)) = taken.overlapping(address, end) {
            return Err(invalid(format!(
                "device BARs at {first:#x} ({other}) and {address:#x} ({what}) overlap"
            )));
        }
        taken.ranges.push((address, end, what));
        plan[index].push((0, address));
    }

    // The rest, largest first; equal sizes in device and BAR order.
    let mut pending: Vec<(usize, &BarDescriptor)> = devices
        .iter()
        .enumerate()
        .flat_map(|(index, device)| {
            device
                .bars
                .iter()
                .filter(move |bar| !(bar.index == 0 && device.fixed_bar0.is_some()))
                .map(move |bar| (index, bar))
        })
        .collect();
    pending.sort_by_key(|&(index, bar)| (std::cmp::Reverse(footprint(bar)), index, bar.index));
    for (index, bar) in pending {
        let window = WindowKind::for_bar(bar.kind);
        let range = window.range();
        let span = footprint(bar);
        let what = format!("{} BAR{}", devices[index].label, bar.index);
        if span > range.1 {
            return Err(invalid(format!(
                "{what} of {:#x} bytes is larger than the {} ({:#x} bytes)",
                bar.size,
                window.name(),
                range.1
            )));
        }
        let downward = window == WindowKind::Memory32;
        let Some(address) = taken.find(range, span, downward) else {
            return Err(invalid(format!(
                "no room for {what} ({:#x} bytes) in the {} {:#x}..{:#x}",
                bar.size,
                window.name(),
                range.0,
                range.0 + range.1
            )));
        };
        taken.ranges.push((address, address + span, what));
        plan[index].push((bar.index, address));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(label: &str, bars: &[(u8, BarKind, u64)], fixed_bar0: Option<u64>) -> PciDeviceBars {
        PciDeviceBars {
            label: label.into(),
            bars: bars.iter().map(|&(index, kind, size)| BarDescriptor { index, kind, size }).collect(),
            fixed_bar0,
        }
    }

    const M32: BarKind = BarKind::Memory32 { prefetchable: false };
    const M64P: BarKind = BarKind::Memory64 { prefetchable: true };

    #[test]
    fn packs_32_bit_bars_downward_64_bit_upward_and_io_from_0xc000() {
        let devices = [
            device("edu", &[(0, M32, 1 << 20)], Some(0xFEA0_0000)),
            device("ivshmem", &[(0, M32, 256), (2, M64P, 4 << 20)], None),
            device("testdev", &[(0, M32, 4096), (1, BarKind::Io, 256)], None),
        ];
        let plan = assign(&devices).unwrap();
        assert_eq!(plan[0], [(0, 0xFEA0_0000)]);
        assert_eq!(plan[1], [(2, 0x80_0000_0000), (0, 0xFEBF_F000)]);
        assert_eq!(plan[2], [(0, 0xFEBF_E000), (1, 0xC000)]);
    }

    #[test]
    fn fixed_bars_skip_around_and_are_checked() {
        let devices =
            [device("a", &[(0, M32, 1 << 20)], Some(0xFEB0_0000)), device("b", &[(0, M32, 1 << 20)], None)];
        assert_eq!(assign(&devices).unwrap()[1], [(0, 0xFEA0_0000)]);
        let overlapping = [
            device("a", &[(0, M32, 1 << 20)], Some(0xFEA0_0000)),
            device("b", &[(0, M32, 1 << 20)], Some(0xFEA0_0000)),
        ];
        assert!(assign(&overlapping).unwrap_err().to_string().contains("overlap"));
        let misaligned = [device("a", &[(0, M32, 1 << 20)], Some(0xFEA0_1000))];
        assert!(assign(&misaligned).unwrap_err().to_string().contains("not aligned"));
        let outside = [device("a", &[(0, M32, 1 << 20)], Some(0x1000_0000))];
        assert!(assign(&outside).unwrap_err().to_string().contains("not inside a PCI memory window"));
    }

    #[test]
    fn too_large_and_full_windows_are_errors() {
        let huge = [device("ivshmem", &[(2, M64P, 256 << 30)], None)];
        let error = assign(&huge).unwrap_err().to_string();
        assert!(error.contains("larger than the 64-bit PCI memory window"), "{error}");
        let full: Vec<_> = (0..2).map(|_| device("big", &[(0, M32, 512 << 20)], None)).collect();
        let error = assign(&full).unwrap_err().to_string();
        assert!(error.contains("no room"), "{error}");
    }
}
