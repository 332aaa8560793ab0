//! Machine descriptions: what a hosted machine is made of, read from TOML.
//!
//! ```toml
//! name = "q35"
//! ram_mib = 512          # RAM, laid out as QEMU's q35 does
//! system_va_mib = 131072 # size of the system VA window (128 GiB)
//! huge_pages = true      # whether the CPU maps 1 GiB pages
//!
//! [verifier]             # optional: Driver Verifier's rules, all on by default
//! report_obsolete_routines = false
//!
//! [[device]]
//! kind = "edu"
//! bar0 = 0xfea00000      # optional: where BAR0 sits (this is the default)
//! ```

use serde::Deserialize;

use iospace_mm::address::{HUGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress};
use iospace_mm::memory_map::{MemoryMap, MemoryMapError, Region, RegionKind};

/// Where q35 ends low RAM once RAM does not fit below the PCI hole.
const Q35_LOW_RAM_LIMIT: u64 = 0x8000_0000;
/// Start of RAM that did not fit below 4 GiB.
const HIGH_RAM_BASE: u64 = 0x1_0000_0000;
/// The legacy VGA and BIOS hole below 1 MiB.
const LEGACY_HOLE: (u64, u64) = (0x9_F000, 0x10_0000);
/// PCI ECAM (q35 `MCFG`), 256 MiB.
const ECAM: (u64, u64) = (0xB000_0000, 0x1000_0000);
/// The 32-bit PCI memory window, where q35's firmware places 32-bit BARs.
const PCI_WINDOW_32: (u64, u64) = (0xC000_0000, 0xFEC0_0000 - 0xC000_0000);
/// IOAPIC, HPET and local APIC.
const PLATFORM_DEVICES: (u64, u64) = (0xFEC0_0000, 0x40_0000);
/// BIOS flash at the top of 4 GiB.
const FIRMWARE: (u64, u64) = (0xFFC0_0000, 0x40_0000);
/// The 64-bit PCI memory window: 1 GiB-aligned, 128 GiB.
const PCI_WINDOW_64: (u64, u64) = (0x80_0000_0000, 128 * HUGE_PAGE_SIZE);

/// Errors in a machine description.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The text is not valid TOML for a machine, with the parser's position.
    #[error("machine description is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("machine description: {0}")]
    Invalid(String),
    /// The memory map the description implies is inconsistent.
    #[error("machine description: {0}")]
    MemoryMap(#[from] MemoryMapError),
}

/// A hosted machine.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MachineDescription {
    /// A name for reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// RAM in MiB.
    #[serde(default = "default_ram_mib")]
    pub ram_mib: u64,
    /// Size of the system VA window in MiB (small windows make exhaustion easy to test).
    #[serde(default = "default_system_va_mib")]
    pub system_va_mib: u64,
    /// Whether 1 GiB pages are available.
    #[serde(default = "default_true")]
    pub huge_pages: bool,
    /// Devices on the machine.
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceDescription>,
    /// Driver Verifier's optional rules.
    #[serde(default)]
    pub verifier: VerifierDescription,
}

/// Driver Verifier's optional rules; all on unless turned off.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierDescription {
    /// `MmUnmapIoSpace` above `APC_LEVEL` is 0xC4/0x7B.
    pub unmap_io_space_at_most_apc: bool,
    /// `MmMapLockedPages` is 0xC4/0x81.
    pub report_obsolete_routines: bool,
    /// `BugCheckOnFailure = TRUE` is 0xC4/0x82.
    pub report_bug_check_on_failure: bool,
}

impl Default for VerifierDescription {
    fn default() -> Self {
        let options = iospace_mm::memory_manager::VerifierOptions::default();
        Self {
            unmap_io_space_at_most_apc: options.unmap_io_space_at_most_apc,
            report_obsolete_routines: options.report_obsolete_routines,
            report_bug_check_on_failure: options.report_bug_check_on_failure,
        }
    }
}

impl From<VerifierDescription> for iospace_mm::memory_manager::VerifierOptions {
    fn from(description: VerifierDescription) -> Self {
        Self {
            unmap_io_space_at_most_apc: description.unmap_io_space_at_most_apc,
            report_obsolete_routines: description.report_obsolete_routines,
            report_bug_check_on_failure: description.report_bug_check_on_failure,
        }
    }
}

/// One device.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeviceDescription {
    /// The model: `edu`.
    pub kind: DeviceKind,
    /// Physical address of BAR0; 0xFEA00000 (where q35 firmware puts the first edu) when absent.
    pub bar0: Option<u64>,
}

