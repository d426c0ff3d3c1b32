//! IncrementalAlterConfigs (44): SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) on a topic's
//! dynamic configs; APPEND/SUBTRACT only on list keys (`cleanup.policy`), else INVALID_REQUEST.
//! Broker resources are refused as in AlterConfigs (see `alter_configs`).

use crate::api::alter_configs::alter_resources;
use crate::api::RequestContext;
use crate::metadata::topics::ConfigChange;
use crate::protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use crate::protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let changes = req
        .resources
        .into_iter()
        .map(|r| {
            let change = ConfigChange::Incremental(
                r.configs
                    .into_iter()
                    .map(|c| (c.name, c.config_operation, c.value))
                    .collect(),
            );
            (r.resource_type, r.resource_name, change)
        })
        .collect();
    let responses = alter_resources(ctx, changes, req.validate_only)
        .await
        .into_iter()
        .map(|o| AlterConfigsResourceResponse {
            error_code: o.error_code,
            error_message: o.error_message,
            resource_type: o.resource_type,
            resource_name: o.resource_name,
        })
        .collect();
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
