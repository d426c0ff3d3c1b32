//! The offset store: every group's committed offsets (and the last metadata record of each
//! group), in memory and in an append-only log, `<log.dirs>/__consumer_offsets-0/`.
//!
//! The log is an ordinary partition directory written by the storage engine
//! ([`PartitionLog`]), holding records in Kafka's `__consumer_offsets` formats
//! ([`super::records`]). It is not a topic: the metadata image does not list it, so clients never
//! see it. On startup [`recover`] replays it from the start, keeping the latest value per key (a
//! null value deletes the key). Every commit is one batch, fsynced before the commit is
//! acknowledged; group metadata records are appended unsynced (the next commit or the clean
//! close makes them durable; losing one only makes consumers rejoin).
//!
//! Compaction: once the log holds at least [`COMPACT_MIN_RECORDS`] records and more than
//! [`COMPACT_RATIO`] times the live keys, it is rewritten with the live records only, into
//! `<dir>.compacting/`, which then replaces the directory (the old one is renamed to
//! `<dir>.<uuid>-delete` first and removed). A crash midway leaves either the old directory
//! (the half-written copy is discarded on startup) or only the finished copy, marked by
//! `sluice-compacted`, which startup moves into place. This is checked on startup and every
//! [`COMPACT_CHECK_EVERY`] appended records.
//!
//! The store is one actor on a thread of its own, so an fsync never stalls the arbiters that
//! serve connections.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use tracing::{debug, error, info, warn, Span};

use super::records::{CommittedOffset, GroupMetadataValue, RecordKey};
use crate::error::ErrorCode;
use crate::record::{self, BatchBuilder, BatchIter};
use crate::storage::{AppendError, LogConfig, PartitionLog};
use crate::util::clock::now_ms;
use crate::util::fs::sync_dir;

/// The store's directory under `log.dirs`.
pub const OFFSETS_DIR: &str = "__consumer_offsets-0";
/// Used instead when the metadata log registers a real `__consumer_offsets` topic (a data
/// directory that Kafka wrote): its partition actors own `__consumer_offsets-N`.
pub const FALLBACK_OFFSETS_DIR: &str = "__sluice_consumer_offsets-0";

/// Offsets per topic, then per partition.
pub type GroupOffsets = HashMap<String, BTreeMap<i32, CommittedOffset>>;

/// Kafka's `offsets.topic.segment.bytes` default.
const SEGMENT_BYTES: u64 = 100 * 1024 * 1024;
/// How much of the log one recovery read takes.
const RECOVERY_READ_BYTES: usize = 1 << 20;
/// Compaction thresholds (see the module doc).
pub const COMPACT_MIN_RECORDS: i64 = 50_000;
pub const COMPACT_RATIO: i64 = 4;
pub const COMPACT_CHECK_EVERY: u64 = 10_000;
const COMPACTING_SUFFIX: &str = ".compacting";
const COMPACTED_MARKER: &str = "sluice-compacted";
/// Records per batch when the live set is rewritten.
const COMPACT_BATCH_RECORDS: usize = 5_000;

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        // The log is the only copy: never delete by age or size.
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: SEGMENT_BYTES as usize,
        ..LogConfig::default()
    }
}

/// What the log says, replayed.
#[derive(Debug, Default)]
pub struct StoreState {
    pub offsets: HashMap<String, GroupOffsets>,
    pub groups: HashMap<String, GroupMetadataValue>,
}

impl StoreState {
    /// Applies one record: the latest value per key wins, a null value deletes.
    fn apply(&mut self, key: RecordKey, value: Option<Bytes>) -> Result<(), String> {
        match key {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => match value {
                Some(v) => {
                    let committed = CommittedOffset::decode(v).map_err(|e| e.to_string())?;
                    self.offsets
                        .entry(group)
                        .or_default()
                        .entry(topic)
                        .or_default()
                        .insert(partition, committed);
                }
                None => {
                    if let Some(g) = self.offsets.get_mut(&group) {
                        if let Some(t) = g.get_mut(&topic) {
                            t.remove(&partition);
                            if t.is_empty() {
                                g.remove(&topic);
                            }
                        }
                        if g.is_empty() {
                            self.offsets.remove(&group);
                        }
                    }
                }
            },
            RecordKey::Group { group } => match value {
                Some(v) => {
                    let record = GroupMetadataValue::decode(v).map_err(|e| e.to_string())?;
                    self.groups.insert(group, record);
                }
                None => {
                    self.groups.remove(&group);
                }
            },
        }
        Ok(())
    }

