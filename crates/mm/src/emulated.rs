//! An emulated physical memory and frame allocator, for unit tests and benchmarks.
//!
//! [`EmulatedMemory`] is a heap block that plays the part of RAM: frame `base + i` is the `i`-th
//! 4096-byte slice of the block. Page tables built over it have the real x86-64 format; only the
//! processor that would walk them is missing. [`EmulatedFrameAllocator`] hands out the frames of
//! a range and can be told to run dry, so that out-of-memory paths can be tested.

use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use spin::Mutex;

use crate::address::{PAGE_SIZE, Pfn};
use crate::physical_memory::{FrameAllocator, FrameBytes, PhysicalMemory};

/// RAM emulated by one zeroed, 4096-aligned heap block.
pub struct EmulatedMemory {
    /// Frame number of the first byte of the block.
    base: Pfn,
    /// Frames in the block.
    frames: u64,
    /// The block, or a dangling (never dereferenced) pointer when `frames` is 0.
    block: NonNull<u8>,
    /// How the block was allocated; `None` when nothing was (`frames` is 0).
    layout: Option<Layout>,
}

impl EmulatedMemory {
    /// `frames` zeroed frames numbered from `base`.
    ///
    /// # Panics
    /// If `frames` pages do not fit in the address space, or (through
    /// [`handle_alloc_error`]) if the heap cannot supply them. Use [`try_new`](Self::try_new)
    /// for a sizing error that is returned instead.
    pub fn new(base: Pfn, frames: u64) -> Self {
        match Self::layout_for(frames) {
            Ok(layout) => Self::allocate(base, frames, layout),
            Err(()) => panic!("{frames} emulated frames do not fit in the address space"),
        }
    }

    /// Like [`new`](Self::new), but `None` when the block cannot be sized or allocated.
    pub fn try_new(base: Pfn, frames: u64) -> Option<Self> {
        let layout = Self::layout_for(frames).ok()?;
        let Some(layout) = layout else {
            return Some(Self::empty(base));
        };
        // SAFETY: `layout_for` only returns layouts of non-zero size.
        let block = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Self { base, frames, block, layout: Some(layout) })
    }

    /// The first frame.
    pub const fn base(&self) -> Pfn {
        self.base
    }

    /// How many frames there are.
    pub const fn frame_count(&self) -> u64 {
        self.frames
    }

    /// Whether `pfn` is one of the emulated frames.
    pub const fn contains(&self, pfn: Pfn) -> bool {
        match pfn.0.checked_sub(self.base.0) {
            Some(index) => index < self.frames,
            None => false,
        }
    }

    /// The layout of a block of `frames` frames: `Ok(None)` for no frames (nothing to allocate).
    fn layout_for(frames: u64) -> Result<Option<Layout>, ()> {
        if frames == 0 {
            return Ok(None);
        }
        let bytes = frames.checked_mul(PAGE_SIZE).ok_or(())?;
        let bytes = usize::try_from(bytes).map_err(|_| ())?;
        Layout::from_size_align(bytes, PAGE_SIZE as usize).map(Some).map_err(|_| ())
    }

    fn allocate(base: Pfn, frames: u64, layout: Option<Layout>) -> Self {
        let Some(layout) = layout else {
            return Self::empty(base);
        };
        // SAFETY: `layout_for` only returns layouts of non-zero size.
        let block = unsafe { alloc_zeroed(layout) };
        let Some(block) = NonNull::new(block) else { handle_alloc_error(layout) };
        Self { base, frames, block, layout: Some(layout) }
    }

    fn empty(base: Pfn) -> Self {
        Self { base, frames: 0, block: NonNull::dangling(), layout: None }
    }
}

impl Drop for EmulatedMemory {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: `block` was returned by `alloc_zeroed(layout)` and is freed only here.
            unsafe { dealloc(self.block.as_ptr(), layout) };
        }
    }
}

impl fmt::Debug for EmulatedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatedMemory")
            .field("base", &self.base)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

// SAFETY: the block is plain heap memory owned by this value, not tied to the thread that
// allocated it. All access to its contents goes through the pointers `frame` hands out, and
// the `PhysicalMemory` contract already makes those usable from any thread (callers share
// paging structures through atomics, as real RAM is shared between CPUs).
unsafe impl Send for EmulatedMemory {}
// SAFETY: `&EmulatedMemory` only exposes the immutable fields and the frame pointers; see the
// `Send` impl for why handing those to several threads is sound.
unsafe impl Sync for EmulatedMemory {}

