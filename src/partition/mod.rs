//! Partition actors: one per topic-partition, the only owner of `<log.dirs>/<topic>-<p>/`.
//!
//! The actor serializes appends — the appends queued while it drains its mailbox go out with
//! one vectored write — and answers reads with a [`FileSlice`] — a byte range of a segment
//! file — that the connection sends itself (`sendfile`), so serving a Fetch never waits behind
//! an append. Each partition also publishes its offsets, with the slice of its latest write, on
//! a `watch` channel: a long-polling Fetch subscribes to it, wakes on the next append, and
//! usually serves that slice without asking the actor; no polling loop, no thread.

pub mod checkpoints;
pub mod cleaner;
pub mod files;
pub mod manager;
pub mod registry;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tracing::{debug, error, info, Span};

use crate::actor::ActorSpan;
use crate::actor::ActorStats;
use crate::error::ErrorCode;
use crate::storage::cleaner::{CleanedGroup, LogView};
use crate::storage::{
    AppendError, AppendInfo, FileSlice, LogConfig, OpenHints, PartitionLog, RecordError,
};
use crate::util::clock::now_ms;

pub use manager::{DetachedTopic, LiveTopics, PartitionManager};
pub use registry::{PartitionHandle, PartitionRegistry};

/// Offsets a partition publishes after every change, with the bytes of its latest write.
#[derive(Debug, Clone, Default)]
pub struct Offsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    /// Every offset below it is fsynced (as of the publication: the real one may be ahead).
    /// Not part of what wakes a Fetch; read by the log-dir checkpoints.
    pub recovery_point: i64,
    /// Set only when the latest change was a write: its batches, from `tail.first_offset` to
    /// the log end. A Fetch that waited at the previous log end serves it as it is, without a
    /// round trip through the actor (whose answer would be this same slice).
    pub tail: Option<FileSlice>,
    /// Published by an actor with an open log (a log that failed to open publishes nothing).
    pub serving: bool,
}

impl Offsets {
    /// The offsets alone (what a change is judged by: the tail follows them).
    fn key(&self) -> (i64, i64, i64, bool) {
        (
            self.log_start_offset,
            self.high_watermark,
            self.log_end_offset,
            self.serving,
        )
    }
}

/// How a partition actor gets its log.
pub enum Opening {
    /// Opened (and recovered) by the actor, with what Kafka's root files say of it.
    Open(OpenHints),
    /// Already opened at start-up (by the offsets topic's replay).
    Adopt(Box<PartitionLog>),
}

pub struct PartitionActor {
    topic: Arc<str>,
    partition: i32,
    dir: PathBuf,
    log: Option<PartitionLog>,
    offsets: watch::Sender<Offsets>,
    span: ActorSpan,
    retention_check: Duration,
    /// Appends received in this pass over the mailbox, written together once it is drained
    /// (see [`Append`]).
    appends: Vec<PendingAppend>,
    /// Appends written but waiting for the shared fsync before they are acknowledged.
    awaiting_sync: Vec<(
        oneshot::Sender<Result<AppendInfo, AppendRefused>>,
        AppendInfo,
    )>,
    /// Inspection counters shared with the handle; the log gauges are refreshed on publish.
    stats: Option<Arc<ActorStats>>,
    /// When the timer that removes deleted segments' files (`file.delete.delay.ms`) fires.
    removal_timer: Option<i64>,
}

/// The span every line of a partition actor's life is logged in.
fn partition_span(topic: &str, partition: i32) -> Span {
    tracing::info_span!("partition", topic = %topic, partition)
}

