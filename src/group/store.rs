//! The offset store: every group's committed offsets (and the last metadata record of each
//! group), in memory, written to Kafka's `__consumer_offsets` topic.
//!
//! A group's records go to partition `Utils.abs(groupId.hashCode()) % partitionCount`
//! ([`super::partitioning`]) of `__consumer_offsets`, in Kafka's key/value formats
//! ([`super::records`]), so a data directory Kafka wrote keeps its groups' offsets and one
//! sluice wrote reads with Kafka's tools. The topic is ordinary in the metadata log
//! (`crate::metadata::internal_topics`), so Metadata lists it (internal) and Fetch reads it.
//!
//! **One owner per directory.** The partition actors of `__consumer_offsets-N` own the files:
//! the store sends them each commit as one batch with `sync` (acknowledged once fsynced, and
//! sharing the fsync with whatever else reached that partition meanwhile — the partition
//! actor's group commit), then applies it in memory. Only at startup, before the partition
//! actors exist, does the store open the logs itself: [`recover_topic`] replays every
//! partition from the start (the latest value per key wins, a null value deletes) and hands
//! the open logs on to their partition actors; the migration of sluice's old layout
//! ([`super::migration`]) writes there too.
//!
//! Records the coordinator does not handle (KIP-848 consumer-group and share-group records)
//! are skipped on replay and stay in the log.
//!
//! [`recover`] opens one standalone log — sluice's old `__consumer_offsets-0` layout — with
//! its compaction (rewrite of the live records, crash-safe); the migration reads it with this.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use tracing::{debug, error, info, warn, Span};

use std::sync::Arc;

use super::partitioning::partition_for;
use super::records::{CommittedOffset, GroupMetadataValue, RecordKey};
use crate::error::ErrorCode;
pub use crate::metadata::internal_topics::OFFSETS_TOPIC;
use crate::partition::files::KafkaRootState;
use crate::partition::{Append, PartitionHandle, PartitionRegistry};
use crate::record::{self, BatchBuilder, BatchIter};
use crate::storage::{LogConfig, OpenHints, PartitionLog};
use crate::util::clock::now_ms;
use crate::util::fs::sync_dir;

