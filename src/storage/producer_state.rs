//! Idempotent-producer state of one partition: for each producer id, its epoch and the metadata
//! of its last five batches, so that a retried batch is recognised and not written twice.
//!
//! # The rules a client batch meets (producer id ≥ 0 and base sequence ≥ 0)
//!
//! Checked in this order, as Kafka's `UnifiedLog` and `ProducerAppendInfo` do:
//!
//! 1. **Duplicate**: same epoch, and the same first *and* last sequence as one of the producer's
//!    last five batches → acknowledged with that batch's original offsets, not written again.
//! 2. **Old epoch**: an epoch below the producer's current one → `INVALID_PRODUCER_EPOCH` (47).
//! 3. **New epoch**: an epoch above the current one must start at sequence 0, else
//!    `OUT_OF_ORDER_SEQUENCE_NUMBER` (45); the old epoch's batches are forgotten.
//! 4. **Same epoch**: the first sequence must follow the last one (`last + 1`, or 0 after
//!    `i32::MAX`: sequences wrap), else `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
//! 5. **Unknown producer**: any sequence is accepted. This is Kafka's behaviour since 2.5
//!    (KIP-360): a producer whose state was lost (expired, or its batches removed by retention or
//!    DeleteRecords) can carry on instead of failing with `UNKNOWN_PRODUCER_ID`.
//!
//! Batches without a producer id or without a sequence are not checked and leave no state.
//! An append is checked as a whole against a scratch copy of the entries it touches
//! ([`PendingAppend`]): nothing changes unless every batch passes and the write succeeds.
//!
//! # Memory
//!
//! An entry idle for longer than Kafka's `producer.id.expiration.ms` default (one day) is
//! expired by the partition's housekeeping; and a partition keeps at most [`MAX_PRODUCERS`]
//! entries, dropping the longest idle ones beyond that. An entry's idle time is measured from
//! the broker's clock when its last batch was appended; entries rebuilt by scanning the log use
//! the batch's max timestamp instead, the only time the log keeps (as Kafka does).
//!
//! # Snapshot file
//!
//! `<partition dir>/sluice-producer-state` holds the state as of an end offset: everything below
//! it is reflected, so opening the log loads the snapshot and scans only the batch headers from
//! that offset to the log end. It is written on clean close (then no scan is needed), when a
//! segment rolls, and after an open that had to scan; it is replaced atomically (temporary file,
//! fsync, rename, directory fsync). All integers big-endian:
//!
//! ```text
//! magic        4   "SLPS"
//! version      2   1
//! crc          4   CRC-32C of every byte after this field
//! end_offset   8   batches below this offset are reflected
//! count        4   number of producers, then for each:
//!   producer_id   8
//!   epoch         2
//!   last_seen_ms  8
//!   batches       1   0..=5, oldest first, then for each:
//!     first_seq     4
//!     last_seq      4
//!     first_offset  8
//!     offset_delta  4   last offset = first offset + delta
//!     timestamp     8   the stored batch's max timestamp
//! ```
//!
//! Beside it, and first, Kafka's own `{offset:020}.snapshot` is written (`producer_snapshot.rs`):
//! that one is authoritative and holds the last batch per producer only; this file is used on
//! open only when it agrees with it (same offset, same last batch per producer), for the older
//! four batches. A directory of an older sluice (this file alone) is read as before.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::Path;

use bytes::{Buf, BufMut, BytesMut};

use crate::error::ErrorCode;
use crate::record::BatchHeader;
use crate::storage::producer_snapshot::{self, SnapshotEntry};
use crate::util::fs::write_atomically;

/// How many batches per producer are remembered for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, which is also the largest `max.in.flight` an idempotent client uses).
pub const BATCHES_TO_RETAIN: usize = 5;
/// Kafka's default `producer.id.expiration.ms`: one day.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;
/// The most producer entries one partition keeps.
pub const MAX_PRODUCERS: usize = 100_000;
/// The snapshot file in the partition directory.
pub const SNAPSHOT_FILE: &str = "sluice-producer-state";

