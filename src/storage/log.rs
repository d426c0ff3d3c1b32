//! `PartitionLog`: the segments of one topic-partition directory, and everything the partition
//! actor asks of its storage (append, read, offsets by time, flush, retention, recovery).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tracing::{info, warn};

use super::checkpoint::{self, Checkpoint};
use super::error::{AppendError, ReadError, StorageError};
use super::producer_state::{
    PendingAppend, ProducerStateManager, Verdict, MAX_PRODUCERS, PRODUCER_ID_EXPIRATION_MS,
};
use super::segment::{
    delete_segment_files, parse_segment_file_name, LoadMode, LogSegment, ScanCounters, ScanStats,
    DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, MAX_SEGMENT_BYTES, TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
};
use crate::record::{self, BatchHeader};
use crate::util::clock::now_ms;
use crate::util::fs::sync_dir;

/// Per-partition log settings; names follow Kafka's topic configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll before a segment would grow past this (capped at `i32::MAX`).
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the new data is this much newer than the segment's first batch.
    pub roll_ms: i64,
    /// `index.interval.bytes`: bytes appended between two index entries.
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: the largest index file; a full index rolls the segment.
    pub max_index_size: usize,
    /// `retention.ms`; negative disables time retention.
    pub retention_ms: i64,
    /// `retention.bytes`; negative disables size retention.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type=LogAppendTime`.
    pub timestamp_type_log_append: bool,
    /// `flush.messages`: fsync once this many records are unflushed.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync once the oldest unflushed record is this old.
    pub flush_interval_ms: Option<u64>,
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            roll_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            max_index_size: 10 << 20,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type_log_append: false,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: None,
        }
    }
}

/// What the caller knows of Kafka's own state for this partition, from the files Kafka keeps at
/// the root of `log.dirs`. sluice's checkpoint in the partition directory, when present, wins
/// over `recovery_point` and `log_start_offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenHints {
    /// Kafka's `<log.dirs>/.kafka_cleanshutdown` exists: trust the files as after a clean sluice
    /// close (indexes are still checked, and rebuilt if missing or damaged). The caller owns that
    /// file; the partition log never touches it.
    pub kafka_clean_shutdown: bool,
    /// This partition's line in `<log.dirs>/recovery-point-offset-checkpoint`: after an unclean
    /// stop, segments wholly below it are not re-validated. Without it, validation starts at 0.
    pub recovery_point: Option<i64>,
    /// This partition's line in `<log.dirs>/log-start-offset-checkpoint` (DeleteRecords).
    pub log_start_offset: Option<i64>,
}

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

/// A byte range of one segment file, read outside the actor by the connection: `pread` on a
/// shared handle. It covers whole batches only, all written before the slice was made, so reading
/// it never waits for or races an append. A segment deleted meanwhile stays readable (the handle
/// keeps the unlinked file alive).
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Option<Arc<File>>,
    pub position: u64,
    pub len: usize,
    /// Base offset of the first batch in the slice (-1 when there is none).
    pub first_offset: i64,
}

