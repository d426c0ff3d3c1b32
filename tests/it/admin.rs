//! Topic administration over the real wire: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, DescribeCluster and DeleteRecords —
//! every error path, persistence across restarts, retention driven by topic configs — and
//! librdkafka's AdminClient doing the same round trip.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::alter_configs_request::{
    AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
};
use sluice::protocol::messages::alter_configs_response::AlterConfigsResponse;
use sluice::protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsTopic,
};
use sluice::protocol::messages::create_partitions_response::CreatePartitionsResponse;
use sluice::protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use sluice::protocol::messages::create_topics_response::{
    CreatableTopicResult, CreateTopicsResponse,
};
use sluice::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use sluice::protocol::messages::delete_records_response::DeleteRecordsResponse;
use sluice::protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use sluice::protocol::messages::delete_topics_response::DeleteTopicsResponse;
use sluice::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use sluice::protocol::messages::describe_cluster_response::DescribeClusterResponse;
use sluice::protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use sluice::protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
};
use sluice::protocol::messages::incremental_alter_configs_request as incremental;
use sluice::protocol::messages::incremental_alter_configs_response::IncrementalAlterConfigsResponse;
use sluice::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use sluice::protocol::messages::list_offsets_response::ListOffsetsResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::{MetadataResponse, MetadataResponseTopic};
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::record::BatchBuilder;
use uuid::Uuid;

// Kafka error codes the tests expect.
const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const TOPIC_DELETION_DISABLED: i16 = 73;
const UNKNOWN_TOPIC_ID: i16 = 100;
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;

// ConfigSource values.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

// ---------------------------------------------------------------------------------------------
// wire helpers

fn topic(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: replication,
        ..CreatableTopic::default()
    }
}

fn with_configs(mut t: CreatableTopic, configs: &[(&str, Option<&str>)]) -> CreatableTopic {
    t.configs = configs
        .iter()
        .map(|(k, v)| CreatableTopicConfig {
            name: k.to_string(),
            value: v.map(str::to_string),
        })
        .collect();
    t
}

fn create_topics(
    c: &mut WireClient,
    version: i16,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let req = CreateTopicsRequest {
        topics,
        timeout_ms: 30_000,
        validate_only,
    };
    c.request(
        ApiKey::CreateTopics,
        version,
        |b| req.encode(b, version),
        CreateTopicsResponse::decode,
    )
}

/// Creates one topic and returns its result (v7).
fn create_one(c: &mut WireClient, t: CreatableTopic) -> CreatableTopicResult {
    let mut r = create_topics(c, 7, vec![t], false);
    assert_eq!(r.topics.len(), 1);
    r.topics.remove(0)
}

fn create_ok(c: &mut WireClient, name: &str, partitions: i32) -> Uuid {
    let r = create_one(c, topic(name, partitions, 1));
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    r.topic_id
}

fn delete_by_names(c: &mut WireClient, version: i16, names: &[&str]) -> DeleteTopicsResponse {
    let req = DeleteTopicsRequest {
        topic_names: names.iter().map(|n| n.to_string()).collect(),
        topics: names
            .iter()
            .map(|n| DeleteTopicState {
                name: Some(n.to_string()),
                topic_id: Uuid::nil(),
            })
            .collect(),
        timeout_ms: 30_000,
    };
    c.request(
        ApiKey::DeleteTopics,
        version,
        |b| req.encode(b, version),
        DeleteTopicsResponse::decode,
    )
}

fn delete_states(c: &mut WireClient, states: Vec<DeleteTopicState>) -> DeleteTopicsResponse {
    let req = DeleteTopicsRequest {
        topics: states,
        topic_names: Vec::new(),
        timeout_ms: 30_000,
    };
    c.request(
        ApiKey::DeleteTopics,
        6,
        |b| req.encode(b, 6),
        DeleteTopicsResponse::decode,
    )
}

fn metadata(c: &mut WireClient, names: &[&str]) -> MetadataResponse {
    let req = MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    topic_id: Uuid::nil(),
                    name: Some(n.to_string()),
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

fn metadata_topic(c: &mut WireClient, name: &str) -> MetadataResponseTopic {
    let mut m = metadata(c, &[name]);
    assert_eq!(m.topics.len(), 1);
    m.topics.remove(0)
}

/// Produces `count` one-record batches of `size`-byte values to a partition, one request each.
fn produce(c: &mut WireClient, name: &str, partition: i32, count: usize, size: usize) {
    for i in 0..count {
        let mut batch = BatchBuilder::new(0, now_ms());
        let value = vec![b'a' + (i % 26) as u8; size];
        // Keyed: some of these topics are compacted, and those refuse keyless records.
        batch.push(Some(format!("k{i}").as_bytes()), Some(&value), &[]);
        let req = ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: name.into(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch.build()),
                }],
            }],
        };
        let r = c.request(
            ApiKey::Produce,
            9,
            |b| req.encode(b, 9),
            ProduceResponse::decode,
        );
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, NONE, "produce to {name}-{partition}");
    }
}

