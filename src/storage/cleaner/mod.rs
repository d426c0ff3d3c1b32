//! The log cleaner's work on one log (Kafka's `Cleaner`, and the choice of what to clean from
//! `LogCleanerManager`): synchronous, actor-free, reading only segments that are no longer
//! appended to. The partition layer runs it on its own threads and has the partition actor swap
//! the result in ([`crate::storage::PartitionLog::replace_segments`]).
//!
//! ```text
//! log:     [0 … )[400 … )[900 … )[1500 … )[2100 … active
//!          ^ log start    ^ first dirty offset (cleaner-offset-checkpoint)
//!                                         ^ first uncleanable offset: the active segment, or
//!                                           the first segment younger than min.compaction.lag.ms
//!          clean section  dirty section
//!
//! 1. map:    key → latest offset for the dirty section ([`OffsetMap`], bounded memory); a map
//!            that fills stops the pass there (end offset), the rest waits for the next pass
//! 2. group:  the segments from the start to the end offset, in groups of at most segment.bytes
//!            (and segment.index.bytes of each index)
//! 3. clean:  each group is rewritten into `{first base}.log.cleaned` (+ indexes), keeping a
//!            record when its offset is the map's latest for its key (or its key is not in the
//!            map); fsynced, then swapped in by the partition actor
//! 4. the end offset becomes the partition's first dirty offset
//! ```
//!
//! What is kept, as Kafka's cleaner keeps it:
//! - offsets do not change (gaps are normal); a batch whose records all stay is copied byte for
//!   byte, other batches are rebuilt with their header fields (base offset, last offset delta,
//!   producer id, epoch and base sequence) and a fresh CRC ([`crate::record::rebuild_batch`]);
//! - the last batch of every producer still in the producer state, even emptied (its header
//!   carries the producer's last sequence), and the last batch before the first uncleanable
//!   offset (the round's last offset);
//! - a tombstone (null value) removes older values of its key and stays until its batch's
//!   delete horizon: the first clean that keeps it stamps `now + delete.retention.ms` as the
//!   batch's base timestamp with the delete-horizon attribute (KIP-534); a later clean past
//!   that time drops it;
//! - records without a key are dropped (a compacted log cannot hold them);
//! - control batches are kept as they are: sluice refuses transactions, so there is no
//!   transaction state to clean;
//! - **compressed batches are kept whole**: sluice has no codecs, so it cannot see their keys.
//!   They are neither mapped nor filtered, and a tombstone that follows one is never dropped (an
//!   older value of its key might be inside): compaction stays correct, only less thorough.

pub mod offset_map;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tracing::{debug, info};

use crate::record::{self, BatchHeader, Record, BATCH_HEADER_LEN};
use crate::storage::config::LogConfig;
use crate::storage::files::{
    segment_file_name, with_path, CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::storage::segment::{LogSegment, MAX_SEGMENT_BYTES};

pub use offset_map::OffsetMap;

/// One segment that is no longer appended to, as the partition actor saw it when asked.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub base_offset: i64,
    /// Base offset of the segment after it: no offset of this one reaches it.
    pub next_base_offset: i64,
    /// Bytes of whole batches (the file never changes while the segment is inactive).
    pub size: u64,
    /// The open log file: read without the actor, and how the actor knows at swap time that the
    /// segment is still the one that was cleaned.
    pub file: Arc<File>,
    /// The largest timestamp, or the file's modification time (Kafka's `largestTimestamp`).
    pub largest_timestamp: Option<i64>,
    /// Bytes of its offset and time index entries (for the grouping limits).
    pub offset_index_bytes: u64,
    pub time_index_bytes: u64,
}

/// What the cleaner needs of a log, taken by the partition actor in one message: everything but
/// the active segment. The files stay readable whatever the actor does meanwhile.
#[derive(Debug, Clone)]
pub struct LogView {
    pub dir: PathBuf,
    pub config: LogConfig,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub active_base_offset: i64,
    /// Oldest first.
    pub segments: Vec<SegmentInfo>,
    /// The last batch's last offset of every producer still in the producer state.
    pub producer_last_offsets: HashMap<i64, i64>,
}

impl LogView {
    /// Segments holding offsets in `[from, to)`, oldest first (Kafka's `logSegments(from, to)`).
    fn segments_between(&self, from: i64, to: i64) -> impl Iterator<Item = &SegmentInfo> + '_ {
        self.segments
            .iter()
            .filter(move |s| s.base_offset < to && s.next_base_offset > from)
    }
}

