//! A global allocator that counts heap allocations per thread, so a benchmark can say how many
//! allocations one operation makes.
//!
//! The `iospace` binary installs it for every command, so it must cost next to nothing: each
//! allocation adds one to a thread-local counter (no atomic, no shared cache line) and then
//! calls the system allocator.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: iospace_bench::CountingAllocator = iospace_bench::CountingAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations (and growing or shrinking reallocations) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each allocation of the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

fn count_one() {
    // `try_with`: during thread teardown the slot may be gone; the allocation still happens.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches only a
// thread-local integer and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's layout, which meets `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` and `layout` come from this allocator, `new_size` from the caller, who
        // meets `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap allocations the calling thread has made since it started, if the counting allocator
/// is the global allocator; otherwise it stays 0.
pub fn thread_allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Whether the counting allocator is the process's global allocator: a probe allocation must
/// move the counter.
pub fn is_installed() -> bool {
    let before = thread_allocations();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    thread_allocations() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nothing_when_not_installed() {
        // Unit tests run under the default allocator: the counter must not pretend.
        assert!(!is_installed());
        assert_eq!(thread_allocations(), 0);
    }
}
