//! Metadata v0..=12 against a broker with known topics: every version decodes with nothing left
//! over and carries the fields that version has.

use crate::common;

use common::fixtures::*;
use common::requests::*;
use common::TestBroker;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use uuid::Uuid;

const ALPHA: Uuid = uuid::uuid!("71a59a51-8968-4f8b-937e-000000000a1a");
const BRAVO: Uuid = uuid::uuid!("71a59a51-8968-4f8b-937e-000000000b1b");
/// Kafka's topic operations bitfield with no authorizer.
const TOPIC_OPS: i32 = 0x0df8;
/// Kafka's cluster operations bitfield with no authorizer.
const CLUSTER_OPS: i32 = 0x1fa0;

fn broker(args: &[&str]) -> TestBroker {
    let topics = [
        TopicSpec::empty("alpha", ALPHA, 3),
        TopicSpec::empty("bravo", BRAVO, 1),
    ];
    let log = tester_metadata_log(&topics);
    start_with_metadata(&[bytes::Bytes::from(log)], args)
}

/// All topics: an empty list in v0, null from v1.
fn all_topics(version: i16) -> MetadataRequest {
    MetadataRequest {
        topics: if version == 0 { Some(Vec::new()) } else { None },
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    }
}

fn check_topics(resp: &MetadataResponse, version: i16, topic_ops: i32) {
    let mut topics: Vec<_> = resp.topics.iter().collect();
    topics.sort_by_key(|t| t.name.clone());
    assert_eq!(topics.len(), 2, "v{version}");
    for (t, (name, id, n)) in topics
        .iter()
        .zip([("alpha", ALPHA, 3), ("bravo", BRAVO, 1)])
    {
        assert_eq!(t.error_code, 0);
        assert_eq!(t.name.as_deref(), Some(name));
        assert!(!t.is_internal);
        let expected_id = if version >= 10 { id } else { Uuid::nil() };
        assert_eq!(t.topic_id, expected_id, "v{version} topic id");
        let expected_ops = if version >= 8 { topic_ops } else { i32::MIN };
        assert_eq!(t.topic_authorized_operations, expected_ops, "v{version}");
        let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        assert_eq!(indexes, (0..n).collect::<Vec<_>>());
        for p in &t.partitions {
            assert_eq!((p.error_code, p.leader_id), (0, 1));
            let epoch = if version >= 7 { 0 } else { -1 };
            assert_eq!(p.leader_epoch, epoch, "v{version} leader epoch");
            assert_eq!(p.replica_nodes, vec![1]);
            assert_eq!(p.isr_nodes, vec![1]);
            assert!(p.offline_replicas.is_empty());
        }
    }
}

#[test]
fn every_version_decodes_with_its_fields() {
    let broker = broker(&[]);
    let mut c = broker.connect();
    for version in 0..=12i16 {
        let resp = metadata_request(&mut c, version, all_topics(version));
        assert_eq!(resp.throttle_time_ms, 0);
        assert_eq!(resp.brokers.len(), 1);
        let b = &resp.brokers[0];
        assert_eq!(b.node_id, 1);
        assert_eq!(b.host, broker.addr.ip().to_string(), "v{version} host");
        assert_eq!(b.port, i32::from(broker.addr.port()));
        assert_eq!(b.rack, None);
        let cluster = if version >= 2 { Some(CLUSTER_ID) } else { None };
        assert_eq!(resp.cluster_id.as_deref(), cluster, "v{version}");
        let controller = if version >= 1 { 1 } else { -1 };
        assert_eq!(resp.controller_id, controller, "v{version}");
        assert_eq!(resp.cluster_authorized_operations, i32::MIN);
        check_topics(&resp, version, i32::MIN);
    }
}

#[test]
fn authorized_operations_when_requested() {
    let broker = broker(&[]);
    let mut c = broker.connect();
    for version in 8..=12i16 {
        let req = MetadataRequest {
            include_topic_authorized_operations: true,
            include_cluster_authorized_operations: true,
            ..all_topics(version)
        };
        let resp = metadata_request(&mut c, version, req);
        check_topics(&resp, version, TOPIC_OPS);
        // The cluster field exists in v8-v10 only.
        let cluster = if version <= 10 { CLUSTER_OPS } else { i32::MIN };
        assert_eq!(resp.cluster_authorized_operations, cluster, "v{version}");
    }
}

#[test]
fn empty_topic_list_means_none_from_v1() {
    let broker = broker(&[]);
    let mut c = broker.connect();
    for version in 1..=12i16 {
        let resp = metadata_request(
            &mut c,
            version,
            MetadataRequest {
                topics: Some(Vec::new()),
                ..MetadataRequest::default()
            },
        );
        assert!(resp.topics.is_empty(), "v{version}");
        assert_eq!(resp.brokers.len(), 1);
    }
}

#[test]
fn topics_by_name_and_by_id() {
    let broker = broker(&[]);
    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, Some(&["bravo", "nope"]), false);
    assert_eq!(resp.topics.len(), 2);
    assert_eq!(resp.topics[0].name.as_deref(), Some("bravo"));
    assert_eq!(resp.topics[0].topic_id, BRAVO);
    assert_eq!(resp.topics[1].name.as_deref(), Some("nope"));
    assert_eq!(resp.topics[1].error_code, 3);

    // v12: by topic id, with a null name.
    let unknown = uuid::uuid!("71a59a51-8968-4f8b-937e-000000000c1c");
    let resp = metadata_request(
        &mut c,
        12,
        MetadataRequest {
            topics: Some(
                [ALPHA, unknown]
                    .into_iter()
                    .map(|id| MetadataRequestTopic {
                        topic_id: id,
                        name: None,
                    })
                    .collect(),
            ),
            ..MetadataRequest::default()
        },
    );
    assert_eq!(resp.topics.len(), 2);
    let alpha = &resp.topics[0];
    assert_eq!(
        (alpha.error_code, alpha.name.as_deref()),
        (0, Some("alpha"))
    );
    assert_eq!(alpha.topic_id, ALPHA);
    assert_eq!(alpha.partitions.len(), 3);
    let missing = &resp.topics[1];
    assert_eq!(missing.error_code, 100, "UNKNOWN_TOPIC_ID");
    assert_eq!(missing.topic_id, unknown);
    assert_eq!(missing.name, None);
    assert!(missing.partitions.is_empty());
}

#[test]
fn advertised_listener_is_reported() {
    let broker = broker(&["--advertised-listeners", "broker.example:19092"]);
    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(resp.brokers[0].host, "broker.example");
    assert_eq!(resp.brokers[0].port, 19092);
}
