//! Hostile and broken clients, through the real socket: every bad input either gets the Kafka
//! error code it deserves, or closes exactly the connection that sent it with a log line that
//! says why. Throughout each test a well-behaved producer and a consumer on their own
//! connections keep working, and at the end everything they wrote is read back intact.
//!
//! Whether a frame is refused at parse time is not hard-coded here: the expectation for a
//! frame that frames correctly comes from `sluice::api::Request::parse` itself (refused: the
//! connection closes and the log names the reason; parsed: an answer comes back).

use crate::common;

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use common::{TestBroker, WireClient};
use sluice::api::Request;
use sluice::protocol::api_table::{self, ApiKey, API_TABLE};
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use sluice::protocol::messages::create_topics_response::CreateTopicsResponse;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::request_header::RequestHeader;
use sluice::protocol::wire::EncodeBuf;
use sluice::record::{self, BatchBuilder, BatchIter};

const MAX_REQUEST: usize = 100_000;
const MAX_MESSAGE: usize = 4_000;
const IDLE_MS: u64 = 2_000;
const WITNESS_TOPIC: &str = "witness";
/// How long a refused connection may take to close (well under the idle limit's doubling).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The broker and the well-behaved witness
// ---------------------------------------------------------------------------

fn broker() -> TestBroker {
    TestBroker::start_with_env(
        &[
            "--set",
            &format!("socket.request.max.bytes={MAX_REQUEST}"),
            "--set",
            &format!("message.max.bytes={MAX_MESSAGE}"),
            "--set",
            &format!("connections.max.idle.ms={IDLE_MS}"),
        ],
        // Read failures and idle closes are logged at debug by the connection actor.
        &[("RUST_LOG", "info,sluice::net=debug")],
    )
}

/// A producer and a consumer on their own connections, running until `finish`.
struct Witness {
    stop: Arc<AtomicBool>,
    produced: Arc<AtomicU64>,
    producer: Option<JoinHandle<Vec<String>>>,
    consumer: Option<JoinHandle<u64>>,
}

/// The value of witness record `offset`.
fn witness_value(offset: u64) -> String {
    format!("w-{offset}-{}", "x".repeat((offset % 7) as usize))
}

