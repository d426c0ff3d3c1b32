//! CreatePartitions (37): grows topics to a new partition count; each change is recorded in the
//! metadata log and the new partitions' actors are started.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::topics::{ask, CreatePartitions};
use crate::protocol::messages::create_partitions_request::CreatePartitionsRequest;
use crate::protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results: Vec<CreatePartitionsTopicResult> = Vec::with_capacity(req.topics.len());
    let names: Vec<String> = req.topics.iter().map(|t| t.name.clone()).collect();
    for t in req.topics {
        if results.iter().any(|r| r.name == t.name) {
            continue;
        }
        let outcome = if names.iter().filter(|n| **n == t.name).count() > 1 {
            Err((
                ErrorCode::InvalidRequest,
                "Duplicate topic in request.".to_string(),
            ))
        } else {
            let msg = CreatePartitions {
                topic: t.name.clone(),
                count: t.count,
                assignments: t
                    .assignments
                    .map(|a| a.into_iter().map(|a| a.broker_ids).collect()),
                validate_only: req.validate_only,
            };
            ask(ctx.broker.metadata(), msg).await
        };
        results.push(match outcome {
            Ok(()) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: ErrorCode::None.code(),
                error_message: None,
            },
            Err((code, message)) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: code.code(),
                error_message: Some(message),
            },
        });
    }
    CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
    }
}
