//! `sluice dump-log PATH…`: prints what is inside a data directory's files, checking every CRC,
//! in the spirit of Kafka's `kafka-dump-log.sh`.
//!
//! - `*.log`: one line per batch (offsets, sizes, timestamps, producer fields, CRC check); with
//!   `--records`, one line per record (offset, timestamp, key, value, headers). Segments of
//!   `__cluster_metadata` have their record values decoded as KRaft metadata records.
//! - `*.index`: offset index entries (relative offset → position), as absolute offsets.
//! - `*.timeindex`: time index entries (timestamp → offset).
//! - `*.checkpoint` (metadata snapshots, `bootstrap.checkpoint`): as a metadata log, control
//!   records named (leader change, snapshot header and footer) with their fields.
//! - `*.snapshot`: Kafka's producer snapshot, one line per producer.
//! - `leader-epoch-checkpoint`: one line per epoch; `quorum-state`: the election state.
//!
//! A directory stands for the files in it that one of these describes.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;

use crate::metadata::quorum::{QuorumState, QUORUM_STATE_FILE};
use crate::metadata::snapshot::{control, control_type};
use crate::protocol::messages::metadata::MetadataRecord;
use crate::protocol::messages::{LeaderChangeMessage, SnapshotFooterRecord, SnapshotHeaderRecord};
use crate::record::{self, BatchIter};
use crate::storage::leader_epoch::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT};
use crate::storage::producer_snapshot;

