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
//!   v0–v2 lack some member fields (v0 the rebalance timeout, v0–v1 the state timestamp,
//!   v0–v2 the instance id); v4 is flexible.
//! ```
//!
//! Strings are int16-length prefixed (v4: uvarint length + 1), bytes int32-length prefixed.

use bytes::Bytes;

use crate::protocol::wire::{
    put_bytes_field, put_opt_string, put_string, read_array, read_bytes, read_i16, read_i32,
    read_i64, read_opt_string, read_string, skip_tagged_fields, DecodeError, EncodeBuf,
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

/// A group's metadata, as written after each rebalance and read back on startup (a group
/// known only from its offsets has the default: no protocol type, generation 0, no members).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

impl GroupMetadataValue {
    /// Reads any version (0–4): v1 added the rebalance timeout, v2 the state timestamp, v3
    /// the instance id, v4 is flexible.
    pub fn decode(mut buf: Bytes) -> Result<GroupMetadataValue, DecodeError> {
        let b = &mut buf;
        let version = read_i16(b)?;
        let flexible = version >= 4;
        let protocol_type = read_string(b, flexible, "protocolType")?;
        let generation = read_i32(b)?;
        let protocol = read_opt_string(b, flexible, true, "protocol")?;
        let leader = read_opt_string(b, flexible, true, "leader")?;
        let current_state_timestamp = if version >= 2 { read_i64(b)? } else { -1 };
        // A member takes at least 2+2+2+4+4+4 bytes.
        let members = read_array(b, flexible, 18, "members", |b| {
            let member_id = read_string(b, flexible, "memberId")?;
            let group_instance_id = if version >= 3 {
                read_opt_string(b, flexible, true, "groupInstanceId")?
            } else {
                None
            };
            let client_id = read_string(b, flexible, "clientId")?;
            let client_host = read_string(b, flexible, "clientHost")?;
            let rebalance_timeout_ms = if version >= 1 { read_i32(b)? } else { -1 };
            let session_timeout_ms = read_i32(b)?;
            let subscription = read_bytes(b, flexible, "subscription")?;
            let assignment = read_bytes(b, flexible, "assignment")?;
            if flexible {
                skip_tagged_fields(b)?;
            }
            Ok(MemberRecord {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                // v0 had none: Kafka took the session timeout.
                rebalance_timeout_ms: if rebalance_timeout_ms < 0 {
                    session_timeout_ms
                } else {
                    rebalance_timeout_ms
                },
                session_timeout_ms,
                subscription,
                assignment,
            })
        })?;
        if flexible {
            skip_tagged_fields(b)?;
        }
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
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
    fn group_value_round_trip_and_version_0() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 1,
            members: vec![MemberRecord {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(GroupMetadataValue::decode(v.encode()).expect("decode"), v);

        // v0: no rebalance timeout, no timestamp, no instance id.
        let mut v0 = EncodeBuf::new();
        v0.put_i16(0);
        put_string(&mut v0, false, "consumer");
        v0.put_i32(2);
        put_opt_string(&mut v0, false, true, None);
        put_opt_string(&mut v0, false, true, None);
        v0.put_i32(1);
        put_string(&mut v0, false, "m");
        put_string(&mut v0, false, "c");
        put_string(&mut v0, false, "h");
        v0.put_i32(10_000);
        put_bytes_field(&mut v0, false, &Bytes::from_static(b"s"));
        put_bytes_field(&mut v0, false, &Bytes::new());
        let d = GroupMetadataValue::decode(v0.to_bytes()).expect("v0");
        assert_eq!((d.generation, d.members.len()), (2, 1));
        assert_eq!(d.members[0].rebalance_timeout_ms, 10_000);
        assert_eq!(d.members[0].group_instance_id, None);
        // A member count larger than the bytes left is an error, not an allocation.
        let mut bad = EncodeBuf::new();
        bad.put_i16(3);
        put_string(&mut bad, false, "");
        bad.put_i32(0);
        put_opt_string(&mut bad, false, true, None);
        put_opt_string(&mut bad, false, true, None);
        bad.put_i64(0);
        bad.put_i32(i32::MAX);
        assert!(GroupMetadataValue::decode(bad.to_bytes()).is_err());
    }
}
