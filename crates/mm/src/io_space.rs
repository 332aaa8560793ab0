//! Mapping physical ranges (device registers, locked RAM) into system space:
//! `MmMapIoSpace`, `MmMapIoSpaceEx` and `MmUnmapIoSpace` as safe Rust.
//!
//! A mapping is an owned [`IoMapping`] that unmaps on drop. Every live mapping is also recorded
//! by its base page, which is what lets the NT facade check the address and size a driver
//! passes to `MmUnmapIoSpace`, and lets the verifier report leaks with the call site.

use core::fmt;
use core::panic::Location;

use crate::address::{
    HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress, span_pages,
};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::memory_manager::MemoryManager;
use crate::memory_map::PHYSICAL_ADDRESS_LIMIT;
use crate::ownership::OwnerId;
use crate::page_table::{LeafAttributes, PageSize, TlbFlush};
use crate::pfn_database::{CacheConflict, CacheRule};
use crate::protection::PageProtection;

/// Leaves written for one mapping, by size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafCounts {
    /// 4 KiB leaves.
    pub small: u64,
    /// 2 MiB leaves.
    pub large: u64,
    /// 1 GiB leaves.
    pub huge: u64,
}

impl LeafCounts {
    /// All leaves.
    pub const fn total(&self) -> u64 {
        self.small + self.large + self.huge
    }

    /// The largest page size used, for reports.
    pub const fn largest(&self) -> PageSize {
        if self.huge > 0 {
            PageSize::Size1GiB
        } else if self.large > 0 {
            PageSize::Size2MiB
        } else {
            PageSize::Size4KiB
        }
    }
}

/// What the memory manager remembers of a live I/O-space mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoMappingRecord {
    /// The address returned to the caller (keeps the physical byte offset).
    pub address: VirtualAddress,
    /// The physical address that was asked for.
    pub physical: PhysicalAddress,
    /// The byte count that was asked for.
    pub bytes: u64,
    /// Pages spanned (`ADDRESS_AND_SIZE_TO_SPAN_PAGES`).
    pub pages: u64,
    /// Protection and memory type.
    pub protection: PageProtection,
    /// Leaves written, by size.
    pub leaves: LeafCounts,
    /// The table (a page table, or a page directory for large leaves) that holds every leaf,
    /// when the mapping is one run of leaves of one size in one table, as register blocks and
    /// single large pages are: the leaves are written and cleared there without a walk from
    /// the root.
    pub leaf_table: Option<Pfn>,
    /// Where the mapping was made.
    pub location: &'static Location<'static>,
    /// Who made it: the platform's current owner at the time.
    pub owner: OwnerId,
}

/// Why `map_io_space` refused. Nothing is mapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapIoSpaceError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// `NumberOfBytes` is zero.
    ZeroLength,
    /// The physical range wraps around or ends beyond the 52-bit physical address space.
    AddressRangeWraps,
    /// The range covers RAM that is not locked (`pfn` is the first such frame).
    RamNotLocked {
        /// The first unlocked RAM frame.
        pfn: Pfn,
    },
    /// No run of system VA is large enough (`MmMapIoSpace` returns NULL).
    VaExhausted,
    /// No RAM frame for a new page table (`MmMapIoSpace` returns NULL).
    OutOfPageTableFrames,
    /// The range already has a live mapping with another memory type (`MmMapIoSpace` returns
    /// NULL and the verifier logs it: two memory types for one page are undefined).
    CacheConflict(CacheConflict),
}

impl fmt::Display for MapIoSpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmMapIoSpace {error}"),
            Self::ZeroLength => f.write_str("a mapping of zero bytes"),
            Self::AddressRangeWraps => f.write_str("the physical range wraps or exceeds 2^52"),
            Self::RamNotLocked { pfn } => write!(f, "RAM frame {pfn} in the range is not locked"),
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
            Self::CacheConflict(conflict) => conflict.fmt(f),
        }
    }
}

impl core::error::Error for MapIoSpaceError {}

