//! A best-fit allocator of integer ranges.
//!
//! The unit is whatever the caller says it is: pages of system virtual address space, or
//! physical page frames. The allocator only tracks which units are free; it does not remember
//! who owns an allocated range, so [`RangeAllocator::free`] can only refuse ranges that are
//! (partly) free already.
//!
//! Free blocks are indexed twice: by start address (to find and coalesce neighbours, and to
//! scan an address window) and by `(length, start)` (to find the best fit). Unconstrained and
//! alignment-only requests therefore cost O(log n) in the number of free blocks; requests with
//! an address window or a boundary scan blocks by address, which is acceptable because they
//! are the rare physically-contiguous-memory requests.
//!
//! Ranges are half-open `[start, start + len)` and `start + len` must not overflow a `u64`, so
//! unit `u64::MAX` itself can never be free. That costs one unit of a 2^64 space and keeps every
//! end computable without wider arithmetic.

use alloc::collections::{BTreeMap, BTreeSet};
use core::fmt;

/// Why a range operation failed. Failed operations never change the allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The length was zero.
    ZeroLength,
    /// `start + len` does not fit in a `u64`.
    Wraps,
    /// The [`Placement`] is malformed or can never be satisfied for this length.
    BadPlacement,
    /// No free range satisfies the request.
    Exhausted,
    /// A region given to [`RangeAllocator::add_free`] overlaps a free block.
    Overlaps,
    /// A range given to [`RangeAllocator::allocate_at`] is not wholly free.
    NotFree,
    /// A range given to [`RangeAllocator::free`] is at least partly free already.
    NotAllocated,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroLength => "zero-length range",
            Self::Wraps => "range wraps around the end of the address space",
            Self::BadPlacement => "invalid placement constraints",
            Self::Exhausted => "no free range satisfies the request",
            Self::Overlaps => "region overlaps a free block",
            Self::NotFree => "range is not wholly free",
            Self::NotAllocated => "range is already (partly) free",
        })
    }
}

/// Where an allocation may be placed.
///
/// All quantities are in the allocator's units. The default is [`Placement::ANY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The result must be congruent to `offset` modulo this power of two (1 = no alignment).
    pub alignment: u64,
    /// The required remainder of the result modulo `alignment`; must be below `alignment`.
    pub offset: u64,
    /// The lowest unit the block may occupy (inclusive).
    pub lowest: u64,
    /// The highest unit the block may occupy (inclusive).
    pub highest: u64,
    /// 0 for none, else a power of two: the block must not cross a multiple of it.
    pub boundary: u64,
}

impl Placement {
    /// No constraint at all.
    pub const ANY: Placement =
        Placement { alignment: 1, offset: 0, lowest: 0, highest: u64::MAX, boundary: 0 };

    /// Only an alignment: the result will satisfy `result % alignment == offset`.
    pub const fn aligned(alignment: u64, offset: u64) -> Placement {
        Placement { alignment, offset, ..Placement::ANY }
    }

    /// This placement restricted to the window `[lowest, highest]` (both inclusive).
    pub const fn within(self, lowest: u64, highest: u64) -> Placement {
        Placement { lowest, highest, ..self }
    }

    /// This placement with a boundary the block must not cross (0 for none).
    pub const fn not_crossing(self, boundary: u64) -> Placement {
        Placement { boundary, ..self }
    }

    /// Checks the placement is well formed and satisfiable in principle for `len` units.
    fn validate(&self, len: u64) -> Result<(), RangeError> {
        if !self.alignment.is_power_of_two() || self.offset >= self.alignment || self.lowest > self.highest {
            return Err(RangeError::BadPlacement);
        }
        if self.boundary != 0 {
            // Every candidate start sits at least `offset % boundary` into its boundary chunk
            // (the offset pins the low bits), so if the block cannot fit after that point in
            // any chunk, no placement exists anywhere: say so rather than scan for nothing.
            if !self.boundary.is_power_of_two()
                || self.boundary < len
                || len > self.boundary - self.offset % self.boundary
            {
                return Err(RangeError::BadPlacement);
            }
        }
        Ok(())
    }

    fn is_any(&self) -> bool {
        self.alignment == 1 && self.is_alignment_only()
    }

    fn is_alignment_only(&self) -> bool {
        self.lowest == 0 && self.highest == u64::MAX && self.boundary == 0
    }