/// ListOffsets for one partition: (error, offset).
fn list_offset(c: &mut WireClient, name: &str, partition: i32, timestamp: i64) -> (i16, i64) {
    let req = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: name.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                timestamp,
                ..ListOffsetsPartition::default()
            }],
        }],
        timeout_ms: 10_000,
    };
    let r = c.request(
        ApiKey::ListOffsets,
        5,
        |b| req.encode(b, 5),
        ListOffsetsResponse::decode,
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

fn describe_configs(
    c: &mut WireClient,
    version: i16,
    resources: Vec<(i8, &str, Option<Vec<&str>>)>,
    synonyms: bool,
    docs: bool,
) -> DescribeConfigsResponse {
    let req = DescribeConfigsRequest {
        resources: resources
            .into_iter()
            .map(|(t, n, keys)| DescribeConfigsResource {
                resource_type: t,
                resource_name: n.into(),
                configuration_keys: keys.map(|k| k.into_iter().map(str::to_string).collect()),
            })
            .collect(),
        include_synonyms: synonyms,
        include_documentation: docs,
    };
    c.request(
        ApiKey::DescribeConfigs,
        version,
        |b| req.encode(b, version),
        DescribeConfigsResponse::decode,
    )
}

/// The topic's configs (DescribeConfigs v4) as name → (value, source).
fn topic_configs(c: &mut WireClient, name: &str) -> BTreeMap<String, (Option<String>, i8)> {
    let r = describe_configs(c, 4, vec![(TOPIC, name, None)], false, false);
    assert_eq!(
        r.results[0].error_code, NONE,
        "{:?}",
        r.results[0].error_message
    );
    r.results[0]
        .configs
        .iter()
        .map(|e| (e.name.clone(), (e.value.clone(), e.config_source)))
        .collect()
}

fn value_of(c: &mut WireClient, name: &str, key: &str) -> (Option<String>, i8) {
    topic_configs(c, name)
        .remove(key)
        .unwrap_or_else(|| panic!("{key} is listed"))
}

/// An AlterConfigs entry: (name, value).
type Entry<'a> = (&'a str, Option<&'a str>);
/// An IncrementalAlterConfigs entry: (name, operation, value).
type Op<'a> = (&'a str, i8, Option<&'a str>);

fn alter_configs(
    c: &mut WireClient,
    version: i16,
    resources: Vec<(i8, &str, Vec<Entry>)>,
    validate_only: bool,
) -> AlterConfigsResponse {
    let req = AlterConfigsRequest {
        resources: resources
            .into_iter()
            .map(|(t, n, configs)| AlterConfigsResource {
                resource_type: t,
                resource_name: n.into(),
                configs: configs
                    .into_iter()
                    .map(|(k, v)| AlterableConfig {
                        name: k.into(),
                        value: v.map(str::to_string),
                    })
                    .collect(),
            })
            .collect(),
        validate_only,
    };
    c.request(
        ApiKey::AlterConfigs,
        version,
        |b| req.encode(b, version),
        AlterConfigsResponse::decode,
    )
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn incremental_alter(
    c: &mut WireClient,
    version: i16,
    resources: Vec<(i8, &str, Vec<Op>)>,
    validate_only: bool,
) -> IncrementalAlterConfigsResponse {
    let req = incremental::IncrementalAlterConfigsRequest {
        resources: resources
            .into_iter()
            .map(|(t, n, configs)| incremental::AlterConfigsResource {
                resource_type: t,
                resource_name: n.into(),
                configs: configs
                    .into_iter()
                    .map(|(k, op, v)| incremental::AlterableConfig {
                        name: k.into(),
                        config_operation: op,
                        value: v.map(str::to_string),
                    })
                    .collect(),
            })
            .collect(),
        validate_only,
    };
    c.request(
        ApiKey::IncrementalAlterConfigs,
        version,
        |b| req.encode(b, version),
        IncrementalAlterConfigsResponse::decode,
    )
}

fn incremental_one(c: &mut WireClient, name: &str, ops: Vec<Op>) -> i16 {
    incremental_alter(c, 1, vec![(TOPIC, name, ops)], false).responses[0].error_code
}

fn create_partitions(
    c: &mut WireClient,
    version: i16,
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: name.into(),
            count,
            assignments: assignments.map(|a| {
                a.into_iter()
                    .map(|broker_ids| CreatePartitionsAssignment { broker_ids })
                    .collect()
            }),
        }],
        timeout_ms: 30_000,
        validate_only,
    };
    let r = c.request(
        ApiKey::CreatePartitions,
        version,
        |b| req.encode(b, version),
        CreatePartitionsResponse::decode,
    );
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].name, name);
    (r.results[0].error_code, r.results[0].error_message.clone())
}

fn delete_records(
    c: &mut WireClient,
    version: i16,
    name: &str,
    partitions: &[(i32, i64)],
) -> Vec<(i32, i16, i64)> {
    let req = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: name.into(),
            partitions: partitions
                .iter()
                .map(|&(partition_index, offset)| DeleteRecordsPartition {
                    partition_index,
                    offset,
                })
                .collect(),
        }],
        timeout_ms: 10_000,
    };
    let r = c.request(
        ApiKey::DeleteRecords,
        version,
        |b| req.encode(b, version),
        DeleteRecordsResponse::decode,
    );
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.low_watermark))
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Partition directories (`<topic>-<n>`) of `name` in the data directory.
fn partition_dirs(data: &Path, name: &str) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(data)
        .expect("data dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| {
            n.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Waits (bounded) for `condition`, polling every 50 ms.
fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// CreateTopics

#[test]
fn create_topics_every_version_reports_what_was_created() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    for version in 2..=7i16 {
        let name = format!("created-v{version}");
        let t = with_configs(topic(&name, 3, 1), &[("retention.ms", Some("123456"))]);
        let r = create_topics(&mut c, version, vec![t], false);
        assert_eq!(r.topics.len(), 1);
        let t = &r.topics[0];
        assert_eq!((t.name.as_str(), t.error_code), (name.as_str(), NONE));
        if version >= 1 {
            assert_eq!(t.error_message, None);
        }
        let md = metadata_topic(&mut c, &name);
        assert_eq!(md.error_code, NONE);
        assert_eq!(md.partitions.len(), 3);
        if version >= 5 {
            assert_eq!((t.num_partitions, t.replication_factor), (3, 1));
            let configs = t.configs.as_ref().expect("configs from v5");
            let retention = configs
                .iter()
                .find(|c| c.name == "retention.ms")
                .expect("retention.ms listed");
            assert_eq!(retention.value.as_deref(), Some("123456"));
            assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG);
            let segment = configs
                .iter()
                .find(|c| c.name == "segment.bytes")
                .expect("segment.bytes listed");
            assert_eq!(segment.value.as_deref(), Some("1073741824"));
            assert_eq!(segment.config_source, DEFAULT_CONFIG);
            assert!(configs.iter().all(|c| !c.read_only && !c.is_sensitive));
        }
        if version >= 7 {
            assert!(!t.topic_id.is_nil());
            assert_eq!(t.topic_id, md.topic_id);
        }
        assert_eq!(
            value_of(&mut c, &name, "retention.ms"),
            (Some("123456".into()), DYNAMIC_TOPIC_CONFIG)
        );
    }

    // Several topics in one request, -1 partitions = num.partitions (1), -1 replication.
    let r = create_topics(
        &mut c,
        4,
        vec![topic("multi-a", -1, -1), topic("multi-b", 2, -1)],
        false,
    );
    assert_eq!(
        r.topics
            .iter()
            .map(|t| (t.name.as_str(), t.error_code))
            .collect::<Vec<_>>(),
        vec![("multi-a", NONE), ("multi-b", NONE)]
    );
    assert_eq!(metadata_topic(&mut c, "multi-a").partitions.len(), 1);
    assert_eq!(metadata_topic(&mut c, "multi-b").partitions.len(), 2);

    // A manual assignment on this broker (node 1).
    let mut manual = topic("manual", -1, -1);
    manual.assignments = (0..2)
        .map(|p| CreatableReplicaAssignment {
            partition_index: p,
            broker_ids: vec![1],
        })
        .collect();
    let r = create_one(&mut c, manual);
    assert_eq!(r.error_code, NONE, "{:?}", r.error_message);
    assert_eq!(r.num_partitions, 2);
    let md = metadata_topic(&mut c, "manual");
    assert_eq!(md.partitions.len(), 2);
    assert!(md.partitions.iter().all(|p| p.replica_nodes == vec![1]));
}

