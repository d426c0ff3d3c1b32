//! Framing and connection robustness: a bad frame closes only the connection that sent it,
//! partial frames wait for the rest, and pipelined requests are answered in order.

use crate::common;

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use common::requests::*;
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use uuid::Uuid;

const MAX_REQUEST: usize = 1000;

fn broker() -> TestBroker {
    TestBroker::start_with(&["--set", &format!("socket.request.max.bytes={MAX_REQUEST}")])
}

fn api_versions_frame(c: &WireClient, version: i16, cid: i32) -> Vec<u8> {
    c.frame(ApiKey::ApiVersions, version, cid, |b| {
        ApiVersionsRequest {
            client_software_name: "sluice-test".into(),
            client_software_version: "1".into(),
            ..Default::default()
        }
        .encode(b, version)
    })
}

/// Reads one response frame, checks the correlation id and returns the body.
fn read_response(c: &mut WireClient, key: ApiKey, version: i16, cid: i32) -> Bytes {
    let mut payload = c.read_frame().expect("response frame");
    let header_version = sluice::protocol::api_table::response_header_version(key, version);
    let h = ResponseHeader::decode(&mut payload, header_version).expect("header");
    assert_eq!(h.correlation_id, cid);
    payload
}

fn assert_api_versions_ok(mut body: Bytes, version: i16) {
    let resp = ApiVersionsResponse::decode(&mut body, version).expect("ApiVersions body");
    assert_eq!(body.remaining(), 0);
    assert_eq!(resp.error_code, 0);
    assert!(resp.api_keys.iter().any(|k| k.api_key == 18));
}

/// Frames that must close their connection, each with a name for the failure message.
fn bad_inputs(c: &WireClient) -> Vec<(&'static str, Vec<u8>)> {
    let unknown_key = c.frame(ApiKey::ApiVersions, 0, 1, |_| {});
    let mut unknown_key = unknown_key;
    unknown_key[4..6].copy_from_slice(&999i16.to_be_bytes());

    // ApiVersions v3 whose client id claims more bytes than the frame has.
    let mut bad_header = common::hex("0012 0003 00000001 7fff");
    bad_header.extend_from_slice(b"abc");
    let mut short_header = (bad_header.len() as i32).to_be_bytes().to_vec();
    short_header.extend(bad_header);

    let mut garbage = 12i32.to_be_bytes().to_vec();
    garbage.extend_from_slice(&[
        0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0xca, 0xfe, 0xba, 0xbe, 1, 2,
    ]);

    vec![
        ("garbage", garbage),
        ("header past the frame end", short_header),
        ("negative size", (-16i32).to_be_bytes().to_vec()),
        ("zero size", 0i32.to_be_bytes().to_vec()),
        // The size alone is refused: no body is sent.
        (
            "size over socket.request.max.bytes",
            (MAX_REQUEST as i32 + 1).to_be_bytes().to_vec(),
        ),
        ("oversized i32::MAX", i32::MAX.to_be_bytes().to_vec()),
        ("unknown API key", unknown_key),
    ]
}

#[test]
fn a_bad_frame_closes_only_its_own_connection() {
    let broker = broker();
    let mut witness = broker.connect();
    let inputs = bad_inputs(&witness);
    for (i, (what, bytes)) in inputs.into_iter().enumerate() {
        let mut bad = broker.connect();
        bad.send_raw(&bytes);
        assert!(
            bad.is_closed(Duration::from_secs(5)),
            "{what}: connection left open"
        );
        // The witness, connected before, is still answered on its connection ...
        let cid = 100 + i as i32;
        let f = api_versions_frame(&witness, 3, cid);
        witness.send_raw(&f);
        assert_api_versions_ok(read_response(&mut witness, ApiKey::ApiVersions, 3, cid), 3);
        // ... and new connections are accepted.
        let mut fresh = broker.connect();
        assert_eq!(api_versions(&mut fresh).error_code, 0, "after {what}");
    }
    // Each refusal was logged at warn.
    let warns = broker
        .log_lines()
        .iter()
        .filter(|l| l.contains("WARN") && l.contains("closing connection"))
        .count();
    assert_eq!(warns, 7, "{:#?}", broker.log_lines());
}