pub fn run(paths: &[PathBuf], records: bool) -> ExitCode {
    let mut ok = true;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &expand(paths) {
        match dump_file(path, records) {
            Ok((text, clean)) => {
                ok &= clean;
                if out.write_all(text.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                ok = false;
                eprintln!("sluice dump-log: {}: {e}", path.display());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Files to dump: each file as given, and for a directory its `.log` segments in offset order.
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        let Ok(entries) = std::fs::read_dir(path) else {
            // Not a directory: dump it as a file (errors are reported there).
            out.push(path.clone());
            continue;
        };
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                [".log", ".checkpoint", ".snapshot"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
                    || [LEADER_EPOCH_CHECKPOINT, QUORUM_STATE_FILE].contains(&name)
            })
            .collect();
        logs.sort();
        out.extend(logs);
    }
    out
}

/// Renders one file. Returns the text and whether everything in it was valid.
pub fn dump_file(path: &Path, records: bool) -> std::io::Result<(String, bool)> {
    let data = std::fs::read(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base: i64 = name
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = format!("Dumping {}\n", path.display());
    let clean = if name == QUORUM_STATE_FILE {
        let text = String::from_utf8_lossy(&data);
        match QuorumState::parse(text.lines().next().unwrap_or_default()) {
            Ok(state) => {
                let _ = writeln!(out, "{state:?}");
                true
            }
            Err(e) => {
                let _ = writeln!(out, "INVALID: {e}");
                false
            }
        }
    } else if name == LEADER_EPOCH_CHECKPOINT {
        match LeaderEpochCache::decode(&String::from_utf8_lossy(&data)) {
            Some(cache) => {
                for e in cache.entries() {
                    let _ = writeln!(out, "epoch: {} startOffset: {}", e.epoch, e.start_offset);
                }
                true
            }
            None => {
                let _ = writeln!(out, "INVALID: not a leader-epoch checkpoint");
                false
            }
        }
    } else if name.ends_with(".snapshot") {
        match producer_snapshot::decode(&data) {
            Ok(entries) => {
                for e in entries {
                    let _ = writeln!(
                        out,
                        "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {} lastTimestamp: {} lastSequence: {} lastOffset: {} offsetDelta: {}",
                        e.producer_id, e.epoch, e.coordinator_epoch, e.current_txn_first_offset,
                        e.timestamp, e.last_sequence, e.last_offset, e.offset_delta
                    );
                }
                true
            }
            Err(e) => {
                let _ = writeln!(out, "INVALID: {e}");
                false
            }
        }
    } else if name.ends_with(".checkpoint") {
        dump_log(&mut out, Bytes::from(data), true, true)
    } else if name.ends_with(".index") {
        dump_entries(&mut out, &data, 8, |e| {
            let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            format!("offset: {} position: {pos}", base + i64::from(rel))
        })
    } else if name.ends_with(".timeindex") {
        dump_entries(&mut out, &data, 12, |e| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            let rel = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            format!(
                "timestamp: {} offset: {}",
                i64::from_be_bytes(ts),
                base + i64::from(rel)
            )
        })
    } else {
        let metadata = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("__cluster_metadata"));
        dump_log(&mut out, Bytes::from(data), records || metadata, metadata)
    };
    Ok((out, clean))
}

fn dump_entries(
    out: &mut String,
    data: &[u8],
    size: usize,
    line: impl Fn(&[u8]) -> String,
) -> bool {
    for (i, entry) in data.chunks(size).enumerate() {
        if entry.len() < size {
            let _ = writeln!(out, "trailing {} bytes: not a whole entry", entry.len());
            return false;
        }
        if i > 0 && entry.iter().all(|b| *b == 0) {
            // Preallocated, unused space (Kafka sizes its indexes up front).
            break;
        }
        let _ = writeln!(out, "{}", line(entry));
    }
    true
}

fn dump_log(out: &mut String, data: Bytes, records: bool, metadata: bool) -> bool {
    for found in BatchIter::new(data) {
        let batch = match found {
            Ok(b) => b,
            Err((position, reason)) => {
                let _ = writeln!(out, "position: {position} INVALID: {reason}");
                return false;
            }
        };
        let h = batch.header;
        let _ = writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {} CreateTime: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: true",
            h.base_offset, h.last_offset(), h.record_count, h.base_sequence, h.last_sequence(),
            h.producer_id, h.producer_epoch, h.partition_leader_epoch, h.is_transactional(),
            h.is_control(), batch.position, h.max_timestamp, h.total_len(), h.magic,
            codec_name(h.compression()), h.crc
        );
        if !records || (h.is_control() && !metadata) {
            continue;
        }
        match record::decode_records(&batch.bytes) {
            Ok(recs) => {
                for r in recs {
                    let _ = write!(out, "| offset: {} CreateTime: {}", r.offset, r.timestamp);
                    if h.is_control() {
                        let _ = writeln!(out, " {}", describe_control(&r));
                        continue;
                    }
                    if metadata {
                        let _ = writeln!(out, " {}", describe_metadata(r.value.clone()));
                        continue;
                    }
                    let _ = write!(
                        out,
                        " keySize: {} valueSize: {} headerKeys: [{}] key: {} payload: {}",
                        r.key.as_ref().map_or(-1, |k| k.len() as i64),
                        r.value.as_ref().map_or(-1, |v| v.len() as i64),
                        r.headers
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        show(r.key.as_ref()),
                        show(r.value.as_ref())
                    );
                    let _ = writeln!(out);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "| records not shown: {e}");
            }
        }
    }
    true
}

/// One KRaft metadata record value, readable: `TopicRecord v0 {..}`, or why it is not shown.
fn describe_metadata(value: Option<Bytes>) -> String {
    let Some(mut value) = value else {
        return "payload: null".to_string();
    };
    match MetadataRecord::decode_value(&mut value) {
        Ok(Some((record, version))) => {
            let text = format!("{record:?}");
            // `TopicRecord(TopicRecord { … })` → `TopicRecord v0 { … }`.
            let inner = text
                .split_once('(')
                .map(|(_, rest)| rest.strip_suffix(')').unwrap_or(rest).to_string())
                .unwrap_or(text);
            match inner.split_once(' ') {
                Some((name, fields)) => format!("{name} v{version} {fields}"),
                None => format!("{inner} v{version}"),
            }
        }
        Ok(None) => "payload: a record type sluice does not decode".to_string(),
        Err(e) => format!("payload: INVALID ({e})"),
    }
}

