//! `va_churn`: random spans of 1 to 64 pages allocated and freed in a 64K-page VA space, 30% of
//! them long-lived, replayed against the system VA allocator and against two peer designs
//! ([`SortedFreeList`], [`FirstFitBitmap`]).
//!
//! The operations are generated once, before any timing, as a trace: each step allocates one
//! span and frees the spans whose lifetime ended. Lifetimes are drawn so that the pages the
//! trace asks to hold average 90% of the space at steady state (Little's law: live pages =
//! mean span x mean lifetime in steps), so the same run measures throughput and how many
//! allocations each design fails when the space is that full. A failed allocation's free is
//! skipped on replay.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use iospace_mm::address::{PAGE_SIZE, VirtualAddress};
use iospace_mm::system_va::SystemVaSpace;

use crate::bitmap_peer::FirstFitBitmap;
use crate::free_list_peer::SortedFreeList;
use crate::measure::alternate;
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::Options;

/// Pages in the VA space the trace runs in.
pub const SPACE_PAGES: u64 = 65_536;
/// The largest span.
const MAX_SPAN: u64 = 64;
/// Share of long-lived spans, in percent.
const LONG_LIVED_PERCENT: u64 = 30;
/// Mean lifetime of a short-lived span, in steps.
const SHORT_MEAN_STEPS: u64 = 50;
/// The occupancy the trace asks for.
pub const OCCUPANCY: f64 = 0.9;

/// An allocator of page spans, as the workload drives it.
pub trait SpanAllocator: Sync {
    /// The first page of a free run of `pages` pages, now allocated, or `None`.
    fn allocate(&self, pages: u64) -> Option<u64>;
    /// Returns `pages` pages from `start`, which an `allocate` of that size returned.
    fn free(&self, start: u64, pages: u64);
}

/// The system VA window of the memory manager, in pages from its base.
#[derive(Debug)]
pub struct SystemVa(SystemVaSpace);

impl SystemVa {
    /// A window of `pages` pages.
    pub fn new(pages: u64) -> Self {
        let window = SystemVaSpace::new(VirtualAddress(0xFFFF_8000_0000_0000), pages * PAGE_SIZE)
            .expect("a 1 GiB-aligned canonical window");
        Self(window)
    }
}

impl SpanAllocator for SystemVa {
    fn allocate(&self, pages: u64) -> Option<u64> {
        let address = self.0.allocate(pages, 1, 0)?;
        Some((address.0 - self.0.base().0) / PAGE_SIZE)
    }

    fn free(&self, start: u64, pages: u64) {
        let freed = self.0.free(self.0.base().add(start * PAGE_SIZE), pages);
        debug_assert!(freed, "the trace frees only what it allocated");
    }
}

/// One operation of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate span `id` of `pages` pages.
    Allocate {
        /// The span's index.
        id: u32,
        /// Its size.
        pages: u32,
    },
    /// Free span `id` (skipped if its allocation failed).
    Free {
        /// The span's index.
        id: u32,
        /// Its size.
        pages: u32,
    },
}

/// A xorshift64* generator: deterministic, so every run replays the same trace.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `1..=2 * mean - 1`, whose mean is `mean`.
    fn lifetime(&mut self, mean: u64) -> u64 {
        1 + self.next() % (2 * mean - 1)
    }
}

/// A churn trace of about `ops` operations (every span allocated is freed by the end).
pub fn trace(ops: u64, space_pages: u64, occupancy: f64) -> Vec<Op> {
    let mean_span = (1 + MAX_SPAN) as f64 / 2.0;
    let live_spans = occupancy * space_pages as f64 / mean_span;
    let long = LONG_LIVED_PERCENT as f64 / 100.0;
    let long_mean = ((live_spans - (1.0 - long) * SHORT_MEAN_STEPS as f64) / long).max(1.0) as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ends: BinaryHeap<Reverse<(u64, u32, u32)>> = BinaryHeap::new();
    let mut trace = Vec::with_capacity(ops as usize + MAX_SPAN as usize);
    let mut step = 0u64;
    let mut id = 0u32;
    while (trace.len() + ends.len()) < ops as usize {
        let pages = (1 + rng.next() % MAX_SPAN) as u32;
        let mean = if rng.next() % 100 < LONG_LIVED_PERCENT { long_mean } else { SHORT_MEAN_STEPS };
        trace.push(Op::Allocate { id, pages });
        ends.push(Reverse((step + rng.lifetime(mean), id, pages)));
        id += 1;
        step += 1;
        while let Some(&Reverse((end, span, pages))) = ends.peek() {
            if end > step {
                break;
            }
            ends.pop();
            trace.push(Op::Free { id: span, pages });
        }
    }
    trace.extend(
        ends.into_sorted_vec().into_iter().rev().map(|Reverse((_, id, pages))| Op::Free { id, pages }),
    );
    trace
}

/// Replays a trace; `starts[id]` holds where span `id` went (`u64::MAX`: it failed).
#[derive(Debug)]
struct Replay<'a> {
    trace: &'a [Op],
    starts: Vec<u64>,
    failures: u64,
}

impl<'a> Replay<'a> {
    fn new(trace: &'a [Op]) -> Self {
        let spans = trace.iter().filter(|op| matches!(op, Op::Allocate { .. })).count();
        Self { trace, starts: vec![u64::MAX; spans], failures: 0 }
    }

    fn step(&mut self, allocator: &dyn SpanAllocator, index: usize) {
        match self.trace[index] {
            Op::Allocate { id, pages } => match allocator.allocate(pages.into()) {
                Some(start) => self.starts[id as usize] = start,
                None => {
                    self.starts[id as usize] = u64::MAX;
                    self.failures += 1;
                }
            },
            Op::Free { id, pages } => {
                let start = self.starts[id as usize];
                if start != u64::MAX {
                    allocator.free(start, pages.into());
                }
            }
        }
    }
}

