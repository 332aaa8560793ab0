//! `iospace`: boot a hosted machine, drive its devices through the NT mapping routines, report.

mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The Windows NT I/O-space mapping system, running a whole machine in this process.
#[derive(Debug, Parser)]
#[command(name = "iospace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Boot a machine, map the edu device's registers with MmMapIoSpace, exercise it, unmap,
    /// and report (the default).
    Run(RunArgs),
}

/// Options of `iospace run`.
#[derive(Debug, Default, clap::Args)]
struct RunArgs {
    /// A machine description (TOML); the default machine mirrors QEMU q35 with 512 MiB and edu.
    #[arg(long, value_name = "FILE")]
    machine: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Run(args) => run::run(args.machine.as_deref()),
    };
    match result {
        Ok(report) => {
            print!("{report}");
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("iospace: {error}");
            ExitCode::from(2)
        }
    }
}
