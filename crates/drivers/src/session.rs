//! The whole Plug and Play flow on one machine, as an OS runs it: enumerate the bus, ask each
//! device what it needs, arbitrate, program the BARs, translate, start every driver, let them
//! work, rebalance one device onto new resources, remove everything, and check that nothing is
//! left mapped, locked, reserved or allocated.
//!
//! The machine is described by a [`Hardware`]: its memory manager and device access, PCI
//! configuration space, the HAL's bus translation, the windows its host bridge decodes, and
//! its legacy devices (which have fixed resources and are not on PCI). The hosted machine and
//! the metal kernel both build one, so both print the same [`SessionReport`].

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use iospace_hal::access::IoAccess;
use iospace_hal::address::InterfaceType;
use iospace_hal::config::PciConfigAccess;
use iospace_hal::translation::BusTranslator;
use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::memory_manager::MemoryManager;
use iospace_pnp::arbiter::{AddressSpace, Arbiter, Window};
use iospace_pnp::hal_translator::HalTranslator;
use iospace_pnp::pci_enumeration::{self, PciDevice};
use iospace_pnp::pnp_manager::{DeviceId, PnpManager};
use iospace_pnp::resource::{RawResourceList, Resource};
use iospace_pnp::translation::ResourcePair;

use crate::catalog::DeviceKind;
use crate::journal::{Journal, Step};
use crate::{resource_text, run_report};

/// A device that is not on an enumerable bus: its resources are fixed.
#[derive(Clone, Debug)]
pub struct LegacyDevice {
    /// What it is.
    pub kind: DeviceKind,
    /// The bus its resources are relative to (a COM port: ISA).
    pub interface: InterfaceType,
    /// Its resources.
    pub resources: RawResourceList,
}

/// What the session needs from a machine.
pub struct Hardware<'a> {
    /// The memory manager.
    pub mm: &'a MemoryManager,
    /// Register and port access.
    pub io: &'a dyn IoAccess,
    /// PCI configuration space.
    pub config: &'a dyn PciConfigAccess,
    /// The HAL's bus translation.
    pub translator: &'a BusTranslator,
    /// What the PCI host bridge decodes, bus-relative.
    pub windows: Vec<Window>,
    /// Devices with fixed resources.
    pub legacy: Vec<LegacyDevice>,
    /// The device moved to new resources once everything is started.
    pub rebalance: Option<DeviceKind>,
}

impl<'a> Hardware<'a> {
    /// A machine with these parts, no legacy devices, and no rebalance.
    pub fn new(
        mm: &'a MemoryManager,
        io: &'a dyn IoAccess,
        config: &'a dyn PciConfigAccess,
        translator: &'a BusTranslator,
        windows: Vec<Window>,
    ) -> Self {
        Self { mm, io, config, translator, windows, legacy: Vec::new(), rebalance: None }
    }

    /// Adds a device of `kind` with fixed `resources` on bus `interface`.
    pub fn with_legacy(
        mut self,
        kind: DeviceKind,
        interface: InterfaceType,
        resources: RawResourceList,
    ) -> Self {
        self.legacy.push(LegacyDevice { kind, interface, resources });
        self
    }

    /// Moves the device of `kind` to new resources once everything is started.
    pub fn rebalancing(mut self, kind: DeviceKind) -> Self {
        self.rebalance = Some(kind);
        self
    }
}

impl fmt::Debug for Hardware<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hardware")
            .field("windows", &self.windows)
            .field("legacy", &self.legacy)
            .field("rebalance", &self.rebalance)
            .finish_non_exhaustive()
    }
}

/// One resource, raw beside translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRow {
    /// The raw (bus-relative) resource.
    pub raw: String,
    /// The translated (CPU) resource.
    pub translated: String,
}

/// What happened to one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceReport {
    /// The device's name (`edu`, or `1234:5678` for a device without a driver here).
    pub name: String,
    /// Where it is: `PCI 00:01.0`, `ISA`.
    pub location: String,
    /// Whether a driver here serves it.
    pub driven: bool,
    /// The resources it was started with.
    pub resources: Vec<ResourceRow>,
    /// The resources it was moved to by the rebalance (empty if it was not moved).
    pub rebalanced: Vec<ResourceRow>,
    /// What its driver did.
    pub steps: Vec<Step>,
    /// The PnP IRPs it was sent, with their status.
    pub irps: Vec<String>,
    /// Its state at the end.
    pub state: String,
    /// What went wrong outside the driver (arbitration, translation, PnP errors).
    pub errors: Vec<String>,
}

