//! Machine descriptions: what a hosted machine is made of, read from TOML.
//!
//! ```toml
//! name = "q35"
//! ram_mib = 512          # RAM, laid out as QEMU's q35 does
//! system_va_mib = 131072 # size of the system VA window (128 GiB)
//! huge_pages = true      # whether the CPU maps 1 GiB pages
//! personality = "x86"    # or "memory-mapped-ports"
//!
//! [verifier]             # optional: Driver Verifier's rules, all on by default
//! report_obsolete_routines = false
//!
//! [[device]]             # PCI devices take device numbers 1, 2, ... in this order
//! kind = "edu"
//! bar0 = 0xfea00000      # optional bus address of BAR0; edu's default is this one
//!
//! [[device]]
//! kind = "ivshmem"
//! size = 0x400000        # optional: BAR2's size, a power of two of at least 4 KiB (4 MiB)
//! path = "/dev/shm/x"    # optional: the shared file (default /dev/shm/iospace-ivshmem-<pid>-<n>)
//!
//! [[device]]
//! kind = "pci-testdev"
//!
//! [[device]]
//! kind = "uart"          # a 16550A on port space, not on PCI
//! port = 0x3f8           # optional: the first of its 8 ports (COM1)
//! ```
//!
//! # Bus addresses and CPU physical addresses
//!
//! A BAR holds a **bus address** (raw): `bar0` in a description, the windows firmware assigns
//! from ([`PCI_WINDOW_32`], [`PCI_WINDOW_64`], [`PCI_IO_WINDOW`]) and what configuration space
//! reads back are all bus addresses. The CPU reaches bus memory address `b` at **CPU physical**
//! address `b + memory_offset`: that is what `MmMapIoSpace` takes, what the memory map lists
//! and what [`Machine::bus`](crate::Machine::bus)`().devices()` reports.
//!
//! - `personality = "x86"` (the default): a PC. `memory_offset` is 0, so bus and CPU memory
//!   addresses are equal, and ports are reached with `in`/`out` (the port routines with a port
//!   number).
//! - `personality = "memory-mapped-ports"`: a CPU without I/O instructions, as Alpha and MIPS
//!   machines were. Port `p` of the bus's port space is reached at CPU physical
//!   `port_window + p` (default [`DEFAULT_PORT_WINDOW`]), and bus memory at CPU physical
//!   `bus + memory_offset` (default [`DEFAULT_MEMORY_OFFSET`]), so the PCI windows appear in the
//!   memory map at `+ memory_offset`. `in`/`out` reach nothing there (reads float high).
//!
//! The ECAM (PCI configuration space as memory, [`ECAM`]) is a host-bridge register range, at
//! the same CPU physical address on both personalities.
//!
//! Whatever is wrong in a description is reported by [`MachineDescription::validate`] as a
//! [`DescriptionError`] that names the field or the two ranges at fault.

use std::path::PathBuf;

use serde::Deserialize;

use iospace_devices::edu::EDU_BAR0;
use iospace_devices::ivshmem::{
    IVSHMEM_DEFAULT_SHARED_MEMORY_SIZE, IVSHMEM_REGISTER_BAR, IVSHMEM_REGISTER_BAR_SIZE,
    IVSHMEM_SHARED_MEMORY_BAR,
};
use iospace_devices::pci::{BarDescriptor, BarKind};
use iospace_devices::pci_testdev::{
    PCI_TESTDEV_IO_BAR, PCI_TESTDEV_IO_BAR_SIZE, PCI_TESTDEV_MEMORY_BAR, PCI_TESTDEV_MEMORY_BAR_SIZE,
};
use iospace_devices::uart16550::{COM1_PORT, UART_PORT_COUNT};
use iospace_hal::BusAddress;
use iospace_hal::translation::{BusRange, BusTranslator, PORT_SPACE_BYTES, Personality};
use iospace_mm::address::{HUGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress};
use iospace_mm::memory_map::{MemoryMap, MemoryMapError, PHYSICAL_ADDRESS_LIMIT, Region, RegionKind};

use crate::firmware::{self, PciDeviceBars};

