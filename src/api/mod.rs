//! Request handling: one file per Kafka API, reached through one exhaustive match on the API key.
//!
//! [`Request::parse`] turns a frame into a header and a typed body (generated codec); a frame that
//! does not parse is refused with a [`ParseError`] and the connection closes. [`handle`] returns
//! a future that resolves to the encoded [`Response`], or `None` when the client asked for no
//! answer (Produce with `acks=0`).
//!
//! The per-API lists are generated from the allow-list (`xtask/src/apis.rs`): the [`Body`] enum
//! and its decoder (`protocol::body`), and the dispatch (`api/dispatch.rs`), which calls every
//! API's handler the same way:
//!
//! ```text
//! pub async fn handle(ctx: &RequestContext, header: &RequestHeader, req: <Name>Request)
//!     -> impl IntoResponse
//! ```
//!
//! A handler takes from the header what it needs (the version, the client id); its answer is a
//! response body, `Option` of one (no answer), a body with file ranges (Fetch), or a body in a
//! version of its own ([`InVersion`]). Requests that name partitions reach their partition
//! actors through [`fan_out`].

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_topic_partitions;
mod dispatch;
pub mod fan_out;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::broker::Broker;
use crate::protocol::api_table::{self, ApiKey};
pub use crate::protocol::body::Body;
use crate::protocol::body::{decode_body, ResponseBody};
use crate::protocol::messages::{request_header::RequestHeader, response_header::ResponseHeader};
use crate::protocol::wire::{DecodeError, EncodeBuf, FrameTooLarge};
use crate::storage::FileSlice;

pub use dispatch::handle;

/// What a handler knows about the connection its request came on.
#[derive(Clone)]
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub local_addr: SocketAddr,
    pub peer: SocketAddr,
    pub connection_id: u64,
}

#[derive(Debug)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub version: i16,
    pub body: Body,
}

