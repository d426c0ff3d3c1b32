//! Kafka's producer-state snapshot files, `{offset:020}.snapshot` in the partition directory
//! (version 1 of `ProducerStateManager`'s schema, the only version Kafka 2.x–4.x writes). A
//! snapshot named `N` reflects every batch below offset `N`. All integers big-endian:
//!
//! ```text
//! version      int16    1
//! crc          uint32   CRC-32C of every byte after this field
//! count        int32    number of producer entries, then for each (46 bytes):
//!   producer_id               int64
//!   epoch                     int16
//!   last_sequence             int32   -1 when the producer has no data batch
//!   last_offset               int64   last offset of its last data batch, -1 when none
//!   offset_delta              int32   last_sequence - first sequence of that batch
//!   timestamp                 int64   max timestamp of that batch
//!   coordinator_epoch         int32   -1 (no transaction coordinator has written a marker)
//!   current_txn_first_offset  int64   -1 (no open transaction)
//! ```
//!
//! Kafka holds only each producer's *last* batch here; sluice remembers five per producer
//! (`producer_state.rs`), and keeps the other four in its own `sluice-producer-state` written
//! beside each snapshot. Which file is authoritative is decided in `loader.rs`: Kafka's.
//!
//! When Kafka writes them, and so sluice: at every roll (named after the new segment's base
//! offset), at a clean close and after a recovery that rebuilt the state (named after the log
//! end). Snapshots whose segment is gone are removed, as Kafka's `removeStraySnapshots` and
//! segment deletion do: one per remaining segment base offset is kept, plus the newest one past
//! the last base offset.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut};

use crate::storage::files::parse_segment_file_name;
use crate::util::fs::write_atomically;

pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
pub const VERSION: i16 = 1;
/// Bytes of one producer entry.
pub const ENTRY_LEN: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// version + crc.
const HEADER_LEN: usize = 2 + 4;

/// One producer's line in a Kafka snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_offset: i64,
    pub offset_delta: i32,
    pub timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

/// Why a snapshot file was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is {0} bytes, shorter than its header and count")]
    Truncated(usize),
    #[error("unknown snapshot version {0}")]
    Version(i16),
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("{count} entries do not fit the {bytes} bytes that follow")]
    Count { count: i32, bytes: usize },
}

/// `{offset:020}.snapshot`.
pub fn snapshot_file_name(offset: i64) -> String {
    format!("{offset:020}{SNAPSHOT_SUFFIX}")
}

pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + entries.len() * ENTRY_LEN);
    out.put_i16(VERSION);
    out.put_u32(0);
    out.put_i32(entries.len() as i32);
    for e in entries {
        out.put_i64(e.producer_id);
        out.put_i16(e.epoch);
        out.put_i32(e.last_sequence);
        out.put_i64(e.last_offset);
        out.put_i32(e.offset_delta);
        out.put_i64(e.timestamp);
        out.put_i32(e.coordinator_epoch);
        out.put_i64(e.current_txn_first_offset);
    }
    let crc = crc32c::crc32c(&out[HEADER_LEN..]);
    out[2..HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Parses a snapshot. Trailing bytes past the entries are tolerated, as Kafka's schema reader
/// tolerates them (they are still covered by the CRC).
pub fn decode(bytes: &[u8]) -> Result<Vec<SnapshotEntry>, SnapshotError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(SnapshotError::Truncated(bytes.len()));
    }
    let mut b = bytes;
    let version = b.get_i16();
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let stored = b.get_u32();
    let computed = crc32c::crc32c(b);
    if stored != computed {
        return Err(SnapshotError::Crc { stored, computed });
    }
    let count = b.get_i32();
    let fits = usize::try_from(count).is_ok_and(|c| c <= b.remaining() / ENTRY_LEN);
    if !fits {
        return Err(SnapshotError::Count {
            count,
            bytes: b.remaining(),
        });
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        entries.push(SnapshotEntry {
            producer_id: b.get_i64(),
            epoch: b.get_i16(),
            last_sequence: b.get_i32(),
            last_offset: b.get_i64(),
            offset_delta: b.get_i32(),
            timestamp: b.get_i64(),
            coordinator_epoch: b.get_i32(),
            current_txn_first_offset: b.get_i64(),
        });
    }
    Ok(entries)
}

/// Writes `{offset:020}.snapshot` atomically (temporary file, fsync, rename, directory fsync).
pub fn write(dir: &Path, offset: i64, entries: &[SnapshotEntry]) -> io::Result<()> {
    write_atomically(&dir.join(snapshot_file_name(offset)), &encode(entries))
}

