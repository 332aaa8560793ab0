//! One bit per page, set while the page is free, kept sparse: the window is cut into leaves,
//! and a leaf that is wholly free or wholly allocated is one word of state instead of bits.
//!
//! It answers the two questions boundary tags cannot: whether a range is wholly allocated (so
//! a double or overlapping free is refused) and whether the page just outside a range is free
//! (so the range coalesces with that neighbour). A leaf gets its bits the first time an
//! operation covers it only in part; an operation that covers a whole leaf makes it uniform
//! again, so mapping and unmapping a 64 GiB range costs a step per leaf, not a bit per page.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// A leaf of the bitmap.
#[derive(Debug)]
enum Leaf {
    /// Every page of the leaf is free.
    Free,
    /// Every page of the leaf is allocated.
    Allocated,
    /// One bit per page of the leaf, set while it is free.
    Mixed(Box<[u64]>),
}

/// Which pages of `[0, pages)` are free.
#[derive(Debug)]
pub(super) struct PageBitmap {
    /// Pages in the window.
    pages: u64,
    /// log2 of the pages per leaf.
    shift: u32,
    leaves: Vec<Leaf>,
}

/// The first and last word holding bits `[lo, hi)` (`lo < hi`) of a leaf, and the masks of
/// those bits in them.
fn span(lo: u64, hi: u64) -> (usize, usize, u64, u64) {
    let (first, last) = ((lo / 64) as usize, ((hi - 1) / 64) as usize);
    (first, last, u64::MAX << (lo % 64), u64::MAX >> (63 - (hi - 1) % 64))
}

/// Whether any of bits `[lo, hi)` (`lo < hi`) of `words` is set.
fn any_set(words: &[u64], lo: u64, hi: u64) -> bool {
    let (first, last, head, tail) = span(lo, hi);
    if first == last {
        return words[first] & head & tail != 0;
    }
    words[first] & head != 0
        || words[first + 1..last].iter().any(|&word| word != 0)
        || words[last] & tail != 0
}

/// Sets (`value`) or clears bits `[lo, hi)` (`lo < hi`) of `words`.
fn fill(words: &mut [u64], lo: u64, hi: u64, value: bool) {
    let (first, last, head, tail) = span(lo, hi);
    let apply = |word: &mut u64, mask: u64| {
        if value {
            *word |= mask;
        } else {
            *word &= !mask;
        }
    };
    if first == last {
        apply(&mut words[first], head & tail);
        return;
    }
    apply(&mut words[first], head);
    if last > first + 1 {
        words[first + 1..last].fill(if value { u64::MAX } else { 0 });
    }
    apply(&mut words[last], tail);
}

impl PageBitmap {
    /// `[0, pages)` all free, in leaves of `1 << shift` pages (`shift >= 6`).
    pub(super) fn new(pages: u64, shift: u32) -> Self {
        let count = pages.div_ceil(1 << shift) as usize;
        let mut leaves = Vec::with_capacity(count);
        leaves.resize_with(count, || Leaf::Free);
        Self { pages, shift, leaves }
    }

    /// Whether page `page` (inside the window) is free.
    pub(super) fn is_free(&self, page: u64) -> bool {
        match &self.leaves[(page >> self.shift) as usize] {
            Leaf::Free => true,
            Leaf::Allocated => false,
            Leaf::Mixed(words) => {
                let bit = page & ((1 << self.shift) - 1);
                words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
            }
        }
    }

    /// Whether no page of `[first, end)` (non-empty, inside the window) is free.
    pub(super) fn all_allocated(&self, first: u64, end: u64) -> bool {
        self.pieces(first, end).all(|(leaf, lo, hi, _)| match &self.leaves[leaf] {
            Leaf::Free => false,
            Leaf::Allocated => true,
            Leaf::Mixed(words) => !any_set(words, lo, hi),
        })
    }

    /// Marks `[first, end)` (non-empty, inside the window) free if none of it is, and says
    /// whether the pages just before and after it are free; `None`, changing nothing, if
    /// some page of it is free already.
    pub(super) fn release(&mut self, first: u64, end: u64) -> Option<(bool, bool)> {
        let before = first.checked_sub(1);
        let after = (end < self.pages).then_some(end);
        let (lo, hi) = (before.unwrap_or(first), after.map_or(end, |after| after + 1));
        let leaf = lo >> self.shift;
        // The common case, a few pages inside one leaf with bits: one look at its words.
        if leaf == (hi - 1) >> self.shift
            && let Leaf::Mixed(words) = &mut self.leaves[leaf as usize]
        {
            let base = leaf << self.shift;
            if any_set(words, first - base, end - base) {
                return None;
            }
            let free = |page: u64| words[((page - base) / 64) as usize] & (1 << ((page - base) % 64)) != 0;
            let neighbours = (before.is_some_and(free), after.is_some_and(free));
            fill(words, first - base, end - base, true);
            return Some(neighbours);
        }
        if !self.all_allocated(first, end) {
            return None;
        }
        let neighbours =
            (before.is_some_and(|page| self.is_free(page)), after.is_some_and(|page| self.is_free(page)));
        self.set(first, end, true);
        Some(neighbours)
    }

