//! Topic configs over the real wire: every config sluice accepts is listed by DescribeConfigs
//! with its source; those it cannot honour are refused by CreateTopics, AlterConfigs and
//! IncrementalAlterConfigs with INVALID_CONFIG naming the key; and what the honoured ones do to
//! a produce — keyless records on compacted topics (INVALID_RECORD with `record_errors`),
//! `min.insync.replicas` (NOT_ENOUGH_REPLICAS), timestamp bounds (INVALID_TIMESTAMP) — as seen
//! by the raw wire client and by librdkafka; DeleteRecords on a compacted topic; deleted
//! segments kept for `file.delete.delay.ms`.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{TestBroker, WireClient};
use sluice::metadata::topic_config::TOPIC_CONFIGS;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::alter_configs_request::{
    AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
};
use sluice::protocol::messages::alter_configs_response::AlterConfigsResponse;
use sluice::protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use sluice::protocol::messages::create_topics_response::CreateTopicsResponse;
use sluice::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use sluice::protocol::messages::delete_records_response::DeleteRecordsResponse;
use sluice::protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use sluice::protocol::messages::describe_configs_response::DescribeConfigsResponse;
use sluice::protocol::messages::incremental_alter_configs_request as incremental;
use sluice::protocol::messages::incremental_alter_configs_response::IncrementalAlterConfigsResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::{PartitionProduceResponse, ProduceResponse};
use sluice::record::BatchBuilder;

const NONE: i16 = 0;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const INVALID_TIMESTAMP: i16 = 32;
const INVALID_CONFIG: i16 = 40;
const POLICY_VIOLATION: i16 = 44;
const INVALID_RECORD: i16 = 87;

const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const TOPIC: i8 = 2;

/// Configs of the right type that sluice cannot honour, and a word of the reason given.
const REFUSED: &[(&str, &str, &str)] = &[
    ("compression.type", "zstd", "recompression"),
    ("compression.type", "uncompressed", "recompression"),
    ("preallocate", "true", "full size"),
    ("remote.storage.enable", "true", "tiered storage"),
];

/// Keys Kafka 4 does not know (removed ones) and the log cleaner's, not there yet.
const UNKNOWN: &[&str] = &[
    "message.format.version",
    "message.downconversion.enable",
    "message.timestamp.difference.max.ms",
];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// CreateTopics v7 for one topic; (error code, message).
fn create(c: &mut WireClient, name: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig {
                    name: k.to_string(),
                    value: Some(v.to_string()),
                })
                .collect(),
            ..CreatableTopic::default()
        }],
        timeout_ms: 30_000,
        validate_only: false,
    };
    let r = c.request(
        ApiKey::CreateTopics,
        7,
        |b| req.encode(b, 7),
        CreateTopicsResponse::decode,
    );
    (r.topics[0].error_code, r.topics[0].error_message.clone())
}

fn create_ok(c: &mut WireClient, name: &str, configs: &[(&str, &str)]) {
    let (code, message) = create(c, name, configs);
    assert_eq!(code, NONE, "{name}: {message:?}");
}

fn alter(c: &mut WireClient, name: &str, key: &str, value: &str) -> (i16, Option<String>) {
    let req = AlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: TOPIC,
            resource_name: name.into(),
            configs: vec![AlterableConfig {
                name: key.into(),
                value: Some(value.into()),
            }],
        }],
        validate_only: false,
    };
    let r = c.request(
        ApiKey::AlterConfigs,
        2,
        |b| req.encode(b, 2),
        AlterConfigsResponse::decode,
    );
    (
        r.responses[0].error_code,
        r.responses[0].error_message.clone(),
    )
}

fn incremental_set(
    c: &mut WireClient,
    name: &str,
    key: &str,
    value: &str,
) -> (i16, Option<String>) {
    let req = incremental::IncrementalAlterConfigsRequest {
        resources: vec![incremental::AlterConfigsResource {
            resource_type: TOPIC,
            resource_name: name.into(),
            configs: vec![incremental::AlterableConfig {
                name: key.into(),
                config_operation: 0,
                value: Some(value.into()),
            }],
        }],
        validate_only: false,
    };
    let r = c.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        |b| req.encode(b, 1),
        IncrementalAlterConfigsResponse::decode,
    );
    (
        r.responses[0].error_code,
        r.responses[0].error_message.clone(),
    )
}

/// DescribeConfigs v4 of a topic, with synonyms: name → (value, source, synonym sources).
fn describe(c: &mut WireClient, name: &str) -> BTreeMap<String, (Option<String>, i8, Vec<i8>)> {
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: TOPIC,
            resource_name: name.into(),
            configuration_keys: None,
        }],
        include_synonyms: true,
        include_documentation: false,
    };
    let r = c.request(
        ApiKey::DescribeConfigs,
        4,
        |b| req.encode(b, 4),
        DescribeConfigsResponse::decode,
    );
    assert_eq!(r.results[0].error_code, NONE);
    r.results[0]
        .configs
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                (
                    e.value.clone(),
                    e.config_source,
                    e.synonyms.iter().map(|s| s.source).collect(),
                ),
            )
        })
        .collect()
}