impl Witness {
    fn start(broker: &TestBroker) -> Witness {
        let mut setup = broker.connect();
        setup.ensure_topics(&[WITNESS_TOPIC]);
        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(AtomicU64::new(0));
        let addr = broker.addr;

        let (stop_p, produced_p) = (stop.clone(), produced.clone());
        let producer = std::thread::spawn(move || {
            let mut c = WireClient::connect(addr);
            c.client_id = Some("witness-producer".into());
            let mut sent = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut round = 0u64;
            while !stop_p.load(Ordering::Relaxed) && Instant::now() < deadline && round < 100_000 {
                let n = 1 + (round % 4);
                let values: Vec<String> = (0..n)
                    .map(|i| witness_value(sent.len() as u64 + i))
                    .collect();
                let refs: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
                let (error, base) = c.produce(WITNESS_TOPIC, 0, &refs);
                assert_eq!(error, 0, "witness produce failed");
                assert_eq!(base, sent.len() as i64, "witness offsets are contiguous");
                sent.extend(values);
                produced_p.store(sent.len() as u64, Ordering::Release);
                round += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        });

        let (stop_c, produced_c) = (stop.clone(), produced.clone());
        let consumer = std::thread::spawn(move || {
            let mut c = WireClient::connect(addr);
            c.client_id = Some("witness-consumer".into());
            let mut next = 0u64;
            let deadline = Instant::now() + Duration::from_secs(330);
            loop {
                // After the stop, drain what was produced, then end.
                let stopping = stop_c.load(Ordering::Acquire);
                let target = produced_c.load(Ordering::Acquire);
                if (stopping && next >= target) || Instant::now() > deadline {
                    break;
                }
                for (offset, value) in fetch(&mut c, WITNESS_TOPIC, next as i64, 100) {
                    assert_eq!(offset, next as i64, "consumer sees every offset in order");
                    assert_eq!(value, witness_value(next).into_bytes(), "offset {offset}");
                    next += 1;
                }
            }
            next
        });
        Witness {
            stop,
            produced,
            producer: Some(producer),
            consumer: Some(consumer),
        }
    }

    /// Waits (bounded) until the witness has produced at least `n` more records: proof that it
    /// is still being served.
    fn still_working(&self, n: u64) {
        let from = self.produced.load(Ordering::Acquire);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.produced.load(Ordering::Acquire) < from + n {
            assert!(
                Instant::now() < deadline,
                "the witness stopped making progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops both clients and checks everything produced was consumed, then reads the whole
    /// topic back on a fresh connection and compares it with what was sent.
    fn finish(mut self, broker: &TestBroker) {
        self.still_working(5);
        self.stop.store(true, Ordering::Release);
        let sent = self
            .producer
            .take()
            .expect("producer")
            .join()
            .expect("witness producer panicked");
        let consumed = self
            .consumer
            .take()
            .expect("consumer")
            .join()
            .expect("witness consumer panicked");
        assert_eq!(consumed, sent.len() as u64, "consumer caught up");
        assert!(sent.len() >= 5, "witness produced only {}", sent.len());

        let mut c = broker.connect();
        let mut got: Vec<(i64, Vec<u8>)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < sent.len() && Instant::now() < deadline {
            got.extend(fetch(&mut c, WITNESS_TOPIC, got.len() as i64, 0));
        }
        assert_eq!(got.len(), sent.len(), "everything read back");
        for (i, ((offset, value), expected)) in got.iter().zip(&sent).enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(value, expected.as_bytes(), "offset {i}");
        }
    }
}

/// Fetch v12 from `offset`; returns (offset, value) of every record in the whole batches.
fn fetch(c: &mut WireClient, topic: &str, offset: i64, max_wait_ms: i32) -> Vec<(i64, Vec<u8>)> {
    let req = FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    let resp = c.request(
        ApiKey::Fetch,
        12,
        |b| req.encode(b, 12),
        FetchResponse::decode,
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch {topic} at {offset}");
    let mut out = Vec::new();
    if let Some(records) = &p.records {
        for batch in BatchIter::new(records.clone()).map_while(Result::ok) {
            for r in record::decode_records(&batch.bytes).expect("witness records decode") {
                if r.offset >= offset {
                    out.push((r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Helpers for bad inputs
// ---------------------------------------------------------------------------

/// A request frame with a size prefix: `key`, `version`, correlation id 7, `client_id`, body.
fn frame(key: i16, version: i16, client_id: Option<&str>, body: &[u8]) -> Vec<u8> {
    let header_version = ApiKey::from_i16(key)
        .map(|k| api_table::request_header_version(k, version))
        .unwrap_or(1);
    let mut buf = EncodeBuf::new();
    RequestHeader {
        request_api_key: key,
        request_api_version: version,
        correlation_id: 7,
        client_id: client_id.map(str::to_string),
    }
    .encode(&mut buf, header_version);
    buf.put_slice(body);
    with_size(&buf.to_bytes())
}

fn with_size(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// The port of this side of `c`: it appears in the broker's log lines about the connection.
fn peer_tag(c: &WireClient) -> String {
    let port = c.stream.local_addr().expect("local addr").port();
    format!("127.0.0.1:{port}")
}

/// Waits (bounded) for a log line naming this connection and containing every one of `needles`.
fn logged(broker: &TestBroker, peer: &str, needles: &[&str]) -> bool {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        if broker
            .log_lines()
            .iter()
            .any(|l| l.contains(peer) && needles.iter().all(|n| l.contains(n)))
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `bytes` on a fresh connection and asserts that the broker closes it, with a log line
/// about this connection containing every one of `needles`.
fn expect_closed(broker: &TestBroker, what: &str, bytes: &[u8], needles: &[&str]) {
    let mut c = broker.connect();
    let peer = peer_tag(&c);
    let sent_at = Instant::now();
    // A refused prefix may close the socket before the rest is written: that is fine.
    let _ = c.stream.write_all(bytes);
    assert!(c.is_closed(CLOSE_WAIT), "{what}: connection left open");
    let took = sent_at.elapsed();
    assert!(
        logged(broker, &peer, needles),
        "{what}: no log line for {peer} with {needles:?}:\n{}",
        tail(broker)
    );
    // Refused at once, not by the idle timer.
    assert!(
        took < Duration::from_millis(IDLE_MS),
        "{what}: closed only after {took:?}"
    );
}

/// The last log lines, for failure messages.
fn tail(broker: &TestBroker) -> String {
    let lines = broker.log_lines();
    let from = lines.len().saturating_sub(30);
    lines[from..].join("\n")
}

/// Sends a frame that frames correctly and checks the broker does what `Request::parse` says:
/// closes the connection (logging the parse failure) or answers it.
fn expect_as_parsed(broker: &TestBroker, what: &str, framed: &[u8]) {
    match Request::parse(Bytes::copy_from_slice(&framed[4..])) {
        Err(e) => {
            let reason = e.reason.to_string();
            // The log line carries the reason; its first words are enough to identify it.
            let head: String = reason.chars().take(24).collect();
            expect_closed(
                broker,
                what,
                framed,
                &["closing connection: undecodable request", &head],
            );
        }
        Ok(req) => {
            let mut c = broker.connect();
            c.send_raw(framed);
            let mut payload = c
                .read_frame()
                .unwrap_or_else(|e| panic!("{what}: parsed, but no answer: {e}"));
            let cid = payload.get_i32();
            assert_eq!(cid, req.header.correlation_id, "{what}");
        }
    }
}

/// Produce v9 of `records` to `topic`/0; returns the partition's error code.
fn produce_records(c: &mut WireClient, topic: &str, records: Option<Bytes>) -> i16 {
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            topic_id: Default::default(),
            name: topic.into(),
            partition_data: vec![PartitionProduceData { index: 0, records }],
        }],
        ..ProduceRequest::default()
    };
    let resp = c.request(
        ApiKey::Produce,
        9,
        |b| req.encode(b, 9),
        ProduceResponse::decode,
    );
    resp.responses[0].partition_responses[0].error_code
}

fn good_batch(values: &[&[u8]]) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    for v in values {
        b.push(Some(b"key"), Some(v), &[]);
    }
    b.build().to_vec()
}

fn refresh_crc(batch: &mut [u8]) {
    let crc = record::compute_crc(batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

#[test]
fn bad_frames_close_their_connection_only() {
    let broker = broker();
    let witness = Witness::start(&broker);
    let probe = WireClient::connect(broker.addr);
    let api_versions = frame(18, 3, Some("c"), &[0, 0, 0]);

    expect_closed(
        &broker,
        "negative size",
        &(-1i32).to_be_bytes(),
        &["bad frame", "negative frame size -1"],
    );
    expect_closed(
        &broker,
        "i32::MIN size",
        &i32::MIN.to_be_bytes(),
        &["bad frame", "negative frame size"],
    );
    expect_closed(
        &broker,
        "zero size",
        &0i32.to_be_bytes(),
        &["bad frame", "empty frame"],
    );
    expect_closed(
        &broker,
        "2 GiB size",
        &i32::MAX.to_be_bytes(),
        &["bad frame", "frame size 2147483647 is over the limit"],
    );
    let just_over = (MAX_REQUEST as i32 + 1).to_be_bytes();
    expect_closed(
        &broker,
        "size just over socket.request.max.bytes",
        &just_over,
        &[
            "bad frame",
            &format!("frame size {} is over the limit", MAX_REQUEST + 1),
        ],
    );
    // The same, with the body following: still refused on the prefix alone.
    let mut over = just_over.to_vec();
    over.extend(vec![0u8; MAX_REQUEST + 1]);
    expect_closed(
        &broker,
        "whole frame over the limit",
        &over,
        &["over the limit"],
    );
    witness.still_working(3);

    // A truncated frame: 100 bytes announced, 10 sent, then the client stops writing.
    let mut c = broker.connect();
    let peer = peer_tag(&c);
    let mut half = 100i32.to_be_bytes().to_vec();
    half.extend_from_slice(&api_versions[4..14]);
    c.send_raw(&half);
    c.stream.shutdown(Shutdown::Write).expect("half close");
    assert!(c.is_closed(CLOSE_WAIT), "truncated frame: left open");
    assert!(
        logged(&broker, &peer, &["read failed", "bytes remaining"]),
        "truncated frame: no log line:\n{}",
        tail(&broker)
    );

    // Frames shorter than a request header.
    for n in 1..8 {
        let payload = &api_versions[4..4 + n];
        expect_as_parsed(&broker, &format!("{n}-byte frame"), &with_size(payload));
    }
    witness.still_working(3);
    drop(probe);
    witness.finish(&broker);
}

#[test]
fn a_half_sent_frame_then_silence_is_closed_when_idle() {
    let broker = broker();
    let witness = Witness::start(&broker);
    let mut c = broker.connect();
    let peer = peer_tag(&c);
    let started = Instant::now();
    // A size prefix and half a body, and then nothing more, ever.
    let f = frame(18, 3, Some("silent"), &[0, 0, 0]);
    c.send_raw(&f[..f.len() / 2]);
    assert!(
        c.is_closed(Duration::from_millis(IDLE_MS * 4)),
        "half frame kept open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(IDLE_MS - 100),
        "closed before connections.max.idle.ms: {took:?}"
    );
    assert!(
        logged(&broker, &peer, &["closing idle connection"]),
        "no idle log line:\n{}",
        tail(&broker)
    );
    // A connection that announced a large frame (within the limit) and went silent likewise.
    let mut c = broker.connect();
    let peer = peer_tag(&c);
    c.send_raw(&(MAX_REQUEST as i32).to_be_bytes());
    c.send_raw(&[0u8; 1000]);
    assert!(c.is_closed(Duration::from_millis(IDLE_MS * 4)));
    assert!(logged(&broker, &peer, &["closing idle connection"]));
    witness.finish(&broker);
}

// ---------------------------------------------------------------------------
// Headers, keys and versions
// ---------------------------------------------------------------------------

#[test]
fn unknown_keys_and_unsupported_versions() {
    let broker = broker();
    let witness = Witness::start(&broker);

    for key in [4i16, 7, 17, 50, 76, 999, -1, i16::MAX] {
        let f = frame(key, 0, Some("c"), &[0; 8]);
        expect_closed(
            &broker,
            &format!("unknown API key {key}"),
            &f,
            &[
                "undecodable request",
                &format!("api_key={key}"),
                "unknown API key",
            ],
        );
    }
    witness.still_working(3);

    // Every API in the table, just outside its decode range and at -1.
    let mut checked = 0;
    for support in API_TABLE {
        let key = support.key;
        let mut versions = vec![support.decode_max + 1, -1];
        if support.decode_min > 0 {
            versions.push(support.decode_min - 1);
        }
        for version in versions {
            let what = format!("{}/v{version}", key.name());
            let f = frame(key.as_i16(), version, Some("c"), &[0; 16]);
            if key == ApiKey::ApiVersions {
                // KIP-511: an ApiVersions version we do not know gets error 35 in a v0 body.
                let mut c = broker.connect();
                c.send_raw(&f);
                let mut payload = c.read_frame().expect("ApiVersions answer");
                assert_eq!(payload.get_i32(), 7, "{what}");
                let resp = ApiVersionsResponse::decode(&mut payload, 0).expect("v0 body");
                assert_eq!(resp.error_code, 35, "{what}");
                assert!(resp.api_keys.iter().any(|k| k.api_key == 18), "{what}");
            } else {
                expect_closed(
                    &broker,
                    &what,
                    &f,
                    &[
                        "undecodable request",
                        &format!("api_key={}", key.as_i16()),
                        &format!("api_version={version}"),
                        "unsupported version",
                    ],
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2 * API_TABLE.len());
    witness.finish(&broker);
}

#[test]
fn garbage_lengths_and_encodings_in_requests() {
    let broker = broker();
    let witness = Witness::start(&broker);

    // Garbage after a valid header, for every API at its highest version.
    for support in API_TABLE {
        let body = [0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0x7f, 0x13, 0x37];
        let f = frame(support.key.as_i16(), support.decode_max, Some("c"), &body);
        expect_as_parsed(&broker, &format!("{} + garbage", support.key.name()), &f);
    }
    // Bytes after a whole, valid body (Metadata v12, all topics).
    let mut body = EncodeBuf::new();
    MetadataRequest::default().encode(&mut body, 12);
    let mut body = body.to_bytes().to_vec();
    body.extend_from_slice(b"after");
    expect_as_parsed(
        &broker,
        "bytes after a whole body",
        &frame(3, 12, Some("c"), &body),
    );
    witness.still_working(3);

    // An array count of 2^31-1 with three bytes behind it (Metadata v4: topics).
    let mut body = 0x7fff_ffffi32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 1, b'a']);
    expect_as_parsed(
        &broker,
        "array count 2^31-1",
        &frame(3, 4, Some("c"), &body),
    );
    // The same count as a compact varint (Metadata v12).
    let body = [0xff, 0xff, 0xff, 0xff, 0x07, 0, 1, b'a'];
    expect_as_parsed(
        &broker,
        "compact count 2^31-1",
        &frame(3, 12, Some("c"), &body),
    );
    // A topic-name length of 32767 with three bytes (Metadata v1).
    let mut body = 1i32.to_be_bytes().to_vec();
    body.extend_from_slice(&0x7fffi16.to_be_bytes());
    body.extend_from_slice(b"abc");
    expect_as_parsed(
        &broker,
        "string length 32767",
        &frame(3, 1, Some("c"), &body),
    );
    // A client_id length of 32767 with three bytes (ApiVersions v3 header).
    let mut raw = 18i16.to_be_bytes().to_vec();
    raw.extend_from_slice(&3i16.to_be_bytes());
    raw.extend_from_slice(&7i32.to_be_bytes());
    raw.extend_from_slice(&0x7fffi16.to_be_bytes());
    raw.extend_from_slice(b"abc");
    expect_as_parsed(&broker, "client_id length 32767", &with_size(&raw));
    // Records length of 2^31-1 in a Produce v8 partition.
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    body.extend_from_slice(&1000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes()); // one topic
    body.extend_from_slice(&1i16.to_be_bytes());
    body.push(b't');
    body.extend_from_slice(&1i32.to_be_bytes()); // one partition
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0x7fff_ffffi32.to_be_bytes()); // records length
    body.extend_from_slice(&[0; 3]);
    expect_as_parsed(
        &broker,
        "records length 2^31-1",
        &frame(0, 8, Some("c"), &body),
    );
    witness.still_working(3);

    // Invalid UTF-8: in a topic name (Metadata v1) and in the client id.
    let mut body = 1i32.to_be_bytes().to_vec();
    body.extend_from_slice(&2i16.to_be_bytes());
    body.extend_from_slice(&[0xff, 0xfe]);
    expect_as_parsed(
        &broker,
        "topic name not UTF-8",
        &frame(3, 1, Some("c"), &body),
    );
    let mut raw = 18i16.to_be_bytes().to_vec();
    raw.extend_from_slice(&3i16.to_be_bytes());
    raw.extend_from_slice(&7i32.to_be_bytes());
    raw.extend_from_slice(&3i16.to_be_bytes());
    raw.extend_from_slice(&[b'a', 0xc3, 0x28]);
    raw.extend_from_slice(&[0, 0, 0]); // empty compact strings and tags
    expect_as_parsed(&broker, "client_id not UTF-8", &with_size(&raw));
    witness.finish(&broker);
}

// ---------------------------------------------------------------------------
// Topic names
// ---------------------------------------------------------------------------

const BAD_NAMES: &[&str] = &["", ".", "..", "a/b", "white space", "ünïcode", "tab\t"];

fn long_name() -> String {
    "x".repeat(250)
}

#[test]
fn invalid_topic_names_are_refused_per_topic() {
    let broker = broker();
    let witness = Witness::start(&broker);
    let mut c = broker.connect();
    let mut names: Vec<String> = BAD_NAMES.iter().map(|s| s.to_string()).collect();
    names.push(long_name());

    // Metadata with auto-creation: INVALID_TOPIC_EXCEPTION (17) for each, nothing created.
    let req = MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    name: Some(n.clone()),
                    ..MetadataRequestTopic::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: true,
        ..MetadataRequest::default()
    };
    let resp = c.request(
        ApiKey::Metadata,
        12,
        |b| req.encode(b, 12),
        MetadataResponse::decode,
    );
    assert_eq!(resp.topics.len(), names.len());
    for t in &resp.topics {
        assert_eq!(t.error_code, 17, "Metadata {:?}", t.name);
    }

    // CreateTopics: INVALID_TOPIC_EXCEPTION (17) for each.
    let req = CreateTopicsRequest {
        topics: names
            .iter()
            .map(|n| CreatableTopic {
                name: n.clone(),
                num_partitions: 1,
                replication_factor: 1,
                ..CreatableTopic::default()
            })
            .collect(),
        timeout_ms: 10_000,
        ..CreateTopicsRequest::default()
    };
    let resp = c.request(
        ApiKey::CreateTopics,
        7,
        |b| req.encode(b, 7),
        CreateTopicsResponse::decode,
    );
    assert_eq!(resp.topics.len(), names.len());
    for t in &resp.topics {
        assert_eq!(t.error_code, 17, "CreateTopics {:?}", t.name);
    }

    // Produce: no such topic can exist, so UNKNOWN_TOPIC_OR_PARTITION (3), as Kafka answers.
    let batch = Bytes::from(good_batch(&[b"v"]));
    for name in &names {
        assert_eq!(
            produce_records(&mut c, name, Some(batch.clone())),
            3,
            "Produce to {name:?}"
        );
    }

    // None of them exists now.
    let all = c.request(
        ApiKey::Metadata,
        12,
        |b| {
            MetadataRequest {
                topics: None,
                ..MetadataRequest::default()
            }
            .encode(b, 12)
        },
        MetadataResponse::decode,
    );
    let existing: Vec<_> = all.topics.iter().filter_map(|t| t.name.clone()).collect();
    assert_eq!(existing, vec![WITNESS_TOPIC.to_string()]);
    witness.finish(&broker);
}

// ---------------------------------------------------------------------------
// Record batches
// ---------------------------------------------------------------------------

#[test]
fn bad_record_batches_get_their_error_codes_and_store_nothing() {
    let broker = broker();
    let witness = Witness::start(&broker);
    let mut c = broker.connect();
    c.ensure_topics(&["victim"]);
    let good = good_batch(&[b"one", b"two", b"three"]);
    let mut cases: Vec<(&str, Option<Vec<u8>>, i16)> = Vec::new();

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    cases.push(("bad CRC", Some(bad_crc), 2));

    let mut longer = good.clone();
    let len = i32::from_be_bytes([longer[8], longer[9], longer[10], longer[11]]);
    longer[8..12].copy_from_slice(&(len + 10).to_be_bytes());
    cases.push(("batchLength past the data", Some(longer), 2));

    let mut tiny = good.clone();
    tiny[8..12].copy_from_slice(&20i32.to_be_bytes());
    cases.push(("batchLength below a header", Some(tiny), 2));

    let mut huge = good.clone();
    huge[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    cases.push(("batchLength 2^31-1", Some(huge), 2));

    let mut negative = good.clone();
    negative[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    cases.push(("negative batchLength", Some(negative), 2));

    cases.push(("shorter than a header", Some(good[..40].to_vec()), 2));
    cases.push(("cut short", Some(good[..good.len() - 3].to_vec()), 2));

    let mut shorter = good.clone();
    shorter[8..12].copy_from_slice(&(len - 3).to_be_bytes());
    let cut = shorter.len() - 3;
    refresh_crc(&mut shorter[..cut]);
    cases.push(("batchLength shorter than the records", Some(shorter), 2));

    for magic in [0u8, 1] {
        let mut old = good.clone();
        old[16] = magic;
        cases.push(("old magic", Some(old), 43));
    }

    let mut count = good.clone();
    count[57..61].copy_from_slice(&5i32.to_be_bytes());
    refresh_crc(&mut count);
    cases.push(("recordCount != lastOffsetDelta + 1", Some(count), 87));

    let mut max_delta = good.clone();
    max_delta[23..27].copy_from_slice(&i32::MAX.to_be_bytes());
    refresh_crc(&mut max_delta);
    cases.push(("lastOffsetDelta i32::MAX", Some(max_delta), 87));

    let mut zero = good.clone();
    zero[23..27].copy_from_slice(&(-1i32).to_be_bytes());
    zero[57..61].copy_from_slice(&0i32.to_be_bytes());
    refresh_crc(&mut zero);
    cases.push(("no records", Some(zero), 87));

    let big_value = vec![b'z'; MAX_MESSAGE];
    cases.push((
        "over max.message.bytes",
        Some(good_batch(&[&big_value])),
        10,
    ));

    // A good batch followed by a bad one: the whole partition's data is refused.
    let mut pair = good.clone();
    pair.extend_from_slice(&good[..30]);
    cases.push(("good batch then a truncated one", Some(pair), 2));

    cases.push(("null records", None, 2));
    cases.push(("empty records", Some(Vec::new()), 87));

    for (what, records, code) in cases {
        let got = produce_records(&mut c, "victim", records.map(Bytes::from));
        assert_eq!(got, code, "{what}");
    }
    witness.still_working(3);

    // Nothing was stored: a good batch now lands at offset 0 and reads back alone.
    let (error, base) = c.produce("victim", 0, &[b"after"]);
    assert_eq!((error, base), (0, 0));
    let back = fetch(&mut c, "victim", 0, 0);
    assert_eq!(back, vec![(0, b"after".to_vec())]);
    witness.finish(&broker);
}
