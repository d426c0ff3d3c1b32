//! Issue 19 point 2: committed offsets in Kafka's `__consumer_offsets` layout.
//!
//! The fixtures stand for what Kafka (or an older sluice) wrote and are built byte by byte
//! here from the format descriptions — record batch v2 with its CRC-32C, KRaft metadata
//! records per `metadata/*.json`, offset-commit and group-metadata keys/values per Kafka's
//! group-coordinator schemas — with none of sluice's writers or generated encoders.

use std::fs;
use std::path::Path;

use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use sluice::protocol::messages::create_topics_response::CreateTopicsResponse;
use sluice::protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use sluice::protocol::messages::delete_topics_response::DeleteTopicsResponse;
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use uuid::Uuid;

use crate::common::fixtures::meta_properties;
use crate::common::groups::{commit, create_topics, fast_broker, fetch_offsets};
use crate::common::kafka_bytes::{
    self, enc, feature_level, offset_key, offsets_partition, topic_config, topic_record,
    NO_PRODUCER,
};
use crate::common::topics::fetch_one;
use crate::common::{TestBroker, WireClient};

// ----- the encoders, from the format descriptions -----

/// (key, value) of one record; `None` is null.
type KeyValue = kafka_bytes::Rec;
/// (name, id, partitions, configs) of a topic in the metadata log.
type TopicDef<'a> = (&'a str, Uuid, i32, &'a [(&'a str, &'a str)]);

/// A record batch v2 at `base_offset` holding (key, value) records from timestamp `ts`.
fn batch(base_offset: i64, ts: i64, records: &[KeyValue]) -> Vec<u8> {
    kafka_bytes::batch(base_offset, ts, 0, 0, NO_PRODUCER, records)
}

fn partition_record(id: Uuid, partition: i32) -> Vec<u8> {
    kafka_bytes::partition_record(id, partition, 1, Uuid::from_u128(0xd1))
}

/// A metadata log registering `topics` (name, id, partitions, configs), one batch each.
fn metadata_log(topics: &[TopicDef]) -> Vec<u8> {
    let mut log = batch(
        0,
        1_000,
        &[(None, Some(feature_level("metadata.version", 20)))],
    );
    let mut next = 1i64;
    for (name, id, n, configs) in topics {
        let mut values = vec![(None, Some(topic_record(name, *id)))];
        for (k, v) in configs.iter() {
            values.push((None, Some(topic_config(name, k, v))));
        }
        for p in 0..*n {
            values.push((None, Some(partition_record(*id, p))));
        }
        log.extend_from_slice(&batch(next, 2_000, &values));
        next += values.len() as i64;
    }
    log
}

/// OffsetCommitValue v3 (what Kafka 3.x/4.x write).
fn offset_value_v3(offset: i64, epoch: i32, metadata: &str) -> Vec<u8> {
    let mut b = 3i16.to_be_bytes().to_vec();
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    enc::str16(&mut b, metadata);
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b
}

/// OffsetCommitValue v1: with the expire timestamp.
fn offset_value_v1(offset: i64) -> Vec<u8> {
    let mut b = 1i16.to_be_bytes().to_vec();
    b.extend_from_slice(&offset.to_be_bytes());
    enc::str16(&mut b, "");
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b
}

/// OffsetCommitValue v4: flexible.
fn offset_value_v4(offset: i64) -> Vec<u8> {
    let mut b = 4i16.to_be_bytes().to_vec();
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&2i32.to_be_bytes());
    enc::compact_str(&mut b, "v4");
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b.push(0);
    b
}

/// GroupMetadataKey v2 and an empty group's GroupMetadataValue v3.
fn group_record(group: &str) -> (Vec<u8>, Vec<u8>) {
    let mut k = 2i16.to_be_bytes().to_vec();
    enc::str16(&mut k, group);
    let mut v = 3i16.to_be_bytes().to_vec();
    enc::str16(&mut v, "consumer");
    v.extend_from_slice(&4i32.to_be_bytes()); // generation
    enc::str16(&mut v, "range"); // protocol
    v.extend_from_slice(&(-1i16).to_be_bytes()); // leader: null
    v.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes()); // no members
    (k, v)
}

