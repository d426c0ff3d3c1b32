//! Opening a partition directory (Kafka's `LogLoader`): finishing or undoing the log cleaner's
//! interrupted swaps, clearing leftovers of interrupted deletions, choosing per segment between trusting it and validating it (the clean-shutdown
//! marker and the recovery point decide), deleting what follows a corrupt point, and rebuilding
//! the producer state. The partition log is built from what [`load`] returns.
//!
//! ```text
//! segments:  [0 …) [4242 …) [9000 …) [12000 … log end)
//!                         ^ recovery point (checkpoint)
//! clean stop:   Trust  Trust   Trust    Trust          headers after the last index entry only
//! unclean:      Trust  Recover Recover  Recover        every batch from the segment holding it
//!                                 ^ torn here: truncated; the segments after it are deleted
//! ```

use std::fs;
use std::io;
use std::path::Path;

use tracing::{info, warn};

use crate::storage::checkpoint::{self, Checkpoint};
use crate::storage::config::LogConfig;
use crate::storage::error::StorageError;
use crate::storage::files::{
    delete_segment_files, offset_from_file_name, parse_segment_file_name, with_path,
    CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, SWAP_SUFFIX, TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
};
use crate::storage::leader_epoch::LeaderEpochCache;
use crate::storage::producer_snapshot;
use crate::storage::producer_state::{
    ProducerStateManager, MAX_PRODUCERS, PRODUCER_ID_EXPIRATION_MS,
};
use crate::storage::scan::{HeaderReader, ScanCounters, ScanError};
use crate::storage::segment::recovery::LoadMode;
use crate::storage::segment::LogSegment;
use crate::storage::segments::LogSegments;
use crate::util::clock::now_ms;
use crate::util::fs::sync_dir;

/// What the caller knows of Kafka's own state for this partition, from the files Kafka keeps at
/// the root of `log.dirs`. sluice's checkpoint in the partition directory, when present, wins
/// over `recovery_point` and `log_start_offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenHints {
    /// Kafka's `<log.dirs>/.kafka_cleanshutdown` exists: trust the files as after a clean sluice
    /// close (indexes are still checked, and rebuilt if missing or damaged). The caller owns that
    /// file; the partition log never touches it.
    pub kafka_clean_shutdown: bool,
    /// This partition's line in `<log.dirs>/recovery-point-offset-checkpoint`: after an unclean
    /// stop, segments wholly below it are not re-validated. Without it, validation starts at 0.
    pub recovery_point: Option<i64>,
    /// This partition's line in `<log.dirs>/log-start-offset-checkpoint` (DeleteRecords).
    pub log_start_offset: Option<i64>,
}

/// What opening the directory found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// A clean-shutdown marker (ours, or Kafka's via [`OpenHints`]) was present.
    pub clean_shutdown: bool,
    /// The recovery point the open started from (`None` after a clean shutdown).
    pub recovery_point: Option<i64>,
    pub segments_loaded: usize,
    /// Segments whose every batch was validated.
    pub segments_recovered: usize,
    /// Segments whose index files were missing or damaged and were rebuilt.
    pub indexes_rebuilt: usize,
    pub batches_validated: u64,
    pub bytes_validated: u64,
    pub bytes_truncated: u64,
    /// Segments deleted because they followed a corrupt point.
    pub segments_deleted: usize,
    /// Files of the log cleaner's interrupted work deleted: `.cleaned` files, `.swap` files of an
    /// incomplete clean or split, and the old segments' files a completed swap replaced.
    pub cleaner_files_deleted: usize,
    /// `.swap` files renamed into place (log and index files alike).
    pub swap_files_completed: usize,
    /// End offset of the producer-state snapshot the open started from, if one was usable.
    pub producer_snapshot_offset: Option<i64>,
    /// Batch headers read to rebuild producer state past the snapshot.
    pub producer_batches_scanned: u64,
    /// Producers known after the open.
    pub producers: usize,
}

