//! The 25 CodeCrafters "Build your own Kafka" stages (STAGES.md §5), replayed against the real
//! binary the way the tester runs them: the tester's files are written into a temp dir, the
//! broker is started with the tester's `server.properties` as its positional argument (plus
//! `--listen 127.0.0.1:0 --log-dirs <temp>`), requests go out as whole frames in one write with
//! header v2 and client id "kafka-tester", and each response is read the tester's way (one read
//! of up to 4 bytes, then whatever arrives within 100 ms), size-checked, and decoded field by
//! field at the stated version with nothing left over.

use crate::common;

use std::fs;
use std::path::Path;

use bytes::{Buf, Bytes};
use common::fixtures::*;
use common::{hex, TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponse;
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::metadata::MetadataRecord;
use sluice::protocol::messages::metadata_request::MetadataRequest;
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::record::{self, BatchHeader, BatchIter};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Stage harness
// ---------------------------------------------------------------------------------------------

/// Writes the tester's files for `topics` and starts the broker on them.
fn start_stage(topics: &[TopicSpec]) -> TestBroker {
    let TesterFiles {
        temp,
        properties,
        log_dir,
    } = write_tester_files(topics);
    let props = properties.to_str().expect("utf-8 path").to_string();
    TestBroker::start_owning(temp, &log_dir, &[&props])
}

/// A connection that behaves like the tester's client.
fn tester(broker: &TestBroker) -> WireClient {
    let mut c = broker.connect();
    c.client_id = Some("kafka-tester".into());
    c
}

/// The request header the tester writes (v2, int16-length client id, empty tags).
fn tester_header(key: i16, version: i16, cid: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&cid.to_be_bytes());
    h.extend_from_slice(&[0x00, 0x0c]);
    h.extend_from_slice(b"kafka-tester");
    h.push(0x00);
    h
}

/// A whole request frame, built with the harness's encoder and checked against the tester's
/// byte layout.
fn frame(c: &WireClient, key: ApiKey, version: i16, cid: i32, body: &[u8]) -> Vec<u8> {
    let f = c.frame(key, version, cid, |b| b.put_slice(body));
    let header = tester_header(key as i16, version, cid);
    assert_eq!(
        &f[4..4 + header.len()],
        header.as_slice(),
        "header v2 layout"
    );
    assert_eq!(&f[4 + header.len()..], body);
    assert_eq!(
        i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize,
        f.len() - 4
    );
    f
}

/// One write of the frame, then the tester's read; checks the size field against the bytes
/// that arrived and returns the payload after it.
fn exchange(c: &mut WireClient, frame: &[u8]) -> Bytes {
    c.send_raw(frame);
    receive_checked(c)
}

fn receive_checked(c: &mut WireClient) -> Bytes {
    let got = c.receive_like_tester();
    assert!(got.len() >= 4, "fewer than 4 bytes received: {got:02x?}");
    let size = i32::from_be_bytes([got[0], got[1], got[2], got[3]]);
    assert_eq!(
        size as usize,
        got.len() - 4,
        "size field vs bytes received after it (a second response or a short write)"
    );
    Bytes::from(got).slice(4..)
}

/// Header v1 (every API but ApiVersions): correlation id, then tags.
fn strip_header_v1(payload: &mut Bytes, cid: i32) {
    let h = ResponseHeader::decode(payload, 1).expect("response header v1");
    assert_eq!(h.correlation_id, cid, "correlation id echoed");
}

/// Header v0 (ApiVersions, always): correlation id only.
fn strip_header_v0(payload: &mut Bytes, cid: i32) {
    assert!(payload.len() >= 4);
    assert_eq!(payload.get_i32(), cid, "correlation id echoed");
}

fn compact_string(out: &mut Vec<u8>, s: &str) {
    uvarint(out, s.len() as u64 + 1);
    out.extend_from_slice(s.as_bytes());
}

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

// ---------------------------------------------------------------------------------------------
// Request bodies exactly as the tester encodes them (STAGES.md §3)
// ---------------------------------------------------------------------------------------------

/// ApiVersions v4 body: software name "kafka-cli", version "0.1", tags.
fn api_versions_body() -> Vec<u8> {
    let mut b = Vec::new();
    compact_string(&mut b, "kafka-cli");
    compact_string(&mut b, "0.1");
    b.push(0);
    b
}

fn dtp_body(topics: &[&str], limit: i32) -> Vec<u8> {
    let mut b = Vec::new();
    uvarint(&mut b, topics.len() as u64 + 1);
    for t in topics {
        compact_string(&mut b, t);
        b.push(0);
    }
    b.extend_from_slice(&limit.to_be_bytes());
    b.push(0xff);
    b.push(0);
    b
}

