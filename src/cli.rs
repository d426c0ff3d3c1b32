//! Command line: `sluice [PROPERTIES_FILE] [--config FILE.toml] [overrides] [dump-log ...]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{
    apply_file, Config, ConfigError, FileKind, Loader, Origin, UnknownKeys, Value, SETTINGS,
};

const LONG_ABOUT: &str = "\
sluice: a Kafka-compatible message broker.

With no file, sluice runs on its embedded defaults: it listens on 127.0.0.1:9092 and keeps
its data in ./sluice-data. Give a Kafka server.properties file (as Apache Kafka's own scripts
do) or a TOML file with --config; either way the keys are Kafka's (see SETTINGS below).";

/// Command-line arguments.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Kafka-compatible message broker",
    long_about = LONG_ABOUT,
    after_long_help = settings_help(),
)]
pub struct Cli {
    /// Kafka-style server.properties file to read (a name ending in .toml is read as TOML).
    #[arg(value_name = "PROPERTIES_FILE", conflicts_with = "config")]
    pub properties: Option<PathBuf>,

    /// TOML config file to read (a name ending in .properties is read as properties).
    #[arg(short, long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,

    /// Where to listen: HOST:PORT (a PLAINTEXT listener; empty HOST = all interfaces), or a
    /// Kafka listeners list NAME://HOST:PORT,... (setting: listeners)
    #[arg(long, visible_alias = "listeners", value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Address(es) given to clients: HOST:PORT or NAME://HOST:PORT,...
    /// (setting: advertised.listeners)
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listeners: Option<String>,

    /// Data directory, or a comma-separated list. (setting: log.dirs)
    #[arg(long, value_name = "DIR")]
    pub log_dirs: Option<String>,

    /// Broker id. (setting: node.id)
    #[arg(long, value_name = "N")]
    pub node_id: Option<String>,

    /// Partitions of auto-created topics. (setting: num.partitions)
    #[arg(long, value_name = "N")]
    pub num_partitions: Option<String>,

    /// tracing filter, e.g. info,sluice::net=debug; RUST_LOG overrides it. (setting: log.filter)
    #[arg(long, value_name = "FILTER")]
    pub log_filter: Option<String>,

    /// IP:PORT for the HTTP admin endpoint. (setting: admin.listener)
    #[arg(long, value_name = "ADDR")]
    pub admin_listener: Option<String>,

    /// Set any setting (repeatable; applied after the flags above, in order).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print the record batches of log segment files (.log) or whole partition directories.
    DumpLog {
        /// Segment files or partition directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Decode and print every record, not just the batch headers.
        #[arg(long)]
        records: bool,
    },
}

/// One command-line override, resolved to its setting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The flag as it names itself in errors (`--listen`, `--set`).
    pub flag: &'static str,
    pub key: String,
    pub value: String,
}

