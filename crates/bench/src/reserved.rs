//! `reserved_mapping_16pages`: `MmMapLockedPagesWithReservedMapping` then
//! `MmUnmapReservedMapping` of a 16-page MDL, against the limit of writing and clearing 16
//! PTEs. The routine promises progress under low memory, so it must allocate nothing.

use iospace_mm::address::{PAGE_SIZE, Pfn, PhysicalAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::mdl::{MdlBuffer, flags};
use iospace_mm::nt_mdl;
use iospace_mm::page_table::{LeafAttributes, PageSize};
use iospace_mm::pfn_database::PageUse;
use iospace_mm::range_allocator::Placement;

use crate::emulated_machine::emulated_mm;
use crate::limit::LeafLimit;
use crate::measure::alternate;
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::Options;

const PAGES: u64 = 16;
const TAG: u32 = u32::from_le_bytes(*b"Bnch");

/// What the reserved mapping writes for cached RAM: read, write, no execute, write-back.
const RAM_LEAF: LeafAttributes = LeafAttributes {
    writable: true,
    executable: false,
    cache: iospace_mm::caching::CachePolicy::WriteBack,
    global: true,
};

/// Workload 3. Targets: at most 2 x the limit, no heap allocation per operation.
pub fn reserved_mapping_16pages(options: &Options) -> WorkloadReport {
    let mm = emulated_mm();
    let bytes = (PAGES * PAGE_SIZE) as usize;
    // The emulated machine's system VA is page tables only, with no memory behind it, so the
    // MDL lives on the Rust heap rather than in pool; its pages are taken and locked as
    // `MmAllocatePagesForMdl` takes and locks them.
    let first = mm
        .pfn_database()
        .allocate(PAGES, &Placement::ANY, PageUse::Allocated)
        .expect("16 free frames in 256 MiB");
    let mut buffer = MdlBuffer::new(0, PAGES * PAGE_SIZE);
    // SAFETY: the buffer outlives every use of the pointer (it is dropped at the end of this
    // function, after the last mapping is gone), and only this thread uses it.
    let mdl = unsafe { buffer.as_ptr() };
    let frames: Vec<PhysicalAddress> = (0..PAGES)
        .map(|index| {
            let pfn = Pfn(first.0 + index);
            mm.pfn_database().lock(pfn).expect("an allocated frame locks");
            mdl.set_pfn(index, pfn);
            pfn.address()
        })
        .collect();
    mdl.insert_flags(flags::MDL_PAGES_LOCKED);
    let mdl = mdl.as_ptr();
    let reservation = nt_mdl::mm_allocate_mapping_address(&mm, bytes, TAG);
    assert!(!reservation.is_null(), "MmAllocateMappingAddress refused 16 pages");
    let mut limit = LeafLimit::new(&mm, PageSize::Size4KiB, PAGES, 4, RAM_LEAF);

    let ops = options.ops(10_000);
    let cached = MemoryCachingType::Cached as i32;
    let mut subject = |_| {
        let address = nt_mdl::mm_map_locked_pages_with_reserved_mapping(&mm, reservation, TAG, mdl, cached);
        assert!(!address.is_null(), "the reservation takes the MDL");
        nt_mdl::mm_unmap_reserved_mapping(&mm, reservation, TAG, mdl);
    };
    let mut floor = |_| limit.map_unmap_each(|page| frames[page as usize]);
    let [ours, floor] = alternate(options.rounds(), ops, &mut [&mut subject, &mut floor])[..] else {
        unreachable!("two contenders, two samples")
    };
    nt_mdl::mm_free_mapping_address(&mm, reservation, TAG);
    drop(buffer);

    let limit = Baseline::new(
        "pte_write_limit",
        "write 16 PTEs in preallocated tables, clear them, one flush",
        floor.ns_per_op,
    );
    let allocations = options.allocations(ours);
    let report = WorkloadReport::new(
        "reserved_mapping_16pages",
        ops,
        ours.ns_per_op,
        allocations,
        Some(limit),
        Vec::new(),
    );
    let ratio = report.ratio_to_limit.unwrap_or(f64::NAN);
    let no_allocation = match allocations {
        Some(per_op) => {
            Target::new("zero heap allocations per operation", per_op == 0.0, format!("{per_op:.3}"))
        }
        None => {
            Target::new("zero heap allocations per operation", false, "not counted: no counting allocator")
        }
    };
    report.target(Target::at_most("limit", ratio, 2.0)).target(no_allocation)
}
