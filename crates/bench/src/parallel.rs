//! `parallel_map`: workload 1 (`MmMapIoSpace` + `MmUnmapIoSpace` of one page) from two threads
//! at once, each on its own device page, against the same work from one thread. Perfect
//! scaling doubles the throughput; the target is 1.7 x.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use iospace_mm::address::{PAGE_SIZE, PhysicalAddress};
use iospace_mm::memory_manager::MemoryManager;

use crate::counting_allocator::thread_allocations;
use crate::emulated_machine::emulated_mm;
use crate::io_space::{EDU_BAR0, map_and_unmap};
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::Options;

/// Runs `ops` operations on each of `threads` threads started together; returns the wall
/// time from the first thread's start to the last thread's end, and the allocations all
/// threads made. The threads take the times themselves: the spawning thread may not run at
/// all while they work.
fn run_threads(mm: &MemoryManager, threads: u64, ops: u64) -> (Duration, u64) {
    let start_line = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let start_line = &start_line;
                scope.spawn(move || {
                    let physical = PhysicalAddress(EDU_BAR0.0 + thread * PAGE_SIZE);
                    start_line.wait();
                    let start = Instant::now();
                    let allocations = thread_allocations();
                    for _ in 0..ops {
                        map_and_unmap(mm, physical, PAGE_SIZE as usize);
                    }
                    (start, Instant::now(), thread_allocations() - allocations)
                })
            })
            .collect();
        let runs: Vec<_> =
            workers.into_iter().map(|worker| worker.join().expect("a worker finishes")).collect();
        let start = runs.iter().map(|&(start, _, _)| start).min();
        let end = runs.iter().map(|&(_, end, _)| end).max();
        let wall = match (start, end) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        (wall, runs.iter().map(|&(_, _, allocations)| allocations).sum())
    })
}

/// Workload 8. Target: two threads give at least 1.7 x one thread's throughput.
pub fn parallel_map(options: &Options) -> WorkloadReport {
    let mm = emulated_mm();
    let ops = options.ops(50_000);
    let (mut one, mut two, mut allocations) = (Duration::MAX, Duration::MAX, 0);
    // Warm-up round first; then the best round of each, alternating.
    for round in 0..=options.rounds() {
        let (single, _) = run_threads(&mm, 1, ops);
        let (pair, allocated) = run_threads(&mm, 2, ops);
        if round > 0 {
            one = one.min(single);
            if pair < two {
                two = pair;
                allocations = allocated;
            }
        }
    }
    let one_ns = one.as_nanos() as f64 / ops as f64;
    let two_ns = two.as_nanos() as f64 / (2 * ops) as f64;
    let speedup = 2.0 * one.as_secs_f64() / two.as_secs_f64();
    let limit = Baseline::new("perfect_scaling", "one thread's time per operation, halved", one_ns / 2.0)
        .with("one_thread_ns_per_op", one_ns);
    let allocations_per_op = options.allocations_installed().then(|| allocations as f64 / (2 * ops) as f64);
    WorkloadReport::new("parallel_map", 2 * ops, two_ns, allocations_per_op, Some(limit), Vec::new())
        .detail("threads", 2u64)
        .detail("throughput_vs_one_thread", speedup)
        .target(Target::at_least("one thread's throughput", speedup, 1.7))
}
