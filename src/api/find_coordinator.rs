//! FindCoordinator (10): every group and every transactional id is coordinated by this broker.
//! v4+ batches keys (`coordinator_keys`), one answer per key.
//!
//! As in Kafka, the first FindCoordinator for a group creates `__consumer_offsets`
//! ([`ensure_offsets_topic`]); while it cannot be created the answer is
//! COORDINATOR_NOT_AVAILABLE and the client retries.

use crate::api::ensure_offsets_topic;
use crate::api::metadata::advertised_host;
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use crate::protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use crate::protocol::messages::RequestHeader;

/// Key types: 0 = consumer group, 1 = transactional id (2, share groups, is not supported).
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = header.request_api_version;
    let node = &ctx.broker.node;
    let host = advertised_host(ctx);
    let port = i32::from(node.advertised_port);
    let (error, message) = match req.key_type {
        KEY_TYPE_GROUP => match ensure_offsets_topic(ctx).await {
            ErrorCode::None => (ErrorCode::None, None),
            code => (
                code,
                Some("__consumer_offsets is not available".to_string()),
            ),
        },
        KEY_TYPE_TRANSACTION => (ErrorCode::None, None),
        other => (
            ErrorCode::InvalidRequest,
            Some(format!("unsupported coordinator key type {other}")),
        ),
    };
    let found = error == ErrorCode::None;
    let (node_id, host, port) = if found {
        (node.node_id, host, port)
    } else {
        (-1, String::new(), -1)
    };
    if version >= 4 {
        FindCoordinatorResponse {
            coordinators: req
                .coordinator_keys
                .into_iter()
                .map(|key| Coordinator {
                    key,
                    node_id,
                    host: host.clone(),
                    port,
                    error_code: error.code(),
                    error_message: message.clone(),
                })
                .collect(),
            ..FindCoordinatorResponse::default()
        }
    } else {
        FindCoordinatorResponse {
            error_code: error.code(),
            error_message: message,
            node_id,
            host,
            port,
            ..FindCoordinatorResponse::default()
        }
    }
}