    /// Live keys: committed offsets and group records.
    pub fn live_records(&self) -> i64 {
        let offsets: usize = self
            .offsets
            .values()
            .flat_map(|g| g.values())
            .map(BTreeMap::len)
            .sum();
        i64::try_from(offsets + self.groups.len()).unwrap_or(i64::MAX)
    }

    /// Every live record, encoded.
    fn live_entries(&self) -> Vec<(Bytes, Option<Bytes>)> {
        let mut out = Vec::new();
        for (group, value) in &self.groups {
            let key = RecordKey::Group {
                group: group.clone(),
            };
            out.push((key.encode(), Some(value.encode())));
        }
        for (group, topics) in &self.offsets {
            for (topic, partitions) in topics {
                for (&partition, committed) in partitions {
                    let key = RecordKey::Offset {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition,
                    };
                    out.push((key.encode(), Some(committed.encode())));
                }
            }
        }
        out
    }

    /// Every group the log knows of (with offsets or a metadata record).
    pub fn known_groups(&self) -> HashMap<String, GroupMetadataValue> {
        let mut known = self.groups.clone();
        for group in self.offsets.keys() {
            known.entry(group.clone()).or_default();
        }
        known
    }
}

/// Opens the offsets log in `log_dir/dir_name` and replays it. A log that cannot be opened is
/// logged and leaves `None`: the broker runs, and commits fail with COORDINATOR_NOT_AVAILABLE.
pub fn recover(log_dir: &Path, dir_name: &str) -> (Option<PartitionLog>, StoreState, PathBuf) {
    let dir = log_dir.join(dir_name);
    let mut state = StoreState::default();
    if let Err(e) = finish_interrupted_compaction(log_dir, dir_name) {
        warn!(dir = %dir.display(), error = %e, "cleaning up after an interrupted compaction failed");
    }
    let log = match PartitionLog::open(&dir, log_config()) {
        Ok(log) => log,
        Err(e) => {
            error!(dir = %dir.display(), error = %e, "cannot open the offsets log: offset commits will fail");
            return (None, state, dir);
        }
    };
    let started = std::time::Instant::now();
    let (records, skipped) = replay(&log, &mut state);
    info!(
        dir = %dir.display(),
        records,
        skipped,
        groups = state.known_groups().len(),
        log_end_offset = log.log_end_offset(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "offsets log replayed"
    );
    let mut log = Some(log);
    maybe_compact(&dir, &mut log, &state);
    (log, state, dir)
}

/// Whether the log is worth rewriting.
fn needs_compaction(log: &PartitionLog, live: i64) -> bool {
    let records = log.log_end_offset() - log.log_start_offset();
    records >= COMPACT_MIN_RECORDS && records > live.saturating_mul(COMPACT_RATIO)
}

/// Compacts the log if it needs it; on failure the old log stays (or is reopened).
fn maybe_compact(dir: &Path, log: &mut Option<PartitionLog>, state: &StoreState) {
    let live = state.live_records();
    if !log.as_ref().is_some_and(|l| needs_compaction(l, live)) {
        return;
    }
    if let Err(e) = compact(dir, log, state) {
        error!(dir = %dir.display(), error = %e, "offsets log compaction failed");
        if log.is_none() {
            match PartitionLog::open(dir, log_config()) {
                Ok(l) => *log = Some(l),
                Err(e) => error!(dir = %dir.display(), error = %e, "cannot reopen the offsets log"),
            }
        }
    }
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}{suffix}"))
}

