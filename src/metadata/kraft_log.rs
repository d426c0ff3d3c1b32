//! The KRaft metadata log, `<log.dirs>/__cluster_metadata-0/`: replayed at startup, appended
//! to when topics change.
//!
//! The directory is an ordinary partition directory run by the storage engine
//! ([`PartitionLog`]), like every other log: magic-2 record batches in `{base_offset:020}.log`
//! segments with their `.index` / `.timeindex`, rolled at `segment.bytes`
//! ([`METADATA_LOG_SEGMENT_BYTES`], Kafka's `metadata.log.segment.bytes` default), recovered
//! after an unclean stop (a torn or corrupt tail is truncated, damaged indexes rebuilt), each
//! new segment made durable with a directory fsync. Once Kafka has taken one, the directory also
//! holds snapshots named `{end_offset:020}-{epoch:010}.checkpoint` in the same batch format; the
//! storage engine leaves them alone. Loading takes the newest snapshot whose header and footer
//! are in place (one whole-file read: snapshots are not segments; see [`snapshot`]), then every
//! log record at or past its end offset, read batch by
//! batch through the log. Each record value is framed as
//!
//! ```text
//! uvarint frame version (1) | uvarint record type (apiKey) | uvarint record version | fields… | tags
//! ```
//!
//! Records we apply are decoded with the generated types; all other types (brokers, producer ids,
//! transactions, ZK migration, …) and control batches are skipped. A damaged batch ends loading:
//! everything before it is kept, the damage is logged with file and position, and the log is
//! truncated there so that later appends follow valid data. The storage engine finds the damage
//! a batch header and CRC show in the segments it recovers; a batch whose CRC holds but whose
//! records cannot be decoded, or damage in a segment it trusted, is found by the replay, and
//! truncated here (see `truncate_segment`).
//!
//! At start-up the broker takes the quorum as its only voter
//! ([`MetadataLog::take_leadership`]): a new raft epoch in `quorum-state` and a leader-change
//! batch opening it, then, on an empty log, the bootstrap records (`metadata.version` first).

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::metadata::image::ClusterImage;
use crate::metadata::quorum::{self, QuorumState};
use crate::metadata::snapshot;
use crate::protocol::messages::metadata::{FeatureLevelRecord, MetadataRecord};
use crate::protocol::wire::EncodeBuf;
use crate::record::{self, BatchBuilder, BatchIter, FoundBatch};
use crate::storage::{LogConfig, PartitionLog};
use crate::util::fs::sync_dir;

pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// Kafka's `metadata.log.segment.bytes` default: the metadata log rolls at 1 GiB.
pub const METADATA_LOG_SEGMENT_BYTES: u64 = 1 << 30;

/// The `metadata.version` a new metadata log is bootstrapped with when no bootstrap file says
/// otherwise: 4.0-IV3 (feature level 25), the newest level whose record versions sluice writes.
pub const BOOTSTRAP_METADATA_VERSION: i16 = 25;

pub const METADATA_VERSION: &str = "metadata.version";

/// The largest batch the metadata log takes: Kafka's KRaft limit (`MAX_BATCH_SIZE_BYTES`). One
/// topic change is one batch; the largest, a topic of `MAX_PARTITIONS_PER_TOPIC` partitions, is
/// well under it.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// How much of the log one replay read takes.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// The storage settings of the metadata log: segments of `segment_bytes`, Kafka's index
/// defaults, and no retention (the log is the only copy of the cluster's state: nothing is
/// deleted by age or size).
pub fn log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: MAX_BATCH_BYTES,
        ..LogConfig::default()
    }
}

/// The version sluice writes for each record type it produces: PartitionRecord v1 carries the
/// log directory ids, as Kafka 3.7+ writes it; a PartitionChangeRecord that changes the ELR
/// fields (tags 6 and 7, v2+) is written in v2, as Kafka 4 writes it, others in v1;
/// RegisterBrokerRecord v3 carries the log dirs (Kafka 3.7+); BrokerRegistrationChangeRecord
/// v0 is what Kafka's controller writes when it unfences a broker.
pub fn write_version(record: &MetadataRecord) -> i16 {
    match record {
        MetadataRecord::PartitionChangeRecord(r)
            if r.eligible_leader_replicas.is_some() || r.last_known_elr.is_some() =>
        {
            2
        }
        MetadataRecord::PartitionRecord(_) | MetadataRecord::PartitionChangeRecord(_) => 1,
        MetadataRecord::RegisterBrokerRecord(_) => 3,
        _ => 0,
    }
}

/// Encodes a record value (frame, type, version, fields).
pub fn encode_value(record: &MetadataRecord) -> Bytes {
    let mut buf = EncodeBuf::new();
    record.encode_value(&mut buf, write_version(record));
    buf.to_bytes()
}