/// A frame that cannot be served; the connection that sent it is closed.
#[derive(Debug)]
pub struct ParseError {
    pub api_key: i16,
    pub api_version: i16,
    pub reason: ParseFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseFailure {
    #[error("frame shorter than a request header")]
    ShortFrame,
    #[error("unknown API key")]
    UnknownApiKey,
    #[error("API not supported by this broker")]
    NotSupported,
    #[error("unsupported version (we decode {min}-{max})")]
    UnsupportedVersion { min: i16, max: i16 },
    #[error("bad request header: {0}")]
    Header(DecodeError),
    #[error("bad request body: {0}")]
    Body(DecodeError),
}

impl Request {
    pub fn parse(frame: Bytes) -> Result<Request, ParseError> {
        if frame.len() < 8 {
            return Err(ParseError {
                api_key: -1,
                api_version: -1,
                reason: ParseFailure::ShortFrame,
            });
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let fail = |reason| ParseError {
            api_key,
            api_version: version,
            reason,
        };
        let key = ApiKey::from_i16(api_key).ok_or_else(|| fail(ParseFailure::UnknownApiKey))?;
        let support = api_table::support(key);
        if !support.advertised {
            return Err(fail(ParseFailure::NotSupported));
        }
        let in_range = (support.decode_min..=support.decode_max).contains(&version);
        let mut buf = frame;
        let header_version = api_table::request_header_version(key, version);
        let header = RequestHeader::decode(&mut buf, header_version)
            .map_err(|e| fail(ParseFailure::Header(e)))?;
        if !in_range {
            if key == ApiKey::ApiVersions {
                return Ok(Request {
                    header,
                    api_key: key,
                    version,
                    body: Body::ApiVersionsUnsupported,
                });
            }
            return Err(fail(ParseFailure::UnsupportedVersion {
                min: support.decode_min,
                max: support.decode_max,
            }));
        }
        let body = decode_body(key, version, &mut buf).map_err(|e| fail(ParseFailure::Body(e)))?;
        if buf.has_remaining() {
            // Kafka ignores bytes after the body, and clients depend on it: librdkafka (up to at
            // least 2.12) sends an "all topics" Metadata v9+ request with a 4-byte null array
            // where one varint byte belongs, i.e. 3 stray bytes at the end.
            tracing::debug!(
                api_key,
                version,
                trailing = buf.remaining(),
                "ignoring bytes after the request body"
            );
        }
        Ok(Request {
            header,
            api_key: key,
            version,
            body,
        })
    }
}

pub type ResponseFuture = Pin<Box<dyn Future<Output = Option<Response>>>>;

/// Where a handler's answer goes: the request's correlation id, and the versions of the
/// response header and body.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub correlation_id: i32,
    pub header_version: i16,
    pub version: i16,
}

impl Reply {
    /// The answer to `req`, in the header and body versions of its request.
    pub fn to(req: &Request) -> Reply {
        Reply {
            correlation_id: req.header.correlation_id,
            header_version: api_table::response_header_version(req.api_key, req.version),
            version: req.version,
        }
    }
}

/// What a handler answers with: the [`Response`] it becomes, or none.
pub trait IntoResponse {
    fn into_response(self, reply: Reply) -> Option<Response>;
}

impl<T: ResponseBody> IntoResponse for T {
    fn into_response(self, reply: Reply) -> Option<Response> {
        Some(Response::encode(
            reply.correlation_id,
            reply.header_version,
            &|b| self.encode_body(b, reply.version),
        ))
    }
}

/// No answer at all: Produce with `acks=0`.
impl<T: IntoResponse> IntoResponse for Option<T> {
    fn into_response(self, reply: Reply) -> Option<Response> {
        self?.into_response(reply)
    }
}

/// A body holding [`file_placeholder`]s, and the file ranges they stand for (Fetch).
impl<T: ResponseBody> IntoResponse for (T, Vec<FileSlice>) {
    fn into_response(self, reply: Reply) -> Option<Response> {
        let (body, files) = self;
        Some(Response::encode_with_files(
            reply.correlation_id,
            reply.header_version,
            &|b| body.encode_body(b, reply.version),
            files,
        ))
    }
}

/// A body encoded in a version of its own rather than the request's: the v0 answer to an
/// ApiVersions version we do not know.
#[derive(Debug)]
pub struct InVersion<T> {
    pub version: i16,
    pub body: T,
}

impl<T: IntoResponse> IntoResponse for InVersion<T> {
    fn into_response(self, reply: Reply) -> Option<Response> {
        self.body.into_response(Reply {
            version: self.version,
            ..reply
        })
    }
}

/// An encoded response frame: size prefix, header and body, as chunks so that record bytes
/// are never copied: bytes shared from elsewhere (a request, a cache), or byte ranges of segment
/// files that go from the page cache to the socket with `sendfile`.
#[derive(Debug)]
pub struct Response {
    chunks: Vec<Chunk>,
}

#[derive(Debug)]
enum Chunk {
    Mem(Bytes),
    File(FileSlice),
    /// A response whose encoding does not fit a frame's int32 size: writing it fails, which
    /// closes the connection (the client gets no truncated or mis-sized frame).
    Unframeable(FrameTooLarge),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Mem(b) => b.len(),
            Chunk::File(f) => f.len,
            Chunk::Unframeable(_) => 0,
        }
    }
}

/// The bytes that stand for a file's records while a response is encoded (see
/// [`file_placeholder`]). Zero-initialised, so it takes address space, never memory: nothing
/// reads it.
static FILE_PLACEHOLDER: [u8; MAX_FILE_CHUNK] = [0; MAX_FILE_CHUNK];

/// The largest file range sent as a file chunk; a larger one (a client asking for more than
/// this from one partition) is read into memory.
pub const MAX_FILE_CHUNK: usize = 16 << 20;

/// File ranges from this size on go with `sendfile`; smaller ones are read and written with the
/// response around them (a copy of a few KiB costs less than a second TCP segment).
pub const SENDFILE_FROM: usize = 64 << 10;

