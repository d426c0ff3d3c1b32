//! AlterPartitionReassignments (45): reassignments decided by the metadata actor
//! (`metadata::reassign`): to the current replicas, or down to this node alone.

use crate::api::elect_leaders::by_topic;
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::reassign::AlterReassignments;
use crate::metadata::topics::ask;
use crate::protocol::messages::alter_partition_reassignments_request::AlterPartitionReassignmentsRequest;
use crate::protocol::messages::alter_partition_reassignments_response::{
    AlterPartitionReassignmentsResponse, ReassignablePartitionResponse, ReassignableTopicResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow = req.allow_replication_factor_change;
    let msg = AlterReassignments {
        partitions: req
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| (name.clone(), p.partition_index, p.replicas))
            })
            .collect(),
        allow_replication_factor_change: allow,
    };
    match ask(ctx.broker.metadata(), msg).await {
        Ok(outcomes) => AlterPartitionReassignmentsResponse {
            throttle_time_ms: 0,
            allow_replication_factor_change: allow,
            error_code: ErrorCode::None.code(),
            error_message: None,
            responses: by_topic(outcomes)
                .into_iter()
                .map(|(name, partitions)| ReassignableTopicResponse {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(|o| ReassignablePartitionResponse {
                            partition_index: o.partition,
                            error_code: o.error.code(),
                            error_message: o.message,
                        })
                        .collect(),
                })
                .collect(),
        },
        Err((code, message)) => AlterPartitionReassignmentsResponse {
            throttle_time_ms: 0,
            allow_replication_factor_change: allow,
            error_code: code.code(),
            error_message: Some(message),
            responses: Vec::new(),
        },
    }
}
