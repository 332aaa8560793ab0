//! A model of QEMU's `pci-testdev` (`hw/misc/pci-testdev.c`), the device kvm-unit-tests uses to
//! check that MMIO and port writes reach a device.
//!
//! # PCI
//!
//! Vendor 0x1b36 (Red Hat), device 0x0005, revision 0, class 0x00ff (other), QEMU's default
//! subsystem IDs, no interrupt pin, no capabilities.
//! - BAR0: 4 KiB of 32-bit non-prefetchable memory (the "mmio" tests).
//! - BAR1: 256 bytes of I/O ports (the "portio" tests).
//!
//! QEMU's optional BAR2 (`membar` property, 0 by default) is not modelled.
//!
//! # Tests
//!
//! The device holds six tests, numbered as QEMU numbers them:
//!
//! | number | name | BAR | write offset | counts a write when |
//! |--------|------|-----|--------------|---------------------|
//! | 0 | `mmio-no-eventfd` | 0 | 0x800 | the byte at the offset is 0xFA |
//! | 1 | `mmio-wildcard-eventfd` | 0 | 0x801 | any value, unless an eventfd takes it |
//! | 2 | `mmio-datamatch-eventfd` | 0 | 0x802 | the byte is 0xFA, unless an eventfd takes it |
//! | 3 | `portio-no-eventfd` | 1 | 0x83 | the byte at the offset is 0xFA |
//! | 4 | `portio-wildcard-eventfd` | 1 | 0x84 | any value, unless an eventfd takes it |
//! | 5 | `portio-datamatch-eventfd` | 1 | 0x85 | the byte is 0xFA, unless an eventfd takes it |
//!
//! (The write offset is the region's half size, 0x800 or 0x80, plus the test number.)
//!
//! A driver selects a test by writing its number *within the BAR's group* (0, 1 or 2) to offset
//! 0 of that BAR: a write of `n` to BAR0 selects test `n`, to BAR1 test `3 + n`. Selecting
//! resets the test's count to 0; writing 3 or more deselects. Both BARs share the one
//! selection, as in QEMU. While a test is selected, both BARs read its header at offset 0:
//!
//! | offset | size | field |
//! |--------|------|-------|
//! | 0 | 1 | test number (0..=5) |
//! | 1 | 1 | width: 1, the access size the eventfd matches |
//! | 4 | 4 | offset: where to write |
//! | 8 | 1 | data: 0xFA, the value that matches |
//! | 12 | 4 | count: writes that reached the device since the test was selected |
//! | 16 | | name, NUL-terminated |
//!
//! Bytes 2, 3, 9..12 are 0. Bytes from the name's NUL on, and everything while no test is
//! selected, read 0.
//!
//! # Access decomposition, and what the eventfd tests count
//!
//! QEMU's handlers take single bytes: its memory core splits a wider access into byte accesses
//! at consecutive offsets, low byte first. So a dword write of 0xFA at the write offset counts
//! once (only its first byte lands on the offset), and a dword read of `count` reads its four
//! bytes. The model does the same.
//!
//! Tests with "eventfd" in their name register an ioeventfd for a 1-byte write at their offset
//! in their own BAR (the datamatch one only for the value 0xFA). Before splitting, an access
//! that matches the eventfd exactly (same BAR, offset and size, and data if matched) is consumed
//! by the event: it signals the eventfd and never reaches the device, so `count` does not move.
//! This is QEMU's behaviour under TCG, the accelerator the bare-metal runs use (and KVM consumes
//! the same writes). A driver therefore sees, for 1-byte writes of 0xFA at the offset: `count`
//! rising for the no-eventfd tests and staying 0 for the eventfd tests; kvm-unit-tests accepts
//! both. Wider writes never match the 1-byte eventfd and are counted. The model counts the
//! consumed writes in [`PciTestdev::eventfd_signals`] for the machine's diagnostics.
//!
//! Accesses must be naturally aligned and lie inside the BAR (QEMU rejects misaligned ones);
//! others read all ones and are dropped. The model has no pending work and never interrupts.