impl PartitionActor {
    /// Opens (recovering if needed) the partition's log, or adopts one already open (then set
    /// to `config`); called on the arbiter the actor will run on, so recoveries of different
    /// partitions proceed in parallel. A log that cannot be opened leaves an actor that answers
    /// KAFKA_STORAGE_ERROR.
    pub fn build(
        topic: Arc<str>,
        partition: i32,
        dir: PathBuf,
        config: LogConfig,
        opening: Opening,
        retention_check: Duration,
        offsets: watch::Sender<Offsets>,
    ) -> PartitionActor {
        let span = partition_span(&topic, partition);
        let log = span.in_scope(|| match opening {
            Opening::Adopt(mut log) => {
                log.set_config(config);
                Some(*log)
            }
            Opening::Open(hints) => match PartitionLog::open_with_hints(&dir, config, hints) {
                Ok(log) => Some(log),
                Err(e) => {
                    error!(dir = %dir.display(), error = %e, "cannot open partition log");
                    None
                }
            },
        });
        let mut actor = PartitionActor {
            topic,
            partition,
            dir,
            log,
            offsets,
            span: ActorSpan::new(span),
            retention_check,
            stats: None,
            appends: Vec::new(),
            awaiting_sync: Vec::new(),
            removal_timer: None,
        };
        actor.publish();
        actor
    }

    /// Attaches the inspection counters (see [`crate::actor`]).
    pub fn with_stats(mut self, stats: Arc<ActorStats>) -> PartitionActor {
        self.stats = Some(stats);
        self.publish();
        self
    }

    /// The actor's span, rebuilt if the log filter changed since it was made.
    fn span(&mut self) -> Span {
        let (topic, partition) = (&self.topic, self.partition);
        self.span.get(|| partition_span(topic, partition))
    }

    fn publish(&mut self) {
        self.publish_with_tail(None);
    }

    /// Publishes the offsets; `tail` is the slice just written, if the change was a write.
    fn publish_with_tail(&mut self, tail: Option<FileSlice>) {
        if let Some(log) = &self.log {
            let next = Offsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                log_end_offset: log.log_end_offset(),
                recovery_point: log.recovery_point(),
                tail: tail.filter(|t| t.len > 0 && t.first_offset >= log.log_start_offset()),
                serving: true,
            };
            self.offsets.send_if_modified(|o| {
                let changed = o.key() != next.key();
                if changed || o.tail.is_some() {
                    // A tail only ever describes the latest write: a change that is not a
                    // write drops it.
                    *o = next.clone();
                }
                changed
            });
            if let Some(g) = self.stats.as_ref().and_then(|s| s.partition_gauges()) {
                use std::sync::atomic::Ordering::Relaxed;
                g.log_start_offset.store(next.log_start_offset, Relaxed);
                g.high_watermark.store(next.high_watermark, Relaxed);
                g.log_end_offset.store(next.log_end_offset, Relaxed);
                g.size_bytes.store(log.size_bytes(), Relaxed);
                g.segments.store(log.segment_count() as u64, Relaxed);
            }
        }
    }

    fn log_mut(&mut self) -> Result<&mut PartitionLog, ErrorCode> {
        self.log.as_mut().ok_or(ErrorCode::KafkaStorageError)
    }

    /// Writes the appends gathered so far, with one write, and answers them (or queues them for
    /// the group fsync). Every other message handler calls it first, so each message still sees
    /// every append that was ahead of it in the mailbox.
    fn write_appends(&mut self, ctx: &mut Context<Self>) {
        if self.appends.is_empty() {
            return;
        }
        let appends = std::mem::take(&mut self.appends);
        let _e = self.span().entered();
        let now = now_ms();
        let Some(log) = self.log.as_mut() else {
            for a in appends {
                let _ = a.reply.send(Err(ErrorCode::KafkaStorageError.into()));
            }
            return;
        };
        let mut inputs = Vec::with_capacity(appends.len());
        let mut waiting = Vec::with_capacity(appends.len());
        for a in appends {
            inputs.push(a.records);
            waiting.push((a.sync, a.reply));
        }
        let results = log.append_all(inputs, now);
        let tail = log.take_last_write();
        let flushed = log.maybe_flush(now).map_err(|e| {
            error!(error = %e, "flush failed");
            ErrorCode::KafkaStorageError
        });
        for ((sync, reply), result) in waiting.into_iter().zip(results) {
            let info = match result {
                Ok(info) => info,
                Err(e) => {
                    debug!(error = %e, "append refused");
                    let _ = reply.send(Err(e.into()));
                    continue;
                }
            };
            if info.duplicate {
                // A producer retried batches already written (its acknowledgement was lost).
                // The sync below still applies: the retry may ask for more durability than the
                // original.
                info!(
                    base_offset = info.base_offset,
                    last_offset = info.last_offset,
                    "duplicate batch acknowledged with its original offsets, not written again"
                );
            } else {
                debug!(
                    base_offset = info.base_offset,
                    last_offset = info.last_offset,
                    bytes = info.bytes,
                    "appended"
                );
            }
            if sync {
                if self.awaiting_sync.is_empty() {
                    ctx.notify(SyncPending);
                }
                self.awaiting_sync.push((reply, info));
            } else {
                let _ = reply.send(flushed.map(|_| info).map_err(AppendRefused::from));
            }
        }
        self.publish_with_tail(tail);
    }
}

