//! The `sluice` binary.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sluice::cli::{self, Cli, Command};

/// Exit code for a configuration that cannot be loaded (clap also exits with 2 on bad usage).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::DumpLog { paths, records }) = &cli.command {
        eprintln!(
            "sluice dump-log: not implemented yet ({} path(s), records: {records})",
            paths.len()
        );
        return ExitCode::FAILURE;
    }
    let config = match cli::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Placeholder until the broker starts here; a closed stdout is not worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{config:#?}");
    ExitCode::SUCCESS
}
