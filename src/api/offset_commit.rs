//! OffsetCommit (8): checked against the group (generation, member), then written to the
//! offsets log and fsynced before the answer. A commit with generation -1 and no member id is
//! a "simple" commit, accepted while the group has no members.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::actor::ValidateCommit;
use crate::group::records::CommittedOffset;
use crate::group::store::CommitOffsets;
use crate::protocol::messages::offset_commit_request::OffsetCommitRequest;
use crate::protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::protocol::messages::RequestHeader;
use crate::util::clock::now_ms;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = header.request_api_version;
    let group_error = match crate::api::ensure_offsets_topic(ctx).await {
        ErrorCode::None => validate(ctx, version, &req).await,
        code => code,
    };
    let now = now_ms();
    let image = ctx.broker.image();
    // (topic index, partition index, error) in request order; the valid ones go to the store.
    let mut errors: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut to_store = Vec::new();
    for topic in &req.topics {
        let known = image.topic(&topic.name);
        let mut codes = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let code = if group_error != ErrorCode::None {
                group_error
            } else if !known.is_some_and(|t| t.partitions.contains_key(&p.partition_index)) {
                ErrorCode::UnknownTopicOrPartition
            } else {
                to_store.push((
                    topic.name.clone(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.clone().unwrap_or_default(),
                        // Only v1 carried a client timestamp, and Kafka 4 no longer takes v1.
                        commit_timestamp: now,
                    },
                ));
                ErrorCode::None
            };
            codes.push(code);
        }
        errors.push(codes);
    }
    if !to_store.is_empty() {
        let stored = ctx
            .broker
            .groups()
            .store()
            .send(CommitOffsets {
                group: req.group_id.clone(),
                offsets: to_store,
            })
            .await
            .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable));
        if let Err(code) = stored {
            for c in errors.iter_mut().flatten() {
                if *c == ErrorCode::None {
                    *c = code;
                }
            }
        }
    }
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics: req
            .topics
            .into_iter()
            .zip(errors)
            .map(|(t, codes)| OffsetCommitResponseTopic {
                topic_id: uuid::Uuid::nil(),
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .zip(codes)
                    .map(|(p, code)| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The group-level verdict: may these offsets be committed?
async fn validate(ctx: &RequestContext, version: i16, req: &OffsetCommitRequest) -> ErrorCode {
    let groups = ctx.broker.groups();
    let generation = req.generation_id_or_member_epoch;
    let addr = match groups.group(&req.group_id) {
        Some(addr) => addr,
        // A group nobody manages: a simple consumer's commit creates it.
        None if generation < 0 => groups.group_or_create(&req.group_id),
        // An unknown group with a generation: v9 says so, older versions say ILLEGAL_GENERATION.
        None if version >= 9 => return ErrorCode::GroupIdNotFound,
        None => return ErrorCode::IllegalGeneration,
    };
    addr.send(ValidateCommit {
        member_id: req.member_id.clone(),
        group_instance_id: req.group_instance_id.clone(),
        generation,
    })
    .await
    .unwrap_or(ErrorCode::CoordinatorNotAvailable)
}
