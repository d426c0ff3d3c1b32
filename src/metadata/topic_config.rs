//! Topic configs: which keys sluice honours, how they are validated, and how the broker's
//! defaults and a topic's overrides combine into the [`LogConfig`] its partitions run with.

use std::collections::BTreeMap;

use crate::config::{Config, TimestampType};
use crate::storage::LogConfig;

/// A topic-level config key sluice knows: its name, the broker key its default comes from, and
/// how its value is checked.
pub struct TopicConfigKey {
    pub name: &'static str,
    pub broker_key: &'static str,
    kind: Kind,
    /// One line for DescribeConfigs' `documentation`.
    pub doc: &'static str,
}

#[derive(Clone, Copy)]
enum Kind {
    /// A 64-bit number ≥ the bound (Kafka's LONG).
    Long(i64),
    /// A 32-bit number ≥ the bound (Kafka's INT).
    Int(i64),
    /// One of the listed words (Kafka's STRING).
    Choice(&'static [&'static str]),
    /// A non-empty comma-separated list of the listed words (Kafka's LIST).
    List(&'static [&'static str]),
    /// `true` or `false`, any case (Kafka's BOOLEAN).
    Bool,
    /// A number in `[0, 1]` (Kafka's DOUBLE with `between(0, 1)`).
    Ratio,
}

impl TopicConfigKey {
    /// Kafka's `ConfigEntry.ConfigType` for this key.
    pub fn config_type(&self) -> i8 {
        match self.kind {
            Kind::Long(_) => config_type::LONG,
            Kind::Int(_) => config_type::INT,
            Kind::Choice(_) => config_type::STRING,
            Kind::List(_) => config_type::LIST,
            Kind::Bool => config_type::BOOLEAN,
            Kind::Ratio => config_type::DOUBLE,
        }
    }

    /// True for LIST keys, the only ones IncrementalAlterConfigs may APPEND to or SUBTRACT from.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::List(_))
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

/// The topic configs sluice honours (the rest of Kafka's topic configs are refused with
/// INVALID_CONFIG rather than silently ignored).
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "retention.ms",
        broker_key: "log.retention.ms",
        kind: Kind::Long(-1),
        doc: "How long a closed segment is kept before it is deleted (ms); -1 = no time limit.",
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
        kind: Kind::Long(-1),
        doc: "Largest size a partition may grow to before its oldest segments are deleted; -1 = no size limit.",
    },
    TopicConfigKey {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
        kind: Kind::Int(14),
        doc: "Size at which a segment file is rolled.",
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_key: "log.roll.ms",
        kind: Kind::Long(1),
        doc: "Age at which the active segment is rolled even if it is not full (ms).",
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        broker_key: "log.index.size.max.bytes",
        kind: Kind::Int(4),
        doc: "Largest size of a segment's offset and time index files.",
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
        kind: Kind::Int(0),
        doc: "Bytes of records between two offset index entries.",
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
        kind: Kind::Int(0),
        doc: "Largest record batch the topic accepts.",
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_key: "log.flush.interval.messages",
        kind: Kind::Long(1),
        doc: "Records appended between two forced fsyncs of the log.",
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_key: "log.flush.interval.ms",
        kind: Kind::Long(0),
        doc: "Longest time a record stays in the log before it is fsynced (ms).",
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
        doc: "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
    },
    TopicConfigKey {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
        kind: Kind::List(&["delete", "compact"]),
        doc: "delete: old segments are removed by retention; compact: the log cleaner keeps the latest record per key.",
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        broker_key: "log.cleaner.min.cleanable.ratio",
        kind: Kind::Ratio,
        doc: "A compacted log is cleaned once its dirty (not yet cleaned) bytes are more than this share of its cleanable bytes.",
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        broker_key: "log.cleaner.delete.retention.ms",
        kind: Kind::Long(0),
        doc: "How long a tombstone stays in a compacted log after the clean that first kept it (ms).",
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        broker_key: "log.cleaner.min.compaction.lag.ms",
        kind: Kind::Long(0),
        doc: "Records younger than this are never compacted (ms).",
    },
    TopicConfigKey {
        name: "max.compaction.lag.ms",
        broker_key: "log.cleaner.max.compaction.lag.ms",
        kind: Kind::Long(1),
        doc: "A record not yet compacted after this long gets its log cleaned whatever the dirty ratio (ms).",
    },
    TopicConfigKey {
        name: "unclean.leader.election.enable",
        broker_key: "unclean.leader.election.enable",
        kind: Kind::Bool,
        doc: "Whether a replica outside the ISR and ELR may be elected leader at start-up, at the risk of losing data.",
    },
];