#[test]
fn create_topics_error_paths() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "exists", 1);
    create_ok(&mut c, "dotted.name", 1);

    let manual = |parts: &[(i32, Vec<i32>)], partitions: i32, rf: i16| {
        let mut t = topic("manual", partitions, rf);
        t.assignments = parts
            .iter()
            .map(|(p, b)| CreatableReplicaAssignment {
                partition_index: *p,
                broker_ids: b.clone(),
            })
            .collect();
        t
    };
    let cases: Vec<(&str, CreatableTopic, i16)> = vec![
        (
            "already exists",
            topic("exists", 1, 1),
            TOPIC_ALREADY_EXISTS,
        ),
        (
            "space in name",
            topic("bad name", 1, 1),
            INVALID_TOPIC_EXCEPTION,
        ),
        ("dot dot", topic("..", 1, 1), INVALID_TOPIC_EXCEPTION),
        ("empty name", topic("", 1, 1), INVALID_TOPIC_EXCEPTION),
        (
            "too long",
            topic(&"x".repeat(250), 1, 1),
            INVALID_TOPIC_EXCEPTION,
        ),
        (
            "collides",
            topic("dotted_name", 1, 1),
            INVALID_TOPIC_EXCEPTION,
        ),
        ("rf 3", topic("rf3", 1, 3), INVALID_REPLICATION_FACTOR),
        ("rf 0", topic("rf0", 1, 0), INVALID_REPLICATION_FACTOR),
        ("0 partitions", topic("p0", 0, 1), INVALID_PARTITIONS),
        ("-5 partitions", topic("pneg", -5, 1), INVALID_PARTITIONS),
        (
            "too many partitions",
            topic("p-huge", 1_000_000, 1),
            INVALID_PARTITIONS,
        ),
        (
            "unknown config",
            with_configs(topic("cfg", 1, 1), &[("no.such.config", Some("1"))]),
            INVALID_CONFIG,
        ),
        (
            "bad config value",
            with_configs(topic("cfg", 1, 1), &[("retention.ms", Some("soon"))]),
            INVALID_CONFIG,
        ),
        (
            "null config value",
            with_configs(topic("cfg", 1, 1), &[("retention.ms", None)]),
            INVALID_CONFIG,
        ),
        (
            "other broker",
            manual(&[(0, vec![2])], -1, -1),
            INVALID_REPLICA_ASSIGNMENT,
        ),
        (
            "two replicas",
            manual(&[(0, vec![1, 2])], -1, -1),
            INVALID_REPLICA_ASSIGNMENT,
        ),
        (
            "no replicas",
            manual(&[(0, vec![])], -1, -1),
            INVALID_REPLICA_ASSIGNMENT,
        ),
        (
            "gap in partitions",
            manual(&[(0, vec![1]), (2, vec![1])], -1, -1),
            INVALID_REPLICA_ASSIGNMENT,
        ),
        (
            "assignment and count",
            manual(&[(0, vec![1])], 1, -1),
            INVALID_REQUEST,
        ),
    ];
    for (what, t, expected) in cases {
        for version in [2i16, 5, 7] {
            let r = create_topics(&mut c, version, vec![t.clone()], false);
            let got = &r.topics[0];
            assert_eq!(got.error_code, expected, "{what} (v{version})");
            assert!(
                got.error_message.as_deref().is_some_and(|m| !m.is_empty()),
                "{what}: an error message"
            );
            if version >= 5 {
                assert_eq!((got.num_partitions, got.replication_factor), (-1, -1));
            }
        }
    }
    // None of those left a topic behind.
    for name in [
        "bad name",
        "rf3",
        "rf0",
        "p0",
        "cfg",
        "manual",
        "dotted_name",
    ] {
        let md = metadata_topic(&mut c, name);
        assert_ne!(md.error_code, NONE, "{name} was not created");
    }

    // The same name twice in one request: one INVALID_REQUEST entry, nothing created.
    let r = create_topics(
        &mut c,
        4,
        vec![
            topic("twice", 1, 1),
            topic("twice", 2, 1),
            topic("once", 1, 1),
        ],
        false,
    );
    let got: Vec<(&str, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t.error_code))
        .collect();
    assert_eq!(got, vec![("twice", INVALID_REQUEST), ("once", NONE)]);
    assert_eq!(
        metadata_topic(&mut c, "twice").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn create_topics_validate_only_creates_nothing() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    let t = with_configs(topic("dry", 4, 1), &[("cleanup.policy", Some("compact"))]);
    let r = create_topics(&mut c, 7, vec![t.clone()], true);
    let got = &r.topics[0];
    assert_eq!(got.error_code, NONE);
    assert_eq!((got.num_partitions, got.replication_factor), (4, 1));
    let configs = got.configs.as_ref().expect("configs");
    assert!(configs
        .iter()
        .any(|c| c.name == "cleanup.policy" && c.value.as_deref() == Some("compact")));
    assert_eq!(
        metadata_topic(&mut c, "dry").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(partition_dirs(&broker.data_dir, "dry").is_empty());
    // Validation still runs.
    let bad = create_topics(&mut c, 7, vec![topic("dry", 1, 2)], true);
    assert_eq!(bad.topics[0].error_code, INVALID_REPLICATION_FACTOR);
    // And the real thing works afterwards.
    assert_eq!(
        create_topics(&mut c, 7, vec![t], false).topics[0].error_code,
        NONE
    );
    assert_eq!(metadata_topic(&mut c, "dry").partitions.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// DeleteTopics

#[test]
fn delete_topics_by_name_every_version_removes_partitions_and_directories() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    for version in 1..=6i16 {
        let name = format!("doomed-v{version}");
        create_ok(&mut c, &name, 2);
        produce(&mut c, &name, 1, 3, 100);
        assert_eq!(partition_dirs(&broker.data_dir, &name).len(), 2);
        let r = delete_by_names(&mut c, version, &[&name]);
        assert_eq!(r.responses.len(), 1);
        let d = &r.responses[0];
        assert_eq!(d.name.as_deref(), Some(name.as_str()));
        assert_eq!(d.error_code, NONE, "v{version}: {:?}", d.error_message);
        // The answer comes after the directories are gone.
        assert!(
            partition_dirs(&broker.data_dir, &name).is_empty(),
            "v{version}"
        );
        assert_eq!(
            metadata_topic(&mut c, &name).error_code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(
            list_offset(&mut c, &name, 1, LATEST).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    // Nothing else is left in the data directory: no `-delete` leftovers.
    let leftovers: Vec<String> = std::fs::read_dir(&broker.data_dir)
        .expect("data dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.contains("doomed"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn delete_topics_by_id_and_error_paths() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    let id = create_ok(&mut c, "by-id", 1);
    create_ok(&mut c, "by-name", 1);

    // v6 by id.
    let r = delete_states(
        &mut c,
        vec![DeleteTopicState {
            name: None,
            topic_id: id,
        }],
    );
    assert_eq!(
        (
            r.responses[0].name.as_deref(),
            r.responses[0].topic_id,
            r.responses[0].error_code
        ),
        (Some("by-id"), id, NONE)
    );
    assert_eq!(
        metadata_topic(&mut c, "by-id").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    // Unknown id, unknown name, both given, neither given.
    let unknown_id = Uuid::new_v4();
    let r = delete_states(
        &mut c,
        vec![
            DeleteTopicState {
                name: None,
                topic_id: unknown_id,
            },
            DeleteTopicState {
                name: Some("never-was".into()),
                topic_id: Uuid::nil(),
            },
            DeleteTopicState {
                name: Some("by-name".into()),
                topic_id: Uuid::new_v4(),
            },
            DeleteTopicState {
                name: None,
                topic_id: Uuid::nil(),
            },
        ],
    );
    let got: Vec<(Option<&str>, Uuid, i16)> = r
        .responses
        .iter()
        .map(|d| (d.name.as_deref(), d.topic_id, d.error_code))
        .collect();
    assert_eq!(got[0], (None, unknown_id, UNKNOWN_TOPIC_ID));
    assert_eq!(got[1].0, Some("never-was"));
    assert_eq!(got[1].2, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!((got[2].0, got[2].2), (Some("by-name"), INVALID_REQUEST));
    assert_eq!(got[3].2, INVALID_REQUEST);
    assert!(r.responses.iter().all(|d| d.error_message.is_some()));
    // "by-name" survived the refused entry.
    assert_eq!(metadata_topic(&mut c, "by-name").error_code, NONE);

    // The same topic twice: refused, not deleted.
    for version in [1i16, 4, 6] {
        let r = delete_by_names(&mut c, version, &["by-name", "by-name"]);
        assert_eq!(r.responses.len(), 1, "v{version}");
        assert_eq!(
            (r.responses[0].name.as_deref(), r.responses[0].error_code),
            (Some("by-name"), INVALID_REQUEST),
            "v{version}"
        );
    }
    assert_eq!(metadata_topic(&mut c, "by-name").error_code, NONE);

    // Unknown names in the old versions.
    for version in 1..=5i16 {
        let r = delete_by_names(&mut c, version, &["never-was"]);
        assert_eq!(
            r.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{version}"
        );
    }

    // A topic re-created under a deleted name starts empty, with a new id.
    let first = create_ok(&mut c, "reborn", 1);
    produce(&mut c, "reborn", 0, 5, 10);
    assert_eq!(list_offset(&mut c, "reborn", 0, LATEST), (NONE, 5));
    assert_eq!(
        delete_by_names(&mut c, 4, &["reborn"]).responses[0].error_code,
        NONE
    );
    let second = create_ok(&mut c, "reborn", 1);
    assert_ne!(first, second);
    assert_eq!(list_offset(&mut c, "reborn", 0, LATEST), (NONE, 0));
    assert_eq!(list_offset(&mut c, "reborn", 0, EARLIEST), (NONE, 0));
}

#[test]
fn delete_topics_refused_when_deletion_is_disabled() {
    let broker = TestBroker::start_with(&["--set", "delete.topic.enable=false"]);
    let mut c = broker.connect();
    let id = create_ok(&mut c, "kept", 1);
    for version in [1i16, 3, 5, 6] {
        let r = delete_by_names(&mut c, version, &["kept"]);
        assert_eq!(
            r.responses[0].error_code, TOPIC_DELETION_DISABLED,
            "v{version}"
        );
    }
    let r = delete_states(
        &mut c,
        vec![DeleteTopicState {
            name: None,
            topic_id: id,
        }],
    );
    assert_eq!(r.responses[0].error_code, TOPIC_DELETION_DISABLED);
    assert_eq!(metadata_topic(&mut c, "kept").error_code, NONE);
    assert_eq!(partition_dirs(&broker.data_dir, "kept").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// CreatePartitions

#[test]
fn create_partitions_grows_topics_and_refuses_the_rest() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "grow", 1);
    produce(&mut c, "grow", 0, 2, 10);

    for (version, count) in [(0i16, 2), (1, 3), (2, 4), (3, 5)] {
        assert_eq!(
            create_partitions(&mut c, version, "grow", count, None, false),
            (NONE, None),
            "v{version}"
        );
        assert_eq!(
            metadata_topic(&mut c, "grow").partitions.len(),
            count as usize
        );
    }
    assert_eq!(partition_dirs(&broker.data_dir, "grow").len(), 5);
    // The new partitions take records; the old one kept its own.
    produce(&mut c, "grow", 4, 3, 10);
    assert_eq!(list_offset(&mut c, "grow", 4, LATEST), (NONE, 3));
    assert_eq!(list_offset(&mut c, "grow", 0, LATEST), (NONE, 2));

    // Not larger, unknown topic.
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 5, None, false).0,
        INVALID_PARTITIONS
    );
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 2, None, false).0,
        INVALID_PARTITIONS
    );
    assert_eq!(
        create_partitions(&mut c, 3, "absent", 2, None, false).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    // Assignments: wrong count, another broker, two replicas.
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 7, Some(vec![vec![1]]), false).0,
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 6, Some(vec![vec![9]]), false).0,
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 6, Some(vec![vec![1, 1]]), false).0,
        INVALID_REPLICA_ASSIGNMENT
    );
    // validate_only checks without changing anything.
    assert_eq!(create_partitions(&mut c, 3, "grow", 8, None, true).0, NONE);
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 4, None, true).0,
        INVALID_PARTITIONS
    );
    assert_eq!(metadata_topic(&mut c, "grow").partitions.len(), 5);
    // A valid assignment.
    assert_eq!(
        create_partitions(&mut c, 3, "grow", 7, Some(vec![vec![1], vec![1]]), false).0,
        NONE
    );
    assert_eq!(metadata_topic(&mut c, "grow").partitions.len(), 7);
}

