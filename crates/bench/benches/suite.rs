//! `cargo bench -p iospace-bench`: the whole suite as a table (`-- --quick` for a short run,
//! `-- NAME...` for some workloads only).

#[global_allocator]
static ALLOCATOR: iospace_bench::CountingAllocator = iospace_bench::CountingAllocator;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let quick = arguments.iter().any(|argument| argument == "--quick");
    // `cargo bench` passes `--bench`; any other word names a workload.
    let only: Vec<String> = arguments.into_iter().filter(|argument| !argument.starts_with("--")).collect();
    match iospace_bench::run(&iospace_bench::Options::new(quick), &only, |_| {}) {
        Ok(reports) => print!("{}", iospace_bench::table(&reports)),
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::exit(2);
        }
    }
}