use alloc::vec::Vec;
use core::fmt;

use crate::mmio::AccessWidth;
use crate::pci::{
    BarDescriptor, BarKind, ClassCode, PciConfigSpace, PciFunction, PciIdentity, QEMU_SUBSYSTEM_ID,
    QEMU_SUBSYSTEM_VENDOR_ID,
};

/// PCI vendor ID of pci-testdev (Red Hat).
pub const PCI_TESTDEV_VENDOR_ID: u16 = 0x1b36;
/// PCI device ID of pci-testdev.
pub const PCI_TESTDEV_DEVICE_ID: u16 = 0x0005;
/// The BAR of the memory tests.
pub const PCI_TESTDEV_MEMORY_BAR: u8 = 0;
/// The BAR of the port tests.
pub const PCI_TESTDEV_IO_BAR: u8 = 1;
/// Size of BAR0.
pub const PCI_TESTDEV_MEMORY_BAR_SIZE: u64 = 4096;
/// Size of BAR1.
pub const PCI_TESTDEV_IO_BAR_SIZE: u64 = 256;
/// The value the tests match ("data" in the header).
pub const PCI_TESTDEV_DATA: u8 = 0xFA;
/// Tests per BAR.
pub const PCI_TESTDEV_TESTS_PER_BAR: u8 = 3;
/// The tests' names, by number.
pub const PCI_TESTDEV_TEST_NAMES: [&str; 6] = [
    "mmio-no-eventfd",
    "mmio-wildcard-eventfd",
    "mmio-datamatch-eventfd",
    "portio-no-eventfd",
    "portio-wildcard-eventfd",
    "portio-datamatch-eventfd",
];

/// pci-testdev's PCI identification.
pub const PCI_TESTDEV_IDENTITY: PciIdentity = PciIdentity {
    vendor_id: PCI_TESTDEV_VENDOR_ID,
    device_id: PCI_TESTDEV_DEVICE_ID,
    // PCI_CLASS_OTHERS.
    class_code: ClassCode { class: 0x00, subclass: 0xff, prog_if: 0x00 },
    revision: 0,
    subsystem_vendor_id: QEMU_SUBSYSTEM_VENDOR_ID,
    subsystem_id: QEMU_SUBSYSTEM_ID,
};

/// Offsets of the header fields of the selected test, in either BAR.
pub mod header {
    /// Test number (1 byte); also where a write selects a test.
    pub const TEST: u64 = 0;
    /// Access width the eventfd matches (1 byte).
    pub const WIDTH: u64 = 1;
    /// Offset to write to (4 bytes).
    pub const OFFSET: u64 = 4;
    /// Value that matches (1 byte).
    pub const DATA: u64 = 8;
    /// Writes that reached the device (4 bytes).
    pub const COUNT: u64 = 12;
    /// NUL-terminated name.
    pub const NAME: u64 = 16;
}

/// Which BAR a test lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    Memory,
    Io,
}

impl Region {
    fn of_bar(bar: u8) -> Option<(Region, u64)> {
        match bar {
            PCI_TESTDEV_MEMORY_BAR => Some((Region::Memory, PCI_TESTDEV_MEMORY_BAR_SIZE)),
            PCI_TESTDEV_IO_BAR => Some((Region::Io, PCI_TESTDEV_IO_BAR_SIZE)),
            _ => None,
        }
    }

    /// The number of this region's first test.
    fn first_test(self) -> usize {
        match self {
            Region::Memory => 0,
            Region::Io => usize::from(PCI_TESTDEV_TESTS_PER_BAR),
        }
    }
}