/// Why `unmap_io_space` refused. Nothing is unmapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapIoSpaceError {
    /// Called above the routine's IRQL.
    Irql(IrqlTooHigh),
    /// No I/O-space mapping covers the address.
    NotMapped {
        /// The address passed.
        address: VirtualAddress,
        /// Pages the caller's size spans.
        pages: u64,
    },
    /// The address is inside a mapping but is not its base.
    NotTheBase {
        /// The address the mapping was returned at.
        expected: VirtualAddress,
        /// The address passed.
        requested: VirtualAddress,
    },
    /// The size spans a different number of pages than were mapped.
    SizeMismatch {
        /// The mapping's address.
        address: VirtualAddress,
        /// Pages mapped.
        mapped_pages: u64,
        /// Pages the caller's size spans.
        requested_pages: u64,
    },
}

impl fmt::Display for UnmapIoSpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmUnmapIoSpace {error}"),
            Self::NotMapped { address, .. } => write!(f, "{address} is not an I/O-space mapping"),
            Self::NotTheBase { expected, requested } => {
                write!(f, "{requested} is inside the mapping at {expected}, not its base")
            }
            Self::SizeMismatch { address, mapped_pages, requested_pages } => write!(
                f,
                "the mapping at {address} spans {mapped_pages} pages, the size given spans {requested_pages}"
            ),
        }
    }
}

impl core::error::Error for UnmapIoSpaceError {}

/// A live mapping of a physical range into system space. Unmaps when dropped.
#[must_use = "dropping the mapping unmaps it at once"]
#[derive(Debug)]
pub struct IoMapping<'mm> {
    mm: &'mm MemoryManager,
    address: VirtualAddress,
    bytes: u64,
}

impl<'mm> IoMapping<'mm> {
    /// The address that maps the requested physical byte.
    pub fn address(&self) -> VirtualAddress {
        self.address
    }

    /// The byte count that was mapped.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives up ownership without unmapping: the mapping now lives until
    /// [`MemoryManager::unmap_io_space`] is called with the address and size.
    pub fn into_raw(self) -> VirtualAddress {
        let address = self.address;
        core::mem::forget(self);
        address
    }
}

impl Drop for IoMapping<'_> {
    fn drop(&mut self) {
        // The handle owns the record, so the address and size always match it; only the
        // IRQL rule can refuse, and then the mapping stays (and shows up as a leak).
        let _ = self.mm.unmap_io_space(self.address, self.bytes);
    }
}

/// The largest leaf the range `[first, first + pages)` (in frames) can use somewhere.
fn leaf_alignment(first: Pfn, pages: u64, huge_pages: bool) -> u64 {
    let start = first.0 * PAGE_SIZE;
    let end = start + pages * PAGE_SIZE;
    let holds_aligned_block = |size: u64| start.div_ceil(size) * size + size <= end;
    if huge_pages && holds_aligned_block(HUGE_PAGE_SIZE) {
        HUGE_PAGE_SIZE
    } else if holds_aligned_block(LARGE_PAGE_SIZE) {
        LARGE_PAGE_SIZE
    } else {
        PAGE_SIZE
    }
}

/// The leaf size to use at `physical` with `remaining` bytes left, up to `largest`.
fn leaf_size_at(physical: u64, remaining: u64, largest: u64) -> PageSize {
    for size in [PageSize::Size1GiB, PageSize::Size2MiB] {
        let bytes = size.bytes();
        if bytes <= largest && physical % bytes == 0 && remaining >= bytes {
            return size;
        }
    }
    PageSize::Size4KiB
}

/// Consecutive leaves of one size: `count` of `size` from `offset` bytes into a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LeafRun {
    offset: u64,
    size: PageSize,
    count: u64,
}

/// The runs of leaves [`MemoryManager::map_io_space`] writes for `bytes` (whole pages) from
/// `physical` with leaves up to `largest`: at each point the largest leaf that fits, with
/// neighbours of one size gathered into one run (at most five runs: small, large, huge, large,
/// small). Every size is a power of two, so the arithmetic is masks and shifts.
fn leaf_runs(physical: PhysicalAddress, bytes: u64, largest: u64) -> impl Iterator<Item = LeafRun> {
    let (start, end) = (physical.0, physical.0 + bytes);
    let mut at = start;
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let size = leaf_size_at(at, end - at, largest);
        let larger = match size {
            PageSize::Size4KiB => Some(LARGE_PAGE_SIZE),
            PageSize::Size2MiB => Some(HUGE_PAGE_SIZE),
            PageSize::Size1GiB => None,
        };
        // The run lasts until the next boundary where a larger leaf fits, or else as far as
        // leaves of its size fit.
        let boundary = |larger: u64| (at + larger - 1) & !(larger - 1);
        let run_end = match larger.filter(|&larger| larger <= largest) {
            Some(larger) if boundary(larger) + larger <= end => boundary(larger),
            _ => at + ((end - at) & !(size.bytes() - 1)),
        };
        let count = (run_end - at) >> size.bytes().trailing_zeros();
        let run = LeafRun { offset: at - start, size, count };
        at = run_end;
        Some(run)
    })
}

