//! A byte range of an open file: records that stay in a segment until the transport sends them.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

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
