//! The two sparse indexes of a segment, in Kafka's file formats.
//!
//! ```text
//! {base_offset:020}.index       one 8-byte entry per indexed batch
//!   0   4  relativeOffset  u32 BE   offset - segment base offset
//!   4   4  position        u32 BE   byte position of a batch in the .log file
//!
//! {base_offset:020}.timeindex   one 12-byte entry per indexed batch whose timestamp grew
//!   0   8  timestamp       i64 BE   largest timestamp seen in the segment so far
//!   8   4  relativeOffset  u32 BE   the offset that carried it (the last offset of its batch)
//! ```
//!
//! An offset-index entry `(o, p)` is written for the batch starting at byte `p` whose last offset is
//! `o` (older Kafka versions wrote the last offset of the whole append instead). Either way every
//! batch before `p` ends below `o`, which is all a lookup needs: the largest entry `≤ target`
//! gives a position from which a forward scan finds the batch holding `target`.
//!
//! A time-index entry `(t, o)` means: no record before offset `o` has a timestamp above `t`.
//! Timestamps in the file strictly increase.
//!
//! Both indexes live in memory (a `Vec`) and in their files. Entries are written through to the
//! file as they are added; `written` tracks how many reached it, so a failed write is retried by
//! the next [`OffsetIndex::flush`]. We never preallocate, so the files need no trimming.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes per offset-index entry.
pub const OFFSET_INDEX_ENTRY_SIZE: usize = 8;
/// Bytes per time-index entry.
pub const TIME_INDEX_ENTRY_SIZE: usize = 12;

/// Why an index file could not be used as it is. `Missing` and `Corrupt` lead to a rebuild from
/// the log; `Io` is a real I/O failure and aborts the open.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index file {0} is missing")]
    Missing(PathBuf),
    #[error("index file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("I/O error on index file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// An absolute offset and the byte position of a batch in the segment's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u64,
}

/// A timestamp and the absolute offset that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// What the index files are checked against when they are opened.
#[derive(Debug, Clone, Copy)]
pub struct IndexBounds {
    pub base_offset: i64,
    /// Size of the segment's log file: every indexed position must leave room for a header.
    pub log_size: u64,
    /// Base offset of the next segment, if any: indexed offsets must stay below it.
    pub next_base_offset: Option<i64>,
}

impl IndexBounds {
    fn offset_in_range(&self, relative: u32) -> bool {
        let Ok(relative) = i32::try_from(relative) else {
            return false;
        };
        let Some(offset) = self.base_offset.checked_add(i64::from(relative)) else {
            return false;
        };
        self.next_base_offset.is_none_or(|next| offset < next)
    }
}

fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
}

/// Reads a whole index file; `Missing` if it does not exist.
fn read_index_file(path: &Path) -> Result<(File, Vec<u8>), IndexError> {
    let io_err = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match open_rw(path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IndexError::Missing(path.to_path_buf()))
        }
        Err(e) => return Err(io_err(e)),
    };
    let len = file.metadata().map_err(io_err)?.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io_err)?;
    Ok((file, bytes))
}

/// Maps offsets to file positions. See the module docs for the layout.
#[derive(Debug)]
pub struct OffsetIndex {
    path: PathBuf,
    file: File,
    base_offset: i64,
    /// `(relative offset, position)`, both strictly increasing.
    entries: Vec<(u32, u32)>,
    /// How many of `entries` are in the file.
    written: usize,
    max_entries: usize,
}

impl OffsetIndex {
    /// Creates an empty index, truncating any file at `path`.
    pub fn create(path: &Path, base_offset: i64, max_index_size: usize) -> io::Result<OffsetIndex> {
        let file = open_rw(path, true)?;
        file.set_len(0)?;
        Ok(OffsetIndex {
            path: path.to_path_buf(),
            file,
            base_offset,
            entries: Vec::new(),
            written: 0,
            max_entries: max_entries(max_index_size, OFFSET_INDEX_ENTRY_SIZE),
        })
    }