// SAFETY: for a pfn in `base..base + frames`, `frame` returns a pointer into the block at offset
// `(pfn - base) * 4096`: inside the allocation, 4096-aligned (the block is), readable and
// writable, valid until `self` is dropped (the block is freed only in `Drop`), and always the
// same pointer for the same frame. Every other pfn yields `None`.
unsafe impl PhysicalMemory for EmulatedMemory {
    fn frame(&self, pfn: Pfn) -> Option<NonNull<FrameBytes>> {
        if !self.contains(pfn) {
            return None;
        }
        // `contains` bounds the index by `frames`, and `frames * 4096` fit in a usize when the
        // block was allocated, so neither conversion nor product can overflow.
        let offset = usize::try_from(pfn.0 - self.base.0).ok()? * PAGE_SIZE as usize;
        NonNull::new(self.block.as_ptr().wrapping_add(offset).cast::<FrameBytes>())
    }
}

/// The bookkeeping of [`EmulatedFrameAllocator`], behind its lock.
#[derive(Debug)]
struct AllocatorState {
    /// Free frames; the lowest is on top so that allocation order is predictable.
    free: Vec<Pfn>,
    /// One bit per frame of the range, set while the frame is allocated.
    allocated: Vec<u64>,
    /// Frames allocated now.
    allocated_count: u64,
    /// When set, allocation fails while `allocated_count` has reached it.
    limit: Option<u64>,
    /// Frees of frames that were not allocated (outside the range, or freed twice).
    invalid_frees: u64,
    /// Allocations refused because of the limit or because the range was exhausted.
    failed_allocations: u64,
}

/// A frame allocator over the pfn range `base..base + frames`: a locked stack of free frames.
///
/// It can be limited to a number of frames allocated at once, to make the code under test
/// run out of memory at a chosen point.
#[derive(Debug)]
pub struct EmulatedFrameAllocator {
    base: Pfn,
    frames: u64,
    state: Mutex<AllocatorState>,
}

impl EmulatedFrameAllocator {
    /// An allocator owning every frame of `base..base + frames`.
    pub fn new(base: Pfn, frames: u64) -> Self {
        Self::with_limit(base, frames, None)
    }

    /// An allocator over `base..base + frames` that never has more than `limit` frames
    /// allocated at once: the allocation that would exceed it fails.
    pub fn limited(base: Pfn, frames: u64, limit: u64) -> Self {
        Self::with_limit(base, frames, Some(limit))
    }

    fn with_limit(base: Pfn, frames: u64, limit: Option<u64>) -> Self {
        // A range that would run past the last pfn is cut short rather than wrapped.
        let frames = frames.min(u64::MAX - base.0);
        let free = (0..frames).rev().map(|index| Pfn(base.0 + index)).collect();
        let words = usize::try_from(frames.div_ceil(64)).unwrap_or(usize::MAX);
        let state = AllocatorState {
            free,
            allocated: alloc::vec![0; words],
            allocated_count: 0,
            limit,
            invalid_frees: 0,
            failed_allocations: 0,
        };
        Self { base, frames, state: Mutex::new(state) }
    }

    /// Sets (or with `None`, lifts) the limit on frames allocated at once.
    pub fn set_limit(&self, limit: Option<u64>) {
        self.state.lock().limit = limit;
    }

    /// Makes every further allocation fail until a frame is freed or the limit is lifted.
    pub fn exhaust(&self) {
        let mut state = self.state.lock();
        state.limit = Some(state.allocated_count);
    }

    /// Frames that can still be allocated (ignoring any limit).
    pub fn free_count(&self) -> u64 {
        self.state.lock().free.len() as u64
    }

    /// Frames allocated and not yet freed.
    pub fn allocated_count(&self) -> u64 {
        self.state.lock().allocated_count
    }

    /// Frees of frames that were not allocated from this allocator; a correct user has none.
    pub fn invalid_frees(&self) -> u64 {
        self.state.lock().invalid_frees
    }

    /// Allocations that failed (limit reached or range exhausted).
    pub fn failed_allocations(&self) -> u64 {
        self.state.lock().failed_allocations
    }