/// A loaded directory, ready to become a partition log.
pub(crate) struct LoadedLog {
    /// Never empty.
    pub segments: LogSegments,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub producers: ProducerStateManager,
    pub stats: RecoveryStats,
    /// The counters the loading reads were counted on, to go on counting.
    pub counters: ScanCounters,
    /// The checkpoint as found on disk.
    pub on_disk: Option<Checkpoint>,
    /// Our clean-shutdown marker was there (and still is).
    pub own_clean: bool,
    /// The leader epochs, as the checkpoint had them, rebuilt from the batches a recovery
    /// validated (or from every batch, without a readable checkpoint), truncated to the log.
    pub leader_epochs: LeaderEpochCache,
    /// `leader-epoch-checkpoint` must be (re)written: missing, unreadable, or changed.
    pub leader_epochs_changed: bool,
    /// The open changed files (validated, rebuilt, truncated, deleted, or rescanned producers):
    /// the directory no longer is what the last clean close left.
    pub repaired: bool,
}

/// Logs progress while a large directory loads.
struct Progress<'a> {
    dir: &'a Path,
    total: usize,
    done: usize,
    logged_at: usize,
    bytes_since_log: u64,
}

impl Progress<'_> {
    const EVERY_SEGMENTS: usize = 50;
    const EVERY_BYTES: u64 = 512 << 20;

    fn segment_done(&mut self, bytes_validated: u64) {
        self.done += 1;
        self.bytes_since_log += bytes_validated;
        if self.done < self.total
            && (self.done - self.logged_at >= Self::EVERY_SEGMENTS
                || self.bytes_since_log >= Self::EVERY_BYTES)
        {
            info!(
                dir = %self.dir.display(),
                segments_loaded = self.done,
                segments_total = self.total,
                "loading partition log"
            );
            self.logged_at = self.done;
            self.bytes_since_log = 0;
        }
    }
}

/// Opens (creating it if missing) the partition directory `dir` and recovers it. See
/// [`PartitionLog::open_with_hints`](crate::storage::PartitionLog::open_with_hints).
pub(crate) fn load(
    dir: &Path,
    config: &LogConfig,
    hints: OpenHints,
) -> Result<LoadedLog, StorageError> {
    fs::create_dir_all(dir)?;
    let counters = ScanCounters::default();
    let swaps = complete_interrupted_swaps(dir, &counters)?;
    let bases = scan_directory(dir)?;
    let on_disk = match checkpoint::read(dir) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            warn!(dir = %dir.display(), error = %e, "ignoring unreadable checkpoint");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let checkpoint = on_disk.or(match (hints.log_start_offset, hints.recovery_point) {
        (None, None) => None,
        (log_start_offset, recovery_point) => Some(Checkpoint {
            log_start_offset: log_start_offset.unwrap_or(0),
            recovery_point: recovery_point.unwrap_or(0),
        }),
    });
    let own_clean = checkpoint::clean_shutdown_exists(dir);
    let clean = own_clean || hints.kafka_clean_shutdown;
    let recovery_point = if clean {
        None
    } else {
        Some(checkpoint.map_or(0, |c| c.recovery_point))
    };
    let mut stats = RecoveryStats {
        clean_shutdown: clean,
        recovery_point,
        cleaner_files_deleted: swaps.deleted,
        swap_files_completed: swaps.completed,
        ..RecoveryStats::default()
    };
    let now = now_ms();
    let mut segments = LogSegments::default();
    let mut corrupt_point_seen = false;
    // The first segment whose batches were validated: the leader epochs are rebuilt from there.
    let mut first_recovered = None;
    let mut progress = Progress {
        dir,
        total: bases.len(),
        done: 0,
        logged_at: 0,
        bytes_since_log: 0,
    };
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        if corrupt_point_seen {
            warn!(
                dir = %dir.display(),
                base_offset = base,
                "deleting segment that follows a corrupt point"
            );
            delete_segment_files(dir, base)?;
            stats.segments_deleted += 1;
            continue;
        }
        // Kafka's rule: recover every segment that may hold offsets ≥ the recovery point.
        let unflushed = recovery_point.is_some_and(|rp| next_base.is_none_or(|next| next > rp));
        let mode = if unflushed {
            LoadMode::Recover
        } else {
            LoadMode::Trust
        };
        if unflushed {
            first_recovered.get_or_insert(base);
        }
        let (segment, report) =
            LogSegment::load(dir, base, config, mode, next_base, &counters, now)?;
        stats.segments_loaded += 1;
        stats.segments_recovered += usize::from(report.recovered);
        stats.indexes_rebuilt += usize::from(report.index_rebuilt);
        stats.batches_validated += report.batches_validated;
        stats.bytes_validated += report.bytes_validated;
        stats.bytes_truncated += report.truncated_bytes;
        if unflushed && report.truncated_bytes > 0 {
            corrupt_point_seen = true;
        }
        progress.segment_done(report.bytes_validated);
        segments.insert(segment);
    }
    if stats.segments_deleted > 0 {
        sync_dir(dir)?;
    }
    if segments.is_empty() {
        let base = checkpoint.map_or(0, |c| c.log_start_offset.max(0));
        segments.insert(LogSegment::create(dir, base, config, now)?);
        sync_dir(dir)?;
    }
    let first_base = segments.first_base_offset().unwrap_or(0);
    let log_end_offset = segments.active()?.next_offset();
    let log_start_offset = checkpoint
        .map_or(first_base, |c| c.log_start_offset.max(first_base))
        .min(log_end_offset);
    let producers =
        load_producer_state(dir, &segments, log_end_offset, &counters, now, &mut stats)?;
    let (leader_epochs, leader_epochs_changed) = load_leader_epochs(
        dir,
        &segments,
        first_recovered,
        log_start_offset,
        log_end_offset,
        &counters,
    )?;
    // A clean open that found nothing to repair leaves the directory untouched (marker and
    // all) until the first write; any repair counts as a write.
    let repaired = stats.segments_recovered > 0
        || stats.cleaner_files_deleted > 0
        || stats.swap_files_completed > 0
        || stats.indexes_rebuilt > 0
        || stats.segments_deleted > 0
        || stats.bytes_truncated > 0
        || stats.producer_batches_scanned > 0;
    Ok(LoadedLog {
        segments,
        log_start_offset,
        log_end_offset,
        producers,
        stats,
        counters,
        on_disk,
        own_clean,
        leader_epochs,
        leader_epochs_changed,
        repaired,
    })
}