/// Fetch v16: one topic by id with partition 0 from offset 0, or no topics.
fn fetch_body(topic: Option<Uuid>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&500i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&i32::MAX.to_be_bytes());
    b.push(0); // isolation level
    b.extend_from_slice(&0i32.to_be_bytes()); // session id
    b.extend_from_slice(&0i32.to_be_bytes()); // session epoch
    match topic {
        None => b.push(0x01),
        Some(id) => {
            b.push(0x02);
            b.extend_from_slice(id.as_bytes());
            b.push(0x02);
            b.extend_from_slice(&0i32.to_be_bytes()); // partition
            b.extend_from_slice(&(-1i32).to_be_bytes()); // current leader epoch
            b.extend_from_slice(&0i64.to_be_bytes()); // fetch offset
            b.extend_from_slice(&(-1i32).to_be_bytes()); // last fetched epoch
            b.extend_from_slice(&(-1i64).to_be_bytes()); // log start offset
            b.extend_from_slice(&i32::MAX.to_be_bytes()); // partition max bytes
            b.push(0);
            b.push(0);
        }
    }
    b.push(0x01); // forgotten topics
    b.push(0x01); // rack id ""
    b.push(0);
    b
}

/// Produce v11: topics by name, each partition with one batch.
fn produce_body(topics: &[(&str, Vec<(i32, Bytes)>)]) -> Vec<u8> {
    let mut b = vec![0x00]; // transactional id null
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&30000i32.to_be_bytes());
    uvarint(&mut b, topics.len() as u64 + 1);
    for (name, partitions) in topics {
        compact_string(&mut b, name);
        uvarint(&mut b, partitions.len() as u64 + 1);
        for (index, batch) in partitions {
            b.extend_from_slice(&index.to_be_bytes());
            uvarint(&mut b, batch.len() as u64 + 1);
            b.extend_from_slice(batch);
            b.push(0);
        }
        b.push(0);
    }
    b.push(0);
    b
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The tester's `require(k, lo, hi)` over an ApiVersions answer.
fn require(resp: &ApiVersionsResponse, key: i16, lo: i16, hi: i16) {
    let e = resp
        .api_keys
        .iter()
        .find(|a| a.api_key == key)
        .unwrap_or_else(|| panic!("api key {key} missing"));
    assert!(
        e.min_version >= lo && e.min_version <= hi && e.max_version >= hi,
        "key {key}: {}..={} does not cover {lo}..={hi}",
        e.min_version,
        e.max_version
    );
}

/// pv1's exchange: ApiVersions v4, fully decoded, error 0, plus the stage's requirements.
fn api_versions_stage(c: &mut WireClient, cid: i32, requirements: &[(i16, i16, i16)]) {
    let f = frame(c, ApiKey::ApiVersions, 4, cid, &api_versions_body());
    let payload = exchange(c, &f);
    check_api_versions(payload, cid, requirements);
}

fn check_api_versions(mut payload: Bytes, cid: i32, requirements: &[(i16, i16, i16)]) {
    strip_header_v0(&mut payload, cid);
    let resp = ApiVersionsResponse::decode(&mut payload, 4).expect("ApiVersions v4 body");
    assert_eq!(payload.remaining(), 0, "undecoded bytes");
    assert_eq!(resp.error_code, 0);
    let mut all = vec![(18, 0, 4)];
    all.extend_from_slice(requirements);
    assert!(resp.api_keys.len() >= all.len());
    for (k, lo, hi) in all {
        require(&resp, k, lo, hi);
    }
}

fn dtp(
    c: &mut WireClient,
    cid: i32,
    topics: &[&str],
    limit: i32,
) -> (Bytes, DescribeTopicPartitionsResponse) {
    let f = frame(
        c,
        ApiKey::DescribeTopicPartitions,
        0,
        cid,
        &dtp_body(topics, limit),
    );
    let mut payload = exchange(c, &f);
    strip_header_v1(&mut payload, cid);
    let raw = payload.clone();
    let resp = DescribeTopicPartitionsResponse::decode(&mut payload, 0).expect("DTP v0 body");
    assert_eq!(payload.remaining(), 0, "undecoded bytes");
    // The cursor is the body's last field before its tags: `ff` means null.
    assert_eq!(&raw[raw.len() - 2..], &[0xff, 0x00], "null next_cursor");
    assert!(resp.next_cursor.is_none());
    (raw, resp)
}