/// The snapshot files of `dir`, by offset, oldest first.
pub fn list(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(offset) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_segment_file_name(n, SNAPSHOT_SUFFIX))
        {
            out.push((offset, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(o, _)| *o);
    Ok(out)
}

/// Removes the snapshots no segment needs, as Kafka's `removeStraySnapshots` does: kept are
/// those named after a segment base offset in `bases` (sorted) and the newest one, if it is
/// newer than the last base offset (the one a clean close writes at the log end). Also
/// removed: every snapshot past `log_end_offset` (it describes batches the log no longer has).
/// Returns the snapshots kept.
pub fn remove_stray(
    dir: &Path,
    bases: &[i64],
    log_end_offset: i64,
) -> io::Result<Vec<(i64, PathBuf)>> {
    let all = list(dir)?;
    let last_base = bases.last().copied().unwrap_or(0);
    let newest_stray = all
        .iter()
        .rev()
        .map(|(o, _)| *o)
        .find(|&o| o <= log_end_offset && bases.binary_search(&o).is_err());
    let mut kept = Vec::new();
    for (offset, path) in all {
        let keep = offset <= log_end_offset
            && (bases.binary_search(&offset).is_ok()
                || (Some(offset) == newest_stray && offset > last_base));
        if keep {
            kept.push((offset, path));
        } else {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a snapshot with one entry, laid out by hand from the schema.
    fn golden() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&1i32.to_be_bytes()); // count
        body.extend_from_slice(&4242i64.to_be_bytes()); // producer_id
        body.extend_from_slice(&3i16.to_be_bytes()); // epoch
        body.extend_from_slice(&9i32.to_be_bytes()); // last_sequence
        body.extend_from_slice(&19i64.to_be_bytes()); // last_offset
        body.extend_from_slice(&4i32.to_be_bytes()); // offset_delta
        body.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // timestamp
        body.extend_from_slice(&(-1i32).to_be_bytes()); // coordinator_epoch
        body.extend_from_slice(&(-1i64).to_be_bytes()); // current_txn_first_offset
        let mut out = vec![0, 1];
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn entry() -> SnapshotEntry {
        SnapshotEntry {
            producer_id: 4242,
            epoch: 3,
            last_sequence: 9,
            last_offset: 19,
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }
    }

    #[test]
    fn golden_bytes_both_ways() {
        assert_eq!(encode(&[entry()]), golden());
        assert_eq!(decode(&golden()), Ok(vec![entry()]));
        assert_eq!(golden().len(), HEADER_LEN + 4 + ENTRY_LEN);
        // An empty snapshot (Kafka writes them at rolls too): version, crc of the count, 0.
        let empty = encode(&[]);
        let mut expected = vec![0, 1];
        expected.extend_from_slice(&crc32c::crc32c(&[0, 0, 0, 0]).to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(empty, expected);
    }

    #[test]
    fn damage_is_reported_not_trusted() {
        let good = golden();
        assert!(matches!(
            decode(&good[..5]),
            Err(SnapshotError::Truncated(5))
        ));
        let mut bad = good.clone();
        bad[20] ^= 1;
        assert!(matches!(decode(&bad), Err(SnapshotError::Crc { .. })));
        let mut v2 = good.clone();
        v2[1] = 2;
        assert_eq!(decode(&v2), Err(SnapshotError::Version(2)));
        // A count larger than the bytes, with a valid CRC.
        let mut body = 1000i32.to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 10]);
        let mut huge = vec![0, 1];
        huge.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        huge.extend_from_slice(&body);
        assert!(matches!(decode(&huge), Err(SnapshotError::Count { .. })));
    }

    #[test]
    fn stray_snapshots_are_removed_as_kafka_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        for offset in [0, 100, 150, 200, 250, 300, 900] {
            write(dir.path(), offset, &[]).expect("write");
        }
        fs::write(dir.path().join("notes.snapshot"), b"x").expect("w");
        let kept = remove_stray(dir.path(), &[0, 100, 200], 300).expect("prune");
        let offsets: Vec<i64> = kept.iter().map(|(o, _)| *o).collect();
        // 150 and 250 are strays with a newer one; 900 is past the log end.
        assert_eq!(offsets, [0, 100, 200, 300]);
        assert!(dir.path().join("notes.snapshot").exists());
        assert_eq!(list(dir.path()).expect("list").len(), 4);
    }
}
