//! The small text files of Kafka's data directory: `meta.properties` at the root of each log
//! directory, and `partition.metadata` in each partition directory.
//!
//! ```text
//! meta.properties (v1)                 partition.metadata
//!   #                                    version: 0
//!   #<date>                              topic_id: <topic id, URL-safe base64, no padding>
//!   cluster.id=<22-char base64 uuid>
//!   directory.id=<22-char base64 uuid>
//!   node.id=1
//!   version=1
//! ```
//!
//! Kafka prints UUIDs as URL-safe base64 without padding; the CodeCrafters tester writes standard
//! padded base64. Both are accepted when reading.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use base64::Engine;
use uuid::Uuid;

use crate::util::fs::write_atomically;
use crate::util::properties::{parse_properties, PropertiesSyntaxError};

pub const META_PROPERTIES: &str = "meta.properties";
pub const PARTITION_METADATA: &str = "partition.metadata";

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

/// The entries of a properties file by key, a later duplicate winning (as in Java).
fn properties_map(text: &str) -> Result<BTreeMap<String, String>, PropertiesSyntaxError> {
    Ok(parse_properties(text)?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect())
}

/// The identity stored in `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: Option<Uuid>,
}

impl MetaProperties {
    /// Reads `<dir>/meta.properties`; `Ok(None)` when it does not exist or has no cluster id.
    pub fn read(dir: &Path) -> io::Result<Option<MetaProperties>> {
        let path = dir.join(META_PROPERTIES);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // A damaged file is an error, not a missing one: that would give the directory a new
        // cluster id.
        let props = properties_map(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        let Some(cluster_id) = props.get("cluster.id").filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(MetaProperties {
            cluster_id: cluster_id.clone(),
            node_id: props
                .get("node.id")
                .and_then(|n| n.parse().ok())
                .unwrap_or(-1),
            directory_id: props.get("directory.id").and_then(|d| parse_kafka_uuid(d)),
        }))
    }

    /// Reads the file, or creates it with a new cluster id and directory id on first start.
    pub fn load_or_create(dir: &Path, node_id: i32) -> io::Result<MetaProperties> {
        if let Some(mut meta) = MetaProperties::read(dir)? {
            if meta.directory_id.is_none() {
                // Older files have no directory id; give this directory one, once.
                meta.directory_id = Some(Uuid::new_v4());
                meta.write(dir)?;
            }
            return Ok(meta);
        }
        let meta = MetaProperties {
            cluster_id: uuid_to_kafka_string(Uuid::new_v4()),
            node_id,
            directory_id: Some(Uuid::new_v4()),
        };
        meta.write(dir)?;
        Ok(meta)
    }

    /// Writes the file atomically (see [`write_atomically`]), in Kafka's v1 layout.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut text = String::from("#\n#Written by sluice\n");
        text.push_str(&format!("cluster.id={}\n", self.cluster_id));
        if let Some(d) = self.directory_id {
            text.push_str(&format!("directory.id={}\n", uuid_to_kafka_string(d)));
        }
        text.push_str(&format!("node.id={}\nversion=1\n", self.node_id));
        write_atomically(&dir.join(META_PROPERTIES), text.as_bytes())
    }
}

/// Writes `partition.metadata` for a partition directory, as Kafka does.
pub fn write_partition_metadata(partition_dir: &Path, topic_id: Uuid) -> io::Result<()> {
    let text = format!("version: 0\ntopic_id: {}\n", uuid_to_kafka_string(topic_id));
    write_atomically(&partition_dir.join(PARTITION_METADATA), text.as_bytes())
}