/// The most runs a mapping has: small, large, huge, large, small leaves.
const MAX_RUNS: usize = 5;

/// The runs of leaves of one mapping, in address order, worked out once.
#[derive(Clone, Copy, Debug)]
struct LeafPlan {
    runs: [LeafRun; MAX_RUNS],
    len: usize,
}

impl LeafPlan {
    /// The plan for `bytes` (whole pages) from `physical` with leaves up to `largest`.
    fn new(physical: PhysicalAddress, bytes: u64, largest: u64) -> Self {
        let unused = LeafRun { offset: 0, size: PageSize::Size4KiB, count: 0 };
        let mut plan = Self { runs: [unused; MAX_RUNS], len: 0 };
        for run in leaf_runs(physical, bytes, largest) {
            plan.runs[plan.len] = run;
            plan.len += 1;
        }
        plan
    }

    fn runs(&self) -> &[LeafRun] {
        &self.runs[..self.len]
    }

    /// The run, when there is only one.
    fn only_run(&self) -> Option<LeafRun> {
        (self.len == 1).then_some(self.runs[0])
    }

    /// Leaves by size.
    fn counts(&self) -> LeafCounts {
        let mut leaves = LeafCounts::default();
        for run in self.runs() {
            match run.size {
                PageSize::Size4KiB => leaves.small += run.count,
                PageSize::Size2MiB => leaves.large += run.count,
                PageSize::Size1GiB => leaves.huge += run.count,
            }
        }
        leaves
    }
}

/// Where a mapping's leaves go: the plan's runs from `base`, mapping the pages from `physical`
/// (page-aligned); `table` holds them all when one table does.
#[derive(Clone, Copy, Debug)]
struct LeafPlacement {
    base: VirtualAddress,
    physical: PhysicalAddress,
    plan: LeafPlan,
    table: Option<Pfn>,
}

impl LeafPlacement {
    /// The placement of the mapping `record` describes.
    fn of(record: &IoMappingRecord) -> Self {
        let physical = record.physical.pfn().address();
        // The largest leaf used reproduces the plan the mapping was written with.
        let plan = LeafPlan::new(physical, record.pages * PAGE_SIZE, record.leaves.largest().bytes());
        Self { base: record.address.page_base(), physical, plan, table: record.leaf_table }
    }
}

impl MemoryManager {
    /// `MmMapIoSpace`: maps `bytes` bytes of physical memory from `physical` with `cache`,
    /// readable, writable and executable. The returned address maps `physical` itself (it keeps
    /// the byte offset); large pages are used where the physical range allows.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    #[track_caller]
    pub fn map_io_space(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        cache: CachePolicy,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        self.map_io_space_with(physical, bytes, PageProtection::read_write_execute(cache), Location::caller())
    }

    /// `MmMapIoSpaceEx`: as [`map_io_space`](Self::map_io_space) with an explicit protection.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    #[track_caller]
    pub fn map_io_space_ex(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        protection: PageProtection,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        self.map_io_space_with(physical, bytes, protection, Location::caller())
    }