/// The device models a description can name.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// QEMU's `edu` educational device.
    Edu,
}

fn default_name() -> String {
    "q35".into()
}
fn default_ram_mib() -> u64 {
    512
}
fn default_system_va_mib() -> u64 {
    128 << 10
}
fn default_true() -> bool {
    true
}

impl Default for MachineDescription {
    /// QEMU q35 with 512 MiB of RAM and an edu device.
    fn default() -> Self {
        Self {
            name: default_name(),
            ram_mib: default_ram_mib(),
            system_va_mib: default_system_va_mib(),
            huge_pages: true,
            devices: vec![DeviceDescription { kind: DeviceKind::Edu, bar0: Some(0xFEA0_0000) }],
            verifier: VerifierDescription::default(),
        }
    }
}

impl MachineDescription {
    /// Parses a TOML description.
    pub fn from_toml(text: &str) -> Result<Self, DescriptionError> {
        let description: Self = toml::from_str(text)?;
        description.validate()?;
        Ok(description)
    }

    /// Checks the values that serde cannot.
    pub fn validate(&self) -> Result<(), DescriptionError> {
        if !(2..=64 * 1024).contains(&self.ram_mib) {
            return Err(DescriptionError::Invalid(format!(
                "ram_mib = {} is outside 2..=65536",
                self.ram_mib
            )));
        }
        if !(1..=1 << 20).contains(&self.system_va_mib) {
            return Err(DescriptionError::Invalid(format!(
                "system_va_mib = {} is outside 1..=1048576",
                self.system_va_mib
            )));
        }
        self.memory_map().map(|_| ())
    }

    /// The physical memory map, q35 style: low RAM up to 2 GiB, the rest above 4 GiB, the PCI
    /// windows as device memory, firmware ranges reserved.
    pub fn memory_map(&self) -> Result<MemoryMap, DescriptionError> {
        let ram = self.ram_mib << 20;
        let low = ram.min(Q35_LOW_RAM_LIMIT);
        let region = |(start, bytes): (u64, u64), kind| Region { start: PhysicalAddress(start), bytes, kind };
        let mut regions = vec![
            region((0, LEGACY_HOLE.0), RegionKind::Ram),
            region((LEGACY_HOLE.0, LEGACY_HOLE.1 - LEGACY_HOLE.0), RegionKind::Reserved),
            region((LEGACY_HOLE.1, low - LEGACY_HOLE.1), RegionKind::Ram),
            region(ECAM, RegionKind::Reserved),
            region(PCI_WINDOW_32, RegionKind::Device),
            region(PLATFORM_DEVICES, RegionKind::Device),
            region(FIRMWARE, RegionKind::Reserved),
            region(PCI_WINDOW_64, RegionKind::Device),
        ];
        if ram > low {
            regions.push(region((HIGH_RAM_BASE, ram - low), RegionKind::Ram));
        }
        let map = MemoryMap::new(regions)?;
        for device in &self.devices {
            let (start, bytes) = device.bar0_range();
            if start % PAGE_SIZE != 0 {
                return Err(DescriptionError::Invalid(format!(
                    "{:?} BAR0 at {start:#x} is not page-aligned",
                    device.kind
                )));
            }
            let inside = map
                .region_of(PhysicalAddress(start))
                .is_some_and(|r| r.kind == RegionKind::Device && start + bytes <= r.end());
            if !inside {
                return Err(DescriptionError::Invalid(format!(
                    "{:?} BAR0 {start:#x}..{:#x} is not inside a PCI memory window",
                    device.kind,
                    start + bytes
                )));
            }
        }
        let mut bars: Vec<_> = self.devices.iter().map(DeviceDescription::bar0_range).collect();
        bars.sort_unstable();
        if let Some(pair) = bars.windows(2).find(|pair| pair[0].0 + pair[0].1 > pair[1].0) {
            return Err(DescriptionError::Invalid(format!(
                "device BARs at {:#x} and {:#x} overlap",
                pair[0].0, pair[1].0
            )));
        }
        Ok(map)
    }
}

impl DeviceDescription {
    /// BAR0's physical range `(start, bytes)`.
    pub fn bar0_range(&self) -> (u64, u64) {
        let bytes = match self.kind {
            DeviceKind::Edu => iospace_devices::edu::EDU_BAR0_SIZE,
        };
        (self.bar0.unwrap_or(0xFEA0_0000), bytes)
    }
}