fn fetch(c: &mut WireClient, cid: i32, topic: Option<Uuid>) -> (Bytes, FetchResponse) {
    let f = frame(c, ApiKey::Fetch, 16, cid, &fetch_body(topic));
    let mut payload = exchange(c, &f);
    let raw = payload.clone();
    strip_header_v1(&mut payload, cid);
    let resp = FetchResponse::decode(&mut payload, 16).expect("Fetch v16 body");
    assert_eq!(payload.remaining(), 0, "undecoded bytes");
    assert_eq!(resp.throttle_time_ms, 0);
    assert_eq!(resp.error_code, 0);
    for t in &resp.responses {
        for p in &t.partitions {
            // The tester reads no tag byte per aborted transaction: only null or empty is safe.
            assert!(p.aborted_transactions.as_ref().is_none_or(Vec::is_empty));
            if let Some(records) = &p.records {
                strict_batches(records);
            }
        }
    }
    (raw, resp)
}

/// The tester's decoding of a records field: whole batches back to back using exactly every
/// byte, each with a good CRC and records that decode.
fn strict_batches(records: &Bytes) -> Vec<BatchHeader> {
    let mut used = 0;
    let mut headers = Vec::new();
    for found in BatchIter::new(records.clone()) {
        let found = found.unwrap_or_else(|(pos, e)| panic!("bad batch at {pos}: {e}"));
        record::decode_records(&found.bytes).expect("records decode");
        used += found.bytes.len();
        headers.push(found.header);
    }
    assert_eq!(used, records.len(), "records field ends inside a batch");
    headers
}

fn produce(c: &mut WireClient, cid: i32, topics: &[(&str, Vec<(i32, Bytes)>)]) -> ProduceResponse {
    let f = frame(c, ApiKey::Produce, 11, cid, &produce_body(topics));
    let mut payload = exchange(c, &f);
    strip_header_v1(&mut payload, cid);
    let resp = ProduceResponse::decode(&mut payload, 11).expect("Produce v11 body");
    assert_eq!(payload.remaining(), 0, "undecoded bytes");
    assert_eq!(resp.throttle_time_ms, 0);
    resp
}

/// Checks a Produce answer against the request: topics matched by name and partitions by
/// index in any order, each with `expect_error` and its offsets.
fn check_produce(resp: &ProduceResponse, sent: &[(&str, Vec<(i32, Bytes)>)], expect_error: i16) {
    assert_eq!(resp.responses.len(), sent.len(), "topic count");
    for (name, partitions) in sent {
        let t = resp
            .responses
            .iter()
            .find(|t| t.name == *name)
            .unwrap_or_else(|| panic!("topic {name} missing from the answer"));
        assert_eq!(t.partition_responses.len(), partitions.len());
        for (index, _) in partitions {
            let p = t
                .partition_responses
                .iter()
                .find(|p| p.index == *index)
                .unwrap_or_else(|| panic!("{name}-{index} missing from the answer"));
            assert_eq!(p.error_code, expect_error, "{name}-{index}");
            if expect_error == 0 {
                assert_eq!(
                    (p.base_offset, p.log_append_time_ms, p.log_start_offset),
                    (0, -1, 0)
                );
            } else {
                assert_eq!(
                    (p.base_offset, p.log_append_time_ms, p.log_start_offset),
                    (-1, -1, -1)
                );
            }
            assert!(p.record_errors.is_empty());
            assert_eq!(p.error_message, None);
        }
    }
}

/// The tester's disk check: the first batch of the partition's first segment decodes and has
/// the CRC of the batch that was sent. We also require the stored bytes to be the sent bytes
/// (the base offset, rewritten by the broker, is 0 on an empty partition anyway).
fn disk_check(log_dir: &Path, topic: &str, partition: i32, sent: &Bytes) {
    let path = segment_path(log_dir, topic, partition);
    let data = Bytes::from(fs::read(&path).expect("segment file"));
    let header = record::validate(&data).expect("first batch decodes");
    record::decode_records(&data.slice(..header.total_len())).expect("records decode");
    let sent_header = BatchHeader::parse(sent).expect("sent batch");
    assert_eq!(
        header.crc,
        sent_header.crc,
        "{}: CRC of the sent batch",
        path.display()
    );
    assert_eq!(&data[..header.total_len()], &sent[..], "stored bytes");
}

fn one_topic_stage_files(rng: &mut Rng, messages: usize, partitions: usize) -> TopicSpec {
    let name = rng.words(1).remove(0);
    let id = rng.topic_uuid();
    let parts = (0..partitions)
        .map(|_| {
            (0..messages)
                .map(|_| rng.words(1).remove(0).into_bytes())
                .collect()
        })
        .collect();
    TopicSpec::new(&name, id, parts)
}

