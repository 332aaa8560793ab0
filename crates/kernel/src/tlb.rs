//! TLB invalidation for a changed range: one `invlpg` per page-table entry the range covers,
//! at the size that entry maps.
//!
//! A flush names a virtual range, not the leaves that changed. The walk finds them: the memory
//! manager never removes a paging structure, so an entry that is a table pointer was never a
//! leaf since the tables were built, and an entry that is not present or is a leaf at level L
//! can only have been cached as a leaf of level L's size. `invlpg` on any address of a page
//! drops that page's TLB entry whatever its size (and the paging-structure caches), so one
//! per entry is enough: unmapping a 1 GiB leaf costs one `invlpg`, not 262,144.

use core::sync::atomic::Ordering;

use iospace_mm::address::{PAGE_SIZE, Pfn, VirtualAddress};
use iospace_mm::page_table::{PTE_ADDRESS_MASK, PTE_LARGE, PTE_PRESENT, PageTables};
use iospace_mm::physical_memory::PhysicalMemory;

use crate::cpu::invalidate_page;

/// Bytes one entry at `level` (1 = page table .. 4 = PML4) covers.
const fn coverage(level: u32) -> u64 {
    PAGE_SIZE << (9 * (level - 1))
}

/// Invalidates every translation of `[start, start + bytes)`; returns how many `invlpg`s ran.
pub fn invalidate_range(
    memory: &dyn PhysicalMemory,
    tables: &PageTables,
    start: VirtualAddress,
    bytes: u64,
) -> u64 {
    let end = start.0.saturating_add(bytes);
    let mut address = start.0 & !(PAGE_SIZE - 1);
    let mut invalidations = 0;
    while address < end {
        let level = entry_level(memory, tables.root(), address);
        invalidate_page(address);
        invalidations += 1;
        let size = coverage(level);
        address = match (address & !(size - 1)).checked_add(size) {
            Some(next) => next,
            None => break,
        };
    }
    invalidations
}

/// The level of the entry that ends the walk for `address`: a leaf, or the first entry that is
/// not present (1 when the walk reaches a page table).
fn entry_level(memory: &dyn PhysicalMemory, root: Pfn, address: u64) -> u32 {
    let mut table = root;
    let mut level = 4;
    while level > 1 {
        let Some(entries) = memory.table(table) else { return 1 };
        let index = ((address >> (12 + 9 * (level - 1))) & 0x1FF) as usize;
        let entry = entries[index].load(Ordering::Acquire);
        if entry & PTE_PRESENT == 0 || (level < 4 && entry & PTE_LARGE != 0) {
            return level;
        }
        table = Pfn((entry & PTE_ADDRESS_MASK) >> 12);
        level -= 1;
    }
    1
}