/// One KRaft control record, readable: its type and, for the types sluice decodes, its fields.
fn describe_control(r: &record::Record) -> String {
    let Some(ty) = control_type(r.key.as_deref()) else {
        return "control: INVALID key".to_string();
    };
    let mut value = r.value.clone().unwrap_or_default();
    let text = match ty {
        control::LEADER_CHANGE => {
            LeaderChangeMessage::decode(&mut value, 0).map(|m| format!("{m:?}"))
        }
        control::SNAPSHOT_HEADER => {
            SnapshotHeaderRecord::decode(&mut value, 0).map(|m| format!("{m:?}"))
        }
        control::SNAPSHOT_FOOTER => {
            SnapshotFooterRecord::decode(&mut value, 0).map(|m| format!("{m:?}"))
        }
        other => return format!("control: type {other}"),
    };
    match text {
        Ok(t) => format!("control: {t}"),
        Err(e) => format!("control: type {ty} INVALID ({e})"),
    }
}

fn codec_name(codec: i16) -> &'static str {
    match codec {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

fn show(data: Option<&Bytes>) -> String {
    match data {
        None => "null".to_string(),
        Some(d) => String::from_utf8_lossy(d).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::metadata::TopicRecord;
    use crate::protocol::wire::EncodeBuf;
    use crate::record::BatchBuilder;

    #[test]
    fn dumps_a_metadata_log_and_flags_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = dir.path().join("__cluster_metadata-0");
        std::fs::create_dir_all(&meta).expect("dir");
        let mut value = EncodeBuf::new();
        MetadataRecord::TopicRecord(TopicRecord {
            name: "orders".into(),
            topic_id: uuid::Uuid::from_u128(7),
        })
        .encode_value(&mut value, 0);
        let mut b = BatchBuilder::new(1, 1_700_000_000_000);
        b.push(None, Some(&value.to_bytes()), &[]);
        let mut bytes = b.build().to_vec();
        let path = meta.join("00000000000000000000.log");
        std::fs::write(&path, &bytes).expect("write");
        let (text, clean) = dump_file(&path, false).expect("dump");
        assert!(clean);
        assert!(text.contains("baseOffset: 1"), "{text}");
        assert!(text.contains("TopicRecord v0 { name: \"orders\""), "{text}");

        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let (text, clean) = dump_file(&path, false).expect("dump");
        assert!(!clean);
        assert!(text.contains("INVALID: CRC mismatch"), "{text}");
    }

    /// The files a new metadata directory holds, and a producer snapshot, each described.
    #[test]
    fn dumps_the_quorum_files_snapshots_and_producer_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut image = crate::metadata::image::ClusterImage::default();
        let mut log =
            crate::metadata::kraft_log::MetadataLog::load(dir.path(), &mut image).expect("load");
        log.take_leadership(3, &mut image, 1_700_000_000_000)
            .expect("lead");
        drop(log);
        let meta = dir.path().join("__cluster_metadata-0");
        let files = expand(&[meta.clone(), dir.path().join("bootstrap.checkpoint")]);
        let mut text = String::new();
        for f in &files {
            let (t, clean) = dump_file(f, false).expect("dump");
            assert!(clean, "{t}");
            text.push_str(&t);
        }
        for want in [
            "quorum-state",
            "leader_id: 3, leader_epoch: 1",
            "epoch: 1 startOffset: 0",
            "control: LeaderChangeMessage { version: 0, leader_id: 3",
            "FeatureLevelRecord v0 { name: \"metadata.version\", feature_level: 25 }",
            "control: SnapshotHeaderRecord",
            "control: SnapshotFooterRecord",
        ] {
            assert!(text.contains(want), "{want} not in:\n{text}");
        }

        let snapshot = dir.path().join("00000000000000000009.snapshot");
        let entry = producer_snapshot::SnapshotEntry {
            producer_id: 77,
            epoch: 2,
            last_sequence: 9,
            last_offset: 8,
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        };
        std::fs::write(&snapshot, producer_snapshot::encode(&[entry])).expect("write");
        let (t, clean) = dump_file(&snapshot, false).expect("dump");
        assert!(clean, "{t}");
        assert!(t.contains("producerId: 77 producerEpoch: 2"), "{t}");
        assert!(
            t.contains("lastSequence: 9 lastOffset: 8 offsetDelta: 4"),
            "{t}"
        );
        std::fs::write(&snapshot, b"\0\x01garbage").expect("write");
        let (t, clean) = dump_file(&snapshot, false).expect("dump");
        assert!(!clean && t.contains("INVALID"), "{t}");
    }
}