/// A KIP-848 ConsumerGroupMetadataKey (v3) record: not handled, must be skipped and kept.
fn kip848_record(group: &str) -> (Vec<u8>, Vec<u8>) {
    let mut k = 3i16.to_be_bytes().to_vec();
    enc::str16(&mut k, group);
    let mut v = 0i16.to_be_bytes().to_vec();
    v.extend_from_slice(&7i32.to_be_bytes()); // epoch
    v.push(0);
    (k, v)
}

fn write_partition(log_dir: &Path, topic: &str, p: i32, id: Option<Uuid>, log: &[u8]) {
    let dir = log_dir.join(format!("{topic}-{p}"));
    fs::create_dir_all(&dir).expect("partition dir");
    if let Some(id) = id {
        use base64::Engine;
        let id64 = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
        fs::write(
            dir.join("partition.metadata"),
            format!("version: 0\ntopic_id: {id64}"),
        )
        .expect("partition.metadata");
    }
    fs::write(dir.join("00000000000000000000.log"), log).expect("segment");
}

fn write_metadata(log_dir: &Path, log: &[u8]) {
    fs::create_dir_all(log_dir).expect("log dir");
    fs::write(log_dir.join("meta.properties"), meta_properties()).expect("meta.properties");
    let dir = log_dir.join("__cluster_metadata-0");
    fs::create_dir_all(&dir).expect("metadata dir");
    fs::write(dir.join("00000000000000000000.log"), log).expect("metadata log");
}

fn metadata(c: &mut WireClient, names: &[&str]) -> MetadataResponse {
    let req = MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    name: Some(n.to_string()),
                    ..MetadataRequestTopic::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    c.request(
        ApiKey::Metadata,
        12,
        |b| req.encode(b, 12),
        MetadataResponse::decode,
    )
}

fn offsets_of(c: &mut WireClient, group: &str) -> Vec<(String, i32, i64, Option<String>)> {
    let (code, rows) = fetch_offsets(c, 5, group, None);
    assert_eq!(code, 0, "{group}");
    let mut rows: Vec<_> = rows
        .into_iter()
        .map(|(t, p, o, m, e)| {
            assert_eq!(e, 0);
            (t, p, o, m)
        })
        .collect();
    rows.sort();
    rows
}

const OFFSETS: &str = "__consumer_offsets";
const OFFSETS_ID: u128 = 0xc0ff_ee00;
const ORDERS_ID: u128 = 0x0bde_5000;

fn offsets_topic_configs() -> &'static [(&'static str, &'static str)] {
    &[
        ("cleanup.policy", "compact"),
        ("compression.type", "producer"),
        ("segment.bytes", "104857600"),
    ]
}

// ----- the tests -----

