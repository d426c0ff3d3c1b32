//! Checks the batches of an append and gives them their offsets (Kafka's `LogValidator`).
//!
//! Nothing here touches the log: [`validate_batches`] reads an input's batch headers (CRC-32C,
//! lengths, magic, `max.message.bytes`) before anything is written — and, only for the topics
//! whose configs ask for it, the records' keys (compacted topics) and timestamps
//! (`message.timestamp.before/after.max.ms`) — and [`assign_offsets`] lays out what will be
//! written, without copying record bytes where it can:
//!
//! ```text
//! input:    | batch 0                                              | batch 1  | …
//!           | baseOffset(8) batchLength(4) partitionLeaderEpoch(4) | rest     |
//! pieces:   [new baseOffset, length, leader epoch] [rest, shared]   [prefix] [rest]  CreateTime
//!           [whole batch, copied and stamped]       [whole batch …]                  LogAppendTime
//! ```
//!
//! The base offset and the partition leader epoch lie outside the CRC, so the batch's first 16
//! bytes are written as their own piece (the 4-byte length copied from the input); LogAppendTime
//! rewrites fields the CRC covers, so those batches are copied and their CRC recomputed.

use std::path::Path;

use bytes::{Bytes, BytesMut};

use crate::error::ErrorCode;
use crate::record::{self, BatchHeader, RecordView, BATCH_HEADER_LEN};
use crate::storage::config::LogConfig;
use crate::storage::error::{AppendError, RecordError};
use crate::storage::producer_state::PendingAppend;
use crate::storage::segment::MAX_SEGMENT_BYTES;

/// Bytes of a batch before the fields its CRC covers that the broker sets: baseOffset,
/// batchLength, partitionLeaderEpoch.
const PREFIX_LEN: usize = 16;

/// A piece of a vectored write: a batch's new first 16 bytes, or bytes of a batch.
pub(crate) enum Piece {
    Prefix([u8; PREFIX_LEN]),
    Data(Bytes),
}

impl Piece {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Piece::Prefix(b) => b,
            Piece::Data(d) => d,
        }
    }
}

/// An input's batches laid out for the write, offsets assigned.
pub(crate) struct Assigned {
    /// What to write, in order.
    pub pieces: Vec<Piece>,
    /// Headers of the batches as stored.
    pub batches: Vec<BatchHeader>,
    /// Bytes of all of them.
    pub bytes: usize,
    /// The log end after them.
    pub next_offset: i64,
}

/// Every batch of one input, checked before anything is changed: `(position in the input,
/// header)` each. All or nothing: the first bad batch refuses the input. `dir` (the partition
/// directory, named `<topic>-<partition>`) only names the partition in error messages.
///
/// For most topics this reads batch headers only. A compacted topic's records must have keys,
/// and a CreateTime topic with a timestamp bound refuses records outside it, as Kafka's
/// `LogValidator` does: only those topics' batches are walked, record by record (a read of a
/// few varints per record, no allocation), and the whole walk is behind one branch on the
/// config, so every other topic pays nothing for it.
pub(crate) fn validate_batches(
    records: &Bytes,
    config: &LogConfig,
    now_ms: i64,
    dir: &Path,
) -> Result<Vec<(usize, BatchHeader)>, AppendError> {
    if records.is_empty() {
        return Err(AppendError::Empty);
    }
    let segment_limit = config.segment_bytes.min(MAX_SEGMENT_BYTES);
    if records.len() as u64 > segment_limit {
        return Err(AppendError::RecordListTooLarge {
            size: records.len(),
            max: segment_limit,
        });
    }

    // Validate every batch before changing anything.
    let mut layout: Vec<(usize, BatchHeader)> = Vec::new();
    let mut position = 0;
    while position < records.len() {
        let index = layout.len();
        let header = record::validate_produced(&records[position..]).map_err(|source| {
            AppendError::InvalidBatch {
                index,
                position,
                source,
            }
        })?;
        let size = header.total_len();
        if size > config.max_message_bytes {
            return Err(AppendError::MessageTooLarge {
                index,
                size,
                max: config.max_message_bytes,
            });
        }
        if config.checks_records() {
            let batch = &records[position..position + size];
            check_records(&header, batch, config, now_ms, dir).map_err(|e| match e {
                Checked::Records(e) => e,
                Checked::Batch(source) => AppendError::InvalidBatch {
                    index,
                    position,
                    source,
                },
            })?;
        }
        layout.push((position, header));
        position += size;
    }
    Ok(layout)
}

/// Why [`check_records`] refused a batch.
enum Checked {
    /// Records that break the topic's rules (Kafka's `RecordValidationException`).
    Records(AppendError),
    /// Bytes that are not records.
    Batch(record::BatchError),
}

