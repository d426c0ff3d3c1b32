//! DescribeTopicPartitions v0: ordering, unknown topics, `response_partition_limit` with
//! `next_cursor`, and resuming from a cursor until every partition has been seen once.

use crate::common;

use common::fixtures::*;
use common::requests::*;
use common::TestBroker;
use sluice::protocol::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponse;
use sluice::protocol::messages::metadata::{MetadataRecord, TopicRecord};
use uuid::Uuid;

const NAMES: [&str; 3] = ["alpha", "bravo", "charlie"];

fn id_of(name: &str) -> Uuid {
    let n = NAMES.iter().position(|n| *n == name).expect("known name") as u128;
    Uuid::from_u128(uuid::uuid!("5e1f0000-0000-4000-8000-000000000000").as_u128() | (n + 1))
}

/// Three topics of three partitions, written out of order (charlie first, partitions 2, 0, 1)
/// so that any order in the answer comes from the broker.
fn broker_with_three_topics() -> TestBroker {
    let mut batches = vec![feature_level_batch()];
    let mut next = 2i64;
    for name in ["charlie", "alpha", "bravo"] {
        let id = id_of(name);
        let mut values = vec![record_value(
            &MetadataRecord::TopicRecord(TopicRecord {
                name: name.into(),
                topic_id: id,
            }),
            0,
        )];
        for p in [2, 0, 1] {
            values.push(record_value(
                &MetadataRecord::PartitionRecord(tester_partition_record(id, p)),
                1,
            ));
        }
        batches.push(metadata_batch(next, TOPIC_TIMESTAMP, &values));
        next += values.len() as i64;
    }
    start_with_metadata(&batches, &[])
}

/// (topic, partition) pairs of an answer, in answer order.
fn pairs(resp: &DescribeTopicPartitionsResponse) -> Vec<(String, i32)> {
    resp.topics
        .iter()
        .flat_map(|t| {
            let name = t.name.clone().unwrap_or_default();
            t.partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect()
}

fn all_pairs() -> Vec<(String, i32)> {
    NAMES
        .iter()
        .flat_map(|n| (0..3).map(move |p| (n.to_string(), p)))
        .collect()
}

#[test]
fn topics_sorted_by_name_and_partitions_ascending() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    for request in [&["charlie", "alpha", "bravo"][..], &[]] {
        let resp = describe_topic_partitions(&mut c, request, 100, None);
        let names: Vec<_> = resp.topics.iter().filter_map(|t| t.name.clone()).collect();
        assert_eq!(names, NAMES);
        assert_eq!(pairs(&resp), all_pairs());
        for t in &resp.topics {
            assert_eq!(t.error_code, 0);
            assert_eq!(t.topic_id, id_of(t.name.as_deref().unwrap_or_default()));
            assert!(!t.is_internal);
            for p in &t.partitions {
                assert_eq!((p.error_code, p.leader_id, p.leader_epoch), (0, 1, 0));
                assert_eq!(p.replica_nodes, vec![1]);
                assert_eq!(p.isr_nodes, vec![1]);
                assert!(p.offline_replicas.is_empty());
            }
        }
        assert!(resp.next_cursor.is_none());
    }
}

/// Kafka's answer always carries the ELR arrays (empty when the partition has none); a null
/// there makes the Java admin client fail (it streams over them).
#[test]
fn elr_arrays_are_empty_not_null() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    let resp = describe_topic_partitions(&mut c, &["alpha"], 100, None);
    for p in &resp.topics[0].partitions {
        assert_eq!(p.eligible_leader_replicas.as_deref(), Some(&[][..]));
        assert_eq!(p.last_known_elr.as_deref(), Some(&[][..]));
    }
}

#[test]
fn unknown_topic_has_error_3_zero_id_and_no_partitions() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    let resp = describe_topic_partitions(&mut c, &["zulu", "bravo", "bz"], 100, None);
    let names: Vec<_> = resp.topics.iter().filter_map(|t| t.name.clone()).collect();
    assert_eq!(names, vec!["bravo", "bz", "zulu"]);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 3);
    for t in &resp.topics[1..] {
        assert_eq!(t.error_code, 3);
        assert_eq!(t.topic_id, Uuid::nil());
        assert!(t.partitions.is_empty());
    }
    assert!(resp.next_cursor.is_none());
}

#[test]
fn partition_limit_sets_next_cursor() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    // Cut inside a topic: the cursor names the first partition left out.
    let resp = describe_topic_partitions(&mut c, &["bravo", "alpha"], 2, None);
    assert_eq!(pairs(&resp), vec![("alpha".into(), 0), ("alpha".into(), 1)]);
    let cursor = resp.next_cursor.expect("cursor");
    assert_eq!(
        (cursor.topic_name.as_str(), cursor.partition_index),
        ("alpha", 2)
    );
    // The limit used up exactly at a topic's end: the cursor points at the next topic.
    let resp = describe_topic_partitions(&mut c, &["bravo", "alpha"], 3, None);
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(pairs(&resp).len(), 3);
    let cursor = resp.next_cursor.expect("cursor");
    assert_eq!(
        (cursor.topic_name.as_str(), cursor.partition_index),
        ("bravo", 0)
    );
    // Nothing left out: no cursor.
    let resp = describe_topic_partitions(&mut c, &["bravo", "alpha"], 6, None);
    assert_eq!(pairs(&resp).len(), 6);
    assert!(resp.next_cursor.is_none());
}

#[test]
fn cursor_walk_sees_every_partition_once_in_order() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    for request in [&[][..], &["charlie", "bravo", "alpha"][..]] {
        let mut seen = Vec::new();
        let mut cursor: Option<(String, i32)> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 10, "the walk does not end");
            let resp = describe_topic_partitions(
                &mut c,
                request,
                2,
                cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
            );
            let page = pairs(&resp);
            assert!(
                !page.is_empty() && page.len() <= 2,
                "page {pages}: {page:?}"
            );
            assert!(resp.topics.iter().all(|t| !t.partitions.is_empty()));
            seen.extend(page);
            match resp.next_cursor {
                Some(next) => cursor = Some((next.topic_name, next.partition_index)),
                None => break,
            }
        }
        assert_eq!(seen, all_pairs(), "request {request:?}");
        assert_eq!(pages, 5);
    }
}

/// A cursor taken from one page resumes exactly there, also when given alone.
#[test]
fn incoming_cursor_resumes_mid_topic() {
    let broker = broker_with_three_topics();
    let mut c = broker.connect();
    let resp = describe_topic_partitions(&mut c, &[], 100, Some(("bravo", 1)));
    let expected: Vec<(String, i32)> = all_pairs().into_iter().skip(4).collect();
    assert_eq!(pairs(&resp), expected);
    assert!(resp.next_cursor.is_none());
}