/// A data directory Kafka wrote: `__consumer_offsets` with 50 partitions in the metadata log,
/// and another group's commits (every value version Kafka wrote, its group record and a
/// KIP-848 record) in the partition Kafka's rule picks. sluice answers OffsetFetch with them,
/// lists the topic as internal and serves the partition's batch, unchanged, to Fetch.
#[test]
fn offsets_kafka_wrote_are_answered() {
    let temp = tempfile::tempdir().expect("temp");
    let log_dir = temp.path().join("kafka-logs");
    let (offsets_id, orders_id) = (Uuid::from_u128(OFFSETS_ID), Uuid::from_u128(ORDERS_ID));
    write_metadata(
        &log_dir,
        &metadata_log(&[
            ("orders", orders_id, 3, &[]),
            (OFFSETS, offsets_id, 50, offsets_topic_configs()),
        ]),
    );
    let group = "billing-service";
    let n = offsets_partition(group, 50);
    let (gk, gv) = group_record(group);
    let (xk, xv) = kip848_record("new-protocol-group");
    let offsets_batch = batch(
        0,
        1_700_000_000_000,
        &[
            (Some(gk), Some(gv)),
            (
                Some(offset_key(group, "orders", 0)),
                Some(offset_value_v3(10, 0, "first")),
            ),
            (
                Some(offset_key(group, "orders", 1)),
                Some(offset_value_v1(20)),
            ),
            (
                Some(offset_key(group, "orders", 2)),
                Some(offset_value_v4(30)),
            ),
            (Some(xk), Some(xv)),
            // The latest value wins.
            (
                Some(offset_key(group, "orders", 0)),
                Some(offset_value_v3(11, 0, "second")),
            ),
        ],
    );
    write_partition(&log_dir, OFFSETS, n, Some(offsets_id), &offsets_batch);
    for p in 0..3 {
        write_partition(&log_dir, "orders", p, Some(orders_id), &[]);
    }

    let broker = TestBroker::start_owning(temp, &log_dir, &[]);
    let mut c = broker.connect();
    assert_eq!(
        offsets_of(&mut c, group),
        vec![
            ("orders".into(), 0, 11, Some("second".into())),
            ("orders".into(), 1, 20, Some(String::new())),
            ("orders".into(), 2, 30, Some("v4".into())),
        ]
    );
    let resp = metadata(&mut c, &[OFFSETS]);
    assert_eq!(resp.topics[0].error_code, 0);
    assert!(resp.topics[0].is_internal);
    assert_eq!(
        resp.topics[0].partitions.len(),
        50,
        "the existing count is kept"
    );
    // Fetch serves the partition as Kafka wrote it (the KIP-848 record included).
    let req = fetch_one(OFFSETS, n, 0, 0, 1);
    let fetched = c.request(
        ApiKey::Fetch,
        12,
        |b| req.encode(b, 12),
        FetchResponse::decode,
    );
    let part = &fetched.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    assert_eq!(part.high_watermark, 6);
    let records = part.records.as_ref().expect("records");
    assert_eq!(records.as_ref(), offsets_batch.as_slice());
    // The group is known (Empty, from its metadata record).
    let (_, more) = fetch_offsets(&mut c, 5, "nobody", None);
    assert!(more.is_empty());
}

/// The old one-partition layout (`__consumer_offsets-0`, not a topic) written with two groups:
/// on start it is migrated into the topic, each group into its partition, and kept aside.
fn old_layout(log_dir: &Path) {
    let t_id = Uuid::from_u128(ORDERS_ID);
    write_metadata(log_dir, &metadata_log(&[("t", t_id, 2, &[])]));
    for p in 0..2 {
        write_partition(log_dir, "t", p, Some(t_id), &[]);
    }
    let mut log = batch(
        0,
        1,
        &[
            (
                Some(offset_key("alpha", "t", 0)),
                Some(offset_value_v3(5, -1, "")),
            ),
            (
                Some(offset_key("beta", "t", 1)),
                Some(offset_value_v3(7, -1, "b")),
            ),
        ],
    );
    log.extend_from_slice(&batch(
        2,
        2,
        &[(
            Some(offset_key("alpha", "t", 0)),
            Some(offset_value_v3(6, -1, "a")),
        )],
    ));
    write_partition(log_dir, "__consumer_offsets", 0, None, &log);
}

fn check_migrated(broker: &TestBroker) {
    let mut c = broker.connect();
    assert_eq!(
        offsets_of(&mut c, "alpha"),
        vec![("t".into(), 0, 6, Some("a".into()))]
    );
    assert_eq!(
        offsets_of(&mut c, "beta"),
        vec![("t".into(), 1, 7, Some("b".into()))]
    );
    let resp = metadata(&mut c, &[OFFSETS]);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 50);
    let dirs: Vec<String> = fs::read_dir(&broker.data_dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !dirs.iter().any(|d| d == "__sluice_consumer_offsets-0"),
        "{dirs:?}"
    );
    assert!(
        dirs.iter()
            .any(|d| d.starts_with("__sluice_consumer_offsets-0.") && d.ends_with("-migrated")),
        "the old log is kept: {dirs:?}"
    );
    for group in ["alpha", "beta"] {
        let seg = broker
            .data_dir
            .join(format!("{OFFSETS}-{}", offsets_partition(group, 50)))
            .join("00000000000000000000.log");
        let bytes = fs::read(&seg).expect("segment");
        assert!(
            bytes.windows(group.len()).any(|w| w == group.as_bytes()),
            "{group} in {}",
            seg.display()
        );
    }
}

