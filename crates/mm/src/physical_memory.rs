//! How the core reaches RAM frames: the platform's view of physical memory.
//!
//! Page tables and the other structures `mm` keeps in RAM are reached through this trait, so the
//! same code runs over real memory (metal's direct map), a memfd (hosted) or a heap buffer
//! (the emulated MMU of the unit tests).

use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use crate::address::{PAGE_SIZE, Pfn};

/// Bytes of one frame.
pub type FrameBytes = [u8; PAGE_SIZE as usize];
/// One frame seen as the 512 eight-byte entries of a paging structure.
pub type TableFrame = [AtomicU64; 512];

/// Physical RAM as the core reaches it.
///
/// # Safety
/// An implementation promises that whenever [`frame`](Self::frame) returns `Some(p)`, `p` points
/// to the 4096 bytes of that frame, aligned to 4096, readable and writable from any thread for as
/// long as `self` lives, and that the same frame always yields the same bytes (possibly through
/// different pointers that alias).
pub unsafe trait PhysicalMemory: Send + Sync {
    /// Where frame `pfn` can be reached, or `None` if it is not RAM.
    fn frame(&self, pfn: Pfn) -> Option<NonNull<FrameBytes>>;

    /// Frame `pfn` as a paging structure, or `None` if it is not RAM.
    ///
    /// Entries are atomics so that several CPUs can walk and extend the tables concurrently.
    fn table(&self, pfn: Pfn) -> Option<&TableFrame> {
        let frame = self.frame(pfn)?;
        // SAFETY: the trait's contract makes `frame` valid, 4096-aligned and alive as long as
        // `self`; `AtomicU64` has the size of `u64` and alignment 8 <= 4096, and atomics may be
        // shared between threads.
        Some(unsafe { frame.cast::<TableFrame>().as_ref() })
    }

    /// Fills frame `pfn` with zeros; returns `false` if it is not RAM.
    fn zero(&self, pfn: Pfn) -> bool {
        let Some(frame) = self.frame(pfn) else {
            return false;
        };
        // SAFETY: the frame is valid for writes of 4096 bytes (trait contract).
        unsafe { frame.cast::<u8>().write_bytes(0, PAGE_SIZE as usize) };
        true
    }
}

/// Gives frames to the page-table code for new paging structures, and takes them back.
pub trait FrameAllocator: Send + Sync {
    /// One free RAM frame (contents unspecified), or `None` when RAM is exhausted.
    fn allocate_frame(&self) -> Option<Pfn>;
    /// Returns a frame obtained from [`allocate_frame`](Self::allocate_frame).
    fn free_frame(&self, pfn: Pfn);
}
