//! KRaft snapshot files, in Kafka's layout: the metadata log's snapshots
//! (`__cluster_metadata-0/{end_offset:020}-{epoch:010}.checkpoint`) and the bootstrap file
//! `kafka-storage format` writes (`bootstrap.checkpoint` at the root of the log directory; Kafka
//! 4.2+ writes the same records as the snapshot `00000000000000000000-0000000000.checkpoint`).
//!
//! ```text
//! control batch   SnapshotHeaderRecord (control type 3) [KRaftVersionRecord (5), VotersRecord (6)]
//! data batches    metadata records, framed as in the log
//! control batch   SnapshotFooterRecord (control type 4)
//! ```
//!
//! A control record's key is `int16 version (0) | int16 type`; its value is the message itself
//! (no frame). Kafka writes a snapshot as `….checkpoint.part` and renames it when the footer is
//! on disk, so a `.checkpoint` without its header or footer is damaged, not in progress: it is
//! not used (see [`read`]). Batches in the bootstrap file carry offsets from 0 and epoch 0, as
//! Kafka's `BatchFileWriter` writes them.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use crate::protocol::wire::EncodeBuf;
use crate::record::{self, BatchBuilder, BatchIter, FoundBatch, ATTR_CONTROL};
use crate::util::fs::write_atomically;

/// The bootstrap file at the root of the metadata log directory (Kafka 3.3–4.1).
pub const BOOTSTRAP_FILE: &str = "bootstrap.checkpoint";

/// The bootstrap snapshot Kafka 4.2+ writes in `__cluster_metadata-0` instead.
pub const BOOTSTRAP_SNAPSHOT: &str = "00000000000000000000-0000000000.checkpoint";

/// Control record types (Kafka's `ControlRecordType`) the metadata log and snapshots hold.
pub mod control {
    pub const LEADER_CHANGE: i16 = 2;
    pub const SNAPSHOT_HEADER: i16 = 3;
    pub const SNAPSHOT_FOOTER: i16 = 4;
}

/// The key of a control record of type `ty`: version 0, then the type.
pub fn control_key(ty: i16) -> [u8; 4] {
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&ty.to_be_bytes());
    key
}

/// The type of a control record from its key, if the key has Kafka's form (a version ≥ 0, then
/// the type).
pub fn control_type(key: Option<&[u8]>) -> Option<i16> {
    let key = key?;
    if key.len() < 4 || i16::from_be_bytes([key[0], key[1]]) < 0 {
        return None;
    }
    Some(i16::from_be_bytes([key[2], key[3]]))
}

/// A control batch at `base_offset` holding one control record of type `ty`.
pub fn control_batch(base_offset: i64, epoch: i32, now_ms: i64, ty: i16, value: &[u8]) -> Bytes {
    let mut builder = BatchBuilder::new(base_offset, now_ms)
        .partition_leader_epoch(epoch)
        .attributes(ATTR_CONTROL);
    builder.push(Some(&control_key(ty)), Some(value), &[]);
    builder.build()
}

/// The control types of a control batch's records, in order.
fn control_types(batch: &FoundBatch) -> Result<Vec<Option<i16>>, String> {
    let records = record::decode_records(&batch.bytes).map_err(|e| e.to_string())?;
    Ok(records
        .iter()
        .map(|r| control_type(r.key.as_deref()))
        .collect())
}

/// The batches of a snapshot file, checked against the layout: a damaged batch, a first batch
/// that does not open with a SnapshotHeaderRecord, or a last one that does not hold the
/// SnapshotFooterRecord makes the file unusable (the reason is returned). The data batches are
/// returned; control batches are checked and left out.
pub fn read(data: Bytes) -> Result<Vec<FoundBatch>, String> {
    let mut batches = Vec::new();
    for found in BatchIter::new(data) {
        match found {
            Ok(batch) => batches.push(batch),
            Err((position, reason)) => {
                return Err(format!("damaged batch at position {position}: {reason}"))
            }
        }
    }
    let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
        return Err("empty: no snapshot header".into());
    };
    let opens = first.header.is_control()
        && control_types(first)?.first() == Some(&Some(control::SNAPSHOT_HEADER));
    if !opens {
        return Err("the first batch is not a snapshot header".into());
    }
    let closes = batches.len() > 1
        && last.header.is_control()
        && control_types(last)?.contains(&Some(control::SNAPSHOT_FOOTER));
    if !closes {
        return Err("no snapshot footer: the snapshot was not completed".into());
    }
    batches.retain(|b| !b.header.is_control());
    Ok(batches)
}

/// The record values of the data batches of a checked snapshot file.
pub fn values(batches: &[FoundBatch]) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    for batch in batches {
        let records = record::decode_records(&batch.bytes).map_err(|e| e.to_string())?;
        out.extend(records.into_iter().filter_map(|r| r.value));
    }
    Ok(out)
}

/// A snapshot file of `values`, as Kafka's `BatchFileWriter` lays out the bootstrap file: a
/// header batch at offset 0, the records in one batch from offset 1, the footer batch after
/// them; epoch 0 throughout.
pub fn encode(values: &[Bytes], now_ms: i64) -> Vec<u8> {
    let message = |encode: &dyn Fn(&mut EncodeBuf)| {
        let mut buf = EncodeBuf::new();
        encode(&mut buf);
        buf.to_bytes()
    };
    let header = message(&|buf| {
        SnapshotHeaderRecord {
            version: 0,
            last_contained_log_timestamp: 0,
        }
        .encode(buf, 0)
    });
    let footer = message(&|buf| SnapshotFooterRecord { version: 0 }.encode(buf, 0));
    let mut out = Vec::new();
    out.extend_from_slice(&control_batch(
        0,
        0,
        now_ms,
        control::SNAPSHOT_HEADER,
        &header,
    ));
    let mut data = BatchBuilder::new(1, now_ms);
    for v in values {
        data.push(None, Some(v), &[]);
    }
    if !values.is_empty() {
        out.extend_from_slice(&data.build());
    }
    let footer_offset = 1 + values.len() as i64;
    out.extend_from_slice(&control_batch(
        footer_offset,
        0,
        now_ms,
        control::SNAPSHOT_FOOTER,
        &footer,
    ));
    out
}

/// The bootstrap records `kafka-storage format` left for an empty metadata log: those of
/// `bootstrap.checkpoint` at the root of `log_dir`, or else of Kafka 4.2's bootstrap snapshot.
/// Returns the file read and its record values; `Ok(None)` when there is neither file, an error
/// naming the file when one cannot be used.
pub fn read_bootstrap(
    log_dir: &Path,
    metadata_dir: &Path,
) -> io::Result<Option<(PathBuf, Vec<Bytes>)>> {
    for path in [
        log_dir.join(BOOTSTRAP_FILE),
        metadata_dir.join(BOOTSTRAP_SNAPSHOT),
    ] {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let unusable = |reason: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a usable bootstrap file: {reason}", path.display()),
            )
        };
        let batches = read(Bytes::from(data)).map_err(unusable)?;
        let values = values(&batches).map_err(unusable)?;
        return Ok(Some((path, values)));
    }
    Ok(None)
}

/// Writes `bootstrap.checkpoint` at the root of `log_dir` (atomically), as `kafka-storage
/// format` does.
pub fn write_bootstrap(log_dir: &Path, values: &[Bytes], now_ms: i64) -> io::Result<()> {
    write_atomically(&log_dir.join(BOOTSTRAP_FILE), &encode(values, now_ms))
}
