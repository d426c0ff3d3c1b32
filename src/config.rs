//! Broker configuration: defaults, Kafka `server.properties`, TOML, and command-line overrides.
//!
//! Every setting has one key, named as in Kafka where Kafka has it (`log.dirs`,
//! `num.partitions`, `log.retention.hours`, ...). The list lives in [`SETTINGS`]; properties files,
//! TOML files, `--set KEY=VALUE` and the named flags all go through the same setters, so the
//! formats cannot drift apart.
//!
//! Precedence: built-in defaults < the config file < command-line flags. Within one source, Kafka's
//! own rules hold for key families (`log.retention.ms` > `log.retention.minutes` >
//! `log.retention.hours`, `log.roll.ms` > `log.roll.hours`, `log.dirs` > `log.dir`); a later source
//! that sets any key of a family overrides the whole family.
//!
//! **TOML scheme.** A TOML file uses the same dotted keys. They may be written as quoted keys
//! (`"log.dirs" = "/data"`, the recommended form, used by `config/sluice.toml`), as bare dotted
//! keys (`log.dirs = "/data"`) or as tables (`[log]` then `dirs = "/data"`): the file is flattened
//! into dotted keys before the setters see it. Use quoted keys where one key is a prefix of
//! another (`max.connections` and `max.connections.per.ip`), which TOML tables cannot express.
//! Values may be typed (integers, booleans, arrays of strings for lists) or strings, as in a
//! properties file. Date-time values are rejected (no setting takes one).
//!
//! Kafka keys that are not sluice settings are treated as `kafka_keys` says: accepted only for
//! the value sluice honours, refused, accepted with nothing to act on, or (not Kafka 4 keys)
//! warned of. Unknown keys in a file are warned of and ignored, on the command line refused.
//! All that were let through are kept in [`ConfigSource::ignored`], to be logged once tracing
//! is set up.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use thiserror::Error;

use crate::util::properties::parse_properties;

mod kafka_keys;
mod listener;
mod settings;
#[cfg(test)]
mod tests;
mod toml_source;

pub use listener::Listener;
pub use settings::{Setting, Value, SETTINGS};

pub(crate) use settings::{Loader, UnknownKeys};

