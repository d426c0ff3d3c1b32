//! JoinGroup (11): enter a group's next generation. The answer waits for the join phase to
//! complete (see [`crate::group::actor`]); MEMBER_ID_REQUIRED (v4+) hands a new member its id.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::actor::{JoinGroup, JoinRequest, JoinResult};
use crate::protocol::messages::join_group_request::JoinGroupRequest;
use crate::protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let client_id = header.client_id.clone();
    let result = join(ctx, version, client_id, req).await;
    JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        generation_id: result.generation,
        protocol_type: result.protocol_type,
        protocol_name: result.protocol_name,
        leader: result.leader,
        skip_assignment: false,
        member_id: result.member_id,
        members: result
            .members
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                metadata: m.metadata,
            })
            .collect(),
    }
}

async fn join(
    ctx: &RequestContext,
    version: i16,
    client_id: Option<String>,
    req: JoinGroupRequest,
) -> JoinResult {
    if req.group_id.is_empty() {
        return JoinResult::error(req.member_id, ErrorCode::InvalidGroupId);
    }
    // The group's records go to __consumer_offsets: created here if no FindCoordinator did.
    let ready = crate::api::ensure_offsets_topic(ctx).await;
    if ready != ErrorCode::None {
        return JoinResult::error(req.member_id, ready);
    }
    let groups = ctx.broker.groups();
    // Checked here too (the actor checks again) so that a refused join creates no group.
    let settings = groups.settings();
    if req.session_timeout_ms < settings.min_session_timeout_ms
        || req.session_timeout_ms > settings.max_session_timeout_ms
    {
        return JoinResult::error(req.member_id, ErrorCode::InvalidSessionTimeout);
    }
    let addr = if req.member_id.is_empty() {
        groups.group_or_create(&req.group_id)
    } else {
        match groups.group(&req.group_id) {
            Some(addr) => addr,
            None => return JoinResult::error(req.member_id, ErrorCode::UnknownMemberId),
        }
    };
    let member_id = req.member_id.clone();
    let join = JoinRequest {
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        client_id: client_id.unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves for both.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name, p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    match addr.send(JoinGroup(join)).await {
        Ok(parked) => parked.await,
        Err(_) => JoinResult::error(member_id, ErrorCode::CoordinatorNotAvailable),
    }
}
