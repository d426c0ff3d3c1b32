//! The value of a `records` field the broker sends: bytes in memory, or a byte range of a file
//! (a segment's record batches) that the transport sends from the page cache without reading
//! it into this process.
//!
//! Response messages that carry records are generic over their records type (`R`, default
//! [`Bytes`]; see the generator): a Fetch response is built with [`Records`], encoded into an
//! [`EncodeBuf`] that keeps each file range as a chunk of its own, and written by `net`.

use bytes::Bytes;

pub use crate::protocol::file_range::FileRange;
use crate::protocol::wire::{EncodeBuf, RecordsField};

/// Record bytes to send: in memory, or a range of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum Records {
    Mem(Bytes),
    File(FileRange),
}

impl Default for Records {
    fn default() -> Self {
        Records::Mem(Bytes::new())
    }
}

impl From<Bytes> for Records {
    fn from(bytes: Bytes) -> Self {
        Records::Mem(bytes)
    }
}

impl From<FileRange> for Records {
    fn from(range: FileRange) -> Self {
        Records::File(range)
    }
}

impl RecordsField for Records {
    fn records_len(&self) -> usize {
        match self {
            Records::Mem(bytes) => bytes.len(),
            Records::File(range) => range.len,
        }
    }

    fn put_records_data(&self, buf: &mut EncodeBuf) {
        match self {
            Records::Mem(bytes) => buf.put_records(bytes),
            Records::File(range) => buf.put_file(range.clone()),
        }
    }
}