/// The broker's configuration. See the module docs and `sluice --help` for every key.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // ----- broker identity and network -----
    /// `node.id` (or `broker.id`): this broker's id. Default 1.
    pub node_id: i32,
    /// `listeners`. Default `PLAINTEXT://127.0.0.1:9092`.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`; empty = advertise the listener itself.
    pub advertised_listeners: Vec<Listener>,
    /// `controller.listener.names` (upper-case): listeners that are not served to clients.
    pub controller_listener_names: Vec<String>,
    /// `listener.security.protocol.map`: listener name → security protocol (Kafka's default map
    /// when not given).
    pub listener_security_protocol_map: Vec<(String, String)>,
    /// `inter.broker.listener.name` (upper-case); must name a listener.
    pub inter_broker_listener_name: Option<String>,
    /// `controller.quorum.voters`: the voter ids (only this node's may be named).
    pub controller_quorum_voters: Vec<i32>,
    /// `metadata.log.dir`: only the log directory itself is accepted.
    pub metadata_log_dir: Option<PathBuf>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `socket.request.max.bytes`: largest request frame. Default 104857600.
    pub socket_request_max_bytes: usize,
    /// `socket.listen.backlog.size`: connections the kernel queues for accept. Default 4096
    /// (Kafka's is 50); the OS caps it at `net.core.somaxconn`.
    pub socket_listen_backlog_size: u32,
    /// `socket.send.buffer.bytes` / `socket.receive.buffer.bytes`: SO_SNDBUF / SO_RCVBUF of
    /// client connections, -1 = the OS default.
    pub socket_send_buffer_bytes: i32,
    pub socket_receive_buffer_bytes: i32,
    /// `connections.max.idle.ms`. Default 600000.
    pub connections_max_idle_ms: u64,
    /// `max.connections`. Default 2147483647.
    pub max_connections: usize,
    /// `max.connections.per.ip`. Default 2147483647.
    pub max_connections_per_ip: usize,
    /// `max.inflight.requests.per.connection` (sluice). Default 32.
    pub max_inflight_requests_per_connection: usize,
    /// `num.arbiters` (sluice): worker threads. Default: available cores.
    pub num_arbiters: usize,
    /// `connection.affinity` (sluice): move a connection to the worker thread of the partition
    /// its produce and fetch requests keep going to. Default true.
    pub connection_affinity: bool,
    /// `shutdown.timeout.ms` (sluice). Default 5000.
    pub shutdown_timeout_ms: u64,
    /// `admin.listener` (sluice): HTTP admin endpoint. Default off.
    pub admin_listener: Option<SocketAddr>,

    // ----- topics -----
    /// `num.partitions`. Default 1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`. Default true.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`. Default true.
    pub delete_topic_enable: bool,
    /// `unclean.leader.election.enable`: whether the start-up election may make this broker
    /// leader of a partition whose ISR (and ELR) it is not in. Default false (Kafka's).
    pub unclean_leader_election_enable: bool,
    /// `message.max.bytes`: largest record batch accepted. Default 1048588.
    pub message_max_bytes: usize,
    /// `fetch.max.bytes`: largest Fetch response. Default 57671680.
    pub fetch_max_bytes: usize,
    /// `log.message.timestamp.type`. Default CreateTime.
    pub message_timestamp_type: TimestampType,
    /// `log.message.timestamp.before.max.ms` / `.after.max.ms`: how far before / after the
    /// broker's clock a CreateTime record's timestamp may be. Default `i64::MAX` (no bound).
    pub log_message_timestamp_before_max_ms: i64,
    pub log_message_timestamp_after_max_ms: i64,
    /// `min.insync.replicas`: the topics' default. Default 1; above 1 every `acks=all` produce
    /// is refused with NOT_ENOUGH_REPLICAS (the ISR is this node alone).
    pub min_insync_replicas: i32,
    /// `log.cleanup.policy`: the topics' default `cleanup.policy`, its items as given (each
    /// `delete` or `compact`). Default `delete`.
    pub log_cleanup_policy: Vec<String>,

    // ----- storage -----
    /// `log.dirs`, else `log.dir`. Default `./sluice-data`.
    pub log_dirs: Vec<PathBuf>,
    /// `log.segment.bytes`. Default 1073741824.
    pub log_segment_bytes: u64,
    /// `metadata.log.segment.bytes`: where `__cluster_metadata-0` rolls. Default 1073741824,
    /// at least 8 MiB (Kafka's bound).
    pub metadata_log_segment_bytes: u64,
    /// `log.roll.ms`, else `log.roll.hours` * 3600000. Default 7 days.
    pub log_roll_ms: i64,
    /// `log.roll.jitter.ms`, else `log.roll.jitter.hours` * 3600000. Default 0.
    pub log_roll_jitter_ms: i64,
    /// `log.index.interval.bytes`. Default 4096.
    pub log_index_interval_bytes: usize,
    /// `log.index.size.max.bytes`. Default 10485760.
    pub log_index_size_max_bytes: usize,
    /// `log.retention.ms`, else `.minutes`, else `.hours`. Default 168 h; -1 = unlimited.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`. Default -1 (unlimited).
    pub log_retention_bytes: i64,
    /// `log.retention.check.interval.ms`. Default 300000.
    pub log_retention_check_interval_ms: u64,
    /// How often each root checkpoint is refreshed: recovery points, log starts, high
    /// watermarks.
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub log_flush_start_offset_checkpoint_interval_ms: u64,
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `log.segment.delete.delay.ms`. Default 60000.
    pub log_segment_delete_delay_ms: u64,
    /// `log.cleaner.enable`. Default true.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.threads`. Default 1.
    pub log_cleaner_threads: usize,
    /// `log.cleaner.backoff.ms`. Default 15000.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`, shared by the threads. Default 128 MiB.
    pub log_cleaner_dedupe_buffer_size: u64,
    /// `log.cleaner.io.buffer.size`. Default 512 KiB.
    pub log_cleaner_io_buffer_size: usize,
    /// `log.cleaner.io.buffer.load.factor`. Default 0.9.
    pub log_cleaner_io_buffer_load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second`. Default `f64::MAX` (no cap).
    pub log_cleaner_io_max_bytes_per_second: f64,
    /// `log.cleaner.min.cleanable.ratio` (topics: `min.cleanable.dirty.ratio`). Default 0.5.
    pub log_cleaner_min_cleanable_ratio: f64,
    /// `log.cleaner.delete.retention.ms` (topics: `delete.retention.ms`). Default 1 day.
    pub log_cleaner_delete_retention_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms` (topics: `min.compaction.lag.ms`). Default 0.
    pub log_cleaner_min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms` (topics: `max.compaction.lag.ms`). Default
    /// `i64::MAX`.
    pub log_cleaner_max_compaction_lag_ms: i64,
    /// `log.flush.interval.messages`. Default `u64::MAX` (never; Kafka's Long.MAX_VALUE).
    pub log_flush_interval_messages: u64,
    /// `log.flush.interval.ms`. Default None (never).
    pub log_flush_interval_ms: Option<u64>,
    /// `flush.on.ack` (sluice). Default none.
    pub flush_on_ack: FlushOnAck,

    // ----- consumer groups -----
    /// `group.initial.rebalance.delay.ms`. Default 3000.
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`. Default 6000.
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`: its `segment.bytes` when it is created.
    pub offsets_topic_segment_bytes: i32,
    pub group_min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms`. Default 1800000.
    pub group_max_session_timeout_ms: u64,
    /// `offsets.retention.minutes`. Default 10080.
    pub offsets_retention_minutes: u64,

    // ----- diagnostics -----
    /// `log.filter` (sluice): tracing EnvFilter directives; `RUST_LOG` overrides.
    pub log_filter: Option<String>,
    /// `log.format` (sluice). Default text.
    pub log_format: LogFormat,

    /// Where the settings came from.
    pub source: ConfigSource,
}

