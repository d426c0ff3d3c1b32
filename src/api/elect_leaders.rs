//! ElectLeaders (43): preferred or unclean leader elections, decided by the metadata actor
//! (`metadata::reassign`) and recorded as PartitionChangeRecords.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::reassign::{ElectLeaders, PartitionOutcome};
use crate::metadata::topics::ask;
use crate::protocol::messages::elect_leaders_request::ElectLeadersRequest;
use crate::protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let msg = ElectLeaders {
        election_type: req.election_type,
        partitions: req
            .topic_partitions
            .map(|ts| ts.into_iter().map(|t| (t.topic, t.partitions)).collect()),
    };
    match ask(ctx.broker.metadata(), msg).await {
        Ok(outcomes) => ElectLeadersResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None.code(),
            replica_election_results: by_topic(outcomes)
                .into_iter()
                .map(|(topic, partitions)| ReplicaElectionResult {
                    topic,
                    partition_result: partitions
                        .into_iter()
                        .map(|o| PartitionResult {
                            partition_id: o.partition,
                            error_code: o.error.code(),
                            error_message: o.message,
                        })
                        .collect(),
                })
                .collect(),
        },
        Err((code, _)) => ElectLeadersResponse {
            throttle_time_ms: 0,
            error_code: code.code(),
            replica_election_results: Vec::new(),
        },
    }
}

/// Outcomes grouped by topic, topics in the order they first appear.
pub fn by_topic(outcomes: Vec<PartitionOutcome>) -> Vec<(String, Vec<PartitionOutcome>)> {
    let mut out: Vec<(String, Vec<PartitionOutcome>)> = Vec::new();
    for o in outcomes {
        match out.iter_mut().find(|(t, _)| *t == o.topic) {
            Some((_, list)) => list.push(o),
            None => out.push((o.topic.clone(), vec![o])),
        }
    }
    out
}