/// Rewrites the log with the live records only and swaps it in (see the module doc).
pub fn compact(dir: &Path, log: &mut Option<PartitionLog>, state: &StoreState) -> io::Result<()> {
    let started = std::time::Instant::now();
    let before = log
        .as_ref()
        .map_or(0, |l| l.log_end_offset() - l.log_start_offset());
    let tmp = sibling(dir, COMPACTING_SUFFIX);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let entries = state.live_entries();
    let write = || -> io::Result<()> {
        let mut fresh = PartitionLog::open(&tmp, log_config()).map_err(io::Error::other)?;
        let now = now_ms();
        for chunk in entries.chunks(COMPACT_BATCH_RECORDS) {
            let mut builder = BatchBuilder::new(0, now);
            for (key, value) in chunk {
                builder.push(Some(key), value.as_deref(), &[]);
            }
            fresh
                .append(BytesMut::from(builder.build().as_ref()), now)
                .map_err(io::Error::other)?;
        }
        fresh.close()?;
        std::fs::File::create(tmp.join(COMPACTED_MARKER))?.sync_all()?;
        sync_dir(&tmp)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Some(old) = log.take() {
        if let Err(e) = old.close() {
            warn!(error = %e, "closing the offsets log before its compaction failed");
        }
    }
    let trash = sibling(dir, &format!(".{}-delete", uuid::Uuid::new_v4().simple()));
    std::fs::rename(dir, &trash)?;
    std::fs::rename(&tmp, dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    if let Err(e) = std::fs::remove_dir_all(&trash) {
        warn!(dir = %trash.display(), error = %e, "could not remove the old offsets log");
    }
    let _ = std::fs::remove_file(dir.join(COMPACTED_MARKER));
    *log = Some(PartitionLog::open(dir, log_config()).map_err(io::Error::other)?);
    info!(
        records_before = before,
        records_after = entries.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "offsets log compacted"
    );
    Ok(())
}

/// Startup: finishes or discards a compaction a crash interrupted, and removes old copies.
fn finish_interrupted_compaction(log_dir: &Path, dir_name: &str) -> io::Result<()> {
    let dir = log_dir.join(dir_name);
    let tmp = sibling(&dir, COMPACTING_SUFFIX);
    if tmp.is_dir() {
        if !dir.exists() && tmp.join(COMPACTED_MARKER).is_file() {
            info!(dir = %dir.display(), "completing an interrupted offsets log compaction");
            std::fs::rename(&tmp, &dir)?;
            sync_dir(log_dir)?;
        } else {
            std::fs::remove_dir_all(&tmp)?;
        }
    }
    let _ = std::fs::remove_file(dir.join(COMPACTED_MARKER));
    let prefix = format!("{dir_name}.");
    for entry in std::fs::read_dir(log_dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with(&prefix) && n.ends_with("-delete")) {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

/// Replays every batch of `log` into `state`; returns (records applied, records skipped).
fn replay(log: &PartitionLog, state: &mut StoreState) -> (u64, u64) {
    let (mut applied, mut skipped) = (0u64, 0u64);
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    // Each read advances by at least one batch, so this ends; the bound is a second guard.
    let mut reads_left = end.saturating_sub(offset).saturating_add(1);
    while offset < end && reads_left > 0 {
        reads_left -= 1;
        let data = match log
            .read(offset, RECOVERY_READ_BYTES, true)
            .map(|s| s.read())
        {
            Ok(Ok(data)) if !data.is_empty() => data,
            Ok(Ok(_)) => break,
            Ok(Err(e)) => {
                error!(offset, error = %e, "cannot read the offsets log");
                break;
            }
            Err(e) => {
                error!(offset, error = %e, "cannot read the offsets log");
                break;
            }
        };
        let before = offset;
        for found in BatchIter::new(data) {
            let batch = match found {
                Ok(b) => b,
                Err((position, reason)) => {
                    warn!(offset, position, %reason, "damaged batch in the offsets log");
                    break;
                }
            };
            offset = offset.max(batch.header.last_offset() + 1);
            if batch.header.is_control() {
                continue;
            }
            let records = match record::decode_records(&batch.bytes) {
                Ok(r) => r,
                Err(reason) => {
                    warn!(offset = batch.header.base_offset, %reason, "skipping an unreadable offsets batch");
                    skipped += u64::try_from(batch.header.record_count).unwrap_or(0);
                    continue;
                }
            };
            for r in records {
                let Some(key) = r.key else {
                    skipped += 1;
                    continue;
                };
                match RecordKey::decode(key) {
                    Ok(Some(key)) => match state.apply(key, r.value) {
                        Ok(()) => applied += 1,
                        Err(reason) => {
                            warn!(offset = r.offset, %reason, "skipping an undecodable offsets record");
                            skipped += 1;
                        }
                    },
                    Ok(None) => skipped += 1,
                    Err(reason) => {
                        warn!(offset = r.offset, %reason, "skipping an undecodable offsets key");
                        skipped += 1;
                    }
                }
            }
        }
        if offset <= before {
            break;
        }
    }
    (applied, skipped)
}

/// The actor owning the offsets log and the committed offsets.
pub struct OffsetStore {
    log: Option<PartitionLog>,
    dir: PathBuf,
    state: StoreState,
    span: Span,
    /// Records appended since compaction was last considered.
    appended: u64,
}

impl OffsetStore {
    pub fn new(log: Option<PartitionLog>, dir: PathBuf, state: StoreState) -> OffsetStore {
        OffsetStore {
            log,
            dir,
            state,
            span: tracing::info_span!("offsets"),
            appended: 0,
        }
    }

    /// Appends `records` (key, value or tombstone) as one batch; with `sync`, fsynced before
    /// returning.
    fn append(&mut self, records: &[(Bytes, Option<Bytes>)], sync: bool) -> Result<(), ErrorCode> {
        if records.is_empty() {
            return Ok(());
        }
        let Some(log) = self.log.as_mut() else {
            return Err(ErrorCode::CoordinatorNotAvailable);
        };
        let now = now_ms();
        let mut builder = BatchBuilder::new(0, now);
        for (key, value) in records {
            builder.push(Some(key), value.as_deref(), &[]);
        }
        let batch = BytesMut::from(builder.build().as_ref());
        if let Err(e) = log.append(batch, now) {
            error!(dir = %self.dir.display(), error = %e, "offsets log append failed");
            return Err(match e {
                AppendError::MessageTooLarge { .. } | AppendError::RecordListTooLarge { .. } => {
                    ErrorCode::InvalidCommitOffsetSize
                }
                _ => ErrorCode::CoordinatorNotAvailable,
            });
        }
        if sync {
            if let Err(e) = log.flush() {
                error!(dir = %self.dir.display(), error = %e, "offsets log fsync failed");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
        }
        self.appended += records.len() as u64;
        Ok(())
    }

    /// Called after the state took an append in: compacts now and then.
    fn after_append(&mut self) {
        if self.appended >= COMPACT_CHECK_EVERY {
            self.appended = 0;
            maybe_compact(&self.dir, &mut self.log, &self.state);
        }
    }

    /// Writes tombstones for every offset of `topic` (all groups) or of `group` (all topics).
    fn drop_offsets(
        &mut self,
        group: Option<&str>,
        topic: Option<&str>,
    ) -> Result<usize, ErrorCode> {
        let mut tombstones = Vec::new();
        for (g, topics) in &self.state.offsets {
            if group.is_some_and(|want| want != g) {
                continue;
            }
            for (t, partitions) in topics {
                if topic.is_some_and(|want| want != t) {
                    continue;
                }
                for &partition in partitions.keys() {
                    let key = RecordKey::Offset {
                        group: g.clone(),
                        topic: t.clone(),
                        partition,
                    };
                    tombstones.push((key, None));
                }
            }
        }
        let encoded: Vec<(Bytes, Option<Bytes>)> = tombstones
            .iter()
            .map(|(k, v)| (k.encode(), v.clone()))
            .collect();
        self.append(&encoded, true)?;
        let n = tombstones.len();
        for (key, value) in tombstones {
            let _ = self.state.apply(key, value);
        }
        Ok(n)
    }
}

impl Actor for OffsetStore {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        debug!(dir = %self.dir.display(), "offset store started");
    }
}

/// Stores the offsets of one OffsetCommit (already validated against the group), fsynced.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct CommitOffsets {
    pub group: String,
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

impl Handler<CommitOffsets> for OffsetStore {
    type Result = Result<(), ErrorCode>;

    fn handle(&mut self, msg: CommitOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let records: Vec<(Bytes, Option<Bytes>)> = msg
            .offsets
            .iter()
            .map(|(topic, partition, committed)| {
                let key = RecordKey::Offset {
                    group: msg.group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), Some(committed.encode()))
            })
            .collect();
        self.append(&records, true)?;
        let group = self.state.offsets.entry(msg.group).or_default();
        for (topic, partition, committed) in msg.offsets {
            group.entry(topic).or_default().insert(partition, committed);
        }
        self.after_append();
        Ok(())
    }
}

/// One topic's answer to an offset fetch: `None` where nothing is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOffsets {
    pub topic: String,
    pub partitions: Vec<(i32, Option<CommittedOffset>)>,
}

/// A group's committed offsets: the partitions asked for, or (`topics: None`) all of them.
#[derive(Message)]
#[rtype(result = "Vec<TopicOffsets>")]
pub struct FetchOffsets {
    pub group: String,
    pub topics: Option<Vec<(String, Vec<i32>)>>,
}

impl Handler<FetchOffsets> for OffsetStore {
    type Result = MessageResult<FetchOffsets>;

    fn handle(&mut self, msg: FetchOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let group = self.state.offsets.get(&msg.group);
        let answer = match msg.topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let stored = group.and_then(|g| g.get(&topic));
                    let partitions = partitions
                        .into_iter()
                        .map(|p| (p, stored.and_then(|s| s.get(&p)).cloned()))
                        .collect();
                    TopicOffsets { topic, partitions }
                })
                .collect(),
            None => {
                let mut all: Vec<TopicOffsets> = group
                    .map(|g| {
                        g.iter()
                            .map(|(topic, partitions)| TopicOffsets {
                                topic: topic.clone(),
                                partitions: partitions
                                    .iter()
                                    .map(|(&p, c)| (p, Some(c.clone())))
                                    .collect(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                all.sort_by(|a, b| a.topic.cmp(&b.topic));
                all
            }
        };
        MessageResult(answer)
    }
}

/// DeleteGroups: tombstones for the group's offsets and metadata.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct DeleteGroup {
    pub group: String,
}

impl Handler<DeleteGroup> for OffsetStore {
    type Result = Result<(), ErrorCode>;

    fn handle(&mut self, msg: DeleteGroup, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let dropped = self.drop_offsets(Some(&msg.group), None)?;
        if self.state.groups.contains_key(&msg.group) {
            let key = RecordKey::Group {
                group: msg.group.clone(),
            };
            self.append(&[(key.encode(), None)], true)?;
            self.state.groups.remove(&msg.group);
        }
        info!(group = %msg.group, offsets = dropped, "group deleted");
        Ok(())
    }
}

/// A topic was deleted: every group's offsets for it go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DropTopic {
    pub topic: String,
}

impl Handler<DropTopic> for OffsetStore {
    type Result = ();

    fn handle(&mut self, msg: DropTopic, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        match self.drop_offsets(None, Some(&msg.topic)) {
            Ok(0) => {}
            Ok(n) => {
                info!(topic = %msg.topic, offsets = n, "dropped the offsets of a deleted topic")
            }
            Err(code) => {
                warn!(topic = %msg.topic, ?code, "could not drop the offsets of a deleted topic")
            }
        }
    }
}

/// The group's metadata after a rebalance (written unsynced: the next synced commit or the
/// clean close makes it durable).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StoreGroup {
    pub group: String,
    pub value: GroupMetadataValue,
}

impl Handler<StoreGroup> for OffsetStore {
    type Result = ();

    fn handle(&mut self, msg: StoreGroup, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        let key = RecordKey::Group {
            group: msg.group.clone(),
        };
        if self
            .append(&[(key.encode(), Some(msg.value.encode()))], false)
            .is_ok()
        {
            // Kept whole: a compaction rewrites it.
            self.state.groups.insert(msg.group, msg.value);
            self.after_append();
        }
    }
}

/// Closes the log cleanly (fsync, checkpoint, clean-shutdown marker). Later messages find no
/// log and fail.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseStore;

impl Handler<CloseStore> for OffsetStore {
    type Result = ();

    fn handle(&mut self, _msg: CloseStore, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        if let Some(log) = self.log.take() {
            match log.close() {
                Ok(()) => debug!("offsets log closed"),
                Err(e) => error!(error = %e, "closing the offsets log failed"),
            }
        }
    }
}

/// Drops, at startup, offsets of topics that no longer exist (deleted while a tombstone write
/// was lost); returns how many went.
pub fn drop_unknown_topics(
    log: Option<&mut PartitionLog>,
    state: &mut StoreState,
    exists: impl Fn(&str) -> bool,
) -> io::Result<usize> {
    let mut tombstones = Vec::new();
    for (g, topics) in &state.offsets {
        for (t, partitions) in topics {
            if exists(t) {
                continue;
            }
            for &partition in partitions.keys() {
                tombstones.push(RecordKey::Offset {
                    group: g.clone(),
                    topic: t.clone(),
                    partition,
                });
            }
        }
    }
    if tombstones.is_empty() {
        return Ok(0);
    }
    if let Some(log) = log {
        let now = now_ms();
        let mut builder = BatchBuilder::new(0, now);
        for key in &tombstones {
            builder.push(Some(&key.encode()), None, &[]);
        }
        log.append(BytesMut::from(builder.build().as_ref()), now)
            .map_err(io::Error::other)?;
        log.flush()?;
    }
    let n = tombstones.len();
    for key in tombstones {
        let _ = state.apply(key, None);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1,
        }
    }

    fn append(log: &mut PartitionLog, records: &[(RecordKey, Option<CommittedOffset>)]) {
        let mut builder = BatchBuilder::new(0, 1);
        for (k, v) in records {
            builder.push(
                Some(&k.encode()),
                v.as_ref().map(|v| v.encode()).as_deref(),
                &[],
            );
        }
        log.append(BytesMut::from(builder.build().as_ref()), 1)
            .expect("append");
    }

    fn key(group: &str, topic: &str, partition: i32) -> RecordKey {
        RecordKey::Offset {
            group: group.into(),
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn replay_keeps_the_latest_value_and_honours_tombstones() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
            let mut log = log.expect("log");
            assert!(state.offsets.is_empty());
            append(
                &mut log,
                &[
                    (key("g", "t", 0), Some(committed(5))),
                    (key("g", "t", 1), Some(committed(6))),
                    (key("h", "t", 0), Some(committed(7))),
                ],
            );
            append(&mut log, &[(key("g", "t", 0), Some(committed(9)))]);
            append(&mut log, &[(key("g", "t", 1), None)]);
            log.close().expect("close");
        }
        let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
        assert!(log.is_some());
        let g = &state.offsets["g"]["t"];
        assert_eq!(g.get(&0).map(|c| c.offset), Some(9));
        assert_eq!(g.get(&1), None);
        assert_eq!(state.offsets["h"]["t"][&0].offset, 7);
        assert_eq!(state.known_groups().len(), 2);
    }

    #[test]
    fn unknown_topics_are_dropped_durably() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (log, _, _) = recover(dir.path(), OFFSETS_DIR);
            let mut log = log.expect("log");
            append(
                &mut log,
                &[
                    (key("g", "kept", 0), Some(committed(1))),
                    (key("g", "gone", 0), Some(committed(2))),
                ],
            );
            log.close().expect("close");
        }
        let (mut log, mut state, _) = recover(dir.path(), OFFSETS_DIR);
        let n = drop_unknown_topics(log.as_mut(), &mut state, |t| t == "kept").expect("drop");
        assert_eq!(n, 1);
        drop(log);
        let (_, state, _) = recover(dir.path(), OFFSETS_DIR);
        assert!(state.offsets["g"].contains_key("kept"));
        assert!(!state.offsets["g"].contains_key("gone"));
    }
}

