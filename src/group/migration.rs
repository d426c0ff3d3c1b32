//! Migration of sluice's old one-partition offsets layout to Kafka's `__consumer_offsets`.
//!
//! Before, committed offsets lived in one standalone partition directory that the metadata log
//! does not list: `<log.dirs>/__consumer_offsets-0` (or `__sluice_consumer_offsets-0` when the
//! metadata log registered Kafka's topic). Now they live in the topic's partitions, each
//! group in its own ([`super::partitioning`]). On startup, before any request is served:
//!
//! ```text
//! 1. an unregistered __consumer_offsets-0 (old layout; same name as the new partition 0)
//!    is renamed to __sluice_consumer_offsets-0                       [rename, dir fsync]
//!    (if that exists too: to __sluice_consumer_offsets-0.<uuid>-legacy, also migrated)
//! 2. the topic is registered in the metadata log if it is not         [Broker::start]
//! 3. every source is replayed; its live records are appended to each group's partition,
//!    fsynced                                                          [write_to_topic]
//! 4. each source is renamed to <source>.<uuid>-migrated (kept, never deleted by sluice)
//! ```
//!
//! A crash at any step loses nothing: until step 4 the source is still where step 1 put it and
//! the next start runs 2–4 again. Writing the same records twice is harmless (the latest
//! value per key wins, and no commit is accepted before the migration is done).

use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::store::{self, FALLBACK_OFFSETS_DIR, OFFSETS_DIR};
use crate::util::fs::sync_dir;

const LEGACY_SUFFIX: &str = "-legacy";
const MIGRATED_SUFFIX: &str = "-migrated";

/// Step 1; returns the directories to migrate (empty: nothing to do). `registered`: the
/// metadata log has a `__consumer_offsets` topic (then `__consumer_offsets-0` is its
/// partition 0, left alone).
pub fn prepare(log_dir: &Path, registered: bool) -> io::Result<Vec<PathBuf>> {
    let old = log_dir.join(OFFSETS_DIR);
    let source = log_dir.join(FALLBACK_OFFSETS_DIR);
    if !registered && old.is_dir() {
        let to = if source.exists() {
            log_dir.join(format!(
                "{FALLBACK_OFFSETS_DIR}.{}{LEGACY_SUFFIX}",
                uuid::Uuid::new_v4().simple()
            ))
        } else {
            source.clone()
        };
        std::fs::rename(&old, &to)?;
        sync_dir(log_dir)?;
        info!(from = %old.display(), to = %to.display(), "old offsets layout set aside for its migration");
    }
    sources(log_dir)
}

/// The directories left to migrate: `__sluice_consumer_offsets-0` and its `-legacy` siblings.
fn sources(log_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let legacy =
            name.starts_with(&format!("{FALLBACK_OFFSETS_DIR}.")) && name.ends_with(LEGACY_SUFFIX);
        if path.is_dir() && (name == FALLBACK_OFFSETS_DIR || legacy) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Steps 3 and 4 for every source, into a topic of `partitions` partitions.
pub fn migrate(
    log_dir: &Path,
    sources: &[PathBuf],
    partitions: i32,
    segment_bytes: u64,
) -> io::Result<()> {
    for source in sources {
        let Some(name) = source.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (log, state, _) = store::recover(log_dir, name);
        let Some(log) = log else {
            warn!(dir = %source.display(), "cannot open the old offsets log: left in place, not migrated");
            continue;
        };
        if let Err(e) = log.close() {
            warn!(dir = %source.display(), error = %e, "closing the old offsets log failed");
        }
        let entries = state.live_entries_by_group();
        let groups = state.known_groups().len();
        let n = store::write_to_topic(log_dir, partitions, segment_bytes, entries)?;
        let done = source.with_file_name(format!(
            "{name}.{}{MIGRATED_SUFFIX}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(source, &done)?;
        sync_dir(log_dir)?;
        info!(
            from = %source.display(),
            kept = %done.display(),
            records = n,
            groups,
            partitions,
            "old offsets layout migrated to __consumer_offsets"
        );
    }
    Ok(())
}