// ---------------------------------------------------------------------------------------------
// DescribeConfigs

fn entry<'a>(r: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    r.configs
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} listed"))
}

#[test]
fn describe_configs_topics_and_broker_every_version() {
    let broker = TestBroker::start_with(&["--set", "log.retention.hours=2"]);
    let mut c = broker.connect();
    let t = with_configs(topic("described", 1, 1), &[("segment.bytes", Some("4096"))]);
    assert_eq!(create_one(&mut c, t).error_code, NONE);

    for version in 1..=4i16 {
        let r = describe_configs(
            &mut c,
            version,
            vec![(TOPIC, "described", None)],
            true,
            true,
        );
        let res = &r.results[0];
        assert_eq!((res.error_code, res.resource_type), (NONE, TOPIC));
        assert_eq!(res.resource_name, "described");
        for key in [
            "retention.ms",
            "retention.bytes",
            "segment.bytes",
            "segment.ms",
            "max.message.bytes",
            "cleanup.policy",
            "message.timestamp.type",
        ] {
            entry(res, key);
        }
        let seg = entry(res, "segment.bytes");
        let ret = entry(res, "retention.ms");
        let bytes = entry(res, "retention.bytes");
        assert_eq!(seg.value.as_deref(), Some("4096"));
        assert_eq!(
            ret.value.as_deref(),
            Some("7200000"),
            "from log.retention.hours"
        );
        assert_eq!(bytes.value.as_deref(), Some("-1"));
        assert!(res.configs.iter().all(|e| !e.is_sensitive && !e.read_only));
        if version == 0 {
            assert!(seg.synonyms.is_empty());
        } else {
            assert_eq!(seg.config_source, DYNAMIC_TOPIC_CONFIG);
            assert_eq!(ret.config_source, STATIC_BROKER_CONFIG);
            assert_eq!(bytes.config_source, DEFAULT_CONFIG);
            let synonyms: Vec<(&str, i8)> = ret
                .synonyms
                .iter()
                .map(|s| (s.name.as_str(), s.source))
                .collect();
            assert_eq!(
                synonyms,
                vec![
                    ("log.retention.ms", STATIC_BROKER_CONFIG),
                    ("log.retention.ms", DEFAULT_CONFIG)
                ]
            );
            assert_eq!(seg.synonyms[0].value.as_deref(), Some("4096"));
        }
        if version >= 3 {
            assert_eq!(seg.config_type, 3, "INT");
            assert_eq!(ret.config_type, 5, "LONG");
            assert_eq!(entry(res, "cleanup.policy").config_type, 7, "LIST");
            assert!(seg.documentation.as_deref().is_some_and(|d| !d.is_empty()));
        }
    }
    // Without synonyms and documentation asked for.
    let r = describe_configs(&mut c, 4, vec![(TOPIC, "described", None)], false, false);
    let seg = entry(&r.results[0], "segment.bytes");
    assert!(seg.synonyms.is_empty());
    assert_eq!(seg.documentation, None);

    // The key filter.
    let r = describe_configs(
        &mut c,
        2,
        vec![(
            TOPIC,
            "described",
            Some(vec!["segment.bytes", "no.such.key"]),
        )],
        false,
        false,
    );
    let names: Vec<&str> = r.results[0]
        .configs
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, vec!["segment.bytes"]);

    // The broker by node id: every setting, read-only; given ones are static.
    for version in [1i16, 4] {
        let r = describe_configs(&mut c, version, vec![(BROKER, "1", None)], true, true);
        let res = &r.results[0];
        assert_eq!(res.error_code, NONE);
        let partitions = entry(res, "num.partitions");
        assert_eq!(partitions.value.as_deref(), Some("1"));
        assert!(partitions.read_only);
        let hours = entry(res, "log.retention.hours");
        assert_eq!(hours.value.as_deref(), Some("2"));
        let dirs = entry(res, "log.dirs");
        assert_eq!(
            dirs.value.as_deref().map(Path::new),
            Some(broker.data_dir.as_path())
        );
        assert_eq!(partitions.config_source, DEFAULT_CONFIG);
        assert_eq!(hours.config_source, STATIC_BROKER_CONFIG);
        assert_eq!(dirs.config_source, STATIC_BROKER_CONFIG);
    }
    let r = describe_configs(
        &mut c,
        4,
        vec![(BROKER, "1", Some(vec!["delete.topic.enable"]))],
        false,
        false,
    );
    assert_eq!(r.results[0].configs.len(), 1);
    assert_eq!(r.results[0].configs[0].value.as_deref(), Some("true"));
    assert_eq!(r.results[0].configs[0].config_type, 1, "BOOLEAN");
    let r = describe_configs(
        &mut c,
        4,
        vec![(
            BROKER,
            "1",
            Some(vec![
                "offsets.topic.replication.factor",
                "default.replication.factor",
            ]),
        )],
        false,
        false,
    );
    let types: Vec<(&str, Option<&str>, i8)> = r.results[0]
        .configs
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref(), e.config_type))
        .collect();
    assert_eq!(
        types,
        vec![
            ("default.replication.factor", Some("1"), 3),
            ("offsets.topic.replication.factor", Some("1"), 4),
        ],
        "INT, and SHORT as Kafka types its internal topics' replication factors"
    );

    // Errors, each in its own result, next to a good one.
    let r = describe_configs(
        &mut c,
        4,
        vec![
            (TOPIC, "absent", None),
            (TOPIC, "bad name", None),
            (BROKER, "7", None),
            (BROKER, "", None),
            (99, "x", None),
            (TOPIC, "described", Some(vec!["segment.bytes"])),
        ],
        false,
        false,
    );
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            UNKNOWN_TOPIC_OR_PARTITION,
            INVALID_TOPIC_EXCEPTION,
            INVALID_REQUEST,
            NONE,
            INVALID_REQUEST,
            NONE
        ]
    );
    assert!(
        r.results[3].configs.is_empty(),
        "no dynamic broker defaults"
    );
    assert_eq!(r.results[5].configs.len(), 1);
    assert!(r.results[..3].iter().all(|r| r.error_message.is_some()));
}

