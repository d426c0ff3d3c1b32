//! Checks the batches of an append and gives them their offsets (Kafka's `LogValidator`).
//!
//! Nothing here touches the log: [`validate_batches`] reads an input's batch headers (CRC-32C,
//! lengths, magic, `max.message.bytes`) before anything is written, and [`assign_offsets`] lays
//! out what will be written, without copying record bytes where it can:
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

use bytes::{Bytes, BytesMut};

use crate::record::{self, BatchHeader};
use crate::storage::config::LogConfig;
use crate::storage::error::AppendError;
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
/// header)` each. All or nothing: the first bad batch refuses the input.
pub(crate) fn validate_batches(
    records: &Bytes,
    config: &LogConfig,
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
        layout.push((position, header));
        position += size;
    }
    Ok(layout)
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