impl DeviceReport {
    /// Whether the device went through the flow without a failure.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.steps.iter().all(|step| step.passed)
    }
}

/// One I/O-space mapping live while every device was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingRow {
    /// The device whose driver made it.
    pub device: String,
    /// The address returned.
    pub address: VirtualAddress,
    /// The physical address mapped.
    pub physical: PhysicalAddress,
    /// Bytes.
    pub bytes: u64,
    /// Caching type.
    pub cache: CachePolicy,
    /// Page-table leaves written: `256 x 4 KiB`, `2 x 2 MiB`.
    pub leaves: String,
    /// The driver's line that made it.
    pub created_at: String,
}

/// Everything the session observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// Every function found, then the legacy devices.
    pub devices: Vec<DeviceReport>,
    /// The I/O-space mappings while every device was started.
    pub mappings: Vec<MappingRow>,
    /// Mappings, reservations, locked MDLs and allocations left at the end.
    pub leftovers: usize,
    /// The verifier's diagnostics.
    pub verifier: Vec<String>,
    /// Failures that are nobody's device's (the PnP manager could not be built).
    pub errors: Vec<String>,
}

impl SessionReport {
    /// Whether every driver did its work, nothing was left behind and the verifier is quiet.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self.leftovers == 0
            && self.verifier.is_empty()
            && self.devices.iter().filter(|device| device.driven).count() > 0
            && self.devices.iter().all(DeviceReport::passed)
    }
}

/// A device the session drives.
struct Driven {
    report: usize,
    kind: DeviceKind,
    journal: Journal,
    pci: Option<PciDevice>,
    interface: InterfaceType,
    bus: u32,
    raw: Option<RawResourceList>,
    id: Option<DeviceId>,
}

fn rows(pair: &ResourcePair) -> Vec<ResourceRow> {
    pair.iter()
        .map(|(raw, translated)| ResourceRow {
            raw: resource_text::raw(&raw.resource),
            translated: resource_text::translated(&translated.resource),
        })
        .collect()
}

fn space_of(resource: &Resource<iospace_pnp::resource::Raw>) -> Option<(AddressSpace, u64, u64)> {
    match resource {
        Resource::Memory { start, length, .. } => Some((AddressSpace::Memory, start.0, length.bytes())),
        Resource::Port { start, length, .. } => Some((AddressSpace::Port, start.0, u64::from(*length))),
        _ => None,
    }
}

/// Marks `resources` as taken in `arbiter`; the error names the first that was not free.
fn reserve(arbiter: &mut Arbiter, resources: &RawResourceList) -> Result<(), String> {
    for entry in resources.iter() {
        if let Some((space, start, length)) = space_of(&entry.resource) {
            arbiter
                .reserve(space, iospace_pnp::resource::BusAddress(start), length)
                .map_err(|error| format!("{} is not free: {error}", resource_text::raw(&entry.resource)))?;
        }
    }
    Ok(())
}

/// Arbitrates, programs and translates a PCI function's resources.
fn assign_pci(
    hardware: &Hardware<'_>,
    arbiter: &mut Arbiter,
    device: &mut PciDevice,
) -> Result<RawResourceList, String> {
    let requirements = device.requirements().map_err(|error| format!("requirements: {error}"))?;
    let raw = arbiter.assign(&requirements).map_err(|error| format!("arbitration: {error}"))?;
    if let Err(error) = device.program(hardware.config, &raw) {
        let _ = arbiter.release(&raw);
        return Err(format!("programming the BARs: {error}"));
    }
    Ok(raw)
}

fn translate(
    hardware: &Hardware<'_>,
    interface: InterfaceType,
    bus: u32,
    raw: RawResourceList,
) -> Result<ResourcePair, String> {
    ResourcePair::translate(raw, &HalTranslator::new(hardware.translator, interface, bus))
        .map_err(|error| format!("translation: {error}"))
}