    /// The lowest start in `[lo, hi)` at which `len` units satisfy the alignment and boundary
    /// constraints (the window is the caller's business), if any.
    fn first_fit_in(&self, lo: u64, hi: u64, len: u64) -> Option<u64> {
        let mut start = align_up(lo, self.alignment, self.offset)?;
        if crosses(start, start.checked_add(len - 1)?, self.boundary) {
            // Every later aligned start in this chunk crosses too; the first one in the next
            // chunk does not (validate() made sure the block fits after the offset).
            let next_chunk = (start | (self.boundary - 1)).checked_add(1)?;
            start = align_up(next_chunk, self.alignment, self.offset)?;
            if crosses(start, start.checked_add(len - 1)?, self.boundary) {
                return None;
            }
        }
        let end = start.checked_add(len)?;
        (end <= hi).then_some(start)
    }
}

impl Default for Placement {
    fn default() -> Self {
        Self::ANY
    }
}

/// Whether units `first..=last` straddle a multiple of `boundary` (0 = no boundary, else a
/// power of two). Two units share a boundary chunk exactly when they differ only below it.
fn crosses(first: u64, last: u64, boundary: u64) -> bool {
    boundary != 0 && (first ^ last) >= boundary
}

/// The smallest `y >= x` with `y % alignment == offset` (`alignment` a power of two), if it
/// fits in a `u64`.
fn align_up(x: u64, alignment: u64, offset: u64) -> Option<u64> {
    let mask = alignment - 1;
    x.checked_add(offset.wrapping_sub(x & mask) & mask)
}

/// The exclusive end of `[start, start + len)`, or why the range is invalid.
fn range_end(start: u64, len: u64) -> Result<u64, RangeError> {
    if len == 0 {
        return Err(RangeError::ZeroLength);
    }
    start.checked_add(len).ok_or(RangeError::Wraps)
}

/// A best-fit allocator of integer ranges with coalescing on free.
///
/// Invariants: the free blocks are disjoint, never adjacent (adjacent blocks are merged), and
/// `by_start` and `by_size` describe the same set of blocks whose lengths sum to `free_units`.
#[derive(Debug, Clone, Default)]
pub struct RangeAllocator {
    /// Free blocks: start -> length.
    by_start: BTreeMap<u64, u64>,
    /// The same free blocks ordered by `(length, start)`, for best fit.
    by_size: BTreeSet<(u64, u64)>,
    /// Sum of the lengths of the free blocks.
    free_units: u64,
}

impl RangeAllocator {
    /// An allocator with nothing free.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `[start, start + len)` available, merging it with adjacent free blocks.
    ///
    /// Fails with [`RangeError::Overlaps`] if any unit of it is already free.
    pub fn add_free(&mut self, start: u64, len: u64) -> Result<(), RangeError> {
        let end = range_end(start, len)?;
        if self.overlaps_free(start, end) {
            return Err(RangeError::Overlaps);
        }
        self.insert_coalescing(start, len);
        Ok(())
    }

    /// Allocates `len` units placed as `placement` requires, returning the first unit.
    ///
    /// Unconstrained requests take the smallest free block that is large enough (best fit);
    /// alignment-only requests take the smallest block that fits whatever its alignment, and
    /// only if none exists look at smaller blocks that might happen to be suitably aligned;
    /// requests with a window or a boundary take the lowest suitable address.
    pub fn allocate(&mut self, len: u64, placement: &Placement) -> Result<u64, RangeError> {
        if len == 0 {
            return Err(RangeError::ZeroLength);
        }
        placement.validate(len)?;
        let found = if placement.is_any() {
            self.by_size
                .range((len, 0)..)
                .next()
                .map(|&(block_len, block_start)| (block_start, block_len, block_start))
        } else if placement.is_alignment_only() {
            self.find_aligned(len, placement)
        } else {
            self.find_constrained(len, placement)
        };
        let (block_start, block_len, start) = found.ok_or(RangeError::Exhausted)?;
        self.carve(block_start, block_len, start, len);
        Ok(start)
    }

