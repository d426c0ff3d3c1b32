//! Topic configs: which keys sluice honours, how they are validated, and how the broker's
//! defaults and a topic's overrides combine into the [`LogConfig`] its partitions run with.

use std::collections::BTreeMap;

use crate::config::{Config, TimestampType};
use crate::storage::LogConfig;

/// A topic-level config key sluice knows: its name, the broker key its default comes from, and
/// how its value is checked.
pub struct TopicConfigKey {
    pub name: &'static str,
    /// The broker setting that is its default (Kafka's synonym); `None` where Kafka has none.
    pub broker_key: Option<&'static str>,
    kind: Kind,
    /// Values of the right type that sluice cannot honour: refused (INVALID_CONFIG), naming the
    /// key and this reason. `None`: every valid value is honoured.
    only: Option<Only>,
    /// One line for DescribeConfigs' `documentation`.
    pub doc: &'static str,
}

/// The values of a key sluice honours, and why the others are refused.
#[derive(Clone, Copy)]
struct Only {
    accepts: fn(&str) -> bool,
    reason: &'static str,
}

#[derive(Clone, Copy)]
enum Kind {
    /// A 64-bit number ≥ the bound (Kafka's LONG).
    Long(i64),
    /// A 32-bit number ≥ the bound (Kafka's INT).
    Int(i64),
    /// A compression level (Kafka's INT): `default`, or within `min..=max`.
    Level { default: i64, min: i64, max: i64 },
    /// One of the listed words (Kafka's STRING).
    Choice(&'static [&'static str]),
    /// A non-empty comma-separated list of the listed words (Kafka's LIST).
    List(&'static [&'static str]),
    /// `true` or `false`, any case (Kafka's BOOLEAN).
    Bool,
    /// Kafka's throttled-replica list (a LIST): empty, `*`, or `partition:broker` pairs.
    Replicas,
    /// A number in `[0, 1]` (Kafka's DOUBLE with `between(0, 1)`).
    Ratio,
}

impl TopicConfigKey {
    /// Kafka's `ConfigEntry.ConfigType` for this key.
    pub fn config_type(&self) -> i8 {
        match self.kind {
            Kind::Long(_) => config_type::LONG,
            Kind::Int(_) | Kind::Level { .. } => config_type::INT,
            Kind::Choice(_) => config_type::STRING,
            Kind::List(_) | Kind::Replicas => config_type::LIST,
            Kind::Bool => config_type::BOOLEAN,
            Kind::Ratio => config_type::DOUBLE,
        }
    }

    /// True for LIST keys, the only ones IncrementalAlterConfigs may APPEND to or SUBTRACT from.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::List(_) | Kind::Replicas)
    }
}

