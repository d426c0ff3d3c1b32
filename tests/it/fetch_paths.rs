//! Fetch answered from a partition's published state (no round trip through its actor): a
//! consumer waiting at the log end gets the write that woke it, and exactly what a read through
//! the actor would have given — whole batches within the partition budget, errors below the log
//! start — and record bytes sent with sendfile arrive intact.

use crate::common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::topics::fetch_one;
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use sluice::protocol::messages::delete_records_response::DeleteRecordsResponse;
use sluice::protocol::messages::fetch_response::{FetchResponse, PartitionData};
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::record::{decode_records, BatchBuilder, BatchIter};

const FETCH_VERSION: i16 = 12;

fn batch(values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    for v in values {
        b.push(None, Some(v.as_bytes()), &[]);
    }
    b.build()
}

/// Sends a Fetch for `topic`/0 at `offset` and returns the frame to read later.
fn send_fetch(c: &mut WireClient, cid: i32, offset: i64, max_wait_ms: i32, partition_max: i32) {
    let mut req = fetch_one("paths", 0, offset, max_wait_ms, 1);
    req.topics[0].partitions[0].partition_max_bytes = partition_max;
    let frame = c.frame(ApiKey::Fetch, FETCH_VERSION, cid, |b| {
        req.encode(b, FETCH_VERSION)
    });
    c.send_raw(&frame);
}

fn read_fetch(c: &mut WireClient, cid: i32) -> PartitionData {
    let mut payload = c.read_frame().expect("fetch response");
    let header = ResponseHeader::decode(
        &mut payload,
        response_header_version(ApiKey::Fetch, FETCH_VERSION),
    )
    .expect("response header");
    assert_eq!(header.correlation_id, cid);
    let resp = FetchResponse::decode(&mut payload, FETCH_VERSION).expect("fetch body");
    resp.responses[0].partitions[0].clone()
}

/// Values of every record in `records`, with their offsets.
fn values(records: &Option<Bytes>) -> Vec<(i64, String)> {
    let Some(records) = records else {
        return Vec::new();
    };
    BatchIter::new(records.clone())
        .flat_map(|b| {
            let b = b.expect("whole valid batches");
            decode_records(&b.bytes).expect("records")
        })
        .map(|r| {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or(&[])).into_owned();
            (r.offset, value)
        })
        .collect()
}

fn delete_records_before(c: &mut WireClient, topic: &str, partition: i32, offset: i64) {
    let req = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: topic.into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: partition,
                offset,
            }],
        }],
        timeout_ms: 10_000,
    };
    let r = c.request(
        ApiKey::DeleteRecords,
        2,
        |b| req.encode(b, 2),
        DeleteRecordsResponse::decode,
    );
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(r.topics[0].partitions[0].low_watermark, offset);
}

fn setup() -> (TestBroker, WireClient, WireClient) {
    let broker = TestBroker::start();
    let mut consumer = broker.connect();
    let producer = broker.connect();
    consumer.create_topic("paths");
    (broker, consumer, producer)
}

#[test]
fn a_waiting_fetch_gets_the_write_that_woke_it() {
    let (_broker, mut consumer, mut producer) = setup();
    assert_eq!(
        producer
            .produce_batch("paths", 0, batch(&["a", "b"]))
            .error_code,
        0
    );

    // Caught up at offset 2: answered with the next write as soon as it lands.
    send_fetch(&mut consumer, 1, 2, 10_000, 1 << 20);
    std::thread::sleep(Duration::from_millis(100));
    let produced = Instant::now();
    let ack = producer.produce_batch("paths", 0, batch(&["c", "d", "e"]));
    assert_eq!((ack.error_code, ack.base_offset), (0, 2));
    let p = read_fetch(&mut consumer, 1);
    assert!(produced.elapsed() < Duration::from_secs(5));
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 5);
    assert_eq!(
        values(&p.records),
        vec![(2, "c".into()), (3, "d".into()), (4, "e".into())]
    );

    // From the start: both writes, as the actor reads them.
    send_fetch(&mut consumer, 2, 0, 0, 1 << 20);
    let p = read_fetch(&mut consumer, 2);
    assert_eq!(values(&p.records).len(), 5);
}

#[test]
fn a_write_larger_than_the_partition_budget_is_cut_at_a_batch_boundary() {
    let (_broker, mut consumer, mut producer) = setup();
    // One produce request whose records are two batches: one write, two batches.
    let first = batch(&["first-0123456789"]);
    let second = batch(&["second-0123456789"]);
    let mut both = BytesMut::from(&first[..]);
    both.extend_from_slice(&second);

    send_fetch(&mut consumer, 1, 0, 10_000, first.len() as i32 + 10);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        producer.produce_batch("paths", 0, both.freeze()).error_code,
        0
    );
    let p = read_fetch(&mut consumer, 1);
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 2);
    assert_eq!(values(&p.records), vec![(0, "first-0123456789".into())]);
}