/// The metadata log: the storage engine's log of `__cluster_metadata-0`, and the leader epoch
/// the batches we append carry.
pub struct MetadataLog {
    dir: PathBuf,
    config: LogConfig,
    /// None until the first append when the directory did not exist (an empty cluster writes
    /// nothing until a topic is created).
    log: Option<PartitionLog>,
    /// The epoch of what this log appends: the highest the log (or its snapshot) holds until
    /// [`take_leadership`](MetadataLog::take_leadership) opens the next one.
    leader_epoch: i32,
    /// The end offset of the snapshot the image was loaded from, if any (the log may hold
    /// nothing past it).
    snapshot_end: Option<i64>,
}

/// Where replay found a batch it cannot use: one whose CRC holds but whose records cannot be
/// decoded, or a damaged one in a segment the storage engine trusted without validating it
/// (below its recovery point). The log is truncated there.
struct Damage {
    /// Base offset of the segment holding it.
    segment: i64,
    /// Its byte position in that segment.
    position: u64,
}

impl MetadataLog {
    /// [`MetadataLog::open`] with Kafka's default segment size.
    pub fn load(log_dir: &Path, image: &mut ClusterImage) -> io::Result<MetadataLog> {
        MetadataLog::open(log_dir, log_config(METADATA_LOG_SEGMENT_BYTES), image)
    }

