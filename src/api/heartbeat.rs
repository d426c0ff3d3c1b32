//! Heartbeat (12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::actor::Heartbeat;
use crate::protocol::messages::heartbeat_request::HeartbeatRequest;
use crate::protocol::messages::heartbeat_response::HeartbeatResponse;
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let code = if req.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        match ctx.broker.groups().group(&req.group_id) {
            None => ErrorCode::UnknownMemberId,
            Some(addr) => addr
                .send(Heartbeat {
                    member_id: req.member_id,
                    group_instance_id: req.group_instance_id,
                    generation: req.generation_id,
                })
                .await
                .unwrap_or(ErrorCode::CoordinatorNotAvailable),
        }
    };
    HeartbeatResponse {
        throttle_time_ms: 0,
        error_code: code.code(),
    }
}
