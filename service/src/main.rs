//! The `zkgrid` command-line tool. Parses arguments, sets up logging, dispatches to
//! `zkgrid_service::commands`, and maps failure to a non-zero exit code with a clear message.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use zkgrid_service::cli::Cli;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ZKGRID_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = zkgrid_prover::cpu::check() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match zkgrid_service::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