/// Produce v9 (flexible, with record errors) of one batch to partition 0.
fn produce(
    c: &mut WireClient,
    name: &str,
    acks: i16,
    batch: bytes::Bytes,
) -> PartitionProduceResponse {
    let req = ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            topic_id: Default::default(),
            name: name.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch),
            }],
        }],
    };
    let mut r = c.request(
        ApiKey::Produce,
        9,
        |b| req.encode(b, 9),
        ProduceResponse::decode,
    );
    r.responses.remove(0).partition_responses.remove(0)
}

/// A batch of records `(key, timestamp)`.
fn batch(records: &[(Option<&str>, i64)]) -> bytes::Bytes {
    let mut b = BatchBuilder::new(0, records[0].1);
    for (key, ts) in records {
        b.push_at(*ts, key.map(str::as_bytes), Some(b"value"));
    }
    b.build()
}

#[test]
fn configs_sluice_cannot_honour_are_refused_by_name_everywhere() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "target", &[]);
    for &(key, value, why) in REFUSED {
        for (what, (code, message)) in [
            ("CreateTopics", create(&mut c, "refused", &[(key, value)])),
            ("AlterConfigs", alter(&mut c, "target", key, value)),
            (
                "IncrementalAlterConfigs",
                incremental_set(&mut c, "target", key, value),
            ),
        ] {
            assert_eq!(code, INVALID_CONFIG, "{what} {key}={value}");
            let message = message.unwrap_or_default();
            assert!(
                message.starts_with(&format!("Invalid value {value} for configuration {key}:")),
                "{what}: {message}"
            );
            assert!(message.contains(why), "{what}: {message}");
        }
    }
    for &key in UNKNOWN {
        let (code, message) = create(&mut c, "refused", &[(key, "1")]);
        assert_eq!(code, INVALID_CONFIG, "{key}");
        assert_eq!(
            message.as_deref(),
            Some(format!("Unknown topic config name: {key}").as_str())
        );
        assert_eq!(
            incremental_set(&mut c, "target", key, "1").0,
            INVALID_CONFIG
        );
    }
    // Nothing was created, nothing was changed.
    let d = describe(&mut c, "target");
    assert!(d
        .values()
        .all(|(_, source, _)| *source != DYNAMIC_TOPIC_CONFIG));
    assert_eq!(create(&mut c, "refused", &[]).0, NONE, "never created");
    // The values sluice honours are taken.
    for (key, value) in [
        ("compression.type", "producer"),
        ("preallocate", "false"),
        ("remote.storage.enable", "false"),
        ("compression.zstd.level", "10"),
        ("min.insync.replicas", "1"),
        ("segment.jitter.ms", "1000"),
        ("file.delete.delay.ms", "0"),
        ("message.timestamp.before.max.ms", "86400000"),
        ("leader.replication.throttled.replicas", "*"),
    ] {
        assert_eq!(alter(&mut c, "target", key, value).0, NONE, "{key}={value}");
        assert_eq!(
            incremental_set(&mut c, "target", key, value).0,
            NONE,
            "{key}={value}"
        );
    }
}

#[test]
fn describe_configs_lists_every_accepted_config_with_its_source() {
    let broker = TestBroker::start_with(&[
        "--set",
        "log.cleanup.policy=compact,delete",
        "--set",
        "log.segment.delete.delay.ms=1000",
    ]);
    let mut c = broker.connect();
    create_ok(
        &mut c,
        "described",
        &[("min.insync.replicas", "2"), ("segment.jitter.ms", "10")],
    );
    let d = describe(&mut c, "described");
    for key in TOPIC_CONFIGS {
        assert!(d.contains_key(key.name), "{} listed", key.name);
    }
    assert_eq!(d.len(), TOPIC_CONFIGS.len());
    let policy = &d["cleanup.policy"];
    assert_eq!(policy.0.as_deref(), Some("compact,delete"));
    assert_eq!(policy.1, STATIC_BROKER_CONFIG);
    assert_eq!(policy.2, [STATIC_BROKER_CONFIG, DEFAULT_CONFIG]);
    assert_eq!(
        d["file.delete.delay.ms"],
        (Some("1000".into()), STATIC_BROKER_CONFIG, vec![4, 5])
    );
    assert_eq!(
        d["min.insync.replicas"],
        (Some("2".into()), DYNAMIC_TOPIC_CONFIG, vec![1, 5])
    );
    assert_eq!(d["segment.jitter.ms"].1, DYNAMIC_TOPIC_CONFIG);
    assert_eq!(
        d["compression.type"],
        (Some("producer".into()), DEFAULT_CONFIG, vec![5])
    );
    assert_eq!(
        d["message.timestamp.after.max.ms"].0.as_deref(),
        Some("9223372036854775807")
    );
    assert_eq!(
        d["follower.replication.throttled.replicas"],
        (Some(String::new()), DEFAULT_CONFIG, vec![])
    );

    // Without the broker setting, the default is Kafka's.
    let plain = TestBroker::start();
    let mut c = plain.connect();
    create_ok(&mut c, "plain", &[]);
    let d = describe(&mut c, "plain");
    assert_eq!(
        d["cleanup.policy"],
        (Some("delete".into()), DEFAULT_CONFIG, vec![5])
    );
}

