//! CreateTopics (19): several topics per request, each created (or, with `validate_only`,
//! checked) by the metadata actor. From v5 the answer carries the topic's partition count,
//! replication factor and every config with its source; from v7 its id.

use std::collections::HashMap;

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::topic_config;
use crate::metadata::topics::ask;
use crate::metadata::{CreateTopic, CreatedTopic};
use crate::protocol::messages::create_topics_request::CreateTopicsRequest;
use crate::protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = header.request_api_version;
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *count.entry(t.name.as_str()).or_default() += 1;
    }
    let duplicated: Vec<String> = count
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut topics: Vec<CreatableTopicResult> = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        // The response is keyed by name: a repeated name gets one (error) entry.
        if topics.iter().any(|r| r.name == t.name) {
            continue;
        }
        if duplicated.contains(&t.name) {
            topics.push(failed(
                t.name,
                ErrorCode::InvalidRequest,
                "Found multiple entries for this topic.".into(),
            ));
            continue;
        }
        let msg = CreateTopic {
            name: t.name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .into_iter()
                .map(|a| (a.partition_index, a.broker_ids))
                .collect(),
            configs: t.configs.into_iter().map(|c| (c.name, c.value)).collect(),
            validate_only: req.validate_only,
        };
        topics.push(match ask(ctx.broker.metadata(), msg).await {
            Ok(created) => succeeded(ctx, version, t.name, created),
            Err((code, message)) => failed(t.name, code, message),
        });
    }
    CreateTopicsResponse {
        throttle_time_ms: 0,
        topics,
    }
}

fn succeeded(
    ctx: &RequestContext,
    version: i16,
    name: String,
    created: CreatedTopic,
) -> CreatableTopicResult {
    let configs = (version >= 5).then(|| {
        topic_config::describe_topic(&ctx.broker.config, &created.configs)
            .into_iter()
            .map(|c| CreatableTopicConfigs {
                name: c.name,
                value: c.value,
                read_only: c.read_only,
                config_source: c.source,
                is_sensitive: false,
            })
            .collect()
    });
    CreatableTopicResult {
        name,
        topic_id: created.id,
        error_code: ErrorCode::None.code(),
        error_message: None,
        topic_config_error_code: 0,
        num_partitions: created.num_partitions,
        replication_factor: created.replication_factor,
        configs,
    }
}

fn failed(name: String, code: ErrorCode, message: String) -> CreatableTopicResult {
    CreatableTopicResult {
        name,
        error_code: code.code(),
        error_message: Some(message),
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
        ..CreatableTopicResult::default()
    }
}
