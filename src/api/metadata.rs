//! Metadata (3): brokers, cluster id, controller, and topics with their partitions. Unknown
//! topics are auto-created when `auto.create.topics.enable` and the request allow it;
//! `__consumer_offsets` as the group coordinator creates it (Kafka's `AutoTopicCreationManager`
//! gives it `offsets.topic.num.partitions` and the coordinator's configs), through the same
//! call as FindCoordinator.

use uuid::Uuid;

use crate::api::ensure_offsets_topic;
use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::image::{ClusterImage, TopicInfo};
use crate::metadata::internal_topics::is_coordinator_topic;
use crate::metadata::CreateTopic;
use crate::protocol::messages::metadata_request::MetadataRequest;
use crate::protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::messages::RequestHeader;

/// Kafka's bitfield for "every topic operation allowed" (no authorizer): READ, WRITE, CREATE,
/// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC_ALL_OPERATIONS: i32 = 0x0df8;
/// Cluster operations with no authorizer (Kafka's supported set for CLUSTER): CREATE, ALTER,
/// DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER_ALL_OPERATIONS: i32 = 0x1fa0;

pub async fn handle(
    ctx: &RequestContext,
    header: &RequestHeader,
    req: MetadataRequest,
) -> MetadataResponse {
    let version = header.request_api_version;
    let broker = &ctx.broker;
    let mut image = broker.image();
    let auto_create =
        broker.config.auto_create_topics_enable && (version < 4 || req.allow_auto_topic_creation);

    // Which topics: null (or, in v0, empty) means all of them.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match &req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.iter().map(|t| (t.name.clone(), t.topic_id)).collect()),
    };
    if let (Some(list), true) = (&requested, auto_create) {
        let mut created = false;
        for (name, _) in list {
            let Some(name) = name else { continue };
            if image.topic(name).is_some() || crate::metadata::validate_topic_name(name).is_err() {
                continue;
            }
            created |= if is_coordinator_topic(name) {
                ensure_offsets_topic(ctx).await == ErrorCode::None
            } else {
                let r = broker
                    .send_metadata(CreateTopic {
                        name: name.clone(),
                        num_partitions: -1,
                        replication_factor: -1,
                        ..CreateTopic::default()
                    })
                    .await;
                matches!(r, Ok(Ok(_)))
            };
        }
        if created {
            image = broker.image();
        }
    }

    let topic_ops = if req.include_topic_authorized_operations {
        TOPIC_ALL_OPERATIONS
    } else {
        i32::MIN
    };
    let topics = match requested {
        None => image
            .topics
            .values()
            .map(|t| describe_topic(t, topic_ops))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|(name, id)| lookup(&image, name, id, topic_ops))
            .collect(),
    };
    let node = &broker.node;
    let host = advertised_host(ctx);
    MetadataResponse {
        error_code: 0,
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: node.node_id,
            host,
            port: i32::from(node.advertised_port),
            rack: node.rack.clone(),
        }],
        cluster_id: Some(node.cluster_id.clone()),
        controller_id: node.node_id,
        topics,
        cluster_authorized_operations: if req.include_cluster_authorized_operations {
            CLUSTER_ALL_OPERATIONS
        } else {
            i32::MIN
        },
    }
}

/// The host clients should use for this broker: `advertised.listeners`, else (wildcard
/// listener) the address the client connected to.
pub fn advertised_host(ctx: &RequestContext) -> String {
    ctx.broker
        .node
        .advertised_host
        .clone()
        .unwrap_or_else(|| ctx.local_addr.ip().to_string())
}

fn lookup(
    image: &ClusterImage,
    name: Option<String>,
    id: Uuid,
    topic_ops: i32,
) -> MetadataResponseTopic {
    let found = match &name {
        Some(n) => image.topic(n),
        None => image.topic_by_id(&id),
    };
    match (found, name) {
        (Some(t), _) => describe_topic(t, topic_ops),
        (None, Some(name)) => {
            let code = match crate::metadata::validate_topic_name(&name) {
                Ok(()) => ErrorCode::UnknownTopicOrPartition,
                Err((code, _)) => code,
            };
            MetadataResponseTopic {
                error_code: code.code(),
                name: Some(name),
                topic_authorized_operations: topic_ops,
                ..MetadataResponseTopic::default()
            }
        }
        (None, None) => MetadataResponseTopic {
            error_code: ErrorCode::UnknownTopicId.code(),
            // As Kafka answers an unknown id: no name (null), not an empty one.
            name: None,
            topic_id: id,
            topic_authorized_operations: topic_ops,
            ..MetadataResponseTopic::default()
        },
    }
}

fn describe_topic(t: &TopicInfo, topic_ops: i32) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(t.name.to_string()),
        topic_id: t.id,
        is_internal: t.is_internal(),
        partitions: t
            .partitions
            .iter()
            .map(|(&index, p)| MetadataResponsePartition {
                // As Kafka's metadata cache answers a partition without a leader.
                error_code: if p.leader < 0 {
                    ErrorCode::LeaderNotAvailable.code()
                } else {
                    0
                },
                partition_index: index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: Vec::new(),
            })
            .collect(),
        topic_authorized_operations: topic_ops,
    }
}
