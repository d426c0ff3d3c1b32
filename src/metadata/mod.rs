//! The metadata actor: owner of the cluster view and of `__cluster_metadata-0`.
//!
//! It loads the KRaft metadata log at startup, starts a partition actor for every partition the
//! log describes, and is the only writer of topic changes: each change is appended to the log as
//! KRaft records (synced) before it is applied and published as a new immutable
//! [`ClusterImage`] snapshot.

pub mod image;
pub mod kraft_log;
pub mod properties;
pub mod topic_config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{error, info, warn, Span};
use uuid::Uuid;

use crate::broker::Broker;
use crate::error::ErrorCode;
use crate::partition::{self, Offsets, PartitionActor, PartitionHandle};
use crate::protocol::messages::metadata::{
    ConfigRecord, MetadataRecord, PartitionRecord, TopicRecord,
};
use crate::storage::{LogConfig, OpenHints};
use image::{ClusterImage, TopicInfo, RESOURCE_TOPIC};
use kraft_log::MetadataLog;

pub struct MetadataActor {
    broker: Arc<Broker>,
    image: ClusterImage,
    log: MetadataLog,
    span: Span,
    /// Kafka's root-level state, used for the partitions opened at startup, then dropped.
    kafka_state: Option<properties::KafkaRootState>,
}

impl MetadataActor {
    pub fn new(broker: Arc<Broker>, image: ClusterImage, log: MetadataLog) -> MetadataActor {
        let kafka_state = Some(properties::KafkaRootState::read(&broker.log_dir));
        MetadataActor {
            broker,
            image,
            log,
            span: tracing::info_span!("metadata"),
            kafka_state,
        }
    }

    fn publish(&self) {
        self.broker.publish_image(Arc::new(self.image.clone()));
    }

    /// Starts the partition actors of `topic` that are not running yet.
    fn start_partitions(&self, topic: &TopicInfo) {
        for &index in topic.partitions.keys() {
            if self.broker.partitions.contains(&topic.name, index) {
                continue;
            }
            let dir = self
                .broker
                .log_dir
                .join(format!("{}-{}", topic.name, index));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                error!(dir = %dir.display(), error = %e, "cannot create partition directory");
            }
            if properties::read_partition_metadata(&dir) != Some(topic.id) {
                if let Err(e) = properties::write_partition_metadata(&dir, topic.id) {
                    warn!(dir = %dir.display(), error = %e, "cannot write partition.metadata");
                }
            }
            let config = log_config(&self.broker, topic);
            let key = (topic.name.to_string(), index);
            let hints = match &self.kafka_state {
                Some(k) => OpenHints {
                    kafka_clean_shutdown: k.clean_shutdown,
                    recovery_point: k.recovery_points.get(&key).copied(),
                    log_start_offset: k.log_start_offsets.get(&key).copied(),
                },
                None => OpenHints::default(),
            };
            let retention_check =
                Duration::from_millis(self.broker.config.log_retention_check_interval_ms);
            let (tx, rx) = watch::channel(Offsets::default());
            let name = topic.name.clone();
            let addr = PartitionActor::start_in_arbiter(
                self.broker.arbiter_for(&topic.name, index),
                move |_ctx| {
                    PartitionActor::build(name, index, dir, config, hints, retention_check, tx)
                },
            );
            self.broker.partitions.insert(
                topic.name.clone(),
                index,
                PartitionHandle { addr, offsets: rx },
            );
        }
    }

    fn create_topic(&mut self, req: CreateTopic) -> Result<Uuid, (ErrorCode, String)> {
        validate_topic_name(&req.name)?;
        if self.image.topic(&req.name).is_some() {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", req.name),
            ));
        }
        let partitions = if req.num_partitions == -1 {
            self.broker.config.num_partitions
        } else {
            req.num_partitions
        };
        if partitions < 1 {
            return Err((
                ErrorCode::InvalidPartitions,
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        if req.replication_factor != -1 && req.replication_factor != 1 {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Replication factor {} is larger than the 1 available broker.",
                    req.replication_factor
                ),
            ));
        }
        for (key, value) in &req.configs {
            topic_config::validate(key, value.as_deref())
                .map_err(|msg| (ErrorCode::InvalidConfig, msg))?;
        }
        if req.validate_only {
            return Ok(Uuid::nil());
        }
        let id = Uuid::new_v4();
        let node = self.broker.node.node_id;
        let mut records = vec![MetadataRecord::TopicRecord(TopicRecord {
            name: req.name.clone(),
            topic_id: id,
        })];
        for (key, value) in &req.configs {
            records.push(MetadataRecord::ConfigRecord(ConfigRecord {
                resource_type: RESOURCE_TOPIC,
                resource_name: req.name.clone(),
                name: key.clone(),
                value: value.clone(),
            }));
        }
        for p in 0..partitions {
            records.push(MetadataRecord::PartitionRecord(new_partition_record(
                id,
                p,
                node,
                self.broker.node.directory_id,
            )));
        }
        self.log
            .append(&records, &mut self.image, partition::now_ms())
            .map_err(|e| {
                error!(error = %e, "metadata log append failed");
                (ErrorCode::KafkaStorageError, e.to_string())
            })?;
        info!(topic = %req.name, partitions, %id, "topic created");
        if let Some(topic) = self.image.topic(&req.name).cloned() {
            self.start_partitions(&topic);
        }
        self.publish();
        Ok(id)
    }
}

