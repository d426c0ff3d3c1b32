//! Limits and backpressure through the real socket: connection caps at accept time, the idle
//! timeout (a half-sent frame included), and the in-flight cap that stops a connection being
//! read when its client pipelines without reading answers.

use crate::common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{metric, TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::response_header::ResponseHeader;

const WAIT: Duration = Duration::from_secs(10);

fn api_versions_ok(client: &mut WireClient) -> bool {
    let resp = client.request(
        ApiKey::ApiVersions,
        3,
        |b| ApiVersionsRequest::default().encode(b, 3),
        ApiVersionsResponse::decode,
    );
    resp.error_code == 0
}

/// Connects from a chosen loopback source address.
fn connect_from(source: &str, to: SocketAddr) -> WireClient {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{source}:0").parse().expect("source address"))
            .expect("bind source");
        socket.connect(to).await.expect("connect").into_std()
    });
    let stream = stream.expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    WireClient::from_stream(stream)
}

#[test]
fn max_connections_refuses_the_extra_socket_and_serves_the_others() {
    let broker = TestBroker::start_with_admin(&["--set", "max.connections=2"]);
    let mut first = broker.connect();
    let mut second = broker.connect();
    assert!(api_versions_ok(&mut first));
    assert!(api_versions_ok(&mut second));

    let mut third = broker.connect();
    assert!(third.is_closed(WAIT), "third connection closed at once");
    assert!(broker.wait_for_log("refusing connection", WAIT));
    assert!(broker
        .log_lines()
        .iter()
        .any(
            |l| l.contains("refusing connection") && l.contains("limit=\"max.connections\"")
                || l.contains("refusing connection") && l.contains("limit=max.connections ")
        ));
    let metrics = broker.admin_get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            r#"sluice_connections_refused_total{limit="max.connections"}"#
        ),
        Some(1.0)
    );
    assert!(api_versions_ok(&mut first), "the first N are still served");
    assert!(api_versions_ok(&mut second));

    // A place frees up when a connection closes.
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = broker.connect();
        again
            .stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let frame = again.frame(ApiKey::ApiVersions, 3, 1, |b| {
            ApiVersionsRequest::default().encode(b, 3)
        });
        let answered = again.stream.write_all(&frame).is_ok() && again.read_frame().is_ok();
        if answered {
            break;
        }
        assert!(Instant::now() < deadline, "freed place never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_connections_per_ip_counts_each_source_address() {
    let broker = TestBroker::start_with_admin(&["--set", "max.connections.per.ip=2"]);
    let mut a1 = connect_from("127.0.0.1", broker.addr);
    let mut a2 = connect_from("127.0.0.1", broker.addr);
    assert!(api_versions_ok(&mut a1));
    assert!(api_versions_ok(&mut a2));
    let mut a3 = connect_from("127.0.0.1", broker.addr);
    assert!(a3.is_closed(WAIT), "third from 127.0.0.1 refused");
    let mut b1 = connect_from("127.0.0.2", broker.addr);
    assert!(
        api_versions_ok(&mut b1),
        "another address has its own count"
    );
    assert!(api_versions_ok(&mut a1));
    let metrics = broker.admin_get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            r#"sluice_connections_refused_total{limit="max.connections.per.ip"}"#
        ),
        Some(1.0)
    );
    assert_eq!(metric(&metrics, "sluice_connections"), Some(3.0));
}

#[test]
fn idle_connections_are_closed_and_active_ones_kept() {
    let broker = TestBroker::start_with(&["--set", "connections.max.idle.ms=500"]);
    let mut idle = broker.connect();
    let mut active = broker.connect();
    assert!(api_versions_ok(&mut idle));
    let since = Instant::now();
    // The active connection sends a request every 150 ms for 1.5 s: never idle for 500 ms.
    for _ in 0..10 {
        assert!(api_versions_ok(&mut active), "active connection kept");
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(idle.is_closed(WAIT), "idle connection closed");
    let took = since.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "closed too early: {took:?}"
    );
    assert!(api_versions_ok(&mut active));
}