#[test]
fn below_the_log_start_is_still_out_of_range() {
    let (_broker, mut consumer, mut producer) = setup();
    for v in ["x", "y", "z"] {
        assert_eq!(
            producer.produce_batch("paths", 0, batch(&[v])).error_code,
            0
        );
    }
    delete_records_before(&mut producer, "paths", 0, 2);
    send_fetch(&mut consumer, 1, 1, 0, 1 << 20);
    let p = read_fetch(&mut consumer, 1);
    assert_eq!(p.error_code, 1, "OFFSET_OUT_OF_RANGE");
    assert_eq!(p.log_start_offset, 2);
    // At the log end: nothing, no error.
    send_fetch(&mut consumer, 2, 3, 0, 1 << 20);
    let p = read_fetch(&mut consumer, 2);
    assert_eq!((p.error_code, p.high_watermark), (0, 3));
    assert!(values(&p.records).is_empty());
}

#[test]
fn large_fetches_arrive_intact() {
    let (_broker, mut consumer, mut producer) = setup();
    // About 3 MB in 1 MB-ish batches, fetched in one 8 MiB response.
    let value = "v".repeat(50_000);
    let mut expected = Vec::new();
    for i in 0..3 {
        let values: Vec<String> = (0..20).map(|j| format!("{i}-{j}-{value}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(
            producer.produce_batch("paths", 0, batch(&refs)).error_code,
            0
        );
        expected.extend(values);
    }
    let mut req = fetch_one("paths", 0, 0, 0, 1);
    req.max_bytes = 8 << 20;
    req.topics[0].partitions[0].partition_max_bytes = 8 << 20;
    let frame = consumer.frame(ApiKey::Fetch, FETCH_VERSION, 9, |b| {
        req.encode(b, FETCH_VERSION)
    });
    consumer.send_raw(&frame);
    let p = read_fetch(&mut consumer, 9);
    let got: Vec<String> = values(&p.records).into_iter().map(|(_, v)| v).collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "record values differ");
}

#[test]
fn an_unknown_fetch_session_is_refused_before_any_wait_or_read() {
    let (_broker, mut consumer, mut producer) = setup();
    let ack = producer.produce_batch("paths", 0, batch(&["a"]));
    assert_eq!(ack.error_code, 0);

    // An incremental fetch (epoch 1) of a session this broker never handed out, asking to wait
    // ten minutes for a megabyte: the answer is FETCH_SESSION_ID_NOT_FOUND with no partitions,
    // within the client's 30 s read timeout, so it neither long-polled nor read the log.
    let mut req = fetch_one("paths", 0, 0, 600_000, 1);
    req.min_bytes = 1 << 20;
    req.session_id = 99;
    req.session_epoch = 1;
    let frame = consumer.frame(ApiKey::Fetch, FETCH_VERSION, 7, |b| {
        req.encode(b, FETCH_VERSION)
    });
    consumer.send_raw(&frame);
    let mut payload = consumer.read_frame().expect("answered without waiting");
    let header = ResponseHeader::decode(
        &mut payload,
        response_header_version(ApiKey::Fetch, FETCH_VERSION),
    )
    .expect("response header");
    assert_eq!(header.correlation_id, 7);
    let resp = FetchResponse::decode(&mut payload, FETCH_VERSION).expect("fetch body");
    assert_eq!(resp.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
    assert_eq!(resp.session_id, 0);
    assert!(resp.responses.is_empty());

    // A full fetch that names a session id (epoch 0 opens a session, -1 is sessionless) is
    // served in full, as Kafka serves it, with session id 0: no session is granted.
    for epoch in [0, -1] {
        let mut req = fetch_one("paths", 0, 0, 0, 1);
        req.session_id = 99;
        req.session_epoch = epoch;
        let frame = consumer.frame(ApiKey::Fetch, FETCH_VERSION, 8, |b| {
            req.encode(b, FETCH_VERSION)
        });
        consumer.send_raw(&frame);
        let mut payload = consumer.read_frame().expect("fetch response");
        ResponseHeader::decode(
            &mut payload,
            response_header_version(ApiKey::Fetch, FETCH_VERSION),
        )
        .expect("response header");
        let resp = FetchResponse::decode(&mut payload, FETCH_VERSION).expect("fetch body");
        assert_eq!((resp.error_code, resp.session_id), (0, 0), "epoch {epoch}");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(values(&p.records), vec![(0, "a".into())], "epoch {epoch}");
    }
}