impl Override {
    fn new(flag: &'static str, key: &str, value: &str) -> Override {
        Override {
            flag,
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }
}

impl Cli {
    /// The overrides in the order they apply: the named flags, then every `--set`.
    pub fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let named: [(&'static str, &str, &Option<String>); 7] = [
            ("--listen", "listeners", &self.listen),
            (
                "--advertised-listeners",
                "advertised.listeners",
                &self.advertised_listeners,
            ),
            ("--log-dirs", "log.dirs", &self.log_dirs),
            ("--node-id", "node.id", &self.node_id),
            ("--num-partitions", "num.partitions", &self.num_partitions),
            ("--log-filter", "log.filter", &self.log_filter),
            ("--admin-listener", "admin.listener", &self.admin_listener),
        ];
        for (flag, key, value) in named {
            if let Some(value) = value {
                let value = if key.ends_with("listeners") {
                    listener_shorthand(value)
                } else {
                    value.clone()
                };
                out.push(Override::new(flag, key, &value));
            }
        }
        for (key, value) in &self.set {
            out.push(Override::new("--set", key, value));
        }
        out
    }
}

/// `HOST:PORT` → `PLAINTEXT://HOST:PORT`, item by item; full listener specs pass unchanged.
fn listener_shorthand(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.contains("://") {
                s.to_owned()
            } else {
                format!("PLAINTEXT://{s}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("expected KEY=VALUE, got {s:?}"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

/// Builds the configuration: defaults, then the file (if any), then the command-line overrides.
pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
    let mut loader = Loader::new(Config::default());
    loader.next_layer();
    if let Some(path) = &cli.properties {
        apply_file(
            &mut loader,
            path,
            FileKind::from_extension(path, FileKind::Properties),
        )?;
    } else if let Some(path) = &cli.config {
        apply_file(
            &mut loader,
            path,
            FileKind::from_extension(path, FileKind::Toml),
        )?;
    }
    loader.next_layer();
    for o in cli.overrides() {
        loader.apply(
            &o.key,
            &Value::Str(o.value.clone()),
            Origin::Flag(o.flag.to_owned()),
            UnknownKeys::Reject,
        )?;
        let shown = if o.flag == "--set" {
            format!("--set {}={}", o.key, o.value)
        } else {
            format!("{} {}", o.flag, o.value)
        };
        loader.config.source.overrides.push(shown);
    }
    loader.finish()
}

/// The SETTINGS section of `--help`, generated from [`SETTINGS`].
pub fn settings_help() -> String {
    const PREAMBLE: [&str; 2] = [
        "Every key below can be set in a properties file (key=value), in a TOML file \
         (\"key\" = value; see config/sluice.toml), or with --set key=value.",
        "Precedence: built-in defaults < config file < command-line flags (the named flags \
         first, then each --set in order). RUST_LOG, when set, overrides log.filter. Within one \
         source, as in Kafka: log.retention.ms > log.retention.minutes > log.retention.hours, \
         log.roll.ms > log.roll.hours, log.roll.jitter.ms > log.roll.jitter.hours, \
         log.dirs > log.dir. Unknown keys in a file, and Kafka keys sluice does not use \
         (process.roles, controller.quorum.voters, listener.security.protocol.map, ...), are \
         ignored and logged at debug level. Keys marked (sluice) are sluice's own.",
    ];
    let mut out = String::from("SETTINGS:\n");
    for (i, paragraph) in PREAMBLE.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&wrap(paragraph, 2, 92));
    }
    for s in SETTINGS {
        let default = if s.default.is_empty() {
            "(unset)"
        } else {
            s.default
        };
        out.push_str(&format!("\n  {} = {}", s.key, default));
        for alias in s.aliases {
            out.push_str(&format!("   (also {alias})"));
        }
        out.push('\n');
        out.push_str(&wrap(s.help, 6, 92));
    }
    out
}

/// Word-wraps `text` to `width` columns, every line indented by `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&pad);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&pad);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let argv = std::iter::once("sluice").chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn positional_file_and_subcommand() {
        let c = cli(&["/tmp/server.properties"]);
        assert_eq!(c.properties, Some(PathBuf::from("/tmp/server.properties")));
        assert_eq!(c.command, None);

        let c = cli(&["dump-log", "a.log", "b.log", "--records"]);
        assert_eq!(c.properties, None);
        assert_eq!(
            c.command,
            Some(Command::DumpLog {
                paths: vec![PathBuf::from("a.log"), PathBuf::from("b.log")],
                records: true,
            })
        );
        let c = cli(&["dump-log", "x"]);
        assert!(matches!(
            c.command,
            Some(Command::DumpLog { records: false, .. })
        ));

        assert!(Cli::try_parse_from(["sluice", "dump-log"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "a.properties", "--config", "b.toml"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "--set", "novalue"]).is_err());
    }

    #[test]
    fn overrides_in_order() {
        let c = cli(&[
            "--set",
            "num.partitions=4",
            "--listeners",
            "PLAINTEXT://:1,CONTROLLER://:2",
            "--num-partitions",
            "2",
        ]);
        let o = c.overrides();
        assert_eq!(
            o,
            vec![
                Override::new("--listen", "listeners", "PLAINTEXT://:1,CONTROLLER://:2"),
                Override::new("--num-partitions", "num.partitions", "2"),
                Override::new("--set", "num.partitions", "4"),
            ]
        );
        let c = cli(&["--listen", "[::1]:1", "--advertised-listeners", "h:3"]);
        assert_eq!(
            c.overrides(),
            vec![
                Override::new("--listen", "listeners", "PLAINTEXT://[::1]:1"),
                Override::new(
                    "--advertised-listeners",
                    "advertised.listeners",
                    "PLAINTEXT://h:3"
                ),
            ]
        );
    }

    #[test]
    fn help_lists_every_setting() {
        let help = settings_help();
        for s in SETTINGS {
            assert!(help.contains(&format!("\n  {} = ", s.key)), "{}", s.key);
        }
        assert!(help.contains("RUST_LOG"));
        assert!(wrap("a b c", 2, 5) == "  a b\n  c\n");
    }
}