// ---------------------------------------------------------------------------------------------
// AlterConfigs and IncrementalAlterConfigs

#[test]
fn alter_configs_replaces_the_dynamic_configs() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    let t = with_configs(topic("altered", 1, 1), &[("retention.ms", Some("1000"))]);
    assert_eq!(create_one(&mut c, t).error_code, NONE);

    for version in 0..=2i16 {
        let segment = format!("{}", 8192 + i32::from(version));
        let r = alter_configs(
            &mut c,
            version,
            vec![(TOPIC, "altered", vec![("segment.bytes", Some(&segment))])],
            false,
        );
        assert_eq!(r.responses[0].error_code, NONE, "v{version}");
        assert_eq!(
            (
                r.responses[0].resource_type,
                r.responses[0].resource_name.as_str()
            ),
            (TOPIC, "altered")
        );
        let configs = topic_configs(&mut c, "altered");
        assert_eq!(
            configs["segment.bytes"],
            (Some(segment.clone()), DYNAMIC_TOPIC_CONFIG)
        );
        // Not listed any more → back to the default.
        assert_eq!(
            configs["retention.ms"],
            (Some("604800000".into()), DEFAULT_CONFIG)
        );
    }

    // validate_only changes nothing.
    let r = alter_configs(
        &mut c,
        1,
        vec![(TOPIC, "altered", vec![("retention.ms", Some("5"))])],
        true,
    );
    assert_eq!(r.responses[0].error_code, NONE);
    assert_eq!(
        value_of(&mut c, "altered", "retention.ms").1,
        DEFAULT_CONFIG
    );

    // Error paths: each resource answered on its own, nothing applied for the bad ones.
    let r = alter_configs(
        &mut c,
        1,
        vec![
            (TOPIC, "altered", vec![("no.such.key", Some("1"))]),
            (TOPIC, "absent", vec![("retention.ms", Some("1"))]),
            (BROKER, "1", vec![("num.partitions", Some("3"))]),
            (BROKER, "", vec![("log.retention.ms", Some("3"))]),
            (BROKER, "7", vec![]),
            (TOPIC, "bad name", vec![]),
            (77, "x", vec![]),
        ],
        false,
    );
    let codes: Vec<i16> = r.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            INVALID_CONFIG,
            UNKNOWN_TOPIC_OR_PARTITION,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_TOPIC_EXCEPTION,
            INVALID_REQUEST
        ]
    );
    assert!(r.responses[2]
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("Cannot update these configs dynamically")));
    let r = alter_configs(
        &mut c,
        1,
        vec![(BROKER, "1", vec![("no.such.broker.key", Some("1"))])],
        false,
    );
    assert_eq!(r.responses[0].error_code, INVALID_CONFIG);
    assert!(r.responses.iter().all(|r| r.error_message.is_some()));
    let r = alter_configs(
        &mut c,
        2,
        vec![
            (TOPIC, "altered", vec![("retention.ms", Some("-7"))]),
            (TOPIC, "altered", vec![]),
        ],
        false,
    );
    assert_eq!(
        r.responses[0].error_code, INVALID_REQUEST,
        "duplicate resource"
    );
    let r = alter_configs(
        &mut c,
        2,
        vec![(TOPIC, "altered", vec![("retention.ms", Some("-7"))])],
        false,
    );
    assert_eq!(r.responses[0].error_code, INVALID_CONFIG);
    let r = alter_configs(
        &mut c,
        2,
        vec![(TOPIC, "altered", vec![("retention.ms", None)])],
        false,
    );
    assert_eq!(r.responses[0].error_code, INVALID_REQUEST, "null value");
    assert_eq!(
        value_of(&mut c, "altered", "segment.bytes"),
        (Some("8194".into()), DYNAMIC_TOPIC_CONFIG)
    );
    // An empty change to the broker is fine.
    let r = alter_configs(&mut c, 2, vec![(BROKER, "1", vec![])], false);
    assert_eq!(r.responses[0].error_code, NONE);
}

