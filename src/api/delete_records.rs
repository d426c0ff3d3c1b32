//! DeleteRecords (21): moves partitions' log start offsets forward (-1 = to the high
//! watermark); answers each with its new low watermark.

use crate::api::fan_out::{fan_out, partition, Ask};
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::partition::DeleteRecordsBefore;
use crate::protocol::messages::delete_records_request::DeleteRecordsRequest;
use crate::protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let asked = fan_out(
        req.topics.into_iter().map(|t| (t.name, t.partitions)),
        |topic, p| {
            let handle = partition(&ctx.broker.partitions, topic, p.partition_index)?;
            Ok(Ask::Send(handle, DeleteRecordsBefore { offset: p.offset }))
        },
        ErrorCode::UnknownTopicOrPartition,
    )
    .await;
    let topics = asked
        .into_iter()
        .map(|(name, partitions)| DeleteRecordsTopicResult {
            name,
            partitions: partitions
                .into_iter()
                .map(|(p, answer)| match answer.and_then(|outcome| outcome) {
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
                })
                .collect(),
        })
        .collect();
    DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
