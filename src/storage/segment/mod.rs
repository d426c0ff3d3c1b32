//! One segment: a `.log` file of whole record batches laid end to end, and its two sparse indexes.
//!
//! ```text
//! {base_offset:020}.log         batch | batch | batch | …        (record::BatchHeader layout)
//!                               ^0      ^p1     ^p2              positions are u32 (≤ 2 GiB)
//! {base_offset:020}.index       (relative offset, position) every index_interval_bytes
//! {base_offset:020}.timeindex   (max timestamp so far, relative offset) at the same points
//! ```
//!
//! Invariants:
//! - `size` is the end of the last whole batch. Bytes past it are never handed to a reader;
//!   appends write there, so readers of `[0, size)` never race a writer.
//! - Offsets strictly increase from batch to batch and every offset is in
//!   `[base_offset, base_offset + i32::MAX]` (index entries store them relative, on 4 bytes).
//! - An index entry is added for a batch when more than `index_interval_bytes` were appended since
//!   the previous entry, so a lookup followed by a forward scan reads at most about one interval
//!   of headers, whatever the segment's size.
//!
//! - this file: [`LogSegment`], its state, appends, the roll rule, flush and delete;
//! - `read`: lookups that walk batch headers (Fetch reads, ListOffsets by time, producer-state
//!   replay);
//! - `recovery`: opening a segment's files, trusted or validated batch by batch.

pub(crate) mod read;
pub(crate) mod recovery;

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tracing::warn;

use crate::record::{BatchHeader, BATCH_HEADER_LEN};
use crate::storage::config::LogConfig;
use crate::storage::files::{delete_segment_files, rename_segment_files_deleted, with_path};
use crate::storage::index::{OffsetIndex, TimeIndex, TimestampOffset};
use crate::storage::scan::{last_offset, HeaderReader, ScanCounters};
use crate::storage::slice::FileSlice;