#[test]
fn the_old_offsets_layout_is_migrated() {
    let temp = tempfile::tempdir().expect("temp");
    let log_dir = temp.path().join("data");
    old_layout(&log_dir);
    let mut broker = TestBroker::start_owning(temp, &log_dir, &[]);
    check_migrated(&broker);
    // And stays so after a restart (nothing migrated twice, nothing lost).
    broker.restart();
    check_migrated(&broker);
}

/// Crashes midway: after the old directory was set aside (step 1), and after the topic was
/// registered with part of the records copied and a torn tail (step 3). Each start finishes.
#[test]
fn an_interrupted_migration_is_finished_on_the_next_start() {
    // After step 1: the source is set aside, no topic yet.
    let temp = tempfile::tempdir().expect("temp");
    let log_dir = temp.path().join("data");
    old_layout(&log_dir);
    fs::rename(
        log_dir.join("__consumer_offsets-0"),
        log_dir.join("__sluice_consumer_offsets-0"),
    )
    .expect("rename");
    let broker = TestBroker::start_owning(temp, &log_dir, &[]);
    check_migrated(&broker);
    drop(broker);

    // During step 3: the topic is registered, alpha's partition holds a copy of its first
    // commit followed by a half-written batch, the source is still there.
    let temp = tempfile::tempdir().expect("temp");
    let log_dir = temp.path().join("data");
    old_layout(&log_dir);
    fs::rename(
        log_dir.join("__consumer_offsets-0"),
        log_dir.join("__sluice_consumer_offsets-0"),
    )
    .expect("rename");
    let (t_id, offsets_id) = (Uuid::from_u128(ORDERS_ID), Uuid::from_u128(OFFSETS_ID));
    fs::write(
        log_dir.join("__cluster_metadata-0/00000000000000000000.log"),
        metadata_log(&[
            ("t", t_id, 2, &[]),
            (OFFSETS, offsets_id, 50, offsets_topic_configs()),
        ]),
    )
    .expect("metadata");
    let mut partial = batch(
        0,
        1,
        &[(
            Some(offset_key("alpha", "t", 0)),
            Some(offset_value_v3(5, -1, "")),
        )],
    );
    let torn = batch(
        1,
        1,
        &[(
            Some(offset_key("alpha", "t", 0)),
            Some(offset_value_v3(6, -1, "a")),
        )],
    );
    partial.extend_from_slice(&torn[..torn.len() / 2]);
    write_partition(
        &log_dir,
        OFFSETS,
        offsets_partition("alpha", 50),
        None,
        &partial,
    );
    let broker = TestBroker::start_owning(temp, &log_dir, &[]);
    check_migrated(&broker);
}