/// An append waiting for the mailbox to be drained.
struct PendingAppend {
    records: Bytes,
    sync: bool,
    reply: oneshot::Sender<Result<AppendInfo, AppendRefused>>,
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _e = self.span().entered();
        if let Some(log) = &self.log {
            debug!(
                log_start = log.log_start_offset(),
                log_end = log.log_end_offset(),
                segments = log.segment_count(),
                "partition open"
            );
        }
        if !self.retention_check.is_zero() {
            ctx.run_interval(self.retention_check, |act, ctx| act.housekeeping(ctx));
        }
    }
}

impl PartitionActor {
    /// Periodic work: retention, the time-based flush policy and producer-id expiry.
    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        self.write_appends(ctx);
        let _e = self.span().entered();
        let now = now_ms();
        let Some(log) = self.log.as_mut() else { return };
        match log.apply_retention(now) {
            Ok(outcome) => {
                if outcome.segments_deleted > 0 {
                    info!(
                        segments_deleted = outcome.segments_deleted,
                        log_start = log.log_start_offset(),
                        "retention deleted segments"
                    );
                }
            }
            Err(e) => error!(error = %e, "retention failed"),
        }
        if let Err(e) = log.maybe_flush(now) {
            error!(error = %e, "flush failed");
        }
        let expired = log.expire_producers(now);
        if expired > 0 {
            debug!(expired, "expired idle producer ids");
        }
        self.publish();
        self.schedule_file_removal(ctx);
    }

    /// Arms a timer for the next deleted segment's files (`file.delete.delay.ms`), unless one
    /// fires by then already.
    fn schedule_file_removal(&mut self, ctx: &mut Context<Self>) {
        let Some(due) = self.log.as_ref().and_then(PartitionLog::next_file_removal) else {
            return;
        };
        if self.removal_timer.is_some_and(|at| at <= due) {
            return;
        }
        self.removal_timer = Some(due);
        let wait = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
        ctx.run_later(Duration::from_millis(wait), |act, ctx| {
            act.removal_timer = None;
            let _e = act.span().entered();
            if let Some(log) = act.log.as_mut() {
                match log.remove_deleted_files(now_ms()) {
                    Ok(0) => {}
                    Ok(files) => debug!(files, "removed the files of deleted segments"),
                    Err(e) => error!(error = %e, "removing deleted segment files failed"),
                }
            }
            act.schedule_file_removal(ctx);
        });
    }
}

