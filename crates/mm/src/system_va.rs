//! The system virtual-address space that mappings are carved from.
//!
//! One contiguous window, managed in pages by an address-ordered best-fit [`SegregatedFit`]
//! allocator: allocation and free walk no list of free blocks; past a few bitmap and table
//! lookups they cost one heap update in a size class, O(log k) in the blocks of that one size.
//! Its size is set by the platform, so exhaustion is easy to provoke in tests.
//!
//! In front of the shared allocator sit per-CPU caches of recently freed small spans and 2 MiB
//! spans, by size (`SpanCache`), which the mapping routines use through
//! [`SystemVaSpace::allocate_cached`] and [`SystemVaSpace::free_cached`]: a driver that maps
//! and unmaps a few pages or one large page again and again (registers, a bounce page) costs a
//! push and a pop under its CPU's own lock, instead of two updates under the shared lock. A CPU
//! whose cache has no span of a small size takes several at once, in a run of its own, so two
//! CPUs mapping pages at the same time write page-table entries a cache line apart.
//!
//! The plain [`SystemVaSpace::allocate`] and [`SystemVaSpace::free`] are the shared allocator's
//! best fit alone, so a long-lived allocation pattern fragments the window as best fit does.
//! Cached spans are free as far as callers can tell (they count in
//! [`SystemVaSpace::free_pages`]); they go back to the shared allocator, and coalesce there,
//! whenever it alone cannot satisfy a request, so the caches never make an allocation fail.
//! When less than a quarter of the window is free in the shared allocator, the caches are
//! emptied and frees bypass them: under pressure, spans kept apart would fragment the window.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, VirtualAddress};
use crate::segregated_fit::{FitError, SegregatedFit};

/// Spans of at most this many pages are cached when freed.
const CACHED_SPAN_PAGES: usize = 16;
/// Spans of exactly this many pages (one 2 MiB page) are cached too: a large-page mapping of
/// a register block is the other common short-lived mapping.
const LARGE_SPAN_PAGES: u64 = LARGE_PAGE_SIZE / PAGE_SIZE;
/// Size classes: 1 to [`CACHED_SPAN_PAGES`] pages, then [`LARGE_SPAN_PAGES`].
const CLASSES: usize = CACHED_SPAN_PAGES + 1;
/// Spans cached per class.
const SPANS_PER_CLASS: usize = 8;

/// The cache class of a span of `pages` pages.
fn class_of(pages: u64) -> Option<usize> {
    match pages {
        1..=16 => Some(pages as usize - 1),
        LARGE_SPAN_PAGES => Some(CACHED_SPAN_PAGES),
        _ => None,
    }
}

/// Pages of the spans of `class`.
fn class_pages(class: usize) -> u64 {
    if class < CACHED_SPAN_PAGES { class as u64 + 1 } else { LARGE_SPAN_PAGES }
}

/// Recently freed spans of 1 to [`CACHED_SPAN_PAGES`] pages or of [`LARGE_SPAN_PAGES`] pages,
/// up to [`SPANS_PER_CLASS`] of each size, for the next request of that size. Fixed arrays:
/// keeping and taking allocate nothing.
#[derive(Debug, Default)]
struct SpanCache {
    /// Bit `class` is set when spans of that class are cached.
    classes: u32,
    /// How many spans of each class are cached.
    counts: [u8; CLASSES],
    /// Their first pages.
    firsts: [[u64; SPANS_PER_CLASS]; CLASSES],
    /// Pages held.
    pages: u64,
}

impl SpanCache {
    /// A cached span of exactly `pages` pages whose first page is `offset` modulo `alignment`
    /// (a power of two), now allocated.
    fn take(&mut self, pages: u64, alignment: u64, offset: u64) -> Option<u64> {
        let class = class_of(pages)?;
        let count = usize::from(self.counts[class]);
        let cached = &mut self.firsts[class][..count];
        // The most recently kept span first: it is the likeliest to be warm.
        let index = cached.iter().rposition(|&first| first & (alignment - 1) == offset)?;
        let first = cached[index];
        cached[index] = cached[count - 1];
        self.counts[class] -= 1;
        if count == 1 {
            self.classes &= !(1 << class);
        }
        self.pages -= pages;
        Some(first)
    }

    /// Caches the span `[first, first + pages)`; `false` if its size is not cached or its
    /// class is full.
    fn keep(&mut self, first: u64, pages: u64) -> bool {
        let Some(class) = class_of(pages) else {
            return false;
        };
        let count = usize::from(self.counts[class]);
        if count == SPANS_PER_CLASS {
            return false;
        }
        self.firsts[class][count] = first;
        self.counts[class] += 1;
        self.classes |= 1 << class;
        self.pages += pages;
        true
    }

