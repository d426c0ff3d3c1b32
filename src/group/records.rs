//! The record formats of `__consumer_offsets`, as Kafka's group coordinator writes them, so the
//! offsets log reads with Kafka's own tools (`kafka-dump-log.sh --offsets-decoder`).
//!
//! Every record has a key and a value; both start with an int16 version. The key version says
//! what the record is about:
//!
//! ```text
//! key version 0 | 1   OffsetCommitKey      group: string, topic: string, partition: int32
//! key version 2       GroupMetadataKey     group: string
//! key version 3+      consumer-protocol / share-group records: not ours, skipped on replay
//! ```
//!
//! Values (a null value is a tombstone: the key is deleted):
//!
//! ```text
//! OffsetCommitValue
//!   v0, v2   offset: int64 | metadata: string | commitTimestamp: int64
//!   v1       offset: int64 | metadata: string | commitTimestamp: int64 | expireTimestamp: int64
//!   v3       offset: int64 | leaderEpoch: int32 | metadata: string | commitTimestamp: int64
//!   v4       as v3, compact string, tagged fields           (written by sluice: v3)
//! GroupMetadataValue
//!   v3       protocolType: string | generation: int32 | protocol: string? | leader: string?
//!            | currentStateTimestamp: int64
//!            | members: [memberId: string | groupInstanceId: string? | clientId: string
//!                        | clientHost: string | rebalanceTimeout: int32 | sessionTimeout: int32
//!                        | subscription: bytes | assignment: bytes]
//!   v0–v2 lack some member fields, v4 is flexible; replay reads only protocolType and generation,
//!   which lead in every version.
//! ```
//!
//! Strings are int16-length prefixed (v4: uvarint length + 1), bytes int32-length prefixed.

use bytes::{Buf, Bytes};

use crate::protocol::wire::{
    put_bytes_field, put_opt_string, put_string, read_i16, read_i32, read_i64, read_string,
    skip_tagged_fields, DecodeError, EncodeBuf,
};

/// The key version Kafka writes for offset commits.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// The key version of group metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The value versions sluice writes.
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// What a `__consumer_offsets` record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
}

/// A committed offset, as stored and as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    /// The client's metadata string ("" when it sent null).
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// The part of a group's metadata record that survives a restart (members do not: consumers
/// rejoin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRecord {
    pub protocol_type: String,
    pub generation: i32,
}

/// A whole group metadata value, as written after each rebalance.
#[derive(Debug, Clone, Default)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, Default)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl RecordKey {
    pub fn encode(&self) -> Bytes {
        let mut buf = EncodeBuf::new();
        match self {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => {
                buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_string(&mut buf, false, group);
                put_string(&mut buf, false, topic);
                buf.put_i32(*partition);
            }
            RecordKey::Group { group } => {
                buf.put_i16(GROUP_METADATA_KEY_VERSION);
                put_string(&mut buf, false, group);
            }
        }
        buf.to_bytes()
    }

    /// `Ok(None)` for key types that are not ours (consumer-protocol groups, share groups, …).
    pub fn decode(mut buf: Bytes) -> Result<Option<RecordKey>, DecodeError> {
        let b = &mut buf;
        let key = match read_i16(b)? {
            0 | 1 => RecordKey::Offset {
                group: read_string(b, false, "group")?,
                topic: read_string(b, false, "topic")?,
                partition: read_i32(b)?,
            },
            2 => RecordKey::Group {
                group: read_string(b, false, "group")?,
            },
            _ => return Ok(None),
        };
        Ok(Some(key))
    }
}

impl CommittedOffset {
    pub fn encode(&self) -> Bytes {
        let mut buf = EncodeBuf::new();
        buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
        buf.put_i64(self.offset);
        buf.put_i32(self.leader_epoch);
        put_string(&mut buf, false, &self.metadata);
        buf.put_i64(self.commit_timestamp);
        buf.to_bytes()
    }

    pub fn decode(mut buf: Bytes) -> Result<CommittedOffset, DecodeError> {
        let b = &mut buf;
        let version = read_i16(b)?;
        let flexible = version >= 4;
        let offset = read_i64(b)?;
        let leader_epoch = if version >= 3 { read_i32(b)? } else { -1 };
        let metadata = read_string(b, flexible, "metadata")?;
        let commit_timestamp = read_i64(b)?;
        if version == 1 {
            let _expire_timestamp = read_i64(b)?;
        }
        if flexible {
            skip_tagged_fields(b)?;
        }
        Ok(CommittedOffset {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
        })
    }
}

