//! `PartitionLog`: the segments of one topic-partition directory, and everything the partition
//! actor asks of its storage (append, read, offsets by time, flush, retention, recovery).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tracing::{info, warn};

use crate::record::BatchHeader;
use crate::storage::checkpoint::{self, Checkpoint};
use crate::storage::cleaner::{CleanedGroup, LogView, SegmentInfo};
use crate::storage::error::{AppendError, ReadError, StorageError};
use crate::storage::files::{with_path, CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::storage::index::{OFFSET_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE};
use crate::storage::leader_epoch::LeaderEpochCache;
use crate::storage::loader;
use crate::storage::producer_snapshot;
use crate::storage::producer_state::{PendingAppend, ProducerStateManager, Verdict};
use crate::storage::retention::{self, Cause};
use crate::storage::scan::{ScanCounters, ScanStats};
use crate::storage::segment::recovery::LoadMode;
use crate::storage::segment::{LogSegment, MAX_SEGMENT_BYTES};
use crate::storage::segments::LogSegments;
use crate::storage::validator::{self, Piece};
use crate::util::fs::sync_dir;

pub use crate::storage::config::LogConfig;
pub use crate::storage::loader::{OpenHints, RecoveryStats};
pub use crate::storage::retention::RetentionOutcome;
pub use crate::storage::slice::FileSlice;

/// The result of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The stamped time for LogAppendTime topics, otherwise -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// Headers of the batches as stored (offsets assigned, timestamps stamped); duplicates of
    /// batches already in the log are not among them.
    pub batches: Vec<BatchHeader>,
    pub bytes: usize,
    /// Every batch was a retry of one already written: nothing was written and the offsets
    /// are those of the original.
    pub duplicate: bool,
}

/// One append input, checked and given its offsets, waiting to be written.
struct Staged {
    /// The answer once written (`batches` is filled in then).
    info: AppendInfo,
    /// Offset of its first batch to write, and the log end after it.
    base_offset: i64,
    next_offset: i64,
    max_timestamp: i64,
    /// Its producer-state changes, until they move into the stage's.
    pending: PendingAppend,
    /// What to write, in order.
    pieces: Vec<Piece>,
    /// Headers of the batches as stored.
    batches: Vec<BatchHeader>,
    now_ms: i64,
}

enum Prepared {
    Write(Staged),
    /// Every batch was a retry of one already written: answered, nothing to write.
    Duplicate(AppendInfo),
}

/// Inputs gathered for one write.
struct Stage {
    /// The log end after the staged inputs.
    next_offset: i64,
    bytes: u64,
    max_timestamp: i64,
    /// The producer-state changes of all of them.
    pending: PendingAppend,
    /// (index of the input, the input).
    members: Vec<(usize, Staged)>,
}

impl Stage {
    fn new(log_end_offset: i64) -> Stage {
        Stage {
            next_offset: log_end_offset,
            bytes: 0,
            max_timestamp: -1,
            pending: PendingAppend::default(),
            members: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn add(&mut self, input: usize, mut staged: Staged) {
        self.next_offset = staged.next_offset;
        self.bytes += staged.info.bytes as u64;
        self.max_timestamp = self.max_timestamp.max(staged.max_timestamp);
        self.pending.absorb(std::mem::take(&mut staged.pending));
        self.members.push((input, staged));
    }
}

/// One topic-partition's log. See the module docs of [`crate::storage`].
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty: the last segment is the active one.
    segments: LogSegments,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Every offset below it is on disk (fsynced).
    recovery_point: i64,
    /// Append time of the oldest record not yet fsynced, for `flush.ms`.
    first_unflushed_ms: Option<i64>,
    recovery_stats: RecoveryStats,
    counters: ScanCounters,
    /// Idempotent producers' epochs and last batches (see [`crate::storage::producer_state`]).
    producers: ProducerStateManager,
    /// Our clean-shutdown marker is still on disk: the directory is byte for byte what the last
    /// clean close left. It stays until the first change to the files (see [`Self::touch`]), so
    /// opening a clean partition costs no write and no fsync, and closing one that was never
    /// written to costs nothing either.
    pristine: bool,
    /// The partition's leader epoch, from the metadata image (see
    /// [`set_leader_epoch`](Self::set_leader_epoch)); stamped on every batch appended. -1 until
    /// told.
    leader_epoch: i32,
    /// Kafka's leader-epoch cache, mirrored in `leader-epoch-checkpoint`.
    leader_epochs: LeaderEpochCache,
    /// The batches of the latest write, from its first offset to the log end (see
    /// [`take_last_write`](Self::take_last_write)).
    last_write: Option<FileSlice>,
    /// Files of deleted segments, renamed `.deleted`, each with when it may be removed
    /// (`file.delete.delay.ms` after the deletion), oldest first. See
    /// [`remove_deleted_files`](Self::remove_deleted_files).
    deleted_files: Vec<(i64, Vec<PathBuf>)>,
}

impl PartitionLog {
    /// Opens (creating it if missing) the partition directory `dir` and recovers it.
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, StorageError> {
        PartitionLog::open_with_hints(dir, config, OpenHints::default())
    }

