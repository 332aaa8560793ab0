//! A segregated-fit allocator of page ranges: allocation and free without a walk of the free
//! blocks.
//!
//! Free blocks are kept by size class (`size_classes`): one class per size up to 128 pages,
//! logarithmic classes above. A bitmap of the non-empty classes finds the smallest class that
//! can hold a request, and that class's first block is the answer.
//!
//! Placement is address-ordered best fit, as the tree it replaces made it: the smallest block
//! that holds the request, and the lowest of those. A logarithmic class holds sizes on both
//! sides of a request in it, so that class is searched for its smallest fitting block (only
//! its first `SEARCH_LIMIT` blocks while a larger class could serve instead, so that no
//! request walks a long class). Best fit, lowest first, is what keeps a nearly full window
//! usable: it fails fewer requests there than the same sizes taken most-recently-freed first.
//!
//! Free blocks coalesce on free through boundary tags (`boundary_tags`: the record number at
//! a block's first and last page) and a bitmap of free pages (`page_bitmap`), which also
//! makes a free of a range that is (partly) free already a refusal that changes nothing. Both
//! tables are sparse, so a window of 64M pages costs memory only where blocks begin and end.
//!
//! Ranges are half-open `[first, first + pages)`, in pages from the start of the window.

use alloc::vec::Vec;
use core::fmt;

mod boundary_tags;
mod page_bitmap;
mod size_classes;

use boundary_tags::{BoundaryTags, UNTAGGED};
use page_bitmap::PageBitmap;
use size_classes::{EXACT_CLASSES, Entry, SizeClasses, class_of};

/// Blocks of a logarithmic class looked at for the smallest fit while a larger class exists.
const SEARCH_LIMIT: usize = 16;
/// log2 of the fewest pages per leaf of the sparse tables.
const MIN_LEAF_SHIFT: u32 = 12;
/// log2 of the most leaves the page bitmap is cut into: a range of any size is checked and
/// marked in at most 64 steps (a 64 GiB mapping in a 256 GiB window, in 16), as fast as the
/// tree this allocator replaced. A leaf with bits costs 1/512 of the window's pages in bytes
/// (32 KiB for a 64 GiB window), and only leaves where allocations begin or end have bits.
const MAX_BITMAP_LEAVES_SHIFT: u32 = 6;
/// log2 of the most leaves the boundary tags are cut into. Tags are only touched at the ends
/// of blocks, so their leaves stay small: memory goes only where blocks begin and end.
const MAX_TAG_LEAVES_SHIFT: u32 = 12;

/// log2 of the pages per leaf of a table over `pages` pages with at most `1 << max_leaves`
/// leaves.
fn leaf_shift(pages: u64, max_leaves: u32) -> u32 {
    let bits = u64::BITS - pages.saturating_sub(1).leading_zeros();
    bits.saturating_sub(max_leaves).max(MIN_LEAF_SHIFT)
}

/// The smallest `y >= x` with `y % alignment == offset` (`alignment` a power of two).
fn align_up(x: u64, alignment: u64, offset: u64) -> Option<u64> {
    let mask = alignment - 1;
    x.checked_add(offset.wrapping_sub(x & mask) & mask)
}

/// Why an operation failed. Failed operations change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitError {
    /// The length was zero.
    ZeroLength,
    /// The alignment is not a power of two, or the offset is not below it.
    BadAlignment,
    /// The range does not lie inside the window.
    OutOfRange,
    /// No free range satisfies the request.
    Exhausted,
    /// A range given to [`SegregatedFit::free`] is at least partly free already.
    NotAllocated,
    /// The free set would need another block record and has 2^32 - 1 of them.
    TooFragmented,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroLength => "zero-length range",
            Self::BadAlignment => "alignment is not a power of two or offset is not below it",
            Self::OutOfRange => "range is not inside the window",
            Self::Exhausted => "no free range satisfies the request",
            Self::NotAllocated => "range is already (partly) free",
            Self::TooFragmented => "too many free blocks to record another",
        })
    }
}

impl core::error::Error for FitError {}

/// A free block `[start, start + pages)`; a record not in use has `pages == 0`.
#[derive(Clone, Copy, Debug)]
struct Block {
    start: u64,
    pages: u64,
}