/// Where q35 ends low RAM once RAM does not fit below the PCI hole.
const Q35_LOW_RAM_LIMIT: u64 = 0x8000_0000;
/// Start of RAM that did not fit below 4 GiB.
const HIGH_RAM_BASE: u64 = 0x1_0000_0000;
/// The legacy VGA and BIOS hole below 1 MiB.
const LEGACY_HOLE: (u64, u64) = (0x9_F000, 0x10_0000);
/// PCI ECAM (q35 `MCFG`), 256 MiB, CPU physical `(start, bytes)`.
pub const ECAM: (u64, u64) = (0xB000_0000, 0x1000_0000);
/// The 32-bit PCI memory window, bus `(start, bytes)`, where firmware places 32-bit BARs.
pub const PCI_WINDOW_32: (u64, u64) = (0xC000_0000, 0xFEC0_0000 - 0xC000_0000);
/// IOAPIC, HPET and local APIC, CPU physical.
const PLATFORM_DEVICES: (u64, u64) = (0xFEC0_0000, 0x40_0000);
/// BIOS flash at the top of 4 GiB, CPU physical.
const FIRMWARE: (u64, u64) = (0xFFC0_0000, 0x40_0000);
/// The 64-bit PCI memory window, bus `(start, bytes)`: 1 GiB-aligned, 128 GiB. Firmware
/// places 64-bit prefetchable BARs here.
pub const PCI_WINDOW_64: (u64, u64) = (0x80_0000_0000, 128 * HUGE_PAGE_SIZE);
/// The ports firmware assigns I/O BARs from, `(start, count)`, as SeaBIOS does on q35.
pub const PCI_IO_WINDOW: (u64, u64) = (0xC000, 0x4000);
/// PCI configuration mechanism #1: CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC, 8 ports.
pub const CONFIG_PORTS: (u64, u64) = (0xCF8, 8);
/// CPU physical address of port 0 on the memory-mapped personality, unless `port_window`
/// says otherwise.
pub const DEFAULT_PORT_WINDOW: u64 = 0x90_0000_0000;
/// Bus-to-CPU memory offset of the memory-mapped personality unless `memory_offset` says
/// otherwise: 1 TiB, so that bus address `b` is CPU physical `b + 0x100_0000_0000`.
pub const DEFAULT_MEMORY_OFFSET: u64 = 0x100_0000_0000;
/// Where edu's BAR0 sits when a description does not say (where q35 firmware puts it).
pub const EDU_DEFAULT_BAR0: u64 = 0xFEA0_0000;
/// The smallest ivshmem shared memory a description may ask for.
pub const IVSHMEM_MIN_SIZE: u64 = PAGE_SIZE;
/// PCI device numbers 1..32 are free for devices (0 is the host bridge).
const MAX_PCI_DEVICES: usize = 31;

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

fn invalid(message: String) -> DescriptionError {
    DescriptionError::Invalid(message)
}

/// How the CPU sees the buses.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PersonalityKind {
    /// A PC: separate port space, bus memory addresses equal to CPU physical addresses.
    #[default]
    X86,
    /// Port space memory-mapped at `port_window`, bus memory at `+ memory_offset`.
    MemoryMappedPorts,
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
    /// How the CPU sees the buses.
    #[serde(default)]
    pub personality: PersonalityKind,
    /// Memory-mapped personality only: CPU physical address of port 0 (page-aligned).
    pub port_window: Option<u64>,
    /// Memory-mapped personality only: what is added to a bus memory address to get the CPU
    /// physical address (page-aligned).
    pub memory_offset: Option<u64>,
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
    /// The model.
    pub kind: DeviceKind,
    /// PCI devices: the bus address of BAR0, fixed instead of assigned by firmware. edu's
    /// BAR0 is at [`EDU_DEFAULT_BAR0`] when absent; other devices' BARs are assigned.
    pub bar0: Option<u64>,
    /// ivshmem: bytes of shared memory (BAR2), a power of two of at least 4 KiB; 4 MiB when
    /// absent.
    pub size: Option<u64>,
    /// ivshmem: the file that backs the shared memory; created if missing. When absent,
    /// `/dev/shm/iospace-ivshmem-<pid>-<n>`.
    pub path: Option<PathBuf>,
    /// uart: the first of its 8 ports; COM1 (0x3F8) when absent.
    pub port: Option<u16>,
}

impl DeviceDescription {
    /// A device of `kind` with every option at its default.
    pub fn new(kind: DeviceKind) -> Self {
        Self { kind, bar0: None, size: None, path: None, port: None }
    }

    /// The bus address BAR0 is fixed at, if any.
    pub fn fixed_bar0(&self) -> Option<u64> {
        match self.kind {
            DeviceKind::Edu => Some(self.bar0.unwrap_or(EDU_DEFAULT_BAR0)),
            _ => self.bar0,
        }
    }

    /// ivshmem's shared-memory size.
    pub fn shared_memory_size(&self) -> u64 {
        self.size.unwrap_or(IVSHMEM_DEFAULT_SHARED_MEMORY_SIZE)
    }

    /// The uart's first port.
    pub fn uart_port(&self) -> u16 {
        self.port.unwrap_or(COM1_PORT)
    }