/// Kafka's `ConfigEntry.ConfigSource` values (DescribeConfigs v1+, CreateTopics v5+).
pub mod source {
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// Kafka's `ConfigEntry.ConfigType` values (DescribeConfigs v3+).
pub mod config_type {
    pub const UNKNOWN: i8 = 0;
    pub const BOOLEAN: i8 = 1;
    pub const STRING: i8 = 2;
    pub const INT: i8 = 3;
    pub const SHORT: i8 = 4;
    pub const LONG: i8 = 5;
    pub const DOUBLE: i8 = 6;
    pub const LIST: i8 = 7;
}

fn is_false(v: &str) -> bool {
    parse_bool(v) == Some(false)
}

const NO_TIERED_STORAGE: &str = "tiered storage is not there: sluice keeps every segment \
                                 locally (remote.storage.enable=false)";

/// Kafka 4's topic configs, each honoured — for every value, or for the values its `only`
/// accepts (the others are refused by name) — except the keys Kafka 4 removed, refused as
/// unknown (`message.format.version`, `message.downconversion.enable`,
/// `message.timestamp.difference.max.ms`).
///
/// A few keys only act through another key pinned to the one value sluice takes, and then do
/// nothing in Kafka either; they are accepted, validated as Kafka validates them, and do
/// nothing here too: the compression levels (used only when the broker compresses, and
/// `compression.type` is `producer`), the tiered-storage keys other than
/// `remote.storage.enable` (used only when it is true), and the throttled-replica lists (they
/// throttle followers, and there are none).
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "retention.ms",
        broker_key: Some("log.retention.ms"),
        kind: Kind::Long(-1),
        only: None,
        doc: "How long a closed segment is kept before it is deleted (ms); -1 = no time limit.",
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_key: Some("log.retention.bytes"),
        kind: Kind::Long(i64::MIN),
        only: None,
        doc: "Largest size a partition may grow to before its oldest segments are deleted; -1 = no size limit.",
    },
    TopicConfigKey {
        name: "segment.bytes",
        broker_key: Some("log.segment.bytes"),
        kind: Kind::Int(14),
        only: None,
        doc: "Size at which a segment file is rolled.",
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_key: Some("log.roll.ms"),
        kind: Kind::Long(1),
        only: None,
        doc: "Age at which the active segment is rolled even if it is not full (ms).",
    },
    TopicConfigKey {
        name: "segment.jitter.ms",
        broker_key: Some("log.roll.jitter.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "Each new segment rolls a random amount up to this (less than segment.ms) early (ms).",
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        broker_key: Some("log.index.size.max.bytes"),
        kind: Kind::Int(4),
        only: None,
        doc: "Largest size of a segment's offset and time index files.",
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_key: Some("log.index.interval.bytes"),
        kind: Kind::Int(0),
        only: None,
        doc: "Bytes of records between two offset index entries.",
    },
    TopicConfigKey {
        name: "file.delete.delay.ms",
        broker_key: Some("log.segment.delete.delay.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "How long a deleted segment's files stay on disk, renamed .deleted, before they are removed (ms).",
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_key: Some("message.max.bytes"),
        kind: Kind::Int(0),
        only: None,
        doc: "Largest record batch the topic accepts.",
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_key: Some("log.flush.interval.messages"),
        kind: Kind::Long(1),
        only: None,
        doc: "Records appended between two forced fsyncs of the log.",
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_key: Some("log.flush.interval.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "Longest time a record stays in the log before it is fsynced (ms).",
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_key: Some("log.message.timestamp.type"),
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
        only: None,
        doc: "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
    },
    TopicConfigKey {
        name: "message.timestamp.before.max.ms",
        broker_key: Some("log.message.timestamp.before.max.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "CreateTime records timestamped more than this before the broker's clock are refused (INVALID_TIMESTAMP).",
    },
    TopicConfigKey {
        name: "message.timestamp.after.max.ms",
        broker_key: Some("log.message.timestamp.after.max.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "CreateTime records timestamped more than this after the broker's clock are refused (INVALID_TIMESTAMP).",
    },
    TopicConfigKey {
        name: "cleanup.policy",
        broker_key: Some("log.cleanup.policy"),
        kind: Kind::List(&["delete", "compact"]),
        only: None,
        doc: "delete: segments past retention are deleted; compact: records must have keys and retention deletes nothing and the log cleaner keeps the latest record per key; compact,delete: both.",
    },
    TopicConfigKey {
        name: "min.insync.replicas",
        broker_key: Some("min.insync.replicas"),
        kind: Kind::Int(1),
        only: None,
        doc: "In-sync replicas an acks=all produce needs; this node is the only replica, so above 1 such produces get NOT_ENOUGH_REPLICAS.",
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        broker_key: Some("log.cleaner.min.cleanable.ratio"),
        kind: Kind::Ratio,
        only: None,
        doc: "A compacted log is cleaned once its dirty (not yet cleaned) bytes are more than this share of its cleanable bytes.",
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        broker_key: Some("log.cleaner.delete.retention.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "How long a tombstone stays in a compacted log after the clean that first kept it (ms).",
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        broker_key: Some("log.cleaner.min.compaction.lag.ms"),
        kind: Kind::Long(0),
        only: None,
        doc: "Records younger than this are never compacted (ms).",
    },
    TopicConfigKey {
        name: "max.compaction.lag.ms",
        broker_key: Some("log.cleaner.max.compaction.lag.ms"),
        kind: Kind::Long(1),
        only: None,
        doc: "A record not yet compacted after this long gets its log cleaned whatever the dirty ratio (ms).",
    },
    TopicConfigKey {
        name: "unclean.leader.election.enable",
        broker_key: Some("unclean.leader.election.enable"),
        kind: Kind::Bool,
        only: None,
        doc: "Whether a replica outside the ISR and ELR may be elected leader at start-up, at the risk of losing data.",
    },
    TopicConfigKey {
        name: "compression.type",
        broker_key: Some("compression.type"),
        kind: Kind::Choice(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        only: Some(Only {
            accepts: |v| v.trim() == "producer",
            reason: "sluice stores batches as the producer compressed them; recompression is \
                     not there, so producer is the only value",
        }),
        doc: "producer: batches are stored as the producer compressed them (the only value sluice takes).",
    },
    TopicConfigKey {
        name: "compression.gzip.level",
        broker_key: Some("compression.gzip.level"),
        kind: Kind::Level { default: -1, min: 1, max: 9 },
        only: None,
        doc: "Level of the broker's gzip compression; no effect while compression.type=producer (in Kafka too).",
    },
    TopicConfigKey {
        name: "compression.lz4.level",
        broker_key: Some("compression.lz4.level"),
        kind: Kind::Level { default: 9, min: 1, max: 17 },
        only: None,
        doc: "Level of the broker's lz4 compression; no effect while compression.type=producer (in Kafka too).",
    },
    TopicConfigKey {
        name: "compression.zstd.level",
        broker_key: Some("compression.zstd.level"),
        kind: Kind::Level { default: 3, min: -131072, max: 22 },
        only: None,
        doc: "Level of the broker's zstd compression; no effect while compression.type=producer (in Kafka too).",
    },
    TopicConfigKey {
        name: "preallocate",
        broker_key: Some("log.preallocate"),
        kind: Kind::Bool,
        only: Some(Only {
            accepts: is_false,
            reason: "sluice does not create segment files at their full size \
                     (preallocate=true is not there)",
        }),
        doc: "false: segment files grow as records are appended (the only value sluice takes).",
    },
    TopicConfigKey {
        name: "leader.replication.throttled.replicas",
        broker_key: None,
        kind: Kind::Replicas,
        only: None,
        doc: "Replicas whose log replication the leader throttles; no effect on one node (no follower fetches).",
    },
    TopicConfigKey {
        name: "follower.replication.throttled.replicas",
        broker_key: None,
        kind: Kind::Replicas,
        only: None,
        doc: "Replicas whose log replication the followers throttle; no effect on one node (no followers).",
    },
    TopicConfigKey {
        name: "remote.storage.enable",
        broker_key: None,
        kind: Kind::Bool,
        only: Some(Only {
            accepts: is_false,
            reason: NO_TIERED_STORAGE,
        }),
        doc: "false: every segment is kept locally (the only value sluice takes).",
    },
    TopicConfigKey {
        name: "local.retention.ms",
        broker_key: Some("log.local.retention.ms"),
        kind: Kind::Long(-2),
        only: None,
        doc: "Local retention of a tiered topic; no effect while remote.storage.enable=false (in Kafka too).",
    },
    TopicConfigKey {
        name: "local.retention.bytes",
        broker_key: Some("log.local.retention.bytes"),
        kind: Kind::Long(-2),
        only: None,
        doc: "Local retention of a tiered topic; no effect while remote.storage.enable=false (in Kafka too).",
    },
    TopicConfigKey {
        name: "remote.log.copy.disable",
        broker_key: None,
        kind: Kind::Bool,
        only: None,
        doc: "Stops copying a tiered topic's segments; no effect while remote.storage.enable=false (in Kafka too).",
    },
    TopicConfigKey {
        name: "remote.log.delete.on.disable",
        broker_key: None,
        kind: Kind::Bool,
        only: None,
        doc: "Deletes a tiered topic's remote data when tiering is turned off; no effect while remote.storage.enable=false (in Kafka too).",
    },
];

pub fn find(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Checks one topic config entry; `None` as value means "back to the default".
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let key = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let Some(value) = value else { return Ok(()) };
    check_kind(key, value)?;
    match key.only {
        Some(only) if !(only.accepts)(value) => Err(format!(
            "Invalid value {value} for configuration {name}: {}",
            only.reason
        )),
        _ => Ok(()),
    }
}

/// The value against the key's type and range, as Kafka's `ConfigDef` checks it.
fn check_kind(key: &TopicConfigKey, value: &str) -> Result<(), String> {
    let name = key.name;
    let parse = || {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("Invalid value {value} for configuration {name}: not a number"))
    };
    let number = |min: i64, max: i64| {
        let v = parse()?;
        if v < min {
            Err(format!(
                "Invalid value {v} for configuration {name}: must be at least {min}"
            ))
        } else if v > max {
            Err(format!(
                "Invalid value {v} for configuration {name}: must be at most {max}"
            ))
        } else {
            Ok(())
        }
    };
    match key.kind {
        Kind::Long(min) => number(min, i64::MAX),
        Kind::Int(min) => number(min, i64::from(i32::MAX)),
        Kind::Level { default, min, max } => {
            let v = parse()?;
            if v == default || (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "Invalid value {v} for configuration {name}: Value must be between {min} and \
                     {max} or equal to {default}"
                ))
            }
        }
        Kind::Choice(options) => {
            if options.contains(&value.trim()) {
                Ok(())
            } else {
                Err(format!(
                    "Invalid value {value} for configuration {name}: must be one of {}",
                    options.join(", ")
                ))
            }
        }
        Kind::Ratio => match value.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(()),
            Ok(v) => Err(format!(
                "Invalid value {v} for configuration {name}: Value must be no more than 1 and at least 0"
            )),
            Err(_) => Err(format!(
                "Invalid value {value} for configuration {name}: not a number"
            )),
        },
        Kind::Bool => match parse_bool(value) {
            Some(_) => Ok(()),
            None => Err(format!(
                "Invalid value {value} for configuration {name}: Expected value to be either true or false"
            )),
        },
        Kind::List(options) => {
            let items = split_list(value);
            if items.is_empty() {
                return Err(format!(
                    "Invalid value {value} for configuration {name}: empty list"
                ));
            }
            match items.iter().find(|i| !options.contains(i)) {
                None => Ok(()),
                Some(bad) => Err(format!(
                    "Invalid value {bad} for configuration {name}: String must be one of: {}",
                    options.join(", ")
                )),
            }
        }
        Kind::Replicas => {
            let items = split_list(value);
            let pair = |i: &&str| {
                i.split_once(':').is_some_and(|(p, b)| {
                    p.trim().parse::<i32>().is_ok() && b.trim().parse::<i32>().is_ok()
                })
            };
            if items == ["*"] || items.iter().all(pair) {
                Ok(())
            } else {
                Err(format!(
                    "Invalid value {value} for configuration {name}: must be the literal '*' or \
                     a list of replicas in the following format: \
                     [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                ))
            }
        }
    }
}

/// A BOOLEAN value as Kafka's `ConfigDef` reads it: `true` or `false`, any case, trimmed.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether unclean leader election is allowed for a topic with these `overrides`: the topic's
/// own `unclean.leader.election.enable` if it holds a valid value, else the broker's.
pub fn unclean_leader_election(config: &Config, overrides: &BTreeMap<String, String>) -> bool {
    overrides
        .get("unclean.leader.election.enable")
        .and_then(|v| parse_bool(v))
        .unwrap_or(config.unclean_leader_election_enable)
}

/// The items of a LIST value, trimmed, empty ones dropped.
pub fn split_list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect()
}

/// Broker keys that are one setting in Kafka's eyes: the topic key's broker default comes from
/// whichever of them is set.
fn broker_key_family(broker_key: &'static str) -> &'static [&'static str] {
    match broker_key {
        "log.retention.ms" => &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "log.roll.ms" => &["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" => &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "log.retention.bytes" => &["log.retention.bytes"],
        "log.segment.bytes" => &["log.segment.bytes"],
        "log.index.size.max.bytes" => &["log.index.size.max.bytes"],
        "log.index.interval.bytes" => &["log.index.interval.bytes"],
        "log.segment.delete.delay.ms" => &["log.segment.delete.delay.ms"],
        "message.max.bytes" => &["message.max.bytes"],
        "log.flush.interval.messages" => &["log.flush.interval.messages"],
        "log.flush.interval.ms" => &["log.flush.interval.ms"],
        "log.message.timestamp.type" => &["log.message.timestamp.type"],
        "log.message.timestamp.before.max.ms" => &["log.message.timestamp.before.max.ms"],
        "log.message.timestamp.after.max.ms" => &["log.message.timestamp.after.max.ms"],
        "log.cleanup.policy" => &["log.cleanup.policy"],
        "min.insync.replicas" => &["min.insync.replicas"],
        "unclean.leader.election.enable" => &["unclean.leader.election.enable"],
        "log.cleaner.min.cleanable.ratio" => &["log.cleaner.min.cleanable.ratio"],
        "log.cleaner.delete.retention.ms" => &["log.cleaner.delete.retention.ms"],
        "log.cleaner.min.compaction.lag.ms" => &["log.cleaner.min.compaction.lag.ms"],
        "log.cleaner.max.compaction.lag.ms" => &["log.cleaner.max.compaction.lag.ms"],
        // Kafka keys that are not sluice settings: only their built-in default applies.
        _ => &[],
    }
}

/// One config as DescribeConfigs (and CreateTopics v5+) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    /// A [`source`] value.
    pub source: i8,
    pub read_only: bool,
    /// Where the value could come from, most specific first (Kafka's synonyms).
    pub synonyms: Vec<Synonym>,
    /// A [`config_type`] value.
    pub config_type: i8,
    pub documentation: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// Every topic config with the value it has for a topic with these `overrides`: the override
/// (DYNAMIC_TOPIC_CONFIG), else the broker's setting (STATIC_BROKER_CONFIG when given in the
/// config file or on the command line, DEFAULT_CONFIG otherwise). Overrides sluice does not know
/// (left in a Kafka data directory) are listed too, so nothing stored is hidden.
pub fn describe_topic(
    config: &Config,
    overrides: &BTreeMap<String, String>,
) -> Vec<DescribedConfig> {
    let builtin = Config::default();
    let mut out = Vec::with_capacity(TOPIC_CONFIGS.len());
    for key in TOPIC_CONFIGS {
        let broker_value = broker_default(config, key.name);
        let broker_set = key.broker_key.is_some_and(|b| {
            broker_key_family(b)
                .iter()
                .any(|k| config.source.explicit.contains_key(*k))
        });
        let mut synonyms = Vec::new();
        let overridden = overrides.get(key.name);
        if let Some(v) = overridden {
            synonyms.push(Synonym {
                name: key.name.to_string(),
                value: Some(v.clone()),
                source: source::DYNAMIC_TOPIC_CONFIG,
            });
        }
        if let Some(broker_key) = key.broker_key {
            if broker_set {
                synonyms.push(Synonym {
                    name: broker_key.to_string(),
                    value: broker_value.clone(),
                    source: source::STATIC_BROKER_CONFIG,
                });
            }
            synonyms.push(Synonym {
                name: broker_key.to_string(),
                value: broker_default(&builtin, key.name),
                source: source::DEFAULT_CONFIG,
            });
        }
        let (value, source) = match overridden {
            Some(v) => (Some(v.clone()), source::DYNAMIC_TOPIC_CONFIG),
            None if broker_set => (broker_value, source::STATIC_BROKER_CONFIG),
            None => (broker_value, source::DEFAULT_CONFIG),
        };
        out.push(DescribedConfig {
            name: key.name.to_string(),
            value,
            source,
            read_only: false,
            synonyms,
            config_type: key.config_type(),
            documentation: Some(key.doc),
        });
    }
    for (name, value) in overrides {
        if find(name).is_none() {
            out.push(DescribedConfig {
                name: name.clone(),
                value: Some(value.clone()),
                source: source::DYNAMIC_TOPIC_CONFIG,
                read_only: false,
                synonyms: vec![Synonym {
                    name: name.clone(),
                    value: Some(value.clone()),
                    source: source::DYNAMIC_TOPIC_CONFIG,
                }],
                config_type: config_type::UNKNOWN,
                documentation: Some("Not used by sluice (kept from the metadata log)."),
            });
        }
    }
    out
}

/// The broker's default for a topic config, as Kafka's DescribeConfigs shows it.
pub fn broker_default(config: &Config, name: &str) -> Option<String> {
    let log = LogConfig::from(config);
    Some(match name {
        "retention.ms" => log.retention_ms.to_string(),
        "retention.bytes" => log.retention_bytes.to_string(),
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.ms" => log.roll_ms.to_string(),
        "segment.jitter.ms" => log.roll_jitter_ms.to_string(),
        "segment.index.bytes" => log.max_index_size.to_string(),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        "file.delete.delay.ms" => log.file_delete_delay_ms.to_string(),
        "max.message.bytes" => log.max_message_bytes.to_string(),
        "flush.messages" => i64::try_from(log.flush_interval_messages)
            .unwrap_or(i64::MAX)
            .to_string(),
        "flush.ms" => log
            .flush_interval_ms
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(i64::MAX)
            .to_string(),
        "message.timestamp.type" => if log.timestamp_type_log_append {
            "LogAppendTime"
        } else {
            "CreateTime"
        }
        .to_string(),
        "message.timestamp.before.max.ms" => log.timestamp_before_max_ms.to_string(),
        "message.timestamp.after.max.ms" => log.timestamp_after_max_ms.to_string(),
        "cleanup.policy" => config.log_cleanup_policy.join(","),
        "min.insync.replicas" => log.min_insync_replicas.to_string(),
        "min.cleanable.dirty.ratio" => log.min_cleanable_ratio.to_string(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
        "max.compaction.lag.ms" => log.max_compaction_lag_ms.to_string(),
        "unclean.leader.election.enable" => config.unclean_leader_election_enable.to_string(),
        "compression.type" => "producer".to_string(),
        "compression.gzip.level" => "-1".to_string(),
        "compression.lz4.level" => "9".to_string(),
        "compression.zstd.level" => "3".to_string(),
        "preallocate"
        | "remote.storage.enable"
        | "remote.log.copy.disable"
        | "remote.log.delete.on.disable" => "false".to_string(),
        "leader.replication.throttled.replicas" | "follower.replication.throttled.replicas" => {
            String::new()
        }
        "local.retention.ms" | "local.retention.bytes" => "-2".to_string(),
        _ => return None,
    })
}

/// `delete` and `compact` in a cleanup policy (a valid one: checked before it is stored).
fn cleanup_flags<'a>(items: impl IntoIterator<Item = &'a str>) -> (bool, bool) {
    items
        .into_iter()
        .fold((false, false), |(delete, compact), i| {
            (delete || i == "delete", compact || i == "compact")
        })
}

impl From<&Config> for LogConfig {
    /// The broker-wide defaults.
    fn from(c: &Config) -> LogConfig {
        let (delete, compact) = cleanup_flags(c.log_cleanup_policy.iter().map(String::as_str));
        LogConfig {
            segment_bytes: c.log_segment_bytes,
            roll_ms: c.log_roll_ms,
            roll_jitter_ms: c.log_roll_jitter_ms,
            index_interval_bytes: c.log_index_interval_bytes,
            max_index_size: c.log_index_size_max_bytes,
            retention_ms: c.log_retention_ms,
            retention_bytes: c.log_retention_bytes,
            delete,
            compact,
            file_delete_delay_ms: c.log_segment_delete_delay_ms,
            max_message_bytes: c.message_max_bytes,
            timestamp_type_log_append: c.message_timestamp_type == TimestampType::LogAppendTime,
            timestamp_before_max_ms: c.log_message_timestamp_before_max_ms,
            timestamp_after_max_ms: c.log_message_timestamp_after_max_ms,
            min_insync_replicas: c.min_insync_replicas,
            flush_interval_messages: c.log_flush_interval_messages,
            flush_interval_ms: c.log_flush_interval_ms,
            min_cleanable_ratio: c.log_cleaner_min_cleanable_ratio,
            delete_retention_ms: c.log_cleaner_delete_retention_ms,
            min_compaction_lag_ms: c.log_cleaner_min_compaction_lag_ms,
            max_compaction_lag_ms: c.log_cleaner_max_compaction_lag_ms,
        }
    }
}

/// The broker defaults with a topic's overrides applied (invalid stored values are ignored).
pub fn log_config(config: &Config, overrides: &BTreeMap<String, String>) -> LogConfig {
    let mut log = LogConfig::from(config);
    for (name, value) in overrides {
        if validate(name, Some(value)).is_err() {
            continue;
        }
        let n = value.trim().parse::<i64>().ok();
        match (name.as_str(), n) {
            ("retention.ms", Some(v)) => log.retention_ms = v,
            ("retention.bytes", Some(v)) => log.retention_bytes = v,
            ("segment.bytes", Some(v)) => log.segment_bytes = v as u64,
            ("segment.ms", Some(v)) => log.roll_ms = v,
            ("segment.jitter.ms", Some(v)) => log.roll_jitter_ms = v,
            ("segment.index.bytes", Some(v)) => log.max_index_size = v as usize,
            ("index.interval.bytes", Some(v)) => log.index_interval_bytes = v as usize,
            ("file.delete.delay.ms", Some(v)) => log.file_delete_delay_ms = v as u64,
            ("max.message.bytes", Some(v)) => log.max_message_bytes = v as usize,
            ("flush.messages", Some(v)) => log.flush_interval_messages = v as u64,
            ("flush.ms", Some(v)) => log.flush_interval_ms = Some(v as u64),
            ("message.timestamp.before.max.ms", Some(v)) => log.timestamp_before_max_ms = v,
            ("message.timestamp.after.max.ms", Some(v)) => log.timestamp_after_max_ms = v,
            ("min.insync.replicas", Some(v)) => log.min_insync_replicas = v as i32,
            ("delete.retention.ms", Some(v)) => log.delete_retention_ms = v,
            ("min.compaction.lag.ms", Some(v)) => log.min_compaction_lag_ms = v,
            ("max.compaction.lag.ms", Some(v)) => log.max_compaction_lag_ms = v,
            ("min.cleanable.dirty.ratio", _) => {
                if let Ok(v) = value.trim().parse::<f64>() {
                    log.min_cleanable_ratio = v;
                }
            }
            ("message.timestamp.type", _) => {
                log.timestamp_type_log_append = value.trim() == "LogAppendTime"
            }
            ("cleanup.policy", _) => {
                (log.delete, log.compact) = cleanup_flags(split_list(value));
            }
            _ => {}
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_over_broker_defaults() {
        let config = Config::default();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("segment.bytes".to_string(), "2048".to_string());
        o.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        o.insert("retention.bytes".to_string(), "garbage".to_string());
        let log = log_config(&config, &o);
        assert_eq!(log.retention_ms, 1000);
        assert_eq!(log.segment_bytes, 2048);
        assert!(log.timestamp_type_log_append);
        assert_eq!(log.retention_bytes, config.log_retention_bytes);
    }

    #[test]
    fn validation() {
        assert!(validate("retention.ms", Some("-1")).is_ok());
        assert!(validate("retention.ms", Some("x")).is_err());
        assert!(validate("segment.bytes", Some("1")).is_err());
        assert!(validate("cleanup.policy", Some("compact")).is_ok());
        assert!(validate("cleanup.policy", Some("nope")).is_err());
        assert!(validate("cleanup.policy", Some("delete, compact")).is_ok());
        assert!(validate("cleanup.policy", Some("")).is_err());
        assert!(validate("segment.bytes", Some("2147483647")).is_ok());
        assert!(validate("segment.bytes", Some("2147483648")).is_err());
        assert!(validate("retention.bytes", Some("2147483648")).is_ok());
        assert!(validate("no.such.config", Some("1")).is_err());
        assert!(validate("retention.ms", None).is_ok());
    }

    #[test]
    fn describe_reports_sources() {
        let mut config = Config::default();
        config.set("log.retention.hours", "1").expect("set");
        let mut o = BTreeMap::new();
        o.insert("segment.bytes".to_string(), "2048".to_string());
        o.insert("message.format.version".to_string(), "3.0-IV1".to_string());
        let d = describe_topic(&config, &o);
        let get = |n: &str| d.iter().find(|c| c.name == n).expect(n);
        let seg = get("segment.bytes");
        assert_eq!(seg.value.as_deref(), Some("2048"));
        assert_eq!(seg.source, source::DYNAMIC_TOPIC_CONFIG);
        assert_eq!(seg.synonyms[0].source, source::DYNAMIC_TOPIC_CONFIG);
        assert_eq!(
            seg.synonyms.last().map(|s| s.source),
            Some(source::DEFAULT_CONFIG)
        );
        let ret = get("retention.ms");
        assert_eq!(ret.value.as_deref(), Some("3600000"));
        assert_eq!(ret.source, source::STATIC_BROKER_CONFIG);
        assert_eq!(ret.synonyms[1].value.as_deref(), Some("604800000"));
        let bytes = get("retention.bytes");
        assert_eq!(bytes.source, source::DEFAULT_CONFIG);
        assert_eq!(bytes.config_type, config_type::LONG);
        assert_eq!(get("cleanup.policy").config_type, config_type::LIST);
        assert_eq!(
            get("message.format.version").value.as_deref(),
            Some("3.0-IV1")
        );
        assert_eq!(get("compression.type").value.as_deref(), Some("producer"));
        assert_eq!(d.len(), TOPIC_CONFIGS.len() + 1);
        let unclean = get("unclean.leader.election.enable");
        assert_eq!(unclean.value.as_deref(), Some("false"));
        assert_eq!(unclean.config_type, config_type::BOOLEAN);
        assert_eq!(unclean.source, source::DEFAULT_CONFIG);
    }

    #[test]
    fn unclean_leader_election_topic_config_overrides_the_broker() {
        let mut config = Config::default();
        let mut o = BTreeMap::new();
        assert!(!unclean_leader_election(&config, &o));
        config
            .set("unclean.leader.election.enable", "true")
            .expect("set");
        assert!(unclean_leader_election(&config, &o));
        o.insert(
            "unclean.leader.election.enable".to_string(),
            "FALSE".to_string(),
        );
        assert!(!unclean_leader_election(&config, &o));
        assert!(validate("unclean.leader.election.enable", Some("True")).is_ok());
        assert!(validate("unclean.leader.election.enable", Some("yes")).is_err());
        let d = describe_topic(&config, &BTreeMap::new());
        let u = d
            .iter()
            .find(|c| c.name == "unclean.leader.election.enable")
            .expect("listed");
        assert_eq!(u.value.as_deref(), Some("true"));
        assert_eq!(u.source, source::STATIC_BROKER_CONFIG);
    }

    #[test]
    fn cleanup_policy_sets_delete_and_compact() {
        let mut config = Config::default();
        let mut o = BTreeMap::new();
        let log = log_config(&config, &o);
        assert!(log.delete && !log.compact, "Kafka's default: delete");
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        o.insert("retention.ms".to_string(), "10".to_string());
        let log = log_config(&config, &o);
        assert!(!log.delete && log.compact);
        assert_eq!(log.retention_ms, 10, "kept, but not applied without delete");
        o.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        let log = log_config(&config, &o);
        assert!(log.delete && log.compact);
        // The broker's log.cleanup.policy is the default.
        config.set("log.cleanup.policy", "compact").expect("set");
        o.remove("cleanup.policy");
        let log = log_config(&config, &o);
        assert!(!log.delete && log.compact);
        let d = describe_topic(&config, &o);
        let policy = d
            .iter()
            .find(|c| c.name == "cleanup.policy")
            .expect("listed");
        assert_eq!(policy.value.as_deref(), Some("compact"));
        assert_eq!(policy.source, source::STATIC_BROKER_CONFIG);
        assert_eq!(policy.synonyms[0].name, "log.cleanup.policy");
        assert_eq!(policy.synonyms[1].value.as_deref(), Some("delete"));
        assert_eq!(policy.synonyms[1].source, source::DEFAULT_CONFIG);
        let d = describe_topic(&Config::default(), &o);
        let policy = d
            .iter()
            .find(|c| c.name == "cleanup.policy")
            .expect("listed");
        assert_eq!(policy.value.as_deref(), Some("delete"));
        assert_eq!(policy.source, source::DEFAULT_CONFIG);
    }

    #[test]
    fn values_sluice_cannot_honour_are_refused_by_name() {
        for (name, value, why) in [
            ("compression.type", "zstd", "recompression"),
            ("compression.type", "uncompressed", "recompression"),
            ("preallocate", "true", "full size"),
            ("remote.storage.enable", "true", "tiered storage"),
        ] {
            let e = validate(name, Some(value)).expect_err(name);
            assert!(
                e.starts_with(&format!("Invalid value {value} for configuration {name}: ")),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
        }
        for (name, value) in [
            ("compression.type", "producer"),
            ("preallocate", "false"),
            ("remote.storage.enable", "FALSE"),
            ("compression.gzip.level", "-1"),
            ("compression.gzip.level", "9"),
            ("compression.lz4.level", "17"),
            ("compression.zstd.level", "-131072"),
            ("leader.replication.throttled.replicas", "*"),
            ("follower.replication.throttled.replicas", "0:1, 1:1"),
            ("leader.replication.throttled.replicas", ""),
            ("local.retention.ms", "-2"),
            ("remote.log.copy.disable", "true"),
            ("min.insync.replicas", "3"),
            ("message.timestamp.before.max.ms", "0"),
            ("segment.jitter.ms", "100"),
            ("file.delete.delay.ms", "0"),
        ] {
            assert_eq!(validate(name, Some(value)), Ok(()), "{name}={value}");
        }
        for (name, value) in [
            ("compression.type", "brotli"),
            ("compression.gzip.level", "0"),
            ("compression.lz4.level", "18"),
            ("compression.zstd.level", "23"),
            ("leader.replication.throttled.replicas", "0-1"),
            ("min.insync.replicas", "0"),
            ("message.timestamp.after.max.ms", "-1"),
            ("local.retention.bytes", "-3"),
            // Kafka 4 removed these, and refuses them as unknown.
            ("message.format.version", "3.0"),
            ("message.downconversion.enable", "true"),
            ("message.timestamp.difference.max.ms", "1"),
            // The log cleaner's, out of their ranges.
            ("min.cleanable.dirty.ratio", "1.5"),
            ("delete.retention.ms", "-1"),
            ("min.compaction.lag.ms", "-1"),
            ("max.compaction.lag.ms", "0"),
        ] {
            assert!(validate(name, Some(value)).is_err(), "{name}={value}");
        }
        assert_eq!(
            validate("message.format.version", Some("3.0")),
            Err("Unknown topic config name: message.format.version".to_string())
        );
    }

    #[test]
    fn new_keys_reach_the_log_config_and_describe_their_defaults() {
        let mut config = Config::default();
        let mut o = BTreeMap::new();
        for (k, v) in [
            ("segment.jitter.ms", "500"),
            ("file.delete.delay.ms", "0"),
            ("message.timestamp.before.max.ms", "1000"),
            ("message.timestamp.after.max.ms", "2000"),
            ("min.insync.replicas", "2"),
        ] {
            o.insert(k.to_string(), v.to_string());
        }
        let log = log_config(&config, &o);
        assert_eq!(log.roll_jitter_ms, 500);
        assert_eq!(log.file_delete_delay_ms, 0);
        assert_eq!(log.timestamp_before_max_ms, 1000);
        assert_eq!(log.timestamp_after_max_ms, 2000);
        assert_eq!(log.min_insync_replicas, 2);
        assert!(log.bounds_timestamps());
        let log = log_config(&config, &BTreeMap::new());
        assert_eq!(log.file_delete_delay_ms, 60_000);
        assert!(
            !log.checks_records(),
            "nothing to look at on a default topic"
        );
        config.set("log.segment.delete.delay.ms", "5").expect("set");
        config.set("log.roll.jitter.hours", "1").expect("set");
        let d = describe_topic(&config, &BTreeMap::new());
        let get = |n: &str| d.iter().find(|c| c.name == n).expect(n);
        assert_eq!(get("file.delete.delay.ms").value.as_deref(), Some("5"));
        assert_eq!(
            get("file.delete.delay.ms").source,
            source::STATIC_BROKER_CONFIG
        );
        assert_eq!(get("segment.jitter.ms").value.as_deref(), Some("3600000"));
        assert_eq!(
            get("segment.jitter.ms").source,
            source::STATIC_BROKER_CONFIG
        );
        assert_eq!(
            get("message.timestamp.after.max.ms").value.as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(get("min.insync.replicas").value.as_deref(), Some("1"));
        assert_eq!(get("compression.type").source, source::DEFAULT_CONFIG);
        assert_eq!(get("compression.zstd.level").value.as_deref(), Some("3"));
        assert_eq!(get("local.retention.ms").value.as_deref(), Some("-2"));
        let throttled = get("leader.replication.throttled.replicas");
        assert_eq!(throttled.value.as_deref(), Some(""));
        assert_eq!(throttled.config_type, config_type::LIST);
        assert!(throttled.synonyms.is_empty(), "no broker synonym in Kafka");
        // Every key has a default.
        for key in TOPIC_CONFIGS {
            assert!(broker_default(&config, key.name).is_some(), "{}", key.name);
        }
    }

    #[test]
    fn cleaner_topic_configs() {
        let mut config = Config::default();
        config
            .set("log.cleaner.delete.retention.ms", "5000")
            .expect("set");
        let mut o = BTreeMap::new();
        let log = log_config(&config, &o);
        assert_eq!(log.min_cleanable_ratio, 0.5);
        assert_eq!(log.delete_retention_ms, 5000);
        assert_eq!(log.min_compaction_lag_ms, 0);
        assert_eq!(log.max_compaction_lag_ms, i64::MAX);
        o.insert("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
        o.insert("delete.retention.ms".to_string(), "100".to_string());
        o.insert("min.compaction.lag.ms".to_string(), "7".to_string());
        o.insert("max.compaction.lag.ms".to_string(), "60000".to_string());
        let log = log_config(&config, &o);
        assert_eq!(log.min_cleanable_ratio, 0.01);
        assert_eq!(log.delete_retention_ms, 100);
        assert_eq!(log.min_compaction_lag_ms, 7);
        assert_eq!(log.max_compaction_lag_ms, 60_000);
        assert!(validate("min.cleanable.dirty.ratio", Some("1")).is_ok());
        assert!(validate("min.cleanable.dirty.ratio", Some("1.5")).is_err());
        assert!(validate("min.cleanable.dirty.ratio", Some("-0.1")).is_err());
        assert!(validate("min.cleanable.dirty.ratio", Some("x")).is_err());
        assert!(validate("delete.retention.ms", Some("-1")).is_err());
        assert!(validate("max.compaction.lag.ms", Some("0")).is_err());
        let d = describe_topic(&config, &BTreeMap::new());
        let get = |n: &str| d.iter().find(|c| c.name == n).expect(n);
        assert_eq!(
            get("min.cleanable.dirty.ratio").config_type,
            config_type::DOUBLE
        );
        assert_eq!(get("delete.retention.ms").value.as_deref(), Some("5000"));
        assert_eq!(
            get("delete.retention.ms").source,
            source::STATIC_BROKER_CONFIG
        );
        assert_eq!(
            get("max.compaction.lag.ms").value.as_deref(),
            Some("9223372036854775807")
        );
    }
}
