//! [`LogConfig`]: the settings of one partition log, named after Kafka's topic configs.

/// Per-partition log settings; names follow Kafka's topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll before a segment would grow past this (capped at `i32::MAX`).
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the new data is this much newer than the segment's first batch.
    pub roll_ms: i64,
    /// `index.interval.bytes`: bytes appended between two index entries.
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: the largest index file; a full index rolls the segment.
    pub max_index_size: usize,
    /// `retention.ms`; negative disables time retention.
    pub retention_ms: i64,
    /// `retention.bytes`; negative disables size retention.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type=LogAppendTime`.
    pub timestamp_type_log_append: bool,
    /// `flush.messages`: fsync once this many records are unflushed.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync once the oldest unflushed record is this old.
    pub flush_interval_ms: Option<u64>,
    /// `cleanup.policy` holds `compact`: the log cleaner keeps the latest record per key.
    pub compact: bool,
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

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            roll_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            max_index_size: 10 << 20,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type_log_append: false,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: None,
            compact: false,
            min_cleanable_ratio: 0.5,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}
