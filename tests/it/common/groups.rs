//! Group-protocol requests over the wire: the helpers `groups` tests and the commit-latency
//! measurement (`benches/measure.rs`) share.

use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use sluice::protocol::messages::offset_commit_response::OffsetCommitResponse;
use sluice::protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestTopic,
};
use sluice::protocol::messages::offset_fetch_response::OffsetFetchResponse;

use super::{TestBroker, WireClient};

/// A broker whose groups rebalance at once and accept short sessions (tests stay fast).
pub fn fast_broker(extra: &[&str]) -> TestBroker {
    let mut args = vec![
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "group.min.session.timeout.ms=200",
    ];
    args.extend_from_slice(extra);
    TestBroker::start_with(&args)
}

/// Creates topics through Metadata auto-creation (num.partitions from the broker's flags).
pub fn create_topics(client: &mut WireClient, names: &[&str]) {
    let resp = client.request(
        ApiKey::Metadata,
        12,
        |b| {
            MetadataRequest {
                topics: Some(
                    names
                        .iter()
                        .map(|n| MetadataRequestTopic {
                            name: Some(n.to_string()),
                            ..MetadataRequestTopic::default()
                        })
                        .collect(),
                ),
                allow_auto_topic_creation: true,
                ..MetadataRequest::default()
            }
            .encode(b, 12)
        },
        MetadataResponse::decode,
    );
    for t in &resp.topics {
        assert_eq!(t.error_code, 0, "topic {:?} created", t.name);
    }
}

pub fn commit(
    client: &mut WireClient,
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    offsets: &[(&str, i32, i64, Option<&str>)],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, m) in offsets {
        let part = OffsetCommitRequestPartition {
            partition_index: *p,
            committed_offset: *o,
            committed_leader_epoch: -1,
            committed_metadata: m.map(str::to_string),
        };
        match topics.iter_mut().find(|x| x.name == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(OffsetCommitRequestTopic {
                topic_id: Default::default(),
                name: t.to_string(),
                partitions: vec![part],
            }),
        }
    }
    let req = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics,
    };
    let resp = client.request(
        ApiKey::OffsetCommit,
        version,
        |b| req.encode(b, version),
        OffsetCommitResponse::decode,
    );
    resp.topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| (name.clone(), p.partition_index, p.error_code))
        })
        .collect()
}

/// (topic, partition, offset, metadata, error) of an OffsetFetch answer.
pub type FetchedRow = (String, i32, i64, Option<String>, i16);

/// OffsetFetch (v0–v7 shape).
pub fn fetch_offsets(
    client: &mut WireClient,
    version: i16,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> (i16, Vec<FetchedRow>) {
    let req = OffsetFetchRequest {
        group_id: group.into(),
        topics: topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| OffsetFetchRequestTopic {
                    name: t.to_string(),
                    partition_indexes: ps.to_vec(),
                })
                .collect()
        }),
        ..OffsetFetchRequest::default()
    };
    let resp = client.request(
        ApiKey::OffsetFetch,
        version,
        |b| req.encode(b, version),
        OffsetFetchResponse::decode,
    );
    let rows = resp
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions.into_iter().map(move |p| {
                (
                    name.clone(),
                    p.partition_index,
                    p.committed_offset,
                    p.metadata,
                    p.error_code,
                )
            })
        })
        .collect();
    (resp.error_code, rows)
}