/// Runs the whole flow on `hardware`.
pub fn run(hardware: &Hardware<'_>) -> SessionReport {
    let mut report = SessionReport::default();
    let mut arbiter = Arbiter::new(hardware.windows.iter().copied());
    let mut driven = Vec::new();

    // Enumerate: legacy devices first, since their resources are fixed; then PCI.
    for legacy in &hardware.legacy {
        let index = report.devices.len();
        let mut device = DeviceReport {
            name: legacy.kind.name().into(),
            location: format!("{:?}", legacy.interface),
            driven: true,
            ..DeviceReport::default()
        };
        let raw = match reserve(&mut arbiter, &legacy.resources) {
            Ok(()) => Some(legacy.resources.clone()),
            Err(error) => {
                device.errors.push(error);
                None
            }
        };
        report.devices.push(device);
        driven.push(Driven {
            report: index,
            kind: legacy.kind,
            journal: Journal::new(),
            pci: None,
            interface: legacy.interface,
            bus: 0,
            raw,
            id: None,
        });
    }
    let functions = pci_enumeration::scan(hardware.config);
    // Functions without a driver here keep what the firmware gave them.
    for function in &functions {
        if DeviceKind::for_pci(function.vendor_id, function.device_id).is_none() {
            let mut device = DeviceReport {
                name: format!("{:04x}:{:04x}", function.vendor_id, function.device_id),
                location: format!("PCI {:02x}:{}", function.bus, function.slot),
                state: "no driver".into(),
                ..DeviceReport::default()
            };
            if let Err(error) = reserve(&mut arbiter, &function.current_resources()) {
                device.errors.push(error);
            }
            report.devices.push(device);
        }
    }
    for mut function in functions {
        let Some(kind) = DeviceKind::for_pci(function.vendor_id, function.device_id) else { continue };
        let index = report.devices.len();
        let mut device = DeviceReport {
            name: kind.name().into(),
            location: format!("PCI {:02x}:{}", function.bus, function.slot),
            driven: true,
            ..DeviceReport::default()
        };
        let raw = match assign_pci(hardware, &mut arbiter, &mut function) {
            Ok(raw) => Some(raw),
            Err(error) => {
                device.errors.push(error);
                None
            }
        };
        report.devices.push(device);
        let bus = function.bus;
        driven.push(Driven {
            report: index,
            kind,
            journal: Journal::new(),
            pci: Some(function),
            interface: InterfaceType::PciBus,
            bus,
            raw,
            id: None,
        });
    }

    let mut pnp = match PnpManager::new(hardware.mm, hardware.io) {
        Ok(pnp) => pnp,
        Err(error) => {
            report.errors.push(error.to_string());
            return report;
        }
    };

    // Start every device that got its resources.
    for device in &mut driven {
        let Some(raw) = device.raw.clone() else { continue };
        let pair = match translate(hardware, device.interface, device.bus, raw) {
            Ok(pair) => pair,
            Err(error) => {
                report.devices[device.report].errors.push(error);
                continue;
            }
        };
        report.devices[device.report].resources = rows(&pair);
        let id = pnp.add_device(device.kind.name(), device.kind.driver(device.journal.clone()));
        device.id = Some(id);
        if let Err(error) = pnp.start(id, pair) {
            report.devices[device.report].errors.push(format!("start: {error}"));
        }
    }

    report.mappings = live_mappings(hardware.mm, &pnp, &driven, &report);

    if let Some(kind) = hardware.rebalance {
        if let Some(device) = driven.iter_mut().find(|device| device.kind == kind) {
            let outcome = rebalance(hardware, &mut arbiter, &mut pnp, device);
            let entry = &mut report.devices[device.report];
            match outcome {
                Ok(pair) => entry.rebalanced = rows(&pair),
                Err(error) => entry.errors.push(format!("rebalance: {error}")),
            }
        }
    }

    // Remove everything, as at shutdown.
    for device in &driven {
        let Some(id) = device.id else { continue };
        if let Err(error) = pnp.remove(id) {
            report.devices[device.report].errors.push(format!("remove: {error}"));
        }
    }

    for device in &driven {
        let entry = &mut report.devices[device.report];
        entry.steps = device.journal.steps();
        if let Some(id) = device.id {
            entry.irps =
                pnp.log(id).map(|log| log.iter().map(ToString::to_string).collect()).unwrap_or_default();
            entry.state = pnp.state(id).map(|state| state.to_string()).unwrap_or_default();
        } else {
            entry.state = "not started".into();
        }
    }
    let mm = hardware.mm;
    report.leftovers = run_report::left_behind(mm);
    report.verifier = mm.verifier_log().entries().iter().map(ToString::to_string).collect();
    report
}