    /// Claims exactly `[start, start + len)`, which must be wholly free.
    pub fn allocate_at(&mut self, start: u64, len: u64) -> Result<(), RangeError> {
        let end = range_end(start, len)?;
        let (block_start, block_len) =
            self.block_containing(start).filter(|&(bs, bl)| bs + bl >= end).ok_or(RangeError::NotFree)?;
        self.carve(block_start, block_len, start, len);
        Ok(())
    }

    /// Returns `[start, start + len)` to the free set, merging it with its neighbours.
    ///
    /// Fails with [`RangeError::NotAllocated`], changing nothing, if any unit of the range is
    /// already free (a double free, or a free overlapping one).
    pub fn free(&mut self, start: u64, len: u64) -> Result<(), RangeError> {
        let end = range_end(start, len)?;
        if self.overlaps_free(start, end) {
            return Err(RangeError::NotAllocated);
        }
        self.insert_coalescing(start, len);
        Ok(())
    }

    /// Total free units.
    pub fn free_units(&self) -> u64 {
        self.free_units
    }

    /// Number of (maximal, coalesced) free blocks.
    pub fn free_blocks(&self) -> usize {
        self.by_start.len()
    }

    /// Length of the largest free block, 0 if nothing is free.
    pub fn largest_free(&self) -> u64 {
        self.by_size.last().map_or(0, |&(len, _)| len)
    }

    /// Whether every unit of `[start, start + len)` is free. Empty or wrapping ranges are
    /// reported as not free, since [`RangeAllocator::allocate_at`] would refuse them too.
    pub fn is_free(&self, start: u64, len: u64) -> bool {
        let Ok(end) = range_end(start, len) else {
            return false;
        };
        self.block_containing(start).is_some_and(|(bs, bl)| bs + bl >= end)
    }

    /// Whether any unit of `[start, start + len)` is free. Empty or wrapping ranges hold no
    /// unit and are reported as not free.
    pub fn is_partly_free(&self, start: u64, len: u64) -> bool {
        range_end(start, len).is_ok_and(|end| self.overlaps_free(start, end))
    }

    /// The free blocks as `(start, len)`, in address order.
    pub fn iter_free(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.by_start.iter().map(|(&start, &len)| (start, len))
    }

    /// The free block containing unit `unit`, if any.
    fn block_containing(&self, unit: u64) -> Option<(u64, u64)> {
        self.by_start
            .range(..=unit)
            .next_back()
            .map(|(&start, &len)| (start, len))
            .filter(|&(start, len)| start + len > unit)
    }

    /// Whether any free unit lies in `[start, end)`.
    fn overlaps_free(&self, start: u64, end: u64) -> bool {
        // Only the last block starting before `end` can matter: any earlier block that reached
        // past `start` would force this one to start inside `[start, end)` (blocks are disjoint).
        self.by_start.range(..end).next_back().is_some_and(|(&s, &l)| s + l > start)
    }

    /// Best fit for an alignment-only request: see [`RangeAllocator::allocate`].
    fn find_aligned(&self, len: u64, placement: &Placement) -> Option<(u64, u64, u64)> {
        // A block of len + alignment - 1 units holds an aligned run of len wherever it starts,
        // so the smallest such block is a fit found in O(log n).
        if let Some(needed) = len.checked_add(placement.alignment - 1) {
            if let Some(&(block_len, block_start)) = self.by_size.range((needed, 0)..).next() {
                let start = align_up(block_start, placement.alignment, placement.offset)?;
                return Some((block_start, block_len, start));
            }
        }
        // No guaranteed fit: smaller blocks may still be aligned suitably. Look at them in
        // size order so the first hit is still the best fit among them.
        self.by_size.range((len, 0)..).find_map(|&(block_len, block_start)| {
            placement
                .first_fit_in(block_start, block_start + block_len, len)
                .map(|start| (block_start, block_len, start))
        })
    }

    /// Lowest-address fit for a request with a window and/or a boundary.
    fn find_constrained(&self, len: u64, placement: &Placement) -> Option<(u64, u64, u64)> {
        // Exclusive end of the window. Saturating is exact: unit u64::MAX is never free.
        let window_end = placement.highest.saturating_add(1);
        let first = self.block_containing(placement.lowest).map_or(placement.lowest, |(start, _)| start);
        for (&block_start, &block_len) in self.by_start.range(first..) {
            if block_start >= window_end {
                break;
            }
            let lo = block_start.max(placement.lowest);
            let hi = (block_start + block_len).min(window_end);
            if lo >= hi {
                continue;
            }
            if let Some(start) = placement.first_fit_in(lo, hi, len) {
                return Some((block_start, block_len, start));
            }
        }
        None
    }