/// How dirty a log is and what a clean would take (Kafka's `LogToClean` with its
/// `OffsetsToClean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogToClean {
    pub first_dirty_offset: i64,
    /// The clean stops below it: the active segment, or the first segment within
    /// `min.compaction.lag.ms`.
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments from the first dirty offset to the first uncleanable one.
    pub cleanable_bytes: u64,
    /// Some dirty record is older than `max.compaction.lag.ms`.
    pub need_compaction_now: bool,
    /// The checkpoint was below the log start or past the log end: the first dirty offset was
    /// reset to the log start and should be checkpointed.
    pub reset_checkpoint: bool,
}

impl LogToClean {
    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    /// Dirty bytes over the bytes that could be cleaned; 0 for an empty log.
    pub fn cleanable_ratio(&self) -> f64 {
        match self.total_bytes() {
            0 => 0.0,
            total => self.cleanable_bytes as f64 / total as f64,
        }
    }

    /// Kafka's rule: dirty enough (strictly above `min.cleanable.dirty.ratio`), or some dirty
    /// record waited longer than `max.compaction.lag.ms`.
    pub fn should_clean(&self, min_cleanable_ratio: f64) -> bool {
        (self.need_compaction_now && self.cleanable_bytes > 0)
            || self.cleanable_ratio() > min_cleanable_ratio
    }
}

/// Where a clean of `view` would start and stop, given the partition's checkpointed first dirty
/// offset (Kafka's `cleanableOffsets`, `calculateCleanableBytes` and `maxCompactionDelay`).
pub fn log_to_clean(view: &LogView, checkpoint: Option<i64>, now_ms: i64) -> LogToClean {
    let start = view.log_start_offset;
    let checkpointed = checkpoint.unwrap_or(start);
    let (first_dirty, reset) = if checkpointed < start || checkpointed > view.log_end_offset {
        (start, true)
    } else {
        (checkpointed, false)
    };
    let lag = view.config.min_compaction_lag_ms.max(0);
    let mut uncleanable = view.active_base_offset;
    if lag > 0 {
        if let Some(young) = view
            .segments
            .iter()
            .filter(|s| s.next_base_offset > first_dirty)
            .find(|s| s.largest_timestamp.unwrap_or(i64::MAX) > now_ms.saturating_sub(lag))
        {
            uncleanable = uncleanable.min(young.base_offset);
        }
    }
    let uncleanable = uncleanable.max(first_dirty);
    // Rounded down to the start of the segment holding it.
    let uncleanable = view
        .segments
        .iter()
        .find(|s| s.next_base_offset > uncleanable)
        .map_or(view.active_base_offset, |s| s.base_offset.max(first_dirty));
    let clean_bytes = view
        .segments_between(i64::MIN, first_dirty)
        .map(|s| s.size)
        .sum();
    let cleanable_bytes = view
        .segments_between(first_dirty.min(uncleanable), uncleanable)
        .map(|s| s.size)
        .sum();
    let need_compaction_now = {
        let max_lag = view.config.max_compaction_lag_ms.max(0);
        let clean_until = now_ms.saturating_sub(max_lag);
        view.segments
            .iter()
            .filter(|s| s.next_base_offset > first_dirty)
            .filter_map(|s| first_batch_timestamp(s).filter(|&t| t > 0))
            .min()
            .is_some_and(|earliest| earliest < clean_until)
    };
    LogToClean {
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: uncleanable,
        clean_bytes,
        cleanable_bytes,
        need_compaction_now,
        reset_checkpoint: reset,
    }
}

/// The max timestamp of a segment's first batch (Kafka's `getFirstBatchTimestamp`), read from
/// its header; `None` for an empty or unreadable segment.
fn first_batch_timestamp(segment: &SegmentInfo) -> Option<i64> {
    if segment.size < BATCH_HEADER_LEN as u64 {
        return None;
    }
    let mut buf = [0u8; BATCH_HEADER_LEN];
    segment.file.read_exact_at(&mut buf, 0).ok()?;
    BatchHeader::parse(&buf).ok().map(|h| h.max_timestamp)
}

/// The cleaner's own settings (the broker's `log.cleaner.*`).
#[derive(Debug, Clone, Copy)]
pub struct CleanerOptions {
    /// `log.cleaner.io.buffer.size`: bytes read from a segment at a time.
    pub io_buffer_size: usize,
    /// `log.cleaner.io.buffer.load.factor`: how full the map may get.
    pub load_factor: f64,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        CleanerOptions {
            io_buffer_size: 512 << 10,
            load_factor: 0.9,
        }
    }
}