#[test]
fn incremental_alter_configs_operations() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "inc", 1);

    for version in 0..=1i16 {
        let r = incremental_alter(
            &mut c,
            version,
            vec![(
                TOPIC,
                "inc",
                vec![
                    ("retention.ms", SET, Some("60000")),
                    ("max.message.bytes", SET, Some("2048")),
                ],
            )],
            false,
        );
        assert_eq!(r.responses[0].error_code, NONE, "v{version}");
    }
    let configs = topic_configs(&mut c, "inc");
    assert_eq!(
        configs["retention.ms"],
        (Some("60000".into()), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        configs["max.message.bytes"],
        (Some("2048".into()), DYNAMIC_TOPIC_CONFIG)
    );

    // DELETE goes back to the default; other overrides stay.
    assert_eq!(
        incremental_one(&mut c, "inc", vec![("retention.ms", DELETE, None)]),
        NONE
    );
    let configs = topic_configs(&mut c, "inc");
    assert_eq!(configs["retention.ms"].1, DEFAULT_CONFIG);
    assert_eq!(configs["max.message.bytes"].1, DYNAMIC_TOPIC_CONFIG);

    // APPEND and SUBTRACT on the list key.
    assert_eq!(
        incremental_one(
            &mut c,
            "inc",
            vec![("cleanup.policy", APPEND, Some("compact"))]
        ),
        NONE
    );
    assert_eq!(
        value_of(&mut c, "inc", "cleanup.policy").0.as_deref(),
        Some("delete,compact")
    );
    assert_eq!(
        incremental_one(
            &mut c,
            "inc",
            vec![("cleanup.policy", SUBTRACT, Some("delete"))]
        ),
        NONE
    );
    assert_eq!(
        value_of(&mut c, "inc", "cleanup.policy").0.as_deref(),
        Some("compact")
    );

    // Refusals.
    let refusals: Vec<(&str, Vec<Op>, i16)> = vec![
        (
            "append to a long",
            vec![("retention.ms", APPEND, Some("1"))],
            INVALID_REQUEST,
        ),
        (
            "subtract from a long",
            vec![("retention.ms", SUBTRACT, Some("1"))],
            INVALID_REQUEST,
        ),
        (
            "unknown operation",
            vec![("retention.ms", 7, Some("1"))],
            INVALID_REQUEST,
        ),
        (
            "set null",
            vec![("retention.ms", SET, None)],
            INVALID_REQUEST,
        ),
        (
            "the same key twice",
            vec![
                ("retention.ms", SET, Some("1")),
                ("retention.ms", DELETE, None),
            ],
            INVALID_REQUEST,
        ),
        (
            "unknown key",
            vec![("no.such.key", SET, Some("1"))],
            INVALID_CONFIG,
        ),
        (
            "bad value",
            vec![("segment.bytes", SET, Some("3"))],
            INVALID_CONFIG,
        ),
        (
            "list emptied",
            vec![("cleanup.policy", SUBTRACT, Some("compact"))],
            INVALID_CONFIG,
        ),
    ];
    for (what, ops, expected) in refusals {
        assert_eq!(incremental_one(&mut c, "inc", ops), expected, "{what}");
    }
    assert_eq!(
        incremental_one(&mut c, "absent", vec![("retention.ms", SET, Some("1"))]),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let r = incremental_alter(
        &mut c,
        1,
        vec![(BROKER, "1", vec![("log.retention.ms", SET, Some("1"))])],
        false,
    );
    assert_eq!(r.responses[0].error_code, INVALID_REQUEST);
    // Nothing of the refused changes was applied.
    let configs = topic_configs(&mut c, "inc");
    assert_eq!(configs["retention.ms"].1, DEFAULT_CONFIG);
    assert_eq!(configs["cleanup.policy"].0.as_deref(), Some("compact"));
    assert_eq!(configs["segment.bytes"].1, DEFAULT_CONFIG);

    // validate_only.
    let r = incremental_alter(
        &mut c,
        1,
        vec![(TOPIC, "inc", vec![("segment.bytes", SET, Some("65536"))])],
        true,
    );
    assert_eq!(r.responses[0].error_code, NONE);
    assert_eq!(value_of(&mut c, "inc", "segment.bytes").1, DEFAULT_CONFIG);
}

#[test]
fn altered_max_message_bytes_applies_to_the_running_partition() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "limited", 1);
    produce(&mut c, "limited", 0, 1, 4000);
    assert_eq!(
        incremental_one(
            &mut c,
            "limited",
            vec![("max.message.bytes", SET, Some("1000"))]
        ),
        NONE
    );
    // The partition actor is reconfigured asynchronously; a too-large batch is refused soon.
    let refused = wait_until(Duration::from_secs(10), || {
        let mut batch = BatchBuilder::new(0, now_ms());
        batch.push(None, Some(&[b'x'; 4000]), &[]);
        let req = ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: "limited".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.build()),
                }],
            }],
        };
        let r = c.request(
            ApiKey::Produce,
            9,
            |b| req.encode(b, 9),
            ProduceResponse::decode,
        );
        r.responses[0].partition_responses[0].error_code == 10 // MESSAGE_TOO_LARGE
    });
    assert!(refused, "max.message.bytes=1000 refuses a 4000-byte record");
}

