//! SyncGroup (14): the leader hands in the assignment; every member gets its own share. The
//! assignment bytes pass through unread.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::actor::{SyncGroup, SyncRequest, SyncResult};
use crate::protocol::messages::sync_group_request::SyncGroupRequest;
use crate::protocol::messages::sync_group_response::SyncGroupResponse;
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let result = sync(ctx, req).await;
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        protocol_type: result.protocol_type,
        protocol_name: result.protocol_name,
        assignment: result.assignment,
    }
}

async fn sync(ctx: &RequestContext, req: SyncGroupRequest) -> SyncResult {
    if req.group_id.is_empty() {
        return SyncResult::error(ErrorCode::InvalidGroupId);
    }
    let Some(addr) = ctx.broker.groups().group(&req.group_id) else {
        return SyncResult::error(ErrorCode::UnknownMemberId);
    };
    let sync = SyncRequest {
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        generation: req.generation_id,
        protocol_type: req.protocol_type,
        protocol_name: req.protocol_name,
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    match addr.send(SyncGroup(sync)).await {
        Ok(parked) => parked.await,
        Err(_) => SyncResult::error(ErrorCode::CoordinatorNotAvailable),
    }
}
