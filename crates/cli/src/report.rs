//! The report `iospace run` prints: the machine, its memory map, the Plug and Play session
//! (raw beside translated resources, the drivers' mappings, what each driver did), the
//! memory-manager tour's mappings and checks, and the verifier's verdict; as text or JSON.

use std::fmt;

use iospace_drivers::session::{ResourceRow, SessionReport};
use iospace_hosted::Machine;
use iospace_hosted::description::{MachineDescription, PersonalityKind};
use iospace_mm::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE};
use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::contiguous::ContiguousAllocation;
use iospace_mm::io_space::IoMappingRecord;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::memory_map::Region;
use iospace_mm::reserved_mapping::Reservation;
use serde_json::{Value, json};

/// One check and its outcome.
#[derive(Debug)]
pub struct Check {
    name: String,
    passed: bool,
    detail: String,
}

impl Check {
    /// A check named `name` with what was observed.
    pub fn new(name: &str, passed: bool, detail: String) -> Self {
        Self { name: name.into(), passed, detail }
    }
}

/// One live mapping, as the report shows it.
#[derive(Debug)]
pub struct MappingLine {
    kind: &'static str,
    address: VirtualAddress,
    physical: Option<PhysicalAddress>,
    bytes: u64,
    cache: Option<CachePolicy>,
    rights: String,
    pages: String,
}

impl From<&IoMappingRecord> for MappingLine {
    fn from(record: &IoMappingRecord) -> Self {
        let leaves = record.leaves;
        let mut pages = Vec::new();
        for (count, bytes) in
            [(leaves.huge, HUGE_PAGE_SIZE), (leaves.large, LARGE_PAGE_SIZE), (leaves.small, PAGE_SIZE)]
        {
            if count > 0 {
                pages.push(format!("{count} x {}", size(bytes)));
            }
        }
        let protection = record.protection;
        Self {
            kind: "io space",
            address: record.address,
            physical: Some(record.physical),
            bytes: record.bytes,
            cache: Some(protection.cache),
            rights: rights(protection.writable, protection.executable),
            pages: pages.join(" + "),
        }
    }
}

impl MappingLine {
    /// A reservation and whatever is mapped in it now.
    pub fn reserved(mm: &MemoryManager, reservation: &Reservation) -> Self {
        let leaf = mm.translate(reservation.base);
        Self {
            kind: "reserved",
            address: reservation.base,
            physical: leaf.map(|leaf| leaf.physical),
            bytes: reservation.pages * PAGE_SIZE,
            cache: leaf.map(|leaf| leaf.attributes.cache),
            rights: leaf
                .map_or("---".into(), |leaf| rights(leaf.attributes.writable, leaf.attributes.executable)),
            pages: format!("{} of {} x 4 KiB mapped", reservation.mapped_pages, reservation.pages),
        }
    }

    /// A contiguous or non-cached allocation.
    pub fn contiguous(mm: &MemoryManager, allocation: &ContiguousAllocation) -> Self {
        let leaf = mm.translate(allocation.address);
        Self {
            kind: "contiguous",
            address: allocation.address,
            physical: allocation.physical,
            bytes: allocation.bytes,
            cache: Some(allocation.cache),
            rights: leaf
                .map_or("---".into(), |leaf| rights(leaf.attributes.writable, leaf.attributes.executable)),
            pages: format!("{} x 4 KiB", allocation.pages),
        }
    }
}

fn rights(writable: bool, executable: bool) -> String {
    format!("r{}{}", if writable { "w" } else { "-" }, if executable { "x" } else { "-" })
}

/// Everything `run` observed.
#[derive(Debug)]
pub struct Report {
    machine: String,
    personality: String,
    regions: Vec<Region>,
    /// The Plug and Play session.
    pub session: SessionReport,
    /// Mappings live at the peak of the run.
    pub mappings: Vec<MappingLine>,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
    /// Mappings still live at the end.
    pub outstanding: usize,
}

impl Report {
    /// An empty report about `machine`.
    pub fn new(machine: &Machine) -> Self {
        let description = machine.description();
        let mm = machine.mm();
        Self {
            machine: format!(
                "hosted machine \"{}\": {} of RAM, {} system VA window at {}",
                description.name,
                size(mm.memory_map().ram_bytes()),
                size(mm.system_va().total_pages() * PAGE_SIZE),
                mm.system_va().base(),
            ),
            personality: personality_name(description),
            regions: mm.memory_map().regions().to_vec(),
            session: SessionReport::default(),
            mappings: Vec::new(),
            checks: Vec::new(),
            outstanding: 0,
        }
    }

    /// Whether the session passed, every check passed and nothing was left mapped.
    pub fn passed(&self) -> bool {
        self.session.passed() && self.checks.iter().all(|check| check.passed) && self.outstanding == 0
    }