    /// Opens (recovering it if needed) `<log_dir>/__cluster_metadata-0` and replays it into
    /// `image`. A missing directory means an empty cluster; it is created on the first append.
    pub fn open(
        log_dir: &Path,
        config: LogConfig,
        image: &mut ClusterImage,
    ) -> io::Result<MetadataLog> {
        let dir = log_dir.join(METADATA_DIR);
        let mut meta = MetadataLog {
            dir: dir.clone(),
            config,
            log: None,
            leader_epoch: 0,
            snapshot_end: None,
        };
        image.last_offset = -1;
        if !dir.is_dir() {
            info!(dir = %dir.display(), "no metadata log: starting with no topics");
            return Ok(meta);
        }
        let mut applied = 0usize;
        let mut skip_below = 0i64;
        for (end, epoch, path) in snapshots(&dir)?.into_iter().rev() {
            let data = Bytes::from(std::fs::read(&path)?);
            match snapshot::read(data) {
                Ok(batches) => {
                    applied += meta.apply_snapshot(&path, &batches, image);
                    skip_below = end;
                    meta.leader_epoch = meta.leader_epoch.max(epoch);
                    meta.snapshot_end = Some(end);
                    break;
                }
                Err(reason) => warn!(file = %path.display(), %reason,
                                     "unusable metadata snapshot: trying an older one"),
            }
        }
        let mut log = meta.open_log()?;
        if log.log_start_offset() > skip_below {
            // Kafka deletes the log below a snapshot it took; without that snapshot the
            // records there are gone.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: the log starts at offset {} and no usable snapshot covers the records \
                     before it",
                    dir.display(),
                    log.log_start_offset()
                ),
            ));
        }
        if skip_below > log.log_end_offset() {
            // Kafka truncates such a log away and restarts it at the snapshot; the storage
            // engine cannot start a log past its end, and appending below the snapshot would
            // write records the next load skips.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: the log ends at offset {}, before its newest snapshot (end offset \
                     {skip_below})",
                    dir.display(),
                    log.log_end_offset()
                ),
            ));
        }
        let (n, unreadable) = meta.replay(&log, skip_below, image)?;
        applied += n;
        if let Some(bad) = unreadable {
            let bases = log.segment_base_offsets();
            // Dropped, not closed: no clean-shutdown marker, so the reopen recovers the
            // truncated segment and rebuilds its indexes.
            drop(log);
            truncate_segment(&dir, &bases, &bad)?;
            log = meta.open_log()?;
        }
        image.last_offset = log.log_end_offset() - 1;
        info!(
            records = applied,
            topics = image.topics.len(),
            last_offset = image.last_offset,
            segments = log.segment_count(),
            "metadata log loaded"
        );
        meta.log = Some(log);
        Ok(meta)
    }

    fn open_log(&self) -> io::Result<PartitionLog> {
        PartitionLog::open(&self.dir, self.config.clone()).map_err(io::Error::other)
    }

    /// Applies the data batches of a checked snapshot file (see [`snapshot::read`]); a batch
    /// whose records do not decode ends it. Returns the records applied.
    fn apply_snapshot(
        &mut self,
        path: &Path,
        batches: &[FoundBatch],
        image: &mut ClusterImage,
    ) -> usize {
        let mut applied = 0;
        for batch in batches {
            match self.apply_batch(&batch.bytes, &batch.header, i64::MIN, image) {
                Ok(n) => applied += n,
                Err(reason) => {
                    warn!(file = %path.display(), position = batch.position, %reason,
                          "unreadable metadata snapshot batch: keeping the records before it");
                    break;
                }
            }
        }
        applied
    }

    /// Replays the log from `skip_below` (or its start), batch by batch. Returns the records
    /// applied and, if there is one, where the first batch it cannot use is (nothing from it on
    /// is applied).
    fn replay(
        &mut self,
        log: &PartitionLog,
        skip_below: i64,
        image: &mut ClusterImage,
    ) -> io::Result<(usize, Option<Damage>)> {
        let mut applied = 0;
        let mut offset = log.log_start_offset().max(skip_below);
        let end = log.log_end_offset();
        let bases = log.segment_base_offsets();
        while offset < end {
            let slice = log
                .read(offset, REPLAY_READ_BYTES, true)
                .map_err(io::Error::other)?;
            let data = slice.read()?;
            if data.is_empty() {
                break;
            }
            let before = offset;
            let segment = segment_of(&bases, slice.first_offset);
            let file = segment_path(&self.dir, segment);
            for found in BatchIter::new(data) {
                let (position, reason) = match found {
                    Ok(batch) => {
                        let header = batch.header;
                        match self.apply_batch(&batch.bytes, &header, skip_below, image) {
                            Ok(n) => {
                                applied += n;
                                offset = offset.max(header.last_offset().saturating_add(1));
                                continue;
                            }
                            Err(reason) => (batch.position, reason),
                        }
                    }
                    Err((position, reason)) => (position, reason.to_string()),
                };
                let position = slice.position + position as u64;
                warn!(file = %file.display(), position, %reason,
                      "unreadable metadata batch: keeping the records before it");
                return Ok((applied, Some(Damage { segment, position })));
            }
            if offset <= before {
                break;
            }
        }
        Ok((applied, None))
    }

    /// Applies one batch's records at or past `skip_below`; control batches are skipped. Returns
    /// the records applied, or why the batch's records cannot be decoded (then nothing of it is
    /// applied, and it does not move the leader epoch).
    fn apply_batch(
        &mut self,
        bytes: &Bytes,
        header: &record::BatchHeader,
        skip_below: i64,
        image: &mut ClusterImage,
    ) -> Result<usize, String> {
        if header.last_offset() < skip_below {
            return Ok(0);
        }
        let records = if header.is_control() {
            debug!(offset = header.base_offset, "skipping control batch");
            Vec::new()
        } else {
            record::decode_records(bytes).map_err(|e| e.to_string())?
        };
        self.leader_epoch = self.leader_epoch.max(header.partition_leader_epoch);
        let mut applied = 0;
        for r in records {
            if r.offset < skip_below {
                continue;
            }
            let Some(mut value) = r.value else { continue };
            match MetadataRecord::decode_value(&mut value) {
                Ok(Some((rec, _version))) => {
                    if image.apply(&rec) {
                        applied += 1;
                    }
                }
                Ok(None) => debug!(offset = r.offset, "skipping metadata record type"),
                Err(reason) => {
                    warn!(dir = %self.dir.display(), offset = r.offset, %reason,
                          "skipping undecodable metadata record");
                }
            }
        }
        Ok(applied)
    }

    /// Appends `records` as one batch at the log end, synced to disk, then applies them to
    /// `image`. The first append to a missing directory creates it.
    pub fn append(
        &mut self,
        records: &[MetadataRecord],
        image: &mut ClusterImage,
        now_ms: i64,
    ) -> io::Result<()> {
        self.append_batches(&[records], image, now_ms)
    }

    /// Appends each of `batches` as one record batch (as Kafka's controller commits each
    /// atomic operation as one batch), then syncs once and applies them to `image`.
    pub fn append_batches(
        &mut self,
        batches: &[&[MetadataRecord]],
        image: &mut ClusterImage,
        now_ms: i64,
    ) -> io::Result<()> {
        let batches: Vec<&[MetadataRecord]> =
            batches.iter().copied().filter(|b| !b.is_empty()).collect();
        if batches.is_empty() {
            return Ok(());
        }
        let log = self.log_mut()?;
        let mut last_offset = image.last_offset;
        for records in &batches {
            let values: Vec<Bytes> = records.iter().map(encode_value).collect();
            last_offset = append_values(log, &values, now_ms)?;
        }
        log.flush()?;
        for r in batches.iter().flat_map(|b| b.iter()) {
            image.apply(r);
        }
        image.last_offset = last_offset;
        Ok(())
    }

    /// The log, opened (and the directory created) on first use, stamping this log's leader
    /// epoch on what it appends.
    fn log_mut(&mut self) -> io::Result<&mut PartitionLog> {
        if self.log.is_none() {
            self.log = Some(self.open_log()?);
        }
        let epoch = self.leader_epoch;
        let log = self
            .log
            .as_mut()
            .ok_or_else(|| io::Error::other("metadata log not open"))?;
        log.set_leader_epoch(epoch);
        Ok(log)
    }

    /// Takes the quorum at start-up, as the only voter (see [`quorum`]): the next epoch after
    /// `quorum-state`'s and the log's is persisted in `quorum-state` and opened in the log by a
    /// leader-change control batch. On an empty log (a new directory, or one `kafka-storage
    /// format` prepared) the bootstrap records follow, as Kafka's controller appends them on
    /// its first activation: those of the bootstrap file, or else `metadata.version`
    /// [`BOOTSTRAP_METADATA_VERSION`], which is then written as `bootstrap.checkpoint` too.
    /// The new state is synced before anything is appended; the appended batches are synced by
    /// the next append (the start-up election always follows). A crash before that loses
    /// nothing: `quorum-state` holds the epoch, and a log found empty again is bootstrapped
    /// again.
    pub fn take_leadership(
        &mut self,
        node_id: i32,
        image: &mut ClusterImage,
        now_ms: i64,
    ) -> io::Result<i32> {
        let state = match QuorumState::read(&self.dir) {
            Ok(state) => state,
            Err(reason) => {
                warn!(file = %self.dir.join(quorum::QUORUM_STATE_FILE).display(), %reason,
                      "unreadable quorum state: rewriting it for the new epoch");
                None
            }
        };
        if let Some(voters) = state.as_ref().and_then(|s| s.voters.as_ref()) {
            if voters.iter().any(|&v| v != node_id) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: the quorum's voters are {voters:?}, a quorum of several \
                         controllers; sluice runs a one-node quorum of node {node_id}",
                        self.dir.join(quorum::QUORUM_STATE_FILE).display()
                    ),
                ));
            }
        }
        let epoch = self
            .leader_epoch
            .max(state.as_ref().map_or(0, |s| s.leader_epoch))
            .checked_add(1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "leader epoch overflow"))?;
        std::fs::create_dir_all(&self.dir)?;
        let data_version = state.as_ref().map_or(0, |s| s.data_version);
        QuorumState::leader(node_id, epoch, data_version).write(&self.dir)?;
        self.leader_epoch = epoch;
        // Kafka 4.2's bootstrap snapshot (end offset 0) leaves the log empty.
        let snapshot_records = self.snapshot_end.is_some_and(|end| end > 0);
        let log = self.log_mut()?;
        let empty = log.log_end_offset() == 0 && !snapshot_records;
        let change = quorum::leader_change_batch(log.log_end_offset(), epoch, node_id, now_ms);
        let mut last_offset = log
            .append(change, now_ms)
            .map_err(io::Error::other)?
            .last_offset;
        let mut bootstrap = 0;
        if empty {
            let log_dir = self.dir.parent().unwrap_or(Path::new("."));
            let (source, values) = match snapshot::read_bootstrap(log_dir, &self.dir)? {
                Some((path, values)) => (path.display().to_string(), values),
                None => {
                    let values = vec![encode_value(&MetadataRecord::FeatureLevelRecord(
                        FeatureLevelRecord {
                            name: METADATA_VERSION.to_string(),
                            feature_level: BOOTSTRAP_METADATA_VERSION,
                        },
                    ))];
                    snapshot::write_bootstrap(log_dir, &values, now_ms)?;
                    ("the default bootstrap".to_string(), values)
                }
            };
            if !values.is_empty() {
                let log = self.log_mut()?;
                last_offset = append_values(log, &values, now_ms)?;
                for mut value in values.iter().cloned() {
                    if let Ok(Some((record, _))) = MetadataRecord::decode_value(&mut value) {
                        image.apply(&record);
                    }
                }
            }
            bootstrap = values.len();
            info!(
                source,
                records = bootstrap,
                "empty metadata log: bootstrap records written"
            );
        }
        image.last_offset = last_offset;
        info!(
            node_id,
            epoch, data_version, bootstrap, "took the metadata quorum"
        );
        Ok(epoch)
    }

    /// The leader epoch of the batches this log appends: after
    /// [`take_leadership`](MetadataLog::take_leadership), the one `quorum-state` names.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// Base offsets of the log's segments, oldest first (none before the first append to a
    /// new directory).
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.log
            .as_ref()
            .map(PartitionLog::segment_base_offsets)
            .unwrap_or_default()
    }
}

