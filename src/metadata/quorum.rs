//! The KRaft election state of the one-node quorum sluice runs: `__cluster_metadata-0/quorum-state`
//! and the leader-change control batch a new leader opens its epoch with.
//!
//! `quorum-state` is one line of JSON, Kafka's `QuorumStateData` plus `data_version`
//! (`FileQuorumStateStore`):
//!
//! ```text
//! v0  {"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,
//!      "currentVoters":[{"voterId":1}],"data_version":0}          kraft.version 0 (static voters)
//! v1  {"leaderId":1,"leaderEpoch":2,"votedId":-1,
//!      "votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}  kraft.version 1
//! ```
//!
//! At start-up this node takes the quorum as Kafka's only voter does: it reads the state, takes
//! the next epoch after both the state's and the log's, persists the new state (leader = this
//! node; written to `quorum-state.tmp`, fsynced, renamed), and appends a `LeaderChangeMessage`
//! control batch that opens the epoch in the log. A state naming other voters belongs to a
//! quorum of several controllers, which sluice cannot join: start-up is refused.

use std::io;
use std::path::Path;

use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;

use crate::metadata::properties::{parse_kafka_uuid, uuid_to_kafka_string};
use crate::metadata::snapshot::{control, control_batch};
use crate::protocol::messages::leader_change_message::Voter;
use crate::protocol::messages::LeaderChangeMessage;
use crate::protocol::wire::EncodeBuf;
use crate::util::fs::write_atomically;

pub const QUORUM_STATE_FILE: &str = "quorum-state";

/// The most of a `quorum-state` file read (Kafka's is one line of a few hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The `quorum-state` data versions Kafka reads and writes.
const MAX_DATA_VERSION: i16 = 1;

/// One `quorum-state` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumState {
    pub data_version: i16,
    /// -1: no known leader.
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// -1: no vote.
    pub voted_id: i32,
    /// v1 only.
    pub voted_directory_id: Option<Uuid>,
    /// v0 only: the static voter set.
    pub voters: Option<Vec<i32>>,
}

impl QuorumState {
    /// This node as the elected leader of `epoch`, in `data_version`'s layout.
    pub fn leader(node_id: i32, epoch: i32, data_version: i16) -> QuorumState {
        QuorumState {
            data_version,
            leader_id: node_id,
            leader_epoch: epoch,
            voted_id: -1,
            voted_directory_id: None,
            voters: (data_version == 0).then(|| vec![node_id]),
        }
    }

    /// Reads `<metadata_dir>/quorum-state`: `Ok(None)` if there is none, an error saying what
    /// is wrong with a file that does not parse.
    pub fn read(metadata_dir: &Path) -> Result<Option<QuorumState>, String> {
        use std::io::Read;
        let file = match std::fs::File::open(metadata_dir.join(QUORUM_STATE_FILE)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        // One short line of JSON: whatever a damaged file holds, no more than this is read.
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let text = String::from_utf8_lossy(&bytes);
        QuorumState::parse(text.lines().next().unwrap_or_default()).map(Some)
    }

    /// Parses the file's first line (Kafka reads only that one).
    pub fn parse(line: &str) -> Result<QuorumState, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("not a JSON object".into());
        };
        let int = |name: &str, default: i64| -> Result<i64, String> {
            match map.get(name) {
                None => Ok(default),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| format!("{name} is not an integer")),
            }
        };
        let i32_field = |name: &str| -> Result<i32, String> {
            i32::try_from(int(name, -1)?).map_err(|_| format!("{name} is out of range"))
        };
        let data_version = int("data_version", i64::MIN)?;
        if data_version == i64::MIN {
            return Err("no data_version field".into());
        }
        if !(0..=i64::from(MAX_DATA_VERSION)).contains(&data_version) {
            return Err(format!(
                "data_version {data_version} is not one Kafka writes (0 to {MAX_DATA_VERSION})"
            ));
        }
        let voted_directory_id = match map.get("votedDirectoryId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                parse_kafka_uuid(s)
                    .ok_or_else(|| format!("votedDirectoryId {s:?} is not a uuid"))?,
            )
            .filter(|id| !id.is_nil()),
            Some(_) => return Err("votedDirectoryId is not a string".into()),
        };
        let voters = match map.get("currentVoters") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => Some(
                list.iter()
                    .map(|v| {
                        v.get("voterId")
                            .and_then(Value::as_i64)
                            .and_then(|id| i32::try_from(id).ok())
                            .ok_or_else(|| "a currentVoters entry has no voterId".to_string())
                    })
                    .collect::<Result<Vec<i32>, String>>()?,
            ),
            Some(_) => return Err("currentVoters is not a list".into()),
        };
        Ok(QuorumState {
            data_version: data_version as i16,
            leader_id: i32_field("leaderId")?,
            leader_epoch: i32_field("leaderEpoch")?,
            voted_id: i32_field("votedId")?,
            voted_directory_id,
            voters,
        })
    }

    /// The file's line, fields in the order Kafka's JSON converter writes them.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        if self.data_version == 0 {
            out.push_str("\"clusterId\":\"\",");
        }
        out.push_str(&format!(
            "\"leaderId\":{},\"leaderEpoch\":{},\"votedId\":{},",
            self.leader_id, self.leader_epoch, self.voted_id
        ));
        if self.data_version == 0 {
            let voters: Vec<String> = self
                .voters
                .iter()
                .flatten()
                .map(|id| format!("{{\"voterId\":{id}}}"))
                .collect();
            out.push_str(&format!(
                "\"appliedOffset\":0,\"currentVoters\":[{}],",
                voters.join(",")
            ));
        } else {
            let dir = uuid_to_kafka_string(self.voted_directory_id.unwrap_or(Uuid::nil()));
            out.push_str(&format!("\"votedDirectoryId\":\"{dir}\","));
        }
        out.push_str(&format!("\"data_version\":{}}}", self.data_version));
        out
    }

    /// Writes `<metadata_dir>/quorum-state` atomically.
    pub fn write(&self, metadata_dir: &Path) -> io::Result<()> {
        write_atomically(
            &metadata_dir.join(QUORUM_STATE_FILE),
            self.to_json().as_bytes(),
        )
    }
}