pub fn find(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Checks one topic config entry; `None` as value means "back to the default".
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let key = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let Some(value) = value else { return Ok(()) };
    let number = |min: i64, max: i64| match value.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(()),
        Ok(v) if v < min => Err(format!(
            "Invalid value {v} for configuration {name}: must be at least {min}"
        )),
        Ok(v) => Err(format!(
            "Invalid value {v} for configuration {name}: must be at most {max}"
        )),
        Err(_) => Err(format!(
            "Invalid value {value} for configuration {name}: not a number"
        )),
    };
    match key.kind {
        Kind::Long(min) => number(min, i64::MAX),
        Kind::Int(min) => number(min, i64::from(i32::MAX)),
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
fn broker_key_family(key: &'static TopicConfigKey) -> &'static [&'static str] {
    match key.broker_key {
        "log.retention.ms" => &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "log.roll.ms" => &["log.roll.ms", "log.roll.hours"],
        _ => std::slice::from_ref(&key.broker_key),
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
        let broker_set = broker_key_family(key)
            .iter()
            .any(|k| config.source.explicit.contains_key(*k));
        let mut synonyms = Vec::new();
        let overridden = overrides.get(key.name);
        if let Some(v) = overridden {
            synonyms.push(Synonym {
                name: key.name.to_string(),
                value: Some(v.clone()),
                source: source::DYNAMIC_TOPIC_CONFIG,
            });
        }
        if broker_set {
            synonyms.push(Synonym {
                name: key.broker_key.to_string(),
                value: broker_value.clone(),
                source: source::STATIC_BROKER_CONFIG,
            });
        }
        synonyms.push(Synonym {
            name: key.broker_key.to_string(),
            value: broker_default(&builtin, key.name),
            source: source::DEFAULT_CONFIG,
        });
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
        "segment.index.bytes" => log.max_index_size.to_string(),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
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
        "cleanup.policy" => "delete".to_string(),
        "min.cleanable.dirty.ratio" => log.min_cleanable_ratio.to_string(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
        "max.compaction.lag.ms" => log.max_compaction_lag_ms.to_string(),
        "unclean.leader.election.enable" => config.unclean_leader_election_enable.to_string(),
        _ => return None,
    })
}

impl From<&Config> for LogConfig {
    /// The broker-wide defaults.
    fn from(c: &Config) -> LogConfig {
        LogConfig {
            segment_bytes: c.log_segment_bytes,
            roll_ms: c.log_roll_ms,
            index_interval_bytes: c.log_index_interval_bytes,
            max_index_size: c.log_index_size_max_bytes,
            retention_ms: c.log_retention_ms,
            retention_bytes: c.log_retention_bytes,
            max_message_bytes: c.message_max_bytes,
            timestamp_type_log_append: c.message_timestamp_type == TimestampType::LogAppendTime,
            flush_interval_messages: c.log_flush_interval_messages,
            flush_interval_ms: c.log_flush_interval_ms,
            compact: false,
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
            ("segment.index.bytes", Some(v)) => log.max_index_size = v as usize,
            ("index.interval.bytes", Some(v)) => log.index_interval_bytes = v as usize,
            ("max.message.bytes", Some(v)) => log.max_message_bytes = v as usize,
            ("flush.messages", Some(v)) => log.flush_interval_messages = v as u64,
            ("flush.ms", Some(v)) => log.flush_interval_ms = Some(v as u64),
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
            _ => {}
        }
    }
    // A compact-only topic is only compacted: nothing is deleted by age or size, whatever the
    // retention settings say (Kafka applies retention only with `delete` in the policy).
    if let Some(policy) = overrides.get("cleanup.policy") {
        let valid = validate("cleanup.policy", Some(policy)).is_ok();
        log.compact = valid && split_list(policy).contains(&"compact");
        if valid && !split_list(policy).contains(&"delete") {
            log.retention_ms = -1;
            log.retention_bytes = -1;
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
        o.insert("compression.type".to_string(), "lz4".to_string());
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
        assert_eq!(get("compression.type").value.as_deref(), Some("lz4"));
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
    fn compact_only_keeps_everything() {
        let config = Config::default();
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        o.insert("retention.ms".to_string(), "10".to_string());
        assert_eq!(log_config(&config, &o).retention_ms, -1);
        assert!(log_config(&config, &o).compact);
        o.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        assert_eq!(log_config(&config, &o).retention_ms, 10);
        assert!(log_config(&config, &o).compact);
        o.insert("cleanup.policy".to_string(), "delete".to_string());
        assert!(!log_config(&config, &o).compact);
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
