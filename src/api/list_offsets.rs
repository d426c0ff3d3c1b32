//! ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3) or the first offset at or
//! after a timestamp, per partition.

use crate::api::fan_out::{fan_out, partition, Ask};
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::partition::ListOffset;
use crate::protocol::messages::list_offsets_request::ListOffsetsRequest;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let asked = fan_out(
        req.topics.into_iter().map(|t| (t.name, t.partitions)),
        |topic, p| {
            let handle = partition(&ctx.broker.partitions, topic, p.partition_index)?;
            Ok(Ask::Send(
                handle,
                ListOffset {
                    timestamp: p.timestamp,
                },
            ))
        },
        ErrorCode::KafkaStorageError,
    )
    .await;
    let topics = asked
        .into_iter()
        .map(|(name, partitions)| ListOffsetsTopicResponse {
            name,
            partitions: partitions
                .into_iter()
                .map(|(p, answer)| match answer.and_then(|outcome| outcome) {
                    Ok((offset, timestamp)) => ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: 0,
                        timestamp,
                        offset,
                        leader_epoch: 0,
                    },
                    Err(code) => ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                    },
                })
                .collect(),
        })
        .collect();
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
