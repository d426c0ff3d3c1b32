//! Fetch (1): whole batches from each partition's log, served byte for byte.
//!
//! Budgets follow KIP-74: each partition gives at most `partition_max_bytes`, the response at
//! most `max_bytes`, except that the first non-empty partition always returns at least one whole
//! batch. With fewer than `min_bytes` available the request long-polls: it subscribes to the
//! log-end-offset `watch` channel of every partition it reads and sleeps until one of them moves
//! or `max_wait_ms` passes — no polling loop, no thread per waiting request.
//!
//! Fetch sessions (KIP-227) are declined the way Kafka declines them when it has no free slot:
//! the response carries session id 0, so clients keep sending full fetch requests. An
//! incremental fetch (session epoch other than 0 or -1) therefore names a session this broker
//! does not have: it is answered FETCH_SESSION_ID_NOT_FOUND at once, before anything is read or
//! waited for, and the client falls back to a full fetch.

use std::time::{Duration, Instant};

use futures_util::future::select_all;

use crate::api::fan_out::{ask_all, ask_one, partition, Ask};
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::partition::{Offsets, PartitionHandle, Read, ReadResult};
use crate::protocol::messages::fetch_request::FetchRequest;
use crate::protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, PartitionData,
};
use crate::protocol::messages::RequestHeader;
use crate::protocol::records::{FileRange, Records};
use crate::storage::FileSlice;

/// One partition of the request, resolved.
struct Target {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    handle: Result<PartitionHandle, ErrorCode>,
}

/// What one read pass produced for one partition.
struct Outcome {
    error: ErrorCode,
    offsets: Option<Offsets>,
    records: FileSlice,
}

impl Outcome {
    fn failed(error: ErrorCode, offsets: Option<Offsets>) -> Outcome {
        Outcome {
            error,
            offsets,
            records: FileSlice::empty(),
        }
    }
}

/// The response. Its records are ranges of the segment files: they stay there until the
/// connection writes them (`sendfile`, see [`crate::net::Response`]).
pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: FetchRequest,
) -> FetchResponse<Records> {
    let version = header.request_api_version;
    if is_incremental(req.session_epoch) {
        return FetchResponse {
            error_code: ErrorCode::FetchSessionIdNotFound.code(),
            session_id: 0,
            ..FetchResponse::default()
        };
    }
    let broker = &ctx.broker;
    let image = broker.image();
    let by_id = version >= 13;
    let mut topics_out: Vec<FetchableTopicResponse<Records>> = Vec::new();
    let mut targets = Vec::new();
    for (topic_index, topic) in req.topics.iter().enumerate() {
        let name = if by_id {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.as_str().into())
        };
        let missing = if by_id {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        topics_out.push(FetchableTopicResponse {
            topic: topic.topic.clone(),
            topic_id: topic.topic_id,
            partitions: Vec::new(),
        });
        for p in &topic.partitions {
            let handle = match &name {
                None => Err(missing),
                Some(n) => partition(&broker.partitions, n, p.partition),
            };
            targets.push(Target {
                topic_index,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                handle,
            });
        }
    }

    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let mut watchers: Vec<_> = targets
        .iter()
        .filter_map(|t| t.handle.as_ref().ok().map(|h| h.offsets.clone()))
        .collect();
    for w in &mut watchers {
        w.mark_unchanged();
    }
    let outcomes = loop {
        let outcomes = read_pass(&targets, max_bytes).await;
        let bytes: usize = outcomes.iter().map(|o| o.records.len).sum();
        let errored = outcomes.iter().any(|o| !o.error.is_ok());
        if bytes >= min_bytes || errored || watchers.is_empty() || Instant::now() >= deadline {
            break outcomes;
        }
        // Sleep until some partition's log end moves, or the deadline.
        let changed = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        match tokio::time::timeout_at(deadline.into(), changed).await {
            Ok((Ok(()), _, _)) => {}
            Ok((Err(_), _, _)) | Err(_) => {
                // A partition went away, or time is up: answer with what there is now.
                break read_pass(&targets, max_bytes).await;
            }
        }
        for w in &mut watchers {
            w.mark_unchanged();
        }
    };

    for (target, outcome) in targets.iter().zip(outcomes) {
        let (hw, lso, log_start) = match outcome.offsets {
            Some(o) => (o.high_watermark, o.high_watermark, o.log_start_offset),
            None => (-1, -1, -1),
        };
        // Record bytes stay in the file, sent from there by the connection.
        let (records, error) = match records_of(outcome.records) {
            Some(records) => (records, outcome.error),
            None => (Records::default(), ErrorCode::KafkaStorageError),
        };
        topics_out[target.topic_index]
            .partitions
            .push(PartitionData {
                partition_index: target.partition,
                error_code: error.code(),
                high_watermark: hw,
                last_stable_offset: lso,
                log_start_offset: log_start,
                aborted_transactions: None,
                preferred_read_replica: -1,
                records: Some(records),
                ..PartitionData::default()
            });
    }
    FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        session_id: 0,
        responses: topics_out,
        ..FetchResponse::default()
    }
}