#[test]
fn keyless_records_on_a_compacted_topic_get_invalid_record_with_their_indexes() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "compacted", &[("cleanup.policy", "compact")]);
    create_ok(&mut c, "both", &[("cleanup.policy", "compact,delete")]);
    create_ok(&mut c, "deleted", &[]);
    let now = now_ms();
    let keyless = batch(&[(Some("a"), now), (None, now), (Some("b"), now), (None, now)]);
    for topic in ["compacted", "both"] {
        let p = produce(&mut c, topic, -1, keyless.clone());
        assert_eq!(p.error_code, INVALID_RECORD, "{topic}");
        assert_eq!(p.base_offset, -1);
        let why = format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-0"
        );
        let errors: Vec<(i32, Option<String>)> = p
            .record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.clone()))
            .collect();
        assert_eq!(errors, [(1, Some(why.clone())), (3, Some(why.clone()))]);
        assert_eq!(
            p.error_message.as_deref(),
            Some(
                format!(
                    "One or more records have been rejected due to 2 record errors in total, \
                     and only showing the first three errors at most: \
                     [RecordError(batchIndex=1, message='{why}'), \
                     RecordError(batchIndex=3, message='{why}')]"
                )
                .as_str()
            )
        );
        let keyed = batch(&[(Some("a"), now), (Some("b"), now)]);
        assert_eq!(produce(&mut c, topic, 1, keyed).error_code, NONE);
    }
    assert_eq!(produce(&mut c, "deleted", 1, keyless).error_code, NONE);

    // Switched to compact, a topic refuses keyless records from then on.
    assert_eq!(
        incremental_set(&mut c, "deleted", "cleanup.policy", "compact").0,
        NONE
    );
    let p = produce(&mut c, "deleted", 1, batch(&[(None, now)]));
    assert_eq!(p.error_code, INVALID_RECORD);
    assert_eq!(p.record_errors[0].batch_index, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_gets_invalid_record_for_a_keyless_record_on_a_compacted_topic() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let broker = TestBroker::start();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = admin
        .create_topics(
            &[
                NewTopic::new("rd-compacted", 1, TopicReplication::Fixed(1))
                    .set("cleanup.policy", "compact"),
                NewTopic::new("rd-zstd", 1, TopicReplication::Fixed(1))
                    .set("compression.type", "zstd"),
            ],
            &opts,
        )
        .await
        .expect("create_topics");
    assert_eq!(created[0], Ok("rd-compacted".to_string()));
    assert_eq!(
        created[1],
        Err(("rd-zstd".to_string(), RDKafkaErrorCode::InvalidConfig))
    );

    for codec in ["none", "lz4", "zstd", "gzip", "snappy"] {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("broker.address.family", "v4")
            .set("acks", "all")
            .set("compression.type", codec)
            .set("message.timeout.ms", "10000")
            .create()
            .expect("producer");
        let keyless = producer
            .send(
                FutureRecord::<[u8], [u8]>::to("rd-compacted")
                    .partition(0)
                    .payload(b"no key"),
                Duration::from_secs(10),
            )
            .await;
        match keyless {
            Err((KafkaError::MessageProduction(code), _)) => {
                assert_eq!(code, RDKafkaErrorCode::InvalidRecord, "{codec}")
            }
            other => panic!("{codec}: expected INVALID_RECORD, got {other:?}"),
        }
        let keyed = producer
            .send(
                FutureRecord::<[u8], [u8]>::to("rd-compacted")
                    .partition(0)
                    .key(b"k")
                    .payload(b"keyed"),
                Duration::from_secs(10),
            )
            .await;
        assert!(keyed.is_ok(), "{codec}: {keyed:?}");
    }
}

