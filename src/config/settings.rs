//! The one list of settings: every key, its default, its help line and its setter.
//!
//! Properties files, TOML files, `--set` and the named CLI flags all go through
//! [`Loader::apply`], which looks the key up in [`SETTINGS`].

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::kafka_keys::{self, Treatment};
use super::{
    Config, ConfigError, FlushOnAck, Ignored, IgnoredKind, Listener, LogFormat, Origin,
    TimestampType,
};

/// A raw setting value, before it is checked against its key.
///
/// Properties files and the command line only produce [`Value::Str`]; TOML can also produce typed
/// values. Every setter accepts the string form of its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Value>),
}

impl Value {
    /// The value as it would be written in a properties file (lists comma-separated).
    pub fn plain(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => items.iter().map(Value::plain).collect::<Vec<_>>().join(","),
        }
    }
}

impl fmt::Display for Value {
    /// Strings are quoted, so an error reads `invalid value "abc" for num.partitions`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

type Setter = fn(&mut Loader, &Value) -> Result<(), String>;

/// One configuration key.
pub struct Setting {
    /// The key, as in Kafka where Kafka has it (`log.dirs`, `num.partitions`, ...).
    pub key: &'static str,
    /// Other accepted spellings (`broker.id` for `node.id`).
    pub aliases: &'static [&'static str],
    /// The default, written as it would be in a file; empty = unset.
    pub default: &'static str,
    /// One line of documentation.
    pub help: &'static str,
    set: Setter,
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("key", &self.key)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Setting {
    /// Looks a key (or alias) up.
    pub fn find(key: &str) -> Option<&'static Setting> {
        SETTINGS
            .iter()
            .find(|s| s.key == key || s.aliases.contains(&key))
    }
}

const I16_MAX: i128 = i16::MAX as i128;
const I32_MAX: i128 = i32::MAX as i128;
const I64_MAX: i128 = i64::MAX as i128;