/// The free pages of a window `[0, pages)`.
///
/// Invariants: the free blocks are disjoint and never adjacent; each is filed in its size
/// class, its first and last pages are tagged with its record, and its pages are set in the
/// page bitmap, which sets no other page; their lengths sum to `free_pages`.
#[derive(Debug)]
pub struct SegregatedFit {
    /// Pages in the window.
    pages: u64,
    /// Pages free.
    free_pages: u64,
    /// Block records, in use or not.
    blocks: Vec<Block>,
    /// Records not in use.
    unused: Vec<u32>,
    classes: SizeClasses,
    free_map: PageBitmap,
    tags: BoundaryTags,
}

impl SegregatedFit {
    /// A window of `pages` pages, all free.
    pub fn new(pages: u64) -> Self {
        let mut fit = Self {
            pages,
            free_pages: 0,
            blocks: Vec::new(),
            unused: Vec::new(),
            classes: SizeClasses::new(),
            free_map: PageBitmap::new(pages, leaf_shift(pages, MAX_BITMAP_LEAVES_SHIFT)),
            tags: BoundaryTags::new(pages, leaf_shift(pages, MAX_TAG_LEAVES_SHIFT)),
        };
        if pages > 0 {
            // The first record: it cannot be the one too many.
            if let Some(block) = fit.record(0, pages) {
                fit.file(block);
                fit.free_pages = pages;
            }
        }
        fit
    }

    /// Pages in the window.
    pub fn total_pages(&self) -> u64 {
        self.pages
    }

    /// Pages free.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Free blocks (maximal: adjacent free pages are one block).
    pub fn free_blocks(&self) -> usize {
        self.blocks.len() - self.unused.len()
    }

    /// Pages in the largest free block, 0 if none is free.
    pub fn largest_free(&self) -> u64 {
        let class = self.classes.last_nonempty();
        class.map_or(0, |class| self.classes.blocks(class).iter().map(|entry| entry.pages).max().unwrap_or(0))
    }

    /// Allocates `pages` pages whose first page is congruent to `offset` modulo `alignment` (a
    /// power of two; 1 for none), returning the first page.
    ///
    /// Without alignment, the best fit (see the module). With it, the best fit for `pages +
    /// alignment - 1`, which holds an aligned run wherever it starts, and only if there is
    /// none, the smallest block that happens to hold one.
    pub fn allocate(&mut self, pages: u64, alignment: u64, offset: u64) -> Result<u64, FitError> {
        if pages == 0 {
            return Err(FitError::ZeroLength);
        }
        if !alignment.is_power_of_two() || offset >= alignment {
            return Err(FitError::BadAlignment);
        }
        if pages > self.free_pages {
            return Err(FitError::Exhausted);
        }
        let (block, start) = if alignment == 1 {
            let block = self.best_fit(pages).ok_or(FitError::Exhausted)?;
            (block, self.blocks[block as usize].start)
        } else {
            self.aligned_fit(pages, alignment, offset).ok_or(FitError::Exhausted)?
        };
        self.carve(block, start, pages)?;
        Ok(start)
    }

    /// Returns `[first, first + pages)` to the free set, merging it with the free blocks
    /// before and after it. Fails, changing nothing, if the range leaves the window or any
    /// page of it is free already (a double free, or a free overlapping one).
    pub fn free(&mut self, first: u64, pages: u64) -> Result<(), FitError> {
        if pages == 0 {
            return Err(FitError::ZeroLength);
        }
        let end = first.checked_add(pages).filter(|&end| end <= self.pages).ok_or(FitError::OutOfRange)?;
        let (before_free, after_free) = self.free_map.release(first, end).ok_or(FitError::NotAllocated)?;
        // A free page just outside the range is the last page of the block before it or the
        // first page of the block after it, and so carries that block's tag.
        let before = before_free.then(|| self.tags.get(first - 1));
        let after = after_free.then(|| self.tags.get(end));
        match (before, after) {
            (Some(before), Some(after)) => {
                let Block { start: after_start, pages: after_pages } = self.blocks[after as usize];
                let after_end = after_start + after_pages;
                self.classes.remove(after, after_pages);
                self.release(after);
                let start = self.blocks[before as usize].start;
                self.resize(before, start, after_end - start);
                self.tags.set(after_end - 1, before);
            }
            (Some(before), None) => {
                let Block { start, pages: before_pages } = self.blocks[before as usize];
                self.resize(before, start, before_pages + pages);
                self.tags.set(end - 1, before);
            }
            (None, Some(after)) => {
                let after_pages = self.blocks[after as usize].pages;
                self.resize(after, first, after_pages + pages);
                self.tags.set(first, after);
            }
            (None, None) => {
                let Some(block) = self.record(first, pages) else {
                    self.free_map.set(first, end, false);
                    return Err(FitError::TooFragmented);
                };
                self.file(block);
            }
        }
        self.free_pages += pages;
        Ok(())
    }