/// A stand-in for `len` bytes of a segment file in a message about to be encoded (a Fetch
/// response's `records`): the generated encoder puts it in a chunk of its own, without copying,
/// and [`Response::encode_with_files`] swaps it for the file range. `None` if `len` is 0 or
/// over [`MAX_FILE_CHUNK`].
pub fn file_placeholder(len: usize) -> Option<Bytes> {
    (len > 0 && len <= MAX_FILE_CHUNK).then(|| Bytes::from_static(&FILE_PLACEHOLDER[..len]))
}

fn is_file_placeholder(chunk: &Bytes) -> bool {
    chunk.as_ptr() == FILE_PLACEHOLDER.as_ptr() && !chunk.is_empty()
}

impl Response {
    pub fn encode(
        correlation_id: i32,
        header_version: i16,
        body: &dyn Fn(&mut EncodeBuf),
    ) -> Response {
        Response::encode_with_files(correlation_id, header_version, body, Vec::new())
    }

    /// As [`encode`](Self::encode) for a body holding [`file_placeholder`]s: each, in encoding
    /// order, becomes the file range of the same length in `files`. A placeholder without its
    /// file range (a bug) becomes a range that fails to write, which closes the connection:
    /// never are the placeholder's zeros sent as records.
    pub fn encode_with_files(
        correlation_id: i32,
        header_version: i16,
        body: &dyn Fn(&mut EncodeBuf),
        files: Vec<FileSlice>,
    ) -> Response {
        let mut buf = EncodeBuf::with_capacity(128);
        ResponseHeader { correlation_id }.encode(&mut buf, header_version);
        body(&mut buf);
        let mut files = files.into_iter();
        let framed = match buf.into_frame_chunks() {
            Ok(framed) => framed,
            Err(e) => {
                tracing::error!(error = %e, "response too large for one frame");
                return Response {
                    chunks: vec![Chunk::Unframeable(e)],
                };
            }
        };
        let chunks = framed
            .into_iter()
            .map(|chunk| {
                if !is_file_placeholder(&chunk) {
                    return Chunk::Mem(chunk);
                }
                match files.next() {
                    Some(file) if file.len == chunk.len() && file.len < SENDFILE_FROM => {
                        // Small: read now, so that it leaves with the rest of the response in
                        // one write (one TCP segment, one wake-up of the client).
                        match file.read() {
                            Ok(bytes) if bytes.len() == file.len => Chunk::Mem(bytes),
                            _ => Chunk::File(FileSlice {
                                len: chunk.len(),
                                ..FileSlice::empty()
                            }),
                        }
                    }
                    Some(file) if file.len == chunk.len() => Chunk::File(file),
                    other => {
                        // Cannot happen: the Fetch handler makes one placeholder per file range,
                        // in the order it encodes them. Never send the placeholder's zeros.
                        tracing::error!(
                            expected = chunk.len(),
                            found = other.map(|f| f.len),
                            "file placeholder without its file range"
                        );
                        Chunk::File(FileSlice {
                            len: chunk.len(),
                            ..FileSlice::empty()
                        })
                    }
                }
            })
            .collect();
        Response { chunks }
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The whole frame in one buffer (tests): file ranges are read.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for chunk in &self.chunks {
            match chunk {
                Chunk::Mem(b) => out.extend_from_slice(b),
                Chunk::File(f) => match f.read() {
                    Ok(bytes) if bytes.len() == f.len => out.extend_from_slice(&bytes),
                    _ => out.resize(out.len() + f.len, 0),
                },
                Chunk::Unframeable(_) => {}
            }
        }
        out
    }