/// One test: its header as the guest reads it, and how it filters writes.
#[derive(Clone)]
struct Test {
    /// The header bytes, name and NUL included.
    header: Vec<u8>,
    region: Region,
    /// Where writes count.
    offset: u64,
    /// Only writes of [`PCI_TESTDEV_DATA`] count (and trigger the eventfd).
    match_data: bool,
    /// An eventfd consumes matching 1-byte writes.
    has_eventfd: bool,
    eventfd_signals: u64,
}

impl Test {
    fn new(number: usize) -> Self {
        let name = PCI_TESTDEV_TEST_NAMES[number];
        let per_bar = usize::from(PCI_TESTDEV_TESTS_PER_BAR);
        let (region, size) = if number < per_bar {
            (Region::Memory, PCI_TESTDEV_MEMORY_BAR_SIZE)
        } else {
            (Region::Io, PCI_TESTDEV_IO_BAR_SIZE)
        };
        // QEMU: the region's half size plus the test's number.
        let offset = size / 2 + number as u64;
        let mut header = Vec::with_capacity(header::NAME as usize + name.len() + 1);
        header.extend_from_slice(&[number as u8, 1, 0, 0]);
        header.extend_from_slice(&(offset as u32).to_le_bytes());
        header.extend_from_slice(&[PCI_TESTDEV_DATA, 0, 0, 0]);
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        header.push(0);
        Self {
            header,
            region,
            offset,
            match_data: !name.ends_with("-wildcard-eventfd"),
            has_eventfd: name.ends_with("eventfd") && !name.ends_with("no-eventfd"),
            eventfd_signals: 0,
        }
    }

    fn count(&self) -> u32 {
        let at = header::COUNT as usize;
        u32::from_le_bytes([self.header[at], self.header[at + 1], self.header[at + 2], self.header[at + 3]])
    }

    fn set_count(&mut self, count: u32) {
        let at = header::COUNT as usize;
        self.header[at..at + 4].copy_from_slice(&count.to_le_bytes());
    }
}

/// The pci-testdev device. See the [module documentation](self).
#[derive(Clone)]
pub struct PciTestdev {
    config: PciConfigSpace,
    tests: Vec<Test>,
    /// The selected test's number.
    current: Option<usize>,
}

impl PciTestdev {
    /// A device in its reset state, with no test selected.
    pub fn new() -> Self {
        let bars = [
            BarDescriptor {
                index: PCI_TESTDEV_MEMORY_BAR,
                kind: BarKind::Memory32 { prefetchable: false },
                size: PCI_TESTDEV_MEMORY_BAR_SIZE,
            },
            BarDescriptor { index: PCI_TESTDEV_IO_BAR, kind: BarKind::Io, size: PCI_TESTDEV_IO_BAR_SIZE },
        ];
        Self {
            config: PciConfigSpace::new(PCI_TESTDEV_IDENTITY, &bars)
                .expect("pci-testdev's constant BARs are valid"),
            tests: (0..PCI_TESTDEV_TEST_NAMES.len()).map(Test::new).collect(),
            current: None,
        }
    }

    /// The selected test's number (0..=5), if any.
    pub fn selected_test(&self) -> Option<usize> {
        self.current
    }

    /// Test `test`'s count: the writes that reached the device since it was last selected.
    /// `None` if there is no such test.
    pub fn count(&self, test: usize) -> Option<u32> {
        self.tests.get(test).map(Test::count)
    }

    /// Writes to test `test`'s offset that its eventfd consumed, since the device was created.
    /// `None` if there is no such test.
    pub fn eventfd_signals(&self, test: usize) -> Option<u64> {
        self.tests.get(test).map(|test| test.eventfd_signals)
    }

    /// A byte write as QEMU's handler sees it.
    fn write_byte(&mut self, region: Region, offset: u64, value: u8) {
        if offset == header::TEST {
            self.current =
                (value < PCI_TESTDEV_TESTS_PER_BAR).then(|| region.first_test() + usize::from(value));
            if let Some(test) = self.current.and_then(|current| self.tests.get_mut(current)) {
                test.set_count(0);
            }
            return;
        }
        let Some(test) = self.current.and_then(|current| self.tests.get_mut(current)) else {
            return;
        };
        // QEMU checks neither the region nor the width here: the first byte of any write
        // landing on the offset counts.
        if offset == test.offset && (!test.match_data || value == PCI_TESTDEV_DATA) {
            test.set_count(test.count().wrapping_add(1));
        }
    }

