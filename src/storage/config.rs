//! [`LogConfig`]: the settings of one partition log, named after Kafka's topic configs.

/// Per-partition log settings; names follow Kafka's topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll before a segment would grow past this (capped at `i32::MAX`).
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the new data is this much newer than the segment's first batch.
    pub roll_ms: i64,
    /// `segment.jitter.ms`: each new segment rolls up to this much (a random amount, less than
    /// `segment.ms`) before `segment.ms`, so partitions created together do not all roll at once.
    pub roll_jitter_ms: i64,
    /// `index.interval.bytes`: bytes appended between two index entries.
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: the largest index file; a full index rolls the segment.
    pub max_index_size: usize,
    /// `retention.ms`; negative disables time retention.
    pub retention_ms: i64,
    /// `retention.bytes`; negative disables size retention.
    pub retention_bytes: i64,
    /// `cleanup.policy` holds `delete`: segments past `retention.ms` / `retention.bytes` are
    /// deleted. Without it (`compact` alone) only DeleteRecords moves the log start.
    pub delete: bool,
    /// `cleanup.policy` holds `compact`: records must have keys (Kafka's `LogValidator`).
    pub compact: bool,
    /// `file.delete.delay.ms`: how long the files of a deleted segment stay on disk, renamed
    /// `.deleted`, before they are removed.
    pub file_delete_delay_ms: u64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type=LogAppendTime`.
    pub timestamp_type_log_append: bool,
    /// `message.timestamp.before.max.ms`: CreateTime records older than now minus this are
    /// refused (INVALID_TIMESTAMP). `i64::MAX` = no bound.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: CreateTime records newer than now plus this are refused.
    pub timestamp_after_max_ms: i64,
    /// `min.insync.replicas`: an `acks=all` append needs this many in-sync replicas; this
    /// node's ISR is itself alone, so above 1 every such append is refused (NOT_ENOUGH_REPLICAS).
    pub min_insync_replicas: i32,
    /// `flush.messages`: fsync once this many records are unflushed.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync once the oldest unflushed record is this old.
    pub flush_interval_ms: Option<u64>,
    /// `min.cleanable.dirty.ratio`: the cleaner takes the log once its dirty bytes are more
    /// than this share of the bytes it could clean (0..=1).
    pub min_cleanable_ratio: f64,
    /// `delete.retention.ms`: how long a tombstone stays after the clean that first kept it.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty record older than this forces a clean, whatever the
    /// dirty ratio.
    pub max_compaction_lag_ms: i64,
}

impl LogConfig {
    /// Whether appends must look inside the batches (at record keys or timestamps), beyond
    /// their headers: only for compacted topics and topics with a timestamp bound.
    pub fn checks_records(&self) -> bool {
        self.compact || self.bounds_timestamps()
    }

    /// CreateTime topics with a `message.timestamp.before/after.max.ms` bound.
    pub fn bounds_timestamps(&self) -> bool {
        !self.timestamp_type_log_append
            && (self.timestamp_before_max_ms != i64::MAX || self.timestamp_after_max_ms != i64::MAX)
    }
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            roll_ms: 7 * 24 * 60 * 60 * 1000,
            roll_jitter_ms: 0,
            index_interval_bytes: 4096,
            max_index_size: 10 << 20,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            delete: true,
            compact: false,
            file_delete_delay_ms: 60_000,
            max_message_bytes: 1_048_588,
            timestamp_type_log_append: false,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            min_insync_replicas: 1,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: None,
            min_cleanable_ratio: 0.5,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}
