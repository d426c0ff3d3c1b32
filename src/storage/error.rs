//! The storage engine's errors, each mapped onto the Kafka error code a client receives.

use std::io;

use crate::error::ErrorCode;
use crate::record::BatchError;
use crate::storage::producer_state::SequenceError;

/// Opening, recovering or maintaining a partition's directory failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl StorageError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            StorageError::Io(_) => ErrorCode::KafkaStorageError,
        }
    }
}

/// A Produce partition's records were refused; nothing was appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the produce data holds no record batch")]
    Empty,
    #[error("batch {index} at byte {position}: {source}")]
    InvalidBatch {
        index: usize,
        position: usize,
        source: BatchError,
    },
    #[error("batch {index} is {size} bytes, above max.message.bytes {max}")]
    MessageTooLarge {
        index: usize,
        size: usize,
        max: usize,
    },
    #[error("{size} bytes of records exceed the segment size {max}")]
    RecordListTooLarge { size: usize, max: u64 },
    #[error("offsets would overflow")]
    OffsetOverflow,
    /// Records that break the topic's rules (a compacted topic's keyless records, timestamps
    /// outside the topic's bounds): Kafka's `RecordValidationException`, answered with the
    /// error code, Kafka's message and each failing record's index in its batch.
    #[error("{message}")]
    Records {
        code: ErrorCode,
        message: String,
        errors: Vec<RecordError>,
    },
    #[error("{0}")]
    Sequence(#[from] SequenceError),
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl AppendError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AppendError::Empty => ErrorCode::InvalidRecord,
            AppendError::InvalidBatch { source, .. } => source.error_code(),
            AppendError::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            AppendError::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
            AppendError::OffsetOverflow => ErrorCode::UnknownServerError,
            AppendError::Records { code, .. } => *code,
            AppendError::Sequence(e) => e.error_code(),
            AppendError::Io(_) => ErrorCode::KafkaStorageError,
        }
    }
}

/// One record refused in a Produce (the response's `record_errors`, v8+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch.
    pub batch_index: i32,
    pub message: String,
}

/// A read (Fetch), or a DeleteRecords, could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// DeleteRecords on a log whose cleanup policy lacks `delete` (Kafka's
    /// `PolicyViolationException`).
    #[error("records can not be deleted due to the configured policy")]
    PolicyViolation,
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ReadError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReadError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            ReadError::PolicyViolation => ErrorCode::PolicyViolation,
            ReadError::Io(_) => ErrorCode::KafkaStorageError,
        }
    }
}

impl From<StorageError> for ReadError {
    fn from(e: StorageError) -> ReadError {
        match e {
            StorageError::Io(e) => ReadError::Io(e),
        }
    }
}
