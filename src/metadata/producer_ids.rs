//! Producer ids for InitProducerId, allocated the KRaft way.
//!
//! The metadata actor reserves ids in blocks of [`BLOCK_SIZE`]: reserving a block appends a
//! `ProducerIdsRecord` whose `next_producer_id` is the end of the block to the metadata log
//! (synced) before any id of it is handed out. Replaying the log sets
//! [`ClusterImage::next_producer_id`](super::image::ClusterImage::next_producer_id), so after a
//! restart, clean or not, allocation resumes past every block ever reserved and no id is handed
//! out twice; the unused rest of the last block is skipped, as in Kafka. A data directory
//! written by Kafka continues after the ids Kafka's controller reserved. Unlike Kafka, the first
//! block is `[1000, 2000)` (see [`FIRST_PRODUCER_ID`]).
//!
//! Epochs: a new producer id starts at epoch 0. A request (v3+) naming a producer id this
//! cluster handed out, with its epoch, gets the same id with the epoch bumped; at epoch
//! `i16::MAX - 1` it gets a new id at epoch 0 instead, so epochs never overflow. A producer id
//! this cluster never handed out gets a new id. The partitions then fence the older epoch:
//! its batches are refused with INVALID_PRODUCER_EPOCH.

use actix::prelude::*;
use tracing::{error, info};

use super::MetadataActor;
use crate::error::ErrorCode;
use crate::protocol::messages::metadata::{MetadataRecord, ProducerIdsRecord};
use crate::util::clock::now_ms;

/// Ids reserved per `ProducerIdsRecord` (Kafka's controller also uses blocks of 1000).
pub const BLOCK_SIZE: i64 = 1000;
/// The first id ever handed out. Kafka starts at 0, but hand-built clients (the CodeCrafters
/// tester among them) write batches claiming producer id 0, epoch 0, sequence 0: a real
/// producer given id 0 would have its first batch taken for a retry of theirs and dropped.
/// So the first block, `[0, 1000)`, is never used.
pub const FIRST_PRODUCER_ID: i64 = BLOCK_SIZE;

/// The current block, `[next, end)`; empty until the first InitProducerId.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAllocator {
    next: i64,
    end: i64,
}

impl ProducerIdAllocator {
    /// The next id of the current block; `None` when a new block must be reserved.
    pub fn take(&mut self) -> Option<i64> {
        if self.next >= self.end {
            return None;
        }
        let id = self.next;
        self.next += 1;
        Some(id)
    }

    /// Hands out `[start, end)` from now on.
    pub fn install(&mut self, start: i64, end: i64) {
        self.next = start;
        self.end = end;
    }
}

/// What an InitProducerId for `current` (the producer's id and epoch, if it sent them) gets,
/// given that the ids from [`FIRST_PRODUCER_ID`] to `reserved_end` were handed out here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The same id, with this (bumped) epoch.
    Bump { producer_id: i64, epoch: i16 },
    /// A new id at epoch 0.
    NewId,
}

pub fn grant(current: Option<(i64, i16)>, reserved_end: i64) -> Grant {
    match current {
        Some((producer_id, epoch))
            if (FIRST_PRODUCER_ID..reserved_end).contains(&producer_id)
                && (0..i16::MAX - 1).contains(&epoch) =>
        {
            Grant::Bump {
                producer_id,
                epoch: epoch + 1,
            }
        }
        _ => Grant::NewId,
    }
}

/// InitProducerId for an idempotent (non-transactional) producer: `current` is the id and
/// epoch it already has (v3+), if any. Answers `(producer_id, epoch)`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(i64, i16), ErrorCode>")]
pub struct InitProducerId {
    pub current: Option<(i64, i16)>,
}

impl Handler<InitProducerId> for MetadataActor {
    type Result = Result<(i64, i16), ErrorCode>;

    fn handle(&mut self, msg: InitProducerId, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        if let Grant::Bump { producer_id, epoch } = grant(msg.current, self.image.next_producer_id)
        {
            return Ok((producer_id, epoch));
        }
        if let Some(id) = self.producer_ids.take() {
            return Ok((id, 0));
        }
        let start = self.image.next_producer_id.max(FIRST_PRODUCER_ID);
        let end = start
            .checked_add(BLOCK_SIZE)
            .ok_or(ErrorCode::UnknownServerError)?;
        let record = MetadataRecord::ProducerIdsRecord(ProducerIdsRecord {
            broker_id: self.deps.node.node_id,
            next_producer_id: end,
            ..ProducerIdsRecord::default()
        });
        self.log
            .append(&[record], &mut self.image, now_ms())
            .map_err(|e| {
                error!(error = %e, "metadata log append failed: no producer ids reserved");
                ErrorCode::KafkaStorageError
            })?;
        info!(
            first = start,
            next = end,
            "reserved a block of producer ids"
        );
        self.producer_ids.install(start, end);
        self.publish();
        let id = self
            .producer_ids
            .take()
            .ok_or(ErrorCode::UnknownServerError)?;
        Ok((id, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_hands_out_its_block_once() {
        let mut a = ProducerIdAllocator::default();
        assert_eq!(a.take(), None);
        a.install(2000, 2003);
        assert_eq!(
            (a.take(), a.take(), a.take(), a.take()),
            (Some(2000), Some(2001), Some(2002), None)
        );
    }

    #[test]
    fn epochs_bump_for_known_ids_and_roll_over_to_a_new_id() {
        let end = 3000;
        assert_eq!(grant(None, end), Grant::NewId);
        assert_eq!(
            grant(Some((1007, 0)), end),
            Grant::Bump {
                producer_id: 1007,
                epoch: 1
            }
        );
        assert_eq!(
            grant(Some((2999, i16::MAX - 2)), end),
            Grant::Bump {
                producer_id: 2999,
                epoch: i16::MAX - 1
            }
        );
        assert_eq!(grant(Some((1007, i16::MAX - 1)), end), Grant::NewId);
        assert_eq!(grant(Some((1007, i16::MAX)), end), Grant::NewId);
        // Never handed out here: a new id rather than adopting a stranger's.
        assert_eq!(grant(Some((3000, 3)), end), Grant::NewId);
        assert_eq!(grant(Some((0, 0)), end), Grant::NewId);
        assert_eq!(grant(Some((1005, -1)), end), Grant::NewId);
    }
}
