//! Record batches, magic v2: a view over the 61-byte header, a record decoder for the few places
//! that must look inside a batch (the KRaft metadata log, `dump-log`), and a builder for batches we
//! write ourselves.
//!
//! The broker treats records as opaque: Produce validates the header and the CRC, rewrites
//! `baseOffset` in place and stores the bytes; Fetch serves them unchanged.
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            rewritten on append; not covered by the CRC
//!      8     4  batchLength           bytes after this field (= total - 12)
//!     12     4  partitionLeaderEpoch  not covered by the CRC
//!     16     1  magic                 2
//!     17     4  crc                   CRC-32C of bytes 21..end
//!     21     2  attributes            bits 0-2 compression, 3 timestamp type,
//!                                     4 transactional, 5 control, 6 delete horizon
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordCount
//!     61     …  records (possibly compressed)
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::protocol::wire::{self, DecodeError};

/// Size of the fixed batch header.
pub const BATCH_HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the bytes in front of the length-counted part of a batch.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength`: the header after the length field, with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;

const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;

/// A record or batch timestamp that is not set (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;
/// The batch's `baseTimestamp` is its delete horizon, set by the log cleaner (KIP-534): its
/// tombstones may be removed once that time has passed.
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// Why a batch was refused. Each maps onto one Kafka error code (see [`BatchError::error_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("unsupported magic {0} (only magic 2 is accepted)")]
    UnsupportedMagic(i8),
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record count {count} does not match lastOffsetDelta {last_offset_delta}")]
    CountMismatch { count: i32, last_offset_delta: i32 },
    #[error("malformed record: {0}")]
    MalformedRecord(&'static str),
    #[error("compressed batches (codec {0}) cannot be decoded here")]
    Compressed(i16),
}

impl BatchError {
    /// The Kafka error code a producer receives for this problem.
    pub fn error_code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            BatchError::UnsupportedMagic(_) => ErrorCode::UnsupportedForMessageFormat,
            BatchError::CountMismatch { .. } | BatchError::MalformedRecord(_) => {
                ErrorCode::InvalidRecord
            }
            BatchError::Compressed(_) => ErrorCode::InvalidRecord,
            BatchError::Truncated { .. }
            | BatchError::InvalidLength(_)
            | BatchError::CrcMismatch { .. } => ErrorCode::CorruptMessage,
        }
    }
}

/// The decoded fixed header of one batch. Parsing reads only the first 61 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header at the start of `buf`. Checks the magic byte and that `batchLength` is
    /// at least a header; does not look at the CRC or at the records.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < MAGIC_OFFSET + 1 {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if buf.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        }
        let mut b = &buf[..BATCH_HEADER_LEN];
        let header = BatchHeader {
            base_offset: b.get_i64(),
            batch_length: b.get_i32(),
            partition_leader_epoch: b.get_i32(),
            magic: b.get_i8(),
            crc: b.get_u32(),
            attributes: b.get_i16(),
            last_offset_delta: b.get_i32(),
            base_timestamp: b.get_i64(),
            max_timestamp: b.get_i64(),
            producer_id: b.get_i64(),
            producer_epoch: b.get_i16(),
            base_sequence: b.get_i32(),
            record_count: b.get_i32(),
        };
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength(header.batch_length));
        }
        Ok(header)
    }

    /// Bytes the whole batch occupies, length prefix included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// The offset of the last record. `baseOffset` is not covered by the CRC, so a damaged one
    /// near i64::MAX saturates rather than overflowing.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// The delete horizon the log cleaner stamped (the base timestamp, when the attribute is
    /// set).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & ATTR_DELETE_HORIZON != 0).then_some(self.base_timestamp)
    }

    /// A producer id is set (idempotent or transactional producer).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// The sequence number of the last record (wrapping as Kafka's does).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// CRC-32C over `attributes..end` of a complete batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Full validation of one complete batch at the start of `buf` (which may hold more after it):
