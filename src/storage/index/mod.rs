//! The sparse indexes of a segment, in Kafka's file formats, on one generic index file.
//!
//! - [`file`](mod@file): [`IndexFile`], fixed-width entries in memory and written through to their file
//!   (create/open with a sanity check, append, binary search, truncate, persist, flush, size
//!   limit); each index below only defines its [`IndexEntry`] layout and lookup rules.
//! - [`offset`]: [`OffsetIndex`], `{base_offset:020}.index`, offset → position.
//! - [`time`]: [`TimeIndex`], `{base_offset:020}.timeindex`, timestamp → offset.
//!
//! Entries are written through to the file as they are added; the file tracks how many reached
//! it, so a failed write is retried by the next [`OffsetIndex::flush`]. We never preallocate, so
//! the files need no trimming.

pub mod file;
pub mod offset;
pub mod time;

pub use crate::storage::index::file::{IndexBounds, IndexEntry, IndexError, IndexFile};
pub use crate::storage::index::offset::{OffsetIndex, OffsetPosition, OFFSET_INDEX_ENTRY_SIZE};
pub use crate::storage::index::time::{TimeIndex, TimestampOffset, TIME_INDEX_ENTRY_SIZE};

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