// ---------------------------------------------------------------------------------------------
// Fixtures against the stage vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn fixtures_reproduce_the_stage_byte_vectors() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);

    let fl = feature_level_batch();
    assert_eq!(fl.len(), 91);
    assert_eq!(fl.as_ref(), hex(FEATURE_LEVEL_BATCH_HEX).as_slice());
    assert_eq!(BatchHeader::parse(&fl).expect("header").crc, 0xb069457c);
    let value = record_value(
        &MetadataRecord::FeatureLevelRecord(
            sluice::protocol::messages::metadata::FeatureLevelRecord {
                name: "metadata.version".into(),
                feature_level: 20,
            },
        ),
        0,
    );
    assert_eq!(value.as_ref(), hex(FEATURE_LEVEL_VALUE_HEX).as_slice());

    let id = uuid::uuid!("71a59a51-8968-4f8b-937e-0123456789ab");
    let topic = TopicSpec::empty("foo", id, 1);
    let batch = tester_topic_batch(2, &topic);
    assert_eq!(batch.len(), 166);
    let h = record::validate(&batch).expect("valid");
    assert_eq!(
        (h.base_offset, h.batch_length, h.partition_leader_epoch),
        (2, 154, 1)
    );
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (-1, -1, -1)
    );
    assert_eq!(h.base_timestamp, TOPIC_TIMESTAMP);
    let pr = record_value(
        &MetadataRecord::PartitionRecord(tester_partition_record(id, 0)),
        1,
    );
    assert_eq!(pr.len(), 65);
    let mut expected_pr = hex("010301 00000000");
    expected_pr.extend_from_slice(id.as_bytes());
    expected_pr.extend(hex(
        "0200000001 0200000001 01 01 00000001 00000000 00000000 02",
    ));
    expected_pr.extend_from_slice(DIRECTORY_ID.as_bytes());
    expected_pr.push(0);
    assert_eq!(pr.as_ref(), expected_pr.as_slice());
    // The generated decoder reads it back.
    let mut v = pr.clone();
    let (decoded, version) = MetadataRecord::decode_value(&mut v)
        .expect("decodes")
        .expect("known type");
    assert_eq!(version, 1);
    assert_eq!(
        decoded,
        MetadataRecord::PartitionRecord(tester_partition_record(id, 0))
    );

    let log = tester_metadata_log(&[topic.clone(), TopicSpec::empty("bar", id, 2)]);
    let offsets: Vec<i64> = BatchIter::new(Bytes::from(log))
        .map(|b| b.expect("valid").header.base_offset)
        .collect();
    assert_eq!(offsets, vec![1, 2, 4]);

    let pineapple = topic_log_batch(0, b"pineapple");
    assert_eq!(pineapple.len(), 77);
    assert_eq!(pineapple.as_ref(), hex(PINEAPPLE_BATCH_HEX).as_slice());
    assert_eq!(topic_log(&[b"x".to_vec(), b"y".to_vec()]).len(), 2 * 69);

    let mango = produce_batch(&[b"mango"]);
    assert_eq!(mango.len(), 73);
    assert_eq!(mango.as_ref(), hex(MANGO_BATCH_HEX).as_slice());

    assert_eq!(
        padded_base64(CLUSTER_UUID).trim_end_matches('='),
        CLUSTER_ID
    );
    assert_eq!(padded_base64(DIRECTORY_ID), DIRECTORY_ID_TEXT);
    assert!(!SERVER_PROPERTIES.ends_with('\n'));
    assert_eq!(SERVER_PROPERTIES.lines().count(), 7);

    // §3: the ApiVersions frame is 42 bytes; the DTP body for "mango", limit 1.
    let c = dummy_client();
    let f = frame(&c, ApiKey::ApiVersions, 4, 7, &api_versions_body());
    assert_eq!(f.len(), 42);
    assert_eq!(&f[..4], &hex("00000026")[..]);
    assert_eq!(
        dtp_body(&["mango"], 1),
        hex("02 06 6d616e676f 00 00000001 ff 00")
    );
}

/// A client not connected to anything useful, for encoding only.
fn dummy_client() -> WireClient {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut c = WireClient::connect(listener.local_addr().expect("addr"));
    c.client_id = Some("kafka-tester".into());
    c
}

// ---------------------------------------------------------------------------------------------
// The tester's server.properties
// ---------------------------------------------------------------------------------------------