    /// Removes `[start, start + len)` from the free block `[block_start, +block_len)` that
    /// contains it, returning the head and tail to the free set.
    fn carve(&mut self, block_start: u64, block_len: u64, start: u64, len: u64) {
        self.remove_block(block_start, block_len);
        // Head and tail are bounded by the block's old neighbours (never adjacent, by the
        // invariant) and by the allocated range, so they need no coalescing.
        if start > block_start {
            self.insert_block(block_start, start - block_start);
        }
        let end = start + len;
        let block_end = block_start + block_len;
        if block_end > end {
            self.insert_block(end, block_end - end);
        }
    }

    /// Adds a block known not to overlap any free block, merging it with adjacent ones.
    fn insert_coalescing(&mut self, mut start: u64, mut len: u64) {
        let end = start + len;
        if let Some((&left_start, &left_len)) = self.by_start.range(..start).next_back() {
            if left_start + left_len == start {
                self.remove_block(left_start, left_len);
                start = left_start;
                len += left_len;
            }
        }
        if let Some(&right_len) = self.by_start.get(&end) {
            self.remove_block(end, right_len);
            len += right_len;
        }
        self.insert_block(start, len);
    }

    fn insert_block(&mut self, start: u64, len: u64) {
        self.by_start.insert(start, len);
        self.by_size.insert((len, start));
        self.free_units += len;
    }

    fn remove_block(&mut self, start: u64, len: u64) {
        self.by_start.remove(&start);
        self.by_size.remove(&(len, start));
        self.free_units -= len;
    }