/// Kafka's `leader-epoch-checkpoint` as the open leaves it (see [`LoadedLog::leader_epochs`]):
/// after an unclean stop the entries from the first validated segment on are dropped and
/// rebuilt from the batches' `partitionLeaderEpoch` (Kafka's recovery assigns them likewise);
/// a missing or unreadable file (an older sluice, CodeCrafters, damage) is rebuilt from every
/// batch header. Then the entries are cut to `[log_start_offset, log_end_offset)`.
fn load_leader_epochs(
    dir: &Path,
    segments: &LogSegments,
    first_recovered: Option<i64>,
    log_start_offset: i64,
    log_end_offset: i64,
    counters: &ScanCounters,
) -> io::Result<(LeaderEpochCache, bool)> {
    let (mut epochs, rebuild_from, mut changed) = match LeaderEpochCache::read(dir) {
        Ok(Some(c)) => (c, first_recovered, false),
        Ok(None) => (LeaderEpochCache::default(), Some(log_start_offset), true),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            warn!(dir = %dir.display(), error = %e, "rebuilding an unreadable leader-epoch-checkpoint from the log");
            (LeaderEpochCache::default(), Some(log_start_offset), true)
        }
        Err(e) => return Err(e),
    };
    if let Some(from) = rebuild_from {
        changed |= epochs.truncate_from_end(from);
        for segment in segments.iter() {
            if segment.next_offset() <= from {
                continue;
            }
            segment.walk_headers_from(from, counters, &mut |h| {
                changed |= epochs.assign(h.partition_leader_epoch, h.base_offset);
            })?;
        }
    }
    changed |= epochs.truncate_from_end(log_end_offset);
    changed |= epochs.truncate_from_start(log_start_offset);
    Ok((epochs, changed))
}