    /// The best-fitting block for `pages` pages without alignment.
    fn best_fit(&self, pages: u64) -> Option<u32> {
        let wanted = class_of(pages);
        let mut class = self.classes.first_nonempty(wanted)?;
        if class == wanted && class >= EXACT_CLASSES {
            // A logarithmic class holds sizes on both sides of the request.
            let blocks = self.classes.blocks(class);
            if let Some(entry) = smallest_fitting(&blocks[..blocks.len().min(SEARCH_LIMIT)], pages) {
                return Some(entry.block);
            }
            match self.classes.first_nonempty(class + 1) {
                Some(larger) => class = larger,
                None => return smallest_fitting(blocks, pages).map(|entry| entry.block),
            }
        }
        // Every block of a higher class is larger than the request: the first is the best.
        self.classes.blocks(class).first().map(|entry| entry.block)
    }

    /// The block and first page for an aligned request: see [`SegregatedFit::allocate`].
    fn aligned_fit(&self, pages: u64, alignment: u64, offset: u64) -> Option<(u32, u64)> {
        if let Some(block) = pages.checked_add(alignment - 1).and_then(|needed| self.best_fit(needed)) {
            let start = align_up(self.blocks[block as usize].start, alignment, offset)?;
            return Some((block, start));
        }
        // Smaller blocks may still hold an aligned run. Looked at class by class, smallest
        // first, so that the first hit is the best fit among them; this walks classes, but
        // only for an aligned request that the window can barely meet.
        let holds = |entry: &&Entry| {
            align_up(entry.start, alignment, offset)
                .and_then(|aligned| aligned.checked_add(pages))
                .is_some_and(|end| end <= entry.start + entry.pages)
        };
        let mut class = self.classes.first_nonempty(class_of(pages))?;
        loop {
            let blocks = self.classes.blocks(class).iter().filter(holds);
            if let Some(entry) = blocks.min_by_key(|entry| (entry.pages, entry.start)) {
                return Some((entry.block, align_up(entry.start, alignment, offset)?));
            }
            class = self.classes.first_nonempty(class + 1)?;
        }
    }

    /// Takes `[start, start + pages)` out of free block `block`, which holds it; what is left
    /// before and after it stays free.
    fn carve(&mut self, block: u32, start: u64, pages: u64) -> Result<(), FitError> {
        let Block { start: block_start, pages: block_pages } = self.blocks[block as usize];
        let (end, block_end) = (start + pages, block_start + block_pages);
        match (start > block_start, end < block_end) {
            (false, false) => {
                self.classes.remove(block, block_pages);
                self.release(block);
            }
            (false, true) => {
                self.resize(block, end, block_end - end);
                self.tags.set(end, block);
            }
            (true, false) => {
                self.resize(block, block_start, start - block_start);
                self.tags.set(start - 1, block);
            }
            (true, true) => {
                let tail = self.record(end, block_end - end).ok_or(FitError::TooFragmented)?;
                self.resize(block, block_start, start - block_start);
                self.tags.set(start - 1, block);
                self.file(tail);
            }
        }
        self.free_map.set(start, end, false);
        self.free_pages -= pages;
        Ok(())
    }

    /// Makes filed block `block` `[start, start + pages)`.
    fn resize(&mut self, block: u32, start: u64, pages: u64) {
        let record = &mut self.blocks[block as usize];
        self.classes.resize(block, record.pages, pages, start);
        *record = Block { start, pages };
    }

    /// Files the new block `block` in its class and tags its first and last page.
    fn file(&mut self, block: u32) {
        let Block { start, pages } = self.blocks[block as usize];
        self.classes.insert(block, pages, start);
        self.tags.set(start, block);
        self.tags.set(start + pages - 1, block);
    }

    /// A record for the block `[start, start + pages)`, not filed yet.
    fn record(&mut self, start: u64, pages: u64) -> Option<u32> {
        if let Some(block) = self.unused.pop() {
            self.blocks[block as usize] = Block { start, pages };
            return Some(block);
        }
        let block = u32::try_from(self.blocks.len()).ok().filter(|&block| block != UNTAGGED)?;
        self.blocks.push(Block { start, pages });
        Some(block)
    }

