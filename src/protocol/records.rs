//! The value of a `records` field the broker sends: bytes in memory, or a byte range of a file
//! (a segment's record batches) that the transport sends from the page cache without reading
//! it into this process.
//!
//! Response messages that carry records are generic over their records type (`R`, default
//! [`Bytes`]; see the generator): a Fetch response is built with [`Records`], encoded into an
//! [`EncodeBuf`] that keeps each file range as a chunk of its own, and written by `net`.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

use crate::protocol::wire::{EncodeBuf, RecordsField};

/// `len` bytes of `file` from `position` on.
#[derive(Clone, Debug)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileRange {
    /// Reads the range (`pread`): fewer bytes than `len` when the file is shorter.
    pub fn read(&self) -> std::io::Result<Bytes> {
        let mut buf = vec![0u8; self.len];
        let mut filled = 0;
        while filled < buf.len() {
            let n = read_at(
                &self.file,
                &mut buf[filled..],
                self.position + filled as u64,
            )?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(Bytes::from(buf))
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

impl PartialEq for FileRange {
    /// The same range of the same open file.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.position == other.position
            && self.len == other.len
    }
}

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