#[test]
fn broker_reads_the_testers_server_properties_as_positional_argument() {
    let files = write_tester_files(&[]);
    let text = fs::read_to_string(&files.properties).expect("read back");
    assert_eq!(text, SERVER_PROPERTIES);
    assert!(!text.ends_with('\n'));
    let TesterFiles {
        temp,
        properties,
        log_dir,
    } = files;
    let props = properties.to_str().expect("utf-8").to_string();
    let broker = TestBroker::start_owning(temp, &log_dir, &[&props]);
    assert!(
        broker
            .log_lines()
            .iter()
            .any(|l| l.contains("listening on") && l.contains(&props)),
        "startup names the properties file: {:?}",
        broker.log_lines()
    );
    // node.id=1 from the file; the cluster id from the tester's meta.properties.
    let mut c = broker.connect();
    let resp = c.request(
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
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.brokers[0].node_id, 1);
    assert_eq!(resp.controller_id, 1);
    assert_eq!(resp.cluster_id.as_deref(), Some(CLUSTER_ID));
    assert!(resp.topics.is_empty());
    // The data went to the --log-dirs override, not to the file's log.dirs.
    assert!(broker.data_dir.join("meta.properties").is_file());
}

// ---------------------------------------------------------------------------------------------
// Base stages
// ---------------------------------------------------------------------------------------------

#[test]
fn stage_vi6_bind() {
    let broker = start_stage(&[]);
    // The tester connects, sends nothing and keeps the socket open; another client is served.
    let idle = std::net::TcpStream::connect(broker.addr).expect("connect");
    let mut c = tester(&broker);
    api_versions_stage(&mut c, 1, &[]);
    drop(idle);
}

#[test]
fn stage_nv3_correlation_id_7() {
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    let f = frame(&c, ApiKey::ApiVersions, 4, 7, &api_versions_body());
    let payload = exchange(&mut c, &f);
    assert_eq!(&payload[..4], &7i32.to_be_bytes());
    check_api_versions(payload, 7, &[]);
}

#[test]
fn stage_wa6_echo_correlation_id() {
    let mut rng = Rng::new("wa6");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    for cid in [rng.correlation_id(), 0, 2_147_483_645] {
        let f = frame(&c, ApiKey::ApiVersions, 4, cid, &api_versions_body());
        let payload = exchange(&mut c, &f);
        assert_eq!(&payload[..4], &cid.to_be_bytes());
        check_api_versions(payload, cid, &[]);
    }
}

#[test]
fn stage_nc5_unsupported_version() {
    let mut rng = Rng::new("nc5");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    for version in [rng.range(1000, 2000) as i16, 1000, 1999] {
        let cid = rng.correlation_id();
        let f = frame(&c, ApiKey::ApiVersions, version, cid, &api_versions_body());
        let mut payload = exchange(&mut c, &f);
        // Header v0, then error_code 35 directly; the rest is Kafka's v0 body.
        assert_eq!(&payload[4..6], &[0x00, 0x23]);
        assert_eq!(&payload[4..], &hex("0023 00000001 0012 0000 0004")[..]);
        strip_header_v0(&mut payload, cid);
        let resp = ApiVersionsResponse::decode(&mut payload, 0).expect("v0 body");
        assert_eq!(payload.remaining(), 0);
        assert_eq!(resp.error_code, 35);
    }
}

#[test]
fn stage_pv1_api_versions_v4() {
    let mut rng = Rng::new("pv1");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    api_versions_stage(&mut c, rng.correlation_id(), &[]);
}

#[test]
fn stage_nh4_serial_requests_on_one_connection() {
    let mut rng = Rng::new("nh4");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    let cid = rng.correlation_id();
    // The tester sends 2-4; four covers every count.
    for _ in 0..4 {
        api_versions_stage(&mut c, cid, &[]);
    }
}

#[test]
fn stage_sk0_concurrent_connections() {
    let mut rng = Rng::new("sk0");
    let broker = start_stage(&[]);
    for clients in [2, 3] {
        let mut conns: Vec<(WireClient, i32)> = (0..clients)
            .map(|_| (tester(&broker), rng.correlation_id()))
            .collect();
        // Every client writes before anything is read ...
        for (c, cid) in &mut conns {
            let f = frame(c, ApiKey::ApiVersions, 4, *cid, &api_versions_body());
            c.send_raw(&f);
        }
        // ... then the responses are read in reverse client order.
        for (c, cid) in conns.iter_mut().rev() {
            let payload = receive_checked(c);
            check_api_versions(payload, *cid, &[]);
        }
    }
}

#[test]
fn stages_yk1_gs0_xz1_api_versions_list_the_apis() {
    let mut rng = Rng::new("yk1/gs0/xz1");
    let broker = start_stage(&[]);
    for requirement in [(75, 0, 0), (1, 0, 16), (0, 0, 11)] {
        let mut c = tester(&broker);
        api_versions_stage(&mut c, rng.correlation_id(), &[requirement]);
    }
}

// ---------------------------------------------------------------------------------------------
// DescribeTopicPartitions stages
// ---------------------------------------------------------------------------------------------

