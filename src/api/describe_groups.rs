//! DescribeGroups (15): state, protocol and members of each group. A group that does not exist
//! is reported Dead with no error, as Kafka does up to v5. Member metadata and assignments are
//! only given for a Stable group.

use futures_util::future::join_all;

use crate::api::RequestContext;
use crate::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use crate::protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use crate::protocol::messages::RequestHeader;

/// Kafka's bitfield of group operations with no authorizer: READ, DELETE, DESCRIBE.
pub const GROUP_ALL_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = ctx.broker.groups();
    let ops = if req.include_authorized_operations {
        GROUP_ALL_OPERATIONS
    } else {
        i32::MIN
    };
    let described = join_all(req.groups.iter().map(|id| groups.describe(id))).await;
    DescribeGroupsResponse {
        throttle_time_ms: 0,
        groups: req
            .groups
            .into_iter()
            .zip(described)
            .map(|(group_id, d)| match d {
                None => DescribedGroup {
                    group_id,
                    group_state: "Dead".into(),
                    authorized_operations: ops,
                    ..DescribedGroup::default()
                },
                Some(d) => DescribedGroup {
                    error_message: None,
                    error_code: 0,
                    group_id,
                    group_state: d.state.name().into(),
                    protocol_type: d.protocol_type,
                    protocol_data: d.protocol_data,
                    members: d
                        .members
                        .into_iter()
                        .map(|m| DescribedGroupMember {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            member_metadata: m.metadata,
                            member_assignment: m.assignment,
                        })
                        .collect(),
                    authorized_operations: ops,
                },
            })
            .collect(),
    }
}