/// What one clean read, kept and removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerStats {
    /// Bytes read to build the offset map.
    pub map_bytes_read: u64,
    /// Records read to build it.
    pub map_records_read: u64,
    /// Bytes of the segments rewritten.
    pub bytes_read: u64,
    /// Bytes of the cleaned segments.
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_retained: u64,
    /// Records dropped for having no key.
    pub invalid_records: u64,
    /// Tombstones dropped because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// Compressed batches kept whole (no codec to look inside).
    pub opaque_batches: u64,
    /// Groups swapped in.
    pub groups: u64,
    /// Keys in the map and the share of its slots they took.
    pub map_keys: u64,
    pub map_utilization: f64,
}

impl CleanerStats {
    pub fn records_removed(&self) -> u64 {
        self.records_read.saturating_sub(self.records_retained)
    }
}

/// Why a clean stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("log cleaner I/O error: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not valid batches: the log is left alone.
    #[error("{0}")]
    Corrupt(String),
    /// Stopped on purpose (shutdown), or the log changed under it (the swap was refused): the
    /// files it wrote are gone; the next pass starts over.
    #[error("log cleaning aborted: {0}")]
    Aborted(String),
}

/// One group cleaned: `{base}.log.cleaned` and its indexes, written and fsynced beside the live
/// files, to replace the segments `old` (by base offset, with the files they were read from).
#[derive(Debug)]
pub struct CleanedGroup {
    pub dir: PathBuf,
    pub base_offset: i64,
    pub old: Vec<(i64, Arc<File>)>,
    /// Bytes of the cleaned log file.
    pub size: u64,
}

impl CleanedGroup {
    /// The file names of the group (each of `.log`, `.index`, `.timeindex`) with `suffix`.
    pub(crate) fn files(&self, suffix: &str) -> [PathBuf; 3] {
        [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].map(|s| {
            self.dir
                .join(segment_file_name(self.base_offset, &format!("{s}{suffix}")))
        })
    }

