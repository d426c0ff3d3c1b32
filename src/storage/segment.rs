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

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use tracing::{info, warn};

use super::index::{IndexBounds, IndexError, OffsetIndex, TimeIndex, TimestampOffset};
use super::log::{FileSlice, LogConfig};
use crate::record::{self, BatchError, BatchHeader, ATTR_LOG_APPEND_TIME, BATCH_HEADER_LEN};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Kafka's transaction index; we never write one but delete it with its segment.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
pub const DELETED_SUFFIX: &str = ".deleted";

/// Largest segment we write: index positions are 4 bytes and Kafka caps segments at `i32::MAX`.
pub const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;
/// Recovery reads the log in chunks of this size; a larger batch has its CRC computed piecewise.
const RECOVERY_CHUNK: usize = 1 << 20;
/// Batches up to this size are decoded to find a record by timestamp; larger ones answer at the
/// batch level.
const DECODE_LIMIT: usize = 16 << 20;

/// `{base_offset:020}{suffix}`, Kafka's segment file name.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset in a segment file name, if `name` is exactly 20 digits then `suffix`.
pub fn parse_segment_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Disk reads done by lookups and scans (reads by `FileSlice::read` are not counted).
#[derive(Debug, Default)]
pub(crate) struct ScanCounters {
    reads: AtomicU64,
    bytes: AtomicU64,
    headers: AtomicU64,
}

/// A snapshot of the scan counters: how much a partition's lookups cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// `pread` calls issued to find batches (headers, recovery chunks, decoded batches).
    pub reads: u64,
    /// Bytes those calls read.
    pub bytes_read: u64,
    /// Batch headers parsed.
    pub headers_parsed: u64,
}

impl ScanCounters {
    fn read(&self, bytes: usize) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn header(&self) {
        self.headers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ScanStats {
        ScanStats {
            reads: self.reads.load(Ordering::Relaxed),
            bytes_read: self.bytes.load(Ordering::Relaxed),
            headers_parsed: self.headers.load(Ordering::Relaxed),
        }
    }
}

/// A scan stopped: either the disk failed, or the bytes are not a valid batch.
#[derive(Debug)]
enum ScanError {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> ScanError {
        ScanError::Io(e)
    }
}

impl ScanError {
    fn into_io(self, path: &Path) -> io::Error {
        match self {
            ScanError::Io(e) => e,
            ScanError::Invalid(reason) => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {reason}", path.display()),
            ),
        }
    }
}

/// `base_offset + lastOffsetDelta` without overflow (the header came from disk).
fn last_offset(h: &BatchHeader) -> Option<i64> {
    h.base_offset.checked_add(i64::from(h.last_offset_delta))
}

/// Reads batch headers of one segment through a small window, one `pread` per refill.
struct HeaderReader<'a> {
    file: &'a File,
    end: u64,
    window: usize,
    buf: Vec<u8>,
    buf_start: u64,
    counters: &'a ScanCounters,
}

impl<'a> HeaderReader<'a> {
    fn new(file: &'a File, end: u64, window: usize, counters: &'a ScanCounters) -> Self {
        HeaderReader {
            file,
            end,
            window: window.max(BATCH_HEADER_LEN),
            buf: Vec::new(),
            buf_start: 0,
            counters,
        }
    }

    /// The header of the batch at `pos`, checked to lie wholly before `end`.
    fn header_at(&mut self, pos: u64) -> Result<BatchHeader, ScanError> {
        let header_end = pos + BATCH_HEADER_LEN as u64;
        if header_end > self.end {
            return Err(ScanError::Invalid(format!(
                "{} bytes at position {pos} are too few for a batch header",
                self.end.saturating_sub(pos)
            )));
        }
        let buffered =
            pos >= self.buf_start && header_end <= self.buf_start + self.buf.len() as u64;
        if !buffered {
            let len = usize::try_from(self.end - pos)
                .unwrap_or(usize::MAX)
                .min(self.window);
            self.buf.resize(len, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.counters.read(len);
            self.buf_start = pos;
        }
        let at = (pos - self.buf_start) as usize;
        let header = BatchHeader::parse(&self.buf[at..at + BATCH_HEADER_LEN])
            .map_err(|e| ScanError::Invalid(format!("batch at position {pos}: {e}")))?;
        self.counters.header();
        if last_offset(&header).is_none() {
            return Err(ScanError::Invalid(format!(
                "batch at position {pos}: offsets overflow"
            )));
        }
        if pos + header.total_len() as u64 > self.end {
            return Err(ScanError::Invalid(format!(
                "batch of {} bytes at position {pos} runs past the end ({})",
                header.total_len(),
                self.end
            )));
        }
        Ok(header)
    }
}

/// Sequential reader for recovery: one `pread` per megabyte.
struct ChunkReader<'a> {
    file: &'a File,
    file_len: u64,
    buf: Vec<u8>,
    start: u64,
    counters: &'a ScanCounters,
}

