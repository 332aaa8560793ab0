//! Timing a workload against its baselines in one process.
//!
//! Each measurement runs a batch of operations and divides the elapsed time by their number.
//! Subject and baselines alternate over several rounds, and the fastest round of each is kept:
//! the minimum is what the code costs when nothing else on the machine interferes, and
//! alternating gives both the same conditions, so their ratio stays meaningful on a busy
//! machine even when absolute times do not.

use std::time::Instant;

use crate::counting_allocator::thread_allocations;

/// The cost of one batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Nanoseconds per operation.
    pub ns_per_op: f64,
    /// Heap allocations per operation on the measuring thread.
    pub allocations_per_op: f64,
}

impl Sample {
    /// The better of two samples: the lower time, and the allocations seen with it.
    fn best(self, other: Sample) -> Sample {
        if other.ns_per_op < self.ns_per_op { other } else { self }
    }
}

/// Runs `ops` operations of `body` (given the operation's index) and returns the cost of one.
pub fn batch(ops: u64, mut body: impl FnMut(u64)) -> Sample {
    let ops = ops.max(1);
    let allocations = thread_allocations();
    let start = Instant::now();
    for index in 0..ops {
        body(index);
    }
    let elapsed = start.elapsed();
    let allocated = thread_allocations() - allocations;
    Sample {
        ns_per_op: elapsed.as_nanos() as f64 / ops as f64,
        allocations_per_op: allocated as f64 / ops as f64,
    }
}

/// Runs each of `contenders` for `ops` operations per round, alternating, for `rounds` rounds
/// after one warm-up round, and returns the best sample of each, in order.
pub fn alternate(rounds: u32, ops: u64, contenders: &mut [&mut dyn FnMut(u64)]) -> Vec<Sample> {
    let mut best: Vec<Option<Sample>> = vec![None; contenders.len()];
    for round in 0..=rounds {
        for (slot, body) in best.iter_mut().zip(contenders.iter_mut()) {
            let sample = batch(ops, &mut **body);
            // Round 0 warms caches, the branch predictors and the allocators' free lists.
            if round > 0 {
                *slot = Some(slot.map_or(sample, |kept| kept.best(sample)));
            }
        }
    }
    best.into_iter()
        .map(|sample| sample.unwrap_or(Sample { ns_per_op: f64::NAN, allocations_per_op: 0.0 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_divides_by_its_operations_and_runs_each_once() {
        let mut seen = Vec::new();
        let sample = batch(5, |index| seen.push(index));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert!(sample.ns_per_op.is_finite() && sample.ns_per_op >= 0.0);
    }

    #[test]
    fn alternating_runs_every_contender_every_round_and_keeps_the_fastest() {
        let (mut fast_calls, mut slow_calls) = (0u64, 0u64);
        let mut fast = |_: u64| fast_calls += 1;
        let mut slow = |_: u64| {
            slow_calls += 1;
            std::thread::sleep(std::time::Duration::from_micros(200));
        };
        let samples = alternate(2, 3, &mut [&mut fast, &mut slow]);
        assert_eq!((fast_calls, slow_calls), (9, 9), "one warm-up round and two measured ones");
        assert!(samples[1].ns_per_op >= 200_000.0);
        assert!(samples[0].ns_per_op < samples[1].ns_per_op);
    }
}