fn new_partition_record(topic_id: Uuid, index: i32, node: i32, dir: Uuid) -> PartitionRecord {
    PartitionRecord {
        partition_id: index,
        topic_id,
        replicas: vec![node],
        isr: vec![node],
        leader: node,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: vec![dir],
        ..PartitionRecord::default()
    }
}

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), (ErrorCode, String)> {
    let bad = |why: &str| {
        Err((
            ErrorCode::InvalidTopicException,
            format!("Topic name \"{name}\" is illegal, {why}"),
        ))
    };
    if name.is_empty() {
        return bad("it can't be empty");
    }
    if name == "." || name == ".." {
        return bad("it cannot be \".\" or \"..\"");
    }
    if name.len() > 249 {
        return bad("it can't be longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
    }
    if crate::group::store::RESERVED_TOPICS.contains(&name) {
        return bad("it is reserved: the group coordinator keeps committed offsets there");
    }
    Ok(())
}

/// The storage settings for a topic: broker defaults overridden by the topic's configs.
pub fn log_config(broker: &Broker, topic: &TopicInfo) -> LogConfig {
    topic_config::log_config(&broker.config, &topic.configs)
}

impl Actor for MetadataActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let _e = self.span.clone().entered();
        let topics: Vec<TopicInfo> = self.image.topics.values().cloned().collect();
        for topic in &topics {
            self.start_partitions(topic);
        }
        // Kafka's marker describes the state Kafka left; from now on our own per-partition
        // markers say whether the last stop was clean, so a later crash is never mistaken for a
        // clean stop.
        if self.kafka_state.take().is_some_and(|k| k.clean_shutdown) {
            let marker = self.broker.log_dir.join(properties::KAFKA_CLEAN_SHUTDOWN);
            if let Err(e) = std::fs::remove_file(&marker) {
                warn!(file = %marker.display(), error = %e, "cannot remove Kafka's clean-shutdown marker");
            }
        }
        info!(
            topics = topics.len(),
            partitions = topics.iter().map(|t| t.partitions.len()).sum::<usize>(),
            "metadata actor started"
        );
        self.publish();
    }
}

/// Creates a topic (CreateTopics, or auto-creation by a Metadata request).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Uuid, (ErrorCode, String)>")]
pub struct CreateTopic {
    pub name: String,
    /// -1 for the broker's `num.partitions`.
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, Option<String>>,
    pub validate_only: bool,
}

impl Handler<CreateTopic> for MetadataActor {
    type Result = Result<Uuid, (ErrorCode, String)>;

    fn handle(&mut self, msg: CreateTopic, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span.clone().entered();
        self.create_topic(msg)
    }
}
