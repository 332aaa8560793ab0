//! The first peer design for `va_churn`: one list of free runs sorted by size, searched
//! linearly for the first that fits, under one lock, as one open-source NT clone keeps its
//! system-PTE free list. Because the list is sorted by size, the first fit is also the best
//! fit; its cost is the linear scans (to find, to insert in order, and to find the neighbours
//! to coalesce with on free).

use spin::Mutex;

use crate::va_churn::SpanAllocator;

/// Free runs `(pages, start)` in ascending order, behind one lock.
#[derive(Debug)]
pub struct SortedFreeList {
    runs: Mutex<Vec<(u64, u64)>>,
}

impl SortedFreeList {
    /// All of `[0, pages)` free.
    pub fn new(pages: u64) -> Self {
        Self { runs: Mutex::new(vec![(pages, 0)]) }
    }
}

/// Puts `run` at its place in the size order: a linear scan, as a linked list needs.
fn insert_sorted(runs: &mut Vec<(u64, u64)>, run: (u64, u64)) {
    let position = runs.iter().position(|&existing| existing > run).unwrap_or(runs.len());
    runs.insert(position, run);
}

impl SpanAllocator for SortedFreeList {
    fn allocate(&self, pages: u64) -> Option<u64> {
        let mut runs = self.runs.lock();
        let index = runs.iter().position(|&(length, _)| length >= pages)?;
        let (length, start) = runs.remove(index);
        if length > pages {
            insert_sorted(&mut runs, (length - pages, start + pages));
        }
        Some(start)
    }

    fn free(&self, start: u64, pages: u64) {
        let mut runs = self.runs.lock();
        let (mut first, mut end) = (start, start + pages);
        if let Some(left) = runs.iter().position(|&(length, at)| at + length == first) {
            first = runs.remove(left).1;
        }
        if let Some(right) = runs.iter().position(|&(_, at)| at == end) {
            end += runs.remove(right).0;
        }
        insert_sorted(&mut runs, (end - first, first));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_in_size_order_and_coalescing_on_free() {
        let list = SortedFreeList::new(100);
        let a = list.allocate(10).unwrap();
        let b = list.allocate(20).unwrap();
        let c = list.allocate(5).unwrap();
        assert_eq!((a, b, c), (0, 10, 30));
        list.free(b, 20);
        // A 15-page request takes the 20-page hole (smallest that fits), not the 65-page tail.
        assert_eq!(list.allocate(15), Some(10));
        list.free(10, 15);
        list.free(a, 10);
        list.free(c, 5);
        assert_eq!(*list.runs.lock(), vec![(100, 0)], "everything coalesced back");
        assert_eq!(list.allocate(101), None);
    }
}
