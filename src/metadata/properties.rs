//! `meta.properties`, the identity file at the root of each log directory (the files of the
//! partition directories, `partition.metadata` among them, are [`crate::partition::files`]).
//!
//! ```text
//! meta.properties (v1)
//!   #
//!   #<date>
//!   cluster.id=<22-char base64 uuid>
//!   directory.id=<22-char base64 uuid>
//!   node.id=1
//!   version=1
//! ```
//!
//! A v0 file (`version=0`) names the node `broker.id` and has no `directory.id`; both are read,
//! and a directory id is added (the file rewritten as v1) on first start, as Kafka adds one.
//!
//! Kafka prints UUIDs as URL-safe base64 without padding; the CodeCrafters tester writes standard
//! padded base64. Both are accepted when reading ([`parse_kafka_uuid`]).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use uuid::Uuid;

pub use crate::partition::files::{parse_kafka_uuid, uuid_to_kafka_string};
use crate::util::fs::write_atomically;
use crate::util::properties::{parse_properties, PropertiesSyntaxError};

pub const META_PROPERTIES: &str = "meta.properties";

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
            // v1 (KRaft) names the node `node.id`; v0 (Kafka before KRaft, and early KRaft)
            // named it `broker.id`.
            node_id: props
                .get("node.id")
                .or_else(|| props.get("broker.id"))
                .and_then(|n| n.trim().parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

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
    fn a_v0_file_names_the_node_broker_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(META_PROPERTIES),
            "#\n#Tue Mar 05 10:00:00 UTC 2024\ncluster.id=IAAAAAAAQACAAAAAAAAAAQ\nbroker.id=7\nversion=0\n",
        )
        .expect("write");
        let meta = MetaProperties::read(dir.path())
            .expect("read")
            .expect("present");
        assert_eq!((meta.node_id, meta.directory_id), (7, None));
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
    }
}