/// One record batch of `values` at the log end; returns its last offset.
fn append_values(log: &mut PartitionLog, values: &[Bytes], now_ms: i64) -> io::Result<i64> {
    let mut builder = BatchBuilder::new(log.log_end_offset(), now_ms);
    for value in values {
        builder.push_with_header_count(None, Some(value), &[], 0);
    }
    let appended = log
        .append(builder.build(), now_ms)
        .map_err(io::Error::other)?;
    Ok(appended.last_offset)
}

/// The snapshots in `dir`, oldest first by end offset: `{end_offset:020}-{epoch:010}.checkpoint`
/// with their end offset and epoch. A snapshot Kafka was still writing (`….checkpoint.part`) is
/// removed, as Kafka removes it at start-up.
fn snapshots(dir: &Path) -> io::Result<Vec<(i64, i32, PathBuf)>> {
    let mut snapshots = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".checkpoint.part") {
            info!(file = %path.display(), "removing a metadata snapshot that was not completed");
            std::fs::remove_file(&path)?;
        } else if let Some(stem) = name.strip_suffix(".checkpoint") {
            if let Some((end, epoch)) = stem.split_once('-') {
                if let (Ok(end), Ok(epoch)) = (end.parse::<i64>(), epoch.parse::<i32>()) {
                    snapshots.push((end, epoch, path));
                }
            }
        }
    }
    snapshots.sort();
    Ok(snapshots)
}

