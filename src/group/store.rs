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
//! Nothing compacts the log: it grows with every commit and is replayed whole on startup.
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
use crate::partition::now_ms;
use crate::record::{self, BatchBuilder, BatchIter};
use crate::storage::{AppendError, LogConfig, PartitionLog};

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
    let log = match PartitionLog::open(&dir, log_config()) {
        Ok(log) => log,
        Err(e) => {
            error!(dir = %dir.display(), error = %e, "cannot open the offsets log: offset commits will fail");
            return (None, state, dir);
        }
    };
    let (records, skipped) = replay(&log, &mut state);
    info!(
        dir = %dir.display(),
        records,
        skipped,
        groups = state.known_groups().len(),
        log_end_offset = log.log_end_offset(),
        "offsets log replayed"
    );
    (Some(log), state, dir)
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
}

impl OffsetStore {
    pub fn new(log: Option<PartitionLog>, dir: PathBuf, state: StoreState) -> OffsetStore {
        OffsetStore {
            log,
            dir,
            state,
            span: tracing::info_span!("offsets"),
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
        Ok(())
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
            // Kept only to know the group has a record to delete; the members do not matter
            // any more once the actors run.
            let mut value = msg.value;
            value.members.clear();
            self.state.groups.insert(msg.group, value);
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
