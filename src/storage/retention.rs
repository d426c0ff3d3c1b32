//! Which whole segments a partition log gives up, and deleting them: `retention.ms`,
//! `retention.bytes` and the log start offset (moved up by DeleteRecords). Kafka's
//! `deleteRetentionMsBreachedSegments`, `deleteRetentionSizeBreachedSegments` and
//! `deleteLogStartOffsetBreachedSegments`, in that order.
//!
//! The active segment is never deleted, and segments go oldest first only: a rule stops at the
//! first segment it would keep, so what remains is always a contiguous tail of the log.

use std::io;
use std::path::{Path, PathBuf};

use tracing::info;

use crate::storage::config::LogConfig;
use crate::storage::segments::LogSegments;
use crate::util::fs::sync_dir;

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start_offset: i64,
}

/// Base offsets of the segments past retention, oldest first: those whose largest timestamp is
/// more than `retention_ms` old, then as many as needed to bring the size down to
/// `retention_bytes` (both only when the cleanup policy holds `delete`, as in Kafka), then those
/// wholly below `log_start_offset`.
pub(crate) fn segments_past_retention(
    segments: &LogSegments,
    config: &LogConfig,
    log_start_offset: i64,
    now_ms: i64,
) -> Vec<i64> {
    // (base offset, size, largest timestamp, next base offset) of every inactive segment.
    let inactive: Vec<(i64, u64, Option<i64>, i64)> = segments
        .inactive()
        .map(|(s, next)| (s.base_offset(), s.size(), s.largest_timestamp(), next))
        .collect();
    let mut doomed = 0;
    if config.delete && config.retention_ms >= 0 {
        while let Some(&(_, _, Some(largest), _)) = inactive.get(doomed) {
            if now_ms.saturating_sub(largest) <= config.retention_ms {
                break;
            }
            doomed += 1;
        }
    }
    if config.delete && config.retention_bytes >= 0 {
        let deleted: u64 = inactive[..doomed].iter().map(|s| s.1).sum();
        let remaining = i128::from(segments.size_bytes() - deleted);
        let mut excess = remaining - i128::from(config.retention_bytes);
        while let Some(&(_, size, _, _)) = inactive.get(doomed) {
            if excess - i128::from(size) < 0 {
                break;
            }
            excess -= i128::from(size);
            doomed += 1;
        }
    }
    while let Some(&(_, _, _, next)) = inactive.get(doomed) {
        if next > log_start_offset {
            break;
        }
        doomed += 1;
    }
    inactive[..doomed].iter().map(|s| s.0).collect()
}

/// Base offsets of the segments wholly below `log_start_offset`, oldest first.
pub(crate) fn segments_below(segments: &LogSegments, log_start_offset: i64) -> Vec<i64> {
    segments
        .inactive()
        .take_while(|&(_, next)| next <= log_start_offset)
        .map(|(s, _)| s.base_offset())
        .collect()
}

/// Why segments are deleted, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Retention,
    BelowLogStart,
}

/// Removes the segments `bases` from the set and deletes their files, then fsyncs the directory
/// if any went. With a `file.delete.delay.ms` above zero the files are only renamed `.deleted`
/// and added to `later`, to be removed once the delay has passed (Kafka's asynchronous
/// delete). Returns how many segments and bytes were deleted. Slices already handed out stay
/// readable through their open handles.
pub(crate) fn delete_segments(
    segments: &mut LogSegments,
    dir: &Path,
    bases: &[i64],
    cause: Cause,
    config: &LogConfig,
    later: &mut Vec<PathBuf>,
) -> io::Result<(usize, u64)> {
    let (mut count, mut bytes) = (0, 0);
    for &base in bases {
        let Some(segment) = segments.remove(base) else {
            continue;
        };
        count += 1;
        bytes += segment.size();
        match cause {
            Cause::Retention => info!(
                dir = %dir.display(),
                base_offset = base,
                bytes = segment.size(),
                delay_ms = config.file_delete_delay_ms,
                "deleting segment past retention"
            ),
            Cause::BelowLogStart => info!(
                dir = %dir.display(),
                base_offset = base,
                delay_ms = config.file_delete_delay_ms,
                "deleting segment below the log start offset"
            ),
        }
        if config.file_delete_delay_ms == 0 {
            segment.delete()?;
        } else {
            later.extend(segment.delete_later()?);
        }
    }
    if count > 0 {
        sync_dir(dir)?;
    }
    Ok((count, bytes))
}