const SNAPSHOT_MAGIC: &[u8; 4] = b"SLPS";
const SNAPSHOT_VERSION: u16 = 1;
/// Bytes of one batch entry and of a producer entry's fixed part in the snapshot.
const BATCH_ENTRY_LEN: usize = 4 + 4 + 8 + 4 + 8;
const PRODUCER_ENTRY_LEN: usize = 8 + 2 + 8 + 1;

/// Where one of a producer's recent batches went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub offset_delta: i32,
    /// The stored batch's max timestamp (the append time for LogAppendTime topics).
    pub timestamp: i64,
}

impl BatchMetadata {
    pub fn last_offset(&self) -> i64 {
        self.first_offset + i64::from(self.offset_delta)
    }
}

/// One producer's state in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// The last batches of the current epoch, oldest first, at most [`BATCHES_TO_RETAIN`].
    batches: VecDeque<BatchMetadata>,
    /// When the producer last appended (see the module docs), for expiry.
    pub last_seen_ms: i64,
}

impl ProducerEntry {
    fn new(epoch: i16, last_seen_ms: i64) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
            last_seen_ms,
        }
    }

    pub fn batches(&self) -> impl Iterator<Item = &BatchMetadata> {
        self.batches.iter()
    }

    /// The last sequence written in the current epoch; -1 when none is known.
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }

    /// Moves to `epoch`, forgetting the batches of another epoch.
    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    fn add_batch(&mut self, epoch: i16, batch: BatchMetadata, seen_ms: i64) {
        self.set_epoch(epoch);
        if self.batches.len() == BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_seen_ms = self.last_seen_ms.max(seen_ms);
    }
}

/// Why a batch was refused by the sequence and epoch rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {first_seq} does not follow {last_seq} \
         (a new epoch starts at 0)"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        /// The last sequence known for this epoch; -1 for a new epoch.
        last_seq: i32,
    },
}

impl SequenceError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SequenceError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            SequenceError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
        }
    }
}

/// What to do with one checked batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it (at the offset the check was given).
    Append,
    /// Already written: answer with these offsets and write nothing.
    Duplicate(BatchMetadata),
}

/// `next` follows `last` (sequences wrap from `i32::MAX` to 0).
pub fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

fn is_idempotent(h: &BatchHeader) -> bool {
    h.producer_id >= 0 && h.base_sequence >= 0
}

/// The producer changes of one append, checked but not yet applied.
#[derive(Debug, Default)]
pub struct PendingAppend {
    entries: HashMap<i64, ProducerEntry>,
}

impl PendingAppend {
    /// Checks one client batch that would be written at `first_offset`, and records it in the
    /// scratch state when it is to be written, so the next batch of the same append is checked
    /// against it.
    pub fn check(
        &mut self,
        state: &ProducerStateManager,
        header: &BatchHeader,
        first_offset: i64,
        now_ms: i64,
    ) -> Result<Verdict, SequenceError> {
        self.check_after(
            &PendingAppend::default(),
            state,
            header,
            first_offset,
            now_ms,
        )
    }

