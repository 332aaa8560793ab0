//! The limit baselines: the least work a mapping can be, done with the core's own page-table
//! primitives on the same page tables and through the same platform flush.
//!
//! Per operation: take a VA run from a preallocated list, write one leaf per page (or per
//! large page), clear them, and hand the cleared range to the platform's flush as one
//! invalidation. Nothing else: no VA allocator, no registry, no cache-attribute bookkeeping.
//! In this design a leaf is reached by a page walk (there is no recursive self-map), so the
//! walks the primitives make, one per table for the writing and one for the clearing, are part
//! of the limit. The scattered frames of an MDL are written one walk per page, as the
//! reserved-mapping path writes them.

use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::page_table::{LeafAttributes, PageSize, TlbFlush};

/// What `MmMapIoSpace(..., MmNonCached)` writes: read, write, execute, uncached, global.
pub const DEVICE_LEAF: LeafAttributes =
    LeafAttributes { writable: true, executable: true, cache: CachePolicy::Uncached, global: true };

/// Maps and unmaps runs of `leaves` leaves of one size at VA runs taken from a list made once.
#[derive(Debug)]
pub struct LeafLimit<'mm> {
    mm: &'mm MemoryManager,
    size: PageSize,
    leaves: u64,
    attributes: LeafAttributes,
    free_runs: Vec<VirtualAddress>,
}

impl<'mm> LeafLimit<'mm> {
    /// `runs` VA runs of `leaves` leaves of `size`, aligned for them, taken from `mm`'s system
    /// VA once; their page tables are made now, so an operation allocates nothing.
    ///
    /// # Panics
    /// If the system VA window or RAM cannot supply them: a misconfigured benchmark.
    pub fn new(
        mm: &'mm MemoryManager,
        size: PageSize,
        leaves: u64,
        runs: usize,
        attributes: LeafAttributes,
    ) -> Self {
        let pages_per_leaf = size.bytes() / iospace_mm::address::PAGE_SIZE;
        let memory = mm.platform().physical_memory();
        let free_runs = (0..runs)
            .map(|_| {
                let base = mm
                    .system_va()
                    .allocate(leaves * pages_per_leaf, pages_per_leaf, 0)
                    .expect("system VA for the limit baseline");
                for leaf in 0..leaves {
                    let va = base.add(leaf * size.bytes());
                    if size == PageSize::Size4KiB {
                        mm.page_tables().populate(memory, mm.pfn_database(), va, 1).expect("page tables");
                    } else {
                        // Mapping once builds the tables above the leaf; they stay after the unmap.
                        let physical = PhysicalAddress(0);
                        mm.page_tables()
                            .map(memory, mm.pfn_database(), va, physical, size, attributes)
                            .expect("a large leaf in fresh VA")
                            .ignore();
                        mm.page_tables().unmap(memory, va).expect("the leaf just written").1.ignore();
                    }
                }
                base
            })
            .collect();
        Self { mm, size, leaves, attributes, free_runs }
    }

    /// Leaves per operation.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// One operation for a physically contiguous range: the run's leaves map `physical`
    /// onwards, written with one walk per table, then cleared the same way, and the run
    /// invalidated with one flush.
    pub fn map_unmap_run(&mut self, physical: PhysicalAddress) {
        let memory = self.mm.platform().physical_memory();
        let tables = self.mm.page_tables();
        let base = self.free_runs.pop().expect("a preallocated run");
        let frames = self.mm.pfn_database();
        let written = tables.map_run(memory, frames, base, physical, self.size, self.leaves, self.attributes);
        // The entries were not present before, so no processor can have cached them.
        written.expect("the run's tables exist").ignore();
        let cleared = tables.unmap_run(memory, base, self.size, self.leaves).expect("the run just written");
        self.mm.platform().flush(tables, cleared);
        self.free_runs.push(base);
    }

    /// One operation for scattered frames (an MDL's pages): leaf `i` maps `physical(i)`, each
    /// written and cleared through its own walk, as the reserved-mapping path does, and the run
    /// invalidated with one flush.
    pub fn map_unmap_each(&mut self, physical: impl Fn(u64) -> PhysicalAddress) {
        let memory = self.mm.platform().physical_memory();
        let tables = self.mm.page_tables();
        let base = self.free_runs.pop().expect("a preallocated run");
        for leaf in 0..self.leaves {
            let va = base.add(leaf * self.size.bytes());
            let written = if self.size == PageSize::Size4KiB {
                tables.map_preallocated(memory, va, physical(leaf), self.attributes)
            } else {
                tables.map(memory, self.mm.pfn_database(), va, physical(leaf), self.size, self.attributes)
            };
            // The entry was not present before, so no processor can have cached it.
            written.expect("preallocated tables take the leaf").ignore();
        }
        let mut flush = TlbFlush::empty();
        for leaf in 0..self.leaves {
            let (_, cleared) =
                tables.unmap(memory, base.add(leaf * self.size.bytes())).expect("the leaf just written");
            flush = flush.merge(cleared);
        }
        self.mm.platform().flush(tables, flush);
        self.free_runs.push(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulated_machine::emulated_mm;

    #[test]
    fn a_limit_operation_leaves_nothing_mapped_and_allocates_no_table() {
        let mm = emulated_mm();
        let mut limit = LeafLimit::new(&mm, PageSize::Size4KiB, 16, 2, DEVICE_LEAF);
        let memory = mm.platform().physical_memory();
        let tables_before = mm.page_tables().table_frames(memory);
        limit.map_unmap_run(PhysicalAddress(0xFEA0_0000));
        limit.map_unmap_each(|page| PhysicalAddress(0xFEB0_0000 + page * 0x1000));
        assert_eq!(mm.page_tables().table_frames(memory), tables_before);
        let window = mm.system_va().base();
        assert!(mm.page_tables().next_leaf(memory, window, window.add(1 << 30)).is_none());

        let mut large = LeafLimit::new(&mm, PageSize::Size1GiB, 2, 1, DEVICE_LEAF);
        large.map_unmap_run(PhysicalAddress(64 << 30));
        assert_eq!(large.leaves(), 2);
        assert!(mm.page_tables().next_leaf(memory, window, window.add(256 << 30)).is_none());
    }
}
