//! OffsetDelete (47, KIP-496): deletes a group's committed offsets for partitions it no longer
//! consumes, as `kafka-consumer-groups --delete-offsets` asks. A partition of a topic the group
//! subscribes to gets GROUP_SUBSCRIBED_TO_TOPIC, one of a topic this broker does not have
//! UNKNOWN_TOPIC_OR_PARTITION; the group itself may be GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::protocol::messages::offset_delete_request::OffsetDeleteRequest;
use crate::protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use crate::protocol::messages::RequestHeader;

/// A topic's partitions, each with its error when it is answered without asking the group.
type Answered = (String, Vec<(i32, Option<ErrorCode>)>);

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let image = ctx.broker.image();
    // Each partition: known to the cluster (then asked of the group), or answered now.
    let mut asked = Vec::new();
    let mut answers: Vec<Answered> = Vec::new();
    for topic in &req.topics {
        let partitions = image.topic(&topic.name).map(|t| t.partitions.len());
        let mut out = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let known =
                partitions.is_some_and(|n| usize::try_from(p.partition_index).is_ok_and(|i| i < n));
            if known {
                asked.push((topic.name.clone(), p.partition_index));
                out.push((p.partition_index, None));
            } else {
                out.push((p.partition_index, Some(ErrorCode::UnknownTopicOrPartition)));
            }
        }
        answers.push((topic.name.clone(), out));
    }
    drop(image);
    let codes = match ctx
        .broker
        .groups()
        .delete_offsets(&req.group_id, &asked)
        .await
    {
        Ok(codes) => codes,
        Err(code) => {
            return OffsetDeleteResponse {
                error_code: code.code(),
                throttle_time_ms: 0,
                topics: Vec::new(),
            }
        }
    };
    let mut codes = codes.into_iter();
    let topics = answers
        .into_iter()
        .map(|(name, partitions)| OffsetDeleteResponseTopic {
            name,
            partitions: partitions
                .into_iter()
                .map(|(partition_index, code)| OffsetDeleteResponsePartition {
                    partition_index,
                    error_code: code
                        .or_else(|| codes.next())
                        .unwrap_or(ErrorCode::None)
                        .code(),
                })
                .collect(),
        })
        .collect();
    OffsetDeleteResponse {
        error_code: ErrorCode::None.code(),
        throttle_time_ms: 0,
        topics,
    }
}
