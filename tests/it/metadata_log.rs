//! Loading `__cluster_metadata-0` at startup: a log shaped like the one Apache Kafka 4.0 writes
//! (built here from the schemas), a damaged tail, a missing directory, and topics that the broker
//! itself appends (auto-creation) surviving a restart.

use crate::common;

use std::fs;
use std::path::Path;

use bytes::Bytes;
use common::fixtures::kafka4::*;
use common::fixtures::*;
use common::requests::*;
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use uuid::Uuid;

fn produce(c: &mut WireClient, topic: &str, partition: i32, batch: Bytes) -> ProduceResponse {
    let req = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            topic_id: Default::default(),
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch),
            }],
        }],
    };
    c.request(
        ApiKey::Produce,
        9,
        |b| req.encode(b, 9),
        ProduceResponse::decode,
    )
}

fn by_id(c: &mut WireClient, id: Uuid) -> MetadataResponse {
    metadata_request(
        c,
        12,
        MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                topic_id: id,
                name: None,
            }]),
            ..MetadataRequest::default()
        },
    )
}

fn topic_names(resp: &MetadataResponse) -> Vec<String> {
    let mut names: Vec<String> = resp.topics.iter().filter_map(|t| t.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn kafka_4_shaped_log_reports_exactly_the_surviving_topics() {
    let broker = start_with_metadata(&kafka_4_log(), &[]);
    let mut c = broker.connect();

    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(topic_names(&resp), vec!["audit", "events", "phoenix"]);
    for (name, id, partitions) in SURVIVING {
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .expect("topic listed");
        assert_eq!(t.error_code, 0);
        assert_eq!(t.topic_id, id, "{name}");
        assert!(!t.is_internal);
        let indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        assert_eq!(indexes, (0..partitions).collect::<Vec<_>>(), "{name}");
        for p in &t.partitions {
            // events-0 lost its leader and got it back: two leader changes, epoch 2.
            let epoch = if name == "events" && p.partition_index == 0 {
                2
            } else {
                0
            };
            assert_eq!(
                (p.error_code, p.leader_id, p.leader_epoch),
                (0, 1, epoch),
                "{name}-{}",
                p.partition_index
            );
            assert_eq!(p.replica_nodes, vec![1]);
            assert_eq!(p.isr_nodes, vec![1]);
            assert!(p.offline_replicas.is_empty());
        }
    }

    // The removed topic is gone by name and by id; the re-created one has its new id only.
    let resp = metadata(&mut c, 12, Some(&["doomed"]), false);
    assert_eq!(resp.topics[0].error_code, 3);
    assert_eq!(by_id(&mut c, DOOMED).topics[0].error_code, 100);
    assert_eq!(by_id(&mut c, PHOENIX_OLD).topics[0].error_code, 100);
    let resp = by_id(&mut c, PHOENIX);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].name.as_deref(), Some("phoenix"));

    // DescribeTopicPartitions agrees, with the ELR fields of the v2 records.
    let resp =
        describe_topic_partitions(&mut c, &["phoenix", "events", "doomed", "audit"], 100, None);
    let names: Vec<_> = resp
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["audit", "doomed", "events", "phoenix"]);
    assert_eq!(resp.topics[1].error_code, 3);
    assert_eq!(resp.topics[1].topic_id, Uuid::nil());
    assert!(resp.topics[1].partitions.is_empty());
    let events = &resp.topics[2];
    assert_eq!(events.topic_id, EVENTS);
    let p0 = &events.partitions[0];
    assert_eq!((p0.leader_id, p0.leader_epoch), (1, 2));
    let p1 = &events.partitions[1];
    assert_eq!(p1.eligible_leader_replicas.as_deref(), Some(&[][..]));
    assert_eq!(p1.last_known_elr.as_deref(), Some(&[1][..]));
    assert_eq!(resp.topics[3].topic_id, PHOENIX);
    assert_eq!(resp.topics[3].partitions.len(), 2);
    assert!(resp.next_cursor.is_none());

    // Partition directories exist for the surviving partitions only, with their current ids.
    for dir in [
        "audit-0",
        "events-0",
        "events-1",
        "events-2",
        "phoenix-0",
        "phoenix-1",
    ] {
        assert!(broker.data_dir.join(dir).is_dir(), "{dir}");
    }
    assert!(!broker.data_dir.join("doomed-0").exists());
    let meta = fs::read_to_string(broker.data_dir.join("phoenix-1/partition.metadata"))
        .expect("partition.metadata");
    assert!(meta.contains(&uuid_text(PHOENIX)), "{meta}");

    // The topic ConfigRecord applies: audit's max.message.bytes is 200.
    let small = produce_batch(&[b"ok"]);
    let r = produce(&mut c, "audit", 0, small);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let big = produce_batch(&[&[b'x'; 300]]);
    let r = produce(&mut c, "audit", 0, big.clone());
    assert_eq!(r.responses[0].partition_responses[0].error_code, 10);
    // events has no such override.
    let r = produce(&mut c, "events", 1, big);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    // Every batch and record was readable: no damage or decode warnings.
    let warnings: Vec<String> = broker
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// URL-safe base64 without padding: Kafka's text form of a UUID.
fn uuid_text(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Damaged tail
// ---------------------------------------------------------------------------------------------

enum Damage {
    Truncated,
    FlippedByte,
}

fn damaged_tail(damage: Damage) {
    let apple = TopicSpec::empty("apple", Uuid::from_u128(0xa11e), 1);
    let banana = TopicSpec::empty("banana", Uuid::from_u128(0xba4a4a), 2);
    let mut log = tester_metadata_log(&[apple.clone(), banana]);
    let banana_at = feature_level_batch().len() + tester_topic_batch(2, &apple).len();
    match damage {
        Damage::Truncated => log.truncate(log.len() - 10),
        Damage::FlippedByte => {
            let i = banana_at + 70;
            log[i] ^= 0x40;
        }
    }
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    fs::create_dir_all(data.join("__cluster_metadata-0")).expect("dirs");
    fs::write(data.join("meta.properties"), meta_properties()).expect("meta");
    let segment = data.join("__cluster_metadata-0/00000000000000000000.log");
    fs::write(&segment, &log).expect("log");
    let mut broker = TestBroker::start_owning(temp, &data, &[]);

    // The warning names the file and the damaged batch's position.
    let file = segment.display().to_string();
    let warned = broker.log_lines().into_iter().any(|l| {
        l.contains("WARN") && l.contains(&file) && l.contains(&format!("position={banana_at}"))
    });
    assert!(
        warned,
        "no warning naming {file} at {banana_at}: {:#?}",
        broker.log_lines()
    );

    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(topic_names(&resp), vec!["apple"]);
    assert_eq!(resp.topics[0].topic_id, apple.id);

    // A topic created now is appended after the last good batch and survives a restart.
    let resp = metadata(&mut c, 12, Some(&["cherry"]), true);
    assert_eq!(resp.topics[0].error_code, 0);
    let cherry = resp.topics[0].topic_id;
    assert_ne!(cherry, Uuid::nil());
    drop(c);
    broker.restart();
    assert!(
        !broker.log_lines().iter().any(|l| l.contains("WARN")),
        "the log is whole again after the restart: {:#?}",
        broker.log_lines()
    );
    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(topic_names(&resp), vec!["apple", "cherry"]);
    let t = resp
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("cherry"))
        .expect("cherry");
    assert_eq!(t.topic_id, cherry);
    assert_eq!(t.partitions.len(), 1);
}

