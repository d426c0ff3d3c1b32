//! The `sluice` binary: loads the configuration, sets up tracing and runs the broker until
//! SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use sluice::cli::{self, Cli, Command};
use sluice::config::{Config, ConfigFile};
use tracing::{error, info};

/// Exit code for a configuration that cannot be loaded (clap also exits with 2 on bad usage).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::DumpLog { paths, records }) = &cli.command {
        return sluice::dump::run(paths, *records);
    }
    let config = match cli::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = init_tracing(&config) {
        eprintln!("sluice: invalid log filter: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    config.source.log_ignored();
    let system = actix_rt::System::new();
    match system.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(config.log_filter_directives())
        .map_err(|e| e.to_string())?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| e.to_string())
}

async fn run(config: Config) -> std::io::Result<()> {
    let addr = config.bind_addr()?;
    let listener = sluice::net::server::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let source = match &config.source.file {
        ConfigFile::Embedded => "embedded defaults".to_string(),
        ConfigFile::Properties(p) | ConfigFile::Toml(p) => p.display().to_string(),
    };
    let data_dir = config
        .log_dirs
        .first()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let broker = sluice::broker::Broker::start(config, bound)?;
    if let Some(metadata) = broker.metadata() {
        // Partitions registered before the first request is read.
        let _ = metadata.send(sluice::metadata::Started).await;
    }
    info!(config = %source, data_dir = %data_dir, "listening on {bound}");
    sluice::net::server::serve(listener, broker, sluice::net::server::termination_signal()).await;
    Ok(())
}