    /// A byte read as QEMU's handler sees it.
    fn read_byte(&self, offset: u64) -> u8 {
        let Some(test) = self.current.and_then(|current| self.tests.get(current)) else {
            return 0;
        };
        // QEMU refuses the last byte too (`addr + size >= bufsize`); it is the NUL anyway.
        match usize::try_from(offset) {
            Ok(at) if at + 1 < test.header.len() => test.header[at],
            _ => 0,
        }
    }

    /// Whether the selected test's eventfd takes this write before the device sees it.
    fn eventfd_takes(&mut self, region: Region, offset: u64, width: AccessWidth, value: u64) -> bool {
        let Some(test) = self.current.and_then(|current| self.tests.get_mut(current)) else {
            return false;
        };
        let takes = test.has_eventfd
            && test.region == region
            && test.offset == offset
            && width == AccessWidth::Byte
            && (!test.match_data || value == u64::from(PCI_TESTDEV_DATA));
        if takes {
            test.eventfd_signals += 1;
        }
        takes
    }
}

impl Default for PciTestdev {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PciTestdev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<u32> = self.tests.iter().map(Test::count).collect();
        f.debug_struct("PciTestdev")
            .field("current", &self.current)
            .field("counts", &counts)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PciFunction for PciTestdev {
    fn config(&self) -> &PciConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut PciConfigSpace {
        &mut self.config
    }

    fn bar_read(&mut self, bar: u8, offset: u64, width: AccessWidth) -> u64 {
        match Region::of_bar(bar) {
            Some((_, size)) if width.fits(offset, size) => {
                // In range, so `offset + i` cannot overflow.
                (0..width.bytes())
                    .fold(0, |value, i| value | u64::from(self.read_byte(offset + i)) << (8 * i))
            }
            _ => width.mask(),
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, width: AccessWidth, value: u64) {
        let Some((region, size)) = Region::of_bar(bar) else {
            return;
        };
        let value = value & width.mask();
        if !width.fits(offset, size) || self.eventfd_takes(region, offset, width, value) {
            return;
        }
        for i in 0..width.bytes() {
            self.write_byte(region, offset + i, (value >> (8 * i)) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessWidth::{Byte, Dword, Qword, Word};
    use alloc::string::String;

    fn name(device: &mut PciTestdev, bar: u8) -> String {
        let mut name = String::new();
        for offset in header::NAME.. {
            match device.bar_read(bar, offset, Byte) as u8 {
                0 => break,
                byte => name.push(char::from(byte)),
            }
        }
        name
    }

    /// kvm-unit-tests' `pci_testdev_one`: select, check, write 16 times, read the count back.
    /// Returns the count, or `None` where kvm-unit-tests would stop.
    fn run_test(device: &mut PciTestdev, bar: u8, number: u64) -> Option<u32> {
        device.bar_write(bar, header::TEST, Byte, number);
        if device.bar_read(bar, header::COUNT, Dword) != 0 {
            return None;
        }
        let width = device.bar_read(bar, header::WIDTH, Byte);
        let data = device.bar_read(bar, header::DATA, Dword);
        let offset = device.bar_read(bar, header::OFFSET, Dword);
        let width = AccessWidth::from_bytes(width).filter(|width| *width != Qword)?;
        for _ in 0..16 {
            device.bar_write(bar, offset, width, data);
        }
        Some(device.bar_read(bar, header::COUNT, Dword) as u32)
    }

    #[test]
    fn pci_identity_and_bars() {
        let mut device = PciTestdev::new();
        let config = device.config();
        assert_eq!(config.read(0, Dword), 0x0005_1b36);
        assert_eq!(config.read(8, Dword), 0x00ff_0000);
        assert_eq!(config.interrupt_pin(), 0);
        device.config_mut().write(0x10, Dword, u32::MAX);
        device.config_mut().write(0x14, Dword, u32::MAX);
        device.config_mut().write(0x18, Dword, u32::MAX);
        assert_eq!(device.config().read(0x10, Dword), 0xFFFF_F000);
        assert_eq!(device.config().read(0x14, Dword), 0xFFFF_FF01);
        assert_eq!(device.config().read(0x18, Dword), 0);
        assert!(!device.interrupt_pending());
    }

    #[test]
    fn memory_bar_headers() {
        let mut device = PciTestdev::new();
        // Nothing selected: everything reads 0.
        assert_eq!(device.bar_read(0, 0, Dword), 0);
        assert_eq!(device.bar_read(0, header::NAME, Qword), 0);
        for (number, offset) in [(0u64, 0x800u64), (1, 0x801), (2, 0x802)] {
            device.bar_write(0, header::TEST, Byte, number);
            assert_eq!(device.selected_test(), Some(number as usize));
            assert_eq!(device.bar_read(0, header::TEST, Byte), number);
            assert_eq!(device.bar_read(0, header::WIDTH, Byte), 1);
            assert_eq!(device.bar_read(0, 0, Dword), 0x0100 | number);
            assert_eq!(device.bar_read(0, header::OFFSET, Dword), offset);
            assert_eq!(device.bar_read(0, header::DATA, Dword), 0xFA);
            assert_eq!(device.bar_read(0, header::COUNT, Dword), 0);
            assert_eq!(name(&mut device, 0), PCI_TESTDEV_TEST_NAMES[number as usize]);
        }
        assert_eq!(device.bar_read(0, header::NAME, Qword), u64::from_le_bytes(*b"mmio-dat"));
        // Past the NUL.
        assert_eq!(device.bar_read(0, 0x40, Dword), 0);
        assert_eq!(device.bar_read(0, 0xFFC, Dword), 0);
        // A value of 3 or more deselects.
        device.bar_write(0, header::TEST, Byte, 3);
        assert_eq!(device.selected_test(), None);
        assert_eq!(device.bar_read(0, header::WIDTH, Byte), 0);
    }

    #[test]
    fn io_bar_headers() {
        let mut device = PciTestdev::new();
        for (number, offset) in [(0u64, 0x83u64), (1, 0x84), (2, 0x85)] {
            // A dword write selects through its first byte.
            device.bar_write(1, header::TEST, Dword, number);
            assert_eq!(device.selected_test(), Some(3 + number as usize));
            assert_eq!(device.bar_read(1, header::TEST, Byte), 3 + number);
            assert_eq!(device.bar_read(1, header::OFFSET, Dword), offset);
            assert_eq!(device.bar_read(1, header::DATA, Byte), 0xFA);
            assert_eq!(name(&mut device, 1), PCI_TESTDEV_TEST_NAMES[3 + number as usize]);
        }
        // The selection is shared: BAR0 shows the port test's header.
        assert_eq!(device.bar_read(0, header::OFFSET, Dword), 0x85);
    }

    #[test]
    fn kvm_unit_tests_protocol() {
        let mut device = PciTestdev::new();
        for bar in [0, 1] {
            // no-eventfd counts every write; the eventfd tests' 1-byte writes go to the eventfd.
            assert_eq!(run_test(&mut device, bar, 0), Some(16), "BAR{bar}");
            assert_eq!(run_test(&mut device, bar, 1), Some(0), "BAR{bar}");
            assert_eq!(run_test(&mut device, bar, 2), Some(0), "BAR{bar}");
            // The fourth test does not exist: selecting it leaves nothing selected.
            device.bar_write(bar, header::TEST, Byte, 3);
            assert_eq!(device.bar_read(bar, header::WIDTH, Byte), 0);
        }
        let first = |bar: u8| usize::from(bar) * 3;
        for bar in [0u8, 1] {
            assert_eq!(device.count(first(bar)), Some(16));
            assert_eq!(device.eventfd_signals(first(bar)), Some(0));
            assert_eq!(device.eventfd_signals(first(bar) + 1), Some(16));
            assert_eq!(device.eventfd_signals(first(bar) + 2), Some(16));
        }
        assert_eq!(device.count(6), None);
        assert_eq!(device.eventfd_signals(6), None);
    }

    #[test]
    fn counting_rules() {
        let mut device = PciTestdev::new();
        // no-eventfd: the byte landing on the offset must be 0xFA.
        device.bar_write(0, header::TEST, Byte, 0);
        device.bar_write(0, 0x800, Byte, 0x00);
        device.bar_write(0, 0x800, Byte, 0x1FA);
        device.bar_write(0, 0x800, Dword, 0xFA);
        device.bar_write(0, 0x800, Dword, 0xFA00);
        device.bar_write(0, 0x800, Qword, 0xFFFF_FFFF_FFFF_FFFA);
        device.bar_write(0, 0x801, Byte, 0xFA);
        assert_eq!(device.bar_read(0, header::COUNT, Dword), 3);
        // Reselecting clears the count.
        device.bar_write(0, header::TEST, Byte, 0);
        assert_eq!(device.bar_read(0, header::COUNT, Dword), 0);

        // datamatch: a wider write is not the eventfd's and reaches the device.
        device.bar_write(0, header::TEST, Byte, 2);
        device.bar_write(0, 0x802, Word, 0x00FA);
        device.bar_write(0, 0x802, Word, 0x0001);
        device.bar_write(0, 0x802, Byte, 0x01);
        assert_eq!(device.bar_read(0, header::COUNT, Dword), 1);
        assert_eq!(device.eventfd_signals(2), Some(0));
        device.bar_write(0, 0x802, Byte, 0xFA);
        assert_eq!(device.bar_read(0, header::COUNT, Dword), 1);
        assert_eq!(device.eventfd_signals(2), Some(1));

        // wildcard on ports: any byte value goes to the eventfd; a word write counts.
        device.bar_write(1, header::TEST, Byte, 1);
        device.bar_write(1, 0x84, Byte, 0x12);
        assert_eq!(device.bar_read(1, header::COUNT, Dword), 0);
        device.bar_write(1, 0x84, Word, 0x3412);
        assert_eq!(device.bar_read(1, header::COUNT, Dword), 1);
        assert_eq!(device.eventfd_signals(4), Some(1));

        // The eventfd belongs to the port BAR: a memory write at the same offset reaches the
        // device, which does not check the region.
        device.bar_write(0, 0x84, Byte, 0x12);
        assert_eq!(device.bar_read(1, header::COUNT, Dword), 2);
    }

    #[test]
    fn undecoded_accesses() {
        let mut device = PciTestdev::new();
        device.bar_write(0, header::TEST, Byte, 0);
        let cases =
            [(0, 1, Word), (0, 2, Dword), (0, 4096, Byte), (0, 4092, Qword), (1, 256, Byte), (1, 0x83, Word)];
        for (bar, offset, width) in cases {
            assert_eq!(device.bar_read(bar, offset, width), width.mask(), "BAR{bar} {offset:#x} {width:?}");
            device.bar_write(bar, offset, width, 0xFA);
        }
        for bar in [2, 5, 255] {
            assert_eq!(device.bar_read(bar, 0, Dword), 0xFFFF_FFFF);
            device.bar_write(bar, 0, Byte, 1);
        }
        device.bar_write(0, u64::MAX, Byte, 0xFA);
        assert_eq!(device.bar_read(1, u64::MAX, Byte), 0xFF);
        assert_eq!(device.selected_test(), Some(0));
        assert_eq!(device.count(0), Some(0));
    }
}