    /// Whether `pfn` is allocated from this allocator now.
    pub fn is_allocated(&self, pfn: Pfn) -> bool {
        let Some((word, bit)) = self.bit_of(pfn) else {
            return false;
        };
        self.state.lock().allocated[word] & bit != 0
    }

    /// The word index and bit mask tracking `pfn`, or `None` outside the range.
    fn bit_of(&self, pfn: Pfn) -> Option<(usize, u64)> {
        let index = pfn.0.checked_sub(self.base.0).filter(|&index| index < self.frames)?;
        Some((usize::try_from(index / 64).ok()?, 1 << (index % 64)))
    }
}

impl FrameAllocator for EmulatedFrameAllocator {
    fn allocate_frame(&self) -> Option<Pfn> {
        let mut state = self.state.lock();
        if state.limit.is_some_and(|limit| state.allocated_count >= limit) {
            state.failed_allocations += 1;
            return None;
        }
        let Some(pfn) = state.free.pop() else {
            state.failed_allocations += 1;
            return None;
        };
        // Every frame on the free stack lies in the range, so it has a bit.
        if let Some((word, bit)) = self.bit_of(pfn) {
            state.allocated[word] |= bit;
        }
        state.allocated_count += 1;
        Some(pfn)
    }

    fn free_frame(&self, pfn: Pfn) {
        let mut state = self.state.lock();
        match self.bit_of(pfn) {
            Some((word, bit)) if state.allocated[word] & bit != 0 => {
                state.allocated[word] &= !bit;
                state.allocated_count -= 1;
                state.free.push(pfn);
            }
            // A foreign frame or a double free: remember it for the test to see, and keep the
            // free stack free of duplicates.
            _ => state.invalid_frees += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_frames_are_zeroed_aligned_and_bounded() {
        let memory = EmulatedMemory::new(Pfn(0x100), 4);
        assert!(memory.frame(Pfn(0xFF)).is_none());
        assert!(memory.frame(Pfn(0x104)).is_none());
        for pfn in 0x100..0x104 {
            let frame = memory.frame(Pfn(pfn)).unwrap();
            assert_eq!(frame.as_ptr() as usize % PAGE_SIZE as usize, 0);
            let table = memory.table(Pfn(pfn)).unwrap();
            assert!(table.iter().all(|entry| entry.load(core::sync::atomic::Ordering::Relaxed) == 0));
        }
        let first = memory.frame(Pfn(0x100)).unwrap().as_ptr() as usize;
        let second = memory.frame(Pfn(0x101)).unwrap().as_ptr() as usize;
        assert_eq!(second - first, PAGE_SIZE as usize);
    }

    #[test]
    fn empty_and_oversized_memories_are_handled() {
        let memory = EmulatedMemory::new(Pfn(7), 0);
        assert!(memory.frame(Pfn(7)).is_none());
        assert!(EmulatedMemory::try_new(Pfn(0), u64::MAX).is_none());
    }

    #[test]
    fn allocator_counts_limits_and_rejects_bad_frees() {
        let frames = EmulatedFrameAllocator::limited(Pfn(10), 4, 2);
        assert_eq!(frames.allocate_frame(), Some(Pfn(10)));
        assert_eq!(frames.allocate_frame(), Some(Pfn(11)));
        assert_eq!(frames.allocate_frame(), None);
        assert_eq!(frames.failed_allocations(), 1);
        assert_eq!((frames.allocated_count(), frames.free_count()), (2, 2));
        frames.free_frame(Pfn(11));
        frames.free_frame(Pfn(11));
        frames.free_frame(Pfn(99));
        assert_eq!(frames.invalid_frees(), 2);
        assert!(!frames.is_allocated(Pfn(11)));
        assert!(frames.is_allocated(Pfn(10)));
        frames.set_limit(None);
        assert_eq!(frames.allocate_frame(), Some(Pfn(11)));
        assert_eq!(frames.allocate_frame(), Some(Pfn(12)));
        frames.exhaust();
        assert_eq!(frames.allocate_frame(), None);
        frames.set_limit(None);
        assert_eq!(frames.allocate_frame(), Some(Pfn(13)));
        assert_eq!(frames.allocate_frame(), None);
        assert_eq!(frames.allocated_count(), 4);
    }
}