/// Appends one Produce partition's batches. `sync` asks for an fsync before the answer.
///
/// Coalescing: the handler only queues the append; once the mailbox is drained, every append
/// queued meanwhile is written with one vectored write straight from the requests' buffers
/// ([`PartitionLog::append_all`]), then answered. (Any other message writes the queued appends
/// first, so it is handled as if they had been written one by one.)
///
/// Group commit: an append that asks for a sync is written the same way, but its answer waits
/// for a flush queued behind whatever arrived meanwhile, so those appends share one fsync.
#[derive(Message)]
#[rtype(result = "Result<AppendInfo, AppendRefused>")]
pub struct Append {
    pub records: Bytes,
    pub sync: bool,
    /// The producer asked for `acks=all`: the partition's `min.insync.replicas` applies.
    pub acks_all: bool,
}

/// In-sync replicas of every partition: this node, the only replica.
const ISR_SIZE: i32 = 1;

/// A refused append, as the Produce response reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRefused {
    pub code: ErrorCode,
    /// The response's `error_message` (v8+), where Kafka gives one.
    pub message: Option<String>,
    /// Each refused record's index in its batch, and why (`record_errors`, v8+).
    pub record_errors: Vec<RecordError>,
}

impl From<ErrorCode> for AppendRefused {
    fn from(code: ErrorCode) -> AppendRefused {
        AppendRefused {
            code,
            message: None,
            record_errors: Vec::new(),
        }
    }
}

impl From<AppendError> for AppendRefused {
    /// Kafka answers with a message only for records refused by the validator.
    fn from(e: AppendError) -> AppendRefused {
        match e {
            AppendError::Records {
                code,
                message,
                errors,
            } => AppendRefused {
                code,
                message: Some(message),
                record_errors: errors,
            },
            other => other.error_code().into(),
        }
    }
}

impl Handler<Append> for PartitionActor {
    type Result = ResponseFuture<Result<AppendInfo, AppendRefused>>;

    fn handle(&mut self, msg: Append, ctx: &mut Self::Context) -> Self::Result {
        let Some(log) = self.log.as_ref() else {
            return Box::pin(std::future::ready(Err(ErrorCode::KafkaStorageError.into())));
        };
        // Kafka's check before an acks=all append (one comparison): the ISR must be as large as
        // min.insync.replicas. As in Kafka the response carries no message; the log line does.
        let min_isr = log.config().min_insync_replicas;
        if msg.acks_all && min_isr > ISR_SIZE {
            let _e = self.span().entered();
            debug!(
                min_isr,
                isr = ISR_SIZE,
                "The size of the current ISR is insufficient to satisfy the min.isr requirement"
            );
            return Box::pin(std::future::ready(Err(ErrorCode::NotEnoughReplicas.into())));
        }
        let (reply, answer) = oneshot::channel();
        if self.appends.is_empty() {
            ctx.notify(WriteAppends);
        }
        self.appends.push(PendingAppend {
            records: msg.records,
            sync: msg.sync,
            reply,
        });
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(ErrorCode::KafkaStorageError.into()))
        })
    }
}

/// Writes the appends queued while the mailbox was drained.
#[derive(Message)]
#[rtype(result = "()")]
struct WriteAppends;

impl Handler<WriteAppends> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: WriteAppends, ctx: &mut Self::Context) {
        self.write_appends(ctx);
    }
}

/// Flushes once for every append waiting on an fsync, then answers them.
#[derive(Message)]
#[rtype(result = "()")]
struct SyncPending;

impl Handler<SyncPending> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: SyncPending, ctx: &mut Self::Context) {
        self.write_appends(ctx);
        let _e = self.span().entered();
        let waiting = std::mem::take(&mut self.awaiting_sync);
        let outcome = match self.log.as_mut() {
            Some(log) => log.flush().map_err(|e| {
                error!(error = %e, "fsync failed");
                ErrorCode::KafkaStorageError
            }),
            None => Err(ErrorCode::KafkaStorageError),
        };
        debug!(appends = waiting.len(), "group commit");
        for (tx, info) in waiting {
            let _ = tx.send(outcome.map(|()| info).map_err(AppendRefused::from));
        }
    }
}