#[test]
fn truncated_last_batch_keeps_what_came_before() {
    damaged_tail(Damage::Truncated);
}

#[test]
fn corrupted_last_batch_keeps_what_came_before() {
    damaged_tail(Damage::FlippedByte);
}

// ---------------------------------------------------------------------------------------------
// No metadata directory
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_metadata_directory_means_no_topics() {
    let broker = TestBroker::start();
    assert!(broker.wait_for_log("no metadata log", std::time::Duration::from_secs(5)));
    // The broker registered itself, so the log exists now, holding no topic.
    assert!(broker
        .data_dir
        .join("__cluster_metadata-0/00000000000000000000.log")
        .is_file());
    let mut c = broker.connect();
    assert!(metadata(&mut c, 12, None, false).topics.is_empty());
    assert!(describe_topic_partitions(&mut c, &[], 100, None)
        .topics
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Auto-creation
// ---------------------------------------------------------------------------------------------

#[test]
fn auto_created_topic_survives_a_restart() {
    let mut broker = TestBroker::start();
    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, Some(&["fresh-topic"]), true);
    let t = &resp.topics[0];
    assert_eq!((t.error_code, t.name.as_deref()), (0, Some("fresh-topic")));
    assert_ne!(t.topic_id, Uuid::nil());
    assert_eq!(t.partitions.len(), 1, "num.partitions defaults to 1");
    assert_eq!(
        (t.partitions[0].leader_id, t.partitions[0].leader_epoch),
        (1, 0)
    );
    let id = t.topic_id;
    check_partition_metadata(&broker.data_dir, "fresh-topic-0", id);

    drop(c);
    broker.restart();
    let mut c = broker.connect();
    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(topic_names(&resp), vec!["fresh-topic"]);
    assert_eq!(resp.topics[0].topic_id, id, "same id after the restart");
    assert_eq!(resp.topics[0].partitions.len(), 1);
    check_partition_metadata(&broker.data_dir, "fresh-topic-0", id);
}

fn check_partition_metadata(log_dir: &Path, dir: &str, id: Uuid) {
    let text = fs::read_to_string(log_dir.join(dir).join("partition.metadata"))
        .expect("partition.metadata");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "version: 0".to_string(),
            format!("topic_id: {}", uuid_text(id))
        ]
    );
}

