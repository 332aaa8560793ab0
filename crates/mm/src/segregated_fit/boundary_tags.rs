//! Boundary tags: for the first and the last page of every free block, the number of the record
//! that describes the block, so that a freed range finds the free blocks it touches, and merges
//! with them, in constant time.
//!
//! The table is sparse: the window is cut into leaves of pages, and a leaf is allocated the
//! first time a tag is written in it. Only pages that are a block's first or last are ever
//! read (the page bitmap says which), so a tag left behind when its block changed is never
//! mistaken for a live one and needs no clearing.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// The tag of a page that never had one.
pub(super) const UNTAGGED: u32 = u32::MAX;

/// A block record number per page, for pages `[0, pages)`.
#[derive(Debug)]
pub(super) struct BoundaryTags {
    /// Pages in the window.
    pages: u64,
    /// log2 of the pages per leaf.
    shift: u32,
    leaves: Vec<Option<Box<[u32]>>>,
}

impl BoundaryTags {
    /// A table for `[0, pages)` with no tag written, in leaves of `1 << shift` pages.
    pub(super) fn new(pages: u64, shift: u32) -> Self {
        let count = pages.div_ceil(1 << shift) as usize;
        let mut leaves = Vec::with_capacity(count);
        leaves.resize_with(count, || None);
        Self { pages, shift, leaves }
    }

    /// The tag of page `page` (inside the window), [`UNTAGGED`] if none was ever written.
    pub(super) fn get(&self, page: u64) -> u32 {
        let leaf = &self.leaves[(page >> self.shift) as usize];
        leaf.as_ref().map_or(UNTAGGED, |tags| tags[(page & ((1 << self.shift) - 1)) as usize])
    }

    /// Tags page `page` (inside the window) with block record `block`.
    pub(super) fn set(&mut self, page: u64, block: u32) {
        let index = (page >> self.shift) as usize;
        let offset = (page & ((1 << self.shift) - 1)) as usize;
        match &mut self.leaves[index] {
            Some(tags) => tags[offset] = block,
            None => self.make_leaf(index)[offset] = block,
        }
    }

    /// Allocates leaf `index`, with no tag written: once per leaf, off the common path.
    #[cold]
    fn make_leaf(&mut self, index: usize) -> &mut [u32] {
        // The last leaf holds only the pages left in the window.
        let length = (self.pages - ((index as u64) << self.shift)).min(1 << self.shift);
        self.leaves[index].insert(vec![UNTAGGED; length as usize].into_boxed_slice())
    }

    /// Leaves allocated so far.
    #[cfg(test)]
    pub(super) fn leaves_made(&self) -> usize {
        self.leaves.iter().filter(|leaf| leaf.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_reads_back_and_leaves_are_made_only_where_tags_are_written() {
        let mut tags = BoundaryTags::new(1000, 6);
        assert_eq!(tags.get(999), UNTAGGED);
        tags.set(999, 7);
        tags.set(0, 3);
        tags.set(64, 4);
        assert_eq!((tags.get(0), tags.get(64), tags.get(999)), (3, 4, 7));
        assert_eq!(tags.get(1), UNTAGGED);
        assert_eq!(tags.leaves_made(), 3);
        assert_eq!(tags.leaves[15].as_ref().map(|leaf| leaf.len()), Some(1000 - 15 * 64));
    }
}
