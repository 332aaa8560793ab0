//! The suite: the eight workloads of the issue, in order, each run with its baselines.

use crate::counting_allocator;
use crate::measure::Sample;
use crate::report::WorkloadReport;

/// How the suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Few operations and one round: seconds, to show the suite works (CI), not to measure.
    pub quick: bool,
    allocator_installed: bool,
}

impl Options {
    /// A full run, or with `quick` a short one. Heap allocations are counted when this
    /// process's global allocator is the [`CountingAllocator`](crate::CountingAllocator).
    pub fn new(quick: bool) -> Self {
        Self { quick, allocator_installed: counting_allocator::is_installed() }
    }

    /// Operations per batch: `full`, or a small share of it in a quick run.
    pub fn ops(&self, full: u64) -> u64 {
        if self.quick { (full / 200).max(50) } else { full }
    }

    /// Measured rounds (after one warm-up round). Many short rounds rather than a few long
    /// ones: on a shared machine, the fastest of many short batches is the likeliest to have
    /// run undisturbed, for the subject and its baseline alike.
    pub fn rounds(&self) -> u32 {
        if self.quick { 1 } else { 20 }
    }

    /// Whether heap allocations are being counted.
    pub fn allocations_installed(&self) -> bool {
        self.allocator_installed
    }

    /// The sample's allocations per operation, if they are being counted.
    pub fn allocations(&self, sample: Sample) -> Option<f64> {
        self.allocator_installed.then_some(sample.allocations_per_op)
    }
}

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The hosted machine did not boot.
    #[error("the hosted machine did not boot: {0}")]
    Boot(#[from] iospace_hosted::BootError),
    /// The host refused memory or a mapping.
    #[error("host: {0}")]
    Host(#[from] std::io::Error),
    /// The workload's preparation found the machine not as expected.
    #[error("setup: {0}")]
    Setup(&'static str),
    /// No workload has this name.
    #[error("no workload is called {0:?} (known: {names})", names = WORKLOADS.join(", "))]
    UnknownWorkload(String),
}

/// The workloads, in the order (its workload 2 has two: 16 pages and 2 MiB).
pub const WORKLOADS: [&str; 9] = [
    "map_io_space_1page",
    "map_io_space_16pages",
    "map_io_space_2mib",
    "reserved_mapping_16pages",
    "va_churn",
    "map_bar_64gib",
    "hosted_ram_alias",
    "register_read",
    "parallel_map",
];

fn run_one(name: &str, options: &Options) -> Result<WorkloadReport, WorkloadError> {
    Ok(match name {
        "map_io_space_1page" => crate::io_space::map_io_space_1page(options),
        "map_io_space_16pages" => crate::io_space::map_io_space_16pages(options),
        "map_io_space_2mib" => crate::io_space::map_io_space_2mib(options),
        "reserved_mapping_16pages" => crate::reserved::reserved_mapping_16pages(options),
        "va_churn" => crate::va_churn::va_churn(options),
        "map_bar_64gib" => crate::large_bar::map_bar_64gib(options),
        "hosted_ram_alias" => crate::ram_alias::hosted_ram_alias(options)?,
        "register_read" => crate::register_read::register_read(options)?,
        "parallel_map" => crate::parallel::parallel_map(options),
        other => return Err(WorkloadError::UnknownWorkload(other.to_owned())),
    })
}

/// Runs the workloads named in `only` (all when empty), in suite order, handing each report
/// to `each` as soon as it is done, and returns them all.
pub fn run(
    options: &Options,
    only: &[String],
    mut each: impl FnMut(&WorkloadReport),
) -> Result<Vec<WorkloadReport>, WorkloadError> {
    if let Some(unknown) = only.iter().find(|name| !WORKLOADS.contains(&name.as_str())) {
        return Err(WorkloadError::UnknownWorkload(unknown.clone()));
    }
    let mut reports = Vec::new();
    for name in
        WORKLOADS.into_iter().filter(|name| only.is_empty() || only.iter().any(|wanted| wanted == name))
    {
        let report = run_one(name, options)?;
        each(&report);
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_are_unique() {
        for name in WORKLOADS {
            assert_eq!(WORKLOADS.iter().filter(|&&other| other == name).count(), 1, "{name}");
        }
    }

    #[test]
    fn unknown_names_are_refused_before_anything_runs() {
        let mut ran = 0;
        let result = run(&Options::new(true), &["map_io_space_3pages".to_owned()], |_| ran += 1);
        assert!(matches!(result, Err(WorkloadError::UnknownWorkload(name)) if name == "map_io_space_3pages"));
        assert_eq!(ran, 0);
    }

    #[test]
    fn quick_runs_scale_operations_down() {
        let quick = Options::new(true);
        assert_eq!(quick.ops(1_000_000), 5_000);
        assert_eq!(quick.ops(100), 50);
        assert_eq!(Options::new(false).ops(1_000_000), 1_000_000);
    }
}
