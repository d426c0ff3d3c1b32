//! [`OffsetIndex`]: offset → position in the segment's `.log` file, sparse.
//!
//! ```text
//! {base_offset:020}.index       one 8-byte entry per indexed batch
//!   0   4  relativeOffset  u32 BE   offset - segment base offset
//!   4   4  position        u32 BE   byte position of a batch in the .log file
//! ```
//!
//! An entry `(o, p)` is written for the batch starting at byte `p` whose last offset is `o`
//! (older Kafka versions wrote the last offset of the whole append instead). Either way every
//! batch before `p` ends below `o`, which is all a lookup needs: the largest entry `≤ target`
//! gives a position from which a forward scan finds the batch holding `target`.

use crate::record::BATCH_HEADER_LEN;
use crate::storage::index::file::{be_u32, index_file_methods, IndexBounds, IndexEntry, IndexFile};

/// Bytes per offset-index entry.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;

/// An absolute offset and the byte position of a batch in the segment's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u64,
}

/// One entry as stored: both fields strictly increase from entry to entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    relative: u32,
    position: u32,
}

impl IndexEntry for Entry {
    const SIZE: usize = OFFSET_INDEX_ENTRY_SIZE;

    fn decode(b: &[u8]) -> Self {
        Entry {
            relative: be_u32(&b[0..4]),
            position: be_u32(&b[4..8]),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }

    /// Kafka's first entry is never at position 0, so `(0, 0)` is unused preallocated space.
    fn is_preallocated(&self, _slot: usize) -> bool {
        self.relative == 0 && self.position == 0
    }

    /// Offsets inside the segment, positions inside the log file, both strictly increasing.
    fn check(&self, i: usize, previous: Option<Self>, bounds: &IndexBounds) -> Result<(), String> {
        let Entry { relative, position } = *self;
        if !bounds.offset_in_range(relative) {
            return Err(format!(
                "entry {i}: relative offset {relative} outside the segment"
            ));
        }
        if u64::from(position) + BATCH_HEADER_LEN as u64 > bounds.log_size {
            return Err(format!(
                "entry {i}: position {position} beyond the log size {}",
                bounds.log_size
            ));
        }
        if let Some(Entry {
            relative: prev_rel,
            position: prev_pos,
        }) = previous
        {
            if relative <= prev_rel || position <= prev_pos {
                return Err(format!(
                    "entry {i} ({relative}, {position}) does not follow ({prev_rel}, {prev_pos})"
                ));
            }
        }
        Ok(())
    }
}

/// Maps offsets to file positions. See the module docs for the layout.
#[derive(Debug)]
pub struct OffsetIndex {
    file: IndexFile<Entry>,
}

impl OffsetIndex {
    index_file_methods!(OffsetIndex);

    /// Whether the index holds as many entries as `max_index_size` allows (the segment must roll).
    pub fn is_full(&self) -> bool {
        self.file.len() >= self.file.max_entries()
    }

    /// Whether `offset` can be stored relative to this segment's base offset.
    pub fn can_append_offset(&self, offset: i64) -> bool {
        self.file.relative_offset(offset).is_some()
    }

    fn entry(&self, e: Entry) -> OffsetPosition {
        OffsetPosition {
            offset: self.file.absolute_offset(e.relative),
            position: u64::from(e.position),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = OffsetPosition> + '_ {
        self.file.entries().iter().map(|&e| self.entry(e))
    }

    pub fn last_entry(&self) -> Option<OffsetPosition> {
        self.file.last().map(|e| self.entry(e))
    }

    /// Adds an entry in memory; ignored if full, if it does not increase, or if it does not fit
    /// the 4-byte fields. Written to the file by [`persist`](Self::persist).
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        if self.is_full() {
            return false;
        }
        let (Some(relative), Ok(position)) =
            (self.file.relative_offset(offset), u32::try_from(position))
        else {
            return false;
        };
        if let Some(last) = self.file.last() {
            if relative <= last.relative || position <= last.position {
                return false;
            }
        }
        self.file.push(Entry { relative, position });
        true
    }

    /// The entry with the largest offset `≤ target`, or `(base_offset, 0)` if there is none.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        match self
            .file
            .floor(|e| self.file.absolute_offset(e.relative) <= target)
        {
            Some(e) => self.entry(e),
            None => OffsetPosition {
                offset: self.file.base_offset(),
                position: 0,
            },
        }
    }

    /// The largest indexed position `≤ position` (a batch boundary), if any.
    pub fn floor_position(&self, position: u64) -> Option<u64> {
        self.file
            .floor(|e| u64::from(e.position) <= position)
            .map(|e| u64::from(e.position))
    }
}
