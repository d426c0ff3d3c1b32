//! DeleteGroups (42): an Empty group goes with its committed offsets; a group with members gets
//! NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.

use crate::api::RequestContext;
use crate::protocol::messages::delete_groups_request::DeleteGroupsRequest;
use crate::protocol::messages::delete_groups_response::{
    DeletableGroupResult, DeleteGroupsResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for group_id in req.groups_names {
        let code = ctx.broker.groups().delete(&group_id).await;
        results.push(DeletableGroupResult {
            error_message: None,
            group_id,
            error_code: code.code(),
        });
    }
    DeleteGroupsResponse {
        throttle_time_ms: 0,
        results,
    }
}
