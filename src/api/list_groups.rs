//! ListGroups (16): every group this coordinator knows, filtered by state (v4+) and by type
//! (v5+; all of ours are "classic").

use crate::api::RequestContext;
use crate::protocol::messages::list_groups_request::ListGroupsRequest;
use crate::protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use crate::protocol::messages::RequestHeader;

/// The group type of every group here (Kafka's classic rebalance protocol).
pub const CLASSIC: &str = "classic";

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let types_ok = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case(CLASSIC));
    let groups = if types_ok {
        ctx.broker.groups().list().await
    } else {
        Vec::new()
    };
    ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        groups: groups
            .into_iter()
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                group_state: g.state.name().to_string(),
                group_type: CLASSIC.to_string(),
            })
            .collect(),
    }
}
