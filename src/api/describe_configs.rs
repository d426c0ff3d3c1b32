//! DescribeConfigs (32) for topics (resource type 2) and this broker (type 4).
//!
//! A topic lists every config sluice honours (`metadata::topic_config::TOPIC_CONFIGS`) with its
//! value: the topic's override (DYNAMIC_TOPIC_CONFIG), else the broker's setting
//! (STATIC_BROKER_CONFIG when given in the config file or on the command line, DEFAULT_CONFIG
//! otherwise). The broker, named by its node id, lists every key of `config::SETTINGS` with the
//! value it was given (or its default), all read-only: sluice has no dynamic broker configs. The
//! empty broker name means, as in Kafka, the cluster-wide dynamic defaults — none in sluice, so
//! that answer is an empty list. `configuration_keys` filters either list.

use crate::api::RequestContext;
use crate::config::{Config, SETTINGS};
use crate::error::ErrorCode;
use crate::metadata::image::{ClusterImage, RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::metadata::topic_config::{self, config_type, source, DescribedConfig, Synonym};
use crate::metadata::validate_topic_name;
use crate::protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use crate::protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
    DescribeConfigsSynonym,
};
use crate::protocol::messages::RequestHeader;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = header.request_api_version;
    let image = ctx.broker.image();
    let synonyms = req.include_synonyms && version >= 1;
    let docs = req.include_documentation && version >= 3;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let described = describe(ctx, &image, &r);
            let (error_code, error_message, configs) = match described {
                Ok(list) => (
                    ErrorCode::None.code(),
                    None,
                    list.into_iter()
                        .filter(|c| {
                            r.configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.contains(&c.name))
                        })
                        .map(|c| encode_config(c, synonyms, docs))
                        .collect(),
                ),
                Err((code, message)) => (code.code(), Some(message), Vec::new()),
            };
            DescribeConfigsResult {
                error_code,
                error_message,
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                configs,
            }
        })
        .collect();
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    }
}

fn describe(
    ctx: &RequestContext,
    image: &ClusterImage,
    r: &DescribeConfigsResource,
) -> Result<Vec<DescribedConfig>, (ErrorCode, String)> {
    let config = &ctx.broker.config;
    match r.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(&r.resource_name)?;
            let topic = image.topic(&r.resource_name).ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{}' does not exist.", r.resource_name),
                )
            })?;
            Ok(topic_config::describe_topic(config, &topic.configs))
        }
        RESOURCE_BROKER if r.resource_name.is_empty() => Ok(Vec::new()),
        RESOURCE_BROKER => match r.resource_name.parse::<i32>() {
            Ok(id) if id == ctx.broker.node.node_id => Ok(describe_broker(config)),
            _ => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {}",
                    ctx.broker.node.node_id, r.resource_name
                ),
            )),
        },
        other => Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unsupported resource type {other}: sluice describes topics (2) and brokers (4)."
            ),
        )),
    }
}

/// Every broker setting with the value it was given, else its default.
pub fn describe_broker(config: &Config) -> Vec<DescribedConfig> {
    SETTINGS
        .iter()
        .map(|s| {
            let default = match s.key {
                // "auto" stands for the core count found at startup.
                "num.arbiters" => Some(config.num_arbiters.to_string()),
                _ => (!s.default.is_empty()).then(|| s.default.to_string()),
            };
            let given = config.source.explicit.get(s.key).cloned();
            let mut synonyms = Vec::new();
            if let Some(v) = &given {
                synonyms.push(Synonym {
                    name: s.key.to_string(),
                    value: Some(v.clone()),
                    source: source::STATIC_BROKER_CONFIG,
                });
            }
            if default.is_some() {
                synonyms.push(Synonym {
                    name: s.key.to_string(),
                    value: default.clone(),
                    source: source::DEFAULT_CONFIG,
                });
            }
            let (value, source) = match given {
                Some(v) => (Some(v), source::STATIC_BROKER_CONFIG),
                None => (default, source::DEFAULT_CONFIG),
            };
            DescribedConfig {
                name: s.key.to_string(),
                value,
                source,
                read_only: true,
                synonyms,
                config_type: broker_config_type(s.key, s.default),
                documentation: Some(s.help),
            }
        })
        .collect()
}

/// Kafka's type for a broker key, from its name and default.
fn broker_config_type(key: &str, default: &str) -> i8 {
    const LISTS: &[&str] = &[
        "listeners",
        "advertised.listeners",
        "controller.listener.names",
        "controller.quorum.voters",
        "log.dirs",
    ];
    if LISTS.contains(&key) {
        config_type::LIST
    } else if key.ends_with(".replication.factor") && key != "default.replication.factor" {
        // Kafka's internal-topic replication factors are shorts.
        config_type::SHORT
    } else if default == "true" || default == "false" {
        config_type::BOOLEAN
    } else if key.ends_with(".ms") || key.ends_with(".bytes") || key.ends_with(".messages") {
        config_type::LONG
    } else if default.parse::<i64>().is_ok() {
        config_type::INT
    } else {
        config_type::STRING
    }
}

fn encode_config(c: DescribedConfig, synonyms: bool, docs: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        read_only: c.read_only,
        config_source: c.source,
        is_sensitive: false,
        synonyms: if synonyms {
            c.synonyms
                .into_iter()
                .map(|s| DescribeConfigsSynonym {
                    name: s.name,
                    value: s.value,
                    source: s.source,
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: c.config_type,
        documentation: if docs {
            c.documentation.map(str::to_string)
        } else {
            None
        },
        name: c.name,
        value: c.value,
    }
}