    /// Whether any cached span shares a page with `[first, first + pages)`.
    fn overlaps(&self, first: u64, pages: u64) -> bool {
        let end = first.saturating_add(pages);
        let mut classes = self.classes;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            let length = class_pages(class);
            let cached = &self.firsts[class][..usize::from(self.counts[class])];
            if cached.iter().any(|&start| start < end && first < start + length) {
                return true;
            }
        }
        false
    }

    /// Moves every cached span, as `(first, pages)`, into `out`; returns how many there were.
    fn take_all(&mut self, out: &mut [(u64, u64); CLASSES * SPANS_PER_CLASS]) -> usize {
        let mut taken = 0;
        let mut classes = self.classes;
        while classes != 0 {
            let class = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            for &first in &self.firsts[class][..usize::from(self.counts[class])] {
                out[taken] = (first, class_pages(class));
                taken += 1;
            }
            self.counts[class] = 0;
        }
        self.classes = 0;
        self.pages = 0;
        taken
    }
}

/// Per-CPU caches; a power of two. CPUs beyond it share.
const PROCESSOR_CACHES: usize = 8;
/// Spans a CPU takes from the shared allocator at once, as one run, when its cache has none of
/// a small size: as many as there are page-table entries in a 64-byte cache line, so that two
/// CPUs' runs of single pages keep their entries a line apart.
const REFILL_SPANS: u64 = 8;

