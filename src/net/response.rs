//! Response frames on the wire: an encoded response as chunks (the size prefix, the header and
//! body, record bytes shared from elsewhere, and file ranges), written with vectored writes and
//! `sendfile`.

use std::io::IoSlice;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::protocol::messages::response_header::ResponseHeader;
use crate::protocol::records::FileRange;
use crate::protocol::wire::{Chunk, EncodeBuf, FrameTooLarge};

/// File ranges from this size on go with `sendfile`; smaller ones are read and written with the
/// response around them (a copy of a few KiB costs less than a second TCP segment).
pub const SENDFILE_FROM: usize = 64 << 10;

/// An encoded response frame: size prefix, header and body, as parts so that record bytes are
/// never copied: bytes shared from elsewhere (a request, a cache), or byte ranges of segment
/// files that go from the page cache to the socket with `sendfile`.
#[derive(Debug)]
pub struct Response {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Mem(Bytes),
    File(FileRange),
    /// A response whose encoding does not fit a frame's int32 size: writing it fails, which
    /// closes the connection (the client gets no truncated or mis-sized frame).
    Unframeable(FrameTooLarge),
}

impl Part {
    fn len(&self) -> usize {
        match self {
            Part::Mem(b) => b.len(),
            Part::File(f) => f.len,
            Part::Unframeable(_) => 0,
        }
    }
}

impl Response {
    /// Encodes the response header and the body that `body` writes. A file range in the body
    /// (Fetch records) stays a range of its file; one smaller than [`SENDFILE_FROM`] is read
    /// now, so that it leaves with the rest of the response in one write (one TCP segment, one
    /// wake-up of the client).
    pub fn encode(
        correlation_id: i32,
        header_version: i16,
        body: &dyn Fn(&mut EncodeBuf),
    ) -> Response {
        let mut buf = EncodeBuf::with_capacity(128);
        ResponseHeader { correlation_id }.encode(&mut buf, header_version);
        body(&mut buf);
        let chunks = match buf.into_frame_chunks() {
            Ok(chunks) => chunks,
            Err(e) => {
                tracing::error!(error = %e, "response too large for one frame");
                return Response {
                    parts: vec![Part::Unframeable(e)],
                };
            }
        };
        let parts = chunks
            .into_iter()
            .map(|chunk| match chunk {
                Chunk::Mem(bytes) => Part::Mem(bytes),
                Chunk::File(range) if range.len < SENDFILE_FROM => match range.read() {
                    Ok(bytes) if bytes.len() == range.len => Part::Mem(bytes),
                    // Shorter than it was, or unreadable: left to `sendfile`, which then fails
                    // the write and closes the connection rather than send a short frame.
                    _ => Part::File(range),
                },
                Chunk::File(range) => Part::File(range),
            })
            .collect();
        Response { parts }
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The whole frame in one buffer (tests): file ranges are read.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in &self.parts {
            match part {
                Part::Mem(b) => out.extend_from_slice(b),
                Part::File(f) => match f.read() {
                    Ok(bytes) if bytes.len() == f.len => out.extend_from_slice(&bytes),
                    _ => out.resize(out.len() + f.len, 0),
                },
                Part::Unframeable(_) => {}
            }
        }
        out
    }

    /// Writes the frame: runs of in-memory parts with vectored writes, file ranges with
    /// `sendfile`, resuming after partial writes. A file range that cannot be sent whole (the
    /// file is shorter than it was: only a damaged disk does that) fails the write, which closes
    /// the connection: the frame cannot be finished.
    pub async fn write_to(self, socket: &mut OwnedWriteHalf) -> std::io::Result<()> {
        if let Some(Part::Unframeable(e)) = self.parts.first() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, *e));
        }
        let mut i = 0;
        while i < self.parts.len() {
            if let Part::File(file) = &self.parts[i] {
                send_file(socket, file).await?;
                i += 1;
                continue;
            }
            // A run of at most 64 in-memory parts, written whole before going on.
            let mut slices: Vec<IoSlice<'_>> = self.parts[i..]
                .iter()
                .take(64)
                .map_while(|c| match c {
                    Part::Mem(b) => Some(IoSlice::new(b)),
                    Part::File(_) | Part::Unframeable(_) => None,
                })
                .collect();
            i += slices.len();
            let mut unwritten = &mut slices[..];
            while !unwritten.is_empty() {
                let written = socket.write_vectored(unwritten).await?;
                if written == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut unwritten, written);
            }
        }
        socket.flush().await
    }
}

