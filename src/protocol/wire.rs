//! Hand-written runtime for the generated Kafka protocol codec.
//!
//! * Readers take the input as [`Bytes`] (or anything implementing [`Buf`]
//!   for the fixed-width and varint readers, e.g. `&[u8]`). Every length or
//!   count read from the wire is checked against the remaining input before
//!   anything is allocated; `bytes`/`records` fields are zero-copy slices of
//!   the input.
//! * [`EncodeBuf`] is the encode target. Record data and large byte fields
//!   are not copied: they are kept as separate [`Bytes`] chunks so that a
//!   connection can send a response with a vectored write.
//!
//! The generated code in [`crate::protocol::messages`] is built on the
//! `read_*` / `put_*` helpers of this module.

use bytes::{Buf, BufMut, BytesMut};

use crate::protocol::file_range::FileRange;

pub use bytes::Bytes;
pub use uuid::Uuid;

/// Byte fields at least this long are appended to an [`EncodeBuf`] as shared
/// chunks instead of being copied.
pub const SHARE_THRESHOLD: usize = 1024;

/// Most elements an array decoder reserves room for up front.
const MAX_PREALLOC: usize = 1024;

/// Why a message could not be decoded.
/// Data too long for a Kafka frame's int32 size prefix.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("{0} bytes do not fit a frame's int32 size")]
pub struct FrameTooLarge(pub usize);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before a fixed-size value.
    #[error("truncated input: needed {needed} bytes, {remaining} remaining")]
    Truncated { needed: usize, remaining: usize },
    /// A negative length or count where that is not allowed.
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// A length or count that cannot fit in the remaining input.
    #[error("length {length} exceeds the {remaining} remaining bytes")]
    LengthExceedsRemaining { length: u64, remaining: usize },
    /// A varint longer than its type allows.
    #[error("varint overflow")]
    VarintOverflow,
    /// A string that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A null in a version where the field is not nullable.
    #[error("null value for non-nullable field {field}")]
    NullNotAllowed { field: &'static str },
    /// The message does not support (or we do not decode) this version.
    #[error("unsupported version {version} for API key {api_key}")]
    UnsupportedVersion { api_key: i16, version: i16 },
    /// An API key we do not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
}

type Result<T> = std::result::Result<T, DecodeError>;

// ---------------------------------------------------------------------------
// Fixed-width readers
// ---------------------------------------------------------------------------

#[inline]
fn need<B: Buf>(buf: &B, needed: usize) -> Result<()> {
    let remaining = buf.remaining();
    if remaining < needed {
        Err(DecodeError::Truncated { needed, remaining })
    } else {
        Ok(())
    }
}

#[inline]
fn check_len<B: Buf>(buf: &B, length: u64) -> Result<usize> {
    let remaining = buf.remaining();
    if length > remaining as u64 {
        Err(DecodeError::LengthExceedsRemaining { length, remaining })
    } else {
        // `length <= remaining`, so it fits in usize.
        Ok(length as usize)
    }
}

macro_rules! fixed_reader {
    ($(#[$doc:meta] $name:ident -> $ty:ty, $size:expr, $get:ident;)*) => {
        $(
            #[$doc]
            #[inline]
            pub fn $name<B: Buf>(buf: &mut B) -> Result<$ty> {
                need(buf, $size)?;
                Ok(buf.$get())
            }
        )*
    };
}

fixed_reader! {
    /// Reads an int8.
    read_i8 -> i8, 1, get_i8;
    /// Reads an unsigned byte.
    read_u8 -> u8, 1, get_u8;
    /// Reads a big-endian int16.
    read_i16 -> i16, 2, get_i16;
    /// Reads a big-endian uint16.
    read_u16 -> u16, 2, get_u16;
    /// Reads a big-endian int32.
    read_i32 -> i32, 4, get_i32;
    /// Reads a big-endian uint32.
    read_u32 -> u32, 4, get_u32;
    /// Reads a big-endian int64.
    read_i64 -> i64, 8, get_i64;
    /// Reads a big-endian IEEE-754 float64.
    read_f64 -> f64, 8, get_f64;
}

/// Reads a boolean (one byte, non-zero is true).
#[inline]
pub fn read_bool<B: Buf>(buf: &mut B) -> Result<bool> {
    Ok(read_u8(buf)? != 0)
}

/// Reads a UUID as 16 raw bytes.
#[inline]
pub fn read_uuid<B: Buf>(buf: &mut B) -> Result<Uuid> {
    need(buf, 16)?;
    let mut raw = [0u8; 16];
    buf.copy_to_slice(&mut raw);
    Ok(Uuid::from_bytes(raw))
}

// ---------------------------------------------------------------------------
// Varints
// ---------------------------------------------------------------------------

/// Reads an unsigned varint of at most 32 bits (at most 5 bytes).
pub fn read_uvarint<B: Buf>(buf: &mut B) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = read_u8(buf)?;
        let bits = u32::from(byte & 0x7f);
        if i == 4 && (byte & 0xf0) != 0 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintOverflow)
}

