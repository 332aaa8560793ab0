//! `iospace`: boot a hosted machine, drive its devices through the NT mapping routines, report.

mod bench;
mod qemu;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use iospace_hosted::description::PersonalityKind;

/// The Windows NT I/O-space mapping system, running a whole machine in this process.
#[derive(Debug, Parser)]
#[command(name = "iospace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Boot a machine, enumerate its bus, start the reference drivers, let them work,
    /// rebalance one device, remove them all, and report (the default).
    Run(RunArgs),
    /// Run the benchmark suite: each workload against its physical limit and peer designs.
    Bench(bench::BenchArgs),
    /// Build the metal kernel, boot it under QEMU (q35, TCG) with the default machine's
    /// devices, show its console, and check the ivshmem shared-memory file from the host.
    Qemu(qemu::QemuArgs),
}

/// Options of `iospace run`.
#[derive(Debug, Default, clap::Args)]
struct RunArgs {
    /// A machine description (TOML); the default machine mirrors QEMU q35 with 512 MiB, edu,
    /// ivshmem-plain, pci-testdev and COM1.
    #[arg(long, value_name = "FILE")]
    machine: Option<PathBuf>,
    /// The platform personality, overriding the description's.
    #[arg(long, value_enum)]
    personality: Option<Personality>,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `--personality`: how the host bridge presents buses to the CPU.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Personality {
    /// A PC: separate port space, bus memory at the same CPU addresses.
    X86,
    /// Port space memory-mapped, bus memory at an offset (raw ports translate to memory).
    MemoryMappedPorts,
}

impl From<Personality> for PersonalityKind {
    fn from(personality: Personality) -> Self {
        match personality {
            Personality::X86 => Self::X86,
            Personality::MemoryMappedPorts => Self::MemoryMappedPorts,
        }
    }
}

/// Counts heap allocations per thread for `iospace bench`; a thread-local increment otherwise.
#[global_allocator]
static ALLOCATOR: iospace_bench::CountingAllocator = iospace_bench::CountingAllocator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run_command(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Qemu(args) => qemu::command(&args),
    }
}

/// `iospace run`: 0 if everything passed, 1 if something failed, 2 if the machine could not
/// be built.
fn run_command(args: &RunArgs) -> ExitCode {
    let options =
        run::RunOptions { machine: args.machine.as_deref(), personality: args.personality.map(Into::into) };
    match run::run(&options) {
        Ok(report) => {
            if args.json {
                println!("{:#}", report::to_json(&report));
            } else {
                print!("{report}");
            }
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("iospace: {error}");
            ExitCode::from(2)
        }
    }
}