impl FileSlice {
    pub fn empty() -> Self {
        FileSlice {
            file: None,
            position: 0,
            len: 0,
            first_offset: -1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read(&self) -> io::Result<Bytes> {
        match &self.file {
            Some(file) if self.len > 0 => {
                let mut buf = vec![0u8; self.len];
                file.read_exact_at(&mut buf, self.position)?;
                Ok(Bytes::from(buf))
            }
            _ => Ok(Bytes::new()),
        }
    }
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

/// A piece of a vectored write: a batch's new base offset, or bytes of a batch.
enum Piece {
    BaseOffset([u8; 8]),
    Data(Bytes),
}

impl Piece {
    fn as_slice(&self) -> &[u8] {
        match self {
            Piece::BaseOffset(b) => b,
            Piece::Data(d) => d,
        }
    }
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

/// What opening the directory found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// A clean-shutdown marker (ours, or Kafka's via [`OpenHints`]) was present.
    pub clean_shutdown: bool,
    /// The recovery point the open started from (`None` after a clean shutdown).
    pub recovery_point: Option<i64>,
    pub segments_loaded: usize,
    /// Segments whose every batch was validated.
    pub segments_recovered: usize,
    /// Segments whose index files were missing or damaged and were rebuilt.
    pub indexes_rebuilt: usize,
    pub batches_validated: u64,
    pub bytes_validated: u64,
    pub bytes_truncated: u64,
    /// Segments deleted because they followed a corrupt point.
    pub segments_deleted: usize,
    /// End offset of the producer-state snapshot the open started from, if one was usable.
    pub producer_snapshot_offset: Option<i64>,
    /// Batch headers read to rebuild producer state past the snapshot.
    pub producer_batches_scanned: u64,
    /// Producers known after the open.
    pub producers: usize,
}

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start_offset: i64,
}

/// One topic-partition's log. See the module docs of [`crate::storage`].
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty: the last segment is the active one.
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    /// Every offset below it is on disk (fsynced).
    recovery_point: i64,
    /// Append time of the oldest record not yet fsynced, for `flush.ms`.
    first_unflushed_ms: Option<i64>,
    recovery_stats: RecoveryStats,
    counters: ScanCounters,
    /// Idempotent producers' epochs and last batches (see [`super::producer_state`]).
    producers: ProducerStateManager,
    /// Our clean-shutdown marker is still on disk: the directory is byte for byte what the last
    /// clean close left. It stays until the first change to the files (see [`Self::touch`]), so
    /// opening a clean partition costs no write and no fsync, and closing one that was never
    /// written to costs nothing either.
    pristine: bool,
    /// The batches of the latest write, from its first offset to the log end (see
    /// [`take_last_write`](Self::take_last_write)).
    last_write: Option<FileSlice>,
}

fn active_of(segments: &mut BTreeMap<i64, LogSegment>) -> io::Result<&mut LogSegment> {
    segments
        .values_mut()
        .next_back()
        .ok_or_else(|| io::Error::other("partition log has no segment"))
}

/// Logs progress while a large directory loads.
struct Progress<'a> {
    dir: &'a Path,
    total: usize,
    done: usize,
    logged_at: usize,
    bytes_since_log: u64,
}