/// header, length within `buf`, CRC-32C, and the record count against `lastOffsetDelta`.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    let total = header.total_len();
    if buf.len() < total {
        return Err(BatchError::Truncated {
            needed: total,
            available: buf.len(),
        });
    }
    let computed = compute_crc(&buf[..total]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::CountMismatch {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Validation for a batch a producer sent: on top of [`validate`], the record count must match
/// `lastOffsetDelta` (producers never send compacted batches) and the batch must hold records.
pub fn validate_produced(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = validate(buf)?;
    // `lastOffsetDelta` may be i32::MAX on the wire: compare without overflowing.
    if header.record_count == 0
        || Some(header.record_count) != header.last_offset_delta.checked_add(1)
    {
        return Err(BatchError::CountMismatch {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Rewrites `baseOffset` (outside the CRC, so the CRC stays valid).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Rewrites `partitionLeaderEpoch` (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Turns a batch into a LogAppendTime batch stamped `now_ms`: sets the timestamp-type attribute,
/// sets both timestamps (as Kafka does, the max timestamp carries the append time) and recomputes
/// the CRC, since those fields are covered by it.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes([batch[ATTRIBUTES_OFFSET], batch[ATTRIBUTES_OFFSET + 1]])
        | ATTR_LOG_APPEND_TIME;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    if batch[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8] == [0xff; 8] {
        batch[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&now_ms.to_be_bytes());
    }
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Walks the batches laid end to end in `buf`, each checked with [`validate`]. Iteration stops at
/// the first bad batch, which is yielded as an error with its position.
pub struct BatchIter {
    buf: Bytes,
    position: usize,
    failed: bool,
}

impl BatchIter {
    pub fn new(buf: Bytes) -> BatchIter {
        BatchIter {
            buf,
            position: 0,
            failed: false,
        }
    }
}

/// One batch found by [`BatchIter`]: its byte position in the buffer, header and bytes.
#[derive(Debug, Clone)]
pub struct FoundBatch {
    pub position: usize,
    pub header: BatchHeader,
    pub bytes: Bytes,
}

impl Iterator for BatchIter {
    type Item = Result<FoundBatch, (usize, BatchError)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.position..];
        match validate(rest) {
            Ok(header) => {
                let position = self.position;
                let total = header.total_len();
                self.position += total;
                Some(Ok(FoundBatch {
                    position,
                    header,
                    bytes: self.buf.slice(position..position + total),
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err((self.position, e)))
            }
        }
    }
}

/// One record of an uncompressed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Decodes the records of an uncompressed batch. Every length is checked against the bytes that
/// remain; a header count of -1 (written by some tools) means no headers.
pub fn decode_records(batch: &Bytes) -> Result<Vec<Record>, BatchError> {
    let header = validate(batch)?;
    if header.compression() != 0 {
        return Err(BatchError::Compressed(header.compression()));
    }
    let mut buf = batch.slice(BATCH_HEADER_LEN..header.total_len());
    let count = usize::try_from(header.record_count).unwrap_or(0);
    // Each record takes at least 7 bytes; never trust the count beyond that.
    let mut records = Vec::with_capacity(count.min(buf.len() / 7 + 1));
    for _ in 0..count {
        let len = record_len(&mut buf)?;
        let mut rec = buf.split_to(len);
        if rec.is_empty() {
            return Err(BatchError::MalformedRecord("empty record"));
        }
        rec.advance(1); // attributes, unused in v2
        let timestamp_delta = read_varlong(&mut rec)?;
        let offset_delta = read_varint(&mut rec)?;
        let key = read_nullable(&mut rec)?;
        let value = read_nullable(&mut rec)?;
        let header_count = read_varint(&mut rec)?;
        let mut headers = Vec::new();
        for _ in 0..header_count.max(0) {
            let key =
                read_nullable(&mut rec)?.ok_or(BatchError::MalformedRecord("null header key"))?;
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| BatchError::MalformedRecord("header key is not UTF-8"))?;
            headers.push((key, read_nullable(&mut rec)?));
        }
        records.push(Record {
            // Deltas come from the data: saturate rather than overflow on a damaged batch.
            offset: header.base_offset.saturating_add(i64::from(offset_delta)),
            timestamp: header.base_timestamp.saturating_add(timestamp_delta),
            key,
            value,
            headers,
        });
    }
    Ok(records)
}

/// What the broker's record checks read of one record (Kafka's `LogValidator`): where it is in
/// its batch, its timestamp and whether it has a key. Nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView {
    /// The record's index in its batch (Kafka's `batchIndex`).
    pub index: i32,
    /// `baseOffset` as the batch carries it plus the record's offset delta.
    pub offset: i64,
    /// `baseTimestamp` plus the record's timestamp delta.
    pub timestamp: i64,
    pub has_key: bool,
}

/// Walks the records of the uncompressed records section `records` (a batch's bytes after its
/// 61-byte header) of a batch with `header`, reading of each only its length, timestamp, offset
/// delta and key length, and jumping to the next: no allocation, no copy. Every length is
/// checked against the bytes that remain, and the batch must hold exactly `recordCount` records.
pub fn for_each_record(
    header: &BatchHeader,
    mut records: &[u8],
    mut f: impl FnMut(RecordView),
) -> Result<(), BatchError> {
    let count = header.record_count.max(0);
    for index in 0..count {
        let len = wire::read_varint(&mut records).map_err(malformed_varint)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l > 0 && l <= records.len())
            .ok_or(BatchError::MalformedRecord("record length out of range"))?;
        let (mut record, rest) = records.split_at(len);
        records = rest;
        record.advance(1); // attributes, unused in v2
        let timestamp_delta = wire::read_varlong(&mut record).map_err(malformed_varint)?;
        let offset_delta = wire::read_varint(&mut record).map_err(malformed_varint)?;
        let key_len = wire::read_varint(&mut record).map_err(malformed_varint)?;
        if usize::try_from(key_len).is_ok_and(|k| k > record.len()) {
            return Err(BatchError::MalformedRecord("field length past record end"));
        }
        f(RecordView {
            index,
            // Deltas come from the data: saturate rather than overflow on a damaged batch.
            offset: header.base_offset.saturating_add(i64::from(offset_delta)),
            timestamp: header.base_timestamp.saturating_add(timestamp_delta),
            has_key: key_len >= 0,
        });
    }
    if !records.is_empty() {
        return Err(BatchError::MalformedRecord("bytes after the last record"));
    }
    Ok(())
}

/// [`for_each_record`] for a compressed batch: `records` (the bytes after the header) are
/// decompressed as a stream and each record's value and headers skipped as they stream by, so
/// memory stays bounded whatever the batch holds.
pub fn for_each_compressed_record(
    header: &BatchHeader,
    records: &[u8],
    mut f: impl FnMut(RecordView),
) -> Result<(), BatchError> {
    let corrupt = |_| BatchError::MalformedRecord("compressed records cannot be decompressed");
    let decoder = crate::compression::decoder(header.compression(), records).map_err(corrupt)?;
    let mut stream = ByteStream(std::io::BufReader::new(decoder));
    for index in 0..header.record_count.max(0) {
        let (len, _) = stream.varint(5)?;
        let len = u64::try_from(len)
            .ok()
            .filter(|&l| l > 0)
            .ok_or(BatchError::MalformedRecord("record length out of range"))?;
        stream.byte()?; // attributes
        let (timestamp_delta, a) = stream.varint(10)?;
        let (offset_delta, b) = stream.varint(5)?;
        let (key_len, c) = stream.varint(5)?;
        let rest = len
            .checked_sub(1 + a + b + c)
            .ok_or(BatchError::MalformedRecord(
                "record shorter than its fields",
            ))?;
        if key_len > 0 && key_len as u64 > rest {
            return Err(BatchError::MalformedRecord("field length past record end"));
        }
        f(RecordView {
            index,
            offset: header.base_offset.saturating_add(offset_delta),
            timestamp: header.base_timestamp.saturating_add(timestamp_delta),
            has_key: key_len >= 0,
        });
        // The rest of the record (key, value, headers) streams by unread.
        stream.skip(rest)?;
    }
    Ok(())
}

/// Decompressed record bytes, read as they stream.
struct ByteStream<R>(R);

impl<R: std::io::Read> ByteStream<R> {
    fn byte(&mut self) -> Result<u8, BatchError> {
        let mut b = [0u8; 1];
        self.0.read_exact(&mut b).map_err(ended)?;
        Ok(b[0])
    }

    /// A zigzag varint of at most `max_bytes` bytes, with how many it took.
    fn varint(&mut self, max_bytes: u64) -> Result<(i64, u64), BatchError> {
        let mut raw: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
            }
        }
        Err(BatchError::MalformedRecord("varint overflow"))
    }

    fn skip(&mut self, n: u64) -> Result<(), BatchError> {
        let skipped = std::io::copy(
            &mut std::io::Read::take(&mut self.0, n),
            &mut std::io::sink(),
        )
        .map_err(ended)?;
        if skipped < n {
            return Err(ended(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }
}

fn ended(_: std::io::Error) -> BatchError {
    BatchError::MalformedRecord("compressed records end early or are damaged")
}

fn record_len(buf: &mut Bytes) -> Result<usize, BatchError> {
    let len = read_varint(buf)?;
    usize::try_from(len)
        .ok()
        .filter(|&l| l <= buf.len())
        .ok_or(BatchError::MalformedRecord("record length out of range"))
}

fn read_nullable(buf: &mut Bytes) -> Result<Option<Bytes>, BatchError> {
    let len = read_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > buf.len() {
        return Err(BatchError::MalformedRecord("field length past record end"));
    }
    Ok(Some(buf.split_to(len)))
}

/// The record fields' zigzag varints are the wire codec's ([`wire::read_varint`] and friends):
/// at most 5 bytes for an int32 field, 10 for an int64 one, as Kafka reads them.
fn read_varlong(buf: &mut Bytes) -> Result<i64, BatchError> {
    wire::read_varlong(buf).map_err(malformed_varint)
}

fn read_varint(buf: &mut Bytes) -> Result<i32, BatchError> {
    wire::read_varint(buf).map_err(malformed_varint)
}

fn malformed_varint(e: DecodeError) -> BatchError {
    BatchError::MalformedRecord(match e {
        DecodeError::Truncated { .. } => "truncated varint",
        _ => "varint overflow",
    })
}

/// Builds an uncompressed magic-2 batch: used for the metadata log and by tests.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    attributes: i16,
    records: BytesMut,
    count: i32,
}

impl BatchBuilder {
    pub fn new(base_offset: i64, timestamp: i64) -> BatchBuilder {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: 0,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            attributes: 0,
            records: BytesMut::new(),
            count: 0,
        }
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn attributes(mut self, attributes: i16) -> Self {
        self.attributes = attributes;
        self
    }

    /// Appends a record at the next offset delta, with the batch's base timestamp.
    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        self.push_with_header_count(key, value, headers, headers.len() as i64)
    }

    /// As [`push`](Self::push) with the record's own timestamp (the batch's max timestamp
    /// follows the largest one).
    pub fn push_at(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.push_inner(timestamp - self.base_timestamp, key, value, &[], 0);
    }

    /// As [`push`](Self::push) but with an explicit header count, so tests can reproduce logs
    /// that store -1 for "no headers".
    pub fn push_with_header_count(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        header_count: i64,
    ) {
        self.push_inner(0, key, value, headers, header_count)
    }

    fn push_inner(
        &mut self,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        header_count: i64,
    ) {
        let mut body = BytesMut::new();
        body.put_i8(0);
        wire::put_varlong(&mut body, timestamp_delta);
        wire::put_varint(&mut body, self.count);
        put_nullable(&mut body, key);
        put_nullable(&mut body, value);
        // An int32 field written as a varlong: the same bytes for any count in int32 range.
        wire::put_varlong(&mut body, header_count);
        for (k, v) in headers {
            put_nullable(&mut body, Some(k.as_bytes()));
            put_nullable(&mut body, *v);
        }
        wire::put_varlong(&mut self.records, body.len() as i64);
        self.records.extend_from_slice(&body);
        self.count += 1;
    }

    pub fn build(self) -> Bytes {
        let mut buf = BytesMut::with_capacity(BATCH_HEADER_LEN + self.records.len());
        buf.put_i64(self.base_offset);
        buf.put_i32(MIN_BATCH_LENGTH + self.records.len() as i32);
        buf.put_i32(self.partition_leader_epoch);
        buf.put_i8(2);
        buf.put_u32(0);
        buf.put_i16(self.attributes);
        buf.put_i32((self.count - 1).max(0));
        buf.put_i64(self.base_timestamp);
        buf.put_i64(self.max_timestamp);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.base_sequence);
        buf.put_i32(self.count);
        buf.extend_from_slice(&self.records);
        let crc = compute_crc(&buf);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        buf.freeze()
    }
}

/// Re-encodes a batch the log cleaner filtered (Kafka's `buildRetainedRecordsInto` and
/// `writeEmptyHeader`): the fields of `original` — base offset, last offset delta (so the
/// producer's last sequence survives), leader epoch, producer id, epoch and base sequence,
/// timestamp type, transactional and control flags — with only `records` (each keeps its own
/// offset and timestamp), uncompressed, and a fresh CRC.
///
/// With `delete_horizon_ms` the base timestamp is the horizon and the delete-horizon attribute is
/// set; otherwise it is the first record's timestamp. The max timestamp is the records' largest
/// (a LogAppendTime batch keeps its own). No record at all gives Kafka's empty batch: its header
/// alone, kept so that a producer's last sequence or a round's last offset is not lost.
pub fn rebuild_batch(
    original: &BatchHeader,
    records: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Bytes {
    let mut attributes = original.attributes & !(ATTR_COMPRESSION_MASK | ATTR_DELETE_HORIZON);
    let log_append = original.attributes & ATTR_LOG_APPEND_TIME != 0;
    let (base_timestamp, max_timestamp) = if records.is_empty() {
        (-1, original.max_timestamp)
    } else {
        let base = delete_horizon_ms.unwrap_or(records[0].timestamp);
        let max = if log_append {
            original.max_timestamp
        } else {
            records.iter().map(|r| r.timestamp).max().unwrap_or(-1)
        };
        (base, max)
    };
    if delete_horizon_ms.is_some() && !records.is_empty() {
        attributes |= ATTR_DELETE_HORIZON;
    }
    let mut body = BytesMut::new();
    let mut one = BytesMut::new();
    for r in records {
        one.clear();
        one.put_i8(0);
        wire::put_varlong(&mut one, r.timestamp.wrapping_sub(base_timestamp));
        wire::put_varlong(&mut one, r.offset.wrapping_sub(original.base_offset));
        put_nullable(&mut one, r.key.as_deref());
        put_nullable(&mut one, r.value.as_deref());
        wire::put_varlong(&mut one, r.headers.len() as i64);
        for (k, v) in &r.headers {
            put_nullable(&mut one, Some(k.as_bytes()));
            put_nullable(&mut one, v.as_deref());
        }
        wire::put_varlong(&mut body, one.len() as i64);
        body.extend_from_slice(&one);
    }
    let mut buf = BytesMut::with_capacity(BATCH_HEADER_LEN + body.len());
    buf.put_i64(original.base_offset);
    buf.put_i32(MIN_BATCH_LENGTH + body.len() as i32);
    buf.put_i32(original.partition_leader_epoch);
    buf.put_i8(2);
    buf.put_u32(0);
    buf.put_i16(attributes);
    buf.put_i32(original.last_offset_delta);
    buf.put_i64(base_timestamp);
    buf.put_i64(max_timestamp);
    buf.put_i64(original.producer_id);
    buf.put_i16(original.producer_epoch);
    buf.put_i32(original.base_sequence);
    buf.put_i32(records.len() as i32);
    buf.extend_from_slice(&body);
    let crc = compute_crc(&buf);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

fn put_nullable(buf: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        None => wire::put_varint(buf, -1),
        Some(d) => {
            wire::put_varlong(buf, d.len() as i64);
            buf.extend_from_slice(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    /// STAGES.md §2.2: "pineapple" in a topic log, header count -1.
    const PINEAPPLE: &str = "0000000000000000000000410000000002cf35bf6200000000000000000191e05b6d8b00000191e05b6d8b0000000000000000000000000000000000011e000000011270696e656170706c6501";
    /// STAGES.md §3: "mango" in a Produce request.
    const MANGO: &str = "00000000000000000000003d000000000272bc4ab000000000000000000191e05b6d8b00000191e05b6d8b00000000000000000000000000000000000116000000010a6d616e676f00";

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn parses_and_validates_stage_vectors() {
        let bytes = hex(PINEAPPLE);
        let h = validate(&bytes).expect("valid");
        assert_eq!(h.crc, 0xcf35bf62);
        assert_eq!(h.total_len(), 77);
        assert_eq!(h.record_count, 1);
        let recs = decode_records(&Bytes::from(bytes)).expect("records");
        assert_eq!(recs[0].value.as_deref(), Some(&b"pineapple"[..]));
        assert!(recs[0].headers.is_empty());

        let bytes = hex(MANGO);
        let h = validate_produced(&bytes).expect("valid");
        assert_eq!(h.crc, 0x72bc4ab0);
        assert_eq!(h.producer_id, 0);
    }

    #[test]
    fn builder_reproduces_stage_vector() {
        let mut b = BatchBuilder::new(0, 1726045973899).producer(0, 0, 0);
        b.push_with_header_count(None, Some(b"pineapple"), &[], -1);
        assert_eq!(b.build().as_ref(), hex(PINEAPPLE).as_slice());
    }

    #[test]
    fn detects_corruption() {
        let mut bytes = hex(MANGO);
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        assert!(matches!(
            validate(&bytes),
            Err(BatchError::CrcMismatch { .. })
        ));
        let bytes = hex(MANGO);
        assert!(matches!(
            validate(&bytes[..40]),
            Err(BatchError::Truncated { .. })
        ));
        let mut bytes = hex(MANGO);
        bytes[16] = 1;
        assert_eq!(validate(&bytes), Err(BatchError::UnsupportedMagic(1)));
        let mut bytes = hex(MANGO);
        bytes[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&bytes), Err(BatchError::InvalidLength(10)));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc() {
        let mut bytes = hex(MANGO);
        set_base_offset(&mut bytes, 42);
        let h = validate(&bytes).expect("still valid");
        assert_eq!(h.base_offset, 42);
    }

    #[test]
    fn log_append_time_recomputes_crc() {
        let mut bytes = hex(MANGO);
        stamp_log_append_time(&mut bytes, 1_700_000_000_000);
        let h = validate(&bytes).expect("still valid");
        assert_eq!(h.max_timestamp, 1_700_000_000_000);
        assert_ne!(h.attributes & ATTR_LOG_APPEND_TIME, 0);
    }

    #[test]
    fn iterates_and_stops_at_damage() {
        let mut log = hex(PINEAPPLE);
        log.extend(hex(MANGO));
        log.extend_from_slice(&hex(MANGO)[..30]);
        let found: Vec<_> = BatchIter::new(Bytes::from(log)).collect();
        assert_eq!(found.len(), 3);
        assert!(found[0].is_ok() && found[1].is_ok());
        assert!(matches!(found[2], Err((150, BatchError::Truncated { .. }))));
    }

    #[test]
    fn record_varints_are_refused_by_name() {
        let mut b = Bytes::from_static(&[0x80]);
        assert_eq!(
            read_varint(&mut b),
            Err(BatchError::MalformedRecord("truncated varint"))
        );
        // An int32 field takes at most 5 bytes, an int64 one at most 10.
        let mut b = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
        assert_eq!(
            read_varint(&mut b),
            Err(BatchError::MalformedRecord("varint overflow"))
        );
        let mut b = Bytes::from_static(&[0xff; 11]);
        assert_eq!(
            read_varlong(&mut b),
            Err(BatchError::MalformedRecord("varint overflow"))
        );
        let mut out = BytesMut::new();
        wire::put_varlong(&mut out, -1_726_045_973_899);
        wire::put_varint(&mut out, i32::MIN);
        let mut b = out.freeze();
        assert_eq!(read_varlong(&mut b), Ok(-1_726_045_973_899));
        assert_eq!(read_varint(&mut b), Ok(i32::MIN));
        assert!(b.is_empty());
    }

    #[test]
    fn rebuilt_batches_keep_offsets_producer_fields_and_a_valid_crc() {
        let mut b = BatchBuilder::new(100, 5_000).producer(7, 2, 40);
        b.push(Some(b"a"), Some(b"1"), &[("h", Some(b"x"))]);
        b.push(Some(b"b"), Some(b"2"), &[]);
        b.push(Some(b"a"), None, &[]);
        let batch = b.build();
        let original = validate(&batch).expect("valid");
        let records = decode_records(&batch).expect("decodes");
        // Keep the second and third; the tombstone gets a delete horizon.
        let kept = rebuild_batch(&original, &records[1..], Some(90_000));
        let h = validate(&kept).expect("valid CRC");
        assert_eq!(h.base_offset, 100);
        assert_eq!(h.last_offset_delta, 2, "last offset kept");
        assert_eq!(h.record_count, 2);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 40)
        );
        assert_eq!(h.delete_horizon_ms(), Some(90_000));
        assert_eq!(h.max_timestamp, 5_000);
        let back = decode_records(&kept).expect("decodes");
        assert_eq!(
            back,
            records[1..].to_vec(),
            "offsets and timestamps as before"
        );
        // Without a horizon the base timestamp is the first record's.
        let plain = rebuild_batch(&original, &records[..1], None);
        let h = validate(&plain).expect("valid");
        assert_eq!((h.base_timestamp, h.delete_horizon_ms()), (5_000, None));
        assert_eq!(
            decode_records(&plain).expect("decodes"),
            records[..1].to_vec()
        );
        // Nothing kept: Kafka's empty batch.
        let empty = rebuild_batch(&original, &[], None);
        let h = validate(&empty).expect("valid");
        assert_eq!((h.record_count, h.last_offset_delta), (0, 2));
        assert_eq!(h.total_len(), BATCH_HEADER_LEN);
        assert_eq!(h.base_sequence, 40);
        assert_eq!(h.last_sequence(), 42);
    }

    #[test]
    fn record_decoding_bounds_checked() {
        let mut b = BatchBuilder::new(5, 10);
        b.push(Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]);
        b.push(None, None, &[]);
        let batch = b.build();
        let recs = decode_records(&batch).expect("decodes");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].offset, 5);
        assert_eq!(recs[1].offset, 6);
        assert_eq!(recs[0].headers[0].0, "h");
        // A record claiming a huge length fails cleanly.
        let mut bad = batch.to_vec();
        bad[BATCH_HEADER_LEN] = 0x7e;
        let crc = compute_crc(&bad);
        bad[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(decode_records(&Bytes::from(bad)).is_err());
    }
}
