//! DeleteRecords (21): moves partitions' log start offsets forward (-1 = to the high
//! watermark); answers each with its new low watermark.

use futures_util::future::join_all;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::partition::DeleteRecordsBefore;
use crate::protocol::messages::delete_records_request::DeleteRecordsRequest;
use crate::protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};

pub async fn handle(ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = join_all(req.topics.into_iter().map(|topic| async move {
        let partitions = join_all(topic.partitions.into_iter().map(|p| {
            let handle = ctx.broker.partitions.get(&topic.name, p.partition_index);
            async move {
                let outcome = match handle {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(h) => h
                        .send(DeleteRecordsBefore { offset: p.offset })
                        .await
                        .unwrap_or(Err(ErrorCode::UnknownTopicOrPartition)),
                };
                match outcome {
                    Ok(low_watermark) => DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark,
                        error_code: ErrorCode::None.code(),
                    },
                    Err(code) => DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: code.code(),
                    },
                }
            }
        }))
        .await;
        DeleteRecordsTopicResult {
            name: topic.name,
            partitions,
        }
    }))
    .await;
    DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