#[test]
fn min_insync_replicas_above_one_refuses_acks_all_only() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "isr2", &[("min.insync.replicas", "2")]);
    let now = now_ms();
    let p = produce(&mut c, "isr2", -1, batch(&[(None, now)]));
    assert_eq!(
        (p.error_code, p.base_offset, p.error_message.as_deref()),
        (NOT_ENOUGH_REPLICAS, -1, None)
    );
    assert_eq!(
        produce(&mut c, "isr2", 1, batch(&[(None, now)])).error_code,
        NONE
    );
    // Back to 1: acks=all is served again.
    assert_eq!(alter(&mut c, "isr2", "min.insync.replicas", "1").0, NONE);
    assert_eq!(
        produce(&mut c, "isr2", -1, batch(&[(None, now)])).error_code,
        NONE
    );

    // The broker setting is the topics' default.
    let strict = TestBroker::start_with(&["--set", "min.insync.replicas=2"]);
    let mut c = strict.connect();
    create_ok(&mut c, "inherits", &[]);
    assert_eq!(
        produce(&mut c, "inherits", -1, batch(&[(None, now)])).error_code,
        NOT_ENOUGH_REPLICAS
    );
    assert_eq!(
        describe(&mut c, "inherits")["min.insync.replicas"].1,
        STATIC_BROKER_CONFIG
    );
}

#[test]
fn timestamp_bounds_refuse_records_outside_them() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(
        &mut c,
        "bounded",
        &[
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "60000"),
        ],
    );
    let now = now_ms();
    let p = produce(
        &mut c,
        "bounded",
        1,
        batch(&[(None, now), (None, now - 7_200_000)]),
    );
    assert_eq!(p.error_code, INVALID_TIMESTAMP);
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 1);
    let message = p.record_errors[0]
        .batch_index_error_message
        .clone()
        .unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "Timestamp {} of message with offset 1 is out of range.",
            now - 7_200_000
        )),
        "{message}"
    );
    let p = produce(&mut c, "bounded", 1, batch(&[(None, now + 600_000)]));
    assert_eq!(p.error_code, INVALID_TIMESTAMP);
    assert_eq!(
        produce(&mut c, "bounded", 1, batch(&[(None, now)])).error_code,
        NONE
    );
    // Removing the bound lets the same records in.
    assert_eq!(
        incremental_set(
            &mut c,
            "bounded",
            "message.timestamp.after.max.ms",
            "86400000"
        )
        .0,
        NONE
    );
    assert_eq!(
        produce(&mut c, "bounded", 1, batch(&[(None, now + 600_000)])).error_code,
        NONE
    );
}

#[test]
fn delete_records_is_refused_without_the_delete_policy() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    create_ok(&mut c, "kept", &[("cleanup.policy", "compact")]);
    let now = now_ms();
    assert_eq!(
        produce(&mut c, "kept", 1, batch(&[(Some("k"), now)])).error_code,
        NONE
    );
    let req = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: "kept".into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: 0,
                offset: -1,
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
    assert_eq!(r.topics[0].partitions[0].error_code, POLICY_VIOLATION);
}

#[test]
fn a_broker_wide_compact_policy_applies_to_new_topics() {
    let broker = TestBroker::start_with(&["--set", "log.cleanup.policy=compact"]);
    let mut c = broker.connect();
    create_ok(&mut c, "inherits", &[]);
    let now = now_ms();
    assert_eq!(
        produce(&mut c, "inherits", 1, batch(&[(None, now)])).error_code,
        INVALID_RECORD
    );
    create_ok(&mut c, "overrides", &[("cleanup.policy", "delete")]);
    assert_eq!(
        produce(&mut c, "overrides", 1, batch(&[(None, now)])).error_code,
        NONE
    );
}

#[test]
fn deleted_segments_stay_for_file_delete_delay_ms() {
    let broker = TestBroker::start_with(&["--set", "log.retention.check.interval.ms=100"]);
    let mut c = broker.connect();
    create_ok(
        &mut c,
        "delayed",
        &[
            ("segment.bytes", "200"),
            ("retention.ms", "1"),
            ("file.delete.delay.ms", "1500"),
        ],
    );
    for _ in 0..8 {
        let old = now_ms() - 10_000;
        assert_eq!(
            produce(&mut c, "delayed", 1, batch(&[(None, old)])).error_code,
            NONE
        );
    }
    let dir = broker.data_dir.join("delayed-0");
    let deleted = || {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log.deleted"))
                    .count()
            })
            .unwrap_or(0)
    };
    let start = Instant::now();
    while deleted() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "retention renamed segments .deleted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = Instant::now();
    // Still there well within the delay…
    std::thread::sleep(Duration::from_millis(500));
    assert!(deleted() > 0, "kept for file.delete.delay.ms");
    // …and gone soon after it.
    while deleted() > 0 {
        assert!(
            seen.elapsed() < Duration::from_secs(10),
            "removed after file.delete.delay.ms"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen.elapsed() >= Duration::from_millis(900),
        "not before the delay"
    );
}
