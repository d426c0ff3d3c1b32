//! The KRaft metadata log, `<log.dirs>/__cluster_metadata-0/`: read at startup, appended to when
//! topics change.
//!
//! The directory holds ordinary magic-2 record batches in `{base_offset:020}.log` segments and,
//! once Kafka has taken one, snapshots named `{end_offset:020}-{epoch:010}.checkpoint` in the same
//! batch format. Loading takes the newest snapshot, then every log record at or past its end
//! offset. Each record value is framed as
//!
//! ```text
//! uvarint frame version (1) | uvarint record type (apiKey) | uvarint record version | fields… | tags
//! ```
//!
//! Records we apply are decoded with the generated types; all other types (brokers, producer ids,
//! transactions, ZK migration, …) and control batches are skipped. A damaged batch ends loading:
//! everything before it is kept, the damage is logged with file and position, and the segment is
//! truncated there so that later appends follow valid data.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::metadata::image::ClusterImage;
use crate::protocol::messages::metadata::MetadataRecord;
use crate::protocol::wire::EncodeBuf;
use crate::record::{self, BatchBuilder, BatchIter};

pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// The version sluice writes for each record type it produces: PartitionRecord v1 carries the
/// log directory ids, as Kafka 3.7+ writes it.
pub fn write_version(record: &MetadataRecord) -> i16 {
    match record {
        MetadataRecord::PartitionRecord(_) | MetadataRecord::PartitionChangeRecord(_) => 1,
        _ => 0,
    }
}

/// Encodes a record value (frame, type, version, fields).
pub fn encode_value(record: &MetadataRecord) -> Bytes {
    let mut buf = EncodeBuf::new();
    record.encode_value(&mut buf, write_version(record));
    buf.to_bytes()
}

/// The writable end of the metadata log.
pub struct MetadataLog {
    dir: PathBuf,
    active: Option<(PathBuf, File)>,
    leader_epoch: i32,
}

impl MetadataLog {
    /// Loads `<log_dir>/__cluster_metadata-0` into `image`. A missing directory means an empty
    /// cluster; it is created on the first append.
    pub fn load(log_dir: &Path, image: &mut ClusterImage) -> io::Result<MetadataLog> {
        let dir = log_dir.join(METADATA_DIR);
        let mut log = MetadataLog {
            dir: dir.clone(),
            active: None,
            leader_epoch: 1,
        };
        image.last_offset = -1;
        if !dir.is_dir() {
            info!(dir = %dir.display(), "no metadata log: starting with no topics");
            return Ok(log);
        }
        let mut segments = Vec::new();
        let mut snapshots = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(base) = name.strip_suffix(".log") {
                if let Ok(base) = base.parse::<i64>() {
                    segments.push((base, path.clone()));
                }
            } else if let Some(stem) = name.strip_suffix(".checkpoint") {
                if let Some(Ok(end)) = stem.split('-').next().map(str::parse::<i64>) {
                    snapshots.push((end, path.clone()));
                }
            }
        }
        segments.sort();
        snapshots.sort();
        let mut applied = 0usize;
        let mut skip_below = 0i64;
        if let Some((end, path)) = snapshots.last() {
            let data = Bytes::from(std::fs::read(path)?);
            let (n, _) = log.apply_batches(path, data, i64::MIN, image);
            applied += n;
            skip_below = *end;
            image.last_offset = image.last_offset.max(end - 1);
        }
        let count = segments.len();
        for (i, (_, path)) in segments.iter().enumerate() {
            let data = Bytes::from(std::fs::read(path)?);
            let (n, damaged_at) = log.apply_batches(path, data, skip_below, image);
            applied += n;
            if let Some(position) = damaged_at {
                if i + 1 == count {
                    truncate(path, position)?;
                } else {
                    warn!(file = %path.display(), "later metadata segments are ignored after damage");
                    break;
                }
            }
        }
        if let Some((_, path)) = segments.last() {
            let file = OpenOptions::new().append(true).open(path)?;
            log.active = Some((path.clone(), file));
        }
        info!(
            records = applied,
            topics = image.topics.len(),
            last_offset = image.last_offset,
            "metadata log loaded"
        );
        Ok(log)
    }

    /// Applies every batch of one file; returns the records applied and, if a batch was
    /// damaged, its byte position.
    fn apply_batches(
        &mut self,
        path: &Path,
        data: Bytes,
        skip_below: i64,
        image: &mut ClusterImage,
    ) -> (usize, Option<usize>) {
        let mut applied = 0;
        for found in BatchIter::new(data) {
            let batch = match found {
                Ok(b) => b,
                Err((position, reason)) => {
                    warn!(file = %path.display(), position, %reason,
                          "damaged metadata batch: keeping the records before it");
                    return (applied, Some(position));
                }
            };
            let header = batch.header;
            if header.last_offset() < skip_below {
                continue;
            }
            let records = if header.is_control() {
                debug!(offset = header.base_offset, "skipping control batch");
                Vec::new()
            } else {
                match record::decode_records(&batch.bytes) {
                    Ok(r) => r,
                    Err(reason) => {
                        warn!(file = %path.display(), position = batch.position, %reason,
                              "unreadable metadata batch: keeping the records before it");
                        return (applied, Some(batch.position));
                    }
                }
            };
            // Only a batch that is kept moves the end offset: the log is truncated before an
            // unreadable one, so the next append must not leave a gap where it was.
            self.leader_epoch = self.leader_epoch.max(header.partition_leader_epoch);
            image.last_offset = image.last_offset.max(header.last_offset());
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
                        warn!(file = %path.display(), offset = r.offset, %reason,
                              "skipping undecodable metadata record");
                    }
                }
            }
        }
        (applied, None)
    }

    /// Appends `records` as one batch at `image.last_offset + 1`, synced to disk, then applies
    /// them to `image`.
    pub fn append(
        &mut self,
        records: &[MetadataRecord],
        image: &mut ClusterImage,
        now_ms: i64,
    ) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let base = image.last_offset + 1;
        let mut builder = BatchBuilder::new(base, now_ms).partition_leader_epoch(self.leader_epoch);
        for r in records {
            let value = encode_value(r);
            builder.push_with_header_count(None, Some(&value), &[], 0);
        }
        let batch = builder.build();
        let file = self.active_file(base)?;
        file.write_all(&batch)?;
        file.sync_data()?;
        for r in records {
            image.apply(r);
        }
        image.last_offset = base + records.len() as i64 - 1;
        Ok(())
    }

    fn active_file(&mut self, base: i64) -> io::Result<&mut File> {
        if self.active.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(format!("{:020}.log", base.max(0)));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.active = Some((path, file));
        }
        match &mut self.active {
            Some((_, f)) => Ok(f),
            None => Err(io::Error::other("metadata log not open")),
        }
    }
}

fn truncate(path: &Path, position: usize) -> io::Result<()> {
    warn!(file = %path.display(), position, "truncating damaged metadata log tail");
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(position as u64)?;
    f.sync_all()
}