/// Every setting sluice understands, in `--help` order.
pub static SETTINGS: &[Setting] = &[
    // ----- broker identity and network -----
    Setting {
        key: "node.id",
        aliases: &["broker.id"],
        default: "1",
        help: "Id of this broker, reported to clients in Metadata (broker.id is accepted too).",
        set: |l, v| {
            l.config.node_id = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "listeners",
        aliases: &[],
        default: "PLAINTEXT://127.0.0.1:9092",
        help: "Comma-separated NAME://HOST:PORT to listen on; an empty HOST binds all interfaces, \
               IPv6 goes in brackets. Clients are served on the first listener not named in \
               controller.listener.names.",
        set: |l, v| {
            let listeners = listener_list(v)?;
            if listeners.is_empty() {
                return Err("at least one listener is needed".into());
            }
            l.config.listeners = listeners;
            Ok(())
        },
    },
    Setting {
        key: "advertised.listeners",
        aliases: &[],
        default: "",
        help:
            "Comma-separated NAME://HOST:PORT given to clients in Metadata, matched to listeners \
               by name; empty = the listener's own address (localhost when it binds all \
               interfaces).",
        set: |l, v| {
            l.config.advertised_listeners = listener_list(v)?;
            Ok(())
        },
    },
    Setting {
        key: "controller.listener.names",
        aliases: &[],
        default: "",
        help: "Comma-separated listener names that belong to a KRaft controller; sluice does not \
               serve clients on them.",
        set: |l, v| {
            l.config.controller_listener_names =
                list(v)?.iter().map(|n| n.to_ascii_uppercase()).collect();
            Ok(())
        },
    },
    Setting {
        key: "listener.security.protocol.map",
        aliases: &[],
        default: "",
        help: "Comma-separated NAME:PROTOCOL giving each listener its security protocol; empty = \
               Kafka's default map (PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL name \
               themselves). sluice serves PLAINTEXT only: a client listener of another \
               protocol is refused at start-up.",
        set: |l, v| {
            l.config.listener_security_protocol_map =
                super::kafka_keys::protocol_map(Some(&string(v)?))?;
            Ok(())
        },
    },
    Setting {
        key: "inter.broker.listener.name",
        aliases: &[],
        default: "",
        help: "Listener other brokers would use; must name one of listeners. One node has no \
               other broker, so nothing is sent on it.",
        set: |l, v| {
            l.config.inter_broker_listener_name = opt_string(v)?.map(|n| n.to_ascii_uppercase());
            Ok(())
        },
    },
    Setting {
        key: "controller.quorum.voters",
        aliases: &[],
        default: "",
        help: "The static KRaft quorum, id@host:port,…; sluice runs a one-node quorum, so only \
               this node (node.id) may be named.",
        set: |l, v| {
            l.config.controller_quorum_voters = super::kafka_keys::voter_ids(&string(v)?)?;
            Ok(())
        },
    },
    Setting {
        key: "metadata.log.dir",
        aliases: &[],
        default: "",
        help: "Where the KRaft metadata log lives; empty = the log directory. sluice keeps it in \
               the log directory, so only that directory is accepted.",
        set: |l, v| {
            l.config.metadata_log_dir = opt_string(v)?.map(PathBuf::from);
            Ok(())
        },
    },
    Setting {
        key: "broker.rack",
        aliases: &[],
        default: "",
        help: "Rack id reported in Metadata; empty = none.",
        set: |l, v| {
            l.config.rack = opt_string(v)?;
            Ok(())
        },
    },
    Setting {
        key: "socket.request.max.bytes",
        aliases: &[],
        default: "104857600",
        help: "Largest request frame accepted; a bigger size prefix closes the connection.",
        set: |l, v| {
            l.config.socket_request_max_bytes = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "socket.listen.backlog.size",
        aliases: &[],
        default: "4096",
        help: "Connections the kernel queues until the broker accepts them (capped by the OS, \
               net.core.somaxconn on Linux). Kafka's default is 50; sluice's is larger so that \
               a thousand clients connecting at once are not turned away.",
        set: |l, v| {
            l.config.socket_listen_backlog_size = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "socket.send.buffer.bytes",
        aliases: &[],
        default: "-1",
        help: "SO_SNDBUF of client connections; -1 = the OS default (which Linux tunes to the \
               connection). Kafka's default is 102400.",
        set: |l, v| {
            l.config.socket_send_buffer_bytes = num(v, -1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "socket.receive.buffer.bytes",
        aliases: &[],
        default: "-1",
        help: "SO_RCVBUF of client connections; -1 = the OS default (which Linux tunes to the \
               connection). Kafka's default is 102400.",
        set: |l, v| {
            l.config.socket_receive_buffer_bytes = num(v, -1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "connections.max.idle.ms",
        aliases: &[],
        default: "600000",
        help: "Close a connection after it has been idle this long.",
        set: |l, v| {
            l.config.connections_max_idle_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "max.connections",
        aliases: &[],
        default: "2147483647",
        help: "Most client connections open at once; further ones are closed on accept.",
        set: |l, v| {
            l.config.max_connections = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "max.connections.per.ip",
        aliases: &[],
        default: "2147483647",
        help: "Most connections open at once from one IP address.",
        set: |l, v| {
            l.config.max_connections_per_ip = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "max.inflight.requests.per.connection",
        aliases: &[],
        default: "32",
        help: "(sluice) Requests read from one connection before its earlier answers are written; \
               bounds per-connection memory.",
        set: |l, v| {
            l.config.max_inflight_requests_per_connection = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "num.arbiters",
        aliases: &[],
        default: "auto",
        help: "(sluice) Worker threads (actix arbiters) running connection and partition actors, \
               like Kafka's num.io.threads; auto or 0 = one per available core.",
        set: |l, v| {
            let auto = matches!(v, Value::Str(s) if s.trim().eq_ignore_ascii_case("auto"));
            let n: usize = if auto { 0 } else { num(v, 0, I32_MAX)? };
            l.config.num_arbiters = if n == 0 { super::available_cores() } else { n };
            Ok(())
        },
    },
    Setting {
        key: "connection.affinity",
        aliases: &[],
        default: "true",
        help: "(sluice) Move a connection to the worker thread (arbiter) of the partition its \
               Produce and Fetch requests keep going to, so that they need no hand-off between \
               threads.",
        set: |l, v| {
            l.config.connection_affinity = boolean(v)?;
            Ok(())
        },
    },
    Setting {
        key: "shutdown.timeout.ms",
        aliases: &[],
        default: "5000",
        help: "(sluice) On SIGINT/SIGTERM, wait this long for in-flight requests and flushes \
               before exiting.",
        set: |l, v| {
            l.config.shutdown_timeout_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "admin.listener",
        aliases: &[],
        default: "",
        help: "(sluice) IP:PORT of the HTTP admin endpoint (state, counters); empty = off.",
        set: |l, v| {
            l.config.admin_listener = match opt_string(v)? {
                None => None,
                Some(s) if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") => None,
                Some(s) => Some(socket_addr(&s)?),
            };
            Ok(())
        },
    },
    // ----- topics -----
    Setting {
        key: "num.partitions",
        aliases: &[],
        default: "1",
        help: "Partitions of an auto-created topic, and of CreateTopics with num_partitions = -1.",
        set: |l, v| {
            l.config.num_partitions = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "default.replication.factor",
        aliases: &[],
        default: "1",
        help: "Replicas of an auto-created topic (and of CreateTopics with replication_factor = \
               -1). sluice runs one node: 1 is the only value.",
        set: |_, v| one_node_replication(v),
    },
    Setting {
        key: "auto.create.topics.enable",
        aliases: &[],
        default: "true",
        help: "Create a topic when Metadata or Produce names one that does not exist.",
        set: |l, v| {
            l.config.auto_create_topics_enable = boolean(v)?;
            Ok(())
        },
    },
    Setting {
        key: "unclean.leader.election.enable",
        aliases: &[],
        default: "false",
        help: "At start-up, elect this broker leader of a partition whose ISR and ELR it is not \
               in (data written only to the lost replicas is lost); the topic config of the \
               same name overrides it.",
        set: |l, v| {
            l.config.unclean_leader_election_enable = boolean(v)?;
            Ok(())
        },
    },
    Setting {
        key: "min.insync.replicas",
        aliases: &[],
        default: "1",
        help: "Replicas that must be in sync for an acks=all produce; the topic config of the \
               same name overrides it. This node is the only replica, so above 1 every acks=all \
               produce is refused with NOT_ENOUGH_REPLICAS, as Kafka refuses it.",
        set: |l, v| {
            l.config.min_insync_replicas = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "delete.topic.enable",
        aliases: &[],
        default: "true",
        help: "Allow DeleteTopics; when false it answers TOPIC_DELETION_DISABLED.",
        set: |l, v| {
            l.config.delete_topic_enable = boolean(v)?;
            Ok(())
        },
    },
    Setting {
        key: "message.max.bytes",
        aliases: &[],
        default: "1048588",
        help: "Largest record batch accepted in a Produce request (MESSAGE_TOO_LARGE beyond).",
        set: |l, v| {
            l.config.message_max_bytes = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "fetch.max.bytes",
        aliases: &[],
        default: "57671680",
        help: "Most bytes one Fetch response carries, whatever the request asks for.",
        set: |l, v| {
            l.config.fetch_max_bytes = num(v, 1024, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.message.timestamp.type",
        aliases: &[],
        default: "CreateTime",
        help: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the \
               broker's clock on append.",
        set: |l, v| {
            let s = string(v)?;
            l.config.message_timestamp_type = if s.eq_ignore_ascii_case("CreateTime") {
                TimestampType::CreateTime
            } else if s.eq_ignore_ascii_case("LogAppendTime") {
                TimestampType::LogAppendTime
            } else {
                return Err("expected CreateTime or LogAppendTime".into());
            };
            Ok(())
        },
    },
    Setting {
        key: "log.message.timestamp.before.max.ms",
        aliases: &[],
        default: "9223372036854775807",
        help: "CreateTime topics refuse records whose timestamp is more than this before the \
               broker's clock (INVALID_TIMESTAMP); 9223372036854775807 = no bound.",
        set: |l, v| {
            l.config.log_message_timestamp_before_max_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.message.timestamp.after.max.ms",
        aliases: &[],
        default: "9223372036854775807",
        help: "CreateTime topics refuse records whose timestamp is more than this after the \
               broker's clock (INVALID_TIMESTAMP); 9223372036854775807 = no bound.",
        set: |l, v| {
            l.config.log_message_timestamp_after_max_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    // ----- storage -----
    Setting {
        key: "log.dirs",
        aliases: &[],
        default: "./sluice-data",
        help: "Comma-separated data directories (Kafka's layout: meta.properties, \
               <topic>-<partition>/); wins over log.dir.",
        set: |l, v| {
            let dirs = path_list(v)?;
            l.dirs.set(0, l.layer, dirs);
            Ok(())
        },
    },
    Setting {
        key: "log.dir",
        aliases: &[],
        default: "",
        help: "Data directory used when log.dirs is not set.",
        set: |l, v| {
            let dirs = path_list(v)?;
            l.dirs.set(1, l.layer, dirs);
            Ok(())
        },
    },
    Setting {
        key: "log.segment.bytes",
        aliases: &[],
        default: "1073741824",
        help: "Roll to a new segment file when the active one would grow past this size.",
        set: |l, v| {
            l.config.log_segment_bytes = num(v, 14, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "metadata.log.segment.bytes",
        aliases: &[],
        default: "1073741824",
        help: "Roll the KRaft metadata log (__cluster_metadata-0) to a new segment past this size.",
        set: |l, v| {
            l.config.metadata_log_segment_bytes = num(v, 8 << 20, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.roll.ms",
        aliases: &[],
        default: "",
        help: "Roll to a new segment when the active one is older than this; wins over \
               log.roll.hours.",
        set: |l, v| {
            let ms = num(v, 1, I64_MAX)?;
            l.roll.set(0, l.layer, ms);
            Ok(())
        },
    },
    Setting {
        key: "log.roll.hours",
        aliases: &[],
        default: "168",
        help: "log.roll.ms in hours, used when log.roll.ms is not set.",
        set: |l, v| {
            let hours: i64 = num(v, 1, I32_MAX)?;
            l.roll.set(1, l.layer, hours * 3_600_000);
            Ok(())
        },
    },
    Setting {
        key: "log.roll.jitter.ms",
        aliases: &[],
        default: "",
        help: "Each new segment rolls a random amount up to this (less than log.roll.ms) early, \
               so that partitions do not all roll together; wins over log.roll.jitter.hours.",
        set: |l, v| {
            let ms = num(v, 0, I64_MAX)?;
            l.jitter.set(0, l.layer, ms);
            Ok(())
        },
    },
    Setting {
        key: "log.roll.jitter.hours",
        aliases: &[],
        default: "0",
        help: "log.roll.jitter.ms in hours, used when log.roll.jitter.ms is not set.",
        set: |l, v| {
            let hours: i64 = num(v, 0, I32_MAX)?;
            l.jitter.set(1, l.layer, hours * 3_600_000);
            Ok(())
        },
    },
    Setting {
        key: "log.index.interval.bytes",
        aliases: &[],
        default: "4096",
        help: "Add an offset/time index entry after about this many bytes of log.",
        set: |l, v| {
            l.config.log_index_interval_bytes = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.index.size.max.bytes",
        aliases: &[],
        default: "10485760",
        help: "Size of a segment's index files; a full index rolls the segment.",
        set: |l, v| {
            l.config.log_index_size_max_bytes = num(v, 4, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.retention.ms",
        aliases: &[],
        default: "",
        help: "Delete segments whose newest record is older than this; -1 = keep forever; wins \
               over log.retention.minutes and log.retention.hours.",
        set: |l, v| {
            let ms = retention(v, 1)?;
            l.retention.set(0, l.layer, ms);
            Ok(())
        },
    },
    Setting {
        key: "log.retention.minutes",
        aliases: &[],
        default: "",
        help: "log.retention.ms in minutes, used when log.retention.ms is not set.",
        set: |l, v| {
            let ms = retention(v, 60_000)?;
            l.retention.set(1, l.layer, ms);
            Ok(())
        },
    },
    Setting {
        key: "log.retention.hours",
        aliases: &[],
        default: "168",
        help: "log.retention.ms in hours, used when neither log.retention.ms nor \
               log.retention.minutes is set.",
        set: |l, v| {
            let ms = retention(v, 3_600_000)?;
            l.retention.set(2, l.layer, ms);
            Ok(())
        },
    },
    Setting {
        key: "log.retention.bytes",
        aliases: &[],
        default: "-1",
        help: "Delete old segments while a partition is larger than this; -1 = no size limit.",
        set: |l, v| {
            let n: i64 = num(v, i128::from(i64::MIN), I64_MAX)?;
            l.config.log_retention_bytes = n.max(-1);
            Ok(())
        },
    },
    Setting {
        key: "log.retention.check.interval.ms",
        aliases: &[],
        default: "300000",
        help: "How often retention is checked.",
        set: |l, v| {
            l.config.log_retention_check_interval_ms = num(v, 1, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleanup.policy",
        aliases: &[],
        default: "delete",
        help: "The topics' default cleanup.policy: delete (segments past retention are \
               deleted), compact (records must have keys; segments are not deleted by \
               retention), or compact,delete (both).",
        set: |l, v| {
            let items = list(v)?;
            if items.is_empty() {
                return Err("expected delete, compact or both".into());
            }
            if let Some(bad) = items.iter().find(|i| !["delete", "compact"].contains(&i.as_str())) {
                return Err(format!("{bad} is not a cleanup policy (delete, compact)"));
            }
            l.config.log_cleanup_policy = items;
            Ok(())
        },
    },
    Setting {
        key: "log.flush.offset.checkpoint.interval.ms",
        aliases: &[],
        default: "60000",
        help: "How often recovery-point-offset-checkpoint is rewritten (when it changed); it is \
               written at every clean stop too.",
        set: |l, v| {
            l.config.log_flush_offset_checkpoint_interval_ms = num(v, 1, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.flush.start.offset.checkpoint.interval.ms",
        aliases: &[],
        default: "60000",
        help: "How often log-start-offset-checkpoint is rewritten (when it changed); it is \
               written at every clean stop too.",
        set: |l, v| {
            l.config.log_flush_start_offset_checkpoint_interval_ms = num(v, 1, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "replica.high.watermark.checkpoint.interval.ms",
        aliases: &[],
        default: "5000",
        help: "How often replication-offset-checkpoint (the high watermarks) is rewritten (when \
               it changed); it is written at every clean stop too.",
        set: |l, v| {
            l.config.replica_high_watermark_checkpoint_interval_ms = num(v, 1, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.segment.delete.delay.ms",
        aliases: &[],
        default: "60000",
        help: "How long a segment removed by retention stays on disk (renamed .deleted) before \
               its files are removed.",
        set: |l, v| {
            l.config.log_segment_delete_delay_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    // ----- the log cleaner (compaction of cleanup.policy=compact topics) -----
    Setting {
        key: "log.cleaner.enable",
        aliases: &[],
        default: "true",
        help: "Run the log cleaner, which compacts topics with cleanup.policy=compact (latest \
               record per key kept); false = such topics keep every record.",
        set: |l, v| {
            l.config.log_cleaner_enable = boolean(v)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.threads",
        aliases: &[],
        default: "1",
        help: "Background threads cleaning logs (never the partitions' own threads); each \
               cleans one log at a time.",
        set: |l, v| {
            l.config.log_cleaner_threads = num(v, 1, 64)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.backoff.ms",
        aliases: &[],
        default: "15000",
        help: "How long a cleaner thread sleeps when no log is dirty enough to clean.",
        set: |l, v| {
            l.config.log_cleaner_backoff_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.dedupe.buffer.size",
        aliases: &[],
        default: "134217728",
        help: "Memory for the cleaners' key → offset maps, shared equally by the threads (24 \
               bytes a key); a log with more keys than fit is cleaned in several passes.",
        set: |l, v| {
            l.config.log_cleaner_dedupe_buffer_size = num(v, 1 << 20, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.io.buffer.size",
        aliases: &[],
        default: "524288",
        help: "Bytes a cleaner reads from a segment at a time (more for a larger batch).",
        set: |l, v| {
            l.config.log_cleaner_io_buffer_size = num(v, 1024, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.io.buffer.load.factor",
        aliases: &[],
        default: "0.9",
        help: "How full a cleaner's key → offset map may get before the pass stops there.",
        set: |l, v| {
            l.config.log_cleaner_io_buffer_load_factor = float(v, 0.0, 1.0, false)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.io.max.bytes.per.second",
        aliases: &[],
        default: "1.7976931348623157E308",
        help: "Cap on the bytes all cleaner threads together read and write per second; \
               1.7976931348623157E308 (Kafka's Double.MAX_VALUE) = no cap.",
        set: |l, v| {
            l.config.log_cleaner_io_max_bytes_per_second = float(v, 0.0, f64::MAX, false)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.min.cleanable.ratio",
        aliases: &[],
        default: "0.5",
        help: "Broker default of min.cleanable.dirty.ratio: a log is cleaned once its dirty \
               bytes are more than this share of its cleanable bytes.",
        set: |l, v| {
            l.config.log_cleaner_min_cleanable_ratio = float(v, 0.0, 1.0, true)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.delete.retention.ms",
        aliases: &[],
        default: "86400000",
        help: "Broker default of delete.retention.ms: how long a tombstone is kept after the \
               clean that first kept it.",
        set: |l, v| {
            l.config.log_cleaner_delete_retention_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.min.compaction.lag.ms",
        aliases: &[],
        default: "0",
        help: "Broker default of min.compaction.lag.ms: records younger than this are not \
               cleaned.",
        set: |l, v| {
            l.config.log_cleaner_min_compaction_lag_ms = num(v, 0, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.cleaner.max.compaction.lag.ms",
        aliases: &[],
        default: "9223372036854775807",
        help: "Broker default of max.compaction.lag.ms: a dirty record older than this gets \
               its log cleaned whatever the dirty ratio.",
        set: |l, v| {
            l.config.log_cleaner_max_compaction_lag_ms = num(v, 1, I64_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "log.flush.interval.messages",
        aliases: &[],
        default: "9223372036854775807",
        help: "fsync a partition after this many appended records; 9223372036854775807 (Kafka's \
               Long.MAX_VALUE) = never, leave it to the OS.",
        set: |l, v| {
            let n: u64 = num(v, 1, i128::from(u64::MAX))?;
            l.config.log_flush_interval_messages = if n >= i64::MAX.unsigned_abs() {
                u64::MAX
            } else {
                n
            };
            Ok(())
        },
    },
    Setting {
        key: "log.flush.interval.ms",
        aliases: &[],
        default: "",
        help: "fsync a partition when its oldest unflushed record is this old; empty = never.",
        set: |l, v| {
            l.config.log_flush_interval_ms = if is_empty(v) {
                None
            } else {
                Some(num(v, 0, I64_MAX)?)
            };
            Ok(())
        },
    },
    Setting {
        key: "flush.on.ack",
        aliases: &[],
        default: "none",
        help: "(sluice) fsync before answering a Produce: none = never (Kafka's behaviour), \
               acks-all = when the request has acks=-1, always = for every acknowledged produce.",
        set: |l, v| {
            let s = string(v)?.to_ascii_lowercase().replace('_', "-");
            l.config.flush_on_ack = match s.as_str() {
                "none" => FlushOnAck::None,
                "acks-all" => FlushOnAck::AcksAll,
                "always" => FlushOnAck::Always,
                _ => return Err("expected none, acks-all or always".into()),
            };
            Ok(())
        },
    },
    // ----- consumer groups -----
    Setting {
        key: "group.initial.rebalance.delay.ms",
        aliases: &[],
        default: "3000",
        help: "How long the first rebalance of a new group waits for more members to join.",
        set: |l, v| {
            l.config.group_initial_rebalance_delay_ms = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "offsets.topic.num.partitions",
        aliases: &[],
        default: "50",
        help: "Partitions of __consumer_offsets when the group coordinator creates it (an existing topic keeps its count).",
        set: |l, v| {
            l.config.offsets_topic_num_partitions = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "offsets.topic.replication.factor",
        aliases: &[],
        default: "1",
        help: "Replicas of __consumer_offsets. sluice runs one node: 1 is the only value (Kafka's \
               default, 3, would leave a single broker without a group coordinator).",
        set: |_, v| one_node_replication(v),
    },
    Setting {
        key: "offsets.topic.segment.bytes",
        aliases: &[],
        default: "104857600",
        help: "segment.bytes of __consumer_offsets when the group coordinator creates it.",
        set: |l, v| {
            l.config.offsets_topic_segment_bytes = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "transaction.state.log.replication.factor",
        aliases: &[],
        default: "1",
        help: "Replicas of __transaction_state. sluice runs one node: 1 is the only value.",
        set: |_, v| one_node_replication(v),
    },
    Setting {
        key: "share.coordinator.state.topic.replication.factor",
        aliases: &[],
        default: "1",
        help: "Replicas of __share_group_state. sluice runs one node: 1 is the only value.",
        set: |_, v| one_node_replication(v),
    },
    Setting {
        key: "group.min.session.timeout.ms",
        aliases: &[],
        default: "6000",
        help: "Smallest session timeout a JoinGroup may ask for (INVALID_SESSION_TIMEOUT below).",
        set: |l, v| {
            l.config.group_min_session_timeout_ms = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "group.max.session.timeout.ms",
        aliases: &[],
        default: "1800000",
        help: "Largest session timeout a JoinGroup may ask for (INVALID_SESSION_TIMEOUT above).",
        set: |l, v| {
            l.config.group_max_session_timeout_ms = num(v, 0, I32_MAX)?;
            Ok(())
        },
    },
    Setting {
        key: "offsets.retention.minutes",
        aliases: &[],
        default: "10080",
        help: "Forget a group's committed offsets this long after the group became empty.",
        set: |l, v| {
            l.config.offsets_retention_minutes = num(v, 1, I32_MAX)?;
            Ok(())
        },
    },
    // ----- diagnostics -----
    Setting {
        key: "log.filter",
        aliases: &[],
        default: "",
        help: "(sluice) tracing filter, EnvFilter syntax (e.g. info,sluice::net=debug); RUST_LOG \
               overrides it; empty = info.",
        set: |l, v| {
            let filter = opt_string(v)?;
            if let Some(f) = &filter {
                tracing_subscriber::EnvFilter::try_new(f)
                    .map_err(|e| format!("not a valid filter: {e}"))?;
            }
            l.config.log_filter = filter;
            Ok(())
        },
    },
    Setting {
        key: "log.format",
        aliases: &[],
        default: "text",
        help: "(sluice) Diagnostic log format: text or json.",
        set: |l, v| {
            let s = string(v)?;
            l.config.log_format = if s.eq_ignore_ascii_case("text") {
                LogFormat::Text
            } else if s.eq_ignore_ascii_case("json") {
                LogFormat::Json
            } else {
                return Err("expected text or json".into());
            };
            Ok(())
        },
    },
];

// ----- value helpers -----

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Str(s) if s.trim().is_empty())
}

/// A single scalar as a trimmed string.
fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.trim().to_owned()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::List(_) => Err("expected a single value, not a list".into()),
    }
}

/// A string where empty means "unset".
fn opt_string(v: &Value) -> Result<Option<String>, String> {
    let s = string(v)?;
    Ok((!s.is_empty()).then_some(s))
}

fn int(v: &Value, min: i128, max: i128) -> Result<i128, String> {
    let n = match v {
        Value::Int(n) => i128::from(*n),
        Value::Str(s) => s
            .trim()
            .parse::<i128>()
            .map_err(|_| "expected an integer".to_owned())?,
        _ => return Err("expected an integer".into()),
    };
    if n < min {
        Err(format!("must be at least {min}"))
    } else if n > max {
        Err(format!("must be at most {max}"))
    } else {
        Ok(n)
    }
}

/// A number (Kafka's DOUBLE) in `min..=max`; `min` itself only if `min_inclusive`.
fn float(v: &Value, min: f64, max: f64, min_inclusive: bool) -> Result<f64, String> {
    let x = match v {
        Value::Float(x) => *x,
        Value::Int(n) => *n as f64,
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "expected a number".to_owned())?,
        _ => return Err("expected a number".into()),
    };
    if x.is_nan() || x < min || (x == min && !min_inclusive) {
        Err(if min_inclusive {
            format!("must be at least {min}")
        } else {
            format!("must be more than {min}")
        })
    } else if x > max {
        Err(format!("must be at most {max}"))
    } else {
        Ok(x)
    }
}

/// An integer in `min..=max`, converted to the field's type.
fn num<T: TryFrom<i128>>(v: &Value, min: i128, max: i128) -> Result<T, String> {
    T::try_from(int(v, min, max)?).map_err(|_| format!("must be at most {max}"))
}

/// An internal topic's replication factor (Kafka's type: a short, at least 1). sluice runs one
/// node, so one replica is all it can keep: any other count is refused rather than accepted and
/// not kept. Every topic sluice creates has one replica, which is how 1 is honoured.
fn one_node_replication(v: &Value) -> Result<(), String> {
    match num::<i16>(v, 1, I16_MAX)? {
        1 => Ok(()),
        n => Err(format!(
            "sluice runs one node and replication is not there yet: {n} replicas cannot be kept, \
             1 is the only value"
        )),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::Str(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A comma-separated list (or a TOML array, whose strings may hold commas too); blanks dropped.
fn list(v: &Value) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let items = match v {
        Value::List(items) => items.as_slice(),
        scalar => std::slice::from_ref(scalar),
    };
    for item in items {
        if matches!(item, Value::List(_)) {
            return Err("expected a list of strings, not nested lists".into());
        }
        out.extend(
            string(item)?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(out)
}

fn path_list(v: &Value) -> Result<Vec<PathBuf>, String> {
    let dirs: Vec<PathBuf> = list(v)?.into_iter().map(PathBuf::from).collect();
    if dirs.is_empty() {
        return Err("at least one directory is needed".into());
    }
    Ok(dirs)
}

fn listener_list(v: &Value) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for spec in list(v)? {
        let listener: Listener = spec.parse().map_err(|e| format!("{spec:?}: {e}"))?;
        if out.iter().any(|l| l.name == listener.name) {
            return Err(format!("listener name {} appears twice", listener.name));
        }
        out.push(listener);
    }
    Ok(out)
}

/// A retention time in `unit` milliseconds; any negative value means unlimited (-1).
fn retention(v: &Value, unit: i64) -> Result<i64, String> {
    let max = if unit == 1 { I64_MAX } else { I32_MAX };
    let n: i64 = num(v, i128::from(i64::MIN), max)?;
    Ok(if n < 0 { -1 } else { n * unit })
}

/// `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or `:PORT` (all interfaces).
fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    const SHAPE: &str = "expected IP:PORT, e.g. 127.0.0.1:9644";
    let (host, port) = s.rsplit_once(':').ok_or(SHAPE)?;
    let port: u16 = port.parse().map_err(|_| SHAPE)?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h if h.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => return Err(SHAPE.into()),
    };
    Ok(SocketAddr::new(ip, port))
}

// ----- the loader -----

/// A family of keys where one wins over the others (`log.retention.ms` > `.minutes` > `.hours`).
///
/// Within one layer (a file, or the command line) the slot with the lowest index wins, as in
/// Kafka; a later layer that sets any key of the family wins over earlier layers.
struct Group<T, const N: usize> {
    slots: [Option<(u32, T)>; N],
}

impl<T: Clone, const N: usize> Group<T, N> {
    fn new() -> Self {
        Group {
            slots: std::array::from_fn(|_| None),
        }
    }

    fn set(&mut self, slot: usize, layer: u32, value: T) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some((layer, value));
        }
    }

    fn resolve(&self) -> Option<T> {
        let top = self.slots.iter().flatten().map(|(layer, _)| *layer).max()?;
        self.slots
            .iter()
            .flatten()
            .find(|(layer, _)| *layer == top)
            .map(|(_, v)| v.clone())
    }
}

/// What to do with a key that is not in [`SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnknownKeys {
    /// Log it at debug level and go on (config files, like Kafka).
    Ignore,
    /// Fail (the command line, where an unknown key is almost surely a typo).
    Reject,
}

/// Applies settings, layer after layer, on top of a starting config.
pub(crate) struct Loader {
    pub(crate) config: Config,
    layer: u32,
    origins: HashMap<&'static str, Origin>,
    retention: Group<i64, 3>,
    roll: Group<i64, 2>,
    jitter: Group<i64, 2>,
    dirs: Group<Vec<PathBuf>, 2>,
}

impl Loader {
    pub(crate) fn new(config: Config) -> Loader {
        Loader {
            config,
            layer: 0,
            origins: HashMap::new(),
            retention: Group::new(),
            roll: Group::new(),
            jitter: Group::new(),
            dirs: Group::new(),
        }
    }

    /// Starts a new layer: what follows overrides what came before.
    pub(crate) fn next_layer(&mut self) {
        self.layer += 1;
    }

    /// Sets one key.
    pub(crate) fn apply(
        &mut self,
        key: &str,
        value: &Value,
        origin: Origin,
        unknown: UnknownKeys,
    ) -> Result<(), ConfigError> {
        let key = key.trim();
        let Some(setting) = Setting::find(key) else {
            let kind = match kafka_keys::treatment(key) {
                None if unknown == UnknownKeys::Reject => {
                    return Err(ConfigError::UnknownKey {
                        origin,
                        key: key.to_owned(),
                    })
                }
                None => IgnoredKind::Unknown,
                Some(Treatment::Obsolete) => IgnoredKind::Obsolete,
                Some(Treatment::Moot(reason)) => IgnoredKind::Moot(reason),
                Some(Treatment::Only { accepts, reason }) => {
                    if !accepts(&value.plain()) {
                        return Err(ConfigError::NotHonoured {
                            origin,
                            key: key.to_owned(),
                            value: value.to_string(),
                            reason: reason.to_owned(),
                        });
                    }
                    IgnoredKind::AsSluiceDoes
                }
                Some(Treatment::Refused(reason)) => {
                    return Err(ConfigError::NotHonoured {
                        origin,
                        key: key.to_owned(),
                        value: value.to_string(),
                        reason: reason.to_owned(),
                    })
                }
            };
            self.config.source.ignored.push(Ignored {
                key: key.to_owned(),
                origin,
                kind,
            });
            return Ok(());
        };
        match (setting.set)(self, value) {
            Ok(()) => {
                self.config
                    .source
                    .explicit
                    .insert(setting.key.to_owned(), value.plain());
                self.origins.insert(setting.key, origin);
                Ok(())
            }
            Err(reason) => Err(ConfigError::InvalidValue {
                origin,
                key: key.to_owned(),
                value: value.to_string(),
                reason,
            }),
        }
    }

    fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// Resolves the key families and checks settings against each other.
    pub(crate) fn finish(mut self) -> Result<Config, ConfigError> {
        if let Some(ms) = self.retention.resolve() {
            self.config.log_retention_ms = ms;
        }
        if let Some(ms) = self.roll.resolve() {
            self.config.log_roll_ms = ms;
        }
        if let Some(ms) = self.jitter.resolve() {
            self.config.log_roll_jitter_ms = ms;
        }
        if let Some(dirs) = self.dirs.resolve() {
            self.config.log_dirs = dirs;
        }
        let c = &self.config;
        let inconsistent = |key: &'static str, message: String| ConfigError::Inconsistent {
            origin: self.origin(key),
            key: key.to_owned(),
            message,
        };
        if !c
            .listeners
            .iter()
            .any(|l| !c.controller_listener_names.contains(&l.name))
        {
            return Err(inconsistent(
                "listeners",
                format!(
                    "no listener left for clients: all of {} are named in \
                     controller.listener.names",
                    join(&c.listeners)
                ),
            ));
        }
        for adv in &c.advertised_listeners {
            if !c.listeners.iter().any(|l| l.name == adv.name) {
                return Err(inconsistent(
                    "advertised.listeners",
                    format!(
                        "{adv} names no listener in listeners ({})",
                        join(&c.listeners)
                    ),
                ));
            }
        }
        let not_honoured =
            |key: &'static str, value: String, reason: String| ConfigError::NotHonoured {
                origin: self.origin(key),
                key: key.to_owned(),
                value,
                reason,
            };
        let clients: Vec<&Listener> = c
            .listeners
            .iter()
            .filter(|l| !c.controller_listener_names.contains(&l.name))
            .collect();
        for l in &clients {
            let protocol = c
                .listener_security_protocol_map
                .iter()
                .find(|(name, _)| *name == l.name)
                .map(|(_, p)| p.as_str());
            match protocol {
                Some("PLAINTEXT") => {}
                Some(p) => {
                    return Err(not_honoured(
                        "listeners",
                        l.to_string(),
                        format!(
                            "{} is a {p} listener: TLS and SASL are not there yet, and sluice \
                             serves PLAINTEXT only",
                            l.name
                        ),
                    ))
                }
                None => {
                    return Err(inconsistent(
                        "listener.security.protocol.map",
                        format!(
                            "no security protocol for listener {}: name it in \
                             listener.security.protocol.map (NAME:PLAINTEXT)",
                            l.name
                        ),
                    ))
                }
            }
        }
        if clients.len() > 1 {
            return Err(not_honoured(
                "listeners",
                join(&c.listeners),
                "sluice serves one client listener; several at once are not there yet".into(),
            ));
        }
        if let Some(name) = &c.inter_broker_listener_name {
            if !c.listeners.iter().any(|l| &l.name == name) {
                return Err(inconsistent(
                    "inter.broker.listener.name",
                    format!(
                        "{name} names no listener in listeners ({})",
                        join(&c.listeners)
                    ),
                ));
            }
        }
        if !c.controller_quorum_voters.is_empty() && c.controller_quorum_voters != [c.node_id] {
            return Err(not_honoured(
                "controller.quorum.voters",
                format!("{:?}", c.controller_quorum_voters),
                format!(
                    "sluice runs a one-node quorum: only this node ({}) may be its voter",
                    c.node_id
                ),
            ));
        }
        if let Some(dir) = &c.metadata_log_dir {
            if c.log_dirs.first() != Some(dir) || c.log_dirs.len() != 1 {
                return Err(not_honoured(
                    "metadata.log.dir",
                    dir.display().to_string(),
                    "sluice keeps the metadata log in the log directory (log.dirs)".into(),
                ));
            }
        }
        if c.log_dirs.is_empty() {
            return Err(inconsistent(
                "log.dirs",
                "at least one directory is needed".into(),
            ));
        }
        if c.group_min_session_timeout_ms > c.group_max_session_timeout_ms {
            return Err(inconsistent(
                "group.min.session.timeout.ms",
                format!(
                    "{} is above group.max.session.timeout.ms ({})",
                    c.group_min_session_timeout_ms, c.group_max_session_timeout_ms
                ),
            ));
        }
        Ok(self.config)
    }
}

fn join(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(Listener::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
