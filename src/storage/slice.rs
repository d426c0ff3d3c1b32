//! [`FileSlice`]: what a read hands to the connection, a byte range of one segment file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// A byte range of one segment file, read outside the actor by the connection: `pread` on a
/// shared handle. It covers whole batches only, all written before the slice was made, so reading
/// it never waits for or races an append. A segment deleted meanwhile stays readable (the handle
/// keeps the unlinked file alive).
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Option<Arc<File>>,
    pub position: u64,
    pub len: usize,
    /// Base offset of the first batch in the slice (-1 when there is none).
    pub first_offset: i64,
}

impl FileSlice {
    pub fn empty() -> Self {
        FileSlice {
            file: None,
            position: 0,
            len: 0,
            first_offset: -1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read(&self) -> io::Result<Bytes> {
        match &self.file {
            Some(file) if self.len > 0 => {
                let mut buf = vec![0u8; self.len];
                file.read_exact_at(&mut buf, self.position)?;
                Ok(Bytes::from(buf))
            }
            _ => Ok(Bytes::new()),
        }
    }
}