    /// As [`check`](Self::check), for an append that follows the appends of `earlier` (checked,
    /// to be written in the same write, not yet committed to `state`).
    pub fn check_after(
        &mut self,
        earlier: &PendingAppend,
        state: &ProducerStateManager,
        header: &BatchHeader,
        first_offset: i64,
        now_ms: i64,
    ) -> Result<Verdict, SequenceError> {
        if !is_idempotent(header) {
            return Ok(Verdict::Append);
        }
        let pid = header.producer_id;
        let epoch = header.producer_epoch;
        let first_seq = header.base_sequence;
        let last_seq = header.last_sequence();
        let known = |pid: &i64| {
            earlier
                .entries
                .get(pid)
                .or_else(|| state.producers.get(pid))
        };
        let current = self.entries.get(&pid).or_else(|| known(&pid));
        if let Some(entry) = current {
            if let Some(dup) = entry.find_duplicate(epoch, first_seq, last_seq) {
                return Ok(Verdict::Duplicate(dup));
            }
            if epoch < entry.epoch {
                return Err(SequenceError::InvalidProducerEpoch {
                    producer_id: pid,
                    epoch,
                    current: entry.epoch,
                });
            }
            let last = if epoch == entry.epoch {
                entry.last_seq()
            } else {
                -1
            };
            if !in_sequence(last, first_seq) {
                return Err(SequenceError::OutOfOrderSequence {
                    producer_id: pid,
                    epoch,
                    first_seq,
                    last_seq: last,
                });
            }
        }
        let entry = self.entries.entry(pid).or_insert_with(|| {
            known(&pid)
                .cloned()
                .unwrap_or_else(|| ProducerEntry::new(epoch, now_ms))
        });
        entry.add_batch(
            epoch,
            BatchMetadata {
                first_seq,
                last_seq,
                first_offset,
                offset_delta: header.last_offset_delta,
                timestamp: header.max_timestamp,
            },
            now_ms,
        );
        Ok(Verdict::Append)
    }

    /// Adds the changes of a later append of the same write (`later` was checked with
    /// [`check_after`](Self::check_after) over `self`).
    pub fn absorb(&mut self, later: PendingAppend) {
        self.entries.extend(later.entries);
    }

    /// Sets the timestamp recorded for the batch at `first_offset` (its stored max timestamp,
    /// known only once LogAppendTime has been stamped).
    pub fn set_timestamp(&mut self, producer_id: i64, first_offset: i64, timestamp: i64) {
        if let Some(b) = self.entries.get_mut(&producer_id).and_then(|e| {
            e.batches
                .iter_mut()
                .rev()
                .find(|b| b.first_offset == first_offset)
        }) {
            b.timestamp = timestamp;
        }
    }
}

/// The producer state of one partition. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Every batch below this offset is reflected.
    map_end_offset: i64,
    expiration_ms: i64,
    max_producers: usize,
}

impl Default for ProducerStateManager {
    fn default() -> Self {
        ProducerStateManager::new(PRODUCER_ID_EXPIRATION_MS, MAX_PRODUCERS)
    }
}

impl ProducerStateManager {
    pub fn new(expiration_ms: i64, max_producers: usize) -> ProducerStateManager {
        ProducerStateManager {
            producers: HashMap::new(),
            map_end_offset: 0,
            expiration_ms,
            max_producers: max_producers.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// The offset of the last batch each producer wrote, by producer id (Kafka's
    /// `lastRecordsOfActiveProducers`): the log cleaner keeps those batches, at least their
    /// headers, so a producer's last sequence survives compaction.
    pub fn last_data_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(&id, p)| Some((id, p.batches.back()?.last_offset())))
            .collect()
    }

    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    pub fn set_map_end_offset(&mut self, offset: i64) {
        self.map_end_offset = offset;
    }

    /// Applies a checked append once it is written; `end_offset` is the new log end.
    pub fn commit(&mut self, pending: PendingAppend, end_offset: i64) {
        self.producers.extend(pending.entries);
        self.map_end_offset = end_offset;
        self.enforce_cap();
    }

    /// Replays a batch found in the log (recovery): no checks, the log is the truth. Data
    /// batches record their sequence range; control batches (transaction markers, written by
    /// Kafka) only move the epoch.
    pub fn replay(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 {
            return;
        }
        let pid = header.producer_id;
        let epoch = header.producer_epoch;
        let seen = header.max_timestamp;
        if header.is_control() {
            let entry = self
                .producers
                .entry(pid)
                .or_insert_with(|| ProducerEntry::new(epoch, seen));
            entry.set_epoch(epoch);
            entry.last_seen_ms = entry.last_seen_ms.max(seen);
        } else if header.base_sequence >= 0 {
            self.producers
                .entry(pid)
                .or_insert_with(|| ProducerEntry::new(epoch, seen))
                .add_batch(
                    epoch,
                    BatchMetadata {
                        first_seq: header.base_sequence,
                        last_seq: header.last_sequence(),
                        first_offset: header.base_offset,
                        offset_delta: header.last_offset_delta,
                        timestamp: header.max_timestamp,
                    },
                    seen,
                );
        }
        self.map_end_offset = self.map_end_offset.max(header.last_offset() + 1);
    }