/// The control batch that opens `epoch` with this node as the only voter and leader
/// (`LeaderChangeMessage` v0, as Kafka's leader writes it when it takes the quorum).
pub fn leader_change_batch(base_offset: i64, epoch: i32, node_id: i32, now_ms: i64) -> Bytes {
    let voter = Voter {
        voter_id: node_id,
        ..Voter::default()
    };
    let message = LeaderChangeMessage {
        version: 0,
        leader_id: node_id,
        voters: vec![voter.clone()],
        granting_voters: vec![voter],
    };
    let mut buf = EncodeBuf::new();
    message.encode(&mut buf, 0);
    control_batch(
        base_offset,
        epoch,
        now_ms,
        control::LEADER_CHANGE,
        &buf.to_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_data_versions_kafka_writes() {
        let v0 = QuorumState::parse(
            r#"{"clusterId":"","leaderId":1,"leaderEpoch":7,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1}],"data_version":0}"#,
        )
        .expect("v0");
        assert_eq!(v0, QuorumState::leader(1, 7, 0));
        let v1 = QuorumState::parse(
            r#"{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}"#,
        )
        .expect("v1");
        assert_eq!(v1.leader_id, -1);
        assert_eq!(v1.leader_epoch, 2);
        assert_eq!(v1.voted_id, 1);
        assert!(v1.voted_directory_id.is_some());
        assert_eq!(v1.voters, None);
    }

    #[test]
    fn an_oversized_file_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(QUORUM_STATE_FILE), vec![b' '; 200_000]).expect("write");
        let err = QuorumState::read(dir.path()).expect_err("refused");
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_quorum_state() {
        for (text, why) in [
            ("", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"leaderId":1}"#, "no data_version"),
            (r#"{"leaderId":1,"data_version":2}"#, "data_version 2"),
            (r#"{"leaderId":"x","data_version":0}"#, "leaderId is not"),
            (
                r#"{"leaderEpoch":99999999999,"data_version":0}"#,
                "out of range",
            ),
            (r#"{"currentVoters":[{}],"data_version":0}"#, "voterId"),
        ] {
            let err = QuorumState::parse(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    /// The bytes Kafka's `FileQuorumStateStore` writes, field by field as its examples show.
    #[test]
    fn writes_kafka_layout() {
        assert_eq!(
            QuorumState::leader(3, 5, 0).to_json(),
            r#"{"clusterId":"","leaderId":3,"leaderEpoch":5,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":3}],"data_version":0}"#
        );
        assert_eq!(
            QuorumState::leader(3, 5, 1).to_json(),
            r#"{"leaderId":3,"leaderEpoch":5,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#
        );
        let back = QuorumState::parse(&QuorumState::leader(3, 5, 1).to_json()).expect("parse");
        assert_eq!(back, QuorumState::leader(3, 5, 1));
    }

    /// A LeaderChangeMessage control batch, laid out from the record batch v2 and control record
    /// formats: key version 0, type 2; value version 0, leader 4, voters [4], granting [4].
    #[test]
    fn leader_change_batch_bytes() {
        let batch = leader_change_batch(10, 3, 4, 1_700_000_000_000);
        let header = crate::record::validate(&batch).expect("valid batch");
        assert_eq!(header.base_offset, 10);
        assert_eq!(header.partition_leader_epoch, 3);
        assert!(header.is_control());
        let records = crate::record::decode_records(&batch).expect("records");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key.as_deref(), Some(&[0u8, 0, 0, 2][..]));
        // int16 version 0 | int32 leader 4 | compact array of 1 (uvarint 2) { int32 4, tags 0 }
        // twice | tags 0.
        let value: &[u8] = &[0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 4, 0, 2, 0, 0, 0, 4, 0, 0];
        assert_eq!(records[0].value.as_deref(), Some(value));
    }
}