    /// The mapping path shared by both routines; `location` is the driver's call site.
    pub fn map_io_space_with(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        protection: PageProtection,
        location: &'static Location<'static>,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(MapIoSpaceError::Irql)?;
        if bytes == 0 {
            return Err(MapIoSpaceError::ZeroLength);
        }
        match physical.checked_add(bytes) {
            Some(end) if end.0 <= PHYSICAL_ADDRESS_LIMIT => {}
            _ => return Err(MapIoSpaceError::AddressRangeWraps),
        }
        let first = physical.pfn();
        let pages = span_pages(physical.0, bytes);
        // A device range (the common case) touches no PFN entry, so it takes no PFN lock.
        let ram = self.ram_frames(first, pages);
        if !ram.is_empty()
            && let Some(pfn) = self.pfns.first_unlocked_ram(first, pages)
        {
            return Err(MapIoSpaceError::RamNotLocked { pfn });
        }
        if !ram.is_empty() {
            let mut caches = alloc::vec![protection.cache; ram.len()];
            self.pfns
                .acquire_cache(&ram, protection.cache, CacheRule::Strict, &mut caches)
                .map_err(MapIoSpaceError::CacheConflict)?;
        }

        let largest = leaf_alignment(first, pages, self.platform.supports_huge_pages());
        let alignment_pages = largest / PAGE_SIZE;
        let processor = self.platform.current_processor();
        let Some(base) = self.system_va.allocate_cached(
            processor,
            pages,
            alignment_pages,
            first.0 & (alignment_pages - 1),
        ) else {
            self.release_ram_cache(ram);
            return Err(MapIoSpaceError::VaExhausted);
        };
        let address = base.add(physical.page_offset());
        let plan = LeafPlan::new(first.address(), pages * PAGE_SIZE, largest);
        // Finding the one table first (creating it if need be) is the walk the writing would
        // make; a failure here only means the general path runs, and reports it.
        let table = plan.only_run().and_then(|run| {
            let memory = self.platform.physical_memory();
            self.page_tables.table_for_run(memory, &self.pfns, base, run.size, run.count).ok()
        });
        let placement = LeafPlacement { base, physical: first.address(), plan, table };
        let leaves = plan.counts();
        let owner = self.current_owner();
        let record = IoMappingRecord {
            address,
            physical,
            bytes,
            pages,
            protection,
            leaves,
            leaf_table: table,
            location,
            owner,
        };
        // The record goes in before the leaves, and is refused if a live mapping gives one of
        // the pages another memory type: no translation with a conflicting type ever exists,
        // even briefly.
        if let Err(conflict) = self.io_mappings.insert(base, record) {
            self.system_va.free_cached(processor, base, pages);
            self.release_ram_cache(ram);
            return Err(MapIoSpaceError::CacheConflict(conflict));
        }
        let attributes = LeafAttributes {
            writable: protection.writable,
            executable: protection.executable,
            cache: protection.cache,
            global: true,
        };
        if let Err(error) = self.write_leaves(placement, attributes) {
            self.io_mappings.remove(base);
            self.system_va.free_cached(processor, base, pages);
            self.release_ram_cache(ram);
            return Err(error);
        }
        Ok(IoMapping { mm: self, address, bytes })
    }

    /// Writes a mapping's leaves, one walk per run of leaves (per table inside it; none when
    /// the placement has its table), then flushes. On failure everything written is removed
    /// again.
    fn write_leaves(
        &self,
        placement: LeafPlacement,
        attributes: LeafAttributes,
    ) -> Result<(), MapIoSpaceError> {
        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        for (index, &run) in placement.plan.runs().iter().enumerate() {
            let va = placement.base.add(run.offset);
            let pa = PhysicalAddress(placement.physical.0 + run.offset);
            let (size, count) = (run.size, run.count);
            let written = match placement.table {
                Some(table) => {
                    self.page_tables.map_run_in(memory, &self.pfns, table, va, pa, size, count, attributes)
                }
                None => self.page_tables.map_run(memory, &self.pfns, va, pa, size, count, attributes),
            };
            match written {
                Ok(run_flush) => flush = flush.merge(run_flush),
                Err(failure) => {
                    // Only a missing page-table frame can fail here: the VA run is ours alone.
                    let earlier = placement.plan.runs()[..index].iter();
                    let written = earlier.copied().chain([LeafRun { count: failure.written, ..run }]);
                    let cleared =
                        written.fold(flush, |flush, run| flush.merge(self.clear_run(placement, run)));
                    self.flush(cleared);
                    return Err(MapIoSpaceError::OutOfPageTableFrames);
                }
            }
        }
        self.flush(flush);
        Ok(())
    }

    /// Clears the leaves [`write_leaves`](Self::write_leaves) wrote for `placement`.
    fn clear_leaves(&self, placement: LeafPlacement) -> TlbFlush {
        let runs = placement.plan.runs().iter();
        runs.fold(TlbFlush::empty(), |flush, &run| flush.merge(self.clear_run(placement, run)))
    }