#[test]
fn stage_vt6_dtp_unknown_topic() {
    let mut rng = Rng::new("vt6");
    let topic = TopicSpec::new(
        &rng.words(1)[0],
        rng.topic_uuid(),
        vec![vec![rng.random_string().into_bytes()]],
    );
    let broker = start_stage(&[topic]);
    let mut c = tester(&broker);
    let unknown = format!("UNKNOWN_TOPIC_{}", rng.range(1, 100));
    let cid = rng.correlation_id();
    let (raw, resp) = dtp(&mut c, cid, &[&unknown], 1);
    assert_eq!(raw[4], 0x02, "topics length byte");
    assert_eq!(resp.topics.len(), 1);
    let t = &resp.topics[0];
    assert_eq!(t.name.as_deref(), Some(unknown.as_str()));
    assert_eq!(t.topic_id, Uuid::nil());
    assert_eq!(t.error_code, 3);
    assert!(t.partitions.is_empty());
}

fn dtp_known_stage(label: &str, partitions: usize) {
    let mut rng = Rng::new(label);
    let topic = one_topic_stage_files(&mut rng, 1, partitions);
    let broker = start_stage(std::slice::from_ref(&topic));
    let mut c = tester(&broker);
    let cid = rng.correlation_id();
    let (_, resp) = dtp(&mut c, cid, &[&topic.name], partitions as i32);
    assert_eq!(resp.topics.len(), 1);
    let t = &resp.topics[0];
    assert_eq!(t.name.as_deref(), Some(topic.name.as_str()));
    assert_eq!(t.topic_id, topic.id);
    assert_eq!(t.error_code, 0);
    let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
    assert_eq!(indexes, (0..partitions as i32).collect::<Vec<_>>());
    for p in &t.partitions {
        assert_eq!(p.error_code, 0);
        // Not checked by the tester; what Kafka sends for the tester's PartitionRecords.
        assert_eq!((p.leader_id, p.leader_epoch), (1, 0));
        assert_eq!(
            (p.replica_nodes.as_slice(), p.isr_nodes.as_slice()),
            (&[1][..], &[1][..])
        );
    }
}

#[test]
fn stage_ea7_dtp_one_partition() {
    dtp_known_stage("ea7", 1);
}

#[test]
fn stage_ku4_dtp_two_partitions() {
    dtp_known_stage("ku4", 2);
}

#[test]
fn stage_wq2_dtp_two_topics() {
    let mut rng = Rng::new("wq2");
    let names = rng.words(2);
    let ids = rng.sibling_uuids(2);
    let a = TopicSpec::new(
        &names[0],
        ids[0],
        vec![vec![rng.random_string().into_bytes()]],
    );
    let b = TopicSpec::new(
        &names[1],
        ids[1],
        vec![
            vec![rng.random_string().into_bytes()],
            vec![rng.random_string().into_bytes()],
        ],
    );
    let broker = start_stage(&[a.clone(), b.clone()]);
    let mut expected = vec![&a, &b];
    expected.sort_by(|x, y| x.name.cmp(&y.name));
    // The tester asks in generation order, which may or may not be sorted: try both.
    for request in [[&a.name, &b.name], [&b.name, &a.name]] {
        let mut c = tester(&broker);
        let cid = rng.correlation_id();
        let (_, resp) = dtp(&mut c, cid, &[request[0], request[1]], 3);
        assert_eq!(resp.topics.len(), 2);
        for (t, spec) in resp.topics.iter().zip(&expected) {
            assert_eq!(t.name.as_deref(), Some(spec.name.as_str()));
            assert_eq!(t.topic_id, spec.id, "all 16 bytes of the sibling id");
            assert_eq!(t.error_code, 0);
            let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
            assert_eq!(
                indexes,
                (0..spec.partitions.len() as i32).collect::<Vec<_>>()
            );
            assert!(t.partitions.iter().all(|p| p.error_code == 0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fetch stages
// ---------------------------------------------------------------------------------------------

#[test]
fn stage_gs0_and_dh6_fetch_with_no_topics() {
    let mut rng = Rng::new("dh6");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    api_versions_stage(&mut c, rng.correlation_id(), &[(1, 0, 16)]);
    let cid = rng.correlation_id();
    let (raw, resp) = fetch(&mut c, cid, None);
    assert!(resp.responses.is_empty());
    // Kafka's 17-byte payload: cid, tags, throttle, error, session, responses `01`, tags.
    let mut expected = cid.to_be_bytes().to_vec();
    expected.extend(hex("00 00000000 0000 00000000 01 00"));
    assert_eq!(raw.as_ref(), expected.as_slice());
}

#[test]
fn stage_hn6_fetch_unknown_topic_id() {
    let mut rng = Rng::new("hn6");
    let name = rng.words(1).remove(0);
    let ids = rng.sibling_uuids(2);
    let topic = TopicSpec::new(
        &name,
        ids[0],
        vec![vec![rng.words(1)[0].clone().into_bytes()]],
    );
    let broker = start_stage(&[topic]);
    let mut c = tester(&broker);
    let (_, resp) = fetch(&mut c, rng.correlation_id(), Some(ids[1]));
    assert_eq!(resp.responses.len(), 1);
    let t = &resp.responses[0];
    assert_eq!(t.topic_id, ids[1]);
    assert_eq!(t.partitions.len(), 1);
    let p = &t.partitions[0];
    assert_eq!((p.partition_index, p.error_code), (0, 100));
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (-1, -1, -1)
    );
    assert_eq!(p.preferred_read_replica, -1);
    assert!(p.records.as_ref().is_none_or(Bytes::is_empty));
}

#[test]
fn stage_cm4_fetch_empty_partition() {
    let mut rng = Rng::new("cm4");
    let topic = one_topic_stage_files(&mut rng, 0, 1);
    let broker = start_stage(std::slice::from_ref(&topic));
    let mut c = tester(&broker);
    let (_, resp) = fetch(&mut c, rng.correlation_id(), Some(topic.id));
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].topic_id, topic.id);
    assert_eq!(resp.responses[0].partitions.len(), 1);
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.partition_index, p.error_code), (0, 0));
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (0, 0, 0)
    );
    assert!(p.records.as_ref().is_none_or(Bytes::is_empty), "no records");
}

