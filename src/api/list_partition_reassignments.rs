//! ListPartitionReassignments (46): the reassignments in progress. sluice completes a
//! reassignment when it is accepted and refuses those that could not complete (see
//! `metadata::reassign`), so none is ever in progress and the answer is empty.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsRequest;
use crate::protocol::messages::list_partition_reassignments_response::ListPartitionReassignmentsResponse;
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    _ctx: &RequestContext,
    _header: &RequestHeader,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        error_message: None,
        topics: Vec::new(),
    }
}
