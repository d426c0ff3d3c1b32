//! LeaveGroup (13): one member (v0–v2) or several, by member id or by instance id (v3+).

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::group::actor::LeaveGroup;
use crate::protocol::messages::leave_group_request::LeaveGroupRequest;
use crate::protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = header.request_api_version;
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .into_iter()
            .map(|m| (m.member_id, m.group_instance_id))
            .collect()
    } else {
        vec![(req.member_id, None)]
    };
    let (top, codes) = if req.group_id.is_empty() {
        (ErrorCode::InvalidGroupId, Vec::new())
    } else {
        match ctx.broker.groups().group(&req.group_id) {
            None => (
                ErrorCode::None,
                vec![ErrorCode::UnknownMemberId; leaving.len()],
            ),
            Some(addr) => match addr
                .send(LeaveGroup {
                    members: leaving.clone(),
                })
                .await
            {
                Ok(Ok(codes)) => (ErrorCode::None, codes),
                Ok(Err(code)) => (code, Vec::new()),
                Err(_) => (ErrorCode::CoordinatorNotAvailable, Vec::new()),
            },
        }
    };
    let members: Vec<MemberResponse> = if top == ErrorCode::None {
        leaving
            .into_iter()
            .zip(codes)
            .map(|((member_id, group_instance_id), code)| MemberResponse {
                member_id,
                group_instance_id,
                error_code: code.code(),
            })
            .collect()
    } else {
        Vec::new()
    };
    // Before v3 there is no member list: the one member's error is the answer.
    let error_code = match (top, version < 3) {
        (ErrorCode::None, true) => members.first().map_or(0, |m| m.error_code),
        (top, _) => top.code(),
    };
    LeaveGroupResponse {
        throttle_time_ms: 0,
        error_code,
        members,
    }
}