#[test]
fn auto_creation_uses_num_partitions_and_old_versions_create_too() {
    let broker = TestBroker::start_with(&["--set", "num.partitions=3"]);
    let mut c = broker.connect();
    // v3 has no allow_auto_topic_creation field: creation is allowed.
    let resp = metadata(&mut c, 3, Some(&["three"]), false);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 3);
    for p in 0..3 {
        assert!(broker
            .data_dir
            .join(format!("three-{p}/partition.metadata"))
            .is_file());
    }
}

#[test]
fn invalid_names_and_disallowed_creation_create_nothing() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    let long = "x".repeat(250);
    for name in ["bad/name", "..", ".", "sp ace", long.as_str()] {
        let resp = metadata(&mut c, 12, Some(&[name]), true);
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].error_code, 17, "{name:?}");
        assert_eq!(resp.topics[0].name.as_deref(), Some(name));
        assert!(resp.topics[0].partitions.is_empty());
    }
    // 249 characters is still legal.
    let longest = "y".repeat(249);
    let resp = metadata(&mut c, 12, Some(&[&longest]), true);
    assert_eq!(resp.topics[0].error_code, 0);
    // allow_auto_topic_creation=false: unknown topic, not created.
    let resp = metadata(&mut c, 12, Some(&["not-wanted"]), false);
    assert_eq!(resp.topics[0].error_code, 3);
    assert_eq!(resp.topics[0].topic_id, Uuid::nil());

    let resp = metadata(&mut c, 12, None, false);
    assert_eq!(topic_names(&resp), vec![longest.clone()]);
    let mut dirs: Vec<String> = fs::read_dir(&broker.data_dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    // Besides the metadata log, only the valid topic exists (no group was used, so no
    // __consumer_offsets either).
    assert_eq!(
        dirs,
        vec!["__cluster_metadata-0".to_string(), format!("{longest}-0")]
    );
}
