//! The system virtual-address space that mappings are carved from.
//!
//! One contiguous window, managed in pages by a best-fit [`RangeAllocator`]: allocation and free
//! are O(log n) in the number of free blocks. Its size is set by the platform, so exhaustion is
//! easy to provoke in tests.

use core::fmt;

use spin::Mutex;

use crate::address::{HUGE_PAGE_SIZE, PAGE_SIZE, VirtualAddress};
use crate::range_allocator::{Placement, RangeAllocator};

/// Why a window was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemVaError {
    /// The base is not 1 GiB-aligned, or the size is zero or not whole pages.
    Misaligned,
    /// The window leaves the canonical lower or upper half.
    NonCanonical,
}

impl fmt::Display for SystemVaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned => f.write_str("system VA window must start on 1 GiB and be whole pages"),
            Self::NonCanonical => f.write_str("system VA window is not within one canonical half"),
        }
    }
}

impl core::error::Error for SystemVaError {}

/// The window `[base, base + pages × 4 KiB)` and its free pages.
#[derive(Debug)]
pub struct SystemVaSpace {
    base: VirtualAddress,
    pages: u64,
    free: Mutex<RangeAllocator>,
}

const fn canonical_half(address: u64) -> Option<bool> {
    let top = address >> 47;
    if top == 0 {
        Some(false)
    } else if top == (1 << 17) - 1 {
        Some(true)
    } else {
        None
    }
}

impl SystemVaSpace {
    /// A window at `base` (1 GiB-aligned, so that the offset of a page in the window says
    /// everything about its large-page alignment) of `bytes` bytes.
    pub fn new(base: VirtualAddress, bytes: u64) -> Result<Self, SystemVaError> {
        if !base.is_aligned(HUGE_PAGE_SIZE) || bytes == 0 || bytes % PAGE_SIZE != 0 {
            return Err(SystemVaError::Misaligned);
        }
        let last = base.0.checked_add(bytes - 1).ok_or(SystemVaError::NonCanonical)?;
        match (canonical_half(base.0), canonical_half(last)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Err(SystemVaError::NonCanonical),
        }
        let pages = bytes / PAGE_SIZE;
        let mut free = RangeAllocator::new();
        // A fresh allocator accepts any non-empty range.
        let _ = free.add_free(0, pages);
        Ok(Self { base, pages, free: Mutex::new(free) })
    }

    /// The first address of the window.
    pub fn base(&self) -> VirtualAddress {
        self.base
    }

    /// Pages in the window.
    pub fn total_pages(&self) -> u64 {
        self.pages
    }

    /// Pages not allocated.
    pub fn free_pages(&self) -> u64 {
        self.free.lock().free_units()
    }

    /// Whether `address` is inside the window.
    pub fn contains(&self, address: VirtualAddress) -> bool {
        address.0.wrapping_sub(self.base.0) < self.pages * PAGE_SIZE
    }

    /// `pages` pages whose first page number is congruent to `offset_pages` modulo
    /// `alignment_pages` (a power of two), or `None` when the window has no such run.
    pub fn allocate(&self, pages: u64, alignment_pages: u64, offset_pages: u64) -> Option<VirtualAddress> {
        let placement = Placement::aligned(alignment_pages, offset_pages % alignment_pages.max(1));
        let first = self.free.lock().allocate(pages, &placement).ok()?;
        Some(self.base.add(first * PAGE_SIZE))
    }

    /// `pages` pages whose address is a multiple of `multiple` bytes (any multiple of the page
    /// size, not only powers of two): a run of `pages + multiple/4K - 1` pages always holds such
    /// a start; the pages before and after it go back to the free set.
    pub fn allocate_multiple_of(&self, pages: u64, multiple: u64) -> Option<VirtualAddress> {
        let step = (multiple / PAGE_SIZE).max(1);
        if step.is_power_of_two() {
            // The window base is 1 GiB-aligned, so page-number alignment is address alignment
            // for every power of two up to 1 GiB; beyond that, use the general path.
            if multiple <= HUGE_PAGE_SIZE {
                return self.allocate(pages, step, 0);
            }
        }
        let span = pages.checked_add(step - 1)?;
        let mut free = self.free.lock();
        let first = free.allocate(span, &Placement::ANY).ok()?;
        let address = self.base.0 + first * PAGE_SIZE;
        let start = address.next_multiple_of(multiple);
        let head = (start - address) / PAGE_SIZE;
        let tail = span - head - pages;
        // Both pieces were just taken from the free set, so giving them back cannot fail.
        if head > 0 {
            let _ = free.free(first, head);
        }
        if tail > 0 {
            let _ = free.free(first + head + pages, tail);
        }
        Some(VirtualAddress(start))
    }

    /// Returns `pages` pages from `address`; `false` (and nothing changes) if any of them is
    /// outside the window or already free.
    pub fn free(&self, address: VirtualAddress, pages: u64) -> bool {
        if !self.contains(address) || !address.is_aligned(PAGE_SIZE) {
            return false;
        }
        let first = (address.0 - self.base.0) / PAGE_SIZE;
        self.free.lock().free(first, pages).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_must_be_aligned_and_canonical() {
        assert_eq!(SystemVaSpace::new(VirtualAddress(0x1000), 0x1000).err(), Some(SystemVaError::Misaligned));
        assert_eq!(
            SystemVaSpace::new(VirtualAddress(0x7FFF_C000_0000), 2 << 30).err(),
            Some(SystemVaError::NonCanonical)
        );
        assert!(SystemVaSpace::new(VirtualAddress(0xFFFF_8000_0000_0000), 1 << 30).is_ok());
    }

    #[test]
    fn exhaustion_returns_none_and_recovers() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 16 * PAGE_SIZE).unwrap();
        let a = space.allocate(10, 1, 0).unwrap();
        assert!(space.allocate(7, 1, 0).is_none());
        let b = space.allocate(6, 1, 0).unwrap();
        assert_eq!(space.free_pages(), 0);
        assert!(space.free(a, 10));
        assert!(!space.free(a, 10), "double free is refused");
        assert!(space.allocate(7, 1, 0).is_some());
        assert!(space.free(b, 6));
    }

    #[test]
    fn allocation_at_a_multiple_of_any_size() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 64 << 20).unwrap();
        let _skew = space.allocate(1, 1, 0).unwrap();
        for pages in [1, 3, 5, 16, 24] {
            let va = space.allocate_multiple_of(pages, pages * PAGE_SIZE).unwrap();
            assert_eq!(va.0 % (pages * PAGE_SIZE), 0, "{pages} pages");
        }
        let before = space.free_pages();
        let va = space.allocate_multiple_of(3, 3 * PAGE_SIZE).unwrap();
        assert_eq!(space.free_pages(), before - 3, "only the pages asked for are taken");
        assert!(space.free(va, 3));
    }

    #[test]
    fn congruent_allocation_keeps_large_page_alignment() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 8 << 20).unwrap();
        let _skew = space.allocate(3, 1, 0).unwrap();
        let va = space.allocate(1024, 512, 5).unwrap();
        assert_eq!((va.0 / PAGE_SIZE) % 512, 5);
    }
}