/// `flush.on.ack`: when a Produce is fsynced before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlushOnAck {
    /// Never; rely on `log.flush.interval.*` and the OS (Kafka's behaviour).
    #[default]
    None,
    /// Before answering a Produce with `acks=-1`.
    AcksAll,
    /// Before answering any Produce that gets an answer (acks 1 or -1).
    Always,
}

impl FlushOnAck {
    pub fn as_str(self) -> &'static str {
        match self {
            FlushOnAck::None => "none",
            FlushOnAck::AcksAll => "acks-all",
            FlushOnAck::Always => "always",
        }
    }
}

/// `log.message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn as_str(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// `log.format`: how diagnostic logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigSource {
    /// The file read, if any.
    pub file: ConfigFile,
    /// Command-line overrides applied after the file, as given (`--listen :9092`, `--set k=v`).
    pub overrides: Vec<String>,
    /// Keys that were ignored (unknown, or Kafka keys sluice does not use).
    pub ignored: Vec<Ignored>,
    /// Every known key given in a file or on the command line (canonical name → the value as
    /// given, the last one winning). DescribeConfigs reports these as STATIC_BROKER_CONFIG.
    pub explicit: std::collections::BTreeMap<String, String>,
}

impl ConfigSource {
    /// Logs the keys that are not sluice settings (call once tracing is set up): those with
    /// nothing to act on at info, with the reason; obsolete and unknown ones as warnings, as
    /// Kafka warns of keys it does not use.
    pub fn log_ignored(&self) {
        for i in &self.ignored {
            let (origin, key) = (&i.origin, i.key.as_str());
            match i.kind {
                IgnoredKind::AsSluiceDoes => {
                    tracing::debug!(%origin, key, "Kafka setting: what sluice does")
                }
                IgnoredKind::Moot(reason) => {
                    tracing::info!(%origin, key, reason, "Kafka setting accepted with nothing to act on")
                }
                IgnoredKind::Obsolete => {
                    tracing::warn!(%origin, key, "not a Kafka 4 setting: ignored")
                }
                IgnoredKind::Unknown => {
                    tracing::warn!(%origin, key, "not a setting sluice or Kafka knows: ignored")
                }
            }
        }
    }
}

