//! The leader-epoch cache of a partition and its `leader-epoch-checkpoint` file (Kafka's
//! `LeaderEpochFileCache` and `LeaderEpochCheckpointFile`): for each leader epoch the first
//! offset written in it, so that a follower (later) or a consumer's `OffsetForLeaderEpoch` can
//! find where an epoch ended.
//!
//! ```text
//! <partition dir>/leader-epoch-checkpoint     Kafka's checkpoint text format:
//!     0                                       version
//!     2                                       entry count
//!     0 0                                     "epoch startOffset", epochs and offsets increasing
//!     3 1742
//! ```
//!
//! Entries come from the batches: every batch carries the epoch of the leader that appended it
//! in its `partitionLeaderEpoch` field (outside the CRC), which sluice stamps on every append.
//! The cache learns a new epoch when the partition is told of it ([`LeaderEpochCache::assign`]
//! at the log end, as Kafka's `makeLeader` does), is rebuilt from the batches a recovery
//! validated, and is truncated with the log: entries at or past a new log end go
//! ([`truncate_from_end`](LeaderEpochCache::truncate_from_end)), and a log start that moves up
//! moves the entry below it up with it ([`truncate_from_start`](LeaderEpochCache::truncate_from_start)).
//! The file is rewritten atomically whenever the entries change.

use std::fs;
use std::io;
use std::path::Path;

use crate::util::fs::write_atomically;

pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
const VERSION: i32 = 0;

/// One epoch and the first offset it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The epochs of a partition, oldest first; epochs and start offsets strictly increase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`; returns whether the entries changed.
    /// Negative values (a batch from a producer, never stamped) are ignored. As in Kafka, an
    /// entry for the latest epoch at a later offset changes nothing, and entries that a new one
    /// contradicts (an epoch at or above it, or a start at or past it) are removed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(latest) = self.latest() {
            if latest.epoch == epoch && start_offset >= latest.start_offset {
                return false;
            }
        }
        while self
            .entries
            .last()
            .is_some_and(|e| e.epoch >= epoch || e.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Removes the entries starting at or past `end_offset` (the log was cut there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// The log now starts at `start_offset`: the entry holding it is moved up to start there and
    /// the ones before it are removed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let Some(floor) = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset)
        else {
            return false;
        };
        let changed = floor > 0 || self.entries[floor].start_offset != start_offset;
        self.entries.drain(..floor);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// Kafka's text.
    pub fn encode(&self) -> String {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }

    /// Parses the file; `None` for anything Kafka's reader would refuse (wrong version, a count
    /// that does not match the lines, a malformed line) or entries that do not increase.
    pub fn decode(text: &str) -> Option<LeaderEpochCache> {
        let mut lines = text.lines();
        if lines.next()?.trim().parse::<i32>().ok()? != VERSION {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = LeaderEpochCache::default();
        for line in lines.by_ref().take(count) {
            let mut fields = line.split_whitespace();
            let (Some(epoch), Some(offset), None) = (fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            let entry = EpochEntry {
                epoch: epoch.parse().ok()?,
                start_offset: offset.parse().ok()?,
            };
            let increasing = cache
                .latest()
                .is_none_or(|l| entry.epoch > l.epoch && entry.start_offset > l.start_offset);
            if entry.epoch < 0 || entry.start_offset < 0 || !increasing {
                return None;
            }
            cache.entries.push(entry);
        }
        if cache.entries.len() != count || lines.any(|l| !l.trim().is_empty()) {
            return None;
        }
        Some(cache)
    }

    /// Reads `dir/leader-epoch-checkpoint`: `Ok(None)` if absent or empty, `InvalidData` if
    /// malformed (or not UTF-8).
    pub fn read(dir: &Path) -> io::Result<Option<LeaderEpochCache>> {
        let text = match fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Kafka creates the file empty before its first write: as good as absent.
        if text.is_empty() {
            return Ok(None);
        }
        LeaderEpochCache::decode(&text).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed leader-epoch-checkpoint",
            )
        })
    }

    /// Replaces `dir/leader-epoch-checkpoint` atomically.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        write_atomically(&dir.join(LEADER_EPOCH_CHECKPOINT), self.encode().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache {
            entries: entries
                .iter()
                .map(|&(epoch, start_offset)| EpochEntry {
                    epoch,
                    start_offset,
                })
                .collect(),
        }
    }

    #[test]
    fn golden_text_both_ways() {
        let c = cache(&[(0, 0), (3, 1742)]);
        assert_eq!(c.encode(), "0\n2\n0 0\n3 1742\n");
        assert_eq!(LeaderEpochCache::decode("0\n2\n0 0\n3 1742\n"), Some(c));
        assert_eq!(LeaderEpochCache::default().encode(), "0\n0\n");
        assert_eq!(
            LeaderEpochCache::decode("0\n0\n"),
            Some(LeaderEpochCache::default())
        );
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0 0\n1 5\n",
            "0\n1\n0 x\n",
            "0\n2\n3 5\n2 9\n",
            "0\n1\n-1 0\n",
        ] {
            assert_eq!(LeaderEpochCache::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn assign_as_kafka_does() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 10), "same epoch later: nothing");
        assert!(!c.assign(-1, 10), "unstamped batch");
        assert!(c.assign(2, 10));
        assert!(c.assign(5, 20));
        assert_eq!(c, cache(&[(0, 0), (2, 10), (5, 20)]));
        // An epoch below the latest, at an offset past it: the contradicted entries go.
        assert!(c.assign(3, 15));
        assert_eq!(c, cache(&[(0, 0), (2, 10), (3, 15)]));
        // The latest epoch at an earlier offset moves its start down.
        assert!(c.assign(3, 12));
        assert_eq!(c, cache(&[(0, 0), (2, 10), (3, 12)]));
    }

    #[test]
    fn truncation_from_both_ends() {
        let mut c = cache(&[(0, 0), (2, 10), (5, 20)]);
        assert!(!c.truncate_from_end(25));
        assert!(c.truncate_from_end(20));
        assert_eq!(c, cache(&[(0, 0), (2, 10)]));
        assert!(c.truncate_from_start(12));
        assert_eq!(c, cache(&[(2, 12)]));
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(5), "below every entry");
    }

    #[test]
    fn file_round_trip_and_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(LeaderEpochCache::read(dir.path()).expect("read"), None);
        fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), b"").expect("w");
        assert_eq!(LeaderEpochCache::read(dir.path()).expect("empty"), None);
        let c = cache(&[(1, 0), (4, 99)]);
        c.write(dir.path()).expect("write");
        assert_eq!(
            fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).expect("text"),
            "0\n2\n1 0\n4 99\n"
        );
        assert_eq!(LeaderEpochCache::read(dir.path()).expect("read"), Some(c));
        fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), b"0\n\xff\n").expect("w");
        assert!(LeaderEpochCache::read(dir.path()).is_err());
    }
}