    /// The BARs the device's model has, for firmware to place before the model exists.
    pub fn bars(&self) -> Vec<BarDescriptor> {
        let memory32 = BarKind::Memory32 { prefetchable: false };
        match self.kind {
            DeviceKind::Edu => vec![EDU_BAR0],
            DeviceKind::Ivshmem => vec![
                BarDescriptor {
                    index: IVSHMEM_REGISTER_BAR,
                    kind: memory32,
                    size: IVSHMEM_REGISTER_BAR_SIZE,
                },
                BarDescriptor {
                    index: IVSHMEM_SHARED_MEMORY_BAR,
                    kind: BarKind::Memory64 { prefetchable: true },
                    size: self.shared_memory_size(),
                },
            ],
            DeviceKind::PciTestdev => vec![
                BarDescriptor {
                    index: PCI_TESTDEV_MEMORY_BAR,
                    kind: memory32,
                    size: PCI_TESTDEV_MEMORY_BAR_SIZE,
                },
                BarDescriptor { index: PCI_TESTDEV_IO_BAR, kind: BarKind::Io, size: PCI_TESTDEV_IO_BAR_SIZE },
            ],
            DeviceKind::Uart => Vec::new(),
        }
    }
}

/// The device models a description can name.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// QEMU's `edu` educational device (PCI).
    Edu,
    /// QEMU's `ivshmem-plain` (PCI), its BAR2 backed by a shared file.
    Ivshmem,
    /// QEMU's `pci-testdev` (PCI).
    PciTestdev,
    /// A 16550A UART on port space.
    Uart,
}

impl DeviceKind {
    /// The name used in descriptions and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Edu => "edu",
            Self::Ivshmem => "ivshmem",
            Self::PciTestdev => "pci-testdev",
            Self::Uart => "uart",
        }
    }

    /// Whether the device sits on PCI (and takes a device number).
    pub const fn is_pci(self) -> bool {
        !matches!(self, Self::Uart)
    }
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
    /// QEMU q35 with 512 MiB of RAM, edu, ivshmem-plain (4 MiB), pci-testdev and COM1, as
    /// `qemu-system-x86_64 -machine q35 -device edu -device ivshmem-plain -device pci-testdev`.
    fn default() -> Self {
        Self {
            name: default_name(),
            ram_mib: default_ram_mib(),
            system_va_mib: default_system_va_mib(),
            huge_pages: true,
            personality: PersonalityKind::X86,
            port_window: None,
            memory_offset: None,
            devices: vec![
                DeviceDescription { bar0: Some(EDU_DEFAULT_BAR0), ..DeviceDescription::new(DeviceKind::Edu) },
                DeviceDescription::new(DeviceKind::Ivshmem),
                DeviceDescription::new(DeviceKind::PciTestdev),
                DeviceDescription::new(DeviceKind::Uart),
            ],
            verifier: VerifierDescription::default(),
        }
    }
}

/// A named CPU physical range of the memory map, for error messages.
#[derive(Clone, Copy, Debug)]
struct NamedRegion {
    name: &'static str,
    region: Region,
}

impl NamedRegion {
    fn new(name: &'static str, (start, bytes): (u64, u64), kind: RegionKind) -> Self {
        Self { name, region: Region { start: PhysicalAddress(start), bytes, kind } }
    }

    fn describe(&self) -> String {
        format!(
            "the {} {:#x}..{:#x}",
            self.name,
            self.region.start.0,
            self.region.start.0.saturating_add(self.region.bytes)
        )
    }
}

impl MachineDescription {
    /// Parses a TOML description.
    pub fn from_toml(text: &str) -> Result<Self, DescriptionError> {
        let description: Self = toml::from_str(text)?;
        description.validate()?;
        Ok(description)
    }

    /// Checks the values that serde cannot: sizes, the personality's fields, each device's
    /// options, the memory map, and that firmware can place every BAR.
    pub fn validate(&self) -> Result<(), DescriptionError> {
        if !(2..=64 * 1024).contains(&self.ram_mib) {
            return Err(invalid(format!("ram_mib = {} is outside 2..=65536", self.ram_mib)));
        }
        if !(1..=1 << 20).contains(&self.system_va_mib) {
            return Err(invalid(format!("system_va_mib = {} is outside 1..=1048576", self.system_va_mib)));
        }
        self.validate_personality()?;
        self.validate_devices()?;
        self.memory_map()?;
        self.bar_plan()?;
        Ok(())
    }

