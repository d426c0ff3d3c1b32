//! Lookups in one segment that walk batch headers from an index position: Fetch reads,
//! ListOffsets by timestamp, and the header walk that replays producer state.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use tracing::warn;

use crate::record::{self, BatchHeader, ATTR_LOG_APPEND_TIME};
use crate::storage::files::with_path;
use crate::storage::scan::{last_offset, HeaderReader, ScanCounters, ScanError};
use crate::storage::segment::LogSegment;
use crate::storage::slice::FileSlice;

/// Batches up to this size are decoded to find a record by timestamp; larger ones answer at the
/// batch level.
const DECODE_LIMIT: usize = 16 << 20;

impl LogSegment {
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
}