/// Rebuilds the producer state at open: the newest usable snapshot, then the batch headers from
/// its offset to the log end (none after a clean close). Kafka's `{offset:020}.snapshot` files
/// are authoritative: stray ones are removed first, as Kafka's loader removes them, and the
/// newest that decodes is used (a damaged one is logged and left in place; the next older one
/// is tried). sluice's own `sluice-producer-state` replaces it only when it was written with it
/// (same end offset, same last batch for every producer): it adds the older batches Kafka's
/// format has no room for. Without a Kafka snapshot, sluice's file alone is used (a directory
/// of an older sluice: the next snapshot is written in both formats). Without either (a
/// CodeCrafters directory, say) the scan starts at the first segment holding a batch newer than
/// the expiration time: older producers would be expired at once. A snapshot newer than the log
/// (the log lost its tail) is discarded. When headers had to be read, a fresh snapshot is
/// written so the next unclean open starts here.
fn load_producer_state(
    dir: &Path,
    segments: &LogSegments,
    log_end_offset: i64,
    counters: &ScanCounters,
    now_ms: i64,
    stats: &mut RecoveryStats,
) -> io::Result<ProducerStateManager> {
    let (expiration, cap) = (PRODUCER_ID_EXPIRATION_MS, MAX_PRODUCERS);
    let kafka = read_kafka_snapshot(dir, &segments.base_offsets(), log_end_offset)?;
    let ours = match ProducerStateManager::read_snapshot(dir, expiration, cap) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            warn!(dir = %dir.display(), error = %e, "ignoring unreadable producer state snapshot");
            None
        }
        Err(e) => return Err(e),
    };
    let snapshot = match (kafka, ours) {
        (Some(k), Some(o)) if o.agrees_with(&k) => Some(o),
        (Some(k), _) => Some(k),
        (None, o) => o,
    };
    let snapshot = snapshot.filter(|s| {
        let usable = s.map_end_offset() <= log_end_offset;
        if !usable {
            warn!(
                dir = %dir.display(),
                snapshot_offset = s.map_end_offset(),
                log_end_offset,
                "producer state snapshot is past the log end; rebuilding from the log"
            );
        }
        usable
    });
    stats.producer_snapshot_offset = snapshot.as_ref().map(|s| s.map_end_offset());
    let (mut state, from) = match snapshot {
        Some(s) => {
            let from = s.map_end_offset();
            (s, from)
        }
        None => {
            let horizon = now_ms.saturating_sub(expiration);
            let from = segments
                .iter()
                .find(|s| s.max_timestamp().timestamp >= horizon)
                .map_or(log_end_offset, |s| s.base_offset());
            (ProducerStateManager::new(expiration, cap), from)
        }
    };
    let mut scanned = 0;
    for segment in segments.iter() {
        if segment.next_offset() <= from {
            continue;
        }
        scanned += segment.walk_headers_from(from, counters, &mut |h| state.replay(h))?;
    }
    state.set_map_end_offset(log_end_offset);
    state.remove_expired(now_ms);
    stats.producer_batches_scanned = scanned;
    stats.producers = state.len();
    if scanned > 0 {
        if let Err(e) = state.write_snapshot(dir) {
            warn!(dir = %dir.display(), error = %e, "cannot write the producer state snapshot");
        }
    }
    Ok(state)
}

/// The newest of Kafka's producer snapshots in `dir` that decodes, after removing the stray
/// ones (see [`producer_snapshot::remove_stray`]).
fn read_kafka_snapshot(
    dir: &Path,
    bases: &[i64],
    log_end_offset: i64,
) -> io::Result<Option<ProducerStateManager>> {
    let kept = producer_snapshot::remove_stray(dir, bases, log_end_offset)?;
    for (offset, path) in kept.iter().rev() {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match producer_snapshot::decode(&bytes) {
            Ok(entries) => {
                return Ok(Some(ProducerStateManager::from_kafka_entries(
                    &entries,
                    *offset,
                    PRODUCER_ID_EXPIRATION_MS,
                    MAX_PRODUCERS,
                )))
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "ignoring unreadable producer snapshot")
            }
        }
    }
    Ok(None)
}