fn fetch_from_disk_stage(label: &str, messages: usize) {
    let mut rng = Rng::new(label);
    let topic = one_topic_stage_files(&mut rng, messages, 1);
    let broker = start_stage(std::slice::from_ref(&topic));
    let file = fs::read(segment_path(&broker.data_dir, &topic.name, 0)).expect("segment");
    assert_eq!(
        file,
        topic_log(&topic.partitions[0]),
        "the tester's file is intact"
    );
    let mut c = tester(&broker);
    let (_, resp) = fetch(&mut c, rng.correlation_id(), Some(topic.id));
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].topic_id, topic.id);
    assert_eq!(resp.responses[0].partitions.len(), 1);
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.partition_index, p.error_code), (0, 0));
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (messages as i64, messages as i64, 0)
    );
    let records = p.records.clone().expect("records");
    // The whole .log file, byte for byte: every batch, in order.
    assert_eq!(records.as_ref(), file.as_slice());
    let headers = strict_batches(&records);
    let offsets: Vec<i64> = headers.iter().map(|h| h.base_offset).collect();
    assert_eq!(offsets, (0..messages as i64).collect::<Vec<_>>());
}

#[test]
fn stage_eg2_fetch_one_batch_from_disk() {
    fetch_from_disk_stage("eg2", 1);
}

#[test]
fn stage_fd8_fetch_several_batches_from_disk() {
    fetch_from_disk_stage("fd8", 2);
    fetch_from_disk_stage("fd8", 3);
}

// ---------------------------------------------------------------------------------------------
// Produce stages
// ---------------------------------------------------------------------------------------------

#[test]
fn stage_xz1_api_versions_has_produce() {
    let mut rng = Rng::new("xz1");
    let broker = start_stage(&[]);
    let mut c = tester(&broker);
    api_versions_stage(&mut c, rng.correlation_id(), &[(0, 0, 11)]);
}

#[test]
fn stage_zf2_produce_to_unknown_partition_and_topic() {
    let mut rng = Rng::new("zf2");
    let names = rng.words(2);
    let a = TopicSpec::new(&names[0], rng.topic_uuid(), vec![vec![b"x".to_vec()]]);
    let broker = start_stage(std::slice::from_ref(&a));
    let metadata_log = broker
        .data_dir
        .join("__cluster_metadata-0")
        .join("00000000000000000000.log");
    let metadata_before = fs::read(&metadata_log).expect("metadata log");
    let segment_before = fs::read(segment_path(&broker.data_dir, &a.name, 0)).expect("seg");
    let mut c = tester(&broker);
    let bad_partition = rng.range(100, 1000) as i32;
    let requests = [(names[0].as_str(), bad_partition), (names[1].as_str(), 0)];
    // Both requests on the same connection.
    for (topic, partition) in requests {
        let batch = produce_batch(&[rng.words(1)[0].as_bytes()]);
        let sent = [(topic, vec![(partition, batch)])];
        let resp = produce(&mut c, rng.correlation_id(), &sent);
        check_produce(&resp, &sent, 3);
    }
    // Nothing was written or created.
    assert!(!broker
        .data_dir
        .join(format!("{}-{bad_partition}", a.name))
        .exists());
    assert!(!broker.data_dir.join(format!("{}-0", names[1])).exists());
    assert_eq!(
        fs::read(&metadata_log).expect("metadata log"),
        metadata_before
    );
    assert_eq!(
        fs::read(segment_path(&broker.data_dir, &a.name, 0)).expect("seg"),
        segment_before
    );
}

