//! `map_io_space_1page`, `map_io_space_16pages`, `map_io_space_2mib`: `MmMapIoSpace` then
//! `MmUnmapIoSpace` of a device range, through the NT facade a driver calls, against the limit
//! of writing and clearing the same leaves.

use iospace_mm::address::{LARGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::nt;
use iospace_mm::page_table::PageSize;

use crate::emulated_machine::emulated_mm;
use crate::limit::{DEVICE_LEAF, LeafLimit};
use crate::measure::alternate;
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::Options;

/// Where the device ranges are: edu's BAR0 on the q35 machine (2 MiB-aligned below it for the
/// large page).
pub const EDU_BAR0: PhysicalAddress = PhysicalAddress(0xFEA0_0000);
const LARGE_PAGE_DEVICE: PhysicalAddress = PhysicalAddress(0xFE00_0000);

/// One `MmMapIoSpace(physical, bytes, MmNonCached)` and its `MmUnmapIoSpace`.
///
/// # Panics
/// If the mapping is refused: the benchmark would measure nothing.
pub fn map_and_unmap(mm: &MemoryManager, physical: PhysicalAddress, bytes: usize) {
    let address = nt::mm_map_io_space(mm, physical.0 as i64, bytes, MemoryCachingType::NonCached as i32);
    assert!(!address.is_null(), "MmMapIoSpace refused {bytes:#x} bytes at {physical}");
    nt::mm_unmap_io_space(mm, address, bytes);
}

/// Leaves one mapping of the range writes, read from the live mapping's record.
fn leaves_written(mm: &MemoryManager, physical: PhysicalAddress, bytes: usize) -> u64 {
    let address = nt::mm_map_io_space(mm, physical.0 as i64, bytes, MemoryCachingType::NonCached as i32);
    let leaves = mm.io_mappings().first().map_or(0, |record| record.leaves.total());
    nt::mm_unmap_io_space(mm, address, bytes);
    leaves
}

fn io_space_workload(
    options: &Options,
    name: &'static str,
    physical: PhysicalAddress,
    bytes: u64,
    limit_leaf: PageSize,
    bound: f64,
) -> WorkloadReport {
    let mm = emulated_mm();
    let leaves = bytes.div_ceil(limit_leaf.bytes());
    let mut limit = LeafLimit::new(&mm, limit_leaf, leaves, 4, DEVICE_LEAF);
    let entries = leaves_written(&mm, physical, bytes as usize);
    let ops = options.ops(if limit_leaf == PageSize::Size4KiB { 50_000 / leaves.max(1) } else { 50_000 });
    let mut subject = |_| map_and_unmap(&mm, physical, bytes as usize);
    let mut floor = |_| limit.map_unmap_run(physical);
    let [ours, floor] = alternate(options.rounds(), ops, &mut [&mut subject, &mut floor])[..] else {
        unreachable!("two contenders, two samples")
    };
    let limit = Baseline::new(
        "leaf_write_limit",
        "take a preallocated VA run, write its leaves with one walk per table, clear them, one flush",
        floor.ns_per_op,
    )
    .with("entries_written", leaves);
    let report =
        WorkloadReport::new(name, ops, ours.ns_per_op, options.allocations(ours), Some(limit), Vec::new())
            .detail("bytes", bytes)
            .detail("entries_written", entries);
    let ratio = report.ratio_to_limit.unwrap_or(f64::NAN);
    let mut report = report.target(Target::at_most("limit", ratio, bound));
    if limit_leaf == PageSize::Size2MiB {
        report = report.target(Target::new("writes one entry", entries == 1, format!("{entries} entries")));
    }
    report
}

/// Workload 1: one page. Target: at most 3 x the limit.
pub fn map_io_space_1page(options: &Options) -> WorkloadReport {
    io_space_workload(options, "map_io_space_1page", EDU_BAR0, PAGE_SIZE, PageSize::Size4KiB, 3.0)
}

/// Workload 2a: 16 pages. Target: at most 2.5 x the limit.
pub fn map_io_space_16pages(options: &Options) -> WorkloadReport {
    io_space_workload(options, "map_io_space_16pages", EDU_BAR0, 16 * PAGE_SIZE, PageSize::Size4KiB, 2.5)
}

/// Workload 2b: a 2 MiB-aligned 2 MiB range, one large page. Targets: at most 2.5 x the limit,
/// one entry written.
pub fn map_io_space_2mib(options: &Options) -> WorkloadReport {
    io_space_workload(
        options,
        "map_io_space_2mib",
        LARGE_PAGE_DEVICE,
        LARGE_PAGE_SIZE,
        PageSize::Size2MiB,
        2.5,
    )
}
