//! `map_bar_64gib`: `MmMapIoSpace` and `MmUnmapIoSpace` of a 64 GiB, 1 GiB-aligned device
//! range. With 1 GiB pages that is 64 entries in one page-directory-pointer table; a design
//! with 4 KiB pages only writes 16 Mi entries into 32 Ki page tables. The workload reports
//! entries written and page-table pages allocated for both.

use iospace_mm::address::{HUGE_PAGE_SIZE, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress};
use iospace_mm::emulated::{EmulatedFrameAllocator, EmulatedMemory};
use iospace_mm::page_table::{PageSize, PageTables, TableCounts, TlbFlush};

use crate::emulated_machine::{HIGH_DEVICE_WINDOW, emulated_mm};
use crate::io_space::map_and_unmap;
use crate::json::Json;
use crate::limit::{DEVICE_LEAF, LeafLimit};
use crate::measure::{alternate, batch};
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::Options;

const BAR_BYTES: u64 = 64 << 30;

fn counts_json(counts: TableCounts) -> Json {
    Json::object()
        .with("pml4", counts.pml4)
        .with("pdpt", counts.pdpt)
        .with("pd", counts.pd)
        .with("pt", counts.pt)
}

/// The 4 KiB-only design: every page of `bytes` gets a PTE in its own fresh tree, then every
/// PTE is cleared and the range flushed once. Returns (ns per 4 KiB entry, entries, tables the
/// tree needed beyond its root).
fn four_kib_only(bytes: u64) -> (f64, u64, TableCounts) {
    let pages = bytes / PAGE_SIZE;
    // Page tables for `pages` PTEs, plus directories, plus slack; one frame per 512 PTEs.
    let frames = pages / 512 + pages / (512 * 512) + 64;
    let memory = EmulatedMemory::new(Pfn(1), frames);
    let allocator = EmulatedFrameAllocator::new(Pfn(1), frames);
    let tables = PageTables::new(&memory, &allocator).expect("a root for the 4 KiB tree");
    let base = VirtualAddress(0xFFFF_C000_0000_0000);
    let physical = HIGH_DEVICE_WINDOW.0;
    let mut counts = TableCounts::default();
    let sample = batch(1, |_| {
        for page in 0..pages {
            let offset = page * PAGE_SIZE;
            tables
                .map(
                    &memory,
                    &allocator,
                    base.add(offset),
                    PhysicalAddress(physical.0 + offset),
                    PageSize::Size4KiB,
                    DEVICE_LEAF,
                )
                .expect("frames were sized for every table")
                .ignore();
        }
        counts = tables.count_tables(&memory);
        let mut flush = TlbFlush::empty();
        for page in 0..pages {
            let (_, cleared) =
                tables.unmap(&memory, base.add(page * PAGE_SIZE)).expect("the PTE just written");
            flush = flush.merge(cleared);
        }
        std::hint::black_box(flush.range());
    });
    counts.pml4 = 0;
    (sample.ns_per_op / pages as f64, pages, counts)
}

/// Workload 5. Targets: at most 64 entries, no page-table page below the
/// page-directory-pointer level.
pub fn map_bar_64gib(options: &Options) -> WorkloadReport {
    let mm = emulated_mm();
    let memory = mm.platform().physical_memory();
    let physical = HIGH_DEVICE_WINDOW.0;
    let frames_before = mm.pfn_database().free_frames();
    let tables_before = mm.page_tables().count_tables(memory);
    let address = iospace_mm::nt::mm_map_io_space(&mm, physical.0 as i64, BAR_BYTES as usize, 0);
    assert!(!address.is_null(), "MmMapIoSpace refused the 64 GiB BAR");
    let entries = mm.io_mappings().first().map_or(0, |record| record.leaves.total());
    let tables_after = mm.page_tables().count_tables(memory);
    let table_pages = frames_before - mm.pfn_database().free_frames();
    iospace_mm::nt::mm_unmap_io_space(&mm, address, BAR_BYTES as usize);
    let new_tables = TableCounts {
        pml4: 0,
        pdpt: tables_after.pdpt - tables_before.pdpt,
        pd: tables_after.pd - tables_before.pd,
        pt: tables_after.pt - tables_before.pt,
    };

    let mut limit = LeafLimit::new(&mm, PageSize::Size1GiB, BAR_BYTES / HUGE_PAGE_SIZE, 1, DEVICE_LEAF);
    let ops = options.ops(2_000);
    let mut subject = |_| map_and_unmap(&mm, physical, BAR_BYTES as usize);
    let mut floor = |_| limit.map_unmap_run(physical);
    let [ours, floor] = alternate(options.rounds(), ops, &mut [&mut subject, &mut floor])[..] else {
        unreachable!("two contenders, two samples")
    };

    // The 4 KiB-only design is timed over a part of the range in quick runs (it is 16 Mi PTEs)
    // and its cost scaled to the whole; entries and tables are those of the whole range.
    let measured_bytes = if options.quick { 256 << 20 } else { BAR_BYTES };
    let (ns_per_entry, measured_entries, measured_tables) = four_kib_only(measured_bytes);
    let scale = BAR_BYTES / measured_bytes;
    let four_kib_entries = measured_entries * scale;
    let four_kib_tables = TableCounts {
        pml4: 0,
        pdpt: measured_tables.pdpt,
        pd: (BAR_BYTES / HUGE_PAGE_SIZE).max(measured_tables.pd),
        pt: measured_tables.pt * scale,
    };
    let peer = Baseline::new(
        "four_kib_only",
        "the same range with 4 KiB pages only",
        ns_per_entry * four_kib_entries as f64,
    )
    .with("entries_written", four_kib_entries)
    .with("page_table_pages", four_kib_tables.total())
    .with("tables", counts_json(four_kib_tables))
    .with("timed_bytes", measured_bytes);
    let limit = Baseline::new(
        "huge_leaf_limit",
        "write 64 1 GiB leaves in existing tables, clear them, one flush",
        floor.ns_per_op,
    )
    .with("entries_written", limit.leaves());

    let report = WorkloadReport::new(
        "map_bar_64gib",
        ops,
        ours.ns_per_op,
        options.allocations(ours),
        Some(limit),
        vec![peer],
    )
    .detail("entries_written", entries)
    .detail("page_table_pages", table_pages)
    .detail("tables", counts_json(new_tables));
    report.target(Target::new("<= 64 entries", entries <= 64, format!("{entries} entries"))).target(
        Target::new(
            "no page-table page beyond the top levels",
            new_tables.pd == 0 && new_tables.pt == 0,
            format!("{} PDPT, {} PD, {} PT allocated", new_tables.pdpt, new_tables.pd, new_tables.pt),
        ),
    )
}
