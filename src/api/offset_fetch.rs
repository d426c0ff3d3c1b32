//! OffsetFetch (9): a group's committed offsets, for the partitions asked or (topics null,
//! v2+) all of them; several groups per request from v8. A partition with nothing committed
//! gets offset -1 and no error, as Kafka answers. `require_stable` needs nothing here: there
//! are no transactional offsets pending.

use futures_util::future::join_all;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::records::CommittedOffset;
use crate::group::store::{FetchOffsets, TopicOffsets};
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequest;
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use crate::protocol::messages::RequestHeader;

/// One group's answer: its offsets, or a group-level error with every asked partition marked.
struct GroupAnswer {
    error: ErrorCode,
    topics: Vec<TopicOffsets>,
}

/// (partition, offset, leader epoch, metadata, error) for one answered partition.
type Row = (i32, i64, i32, String, ErrorCode);

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = header.request_api_version;
    if version >= 8 {
        let fetches = req.groups.iter().map(|g| {
            let topics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                    .collect()
            });
            fetch(ctx, g.group_id.clone(), topics)
        });
        let answers = join_all(fetches).await;
        let groups = req
            .groups
            .into_iter()
            .zip(answers)
            .map(|(g, answer)| OffsetFetchResponseGroup {
                group_id: g.group_id,
                error_code: answer.error.code(),
                topics: answer
                    .topics
                    .into_iter()
                    .map(|t| OffsetFetchResponseTopics {
                        topic_id: uuid::Uuid::nil(),
                        name: t.topic.clone(),
                        partitions: rows(t, answer.error)
                            .map(|(p, offset, epoch, metadata, error)| {
                                OffsetFetchResponsePartitions {
                                    partition_index: p,
                                    committed_offset: offset,
                                    committed_leader_epoch: epoch,
                                    metadata: Some(metadata),
                                    error_code: error.code(),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        return OffsetFetchResponse {
            groups,
            ..OffsetFetchResponse::default()
        };
    }
    // v0–v1 cannot ask for "all topics" (their list is not nullable).
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let answer = fetch(ctx, req.group_id, topics).await;
    let error = answer.error;
    OffsetFetchResponse {
        topics: answer
            .topics
            .into_iter()
            .map(|t| OffsetFetchResponseTopic {
                name: t.topic.clone(),
                partitions: rows(t, error)
                    .map(
                        |(p, offset, epoch, metadata, error)| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: offset,
                            committed_leader_epoch: epoch,
                            metadata: Some(metadata),
                            error_code: error.code(),
                        },
                    )
                    .collect(),
            })
            .collect(),
        error_code: error.code(),
        ..OffsetFetchResponse::default()
    }
}

async fn fetch(
    ctx: &RequestContext,
    group: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> GroupAnswer {
    let asked = topics.clone();
    match ctx
        .broker
        .groups()
        .store()
        .send(FetchOffsets { group, topics })
        .await
    {
        Ok(topics) => GroupAnswer {
            error: ErrorCode::None,
            topics,
        },
        Err(_) => GroupAnswer {
            error: ErrorCode::CoordinatorNotAvailable,
            topics: asked
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, ps)| TopicOffsets {
                    topic,
                    partitions: ps.into_iter().map(|p| (p, None)).collect(),
                })
                .collect(),
        },
    }
}

/// A topic's partitions as response rows: -1, -1, "" where nothing is committed.
fn rows(t: TopicOffsets, error: ErrorCode) -> impl Iterator<Item = Row> {
    t.partitions.into_iter().map(move |(p, c)| match c {
        Some(CommittedOffset {
            offset,
            leader_epoch,
            metadata,
            ..
        }) => (p, offset, leader_epoch, metadata, error),
        None => (p, -1, -1, String::new(), error),
    })
}