/// A frame of exactly `socket.request.max.bytes` is accepted.
#[test]
fn a_frame_at_the_size_limit_is_served() {
    let broker = broker();
    let mut c = broker.connect();
    let build = |c: &WireClient, last_len: usize| {
        let mut names: Vec<String> = ["a", "b", "c", "d"].iter().map(|c| c.repeat(180)).collect();
        names.push("e".repeat(last_len));
        let req = MetadataRequest {
            topics: Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        topic_id: Uuid::nil(),
                        name: Some(n.clone()),
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: false,
            ..MetadataRequest::default()
        };
        c.frame(ApiKey::Metadata, 12, 5, |b| req.encode(b, 12))
    };
    // Both lengths take a two-byte compact-string prefix, so the size moves one for one.
    let probe = build(&c, 150).len() - 4;
    let last = 150 + MAX_REQUEST - probe;
    assert!((128..=249).contains(&last), "{last}");
    let f = build(&c, last);
    assert_eq!(f.len() - 4, MAX_REQUEST);
    c.send_raw(&f);
    let mut body = read_response(&mut c, ApiKey::Metadata, 12, 5);
    let resp = MetadataResponse::decode(&mut body, 12).expect("metadata");
    assert_eq!(resp.topics.len(), 5);
    assert!(resp.topics.iter().all(|t| t.error_code == 3));
}

#[test]
fn a_partial_frame_is_answered_once_complete() {
    let broker = broker();
    let mut c = broker.connect();
    let f = api_versions_frame(&c, 3, 42);
    // The size prefix split in two, then half the body.
    c.send_raw(&f[..2]);
    assert!(nothing_arrives(&mut c, Duration::from_millis(150)));
    c.send_raw(&f[2..f.len() / 2]);
    assert!(nothing_arrives(&mut c, Duration::from_millis(150)));
    c.send_raw(&f[f.len() / 2..]);
    assert_api_versions_ok(read_response(&mut c, ApiKey::ApiVersions, 3, 42), 3);
}

/// Bytes after a request body are ignored, as Kafka ignores them (librdkafka 2.12 sends three
/// such bytes in an all-topics Metadata request): the request is answered and the connection
/// stays open for the next one.
#[test]
fn bytes_after_a_request_body_are_ignored_as_kafka_does() {
    let broker = broker();
    let mut c = broker.connect();
    let mut trailing = api_versions_frame(&c, 3, 7);
    trailing.extend_from_slice(b"xyz");
    let size = (trailing.len() - 4) as i32;
    trailing[..4].copy_from_slice(&size.to_be_bytes());
    c.send_raw(&trailing);
    assert_api_versions_ok(read_response(&mut c, ApiKey::ApiVersions, 3, 7), 3);
    let next = api_versions_frame(&c, 3, 8);
    c.send_raw(&next);
    assert_api_versions_ok(read_response(&mut c, ApiKey::ApiVersions, 3, 8), 3);
}

/// True when no byte arrives and the connection stays open for `wait`.
fn nothing_arrives(c: &mut WireClient, wait: Duration) -> bool {
    c.stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut b = [0u8; 1];
    let quiet = match c.stream.read(&mut b) {
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    c.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    quiet
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = broker();
    let mut c = broker.connect();
    // A topic to long-poll on.
    let resp = metadata(&mut c, 12, Some(&["quiet"]), true);
    assert_eq!(resp.topics[0].error_code, 0);

    // First a Fetch that long-polls 300 ms on an empty partition, then three quick requests:
    // their answers must still come after it, in request order.
    let fetch = FetchRequest {
        max_wait_ms: 300,
        min_bytes: 1,
        topics: vec![FetchTopic {
            topic: "quiet".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    let mut all = c.frame(ApiKey::Fetch, 12, 10, |b| fetch.encode(b, 12));
    all.extend(api_versions_frame(&c, 3, 11));
    all.extend(c.frame(ApiKey::Metadata, 12, 12, |b| {
        MetadataRequest {
            topics: None,
            ..MetadataRequest::default()
        }
        .encode(b, 12)
    }));
    all.extend(api_versions_frame(&c, 0, 13));
    let started = Instant::now();
    c.send_raw(&all); // one write

    let mut body = read_response(&mut c, ApiKey::Fetch, 12, 10);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "long poll waited"
    );
    let resp = FetchResponse::decode(&mut body, 12).expect("fetch");
    assert_eq!(body.remaining(), 0);
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 0));

    assert_api_versions_ok(read_response(&mut c, ApiKey::ApiVersions, 3, 11), 3);
    let mut body = read_response(&mut c, ApiKey::Metadata, 12, 12);
    let resp = MetadataResponse::decode(&mut body, 12).expect("metadata");
    assert_eq!(body.remaining(), 0);
    assert_eq!(resp.topics.len(), 1);
    assert_api_versions_ok(read_response(&mut c, ApiKey::ApiVersions, 0, 13), 0);
    assert!(
        nothing_arrives(&mut c, Duration::from_millis(100)),
        "no extra bytes"
    );
}