/// The config file a [`Config`] was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigFile {
    /// No file: built-in defaults.
    #[default]
    Embedded,
    /// A Kafka-style `.properties` file.
    Properties(PathBuf),
    /// A TOML file.
    Toml(PathBuf),
}

/// A Kafka key that is not a sluice setting, read and let through (see `config::kafka_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub key: String,
    pub origin: Origin,
    pub kind: IgnoredKind,
}

/// Why a key that is not a sluice setting was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredKind {
    /// Its value is what sluice does anyway (`process.roles=broker,controller`, …).
    AsSluiceDoes,
    /// One node leaves it nothing to act on; the reason.
    Moot(&'static str),
    /// Not a Kafka 4 setting (ZooKeeper mode, removed, a vendor's).
    Obsolete,
    /// A key neither sluice nor Kafka 4 knows.
    Unknown,
}

/// Where a setting was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not set anywhere: the built-in default.
    Default,
    /// A config file, with the line when known.
    File { path: PathBuf, line: Option<usize> },
    /// A command-line flag, e.g. `--set` or `--listen`.
    Flag(String),
    /// [`Config::set`] called by code.
    Api,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Flag(flag) => write!(f, "command line ({flag})"),
            Origin::Api => f.write_str("Config::set"),
        }
    }
}

/// A configuration that cannot be loaded. The message names the file and line (or flag) and the
/// key, e.g. `/tmp/x.properties:3: invalid value "abc" for num.partitions: expected an integer`.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config file: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not valid properties/TOML.
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },
    /// A value that does not fit its key.
    #[error("{origin}: invalid value {value} for {key}: {reason}")]
    InvalidValue {
        origin: Origin,
        key: String,
        value: String,
        reason: String,
    },
    /// A key nobody knows, given on the command line (in files such keys are ignored).
    #[error("{origin}: unknown setting {key} (`sluice --help` lists them all)")]
    UnknownKey { origin: Origin, key: String },
    /// A Kafka key whose value sluice cannot honour.
    #[error("{origin}: {key}={value}: sluice cannot honour this: {reason}")]
    NotHonoured {
        origin: Origin,
        key: String,
        value: String,
        reason: String,
    },
    /// Settings that contradict each other.
    #[error("{origin}: {key}: {message}")]
    Inconsistent {
        origin: Origin,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// Where the offending setting was given (None for an unreadable file).
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { origin, .. }
            | ConfigError::InvalidValue { origin, .. }
            | ConfigError::UnknownKey { origin, .. }
            | ConfigError::NotHonoured { origin, .. }
            | ConfigError::Inconsistent { origin, .. } => Some(origin),
        }
    }

    /// The key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
            ConfigError::InvalidValue { key, .. }
            | ConfigError::UnknownKey { key, .. }
            | ConfigError::NotHonoured { key, .. }
            | ConfigError::Inconsistent { key, .. } => Some(key),
        }
    }
}

/// Number of cores available to this process (at least 1).
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
}

