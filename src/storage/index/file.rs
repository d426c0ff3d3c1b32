//! [`IndexFile`]: a file of fixed-width entries, kept whole in memory and written through to its
//! file, under every index of a segment (Kafka's `AbstractIndex`). It owns what the indexes have
//! in common: creating and opening the file, the sanity check on load, appending, binary search,
//! truncation, writing the entries the file lacks, fsync and the size limit. What an entry holds,
//! how it is laid out and what a lookup means is the business of each index ([`IndexEntry`]).
//!
//! ```text
//! file:    entry 0 | entry 1 | … | entry written-1          (E::SIZE bytes each, no header)
//! memory:  entry 0 | entry 1 | … | entry written-1 | … | entry len-1
//!                                                    ^ appended, not yet persisted
//! ```
//!
//! Invariants: the file holds exactly the first `written` entries (`written ≤ len`); the file is
//! never preallocated, so it needs no trimming on close. A failed write leaves `written` where it
//! was, so the next [`persist`](IndexFile::persist) or [`flush`](IndexFile::flush) retries it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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
    /// Whether `base_offset + relative` is an offset of this segment.
    pub fn offset_in_range(&self, relative: u32) -> bool {
        let Ok(relative) = i32::try_from(relative) else {
            return false;
        };
        let Some(offset) = self.base_offset.checked_add(i64::from(relative)) else {
            return false;
        };
        self.next_base_offset.is_none_or(|next| offset < next)
    }
}

/// One fixed-width entry of an index file: its byte layout and what makes a file of them sound.
pub trait IndexEntry: Copy + Eq + std::fmt::Debug {
    /// Bytes per entry in the file.
    const SIZE: usize;

    /// Reads an entry from exactly [`SIZE`](Self::SIZE) bytes.
    fn decode(bytes: &[u8]) -> Self;

    /// Appends the entry's [`SIZE`](Self::SIZE) bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Whether this entry, found last in the file at `slot`, is space preallocated by Kafka and
    /// never used (it is then cut off on load).
    fn is_preallocated(&self, slot: usize) -> bool;

    /// The load-time check of entry `slot` against the entry before it and the segment: `Err`
    /// with the reason the file is corrupt.
    fn check(
        &self,
        slot: usize,
        previous: Option<Self>,
        bounds: &IndexBounds,
    ) -> Result<(), String>;
}

/// Entries of type `E` in memory and in their file. See the module docs.
#[derive(Debug)]
pub struct IndexFile<E> {
    path: PathBuf,
    file: File,
    base_offset: i64,
    entries: Vec<E>,
    /// How many of `entries` are in the file.
    written: usize,
    max_entries: usize,
}

