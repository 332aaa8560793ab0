//! The hosted machine's TLB: a one-entry translation cache per thread for the register
//! routines.
//!
//! A register access resolves its virtual address with a page walk, and a driver polling one
//! register walks the same four levels every time. Each thread remembers the last page it
//! resolved. Every change to a present translation is followed by a flush of the machine (the
//! core's rule), and a flush moves the machine's generation on, which makes every remembered
//! entry of that machine stale, as an invalidation empties a TLB. The generation is read
//! before the walk, so a walk that races with a change is remembered as already stale.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identities of machines, so that one machine's entry never answers for another's.
static NEXT_MACHINE: AtomicU64 = AtomicU64::new(1);

/// What a thread remembers: `page` (a virtual page base) maps `frame` (a physical page base).
#[derive(Clone, Copy)]
struct Entry {
    machine: u64,
    generation: u64,
    page: u64,
    frame: u64,
    writable: bool,
}

thread_local! {
    /// Machine 0 is never handed out, so the empty entry matches nothing.
    static LAST: Cell<Entry> =
        const { Cell::new(Entry { machine: 0, generation: 0, page: 0, frame: 0, writable: false }) };
}

/// One machine's side of the cache: its identity and the generation its flushes move on.
#[derive(Debug)]
pub struct TranslationCache {
    machine: u64,
    generation: AtomicU64,
}

impl Default for TranslationCache {
    fn default() -> Self {
        Self { machine: NEXT_MACHINE.fetch_add(1, Ordering::Relaxed), generation: AtomicU64::new(0) }
    }
}

/// A lookup's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The page maps `frame`, with or without write permission.
    Hit {
        /// The physical page base.
        frame: u64,
        /// Whether writes are allowed.
        writable: bool,
    },
    /// Walk the tables, then [`remember`](TranslationCache::remember) the result with this
    /// generation.
    Miss(u64),
}

impl TranslationCache {
    /// What this thread remembers for the virtual page at `page`.
    pub fn lookup(&self, page: u64) -> Lookup {
        let generation = self.generation.load(Ordering::Acquire);
        let entry = LAST.with(Cell::get);
        if entry.machine == self.machine && entry.generation == generation && entry.page == page {
            Lookup::Hit { frame: entry.frame, writable: entry.writable }
        } else {
            Lookup::Miss(generation)
        }
    }

    /// Remembers a walk's result, made after a [`lookup`](Self::lookup) missed with
    /// `generation`.
    pub fn remember(&self, generation: u64, page: u64, frame: u64, writable: bool) {
        LAST.with(|last| last.set(Entry { machine: self.machine, generation, page, frame, writable }));
    }

    /// Makes every remembered entry of this machine stale, on every thread.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_page_hits_until_the_machine_flushes() {
        let cache = TranslationCache::default();
        let Lookup::Miss(generation) = cache.lookup(0x7000) else { panic!("nothing remembered yet") };
        cache.remember(generation, 0x7000, 0xFEA0_0000, true);
        assert_eq!(cache.lookup(0x7000), Lookup::Hit { frame: 0xFEA0_0000, writable: true });
        assert!(matches!(cache.lookup(0x8000), Lookup::Miss(_)), "another page");
        cache.invalidate();
        assert!(matches!(cache.lookup(0x7000), Lookup::Miss(_)), "a flush empties it");
    }

    #[test]
    fn a_walk_that_raced_with_a_flush_is_remembered_stale() {
        let cache = TranslationCache::default();
        let Lookup::Miss(before) = cache.lookup(0x7000) else { panic!() };
        cache.invalidate();
        cache.remember(before, 0x7000, 0x1000, false);
        assert!(matches!(cache.lookup(0x7000), Lookup::Miss(_)));
    }

    #[test]
    fn machines_and_threads_do_not_share_entries() {
        let (one, two) = (TranslationCache::default(), TranslationCache::default());
        let Lookup::Miss(generation) = one.lookup(0x7000) else { panic!() };
        one.remember(generation, 0x7000, 0x1000, true);
        assert!(matches!(two.lookup(0x7000), Lookup::Miss(_)));
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(matches!(one.lookup(0x7000), Lookup::Miss(_))));
        });
        assert!(matches!(one.lookup(0x7000), Lookup::Hit { .. }));
    }
}