/// Kafka's `validateKey` and `validateTimestamp` over every record of one batch: each record
/// that fails is reported with its index in the batch, the key first (a keyless record is not
/// checked for its timestamp), as Kafka reports them.
fn check_records(
    header: &BatchHeader,
    batch: &[u8],
    config: &LogConfig,
    now_ms: i64,
    dir: &Path,
) -> Result<(), Checked> {
    let bounded = config.bounds_timestamps();
    let earliest = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.timestamp_after_max_ms);
    // Allocates only once a record fails.
    let mut errors: Vec<RecordError> = Vec::new();
    let mut bad_timestamp = false;
    let check = |r: RecordView| {
        if config.compact && !r.has_key {
            errors.push(RecordError {
                batch_index: r.index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition {}",
                    partition_name(dir)
                ),
            });
        } else if bounded
            && r.timestamp != record::NO_TIMESTAMP
            && !(earliest..=latest).contains(&r.timestamp)
        {
            bad_timestamp = true;
            errors.push(RecordError {
                batch_index: r.index,
                message: format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp \
                     should be within [{earliest}, {latest}]",
                    r.timestamp, r.offset
                ),
            });
        }
    };
    let records = &batch[BATCH_HEADER_LEN..];
    if header.compression() == 0 {
        record::for_each_record(header, records, check)
    } else {
        record::for_each_compressed_record(header, records, check)
    }
    .map_err(Checked::Batch)?;
    if errors.is_empty() {
        return Ok(());
    }
    // Kafka's `processRecordErrors`: one invalid timestamp makes it INVALID_TIMESTAMP.
    let (code, message) = if bad_timestamp {
        (
            ErrorCode::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    e.batch_index, e.message
                )
            })
            .collect();
        (
            ErrorCode::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and \
                 only showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(Checked::Records(AppendError::Records {
        code,
        message,
        errors,
    }))
}

/// `<topic>-<partition>`, as Kafka names a partition in messages: the directory's name.
fn partition_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the broker writes into the batches of one input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    /// The first batch's offset; the others follow.
    pub base_offset: i64,
    /// The partition's leader epoch: Kafka's leader stamps it on every batch.
    pub leader_epoch: i32,
    /// The append time (for LogAppendTime topics).
    pub now_ms: i64,
}

/// Gives the batches of `layout` (but those at the indexes in `skip`, retries already in the
/// log) consecutive offsets from `stamp.base_offset` and the partition's leader epoch, stamps
/// LogAppendTime if configured, and lays out the pieces to write. A batch whose stored max
/// timestamp changed is noted in `pending`.
pub(crate) fn assign_offsets(
    records: &Bytes,
    layout: &[(usize, BatchHeader)],
    skip: &[usize],
    stamp: Stamp,
    config: &LogConfig,
    pending: &mut PendingAppend,
) -> Result<Assigned, AppendError> {
    let Stamp {
        base_offset,
        leader_epoch,
        now_ms,
    } = stamp;
    let mut next_offset = base_offset;
    let mut batches = Vec::with_capacity(layout.len() - skip.len());
    let mut pieces = Vec::with_capacity(2 * batches.capacity());
    let mut bytes = 0;
    for (index, &(position, ref original)) in layout.iter().enumerate() {
        if skip.contains(&index) {
            continue;
        }
        let end = position + original.total_len();
        let batch_base = next_offset;
        next_offset = batch_base
            .checked_add(i64::from(original.last_offset_delta) + 1)
            .ok_or(AppendError::OffsetOverflow)?;
        let stored = if config.timestamp_type_log_append {
            // The stamped fields are covered by the CRC: this batch is rewritten in a copy.
            let mut batch = BytesMut::from(&records[position..end]);
            record::set_base_offset(&mut batch, batch_base);
            record::set_partition_leader_epoch(&mut batch, leader_epoch);
            record::stamp_log_append_time(&mut batch, now_ms);
            let stored =
                BatchHeader::parse(&batch).map_err(|source| AppendError::InvalidBatch {
                    index,
                    position,
                    source,
                })?;
            pieces.push(Piece::Data(batch.freeze()));
            stored
        } else {
            let mut prefix = [0u8; PREFIX_LEN];
            prefix[..8].copy_from_slice(&batch_base.to_be_bytes());
            // The length, as validated; the batch is at least a header long.
            prefix[8..12].copy_from_slice(&records[position + 8..position + 12]);
            prefix[12..].copy_from_slice(&leader_epoch.to_be_bytes());
            pieces.push(Piece::Prefix(prefix));
            pieces.push(Piece::Data(records.slice(position + PREFIX_LEN..end)));
            BatchHeader {
                base_offset: batch_base,
                partition_leader_epoch: leader_epoch,
                ..*original
            }
        };
        if stored.max_timestamp != original.max_timestamp {
            pending.set_timestamp(stored.producer_id, batch_base, stored.max_timestamp);
        }
        bytes += stored.total_len();
        batches.push(stored);
    }
    Ok(Assigned {
        pieces,
        batches,
        bytes,
        next_offset,
    })
}