/// Reads an unsigned varint of at most 64 bits (at most 10 bytes).
pub fn read_uvarlong<B: Buf>(buf: &mut B) -> Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = read_u8(buf)?;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && (byte & 0xfe) != 0 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintOverflow)
}

/// Reads a zigzag-encoded signed varint (int32), as used in record batches.
pub fn read_varint<B: Buf>(buf: &mut B) -> Result<i32> {
    let raw = read_uvarint(buf)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zigzag-encoded signed varlong (int64), as used in record batches.
pub fn read_varlong<B: Buf>(buf: &mut B) -> Result<i64> {
    let raw = read_uvarlong(buf)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Writes an unsigned varint.
pub fn put_uvarint<B: BufMut>(buf: &mut B, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Writes an unsigned varlong.
pub fn put_uvarlong<B: BufMut>(buf: &mut B, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Writes a zigzag-encoded signed varint (int32).
pub fn put_varint<B: BufMut>(buf: &mut B, value: i32) {
    put_uvarint(buf, ((value << 1) ^ (value >> 31)) as u32);
}

/// Writes a zigzag-encoded signed varlong (int64).
pub fn put_varlong<B: BufMut>(buf: &mut B, value: i64) {
    put_uvarlong(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// Encoded size of an unsigned varint.
pub fn uvarint_len(value: u32) -> usize {
    uvarlong_len(u64::from(value))
}

/// Encoded size of an unsigned varlong.
pub fn uvarlong_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Encoded size of a zigzag varint.
pub fn varint_len(value: i32) -> usize {
    uvarint_len(((value << 1) ^ (value >> 31)) as u32)
}

/// Encoded size of a zigzag varlong.
pub fn varlong_len(value: i64) -> usize {
    uvarlong_len(((value << 1) ^ (value >> 63)) as u64)
}

// ---------------------------------------------------------------------------
// Length prefixes, strings, bytes, arrays
// ---------------------------------------------------------------------------

/// Reads the length prefix of a string (`wide == false`, int16 when not
/// flexible) or of bytes/records (`wide == true`, int32 when not flexible).
/// Returns `None` for null. The length is checked against the remaining
/// input.
pub fn read_length(buf: &mut Bytes, flexible: bool, wide: bool) -> Result<Option<usize>> {
    let length: u64 = if flexible {
        match read_uvarint(buf)? {
            0 => return Ok(None),
            n => u64::from(n - 1),
        }
    } else {
        let n = if wide {
            read_i32(buf)?
        } else {
            i32::from(read_i16(buf)?)
        };
        match n {
            -1 => return Ok(None),
            n if n < 0 => return Err(DecodeError::InvalidLength(n.into())),
            n => n as u64,
        }
    };
    check_len(buf, length).map(Some)
}

fn read_opt_str(buf: &mut Bytes, flexible: bool) -> Result<Option<String>> {
    match read_length(buf, flexible, false)? {
        None => Ok(None),
        Some(len) => {
            let raw = buf.split_to(len);
            match std::str::from_utf8(&raw) {
                Ok(s) => Ok(Some(s.to_owned())),
                Err(_) => Err(DecodeError::InvalidUtf8),
            }
        }
    }
}

/// Reads a non-nullable string (classic int16 length, or compact).
pub fn read_string(buf: &mut Bytes, flexible: bool, field: &'static str) -> Result<String> {
    read_opt_str(buf, flexible)?.ok_or(DecodeError::NullNotAllowed { field })
}

/// Reads a string field that is nullable in some versions. When `nullable`
/// is false for this version, null is an error.
pub fn read_opt_string(
    buf: &mut Bytes,
    flexible: bool,
    nullable: bool,
    field: &'static str,
) -> Result<Option<String>> {
    match read_opt_str(buf, flexible)? {
        None if !nullable => Err(DecodeError::NullNotAllowed { field }),
        other => Ok(other),
    }
}

/// Reads a non-nullable `bytes` or `records` field (zero-copy).
pub fn read_bytes(buf: &mut Bytes, flexible: bool, field: &'static str) -> Result<Bytes> {
    match read_length(buf, flexible, true)? {
        None => Err(DecodeError::NullNotAllowed { field }),
        Some(len) => Ok(buf.split_to(len)),
    }
}

/// Reads a `bytes` or `records` field that is nullable in some versions
/// (zero-copy).
pub fn read_opt_bytes(
    buf: &mut Bytes,
    flexible: bool,
    nullable: bool,
    field: &'static str,
) -> Result<Option<Bytes>> {
    match read_length(buf, flexible, true)? {
        None if !nullable => Err(DecodeError::NullNotAllowed { field }),
        None => Ok(None),
        Some(len) => Ok(Some(buf.split_to(len))),
    }
}

/// Reads an array count (int32, or compact uvarint count+1). Returns `None`
/// for null. `min_elem` is the smallest encoded size of one element; the
/// count times that size must fit in the remaining input.
pub fn read_array_len(buf: &mut Bytes, flexible: bool, min_elem: usize) -> Result<Option<usize>> {
    let count: u64 = if flexible {
        match read_uvarint(buf)? {
            0 => return Ok(None),
            n => u64::from(n - 1),
        }
    } else {
        match read_i32(buf)? {
            -1 => return Ok(None),
            n if n < 0 => return Err(DecodeError::InvalidLength(n.into())),
            n => n as u64,
        }
    };
    let remaining = buf.remaining();
    if count.saturating_mul(min_elem.max(1) as u64) > remaining as u64 {
        return Err(DecodeError::LengthExceedsRemaining {
            length: count,
            remaining,
        });
    }
    Ok(Some(count as usize))
}

fn read_elems<T, F>(buf: &mut Bytes, count: usize, mut elem: F) -> Result<Vec<T>>
where
    F: FnMut(&mut Bytes) -> Result<T>,
{
    // `count` was checked against the remaining input by `read_array_len`.
    // The pre-allocation is capped as well: an element takes at least one
    // byte on the wire but may be much larger in memory, so memory grows
    // with the elements actually decoded, not with the claimed count.
    let mut out = Vec::with_capacity(count.min(MAX_PREALLOC));
    for _ in 0..count {
        out.push(elem(buf)?);
    }
    Ok(out)
}

/// Reads a non-nullable array.
pub fn read_array<T, F>(
    buf: &mut Bytes,
    flexible: bool,
    min_elem: usize,
    field: &'static str,
    elem: F,
) -> Result<Vec<T>>
where
    F: FnMut(&mut Bytes) -> Result<T>,
{
    match read_array_len(buf, flexible, min_elem)? {
        None => Err(DecodeError::NullNotAllowed { field }),
        Some(count) => read_elems(buf, count, elem),
    }
}

/// Reads an array field that is nullable in some versions.
pub fn read_opt_array<T, F>(
    buf: &mut Bytes,
    flexible: bool,
    nullable: bool,
    min_elem: usize,
    field: &'static str,
    elem: F,
) -> Result<Option<Vec<T>>>
where
    F: FnMut(&mut Bytes) -> Result<T>,
{
    match read_array_len(buf, flexible, min_elem)? {
        None if !nullable => Err(DecodeError::NullNotAllowed { field }),
        None => Ok(None),
        Some(count) => read_elems(buf, count, elem).map(Some),
    }
}

/// Reads a struct field that is nullable in some versions. In nullable
/// versions the struct is preceded by an int8 marker (negative = null).
pub fn read_opt_struct<T, F>(buf: &mut Bytes, nullable: bool, read: F) -> Result<Option<T>>
where
    F: FnOnce(&mut Bytes) -> Result<T>,
{
    if nullable && read_i8(buf)? < 0 {
        return Ok(None);
    }
    read(buf).map(Some)
}

/// Reads a tagged-field section, calling `field(tag, payload)` for every
/// entry. The payload is a zero-copy slice holding exactly the entry's bytes;
/// entries the callback does not recognise are thereby skipped.
pub fn read_tagged_fields<F>(buf: &mut Bytes, mut field: F) -> Result<()>
where
    F: FnMut(u32, &mut Bytes) -> Result<()>,
{
    let count = read_uvarint(buf)?;
    for _ in 0..count {
        let tag = read_uvarint(buf)?;
        let size = read_uvarint(buf)?;
        let size = check_len(buf, u64::from(size))?;
        let mut payload = buf.split_to(size);
        field(tag, &mut payload)?;
    }
    Ok(())
}

/// Skips a tagged-field section.
pub fn skip_tagged_fields(buf: &mut Bytes) -> Result<()> {
    read_tagged_fields(buf, |_, _| Ok(()))
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Encode target: a list of chunks. Small values are accumulated in a [`BytesMut`]; record
/// data and large byte fields are appended as shared chunks without copying, and a file range
/// standing for records ([`FileRange`]) as a chunk of its own, for the transport to send from
/// the file.
#[derive(Debug, Default)]
pub struct EncodeBuf {
    chunks: Vec<Chunk>,
    frozen_len: usize,
    cur: BytesMut,
}

/// One piece of an encoded message.
#[derive(Debug, Clone)]
pub enum Chunk {
    Mem(Bytes),
    File(FileRange),
}

impl Chunk {
    /// The number of bytes the chunk stands for.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Mem(bytes) => bytes.len(),
            Chunk::File(range) => range.len,
        }
    }

    /// True when the chunk stands for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The type of a `records` field in a message being encoded: [`Bytes`], or
/// [`Records`](crate::protocol::records::Records) that may stand for a file range.
pub trait RecordsField: Clone + std::fmt::Debug + PartialEq + Default {
    /// The number of record bytes.
    fn records_len(&self) -> usize;
    /// Appends the record bytes (no length prefix).
    fn put_records_data(&self, buf: &mut EncodeBuf);
    /// True when there are no record bytes.
    fn is_empty(&self) -> bool {
        self.records_len() == 0
    }
}

impl RecordsField for Bytes {
    fn records_len(&self) -> usize {
        self.len()
    }

    fn put_records_data(&self, buf: &mut EncodeBuf) {
        buf.put_records(self);
    }
}

impl EncodeBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty buffer whose first chunk has room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            chunks: Vec::new(),
            frozen_len: 0,
            cur: BytesMut::with_capacity(capacity),
        }
    }

    /// Total number of bytes written so far.
    pub fn len(&self) -> usize {
        self.frozen_len + self.cur.len()
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes an int8.
    pub fn put_i8(&mut self, v: i8) {
        self.cur.put_i8(v);
    }
    /// Writes a byte.
    pub fn put_u8(&mut self, v: u8) {
        self.cur.put_u8(v);
    }
    /// Writes a big-endian int16.
    pub fn put_i16(&mut self, v: i16) {
        self.cur.put_i16(v);
    }
    /// Writes a big-endian uint16.
    pub fn put_u16(&mut self, v: u16) {
        self.cur.put_u16(v);
    }
    /// Writes a big-endian int32.
    pub fn put_i32(&mut self, v: i32) {
        self.cur.put_i32(v);
    }
    /// Writes a big-endian uint32.
    pub fn put_u32(&mut self, v: u32) {
        self.cur.put_u32(v);
    }
    /// Writes a big-endian int64.
    pub fn put_i64(&mut self, v: i64) {
        self.cur.put_i64(v);
    }
    /// Writes a big-endian IEEE-754 float64.
    pub fn put_f64(&mut self, v: f64) {
        self.cur.put_f64(v);
    }
    /// Writes a boolean as one byte (0 or 1).
    pub fn put_bool(&mut self, v: bool) {
        self.cur.put_u8(u8::from(v));
    }
    /// Writes a UUID as 16 raw bytes.
    pub fn put_uuid(&mut self, v: Uuid) {
        self.cur.put_slice(v.as_bytes());
    }
    /// Writes an unsigned varint.
    pub fn put_uvarint(&mut self, v: u32) {
        put_uvarint(&mut self.cur, v);
    }
    /// Writes a zigzag varint.
    pub fn put_varint(&mut self, v: i32) {
        put_varint(&mut self.cur, v);
    }
    /// Writes a zigzag varlong.
    pub fn put_varlong(&mut self, v: i64) {
        put_varlong(&mut self.cur, v);
    }
    /// Copies `data` into the buffer.
    pub fn put_slice(&mut self, data: &[u8]) {
        self.cur.put_slice(data);
    }

    /// Ends the chunk being filled, so that what follows goes into a chunk of its own.
    fn cut(&mut self) {
        if !self.cur.is_empty() {
            let head = self.cur.split().freeze();
            self.frozen_len += head.len();
            self.chunks.push(Chunk::Mem(head));
        }
    }

    /// Appends `data` as its own chunk, without copying it.
    pub fn put_shared(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.cut();
        self.frozen_len += data.len();
        self.chunks.push(Chunk::Mem(data));
    }

    /// Appends a file range as its own chunk: the bytes stay in the file.
    pub fn put_file(&mut self, range: FileRange) {
        if range.len == 0 {
            return;
        }
        self.cut();
        self.frozen_len += range.len;
        self.chunks.push(Chunk::File(range));
    }

    /// Appends record data (no length prefix) without copying it.
    pub fn put_records(&mut self, data: &Bytes) {
        self.put_shared(data.clone());
    }

    /// Appends byte-field data (no length prefix): shared when it is at
    /// least [`SHARE_THRESHOLD`] long, copied otherwise.
    pub fn put_bytes_data(&mut self, data: &Bytes) {
        if data.len() >= SHARE_THRESHOLD {
            self.put_shared(data.clone());
        } else {
            self.cur.put_slice(data);
        }
    }

    /// Appends everything written to `other`, keeping its large chunks
    /// shared and its file ranges as they are.
    pub fn append(&mut self, other: EncodeBuf) {
        for chunk in other.into_chunks() {
            match chunk {
                Chunk::Mem(bytes) => self.put_bytes_data(&bytes),
                Chunk::File(range) => self.put_file(range),
            }
        }
    }

    /// The written data as a list of chunks, in order.
    pub fn into_chunks(mut self) -> Vec<Chunk> {
        if !self.cur.is_empty() {
            self.chunks.push(Chunk::Mem(self.cur.freeze()));
        }
        self.chunks
    }

    /// The written data as a list of chunks, preceded by a chunk holding
    /// the int32 size of the data (a Kafka frame).
    ///
    /// Data longer than `i32::MAX` bytes cannot be framed: it is an error, never a clamped size
    /// (which would desynchronise the stream for the peer).
    pub fn into_frame_chunks(self) -> std::result::Result<Vec<Chunk>, FrameTooLarge> {
        let len = self.len();
        let size = i32::try_from(len).map_err(|_| FrameTooLarge(len))?;
        let mut out = Vec::with_capacity(self.chunks.len() + 2);
        out.push(Chunk::Mem(Bytes::copy_from_slice(&size.to_be_bytes())));
        out.extend(self.into_chunks());
        Ok(out)
    }

    /// The written data as one contiguous buffer (copies when there is more
    /// than one chunk). For messages held in memory (stored group and metadata
    /// values, test fixtures): none has a file range, and one found is left out
    /// with an error logged — a message with records in files goes to the
    /// transport through [`EncodeBuf::into_frame_chunks`].
    pub fn to_bytes(self) -> Bytes {
        let mut chunks = self.into_chunks();
        if let [Chunk::Mem(_)] = chunks.as_slice() {
            if let Some(Chunk::Mem(only)) = chunks.pop() {
                return only;
            }
        }
        let total = chunks.iter().map(Chunk::len).sum();
        let mut out = BytesMut::with_capacity(total);
        for chunk in &chunks {
            match chunk {
                Chunk::Mem(bytes) => out.put_slice(bytes),
                Chunk::File(range) => {
                    tracing::error!(len = range.len, "file range in an in-memory encoding");
                }
            }
        }
        out.freeze()
    }
}

fn put_len(buf: &mut EncodeBuf, flexible: bool, wide: bool, len: usize) {
    if flexible {
        buf.put_uvarint(u32::try_from(len).map_or(u32::MAX, |n| n.saturating_add(1)));
    } else if wide {
        buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
    } else {
        buf.put_i16(i16::try_from(len).unwrap_or(i16::MAX));
    }
}

fn put_null(buf: &mut EncodeBuf, flexible: bool, wide: bool) {
    if flexible {
        buf.put_uvarint(0);
    } else if wide {
        buf.put_i32(-1);
    } else {
        buf.put_i16(-1);
    }
}

/// Writes a string. A classic (int16-length) string longer than 32767 bytes
/// cannot be represented; it is cut to that length so that the frame stays
/// well-formed.
pub fn put_string(buf: &mut EncodeBuf, flexible: bool, s: &str) {
    let data = s.as_bytes();
    let data = if flexible {
        data
    } else {
        &data[..data.len().min(i16::MAX as usize)]
    };
    put_len(buf, flexible, false, data.len());
    buf.put_slice(data);
}

/// Writes a string field that may be null. `None` is written as null when
/// `nullable` (for this version), else as an empty string.
pub fn put_opt_string(buf: &mut EncodeBuf, flexible: bool, nullable: bool, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, flexible, s),
        None if nullable => put_null(buf, flexible, false),
        None => put_string(buf, flexible, ""),
    }
}

/// Writes a `bytes` field (shared when large).
pub fn put_bytes_field(buf: &mut EncodeBuf, flexible: bool, data: &Bytes) {
    put_len(buf, flexible, true, data.len());
    buf.put_bytes_data(data);
}

/// Writes a `bytes` field that may be null (see [`put_opt_string`]).
pub fn put_opt_bytes_field(
    buf: &mut EncodeBuf,
    flexible: bool,
    nullable: bool,
    data: Option<&Bytes>,
) {
    match data {
        Some(data) => put_bytes_field(buf, flexible, data),
        None if nullable => put_null(buf, flexible, true),
        None => put_len(buf, flexible, true, 0),
    }
}

/// Writes a `records` field; the record data is never copied.
pub fn put_records_field<R: RecordsField>(buf: &mut EncodeBuf, flexible: bool, data: &R) {
    put_len(buf, flexible, true, data.records_len());
    data.put_records_data(buf);
}

/// Writes a `records` field that may be null (see [`put_opt_string`]).
pub fn put_opt_records_field<R: RecordsField>(
    buf: &mut EncodeBuf,
    flexible: bool,
    nullable: bool,
    data: Option<&R>,
) {
    match data {
        Some(data) => put_records_field(buf, flexible, data),
        None if nullable => put_null(buf, flexible, true),
        None => put_len(buf, flexible, true, 0),
    }
}

/// Writes an array: its count, then every element with `elem`.
pub fn put_array<T, F>(buf: &mut EncodeBuf, flexible: bool, items: &[T], mut elem: F)
where
    F: FnMut(&mut EncodeBuf, &T),
{
    if flexible {
        buf.put_uvarint(u32::try_from(items.len()).map_or(u32::MAX, |n| n.saturating_add(1)));
    } else {
        buf.put_i32(i32::try_from(items.len()).unwrap_or(i32::MAX));
    }
    for item in items {
        elem(buf, item);
    }
}

/// Writes an array field that may be null (see [`put_opt_string`]).
pub fn put_opt_array<T, F>(
    buf: &mut EncodeBuf,
    flexible: bool,
    nullable: bool,
    items: Option<&[T]>,
    elem: F,
) where
    F: FnMut(&mut EncodeBuf, &T),
{
    match items {
        Some(items) => put_array(buf, flexible, items, elem),
        None if nullable => {
            if flexible {
                buf.put_uvarint(0);
            } else {
                buf.put_i32(-1);
            }
        }
        None => put_array::<T, F>(buf, flexible, &[], elem),
    }
}

/// Writes a struct field that may be null. In nullable versions an int8
/// marker precedes it (-1 null, 1 present); in other versions `None` is
/// written as the struct's default.
pub fn put_opt_struct<T, F>(buf: &mut EncodeBuf, nullable: bool, value: Option<&T>, write: F)
where
    T: Default,
    F: FnOnce(&mut EncodeBuf, &T),
{
    match value {
        Some(value) => {
            if nullable {
                buf.put_i8(1);
            }
            write(buf, value);
        }
        None if nullable => buf.put_i8(-1),
        None => write(buf, &T::default()),
    }
}

/// Collects the tagged fields of one struct, then writes the section.
#[derive(Debug, Default)]
pub struct TaggedFields {
    fields: Vec<(u32, EncodeBuf)>,
}

impl TaggedFields {
    /// An empty section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field; call in ascending tag order.
    pub fn add<F: FnOnce(&mut EncodeBuf)>(&mut self, tag: u32, write: F) {
        let mut payload = EncodeBuf::new();
        write(&mut payload);
        self.fields.push((tag, payload));
    }

    /// Writes the section: count, then `(tag, size, payload)` entries.
    pub fn finish(self, buf: &mut EncodeBuf) {
        buf.put_uvarint(u32::try_from(self.fields.len()).unwrap_or(u32::MAX));
        for (tag, payload) in self.fields {
            buf.put_uvarint(tag);
            buf.put_uvarint(u32::try_from(payload.len()).unwrap_or(u32::MAX));
            buf.append(payload);
        }
    }
}

/// Helpers for the generated round-trip tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The chunks of an encoding that holds no file range, as bytes.
    pub fn in_memory(chunks: Vec<Chunk>) -> Vec<Bytes> {
        chunks
            .into_iter()
            .map(|chunk| match chunk {
                Chunk::Mem(bytes) => bytes,
                Chunk::File(_) => panic!("no file range was written"),
            })
            .collect()
    }

    /// Record data for examples: large enough to be a shared chunk.
    pub fn example_records() -> Bytes {
        Bytes::from((0..1500u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
    }

    /// Encodes `value`, checks the length bookkeeping, decodes it back and
    /// compares; then checks that every truncation of the encoding fails to
    /// decode (a sample of them for large encodings).
    pub fn check_round_trip<T, E, D>(value: &T, version: i16, encode: E, decode: D)
    where
        T: PartialEq + std::fmt::Debug,
        E: Fn(&T, &mut EncodeBuf, i16),
        D: Fn(&mut Bytes, i16) -> Result<T>,
    {
        let mut buf = EncodeBuf::new();
        encode(value, &mut buf, version);
        let len = buf.len();
        let chunks = buf.into_chunks();
        assert_eq!(
            len,
            chunks.iter().map(Chunk::len).sum::<usize>(),
            "v{version}"
        );
        let mut joined = Vec::with_capacity(len);
        for chunk in &chunks {
            match chunk {
                Chunk::Mem(bytes) => joined.extend_from_slice(bytes),
                Chunk::File(_) => panic!("v{version}: an example value holds no file range"),
            }
        }
        let encoded = Bytes::from(joined);

        let mut input = encoded.clone();
        assert_eq!(
            decode(&mut input, version).as_ref(),
            Ok(value),
            "v{version}"
        );
        assert_eq!(input.len(), 0, "v{version}: trailing bytes");

        let step = (len / 300).max(1);
        let mut cut = 0;
        while cut < len {
            let mut prefix = encoded.slice(..cut);
            assert!(
                decode(&mut prefix, version).is_err(),
                "v{version}: a {cut}-byte prefix of {len} decoded"
            );
            cut += if cut + step >= len { 1 } else { step };
        }

        // Corrupted encodings must decode to something or fail, never
        // panic: overwrite single bytes with a few interesting values.
        let mut pos = 0;
        while pos < len {
            for byte in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] {
                let mut corrupt = encoded.to_vec();
                corrupt[pos] = byte;
                let _ = decode(&mut Bytes::from(corrupt), version);
            }
            pos += step.max(3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_sizes() {
        for v in [
            0u32,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            0x0fff_ffff,
            u32::MAX,
        ] {
            let mut out = BytesMut::new();
            put_uvarint(&mut out, v);
            assert_eq!(out.len(), uvarint_len(v));
            let mut slice: &[u8] = &out;
            assert_eq!(read_uvarint(&mut slice), Ok(v));
            assert!(slice.is_empty());
            let mut bytes = out.freeze();
            assert_eq!(read_uvarint(&mut bytes), Ok(v));
        }
        let mut b: &[u8] = &[0x9b, 0x01];
        assert_eq!(read_uvarint(&mut b), Ok(155));
    }

    #[test]
    fn varint_zigzag() {
        for v in [0i32, -1, 1, -64, 63, 64, i32::MIN, i32::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(read_varint(&mut out.as_slice()), Ok(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 1_726_045_973_899] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v));
            assert_eq!(read_varlong(&mut out.as_slice()), Ok(v));
        }
        // -1 is encoded as 01, as in a null record key.
        let mut out = Vec::new();
        put_varint(&mut out, -1);
        assert_eq!(out, [0x01]);
    }

    #[test]
    fn varint_overflow_and_truncation() {
        let mut b: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_uvarint(&mut b), Err(DecodeError::VarintOverflow));
        let mut b: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(read_uvarint(&mut b), Err(DecodeError::VarintOverflow));
        let mut b: &[u8] = &[0xff, 0xff];
        assert!(matches!(
            read_uvarint(&mut b),
            Err(DecodeError::Truncated { .. })
        ));
        let mut b: &[u8] = &[0xff; 11];
        assert_eq!(read_varlong(&mut b), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn huge_counts_fail_without_allocating() {
        // uvarint 0x0FFFFFFF as a compact array count, then 3 bytes.
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
        let r = read_array(&mut b, true, 4, "x", read_i32);
        assert_eq!(
            r,
            Err(DecodeError::LengthExceedsRemaining {
                length: 0x0fff_fffe,
                remaining: 3
            })
        );
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(
            read_array(&mut b, false, 1, "x", read_i8),
            Err(DecodeError::LengthExceedsRemaining { .. })
        ));
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(
            read_array(&mut b, false, 1, "x", read_i8),
            Err(DecodeError::InvalidLength(-2))
        );
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(
            read_bytes(&mut b, false, "x"),
            Err(DecodeError::LengthExceedsRemaining { .. })
        ));
        let mut b = Bytes::from_static(&[0x00, 0x05, b'a']);
        assert!(matches!(
            read_string(&mut b, false, "x"),
            Err(DecodeError::LengthExceedsRemaining { .. })
        ));
        // Tag section claiming a huge entry.
        let mut b = Bytes::from_static(&[0x01, 0x00, 0xff, 0xff, 0x03, 0x00]);
        assert!(matches!(
            skip_tagged_fields(&mut b),
            Err(DecodeError::LengthExceedsRemaining { .. })
        ));
        // Tag section claiming a huge count.
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0x7f, 0x00]);
        assert!(matches!(
            skip_tagged_fields(&mut b),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn strings_and_nulls() {
        let mut b = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(read_opt_string(&mut b, false, true, "x"), Ok(None));
        let mut b = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(
            read_string(&mut b, false, "x"),
            Err(DecodeError::NullNotAllowed { field: "x" })
        );
        let mut b = Bytes::from_static(&[0x00]);
        assert_eq!(
            read_opt_string(&mut b, true, false, "y"),
            Err(DecodeError::NullNotAllowed { field: "y" })
        );
        let mut b = Bytes::from_static(&[0x03, 0xc3, 0x28]);
        assert_eq!(
            read_string(&mut b, true, "x"),
            Err(DecodeError::InvalidUtf8)
        );
        let mut b = Bytes::from_static(&[0xff, 0xfe]);
        assert_eq!(
            read_string(&mut b, false, "x"),
            Err(DecodeError::InvalidLength(-2))
        );

        let mut out = EncodeBuf::new();
        put_opt_string(&mut out, true, true, None);
        put_opt_string(&mut out, true, false, None);
        put_opt_string(&mut out, false, true, None);
        put_opt_string(&mut out, false, false, None);
        put_string(&mut out, true, "ab");
        assert_eq!(
            out.to_bytes().as_ref(),
            &[0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0x03, b'a', b'b']
        );
    }

    #[test]
    fn encode_buf_shares_large_data() {
        let big = Bytes::from(vec![7u8; 4096]);
        let small = Bytes::from_static(b"tiny");
        let mut out = EncodeBuf::new();
        out.put_i32(1);
        put_records_field(&mut out, true, &big);
        out.put_i16(2);
        put_bytes_field(&mut out, false, &small);
        put_bytes_field(&mut out, false, &big);
        assert_eq!(out.len(), 4 + 2 + 4096 + 2 + 4 + 4 + 4 + 4096);
        let chunks = testing::in_memory(out.into_chunks());
        assert_eq!(chunks.len(), 4);
        // The big payloads are the very same allocation, not copies.
        assert_eq!(chunks[1].as_ptr(), big.as_ptr());
        assert_eq!(chunks[3].as_ptr(), big.as_ptr());
        assert_eq!(chunks[0].as_ref(), &[0, 0, 0, 1, 0x81, 0x20]);

        let mut framed = EncodeBuf::new();
        framed.put_i32(7);
        let chunks = testing::in_memory(framed.into_frame_chunks().expect("4 bytes fit a frame"));
        assert_eq!(chunks[0].as_ref(), &[0, 0, 0, 4]);
        assert_eq!(chunks[1].as_ref(), &[0, 0, 0, 7]);
    }

    #[test]
    fn tagged_fields_section() {
        let mut out = EncodeBuf::new();
        let mut tags = TaggedFields::new();
        tags.add(0, |b| b.put_i32(5));
        tags.add(3, |b| put_string(b, true, "x"));
        tags.finish(&mut out);
        let bytes = out.to_bytes();
        assert_eq!(bytes.as_ref(), &[2, 0, 4, 0, 0, 0, 5, 3, 2, 2, b'x']);
        let mut input = bytes;
        let mut seen = Vec::new();
        read_tagged_fields(&mut input, |tag, payload| {
            seen.push((tag, payload.len()));
            Ok(())
        })
        .ok();
        assert_eq!(seen, vec![(0, 4), (3, 2)]);
        assert!(input.is_empty());
    }
}