    /// Drops the producers idle for at least the expiration time; returns how many.
    pub fn remove_expired(&mut self, now_ms: i64) -> usize {
        let before = self.producers.len();
        let expiration = self.expiration_ms;
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_seen_ms) < expiration);
        before - self.producers.len()
    }

    /// Keeps at most `max_producers` entries: beyond that the longest idle tenth goes, so the
    /// sort is paid once per many new producers.
    fn enforce_cap(&mut self) {
        if self.producers.len() <= self.max_producers {
            return;
        }
        let keep = self.max_producers - self.max_producers / 10;
        let mut by_age: Vec<(i64, i64)> = self
            .producers
            .iter()
            .map(|(pid, e)| (e.last_seen_ms, *pid))
            .collect();
        by_age.sort_unstable();
        let drop = self.producers.len() - keep;
        for (_, pid) in by_age.into_iter().take(drop) {
            self.producers.remove(&pid);
        }
    }

    /// Serializes the state (see the module docs for the layout).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut body = BytesMut::new();
        body.put_i64(self.map_end_offset);
        let mut pids: Vec<&i64> = self.producers.keys().collect();
        pids.sort_unstable();
        body.put_u32(pids.len() as u32);
        for pid in pids {
            let Some(e) = self.producers.get(pid) else {
                continue;
            };
            body.put_i64(*pid);
            body.put_i16(e.epoch);
            body.put_i64(e.last_seen_ms);
            body.put_u8(e.batches.len() as u8);
            for b in &e.batches {
                body.put_i32(b.first_seq);
                body.put_i32(b.last_seq);
                body.put_i64(b.first_offset);
                body.put_i32(b.offset_delta);
                body.put_i64(b.timestamp);
            }
        }
        let mut out = Vec::with_capacity(10 + body.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a snapshot; `None` for anything malformed (wrong magic or version, CRC mismatch,
    /// counts that do not fit the bytes).
    pub fn decode_snapshot(
        bytes: &[u8],
        expiration_ms: i64,
        max_producers: usize,
    ) -> Option<ProducerStateManager> {
        let mut b = bytes;
        if b.len() < 10 || &b[..4] != SNAPSHOT_MAGIC {
            return None;
        }
        b.advance(4);
        if b.get_u16() != SNAPSHOT_VERSION {
            return None;
        }
        let crc = b.get_u32();
        if crc32c::crc32c(b) != crc || b.remaining() < 12 {
            return None;
        }
        let mut state = ProducerStateManager::new(expiration_ms, max_producers);
        state.map_end_offset = b.get_i64();
        let count = b.get_u32() as usize;
        if count > b.remaining() / PRODUCER_ENTRY_LEN {
            return None;
        }
        state.producers.reserve(count);
        for _ in 0..count {
            if b.remaining() < PRODUCER_ENTRY_LEN {
                return None;
            }
            let pid = b.get_i64();
            let mut entry = ProducerEntry::new(b.get_i16(), b.get_i64());
            let batches = usize::from(b.get_u8());
            if batches > BATCHES_TO_RETAIN || b.remaining() < batches * BATCH_ENTRY_LEN {
                return None;
            }
            for _ in 0..batches {
                entry.batches.push_back(BatchMetadata {
                    first_seq: b.get_i32(),
                    last_seq: b.get_i32(),
                    first_offset: b.get_i64(),
                    offset_delta: b.get_i32(),
                    timestamp: b.get_i64(),
                });
            }
            state.producers.insert(pid, entry);
        }
        if b.has_remaining() {
            return None;
        }
        Some(state)
    }

    /// Writes the state as of [`map_end_offset`](Self::map_end_offset): Kafka's
    /// `{offset:020}.snapshot` first (the authoritative file), then sluice's
    /// `sluice-producer-state` with the four older batches per producer Kafka's format has no
    /// room for. Each is replaced atomically; a crash between the two leaves ours older than
    /// Kafka's, and the loader then goes by Kafka's alone.
    pub fn write_snapshot(&self, dir: &Path) -> io::Result<()> {
        producer_snapshot::write(dir, self.map_end_offset, &self.kafka_entries())?;
        write_atomically(&dir.join(SNAPSHOT_FILE), &self.encode_snapshot())
    }

    /// The state as Kafka's snapshot holds it: each producer's last batch, by producer id.
    pub fn kafka_entries(&self) -> Vec<SnapshotEntry> {
        let mut out: Vec<SnapshotEntry> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| {
                let last = e.batches.back();
                SnapshotEntry {
                    producer_id,
                    epoch: e.epoch,
                    last_sequence: last.map_or(-1, |b| b.last_seq),
                    last_offset: last.map_or(-1, BatchMetadata::last_offset),
                    offset_delta: last.map_or(0, |b| b.offset_delta),
                    timestamp: last.map_or(e.last_seen_ms, |b| b.timestamp),
                    coordinator_epoch: -1,
                    current_txn_first_offset: -1,
                }
            })
            .collect();
        out.sort_unstable_by_key(|e| e.producer_id);
        out
    }

    /// A state from the entries of Kafka's snapshot `{map_end_offset:020}.snapshot`: one batch
    /// per producer (its first sequence and offset derived from the delta, sequences wrapping
    /// as Kafka's `decrementSequence` does), idle since the batch's timestamp. Transaction
    /// fields are not used (no transactions yet).
    pub fn from_kafka_entries(
        entries: &[SnapshotEntry],
        map_end_offset: i64,
        expiration_ms: i64,
        max_producers: usize,
    ) -> ProducerStateManager {
        let mut state = ProducerStateManager::new(expiration_ms, max_producers);
        state.map_end_offset = map_end_offset;
        for k in entries {
            let mut entry = ProducerEntry::new(k.epoch, k.timestamp);
            if k.last_offset >= 0 && k.last_sequence >= 0 && k.offset_delta >= 0 {
                let first = i64::from(k.last_sequence) - i64::from(k.offset_delta);
                let first_seq = if first < 0 {
                    first + i64::from(i32::MAX) + 1
                } else {
                    first
                };
                entry.batches.push_back(BatchMetadata {
                    first_seq: i32::try_from(first_seq).unwrap_or(0),
                    last_seq: k.last_sequence,
                    first_offset: k.last_offset - i64::from(k.offset_delta),
                    offset_delta: k.offset_delta,
                    timestamp: k.timestamp,
                });
            }
            state.producers.insert(k.producer_id, entry);
        }
        state.enforce_cap();
        state
    }

    /// Whether `self` (read from sluice's own file) says what Kafka's snapshot `kafka` says for
    /// every producer Kafka's holds: same end offset, epoch and last batch. Only then are its
    /// older batches trusted.
    pub fn agrees_with(&self, kafka: &ProducerStateManager) -> bool {
        self.map_end_offset == kafka.map_end_offset
            && kafka.producers.iter().all(|(pid, k)| {
                self.producers.get(pid).is_some_and(|o| {
                    o.epoch == k.epoch
                        && o.batches.back().map(|b| (b.last_seq, b.last_offset()))
                            == k.batches.back().map(|b| (b.last_seq, b.last_offset()))
                })
            })
    }

    /// Reads the snapshot file: `Ok(None)` when there is none, `InvalidData` when it is damaged.
    pub fn read_snapshot(
        dir: &Path,
        expiration_ms: i64,
        max_producers: usize,
    ) -> io::Result<Option<ProducerStateManager>> {
        let bytes = match fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        ProducerStateManager::decode_snapshot(&bytes, expiration_ms, max_producers)
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "malformed producer state snapshot",
                )
            })
    }

    pub fn expiration_ms(&self) -> i64 {
        self.expiration_ms
    }

    pub fn max_producers(&self) -> usize {
        self.max_producers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BatchBuilder;

    const PID: i64 = 1000;
    const NOW: i64 = 1_700_000_000_000;

    /// The header of a batch of `records` records from producer `pid`.
    fn header(pid: i64, epoch: i16, seq: i32, records: usize) -> BatchHeader {
        let mut b = BatchBuilder::new(0, NOW).producer(pid, epoch, seq);
        for _ in 0..records {
            b.push(None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.build()).expect("header")
    }

    /// Checks and commits one batch at the log end, as an append does; returns the verdict.
    fn append(state: &mut ProducerStateManager, h: &BatchHeader) -> Result<Verdict, SequenceError> {
        let mut pending = PendingAppend::default();
        let offset = state.map_end_offset();
        let verdict = pending.check(state, h, offset, NOW)?;
        if verdict == Verdict::Append {
            let end = offset + i64::from(h.last_offset_delta) + 1;
            state.commit(pending, end);
        }
        Ok(verdict)
    }

    fn appended(state: &mut ProducerStateManager, h: &BatchHeader) {
        assert_eq!(append(state, h), Ok(Verdict::Append));
    }

    #[test]
    fn duplicate_of_each_of_the_last_five_batches() {
        let mut state = ProducerStateManager::default();
        // Six batches of 2 records: seq 0-1, 2-3, …, 10-11 at offsets 0, 2, …, 10.
        for i in 0..6 {
            appended(&mut state, &header(PID, 0, i * 2, 2));
        }
        for i in 1..6 {
            let verdict = append(&mut state, &header(PID, 0, i * 2, 2)).expect("duplicate");
            let Verdict::Duplicate(meta) = verdict else {
                panic!("batch {i} not seen as a duplicate: {verdict:?}");
            };
            assert_eq!(meta.first_offset, i64::from(i) * 2);
            assert_eq!(meta.last_offset(), i64::from(i) * 2 + 1);
            assert_eq!((meta.first_seq, meta.last_seq), (i * 2, i * 2 + 1));
        }
        // The sixth-to-last (seq 0-1) is forgotten: a retry that old is out of order.
        assert!(matches!(
            append(&mut state, &header(PID, 0, 0, 2)),
            Err(SequenceError::OutOfOrderSequence { last_seq: 11, .. })
        ));
        // Same first sequence but a different last one is not a duplicate.
        assert!(matches!(
            append(&mut state, &header(PID, 0, 10, 1)),
            Err(SequenceError::OutOfOrderSequence { .. })
        ));
        assert_eq!(state.map_end_offset(), 12);
        appended(&mut state, &header(PID, 0, 12, 1));
    }

    #[test]
    fn a_gap_is_out_of_order() {
        let mut state = ProducerStateManager::default();
        appended(&mut state, &header(PID, 0, 0, 3));
        let err = append(&mut state, &header(PID, 0, 4, 1)).expect_err("gap");
        assert_eq!(
            err,
            SequenceError::OutOfOrderSequence {
                producer_id: PID,
                epoch: 0,
                first_seq: 4,
                last_seq: 2
            }
        );
        assert_eq!(err.error_code().code(), 45);
        // The refused batch left no trace: the next in-order one is accepted.
        appended(&mut state, &header(PID, 0, 3, 1));
    }

    #[test]
    fn an_older_epoch_is_refused() {
        let mut state = ProducerStateManager::default();
        appended(&mut state, &header(PID, 3, 0, 1));
        let err = append(&mut state, &header(PID, 2, 1, 1)).expect_err("old epoch");
        assert_eq!(
            err,
            SequenceError::InvalidProducerEpoch {
                producer_id: PID,
                epoch: 2,
                current: 3
            }
        );
        assert_eq!(err.error_code().code(), 47);
        // Even a batch that would be a duplicate under the old epoch.
        assert!(append(&mut state, &header(PID, 2, 0, 1)).is_err());
    }

    #[test]
    fn a_new_epoch_starts_at_zero() {
        let mut state = ProducerStateManager::default();
        appended(&mut state, &header(PID, 0, 0, 5));
        assert!(matches!(
            append(&mut state, &header(PID, 1, 5, 1)),
            Err(SequenceError::OutOfOrderSequence { last_seq: -1, .. })
        ));
        appended(&mut state, &header(PID, 1, 0, 2));
        let entry = state.get(PID).expect("entry");
        assert_eq!(entry.epoch, 1);
        assert_eq!(entry.batches().count(), 1, "old epoch's batches forgotten");
        // The old epoch is now fenced.
        assert!(matches!(
            append(&mut state, &header(PID, 0, 5, 1)),
            Err(SequenceError::InvalidProducerEpoch { .. })
        ));
        appended(&mut state, &header(PID, 1, 2, 1));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(-1, 0));
        assert!(in_sequence(41, 42));
        assert!(!in_sequence(i32::MAX, 1));
        assert!(!in_sequence(i32::MAX - 1, 0));

        let mut state = ProducerStateManager::default();
        // An unknown producer may start anywhere: three records ending exactly at MAX…
        appended(&mut state, &header(PID, 0, i32::MAX - 2, 3));
        assert_eq!(state.get(PID).expect("entry").last_seq(), i32::MAX);
        // …so the next batch starts at 0.
        appended(&mut state, &header(PID, 0, 0, 2));
        // A batch that itself wraps: MAX-1, MAX, 0, 1.
        let mut other = ProducerStateManager::default();
        let wrapping = header(PID, 0, i32::MAX - 1, 4);
        assert_eq!(wrapping.last_sequence(), 1);
        appended(&mut other, &wrapping);
        appended(&mut other, &header(PID, 0, 2, 1));
        // and its retry is still recognised.
        assert!(matches!(
            append(&mut other, &wrapping),
            Ok(Verdict::Duplicate(BatchMetadata {
                first_offset: 0,
                ..
            }))
        ));
        // A batch starting past MAX without wrapping to 0 is out of order.
        let mut third = ProducerStateManager::default();
        appended(&mut third, &header(PID, 0, i32::MAX - 1, 2));
        assert!(append(&mut third, &header(PID, 0, 5, 1)).is_err());
    }

    #[test]
    fn unknown_producer_at_any_sequence_and_non_idempotent_batches() {
        let mut state = ProducerStateManager::default();
        appended(&mut state, &header(PID, 7, 500, 1));
        assert_eq!(state.get(PID).expect("entry").epoch, 7);
        // No producer id, or no sequence: never checked, no state.
        appended(&mut state, &header(-1, -1, -1, 1));
        appended(&mut state, &header(-1, -1, -1, 1));
        appended(&mut state, &header(5, 0, -1, 1));
        appended(&mut state, &header(5, 0, -1, 1));
        assert_eq!(state.len(), 1);
    }

    #[test]
    fn batches_of_one_append_see_each_other_and_are_all_or_nothing() {
        let state = ProducerStateManager::default();
        let mut pending = PendingAppend::default();
        let a = header(PID, 0, 0, 2);
        let b = header(PID, 0, 2, 2);
        assert_eq!(pending.check(&state, &a, 0, NOW), Ok(Verdict::Append));
        assert_eq!(pending.check(&state, &b, 2, NOW), Ok(Verdict::Append));
        // The same batch twice in one append: the second is a duplicate of the first.
        assert!(matches!(
            pending.check(&state, &b, 4, NOW),
            Ok(Verdict::Duplicate(BatchMetadata {
                first_offset: 2,
                ..
            }))
        ));
        assert!(pending
            .check(&state, &header(PID, 0, 9, 1), 4, NOW)
            .is_err());
        // Nothing was committed: the manager itself is untouched.
        assert!(state.is_empty());
    }

    #[test]
    fn expiry_and_cap() {
        let mut state = ProducerStateManager::new(1000, 10);
        let mut pending = PendingAppend::default();
        for pid in 0..10 {
            let h = header(pid, 0, 0, 1);
            pending.check(&state, &h, pid, NOW + pid).expect("accepted");
        }
        state.commit(pending, 10);
        assert_eq!(state.len(), 10);
        assert_eq!(state.remove_expired(NOW + 1004), 5, "pids 0..=4 idle ≥ 1s");
        assert_eq!(state.len(), 5);
        // Over the cap: the longest idle go first.
        let mut pending = PendingAppend::default();
        for pid in 100..106 {
            pending
                .check(&state, &header(pid, 0, 0, 1), pid, NOW + pid)
                .expect("accepted");
        }
        state.commit(pending, 200);
        assert_eq!(state.len(), 9);
        assert!(state.get(5).is_none() && state.get(6).is_none());
        assert!(state.get(105).is_some());
    }

    #[test]
    fn replay_rebuilds_the_same_state() {
        let mut live = ProducerStateManager::default();
        let mut headers = Vec::new();
        for (epoch, seq, n) in [(0, 0, 2), (0, 2, 1), (1, 0, 3), (1, 3, 1)] {
            let mut h = header(PID, epoch, seq, n);
            h.base_offset = live.map_end_offset();
            appended(&mut live, &h);
            headers.push(h);
        }
        let mut rebuilt = ProducerStateManager::default();
        for h in &headers {
            rebuilt.replay(h);
        }
        assert_eq!(rebuilt.map_end_offset(), live.map_end_offset());
        let (a, b) = (
            live.get(PID).expect("live"),
            rebuilt.get(PID).expect("rebuilt"),
        );
        assert_eq!(a.epoch, b.epoch);
        assert_eq!(
            a.batches().collect::<Vec<_>>(),
            b.batches().collect::<Vec<_>>()
        );
    }

    #[test]
    fn snapshot_round_trip_and_damage() {
        let mut state = ProducerStateManager::default();
        for pid in 0..3 {
            for seq in 0..7 {
                appended(&mut state, &header(pid, 2, seq, 1));
            }
        }
        let bytes = state.encode_snapshot();
        let back = ProducerStateManager::decode_snapshot(&bytes, PRODUCER_ID_EXPIRATION_MS, 10)
            .expect("decodes");
        assert_eq!(back.map_end_offset(), 21);
        assert_eq!(back.len(), 3);
        for pid in 0..3 {
            assert_eq!(back.get(pid), state.get(pid));
        }
        for cut in [0, 5, 10, bytes.len() - 1] {
            assert!(ProducerStateManager::decode_snapshot(&bytes[..cut], 1, 10).is_none());
        }
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(ProducerStateManager::decode_snapshot(&bad, 1, 10).is_none());

        let dir = tempfile::tempdir().expect("tempdir");
        assert!(ProducerStateManager::read_snapshot(dir.path(), 1, 10)
            .expect("read")
            .is_none());
        state.write_snapshot(dir.path()).expect("write");
        let read = ProducerStateManager::read_snapshot(dir.path(), PRODUCER_ID_EXPIRATION_MS, 10)
            .expect("read")
            .expect("present");
        assert_eq!(read.get(1), state.get(1));
        fs::write(dir.path().join(SNAPSHOT_FILE), b"SLPS").expect("damage");
        assert!(ProducerStateManager::read_snapshot(dir.path(), 1, 10).is_err());
    }
}
