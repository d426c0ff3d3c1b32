//! Kafka's log-dir-level checkpoints, written for Kafka: one line per partition of the
//! directory, in Kafka's `CheckpointFile` text format, each replaced atomically (temporary file,
//! fsync, rename, directory fsync) as Kafka's `CheckpointFile.write` does.
//!
//! ```text
//! <log.dirs>/recovery-point-offset-checkpoint   0            version
//! <log.dirs>/log-start-offset-checkpoint        2            entry count
//! <log.dirs>/replication-offset-checkpoint      orders 0 42  topic partition offset
//!                                               orders 1 7
//! ```
//!
//! | file | value | Kafka writes it |
//! |---|---|---|
//! | `recovery-point-offset-checkpoint` | every offset below is fsynced | every `log.flush.offset.checkpoint.interval.ms` (60 s), and at shutdown |
//! | `log-start-offset-checkpoint` | the log start offset (DeleteRecords, retention) | every `log.flush.start.offset.checkpoint.interval.ms` (60 s), and at shutdown |
//! | `replication-offset-checkpoint` | the high watermark (the log end on one node) | every `replica.high.watermark.checkpoint.interval.ms` (5 s), and at shutdown |
//!
//! sluice writes each at its own interval, those same three settings ([`Intervals`]; only if its
//! text changed), and all three once more after the clean close of every partition, when the
//! recovery point of each closed
//! partition is its log end. **Which file is authoritative**: for sluice, the partition's own
//! `sluice-offset-checkpoint` (written at the exact moments the values change, beside the
//! segments); these root files are its mirror for Kafka, and are read by sluice only as hints for
//! a partition without its own file (a Kafka directory, `OpenHints`). A directory of an older
//! sluice gains them at the first interval. `cleaner-offset-checkpoint` (the log cleaner's
//! progress) is the log cleaner's own ([`super::cleaner`]).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

#[cfg(test)]
use super::files::read_offset_checkpoint;
use super::files::{
    LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, REPLICATION_OFFSET_CHECKPOINT,
};
use super::PartitionRegistry;
use crate::util::fs::write_atomically;

/// How often each root checkpoint is refreshed, in the order recovery points, log starts, high
/// watermarks (`log.flush.offset.checkpoint.interval.ms`,
/// `log.flush.start.offset.checkpoint.interval.ms`,
/// `replica.high.watermark.checkpoint.interval.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals(pub [Duration; 3]);

impl Intervals {
    /// The shortest: how often the writer wakes up to see what is due.
    pub fn tick(&self) -> Duration {
        self.0
            .iter()
            .copied()
            .min()
            .unwrap_or(Duration::from_secs(5))
    }
}

/// One partition's values for the three files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCheckpoint {
    pub recovery_point: i64,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

/// Kafka's text for `(topic, partition) → value`, sorted as a `BTreeMap` sorts.
pub fn format_offset_checkpoint(values: &BTreeMap<(String, i32), i64>) -> String {
    let mut out = format!("0\n{}\n", values.len());
    for ((topic, partition), value) in values {
        out.push_str(&format!("{topic} {partition} {value}\n"));
    }
    out
}

/// Writes the root checkpoints of one log directory; remembers what it last wrote, so an
/// unchanged file is not rewritten.
#[derive(Debug)]
pub struct LogDirCheckpoints {
    log_dir: PathBuf,
    last: Mutex<[Option<String>; 3]>,
    intervals: Intervals,
    /// When each file was last brought up to date by the periodic writer.
    refreshed: Mutex<[Instant; 3]>,
}

impl LogDirCheckpoints {
    pub fn new(log_dir: &Path, intervals: Intervals) -> LogDirCheckpoints {
        let now = Instant::now();
        LogDirCheckpoints {
            log_dir: log_dir.to_path_buf(),
            last: Mutex::default(),
            intervals,
            refreshed: Mutex::new([now; 3]),
        }
    }

    /// How often the periodic writer should call [`write_due`](Self::write_due).
    pub fn tick(&self) -> Duration {
        self.intervals.tick()
    }

    /// Writes the three files for `partitions`. Partitions that are not in the list (deleted
    /// topics) leave the files, as in Kafka.
    pub fn write(
        &self,
        partitions: &BTreeMap<(String, i32), PartitionCheckpoint>,
    ) -> io::Result<()> {
        self.write_files(partitions, [true; 3])
    }