/// Sends a file range to the socket with `sendfile` (page cache to socket, no copy through this
/// process), waiting for the socket to be writable as needed.
#[cfg(target_os = "linux")]
async fn send_file(socket: &OwnedWriteHalf, range: &FileRange) -> std::io::Result<()> {
    let stream: &tokio::net::TcpStream = socket.as_ref();
    let mut offset = range.position;
    let mut remaining = range.len;
    while remaining > 0 {
        stream.writable().await?;
        let started = std::time::Instant::now();
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*range.file, Some(&mut offset), remaining)
                .map_err(std::io::Error::from)
        });
        crate::metrics::record_sendfile(started.elapsed());
        match sent {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => remaining = remaining.saturating_sub(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Without Linux's `sendfile`: the range is read (`pread`) and written.
#[cfg(not(target_os = "linux"))]
async fn send_file(socket: &mut OwnedWriteHalf, range: &FileRange) -> std::io::Result<()> {
    let bytes = range.read()?;
    if bytes.len() != range.len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    socket.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::protocol::records::Records;
    use crate::protocol::wire::put_records_field;

    /// A file of `skip + len` bytes (a repeating pattern) and the range of its last `len`.
    fn file_range(len: usize, skip: usize) -> (tempfile::NamedTempFile, FileRange, Vec<u8>) {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        let data: Vec<u8> = (0..skip + len).map(|i| (i * 7 % 251) as u8).collect();
        tmp.write_all(&data).expect("write");
        let file = Arc::new(tmp.reopen().expect("reopen"));
        let range = FileRange {
            file,
            position: skip as u64,
            len,
        };
        (tmp, range, data[skip..].to_vec())
    }

    /// A body: an i32, a records field, another i32.
    fn body(records: &Records) -> impl Fn(&mut EncodeBuf) + '_ {
        move |b: &mut EncodeBuf| {
            b.put_i32(0x0102_0304);
            put_records_field(b, false, records);
            b.put_i32(0x0506_0708);
        }
    }

    fn expected_frame(records: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&7i32.to_be_bytes()); // correlation id (header v0)
        body.extend_from_slice(&0x0102_0304i32.to_be_bytes());
        body.extend_from_slice(&(records.len() as i32).to_be_bytes());
        body.extend_from_slice(records);
        body.extend_from_slice(&0x0506_0708i32.to_be_bytes());
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    async fn written(response: Response) -> std::io::Result<Vec<u8>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = tokio::net::TcpStream::connect(addr).await?;
        let (server, _) = listener.accept().await?;
        let (_read, mut write) = server.into_split();
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.map(|_| out)
        });
        let sent = response.write_to(&mut write).await;
        drop(write);
        let received = reader.await.map_err(std::io::Error::other)??;
        sent.map(|()| received)
    }

    #[tokio::test]
    async fn file_ranges_are_sent_from_their_files() {
        // Read and written (small), sent with sendfile, and big enough that the socket buffer
        // fills and sendfile resumes several times.
        for len in [1usize, 100, SENDFILE_FROM - 1, SENDFILE_FROM, 3 << 20] {
            let (_tmp, range, data) = file_range(len, 13);
            let response = Response::encode(7, 0, &body(&Records::File(range)));
            let expected = expected_frame(&data);
            assert_eq!(response.len(), expected.len());
            assert_eq!(response.to_vec(), expected);
            assert_eq!(written(response).await.expect("written"), expected);
        }
    }

    #[tokio::test]
    async fn a_file_range_past_the_end_of_its_file_fails_the_write() {
        // Small (read at encoding) and large (sendfile): the file holds fewer bytes than the
        // range names, so the frame cannot be finished and must not be sent short or padded.
        for len in [100usize, SENDFILE_FROM * 2] {
            let (_tmp, mut range, _) = file_range(len, 0);
            range.len += 10;
            let response = Response::encode(7, 0, &body(&Records::File(range)));
            assert!(written(response).await.is_err(), "len {len}");
        }
    }

    #[tokio::test]
    async fn bytes_in_memory_are_sent_as_they_are() {
        let records = Bytes::from(vec![9u8; 5000]);
        let response = Response::encode(7, 0, &body(&Records::Mem(records.clone())));
        assert_eq!(
            written(response).await.expect("written"),
            expected_frame(&records)
        );
    }
}
