//! Produce (0): each partition's batches go to that partition's actor, all partitions at once;
//! the answer waits for every append (and, when the flush policy asks, its fsync).

use crate::api::fan_out::{fan_out, partition, Ask};
use crate::api::RequestContext;
use crate::config::FlushOnAck;
use crate::error::ErrorCode;
use crate::partition::{Append, AppendRefused};
use crate::protocol::messages::produce_request::ProduceRequest;
use crate::protocol::messages::produce_response::BatchIndexAndErrorMessage;
use crate::protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let refuse_all = if !matches!(acks, -1..=1) {
        Some(ErrorCode::InvalidRequiredAcks)
    } else {
        None
    };
    let sync = match ctx.broker.config.flush_on_ack {
        FlushOnAck::None => false,
        FlushOnAck::AcksAll => acks == -1,
        FlushOnAck::Always => true,
    };

    // Every partition is appended concurrently; the answer waits for all of them.
    let results = fan_out(
        req.topic_data
            .into_iter()
            .map(|t| (t.name, t.partition_data)),
        |topic, p| {
            if let Some(code) = refuse_all {
                return Err(code);
            }
            // As Kafka: "Cannot append to internal topic" (the group coordinator writes it).
            if crate::metadata::internal_topics::is_coordinator_topic(topic) {
                return Err(ErrorCode::InvalidTopicException);
            }
            let handle = partition(&ctx.broker.partitions, topic, p.index)?;
            let records = p.records.take().ok_or(ErrorCode::CorruptMessage)?;
            Ok(Ask::Send(
                handle,
                Append {
                    records,
                    sync,
                    acks_all: acks == -1,
                },
            ))
        },
        ErrorCode::KafkaStorageError,
    )
    .await;

    if acks == 0 && refuse_all.is_none() {
        return None;
    }
    let mut responses: Vec<TopicProduceResponse> = Vec::new();
    for (topic, partitions) in results {
        for (p, answer) in partitions {
            let index = p.index;
            let outcome = answer
                .map_err(AppendRefused::from)
                .and_then(|outcome| outcome);
            let partition = match outcome {
                Ok(info) => PartitionProduceResponse {
                    index,
                    error_code: 0,
                    base_offset: info.base_offset,
                    log_append_time_ms: info.log_append_time,
                    log_start_offset: info.log_start_offset,
                    ..PartitionProduceResponse::default()
                },
                Err(refused) => PartitionProduceResponse {
                    index,
                    error_code: refused.code.code(),
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    // Both are v8+ fields: older versions do not encode them.
                    record_errors: refused
                        .record_errors
                        .into_iter()
                        .map(|e| BatchIndexAndErrorMessage {
                            batch_index: e.batch_index,
                            batch_index_error_message: Some(e.message),
                        })
                        .collect(),
                    error_message: refused.message,
                    ..PartitionProduceResponse::default()
                },
            };
            // Partitions of one topic share its entry (a topic named twice in a row, too).
            match responses.last_mut() {
                Some(t) if t.name == topic => t.partition_responses.push(partition),
                _ => responses.push(TopicProduceResponse {
                    topic_id: uuid::Uuid::nil(),
                    name: topic.clone(),
                    partition_responses: vec![partition],
                }),
            }
        }
    }
    Some(ProduceResponse {
        responses,
        throttle_time_ms: 0,
        ..ProduceResponse::default()
    })
}
