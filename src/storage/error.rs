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
            AppendError::Sequence(e) => e.error_code(),
            AppendError::Io(_) => ErrorCode::KafkaStorageError,
        }
    }
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
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ReadError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ReadError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
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