    /// Takes the record of block `block`, no longer filed, out of use.
    fn release(&mut self, block: u32) {
        self.blocks[block as usize] = Block { start: 0, pages: 0 };
        self.unused.push(block);
    }
}

/// The first of the smallest blocks in `blocks` of at least `pages` pages, lowest first.
fn smallest_fitting(blocks: &[Entry], pages: u64) -> Option<&Entry> {
    blocks.iter().filter(|entry| entry.pages >= pages).min_by_key(|entry| (entry.pages, entry.start))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    impl SegregatedFit {
        /// The free blocks as `(start, pages)`, in address order.
        fn blocks_in_order(&self) -> Vec<(u64, u64)> {
            let mut blocks: Vec<_> =
                self.classes.check_invariants().iter().map(|entry| (entry.start, entry.pages)).collect();
            blocks.sort_unstable();
            blocks
        }

        /// Asserts every invariant of the structure.
        fn check_invariants(&self) {
            let filed = self.classes.check_invariants();
            assert_eq!(filed.len(), self.free_blocks());
            for entry in &filed {
                let Block { start, pages } = self.blocks[entry.block as usize];
                assert_eq!((start, pages), (entry.start, entry.pages), "record {}", entry.block);
                assert_eq!(self.tags.get(start), entry.block);
                assert_eq!(self.tags.get(start + pages - 1), entry.block);
                assert!((start..start + pages).all(|page| self.free_map.is_free(page)));
            }
            for &unused in &self.unused {
                assert_eq!(self.blocks[unused as usize].pages, 0);
            }
            assert_eq!(filed.iter().map(|entry| entry.pages).sum::<u64>(), self.free_pages);
            let blocks = self.blocks_in_order();
            for pair in blocks.windows(2) {
                assert!(pair[0].0 + pair[0].1 < pair[1].0, "blocks {pair:?} overlap or touch");
            }
            let free_in_map = (0..self.pages).filter(|&page| self.free_map.is_free(page)).count();
            assert_eq!(free_in_map as u64, self.free_pages, "the bitmap sets only free pages");
        }
    }

    #[test]
    fn best_fit_takes_the_smallest_block_that_holds_the_request() {
        let mut fit = SegregatedFit::new(1000);
        // Free blocks of 10, 30, 12 and 300 pages, apart.
        let taken = fit.allocate(1000, 1, 0).unwrap();
        assert_eq!(taken, 0);
        for (start, pages) in [(100, 10), (200, 30), (400, 12), (600, 300)] {
            fit.free(start, pages).unwrap();
        }
        assert_eq!(fit.allocate(11, 1, 0), Ok(400));
        assert_eq!(fit.allocate(10, 1, 0), Ok(100));
        assert_eq!(fit.allocate(25, 1, 0), Ok(200));
        assert_eq!(fit.allocate(1, 1, 0), Ok(411));
        assert_eq!(fit.allocate(200, 1, 0), Ok(600));
        assert_eq!(fit.blocks_in_order(), vec![(225, 5), (800, 100)]);
        fit.check_invariants();
    }

    #[test]
    fn among_blocks_of_one_size_the_lowest_is_taken_first() {
        let mut fit = SegregatedFit::new(1000);
        fit.allocate(1000, 1, 0).unwrap();
        for start in [300, 100, 700, 200] {
            fit.free(start, 5).unwrap();
        }
        let taken: Vec<_> = (0..4).map(|_| fit.allocate(5, 1, 0).unwrap()).collect();
        assert_eq!(taken, [100, 200, 300, 700], "address order, not the order of the frees");
        fit.free(700, 5).unwrap();
        fit.free(100, 5).unwrap();
        assert_eq!(fit.allocate(3, 1, 0), Ok(100), "the remainder of a split stays lowest");
        assert_eq!(fit.allocate(2, 1, 0), Ok(103));
        fit.check_invariants();
    }

    #[test]
    fn best_fit_among_large_blocks_of_one_class() {
        let mut fit = SegregatedFit::new(10_000);
        fit.allocate(10_000, 1, 0).unwrap();
        // 1030, 1050 and 1040 pages share a class; 1100 is the next class.
        for (start, pages) in [(0, 1050), (2000, 1030), (4000, 1040), (6000, 1100)] {
            fit.free(start, pages).unwrap();
        }
        assert_eq!(class_of(1030), class_of(1050));
        assert_eq!(fit.allocate(1035, 1, 0), Ok(4000), "the smallest of the class that fits");
        assert_eq!(fit.allocate(1051, 1, 0), Ok(6000), "none of the class fits: the next class");
        assert_eq!(fit.allocate(1000, 1, 0), Ok(2000));
        fit.check_invariants();
    }

    #[test]
    fn coalescing_with_the_block_before_after_and_both() {
        let mut fit = SegregatedFit::new(30);
        fit.allocate(30, 1, 0).unwrap();
        fit.free(0, 5).unwrap();
        fit.free(5, 5).unwrap();
        assert_eq!(fit.blocks_in_order(), vec![(0, 10)], "merged with the block before");
        fit.free(25, 5).unwrap();
        fit.free(20, 5).unwrap();
        assert_eq!(fit.blocks_in_order(), vec![(0, 10), (20, 10)], "merged with the block after");
        fit.free(10, 10).unwrap();
        assert_eq!(fit.blocks_in_order(), vec![(0, 30)], "merged with both");
        assert_eq!((fit.free_blocks(), fit.free_pages(), fit.largest_free()), (1, 30, 30));
        fit.check_invariants();
    }

    #[test]
    fn a_double_or_overlapping_free_is_refused_and_changes_nothing() {
        let mut fit = SegregatedFit::new(150);
        fit.allocate(100, 1, 0).unwrap();
        fit.free(10, 20).unwrap();
        let before = fit.blocks_in_order();
        assert_eq!(fit.free(10, 20), Err(FitError::NotAllocated), "double free");
        assert_eq!(fit.free(5, 10), Err(FitError::NotAllocated), "overlapping the start");
        assert_eq!(fit.free(25, 10), Err(FitError::NotAllocated), "overlapping the end");
        assert_eq!(fit.free(0, 50), Err(FitError::NotAllocated), "enclosing a free block");
        assert_eq!(fit.free(15, 1), Err(FitError::NotAllocated), "inside a free block");
        assert_eq!(fit.free(99, 2), Err(FitError::NotAllocated), "reaching into the free tail");
        assert_eq!(fit.free(140, 20), Err(FitError::OutOfRange));
        assert_eq!(fit.free(u64::MAX, 2), Err(FitError::OutOfRange));
        assert_eq!(fit.free(3, 0), Err(FitError::ZeroLength));
        assert_eq!(fit.blocks_in_order(), before);
        assert_eq!(fit.free_pages(), 70);
        fit.check_invariants();
    }

    #[test]
    fn alignment_and_offset_are_honoured() {
        let mut fit = SegregatedFit::new(10_000);
        fit.allocate(1, 1, 0).unwrap();
        assert_eq!(fit.allocate(100, 512, 3), Ok(3));
        assert_eq!(fit.allocate(100, 512, 3), Ok(515));
        assert_eq!(fit.allocate(7, 4096, 0), Ok(4096));
        assert_eq!(fit.free_pages(), 10_000 - 208);
        assert_eq!(fit.allocate(3, 3, 0), Err(FitError::BadAlignment));
        assert_eq!(fit.allocate(3, 0, 0), Err(FitError::BadAlignment));
        assert_eq!(fit.allocate(3, 8, 8), Err(FitError::BadAlignment));
        assert_eq!(fit.allocate(0, 1, 0), Err(FitError::ZeroLength));
        fit.check_invariants();

        // No block guarantees a fit, but one happens to be aligned.
        let mut fit = SegregatedFit::new(2000);
        fit.allocate(2000, 1, 0).unwrap();
        for (start, pages) in [(1, 20), (64, 20), (1000, 30)] {
            fit.free(start, pages).unwrap();
        }
        assert_eq!(fit.allocate(16, 64, 0), Ok(64));
        assert_eq!(fit.allocate(16, 64, 0), Err(FitError::Exhausted));
        assert_eq!(fit.allocate(16, 32, 8), Ok(1000));
        fit.check_invariants();
    }

    #[test]
    fn exhaustion_is_an_error_and_frees_make_room_again() {
        let mut fit = SegregatedFit::new(64);
        let starts: Vec<_> = (0..8).map(|_| fit.allocate(8, 1, 0).unwrap()).collect();
        assert_eq!(fit.allocate(1, 1, 0), Err(FitError::Exhausted));
        assert_eq!(fit.largest_free(), 0);
        fit.free(starts[3], 8).unwrap();
        fit.free(starts[5], 8).unwrap();
        assert_eq!(fit.allocate(9, 1, 0), Err(FitError::Exhausted));
        assert_eq!(fit.largest_free(), 8);
        fit.free(starts[4], 8).unwrap();
        assert_eq!(fit.largest_free(), 24);
        assert_eq!(fit.allocate(24, 1, 0), Ok(24));
        assert_eq!(fit.free_pages(), 0);
        fit.check_invariants();
    }

    #[test]
    fn a_huge_window_costs_memory_only_where_blocks_begin_and_end() {
        // 256 GiB of pages, and a 64 GiB run taken and given back.
        let mut fit = SegregatedFit::new(1 << 26);
        let run = fit.allocate(1 << 24, 1 << 18, 0).unwrap();
        assert_eq!(run, 0);
        assert_eq!(fit.free_pages(), (1 << 26) - (1 << 24));
        let made = fit.tags.leaves_made();
        assert!(made <= 4, "{made} leaves of tags");
        assert_eq!(fit.free_map.leaves_with_bits(), 0, "whole leaves are one word of state each");
        fit.free(run, 1 << 24).unwrap();
        assert_eq!(fit.blocks_in_order(), vec![(0, 1 << 26)]);
        assert_eq!(fit.free_map.leaves_with_bits(), 0);
    }

    /// A xorshift64* generator: deterministic, no dependencies.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// The free blocks of a model with one flag per page.
    fn model_blocks(model: &[bool]) -> Vec<(u64, u64)> {
        let mut blocks = Vec::new();
        let mut page = 0;
        while page < model.len() {
            if model[page] {
                let start = page;
                while page < model.len() && model[page] {
                    page += 1;
                }
                blocks.push((start as u64, (page - start) as u64));
            } else {
                page += 1;
            }
        }
        blocks
    }

    #[test]
    fn randomized_against_a_model_of_one_flag_per_page() {
        const PAGES: u64 = 5000;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fit = SegregatedFit::new(PAGES);
        let mut model = vec![true; PAGES as usize];
        let mut live: Vec<(u64, u64)> = Vec::new();
        let (mut allocations, mut exhausted, mut refused) = (0u32, 0u32, 0u32);
        for op in 0..60_000u32 {
            match rng.below(10) {
                kind @ 0..=5 => {
                    let pages = if rng.below(20) == 0 { 1 + rng.below(600) } else { 1 + rng.below(64) };
                    let alignment = if kind == 5 { 1 << rng.below(9) } else { 1 };
                    let offset = rng.below(alignment);
                    let fits =
                        |start: u64| model[start as usize..(start + pages) as usize].iter().all(|&f| f);
                    match fit.allocate(pages, alignment, offset) {
                        Ok(start) => {
                            allocations += 1;
                            assert_eq!(start % alignment, offset, "op {op}");
                            assert!(start + pages <= PAGES && fits(start), "op {op}: pages handed out twice");
                            model[start as usize..(start + pages) as usize].fill(false);
                            live.push((start, pages));
                        }
                        Err(FitError::Exhausted) => {
                            exhausted += 1;
                            let any = (0..PAGES.saturating_sub(pages - 1))
                                .any(|start| start % alignment == offset && fits(start));
                            assert!(
                                !any,
                                "op {op}: {pages} pages aligned {alignment}+{offset} fit somewhere"
                            );
                        }
                        Err(error) => panic!("op {op}: {error}"),
                    }
                }
                6..=8 => {
                    if !live.is_empty() {
                        let (start, pages) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        // Part of a run may go back before the rest.
                        let split = rng.below(pages);
                        for (first, length) in [(start, split), (start + split, pages - split)] {
                            if length > 0 {
                                fit.free(first, length).unwrap();
                                model[first as usize..(first + length) as usize].fill(true);
                            }
                        }
                    }
                }
                _ => {
                    let first = rng.below(PAGES);
                    let pages = 1 + rng.below(80);
                    let end = (first + pages).min(PAGES);
                    if model[first as usize..end as usize].iter().any(|&free| free) || first + pages > PAGES {
                        refused += 1;
                        let before = fit.blocks_in_order();
                        assert!(fit.free(first, pages).is_err(), "op {op}: free of ({first}, {pages})");
                        assert_eq!(fit.blocks_in_order(), before);
                    }
                }
            }
            let model_free = model.iter().filter(|&&free| free).count() as u64;
            assert_eq!(fit.free_pages(), model_free, "op {op}");
            if op % 500 == 0 {
                fit.check_invariants();
                assert_eq!(fit.blocks_in_order(), model_blocks(&model), "op {op}");
            }
        }
        assert!(allocations > 10_000 && exhausted > 1_000 && refused > 1_000, "every path ran");
    }
}