    /// Opens an existing index file and checks it against `bounds`: a whole number of entries,
    /// offsets and positions strictly increasing, offsets inside the segment, positions inside the
    /// log file. Trailing all-zero entries (space preallocated by Kafka and never trimmed) are cut.
    pub fn open(
        path: &Path,
        bounds: IndexBounds,
        max_index_size: usize,
    ) -> Result<OffsetIndex, IndexError> {
        let (file, bytes) = read_index_file(path)?;
        let corrupt = |reason: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() % OFFSET_INDEX_ENTRY_SIZE != 0 {
            return Err(corrupt(format!(
                "size {} is not a multiple of {OFFSET_INDEX_ENTRY_SIZE}",
                bytes.len()
            )));
        }
        let mut entries: Vec<(u32, u32)> = bytes
            .chunks_exact(OFFSET_INDEX_ENTRY_SIZE)
            .map(|e| (be_u32(&e[0..4]), be_u32(&e[4..8])))
            .collect();
        // Kafka's first entry is never at position 0, so (0, 0) is unused preallocated space.
        while entries.last() == Some(&(0, 0)) {
            entries.pop();
        }
        let mut previous: Option<(u32, u32)> = None;
        for (i, &(relative, position)) in entries.iter().enumerate() {
            if !bounds.offset_in_range(relative) {
                return Err(corrupt(format!(
                    "entry {i}: relative offset {relative} outside the segment"
                )));
            }
            if u64::from(position) + crate::record::BATCH_HEADER_LEN as u64 > bounds.log_size {
                return Err(corrupt(format!(
                    "entry {i}: position {position} beyond the log size {}",
                    bounds.log_size
                )));
            }
            if let Some((prev_rel, prev_pos)) = previous {
                if relative <= prev_rel || position <= prev_pos {
                    return Err(corrupt(format!(
                        "entry {i} ({relative}, {position}) does not follow ({prev_rel}, {prev_pos})"
                    )));
                }
            }
            previous = Some((relative, position));
        }
        let valid_len = (entries.len() * OFFSET_INDEX_ENTRY_SIZE) as u64;
        if valid_len != bytes.len() as u64 {
            file.set_len(valid_len).map_err(|source| IndexError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let written = entries.len();
        Ok(OffsetIndex {
            path: path.to_path_buf(),
            file,
            base_offset: bounds.base_offset,
            entries,
            written,
            max_entries: max_entries(max_index_size, OFFSET_INDEX_ENTRY_SIZE),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the index holds as many entries as `max_index_size` allows (the segment must roll).
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub fn set_max_index_size(&mut self, max_index_size: usize) {
        self.max_entries = max_entries(max_index_size, OFFSET_INDEX_ENTRY_SIZE);
    }

    /// Whether `offset` can be stored relative to this segment's base offset.
    pub fn can_append_offset(&self, offset: i64) -> bool {
        offset
            .checked_sub(self.base_offset)
            .is_some_and(|rel| (0..=i64::from(i32::MAX)).contains(&rel))
    }

    fn entry(&self, (relative, position): (u32, u32)) -> OffsetPosition {
        OffsetPosition {
            offset: self.base_offset + i64::from(relative),
            position: u64::from(position),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = OffsetPosition> + '_ {
        self.entries.iter().map(|&e| self.entry(e))
    }

    pub fn last_entry(&self) -> Option<OffsetPosition> {
        self.entries.last().map(|&e| self.entry(e))
    }

    /// Adds an entry in memory; ignored if full, if it does not increase, or if it does not fit
    /// the 4-byte fields. Written to the file by [`persist`](Self::persist).
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        if self.is_full() || !self.can_append_offset(offset) {
            return false;
        }
        let (Ok(relative), Ok(position)) = (
            u32::try_from(offset - self.base_offset),
            u32::try_from(position),
        ) else {
            return false;
        };
        if let Some(&(last_rel, last_pos)) = self.entries.last() {
            if relative <= last_rel || position <= last_pos {
                return false;
            }
        }
        self.entries.push((relative, position));
        true
    }

    /// The entry with the largest offset `≤ target`, or `(base_offset, 0)` if there is none.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let n = self
            .entries
            .partition_point(|&(rel, _)| self.base_offset + i64::from(rel) <= target);
        match n {
            0 => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
            n => self.entry(self.entries[n - 1]),
        }
    }

    /// The largest indexed position `≤ position` (a batch boundary), if any.
    pub fn floor_position(&self, position: u64) -> Option<u64> {
        let n = self
            .entries
            .partition_point(|&(_, pos)| u64::from(pos) <= position);
        n.checked_sub(1).map(|i| u64::from(self.entries[i].1))
    }

    /// Drops every entry, in memory and on disk.
    pub fn reset(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.written = 0;
        self.file.set_len(0)
    }

    /// Writes the entries not yet in the file, in one write.
    pub fn persist(&mut self) -> io::Result<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity((self.entries.len() - self.written) * 8);
        for &(relative, position) in &self.entries[self.written..] {
            buf.extend_from_slice(&relative.to_be_bytes());
            buf.extend_from_slice(&position.to_be_bytes());
        }
        self.file
            .write_all_at(&buf, (self.written * OFFSET_INDEX_ENTRY_SIZE) as u64)?;
        self.written = self.entries.len();
        Ok(())
    }

    /// [`persist`](Self::persist), then fsync.
    pub fn flush(&mut self) -> io::Result<()> {
        self.persist()?;
        self.file.sync_data()
    }
}

/// Maps timestamps to offsets. See the module docs for the layout.
#[derive(Debug)]
pub struct TimeIndex {
    path: PathBuf,
    file: File,
    base_offset: i64,
    /// `(timestamp, relative offset)`, timestamps strictly increasing, offsets not decreasing.
    entries: Vec<(i64, u32)>,
    written: usize,
    max_entries: usize,
}

impl TimeIndex {
    /// Creates an empty index, truncating any file at `path`.
    pub fn create(path: &Path, base_offset: i64, max_index_size: usize) -> io::Result<TimeIndex> {
        let file = open_rw(path, true)?;
        file.set_len(0)?;
        Ok(TimeIndex {
            path: path.to_path_buf(),
            file,
            base_offset,
            entries: Vec::new(),
            written: 0,
            max_entries: max_entries(max_index_size, TIME_INDEX_ENTRY_SIZE),
        })
    }

    /// Opens an existing index file and checks it: a whole number of entries, timestamps
    /// increasing, offsets not decreasing and inside the segment. Trailing all-zero entries are
    /// cut as unused preallocated space.
    pub fn open(
        path: &Path,
        bounds: IndexBounds,
        max_index_size: usize,
    ) -> Result<TimeIndex, IndexError> {
        let (file, bytes) = read_index_file(path)?;
        let corrupt = |reason: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() % TIME_INDEX_ENTRY_SIZE != 0 {
            return Err(corrupt(format!(
                "size {} is not a multiple of {TIME_INDEX_ENTRY_SIZE}",
                bytes.len()
            )));
        }
        let mut entries: Vec<(i64, u32)> = bytes
            .chunks_exact(TIME_INDEX_ENTRY_SIZE)
            .map(|e| {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&e[0..8]);
                (i64::from_be_bytes(ts), be_u32(&e[8..12]))
            })
            .collect();
        while entries.len() > 1 && entries.last() == Some(&(0, 0)) {
            entries.pop();
        }
        let mut previous: Option<(i64, u32)> = None;
        for (i, &(timestamp, relative)) in entries.iter().enumerate() {
            if !bounds.offset_in_range(relative) {
                return Err(corrupt(format!(
                    "entry {i}: relative offset {relative} outside the segment"
                )));
            }
            if let Some((prev_ts, prev_rel)) = previous {
                if timestamp < prev_ts || relative < prev_rel {
                    return Err(corrupt(format!(
                        "entry {i} ({timestamp}, {relative}) does not follow ({prev_ts}, {prev_rel})"
                    )));
                }
            }
            previous = Some((timestamp, relative));
        }
        let valid_len = (entries.len() * TIME_INDEX_ENTRY_SIZE) as u64;
        if valid_len != bytes.len() as u64 {
            file.set_len(valid_len).map_err(|source| IndexError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let written = entries.len();
        Ok(TimeIndex {
            path: path.to_path_buf(),
            file,
            base_offset: bounds.base_offset,
            entries,
            written,
            max_entries: max_entries(max_index_size, TIME_INDEX_ENTRY_SIZE),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Full one entry early, like Kafka's: the last slot is kept for the entry written on roll.
    pub fn is_full(&self) -> bool {
        self.entries.len() + 1 >= self.max_entries
    }

    pub fn set_max_index_size(&mut self, max_index_size: usize) {
        self.max_entries = max_entries(max_index_size, TIME_INDEX_ENTRY_SIZE);
    }

    fn entry(&self, (timestamp, relative): (i64, u32)) -> TimestampOffset {
        TimestampOffset {
            timestamp,
            offset: self.base_offset + i64::from(relative),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = TimestampOffset> + '_ {
        self.entries.iter().map(|&e| self.entry(e))
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.entries.last().map(|&e| self.entry(e))
    }

    /// Adds `(timestamp, offset)` if the timestamp is larger than the last one (and not negative:
    /// -1 means "no timestamp"). `skip_full_check` is for the final entry written on roll and close.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64, skip_full_check: bool) -> bool {
        if !skip_full_check && self.is_full() {
            return false;
        }
        let Some(relative) = offset
            .checked_sub(self.base_offset)
            .and_then(|r| i32::try_from(r).ok())
            .and_then(|r| u32::try_from(r).ok())
        else {
            return false;
        };
        let (last_ts, last_rel) = self.entries.last().copied().unwrap_or((-1, 0));
        if timestamp <= last_ts || relative < last_rel {
            return false;
        }
        self.entries.push((timestamp, relative));
        true
    }

    /// The entry with the largest timestamp `≤ target`, or `(-1, base_offset)` if there is none.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        let n = self.entries.partition_point(|&(ts, _)| ts <= target);
        match n {
            0 => TimestampOffset {
                timestamp: -1,
                offset: self.base_offset,
            },
            n => self.entry(self.entries[n - 1]),
        }
    }

    pub fn reset(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.written = 0;
        self.file.set_len(0)
    }

    pub fn persist(&mut self) -> io::Result<()> {
        if self.written == self.entries.len() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity((self.entries.len() - self.written) * 12);
        for &(timestamp, relative) in &self.entries[self.written..] {
            buf.extend_from_slice(&timestamp.to_be_bytes());
            buf.extend_from_slice(&relative.to_be_bytes());
        }
        self.file
            .write_all_at(&buf, (self.written * TIME_INDEX_ENTRY_SIZE) as u64)?;
        self.written = self.entries.len();
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.persist()?;
        self.file.sync_data()
    }
}

fn max_entries(max_index_size: usize, entry_size: usize) -> usize {
    // At least two, so that a time index (which keeps one slot spare) can ever take an entry.
    (max_index_size / entry_size).max(2)
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(log_size: u64) -> IndexBounds {
        IndexBounds {
            base_offset: 100,
            log_size,
            next_base_offset: None,
        }
    }

    #[test]
    fn offset_index_file_layout_and_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::create(&path, 100, 1024).expect("create");
        assert!(idx.append(105, 4200));
        assert!(idx.append(110, 8400));
        assert!(!idx.append(110, 9000), "offsets must increase");
        assert!(!idx.append(111, 8400), "positions must increase");
        idx.persist().expect("persist");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(
            bytes,
            [0, 0, 0, 5, 0, 0, 0x10, 0x68, 0, 0, 0, 10, 0, 0, 0x20, 0xd0]
        );
        assert_eq!(idx.lookup(99).position, 0);
        assert_eq!(idx.lookup(104).position, 0);
        assert_eq!(idx.lookup(104).offset, 100);
        assert_eq!(idx.lookup(105).position, 4200);
        assert_eq!(idx.lookup(109).position, 4200);
        assert_eq!(idx.lookup(1_000).position, 8400);
        assert_eq!(idx.floor_position(4199), None);
        assert_eq!(idx.floor_position(4200), Some(4200));
        assert_eq!(idx.floor_position(9999), Some(8400));

        let reopened = OffsetIndex::open(&path, bounds(10_000), 1024).expect("reopen");
        assert_eq!(
            reopened.entries().collect::<Vec<_>>(),
            idx.entries().collect::<Vec<_>>()
        );
    }

    #[test]
    fn offset_index_sanity_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.index");
        assert!(matches!(
            OffsetIndex::open(&path, bounds(100), 1024),
            Err(IndexError::Missing(_))
        ));
        std::fs::write(&path, [0u8; 7]).expect("write");
        assert!(matches!(
            OffsetIndex::open(&path, bounds(100), 1024),
            Err(IndexError::Corrupt { .. })
        ));
        // Decreasing offsets.
        std::fs::write(&path, [0, 0, 0, 5, 0, 0, 0, 80, 0, 0, 0, 4, 0, 0, 0, 90]).expect("write");
        assert!(matches!(
            OffsetIndex::open(&path, bounds(1000), 1024),
            Err(IndexError::Corrupt { .. })
        ));
        // Position past the log.
        std::fs::write(&path, [0, 0, 0, 5, 0, 0, 3, 0]).expect("write");
        assert!(matches!(
            OffsetIndex::open(&path, bounds(700), 1024),
            Err(IndexError::Corrupt { .. })
        ));
        // Offset beyond the next segment.
        let b = IndexBounds {
            next_base_offset: Some(105),
            ..bounds(10_000)
        };
        assert!(matches!(
            OffsetIndex::open(&path, b, 1024),
            Err(IndexError::Corrupt { .. })
        ));
        // Preallocated zeros are trimmed.
        let mut bytes = vec![0, 0, 0, 5, 0, 0, 3, 0];
        bytes.extend_from_slice(&[0u8; 64]);
        std::fs::write(&path, &bytes).expect("write");
        let idx = OffsetIndex::open(&path, bounds(10_000), 1024).expect("open");
        assert_eq!(idx.len(), 1);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 8);
    }

    #[test]
    fn time_index_file_layout_and_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000100.timeindex");
        let mut idx = TimeIndex::create(&path, 100, 1024).expect("create");
        assert!(!idx.maybe_append(-1, 100, false), "no timestamp, no entry");
        assert!(idx.maybe_append(1000, 101, false));
        assert!(!idx.maybe_append(1000, 102, false), "timestamps must grow");
        assert!(idx.maybe_append(2000, 104, false));
        idx.persist().expect("persist");
        let bytes = std::fs::read(&path).expect("read");
        let mut expected = Vec::new();
        expected.extend_from_slice(&1000i64.to_be_bytes());
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.extend_from_slice(&2000i64.to_be_bytes());
        expected.extend_from_slice(&4u32.to_be_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(
            idx.lookup(999),
            TimestampOffset {
                timestamp: -1,
                offset: 100
            }
        );
        assert_eq!(idx.lookup(1500).offset, 101);
        assert_eq!(idx.lookup(2000).offset, 104);
        let reopened = TimeIndex::open(&path, bounds(0), 1024).expect("reopen");
        assert_eq!(reopened.last_entry(), idx.last_entry());

        std::fs::write(&path, &expected[..20]).expect("write");
        assert!(matches!(
            TimeIndex::open(&path, bounds(0), 1024),
            Err(IndexError::Corrupt { .. })
        ));
        let mut swapped = expected[12..].to_vec();
        swapped.extend_from_slice(&expected[..12]);
        std::fs::write(&path, &swapped).expect("write");
        assert!(matches!(
            TimeIndex::open(&path, bounds(0), 1024),
            Err(IndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn fullness() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = OffsetIndex::create(&dir.path().join("a.index"), 0, 16).expect("create");
        assert!(idx.append(1, 100));
        assert!(idx.append(2, 200));
        assert!(idx.is_full());
        assert!(!idx.append(3, 300));
        let mut t = TimeIndex::create(&dir.path().join("a.timeindex"), 0, 36).expect("create");
        assert!(t.maybe_append(1, 1, false));
        assert!(t.maybe_append(2, 2, false));
        assert!(t.is_full());
        assert!(!t.maybe_append(3, 3, false));
        assert!(
            t.maybe_append(3, 3, true),
            "the roll entry may use the spare slot"
        );
    }
}