    /// Clears one run of a placement's leaves.
    fn clear_run(&self, placement: LeafPlacement, run: LeafRun) -> TlbFlush {
        let memory = self.platform.physical_memory();
        let va = placement.base.add(run.offset);
        let cleared = match placement.table {
            Some(table) => self.page_tables.unmap_run_in(memory, table, va, run.size, run.count),
            None => self.page_tables.unmap_run(memory, va, run.size, run.count),
        };
        // The run was checked when it was mapped, so its addresses are valid.
        cleared.unwrap_or(TlbFlush::empty())
    }

    /// The RAM frames among `pages` frames from `first` (none for a device range, whatever its
    /// size: only RAM ranges the request overlaps are walked).
    fn ram_frames(&self, first: Pfn, pages: u64) -> alloc::vec::Vec<Pfn> {
        // The memory map never changes, so asking it needs no lock (the PFN database's would).
        let start = first.0.saturating_mul(PAGE_SIZE);
        let end = first.0.saturating_add(pages).saturating_mul(PAGE_SIZE);
        if !self.memory_map.ram().any(|region| region.start.0 < end && start < region.end()) {
            return alloc::vec::Vec::new();
        }
        (first.0..first.0 + pages).map(Pfn).filter(|&pfn| self.pfns.is_ram(pfn)).collect()
    }

    /// `MmUnmapIoSpace`: releases the mapping returned at `address` for `bytes` bytes. The
    /// address must be exactly the one returned, and the size must span the same pages.
    ///
    /// # IRQL
    /// At most `APC_LEVEL` under the verifier rule (the default), else `DISPATCH_LEVEL`.
    pub fn unmap_io_space(&self, address: VirtualAddress, bytes: u64) -> Result<(), UnmapIoSpaceError> {
        let maximum =
            if self.config.verifier.unmap_io_space_at_most_apc { Irql::APC } else { Irql::DISPATCH };
        irql::check(self.current_irql(), maximum).map_err(UnmapIoSpaceError::Irql)?;
        let requested_pages = span_pages(address.0, bytes);
        let record = self.io_mappings.take(address, requested_pages)?;
        let base = record.address.page_base();
        self.flush(self.clear_leaves(LeafPlacement::of(&record)));
        self.system_va.free_cached(self.platform.current_processor(), base, record.pages);
        self.release_ram_cache(self.ram_frames(record.physical.pfn(), record.pages));
        Ok(())
    }

    /// Drops the cache-attribute holds a mapping took on its RAM frames (none for a device
    /// range, which then takes no PFN lock).
    fn release_ram_cache(&self, ram: alloc::vec::Vec<Pfn>) {
        if !ram.is_empty() {
            self.pfns.release_cache(ram.into_iter());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan leaf by leaf: the largest leaf that fits at each point.
    fn leaf_by_leaf(physical: u64, bytes: u64, largest: u64) -> alloc::vec::Vec<(u64, PageSize)> {
        let mut leaves = alloc::vec::Vec::new();
        let mut done = 0;
        while done < bytes {
            let size = leaf_size_at(physical + done, bytes - done, largest);
            leaves.push((done, size));
            done += size.bytes();
        }
        leaves
    }

    #[test]
    fn leaf_runs_gather_exactly_the_leaves_chosen_one_by_one() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        let cases = [
            (0xFEA0_0000, 4096),
            (0xFEA0_0000, 16 * 4096),
            (0xFE00_0000, 2 * MIB),
            (0xFE1F_F000, 2 * MIB + 8192),
            (GIB - 3 * 4096, GIB + 6 * MIB + 3 * 4096),
            (64 * GIB, 64 * GIB),
            (64 * GIB - 2 * MIB - 4096, 2 * GIB + 4 * MIB + 8192),
        ];
        for (physical, bytes) in cases {
            for largest in [PAGE_SIZE, LARGE_PAGE_SIZE, HUGE_PAGE_SIZE] {
                let runs: alloc::vec::Vec<LeafRun> =
                    leaf_runs(PhysicalAddress(physical), bytes, largest).collect();
                let expanded: alloc::vec::Vec<(u64, PageSize)> = runs
                    .iter()
                    .flat_map(|run| {
                        (0..run.count).map(move |leaf| (run.offset + leaf * run.size.bytes(), run.size))
                    })
                    .collect();
                assert_eq!(expanded, leaf_by_leaf(physical, bytes, largest), "{physical:#x} + {bytes:#x}");
                assert!(runs.windows(2).all(|pair| pair[0].size != pair[1].size), "runs are maximal");
                assert!(runs.len() <= 5);
            }
        }
    }
}