/// Reads the topic id of a partition directory, if it has a readable `partition.metadata`.
pub fn read_partition_metadata(partition_dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(partition_dir.join(PARTITION_METADATA)).ok()?;
    properties_map(&text)
        .ok()?
        .get("topic_id")
        .and_then(|t| parse_kafka_uuid(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codecrafters_meta_properties() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(META_PROPERTIES),
            "#\n#Mon Jan 02 15:04:05 UTC 2006\ncluster.id=IAAAAAAAQACAAAAAAAAAAQ\ndirectory.id=EAAAAAAAQACAAAAAAAAAAQ==\nnode.id=1\nversion=1\n",
        )
        .expect("write");
        let meta = MetaProperties::load_or_create(dir.path(), 1).expect("load");
        assert_eq!(meta.cluster_id, "IAAAAAAAQACAAAAAAAAAAQ");
        assert_eq!(
            meta.directory_id,
            Uuid::parse_str("10000000-0000-4000-8000-000000000001").ok()
        );
    }

    #[test]
    fn a_missing_directory_id_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(META_PROPERTIES),
            "cluster.id=IAAAAAAAQACAAAAAAAAAAQ\nnode.id=1\nversion=0\n",
        )
        .expect("write");
        let a = MetaProperties::load_or_create(dir.path(), 1).expect("load");
        let b = MetaProperties::load_or_create(dir.path(), 1).expect("reload");
        assert!(a.directory_id.is_some());
        assert_eq!(a.directory_id, b.directory_id);
        assert_eq!(b.cluster_id, "IAAAAAAAQACAAAAAAAAAAQ");
    }

    #[test]
    fn a_damaged_meta_properties_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "cluster.id=IAAAAAAAQACAAAAAAAAAAQ\nnode.id=1\nbad=\\u12G4\n";
        std::fs::write(dir.path().join(META_PROPERTIES), text).expect("write");
        let err = MetaProperties::load_or_create(dir.path(), 1).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        let after = std::fs::read_to_string(dir.path().join(META_PROPERTIES)).expect("read");
        assert_eq!(after, text);
    }

    #[test]
    fn reads_java_properties_syntax() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(META_PROPERTIES),
            "! comment\r\ncluster.id : IAAAAAAA\\\r\n    QACAAAAAAAAAAQ\r\nnode.id 2\r\nnode.id=3\r\n",
        )
        .expect("write");
        let meta = MetaProperties::read(dir.path()).expect("read");
        assert_eq!(
            meta.map(|m| (m.cluster_id, m.node_id)),
            Some(("IAAAAAAAQACAAAAAAAAAAQ".to_owned(), 3))
        );
    }

    #[test]
    fn creates_and_rereads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = MetaProperties::load_or_create(dir.path(), 3).expect("create");
        assert_eq!(a.cluster_id.len(), 22);
        let b = MetaProperties::load_or_create(dir.path(), 3).expect("reread");
        assert_eq!(a, b);
    }

    #[test]
    fn uuid_text_forms() {
        let id = Uuid::parse_str("71a59a51-8968-4f8b-937e-0123456789ab").expect("uuid");
        let s = uuid_to_kafka_string(id);
        assert_eq!(parse_kafka_uuid(&s), Some(id));
        let padded = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
        assert_eq!(parse_kafka_uuid(&padded), Some(id));
        let dir = tempfile::tempdir().expect("tempdir");
        write_partition_metadata(dir.path(), id).expect("write");
        assert_eq!(read_partition_metadata(dir.path()), Some(id));
    }
}

/// What Kafka leaves at the root of a log directory about its partitions: the clean-shutdown
/// marker and the per-partition recovery points and log start offsets. Used once, to open a
/// Kafka-written directory without revalidating logs Kafka closed cleanly.
#[derive(Debug, Default, Clone)]
pub struct KafkaRootState {
    pub clean_shutdown: bool,
    pub recovery_points: std::collections::HashMap<(String, i32), i64>,
    pub log_start_offsets: std::collections::HashMap<(String, i32), i64>,
}

pub const KAFKA_CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";

impl KafkaRootState {
    pub fn read(log_dir: &Path) -> KafkaRootState {
        KafkaRootState {
            clean_shutdown: log_dir.join(KAFKA_CLEAN_SHUTDOWN).exists(),
            recovery_points: read_offset_checkpoint(
                &log_dir.join("recovery-point-offset-checkpoint"),
            ),
            log_start_offsets: read_offset_checkpoint(&log_dir.join("log-start-offset-checkpoint")),
        }
    }
}

/// Parses Kafka's offset checkpoint file: `0` (version), a count, then `topic partition offset`
/// lines. Anything malformed yields no entries rather than wrong ones.
pub fn read_offset_checkpoint(path: &Path) -> std::collections::HashMap<(String, i32), i64> {
    let mut out = std::collections::HashMap::new();
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
            return std::collections::HashMap::new();
        };
        match (p.parse::<i32>(), o.parse::<i64>()) {
            (Ok(p), Ok(o)) => {
                out.insert((t.to_string(), p), o);
            }
            _ => return std::collections::HashMap::new(),
        }
    }
    out
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;

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
