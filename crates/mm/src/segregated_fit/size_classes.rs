//! The free blocks by size class: sizes up to [`EXACT_CLASSES`] pages have a class of their
//! own, larger ones fall into logarithmic classes, [`SUBCLASSES`] per power of two (as in
//! TLSF). A two-level bitmap of the classes that have blocks finds the smallest class at or
//! above a size with two `trailing_zeros`.
//!
//! Each class is a 4-ary min-heap of its blocks ordered by `(pages, start)`, so its first
//! entry is the class's best fit and, among blocks of one size, the lowest in the window:
//! exactly the choice of an address-ordered best fit. That tie-break matters when the window
//! is nearly full: in the `va_churn` benchmark (90% occupancy) address order fails 130
//! requests, as many as a size-sorted free list, where taking the block of that size freed
//! last fails 183 and the one freed first 158. A heap costs O(log k) per change, k being the
//! blocks of that one class (about 25 there), where a list kept in address order would cost
//! O(k).

use alloc::vec::Vec;

/// Blocks of 1 to this many pages have a class each: the spans mappings ask for most.
pub(super) const EXACT_CLASSES: usize = 128;
/// log2 of [`EXACT_CLASSES`]: the first power of two split into logarithmic classes.
const FIRST_LEVEL: u32 = EXACT_CLASSES.trailing_zeros();
/// log2 of [`SUBCLASSES`].
const SUBCLASS_BITS: u32 = 4;
/// Logarithmic classes per power of two: a block in one is at most 1/16 larger than the
/// smallest size the class holds.
const SUBCLASSES: usize = 1 << SUBCLASS_BITS;
/// Every class, up to blocks of 2^64 - 1 pages.
const CLASSES: usize = EXACT_CLASSES + (64 - FIRST_LEVEL as usize) * SUBCLASSES;
/// Words of the bitmap of non-empty classes.
const CLASS_WORDS: usize = CLASSES.div_ceil(64);

/// The class of a free block of `pages` (non-zero) pages. Classes grow with size: a block in
/// a higher class is larger than every block in a lower one.
pub(super) const fn class_of(pages: u64) -> usize {
    if pages <= EXACT_CLASSES as u64 {
        return pages as usize - 1;
    }
    let level = 63 - pages.leading_zeros();
    let subclass = (pages >> (level - SUBCLASS_BITS)) as usize & (SUBCLASSES - 1);
    EXACT_CLASSES + (level - FIRST_LEVEL) as usize * SUBCLASSES + subclass
}

/// Children per node of a class's heap: four halves the depth of a binary heap, and a
/// node's children share a cache line.
const ARITY: usize = 4;

/// A free block as its class holds it: its size and start (the order) and its record number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) pages: u64,
    pub(super) start: u64,
    pub(super) block: u32,
}

impl Entry {
    /// Whether `self` comes before `other`: smaller, or as large and lower. Without branches:
    /// which of two blocks comes first is a coin toss to the branch predictor.
    fn precedes(&self, other: &Entry) -> bool {
        (self.pages < other.pages) | ((self.pages == other.pages) & (self.start < other.start))
    }
}

/// Every free block, in the heap of its class.
#[derive(Debug)]
pub(super) struct SizeClasses {
    /// One heap per class, by `(pages, start)`.
    heaps: Vec<Vec<Entry>>,
    /// Where each block record's entry is in its class's heap.
    slots: Vec<u32>,
    /// Bit `class % 64` of word `class / 64` is set while the class has blocks.
    nonempty: [u64; CLASS_WORDS],
    /// Bit `word` is set while word `word` of `nonempty` is not zero.
    nonempty_words: u64,
}

impl SizeClasses {
    /// No block in any class.
    pub(super) fn new() -> Self {
        let mut heaps = Vec::with_capacity(CLASSES);
        heaps.resize_with(CLASSES, Vec::new);
        Self { heaps, slots: Vec::new(), nonempty: [0; CLASS_WORDS], nonempty_words: 0 }
    }