/// Sluice's old one-partition layout: this directory, not registered as a topic...
pub const OFFSETS_DIR: &str = "__consumer_offsets-0";
/// ...or this one, used when the metadata log registered Kafka's `__consumer_offsets`.
/// Both are migrated to the topic on startup ([`super::migration`]).
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

    /// Every live record with its group, encoded.
    pub fn live_entries_by_group(&self) -> Vec<(String, Bytes, Option<Bytes>)> {
        let mut out = Vec::new();
        for (group, value) in &self.groups {
            let key = RecordKey::Group {
                group: group.clone(),
            };
            out.push((group.clone(), key.encode(), Some(value.encode())));
        }
        for (group, topics) in &self.offsets {
            for (topic, partitions) in topics {
                for (&partition, committed) in partitions {
                    let key = RecordKey::Offset {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition,
                    };
                    out.push((group.clone(), key.encode(), Some(committed.encode())));
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
                    Ok(None) => {
                        // KIP-848 consumer-group or share-group records: kept in the log.
                        debug!(
                            offset = r.offset,
                            "skipping an offsets record of a type the coordinator does not handle"
                        );
                        skipped += 1;
                    }
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

/// Where the store writes: the partition actors of `__consumer_offsets`, and the topic's
/// partition count (read from the published image: fixed once the topic exists).
#[derive(Clone)]
pub struct OffsetsTopic {
    pub registry: Arc<PartitionRegistry>,
    pub partitions: Arc<dyn Fn() -> Option<i32> + Send + Sync>,
}

impl OffsetsTopic {
    /// The partition actor holding `group`'s records; `None` while the topic does not exist
    /// (it is created on the first FindCoordinator or group write).
    fn partition_of(&self, group: &str) -> Result<PartitionHandle, ErrorCode> {
        let count = (self.partitions)().ok_or(ErrorCode::CoordinatorNotAvailable)?;
        let p = partition_for(group, count);
        self.registry
            .get(OFFSETS_TOPIC, p)
            .ok_or(ErrorCode::CoordinatorNotAvailable)
    }
}

/// The actor holding every group's committed offsets in memory and writing them, as records in
/// Kafka's formats, through the partition actor of the group's `__consumer_offsets` partition
/// (the one owner of that directory; see the module doc).
pub struct OffsetStore {
    topic: OffsetsTopic,
    state: StoreState,
    span: Span,
    /// Each write gets the next number; a key's in-memory value is replaced only by a write
    /// numbered later than the one that set it, whatever order the acknowledgements come in.
    next_write: u64,
    written: HashMap<(String, String, i32), u64>,
    group_written: HashMap<String, u64>,
}

impl OffsetStore {
    pub fn new(topic: OffsetsTopic, state: StoreState) -> OffsetStore {
        OffsetStore {
            topic,
            state,
            span: tracing::info_span!("offsets"),
            next_write: 0,
            written: HashMap::new(),
            group_written: HashMap::new(),
        }
    }

    /// Appends `records` (key, value or tombstone) of `group` as one batch to the group's
    /// partition; with `sync`, acknowledged once fsynced (the partition actor's group commit).
    fn append(
        &mut self,
        group: &str,
        records: &[(Bytes, Option<Bytes>)],
    ) -> (
        u64,
        impl std::future::Future<Output = Result<(), ErrorCode>> + 'static,
    ) {
        self.next_write += 1;
        let seq = self.next_write;
        let target = if records.is_empty() {
            Ok(None)
        } else {
            self.topic.partition_of(group).map(Some)
        };
        let batch = if records.is_empty() {
            Bytes::new()
        } else {
            let mut builder = BatchBuilder::new(0, now_ms());
            for (key, value) in records {
                builder.push(Some(key), value.as_deref(), &[]);
            }
            builder.build()
        };
        let fut = async move {
            let handle = match target? {
                Some(h) => h,
                None => return Ok(()),
            };
            match handle
                .send(Append {
                    records: batch,
                    sync: true,
                    // Kafka's coordinator appends with acks=1 and waits for the high watermark
                    // itself: min.insync.replicas does not gate it.
                    acks_all: false,
                })
                .await
                .map(|answer| answer.map_err(|refused| refused.code))
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(code @ (ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge))) => {
                    warn!(?code, "offsets batch refused by the partition");
                    Err(ErrorCode::InvalidCommitOffsetSize)
                }
                Ok(Err(code)) => {
                    error!(?code, "offsets log append failed");
                    Err(ErrorCode::CoordinatorNotAvailable)
                }
                Err(_) => Err(ErrorCode::CoordinatorNotAvailable),
            }
        };
        (seq, fut)
    }

    /// Applies offsets (or tombstones) written as write `seq`, unless a later write already set
    /// the key.
    fn apply_offsets(
        &mut self,
        seq: u64,
        group: &str,
        offsets: Vec<(String, i32, Option<CommittedOffset>)>,
    ) {
        for (topic, partition, value) in offsets {
            let slot = self
                .written
                .entry((group.to_string(), topic.clone(), partition))
                .or_insert(0);
            if *slot > seq {
                continue;
            }
            *slot = seq;
            let key = RecordKey::Offset {
                group: group.to_string(),
                topic,
                partition,
            };
            match value {
                Some(v) => {
                    if let RecordKey::Offset {
                        group,
                        topic,
                        partition,
                    } = key
                    {
                        self.state
                            .offsets
                            .entry(group)
                            .or_default()
                            .entry(topic)
                            .or_default()
                            .insert(partition, v);
                    }
                }
                None => {
                    let _ = self.state.apply(key, None);
                }
            }
        }
    }

    /// Tombstones for every offset of `topic` (all groups) or of `group` (all topics), one
    /// batch per group.
    fn tombstones(
        &self,
        group: Option<&str>,
        topic: Option<&str>,
    ) -> Vec<(String, Vec<(String, i32)>)> {
        let mut out = Vec::new();
        for (g, topics) in &self.state.offsets {
            if group.is_some_and(|want| want != g) {
                continue;
            }
            let mut keys = Vec::new();
            for (t, partitions) in topics {
                if topic.is_some_and(|want| want != t) {
                    continue;
                }
                keys.extend(partitions.keys().map(|&p| (t.clone(), p)));
            }
            if !keys.is_empty() {
                out.push((g.clone(), keys));
            }
        }
        out
    }

    /// Writes the tombstones and applies them once durable; resolves to how many went.
    fn drop_offsets(
        &mut self,
        group: Option<&str>,
        topic: Option<&str>,
    ) -> ResponseActFuture<Self, Result<usize, ErrorCode>> {
        let mut writes = Vec::new();
        for (g, keys) in self.tombstones(group, topic) {
            let records: Vec<(Bytes, Option<Bytes>)> = keys
                .iter()
                .map(|(t, p)| {
                    let key = RecordKey::Offset {
                        group: g.clone(),
                        topic: t.clone(),
                        partition: *p,
                    };
                    (key.encode(), None)
                })
                .collect();
            let (seq, fut) = self.append(&g, &records);
            writes.push(async move { (seq, g, keys, fut.await) });
        }
        Box::pin(
            futures_util::future::join_all(writes)
                .into_actor(self)
                .map(|results, act, _| {
                    let mut n = 0;
                    let mut failed = None;
                    for (seq, g, keys, result) in results {
                        match result {
                            Ok(()) => {
                                n += keys.len();
                                act.apply_offsets(
                                    seq,
                                    &g,
                                    keys.into_iter().map(|(t, p)| (t, p, None)).collect(),
                                );
                            }
                            Err(code) => failed = Some(code),
                        }
                    }
                    match failed {
                        Some(code) => Err(code),
                        None => Ok(n),
                    }
                }),
        )
    }
}

impl Actor for OffsetStore {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        debug!(topic = OFFSETS_TOPIC, "offset store started");
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
    type Result = ResponseActFuture<Self, Result<(), ErrorCode>>;

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
        let (seq, fut) = self.append(&msg.group, &records);
        Box::pin(fut.into_actor(self).map(move |result, act, _| {
            result?;
            let offsets = msg
                .offsets
                .into_iter()
                .map(|(t, p, c)| (t, p, Some(c)))
                .collect();
            act.apply_offsets(seq, &msg.group, offsets);
            Ok(())
        }))
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
    type Result = ResponseActFuture<Self, Result<(), ErrorCode>>;

    fn handle(&mut self, msg: DeleteGroup, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let offsets = self.drop_offsets(Some(&msg.group), None);
        let group = msg.group;
        Box::pin(offsets.then(move |dropped, act, _| {
            let has_record = act.state.groups.contains_key(&group);
            let (seq, fut) = if has_record {
                let key = RecordKey::Group {
                    group: group.clone(),
                };
                act.append(&group, &[(key.encode(), None)])
            } else {
                act.append(&group, &[])
            };
            fut.into_actor(act).map(move |written, act, _| {
                let dropped = dropped?;
                written?;
                if has_record && act.group_written.get(&group).is_none_or(|&s| s <= seq) {
                    act.group_written.insert(group.clone(), seq);
                    act.state.groups.remove(&group);
                }
                info!(group = %group, offsets = dropped, "group deleted");
                Ok(())
            })
        }))
    }
}

/// OffsetDelete: tombstones for the group's committed offsets of these partitions (those it
/// has; the others need nothing).
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct DeleteOffsets {
    pub group: String,
    pub partitions: Vec<(String, i32)>,
}

impl Handler<DeleteOffsets> for OffsetStore {
    type Result = ResponseActFuture<Self, Result<(), ErrorCode>>;

    fn handle(&mut self, msg: DeleteOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let present: Vec<(String, i32)> = match self.state.offsets.get(&msg.group) {
            Some(stored) => msg
                .partitions
                .into_iter()
                .filter(|(t, p)| stored.get(t).is_some_and(|ps| ps.contains_key(p)))
                .collect(),
            None => Vec::new(),
        };
        let records: Vec<(Bytes, Option<Bytes>)> = present
            .iter()
            .map(|(topic, partition)| {
                let key = RecordKey::Offset {
                    group: msg.group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), None)
            })
            .collect();
        let (seq, fut) = self.append(&msg.group, &records);
        let group = msg.group;
        Box::pin(fut.into_actor(self).map(move |result, act, _| {
            result?;
            if !present.is_empty() {
                info!(group = %group, offsets = present.len(), "committed offsets deleted");
            }
            act.apply_offsets(
                seq,
                &group,
                present.into_iter().map(|(t, p)| (t, p, None)).collect(),
            );
            Ok(())
        }))
    }
}

/// A topic was deleted: every group's offsets for it go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DropTopic {
    pub topic: String,
}

