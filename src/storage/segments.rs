//! [`LogSegments`]: the segments of one partition directory, ordered by base offset (Kafka's
//! `LogSegments`), with the lookups that span segments and the roll to a new active segment.
//!
//! ```text
//! base offsets:   0          4242         9000 (active)
//!                 [segment ) [segment   ) [segment … log end
//! ```
//!
//! Invariant, once the log is open: never empty, and the last segment is the active one, the
//! only one appended to. Every segment before it was fsynced when it rolled.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use tracing::warn;

use crate::storage::config::LogConfig;
use crate::storage::scan::ScanCounters;
use crate::storage::segment::LogSegment;
use crate::storage::slice::FileSlice;
use crate::util::fs::sync_dir;

/// The ordered segments of a partition log. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct LogSegments {
    by_base: BTreeMap<i64, LogSegment>,
}

impl LogSegments {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_base.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_base.len()
    }

    pub(crate) fn insert(&mut self, segment: LogSegment) {
        self.by_base.insert(segment.base_offset(), segment);
    }

    pub(crate) fn remove(&mut self, base_offset: i64) -> Option<LogSegment> {
        self.by_base.remove(&base_offset)
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LogSegment> + '_ {
        self.by_base.values()
    }

    /// Every segment but the active one, oldest first, each with the next segment's base offset.
    pub(crate) fn inactive(&self) -> impl Iterator<Item = (&LogSegment, i64)> + '_ {
        self.by_base
            .values()
            .zip(self.by_base.keys().skip(1).copied())
    }

    /// Base offsets, oldest first.
    pub(crate) fn base_offsets(&self) -> Vec<i64> {
        self.by_base.keys().copied().collect()
    }

    /// The active segment's base offset.
    pub(crate) fn last_base_offset(&self) -> Option<i64> {
        self.by_base.keys().next_back().copied()
    }

    pub(crate) fn get(&self, base_offset: i64) -> Option<&LogSegment> {
        self.by_base.get(&base_offset)
    }

    /// The base offset of the first segment after `base_offset`, if any.
    pub(crate) fn next_base_after(&self, base_offset: i64) -> Option<i64> {
        self.by_base
            .range(base_offset.saturating_add(1)..)
            .next()
            .map(|(&b, _)| b)
    }

    pub(crate) fn first_base_offset(&self) -> Option<i64> {
        self.by_base.keys().next().copied()
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.by_base.values().map(LogSegment::size).sum()
    }

    /// The segment appends go to.
    pub(crate) fn active(&mut self) -> io::Result<&mut LogSegment> {
        self.by_base
            .values_mut()
            .next_back()
            .ok_or_else(|| io::Error::other("partition log has no segment"))
    }

    pub(crate) fn set_config(&mut self, config: &LogConfig) {
        for segment in self.by_base.values_mut() {
            segment.set_config(config);
        }
    }

    /// Whole batches from the one holding `offset` (see [`LogSegment::read`]), from the segment
    /// whose base is the largest `≤ offset` or, when that one ends below `offset` (offset gaps),
    /// from the next one that reaches it. Empty if none does.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        counters: &ScanCounters,
    ) -> io::Result<FileSlice> {
        let floor = self
            .by_base
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(&base, _)| base);
        for segment in self.by_base.range(floor..).map(|(_, s)| s) {
            if let Some(slice) = segment.read(offset, max_bytes, min_one, counters)? {
                return Ok(slice);
            }
        }
        Ok(FileSlice::empty())
    }

    /// The first record at or after `log_start_offset` whose timestamp is `≥ timestamp`, as
    /// `(offset, timestamp)`, searching only segments whose max timestamp reaches it.
    pub(crate) fn offset_for_timestamp(
        &self,
        timestamp: i64,
        log_start_offset: i64,
        counters: &ScanCounters,
    ) -> io::Result<Option<(i64, i64)>> {
        for segment in self.by_base.values() {
            if segment.max_timestamp().timestamp < timestamp
                || segment.next_offset() <= log_start_offset
            {
                continue;
            }
            if let Some(found) =
                segment.find_offset_by_timestamp(timestamp, log_start_offset, counters)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the record with the largest timestamp (the first segment holding
    /// it wins), or `None` if no record has a timestamp. A failed lookup inside the segment is
    /// logged and answered at batch level.
    pub(crate) fn max_timestamp_offset(&self, counters: &ScanCounters) -> Option<(i64, i64)> {
        let mut best: Option<&LogSegment> = None;
        for segment in self.by_base.values() {
            let ts = segment.max_timestamp().timestamp;
            if ts >= 0 && best.is_none_or(|b| ts > b.max_timestamp().timestamp) {
                best = Some(segment);
            }
        }
        let segment = best?;
        match segment.offset_of_max_timestamp(counters) {
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

    /// Starts a new active segment at `new_base`. The old one gets its final time-index entry,
    /// gives back its preallocated blocks and is fsynced; the directory is fsynced with the new
    /// files. Returns the old active segment's base offset.
    pub(crate) fn roll(
        &mut self,
        dir: &Path,
        new_base: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> io::Result<i64> {
        let old = self.active()?;
        let old_base = old.base_offset();
        old.append_final_time_index_entry()?;
        old.trim_preallocation()?;
        old.flush()?;
        self.insert(LogSegment::create(dir, new_base, config, now_ms)?);
        sync_dir(dir)?;
        Ok(old_base)
    }
}