    /// The first class at or above `class` that has blocks.
    pub(super) fn first_nonempty(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let word = class / 64;
        let here = self.nonempty[word] & (u64::MAX << (class % 64));
        if here != 0 {
            return Some(word * 64 + here.trailing_zeros() as usize);
        }
        let above = self.nonempty_words & u64::MAX.checked_shl(word as u32 + 1).unwrap_or(0);
        if above == 0 {
            return None;
        }
        let word = above.trailing_zeros() as usize;
        Some(word * 64 + self.nonempty[word].trailing_zeros() as usize)
    }

    /// The highest class that has blocks.
    pub(super) fn last_nonempty(&self) -> Option<usize> {
        let word = self.nonempty_words.checked_ilog2()? as usize;
        Some(word * 64 + self.nonempty[word].ilog2() as usize)
    }

    /// The blocks of `class`, the first the smallest and lowest, the rest in heap order:
    /// those nearer the front are smaller or lower than those after them in their subtree.
    pub(super) fn blocks(&self, class: usize) -> &[Entry] {
        &self.heaps[class]
    }

    /// Files free block `block`, `[start, start + pages)`, in its class.
    pub(super) fn insert(&mut self, block: u32, pages: u64, start: u64) {
        let class = class_of(pages);
        if self.slots.len() <= block as usize {
            self.slots.resize(block as usize + 1, 0);
        }
        let heap = &mut self.heaps[class];
        if heap.is_empty() {
            self.nonempty[class / 64] |= 1 << (class % 64);
            self.nonempty_words |= 1 << (class / 64);
        }
        heap.push(Entry { pages, start, block });
        let last = heap.len() - 1;
        sift_up(heap, &mut self.slots, last);
    }

    /// Takes free block `block`, of `pages` pages, out of its class.
    pub(super) fn remove(&mut self, block: u32, pages: u64) {
        let class = class_of(pages);
        let heap = &mut self.heaps[class];
        let slot = self.slots[block as usize] as usize;
        let Some(last) = heap.pop() else { return };
        if slot < heap.len() {
            heap[slot] = last;
            reorder(heap, &mut self.slots, slot);
        }
        if heap.is_empty() {
            self.nonempty[class / 64] &= !(1 << (class % 64));
            if self.nonempty[class / 64] == 0 {
                self.nonempty_words &= !(1 << (class / 64));
            }
        }
    }

    /// Makes free block `block`, filed with `old_pages` pages, `[start, start + pages)`.
    pub(super) fn resize(&mut self, block: u32, old_pages: u64, pages: u64, start: u64) {
        let class = class_of(pages);
        if class != class_of(old_pages) {
            self.remove(block, old_pages);
            self.insert(block, pages, start);
            return;
        }
        let slot = self.slots[block as usize] as usize;
        let heap = &mut self.heaps[class];
        heap[slot] = Entry { pages, start, block };
        reorder(heap, &mut self.slots, slot);
    }
}

#[cfg(test)]
impl SizeClasses {
    /// Asserts the heaps, slots and bitmaps agree, and returns every filed block.
    pub(super) fn check_invariants(&self) -> Vec<Entry> {
        let mut filed = Vec::new();
        for (class, heap) in self.heaps.iter().enumerate() {
            let nonempty = self.nonempty[class / 64] & (1 << (class % 64)) != 0;
            assert_eq!(nonempty, !heap.is_empty(), "class {class} bit");
            for (slot, entry) in heap.iter().enumerate() {
                assert_eq!(class_of(entry.pages), class);
                assert_eq!(self.slots[entry.block as usize] as usize, slot);
                if slot > 0 {
                    assert!(!entry.precedes(&heap[(slot - 1) / ARITY]), "heap order in class {class}");
                }
            }
            filed.extend_from_slice(heap);
        }
        for (word, bits) in self.nonempty.iter().enumerate() {
            assert_eq!(*bits != 0, self.nonempty_words & (1 << word) != 0);
        }
        filed
    }
}