impl Handler<DropTopic> for OffsetStore {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: DropTopic, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let topic = msg.topic;
        // The in-memory offsets go at once (a fetch right after the deletion finds none); the
        // tombstones follow.
        let fut = self.drop_offsets(None, Some(&topic));
        for g in self.state.offsets.values_mut() {
            g.remove(&topic);
        }
        self.state.offsets.retain(|_, g| !g.is_empty());
        Box::pin(fut.map(move |result, _, _| match result {
            Ok(0) => {}
            Ok(n) => info!(topic = %topic, offsets = n, "dropped the offsets of a deleted topic"),
            Err(code) => {
                warn!(topic = %topic, ?code, "could not drop the offsets of a deleted topic")
            }
        }))
    }
}

/// The group's metadata after a rebalance (appended without waiting for anyone: losing it
/// only makes consumers rejoin).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StoreGroup {
    pub group: String,
    pub value: GroupMetadataValue,
}

impl Handler<StoreGroup> for OffsetStore {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: StoreGroup, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        let key = RecordKey::Group {
            group: msg.group.clone(),
        };
        let (seq, fut) = self.append(&msg.group, &[(key.encode(), Some(msg.value.encode()))]);
        Box::pin(
            fut.into_actor(self)
                .map(move |result, act, _| match result {
                    Ok(()) => {
                        if act.group_written.get(&msg.group).is_none_or(|&s| s <= seq) {
                            act.group_written.insert(msg.group.clone(), seq);
                            act.state.groups.insert(msg.group, msg.value);
                        }
                    }
                    Err(code) => debug!(group = %msg.group, ?code, "group metadata not stored"),
                }),
        )
    }
}

