//! IncrementalAlterConfigs (44): SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) on a topic's
//! dynamic configs; APPEND/SUBTRACT only on list keys (`cleanup.policy`), else INVALID_REQUEST.
//! Broker resources are refused as in AlterConfigs (see `alter_configs`).

use crate::api::alter_configs::{alter, change_names};
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::admin::ConfigChange;
use crate::protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use crate::protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

pub async fn handle(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let keys: Vec<(i8, String)> = req
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let change = ConfigChange::Incremental(
            r.configs
                .into_iter()
                .map(|c| (c.name, c.config_operation, c.value))
                .collect(),
        );
        let names = change_names(&change);
        let outcome = alter(
            ctx,
            &keys,
            r.resource_type,
            &r.resource_name,
            &names,
            change,
            req.validate_only,
        )
        .await;
        let (error_code, error_message) = match outcome {
            Ok(()) => (ErrorCode::None.code(), None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: r.resource_type,
            resource_name: r.resource_name,
        });
    }
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}