    /// Marks `[first, end)` (non-empty, inside the window) free or allocated.
    pub(super) fn set(&mut self, first: u64, end: u64, free: bool) {
        let leaf = first >> self.shift;
        // The common case, a few pages inside one leaf with bits.
        if leaf == (end - 1) >> self.shift
            && let Leaf::Mixed(words) = &mut self.leaves[leaf as usize]
        {
            let base = leaf << self.shift;
            fill(words, first - base, end - base, free);
            return;
        }
        let leaf_pages = 1u64 << self.shift;
        for (index, lo, hi, whole) in self.pieces(first, end) {
            let leaf = &mut self.leaves[index];
            if whole {
                *leaf = if free { Leaf::Free } else { Leaf::Allocated };
                continue;
            }
            let words = (leaf_pages / 64) as usize;
            match *leaf {
                Leaf::Free if free => continue,
                Leaf::Allocated if !free => continue,
                Leaf::Free => *leaf = Leaf::Mixed(vec![u64::MAX; words].into_boxed_slice()),
                Leaf::Allocated => *leaf = Leaf::Mixed(vec![0; words].into_boxed_slice()),
                Leaf::Mixed(_) => {}
            }
            let Leaf::Mixed(words) = leaf else { continue };
            fill(words, lo, hi, free);
        }
    }

    /// Leaves that have bits (neither wholly free nor wholly allocated).
    #[cfg(test)]
    pub(super) fn leaves_with_bits(&self) -> usize {
        self.leaves.iter().filter(|leaf| matches!(leaf, Leaf::Mixed(_))).count()
    }

    /// The leaves `[first, end)` touches, as `(leaf, lo, hi, whole)`: the pages `[lo, hi)` of
    /// the leaf, counted from its first page, and whether they are all of its pages.
    fn pieces(&self, first: u64, end: u64) -> impl Iterator<Item = (usize, u64, u64, bool)> + use<> {
        let (shift, pages) = (self.shift, self.pages);
        let leaf_pages = 1u64 << shift;
        ((first >> shift)..=((end - 1) >> shift)).map(move |leaf| {
            let leaf_first = leaf << shift;
            let leaf_end = (leaf_first + leaf_pages).min(pages);
            let (lo, hi) = (first.max(leaf_first), end.min(leaf_end));
            (leaf as usize, lo - leaf_first, hi - leaf_first, lo == leaf_first && hi == leaf_end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaves of 128 pages: small enough that tests cross them.
    const SHIFT: u32 = 7;

    #[test]
    fn bits_follow_the_ranges_set_across_words_and_leaves() {
        let mut map = PageBitmap::new(1000, SHIFT);
        map.set(60, 300, false);
        assert!(map.is_free(59) && !map.is_free(60) && !map.is_free(299) && map.is_free(300));
        assert!(map.all_allocated(60, 300));
        assert!(!map.all_allocated(59, 61));
        assert!(!map.all_allocated(299, 301));
        assert!(matches!(map.leaves[1], Leaf::Allocated), "pages 128..256 are a whole leaf");
        map.set(100, 101, true);
        assert!(!map.all_allocated(60, 300));
        assert!(map.all_allocated(60, 100) && map.all_allocated(101, 300));
    }

    #[test]
    fn a_release_frees_only_wholly_allocated_ranges_and_reports_the_neighbours() {
        let mut map = PageBitmap::new(1000, SHIFT);
        map.set(0, 1000, false);
        map.set(10, 11, true);
        map.set(20, 21, true);
        assert_eq!(map.release(11, 20), Some((true, true)), "inside one leaf");
        assert_eq!(map.release(11, 12), None, "free already");
        assert_eq!(map.release(5, 15), None, "partly free already");
        assert!((10..21).all(|page| map.is_free(page)) && !map.is_free(21) && !map.is_free(9));
        assert_eq!(map.release(0, 1), Some((false, false)), "the first page has no page before it");
        assert_eq!(map.release(999, 1000), Some((false, false)), "the last page has none after it");
        assert_eq!(map.release(100, 300), Some((false, false)), "across leaves");
        assert_eq!(map.release(300, 301), Some((true, false)));
        assert_eq!(map.release(99, 100), Some((false, true)));
        assert!((99..301).all(|page| map.is_free(page)));
    }

    #[test]
    fn a_range_over_whole_leaves_makes_them_uniform_again() {
        let mut map = PageBitmap::new(1000, SHIFT);
        map.set(5, 6, false);
        assert!(matches!(map.leaves[0], Leaf::Mixed(_)));
        map.set(0, 1000, false);
        assert!(map.leaves.iter().all(|leaf| matches!(leaf, Leaf::Allocated)), "the short last leaf too");
        map.set(0, 1000, true);
        assert!(map.leaves.iter().all(|leaf| matches!(leaf, Leaf::Free)));
        assert!((0..1000).all(|page| map.is_free(page)));
    }

    #[test]
    fn a_bitmap_agrees_with_a_plain_array_of_pages() {
        let mut map = PageBitmap::new(700, SHIFT);
        let mut model = [true; 700];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let first = seed % 700;
            let end = (first + 1 + (seed >> 20) % 300).min(700);
            let free = (seed >> 40) % 2 == 0;
            map.set(first, end, free);
            model[first as usize..end as usize].fill(free);
            let probe = (seed >> 12) % 700;
            let probe_end = (probe + 1 + (seed >> 30) % 40).min(700);
            assert_eq!(map.is_free(probe), model[probe as usize]);
            assert_eq!(
                map.all_allocated(probe, probe_end),
                model[probe as usize..probe_end as usize].iter().all(|&free| !free)
            );
        }
    }
}