    /// The report as one JSON object, with the same content as the text.
    pub fn to_json(&self) -> Value {
        let session = &self.session;
        json!({
            "machine": self.machine,
            "personality": self.personality,
            "memory_map": self.regions.iter().map(|region| json!({
                "start": region.start.0,
                "bytes": region.bytes,
                "kind": region.kind.name(),
            })).collect::<Vec<_>>(),
            "devices": session.devices.iter().map(|device| json!({
                "name": device.name,
                "location": device.location,
                "driven": device.driven,
                "passed": device.passed(),
                "state": device.state,
                "resources": resource_rows(&device.resources),
                "rebalanced": resource_rows(&device.rebalanced),
                "steps": device.steps.iter().map(|step| json!({
                    "action": step.action,
                    "passed": step.passed,
                    "detail": step.detail,
                })).collect::<Vec<_>>(),
                "irps": device.irps,
                "errors": device.errors,
            })).collect::<Vec<_>>(),
            "driver_mappings": session.mappings.iter().map(|row| json!({
                "device": row.device,
                "address": row.address.0,
                "physical": row.physical.0,
                "bytes": row.bytes,
                "cache": row.cache.name(),
                "leaves": row.leaves,
                "created_at": row.created_at,
            })).collect::<Vec<_>>(),
            "tour_mappings": self.mappings.iter().map(|line| json!({
                "kind": line.kind,
                "address": line.address.0,
                "physical": line.physical.map(|physical| physical.0),
                "bytes": line.bytes,
                "cache": line.cache.map(CachePolicy::name),
                "rights": line.rights,
                "pages": line.pages,
            })).collect::<Vec<_>>(),
            "checks": self.checks.iter().map(|check| json!({
                "name": check.name,
                "passed": check.passed,
                "detail": check.detail,
            })).collect::<Vec<_>>(),
            "verifier": {
                "diagnostics": session.verifier,
                "left_after_session": session.leftovers,
                "left_after_tour": self.outstanding,
                "errors": session.errors,
            },
            "passed": self.passed(),
        })
    }
}

/// The personality as the description names it.
fn personality_name(description: &MachineDescription) -> String {
    match description.personality {
        PersonalityKind::X86 => "x86".into(),
        PersonalityKind::MemoryMappedPorts => format!(
            "memory-mapped-ports: ports at CPU {:#x}, bus memory + {:#x}",
            description.port_window_base().unwrap_or_default(),
            description.memory_offset()
        ),
    }
}

fn resource_rows(rows: &[ResourceRow]) -> Vec<Value> {
    rows.iter().map(|row| json!({"raw": row.raw, "translated": row.translated})).collect()
}

/// Bytes in the largest binary unit that is at least one, with a decimal when not whole.
fn size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale {
            return if bytes % scale == 0 {
                format!("{} {unit}", bytes / scale)
            } else {
                format!("{:.1} {unit}", bytes as f64 / scale as f64)
            };
        }
    }
    format!("{bytes} B")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "iospace run: {}", self.machine)?;
        writeln!(f, "\nPhysical memory map")?;
        for region in &self.regions {
            writeln!(
                f,
                "  {:#014x}..{:#014x}  {:<8}  {:>9}",
                region.start.0,
                region.end(),
                region.kind.name(),
                size(region.bytes)
            )?;
        }
        writeln!(f, "\nPlug and Play session (personality: {})", self.personality)?;
        write!(f, "{}", self.session)?;
        writeln!(f, "\nMemory-manager tour: mappings")?;
        writeln!(
            f,
            "  {:<10} {:<16} {:<14} {:>9}  {:<5} {:<3}  pages",
            "kind", "VA", "PA", "size", "cache", "rwx"
        )?;
        for line in &self.mappings {
            writeln!(
                f,
                "  {:<10} {:<16} {:<14} {:>9}  {:<5} {:<3}  {}",
                line.kind,
                line.address.to_string(),
                line.physical.map_or("-".into(), |physical| physical.to_string()),
                size(line.bytes),
                line.cache.map_or("-", CachePolicy::name),
                line.rights,
                line.pages,
            )?;
        }
        writeln!(f, "\nMemory-manager tour: checks")?;
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark} {:<58} {}", check.name, check.detail)?;
        }
        let failed = self.checks.iter().filter(|check| !check.passed).count();
        writeln!(f, "\nVerifier")?;
        let session = &self.session;
        let devices_failed = session.devices.iter().filter(|device| !device.passed()).count();
        writeln!(f, "  devices that failed: {devices_failed}")?;
        writeln!(f, "  diagnostics: {}", session.verifier.len())?;
        writeln!(f, "  left after the drivers were removed: {}", session.leftovers)?;
        writeln!(f, "  left after the tour: {}", self.outstanding)?;
        if self.passed() {
            writeln!(f, "  verdict: PASS ({} devices, {} checks)", session.devices.len(), self.checks.len())
        } else {
            writeln!(
                f,
                "  verdict: FAIL ({devices_failed} devices and {failed} of {} checks failed)",
                self.checks.len()
            )
        }
    }
}