impl Progress<'_> {
    const EVERY_SEGMENTS: usize = 50;
    const EVERY_BYTES: u64 = 512 << 20;

    fn segment_done(&mut self, bytes_validated: u64) {
        self.done += 1;
        self.bytes_since_log += bytes_validated;
        if self.done < self.total
            && (self.done - self.logged_at >= Self::EVERY_SEGMENTS
                || self.bytes_since_log >= Self::EVERY_BYTES)
        {
            info!(
                dir = %self.dir.display(),
                segments_loaded = self.done,
                segments_total = self.total,
                "loading partition log"
            );
            self.logged_at = self.done;
            self.bytes_since_log = 0;
        }
    }
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
        fs::create_dir_all(dir)?;
        let bases = scan_directory(dir)?;
        let on_disk = match checkpoint::read(dir) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                warn!(dir = %dir.display(), error = %e, "ignoring unreadable checkpoint");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let checkpoint = on_disk.or(match (hints.log_start_offset, hints.recovery_point) {
            (None, None) => None,
            (log_start_offset, recovery_point) => Some(Checkpoint {
                log_start_offset: log_start_offset.unwrap_or(0),
                recovery_point: recovery_point.unwrap_or(0),
            }),
        });
        let own_clean = checkpoint::clean_shutdown_exists(dir);
        let clean = own_clean || hints.kafka_clean_shutdown;
        let recovery_point = if clean {
            None
        } else {
            Some(checkpoint.map_or(0, |c| c.recovery_point))
        };
        let mut stats = RecoveryStats {
            clean_shutdown: clean,
            recovery_point,
            ..RecoveryStats::default()
        };
        let counters = ScanCounters::default();
        let now = now_ms();
        let mut segments = BTreeMap::new();
        let mut corrupt_point_seen = false;
        let mut progress = Progress {
            dir,
            total: bases.len(),
            done: 0,
            logged_at: 0,
            bytes_since_log: 0,
        };
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            if corrupt_point_seen {
                warn!(
                    dir = %dir.display(),
                    base_offset = base,
                    "deleting segment that follows a corrupt point"
                );
                delete_segment_files(dir, base)?;
                stats.segments_deleted += 1;
                continue;
            }
            // Kafka's rule: recover every segment that may hold offsets ≥ the recovery point.
            let unflushed = recovery_point.is_some_and(|rp| next_base.is_none_or(|next| next > rp));
            let mode = if unflushed {
                LoadMode::Recover
            } else {
                LoadMode::Trust
            };
            let (segment, report) =
                LogSegment::load(dir, base, &config, mode, next_base, &counters, now)?;
            stats.segments_loaded += 1;
            stats.segments_recovered += usize::from(report.recovered);
            stats.indexes_rebuilt += usize::from(report.index_rebuilt);
            stats.batches_validated += report.batches_validated;
            stats.bytes_validated += report.bytes_validated;
            stats.bytes_truncated += report.truncated_bytes;
            if unflushed && report.truncated_bytes > 0 {
                corrupt_point_seen = true;
            }
            progress.segment_done(report.bytes_validated);
            segments.insert(base, segment);
        }
        if stats.segments_deleted > 0 {
            sync_dir(dir)?;
        }
        if segments.is_empty() {
            let base = checkpoint.map_or(0, |c| c.log_start_offset.max(0));
            segments.insert(base, LogSegment::create(dir, base, &config, now)?);
            sync_dir(dir)?;
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let log_end_offset = active_of(&mut segments)?.next_offset();
        let log_start_offset = checkpoint
            .map_or(first_base, |c| c.log_start_offset.max(first_base))
            .min(log_end_offset);
        let producers =
            load_producer_state(dir, &segments, log_end_offset, &counters, now, &mut stats)?;
        // A clean open that found nothing to repair leaves the directory untouched (marker and
        // all) until the first write; any repair counts as a write.
        let repaired = stats.segments_recovered > 0
            || stats.indexes_rebuilt > 0
            || stats.segments_deleted > 0
            || stats.bytes_truncated > 0
            || stats.producer_batches_scanned > 0;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            log_end_offset,
            // Trusted segments were fsynced before the stop; recovered ones were just fsynced.
            recovery_point: log_end_offset,
            first_unflushed_ms: None,
            recovery_stats: stats,
            counters,
            producers,
            pristine: own_clean,
            last_write: None,
        };
        let unchanged = on_disk
            == Some(Checkpoint {
                log_start_offset,
                recovery_point: log_end_offset,
            });
        if repaired || !unchanged {
            log.touch()?;
            log.write_checkpoint()?;
        }
        let stats = &log.recovery_stats;
        if stats.segments_recovered > 0 || stats.bytes_truncated > 0 || stats.indexes_rebuilt > 0 {
            info!(
                dir = %dir.display(),
                clean_shutdown = stats.clean_shutdown,
                segments = stats.segments_loaded,
                segments_recovered = stats.segments_recovered,
                indexes_rebuilt = stats.indexes_rebuilt,
                bytes_validated = stats.bytes_validated,
                bytes_truncated = stats.bytes_truncated,
                segments_deleted = stats.segments_deleted,
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
        self.segments.values().map(LogSegment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
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
    /// [`super::producer_state`]): an old epoch or a sequence gap refuses the whole append; a
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
        if records.is_empty() {
            return Err(AppendError::Empty);
        }
        let segment_limit = self.config.segment_bytes.min(MAX_SEGMENT_BYTES);
        if records.len() as u64 > segment_limit {
            return Err(AppendError::RecordListTooLarge {
                size: records.len(),
                max: segment_limit,
            });
        }

        // Validate every batch before changing anything.
        let mut layout: Vec<(usize, BatchHeader)> = Vec::new();
        let mut position = 0;
        while position < records.len() {
            let index = layout.len();
            let header = record::validate_produced(&records[position..]).map_err(|source| {
                AppendError::InvalidBatch {
                    index,
                    position,
                    source,
                }
            })?;
            let size = header.total_len();
            if size > self.config.max_message_bytes {
                return Err(AppendError::MessageTooLarge {
                    index,
                    size,
                    max: self.config.max_message_bytes,
                });
            }
            layout.push((position, header));
            position += size;
        }

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
        let mut next_offset = base_offset;
        let mut batches = Vec::with_capacity(layout.len() - duplicates.len());
        let mut pieces = Vec::with_capacity(2 * batches.capacity());
        let mut bytes = 0;
        for (index, &(position, ref original)) in layout.iter().enumerate() {
            if duplicates.iter().any(|(i, _)| *i == index) {
                continue;
            }
            let end = position + original.total_len();
            let batch_base = next_offset;
            next_offset = batch_base
                .checked_add(i64::from(original.last_offset_delta) + 1)
                .ok_or(AppendError::OffsetOverflow)?;
            let stored = if self.config.timestamp_type_log_append {
                // The stamped fields are covered by the CRC: this batch is rewritten in a copy.
                let mut batch = BytesMut::from(&records[position..end]);
                record::set_base_offset(&mut batch, batch_base);
                record::stamp_log_append_time(&mut batch, now_ms);
                let stored =
                    BatchHeader::parse(&batch).map_err(|source| AppendError::InvalidBatch {
                        index,
                        position,
                        source,
                    })?;
                pieces.push(Piece::Data(batch.freeze()));
                stored
            } else {
                pieces.push(Piece::BaseOffset(batch_base.to_be_bytes()));
                pieces.push(Piece::Data(records.slice(position + 8..end)));
                BatchHeader {
                    base_offset: batch_base,
                    ..*original
                }
            };
            if stored.max_timestamp != original.max_timestamp {
                pending.set_timestamp(stored.producer_id, batch_base, stored.max_timestamp);
            }
            bytes += stored.total_len();
            batches.push(stored);
        }
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
        let Ok(active) = active_of(&mut self.segments) else {
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
        let active = active_of(&mut self.segments)?;
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
        let active = active_of(&mut self.segments)?;
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
            let active = active_of(&mut self.segments)?;
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
        self.last_write = active_of(&mut self.segments)
            .ok()
            .and_then(|active| active.tail_slice(written, stage.members.first()?.1.base_offset));
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
        let old = active_of(&mut self.segments)?;
        let old_base = old.base_offset();
        old.append_final_time_index_entry()?;
        old.trim_preallocation()?;
        old.flush()?;
        let segment = LogSegment::create(&self.dir, new_base, &self.config, now_ms)?;
        self.segments.insert(new_base, segment);
        sync_dir(&self.dir)?;
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
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(&base, _)| base);
        // The floor segment may end below `offset` (offset gaps): then the next one serves it.
        for segment in self.segments.range(floor..).map(|(_, s)| s) {
            if let Some(slice) = segment.read(offset, max_bytes, min_one, &self.counters)? {
                return Ok(slice);
            }
        }
        Ok(FileSlice::empty())
    }

    /// ListOffsets by timestamp: the first record at or after the log start whose timestamp is
    /// `≥ timestamp`, as `(offset, timestamp)`; `None` if every record is older. Uncompressed
    /// batches are decoded to find the exact record; for a compressed batch the answer is the
    /// batch's first offset (at or after the log start) with its max timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for segment in self.segments.values() {
            if segment.max_timestamp().timestamp < timestamp
                || segment.next_offset() <= self.log_start_offset
            {
                continue;
            }
            if let Some(found) = segment.find_offset_by_timestamp(
                timestamp,
                self.log_start_offset,
                &self.counters,
            )? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// ListOffsets -3 (MAX_TIMESTAMP): `(offset, timestamp)` of the record with the largest
    /// timestamp (the first segment holding it wins), or `None` if no record has a timestamp.
    pub fn max_timestamp_offset(&self) -> Option<(i64, i64)> {
        let mut best: Option<&LogSegment> = None;
        for segment in self.segments.values() {
            let ts = segment.max_timestamp().timestamp;
            if ts >= 0 && best.is_none_or(|b| ts > b.max_timestamp().timestamp) {
                best = Some(segment);
            }
        }
        let segment = best?;
        match segment.offset_of_max_timestamp(&self.counters) {
            Ok(found) => found,
            Err(e) => {
                warn!(
                    file = %segment.log_path().display(),
                    error = %e,
                    "could not locate the max-timestamp record; answering at batch level"
                );
                let max = segment.max_timestamp();
                Some((max.offset, max.timestamp))
            }
        }
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
        active_of(&mut self.segments)?.flush()?;
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
        let inactive: Vec<(i64, u64, Option<i64>, i64)> = {
            let bases: Vec<i64> = self.segments.keys().copied().collect();
            self.segments
                .values()
                .zip(bases.iter().skip(1))
                .map(|(s, &next)| (s.base_offset(), s.size(), s.largest_timestamp(), next))
                .collect()
        };
        let mut doomed = 0;
        if self.config.retention_ms >= 0 {
            while let Some(&(_, _, Some(largest), _)) = inactive.get(doomed) {
                if now_ms.saturating_sub(largest) <= self.config.retention_ms {
                    break;
                }
                doomed += 1;
            }
        }
        if self.config.retention_bytes >= 0 {
            let deleted: u64 = inactive[..doomed].iter().map(|s| s.1).sum();
            let remaining = i128::from(self.size_bytes() - deleted);
            let mut excess = remaining - i128::from(self.config.retention_bytes);
            while let Some(&(_, size, _, _)) = inactive.get(doomed) {
                if excess - i128::from(size) < 0 {
                    break;
                }
                excess -= i128::from(size);
                doomed += 1;
            }
        }
        while let Some(&(_, _, _, next)) = inactive.get(doomed) {
            if next > self.log_start_offset {
                break;
            }
            doomed += 1;
        }

        let mut outcome = RetentionOutcome::default();
        if doomed > 0 {
            self.touch()?;
        }
        for &(base, _, _, _) in &inactive[..doomed] {
            if let Some(segment) = self.segments.remove(&base) {
                outcome.segments_deleted += 1;
                outcome.bytes_deleted += segment.size();
                info!(
                    dir = %self.dir.display(),
                    base_offset = base,
                    bytes = segment.size(),
                    "deleting segment past retention"
                );
                segment.delete()?;
            }
        }
        if doomed > 0 {
            sync_dir(&self.dir)?;
            self.advance_log_start_to_first_segment()?;
        }
        outcome.log_start_offset = self.log_start_offset;
        Ok(outcome)
    }

    fn advance_log_start_to_first_segment(&mut self) -> io::Result<()> {
        let first = self
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(self.log_end_offset);
        if first > self.log_start_offset {
            self.log_start_offset = first;
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1 = the high watermark) and
    /// deletes the segments wholly below it (never the active one). An offset below the current
    /// log start changes nothing. Returns the new log start offset (the low watermark).
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, ReadError> {
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
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut deleted = false;
        for pair in bases.windows(2) {
            if pair[1] > target {
                break;
            }
            if let Some(segment) = self.segments.remove(&pair[0]) {
                info!(
                    dir = %self.dir.display(),
                    base_offset = pair[0],
                    "deleting segment below the log start offset"
                );
                segment.delete()?;
                deleted = true;
            }
        }
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(self.log_start_offset)
    }

    /// Changes the configuration; it applies to the next appends, rolls and retention passes.
    pub fn set_config(&mut self, config: LogConfig) {
        for segment in self.segments.values_mut() {
            segment.set_config(&config);
        }
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
        let active = active_of(&mut self.segments)?;
        active.append_final_time_index_entry()?;
        active.trim_preallocation()?;
        self.flush()?;
        self.write_producer_snapshot();
        self.write_checkpoint()?;
        checkpoint::write_clean_shutdown(&self.dir)
    }
}

/// Rebuilds the producer state at open: the snapshot, if there is a usable one, then the batch
/// headers from its end offset to the log end (none after a clean close). Without a snapshot
/// (a directory written by Kafka, or by an older sluice) the scan starts at the first segment
/// holding a batch newer than the expiration time: older producers would be expired at once.
/// A snapshot newer than the log (the log lost its tail) is discarded. When headers had to be
/// read, a fresh snapshot is written so the next unclean open starts here.
fn load_producer_state(
    dir: &Path,
    segments: &BTreeMap<i64, LogSegment>,
    log_end_offset: i64,
    counters: &ScanCounters,
    now_ms: i64,
    stats: &mut RecoveryStats,
) -> io::Result<ProducerStateManager> {
    let (expiration, cap) = (PRODUCER_ID_EXPIRATION_MS, MAX_PRODUCERS);
    let snapshot = match ProducerStateManager::read_snapshot(dir, expiration, cap) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            warn!(dir = %dir.display(), error = %e, "ignoring unreadable producer state snapshot");
            None
        }
        Err(e) => return Err(e),
    };
    let snapshot = snapshot.filter(|s| {
        let usable = s.map_end_offset() <= log_end_offset;
        if !usable {
            warn!(
                dir = %dir.display(),
                snapshot_offset = s.map_end_offset(),
                log_end_offset,
                "producer state snapshot is past the log end; rebuilding from the log"
            );
        }
        usable
    });
    stats.producer_snapshot_offset = snapshot.as_ref().map(|s| s.map_end_offset());
    let (mut state, from) = match snapshot {
        Some(s) => {
            let from = s.map_end_offset();
            (s, from)
        }
        None => {
            let horizon = now_ms.saturating_sub(expiration);
            let from = segments
                .values()
                .find(|s| s.max_timestamp().timestamp >= horizon)
                .map_or(log_end_offset, |s| s.base_offset());
            (ProducerStateManager::new(expiration, cap), from)
        }
    };
    let mut scanned = 0;
    for segment in segments.values() {
        if segment.next_offset() <= from {
            continue;
        }
        scanned += segment.walk_headers_from(from, counters, &mut |h| state.replay(h))?;
    }
    state.set_map_end_offset(log_end_offset);
    state.remove_expired(now_ms);
    stats.producer_batches_scanned = scanned;
    stats.producers = state.len();
    if scanned > 0 {
        if let Err(e) = state.write_snapshot(dir) {
            warn!(dir = %dir.display(), error = %e, "cannot write the producer state snapshot");
        }
    }
    Ok(state)
}

/// Lists the segments in `dir` (sorted base offsets) and clears leftovers: `*.deleted` files are
/// removed, as are index files whose log is gone. `.cleaned` / `.swap` files (Kafka's log
/// cleaner) and every non-segment file are left alone.
fn scan_directory(dir: &Path) -> io::Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut removed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let path = entry.path();
        if name.ends_with(DELETED_SUFFIX) {
            info!(file = %path.display(), "removing leftover deleted file");
            fs::remove_file(&path)?;
            removed = true;
        } else if name.ends_with(".cleaned") || name.ends_with(".swap") {
            warn!(file = %path.display(), "ignoring leftover log-cleaner file");
        } else if let Some(base) = parse_segment_file_name(name, LOG_SUFFIX) {
            logs.push(base);
        } else if [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX]
            .iter()
            .any(|suffix| parse_segment_file_name(name, suffix).is_some())
        {
            indexes.push(path);
        }
    }
    logs.sort_unstable();
    for path in indexes {
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.get(..20))
            .and_then(|s| s.parse::<i64>().ok());
        if stem.is_some_and(|base| logs.binary_search(&base).is_err()) {
            info!(file = %path.display(), "removing orphaned index file");
            fs::remove_file(&path)?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(logs)
}