/// The segment holding `offset`: the last one based at or below it.
fn segment_of(bases: &[i64], offset: i64) -> i64 {
    bases
        .iter()
        .rev()
        .find(|&&b| b <= offset)
        .or(bases.first())
        .copied()
        .unwrap_or(0)
}

fn segment_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Cuts the log (closed) before a damaged batch: its segment is truncated at the batch and
/// loses its indexes, every later segment is removed, and the directory is fsynced. The storage
/// engine rebuilds the indexes when the log is reopened.
///
/// The storage engine's recovery truncates what a batch header and CRC show to be damaged (in
/// the segments it validates), but it does not decode records, and its public API has no
/// truncation: this is the one place the
/// metadata log handles segment files itself, by Kafka's file names.
fn truncate_segment(dir: &Path, bases: &[i64], bad: &Damage) -> io::Result<()> {
    let indexes = |base: i64| {
        ["index", "timeindex", "txnindex"].map(|suffix| dir.join(format!("{base:020}.{suffix}")))
    };
    let remove = |path: &Path| match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    for &base in bases.iter().filter(|&&b| b > bad.segment) {
        warn!(file = %segment_path(dir, base).display(), "removing metadata segment after damage");
        remove(&segment_path(dir, base))?;
        indexes(base).iter().try_for_each(|p| remove(p))?;
    }
    let path = segment_path(dir, bad.segment);
    warn!(file = %path.display(), position = bad.position, "truncating damaged metadata log tail");
    let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    file.set_len(bad.position)?;
    file.sync_all()?;
    indexes(bad.segment).iter().try_for_each(|p| remove(p))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    //! Fixtures are laid out byte by byte from Kafka's formats (record batch v2, KRaft record
    //! framing, TopicRecord v0), not with sluice's batch builder or record codec.
    use super::*;
    use uuid::Uuid;

    fn uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Zigzag varint, as record fields are encoded.
    fn varint(out: &mut Vec<u8>, v: i64) {
        uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    /// A TopicRecord v0 value: frame version 1, type 2, version 0, compact string name, uuid,
    /// no tagged fields.
    fn topic_value(name: &str, id: u128) -> Vec<u8> {
        let mut v = Vec::new();
        uvarint(&mut v, 1);
        uvarint(&mut v, 2);
        uvarint(&mut v, 0);
        uvarint(&mut v, name.len() as u64 + 1);
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&id.to_be_bytes());
        uvarint(&mut v, 0);
        v
    }

    /// A magic-2 batch of `values` (null keys, no headers, no producer), claiming
    /// `claimed_count` records (the real count unless a test lies), CRC-32C over
    /// attributes..end.
    fn batch_claiming(base_offset: i64, values: &[Vec<u8>], claimed_count: i32) -> Vec<u8> {
        let records: Vec<(Option<Vec<u8>>, Vec<u8>)> =
            values.iter().map(|v| (None, v.clone())).collect();
        raw_batch(base_offset, 1, 0, &records, claimed_count)
    }

    /// A magic-2 batch of `(key, value)` records with the given leader epoch and attributes.
    fn raw_batch(
        base_offset: i64,
        epoch: i32,
        attributes: i16,
        values: &[(Option<Vec<u8>>, Vec<u8>)],
        claimed_count: i32,
    ) -> Vec<u8> {
        let timestamp: i64 = 1_700_000_000_000;
        let mut records = Vec::new();
        for (i, (key, value)) in values.iter().enumerate() {
            let mut r = vec![0u8]; // attributes
            varint(&mut r, 0); // timestamp delta
            varint(&mut r, i as i64); // offset delta
            match key {
                None => varint(&mut r, -1),
                Some(k) => {
                    varint(&mut r, k.len() as i64);
                    r.extend_from_slice(k);
                }
            }
            varint(&mut r, value.len() as i64);
            r.extend_from_slice(value);
            varint(&mut r, 0); // headers
            varint(&mut records, r.len() as i64);
            records.extend_from_slice(&r);
        }
        let mut body = Vec::new();
        body.extend_from_slice(&attributes.to_be_bytes());
        body.extend_from_slice(&(values.len() as i32 - 1).to_be_bytes()); // lastOffsetDelta
        body.extend_from_slice(&timestamp.to_be_bytes()); // baseTimestamp
        body.extend_from_slice(&timestamp.to_be_bytes()); // maxTimestamp
        body.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
        body.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        body.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        body.extend_from_slice(&claimed_count.to_be_bytes());
        body.extend_from_slice(&records);
        let mut batch = Vec::new();
        batch.extend_from_slice(&base_offset.to_be_bytes());
        batch.extend_from_slice(&(4 + 1 + 4 + body.len() as i32).to_be_bytes()); // batchLength
        batch.extend_from_slice(&epoch.to_be_bytes()); // partitionLeaderEpoch
        batch.push(2); // magic
        batch.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        batch.extend_from_slice(&body);
        batch
    }

    /// A control batch (attributes bit 5) of one control record: key int16 version 0, int16
    /// type; value as given.
    fn control(base_offset: i64, epoch: i32, ty: i16, value: Vec<u8>) -> Vec<u8> {
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&ty.to_be_bytes());
        raw_batch(base_offset, epoch, 0x20, &[(Some(key), value)], 1)
    }

    /// SnapshotHeaderRecord v0 (version 0, lastContainedLogTimestamp 0, no tags), control
    /// type 3.
    fn header(base_offset: i64, epoch: i32) -> Vec<u8> {
        let mut v = vec![0, 0];
        v.extend_from_slice(&0i64.to_be_bytes());
        v.push(0);
        control(base_offset, epoch, 3, v)
    }

    /// SnapshotFooterRecord v0 (version 0, no tags), control type 4.
    fn footer(base_offset: i64, epoch: i32) -> Vec<u8> {
        control(base_offset, epoch, 4, vec![0, 0, 0])
    }

    /// A FeatureLevelRecord v0 value: frame 1, type 12, version 0, compact string, int16, tags.
    fn feature_value(name: &str, level: i16) -> Vec<u8> {
        let mut v = vec![1, 12, 0];
        uvarint(&mut v, name.len() as u64 + 1);
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&level.to_be_bytes());
        v.push(0);
        v
    }

    fn batch(base_offset: i64, values: &[Vec<u8>]) -> Vec<u8> {
        batch_claiming(base_offset, values, values.len() as i32)
    }

    /// One hand-built batch per topic, each holding one TopicRecord, from offset `first`.
    fn topic_batches(first: i64, names: &[&str]) -> Vec<Vec<u8>> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| batch(first + i as i64, &[topic_value(name, 0x100 + i as u128)]))
            .collect()
    }

    fn write_segment(log_dir: &Path, base: i64, batches: &[Vec<u8>]) -> PathBuf {
        let dir = log_dir.join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = segment_path(&dir, base);
        std::fs::write(&path, batches.concat()).expect("write");
        path
    }

    fn names(image: &ClusterImage) -> Vec<String> {
        image.topics.keys().map(|t| t.to_string()).collect()
    }

    fn new_topic(name: &str) -> MetadataRecord {
        MetadataRecord::TopicRecord(crate::protocol::messages::metadata::TopicRecord {
            name: name.into(),
            topic_id: Uuid::new_v4(),
        })
    }

    #[test]
    fn replays_a_kafka_layout_segment() {
        let temp = tempfile::tempdir().expect("temp");
        write_segment(temp.path(), 0, &topic_batches(0, &["a", "b", "c"]));
        let mut image = ClusterImage::default();
        MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(names(&image), ["a", "b", "c"]);
        assert_eq!(image.last_offset, 2);
        assert_eq!(image.topic("b").map(|t| t.id), Some(Uuid::from_u128(0x101)));
    }

    #[test]
    fn rolls_at_segment_bytes_and_replays_every_segment() {
        let temp = tempfile::tempdir().expect("temp");
        // A Kafka-written start, then appends enough to roll segments of 300 bytes.
        let first = topic_batches(0, &["k0", "k1"]);
        write_segment(temp.path(), 0, &first);
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::open(temp.path(), log_config(300), &mut image).expect("open");
        for i in 0..20 {
            log.append(
                &[new_topic(&format!("t{i:02}"))],
                &mut image,
                1_700_000_000_000,
            )
            .expect("append");
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 3, "rolled: {bases:?}");
        assert_eq!(image.last_offset, 21);
        let dir = temp.path().join(METADATA_DIR);
        for &base in &bases {
            let log_file = segment_path(&dir, base);
            let len = std::fs::metadata(&log_file).expect("segment").len();
            assert!(len <= 300, "{} is {len} bytes", log_file.display());
            for suffix in ["index", "timeindex"] {
                assert!(
                    dir.join(format!("{base:020}.{suffix}")).is_file(),
                    "{base} {suffix}"
                );
            }
        }
        // Each segment starts with the batch at its base offset.
        for &base in &bases[1..] {
            let data = std::fs::read(segment_path(&dir, base)).expect("read");
            assert_eq!(i64::from_be_bytes(data[..8].try_into().expect("8")), base);
        }
        drop(log);
        let mut again = ClusterImage::default();
        let log = MetadataLog::open(temp.path(), log_config(300), &mut again).expect("reopen");
        assert_eq!(again, image);
        assert_eq!(log.segment_base_offsets(), bases);
    }

    #[test]
    fn recovers_a_torn_tail() {
        let temp = tempfile::tempdir().expect("temp");
        let batches = topic_batches(0, &["a", "b", "c"]);
        let mut bytes = batches.concat();
        let good = batches[0].len() + batches[1].len();
        bytes.truncate(good + batches[2].len() / 2);
        let dir = temp.path().join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = segment_path(&dir, 0);
        std::fs::write(&path, &bytes).expect("write");

        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(names(&image), ["a", "b"]);
        assert_eq!(image.last_offset, 1);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            good as u64,
            "the torn batch is cut off"
        );
        // The next append follows the last whole batch, and everything survives a reload.
        log.append(&[new_topic("d")], &mut image, 1_700_000_000_000)
            .expect("append");
        assert_eq!(image.last_offset, 2);
        drop(log);
        let mut again = ClusterImage::default();
        MetadataLog::load(temp.path(), &mut again).expect("reload");
        assert_eq!(names(&again), ["a", "b", "d"]);
        assert_eq!(again, image);
    }

    #[test]
    fn recovers_a_torn_tail_of_a_rolled_log() {
        let temp = tempfile::tempdir().expect("temp");
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::open(temp.path(), log_config(200), &mut image).expect("open");
        for i in 0..8 {
            log.append(
                &[new_topic(&format!("t{i}"))],
                &mut image,
                1_700_000_000_000,
            )
            .expect("append");
        }
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 2, "rolled: {bases:?}");
        drop(log);
        // A crash mid-append: half of the next batch at the end of the active segment.
        let active = segment_path(&temp.path().join(METADATA_DIR), bases[bases.len() - 1]);
        let whole = std::fs::metadata(&active).expect("meta").len();
        let torn = batch(image.last_offset + 1, &[topic_value("torn", 0x999)]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&active)
            .expect("open");
        std::io::Write::write_all(&mut file, &torn[..torn.len() - 7]).expect("write");
        drop(file);

        let mut again = ClusterImage::default();
        let log = MetadataLog::open(temp.path(), log_config(200), &mut again).expect("reopen");
        assert_eq!(again, image);
        assert!(again.topic("torn").is_none());
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!(std::fs::metadata(&active).expect("meta").len(), whole);
    }

    #[test]
    fn a_batch_whose_records_do_not_decode_ends_the_log() {
        let temp = tempfile::tempdir().expect("temp");
        let good = batch(0, &[topic_value("a", 1)]);
        // CRC and header are valid, but it claims three records and holds two.
        let bad = batch_claiming(1, &[topic_value("b", 2), topic_value("c", 3)], 3);
        let path = write_segment(temp.path(), 0, &[good.clone(), bad]);
        // A later segment: after the damage, so dropped with it.
        let later = write_segment(temp.path(), 3, &topic_batches(3, &["z"]));

        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(names(&image), ["a"]);
        assert_eq!(image.last_offset, 0);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            good.len() as u64
        );
        assert!(!later.exists());
        assert_eq!(log.segment_base_offsets(), [0]);
        log.append(&[new_topic("d")], &mut image, 1_700_000_000_000)
            .expect("append");
        assert_eq!(image.last_offset, 1);
        drop(log);
        let mut again = ClusterImage::default();
        MetadataLog::load(temp.path(), &mut again).expect("reload");
        assert_eq!(names(&again), ["a", "d"]);
        assert_eq!(again, image);
    }

    #[test]
    fn a_missing_directory_is_created_by_the_first_append() {
        let temp = tempfile::tempdir().expect("temp");
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        assert!(!temp.path().join(METADATA_DIR).exists());
        assert_eq!(image.last_offset, -1);
        log.append(&[new_topic("a")], &mut image, 1_700_000_000_000)
            .expect("append");
        assert_eq!(image.last_offset, 0);
        assert!(segment_path(&temp.path().join(METADATA_DIR), 0).is_file());
    }

    #[test]
    fn replay_starts_at_the_newest_snapshot() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        // Snapshot at end offset 2 holds "s"; the log's records below 2 are covered by it.
        std::fs::write(
            dir.join("00000000000000000002-0000000001.checkpoint"),
            [header(0, 0), batch(0, &[topic_value("s", 9)]), footer(1, 0)].concat(),
        )
        .expect("snapshot");
        write_segment(temp.path(), 0, &topic_batches(0, &["old0", "old1", "new2"]));
        let mut image = ClusterImage::default();
        MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(names(&image), ["new2", "s"]);
        assert_eq!(image.last_offset, 2);
    }

    #[test]
    fn a_snapshot_without_its_footer_or_header_is_not_used() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        // The older snapshot (end offset 1) is whole; the newer ones lack a footer or a header.
        std::fs::write(
            dir.join("00000000000000000001-0000000001.checkpoint"),
            [
                header(0, 1),
                batch(0, &[topic_value("whole", 9)]),
                footer(1, 1),
            ]
            .concat(),
        )
        .expect("snapshot");
        std::fs::write(
            dir.join("00000000000000000002-0000000001.checkpoint"),
            [header(0, 1), batch(0, &[topic_value("no_footer", 8)])].concat(),
        )
        .expect("snapshot");
        std::fs::write(
            dir.join("00000000000000000003-0000000001.checkpoint"),
            [batch(0, &[topic_value("no_header", 7)]), footer(1, 1)].concat(),
        )
        .expect("snapshot");
        std::fs::write(
            dir.join("00000000000000000004-0000000001.checkpoint.part"),
            header(0, 1),
        )
        .expect("partial");
        write_segment(temp.path(), 0, &topic_batches(0, &["log0", "log1", "log2"]));
        let mut image = ClusterImage::default();
        MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(names(&image), ["log1", "log2", "whole"]);
        assert!(
            !dir.join("00000000000000000004-0000000001.checkpoint.part")
                .exists(),
            "a partial snapshot is removed, as Kafka removes it"
        );
    }

    #[test]
    fn a_log_whose_start_no_snapshot_covers_is_refused() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join(METADATA_DIR);
        write_segment(temp.path(), 5, &topic_batches(5, &["late"]));
        std::fs::write(
            dir.join("00000000000000000005-0000000001.checkpoint"),
            [header(0, 1), batch(0, &[topic_value("cut", 9)])].concat(),
        )
        .expect("snapshot");
        let err = MetadataLog::load(temp.path(), &mut ClusterImage::default())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("no usable snapshot"), "{err}");
    }

    /// A new directory: epoch 1 in `quorum-state`, a leader-change batch at offset 0, the
    /// default bootstrap (metadata.version 25) at offset 1, and `bootstrap.checkpoint` laid out
    /// as Kafka's BatchFileWriter writes it.
    #[test]
    fn taking_the_quorum_of_a_new_directory_bootstraps_it() {
        let temp = tempfile::tempdir().expect("temp");
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        let now = 1_700_000_000_000;
        assert_eq!(log.take_leadership(4, &mut image, now).expect("lead"), 1);
        let dir = temp.path().join(METADATA_DIR);
        assert_eq!(
            std::fs::read_to_string(dir.join("quorum-state")).expect("state"),
            r#"{"clusterId":"","leaderId":4,"leaderEpoch":1,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":4}],"data_version":0}"#
        );
        assert_eq!(image.features.get("metadata.version"), Some(&25));
        assert_eq!(image.last_offset, 1);
        // Leader change (type 2): version 0, leader 4, voters [4], granting voters [4].
        let change = control(
            0,
            1,
            2,
            vec![0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 4, 0, 2, 0, 0, 0, 4, 0, 0],
        );
        let bootstrap = batch_claiming(1, &[feature_value("metadata.version", 25)], 1);
        let mut bootstrap = bootstrap;
        bootstrap[12..16].copy_from_slice(&1i32.to_be_bytes());
        let segment = std::fs::read(segment_path(&dir, 0)).expect("segment");
        assert_eq!(segment, [change, bootstrap].concat());
        let written = std::fs::read(temp.path().join("bootstrap.checkpoint")).expect("bootstrap");
        let mut data = raw_batch(1, 0, 0, &[(None, feature_value("metadata.version", 25))], 1);
        data[12..16].copy_from_slice(&0i32.to_be_bytes());
        assert_eq!(written, [header(0, 0), data, footer(2, 0)].concat());
        drop(log);

        // The next start takes epoch 2 and appends no second bootstrap.
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("reload");
        assert_eq!(log.take_leadership(4, &mut image, now).expect("lead"), 2);
        assert_eq!(image.last_offset, 2);
        let epochs = std::fs::read_to_string(dir.join("leader-epoch-checkpoint")).expect("cache");
        assert_eq!(epochs, "0\n2\n1 0\n2 2\n");
    }

    /// A directory Kafka formatted (a `bootstrap.checkpoint` at metadata.version 21) and a
    /// `quorum-state` at epoch 5 from an earlier run: the next epoch is 6 and the bootstrap's
    /// records are the log's first.
    #[test]
    fn taking_the_quorum_reads_kafkas_bootstrap_and_quorum_state() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        let bootstrap = [
            header(0, 0),
            raw_batch(
                1,
                0,
                0,
                &[
                    (None, feature_value("metadata.version", 21)),
                    (None, feature_value("group.version", 1)),
                ],
                2,
            ),
            footer(3, 0),
        ]
        .concat();
        std::fs::write(temp.path().join("bootstrap.checkpoint"), &bootstrap).expect("bootstrap");
        std::fs::write(
            dir.join("quorum-state"),
            r#"{"leaderId":1,"leaderEpoch":5,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}"#,
        )
        .expect("state");
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        assert_eq!(log.take_leadership(1, &mut image, 0).expect("lead"), 6);
        assert_eq!(image.features.get("metadata.version"), Some(&21));
        assert_eq!(image.features.get("group.version"), Some(&1));
        assert_eq!(
            QuorumState::read(&dir).expect("read"),
            Some(QuorumState::leader(1, 6, 1))
        );
        assert_eq!(
            std::fs::read(temp.path().join("bootstrap.checkpoint")).expect("kept"),
            bootstrap,
            "Kafka's bootstrap file is left as it was"
        );
    }

    #[test]
    fn a_quorum_of_several_voters_is_refused() {
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join(METADATA_DIR);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("quorum-state"),
            r#"{"clusterId":"","leaderId":2,"leaderEpoch":5,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2}],"data_version":0}"#,
        )
        .expect("state");
        let mut image = ClusterImage::default();
        let mut log = MetadataLog::load(temp.path(), &mut image).expect("load");
        let err = log.take_leadership(1, &mut image, 0).expect_err("refused");
        assert!(err.to_string().contains("one-node quorum"), "{err}");
    }
}