/// What a Fetch gets from one partition.
#[derive(Debug)]
pub struct ReadResult {
    pub slice: FileSlice,
    pub offsets: Offsets,
}

/// Reads whole batches from `offset`, at most `max_bytes` (but one batch at least if `min_one`).
#[derive(Message)]
#[rtype(result = "Result<ReadResult, (ErrorCode, Offsets)>")]
pub struct Read {
    pub offset: i64,
    pub max_bytes: usize,
    pub min_one: bool,
}

impl Handler<Read> for PartitionActor {
    type Result = Result<ReadResult, (ErrorCode, Offsets)>;

    fn handle(&mut self, msg: Read, ctx: &mut Self::Context) -> Self::Result {
        self.write_appends(ctx);
        let offsets = self.offsets.borrow().clone();
        let Some(log) = self.log.as_ref() else {
            return Err((ErrorCode::KafkaStorageError, offsets));
        };
        match log.read(msg.offset, msg.max_bytes, msg.min_one) {
            Ok(slice) => Ok(ReadResult { slice, offsets }),
            Err(e) => Err((e.error_code(), offsets)),
        }
    }
}

/// ListOffsets for one partition: -2 earliest, -1 latest, -3 max timestamp, else by timestamp.
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), ErrorCode>")]
pub struct ListOffset {
    pub timestamp: i64,
}

pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;
pub const MAX_TIMESTAMP: i64 = -3;

impl Handler<ListOffset> for PartitionActor {
    type Result = Result<(i64, i64), ErrorCode>;

    fn handle(&mut self, msg: ListOffset, ctx: &mut Self::Context) -> Self::Result {
        self.write_appends(ctx);
        let log = self.log.as_ref().ok_or(ErrorCode::KafkaStorageError)?;
        match msg.timestamp {
            EARLIEST_TIMESTAMP => Ok((log.log_start_offset(), -1)),
            LATEST_TIMESTAMP => Ok((log.high_watermark(), -1)),
            MAX_TIMESTAMP => Ok(log.max_timestamp_offset().unwrap_or((-1, -1))),
            ts => match log.offset_for_timestamp(ts) {
                Ok(Some((offset, timestamp))) => Ok((offset, timestamp)),
                Ok(None) => Ok((-1, -1)),
                Err(e) => Err(e.error_code()),
            },
        }
    }
}

/// DeleteRecords: moves the log start offset up to `offset` (-1 = the high watermark).
#[derive(Message)]
#[rtype(result = "Result<i64, ErrorCode>")]
pub struct DeleteRecordsBefore {
    pub offset: i64,
}

impl Handler<DeleteRecordsBefore> for PartitionActor {
    type Result = Result<i64, ErrorCode>;

    fn handle(&mut self, msg: DeleteRecordsBefore, ctx: &mut Self::Context) -> Self::Result {
        self.write_appends(ctx);
        let _e = self.span().entered();
        let log = self.log_mut()?;
        let start = log
            .delete_records_before(msg.offset)
            .map_err(|e| e.error_code())?;
        self.publish();
        self.schedule_file_removal(ctx);
        Ok(start)
    }
}

/// The log cleaner asks what it may clean: the log's inactive segments (see
/// [`crate::storage::cleaner::LogView`]), or `None` if the topic is not compacted (or the log
/// failed to open).
#[derive(Message)]
#[rtype(result = "Option<LogView>")]
pub struct CleanerView;

impl Handler<CleanerView> for PartitionActor {
    type Result = Option<LogView>;

    fn handle(&mut self, _: CleanerView, ctx: &mut Self::Context) -> Option<LogView> {
        self.write_appends(ctx);
        let log = self.log.as_ref()?;
        log.config().compact.then(|| log.cleaner_view())
    }
}

