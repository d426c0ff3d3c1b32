//! [`TimeIndex`]: timestamp → offset, sparse.
//!
//! ```text
//! {base_offset:020}.timeindex   one 12-byte entry per indexed batch whose timestamp grew
//!   0   8  timestamp       i64 BE   largest timestamp seen in the segment so far
//!   8   4  relativeOffset  u32 BE   the offset that carried it (the last offset of its batch)
//! ```
//!
//! An entry `(t, o)` means: no record before offset `o` has a timestamp above `t`. Timestamps in
//! the file strictly increase.

use crate::storage::index::file::{be_u32, index_file_methods, IndexBounds, IndexEntry, IndexFile};

/// Bytes per time-index entry.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;

/// A timestamp and the absolute offset that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// One entry as stored: timestamps increasing, offsets not decreasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    timestamp: i64,
    relative: u32,
}

impl IndexEntry for Entry {
    const SIZE: usize = TIME_INDEX_ENTRY_SIZE;

    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        Entry {
            timestamp: i64::from_be_bytes(ts),
            relative: be_u32(&b[8..12]),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative.to_be_bytes());
    }

    /// `(0, 0)` past the first slot is unused preallocated space (a first entry may really be
    /// timestamp 0 at the base offset).
    fn is_preallocated(&self, slot: usize) -> bool {
        slot > 0 && self.timestamp == 0 && self.relative == 0
    }

    /// Offsets inside the segment; timestamps and offsets not decreasing.
    fn check(&self, i: usize, previous: Option<Self>, bounds: &IndexBounds) -> Result<(), String> {
        let Entry {
            timestamp,
            relative,
        } = *self;
        if !bounds.offset_in_range(relative) {
            return Err(format!(
                "entry {i}: relative offset {relative} outside the segment"
            ));
        }
        if let Some(Entry {
            timestamp: prev_ts,
            relative: prev_rel,
        }) = previous
        {
            if timestamp < prev_ts || relative < prev_rel {
                return Err(format!(
                    "entry {i} ({timestamp}, {relative}) does not follow ({prev_ts}, {prev_rel})"
                ));
            }
        }
        Ok(())
    }
}

/// Maps timestamps to offsets. See the module docs for the layout.
#[derive(Debug)]
pub struct TimeIndex {
    file: IndexFile<Entry>,
}

impl TimeIndex {
    index_file_methods!(TimeIndex);

    /// Full one entry early, like Kafka's: the last slot is kept for the entry written on roll.
    pub fn is_full(&self) -> bool {
        self.file.len() + 1 >= self.file.max_entries()
    }

    fn entry(&self, e: Entry) -> TimestampOffset {
        TimestampOffset {
            timestamp: e.timestamp,
            offset: self.file.absolute_offset(e.relative),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = TimestampOffset> + '_ {
        self.file.entries().iter().map(|&e| self.entry(e))
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.file.last().map(|e| self.entry(e))
    }

    /// Adds `(timestamp, offset)` if the timestamp is larger than the last one (and not negative:
    /// -1 means "no timestamp"). `skip_full_check` is for the final entry written on roll and close.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> bool {
        if !skip_full_check && self.is_full() {
            return false;
        }
        let Some(relative) = self.file.relative_offset(offset) else {
            return false;
        };
        let (last_ts, last_rel) = self
            .file
            .last()
            .map_or((-1, 0), |e| (e.timestamp, e.relative));
        if timestamp <= last_ts || relative < last_rel {
            return false;
        }
        self.file.push(Entry {
            timestamp,
            relative,
        });
        true
    }

    /// The entry with the largest timestamp `≤ target`, or `(-1, base_offset)` if there is none.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        match self.file.floor(|e| e.timestamp <= target) {
            Some(e) => self.entry(e),
            None => TimestampOffset {
                timestamp: -1,
                offset: self.file.base_offset(),
            },
        }
    }
}