    /// Opens `dir`. A clean shutdown (our marker, or `hints.kafka_clean_shutdown`) trusts
    /// every segment: indexes are sanity-checked and only the headers after each segment's last
    /// index entry are walked. Otherwise every segment that may hold offsets at or past the
    /// checkpointed recovery point is validated batch by batch, truncated at the first bad byte,
    /// and the segments after a corrupt point are deleted. Missing or damaged indexes are rebuilt
    /// in every case.
    pub fn open_with_hints(
        dir: &Path,
        config: LogConfig,
        hints: OpenHints,
    ) -> Result<PartitionLog, StorageError> {
        let loaded = loader::load(dir, &config, hints)?;
        let (log_start_offset, log_end_offset) = (loaded.log_start_offset, loaded.log_end_offset);
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments: loaded.segments,
            log_start_offset,
            log_end_offset,
            // Trusted segments were fsynced before the stop; recovered ones were just fsynced.
            recovery_point: log_end_offset,
            first_unflushed_ms: None,
            recovery_stats: loaded.stats,
            counters: loaded.counters,
            producers: loaded.producers,
            pristine: loaded.own_clean,
            leader_epoch: loaded.leader_epochs.latest_epoch().unwrap_or(-1),
            leader_epochs: loaded.leader_epochs,
            last_write: None,
            deleted_files: Vec::new(),
        };
        if loaded.leader_epochs_changed {
            log.write_leader_epochs();
        }
        let unchanged = loaded.on_disk
            == Some(Checkpoint {
                log_start_offset,
                recovery_point: log_end_offset,
            });
        if loaded.repaired || !unchanged {
            log.touch()?;
            log.write_checkpoint()?;
        }
        let stats = &log.recovery_stats;
        if stats.segments_recovered > 0
            || stats.bytes_truncated > 0
            || stats.indexes_rebuilt > 0
            || stats.swap_files_completed > 0
            || stats.cleaner_files_deleted > 0
        {
            info!(
                dir = %dir.display(),
                clean_shutdown = stats.clean_shutdown,
                segments = stats.segments_loaded,
                segments_recovered = stats.segments_recovered,
                indexes_rebuilt = stats.indexes_rebuilt,
                bytes_validated = stats.bytes_validated,
                bytes_truncated = stats.bytes_truncated,
                segments_deleted = stats.segments_deleted,
                cleaner_files_deleted = stats.cleaner_files_deleted,
                swap_files_completed = stats.swap_files_completed,
                log_start_offset,
                log_end_offset,
                "partition log recovered"
            );
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Called before anything in the directory changes: removes the clean-shutdown marker (and
    /// makes the removal durable) if it is still there, so that a crash from here on is never
    /// mistaken for a clean stop.
    fn touch(&mut self) -> io::Result<()> {
        if self.pristine {
            checkpoint::take_clean_shutdown(&self.dir)?;
            self.pristine = false;
        }
        Ok(())
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Everything appended is committed on a single broker.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.size_bytes()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.base_offsets()
    }

    /// What the open found and did.
    pub fn recovery_stats(&self) -> &RecoveryStats {
        &self.recovery_stats
    }

    /// Disk reads done so far by lookups and scans (not by `FileSlice::read`).
    pub fn scan_stats(&self) -> ScanStats {
        self.counters.snapshot()
    }

    /// Validates and appends the batches in `records` (one Produce partition's data: one or more
    /// batches back to back). Offsets are assigned and LogAppendTime is stamped if configured;
    /// then the batches go to the active segment (rolled first if needed) with one write. All or
    /// nothing: a bad batch appends nothing. Nothing is fsynced here; call
    /// [`maybe_flush`](Self::maybe_flush) before acknowledging. Same as [`append_all`] with one
    /// input.
    ///
    /// Batches of idempotent producers are first checked against the producer state (see
    /// [`crate::storage::producer_state`]): an old epoch or a sequence gap refuses the whole append; a
    /// retry of one of a producer's last five batches is not written again. When every batch is
    /// such a retry, the answer carries the original offsets and `duplicate`; when only some
    /// are, only the others are written and `base_offset` is still that of the first batch
    /// (its original offset if it was a retry).
    ///
    /// [`append_all`]: Self::append_all
    pub fn append(
        &mut self,
        records: impl Into<Bytes>,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.append_all(vec![records.into()], now_ms)
            .pop()
            .unwrap_or(Err(AppendError::Empty))
    }

    /// Appends several inputs (e.g. the Produce requests a partition actor found in its mailbox)
    /// as if one after the other with [`append`](Self::append), each with its own outcome, but
    /// with one vectored write for all of them — fewer if the segment must roll between two.
    ///
    /// The record bytes are never copied: each batch is written straight from its input, with
    /// its new 8-byte base offset as a separate piece of the vectored write (the base offset is
    /// outside the CRC). Only LogAppendTime batches, whose stamped fields the CRC covers, are
    /// copied to be rewritten.
    pub fn append_all(
        &mut self,
        inputs: Vec<Bytes>,
        now_ms: i64,
    ) -> Vec<Result<AppendInfo, AppendError>> {
        let mut results: Vec<Option<Result<AppendInfo, AppendError>>> =
            inputs.iter().map(|_| None).collect();
        let mut stage = Stage::new(self.log_end_offset);
        for (i, records) in inputs.into_iter().enumerate() {
            let prepared = match self.prepare(records, &stage, now_ms) {
                Ok(Prepared::Write(p)) => p,
                Ok(Prepared::Duplicate(info)) => {
                    results[i] = Some(Ok(info));
                    continue;
                }
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            if !stage.is_empty() && self.must_write_before(&stage, &prepared, now_ms) {
                // Written first so that the next one sees the segment as a lone append would
                // (roll rules); its offsets follow the staged ones either way.
                let staged = std::mem::replace(&mut stage, Stage::new(prepared.base_offset));
                if let Err(e) = self.write_stage(staged, &mut results) {
                    results[i] = Some(Err(e));
                    stage = Stage::new(self.log_end_offset);
                    continue;
                }
            }
            if stage.is_empty() {
                if let Err(e) = self.make_room(&prepared, now_ms) {
                    results[i] = Some(Err(e));
                    continue;
                }
            }
            stage.add(i, prepared);
        }
        if !stage.is_empty() {
            // An error here is already recorded for every input of the stage.
            let _ = self.write_stage(stage, &mut results);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(AppendError::Empty)))
            .collect()
    }

    /// The batches written by the latest write (the last stage of the latest
    /// [`append_all`](Self::append_all)): a slice from its first offset to the log end, as
    /// [`read`](Self::read) at that offset would give it with room for all of it. `None` once
    /// taken, or if anything but a write happened since.
    pub fn take_last_write(&mut self) -> Option<FileSlice> {
        self.last_write
            .take()
            .filter(|w| w.first_offset >= self.log_start_offset)
    }

    /// Checks one input and gives its batches their offsets, following what is staged.
    fn prepare(&self, records: Bytes, stage: &Stage, now_ms: i64) -> Result<Prepared, AppendError> {
        let layout = validator::validate_batches(&records, &self.config, now_ms, &self.dir)?;

        // Idempotent producers: check every batch's epoch and sequence before anything is
        // written; retries of batches already in the log are answered, not written again.
        let mut pending = PendingAppend::default();
        let mut duplicates = Vec::new();
        let mut first_duplicate = None;
        let mut next_offset = stage.next_offset;
        for (index, (_, header)) in layout.iter().enumerate() {
            match pending.check_after(
                &stage.pending,
                &self.producers,
                header,
                next_offset,
                now_ms,
            )? {
                Verdict::Append => {
                    next_offset = next_offset
                        .checked_add(i64::from(header.last_offset_delta) + 1)
                        .ok_or(AppendError::OffsetOverflow)?;
                }
                Verdict::Duplicate(original) => {
                    if index == 0 {
                        first_duplicate = Some(original);
                    }
                    duplicates.push((index, original));
                }
            }
        }
        if let (true, Some(first)) = (duplicates.len() == layout.len(), first_duplicate) {
            let last = duplicates
                .iter()
                .map(|(_, d)| d.last_offset())
                .max()
                .unwrap_or(first.last_offset());
            return Ok(Prepared::Duplicate(AppendInfo {
                base_offset: first.first_offset,
                last_offset: last,
                log_append_time: if self.config.timestamp_type_log_append {
                    first.timestamp
                } else {
                    -1
                },
                log_start_offset: self.log_start_offset,
                batches: Vec::new(),
                bytes: 0,
                duplicate: true,
            }));
        }

        // Assign offsets (and stamp the time) to the batches to write, duplicates left out.
        let base_offset = stage.next_offset;
        let skip: Vec<usize> = duplicates.iter().map(|&(i, _)| i).collect();
        let validator::Assigned {
            pieces,
            batches,
            bytes,
            next_offset,
        } = validator::assign_offsets(
            &records,
            &layout,
            &skip,
            validator::Stamp {
                base_offset,
                leader_epoch: self.leader_epoch,
                now_ms,
            },
            &self.config,
            &mut pending,
        )?;
        let last_offset = next_offset - 1;
        let max_timestamp = batches.iter().map(|b| b.max_timestamp).max().unwrap_or(-1);
        Ok(Prepared::Write(Staged {
            info: AppendInfo {
                base_offset: first_duplicate.map_or(base_offset, |d| d.first_offset),
                last_offset,
                log_append_time: if self.config.timestamp_type_log_append {
                    now_ms
                } else {
                    -1
                },
                log_start_offset: self.log_start_offset,
                batches: Vec::new(),
                bytes,
                duplicate: false,
            },
            base_offset,
            next_offset,
            max_timestamp,
            pending,
            pieces,
            batches,
            now_ms,
        }))
    }

    /// Whether the staged appends must be written before `next` is staged: when `next` alone
    /// would roll the segment (or the segment is still empty, whose roll rules depend on its
    /// first batch), so that rolls happen exactly where lone appends would make them.
    fn must_write_before(&mut self, stage: &Stage, next: &Staged, now_ms: i64) -> bool {
        let Ok(active) = self.segments.active() else {
            return true;
        };
        if active.size() == 0 {
            return true;
        }
        active
            .should_roll(
                stage.bytes + next.info.bytes as u64,
                stage.max_timestamp.max(next.max_timestamp),
                next.next_offset - 1,
                now_ms,
                &self.config,
                &self.counters,
            )
            .unwrap_or(true)
    }

    /// Before the first input of a stage: rolls the segment if that input requires it, as a lone
    /// append does, and checks its offsets fit the active segment.
    fn make_room(&mut self, first: &Staged, now_ms: i64) -> Result<(), AppendError> {
        self.touch()?;
        let last_offset = first.next_offset - 1;
        let active = self.segments.active()?;
        if active.should_roll(
            first.info.bytes as u64,
            first.max_timestamp,
            last_offset,
            now_ms,
            &self.config,
            &self.counters,
        )? {
            self.roll(now_ms)?;
        }
        let active = self.segments.active()?;
        if !active.offset_index().can_append_offset(last_offset) {
            return Err(AppendError::OffsetOverflow);
        }
        Ok(())
    }

    /// Writes a stage with one vectored write and commits it (log end, producer state); fills in
    /// the result of every input in it. On a write error nothing is committed and every input of
    /// the stage gets the error.
    fn write_stage(
        &mut self,
        stage: Stage,
        results: &mut [Option<Result<AppendInfo, AppendError>>],
    ) -> Result<(), AppendError> {
        let segment_limit = self.config.segment_bytes.min(MAX_SEGMENT_BYTES);
        let written = self.touch().and_then(|()| {
            let active = self.segments.active()?;
            let pieces: Vec<&[u8]> = stage
                .members
                .iter()
                .flat_map(|(_, m)| m.pieces.iter().map(Piece::as_slice))
                .collect();
            let batches: Vec<BatchHeader> = stage
                .members
                .iter()
                .flat_map(|(_, m)| m.batches.iter().copied())
                .collect();
            active.append_pieces(&pieces, &batches, segment_limit)
        });
        if let Err(e) = written {
            for (input, _) in &stage.members {
                if let Some(slot) = results.get_mut(*input) {
                    *slot = Some(Err(io::Error::new(e.kind(), e.to_string()).into()));
                }
            }
            return Err(e.into());
        }
        let written: usize = stage.members.iter().map(|(_, m)| m.info.bytes).sum();
        self.last_write =
            self.segments.active().ok().and_then(|active| {
                active.tail_slice(written, stage.members.first()?.1.base_offset)
            });
        if let Some((_, first)) = stage.members.first() {
            // One comparison per write; an entry only when the epoch is new to the log.
            if self.leader_epochs.latest_epoch() != Some(self.leader_epoch)
                && self
                    .leader_epochs
                    .assign(self.leader_epoch, first.base_offset)
            {
                self.write_leader_epochs();
            }
        }
        self.log_end_offset = stage.next_offset;
        self.producers.commit(stage.pending, stage.next_offset);
        for (input, member) in stage.members {
            self.first_unflushed_ms.get_or_insert(member.now_ms);
            let mut info = member.info;
            info.batches = member.batches;
            if let Some(slot) = results.get_mut(input) {
                *slot = Some(Ok(info));
            }
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset. The old one gets its final time-index
    /// entry and is fsynced (Kafka does this asynchronously; here it is part of the append that
    /// rolls), so the recovery point moves to the new base and is checkpointed.
    fn roll(&mut self, now_ms: i64) -> io::Result<()> {
        let new_base = self.log_end_offset;
        let old_base = self
            .segments
            .roll(&self.dir, new_base, &self.config, now_ms)?;
        self.recovery_point = self.recovery_point.max(new_base);
        self.write_checkpoint()?;
        // As Kafka does at every roll: after an unclean stop only the active segment is scanned.
        self.write_producer_snapshot();
        info!(
            dir = %self.dir.display(),
            old_base_offset = old_base,
            new_base_offset = new_base,
            "rolled segment"
        );
        Ok(())
    }

    /// Writes the producer-state snapshot as of the log end. A failure is logged, not raised:
    /// the snapshot only shortens the next open's scan.
    fn write_producer_snapshot(&mut self) {
        self.producers.set_map_end_offset(self.log_end_offset);
        if let Err(e) = self.producers.write_snapshot(&self.dir) {
            warn!(dir = %self.dir.display(), error = %e, "cannot write the producer state snapshot");
        }
        self.prune_producer_snapshots();
    }

    /// Removes Kafka-format producer snapshots no remaining segment needs (see
    /// [`producer_snapshot::remove_stray`]); after a roll, a close and a segment deletion.
    fn prune_producer_snapshots(&self) {
        let bases = self.segments.base_offsets();
        if let Err(e) = producer_snapshot::remove_stray(&self.dir, &bases, self.log_end_offset) {
            warn!(dir = %self.dir.display(), error = %e, "cannot remove old producer snapshots");
        }
    }

    /// The partition's leader epoch, as the metadata image has it: stamped in the
    /// `partitionLeaderEpoch` of every batch appended from now on, and recorded at the log end in
    /// the leader-epoch cache (as Kafka's leader does when it takes over) if it is newer than the
    /// cache's latest. An epoch older than the cache's latest is stamped but not recorded (the
    /// log's own history wins; a warning says so).
    pub fn set_leader_epoch(&mut self, epoch: i32) {
        if epoch == self.leader_epoch {
            return;
        }
        self.leader_epoch = epoch;
        match self.leader_epochs.latest_epoch() {
            Some(latest) if epoch < latest => warn!(
                dir = %self.dir.display(),
                epoch,
                latest,
                "leader epoch older than the log's latest"
            ),
            _ => {
                if self.leader_epochs.assign(epoch, self.log_end_offset) {
                    self.write_leader_epochs();
                }
            }
        }
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The leader-epoch cache (`leader-epoch-checkpoint`).
    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.leader_epochs
    }

    /// Writes `leader-epoch-checkpoint`. A failure is logged: the cache in memory is still
    /// right, and the next open rebuilds a damaged or stale file from the batches it validates.
    fn write_leader_epochs(&self) {
        if let Err(e) = self.leader_epochs.write(&self.dir) {
            warn!(dir = %self.dir.display(), error = %e, "cannot write leader-epoch-checkpoint");
        }
    }

    /// The log start moved up: the epoch entry below it moves with it.
    fn truncate_leader_epochs_from_start(&mut self) {
        if self
            .leader_epochs
            .truncate_from_start(self.log_start_offset)
        {
            self.write_leader_epochs();
        }
    }

    /// The idempotent producers' state.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// Forgets producers idle for longer than `producer.id.expiration.ms`; returns how many.
    pub fn expire_producers(&mut self, now_ms: i64) -> usize {
        self.producers.remove_expired(now_ms)
    }

    fn write_checkpoint(&self) -> io::Result<()> {
        checkpoint::write(
            &self.dir,
            Checkpoint {
                log_start_offset: self.log_start_offset,
                recovery_point: self.recovery_point,
            },
        )
    }

    /// Whole batches starting with the batch containing `offset`, up to `max_bytes`, but at least
    /// one whole batch when `min_one` (KIP-74) even if larger. Data from one segment per call;
    /// never a partial batch. `offset == log_end_offset` gives an empty slice.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<FileSlice, ReadError> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        if offset == self.log_end_offset {
            return Ok(FileSlice::empty());
        }
        Ok(self
            .segments
            .read(offset, max_bytes, min_one, &self.counters)?)
    }

    /// ListOffsets by timestamp: the first record at or after the log start whose timestamp is
    /// `≥ timestamp`, as `(offset, timestamp)`; `None` if every record is older. Uncompressed
    /// batches are decoded to find the exact record; for a compressed batch the answer is the
    /// batch's first offset (at or after the log start) with its max timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        Ok(self
            .segments
            .offset_for_timestamp(timestamp, self.log_start_offset, &self.counters)?)
    }

