//! Kafka's on-disk and wire encodings written by hand from the protocol guide and the JSON
//! schemas — varints, compact strings, tagged fields, the v2 record batch with its CRC-32C, the
//! KRaft record framing — for fixtures that stand for what Kafka wrote. They deliberately share
//! no code with sluice's writers or its generated codec, so that a misreading shared by sluice's
//! writer and reader cannot hide.

use uuid::Uuid;

/// The encodings the fixture needs, written from Kafka's protocol guide.
pub mod enc {
    use uuid::Uuid;

    pub fn uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Zig-zag signed varint (record fields).
    pub fn varint(out: &mut Vec<u8>, v: i64) {
        uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn compact_str(out: &mut Vec<u8>, s: &str) {
        uvarint(out, s.len() as u64 + 1);
        out.extend_from_slice(s.as_bytes());
    }

    pub fn compact_i32s(out: &mut Vec<u8>, items: &[i32]) {
        uvarint(out, items.len() as u64 + 1);
        for i in items {
            out.extend_from_slice(&i.to_be_bytes());
        }
    }

    pub fn compact_uuids(out: &mut Vec<u8>, items: &[Uuid]) {
        uvarint(out, items.len() as u64 + 1);
        for u in items {
            out.extend_from_slice(u.as_bytes());
        }
    }

    /// The tagged-field section: count, then (tag, size, data) in tag order.
    pub fn tagged(out: &mut Vec<u8>, fields: &[(u64, Vec<u8>)]) {
        uvarint(out, fields.len() as u64);
        for (tag, data) in fields {
            uvarint(out, *tag);
            uvarint(out, data.len() as u64);
            out.extend_from_slice(data);
        }
    }

    /// A classic (non-compact) string: int16 length.
    pub fn str16(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    pub fn null_str16(out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i16).to_be_bytes());
    }
}

/// One record of a batch: key, value (None: a tombstone).
pub type Rec = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Producer fields of a batch: (producer id, epoch, base sequence); (-1, -1, -1) for none.
pub const NO_PRODUCER: (i64, i16, i32) = (-1, -1, -1);
pub const ATTR_CONTROL: i16 = 0x20;

/// A v2 record batch: every record one millisecond after `base_ts`, offsets consecutive from
/// `base`.
pub fn batch(
    base: i64,
    base_ts: i64,
    leader_epoch: i32,
    attributes: i16,
    producer: (i64, i16, i32),
    records: &[Rec],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        let mut r = vec![0u8]; // attributes
        enc::varint(&mut r, i as i64); // timestamp delta
        enc::varint(&mut r, i as i64); // offset delta
        match key {
            Some(k) => {
                enc::varint(&mut r, k.len() as i64);
                r.extend_from_slice(k);
            }
            None => enc::varint(&mut r, -1),
        }
        match value {
            Some(v) => {
                enc::varint(&mut r, v.len() as i64);
                r.extend_from_slice(v);
            }
            None => enc::varint(&mut r, -1),
        }
        enc::varint(&mut r, 0); // headers
        enc::varint(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
    }
    let last_delta = records.len() as i32 - 1;
    // From attributes to the end: what the CRC covers.
    let mut tail = Vec::new();
    tail.extend_from_slice(&attributes.to_be_bytes());
    tail.extend_from_slice(&last_delta.to_be_bytes());
    tail.extend_from_slice(&base_ts.to_be_bytes());
    tail.extend_from_slice(&(base_ts + i64::from(last_delta)).to_be_bytes());
    tail.extend_from_slice(&producer.0.to_be_bytes());
    tail.extend_from_slice(&producer.1.to_be_bytes());
    tail.extend_from_slice(&producer.2.to_be_bytes());
    tail.extend_from_slice(&(records.len() as i32).to_be_bytes());
    tail.extend_from_slice(&body);
    let mut out = Vec::new();
    out.extend_from_slice(&base.to_be_bytes());
    // batchLength counts from partitionLeaderEpoch: epoch 4 + magic 1 + crc 4 + the tail.
    out.extend_from_slice(&(9 + tail.len() as i32).to_be_bytes());
    out.extend_from_slice(&leader_epoch.to_be_bytes());
    out.push(2);
    out.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
    out.extend_from_slice(&tail);
    out
}

/// A KRaft record value: frame version 1 (what Kafka's `MetadataRecordSerde` writes), api key,
/// record version, then the flexible body (ending with its tagged fields).
pub fn kraft(api_key: u64, version: u64, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    enc::uvarint(&mut out, 1);
    enc::uvarint(&mut out, api_key);
    enc::uvarint(&mut out, version);
    out.extend_from_slice(&body);
    out
}

/// FeatureLevelRecord v0.
pub fn feature_level(name: &str, level: i16) -> Vec<u8> {
    let mut b = Vec::new();
    enc::compact_str(&mut b, name);
    b.extend_from_slice(&level.to_be_bytes());
    enc::tagged(&mut b, &[]);
    kraft(12, 0, b)
}

/// TopicRecord v0.
pub fn topic_record(name: &str, id: Uuid) -> Vec<u8> {
    let mut b = Vec::new();
    enc::compact_str(&mut b, name);
    b.extend_from_slice(id.as_bytes());
    enc::tagged(&mut b, &[]);
    kraft(2, 0, b)
}

/// PartitionRecord v1 (directories, no ELR: what Kafka 3.7–4.x writes with ELR off), replicas
/// and ISR `[node]`, leader `node`, epochs 0.
pub fn partition_record(topic: Uuid, index: i32, node: i32, directory: Uuid) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&index.to_be_bytes());
    b.extend_from_slice(topic.as_bytes());
    enc::compact_i32s(&mut b, &[node]); // replicas
    enc::compact_i32s(&mut b, &[node]); // isr
    enc::compact_i32s(&mut b, &[]); // removing
    enc::compact_i32s(&mut b, &[]); // adding
    b.extend_from_slice(&node.to_be_bytes()); // leader
    b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    b.extend_from_slice(&0i32.to_be_bytes()); // partition epoch
    enc::compact_uuids(&mut b, &[directory]);
    enc::tagged(&mut b, &[]);
    kraft(3, 1, b)
}

/// ConfigRecord v0 for a topic.
pub fn topic_config(topic: &str, name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![2u8]; // resource type TOPIC
    enc::compact_str(&mut b, topic);
    enc::compact_str(&mut b, name);
    enc::compact_str(&mut b, value);
    enc::tagged(&mut b, &[]);
    kraft(4, 0, b)
}

/// `__consumer_offsets` OffsetCommitKey v1: group, topic, partition.
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut b = 1i16.to_be_bytes().to_vec();
    enc::str16(&mut b, group);
    enc::str16(&mut b, topic);
    b.extend_from_slice(&partition.to_be_bytes());
    b
}

/// Java's `String.hashCode` (`31 * h + c` over the UTF-16 code units, wrapping) and Kafka's
/// `Utils.abs` (0 for `Integer.MIN_VALUE`): the `__consumer_offsets` partition of a group.
pub fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let h = java_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// A control record: key (version 0, type), value as given.
pub fn control(kind: i16, value: Vec<u8>) -> Rec {
    let mut key = 0i16.to_be_bytes().to_vec();
    key.extend_from_slice(&kind.to_be_bytes());
    (Some(key), Some(value))
}
