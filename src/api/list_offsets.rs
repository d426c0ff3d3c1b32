//! ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3) or the first offset at or
//! after a timestamp, per partition.

use futures_util::future::join_all;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::partition::ListOffset;
use crate::protocol::messages::list_offsets_request::ListOffsetsRequest;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

pub async fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = join_all(req.topics.into_iter().map(|topic| async move {
        let partitions = join_all(topic.partitions.into_iter().map(|p| {
            let handle = ctx.broker.partitions.get(&topic.name, p.partition_index);
            async move {
                let outcome = match handle {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(h) => h
                        .send(ListOffset {
                            timestamp: p.timestamp,
                        })
                        .await
                        .unwrap_or(Err(ErrorCode::KafkaStorageError)),
                };
                match outcome {
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
                }
            }
        }))
        .await;
        ListOffsetsTopicResponse {
            name: topic.name,
            partitions,
        }
    }))
    .await;
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
