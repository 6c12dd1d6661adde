//! berth-bench: a throughput and latency benchmark of an OCI registry, run against a live
//! server given by URL (Berth or any other registry, e.g. CNCF distribution for comparison).
//!
//! `berth-bench run --url http://127.0.0.1:5000 --pid <server pid>` measures blob pushes
//! (monolithic and chunked), blob pulls (digest-verified), manifest GETs by tag, and — given
//! the server's PID — its CPU time and resident memory; it prints Markdown tables and can write
//! the figures as JSON. `berth-bench report` puts two such JSON files side by side against the
//! project's targets. `scripts/bench.sh` runs the whole comparison and writes
//! `docs/BENCHMARKS.md`.
//!
//! Not a test: nothing here asserts a figure; it measures and reports.

mod client;
mod data;
mod procfs;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Errors end the run with a message; a benchmark has nothing to recover.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Parser)]
#[command(name = "berth-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once; the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the benchmark against one registry and print Markdown tables.
    Run(scenarios::RunArgs),
    /// Compare two JSON results (from `run --json`) against the project's targets.
    Report {
        /// JSON result of Berth.
        #[arg(long)]
        berth: PathBuf,
        /// JSON result of the reference registry (distribution).
        #[arg(long)]
        reference: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(Error::from)
            .and_then(|rt| rt.block_on(scenarios::run(args))),
        Command::Report { berth, reference } => report::compare(&berth, &reference),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