/// Moves the entry at `slot` up or down to its place after its key changed.
fn reorder(heap: &mut [Entry], slots: &mut [u32], slot: usize) {
    if slot > 0 && heap[slot].precedes(&heap[(slot - 1) / ARITY]) {
        sift_up(heap, slots, slot);
    } else {
        sift_down(heap, slots, slot);
    }
}

/// Moves the entry at `slot` towards the root while it precedes its parent.
fn sift_up(heap: &mut [Entry], slots: &mut [u32], mut slot: usize) {
    let entry = heap[slot];
    while slot > 0 {
        let parent = (slot - 1) / ARITY;
        if !entry.precedes(&heap[parent]) {
            break;
        }
        heap[slot] = heap[parent];
        slots[heap[slot].block as usize] = slot as u32;
        slot = parent;
    }
    heap[slot] = entry;
    slots[entry.block as usize] = slot as u32;
}

/// Moves the entry at `slot` towards the leaves while a child precedes it.
fn sift_down(heap: &mut [Entry], slots: &mut [u32], mut slot: usize) {
    let entry = heap[slot];
    loop {
        let first = ARITY * slot + 1;
        if first >= heap.len() {
            break;
        }
        let mut child = first;
        for other in first + 1..(first + ARITY).min(heap.len()) {
            if heap[other].precedes(&heap[child]) {
                child = other;
            }
        }
        if !heap[child].precedes(&entry) {
            break;
        }
        heap[slot] = heap[child];
        slots[heap[slot].block as usize] = slot as u32;
        slot = child;
    }
    heap[slot] = entry;
    slots[entry.block as usize] = slot as u32;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn classes_grow_with_size_and_exact_classes_hold_one_size() {
        for pages in 1..=EXACT_CLASSES as u64 {
            assert_eq!(class_of(pages), pages as usize - 1);
        }
        let mut previous = 0;
        for pages in (1..100_000).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let class = class_of(pages);
            assert!(class >= previous && class < CLASSES, "{pages} pages: class {class}");
            previous = class;
        }
        // A logarithmic class spans a sixteenth of its power of two.
        assert_eq!(class_of(1024), class_of(1024 + 63));
        assert_ne!(class_of(1024), class_of(1024 + 64));
    }

    #[test]
    fn the_first_block_of_a_class_is_its_smallest_and_lowest() {
        let mut classes = SizeClasses::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut filed: Vec<(u64, u64, u32)> = Vec::new();
        for block in 0..300u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Sizes of two classes: 5 pages, and 1030 to 1060 (one logarithmic class).
            let pages = if seed % 2 == 0 { 5 } else { 1030 + seed % 31 };
            // Distinct starts, also after a resize: a block's start is its number modulo 500.
            let start = (seed >> 8) % 1000 * 1000 + u64::from(block);
            classes.insert(block, pages, start);
            filed.push((pages, start, block));
            if seed % 3 == 0 {
                let (pages, start, block) = filed.swap_remove((seed >> 32) as usize % filed.len());
                if seed % 2 == 0 {
                    classes.remove(block, pages);
                } else {
                    let resized = 1030 + (start + pages) % 31;
                    classes.resize(block, pages, resized, start + 500);
                    filed.push((resized, start + 500, block));
                }
            }
            for class in [class_of(5), class_of(1030)] {
                let expected = filed.iter().filter(|&&(pages, ..)| class_of(pages) == class).min();
                let first =
                    classes.blocks(class).first().map(|entry| (entry.pages, entry.start, entry.block));
                assert_eq!(first, expected.copied());
                assert_eq!(classes.first_nonempty(0).is_some(), !filed.is_empty());
            }
        }
        assert_eq!(classes.last_nonempty(), Some(class_of(1030)));
        assert_eq!(classes.first_nonempty(class_of(5) + 1), Some(class_of(1030)));
        assert_eq!(classes.first_nonempty(class_of(1030) + 1), None);
    }
}