/// One Produce stage: `topics` (name, partition count) with empty logs; `records` values per
/// batch, one batch per partition; the response check and, when `check_disk`, the disk check.
fn produce_stage(rng: &mut Rng, topics: &[(String, usize)], records: usize, check_disk: bool) {
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|(name, n)| TopicSpec::empty(name, rng.topic_uuid(), *n))
        .collect();
    let broker = start_stage(&specs);
    let mut c = tester(&broker);
    let sent: Vec<(&str, Vec<(i32, Bytes)>)> = topics
        .iter()
        .map(|(name, n)| {
            let partitions = (0..*n as i32)
                .map(|p| {
                    let words = rng.words(records);
                    let values: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
                    (p, produce_batch(&values))
                })
                .collect();
            (name.as_str(), partitions)
        })
        .collect();
    let resp = produce(&mut c, rng.correlation_id(), &sent);
    check_produce(&resp, &sent, 0);
    if check_disk {
        for (name, partitions) in &sent {
            for (p, batch) in partitions {
                disk_check(&broker.data_dir, name, *p, batch);
            }
        }
    }
}

#[test]
fn stage_gg1_produce_one_record() {
    let mut rng = Rng::new("gg1");
    let name = rng.words(1).remove(0);
    produce_stage(&mut rng, &[(name, 1)], 1, false);
}

#[test]
fn stage_ls8_produce_one_record_to_disk() {
    let mut rng = Rng::new("ls8");
    let name = rng.words(1).remove(0);
    produce_stage(&mut rng, &[(name, 1)], 1, true);
}

#[test]
fn stage_yd8_produce_one_batch_of_several_records() {
    let mut rng = Rng::new("yd8");
    for records in [2, 3] {
        let name = rng.words(1).remove(0);
        produce_stage(&mut rng, &[(name, 1)], records, true);
    }
}

#[test]
fn stage_ct4_produce_to_several_partitions() {
    let mut rng = Rng::new("ct4");
    for partitions in [2, 3] {
        let name = rng.words(1).remove(0);
        let records = rng.range(2, 4) as usize;
        produce_stage(&mut rng, &[(name, partitions)], records, true);
    }
}

#[test]
fn stage_ov0_produce_to_two_topics() {
    let mut rng = Rng::new("ov0");
    let names = rng.words(2);
    let topics = vec![
        (names[0].clone(), rng.range(1, 3) as usize),
        (names[1].clone(), 2),
    ];
    let records = rng.range(2, 4) as usize;
    produce_stage(&mut rng, &topics, records, true);
}

/// Produce then Fetch on the tester's directory: the stored batch is served back as sent.
#[test]
fn produced_batch_is_fetched_back_byte_for_byte() {
    let mut rng = Rng::new("produce-fetch");
    let topic = one_topic_stage_files(&mut rng, 2, 1);
    let broker = start_stage(std::slice::from_ref(&topic));
    let mut c = tester(&broker);
    let batch = produce_batch(&[b"mango", b"pear"]);
    let sent = [(topic.name.as_str(), vec![(0, batch.clone())])];
    let resp = produce(&mut c, rng.correlation_id(), &sent);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 2, 0));
    let (_, resp) = fetch(&mut c, rng.correlation_id(), Some(topic.id));
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .expect("records");
    let mut expected = topic_log(&topic.partitions[0]);
    let mut stored = batch.to_vec();
    record::set_base_offset(&mut stored, 2);
    expected.extend_from_slice(&stored);
    assert_eq!(records.as_ref(), expected.as_slice());
}

/// `your_program.sh` runs the binary `.codecrafters/compile.sh` built, and `run.sh` execs that
/// same file: CodeCrafters' run step finds the broker compiled instead of building it again.
#[test]
fn your_program_sh_uses_the_target_directory_compile_sh_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| fs::read_to_string(root.join(p)).expect(p);
    let target_dir = |script: &str| -> String {
        let text = read(script);
        let flag = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("--target-dir="))
            .unwrap_or_else(|| panic!("{script} names no --target-dir"));
        flag.to_string()
    };
    let compiled = target_dir(".codecrafters/compile.sh");
    assert_eq!(target_dir("your_program.sh"), compiled);
    let binary = format!("{compiled}/release/sluice");
    assert!(read("your_program.sh").contains(&format!("exec {binary} ")));
    assert!(read(".codecrafters/run.sh").contains(&format!("exec {binary} ")));
}