/// The log cleaner wrote a group of cleaned segments beside the live ones: swap them in (the
/// actor is the only one to change its live segments, so every read and append sees either the
/// old segments or the new one). Answers false if the segments it replaces changed meanwhile.
#[derive(Message)]
#[rtype(result = "Result<bool, ErrorCode>")]
pub struct ReplaceSegments(pub CleanedGroup);

impl Handler<ReplaceSegments> for PartitionActor {
    type Result = Result<bool, ErrorCode>;

    fn handle(&mut self, msg: ReplaceSegments, ctx: &mut Self::Context) -> Self::Result {
        self.write_appends(ctx);
        let _e = self.span().entered();
        let log = self.log_mut()?;
        if !log.config().compact {
            return Ok(false);
        }
        let replaced = log.replace_segments(&msg.0, now_ms()).map_err(|e| {
            error!(error = %e, "swapping in cleaned segments failed");
            ErrorCode::KafkaStorageError
        })?;
        if replaced {
            debug!(
                base_offset = msg.0.base_offset,
                replaced = msg.0.old.len(),
                bytes = msg.0.size,
                "cleaned segment swapped in"
            );
        }
        self.publish();
        Ok(replaced)
    }
}

/// New settings for this partition (a topic config changed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure(pub LogConfig);

impl Handler<Reconfigure> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Self::Context) {
        self.write_appends(ctx);
        if let Some(log) = self.log.as_mut() {
            log.set_config(msg.0);
        }
    }
}

/// The partition's leader epoch changed in the metadata image (or is told at start): the
/// batches appended from now on carry it, and the leader-epoch cache records where it starts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLeaderEpoch(pub i32);

impl Handler<SetLeaderEpoch> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: SetLeaderEpoch, ctx: &mut Self::Context) {
        // Appends already queued were accepted under the old epoch: they go out first.
        self.write_appends(ctx);
        if let Some(log) = self.log.as_mut() {
            log.set_leader_epoch(msg.0);
        }
    }
}

/// Flushes and closes the log (clean shutdown), then stops the actor. With `delete`, the
/// partition directory is removed afterwards (DeleteTopics).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Close {
    pub delete: bool,
}

/// Answers whether the log closed cleanly (flushed and fsynced to its end).
impl Handler<Close> for PartitionActor {
    type Result = bool;

    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) -> bool {
        self.write_appends(ctx);
        // Published handles may outlive the actor: they must not keep a segment file open.
        self.offsets.send_modify(|o| o.tail = None);
        let _e = self.span().entered();
        // Appends still waiting for their fsync get it from the close, which flushes.
        let waiting = std::mem::take(&mut self.awaiting_sync);
        let mut clean = true;
        if let Some(log) = self.log.take() {
            let log_end = log.log_end_offset();
            let closed = log.close();
            if closed.is_ok() {
                // Fsynced to the end: what the log-dir checkpoint written after the close says.
                self.offsets.send_modify(|o| o.recovery_point = log_end);
            }
            if let Err(e) = &closed {
                error!(error = %e, "closing the log failed");
                clean = false;
            }
            for (tx, info) in waiting {
                let _ = tx.send(match &closed {
                    Ok(()) => Ok(info),
                    Err(_) => Err(ErrorCode::KafkaStorageError.into()),
                });
            }
        }
        if msg.delete {
            if let Err(e) = remove_partition_dir(&self.dir) {
                error!(dir = %self.dir.display(), error = %e, "could not delete partition directory");
            }
        }
        debug!(topic = %self.topic, partition = self.partition, "partition closed");
        ctx.stop();
        clean
    }
}

/// As Kafka does: rename to `<dir>.<uuid>-delete` first (so a crash never leaves a half-deleted
/// directory that looks live), then remove it.
fn remove_partition_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let renamed = dir.with_file_name(format!("{name}.{}-delete", uuid::Uuid::new_v4().simple()));
    std::fs::rename(dir, &renamed)?;
    std::fs::remove_dir_all(&renamed)
}
