//! DescribeCluster (60): the cluster id, this broker (the only one, and the controller), and
//! the cluster's authorized operations when asked.

use crate::api::metadata::CLUSTER_ALL_OPERATIONS;
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use crate::protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use crate::protocol::messages::RequestHeader;

/// `endpoint_type` values (v1).
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let node = &ctx.broker.node;
    if req.endpoint_type == ENDPOINT_CONTROLLER {
        // sluice has no separate controller endpoint; Kafka's brokers answer the same way.
        return DescribeClusterResponse {
            error_code: ErrorCode::MismatchedEndpointType.code(),
            error_message: Some(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint \
                 of type CONTROLLER"
                    .into(),
            ),
            ..DescribeClusterResponse::default()
        };
    }
    if req.endpoint_type != ENDPOINT_BROKER {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(format!("Unknown endpoint type {}", req.endpoint_type)),
            ..DescribeClusterResponse::default()
        };
    }
    let host = node
        .advertised_host
        .clone()
        .unwrap_or_else(|| ctx.local_addr.ip().to_string());
    DescribeClusterResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        error_message: None,
        endpoint_type: ENDPOINT_BROKER,
        cluster_id: node.cluster_id.clone(),
        controller_id: node.node_id,
        brokers: vec![DescribeClusterBroker {
            is_fenced: false,
            broker_id: node.node_id,
            host,
            port: i32::from(node.advertised_port),
            rack: node.rack.clone(),
        }],
        cluster_authorized_operations: if req.include_cluster_authorized_operations {
            CLUSTER_ALL_OPERATIONS
        } else {
            i32::MIN
        },
    }
}