/// Moves a started device to new resources: QUERY_STOP, STOP, new BARs, START.
fn rebalance(
    hardware: &Hardware<'_>,
    arbiter: &mut Arbiter,
    pnp: &mut PnpManager<'_>,
    device: &mut Driven,
) -> Result<ResourcePair, String> {
    let (Some(id), Some(function), Some(old)) = (device.id, device.pci.as_mut(), device.raw.clone()) else {
        return Err("only a started PCI device can be rebalanced".into());
    };
    pnp.query_stop(id).map_err(|error| error.to_string())?;
    pnp.stop(id).map_err(|error| error.to_string())?;
    // The old assignment is still held, so the preferred placement (where the BARs are now)
    // is taken and the arbiter picks somewhere else.
    let new = assign_pci(hardware, arbiter, function)?;
    let _ = arbiter.release(&old);
    device.raw = Some(new.clone());
    let pair = translate(hardware, device.interface, device.bus, new)?;
    device.journal.note("rebalance", "stopped, BARs reprogrammed, restarted on the new resources");
    pnp.start(id, pair.clone()).map_err(|error| error.to_string())?;
    Ok(pair)
}

fn live_mappings(
    mm: &MemoryManager,
    pnp: &PnpManager<'_>,
    driven: &[Driven],
    report: &SessionReport,
) -> Vec<MappingRow> {
    let owner_name = |owner| {
        driven
            .iter()
            .find(|device| device.id.and_then(|id| pnp.owner(id).ok()) == Some(owner))
            .map_or_else(|| "-".into(), |device| report.devices[device.report].name.clone())
    };
    let mut rows: Vec<MappingRow> = mm
        .io_mappings()
        .into_iter()
        .map(|record| MappingRow {
            device: owner_name(record.owner),
            address: record.address,
            physical: record.physical,
            bytes: record.bytes,
            cache: record.protection.cache,
            leaves: run_report::leaves_text(record.leaves),
            created_at: format!("{}:{}", record.location.file(), record.location.line()),
        })
        .collect();
    rows.sort_by_key(|row| row.address);
    rows
}

impl fmt::Display for SessionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Devices")?;
        for device in &self.devices {
            let verdict = match (device.driven, device.passed()) {
                (false, true) => "no driver",
                (_, true) => "ok",
                (_, false) => "FAILED",
            };
            writeln!(
                f,
                "  {} at {} [{}], final state {}",
                device.name, device.location, verdict, device.state
            )?;
            if !device.resources.is_empty() {
                writeln!(f, "    {:<36} translated (CPU)", "raw (bus-relative)")?;
                for row in &device.resources {
                    writeln!(f, "    {:<36} {}", row.raw, row.translated)?;
                }
            }
            if !device.rebalanced.is_empty() {
                writeln!(f, "    rebalanced to:")?;
                for row in &device.rebalanced {
                    writeln!(f, "    {:<36} {}", row.raw, row.translated)?;
                }
            }
            for step in &device.steps {
                let mark = if step.passed { "ok  " } else { "FAIL" };
                writeln!(f, "    [{mark}] {}: {}", step.action, step.detail)?;
            }
            if !device.irps.is_empty() {
                writeln!(f, "    IRPs: {}", device.irps.join(", "))?;
            }
            for error in &device.errors {
                writeln!(f, "    error: {error}")?;
            }
        }
        writeln!(f, "I/O-space mappings while every device was started")?;
        for row in &self.mappings {
            writeln!(
                f,
                "  {:<12} {} -> {} {:>#10x} bytes {:<15} {:<12} by {}",
                row.device,
                row.address,
                row.physical,
                row.bytes,
                alloc::format!("{}", row.cache),
                row.leaves,
                row.created_at
            )?;
        }
        for error in &self.errors {
            writeln!(f, "error: {error}")?;
        }
        for diagnostic in &self.verifier {
            writeln!(f, "verifier: {diagnostic}")?;
        }
        writeln!(f, "Left behind after removal: {}", self.leftovers)?;
        Ok(())
    }
}