/// A read's file range as the records of a response; `None` for a range without its file
/// (which no read produces).
fn records_of(slice: FileSlice) -> Option<Records> {
    match slice.file {
        _ if slice.len == 0 => Some(Records::default()),
        Some(file) => Some(Records::File(FileRange {
            file,
            position: slice.position,
            len: slice.len,
        })),
        None => None,
    }
}

/// Whether a request continues a fetch session (KIP-227): epoch 0 opens one and -1 is a
/// sessionless full fetch; both carry every partition. Any other epoch is an incremental fetch,
/// which only a session the broker handed out can answer.
fn is_incremental(session_epoch: i32) -> bool {
    session_epoch != 0 && session_epoch != -1
}

/// Reads every partition once, concurrently, then applies the response budget in request
/// order; a partition whose data overflows the remaining budget is read again with that budget.
async fn read_pass(targets: &[Target], max_bytes: usize) -> Vec<Outcome> {
    let first = ask_all(
        targets
            .iter()
            .map(|t| read(t, t.max_bytes.min(max_bytes), true)),
        LOST,
    )
    .await;
    let mut used = 0usize;
    let mut out = Vec::with_capacity(first.len());
    for (t, answer) in targets.iter().zip(first) {
        let remaining = max_bytes.saturating_sub(used);
        let mut outcome = Outcome::from(answer);
        if outcome.records.len > remaining && used > 0 {
            let again = read(t, remaining.min(t.max_bytes), false);
            outcome = Outcome::from(ask_one(again, LOST).await);
        }
        used += outcome.records.len;
        out.push(outcome);
    }
    out
}

/// What a read gets when the partition's actor does not answer: the partition went away.
const LOST: ErrorCode = ErrorCode::UnknownTopicOrPartition;

/// How to read one partition: from its published state when that has the answer, else from
/// its actor.
fn read(t: &Target, max_bytes: usize, min_one: bool) -> Result<Ask<Read>, ErrorCode> {
    let handle = t.handle.as_ref().map_err(|code| *code)?;
    if let Some(published) = from_published(handle, t.fetch_offset, max_bytes) {
        return Ok(Ask::Ready(Ok(published)));
    }
    let read = Read {
        offset: t.fetch_offset,
        max_bytes,
        min_one: min_one && t.max_bytes > 0,
    };
    Ok(Ask::Send(handle.clone(), read))
}

impl From<Result<Result<ReadResult, (ErrorCode, Offsets)>, ErrorCode>> for Outcome {
    fn from(answer: Result<Result<ReadResult, (ErrorCode, Offsets)>, ErrorCode>) -> Outcome {
        match answer {
            Ok(Ok(result)) => Outcome {
                error: ErrorCode::None,
                offsets: Some(result.offsets),
                records: result.slice,
            },
            Ok(Err((code, offsets))) => Outcome::failed(code, Some(offsets)),
            Err(code) => Outcome::failed(code, None),
        }
    }
}

/// The answer to a read that the partition's published state already gives, without a round
/// trip through its actor: nothing at the log end (a consumer that has caught up), or the
/// latest write when the read starts where it does and has room for all of it (that consumer,
/// woken by the write). Anything else, and a partition whose actor is gone or has no log, goes
/// to the actor.
fn from_published(handle: &PartitionHandle, offset: i64, max_bytes: usize) -> Option<ReadResult> {
    if handle.offsets.has_changed().is_err() {
        return None;
    }
    let published = handle.offsets.borrow();
    if !published.serving || offset < published.log_start_offset {
        return None;
    }
    let records = if offset == published.log_end_offset {
        FileSlice::empty()
    } else {
        published
            .tail
            .as_ref()
            .filter(|t| t.first_offset == offset && t.len <= max_bytes)?
            .clone()
    };
    Some(ReadResult {
        slice: records,
        offsets: published.clone(),
    })
}
