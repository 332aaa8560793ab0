//! The kernel heap, behind `alloc`: a first-fit list of free blocks kept in address order and
//! merged with their neighbours on free.
//!
//! The heap is the RAM the linker script sets aside right after the image (`__heap_start` ..
//! `__heap_end`); the PFN database records it as reserved. What allocates here is the memory
//! manager's own bookkeeping (the PFN database, mapping records, the PnP manager's lists), set
//! up once and changed a little per operation, so a list walk is cheap enough. Driver memory
//! never comes from here: pool and contiguous memory are the memory manager's, from RAM frames.

// The host unit-test build checks the free list on a buffer of its own; the kernel uses the rest.
#![cfg_attr(not(panic = "abort"), allow(dead_code))]

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{NonNull, null_mut};

use spin::Mutex;

/// The allocation unit: every block starts and ends on it, and a free block's header fits in it.
const UNIT: usize = 16;

/// A free block; the header lives in the block's own first bytes.
struct FreeBlock {
    bytes: usize,
    next: Option<NonNull<FreeBlock>>,
}

const _: () = assert!(size_of::<FreeBlock>() <= UNIT && align_of::<FreeBlock>() <= UNIT);

/// The free list, in address order.
struct FreeList {
    head: Option<NonNull<FreeBlock>>,
}

// SAFETY: the list is only reached through the allocator's mutex; the blocks it points to are
// heap memory that no one else uses while they are free.
unsafe impl Send for FreeList {}

/// The global allocator.
pub struct Heap {
    free: Mutex<FreeList>,
}

#[cfg_attr(panic = "abort", global_allocator)]
static HEAP: Heap = Heap { free: Mutex::new(FreeList { head: None }) };

/// Bytes a request takes: its size rounded up to the unit (at least one unit).
fn block_bytes(layout: &Layout) -> usize {
    layout.size().max(1).next_multiple_of(UNIT)
}

impl FreeList {
    /// Puts `[start, start + bytes)` on the list, merged with adjacent free blocks.
    ///
    /// # Safety
    /// The range is unit-aligned heap memory that nothing uses and that is not on the list.
    unsafe fn insert(&mut self, start: usize, bytes: usize) {
        let mut previous: Option<NonNull<FreeBlock>> = None;
        let mut next = self.head;
        while let Some(block) = next {
            if block.as_ptr() as usize > start {
                break;
            }
            previous = Some(block);
            // SAFETY: blocks on the list are valid free blocks.
            next = unsafe { block.as_ref().next };
        }
        let mut block = FreeBlock { bytes, next };
        if let Some(following) = next {
            if start + bytes == following.as_ptr() as usize {
                // SAFETY: `following` is a valid free block; it is absorbed into the new one.
                let following = unsafe { following.as_ref() };
                block.bytes += following.bytes;
                block.next = following.next;
            }
        }
        if let Some(mut before) = previous {
            // SAFETY: `before` is a valid free block on the list, owned by the list's lock.
            let before = unsafe { before.as_mut() };
            if before.as_end() == start {
                before.bytes += block.bytes;
                before.next = block.next;
                return;
            }
        }
        let pointer = start as *mut FreeBlock;
        // SAFETY: the caller gives an unused, unit-aligned range of at least one unit.
        unsafe { pointer.write(block) };
        let new = NonNull::new(pointer);
        match previous {
            // SAFETY: as above.
            Some(mut before) => unsafe { before.as_mut().next = new },
            None => self.head = new,
        }
    }

    /// Takes `bytes` aligned to `align` from the first block that holds them.
    fn take(&mut self, bytes: usize, align: usize) -> Option<usize> {
        let mut previous: Option<NonNull<FreeBlock>> = None;
        let mut next = self.head;
        while let Some(block) = next {
            let start = block.as_ptr() as usize;
            // SAFETY: blocks on the list are valid free blocks.
            let (block_bytes, following) = unsafe { (block.as_ref().bytes, block.as_ref().next) };
            let end = start + block_bytes;
            let aligned = start.next_multiple_of(align);
            if aligned.checked_add(bytes).is_some_and(|taken_end| taken_end <= end) {
                // Unlink the block, then give back what is left on either side of the request.
                match previous {
                    // SAFETY: `before` is a valid free block on the list.
                    Some(mut before) => unsafe { before.as_mut().next = following },
                    None => self.head = following,
                }
                // SAFETY: both remainders are unit-aligned parts of the block just unlinked,
                // outside the range handed out.
                unsafe {
                    if aligned > start {
                        self.insert(start, aligned - start);
                    }
                    if aligned + bytes < end {
                        self.insert(aligned + bytes, end - aligned - bytes);
                    }
                }
                return Some(aligned);
            }
            previous = Some(block);
            next = following;
        }
        None
    }
}

