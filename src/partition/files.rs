//! The small text files Kafka keeps about partitions: `partition.metadata` in each partition
//! directory, and, at the root of a log directory, the clean-shutdown marker and the
//! per-partition recovery points and log start offsets.
//!
//! ```text
//! <topic>-<p>/partition.metadata        <log.dirs>/recovery-point-offset-checkpoint
//!   version: 0                            0                      (version)
//!   topic_id: <URL-safe base64 uuid>      2                      (entries)
//!                                         orders 0 42            (topic partition offset)
//!                                         orders 1 7
//! ```
//!
//! Kafka prints UUIDs as URL-safe base64 without padding; the CodeCrafters tester writes standard
//! padded base64. Both are accepted when reading.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

use base64::Engine;
use uuid::Uuid;

use crate::util::fs::write_atomically;
use crate::util::properties::parse_properties;

pub const PARTITION_METADATA: &str = "partition.metadata";
pub const KAFKA_CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";
/// Kafka's offset checkpoints at the root of a log directory (see [`super::checkpoints`]).
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Writes `<log.dirs>/.kafka_cleanshutdown` as Kafka 3.7+ writes it on a clean stop
/// (`CleanShutdownFileHandler`): JSON with the format version and the broker epoch.
pub fn write_kafka_clean_shutdown(log_dir: &Path, broker_epoch: i64) -> std::io::Result<()> {
    let text = format!("{{\"version\":0,\"brokerEpoch\":{broker_epoch}}}");
    write_atomically(&log_dir.join(KAFKA_CLEAN_SHUTDOWN), text.as_bytes())
}

/// Kafka's text form of a UUID.
pub fn uuid_to_kafka_string(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Parses a UUID written by Kafka (URL-safe, unpadded) or by other tools (standard alphabet,
/// padded), or in the canonical hyphenated form.
pub fn parse_kafka_uuid(s: &str) -> Option<Uuid> {
    let s = s.trim();
    if let Ok(id) = Uuid::parse_str(s) {
        return Some(id);
    }
    let trimmed = s.trim_end_matches('=');
    let normalized: String = trimmed
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(normalized)
        .ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Writes `partition.metadata` for a partition directory, as Kafka does.
pub fn write_partition_metadata(partition_dir: &Path, topic_id: Uuid) -> io::Result<()> {
    let text = format!("version: 0\ntopic_id: {}\n", uuid_to_kafka_string(topic_id));
    write_atomically(&partition_dir.join(PARTITION_METADATA), text.as_bytes())
}

/// Reads the topic id of a partition directory, if it has a readable `partition.metadata`.
pub fn read_partition_metadata(partition_dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(partition_dir.join(PARTITION_METADATA)).ok()?;
    // A later duplicate wins, as in Java.
    let props: BTreeMap<String, String> = parse_properties(&text)
        .ok()?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    props.get("topic_id").and_then(|t| parse_kafka_uuid(t))
}

/// What Kafka leaves at the root of a log directory about its partitions: the clean-shutdown
/// marker and the per-partition recovery points and log start offsets. Used once, to open a
/// Kafka-written directory without revalidating logs Kafka closed cleanly.
#[derive(Debug, Default, Clone)]
pub struct KafkaRootState {
    pub clean_shutdown: bool,
    pub recovery_points: HashMap<(String, i32), i64>,
    pub log_start_offsets: HashMap<(String, i32), i64>,
}

impl KafkaRootState {
    pub fn read(log_dir: &Path) -> KafkaRootState {
        KafkaRootState {
            clean_shutdown: log_dir.join(KAFKA_CLEAN_SHUTDOWN).exists(),
            recovery_points: read_offset_checkpoint(&log_dir.join(RECOVERY_POINT_CHECKPOINT)),
            log_start_offsets: read_offset_checkpoint(&log_dir.join(LOG_START_OFFSET_CHECKPOINT)),
        }
    }
}

/// Parses Kafka's offset checkpoint file: `0` (version), a count, then `topic partition offset`
/// lines. Anything malformed yields no entries rather than wrong ones.
pub fn read_offset_checkpoint(path: &Path) -> HashMap<(String, i32), i64> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return out;
    }
    let Some(count) = lines.next().and_then(|c| c.trim().parse::<usize>().ok()) else {
        return out;
    };
    for line in lines.take(count) {
        let mut parts = line.split_whitespace();
        let (Some(t), Some(p), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return HashMap::new();
        };
        match (p.parse::<i32>(), o.parse::<i64>()) {
            (Ok(p), Ok(o)) => {
                out.insert((t.to_string(), p), o);
            }
            _ => return HashMap::new(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_metadata_round_trip() {
        let id = Uuid::parse_str("71a59a51-8968-4f8b-937e-0123456789ab").expect("uuid");
        let dir = tempfile::tempdir().expect("tempdir");
        write_partition_metadata(dir.path(), id).expect("write");
        assert_eq!(read_partition_metadata(dir.path()), Some(id));
        // The tester's padded standard base64.
        let padded = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
        std::fs::write(
            dir.path().join(PARTITION_METADATA),
            format!("version: 0\ntopic_id: {padded}\n"),
        )
        .expect("write");
        assert_eq!(read_partition_metadata(dir.path()), Some(id));
    }

    #[test]
    fn parses_kafka_checkpoints() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("recovery-point-offset-checkpoint"),
            "0\n2\norders 0 42\norders 1 7\n",
        )
        .expect("write");
        std::fs::write(dir.path().join(KAFKA_CLEAN_SHUTDOWN), "{}").expect("write");
        let s = KafkaRootState::read(dir.path());
        assert!(s.clean_shutdown);
        assert_eq!(s.recovery_points.get(&("orders".to_string(), 1)), Some(&7));
        assert!(s.log_start_offsets.is_empty());
        std::fs::write(
            dir.path().join("log-start-offset-checkpoint"),
            "0\n1\nbad line\n",
        )
        .expect("write");
        assert!(KafkaRootState::read(dir.path())
            .log_start_offsets
            .is_empty());
    }
}
