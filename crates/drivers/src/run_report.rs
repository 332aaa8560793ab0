//! The report of a run, the same on every platform: the machine, its memory map, the Plug and
//! Play [`session`](crate::session), the memory manager's own mappings and checks, and the
//! verdict. `iospace run` prints it on the hosted machine, the kernel on its console.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use iospace_mm::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::contiguous::ContiguousAllocation;
use iospace_mm::io_space::{IoMappingRecord, LeafCounts};
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::memory_map::Region;
use iospace_mm::reserved_mapping::Reservation;

use crate::session::SessionReport;

/// One check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

/// One live mapping, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingLine {
    /// `io space`, `reserved` or `contiguous`.
    pub kind: &'static str,
    /// Its virtual address.
    pub address: VirtualAddress,
    /// What it maps, if anything.
    pub physical: Option<PhysicalAddress>,
    /// Bytes.
    pub bytes: u64,
    /// Memory type, if mapped.
    pub cache: Option<CachePolicy>,
    /// `rwx` rights.
    pub rights: String,
    /// The leaves written, or how much of a reservation is mapped.
    pub pages: String,
}

/// `r`, `w`, `x` or `-` for each right.
fn rights(writable: bool, executable: bool) -> String {
    format!("r{}{}", if writable { "w" } else { "-" }, if executable { "x" } else { "-" })
}

/// The leaves of a mapping by size: `256 x 4 KiB`, `1 x 2 MiB + 3 x 4 KiB`.
pub fn leaves_text(leaves: LeafCounts) -> String {
    let sizes = [(leaves.huge, "1 GiB"), (leaves.large, "2 MiB"), (leaves.small, "4 KiB")];
    let used: Vec<String> = sizes
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, size)| format!("{count} x {size}"))
        .collect();
    used.join(" + ")
}

/// Bytes in the largest binary unit that is at least one, with a decimal when not whole.
pub fn size(bytes: u64) -> String {
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

/// What is still mapped, locked, reserved or allocated: after every driver is removed and every
/// demonstration released, a correct run leaves 0.
pub fn left_behind(mm: &MemoryManager) -> usize {
    mm.io_mappings().len()
        + mm.mdl_mappings().list().len()
        + mm.reservations().list().len()
        + mm.locked_mdls().list().len()
        + mm.contiguous_allocations().len()
}

impl From<&IoMappingRecord> for MappingLine {
    fn from(record: &IoMappingRecord) -> Self {
        let protection = record.protection;
        Self {
            kind: "io space",
            address: record.address,
            physical: Some(record.physical),
            bytes: record.bytes,
            cache: Some(protection.cache),
            rights: rights(protection.writable, protection.executable),
            pages: leaves_text(record.leaves),
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

/// Everything a run observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The machine: what it is, its RAM and system VA window.
    pub machine: String,
    /// How its host bridge presents buses to the CPU.
    pub personality: String,
    /// The memory map the memory manager was given.
    pub regions: Vec<Region>,
    /// The Plug and Play session.
    pub session: SessionReport,
    /// The memory manager's own mappings, as captured (each shown once).
    pub mappings: Vec<MappingLine>,
    /// The memory manager's checks, in the order they ran.
    pub checks: Vec<Check>,
    /// What was left behind at the end ([`left_behind`]).
    pub outstanding: usize,
}

impl RunReport {
    /// An empty report about the machine `platform` names (`hosted machine "q35"`), whose
    /// memory manager is `mm`, with this personality.
    pub fn new(platform: &str, personality: String, mm: &MemoryManager) -> Self {
        Self {
            machine: format!(
                "{platform}: {} of RAM, {} system VA window at {}",
                size(mm.memory_map().ram_bytes()),
                size(mm.system_va().total_pages() * PAGE_SIZE),
                mm.system_va().base(),
            ),
            personality,
            regions: mm.memory_map().regions().to_vec(),
            ..Self::default()
        }
    }

    /// Records a check named `name` with what was observed.
    pub fn check(&mut self, name: &str, passed: bool, detail: String) {
        self.checks.push(Check { name: name.into(), passed, detail });
    }

    /// Adds the I/O-space mappings, reservations and contiguous allocations live now to those
    /// the report shows; each is shown once, however often it is seen.
    pub fn capture_mappings(&mut self, mm: &MemoryManager) {
        let mut lines: Vec<MappingLine> = mm.io_mappings().iter().map(MappingLine::from).collect();
        lines.extend(
            mm.reservations().list().iter().map(|reservation| MappingLine::reserved(mm, reservation)),
        );
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

    /// Whether the session passed, every check passed and nothing was left behind.
    pub fn passed(&self) -> bool {
        self.session.passed() && self.checks.iter().all(|check| check.passed) && self.outstanding == 0
    }
}

impl fmt::Display for RunReport {
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
            "  {:<10} {:<18} {:<14} {:>9}  {:<5} {:<3}  pages",
            "kind", "VA", "PA", "size", "cache", "rwx"
        )?;
        for line in &self.mappings {
            writeln!(
                f,
                "  {:<10} {:<18} {:<14} {:>9}  {:<5} {:<3}  {}",
                line.kind,
                format!("{}", line.address),
                line.physical.map_or("-".into(), |physical| format!("{physical}")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_leaves_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(0x1F80_0000), "504 MiB");
        assert_eq!(size(1536 << 20), "1.5 GiB");
        let leaves = LeafCounts { huge: 0, large: 1, small: 3 };
        assert_eq!(leaves_text(leaves), "1 x 2 MiB + 3 x 4 KiB");
        assert_eq!(leaves_text(LeafCounts::default()), "");
    }
}
