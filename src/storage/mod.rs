//! The storage engine: one topic-partition's log on disk, in Kafka's own formats, as a
//! synchronous library with no actors. The partition actor owns one [`PartitionLog`]; Kafka's
//! `kafka-dump-log.sh` reads our files, and a Kafka 4.x partition directory opens as is.
//!
//! # Layout
//!
//! ```text
//! <log.dirs>/<topic>-<partition>/
//!     00000000000000000000.log        record batches, byte for byte as produced (offsets assigned)
//!     00000000000000000000.index      offset → position, sparse        (index/offset.rs)
//!     00000000000000000000.timeindex  timestamp → offset, sparse       (index/time.rs)
//!     00000000000000004242.log        next segment: base offset 4242 = its first offset
//!     …                               the last segment is the active one, the only one appended to
//!     sluice-offset-checkpoint        log start offset + recovery point (checkpoint.rs)
//!     sluice-clean-shutdown           present from a clean close until the next change
//!     sluice-producer-state           the older batches per producer Kafka's snapshot lacks (producer_state.rs)
//!     {offset:020}.snapshot           Kafka's producer-state snapshot, authoritative (producer_snapshot.rs)
//!     leader-epoch-checkpoint         Kafka's leader-epoch cache (leader_epoch.rs)
//!     partition.metadata, …           not ours: left alone
//! ```
//!
//! # Modules
//!
//! Bottom up; each file imports only those above it in this list (no circles).
//!
//! | file | owns | Kafka's |
//! |---|---|---|
//! | `config.rs`, `slice.rs`, `files.rs` | [`LogConfig`]; [`FileSlice`]; segment file names and their deletion | `LogConfig`, `FileRecords` slice, `LogFileUtils` |
//! | [`producer_state`] | idempotent producers' epochs and last five batches per producer id; `append` refuses old epochs and sequence gaps and answers retries with their original offsets; snapshot file | `ProducerStateManager` |
//! | `error.rs`, `checkpoint.rs` | the error types; our checkpoint and clean-shutdown marker | |
//! | [`index`] | [`index::IndexFile`], fixed-width entries in memory and in their file, under [`OffsetIndex`] and [`TimeIndex`] (a transaction index can sit on it too) | `AbstractIndex`, `OffsetIndex`, `TimeIndex` |
//! | `scan.rs` | reading batch headers out of a `.log` file (windowed and chunked readers), [`ScanStats`] | |
//! | [`segment`] | [`LogSegment`]: one `.log` with its indexes; appends, roll rule, flush, delete; `read.rs` its lookups, `recovery.rs` opening and recovering one segment | `LogSegment` |
//! | `segments.rs` | the ordered segment set: lookup by offset and by time, roll | `LogSegments` |
//! | `validator.rs` | checking a produced input's batches, assigning offsets, stamping LogAppendTime | `LogValidator` |
//! | `retention.rs` | `retention.ms`, `retention.bytes`, log-start-offset rules; deleting segments | `UnifiedLog.deleteOldSegments` |
//! | [`cleaner`] | compaction of one log off the actor: what is dirty, the [`cleaner::offset_map::OffsetMap`], rewriting groups of segments into `.cleaned` files | `Cleaner`, `SkimpyOffsetMap`, `LogCleanerManager.cleanableOffsets` |
//! | `loader.rs` | opening a directory: the log cleaner's interrupted swaps, leftovers, trust or recover per segment, producer-state rebuild; [`OpenHints`], [`RecoveryStats`] | `LogLoader` |
//! | [`log`] | [`PartitionLog`], what the partition actor asks: open, append, read, ListOffsets, flush, retention, DeleteRecords, close | `UnifiedLog` / `LocalLog` |
//!
//! # Reads never wait for appends
//!
//! [`PartitionLog::read`] returns a [`FileSlice`]: a byte range of whole batches plus the
//! segment's shared `Arc<File>`. The connection sends it later with `sendfile`, outside the actor.
//! Appends only write past the end of every slice handed out, and a segment deleted by retention
//! stays readable through the open handle. Finding the slice costs one binary search in the
//! in-memory offset index and a walk over at most about one `index_interval_bytes` of batch
//! headers, at each end of the slice, whatever the size of the log.
//!
//! # Recovery and the clean-shutdown choice
//!
//! [`PartitionLog::close`] fsyncs, writes the checkpoint and creates `sluice-clean-shutdown`.
//! The marker stays through the next open and is removed (durably) just before the first change
//! to the directory — an append, a retention deletion, DeleteRecords, or a repair during the open
//! itself — so a clean open costs no write and no fsync, a partition nobody writes to costs
//! nothing to close, and a crash is never mistaken for a clean stop. With the marker present (or
//! with
//! [`OpenHints::kafka_clean_shutdown`], which the caller sets when Kafka's
//! `<log.dirs>/.kafka_cleanshutdown` exists) no batch is re-validated: index files are
//! sanity-checked and only the headers after each segment's last index entry are walked.
//! Without it, every segment from the one holding the checkpointed recovery point onward is
//! validated batch by batch (length, CRC-32C, increasing offsets), truncated at the first bad byte
//! (with a warning naming file, position and reason), and the segments after a corrupt point are
//! deleted. Missing or damaged indexes are rebuilt in every case, which is how a CodeCrafters
//! directory (a bare `00000000000000000000.log`) opens. For a Kafka directory the caller may pass
//! the partition's lines of Kafka's root `recovery-point-offset-checkpoint` and
//! `log-start-offset-checkpoint` as [`OpenHints`]; without them an unclean Kafka directory is
//! validated from offset 0 and its log start is the first segment's base offset.
//!
//! The checkpoint is rewritten on open (unless it already says what the open found), roll,
//! log-start changes and close, not on every flush:
//! recovery works on whole segments, and every segment but the active one was fsynced when it
//! rolled, so a finer on-disk recovery point would not shorten a recovery.

mod checkpoint;
pub mod cleaner;
mod config;
mod error;
mod files;
pub mod index;
pub mod leader_epoch;
mod loader;
pub mod log;
pub mod producer_snapshot;
pub mod producer_state;
mod retention;
mod scan;
pub mod segment;
mod segments;
mod slice;
mod validator;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod topic_config_tests;

pub use crate::storage::error::{AppendError, ReadError, RecordError, StorageError};
pub use crate::storage::index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};
pub use crate::storage::log::{
    AppendInfo, FileSlice, LogConfig, OpenHints, PartitionLog, RecoveryStats, RetentionOutcome,
};
pub use crate::storage::segment::{append_write_time, LogSegment, ScanStats};