    /// Removes the `.cleaned` files (a clean given up).
    pub fn discard(&self) {
        for path in self.files(CLEANED_SUFFIX) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How a clean talks to its surroundings.
pub trait CleanerContext {
    /// Called with every chunk of bytes read or written (`log.cleaner.io.max.bytes.per.second`).
    fn throttle(&mut self, _bytes: u64) {}
    /// Checked between chunks: true stops the clean (shutdown).
    fn stop_requested(&self) -> bool {
        false
    }
    /// Swaps a cleaned group in (in the partition actor). An error aborts the clean; the
    /// cleaner then removes the group's files.
    fn swap(&mut self, group: &CleanedGroup) -> Result<(), CleanError>;
}

/// Cleans `view` from its start to where the offset map of the dirty section
/// `[to_clean.first_dirty_offset, to_clean.first_uncleanable_offset)` filled, group by group,
/// each swapped in through `ctx` as soon as it is written. Returns the offset the next clean
/// starts from (the new first dirty offset) and what was done.
pub fn clean(
    view: &LogView,
    to_clean: &LogToClean,
    map: &mut OffsetMap,
    options: CleanerOptions,
    now_ms: i64,
    ctx: &mut dyn CleanerContext,
) -> Result<(i64, CleanerStats), CleanError> {
    let mut stats = CleanerStats::default();
    let upper = to_clean.first_uncleanable_offset;
    build_offset_map(
        view,
        to_clean.first_dirty_offset,
        upper,
        map,
        options,
        &mut stats,
        ctx,
    )?;
    let end_offset = map.latest_offset() + 1;
    stats.map_keys = map.len() as u64;
    stats.map_utilization = map.utilization();
    if end_offset <= to_clean.first_dirty_offset {
        return Ok((to_clean.first_dirty_offset, stats));
    }
    let segments: Vec<&SegmentInfo> = view
        .segments
        .iter()
        .filter(|s| s.base_offset < end_offset)
        .collect();
    let groups = group_segments_by_size(
        &segments,
        view.config.segment_bytes.min(MAX_SEGMENT_BYTES),
        view.config.max_index_size as u64,
        upper,
    );
    let mut filter = Filter {
        now_ms,
        delete_retention_ms: view.config.delete_retention_ms,
        upper_bound: upper,
        producer_last_offsets: &view.producer_last_offsets,
        opaque_seen: false,
    };
    for group in groups {
        let cleaned = clean_group(view, &group, map, &mut filter, options, &mut stats, ctx)?;
        let swapped = ctx.swap(&cleaned);
        if let Err(e) = swapped {
            cleaned.discard();
            return Err(e);
        }
        stats.groups += 1;
    }
    Ok((end_offset, stats))
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log size stays within
/// `max_size` and whose index sizes stay within `max_index_size` each, and whose offsets all
/// fit 4-byte offsets relative to the group's first base offset.
pub fn group_segments_by_size<'a>(
    segments: &[&'a SegmentInfo],
    max_size: u64,
    max_index_size: u64,
    first_uncleanable_offset: i64,
) -> Vec<Vec<&'a SegmentInfo>> {
    let mut groups = Vec::new();
    let mut rest = segments;
    while let Some((&first, tail)) = rest.split_first() {
        let mut group = vec![first];
        let (mut log, mut index, mut time) =
            (first.size, first.offset_index_bytes, first.time_index_bytes);
        rest = tail;
        while let Some((&next, tail)) = rest.split_first() {
            // The most the candidate's offsets can reach.
            let last_offset = next
                .next_base_offset
                .min(first_uncleanable_offset.max(next.base_offset + 1))
                - 1;
            let fits = log + next.size <= max_size
                && index + next.offset_index_bytes <= max_index_size
                && time + next.time_index_bytes <= max_index_size
                && (next.size == 0 || last_offset - first.base_offset <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            log += next.size;
            index += next.offset_index_bytes;
            time += next.time_index_bytes;
            group.push(next);
            rest = tail;
        }
        groups.push(group);
    }
    groups
}

/// Fills `map` with the keys of the dirty section `[start, end)` (Kafka's `buildOffsetMap`),
/// segment by segment, until `load_factor` of its slots are taken; its latest offset is then
/// where the clean ends.
fn build_offset_map(
    view: &LogView,
    start: i64,
    end: i64,
    map: &mut OffsetMap,
    options: CleanerOptions,
    stats: &mut CleanerStats,
    ctx: &mut dyn CleanerContext,
) -> Result<(), CleanError> {
    map.clear();
    let dirty: Vec<&SegmentInfo> = view.segments_between(start, end).collect();
    let max_desired = ((map.slots() as f64 * options.load_factor) as usize).max(1);
    info!(
        dir = %view.dir.display(),
        segments = dirty.len(),
        start,
        end,
        "building the log cleaner's offset map"
    );
    for (i, segment) in dirty.iter().enumerate() {
        let next_start = dirty.get(i + 1).map_or(end, |s| s.base_offset);
        let mut reader = BatchReader::new(&segment.file, segment.size, options.io_buffer_size);
        while let Some((_, batch, header)) = reader.next_batch(ctx, &mut stats.map_bytes_read)? {
            if header.last_offset() < start {
                continue;
            }
            if !header.is_control() && header.compression() == 0 {
                if let Ok(records) = record::decode_records(&batch) {
                    for r in records {
                        if let Some(key) = &r.key {
                            if r.offset >= start {
                                if map.len() >= max_desired {
                                    debug!(
                                        base_offset = segment.base_offset,
                                        offset = r.offset,
                                        "offset map full; this pass ends here"
                                    );
                                    return Ok(());
                                }
                                map.put(key, r.offset);
                            }
                        }
                        stats.map_records_read += 1;
                    }
                }
            }
            map.update_latest_offset(header.last_offset());
        }
        // An offset gap at the end of a segment belongs to it.
        map.update_latest_offset(next_start - 1);
    }
    Ok(())
}

/// The retention rules of one clean (Kafka's `RecordFilter` of `cleanInto`).
struct Filter<'a> {
    now_ms: i64,
    delete_retention_ms: i64,
    /// The first uncleanable offset: the batch ending just below it is kept, even emptied.
    upper_bound: i64,
    producer_last_offsets: &'a HashMap<i64, i64>,
    /// A batch the cleaner could not look into was seen: from here on no tombstone is dropped.
    opaque_seen: bool,
}

/// What becomes of one batch.
enum Outcome {
    /// Written as it was.
    Keep,
    /// Rewritten with these bytes.
    Rebuilt(Bytes),
    Drop,
}

impl Filter<'_> {
    fn batch(
        &mut self,
        batch: &Bytes,
        header: &BatchHeader,
        map: &mut OffsetMap,
        stats: &mut CleanerStats,
    ) -> Outcome {
        if header.is_control() {
            // No transactions in sluice: a control batch is kept as it is.
            return Outcome::Keep;
        }
        let records = if header.compression() == 0 {
            record::decode_records(batch).ok()
        } else {
            None
        };
        let Some(records) = records else {
            stats.opaque_batches += 1;
            self.opaque_seen = true;
            return Outcome::Keep;
        };
        let count = records.len();
        stats.records_read += count as u64;
        let horizon = header.delete_horizon_ms();
        let mut retained: Vec<Record> = Vec::with_capacity(count);
        let mut tombstones = false;
        for r in records {
            if self.retain(&r, horizon, map, stats) {
                tombstones |= r.value.is_none();
                retained.push(r);
            }
        }
        stats.records_retained += retained.len() as u64;
        let needs_horizon = tombstones && horizon.is_none();
        if retained.len() == count && !needs_horizon {
            return Outcome::Keep;
        }
        let retain_empty = (header.has_producer_id()
            && self.producer_last_offsets.get(&header.producer_id) == Some(&header.last_offset()))
            || header.last_offset().saturating_add(1) == self.upper_bound;
        if retained.is_empty() && !retain_empty {
            return Outcome::Drop;
        }
        let horizon = if needs_horizon {
            Some(self.now_ms.saturating_add(self.delete_retention_ms))
        } else {
            horizon
        };
        Outcome::Rebuilt(record::rebuild_batch(header, &retained, horizon))
    }

    /// Kafka's `shouldRetainRecord`.
    fn retain(
        &self,
        r: &Record,
        horizon: Option<i64>,
        map: &mut OffsetMap,
        stats: &mut CleanerStats,
    ) -> bool {
        if r.offset > map.latest_offset() {
            return true;
        }
        let Some(key) = &r.key else {
            stats.invalid_records += 1;
            return false;
        };
        if r.offset < map.get(key) {
            return false;
        }
        if r.value.is_some() {
            return true;
        }
        let keep_tombstone = self.opaque_seen || horizon.is_none_or(|h| self.now_ms < h);
        if !keep_tombstone {
            stats.tombstones_removed += 1;
        }
        keep_tombstone
    }
}

/// Rewrites one group into `{first base}.log.cleaned` (+ indexes), fsynced, with the last old
/// segment's modification time (retention of batches without timestamps goes by it).
fn clean_group(
    view: &LogView,
    group: &[&SegmentInfo],
    map: &mut OffsetMap,
    filter: &mut Filter<'_>,
    options: CleanerOptions,
    stats: &mut CleanerStats,
    ctx: &mut dyn CleanerContext,
) -> Result<CleanedGroup, CleanError> {
    let base = group[0].base_offset;
    let mut cleaned = CleanedGroup {
        dir: view.dir.clone(),
        base_offset: base,
        old: group
            .iter()
            .map(|s| (s.base_offset, Arc::clone(&s.file)))
            .collect(),
        size: 0,
    };
    let written = write_group(view, group, map, filter, options, stats, ctx, &cleaned);
    match written {
        Ok(size) => {
            cleaned.size = size;
            Ok(cleaned)
        }
        Err(e) => {
            cleaned.discard();
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_group(
    view: &LogView,
    group: &[&SegmentInfo],
    map: &mut OffsetMap,
    filter: &mut Filter<'_>,
    options: CleanerOptions,
    stats: &mut CleanerStats,
    ctx: &mut dyn CleanerContext,
    cleaned: &CleanedGroup,
) -> Result<u64, CleanError> {
    let now = filter.now_ms;
    let mut dest = LogSegment::create_with_suffix(
        &view.dir,
        cleaned.base_offset,
        &view.config,
        now,
        CLEANED_SUFFIX,
    )?;
    let mut pending: Vec<Bytes> = Vec::new();
    let mut headers: Vec<BatchHeader> = Vec::new();
    let mut pending_bytes = 0usize;
    let flush = |dest: &mut LogSegment,
                 pending: &mut Vec<Bytes>,
                 headers: &mut Vec<BatchHeader>,
                 pending_bytes: &mut usize,
                 ctx: &mut dyn CleanerContext|
     -> io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let pieces: Vec<&[u8]> = pending.iter().map(|b| b.as_ref()).collect();
        dest.append_pieces(&pieces, headers, MAX_SEGMENT_BYTES)?;
        ctx.throttle(*pending_bytes as u64);
        pending.clear();
        headers.clear();
        *pending_bytes = 0;
        Ok(())
    };
    for segment in group {
        let mut reader = BatchReader::new(&segment.file, segment.size, options.io_buffer_size);
        while let Some((_, batch, header)) = reader.next_batch(ctx, &mut stats.bytes_read)? {
            let (bytes, header) = match filter.batch(&batch, &header, map, stats) {
                Outcome::Keep => (batch, header),
                Outcome::Rebuilt(bytes) => {
                    let header = BatchHeader::parse(&bytes)
                        .map_err(|e| CleanError::Corrupt(format!("rebuilt batch: {e}")))?;
                    (bytes, header)
                }
                Outcome::Drop => continue,
            };
            pending_bytes += bytes.len();
            stats.bytes_written += bytes.len() as u64;
            pending.push(bytes);
            headers.push(header);
            if pending_bytes >= options.io_buffer_size {
                flush(
                    &mut dest,
                    &mut pending,
                    &mut headers,
                    &mut pending_bytes,
                    ctx,
                )?;
            }
        }
    }
    flush(
        &mut dest,
        &mut pending,
        &mut headers,
        &mut pending_bytes,
        ctx,
    )?;
    dest.append_final_time_index_entry()?;
    dest.trim_preallocation()?;
    dest.flush()?;
    let size = dest.size();
    if let Some(modified) = group
        .last()
        .and_then(|s| s.file.metadata().ok())
        .and_then(|m| m.modified().ok())
    {
        let path = dest.log_path().to_path_buf();
        dest.file()
            .set_modified(modified)
            .map_err(|e| with_path(e, &path))?;
    }
    Ok(size)
}

/// Whole, CRC-checked batches of one segment file, read `chunk` bytes at a time (more for a
/// larger batch).
struct BatchReader<'a> {
    file: &'a File,
    end: u64,
    chunk: usize,
    data: Bytes,
    data_start: u64,
    pos: u64,
}

impl<'a> BatchReader<'a> {
    fn new(file: &'a File, end: u64, chunk: usize) -> BatchReader<'a> {
        BatchReader {
            file,
            end,
            chunk: chunk.max(BATCH_HEADER_LEN),
            data: Bytes::new(),
            data_start: 0,
            pos: 0,
        }
    }

    /// Has `[pos, pos + len)` in `data`, reading at least a chunk from `pos` if not.
    fn ensure(
        &mut self,
        len: usize,
        ctx: &mut dyn CleanerContext,
        read: &mut u64,
    ) -> Result<(), CleanError> {
        let have = self.data_start + self.data.len() as u64;
        if self.pos >= self.data_start && self.pos + len as u64 <= have {
            return Ok(());
        }
        if ctx.stop_requested() {
            return Err(CleanError::Aborted("the cleaner is stopping".into()));
        }
        let want = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(self.chunk.max(len));
        let mut buf = vec![0u8; want];
        self.file.read_exact_at(&mut buf, self.pos)?;
        ctx.throttle(want as u64);
        *read += want as u64;
        self.data = Bytes::from(buf);
        self.data_start = self.pos;
        Ok(())
    }

    /// The next batch: its position, bytes and header; `None` at the end of the segment.
    fn next_batch(
        &mut self,
        ctx: &mut dyn CleanerContext,
        read: &mut u64,
    ) -> Result<Option<(u64, Bytes, BatchHeader)>, CleanError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let corrupt = |pos: u64, why: String| CleanError::Corrupt(format!("position {pos}: {why}"));
        if self.end - self.pos < BATCH_HEADER_LEN as u64 {
            return Err(corrupt(self.pos, "too few bytes for a batch header".into()));
        }
        self.ensure(BATCH_HEADER_LEN, ctx, read)?;
        let at = (self.pos - self.data_start) as usize;
        let header =
            BatchHeader::parse(&self.data[at..]).map_err(|e| corrupt(self.pos, e.to_string()))?;
        let total = header.total_len();
        if self.pos + total as u64 > self.end {
            return Err(corrupt(
                self.pos,
                format!("a batch of {total} bytes runs past the end"),
            ));
        }
        self.ensure(total, ctx, read)?;
        let at = (self.pos - self.data_start) as usize;
        let bytes = self.data.slice(at..at + total);
        let header = record::validate(&bytes).map_err(|e| corrupt(self.pos, e.to_string()))?;
        let position = self.pos;
        self.pos += total as u64;
        Ok(Some((position, bytes, header)))
    }
}

#[cfg(test)]
mod tests;