pub use crate::storage::files::{
    parse_segment_file_name, segment_file_name, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX,
    TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
pub use crate::storage::scan::ScanStats;

/// Largest segment we write: index positions are 4 bytes and Kafka caps segments at `i32::MAX`.
pub const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

/// One segment of a partition log. See the module docs.
#[derive(Debug)]
pub struct LogSegment {
    base_offset: i64,
    log_path: PathBuf,
    /// Shared with every [`FileSlice`] handed out; appends go through it with `pwrite`.
    log: Arc<File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// End of the last whole batch.
    size: u64,
    /// Last offset + 1, or `base_offset` while empty.
    next_offset: i64,
    /// Largest batch max-timestamp and the last offset of its batch; -1 if none.
    max_timestamp: TimestampOffset,
    /// Max timestamp of the first batch, for time-based rolling (loaded on demand).
    first_batch_timestamp: Option<i64>,
    /// How much earlier than `segment.ms` this segment rolls: drawn when the segment is
    /// created or opened, below `min(segment.jitter.ms, segment.ms)` (Kafka's
    /// `randomSegmentJitter`).
    roll_jitter_ms: i64,
    created_ms: i64,
    bytes_since_last_index_entry: u64,
    index_interval_bytes: u64,
    /// Blocks are preallocated (fallocate, file size kept) up to here: appends below it need no
    /// block allocation. See `reserve_ahead`.
    reserved_end: u64,
    /// Cleared when the filesystem refuses to preallocate.
    preallocate: bool,
}

/// Time spent in the write calls that put appended batches into segment files, all partitions
/// together, since start: mostly the kernel copying the bytes into the page cache (see
/// [`append_write_time`]).
static APPEND_WRITE_NANOS: AtomicU64 = AtomicU64::new(0);

/// How long appends have spent in their write calls so far (exposed in `/metrics`, so that a
/// benchmark can tell the page cache's share of the broker's time).
pub fn append_write_time() -> Duration {
    Duration::from_nanos(APPEND_WRITE_NANOS.load(Ordering::Relaxed))
}

/// Writes every piece, in order, at `position` (`pwritev`, resumed after short writes, at most
/// `IOV_MAX` pieces a call). Returns the number of bytes written.
fn write_all_vectored_at(file: &File, pieces: &[&[u8]], position: u64) -> io::Result<u64> {
    const IOV_MAX: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> = pieces
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| IoSlice::new(p))
        .collect();
    let mut unwritten = &mut slices[..];
    let mut at = position;
    while !unwritten.is_empty() {
        let batch = &unwritten[..unwritten.len().min(IOV_MAX)];
        let written = match rustix::io::pwritev(file, batch, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        at += written as u64;
        IoSlice::advance_slices(&mut unwritten, written);
    }
    Ok(at - position)
}

/// Empty offset and time indexes for segment `base_offset` in `dir` (existing files truncated),
/// their names ending in `suffix` after the usual one (`""`, or the cleaner's `.cleaned`).
fn create_indexes(
    dir: &Path,
    base_offset: i64,
    config: &LogConfig,
    suffix: &str,
) -> io::Result<(OffsetIndex, TimeIndex)> {
    let index_path = dir.join(segment_file_name(
        base_offset,
        &format!("{INDEX_SUFFIX}{suffix}"),
    ));
    let time_path = dir.join(segment_file_name(
        base_offset,
        &format!("{TIME_INDEX_SUFFIX}{suffix}"),
    ));
    let offset_index = OffsetIndex::create(&index_path, base_offset, config.max_index_size)
        .map_err(|e| with_path(e, &index_path))?;
    let time_index = TimeIndex::create(&time_path, base_offset, config.max_index_size)
        .map_err(|e| with_path(e, &time_path))?;
    Ok((offset_index, time_index))
}

/// A random jitter in `0..min(segment.jitter.ms, segment.ms)`; 0 without `segment.jitter.ms`.
fn random_jitter(config: &LogConfig) -> i64 {
    let bound = config.roll_jitter_ms.min(config.roll_ms);
    if bound <= 0 {
        return 0;
    }
    // uuid's v4 is 122 random bits from the OS; 63 of them suffice.
    let random = (uuid::Uuid::new_v4().as_u128() as u64 >> 1) as i64;
    random % bound
}

impl LogSegment {
    /// Creates a new, empty segment (any file of the same name is truncated).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> io::Result<LogSegment> {
        LogSegment::create_with_suffix(dir, base_offset, config, now_ms, "")
    }

    /// As `create`, with `suffix` after each file's usual name: the log cleaner writes a
    /// replacement segment as `{base}.log.cleaned` (and indexes) beside the live files.
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        suffix: &str,
    ) -> io::Result<LogSegment> {
        let log_path = dir.join(segment_file_name(
            base_offset,
            &format!("{LOG_SUFFIX}{suffix}"),
        ));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|e| with_path(e, &log_path))?;
        let (offset_index, time_index) = create_indexes(dir, base_offset, config, suffix)?;
        Ok(LogSegment::new(
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            config,
            now_ms,
        ))
    }

    fn new(
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        config: &LogConfig,
        created_ms: i64,
    ) -> LogSegment {
        LogSegment {
            base_offset,
            log_path,
            log: Arc::new(log),
            offset_index,
            time_index,
            size: 0,
            next_offset: base_offset,
            max_timestamp: TimestampOffset {
                timestamp: -1,
                offset: base_offset,
            },
            first_batch_timestamp: None,
            roll_jitter_ms: random_jitter(config),
            created_ms,
            bytes_since_last_index_entry: 0,
            index_interval_bytes: config.index_interval_bytes as u64,
            reserved_end: 0,
            preallocate: true,
        }
    }

    /// Bookkeeping for a batch placed at `position`: max timestamp, next offset and, every
    /// `index_interval_bytes`, one entry in each index. Shared by append and recovery so both
    /// build the same indexes.
    fn index_batch(&mut self, header: &BatchHeader, position: u64) {
        let last = last_offset(header).unwrap_or(i64::MAX);
        if position == 0 {
            self.first_batch_timestamp = Some(header.max_timestamp);
        }
        if header.max_timestamp > self.max_timestamp.timestamp {
            self.max_timestamp = TimestampOffset {
                timestamp: header.max_timestamp,
                offset: last,
            };
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            self.offset_index.append(last, position);
            self.time_index.maybe_append(
                self.max_timestamp.timestamp,
                self.max_timestamp.offset,
                false,
            );
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.total_len() as u64;
        self.next_offset = last.saturating_add(1);
    }

    /// Appends already validated batches (`data` holds exactly `batches`, offsets assigned) with
    /// one positional write at the end of the log. Index entries follow; if writing them fails the
    /// in-memory index is still right and the next flush retries the write.
    #[cfg(test)]
    pub(crate) fn append(&mut self, data: &[u8], batches: &[BatchHeader]) -> io::Result<()> {
        self.append_pieces(&[data], batches, MAX_SEGMENT_BYTES)
    }

    /// As `append`, with the batches' bytes given as pieces (written with vectored writes, so
    /// that a batch's rewritten base offset and the rest of it need not be joined in memory).
    /// `limit` is the most the segment may grow to (`segment.bytes`): blocks are preallocated
    /// ahead of the write, never past it.
    pub(crate) fn append_pieces(
        &mut self,
        pieces: &[&[u8]],
        batches: &[BatchHeader],
        limit: u64,
    ) -> io::Result<()> {
        let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        self.reserve_ahead(len, limit);
        let start = self.size;
        let started = Instant::now();
        let written = write_all_vectored_at(&self.log, pieces, start);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        APPEND_WRITE_NANOS.fetch_add(took, Ordering::Relaxed);
        let len = written.map_err(|e| with_path(e, &self.log_path))?;
        let mut position = start;
        for header in batches {
            self.index_batch(header, position);
            position += header.total_len() as u64;
        }
        self.size = start + len;
        if let Err(e) = self.persist_indexes() {
            warn!(
                file = %self.log_path.display(),
                error = %e,
                "could not write index entries; the next flush retries"
            );
        }
        Ok(())
    }

    /// Preallocates blocks ahead of an append of `len` bytes, in steps that grow with the
    /// segment (1 MiB to 16 MiB), never past `limit`, keeping the file size (`FALLOC_FL_KEEP_SIZE`:
    /// readers, recovery and Kafka's tools see the same file). ext4 then writes into allocated
    /// blocks instead of reserving a delayed allocation page by page: a third less CPU per byte
    /// written here. Refused (filesystem without it, disk full): appends go on without.
    #[cfg(target_os = "linux")]
    fn reserve_ahead(&mut self, len: u64, limit: u64) {
        let needed = self.size.saturating_add(len);
        if !self.preallocate || needed <= self.reserved_end {
            return;
        }
        let step = self.size.clamp(1 << 20, 16 << 20);
        let end = needed.saturating_add(step).min(limit).max(needed);
        let start = self.reserved_end.max(self.size);
        match rustix::fs::fallocate(
            &*self.log,
            rustix::fs::FallocateFlags::KEEP_SIZE,
            start,
            end - start,
        ) {
            Ok(()) => self.reserved_end = end,
            Err(_) => self.preallocate = false,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve_ahead(&mut self, _len: u64, _limit: u64) {}

    /// Gives back the blocks preallocated past the end (at roll and close): truncating to the
    /// current size frees them, and drops anything a failed write left past the last batch.
    pub(crate) fn trim_preallocation(&mut self) -> io::Result<()> {
        if self.reserved_end > self.size {
            self.log
                .set_len(self.size)
                .map_err(|e| with_path(e, &self.log_path))?;
        }
        self.reserved_end = self.size;
        Ok(())
    }

    /// The last `len` bytes of the segment as a slice whose first batch starts at
    /// `first_offset` (the caller knows the batches there).
    pub(crate) fn tail_slice(&self, len: usize, first_offset: i64) -> Option<FileSlice> {
        let position = self.size.checked_sub(len as u64)?;
        (len > 0).then(|| FileSlice {
            file: Some(Arc::clone(&self.log)),
            position,
            len,
            first_offset,
        })
    }

    fn persist_indexes(&mut self) -> io::Result<()> {
        self.offset_index
            .persist()
            .map_err(|e| with_path(e, self.offset_index.path()))?;
        self.time_index
            .persist()
            .map_err(|e| with_path(e, self.time_index.path()))
    }

    /// Kafka's roll rule, checked before appending `messages_len` bytes whose largest timestamp
    /// is `max_timestamp` and whose last offset is `last_offset`. An empty segment never rolls.
    pub(crate) fn should_roll(
        &mut self,
        messages_len: u64,
        max_timestamp: i64,
        last_offset: i64,
        now_ms: i64,
        config: &LogConfig,
        counters: &ScanCounters,
    ) -> io::Result<bool> {
        if self.size == 0 {
            return Ok(false);
        }
        let limit = config.segment_bytes.min(MAX_SEGMENT_BYTES);
        if self.size + messages_len > limit
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || !self.offset_index.can_append_offset(last_offset)
        {
            return Ok(true);
        }
        Ok(self.time_waited_for_roll(now_ms, max_timestamp, counters)?
            > config.roll_ms.saturating_sub(self.roll_jitter_ms))
    }

    /// Time since the first batch's timestamp (by the new messages' clock), or since the segment
    /// was created when the first batch carries no timestamp.
    fn time_waited_for_roll(
        &mut self,
        now_ms: i64,
        max_timestamp: i64,
        counters: &ScanCounters,
    ) -> io::Result<i64> {
        if self.first_batch_timestamp.is_none() && self.size > 0 {
            let window = BATCH_HEADER_LEN;
            let mut reader = HeaderReader::new(&self.log, self.size, window, counters);
            let header = reader.header_at(0).map_err(|e| e.into_io(&self.log_path))?;
            self.first_batch_timestamp = Some(header.max_timestamp);
        }
        match self.first_batch_timestamp {
            Some(ts) if ts >= 0 => Ok(max_timestamp.saturating_sub(ts)),
            _ => Ok(now_ms.saturating_sub(self.created_ms)),
        }
    }

    /// Bytes read per refill when walking headers: one index interval plus a header or two.
    fn scan_window(&self) -> usize {
        let interval = usize::try_from(self.index_interval_bytes).unwrap_or(usize::MAX);
        interval
            .saturating_add(2 * BATCH_HEADER_LEN)
            .clamp(4096, 64 << 10)
    }

    /// Records the segment's max timestamp as the last time-index entry, as Kafka does when a
    /// segment is rolled or closed: later opens read it back as the segment's max timestamp.
    pub(crate) fn append_final_time_index_entry(&mut self) -> io::Result<()> {
        let max = self.max_timestamp;
        if max.timestamp >= 0 {
            self.time_index
                .maybe_append(max.timestamp, max.offset, true);
        }
        self.persist_indexes()
    }

    /// fsync the log and both indexes.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.persist_indexes()?;
        self.log
            .sync_data()
            .map_err(|e| with_path(e, &self.log_path))?;
        self.offset_index
            .flush()
            .map_err(|e| with_path(e, self.offset_index.path()))?;
        self.time_index
            .flush()
            .map_err(|e| with_path(e, self.time_index.path()))
    }

    /// Removes the segment's files. The log is first renamed to `.deleted`, so a crash part-way
    /// leaves nothing that looks like a segment; open removes the leftovers. Slices already
    /// handed out stay readable: they hold the open file.
    pub(crate) fn delete(self) -> io::Result<()> {
        let dir = self
            .log_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        delete_segment_files(&dir, self.base_offset)
    }

    /// Renames the segment's files `….deleted`, to be removed later (`file.delete.delay.ms`);
    /// returns them. Slices already handed out stay readable: they hold the open file.
    pub(crate) fn delete_later(self) -> io::Result<Vec<PathBuf>> {
        let dir = self
            .log_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        rename_segment_files_deleted(&dir, self.base_offset)
    }

    /// How much before `segment.ms` this segment rolls (see `roll_jitter_ms`).
    #[cfg(test)]
    pub(crate) fn roll_jitter_ms(&self) -> i64 {
        self.roll_jitter_ms
    }

    pub(crate) fn set_config(&mut self, config: &LogConfig) {
        self.index_interval_bytes = config.index_interval_bytes as u64;
        self.offset_index.set_max_index_size(config.max_index_size);
        self.time_index.set_max_index_size(config.max_index_size);
    }

    /// The largest timestamp in the segment, or the log file's modification time when no batch
    /// carries one (Kafka's rule for retention). `None` if neither is known.
    pub(crate) fn largest_timestamp(&self) -> Option<i64> {
        if self.max_timestamp.timestamp >= 0 {
            return Some(self.max_timestamp.timestamp);
        }
        let modified = self.log.metadata().and_then(|m| m.modified()).ok()?;
        let ms = modified.duration_since(UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok()
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn max_timestamp(&self) -> TimestampOffset {
        self.max_timestamp
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The open log file, shared with the slices handed out (the log cleaner reads through it).
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::record::{self, BatchBuilder};

    fn batch(base: i64, ts: i64, records: usize) -> Bytes {
        let mut b = BatchBuilder::new(base, ts);
        for i in 0..records {
            b.push(None, Some(format!("value-{i:04}").as_bytes()), &[]);
        }
        b.build()
    }

    #[test]
    fn one_index_entry_per_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            index_interval_bytes: 200,
            ..LogConfig::default()
        };
        let mut seg = LogSegment::create(dir.path(), 0, &config, 0).expect("create");
        let one = batch(0, 1000, 1);
        let len = one.len() as u64;
        // 20 single-record batches of `len` bytes each, appended one by one.
        for i in 0..20i64 {
            let data = batch(i, 1000 + i, 1);
            let header = record::validate(&data).expect("valid");
            seg.append(&data, &[header]).expect("append");
        }
        // An entry is added for a batch once more than 200 bytes were appended since the last
        // entry: with `len`-byte batches that is every ceil(201 / len)-th batch.
        let per_entry = 200 / len + 1;
        let entries: Vec<_> = seg.offset_index().entries().collect();
        let expected: Vec<_> = (1..)
            .map(|k| k * per_entry)
            .take_while(|&i| i < 20)
            .map(|i| (i as i64, i * len))
            .collect();
        assert_eq!(
            entries
                .iter()
                .map(|e| (e.offset, e.position))
                .collect::<Vec<_>>(),
            expected
        );
        let bytes = std::fs::read(dir.path().join("00000000000000000000.index")).expect("read");
        assert_eq!(bytes.len(), expected.len() * 8);
        for (chunk, (offset, position)) in bytes.chunks(8).zip(&expected) {
            assert_eq!(&chunk[0..4], &(*offset as u32).to_be_bytes());
            assert_eq!(&chunk[4..8], &(*position as u32).to_be_bytes());
        }
        let times = std::fs::read(dir.path().join("00000000000000000000.timeindex")).expect("read");
        assert_eq!(times.len(), expected.len() * 12);
        for (chunk, (offset, _)) in times.chunks(12).zip(&expected) {
            assert_eq!(&chunk[0..8], &(1000 + offset).to_be_bytes());
            assert_eq!(&chunk[8..12], &(*offset as u32).to_be_bytes());
        }
    }
}