    fn validate_personality(&self) -> Result<(), DescriptionError> {
        match self.personality {
            PersonalityKind::X86 => {
                for (field, value) in
                    [("port_window", self.port_window), ("memory_offset", self.memory_offset)]
                {
                    if value.is_some_and(|value| value != 0 || field == "port_window") {
                        return Err(invalid(format!(
                            "{field} applies only to personality = \"memory-mapped-ports\" (x86 has a \
                             separate port space and no memory offset)"
                        )));
                    }
                }
            }
            PersonalityKind::MemoryMappedPorts => {
                for (field, value) in
                    [("port_window", self.port_window()), ("memory_offset", self.memory_offset())]
                {
                    if value % PAGE_SIZE != 0 {
                        return Err(invalid(format!("{field} = {value:#x} is not page-aligned")));
                    }
                }
                let window = self.port_window();
                if window.checked_add(PORT_SPACE_BYTES).is_none_or(|end| end > PHYSICAL_ADDRESS_LIMIT) {
                    return Err(invalid(format!("port_window = {window:#x} ends beyond 2^52")));
                }
                let offset = self.memory_offset();
                if (PCI_WINDOW_64.0 + PCI_WINDOW_64.1)
                    .checked_add(offset)
                    .is_none_or(|end| end > PHYSICAL_ADDRESS_LIMIT)
                {
                    return Err(invalid(format!(
                        "memory_offset = {offset:#x} puts the 64-bit PCI window beyond 2^52"
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_devices(&self) -> Result<(), DescriptionError> {
        let pci = self.devices.iter().filter(|device| device.kind.is_pci()).count();
        if pci > MAX_PCI_DEVICES {
            return Err(invalid(format!(
                "{pci} PCI devices do not fit on bus 0 (device numbers 1..=31 are free)"
            )));
        }
        let mut uarts: Vec<(u64, u64, usize)> = Vec::new();
        for (index, device) in self.devices.iter().enumerate() {
            let which = device_label(index, device);
            let misplaced = [
                ("bar0", device.bar0.is_some(), device.kind.is_pci()),
                ("size", device.size.is_some(), device.kind == DeviceKind::Ivshmem),
                ("path", device.path.is_some(), device.kind == DeviceKind::Ivshmem),
                ("port", device.port.is_some(), device.kind == DeviceKind::Uart),
            ];
            if let Some((field, _, _)) = misplaced.iter().find(|(_, given, applies)| *given && !applies) {
                return Err(invalid(format!(
                    "{which}: `{field}` does not apply to a {} device",
                    device.kind.name()
                )));
            }
            if device.kind == DeviceKind::Ivshmem {
                let size = device.shared_memory_size();
                if !size.is_power_of_two() || size < IVSHMEM_MIN_SIZE {
                    return Err(invalid(format!(
                        "{which}: size = {size:#x} is not a power of two of at least 4 KiB"
                    )));
                }
            }
            if device.kind == DeviceKind::Uart {
                let start = u64::from(device.uart_port());
                let end = start + u64::from(UART_PORT_COUNT);
                if end > PORT_SPACE_BYTES {
                    return Err(invalid(format!(
                        "{which}: ports {start:#x}..{end:#x} pass the end of port space"
                    )));
                }
                for (name, (first, count)) in
                    [("PCI configuration ports", CONFIG_PORTS), ("PCI I/O window", PCI_IO_WINDOW)]
                {
                    if start < first + count && first < end {
                        return Err(invalid(format!(
                            "{which}: ports {start:#x}..{end:#x} overlap the {name} {first:#x}..{:#x}",
                            first + count
                        )));
                    }
                }
                if let Some(&(other_start, _, other)) =
                    uarts.iter().find(|(other_start, other_end, _)| start < *other_end && *other_start < end)
                {
                    return Err(invalid(format!(
                        "{which}: ports {start:#x}..{end:#x} overlap those of {} at {other_start:#x}",
                        device_label(other, &self.devices[other])
                    )));
                }
                uarts.push((start, end, index));
            }
        }
        Ok(())
    }

    /// The personality, with the defaults filled in.
    pub fn hal_personality(&self) -> Personality {
        match self.personality {
            PersonalityKind::X86 => Personality::X86,
            PersonalityKind::MemoryMappedPorts => Personality::MemoryMappedPorts {
                port_window_cpu_base: self.port_window(),
                memory_offset: self.memory_offset(),
            },
        }
    }

    /// What is added to a bus memory address to get the CPU physical address: 0 on x86.
    pub fn memory_offset(&self) -> u64 {
        match self.personality {
            PersonalityKind::X86 => 0,
            PersonalityKind::MemoryMappedPorts => self.memory_offset.unwrap_or(DEFAULT_MEMORY_OFFSET),
        }
    }

    /// CPU physical address of port 0 on the memory-mapped personality; `None` on x86, where
    /// ports are not memory.
    pub fn port_window_base(&self) -> Option<u64> {
        (self.personality == PersonalityKind::MemoryMappedPorts).then(|| self.port_window())
    }

    fn port_window(&self) -> u64 {
        self.port_window.unwrap_or(DEFAULT_PORT_WINDOW)
    }

    /// The translator of the machine's buses (bus 0 of Internal, ISA and PCI): on x86 every
    /// bus memory address is the CPU physical address and ports stay ports; on the
    /// memory-mapped personality the two PCI memory windows move by `memory_offset` and ports
    /// become memory at the port window.
    pub fn translator(&self) -> Result<BusTranslator, DescriptionError> {
        let windows = match self.personality {
            PersonalityKind::X86 => vec![BusRange { start: BusAddress(0), length: PHYSICAL_ADDRESS_LIMIT }],
            PersonalityKind::MemoryMappedPorts => [PCI_WINDOW_32, PCI_WINDOW_64]
                .into_iter()
                .map(|(start, length)| BusRange { start: BusAddress(start), length })
                .collect(),
        };
        self.hal_personality()
            .translator(&windows)
            .map_err(|error| invalid(format!("bus translation: {error}")))
    }

    fn named_regions(&self) -> Vec<NamedRegion> {
        let ram = self.ram_mib << 20;
        let low = ram.min(Q35_LOW_RAM_LIMIT);
        let offset = self.memory_offset();
        let shifted = |(start, bytes): (u64, u64)| (start + offset, bytes);
        let mut regions = vec![
            NamedRegion::new("low RAM", (0, LEGACY_HOLE.0), RegionKind::Ram),
            NamedRegion::new(
                "legacy VGA and BIOS hole",
                (LEGACY_HOLE.0, LEGACY_HOLE.1 - LEGACY_HOLE.0),
                RegionKind::Reserved,
            ),
            NamedRegion::new("RAM below 2 GiB", (LEGACY_HOLE.1, low - LEGACY_HOLE.1), RegionKind::Ram),
            NamedRegion::new("PCI ECAM", ECAM, RegionKind::Reserved),
            NamedRegion::new("32-bit PCI memory window", shifted(PCI_WINDOW_32), RegionKind::Device),
            NamedRegion::new("IOAPIC, HPET and local APIC", PLATFORM_DEVICES, RegionKind::Device),
            NamedRegion::new("firmware flash", FIRMWARE, RegionKind::Reserved),
            NamedRegion::new("64-bit PCI memory window", shifted(PCI_WINDOW_64), RegionKind::Device),
        ];
        if ram > low {
            regions.push(NamedRegion::new("RAM above 4 GiB", (HIGH_RAM_BASE, ram - low), RegionKind::Ram));
        }
        if let Some(base) = self.port_window_base() {
            regions.push(NamedRegion::new("port window", (base, PORT_SPACE_BYTES), RegionKind::Device));
        }
        regions
    }

    /// The physical memory map, q35 style: low RAM up to 2 GiB, the rest above 4 GiB, the PCI
    /// windows as device memory (at `+ memory_offset`), the port window as device memory on
    /// the memory-mapped personality, firmware ranges reserved.
    pub fn memory_map(&self) -> Result<MemoryMap, DescriptionError> {
        let mut regions = self.named_regions();
        regions.sort_by_key(|named| named.region.start);
        if let Some(pair) = regions.windows(2).find(|pair| pair[0].region.end() > pair[1].region.start.0) {
            return Err(invalid(format!("{} overlaps {}", pair[1].describe(), pair[0].describe())));
        }
        Ok(MemoryMap::new(regions.into_iter().map(|named| named.region).collect())?)
    }

    /// The PCI devices in device-number order (from 1), with the BARs their models have.
    pub(crate) fn pci_devices(&self) -> Vec<PciDeviceBars> {
        self.devices
            .iter()
            .enumerate()
            .filter(|(_, device)| device.kind.is_pci())
            .map(|(index, device)| PciDeviceBars {
                label: device_label(index, device),
                bars: device.bars(),
                fixed_bar0: device.fixed_bar0(),
            })
            .collect()
    }

    /// Where firmware puts every BAR, or why it cannot.
    pub(crate) fn bar_plan(&self) -> Result<Vec<Vec<(u8, u64)>>, DescriptionError> {
        firmware::assign(&self.pci_devices())
    }
}

/// How errors name the `index`-th `[[device]]` table.
pub(crate) fn device_label(index: usize, device: &DeviceDescription) -> String {
    format!("[[device]] {} ({})", index + 1, device.kind.name())
}
