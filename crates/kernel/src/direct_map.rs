//! The direct map: all RAM at [`DIRECT_MAP_BASE`] + its physical address, write-back,
//! non-executable. It is how the memory manager reaches frames ([`PhysicalMemory`]) on metal.
//!
//! The map is written by the memory manager's own page-table code into the live tables (CR3),
//! with the largest leaves the alignment allows. Before it exists, frames are reached through
//! the boot identity map of the first 1 GiB, so the tables the direct map needs are taken from
//! RAM below that limit.

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use iospace_mm::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::memory_map::MemoryMap;
use iospace_mm::page_table::{LeafAttributes, PageSize, PageTableError};
use iospace_mm::pfn_database::{PageUse, PfnDatabase};
use iospace_mm::physical_memory::{FrameAllocator, FrameBytes, PhysicalMemory};
use iospace_mm::range_allocator::Placement;

use crate::boot::BOOT_IDENTITY_BYTES;

/// Where physical address 0 appears: the start of the upper half (PML4 entry 256).
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_8000_0000_0000;

/// RAM as the memory manager reaches it.
#[derive(Debug)]
pub struct DirectMap {
    /// RAM spans `[start, end)`, sorted.
    ram: Vec<(u64, u64)>,
    /// Whether the direct map covers all of RAM yet.
    complete: AtomicBool,
}

impl DirectMap {
    /// The RAM of `map`, reached through the boot identity map until [`build`] completes.
    pub fn new(map: &MemoryMap) -> Self {
        Self {
            ram: map.ram().map(|region| (region.start.0, region.end())).collect(),
            complete: AtomicBool::new(false),
        }
    }

    fn is_ram(&self, address: u64) -> bool {
        let index = self.ram.partition_point(|&(_, end)| end <= address);
        self.ram.get(index).is_some_and(|&(start, _)| start <= address)
    }

    /// The virtual address of RAM byte `physical` in the direct map.
    pub fn virtual_address(physical: PhysicalAddress) -> VirtualAddress {
        VirtualAddress(DIRECT_MAP_BASE + physical.0)
    }
}

// SAFETY: `frame` returns a pointer only for RAM frames, through a mapping that covers them
// read-write for the kernel's whole life: the boot identity map (first 1 GiB, never removed)
// before the direct map is complete, the direct map (never unmapped) after. Both map the same
// physical frame, so the bytes are the same whichever pointer is used.
unsafe impl PhysicalMemory for DirectMap {
    fn frame(&self, pfn: Pfn) -> Option<NonNull<FrameBytes>> {
        let physical = pfn.address().0;
        if !self.is_ram(physical) {
            return None;
        }
        let virtual_address = if self.complete.load(Ordering::Acquire) {
            DIRECT_MAP_BASE + physical
        } else if physical + PAGE_SIZE <= BOOT_IDENTITY_BYTES {
            physical
        } else {
            return None;
        };
        NonNull::new(virtual_address as *mut FrameBytes)
    }
}

/// Page-table frames from the PFN database, below the boot identity limit.
struct IdentityMappedFrames<'a>(&'a PfnDatabase);

impl FrameAllocator for IdentityMappedFrames<'_> {
    fn allocate_frame(&self) -> Option<Pfn> {
        let highest = BOOT_IDENTITY_BYTES / PAGE_SIZE - 1;
        self.0.allocate(1, &Placement::ANY.within(0, highest), PageUse::PageTable).ok()
    }

    fn free_frame(&self, pfn: Pfn) {
        let _ = self.0.free(pfn, 1, PageUse::PageTable);
    }
}

/// Leaves written for the direct map, by size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectMapLeaves {
    /// 1 GiB leaves.
    pub huge: u64,
    /// 2 MiB leaves.
    pub large: u64,
    /// 4 KiB leaves.
    pub small: u64,
}

/// Maps every RAM region of `mm` into the direct map and switches `memory` to it.
pub fn build(
    mm: &MemoryManager,
    memory: &DirectMap,
    huge_pages: bool,
) -> Result<DirectMapLeaves, PageTableError> {
    let frames = IdentityMappedFrames(mm.pfn_database());
    let attributes =
        LeafAttributes { writable: true, executable: false, cache: CachePolicy::WriteBack, global: true };
    let mut leaves = DirectMapLeaves::default();
    for region in mm.memory_map().ram() {
        let mut physical = region.start.0;
        while physical < region.end() {
            let remaining = region.end() - physical;
            let fits = |bytes: u64| physical % bytes == 0 && remaining >= bytes;
            let size = if huge_pages && fits(HUGE_PAGE_SIZE) {
                leaves.huge += 1;
                PageSize::Size1GiB
            } else if fits(LARGE_PAGE_SIZE) {
                leaves.large += 1;
                PageSize::Size2MiB
            } else {
                leaves.small += 1;
                PageSize::Size4KiB
            };
            let virtual_address = DirectMap::virtual_address(PhysicalAddress(physical));
            // The range was never mapped, so no TLB can hold it: nothing to flush.
            mm.page_tables()
                .map(memory, &frames, virtual_address, PhysicalAddress(physical), size, attributes)?
                .ignore();
            physical += size.bytes();
        }
    }
    memory.complete.store(true, Ordering::Release);
    Ok(leaves)
}