    /// ListOffsets -3 (MAX_TIMESTAMP): `(offset, timestamp)` of the record with the largest
    /// timestamp (the first segment holding it wins), or `None` if no record has a timestamp.
    pub fn max_timestamp_offset(&self) -> Option<(i64, i64)> {
        self.segments.max_timestamp_offset(&self.counters)
    }

    /// fsync the active segment and its indexes; every appended offset becomes durable and the
    /// recovery point moves to the log end. (Older segments were fsynced when they rolled.)
    /// The checkpoint file is not rewritten here (only on open, roll, log-start changes and
    /// close): recovery works on whole segments, so a finer recovery point on disk would not
    /// shorten it.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pristine {
            return Ok(()); // nothing written since the last clean close
        }
        self.segments.active()?.flush()?;
        self.recovery_point = self.log_end_offset;
        self.first_unflushed_ms = None;
        Ok(())
    }

    /// Applies `flush.messages` and `flush.ms`: flushes if at least `flush_interval_messages`
    /// records are unflushed, or the oldest unflushed one was appended `flush_interval_ms` ago.
    /// Returns whether it flushed. Call it after each append (before acknowledging) and on a timer.
    pub fn maybe_flush(&mut self, now_ms: i64) -> io::Result<bool> {
        let unflushed = self.log_end_offset - self.recovery_point;
        if unflushed <= 0 {
            self.first_unflushed_ms = None;
            return Ok(false);
        }
        let by_count = u64::try_from(unflushed).unwrap_or(0) >= self.config.flush_interval_messages;
        let by_time = match (self.config.flush_interval_ms, self.first_unflushed_ms) {
            (Some(interval), Some(since)) => {
                now_ms.saturating_sub(since) >= i64::try_from(interval).unwrap_or(i64::MAX)
            }
            _ => false,
        };
        if by_count || by_time {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Deletes whole segments, oldest first, never the active one: those whose largest timestamp
    /// is more than `retention_ms` old, then as many as needed to bring the size down to
    /// `retention_bytes`, then those wholly below the log start offset. The log start offset
    /// moves up to the first remaining segment.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome, StorageError> {
        let doomed = retention::segments_past_retention(
            &self.segments,
            &self.config,
            self.log_start_offset,
            now_ms,
        );
        let mut outcome = RetentionOutcome::default();
        if !doomed.is_empty() {
            self.touch()?;
            let mut later = Vec::new();
            let deleted = retention::delete_segments(
                &mut self.segments,
                &self.dir,
                &doomed,
                Cause::Retention,
                &self.config,
                &mut later,
            );
            self.remove_later(now_ms, later);
            (outcome.segments_deleted, outcome.bytes_deleted) = deleted?;
            self.advance_log_start_to_first_segment()?;
        }
        outcome.log_start_offset = self.log_start_offset;
        Ok(outcome)
    }

    fn advance_log_start_to_first_segment(&mut self) -> io::Result<()> {
        self.prune_producer_snapshots();
        let first = self
            .segments
            .first_base_offset()
            .unwrap_or(self.log_end_offset);
        if first > self.log_start_offset {
            self.log_start_offset = first;
            self.write_checkpoint()?;
            self.truncate_leader_epochs_from_start();
        }
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1 = the high watermark) and
    /// deletes the segments wholly below it (never the active one). Refused (POLICY_VIOLATION)
    /// when the cleanup policy lacks `delete`, as Kafka refuses it. An offset below the current
    /// log start changes nothing. Returns the new log start offset (the low watermark).
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, ReadError> {
        if !self.config.delete {
            // As Kafka: a log without the delete policy gives up no records on request.
            return Err(ReadError::PolicyViolation);
        }
        let target = if offset == -1 {
            self.high_watermark()
        } else {
            offset
        };
        if target < 0 || target > self.high_watermark() {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        if target <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.touch()?;
        self.log_start_offset = target;
        // Durable before anything is deleted, so a crash cannot bring the records back.
        self.write_checkpoint()?;
        let below = retention::segments_below(&self.segments, target);
        let mut later = Vec::new();
        let deleted = retention::delete_segments(
            &mut self.segments,
            &self.dir,
            &below,
            Cause::BelowLogStart,
            &self.config,
            &mut later,
        );
        self.remove_later(crate::util::clock::now_ms(), later);
        deleted?;
        self.prune_producer_snapshots();
        self.truncate_leader_epochs_from_start();
        Ok(self.log_start_offset)
    }

    /// The active segment's roll jitter (`segment.jitter.ms`).
    #[cfg(test)]
    pub(crate) fn active_roll_jitter_ms(&mut self) -> i64 {
        self.segments
            .active()
            .map(|s| s.roll_jitter_ms())
            .unwrap_or(-1)
    }

    /// Queues `files` (renamed `.deleted`) for removal `file.delete.delay.ms` after `now_ms`.
    fn remove_later(&mut self, now_ms: i64, files: Vec<PathBuf>) {
        if !files.is_empty() {
            let delay = i64::try_from(self.config.file_delete_delay_ms).unwrap_or(i64::MAX);
            self.deleted_files
                .push((now_ms.saturating_add(delay), files));
        }
    }

    /// When the next deleted segment's files are due for removal, if any wait.
    pub fn next_file_removal(&self) -> Option<i64> {
        self.deleted_files.iter().map(|(due, _)| *due).min()
    }

    /// Removes the files of deleted segments whose `file.delete.delay.ms` has passed by
    /// `now_ms`; returns how many files went. (Those still waiting at a stop are removed by the
    /// next open, which removes every `.deleted` file, as Kafka's does.)
    pub fn remove_deleted_files(&mut self, now_ms: i64) -> io::Result<usize> {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deleted_files)
            .into_iter()
            .partition(|(at, _)| *at <= now_ms);
        self.deleted_files = waiting;
        let mut removed = 0;
        for (_, files) in due {
            crate::storage::files::remove_files(&files)?;
            removed += files.len();
        }
        Ok(removed)
    }

    /// What the log cleaner needs: every segment but the active one, with its open file (see
    /// [`crate::storage::cleaner`]). Cheap: no file is read.
    pub fn cleaner_view(&self) -> LogView {
        let segments = self
            .segments
            .inactive()
            .map(|(s, next)| SegmentInfo {
                base_offset: s.base_offset(),
                next_base_offset: next,
                size: s.size(),
                file: Arc::clone(s.file()),
                largest_timestamp: s.largest_timestamp(),
                offset_index_bytes: (s.offset_index().len() * OFFSET_INDEX_ENTRY_SIZE) as u64,
                time_index_bytes: (s.time_index().len() * TIME_INDEX_ENTRY_SIZE) as u64,
            })
            .collect();
        LogView {
            dir: self.dir.clone(),
            config: self.config.clone(),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            active_base_offset: self
                .segments
                .last_base_offset()
                .unwrap_or(self.log_end_offset),
            segments,
            producer_last_offsets: self.producers.last_data_offsets(),
        }
    }

    /// Swaps a group the log cleaner wrote in for the segments it was cleaned from (Kafka's
    /// `replaceSegments`), if those are still exactly the segments of the log (same files, none
    /// of them the active one); returns false, changing nothing, if not (retention or
    /// DeleteRecords took some meanwhile: that clean is discarded).
    ///
    /// ```text
    /// {base}.log.cleaned (+ .index, .timeindex) ─rename─▶ .swap ─▶ old segments deleted
    ///                                                     ─rename─▶ {base}.log (+ indexes)
    /// ```
    ///
    /// Each step is followed by a directory fsync; a crash at any point is finished or undone by
    /// the next open (`loader::complete_interrupted_swaps`). A read already holding an old
    /// segment's file goes on reading it.
    pub fn replace_segments(&mut self, group: &CleanedGroup, now_ms: i64) -> io::Result<bool> {
        let Some(&(last_old, _)) = group.old.last() else {
            return Ok(false);
        };
        let still_there = group.base_offset == group.old[0].0
            && self
                .segments
                .last_base_offset()
                .is_some_and(|active| active > last_old)
            && group.old.iter().all(|(base, file)| {
                self.segments
                    .get(*base)
                    .is_some_and(|s| Arc::ptr_eq(s.file(), file))
            });
        if !still_there {
            return Ok(false);
        }
        self.touch()?;
        let cleaned = group.files(CLEANED_SUFFIX);
        let swap = group.files(SWAP_SUFFIX);
        let live = group.files("");
        for (from, to) in cleaned.iter().zip(&swap) {
            fs::rename(from, to).map_err(|e| with_path(e, from))?;
        }
        sync_dir(&self.dir)?;
        for (base, _) in &group.old {
            if let Some(segment) = self.segments.remove(*base) {
                segment.delete()?;
            }
        }
        for (from, to) in swap.iter().zip(&live) {
            fs::rename(from, to).map_err(|e| with_path(e, from))?;
        }
        sync_dir(&self.dir)?;
        let next_base = self.segments.next_base_after(group.base_offset);
        let (segment, _) = LogSegment::load(
            &self.dir,
            group.base_offset,
            &self.config,
            LoadMode::Trust,
            next_base,
            &self.counters,
            now_ms,
        )?;
        self.segments.insert(segment);
        self.last_write = None;
        Ok(true)
    }

    /// Changes the configuration; it applies to the next appends, rolls and retention passes.
    pub fn set_config(&mut self, config: LogConfig) {
        self.segments.set_config(&config);
        self.config = config;
    }

    /// Clean shutdown: the active segment gets its final time-index entry, everything is fsynced,
    /// the producer state is snapshotted at the log end, the checkpoint records the log end as
    /// the recovery point, and the clean-shutdown marker is written so the next open skips
    /// validation (and, with the snapshot, the producer-state scan).
    pub fn close(mut self) -> io::Result<()> {
        if self.pristine {
            // Nothing changed since the clean close that left the marker: it still holds.
            return Ok(());
        }
        let active = self.segments.active()?;
        active.append_final_time_index_entry()?;
        active.trim_preallocation()?;
        self.flush()?;
        self.write_producer_snapshot();
        self.write_checkpoint()?;
        checkpoint::write_clean_shutdown(&self.dir)
    }
}