    /// Writes the files among the three whose `which` is true.
    fn write_files(
        &self,
        partitions: &BTreeMap<(String, i32), PartitionCheckpoint>,
        which: [bool; 3],
    ) -> io::Result<()> {
        let texts = [
            format_offset_checkpoint(
                &partitions
                    .iter()
                    .map(|(k, v)| (k.clone(), v.recovery_point))
                    .collect(),
            ),
            format_offset_checkpoint(
                &partitions
                    .iter()
                    .map(|(k, v)| (k.clone(), v.log_start_offset))
                    .collect(),
            ),
            format_offset_checkpoint(
                &partitions
                    .iter()
                    .map(|(k, v)| (k.clone(), v.high_watermark))
                    .collect(),
            ),
        ];
        let names = [
            RECOVERY_POINT_CHECKPOINT,
            LOG_START_OFFSET_CHECKPOINT,
            REPLICATION_OFFSET_CHECKPOINT,
        ];
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (((name, text), last), wanted) in
            names.iter().zip(texts).zip(last.iter_mut()).zip(which)
        {
            if !wanted || last.as_deref() == Some(text.as_str()) {
                continue;
            }
            write_atomically(&self.log_dir.join(name), text.as_bytes())?;
            *last = Some(text);
        }
        Ok(())
    }

    /// Writes, from what the running partitions last published, the files whose interval has
    /// passed since they were last refreshed (see [`Intervals`]).
    pub fn write_due(&self, registry: &PartitionRegistry) {
        let now = Instant::now();
        let mut due = [false; 3];
        {
            let mut refreshed = self
                .refreshed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (i, interval) in self.intervals.0.iter().enumerate() {
                if now.duration_since(refreshed[i]) >= *interval {
                    due[i] = true;
                    refreshed[i] = now;
                }
            }
        }
        if due.contains(&true) {
            self.write_registry(registry, due);
        }
    }

    /// Writes all three files from what the running partitions last published; a partition
    /// whose log is not open is left out.
    pub fn write_from(&self, registry: &PartitionRegistry) {
        self.write_registry(registry, [true; 3]);
    }

    fn write_registry(&self, registry: &PartitionRegistry, which: [bool; 3]) {
        let partitions = registry
            .all()
            .into_iter()
            .filter_map(|(topic, index, handle)| {
                let o = handle.offsets.borrow();
                o.serving.then(|| {
                    (
                        (topic.to_string(), index),
                        PartitionCheckpoint {
                            recovery_point: o.recovery_point,
                            log_start_offset: o.log_start_offset,
                            high_watermark: o.high_watermark,
                        },
                    )
                })
            })
            .collect();
        if let Err(e) = self.write_files(&partitions, which) {
            warn!(dir = %self.log_dir.display(), error = %e, "cannot write the log-dir checkpoints");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_text_and_rewrites_only_on_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = LogDirCheckpoints::new(dir.path(), Intervals([Duration::from_secs(5); 3]));
        let mut parts = BTreeMap::new();
        parts.insert(
            ("orders".to_string(), 1),
            PartitionCheckpoint {
                recovery_point: 70,
                log_start_offset: 3,
                high_watermark: 71,
            },
        );
        parts.insert(
            ("orders".to_string(), 0),
            PartitionCheckpoint {
                recovery_point: 42,
                log_start_offset: 0,
                high_watermark: 42,
            },
        );
        c.write(&parts).expect("write");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
        assert_eq!(
            read(RECOVERY_POINT_CHECKPOINT),
            "0\n2\norders 0 42\norders 1 70\n"
        );
        assert_eq!(
            read(LOG_START_OFFSET_CHECKPOINT),
            "0\n2\norders 0 0\norders 1 3\n"
        );
        assert_eq!(
            read(REPLICATION_OFFSET_CHECKPOINT),
            "0\n2\norders 0 42\norders 1 71\n"
        );
        // Unchanged: not rewritten (a file changed behind its back stays as it is).
        std::fs::write(dir.path().join(LOG_START_OFFSET_CHECKPOINT), "x").expect("w");
        c.write(&parts).expect("write");
        assert_eq!(read(LOG_START_OFFSET_CHECKPOINT), "x");
        assert_eq!(format_offset_checkpoint(&BTreeMap::new()), "0\n0\n");
        // sluice's reader reads what the writer wrote.
        let back = read_offset_checkpoint(&dir.path().join(REPLICATION_OFFSET_CHECKPOINT));
        assert_eq!(back.get(&("orders".to_string(), 1)), Some(&71));
    }
}