impl FreeBlock {
    fn as_end(&self) -> usize {
        self as *const Self as usize + self.bytes
    }
}

// SAFETY: `alloc` hands out disjoint, suitably aligned ranges of the heap, each taken off the
// free list under the lock; `dealloc` returns exactly the range `alloc` computed for the layout.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let align = layout.align().max(UNIT);
        match self.free.lock().take(block_bytes(&layout), align) {
            Some(address) => address as *mut u8,
            None => null_mut(),
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from `alloc` with this layout, so the range is the block it
        // took, unit-aligned and no longer used.
        unsafe { self.free.lock().insert(pointer as usize, block_bytes(&layout)) };
    }
}

#[cfg(panic = "abort")]
unsafe extern "C" {
    static __heap_start: u8;
    static __heap_end: u8;
}

/// The heap's physical (= identity-mapped virtual) range, from the linker script.
#[cfg(panic = "abort")]
pub fn range() -> (u64, u64) {
    (&raw const __heap_start as u64, &raw const __heap_end as u64)
}

/// Hands the linker script's heap range to the allocator. Called once, before anything
/// allocates.
#[cfg(panic = "abort")]
pub fn init() {
    let (start, end) = range();
    let start = (start as usize).next_multiple_of(UNIT);
    let end = end as usize & !(UNIT - 1);
    // SAFETY: the range is RAM reserved for the heap by the linker script, identity-mapped by
    // the boot tables, used by nothing else, and the list is still empty.
    unsafe { HEAP.free.lock().insert(start, end - start) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A free list over a fresh, unit-aligned buffer of `units` units.
    fn list(units: usize) -> (Vec<u128>, FreeList, usize) {
        let mut buffer = alloc::vec![0u128; units];
        let start = buffer.as_mut_ptr() as usize;
        let mut list = FreeList { head: None };
        // SAFETY: the buffer is unit-aligned (u128), unused, and outlives the list in each test.
        unsafe { list.insert(start, units * UNIT) };
        (buffer, list, start)
    }

    fn blocks(list: &FreeList) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let mut next = list.head;
        while let Some(block) = next {
            // SAFETY: blocks on the list are valid free blocks inside the test's buffer.
            let block_ref = unsafe { block.as_ref() };
            found.push((block.as_ptr() as usize, block_ref.bytes));
            next = block_ref.next;
        }
        found
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_inside_the_heap() {
        let (_buffer, mut list, start) = list(1024);
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for (bytes, align) in [(16, 16), (48, 16), (100, 64), (4096, 4096), (16, 256), (1000, 16)] {
            let at = list.take(bytes, align).expect("room");
            assert_eq!(at % align, 0);
            assert!(at >= start && at + bytes <= start + 1024 * UNIT);
            assert!(taken.iter().all(|&(other, len)| at + bytes <= other || other + len <= at));
            taken.push((at, bytes));
        }
    }

    #[test]
    fn freeing_everything_merges_back_into_one_block() {
        let (_buffer, mut list, start) = list(512);
        let taken: Vec<(usize, usize)> = [32, 64, 16, 256, 128]
            .iter()
            .map(|&bytes| (list.take(bytes, 16).expect("room"), bytes))
            .collect();
        // Free in an order that needs merging on both sides.
        for &index in &[1, 3, 0, 4, 2] {
            let (at, bytes) = taken[index];
            // SAFETY: each block was taken above and is freed once.
            unsafe { list.insert(at, bytes) };
        }
        assert_eq!(blocks(&list), [(start, 512 * UNIT)]);
    }

    #[test]
    fn a_request_larger_than_any_block_is_refused() {
        let (_buffer, mut list, _) = list(64);
        assert_eq!(list.take(65 * UNIT, 16), None);
        assert!(list.take(64 * UNIT, 16).is_some());
        assert_eq!(list.take(UNIT, 16), None);
    }
}