/// Shutdown: the partition actors close the logs; nothing is left to do here but to say so.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseStore;

impl Handler<CloseStore> for OffsetStore {
    type Result = ();

    fn handle(&mut self, _msg: CloseStore, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        debug!("offset store stopped");
    }
}

/// What the replay of `__consumer_offsets` leaves: the state, and the logs it opened, to be
/// handed to their partition actors (so that each log is opened, and recovered, once).
#[derive(Default)]
pub struct ReplayedTopic {
    pub state: StoreState,
    pub logs: Vec<(i32, PartitionLog)>,
}

/// Startup, before the partition actors start: replays every `__consumer_offsets-N` that
/// exists (N < `partitions`) into one state, and writes tombstones for offsets of topics that
/// no longer exist (`exists`; deleted while a tombstone write was lost) into their group's
/// partition. The logs stay open for the partition actors to adopt. A partition that cannot
/// be opened is logged and skipped (its groups are not answered).
pub fn recover_topic(
    log_dir: &Path,
    partitions: i32,
    hints: &KafkaRootState,
    segment_bytes: u64,
    exists: impl Fn(&str) -> bool,
) -> ReplayedTopic {
    let started = std::time::Instant::now();
    let mut state = StoreState::default();
    let mut logs: HashMap<i32, PartitionLog> = HashMap::new();
    let (mut applied, mut skipped) = (0u64, 0u64);
    for p in 0..partitions {
        let dir = log_dir.join(format!("{OFFSETS_TOPIC}-{p}"));
        if !dir.is_dir() {
            continue;
        }
        let key = (OFFSETS_TOPIC.to_string(), p);
        let open_hints = OpenHints {
            kafka_clean_shutdown: hints.clean_shutdown,
            recovery_point: hints.recovery_points.get(&key).copied(),
            log_start_offset: hints.log_start_offsets.get(&key).copied(),
        };
        match PartitionLog::open_with_hints(&dir, topic_log_config(segment_bytes), open_hints) {
            Ok(log) => {
                let (a, s) = replay(&log, &mut state);
                applied += a;
                skipped += s;
                logs.insert(p, log);
            }
            Err(e) => {
                error!(dir = %dir.display(), error = %e, "cannot open an offsets partition: its groups' offsets are not answered")
            }
        }
    }
    // Tombstones for offsets of topics gone, per group's partition.
    let mut gone: BTreeMap<i32, Vec<RecordKey>> = BTreeMap::new();
    for (g, topics) in &state.offsets {
        for (t, parts) in topics {
            if exists(t) {
                continue;
            }
            for &partition in parts.keys() {
                gone.entry(partition_for(g, partitions))
                    .or_default()
                    .push(RecordKey::Offset {
                        group: g.clone(),
                        topic: t.clone(),
                        partition,
                    });
            }
        }
    }
    let mut dropped = 0;
    for (p, keys) in gone {
        if let Some(log) = logs.get_mut(&p) {
            let now = now_ms();
            let mut builder = BatchBuilder::new(0, now);
            for key in &keys {
                builder.push(Some(&key.encode()), None, &[]);
            }
            let written = log
                .append(BytesMut::from(builder.build().as_ref()), now)
                .map_err(io::Error::other)
                .and_then(|_| log.flush());
            if let Err(e) = written {
                warn!(partition = p, error = %e, "could not drop offsets of deleted topics");
            }
        }
        // Without a log to write to, the offsets are dropped from memory only (the next
        // start drops them again).
        dropped += keys.len();
        for key in keys {
            let _ = state.apply(key, None);
        }
    }
    if dropped > 0 {
        info!(
            offsets = dropped,
            "dropped committed offsets of topics that no longer exist"
        );
    }
    info!(
        topic = OFFSETS_TOPIC,
        partitions,
        records = applied,
        skipped,
        groups = state.known_groups().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "offsets topic replayed"
    );
    let mut logs: Vec<(i32, PartitionLog)> = logs.into_iter().collect();
    logs.sort_by_key(|(p, _)| *p);
    ReplayedTopic { state, logs }
}

