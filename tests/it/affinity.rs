//! Connection affinity: a connection whose Produce and Fetch requests keep going to partitions
//! on another arbiter moves there, without losing, reordering or repeating a request, with the
//! bytes it had read ahead; with `connection.affinity=false` it stays.

use crate::common;

use bytes::Bytes;
use common::topics::fetch_one;
use common::{metric, TestBroker, WireClient};
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::record::BatchIter;

/// Requests sent to each partition, back to back: more than the streak that moves a
/// connection, and more than a connection's in-flight cap (32), so that some wait in the
/// socket and in the read buffer while the connection moves.
const PER_PARTITION: i32 = 48;

fn produce_frame(c: &WireClient, cid: i32, topic: &str, partition: i32, value: &[u8]) -> Vec<u8> {
    let (version, req) = c.produce_frame(topic, partition, &[value]);
    c.frame(ApiKey::Produce, version, cid, |b| req.encode(b, version))
}

/// Pipelines `PER_PARTITION` produce requests to partition 0, then as many to partition 1 (on
/// the other of two arbiters), all written before any answer is read; then reads every answer
/// and reads both partitions back on the same connection. Returns the broker's
/// `connections_moved` counter.
fn pipeline_over_both_partitions(broker: &TestBroker) -> f64 {
    let mut c = broker.connect();
    c.ensure_topics(&["aff"]);
    let mut frames = Vec::new();
    let mut cid = 100;
    for partition in 0..2 {
        for i in 0..PER_PARTITION {
            let value = format!("p{partition}-{i}");
            frames.extend(produce_frame(&c, cid, "aff", partition, value.as_bytes()));
            cid += 1;
        }
    }
    c.send_raw(&frames);
    let mut cid = 100;
    for partition in 0..2 {
        for i in 0..PER_PARTITION {
            let mut payload = c.read_frame().expect("produce response");
            let header =
                ResponseHeader::decode(&mut payload, response_header_version(ApiKey::Produce, 9))
                    .expect("header");
            assert_eq!(header.correlation_id, cid, "answers in request order");
            let resp = ProduceResponse::decode(&mut payload, 9).expect("produce response");
            let p = &resp.responses[0].partition_responses[0];
            assert_eq!((p.index, p.error_code), (partition, 0));
            assert_eq!(p.base_offset, i64::from(i), "partition {partition}");
            cid += 1;
        }
    }
    // The connection still answers, and each partition holds its records once, in order.
    for partition in 0..2 {
        let req = fetch_one("aff", partition, 0, 0, 1);
        let resp = c.request(
            ApiKey::Fetch,
            12,
            |b| req.encode(b, 12),
            FetchResponse::decode,
        );
        let data = &resp.responses[0].partitions[0];
        assert_eq!(data.error_code, 0);
        assert_eq!(data.high_watermark, i64::from(PER_PARTITION));
        let records = data.records.clone().unwrap_or_default();
        let values: Vec<Bytes> = BatchIter::new(records)
            .flat_map(|batch| {
                sluice::record::decode_records(&batch.expect("batch").bytes).expect("records")
            })
            .map(|r| r.value.expect("value"))
            .collect();
        let expected: Vec<Bytes> = (0..PER_PARTITION)
            .map(|i| Bytes::from(format!("p{partition}-{i}")))
            .collect();
        assert_eq!(values, expected, "partition {partition}");
    }
    metric(
        &broker.admin_get("/metrics"),
        "sluice_connections_moved_total",
    )
    .expect("connections_moved in /metrics")
}

#[test]
fn a_connection_moves_to_the_arbiter_of_its_partitions_keeping_every_request_in_order() {
    let broker =
        TestBroker::start_with_admin(&["--set", "num.arbiters=2", "--set", "num.partitions=2"]);
    // Partitions 0 and 1 of a topic live on different arbiters, so one of the two runs of
    // requests goes to the arbiter the connection is not on, and the connection moves, once.
    assert_eq!(pipeline_over_both_partitions(&broker), 1.0);
}

#[test]
fn without_affinity_a_connection_stays() {
    let broker = TestBroker::start_with_admin(&[
        "--set",
        "num.arbiters=2",
        "--set",
        "num.partitions=2",
        "--set",
        "connection.affinity=false",
    ]);
    assert_eq!(pipeline_over_both_partitions(&broker), 0.0);
}

#[test]
fn a_move_waits_for_a_long_poll_in_flight_and_the_connection_serves_on() {
    let broker =
        TestBroker::start_with_admin(&["--set", "num.arbiters=2", "--set", "num.partitions=2"]);
    let mut c = broker.connect();
    c.ensure_topics(&["aff"]);
    // Fetches of each partition in turn until the connection has moved: the request that
    // completes a streak waits 300 ms for records that never come, and the move waits for it.
    let mut moved = false;
    for round in 0..4 {
        for partition in 0..2 {
            let mut frames = Vec::new();
            let first_cid = 1000 + round * 100 + partition * 50;
            for i in 0..streak() {
                let req = fetch_one("aff", partition, 0, 300, 1 << 20);
                frames.extend(c.frame(ApiKey::Fetch, 12, first_cid + i, |b| req.encode(b, 12)));
            }
            c.send_raw(&frames);
            for i in 0..streak() {
                let mut payload = c.read_frame().expect("fetch response");
                let header = ResponseHeader::decode(
                    &mut payload,
                    response_header_version(ApiKey::Fetch, 12),
                )
                .expect("header");
                assert_eq!(
                    header.correlation_id,
                    first_cid + i,
                    "answers in request order"
                );
                let resp = FetchResponse::decode(&mut payload, 12).expect("fetch response");
                assert_eq!(resp.responses[0].partitions[0].error_code, 0);
            }
            let text = broker.admin_get("/metrics");
            if metric(&text, "sluice_connections_moved_total") == Some(1.0) {
                moved = true;
                break;
            }
        }
        if moved {
            break;
        }
    }
    assert!(moved, "the connection never moved");
    // After the move the same connection produces and reads back.
    let (code, offset) = c.produce("aff", 0, &[b"after the move"]);
    assert_eq!((code, offset), (0, 0));
    let req = fetch_one("aff", 0, 0, 0, 1);
    let resp = c.request(
        ApiKey::Fetch,
        12,
        |b| req.encode(b, 12),
        FetchResponse::decode,
    );
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 1);
}

/// The number of requests in a row that moves a connection.
fn streak() -> i32 {
    sluice::net::connection::AFFINITY_STREAK as i32
}
