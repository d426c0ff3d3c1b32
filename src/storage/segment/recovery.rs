//! Opening one segment's files: trusted (after a clean stop, or below the recovery point) or
//! validated batch by batch (possibly torn), with the indexes rebuilt when they cannot be used.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::record::{self, BatchError, BatchHeader, BATCH_HEADER_LEN};
use crate::storage::config::LogConfig;
use crate::storage::files::{
    segment_file_name, with_path, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::storage::index::{IndexBounds, IndexError, OffsetIndex, TimeIndex, TimestampOffset};
use crate::storage::scan::{
    last_offset, ChunkReader, HeaderReader, ScanCounters, ScanError, RECOVERY_CHUNK,
};
use crate::storage::segment::{create_indexes, LogSegment};

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

impl LogSegment {
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

        // Trusted: the index files as they are, if they pass their checks.
        let mut trusted = None;
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
                (Ok(offset_index), Ok(time_index)) => trusted = Some((offset_index, time_index)),
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
        let is_trusted = trusted.is_some();
        let (offset_index, time_index) = match trusted {
            Some(indexes) => indexes,
            None => create_indexes(dir, base_offset, config, "")?,
        };
        let mut segment = LogSegment::new(
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            config,
            now_ms,
        );
        if is_trusted {
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
        let mut reader = ChunkReader::new(&log, file_len, counters);
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