/// Runs one replay per index 0 on a fresh allocator from `make`, returning the closure's
/// failures of the last replay through `failures`.
fn replayer<'a, A: SpanAllocator + 'a>(
    trace: &'a [Op],
    make: impl Fn() -> A + 'a,
    failures: &'a mut u64,
) -> impl FnMut(u64) + 'a {
    let mut allocator = make();
    let mut replay = Replay::new(trace);
    move |index| {
        if index == 0 {
            allocator = make();
            replay = Replay::new(trace);
        }
        replay.step(&allocator, index as usize);
        if index as usize == trace.len() - 1 {
            *failures = replay.failures;
        }
    }
}

/// Workload 4. Targets: at least 5 x the free list's throughput and 2 x the bitmap's, and no
/// more failed allocations than either.
pub fn va_churn(options: &Options) -> WorkloadReport {
    let trace = trace(options.ops(1_000_000).max(1000), SPACE_PAGES, OCCUPANCY);
    let ops = trace.len() as u64;
    let (mut ours_failed, mut list_failed, mut bitmap_failed) = (0, 0, 0);
    let samples = {
        let mut ours = replayer(&trace, || SystemVa::new(SPACE_PAGES), &mut ours_failed);
        let mut list = replayer(&trace, || SortedFreeList::new(SPACE_PAGES), &mut list_failed);
        let mut bitmap = replayer(&trace, || FirstFitBitmap::new(SPACE_PAGES), &mut bitmap_failed);
        alternate(options.rounds().min(2), ops, &mut [&mut ours, &mut list, &mut bitmap])
    };
    let [ours, list, bitmap] = samples[..] else { unreachable!("three contenders, three samples") };
    let peers = vec![
        Baseline::new("free_list", "size-sorted first-fit free list, linear scans, one lock", list.ns_per_op)
            .with("failed_allocations", list_failed),
        Baseline::new("bitmap", "first-fit bitmap from page 0, word at a time, one lock", bitmap.ns_per_op)
            .with("failed_allocations", bitmap_failed),
    ];
    let report = WorkloadReport::new("va_churn", ops, ours.ns_per_op, options.allocations(ours), None, peers)
        .detail("space_pages", SPACE_PAGES)
        .detail("occupancy_asked", OCCUPANCY)
        .detail("failed_allocations", ours_failed);
    let fewest_peer_failures = list_failed.min(bitmap_failed);
    report
        .target(Target::at_least("the free list's throughput", list.ns_per_op / ours.ns_per_op, 5.0))
        .target(Target::at_least("the bitmap's throughput", bitmap.ns_per_op / ours.ns_per_op, 2.0))
        .target(Target::new(
            "no more failed allocations than either peer at 90% occupancy",
            ours_failed <= fewest_peer_failures,
            format!("{ours_failed} vs {list_failed} (free list), {bitmap_failed} (bitmap)"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_frees_every_span_once_after_allocating_it() {
        let trace = trace(20_000, SPACE_PAGES, OCCUPANCY);
        let mut live = std::collections::HashMap::new();
        for op in &trace {
            match *op {
                Op::Allocate { id, pages } => {
                    assert!((1..=64).contains(&pages));
                    assert!(live.insert(id, pages).is_none());
                }
                Op::Free { id, pages } => assert_eq!(live.remove(&id), Some(pages)),
            }
        }
        assert!(live.is_empty());
        assert!(trace.len() >= 20_000);
    }

    #[test]
    fn the_trace_holds_about_the_occupancy_asked_for() {
        let trace = trace(200_000, SPACE_PAGES, OCCUPANCY);
        let (mut live, mut samples, mut total) = (0u64, 0u64, 0u64);
        for (index, op) in trace.iter().enumerate() {
            match *op {
                Op::Allocate { pages, .. } => live += u64::from(pages),
                Op::Free { pages, .. } => live -= u64::from(pages),
            }
            // Past the ramp-up, before the final drain.
            if index > trace.len() / 2 && index < trace.len() * 9 / 10 {
                total += live;
                samples += 1;
            }
        }
        let occupancy = total as f64 / samples as f64 / SPACE_PAGES as f64;
        assert!((0.8..1.0).contains(&occupancy), "mean occupancy {occupancy}");
    }

    #[test]
    fn every_design_replays_a_trace_without_handing_a_page_out_twice() {
        let trace = trace(30_000, 4096, OCCUPANCY);
        let designs: [&dyn SpanAllocator; 3] =
            [&SystemVa::new(4096), &SortedFreeList::new(4096), &FirstFitBitmap::new(4096)];
        for allocator in designs {
            let mut owner = vec![u32::MAX; 4096];
            let mut replay = Replay::new(&trace);
            for (index, &op) in trace.iter().enumerate() {
                replay.step(allocator, index);
                match op {
                    Op::Allocate { id, pages } if replay.starts[id as usize] != u64::MAX => {
                        let start = replay.starts[id as usize] as usize;
                        for page in &mut owner[start..start + pages as usize] {
                            assert_eq!(*page, u32::MAX, "page handed out twice");
                            *page = id;
                        }
                    }
                    Op::Free { id, pages } if replay.starts[id as usize] != u64::MAX => {
                        let start = replay.starts[id as usize] as usize;
                        owner[start..start + pages as usize].fill(u32::MAX);
                    }
                    _ => {}
                }
            }
            assert!(owner.iter().all(|&page| page == u32::MAX), "everything came back");
        }
    }
}
