//! `iospace bench`: the benchmark suite of `iospace-bench`, printed as a table or, with
//! `--json`, as one JSON object per workload and line.

use std::io::Write;
use std::process::ExitCode;

use iospace_bench::{Options, WorkloadReport};

/// Options of `iospace bench`.
#[derive(Debug, Default, clap::Args)]
pub struct BenchArgs {
    /// Print one JSON object per workload (one per line) instead of a table.
    #[arg(long)]
    json: bool,
    /// A short run (a few seconds) that shows the suite works; its numbers are not measurements.
    #[arg(long)]
    quick: bool,
    /// Run only these workloads (all when none is named).
    #[arg(value_name = "WORKLOAD")]
    workloads: Vec<String>,
}

/// Runs the suite. Exit status 0 whether or not targets were met (the report says which);
/// 2 if a workload could not run.
pub fn run(args: &BenchArgs) -> ExitCode {
    let options = Options::new(args.quick);
    let print_json = |report: &WorkloadReport| {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", report.to_json());
        let _ = stdout.flush();
    };
    let result = if args.json {
        iospace_bench::run(&options, &args.workloads, print_json)
    } else {
        iospace_bench::run(&options, &args.workloads, |report| eprintln!("done: {}", report.name))
            .inspect(|reports| print!("{}", iospace_bench::table(reports)))
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("iospace bench: {error}");
            ExitCode::from(2)
        }
    }
}
