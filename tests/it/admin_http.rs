//! The admin HTTP endpoint and per-actor log filtering, against the real binary: `/health`,
//! `/metrics` and `/actors` moving after a Produce, `PUT /log-filter` changing what is logged on
//! a running broker, span filters selecting one partition's lines, and JSON log output.

use crate::common;

use std::time::{Duration, Instant};

use common::{metric, TestBroker};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// DEBUG lines of the broker's log.
fn debug_lines(broker: &TestBroker) -> Vec<String> {
    broker
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("DEBUG"))
        .collect()
}

#[test]
fn health_metrics_and_actors_follow_a_produce() {
    let broker = TestBroker::start_with_admin(&[]);

    let (status, body) = broker.admin_request("GET", "/health", "");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(broker.admin_request("GET", "/nope", "").0, 404);
    assert_eq!(broker.admin_request("POST", "/metrics", "").0, 405);

    let produce = r#"sluice_requests_total{api="Produce",version="9"}"#;
    let before = broker.admin_get("/metrics");
    assert_eq!(metric(&before, produce), None, "no Produce yet");
    assert_eq!(metric(&before, "sluice_connections"), Some(0.0));
    assert!(before.ends_with("# EOF\n"));

    let mut client = broker.connect();
    client.ensure_topics(&["orders"]);
    assert_eq!(client.produce("orders", 0, &[b"a", b"b", b"c"]), (0, 0));
    assert_eq!(client.produce("orders", 0, &[b"d"]), (0, 3));

    let after = broker.admin_get("/metrics");
    assert_eq!(metric(&after, produce), Some(2.0), "{after}");
    assert_eq!(
        metric(
            &after,
            r#"sluice_request_duration_seconds_count{api="Produce",version="9"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"sluice_request_duration_seconds_bucket{le="+Inf",api="Produce",version="9"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"sluice_requests_total{api="Metadata",version="9"}"#
        ),
        Some(1.0)
    );
    let labels = r#"{topic="orders",partition="0"}"#;
    assert_eq!(
        metric(&after, &format!("sluice_partition_log_end_offset{labels}")),
        Some(4.0)
    );
    assert_eq!(
        metric(
            &after,
            &format!("sluice_partition_log_start_offset{labels}")
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(&after, &format!("sluice_partition_segments{labels}")),
        Some(1.0)
    );
    assert!(metric(&after, &format!("sluice_partition_size_bytes{labels}")).unwrap_or(0.0) > 0.0);
    assert_eq!(
        metric(
            &after,
            r#"sluice_actor_messages_handled_total{kind="partition",actor="orders-0"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &after,
            r#"sluice_actor_mailbox_depth{kind="partition",actor="orders-0"}"#
        ),
        Some(0.0)
    );
    assert_eq!(metric(&after, "sluice_connections"), Some(1.0));
    // Released once the last response is written, which may be just after the client read it.
    broker.wait_metric("sluice_requests_inflight", 0.0);
    assert!(metric(&after, "sluice_received_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(metric(&after, "sluice_sent_bytes_total").unwrap_or(0.0) > 0.0);

    let actors: Value = serde_json::from_str(&broker.admin_get("/actors")).expect("JSON");
    let list = actors["actors"].as_array().expect("actors array");
    let orders = list
        .iter()
        .find(|a| a["kind"] == "partition" && a["topic"] == "orders")
        .expect("orders partition listed");
    assert_eq!(orders["partition"], 0);
    assert_eq!(orders["log_start_offset"], 0);
    assert_eq!(orders["high_watermark"], 4);
    assert_eq!(orders["log_end_offset"], 4);
    assert_eq!(orders["segments"], 1);
    assert_eq!(orders["messages_handled"], 2);
    assert_eq!(orders["mailbox_depth"], 0);
    assert!(orders["size_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(orders["last_activity_ms"].as_i64().unwrap_or(0) > 0);
    let connection = list
        .iter()
        .find(|a| a["kind"] == "connection")
        .expect("connection listed");
    assert_eq!(connection["client_id"], "sluice-test");
    assert_eq!(connection["messages_handled"], 3, "Metadata + 2 Produce");
    let metadata = list
        .iter()
        .find(|a| a["kind"] == "metadata")
        .expect("metadata actor listed");
    assert_eq!(metadata["messages_handled"], 1, "one CreateTopic");

    // A closed connection leaves the listing.
    drop(client);
    let deadline = Instant::now() + WAIT;
    loop {
        let actors: Value = serde_json::from_str(&broker.admin_get("/actors")).expect("JSON");
        let open = actors["actors"]
            .as_array()
            .map(|l| l.iter().filter(|a| a["kind"] == "connection").count())
            .unwrap_or(usize::MAX);
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "connection still listed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_span_filter_shows_one_partition_only() {
    let broker = TestBroker::start_with_env(
        &[],
        &[("RUST_LOG", "info,sluice[partition{topic=orders}]=debug")],
    );
    let mut client = broker.connect();
    client.ensure_topics(&["payments", "orders"]);
    // payments first: its lines, if any, come before the orders line we wait for.
    assert_eq!(client.produce("payments", 0, &[b"p"]).0, 0);
    assert_eq!(client.produce("orders", 0, &[b"o"]).0, 0);
    assert!(
        broker.wait_for_log("sluice::partition: appended", WAIT),
        "{:#?}",
        broker.log_lines()
    );
    let debug = debug_lines(&broker);
    assert!(
        debug
            .iter()
            .any(|l| l.contains("partition{topic=orders partition=0}") && l.contains("appended")),
        "{debug:#?}"
    );
    for line in &debug {
        assert!(
            line.contains("partition{topic=orders partition=0}"),
            "debug line outside the orders partition: {line}"
        );
    }
}

#[test]
fn put_log_filter_changes_what_a_running_broker_logs() {
    let broker = TestBroker::start_with_admin(&[]);
    let mut client = broker.connect();
    client.ensure_topics(&["orders", "payments"]);
    assert_eq!(client.produce("orders", 0, &[b"1"]).0, 0);
    assert_eq!(client.produce("payments", 0, &[b"1"]).0, 0);
    assert!(debug_lines(&broker).is_empty(), "info level: no debug yet");

    // A filter that does not parse is refused and changes nothing.
    let (status, body) = broker.admin_request("PUT", "/log-filter", "sluice=loud");
    assert_eq!(status, 400, "{body}");
    assert_eq!(broker.admin_get("/log-filter").trim(), "info");

    // The partitions already exist: the new span filter must still reach them.
    let filter = "info,sluice[partition{topic=payments}]=debug";
    let (status, body) = broker.admin_request("PUT", "/log-filter", filter);
    assert_eq!((status, body.trim()), (200, filter));
    assert_eq!(broker.admin_get("/log-filter").trim(), filter);
    assert_eq!(client.produce("orders", 0, &[b"2"]).0, 0);
    assert_eq!(client.produce("payments", 0, &[b"2"]).0, 0);
    assert!(broker.wait_for_log("sluice::partition: appended", WAIT));
    let debug = debug_lines(&broker);
    assert!(debug
        .iter()
        .any(|l| l.contains("partition{topic=payments partition=0}") && l.contains("appended")));
    assert!(
        debug.iter().all(|l| !l.contains("topic=orders")),
        "{debug:#?}"
    );

    // And back: connection-level debug for everything.
    let (status, _) = broker.admin_request("PUT", "/log-filter", "info,sluice::net=debug");
    assert_eq!(status, 200);
    drop(client);
    assert!(broker.wait_for_log("connection closed", WAIT));
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let broker = TestBroker::start_with_admin(&["--set", "log.format=json"]);
    let mut client = broker.connect();
    client.ensure_topics(&["orders"]);
    assert_eq!(client.produce("orders", 0, &[b"x"]).0, 0);
    assert!(broker.wait_for_log("topic created", WAIT));
    let lines = broker.log_lines();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    let created = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "topic created")
        .expect("topic created line");
    assert_eq!(created["span"]["name"], "metadata");
}

#[test]
fn a_client_id_filter_follows_one_client_from_its_first_request() {
    use sluice::protocol::api_table::ApiKey;
    use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
    use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
    let broker = TestBroker::start_with_env(
        &[],
        &[("RUST_LOG", "info,sluice[connection{client_id=alice}]=debug")],
    );
    for name in ["bob", "alice"] {
        let mut client = broker.connect();
        client.client_id = Some(name.into());
        let resp = client.request(
            ApiKey::ApiVersions,
            3,
            |b| ApiVersionsRequest::default().encode(b, 3),
            ApiVersionsResponse::decode,
        );
        assert_eq!(resp.error_code, 0);
    }
    assert!(broker.wait_for_log("request api=\"ApiVersions\"", WAIT));
    let debug = debug_lines(&broker);
    assert!(debug
        .iter()
        .any(|l| l.contains("client_id=\"alice\"") && l.contains("correlation_id=1")));
    for line in &debug {
        assert!(line.contains("client_id=\"alice\""), "{line}");
    }
}
