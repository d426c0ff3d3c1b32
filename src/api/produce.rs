//! Produce (0): each partition's batches go to that partition's actor, all partitions at once;
//! the answer waits for every append (and, when the flush policy asks, its fsync).

use futures_util::future::join_all;

use crate::api::RequestContext;
use crate::config::FlushOnAck;
use crate::error::ErrorCode;
use crate::partition::Append;
use crate::protocol::messages::produce_request::ProduceRequest;
use crate::protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};

pub async fn handle(ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
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

    // Start every append, then wait for all of them: partitions are appended concurrently.
    let mut pending = Vec::new();
    for topic in req.topic_data {
        for p in topic.partition_data {
            let handle = ctx.broker.partitions.get(&topic.name, p.index);
            let append = match (refuse_all, handle, p.records) {
                (Some(code), _, _) => Err(code),
                (None, None, _) => Err(ErrorCode::UnknownTopicOrPartition),
                (None, Some(_), None) => Err(ErrorCode::CorruptMessage),
                (None, Some(h), Some(records)) => Ok(h.send(Append { records, sync })),
            };
            pending.push((topic.name.clone(), p.index, append));
        }
    }
    let results = join_all(
        pending
            .into_iter()
            .map(|(topic, index, append)| async move {
                let outcome = match append {
                    Err(code) => Err(code),
                    Ok(fut) => fut.await.unwrap_or(Err(ErrorCode::KafkaStorageError)),
                };
                (topic, index, outcome)
            }),
    )
    .await;

    if acks == 0 && refuse_all.is_none() {
        return None;
    }
    let mut responses: Vec<TopicProduceResponse> = Vec::new();
    for (topic, index, outcome) in results {
        let partition = match outcome {
            Ok(info) => PartitionProduceResponse {
                index,
                error_code: 0,
                base_offset: info.base_offset,
                log_append_time_ms: info.log_append_time,
                log_start_offset: info.log_start_offset,
                ..PartitionProduceResponse::default()
            },
            Err(code) => PartitionProduceResponse {
                index,
                error_code: code.code(),
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                ..PartitionProduceResponse::default()
            },
        };
        match responses.last_mut() {
            Some(t) if t.name == topic => t.partition_responses.push(partition),
            _ => responses.push(TopicProduceResponse {
                topic_id: uuid::Uuid::nil(),
                name: topic,
                partition_responses: vec![partition],
            }),
        }
    }
    Some(ProduceResponse {
        responses,
        throttle_time_ms: 0,
        ..ProduceResponse::default()
    })
}