impl<E: IndexEntry> IndexFile<E> {
    /// Creates an empty index, truncating any file at `path`.
    pub fn create(path: &Path, base_offset: i64, max_index_size: usize) -> io::Result<Self> {
        let file = open_rw(path, true)?;
        file.set_len(0)?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            file,
            base_offset,
            entries: Vec::new(),
            written: 0,
            max_entries: max_entries(max_index_size, E::SIZE),
        })
    }

    /// Opens an existing index file and checks it: a whole number of entries, each passing
    /// [`IndexEntry::check`] against the one before. Trailing preallocated entries are cut, in
    /// memory and in the file.
    pub fn open(
        path: &Path,
        bounds: IndexBounds,
        max_index_size: usize,
    ) -> Result<Self, IndexError> {
        let (file, bytes) = read_index_file(path)?;
        let corrupt = |reason: String| IndexError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() % E::SIZE != 0 {
            return Err(corrupt(format!(
                "size {} is not a multiple of {}",
                bytes.len(),
                E::SIZE
            )));
        }
        let mut entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        while entries
            .last()
            .is_some_and(|e| e.is_preallocated(entries.len() - 1))
        {
            entries.pop();
        }
        let mut previous = None;
        for (slot, &entry) in entries.iter().enumerate() {
            entry.check(slot, previous, &bounds).map_err(corrupt)?;
            previous = Some(entry);
        }
        let valid_len = (entries.len() * E::SIZE) as u64;
        if valid_len != bytes.len() as u64 {
            file.set_len(valid_len).map_err(|source| IndexError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let written = entries.len();
        Ok(IndexFile {
            path: path.to_path_buf(),
            file,
            base_offset: bounds.base_offset,
            entries,
            written,
            max_entries: max_entries(max_index_size, E::SIZE),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// `offset` relative to the base offset, if it fits the 4-byte fields (`0..=i32::MAX`).
    pub fn relative_offset(&self, offset: i64) -> Option<u32> {
        offset
            .checked_sub(self.base_offset)
            .and_then(|r| i32::try_from(r).ok())
            .and_then(|r| u32::try_from(r).ok())
    }

    /// The absolute offset of a relative one.
    pub fn absolute_offset(&self, relative: u32) -> i64 {
        self.base_offset + i64::from(relative)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries `max_index_size` allows (at least two).
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Changes the size limit (`segment.index.bytes`); entries already there stay.
    pub fn resize(&mut self, max_index_size: usize) {
        self.max_entries = max_entries(max_index_size, E::SIZE);
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    /// Adds an entry in memory, unchecked: ordering and fullness are the index's rules. Written
    /// to the file by [`persist`](Self::persist).
    pub fn push(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// The last entry for which `is_at_or_below` holds, given that it holds for a prefix of the
    /// entries (binary search: entries are sorted by the key it tests).
    pub fn floor(&self, is_at_or_below: impl FnMut(&E) -> bool) -> Option<E> {
        let n = self.entries.partition_point(is_at_or_below);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Keeps the first `len` entries, in memory and in the file.
    pub fn truncate(&mut self, len: usize) -> io::Result<()> {
        if len >= self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(len);
        if self.written > len {
            self.file.set_len((len * E::SIZE) as u64)?;
            self.written = len;
        }
        Ok(())
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
        let mut buf = Vec::with_capacity((self.entries.len() - self.written) * E::SIZE);
        for entry in &self.entries[self.written..] {
            entry.encode(&mut buf);
        }
        self.file
            .write_all_at(&buf, (self.written * E::SIZE) as u64)?;
        self.written = self.entries.len();
        Ok(())
    }

    /// [`persist`](Self::persist), then fsync.
    pub fn flush(&mut self) -> io::Result<()> {
        self.persist()?;
        self.file.sync_data()
    }
}

/// The inherent methods every index type shares, delegated to its `file: IndexFile<Entry>`
/// field: opening and creating, size, the size limit, reset, persist and flush. Each index type
/// then adds only its own fullness rule, appends and lookups.
macro_rules! index_file_methods {
    ($index:ident) => {
        /// Creates an empty index, truncating any file at `path`.
        pub fn create(
            path: &std::path::Path,
            base_offset: i64,
            max_index_size: usize,
        ) -> std::io::Result<$index> {
            $crate::storage::index::file::IndexFile::create(path, base_offset, max_index_size)
                .map(|file| $index { file })
        }

        /// Opens an existing index file and runs the entries' load-time check against `bounds`
        /// (see the module docs); trailing all-zero entries (space preallocated by Kafka and
        /// never trimmed) are cut.
        pub fn open(
            path: &std::path::Path,
            bounds: $crate::storage::index::file::IndexBounds,
            max_index_size: usize,
        ) -> Result<$index, $crate::storage::index::file::IndexError> {
            $crate::storage::index::file::IndexFile::open(path, bounds, max_index_size)
                .map(|file| $index { file })
        }

        pub fn path(&self) -> &std::path::Path {
            self.file.path()
        }

        pub fn len(&self) -> usize {
            self.file.len()
        }

        pub fn is_empty(&self) -> bool {
            self.file.is_empty()
        }

        pub fn set_max_index_size(&mut self, max_index_size: usize) {
            self.file.resize(max_index_size);
        }

        /// Drops every entry, in memory and on disk.
        pub fn reset(&mut self) -> std::io::Result<()> {
            self.file.reset()
        }

        /// Writes the entries not yet in the file, in one write.
        pub fn persist(&mut self) -> std::io::Result<()> {
            self.file.persist()
        }

        /// [`persist`](Self::persist), then fsync.
        pub fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    };
}
pub(crate) use index_file_methods;

fn max_entries(max_index_size: usize, entry_size: usize) -> usize {
    // At least two, so that a time index (which keeps one slot spare) can ever take an entry.
    (max_index_size / entry_size).max(2)
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

/// A big-endian `u32` from exactly 4 bytes.
pub(crate) fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4-byte entry: enough to exercise the file mechanics on their own.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Plain(u32);

    impl IndexEntry for Plain {
        const SIZE: usize = 4;
        fn decode(bytes: &[u8]) -> Self {
            Plain(be_u32(bytes))
        }
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_be_bytes());
        }
        fn is_preallocated(&self, _slot: usize) -> bool {
            self.0 == 0
        }
        fn check(
            &self,
            slot: usize,
            previous: Option<Self>,
            _: &IndexBounds,
        ) -> Result<(), String> {
            match previous {
                Some(p) if p.0 >= self.0 => Err(format!("entry {slot} does not increase")),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn persist_truncate_reset_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.idx");
        let bounds = IndexBounds {
            base_offset: 0,
            log_size: 0,
            next_base_offset: None,
        };
        let mut idx = IndexFile::<Plain>::create(&path, 0, 40).expect("create");
        assert_eq!(idx.max_entries(), 10);
        for v in [3, 5, 8, 13] {
            idx.push(Plain(v));
        }
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
        idx.persist().expect("persist");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 16);
        assert_eq!(idx.floor(|e| e.0 <= 7), Some(Plain(5)));
        assert_eq!(idx.floor(|e| e.0 <= 2), None);

        idx.truncate(2).expect("truncate");
        assert_eq!(idx.entries(), &[Plain(3), Plain(5)]);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 8);
        idx.push(Plain(6));
        idx.flush().expect("flush");
        let reopened = IndexFile::<Plain>::open(&path, bounds, 40).expect("open");
        assert_eq!(reopened.entries(), &[Plain(3), Plain(5), Plain(6)]);

        // Preallocated tail is cut; an out-of-order entry is corrupt.
        std::fs::write(&path, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).expect("write");
        let idx = IndexFile::<Plain>::open(&path, bounds, 40).expect("open");
        assert_eq!(idx.entries(), &[Plain(1)]);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 4);
        std::fs::write(&path, [0, 0, 0, 2, 0, 0, 0, 1]).expect("write");
        assert!(matches!(
            IndexFile::<Plain>::open(&path, bounds, 40),
            Err(IndexError::Corrupt { .. })
        ));

        let mut idx = IndexFile::<Plain>::create(&path, 0, 40).expect("create");
        idx.push(Plain(1));
        idx.persist().expect("persist");
        idx.reset().expect("reset");
        assert!(idx.is_empty());
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
    }
}
