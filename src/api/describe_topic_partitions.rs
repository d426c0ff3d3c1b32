//! DescribeTopicPartitions (75): topics sorted by name with their partitions in order, paged by
//! `response_partition_limit` and a cursor (topic name + first partition index) in both
//! directions.

use crate::api::metadata::TOPIC_ALL_OPERATIONS;
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::image::TopicInfo;
use crate::protocol::messages::describe_topic_partitions_request::DescribeTopicPartitionsRequest;
use crate::protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponse, DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = ctx.broker.image();
    let mut names: Vec<String> = if req.topics.is_empty() {
        image.topics.keys().map(|n| n.to_string()).collect()
    } else {
        req.topics.into_iter().map(|t| t.name).collect()
    };
    names.sort();
    names.dedup();

    // Where to resume: the cursor's topic, from its partition index.
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.clone()), c.partition_index.max(0)),
        None => (None, 0),
    };
    let mut budget = usize::try_from(req.response_partition_limit.max(1)).unwrap_or(1);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if start_topic.as_ref().is_some_and(|s| name < *s) {
            continue;
        }
        let Some(topic) = image.topic(&name) else {
            topics.push(unknown_topic(name));
            continue;
        };
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let remaining: Vec<i32> = topic.partitions.range(first..).map(|(i, _)| *i).collect();
        if budget == 0 {
            // The previous topic used the whole limit: resume at this one.
            if let Some(&p) = remaining.first() {
                next_cursor = Some(Cursor {
                    topic_name: name,
                    partition_index: p,
                });
                break;
            }
            topics.push(describe(topic, &[]));
            continue;
        }
        let take = remaining.len().min(budget);
        budget -= take;
        topics.push(describe(topic, &remaining[..take]));
        if take < remaining.len() {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: remaining[take],
            });
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        throttle_time_ms: 0,
        topics,
        next_cursor,
    }
}

fn unknown_topic(name: String) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic {
        error_code: ErrorCode::UnknownTopicOrPartition.code(),
        name: Some(name),
        topic_authorized_operations: TOPIC_ALL_OPERATIONS,
        ..DescribeTopicPartitionsResponseTopic::default()
    }
}

fn describe(topic: &TopicInfo, indexes: &[i32]) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic {
        error_code: 0,
        name: Some(topic.name.to_string()),
        topic_id: topic.id,
        is_internal: topic.is_internal(),
        partitions: indexes
            .iter()
            .filter_map(|i| topic.partitions.get(i).map(|p| (*i, p)))
            .map(|(index, p)| DescribeTopicPartitionsResponsePartition {
                error_code: 0,
                partition_index: index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                // Always arrays, as Kafka sends them (empty when the log has none): the Java
                // admin client iterates over both without a null check.
                eligible_leader_replicas: Some(
                    p.eligible_leader_replicas.clone().unwrap_or_default(),
                ),
                last_known_elr: Some(p.last_known_elr.clone().unwrap_or_default()),
                offline_replicas: Vec::new(),
            })
            .collect(),
        topic_authorized_operations: TOPIC_ALL_OPERATIONS,
    }
}