impl ChunkReader<'_> {
    /// `len` bytes at `pos`; the caller guarantees `pos + len <= file_len` and `len <= chunk`.
    fn get(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let end = pos + len as u64;
        if !(pos >= self.start && end <= self.start + self.buf.len() as u64) {
            let want = usize::try_from(self.file_len - pos)
                .unwrap_or(usize::MAX)
                .min(RECOVERY_CHUNK)
                .max(len);
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.counters.read(want);
            self.start = pos;
        }
        let at = (pos - self.start) as usize;
        Ok(&self.buf[at..at + len])
    }
}

/// How a segment is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// Flushed before a clean stop (or before the recovery point): keep the indexes if they pass
    /// their checks and only walk the headers after the last index entry.
    Trust,
    /// Possibly torn: validate every batch and rebuild both indexes.
    Recover,
}

/// What opening one segment did.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadReport {
    pub recovered: bool,
    pub index_rebuilt: bool,
    pub batches_validated: u64,
    pub bytes_validated: u64,
    pub truncated_bytes: u64,
}

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

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl LogSegment {
    /// Creates a new, empty segment (any file of the same name is truncated).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> io::Result<LogSegment> {
        let log_path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|e| with_path(e, &log_path))?;
        let index_path = dir.join(segment_file_name(base_offset, INDEX_SUFFIX));
        let time_path = dir.join(segment_file_name(base_offset, TIME_INDEX_SUFFIX));
        let offset_index = OffsetIndex::create(&index_path, base_offset, config.max_index_size)
            .map_err(|e| with_path(e, &index_path))?;
        let time_index = TimeIndex::create(&time_path, base_offset, config.max_index_size)
            .map_err(|e| with_path(e, &time_path))?;
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
            created_ms,
            bytes_since_last_index_entry: 0,
            index_interval_bytes: config.index_interval_bytes as u64,
            reserved_end: 0,
            preallocate: true,
        }
    }

    /// Opens an existing segment. `next_base_offset` is the next segment's base, if any: no batch
    /// may reach it.
    pub(crate) fn load(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        mode: LoadMode,
        next_base_offset: Option<i64>,
        counters: &ScanCounters,
        now_ms: i64,
    ) -> io::Result<(LogSegment, LoadReport)> {
        let log_path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(|e| with_path(e, &log_path))?;
        let file_len = log.metadata().map_err(|e| with_path(e, &log_path))?.len();
        let index_path = dir.join(segment_file_name(base_offset, INDEX_SUFFIX));
        let time_path = dir.join(segment_file_name(base_offset, TIME_INDEX_SUFFIX));

        if mode == LoadMode::Trust {
            let bounds = IndexBounds {
                base_offset,
                log_size: file_len,
                next_base_offset,
            };
            let offset_index = usable(OffsetIndex::open(
                &index_path,
                bounds,
                config.max_index_size,
            ))?;
            let time_index = usable(TimeIndex::open(&time_path, bounds, config.max_index_size))?;
            match (offset_index, time_index) {
                (Ok(offset_index), Ok(time_index)) => {
                    let mut segment = LogSegment::new(
                        base_offset,
                        log_path,
                        log,
                        offset_index,
                        time_index,
                        config,
                        now_ms,
                    );
                    match segment.scan_tail(file_len, next_base_offset, counters) {
                        Ok(()) => return Ok((segment, LoadReport::default())),
                        Err(ScanError::Io(e)) => return Err(with_path(e, &segment.log_path)),
                        Err(ScanError::Invalid(reason)) => {
                            warn!(
                                file = %segment.log_path.display(),
                                %reason,
                                "segment does not match its index; validating it in full"
                            );
                            let mut report = segment.recover(next_base_offset, counters)?;
                            report.index_rebuilt = true;
                            return Ok((segment, report));
                        }
                    }
                }
                (offset_index, time_index) => {
                    for problem in [offset_index.err(), time_index.err()].into_iter().flatten() {
                        match problem {
                            IndexError::Missing(path) => info!(
                                file = %path.display(),
                                "index file missing; rebuilding it from the log"
                            ),
                            other => {
                                warn!(error = %other, "rebuilding a damaged index from the log")
                            }
                        }
                    }
                }
            }
        }

        let offset_index = OffsetIndex::create(&index_path, base_offset, config.max_index_size)
            .map_err(|e| with_path(e, &index_path))?;
        let time_index = TimeIndex::create(&time_path, base_offset, config.max_index_size)
            .map_err(|e| with_path(e, &time_path))?;
        let mut segment = LogSegment::new(
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            config,
            now_ms,
        );
        let mut report = segment.recover(next_base_offset, counters)?;
        report.index_rebuilt = mode == LoadMode::Trust;
        Ok((segment, report))
    }

    /// Trusted open: walks the headers after the last offset-index entry to find the end of the
    /// log, the next offset and the max timestamp. Any inconsistency is `Invalid`.
    fn scan_tail(
        &mut self,
        file_len: u64,
        next_base_offset: Option<i64>,
        counters: &ScanCounters,
    ) -> Result<(), ScanError> {
        let last_entry = self.offset_index.last_entry();
        let mut pos = last_entry.map_or(0, |e| e.position);
        let mut next_offset = self.base_offset;
        let mut max_timestamp = self.time_index.last_entry().unwrap_or(self.max_timestamp);
        let window = self.scan_window();
        let mut reader = HeaderReader::new(&self.log, file_len, window, counters);
        while pos < file_len {
            let header = reader.header_at(pos)?;
            let last = last_offset(&header).unwrap_or(i64::MAX);
            if let Some(entry) = last_entry.filter(|e| e.position == pos) {
                if header.base_offset > entry.offset {
                    return Err(ScanError::Invalid(format!(
                        "index entry ({}, {pos}) points at a batch starting at offset {}",
                        entry.offset, header.base_offset
                    )));
                }
            }
            self.check_offsets(&header, next_offset, next_base_offset)
                .map_err(|reason| ScanError::Invalid(format!("position {pos}: {reason}")))?;
            if header.max_timestamp > max_timestamp.timestamp {
                max_timestamp = TimestampOffset {
                    timestamp: header.max_timestamp,
                    offset: last,
                };
            }
            next_offset = last.saturating_add(1);
            pos += header.total_len() as u64;
        }
        let indexed_beyond_end = |offset: i64| offset >= next_offset;
        if self
            .offset_index
            .last_entry()
            .is_some_and(|e| indexed_beyond_end(e.offset))
            || self
                .time_index
                .last_entry()
                .is_some_and(|e| indexed_beyond_end(e.offset))
        {
            return Err(ScanError::Invalid(format!(
                "index entries beyond the last offset {}",
                next_offset - 1
            )));
        }
        self.size = file_len;
        self.next_offset = next_offset;
        self.max_timestamp = max_timestamp;
        self.bytes_since_last_index_entry = file_len - last_entry.map_or(0, |e| e.position);
        Ok(())
    }

    /// A batch's offsets must follow the previous batch and stay within the segment.
    fn check_offsets(
        &self,
        header: &BatchHeader,
        min_base: i64,
        next_base_offset: Option<i64>,
    ) -> Result<(), String> {
        let last = last_offset(header).ok_or("offsets overflow")?;
        if header.base_offset < min_base {
            return Err(format!(
                "base offset {} is below the expected minimum {min_base}",
                header.base_offset
            ));
        }
        if !self.offset_index.can_append_offset(last) {
            return Err(format!(
                "offset {last} cannot be stored relative to base offset {}",
                self.base_offset
            ));
        }
        if let Some(next) = next_base_offset.filter(|&next| last >= next) {
            return Err(format!(
                "offset {last} reaches the next segment's base offset {next}"
            ));
        }
        Ok(())
    }

    /// Validates every batch from the start (length, CRC-32C, offsets), rebuilds both indexes,
    /// truncates the file at the first invalid byte, and fsyncs.
    pub(crate) fn recover(
        &mut self,
        next_base_offset: Option<i64>,
        counters: &ScanCounters,
    ) -> io::Result<LoadReport> {
        let path = self.log_path.clone();
        let file_len = self.log.metadata().map_err(|e| with_path(e, &path))?.len();
        self.offset_index.reset()?;
        self.time_index.reset()?;
        self.size = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = TimestampOffset {
            timestamp: -1,
            offset: self.base_offset,
        };
        self.first_batch_timestamp = None;
        self.bytes_since_last_index_entry = 0;

        let mut report = LoadReport {
            recovered: true,
            ..LoadReport::default()
        };
        let log = Arc::clone(&self.log);
        let mut reader = ChunkReader {
            file: &log,
            file_len,
            buf: Vec::new(),
            start: 0,
            counters,
        };
        let mut pos = 0u64;
        let mut problem = None;
        while pos < file_len {
            match self.validate_batch_at(&mut reader, pos, next_base_offset) {
                Ok(header) => {
                    self.index_batch(&header, pos);
                    let len = header.total_len() as u64;
                    pos += len;
                    self.size = pos;
                    report.batches_validated += 1;
                    report.bytes_validated += len;
                }
                Err(ScanError::Io(e)) => return Err(with_path(e, &path)),
                Err(ScanError::Invalid(reason)) => {
                    problem = Some(reason);
                    break;
                }
            }
        }
        if pos < file_len {
            report.truncated_bytes = file_len - pos;
            warn!(
                file = %path.display(),
                position = pos,
                truncated_bytes = file_len - pos,
                reason = problem.as_deref().unwrap_or("unknown"),
                "invalid data in segment; truncating it"
            );
            self.log.set_len(pos).map_err(|e| with_path(e, &path))?;
        }
        self.append_final_time_index_entry()?;
        self.flush()?;
        Ok(report)
    }

    /// Full validation of the batch at `pos` during recovery.
    fn validate_batch_at(
        &self,
        reader: &mut ChunkReader<'_>,
        pos: u64,
        next_base_offset: Option<i64>,
    ) -> Result<BatchHeader, ScanError> {
        let remaining = reader.file_len - pos;
        let head_len = remaining.min(BATCH_HEADER_LEN as u64) as usize;
        let header = BatchHeader::parse(reader.get(pos, head_len)?)
            .map_err(|e| ScanError::Invalid(e.to_string()))?;
        let total = header.total_len();
        if total as u64 > remaining {
            return Err(ScanError::Invalid(
                BatchError::Truncated {
                    needed: total,
                    available: usize::try_from(remaining).unwrap_or(usize::MAX),
                }
                .to_string(),
            ));
        }
        if total <= RECOVERY_CHUNK {
            record::validate(reader.get(pos, total)?)
                .map_err(|e| ScanError::Invalid(e.to_string()))?;
        } else {
            validate_large_batch(reader.file, pos, &header, reader.counters)?;
        }
        self.check_offsets(&header, self.next_offset, next_base_offset)
            .map_err(ScanError::Invalid)?;
        Ok(header)
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
        Ok(self.time_waited_for_roll(now_ms, max_timestamp, counters)? > config.roll_ms)
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

    /// The position and header of the first batch whose last offset is `≥ offset`, if any.
    /// `indexed: false` scans from the start of the segment instead of the index position.
    fn translate_offset(
        &self,
        offset: i64,
        reader: &mut HeaderReader<'_>,
        indexed: bool,
    ) -> Result<Option<(u64, BatchHeader)>, ScanError> {
        let mut pos = if indexed {
            self.offset_index.lookup(offset).position
        } else {
            0
        };
        while pos < self.size {
            let header = reader.header_at(pos)?;
            if last_offset(&header).unwrap_or(i64::MAX) >= offset {
                return Ok(Some((pos, header)));
            }
            pos += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch from the one holding `from` to the end of the
    /// segment, in order, and returns how many it saw. Only the 61-byte headers are read
    /// (through a 64 KiB window), never the records. Rebuilds producer state on open.
    pub(crate) fn walk_headers_from(
        &self,
        from: i64,
        counters: &ScanCounters,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> io::Result<u64> {
        let start = self.with_index_fallback(|indexed| {
            let mut reader = HeaderReader::new(&self.log, self.size, self.scan_window(), counters);
            Ok(self
                .translate_offset(from, &mut reader, indexed)?
                .map(|(pos, _)| pos))
        })?;
        let Some(mut pos) = start else {
            return Ok(0);
        };
        let mut reader = HeaderReader::new(&self.log, self.size, 64 << 10, counters);
        let mut seen = 0;
        while pos < self.size {
            let header = reader
                .header_at(pos)
                .map_err(|e| e.into_io(&self.log_path))?;
            f(&header);
            seen += 1;
            pos += header.total_len() as u64;
        }
        Ok(seen)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (or one whole batch if
    /// `min_one`). `None` if no batch of this segment reaches `offset`. An empty slice (with
    /// `first_offset` set) means the first batch is larger than `max_bytes`.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        counters: &ScanCounters,
    ) -> io::Result<Option<FileSlice>> {
        self.with_index_fallback(|indexed| {
            self.read_from(offset, max_bytes, min_one, counters, indexed)
        })
    }

    /// Runs `op` guided by the offset index and, should the index lead into bytes that are not a
    /// batch (a trusted index damaged in a way its open checks cannot see), once more from the
    /// start of the segment, which is slow but right.
    fn with_index_fallback<T>(&self, op: impl Fn(bool) -> Result<T, ScanError>) -> io::Result<T> {
        match op(true) {
            Err(ScanError::Invalid(reason)) if !self.offset_index.is_empty() => {
                warn!(
                    file = %self.log_path.display(),
                    %reason,
                    "offset index does not match the log; scanning without it"
                );
                op(false).map_err(|e| e.into_io(&self.log_path))
            }
            other => other.map_err(|e| e.into_io(&self.log_path)),
        }
    }

    fn read_from(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        counters: &ScanCounters,
        indexed: bool,
    ) -> Result<Option<FileSlice>, ScanError> {
        let end = self.size;
        let mut reader = HeaderReader::new(&self.log, end, self.scan_window(), counters);
        let Some((start, first)) = self.translate_offset(offset, &mut reader, indexed)? else {
            return Ok(None);
        };
        let limit = start.saturating_add(max_bytes as u64);
        let mut stop = end;
        if limit < end {
            // Start from the last indexed batch boundary at or before the limit: the batches
            // before it fit, so only about one interval of headers is walked.
            stop = start;
            if indexed {
                if let Some(p) = self.offset_index.floor_position(limit) {
                    stop = p.max(start);
                }
            }
            while stop < end {
                let header = reader.header_at(stop)?;
                let next = stop + header.total_len() as u64;
                if next > limit {
                    break;
                }
                stop = next;
            }
        }
        if stop == start {
            if !min_one {
                return Ok(Some(FileSlice {
                    file: None,
                    position: start,
                    len: 0,
                    first_offset: first.base_offset,
                }));
            }
            stop = start + first.total_len() as u64;
        }
        Ok(Some(FileSlice {
            file: Some(Arc::clone(&self.log)),
            position: start,
            len: usize::try_from(stop - start).unwrap_or(usize::MAX),
            first_offset: first.base_offset,
        }))
    }

    /// The first record at or after `starting_offset` with a timestamp `≥ timestamp`:
    /// `(offset, timestamp)`. Found through the time index, then the offset index, then a scan.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
        counters: &ScanCounters,
    ) -> io::Result<Option<(i64, i64)>> {
        self.with_index_fallback(|indexed| {
            let mut pos = 0;
            if indexed {
                let entry = self.time_index.lookup(timestamp);
                pos = self
                    .offset_index
                    .lookup(entry.offset.max(starting_offset))
                    .position;
            }
            let mut reader = HeaderReader::new(&self.log, self.size, self.scan_window(), counters);
            while pos < self.size {
                let header = reader.header_at(pos)?;
                let last = last_offset(&header).unwrap_or(i64::MAX);
                if header.max_timestamp >= timestamp && last >= starting_offset {
                    let found = self.first_record_at_or_after(
                        pos,
                        &header,
                        starting_offset,
                        |t| t >= timestamp,
                        counters,
                    )?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                pos += header.total_len() as u64;
            }
            Ok(None)
        })
    }

    /// `(offset, timestamp)` of the record carrying this segment's largest timestamp.
    pub(crate) fn offset_of_max_timestamp(
        &self,
        counters: &ScanCounters,
    ) -> io::Result<Option<(i64, i64)>> {
        let max = self.max_timestamp;
        if max.timestamp < 0 {
            return Ok(None);
        }
        let batch_level = Some((max.offset, max.timestamp));
        let found = self.with_index_fallback(|indexed| {
            let mut reader = HeaderReader::new(&self.log, self.size, self.scan_window(), counters);
            self.translate_offset(max.offset, &mut reader, indexed)
        })?;
        match found {
            Some((pos, header))
                if header.max_timestamp == max.timestamp && header.base_offset <= max.offset =>
            {
                Ok(self
                    .first_record_at_or_after(
                        pos,
                        &header,
                        header.base_offset,
                        |t| t == max.timestamp,
                        counters,
                    )?
                    .or(batch_level))
            }
            _ => Ok(batch_level),
        }
    }

    /// Within the batch at `pos`: the first record at or after `starting_offset` whose timestamp
    /// satisfies `wanted`. LogAppendTime batches give every record the batch's max timestamp.
    /// Compressed (or huge) batches are not decoded: the answer is then the batch's first offset
    /// at or after `starting_offset`, with the batch's max timestamp.
    fn first_record_at_or_after(
        &self,
        pos: u64,
        header: &BatchHeader,
        starting_offset: i64,
        wanted: impl Fn(i64) -> bool,
        counters: &ScanCounters,
    ) -> io::Result<Option<(i64, i64)>> {
        let batch_level = Some((
            header.base_offset.max(starting_offset),
            header.max_timestamp,
        ));
        if header.attributes & ATTR_LOG_APPEND_TIME != 0 {
            return Ok(batch_level.filter(|&(_, t)| wanted(t)));
        }
        let total = header.total_len();
        if header.compression() != 0 || total > DECODE_LIMIT {
            return Ok(batch_level);
        }
        let mut buf = vec![0u8; total];
        self.log
            .read_exact_at(&mut buf, pos)
            .map_err(|e| with_path(e, &self.log_path))?;
        counters.read(total);
        match record::decode_records(&Bytes::from(buf)) {
            Ok(records) => Ok(records
                .iter()
                .find(|r| r.offset >= starting_offset && wanted(r.timestamp))
                .map(|r| (r.offset, r.timestamp))),
            Err(_) => Ok(batch_level),
        }
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
}

/// Treats a missing or corrupt index as "rebuild it" and only real I/O failures as errors.
fn usable<T>(r: Result<T, IndexError>) -> io::Result<Result<T, IndexError>> {
    match r {
        Err(IndexError::Io { path, source }) => Err(with_path(source, &path)),
        other => Ok(other),
    }
}

/// CRC-32C of a batch too large for one recovery chunk, computed piecewise.
fn validate_large_batch(
    file: &File,
    pos: u64,
    header: &BatchHeader,
    counters: &ScanCounters,
) -> Result<(), ScanError> {
    // The CRC covers attributes (byte 21) to the end of the batch.
    let mut at = pos + 21;
    let end = pos + header.total_len() as u64;
    let mut crc = 0u32;
    let mut chunk = vec![0u8; RECOVERY_CHUNK];
    while at < end {
        let n = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(RECOVERY_CHUNK);
        file.read_exact_at(&mut chunk[..n], at)?;
        counters.read(n);
        crc = crc32c::crc32c_append(crc, &chunk[..n]);
        at += n as u64;
    }
    if crc != header.crc {
        return Err(ScanError::Invalid(
            BatchError::CrcMismatch {
                stored: header.crc,
                computed: crc,
            }
            .to_string(),
        ));
    }
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(ScanError::Invalid(
            BatchError::CountMismatch {
                count: header.record_count,
                last_offset_delta: header.last_offset_delta,
            }
            .to_string(),
        ));
    }
    Ok(())
}

/// Deletes the files of segment `base_offset` in `dir`, the log last (renamed to `.deleted` first).
pub(crate) fn delete_segment_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    let log_path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
    let deleted = dir.join(segment_file_name(
        base_offset,
        &format!("{LOG_SUFFIX}{DELETED_SUFFIX}"),
    ));
    match fs::rename(&log_path, &deleted) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_path(e, &log_path)),
    }
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, ""] {
        let path = if suffix.is_empty() {
            deleted.clone()
        } else {
            dir.join(segment_file_name(base_offset, suffix))
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, &path)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BatchBuilder;

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(0, LOG_SUFFIX), "00000000000000000000.log");
        assert_eq!(
            segment_file_name(1234, TIME_INDEX_SUFFIX),
            "00000000000000001234.timeindex"
        );
        assert_eq!(
            parse_segment_file_name("00000000000000001234.log", LOG_SUFFIX),
            Some(1234)
        );
        assert_eq!(parse_segment_file_name("1234.log", LOG_SUFFIX), None);
        assert_eq!(
            parse_segment_file_name("00000000000000001234.log.deleted", LOG_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("0000000000000000123x.log", LOG_SUFFIX),
            None
        );
    }

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