impl GroupMetadataValue {
    pub fn encode(&self) -> Bytes {
        let mut buf = EncodeBuf::new();
        let b = &mut buf;
        b.put_i16(GROUP_METADATA_VALUE_VERSION);
        put_string(b, false, &self.protocol_type);
        b.put_i32(self.generation);
        put_opt_string(b, false, true, self.protocol.as_deref());
        put_opt_string(b, false, true, self.leader.as_deref());
        b.put_i64(self.current_state_timestamp);
        b.put_i32(i32::try_from(self.members.len()).unwrap_or(i32::MAX));
        for m in &self.members {
            put_string(b, false, &m.member_id);
            put_opt_string(b, false, true, m.group_instance_id.as_deref());
            put_string(b, false, &m.client_id);
            put_string(b, false, &m.client_host);
            b.put_i32(m.rebalance_timeout_ms);
            b.put_i32(m.session_timeout_ms);
            put_bytes_field(b, false, &m.subscription);
            put_bytes_field(b, false, &m.assignment);
        }
        buf.to_bytes()
    }
}

impl GroupRecord {
    /// Reads the leading fields of a GroupMetadataValue of any version (0–4).
    pub fn decode(mut buf: Bytes) -> Result<GroupRecord, DecodeError> {
        let b = &mut buf;
        let version = read_i16(b)?;
        let protocol_type = read_string(b, version >= 4, "protocolType")?;
        let generation = read_i32(b)?;
        let _ = b.remaining();
        Ok(GroupRecord {
            protocol_type,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn offset_key_layout_is_kafkas() {
        let key = RecordKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let bytes = key.encode();
        // version 1, "g", "t", partition 3
        assert_eq!(bytes.as_ref(), hex("000100016700017400000003").as_slice());
        assert_eq!(RecordKey::decode(bytes).expect("decode"), Some(key));
    }

    #[test]
    fn group_key_and_unknown_key_types() {
        let key = RecordKey::Group {
            group: "grp".into(),
        };
        let bytes = key.encode();
        assert_eq!(bytes.as_ref(), hex("00020003677270").as_slice());
        assert_eq!(RecordKey::decode(bytes).expect("decode"), Some(key));
        // A consumer-protocol record key (version 3+) is not ours.
        let other = Bytes::from(hex("000300016700"));
        assert_eq!(RecordKey::decode(other).expect("decode"), None);
        // Truncated keys are errors, not panics.
        assert!(RecordKey::decode(Bytes::from(hex("0001000567"))).is_err());
    }

    #[test]
    fn offset_value_round_trip_and_old_versions() {
        let v = CommittedOffset {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        let bytes = v.encode();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(CommittedOffset::decode(bytes).expect("decode"), v);

        // v1: offset, metadata, commit timestamp, expire timestamp.
        let mut v1 = EncodeBuf::new();
        v1.put_i16(1);
        v1.put_i64(9);
        put_string(&mut v1, false, "");
        v1.put_i64(5);
        v1.put_i64(6);
        let d = CommittedOffset::decode(v1.to_bytes()).expect("v1");
        assert_eq!((d.offset, d.leader_epoch, d.commit_timestamp), (9, -1, 5));

        // v4: flexible.
        let mut v4 = EncodeBuf::new();
        v4.put_i16(4);
        v4.put_i64(10);
        v4.put_i32(2);
        put_string(&mut v4, true, "m");
        v4.put_i64(11);
        v4.put_uvarint(0);
        let d = CommittedOffset::decode(v4.to_bytes()).expect("v4");
        assert_eq!(
            (d.offset, d.leader_epoch, d.metadata.as_str()),
            (10, 2, "m")
        );
    }

    #[test]
    fn group_value_leading_fields_decode() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 1,
            members: vec![MemberRecord {
                member_id: "m-1".into(),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
                ..MemberRecord::default()
            }],
        };
        let r = GroupRecord::decode(v.encode()).expect("decode");
        assert_eq!(
            r,
            GroupRecord {
                protocol_type: "consumer".into(),
                generation: 5
            }
        );
    }
}