/// Files a partition directory holds besides segments and indexes, Kafka's and sluice's.
/// `quorum-state` (in `__cluster_metadata-0`, the Raft election state) and the
/// `{offset:020}-{epoch:010}.checkpoint` metadata snapshots there are read by the metadata log
/// (`metadata::quorum`, `metadata::snapshot`).
fn is_known_file(name: &str) -> bool {
    const NAMED: [&str; 6] = [
        "partition.metadata",
        "quorum-state",
        crate::storage::leader_epoch::LEADER_EPOCH_CHECKPOINT,
        checkpoint::CHECKPOINT_FILE,
        checkpoint::CLEAN_SHUTDOWN_FILE,
        crate::storage::producer_state::SNAPSHOT_FILE,
    ];
    NAMED.contains(&name)
        || parse_segment_file_name(name, producer_snapshot::SNAPSHOT_SUFFIX).is_some()
        || name.ends_with(".checkpoint")
        // A temporary file of an atomic replace (`util::fs::write_atomically`) cut short.
        || name.ends_with(".tmp")
}

/// Lists the segments in `dir` (sorted base offsets) and clears leftovers: `*.deleted` files are
/// removed, as are index files whose log is gone. Every other file is left alone (the log
/// cleaner's were dealt with by [`complete_interrupted_swaps`]).
fn scan_directory(dir: &Path) -> io::Result<Vec<i64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut removed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let path = entry.path();
        if name.ends_with(DELETED_SUFFIX) {
            info!(file = %path.display(), "removing leftover deleted file");
            fs::remove_file(&path)?;
            removed = true;
        } else if name.ends_with(CLEANED_SUFFIX) || name.ends_with(SWAP_SUFFIX) {
            // Only those whose name holds no offset, or no segment file's name, are still here.
            warn!(file = %path.display(), "a log-cleaner file sluice cannot place: left as it is");
        } else if let Some(base) = parse_segment_file_name(name, LOG_SUFFIX) {
            logs.push(base);
        } else if [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX]
            .iter()
            .any(|suffix| parse_segment_file_name(name, suffix).is_some())
        {
            indexes.push(path);
        } else if !is_known_file(name) {
            info!(file = %path.display(), "not a file sluice knows in a partition directory: left as it is");
        }
    }
    logs.sort_unstable();
    for path in indexes {
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.get(..20))
            .and_then(|s| s.parse::<i64>().ok());
        if stem.is_some_and(|base| logs.binary_search(&base).is_err()) {
            info!(file = %path.display(), "removing orphaned index file");
            fs::remove_file(&path)?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(logs)
}

/// What [`complete_interrupted_swaps`] changed.
#[derive(Debug, Default)]
struct SwapOutcome {
    deleted: usize,
    completed: usize,
}