impl Default for Config {
    /// The embedded default: listen on 127.0.0.1:9092, data in `./sluice-data`.
    fn default() -> Config {
        Config {
            node_id: 1,
            listeners: vec![Listener::new("PLAINTEXT", Some("127.0.0.1"), 9092)],
            advertised_listeners: Vec::new(),
            controller_listener_names: Vec::new(),
            listener_security_protocol_map: kafka_keys::protocol_map(None).unwrap_or_default(),
            inter_broker_listener_name: None,
            controller_quorum_voters: Vec::new(),
            metadata_log_dir: None,
            rack: None,
            socket_request_max_bytes: 104_857_600,
            socket_listen_backlog_size: 4096,
            socket_send_buffer_bytes: -1,
            socket_receive_buffer_bytes: -1,
            connections_max_idle_ms: 600_000,
            max_connections: 2_147_483_647,
            max_connections_per_ip: 2_147_483_647,
            max_inflight_requests_per_connection: 32,
            num_arbiters: available_cores(),
            connection_affinity: true,
            shutdown_timeout_ms: 5_000,
            admin_listener: None,
            num_partitions: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            unclean_leader_election_enable: false,
            message_max_bytes: 1_048_588,
            fetch_max_bytes: 57_671_680,
            message_timestamp_type: TimestampType::CreateTime,
            log_message_timestamp_before_max_ms: i64::MAX,
            log_message_timestamp_after_max_ms: i64::MAX,
            min_insync_replicas: 1,
            log_cleanup_policy: vec!["delete".to_string()],
            log_dirs: vec![PathBuf::from("./sluice-data")],
            log_segment_bytes: 1_073_741_824,
            metadata_log_segment_bytes: 1_073_741_824,
            log_roll_ms: 168 * 3_600_000,
            log_roll_jitter_ms: 0,
            log_index_interval_bytes: 4096,
            log_index_size_max_bytes: 10_485_760,
            log_retention_ms: 168 * 3_600_000,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            log_flush_offset_checkpoint_interval_ms: 60_000,
            log_flush_start_offset_checkpoint_interval_ms: 60_000,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            log_segment_delete_delay_ms: 60_000,
            log_cleaner_enable: true,
            log_cleaner_threads: 1,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_dedupe_buffer_size: 128 << 20,
            log_cleaner_io_buffer_size: 512 << 10,
            log_cleaner_io_buffer_load_factor: 0.9,
            log_cleaner_io_max_bytes_per_second: f64::MAX,
            log_cleaner_min_cleanable_ratio: 0.5,
            log_cleaner_delete_retention_ms: 86_400_000,
            log_cleaner_min_compaction_lag_ms: 0,
            log_cleaner_max_compaction_lag_ms: i64::MAX,
            log_flush_interval_messages: u64::MAX,
            log_flush_interval_ms: None,
            flush_on_ack: FlushOnAck::None,
            group_initial_rebalance_delay_ms: 3_000,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            offsets_retention_minutes: 10_080,
            log_filter: None,
            log_format: LogFormat::Text,
            source: ConfigSource::default(),
        }
    }
}

/// Returned by [`Config::broker_listener`] for a config with no listeners at all (which loading
/// never produces, but the fields are public).
static FALLBACK_LISTENER: LazyLock<Listener> =
    LazyLock::new(|| Listener::new("PLAINTEXT", Some("127.0.0.1"), 9092));

impl Config {
    /// The listener clients connect to: the first one not named in `controller.listener.names`.
    pub fn broker_listener(&self) -> &Listener {
        self.listeners
            .iter()
            .find(|l| !self.controller_listener_names.contains(&l.name))
            .or(self.listeners.first())
            .unwrap_or(&FALLBACK_LISTENER)
    }

    /// The address to bind the client listener to (see [`Listener::socket_addr`]).
    pub fn bind_addr(&self) -> io::Result<SocketAddr> {
        self.broker_listener().socket_addr()
    }

    /// The address given to clients for this broker (Metadata, FindCoordinator): the advertised
    /// listener with the broker listener's name, else the broker listener itself; a listener
    /// with no host (or 0.0.0.0, ::) advertises `localhost`. With port 0 the caller substitutes
    /// the port it actually bound.
    pub fn advertised_listener(&self) -> Listener {
        let broker = self.broker_listener();
        let mut l = self
            .advertised_listeners
            .iter()
            .find(|a| a.name == broker.name)
            .unwrap_or(broker)
            .clone();
        if l.is_wildcard() {
            l.host = Some("localhost".to_owned());
        }
        l
    }

    /// The tracing filter to install: `RUST_LOG` if set, else `log.filter`, else `info`.
    pub fn log_filter_directives(&self) -> String {
        match std::env::var("RUST_LOG") {
            Ok(env) if !env.trim().is_empty() => env,
            _ => self.log_filter.clone().unwrap_or_else(|| "info".to_owned()),
        }
    }