/// A commit goes to the group's partition (`offsets.topic.num.partitions` honoured), is
/// answered after a restart, and the topic's count stays when the setting changes. The topic
/// is internal: not created, deleted or produced to by hand.
#[test]
fn commits_land_in_the_groups_partition_and_survive_a_restart() {
    let mut broker = fast_broker(&["--set", "offsets.topic.num.partitions=5"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["t"]);
    // No group request yet: no topic (Kafka creates it on the first FindCoordinator).
    assert_eq!(metadata(&mut c, &[OFFSETS]).topics[0].error_code, 3);
    let group = "round-trip-group";
    assert_eq!(
        commit(&mut c, 8, group, -1, "", &[("t", 0, 42, None)])[0].2,
        0
    );
    let n = offsets_partition(group, 5);
    let data_dir = broker.data_dir.clone();
    let seg = |p: i32| {
        data_dir
            .join(format!("{OFFSETS}-{p}"))
            .join("00000000000000000000.log")
    };
    for p in 0..5 {
        let bytes = fs::read(seg(p)).unwrap_or_default();
        let found = bytes.windows(group.len()).any(|w| w == group.as_bytes());
        assert_eq!(found, p == n, "partition {p} (the group's is {n})");
    }
    // Internal: CreateTopics says it exists, DeleteTopics refuses, Produce refuses.
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: OFFSETS.into(),
            num_partitions: 1,
            replication_factor: 1,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        ..CreateTopicsRequest::default()
    };
    let created = c.request(
        ApiKey::CreateTopics,
        5,
        |b| req.encode(b, 5),
        CreateTopicsResponse::decode,
    );
    assert_eq!(created.topics[0].error_code, 36);
    let req = DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: Some(OFFSETS.into()),
            topic_id: Uuid::nil(),
        }],
        topic_names: Vec::new(),
        timeout_ms: 10_000,
    };
    let deleted = c.request(
        ApiKey::DeleteTopics,
        6,
        |b| req.encode(b, 6),
        DeleteTopicsResponse::decode,
    );
    assert_eq!(deleted.responses[0].error_code, 17);
    assert_eq!(c.produce(OFFSETS, n, &[b"garbage"]).0, 17);

    broker.terminate();
    let dir = broker.data_dir.clone();
    let again = TestBroker::start_in(
        &dir,
        &[
            "--set",
            "group.initial.rebalance.delay.ms=0",
            "--set",
            "offsets.topic.num.partitions=7",
        ],
    );
    let mut c = again.connect();
    assert_eq!(
        offsets_of(&mut c, group),
        vec![("t".into(), 0, 42, Some(String::new()))]
    );
    assert_eq!(metadata(&mut c, &[OFFSETS]).topics[0].partitions.len(), 5);
    assert_eq!(
        commit(&mut c, 8, group, -1, "", &[("t", 0, 43, None)])[0].2,
        0
    );
    let bytes = fs::read(seg(n)).expect("segment");
    assert_eq!(
        bytes
            .windows(group.len())
            .filter(|w| *w == group.as_bytes())
            .count(),
        2
    );
}