/// Finishes or undoes the log cleaner's interrupted work, as Kafka's `LogLoader` does before it
/// loads the segments (`removeTempFilesAndCollectSwapFiles`, then the swap passes of `load`).
///
/// ```text
/// cleaner:  write 100.log.cleaned (+ indexes) → rename to 100.log.swap → delete 100.log, 250.log
///           → rename 100.log.swap to 100.log
/// open:     *.cleaned               deleted; the smallest offset among them is the split point
///           *.swap at ≥ split point deleted: part of a segment split that did not finish
///           other *.swap            kept: every non-swap file whose offset lies in
///                                   [smallest swap base, largest swap next offset) is deleted
///                                   (the segments replaced, their indexes and snapshots), then
///                                   the .swap suffix is dropped
/// ```
///
/// Each step is repeated harmlessly if the open is cut short: a swap whose old segments are
/// already gone deletes nothing and is renamed. A name whose offset does not parse is left (and
/// logged by [`scan_directory`]), where Kafka's loader would fail the directory.
fn complete_interrupted_swaps(dir: &Path, counters: &ScanCounters) -> io::Result<SwapOutcome> {
    let mut outcome = SwapOutcome::default();
    let mut cleaned = Vec::new();
    let mut swaps = Vec::new();
    for (name, offset) in numbered_files(dir)? {
        if name.ends_with(CLEANED_SUFFIX) {
            cleaned.push((name, offset));
        } else if name.ends_with(SWAP_SUFFIX) {
            swaps.push((name, offset));
        }
    }
    if cleaned.is_empty() && swaps.is_empty() {
        return Ok(outcome);
    }
    let min_cleaned = cleaned.iter().map(|&(_, o)| o).min().unwrap_or(i64::MAX);
    let (invalid, valid): (Vec<_>, Vec<_>) =
        swaps.into_iter().partition(|&(_, o)| o >= min_cleaned);
    for (name, _) in &invalid {
        let path = dir.join(name);
        info!(file = %path.display(), min_cleaned_offset = min_cleaned, "deleting the swap file of an incomplete log-cleaner split");
        remove_if_exists(&path)?;
        outcome.deleted += 1;
    }
    for (name, _) in &cleaned {
        let path = dir.join(name);
        info!(file = %path.display(), "deleting an unfinished log-cleaner file");
        remove_if_exists(&path)?;
        outcome.deleted += 1;
    }

    // The offsets the complete swap segments cover: the old segments in it were cleaned into them.
    let mut range: Option<(i64, i64)> = None;
    for (name, base) in &valid {
        let is_log = name
            .strip_suffix(SWAP_SUFFIX)
            .is_some_and(|n| parse_segment_file_name(n, LOG_SUFFIX).is_some());
        if !is_log {
            continue;
        }
        let path = dir.join(name);
        let next = next_offset_of(&path, *base, counters)?;
        info!(file = %path.display(), base_offset = base, next_offset = next, "found a log file of an interrupted swap: completing it");
        let (lo, hi) = range.get_or_insert((*base, next));
        *lo = (*lo).min(*base);
        *hi = (*hi).max(next);
    }
    if let Some((lo, hi)) = range {
        for (name, offset) in numbered_files(dir)? {
            if !name.ends_with(SWAP_SUFFIX) && (lo..hi).contains(&offset) {
                let path = dir.join(&name);
                info!(file = %path.display(), "deleting a file the interrupted swap replaces");
                remove_if_exists(&path)?;
                outcome.deleted += 1;
            }
        }
    }
    for (name, _) in &valid {
        let Some(target) = name.strip_suffix(SWAP_SUFFIX) else {
            continue;
        };
        let is_segment_file = [
            LOG_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            TXN_INDEX_SUFFIX,
        ]
        .iter()
        .any(|suffix| parse_segment_file_name(target, suffix).is_some());
        if !is_segment_file {
            continue;
        }
        let (from, to) = (dir.join(name), dir.join(target));
        info!(file = %from.display(), to = %to.display(), "completing an interrupted swap: renaming");
        fs::rename(&from, &to).map_err(|e| with_path(e, &from))?;
        outcome.completed += 1;
    }
    sync_dir(dir)?;
    Ok(outcome)
}

/// The regular files of `dir` whose name starts with an offset (Kafka's `offsetFromFile`).
fn numbered_files(dir: &Path) -> io::Result<Vec<(String, i64)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(offset) = offset_from_file_name(&name) {
            files.push((name, offset));
        }
    }
    Ok(files)
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, path)),
        _ => Ok(()),
    }
}

/// The offset after the last batch of the log file at `path` whose first offset is `base`
/// (Kafka's `readNextOffset`); `base` for an empty file. A batch header that does not parse
/// ends the walk there, with a warning: the segment's recovery deals with the rest.
fn next_offset_of(path: &Path, base: i64, counters: &ScanCounters) -> io::Result<i64> {
    let file = fs::File::open(path).map_err(|e| with_path(e, path))?;
    let len = file.metadata()?.len();
    let mut reader = HeaderReader::new(&file, len, 64 << 10, counters);
    let (mut pos, mut next) = (0, base);
    // Each header read moves `pos` on by at least a header's length: bounded by `len`.
    while pos < len {
        match reader.header_at(pos) {
            Ok(h) => {
                next = next.max(h.last_offset().saturating_add(1));
                pos += h.total_len() as u64;
            }
            Err(ScanError::Io(e)) => return Err(with_path(e, path)),
            Err(ScanError::Invalid(reason)) => {
                warn!(file = %path.display(), position = pos, %reason, "the swap log file ends in bytes that are not a batch");
                break;
            }
        }
    }
    Ok(next)
}