/// The storage settings the replay opens a partition with (the partition actor then uses
/// the topic's own).
fn topic_log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        retention_ms: -1,
        retention_bytes: -1,
        ..LogConfig::default()
    }
}

/// Appends `entries` (live records of many groups) each into its group's partition of
/// `__consumer_offsets` (`partitions` of them), opening, fsyncing and closing the logs
/// (startup only, before the partition actors start). Used by the migration.
pub fn write_to_topic(
    log_dir: &Path,
    partitions: i32,
    segment_bytes: u64,
    entries: Vec<(String, Bytes, Option<Bytes>)>,
) -> io::Result<usize> {
    let mut by_partition: BTreeMap<i32, Vec<(Bytes, Option<Bytes>)>> = BTreeMap::new();
    for (group, key, value) in entries {
        by_partition
            .entry(partition_for(&group, partitions))
            .or_default()
            .push((key, value));
    }
    let mut n = 0;
    for (p, records) in by_partition {
        let dir = log_dir.join(format!("{OFFSETS_TOPIC}-{p}"));
        let mut log =
            PartitionLog::open(&dir, topic_log_config(segment_bytes)).map_err(io::Error::other)?;
        for chunk in records.chunks(COMPACT_BATCH_RECORDS) {
            let now = now_ms();
            let mut builder = BatchBuilder::new(0, now);
            for (key, value) in chunk {
                builder.push(Some(key), value.as_deref(), &[]);
            }
            log.append(BytesMut::from(builder.build().as_ref()), now)
                .map_err(io::Error::other)?;
            n += chunk.len();
        }
        log.flush()?;
        log.close()?;
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