    /// Sets one key, as `--set KEY=VALUE` would. Unknown keys are an error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let mut loader = Loader::new(self.clone());
        loader.next_layer();
        loader.apply(
            key,
            &Value::Str(value.to_owned()),
            Origin::Api,
            UnknownKeys::Reject,
        )?;
        *self = loader.finish()?;
        Ok(())
    }

    /// Reads a config file: TOML if the name ends in `.toml`, Kafka properties otherwise.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Self::load_file(path, FileKind::from_extension(path, FileKind::Properties))
    }

    /// Reads a Kafka-style `server.properties` file.
    pub fn from_properties_file(path: &Path) -> Result<Config, ConfigError> {
        Self::load_file(path, FileKind::Properties)
    }

    /// Reads a TOML config file.
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        Self::load_file(path, FileKind::Toml)
    }

    /// Parses properties text (errors name the file as `<properties>`).
    pub fn from_properties_str(text: &str) -> Result<Config, ConfigError> {
        let mut loader = Loader::new(Config::default());
        loader.next_layer();
        apply_properties_text(&mut loader, text, Path::new("<properties>"))?;
        loader.finish()
    }

    /// Parses TOML text (errors name the file as `<toml>`).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let mut loader = Loader::new(Config::default());
        loader.next_layer();
        apply_toml_text(&mut loader, text, Path::new("<toml>"))?;
        loader.finish()
    }

    fn load_file(path: &Path, kind: FileKind) -> Result<Config, ConfigError> {
        let mut loader = Loader::new(Config::default());
        loader.next_layer();
        apply_file(&mut loader, path, kind)?;
        loader.finish()
    }
}

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Properties,
    Toml,
}

impl FileKind {
    /// `.toml` → TOML, `.properties` → properties, anything else → `otherwise`.
    pub(crate) fn from_extension(path: &Path, otherwise: FileKind) -> FileKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => FileKind::Toml,
            Some(e) if e.eq_ignore_ascii_case("properties") => FileKind::Properties,
            _ => otherwise,
        }
    }
}

/// Reads `path` and applies its settings to `loader` (in the loader's current layer).
pub(crate) fn apply_file(
    loader: &mut Loader,
    path: &Path,
    kind: FileKind,
) -> Result<(), ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = match (String::from_utf8(bytes), kind) {
        (Ok(text), _) => text,
        // Java reads .properties as ISO-8859-1; every byte is one char.
        (Err(e), FileKind::Properties) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
        (Err(e), FileKind::Toml) => {
            return Err(ConfigError::Syntax {
                origin: Origin::File {
                    path: path.to_owned(),
                    line: None,
                },
                message: format!("not valid UTF-8: {e}"),
            })
        }
    };
    match kind {
        FileKind::Properties => apply_properties_text(loader, &text, path),
        FileKind::Toml => apply_toml_text(loader, &text, path),
    }
}

fn apply_properties_text(loader: &mut Loader, text: &str, path: &Path) -> Result<(), ConfigError> {
    let props = parse_properties(text).map_err(|e| ConfigError::Syntax {
        origin: Origin::File {
            path: path.to_owned(),
            line: Some(e.line),
        },
        message: e.message,
    })?;
    loader.config.source.file = ConfigFile::Properties(path.to_owned());
    for p in props {
        let origin = Origin::File {
            path: path.to_owned(),
            line: Some(p.line),
        };
        loader.apply(&p.key, &Value::Str(p.value), origin, UnknownKeys::Ignore)?;
    }
    Ok(())
}

fn apply_toml_text(loader: &mut Loader, text: &str, path: &Path) -> Result<(), ConfigError> {
    let entries = toml_source::flatten_toml(text).map_err(|e| ConfigError::Syntax {
        origin: Origin::File {
            path: path.to_owned(),
            line: e.line,
        },
        message: e.message,
    })?;
    loader.config.source.file = ConfigFile::Toml(path.to_owned());
    for (i, entry) in entries.iter().enumerate() {
        let origin = Origin::File {
            path: path.to_owned(),
            line: Some(entry.line),
        };
        // `"log.dirs" = ...` and `[log] dirs = ...` are the same key.
        if let Some(first) = entries[..i].iter().find(|e| e.key == entry.key) {
            return Err(ConfigError::Inconsistent {
                origin,
                key: entry.key.clone(),
                message: format!("set twice (first on line {})", first.line),
            });
        }
        loader.apply(&entry.key, &entry.value, origin, UnknownKeys::Ignore)?;
    }
    Ok(())
}