#[test]
fn a_half_sent_frame_does_not_keep_a_connection_alive() {
    let broker = TestBroker::start_with_env(
        &["--set", "connections.max.idle.ms=500"],
        &[("RUST_LOG", "info,sluice::net=debug")],
    );
    let mut client = broker.connect();
    assert!(api_versions_ok(&mut client));
    // A frame announcing 100 bytes, then a byte every 100 ms: bytes keep coming, a whole frame
    // never does.
    let started = Instant::now();
    client.send_raw(&100i32.to_be_bytes());
    let mut closed = false;
    for _ in 0..50 {
        if client.stream.write_all(&[0u8]).is_err() || client.is_closed(Duration::from_millis(100))
        {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "connection still open after {took:?}");
    assert!(
        took >= Duration::from_millis(450),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "closed too late: {took:?}");
    assert!(broker.wait_for_log("closing idle connection", WAIT));
}

#[test]
fn pipelining_without_reading_stops_the_broker_reading() {
    const INFLIGHT: usize = 4;
    const REQUESTS: i32 = 200;
    let inflight = format!("max.inflight.requests.per.connection={INFLIGHT}");
    let broker = TestBroker::start_with_admin(&["--set", &inflight]);
    let mut producer = broker.connect();
    producer.ensure_topics(&["big"]);
    let value = vec![7u8; 512 * 1024];
    assert_eq!(producer.produce("big", 0, &[&value]).0, 0);

    // 200 Fetch requests for that 512 KiB batch, written without reading any answer. The
    // requests are small enough to all fit in the socket buffers; the answers are not.
    let version = 11;
    let fetch = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1024 * 1024,
        topics: vec![FetchTopic {
            topic: "big".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1024 * 1024,
                log_start_offset: -1,
                current_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut client = broker.connect();
    let mut all = Vec::new();
    for cid in 1..=REQUESTS {
        all.extend(client.frame(ApiKey::Fetch, version, cid, |b| fetch.encode(b, version)));
    }
    client.send_raw(&all);

    // The broker answers until the socket is full, then holds INFLIGHT answers and reads no
    // further: the count of Fetch requests handled settles well below 200.
    let series = r#"sluice_requests_total{api="Fetch",version="11"}"#;
    let deadline = Instant::now() + WAIT;
    let mut last = -1.0;
    let mut stable_since = Instant::now();
    let settled = loop {
        let text = broker.admin_get("/metrics");
        let handled = metric(&text, series).unwrap_or(0.0);
        let inflight_now = metric(&text, "sluice_requests_inflight").unwrap_or(-1.0);
        if handled != last {
            last = handled;
            stable_since = Instant::now();
        } else if handled > 0.0
            && inflight_now == INFLIGHT as f64
            && stable_since.elapsed() > Duration::from_millis(700)
        {
            break (handled, inflight_now);
        }
        assert!(
            Instant::now() < deadline,
            "never settled: handled {handled}, in flight {inflight_now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "settled: {} Fetch handled, {} in flight",
        settled.0, settled.1
    );
    assert!(
        settled.0 < f64::from(REQUESTS) / 2.0,
        "the broker kept reading: {} of {REQUESTS} handled",
        settled.0
    );

    // Reading the answers lets it go on: all 200 arrive, in order.
    for cid in 1..=REQUESTS {
        let mut payload = client.read_frame().expect("fetch response");
        let header = ResponseHeader::decode(&mut payload, 0).expect("header");
        assert_eq!(header.correlation_id, cid);
        let resp = FetchResponse::decode(&mut payload, version).expect("fetch body");
        let records = resp.responses[0].partitions[0].records.as_ref();
        assert!(records.map(|r| r.len()).unwrap_or(0) > 512 * 1024);
    }
    let text = broker.admin_get("/metrics");
    assert_eq!(metric(&text, series), Some(f64::from(REQUESTS)));
    broker.wait_metric("sluice_requests_inflight", 0.0);
}