// ---------------------------------------------------------------------------------------------
// DescribeCluster

#[test]
fn describe_cluster_v0_v1() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    let md = metadata(&mut c, &[]);
    for version in 0..=1i16 {
        for ops in [false, true] {
            let req = DescribeClusterRequest {
                include_fenced_brokers: false,
                include_cluster_authorized_operations: ops,
                endpoint_type: 1,
            };
            let r = c.request(
                ApiKey::DescribeCluster,
                version,
                |b| req.encode(b, version),
                DescribeClusterResponse::decode,
            );
            assert_eq!(r.error_code, NONE);
            assert_eq!(Some(r.cluster_id.clone()), md.cluster_id);
            assert_eq!(r.controller_id, 1);
            assert_eq!(r.brokers.len(), 1);
            assert_eq!(r.brokers[0].broker_id, 1);
            assert_eq!(r.brokers[0].host, broker.addr.ip().to_string());
            assert_eq!(r.brokers[0].port, i32::from(broker.addr.port()));
            if version >= 1 {
                assert_eq!(r.endpoint_type, 1);
            }
            if ops {
                assert_ne!(r.cluster_authorized_operations, i32::MIN);
                assert!(r.cluster_authorized_operations > 0);
            } else {
                assert_eq!(r.cluster_authorized_operations, i32::MIN);
            }
        }
    }
    let req = DescribeClusterRequest {
        include_fenced_brokers: false,
        include_cluster_authorized_operations: false,
        endpoint_type: 2,
    };
    let r = c.request(
        ApiKey::DescribeCluster,
        1,
        |b| req.encode(b, 1),
        DescribeClusterResponse::decode,
    );
    assert_eq!(r.error_code, MISMATCHED_ENDPOINT_TYPE);
    assert!(r.error_message.is_some());
}

// ---------------------------------------------------------------------------------------------
// DeleteRecords

#[test]
fn delete_records_moves_the_log_start() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "trimmed", 2);
    produce(&mut c, "trimmed", 0, 10, 50);
    produce(&mut c, "trimmed", 1, 4, 50);

    for version in 0..=2i16 {
        let target = 3 + i64::from(version);
        let got = delete_records(&mut c, version, "trimmed", &[(0, target)]);
        assert_eq!(got, vec![(0, NONE, target)], "v{version}");
        assert_eq!(list_offset(&mut c, "trimmed", 0, EARLIEST), (NONE, target));
    }
    // Backwards is a no-op that reports the current start.
    assert_eq!(
        delete_records(&mut c, 2, "trimmed", &[(0, 1)]),
        vec![(0, NONE, 5)]
    );
    // Past the high watermark; -1 = the high watermark; unknown partitions and topics.
    let got = delete_records(&mut c, 2, "trimmed", &[(0, 11), (1, -1), (5, 0)]);
    assert_eq!(
        got,
        vec![
            (0, OFFSET_OUT_OF_RANGE, -1),
            (1, NONE, 4),
            (5, UNKNOWN_TOPIC_OR_PARTITION, -1)
        ]
    );
    assert_eq!(list_offset(&mut c, "trimmed", 0, EARLIEST), (NONE, 5));
    assert_eq!(list_offset(&mut c, "trimmed", 1, EARLIEST), (NONE, 4));
    assert_eq!(
        delete_records(&mut c, 1, "absent", &[(0, 0)]),
        vec![(0, UNKNOWN_TOPIC_OR_PARTITION, -1)]
    );
    // The log start survives a restart.
    let mut broker = broker;
    broker.restart();
    let mut c = broker.connect();
    assert_eq!(list_offset(&mut c, "trimmed", 0, EARLIEST), (NONE, 5));
    assert_eq!(list_offset(&mut c, "trimmed", 0, LATEST), (NONE, 10));
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[test]
fn admin_changes_survive_restarts() {
    let mut broker = TestBroker::start();
    let (kept_id, gone_id) = {
        let mut c = broker.connect();
        let t = with_configs(
            topic("kept", 2, 1),
            &[
                ("retention.ms", Some("86400000")),
                ("cleanup.policy", Some("compact")),
            ],
        );
        let r = create_one(&mut c, t);
        assert_eq!(r.error_code, NONE);
        let gone = create_ok(&mut c, "gone", 3);
        produce(&mut c, "kept", 1, 3, 20);
        produce(&mut c, "gone", 2, 3, 20);
        assert_eq!(create_partitions(&mut c, 3, "kept", 4, None, false).0, NONE);
        assert_eq!(
            incremental_one(
                &mut c,
                "kept",
                vec![("segment.bytes", SET, Some("1048576"))]
            ),
            NONE
        );
        (r.topic_id, gone)
    };
    broker.restart();
    {
        let mut c = broker.connect();
        let md = metadata_topic(&mut c, "kept");
        assert_eq!((md.error_code, md.topic_id), (NONE, kept_id));
        assert_eq!(md.partitions.len(), 4);
        let configs = topic_configs(&mut c, "kept");
        assert_eq!(
            configs["retention.ms"],
            (Some("86400000".into()), DYNAMIC_TOPIC_CONFIG)
        );
        assert_eq!(configs["cleanup.policy"].0.as_deref(), Some("compact"));
        assert_eq!(configs["segment.bytes"].0.as_deref(), Some("1048576"));
        assert_eq!(list_offset(&mut c, "kept", 1, LATEST), (NONE, 3));
        assert_eq!(list_offset(&mut c, "kept", 3, LATEST), (NONE, 0));

        let r = delete_states(
            &mut c,
            vec![DeleteTopicState {
                name: None,
                topic_id: gone_id,
            }],
        );
        assert_eq!(r.responses[0].error_code, NONE);
        assert_eq!(
            incremental_one(&mut c, "kept", vec![("retention.ms", DELETE, None)]),
            NONE
        );
    }
    broker.restart();
    let mut c = broker.connect();
    assert_eq!(
        metadata_topic(&mut c, "gone").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(partition_dirs(&broker.data_dir, "gone").is_empty());
    let configs = topic_configs(&mut c, "kept");
    assert_eq!(configs["retention.ms"].1, DEFAULT_CONFIG);
    assert_eq!(configs["cleanup.policy"].0.as_deref(), Some("compact"));
    let listed: Vec<String> = metadata(&mut c, &[])
        .topics
        .iter()
        .filter_map(|t| t.name.clone())
        .collect();
    assert!(!listed.contains(&"gone".to_string()));
    let names_only = MetadataRequest {
        topics: None,
        ..MetadataRequest::default()
    };
    let all = c.request(
        ApiKey::Metadata,
        12,
        |b| names_only.encode(b, 12),
        MetadataResponse::decode,
    );
    let names: Vec<Option<String>> = all.topics.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, vec![Some("kept".to_string())]);
}