#[cfg(test)]
mod compaction_tests {
    use super::*;

    fn offset_record(group: &str, partition: i32, offset: i64) -> (Bytes, Option<Bytes>) {
        let key = RecordKey::Offset {
            group: group.into(),
            topic: "t".into(),
            partition,
        };
        let value = CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1,
        };
        (key.encode(), Some(value.encode()))
    }

    /// Fills a log with `batches` × 1000 commits over 10 keys of group "g" (and one of "gone",
    /// then deleted), closed cleanly.
    fn fill(log_dir: &Path, batches: i64) {
        let (log, _, _) = recover(log_dir, OFFSETS_DIR);
        let mut log = log.expect("log");
        for b in 0..batches {
            let mut builder = BatchBuilder::new(0, 1);
            for i in 0..1000i64 {
                let (k, v) = offset_record("g", (i % 10) as i32, b * 1000 + i);
                builder.push(Some(&k), v.as_deref(), &[]);
            }
            log.append(BytesMut::from(builder.build().as_ref()), 1)
                .expect("append");
        }
        let mut builder = BatchBuilder::new(0, 1);
        let (k, v) = offset_record("gone", 0, 1);
        builder.push(Some(&k), v.as_deref(), &[]);
        builder.push(Some(&k), None, &[]);
        log.append(BytesMut::from(builder.build().as_ref()), 1)
            .expect("append");
        log.close().expect("close");
    }

    fn check_state(state: &StoreState, batches: i64) {
        assert_eq!(state.live_records(), 10);
        assert!(!state.offsets.contains_key("gone"));
        let g = &state.offsets["g"]["t"];
        for p in 0..10 {
            // The last commit of partition p in the last batch.
            assert_eq!(g[&p].offset, (batches - 1) * 1000 + 990 + i64::from(p));
        }
    }

    #[test]
    fn a_large_log_is_compacted_on_startup_and_keeps_the_live_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        fill(dir.path(), 60);
        let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
        check_state(&state, 60);
        let log = log.expect("log");
        assert_eq!(
            log.log_end_offset() - log.log_start_offset(),
            10,
            "compacted"
        );
        drop(log);
        let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
        check_state(&state, 60);
        assert_eq!(log.expect("log").log_end_offset(), 10);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != OFFSETS_DIR)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_small_log_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        fill(dir.path(), 3);
        let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
        check_state(&state, 3);
        assert_eq!(log.expect("log").log_end_offset(), 3002);
    }

    #[test]
    fn an_interrupted_compaction_is_finished_or_discarded() {
        // Crash after the old directory was moved away: the finished copy takes its place.
        let dir = tempfile::tempdir().expect("tempdir");
        fill(dir.path(), 2);
        let main = dir.path().join(OFFSETS_DIR);
        let (log, state, _) = recover(dir.path(), OFFSETS_DIR);
        let mut log = log;
        let tmp = sibling(&main, COMPACTING_SUFFIX);
        {
            let mut fresh = PartitionLog::open(&tmp, log_config()).expect("open");
            let mut builder = BatchBuilder::new(0, 1);
            for (k, v) in state.live_entries() {
                builder.push(Some(&k), v.as_deref(), &[]);
            }
            fresh
                .append(BytesMut::from(builder.build().as_ref()), 1)
                .expect("append");
            fresh.close().expect("close");
            std::fs::File::create(tmp.join(COMPACTED_MARKER)).expect("marker");
        }
        if let Some(l) = log.take() {
            l.close().expect("close");
        }
        std::fs::rename(&main, sibling(&main, ".0123-delete")).expect("rename");
        let (log, state2, _) = recover(dir.path(), OFFSETS_DIR);
        check_state(&state2, 2);
        assert_eq!(log.expect("log").log_end_offset(), 10);
        assert!(!tmp.exists() && !sibling(&main, ".0123-delete").exists());

        // Crash while the copy was being written: it is discarded, the log stays.
        std::fs::create_dir_all(&tmp).expect("mkdir");
        std::fs::write(tmp.join("00000000000000000000.log"), b"partial").expect("write");
        let (log, state3, _) = recover(dir.path(), OFFSETS_DIR);
        check_state(&state3, 2);
        assert!(log.is_some());
        assert!(!tmp.exists());
    }
}
