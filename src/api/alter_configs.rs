//! AlterConfigs (33): replaces every dynamic config of a topic with the ones listed (what is not
//! listed goes back to the broker default). Recorded as ConfigRecords in the metadata log; the
//! topic's partitions pick the new settings up at once.
//!
//! Broker resources are refused: sluice has no dynamic broker configs (its settings come from
//! the config file and the command line, and apply at startup). A change to a known broker key
//! gets INVALID_REQUEST ("Cannot update these configs dynamically", as Kafka answers for its own
//! static keys), an unknown key INVALID_CONFIG; an empty change succeeds.

use crate::api::RequestContext;
use crate::config::Setting;
use crate::error::ErrorCode;
use crate::metadata::image::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::metadata::topics::{ask, AlterTopicConfigs, ConfigChange};
use crate::metadata::validate_topic_name;
use crate::protocol::messages::alter_configs_request::AlterConfigsRequest;
use crate::protocol::messages::alter_configs_response::{
    AlterConfigsResourceResponse, AlterConfigsResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let changes = req
        .resources
        .into_iter()
        .map(|r| {
            let change =
                ConfigChange::Replace(r.configs.into_iter().map(|c| (c.name, c.value)).collect());
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
    AlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
}

/// The answer for one resource of AlterConfigs or IncrementalAlterConfigs.
pub(crate) struct ResourceOutcome {
    pub resource_type: i8,
    pub resource_name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// Applies each resource's change in request order (both AlterConfigs APIs share this).
pub(crate) async fn alter_resources(
    ctx: &RequestContext,
    changes: Vec<(i8, String, ConfigChange)>,
    validate_only: bool,
) -> Vec<ResourceOutcome> {
    let keys: Vec<(i8, String)> = changes
        .iter()
        .map(|(t, name, _)| (*t, name.clone()))
        .collect();
    let mut out = Vec::with_capacity(changes.len());
    for (resource_type, resource_name, change) in changes {
        let names = change_names(&change);
        let outcome = alter(
            ctx,
            &keys,
            resource_type,
            &resource_name,
            &names,
            change,
            validate_only,
        )
        .await;
        let (error_code, error_message) = match outcome {
            Ok(()) => (ErrorCode::None.code(), None),
            Err((code, message)) => (code.code(), Some(message)),
        };
        out.push(ResourceOutcome {
            resource_type,
            resource_name,
            error_code,
            error_message,
        });
    }
    out
}

pub(crate) fn change_names(change: &ConfigChange) -> Vec<String> {
    match change {
        ConfigChange::Replace(entries) => entries.iter().map(|(n, _)| n.clone()).collect(),
        ConfigChange::Incremental(ops) => ops.iter().map(|(n, _, _)| n.clone()).collect(),
    }
}

/// One resource of an AlterConfigs or IncrementalAlterConfigs request. `all` lists every
/// resource of the request: one named twice is refused.
pub(crate) async fn alter(
    ctx: &RequestContext,
    all: &[(i8, String)],
    resource_type: i8,
    resource_name: &str,
    names: &[String],
    change: ConfigChange,
    validate_only: bool,
) -> Result<(), (ErrorCode, String)> {
    if all
        .iter()
        .filter(|(t, n)| *t == resource_type && n == resource_name)
        .count()
        > 1
    {
        return Err((
            ErrorCode::InvalidRequest,
            format!("Duplicate resource {resource_name} in request."),
        ));
    }
    match resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(resource_name)?;
            let msg = AlterTopicConfigs {
                topic: resource_name.to_string(),
                change,
                validate_only,
            };
            ask(ctx.broker.metadata(), msg).await
        }
        RESOURCE_BROKER => refuse_broker_change(ctx, resource_name, names),
        other => Err((
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}: sluice alters topic configs (2) only."),
        )),
    }
}

/// sluice has no dynamic broker configs: any change to one is refused (see the module docs).
fn refuse_broker_change(
    ctx: &RequestContext,
    name: &str,
    keys: &[String],
) -> Result<(), (ErrorCode, String)> {
    let node = ctx.broker.node.node_id;
    if !name.is_empty() && name.parse::<i32>().ok() != Some(node) {
        return Err((
            ErrorCode::InvalidRequest,
            format!("Unexpected broker id, expected {node} or empty string, but received {name}"),
        ));
    }
    if let Some(unknown) = keys.iter().find(|k| Setting::find(k).is_none()) {
        return Err((
            ErrorCode::InvalidConfig,
            format!("Unknown broker config: {unknown}"),
        ));
    }
    if keys.is_empty() {
        return Ok(());
    }
    Err((
        ErrorCode::InvalidRequest,
        format!(
            "Cannot update these configs dynamically: {} (sluice reads broker settings from its \
             config file and command line at startup)",
            keys.join(", ")
        ),
    ))
}