/// One CPU's span cache, on cache lines of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct ProcessorCache {
    spans: Mutex<SpanCache>,
    /// The pages `spans` holds, readable without its lock (written under it).
    pages: AtomicU64,
}

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
    shared: Mutex<SegregatedFit>,
    /// The pages free in `shared`, readable without its lock (written under it).
    shared_free: AtomicU64,
    caches: [ProcessorCache; PROCESSOR_CACHES],
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
        Ok(Self {
            base,
            pages,
            shared: Mutex::new(SegregatedFit::new(pages)),
            shared_free: AtomicU64::new(pages),
            caches: Default::default(),
        })
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
        self.with_shared(|shared| shared.free_pages()) + self.cached_pages()
    }

    /// Whether `address` is inside the window.
    pub fn contains(&self, address: VirtualAddress) -> bool {
        address.0.wrapping_sub(self.base.0) < self.pages * PAGE_SIZE
    }

    /// `pages` pages whose first page number is congruent to `offset_pages` modulo
    /// `alignment_pages` (a power of two), or `None` when the window has no such run. The
    /// shared allocator's best fit: the smallest free block that holds the request, the lowest
    /// of those.
    pub fn allocate(&self, pages: u64, alignment_pages: u64, offset_pages: u64) -> Option<VirtualAddress> {
        let offset = offset_pages % alignment_pages.max(1);
        let first = self.allocate_shared(pages, alignment_pages, offset)?;
        Some(self.base.add(first * PAGE_SIZE))
    }

    /// As [`allocate`](Self::allocate), but a span of the same size that
    /// [`free_cached`](Self::free_cached) kept on CPU `processor` is taken first: for mappings
    /// that come and go (`MmMapIoSpace` of registers). `processor` is the platform's number
    /// for the current CPU; any number is correct, distinct CPUs with distinct numbers only
    /// avoid sharing a cache.
    pub fn allocate_cached(
        &self,
        processor: usize,
        pages: u64,
        alignment_pages: u64,
        offset_pages: u64,
    ) -> Option<VirtualAddress> {
        let offset = offset_pages % alignment_pages.max(1);
        let cache = &self.caches[processor % PROCESSOR_CACHES];
        if alignment_pages.is_power_of_two() {
            let mut spans = cache.spans.lock();
            if let Some(first) = spans.take(pages, alignment_pages, offset) {
                cache.pages.store(spans.pages, Ordering::Relaxed);
                return Some(self.base.add(first * PAGE_SIZE));
            }
        }
        let small = pages as usize <= CACHED_SPAN_PAGES && alignment_pages == 1;
        if small && !self.under_pressure() {
            if let Ok(first) = self.with_shared(|shared| shared.allocate(pages * REFILL_SPANS, 1, 0)) {
                let mut spans = cache.spans.lock();
                // Kept last to first, so that they are taken in address order.
                for index in (1..REFILL_SPANS).rev() {
                    let span = first + index * pages;
                    if !spans.keep(span, pages) {
                        // The cache filled meanwhile: the span goes back (cache, then shared,
                        // is the one order in which both locks are ever held).
                        self.with_shared(|shared| shared.free(span, pages).is_ok());
                    }
                }
                cache.pages.store(spans.pages, Ordering::Relaxed);
                return Some(self.base.add(first * PAGE_SIZE));
            }
        }
        let first = self.allocate_shared(pages, alignment_pages, offset)?;
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
        let first = self.allocate_shared(span, 1, 0)?;
        let address = self.base.0 + first * PAGE_SIZE;
        let start = address.next_multiple_of(multiple);
        let head = (start - address) / PAGE_SIZE;
        let tail = span - head - pages;
        // Both pieces were just taken from the free set, so giving them back cannot fail.
        self.with_shared(|shared| {
            if head > 0 {
                let _ = shared.free(first, head);
            }
            if tail > 0 {
                let _ = shared.free(first + head + pages, tail);
            }
        });
        Some(VirtualAddress(start))
    }

    /// Returns `pages` pages from `address` to the shared allocator, where they coalesce with
    /// their free neighbours; `false` (and nothing changes) if any of them is outside the
    /// window or already free.
    pub fn free(&self, address: VirtualAddress, pages: u64) -> bool {
        let Some(first) = self.page_of(address) else {
            return false;
        };
        // One test for the common case of no cached spans anywhere, not one per cache.
        if self.caches.iter().fold(0, |held, cache| held | cache.pages.load(Ordering::Relaxed)) != 0 {
            let cached = |cache: &ProcessorCache| {
                cache.pages.load(Ordering::Relaxed) > 0 && cache.spans.lock().overlaps(first, pages)
            };
            if self.caches.iter().any(cached) {
                return false;
            }
            if self.under_pressure() {
                self.drain_caches();
            }
        }
        self.with_shared(|shared| shared.free(first, pages).is_ok())
    }

    /// As [`free`](Self::free), but a small or 2 MiB span is kept in CPU `processor`'s cache
    /// for its next [`allocate_cached`](Self::allocate_cached) of that size, while the window
    /// has room. The caller owns the span (the mapping registry has proved it): a second free
    /// is refused only when the first is still in the same CPU's cache.
    pub fn free_cached(&self, processor: usize, address: VirtualAddress, pages: u64) -> bool {
        let Some(first) = self.page_of(address) else {
            return false;
        };
        if !self.under_pressure() {
            let cache = &self.caches[processor % PROCESSOR_CACHES];
            let mut spans = cache.spans.lock();
            if spans.overlaps(first, pages) {
                return false;
            }
            if spans.keep(first, pages) {
                cache.pages.store(spans.pages, Ordering::Relaxed);
                return true;
            }
        }
        self.free(address, pages)
    }

    /// The page number of `address` in the window, if it is a page of it.
    fn page_of(&self, address: VirtualAddress) -> Option<u64> {
        (self.contains(address) && address.is_aligned(PAGE_SIZE))
            .then(|| (address.0 - self.base.0) / PAGE_SIZE)
    }

    /// Runs `body` on the shared allocator under its lock, and publishes its free pages.
    fn with_shared<R>(&self, body: impl FnOnce(&mut SegregatedFit) -> R) -> R {
        let mut shared = self.shared.lock();
        let result = body(&mut shared);
        self.shared_free.store(shared.free_pages(), Ordering::Relaxed);
        result
    }

    /// Whether less than a quarter of the window is free in the shared allocator.
    fn under_pressure(&self) -> bool {
        self.shared_free.load(Ordering::Relaxed) < self.pages / 4
    }

    /// Pages held by the caches.
    fn cached_pages(&self) -> u64 {
        self.caches.iter().map(|cache| cache.pages.load(Ordering::Relaxed)).sum()
    }

    /// The shared allocator's allocation; when it alone cannot satisfy the request, the caches
    /// are emptied into it first and the request tried again.
    fn allocate_shared(&self, pages: u64, alignment: u64, offset: u64) -> Option<u64> {
        match self.with_shared(|shared| shared.allocate(pages, alignment, offset)) {
            Ok(first) => Some(first),
            Err(FitError::Exhausted) if self.cached_pages() > 0 => {
                self.drain_caches();
                self.with_shared(|shared| shared.allocate(pages, alignment, offset)).ok()
            }
            Err(_) => None,
        }
    }

    /// Gives every cached span back to the shared allocator, where it coalesces with its
    /// neighbours. A cache's lock is never held with the shared one here (allocation holds
    /// them in the other order).
    fn drain_caches(&self) {
        for cache in &self.caches {
            if cache.pages.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut spans = [(0, 0); CLASSES * SPANS_PER_CLASS];
            let taken = {
                let mut cached = cache.spans.lock();
                let taken = cached.take_all(&mut spans);
                cache.pages.store(0, Ordering::Relaxed);
                taken
            };
            self.with_shared(|shared| {
                for &(first, pages) in &spans[..taken] {
                    // Cached spans are allocated as far as the shared allocator knows, so it
                    // takes them back.
                    let _ = shared.free(first, pages);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

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
    fn a_freed_small_span_is_reused_and_a_second_free_of_it_refused() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 1 << 30).unwrap();
        let a = space.allocate_cached(0, 3, 1, 0).unwrap();
        let b = space.allocate_cached(0, 5, 1, 0).unwrap();
        assert!(space.free_cached(0, a, 3));
        assert_eq!(space.free_pages(), space.total_pages() - 5, "cached spans count as free");
        assert!(!space.free_cached(0, a, 3), "double free of a cached span");
        assert!(!space.free_cached(0, a.add(PAGE_SIZE), 1), "a page inside a cached span is free already");
        assert_eq!(space.allocate_cached(0, 3, 1, 0), Some(a), "the span freed last is taken first");
        assert!(space.free_cached(0, a, 3));
        assert!(space.free_cached(0, b, 5));
        // A request the shared allocator cannot meet alone takes the cached spans back, and
        // they coalesce.
        assert_eq!(space.allocate(space.total_pages(), 1, 0), Some(space.base()));
        assert_eq!(space.free_pages(), 0);
    }

    #[test]
    fn cached_spans_coalesce_back_for_large_and_aligned_requests() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 32 * PAGE_SIZE).unwrap();
        let spans: Vec<_> = (0..8).map(|_| space.allocate_cached(0, 4, 1, 0).unwrap()).collect();
        for &span in &spans {
            assert!(space.free_cached(0, span, 4));
        }
        assert_eq!(space.free_pages(), 32);
        let whole = space.allocate_cached(0, 32, 32, 0).unwrap();
        assert_eq!(whole, space.base(), "the eight cached spans coalesced into the whole window");
        assert!(space.free_cached(0, whole, 32));
        assert!(space.allocate_multiple_of(32, 32 * PAGE_SIZE).is_some());
    }

    #[test]
    fn plain_frees_go_to_the_shared_allocator_and_coalesce_at_once() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 64 * PAGE_SIZE).unwrap();
        let a = space.allocate(3, 1, 0).unwrap();
        let b = space.allocate(3, 1, 0).unwrap();
        assert!(space.free(a, 3));
        // A 2-page request best-fits into the 3-page hole, so the hole is in the shared
        // allocator: a cached span is invisible to it, and it would have split the 58-page
        // tail instead.
        assert_eq!(space.allocate(2, 1, 0), Some(a));
        assert!(space.free(b, 3));
    }

    #[test]
    fn a_cached_large_span_serves_only_requests_it_is_aligned_for() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 8 << 20).unwrap();
        let large = space.allocate_cached(0, 512, 512, 0).unwrap();
        assert!(space.free_cached(0, large, 512));
        let skewed = space.allocate_cached(0, 512, 512, 5).unwrap();
        assert_ne!(skewed, large, "the cached span is not congruent to 5");
        assert_eq!((skewed.0 / PAGE_SIZE) % 512, 5);
        assert_eq!(space.allocate_cached(0, 512, 512, 0), Some(large));
    }

    #[test]
    fn each_processor_reuses_its_own_spans_on_its_own_line_of_entries() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 1 << 30).unwrap();
        let first = space.allocate_cached(0, 1, 1, 0).unwrap();
        let second = space.allocate_cached(1, 1, 1, 0).unwrap();
        let page = |va: VirtualAddress| (va.0 - space.base().0) / PAGE_SIZE;
        assert!(page(first).abs_diff(page(second)) >= REFILL_SPANS, "a line of PTEs apart");
        assert!(space.free_cached(0, first, 1));
        assert!(space.free_cached(1, second, 1));
        assert_eq!(space.allocate_cached(1, 1, 1, 0), Some(second));
        assert_eq!(space.allocate_cached(0, 1, 1, 0), Some(first));
        // The refill runs count as free until handed out.
        assert_eq!(space.free_pages(), space.total_pages() - 2);
    }

    #[test]
    fn a_plain_free_of_a_span_cached_on_any_processor_is_refused() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 1 << 30).unwrap();
        let span = space.allocate_cached(3, 2, 1, 0).unwrap();
        assert!(space.free_cached(3, span, 2));
        assert!(!space.free(span, 2));
        assert!(!space.free(span.add(PAGE_SIZE), 1));
    }

    #[test]
    fn congruent_allocation_keeps_large_page_alignment() {
        let space = SystemVaSpace::new(VirtualAddress(0x40_0000_0000), 8 << 20).unwrap();
        let _skew = space.allocate(3, 1, 0).unwrap();
        let va = space.allocate(1024, 512, 5).unwrap();
        assert_eq!((va.0 / PAGE_SIZE) % 512, 5);
    }
}
