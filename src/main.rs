//! The `sluice` binary: loads the configuration, sets up tracing and runs the broker until
//! SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sluice::admin::log::LogControl;
use sluice::cli::{self, Cli, Command};
use sluice::config::{Config, ConfigFile, LogFormat};
use tracing::{error, info};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter};

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
    let log = match init_tracing(&config) {
        Ok(log) => Arc::new(log),
        Err(e) => {
            eprintln!("sluice: invalid log filter: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    config.source.log_ignored();
    let system = actix_rt::System::new();
    match system.block_on(run(config, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the subscriber: a reloadable `EnvFilter` (so `PUT /log-filter` can swap it) in front
/// of the text or JSON formatter on stderr.
fn init_tracing(config: &Config) -> Result<LogControl, String> {
    let directives = config.log_filter_directives();
    let filter = EnvFilter::try_new(&directives).map_err(|e| e.to_string())?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let init = match config.log_format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    init.map_err(|e| e.to_string())?;
    Ok(LogControl::new(directives, move |new| {
        let filter = EnvFilter::try_new(new).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }))
}

async fn run(config: Config, log: Arc<LogControl>) -> std::io::Result<()> {
    let addr = config.bind_addr()?;
    let options = sluice::net::server::ListenOptions {
        backlog: config.socket_listen_backlog_size,
        send_buffer_bytes: config.socket_send_buffer_bytes,
        receive_buffer_bytes: config.socket_receive_buffer_bytes,
    };
    let listener = sluice::net::server::bind(addr, options)
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
    let admin_addr = config.admin_listener;
    let broker = sluice::broker::Broker::start(config, bound)?;
    // Partitions registered before the first request is read.
    let _ = broker
        .metadata()
        .addr()
        .send(sluice::metadata::Started)
        .await;
    info!(config = %source, data_dir = %data_dir, "listening on {bound}");
    let admin = match admin_addr {
        Some(addr) => {
            let state = sluice::admin::AdminState {
                broker: broker.clone(),
                log,
            };
            let (admin_bound, arbiter) = sluice::admin::start(addr, state).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr} (admin): {e}"))
            })?;
            info!("admin listening on {admin_bound}");
            Some(arbiter)
        }
        None => None,
    };
    let grace = broker.shutdown_grace();
    sluice::net::server::serve(
        listener,
        broker.net_context(),
        Arc::new(sluice::api::KafkaApi::new(broker.clone())),
        sluice::net::server::termination_signal(),
        grace,
    )
    .await;
    broker.shutdown_storage(grace).await;
    info!("shutdown complete");
    if let Some(arbiter) = admin {
        arbiter.stop();
    }
    Ok(())
}
