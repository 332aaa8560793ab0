//! The report the kernel prints on the console, in the layout of `iospace run`'s: the machine,
//! its memory map, the Plug and Play session of the reference drivers, the memory-manager tour
//! (here: the self-tests on the real page tables) with its mappings and checks, and the verdict.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use iospace_drivers::session::SessionReport;
use iospace_mm::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::contiguous::ContiguousAllocation;
use iospace_mm::io_space::IoMappingRecord;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::memory_map::Region;

use crate::machine::Machine;

/// One check and its outcome.
#[derive(Debug)]
pub struct Check {
    name: String,
    passed: bool,
    detail: String,
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

fn rights(writable: bool, executable: bool) -> String {
    format!("r{}{}", if writable { "w" } else { "-" }, if executable { "x" } else { "-" })
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
        Self {
            kind: "io space",
            address: record.address,
            physical: Some(record.physical),
            bytes: record.bytes,
            cache: Some(record.protection.cache),
            rights: rights(record.protection.writable, record.protection.executable),
            pages: pages.join(" + "),
        }
    }
}

impl MappingLine {
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

/// Everything the kernel observed.
#[derive(Debug)]
pub struct Report {
    machine: String,
    regions: Vec<Region>,
    /// The Plug and Play session: the reference drivers on this machine's devices.
    pub session: SessionReport,
    mappings: Vec<MappingLine>,
    checks: Vec<Check>,
    outstanding: usize,
}

impl Report {
    /// An empty report about `machine`.
    pub fn new(machine: &Machine) -> Self {
        let mm = &machine.mm;
        Self {
            machine: format!(
                "metal machine \"q35\" (PVH boot, real page tables): {} of RAM, {} system VA window at {}",
                size(mm.memory_map().ram_bytes()),
                size(mm.system_va().total_pages() * PAGE_SIZE),
                mm.system_va().base(),
            ),
            regions: mm.memory_map().regions().to_vec(),
            session: SessionReport::default(),
            mappings: Vec::new(),
            checks: Vec::new(),
            outstanding: 0,
        }
    }

    /// Records a check named `name` with what was observed.
    pub fn check(&mut self, name: &str, passed: bool, detail: String) {
        self.checks.push(Check { name: name.into(), passed, detail });
    }

    /// Adds the mappings live now to those the report shows (call while a device is mapped);
    /// each is shown once, however often it is seen.
    pub fn capture_mappings(&mut self, mm: &MemoryManager) {
        let mut lines: Vec<MappingLine> = mm.io_mappings().iter().map(MappingLine::from).collect();
        lines.extend(
            mm.contiguous_allocations().iter().map(|allocation| MappingLine::contiguous(mm, allocation)),
        );
        for line in lines {
            let key = |line: &MappingLine| (line.kind, line.address, line.physical, line.bytes);
            if !self.mappings.iter().any(|known| key(known) == key(&line)) {
                self.mappings.push(line);
            }
        }
    }

    /// Counts what is still mapped, reserved or allocated, as the verifier does after stop.
    pub fn finish(&mut self, mm: &MemoryManager) {
        let outstanding = mm.io_mappings().len()
            + mm.mdl_mappings().list().len()
            + mm.reservations().list().len()
            + mm.contiguous_allocations().len();
        self.check(
            "every mapping, reservation and allocation released",
            outstanding == 0,
            format!("{outstanding} outstanding"),
        );
        self.outstanding = outstanding;
    }

    /// Whether every driver did its work, every check passed and nothing was left mapped.
    pub fn passed(&self) -> bool {
        self.session.passed() && self.checks.iter().all(|check| check.passed) && self.outstanding == 0
    }
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
        writeln!(f, "\nPlug and Play session (personality: x86)")?;
        write!(f, "{}", self.session)?;
        writeln!(f, "\nMemory-manager tour: mappings")?;
        writeln!(
            f,
            "  {:<10} {:<18} {:<14} {:>9}  {:<5} {:<3}  pages",
            "kind", "VA", "PA", "size", "cache", "rwx"
        )?;
        for line in &self.mappings {
            writeln!(
                f,
                "  {:<10} {:<18} {:<14} {:>9}  {:<5} {:<3}  {}",
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