#[test]
fn a_deletion_interrupted_by_a_crash_never_resurrects_records() {
    // A crash between the RemoveTopicRecord and the directory's removal leaves the old
    // directory behind. Simulate it: copy a partition directory, delete the topic, put the copy
    // back, and restart.
    let mut broker = TestBroker::start();
    {
        let mut c = broker.connect();
        create_ok(&mut c, "phoenix", 1);
        produce(&mut c, "phoenix", 0, 4, 20);
    }
    broker.terminate();
    let dir = broker.data_dir.join("phoenix-0");
    let saved = broker.data_dir.join("saved-phoenix");
    copy_dir(&dir, &saved);
    broker.start_again();
    {
        let mut c = broker.connect();
        assert_eq!(
            delete_by_names(&mut c, 6, &["phoenix"]).responses[0].error_code,
            NONE
        );
    }
    broker.terminate();
    std::fs::rename(&saved, &dir).expect("put the old directory back");
    broker.start_again();
    let mut c = broker.connect();
    assert_eq!(
        metadata_topic(&mut c, "phoenix").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(!dir.exists(), "the stray directory was set aside");
    create_ok(&mut c, "phoenix", 1);
    assert_eq!(list_offset(&mut c, "phoenix", 0, LATEST), (NONE, 0));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

// ---------------------------------------------------------------------------------------------
// Retention driven by topic configs

#[test]
fn retention_from_topic_configs_moves_the_log_start() {
    let broker = TestBroker::start_with(&["--set", "log.retention.check.interval.ms=200"]);
    let mut c = broker.connect();
    // Tiny segments, short retention: every closed segment expires within a second.
    let t = with_configs(
        topic("short-lived", 1, 1),
        &[
            ("segment.bytes", Some("1024")),
            ("retention.ms", Some("500")),
        ],
    );
    assert_eq!(create_one(&mut c, t).error_code, NONE);
    produce(&mut c, "short-lived", 0, 20, 200);
    assert_eq!(list_offset(&mut c, "short-lived", 0, LATEST), (NONE, 20));
    let mut start = 0;
    let moved = wait_until(Duration::from_secs(15), || {
        start = list_offset(&mut c, "short-lived", 0, EARLIEST).1;
        start > 0
    });
    assert!(moved, "retention.ms=500 deleted old segments");
    assert!(start <= 20, "never past the log end");
    assert_eq!(list_offset(&mut c, "short-lived", 0, LATEST), (NONE, 20));

    // A topic that keeps everything until its retention is lowered with IncrementalAlterConfigs.
    let t = with_configs(topic("lowered", 1, 1), &[("segment.bytes", Some("1024"))]);
    assert_eq!(create_one(&mut c, t).error_code, NONE);
    produce(&mut c, "lowered", 0, 20, 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        list_offset(&mut c, "lowered", 0, EARLIEST),
        (NONE, 0),
        "default retention (7 days) keeps everything"
    );
    assert_eq!(
        incremental_one(&mut c, "lowered", vec![("retention.ms", SET, Some("100"))]),
        NONE
    );
    let moved = wait_until(Duration::from_secs(15), || {
        list_offset(&mut c, "lowered", 0, EARLIEST).1 > 0
    });
    assert!(moved, "the running partition picked up retention.ms=100");
}

// ---------------------------------------------------------------------------------------------
// librdkafka's AdminClient

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_admin_client_round_trip() {
    use rdkafka::admin::{
        AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
        TopicReplication,
    };
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::error::RDKafkaErrorCode;

    let broker = TestBroker::start();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));

    let topics = [
        NewTopic::new("rd-one", 3, TopicReplication::Fixed(1)).set("retention.ms", "3600000"),
        NewTopic::new("rd-two", 1, TopicReplication::Fixed(1)),
    ];
    let created = admin
        .create_topics(&topics, &opts)
        .await
        .expect("create_topics");
    assert_eq!(
        created,
        vec![Ok("rd-one".to_string()), Ok("rd-two".to_string())]
    );
    let again = admin
        .create_topics(
            &[NewTopic::new("rd-one", 1, TopicReplication::Fixed(1))],
            &opts,
        )
        .await
        .expect("create_topics");
    assert_eq!(
        again,
        vec![Err((
            "rd-one".to_string(),
            RDKafkaErrorCode::TopicAlreadyExists
        ))]
    );
    let bad_rf = admin
        .create_topics(
            &[NewTopic::new("rd-rf", 1, TopicReplication::Fixed(3))],
            &opts,
        )
        .await
        .expect("create_topics");
    assert_eq!(
        bad_rf,
        vec![Err((
            "rd-rf".to_string(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))]
    );

    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("rd-one")], &opts)
        .await
        .expect("describe_configs");
    let resource = described[0].as_ref().expect("topic described");
    let retention = resource.get("retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, rdkafka::admin::ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    let segment = resource.get("segment.bytes").expect("segment.bytes");
    assert_eq!(segment.source, rdkafka::admin::ConfigSource::Default);

    let altered = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic("rd-one")).set("retention.ms", "7200000")],
            &opts,
        )
        .await
        .expect("alter_configs");
    assert!(altered[0].is_ok(), "{altered:?}");
    let described = admin
        .describe_configs(
            &[
                ResourceSpecifier::Topic("rd-one"),
                ResourceSpecifier::Broker(1),
            ],
            &opts,
        )
        .await
        .expect("describe_configs");
    let resource = described[0].as_ref().expect("topic described");
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("7200000")
    );
    let broker_configs = described[1].as_ref().expect("broker described");
    assert!(broker_configs.get("num.partitions").is_some());

    let grown = admin
        .create_partitions(&[NewPartitions::new("rd-one", 5)], &opts)
        .await
        .expect("create_partitions");
    assert_eq!(grown, vec![Ok("rd-one".to_string())]);
    let shrunk = admin
        .create_partitions(&[NewPartitions::new("rd-one", 2)], &opts)
        .await
        .expect("create_partitions");
    assert_eq!(
        shrunk,
        vec![Err((
            "rd-one".to_string(),
            RDKafkaErrorCode::InvalidPartitions
        ))]
    );
    let md = admin
        .inner()
        .fetch_metadata(Some("rd-one"), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 5);

    let deleted = admin
        .delete_topics(&["rd-one", "rd-two", "rd-never"], &opts)
        .await
        .expect("delete_topics");
    assert_eq!(
        deleted,
        vec![
            Ok("rd-one".to_string()),
            Ok("rd-two".to_string()),
            Err((
                "rd-never".to_string(),
                RDKafkaErrorCode::UnknownTopicOrPartition
            ))
        ]
    );
    assert!(partition_dirs(&broker.data_dir, "rd-one").is_empty());
    let mut c = broker.connect();
    assert_eq!(
        metadata_topic(&mut c, "rd-one").error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}