    /// Writes the frame: runs of in-memory chunks with vectored writes, file ranges with
    /// `sendfile`, resuming after partial writes. A file range that cannot be sent whole (the
    /// file is shorter than it was: only a damaged disk does that) fails the write, which closes
    /// the connection: the frame cannot be finished.
    pub async fn write_to(self, socket: &mut OwnedWriteHalf) -> std::io::Result<()> {
        if let Some(Chunk::Unframeable(e)) = self.chunks.first() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, *e));
        }
        let mut i = 0;
        while i < self.chunks.len() {
            if let Chunk::File(file) = &self.chunks[i] {
                send_file(socket, file).await?;
                i += 1;
                continue;
            }
            // A run of at most 64 in-memory chunks, written whole before going on.
            let mut slices: Vec<IoSlice<'_>> = self.chunks[i..]
                .iter()
                .take(64)
                .map_while(|c| match c {
                    Chunk::Mem(b) => Some(IoSlice::new(b)),
                    Chunk::File(_) | Chunk::Unframeable(_) => None,
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
async fn send_file(socket: &OwnedWriteHalf, slice: &FileSlice) -> std::io::Result<()> {
    let Some(file) = slice.file.as_deref() else {
        return if slice.len == 0 {
            Ok(())
        } else {
            Err(std::io::Error::other("file range without a file"))
        };
    };
    let stream: &tokio::net::TcpStream = socket.as_ref();
    let mut offset = slice.position;
    let mut remaining = slice.len;
    while remaining > 0 {
        stream.writable().await?;
        let started = std::time::Instant::now();
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut offset), remaining)
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
async fn send_file(socket: &mut OwnedWriteHalf, slice: &FileSlice) -> std::io::Result<()> {
    if slice.len > 0 && slice.file.is_none() {
        return Err(std::io::Error::other("file range without a file"));
    }
    let bytes = slice.read()?;
    if bytes.len() != slice.len {
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
    use crate::protocol::wire::put_records_field;

    /// A file of `len` bytes (a repeating pattern) and a slice of it.
    fn file_slice(len: usize, skip: usize) -> (tempfile::NamedTempFile, FileSlice, Vec<u8>) {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        let data: Vec<u8> = (0..skip + len).map(|i| (i * 7 % 251) as u8).collect();
        tmp.write_all(&data).expect("write");
        let file = Arc::new(tmp.reopen().expect("reopen"));
        let slice = FileSlice {
            file: Some(file),
            position: skip as u64,
            len,
            first_offset: 0,
        };
        (tmp, slice, data[skip..].to_vec())
    }

    /// A body: an i32, a records field, another i32.
    fn body(records: &Bytes) -> impl Fn(&mut EncodeBuf) + '_ {
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
    async fn file_ranges_are_sent_in_place_of_their_placeholders() {
        // Read and written (small), sent with sendfile, and big enough that the socket buffer
        // fills and sendfile resumes several times.
        for len in [1usize, 100, SENDFILE_FROM - 1, SENDFILE_FROM, 3 << 20] {
            let (_tmp, slice, data) = file_slice(len, 13);
            let placeholder = file_placeholder(len).expect("placeholder");
            let response = Response::encode_with_files(7, 0, &body(&placeholder), vec![slice]);
            let expected = expected_frame(&data);
            assert_eq!(response.len(), expected.len());
            assert_eq!(response.to_vec(), expected);
            assert_eq!(written(response).await.expect("written"), expected);
        }
    }

    #[tokio::test]
    async fn a_placeholder_without_its_file_range_is_never_sent() {
        let placeholder = file_placeholder(10).expect("placeholder");
        let response = Response::encode_with_files(7, 0, &body(&placeholder), Vec::new());
        assert!(written(response).await.is_err());
        assert!(file_placeholder(0).is_none());
        assert!(file_placeholder(MAX_FILE_CHUNK + 1).is_none());
    }

    #[tokio::test]
    async fn bytes_that_are_not_placeholders_are_sent_as_they_are() {
        let records = Bytes::from(vec![9u8; 5000]);
        let response = Response::encode(7, 0, &body(&records));
        assert_eq!(
            written(response).await.expect("written"),
            expected_frame(&records)
        );
    }
}
