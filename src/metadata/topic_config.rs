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
}

#[derive(Clone, Copy)]
enum Kind {
    /// A number ≥ the bound.
    Long(i64),
    /// One of the listed words.
    Choice(&'static [&'static str]),
}

/// The topic configs sluice honours (the rest of Kafka's topic configs are refused with
/// INVALID_CONFIG rather than silently ignored).
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "retention.ms",
        broker_key: "log.retention.ms",
        kind: Kind::Long(-1),
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
        kind: Kind::Long(-1),
    },
    TopicConfigKey {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
        kind: Kind::Long(14),
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_key: "log.roll.ms",
        kind: Kind::Long(1),
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        broker_key: "log.index.size.max.bytes",
        kind: Kind::Long(4),
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
        kind: Kind::Long(0),
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
        kind: Kind::Long(0),
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_key: "log.flush.interval.messages",
        kind: Kind::Long(1),
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_key: "log.flush.interval.ms",
        kind: Kind::Long(0),
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
        kind: Kind::Choice(&["CreateTime", "LogAppendTime"]),
    },
    TopicConfigKey {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
        kind: Kind::Choice(&["delete", "compact", "compact,delete", "delete,compact"]),
    },
];

pub fn find(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Checks one topic config entry; `None` as value means "back to the default".
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let key = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let Some(value) = value else { return Ok(()) };
    match key.kind {
        Kind::Long(min) => match value.trim().parse::<i64>() {
            Ok(v) if v >= min => Ok(()),
            Ok(v) => Err(format!(
                "Invalid value {v} for configuration {name}: must be at least {min}"
            )),
            Err(_) => Err(format!(
                "Invalid value {value} for configuration {name}: not a number"
            )),
        },
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
    }
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
            ("message.timestamp.type", _) => {
                log.timestamp_type_log_append = value.trim() == "LogAppendTime"
            }
            // A compact-only topic keeps its data: nothing is deleted by age or size. (Sluice
            // does not compact; such topics simply keep every record.)
            ("cleanup.policy", _) if value.trim() == "compact" => {
                log.retention_ms = -1;
                log.retention_bytes = -1;
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
        assert!(validate("no.such.config", Some("1")).is_err());
        assert!(validate("retention.ms", None).is_ok());
    }
}
