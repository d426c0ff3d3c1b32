//! Reading batch headers out of a segment's `.log` file without reading the records: the
//! windowed [`HeaderReader`] behind every lookup, the chunked [`ChunkReader`] behind recovery,
//! and the counters that show what the reads cost ([`ScanStats`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::{BatchHeader, BATCH_HEADER_LEN};

/// Recovery reads the log in chunks of this size; a larger batch has its CRC computed piecewise.
pub(crate) const RECOVERY_CHUNK: usize = 1 << 20;

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
    pub(crate) fn read(&self, bytes: usize) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn header(&self) {
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
pub(crate) enum ScanError {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> ScanError {
        ScanError::Io(e)
    }
}

impl ScanError {
    pub(crate) fn into_io(self, path: &Path) -> io::Error {
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
pub(crate) fn last_offset(h: &BatchHeader) -> Option<i64> {
    h.base_offset.checked_add(i64::from(h.last_offset_delta))
}

/// Reads batch headers of one segment through a small window, one `pread` per refill.
pub(crate) struct HeaderReader<'a> {
    file: &'a File,
    end: u64,
    window: usize,
    buf: Vec<u8>,
    buf_start: u64,
    counters: &'a ScanCounters,
}

impl<'a> HeaderReader<'a> {
    pub(crate) fn new(file: &'a File, end: u64, window: usize, counters: &'a ScanCounters) -> Self {
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
    pub(crate) fn header_at(&mut self, pos: u64) -> Result<BatchHeader, ScanError> {
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
pub(crate) struct ChunkReader<'a> {
    pub(crate) file: &'a File,
    pub(crate) file_len: u64,
    buf: Vec<u8>,
    start: u64,
    pub(crate) counters: &'a ScanCounters,
}

impl<'a> ChunkReader<'a> {
    pub(crate) fn new(file: &'a File, file_len: u64, counters: &'a ScanCounters) -> Self {
        ChunkReader {
            file,
            file_len,
            buf: Vec::new(),
            start: 0,
            counters,
        }
    }

    /// `len` bytes at `pos`; the caller guarantees `pos + len <= file_len` and `len <= chunk`.
    pub(crate) fn get(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
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
