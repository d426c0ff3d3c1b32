//! Kafka wire protocol: the hand-written runtime ([`wire`]) and the codec
//! generated from the Apache Kafka message schemas ([`messages`],
//! [`api_table`], and [`body`]: request and response bodies by API), and [`records`], the
//! value of a `records` field the broker sends.
//!
//! Regenerate after changing `xtask/src/apis.rs` (the allow-list of APIs and
//! metadata records) or the generator with `cargo run -p xtask -- codegen`;
//! `cargo run -p xtask -- codegen --check` verifies the committed code is up
//! to date. Both read the schemas from `../shared/kafka-protocol` unless
//! `--schemas DIR` is given.
//!
//! Serving one request frame (the body after the int32 size):
//!
//! ```
//! use sluice::protocol::{self, api_table::ApiKey, wire::{Bytes, Chunk, EncodeBuf}};
//! use sluice::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
//!
//! # fn main() -> Result<(), sluice::protocol::wire::DecodeError> {
//! let mut frame = Bytes::from_static(
//!     b"\x00\x12\x00\x04\x00\x00\x00\x07\x00\x0ckafka-tester\x00\x0akafka-cli\x040.1\x00",
//! );
//! let (key, header) = protocol::decode_request_header(&mut frame)?;
//! assert_eq!(key, ApiKey::ApiVersions);
//! let request = ApiVersionsRequest::decode(&mut frame, header.request_api_version)?;
//! assert_eq!(request.client_software_name, "kafka-cli");
//!
//! let mut out = EncodeBuf::new();
//! protocol::encode_response_header(&mut out, key, header.request_api_version, header.correlation_id);
//! ApiVersionsResponse::default().encode(&mut out, header.request_api_version);
//! let chunks = out.into_frame_chunks().expect("12 bytes fit a frame"); // int32 size, then the data
//! assert!(matches!(&chunks[0], Chunk::Mem(size) if size.as_ref() == [0, 0, 0, 12]));
//! # Ok(())
//! # }
//! ```

pub mod api_table;
pub mod body;
pub mod file_range;
pub mod messages;
pub mod records;
pub mod wire;

#[cfg(test)]
mod golden_tests;

use api_table::ApiKey;
use messages::{RequestHeader, ResponseHeader};
use wire::{Bytes, DecodeError, EncodeBuf};

/// Decodes the request header at the start of a request frame body,
/// choosing the header version from the API key and version it starts with.
/// Leaves `buf` at the start of the request body.
///
/// An API key without a generated codec is [`DecodeError::UnknownApiKey`].
/// The request version is not checked here: the body's `decode` returns
/// [`DecodeError::UnsupportedVersion`] for versions outside its range.
pub fn decode_request_header(buf: &mut Bytes) -> Result<(ApiKey, RequestHeader), DecodeError> {
    let mut peek: &[u8] = buf;
    let key = wire::read_i16(&mut peek)?;
    let version = wire::read_i16(&mut peek)?;
    let api = ApiKey::from_i16(key).ok_or(DecodeError::UnknownApiKey(key))?;
    let header = RequestHeader::decode(buf, api_table::request_header_version(api, version))?;
    Ok((api, header))
}

/// Writes the response header for a response to `key` at `version`
/// (header v0 for ApiVersions and non-flexible versions, else v1).
pub fn encode_response_header(buf: &mut EncodeBuf, key: ApiKey, version: i16, correlation_id: i32) {
    ResponseHeader { correlation_id }.encode(buf, api_table::response_header_version(key, version));
}

/// A client's request frame: the int32 size, the request header (in the header version that
/// `key` at `version` uses) and the body `body` writes. For tools and tests that speak to a
/// broker without a client library.
pub fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: impl FnOnce(&mut EncodeBuf),
) -> Vec<u8> {
    let mut buf = EncodeBuf::new();
    RequestHeader {
        request_api_key: key as i16,
        request_api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
    }
    .encode(&mut buf, api_table::request_header_version(key, version));
    body(&mut buf);
    // A request body is built by the caller (tests, bench, soak); one over 2 GiB is their bug.
    let size = i32::try_from(buf.len()).expect("a request frame under 2 GiB");
    let mut frame = size.to_be_bytes().to_vec();
    frame.extend_from_slice(&buf.to_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_by_api() {
        // Metadata v1: header v1, no tag section.
        let mut frame =
            Bytes::from_static(b"\x00\x03\x00\x01\x00\x00\x00\x2a\x00\x01c\xff\xff\xff\xff");
        let (key, header) = decode_request_header(&mut frame).expect("decodes");
        assert_eq!(key, ApiKey::Metadata);
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("c"));
        assert_eq!(frame.as_ref(), b"\xff\xff\xff\xff");

        let mut frame = Bytes::from_static(b"\x00\x04\x00\x01\x00\x00\x00\x2a\x00\x00");
        assert_eq!(
            decode_request_header(&mut frame),
            Err(DecodeError::UnknownApiKey(4))
        );
        let mut frame = Bytes::from_static(b"\x00\x03\x00");
        assert!(matches!(
            decode_request_header(&mut frame),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn response_headers_by_api() {
        let mut out = EncodeBuf::new();
        encode_response_header(&mut out, ApiKey::ApiVersions, 4, 7);
        encode_response_header(&mut out, ApiKey::Fetch, 16, 7);
        encode_response_header(&mut out, ApiKey::Fetch, 11, 7);
        assert_eq!(
            out.to_bytes().as_ref(),
            &[0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 0, 7]
        );
    }
}