/// CreatePartitions on `__consumer_offsets` is refused (Kafka's controller would grow it; its
/// partition count fixes each group's partition, so committed offsets would be lost from
/// view): librdkafka's AdminClient is answered INVALID_REQUEST, validate-only too, while a user
/// topic in the same request grows; the count stays and the group's offsets are still found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_on_the_offsets_topic_is_refused() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::error::RDKafkaErrorCode;
    use sluice::protocol::messages::create_partitions_request::{
        CreatePartitionsRequest, CreatePartitionsTopic,
    };
    use sluice::protocol::messages::create_partitions_response::CreatePartitionsResponse;
    use std::time::Duration;

    let broker = fast_broker(&["--set", "offsets.topic.num.partitions=3"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["t"]);
    let group = "grow-refused";
    assert_eq!(
        commit(&mut c, 8, group, -1, "", &[("t", 0, 7, None)])[0].2,
        0
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("admin client");
    let refused = Err((OFFSETS.to_string(), RDKafkaErrorCode::InvalidRequest));
    for validate_only in [true, false] {
        let opts = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .validate_only(validate_only);
        let mut results = admin
            .create_partitions(
                &[NewPartitions::new(OFFSETS, 10), NewPartitions::new("t", 2)],
                &opts,
            )
            .await
            .expect("create_partitions");
        results.sort_by_key(|r| r.is_ok());
        assert_eq!(
            results,
            vec![refused.clone(), Ok("t".to_string())],
            "validate_only={validate_only}"
        );
    }
    let md = admin
        .inner()
        .fetch_metadata(Some(OFFSETS), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 3);
    assert_eq!(metadata(&mut c, &["t"]).topics[0].partitions.len(), 2);

    // The answer says why.
    let req = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: OFFSETS.into(),
            count: 4,
            assignments: None,
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let r = c.request(
        ApiKey::CreatePartitions,
        3,
        |b| req.encode(b, 3),
        CreatePartitionsResponse::decode,
    );
    assert_eq!(r.results[0].error_code, 42);
    let message = r.results[0].error_message.clone().unwrap_or_default();
    assert!(
        message.contains(OFFSETS) && message.contains("partition count"),
        "{message}"
    );
    assert_eq!(
        offsets_of(&mut c, group),
        vec![("t".into(), 0, 7, Some(String::new()))]
    );
}

/// A Metadata request naming `__consumer_offsets`, with auto-creation allowed (by the request
/// and by `auto.create.topics.enable`, Kafka's two conditions), creates it as FindCoordinator
/// does: `offsets.topic.num.partitions` partitions (not `num.partitions`), internal, with the
/// coordinator's configs; groups then use it.
#[test]
fn metadata_auto_creation_makes_the_offsets_topic_as_find_coordinator_does() {
    use sluice::protocol::messages::describe_configs_request::{
        DescribeConfigsRequest, DescribeConfigsResource,
    };
    use sluice::protocol::messages::describe_configs_response::DescribeConfigsResponse;

    let off = fast_broker(&[
        "--set",
        "offsets.topic.num.partitions=4",
        "--set",
        "auto.create.topics.enable=false",
    ]);
    let mut c = off.connect();
    assert_eq!(c.metadata(&[OFFSETS], true).topics[0].error_code, 3);
    assert_eq!(metadata(&mut c, &[OFFSETS]).topics[0].error_code, 3);
    drop(off);

    let broker = fast_broker(&[
        "--set",
        "offsets.topic.num.partitions=4",
        "--set",
        "num.partitions=2",
    ]);
    let mut c = broker.connect();
    assert_eq!(c.metadata(&[OFFSETS], false).topics[0].error_code, 3);
    let answer = c.metadata(&[OFFSETS, "user-topic"], true);
    let offsets = &answer.topics[0];
    assert_eq!(
        (
            offsets.error_code,
            offsets.is_internal,
            offsets.partitions.len()
        ),
        (0, true, 4)
    );
    assert!(offsets.partitions.iter().all(|p| p.leader_id == 1));
    assert_eq!(
        answer.topics[1].partitions.len(),
        2,
        "a user topic: num.partitions"
    );
    assert_eq!(metadata(&mut c, &[OFFSETS]).topics[0].partitions.len(), 4);

    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: OFFSETS.into(),
            configuration_keys: Some(vec!["cleanup.policy".into(), "compression.type".into()]),
        }],
        ..DescribeConfigsRequest::default()
    };
    let described = c.request(
        ApiKey::DescribeConfigs,
        4,
        |b| req.encode(b, 4),
        DescribeConfigsResponse::decode,
    );
    let mut configs: Vec<(String, Option<String>)> = described.results[0]
        .configs
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    configs.sort();
    assert_eq!(
        configs,
        vec![
            ("cleanup.policy".into(), Some("compact".into())),
            ("compression.type".into(), Some("producer".into())),
        ]
    );

    let group = "created-by-metadata";
    assert_eq!(
        commit(&mut c, 8, group, -1, "", &[(OFFSETS, 0, 1, None)])[0].2,
        0
    );
    let n = offsets_partition(group, 4);
    let seg = broker
        .data_dir
        .join(format!("{OFFSETS}-{n}"))
        .join("00000000000000000000.log");
    let bytes = fs::read(seg).expect("the group's partition");
    assert!(bytes.windows(group.len()).any(|w| w == group.as_bytes()));
    assert_eq!(
        offsets_of(&mut c, group),
        vec![(OFFSETS.into(), 0, 1, Some(String::new()))]
    );
}