    /// Asserts the structural invariants (tests only).
    #[cfg(test)]
    fn check_invariants(&self) {
        assert_eq!(self.by_start.len(), self.by_size.len());
        let mut total = 0u64;
        let mut previous_end: Option<u64> = None;
        for (&start, &len) in &self.by_start {
            assert!(len > 0);
            assert!(self.by_size.contains(&(len, start)));
            if let Some(previous_end) = previous_end {
                assert!(start > previous_end, "blocks overlap or touch at {start}");
            }
            previous_end = Some(start.checked_add(len).expect("block wraps"));
            total += len;
        }
        assert_eq!(total, self.free_units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn blocks(a: &RangeAllocator) -> Vec<(u64, u64)> {
        a.iter_free().collect()
    }

    #[test]
    fn best_fit_chooses_smallest_block() {
        let mut a = RangeAllocator::new();
        a.add_free(0, 100).unwrap();
        a.add_free(200, 10).unwrap();
        a.add_free(300, 30).unwrap();
        a.add_free(400, 12).unwrap();
        assert_eq!(a.allocate(11, &Placement::ANY), Ok(400));
        assert_eq!(a.allocate(10, &Placement::ANY), Ok(200));
        assert_eq!(a.allocate(25, &Placement::ANY), Ok(300));
        assert_eq!(a.allocate(1, &Placement::ANY), Ok(411));
        assert_eq!(a.allocate(31, &Placement::ANY), Ok(0));
        assert_eq!(blocks(&a), vec![(31, 69), (325, 5)]);
        a.check_invariants();
    }

    #[test]
    fn coalesces_on_both_sides() {
        let mut a = RangeAllocator::new();
        a.add_free(0, 30).unwrap();
        a.allocate_at(10, 10).unwrap();
        assert_eq!(blocks(&a), vec![(0, 10), (20, 10)]);
        a.free(10, 10).unwrap();
        assert_eq!(blocks(&a), vec![(0, 30)]);
        assert_eq!(a.free_blocks(), 1);
        assert_eq!(a.free_units(), 30);
        // Only the left neighbour, then only the right one.
        a.allocate_at(0, 30).unwrap();
        a.free(0, 5).unwrap();
        a.free(5, 5).unwrap();
        assert_eq!(blocks(&a), vec![(0, 10)]);
        a.free(25, 5).unwrap();
        a.free(20, 5).unwrap();
        assert_eq!(blocks(&a), vec![(0, 10), (20, 10)]);
        // add_free coalesces too.
        a.add_free(10, 10).unwrap();
        assert_eq!(blocks(&a), vec![(0, 30)]);
        a.check_invariants();
    }

    #[test]
    fn double_free_refused_and_state_unchanged() {
        let mut a = RangeAllocator::new();
        a.add_free(100, 50).unwrap();
        let start = a.allocate(20, &Placement::ANY).unwrap();
        a.free(start, 20).unwrap();
        let before = blocks(&a);
        assert_eq!(a.free(start, 20), Err(RangeError::NotAllocated));
        // Partial overlaps at either end and a range enclosing a free block.
        a.allocate_at(110, 10).unwrap();
        let before_partial = blocks(&a);
        assert_eq!(a.free(105, 10), Err(RangeError::NotAllocated));
        assert_eq!(a.free(115, 10), Err(RangeError::NotAllocated));
        assert_eq!(a.free(50, 200), Err(RangeError::NotAllocated));
        assert_eq!(blocks(&a), before_partial);
        assert_eq!(a.free_units(), 40);
        a.free(110, 10).unwrap();
        assert_eq!(blocks(&a), before);
        assert_eq!(a.add_free(140, 20), Err(RangeError::Overlaps));
        assert_eq!(blocks(&a), before);
        a.check_invariants();
    }

    #[test]
    fn invalid_arguments() {
        let mut a = RangeAllocator::new();
        a.add_free(0, 1000).unwrap();
        assert_eq!(a.add_free(5000, 0), Err(RangeError::ZeroLength));
        assert_eq!(a.add_free(u64::MAX, 1), Err(RangeError::Wraps));
        assert_eq!(a.free(u64::MAX - 1, 2), Err(RangeError::Wraps));
        assert_eq!(a.free(0, 0), Err(RangeError::ZeroLength));
        assert_eq!(a.allocate(0, &Placement::ANY), Err(RangeError::ZeroLength));
        assert_eq!(a.allocate_at(10, 0), Err(RangeError::ZeroLength));
        assert_eq!(a.allocate_at(u64::MAX, 2), Err(RangeError::Wraps));
        assert_eq!(a.allocate_at(990, 20), Err(RangeError::NotFree));
        let bad = [
            (3, Placement::aligned(3, 0)),
            (3, Placement::aligned(0, 0)),
            (3, Placement::aligned(8, 8)),
            (3, Placement::ANY.within(10, 9)),
            (3, Placement::ANY.not_crossing(12)),
            (5, Placement::ANY.not_crossing(4)),
            // 3 units starting 6 into an 8-unit chunk always cross.
            (3, Placement::aligned(8, 6).not_crossing(8)),
            (3, Placement::aligned(64, 14).not_crossing(16)),
        ];
        for (len, placement) in &bad {
            assert_eq!(a.allocate(*len, placement), Err(RangeError::BadPlacement), "{placement:?}");
        }
        assert_eq!(a.free_units(), 1000);
        assert!(!a.is_free(0, 0));
        assert!(!a.is_free(u64::MAX, 1));
        assert!(a.is_free(0, 1000));
        assert!(!a.is_free(0, 1001));
        // The largest possible range is accepted.
        let mut b = RangeAllocator::new();
        b.add_free(0, u64::MAX).unwrap();
        assert_eq!(b.allocate(u64::MAX, &Placement::aligned(1 << 63, 0)), Ok(0));
        assert_eq!(b.free_units(), 0);
    }

    #[test]
    fn alignment_and_offset_honoured() {
        let mut a = RangeAllocator::new();
        a.add_free(1, 10_000).unwrap();
        let start = a.allocate(100, &Placement::aligned(512, 3)).unwrap();
        assert_eq!(start % 512, 3);
        assert_eq!(start, 3);
        let start = a.allocate(100, &Placement::aligned(512, 3)).unwrap();
        assert_eq!(start, 515);
        let start = a.allocate(7, &Placement::aligned(4096, 0)).unwrap();
        assert_eq!(start, 4096);
        a.check_invariants();
        assert_eq!(a.free_units(), 10_000 - 207);

        // Fallback: no block is big enough to guarantee a fit, but one happens to be aligned.
        let mut b = RangeAllocator::new();
        b.add_free(1, 20).unwrap();
        b.add_free(64, 20).unwrap();
        b.add_free(1000, 30).unwrap();
        assert_eq!(b.allocate(16, &Placement::aligned(64, 0)), Ok(64));
        assert_eq!(b.allocate(16, &Placement::aligned(64, 0)), Err(RangeError::Exhausted));
        assert_eq!(b.allocate(16, &Placement::aligned(32, 8)), Ok(1000));
        b.check_invariants();
    }

    #[test]
    fn window_and_boundary_honoured() {
        let mut a = RangeAllocator::new();
        a.add_free(0, 100_000).unwrap();
        let p = Placement::ANY.within(1000, 1999);
        let mut got = Vec::new();
        while let Ok(start) = a.allocate(30, &p) {
            got.push(start);
        }
        assert_eq!(got.len(), 33);
        for &start in &got {
            assert!(start >= 1000 && start + 30 - 1 <= 1999);
        }
        assert!(a.is_free(1990, 10));

        let p = Placement::aligned(4, 1).within(5000, 9000).not_crossing(64);
        for _ in 0..40 {
            let start = a.allocate(40, &p).unwrap();
            assert_eq!(start % 4, 1);
            assert_eq!(start / 64, (start + 39) / 64, "{start} crosses");
            assert!(start >= 5000 && start + 39 <= 9000);
        }
        // Boundary only.
        let p = Placement::ANY.not_crossing(256);
        a.allocate_at(0, 250).unwrap();
        let start = a.allocate(10, &p).unwrap();
        assert_eq!(start, 256);
        assert_eq!(a.allocate(6, &p), Ok(250));
        // Window too small, or wholly allocated.
        assert_eq!(a.allocate(10, &Placement::ANY.within(100, 108)), Err(RangeError::Exhausted));
        assert_eq!(a.allocate(1, &Placement::ANY.within(0, 249)), Err(RangeError::Exhausted));
        a.check_invariants();
    }

    #[test]
    fn exhaustion_and_recovery() {
        let mut a = RangeAllocator::new();
        a.add_free(0, 64).unwrap();
        let mut starts = Vec::new();
        for _ in 0..8 {
            starts.push(a.allocate(8, &Placement::ANY).unwrap());
        }
        assert_eq!(a.allocate(1, &Placement::ANY), Err(RangeError::Exhausted));
        assert_eq!(a.largest_free(), 0);
        a.free(starts[3], 8).unwrap();
        a.free(starts[5], 8).unwrap();
        assert_eq!(a.allocate(9, &Placement::ANY), Err(RangeError::Exhausted));
        assert_eq!(a.largest_free(), 8);
        a.free(starts[4], 8).unwrap();
        assert_eq!(a.largest_free(), 24);
        assert_eq!(a.allocate(24, &Placement::ANY), Ok(24));
        assert_eq!(a.free_units(), 0);
        a.check_invariants();
    }

    /// A xorshift64* generator: deterministic, no dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Whether any placement of `len` units satisfying `p` exists in the model.
    fn model_has_fit(prefix_free: &[u64], len: u64, p: &Placement) -> bool {
        let units = prefix_free.len() as u64 - 1;
        let all_free = |s: u64| prefix_free[(s + len) as usize] - prefix_free[s as usize] == len;
        let Some(mut s) = align_up(p.lowest, p.alignment, p.offset) else {
            return false;
        };
        while s + len <= units && s + len - 1 <= p.highest {
            let crosses = p.boundary != 0 && s / p.boundary != (s + len - 1) / p.boundary;
            if !crosses && all_free(s) {
                return true;
            }
            s += p.alignment;
        }
        false
    }

    #[test]
    fn randomized_against_bitmap_model() {
        const UNITS: u64 = 2048;
        const HOLE: (u64, u64) = (700, 800);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut a = RangeAllocator::new();
        // Units in the hole are never given to the allocator: it must never hand them out.
        a.add_free(HOLE.1, UNITS - HOLE.1).unwrap();
        a.add_free(0, HOLE.0).unwrap();
        let mut model: Vec<bool> = (0..UNITS).map(|u| !(HOLE.0..HOLE.1).contains(&u)).collect();
        let mut model_free = UNITS - (HOLE.1 - HOLE.0);
        let mut live: Vec<(u64, u64)> = Vec::new();
        let (mut allocations, mut exhausted, mut double_frees) = (0u32, 0u32, 0u32);

        for op in 0..100_000u32 {
            let kind = rng.below(10);
            match kind {
                0..=6 => {
                    let len = if rng.below(20) == 0 { 1 + rng.below(400) } else { 1 + rng.below(48) };
                    let placement = match kind {
                        0..=2 => Placement::ANY,
                        3 | 4 => {
                            let alignment = 1 << rng.below(8);
                            Placement::aligned(alignment, rng.below(alignment))
                        }
                        5 => {
                            let lowest = rng.below(UNITS + 100);
                            let highest = lowest + rng.below(UNITS);
                            let alignment = 1 << rng.below(4);
                            let boundary = match rng.below(3) {
                                0 => 0,
                                _ => (len.next_power_of_two() << rng.below(3)).max(alignment),
                            };
                            Placement { alignment, offset: 0, lowest, highest, boundary }
                        }
                        _ => {
                            // allocate_at: success must match the model exactly.
                            let start = rng.below(UNITS + 50);
                            let expect_ok =
                                start + len <= UNITS && (start..start + len).all(|u| model[u as usize]);
                            let result = a.allocate_at(start, len);
                            assert_eq!(result.is_ok(), expect_ok, "op {op}: allocate_at({start}, {len})");
                            if result.is_ok() {
                                for u in start..start + len {
                                    model[u as usize] = false;
                                }
                                model_free -= len;
                                live.push((start, len));
                            }
                            assert_eq!(a.free_units(), model_free);
                            continue;
                        }
                    };
                    match a.allocate(len, &placement) {
                        Ok(start) => {
                            allocations += 1;
                            assert!(start + len <= UNITS, "op {op}: out of range");
                            assert_eq!(start % placement.alignment, placement.offset);
                            assert!(start >= placement.lowest && start + len - 1 <= placement.highest);
                            if let Some(chunk) = start.checked_div(placement.boundary) {
                                assert_eq!(chunk, (start + len - 1) / placement.boundary);
                            }
                            for u in start..start + len {
                                assert!(model[u as usize], "op {op}: unit {u} handed out twice");
                                model[u as usize] = false;
                            }
                            model_free -= len;
                            live.push((start, len));
                        }
                        Err(RangeError::Exhausted) => {
                            exhausted += 1;
                            let mut prefix = Vec::with_capacity(model.len() + 1);
                            prefix.push(0u64);
                            for &free in &model {
                                prefix.push(prefix.last().unwrap() + u64::from(free));
                            }
                            assert!(
                                !model_has_fit(&prefix, len, &placement),
                                "op {op}: Exhausted but {len} fits {placement:?}"
                            );
                        }
                        Err(e) => panic!("op {op}: unexpected {e} for {len} {placement:?}"),
                    }
                }
                7 | 8 => {
                    if !live.is_empty() {
                        let i = rng.below(live.len() as u64) as usize;
                        let (start, len) = live.swap_remove(i);
                        a.free(start, len).unwrap();
                        for u in start..start + len {
                            model[u as usize] = true;
                        }
                        model_free += len;
                    }
                }
                _ => {
                    // A free overlapping at least one free unit must be refused untouched.
                    let start = rng.below(UNITS);
                    let len = 1 + rng.below(64);
                    let end = (start + len).min(UNITS);
                    if (start..end).any(|u| model[u as usize]) {
                        double_frees += 1;
                        let before = a.clone();
                        assert_eq!(a.free(start, len), Err(RangeError::NotAllocated), "op {op}");
                        assert_eq!(blocks(&a), blocks(&before));
                        assert_eq!(a.free_units(), before.free_units());
                    }
                }
            }
            assert_eq!(a.free_units(), model_free, "op {op}");
            if op % 64 == 0 {
                a.check_invariants();
                let mut expected = Vec::new();
                let mut u = 0;
                while u < UNITS {
                    if model[u as usize] {
                        let start = u;
                        while u < UNITS && model[u as usize] {
                            u += 1;
                        }
                        expected.push((start, u - start));
                    } else {
                        u += 1;
                    }
                }
                assert_eq!(blocks(&a), expected, "op {op}");
                let largest = expected.iter().map(|&(_, len)| len).max().unwrap_or(0);
                assert_eq!(a.largest_free(), largest);
            }
        }
        // The run must actually have exercised every path.
        assert!(allocations > 10_000 && exhausted > 1_000 && double_frees > 1_000);
    }
}
