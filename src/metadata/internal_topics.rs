//! Kafka's internal topics, created the way Kafka's controller records them.
//!
//! `__consumer_offsets` holds committed offsets and group metadata
//! ([`crate::group::store`]). Kafka creates it on the first FindCoordinator for a group, or
//! Metadata request naming it that allows auto-creation (its `AutoTopicCreationManager`; here
//! both go through [`EnsureOffsetsTopic`]): a TopicRecord, one ConfigRecord per config the group
//! coordinator sets on it (`cleanup.policy=compact`, `compression.type=producer`,
//! `segment.bytes` = `offsets.topic.segment.bytes`) and `offsets.topic.num.partitions`
//! PartitionRecords. Once created its partition count is fixed: an existing topic's count wins
//! over the setting, because the group → partition mapping depends on it.
//!
//! Users neither create, grow nor delete it by hand: CreateTopics answers it with
//! INVALID_REQUEST, CreatePartitions with INVALID_REQUEST (Kafka's controller would grow it,
//! and every group's offsets would move), DeleteTopics with INVALID_TOPIC_EXCEPTION (see
//! [`is_coordinator_topic`]).

use actix::prelude::*;
use tracing::info;
use uuid::Uuid;

use super::image::{ClusterImage, RESOURCE_TOPIC};
use super::kraft_log::MetadataLog;
use super::MetadataActor;
use crate::config::Config;
use crate::error::ErrorCode;
use crate::protocol::messages::metadata::{
    ConfigRecord, MetadataRecord, PartitionRecord, TopicRecord,
};
use crate::util::clock::now_ms;

/// Kafka's `Topic.GROUP_METADATA_TOPIC_NAME`.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Topics only a coordinator creates and that no user deletes.
pub fn is_coordinator_topic(name: &str) -> bool {
    name == OFFSETS_TOPIC
}

/// The configs Kafka's group coordinator puts on `__consumer_offsets`
/// (`GroupCoordinatorService.groupMetadataTopicConfigs`).
pub fn offsets_topic_configs(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("cleanup.policy", "compact".to_string()),
        ("compression.type", "producer".to_string()),
        (
            "segment.bytes",
            config.offsets_topic_segment_bytes.to_string(),
        ),
    ]
}

/// The records creating `__consumer_offsets` with `offsets.topic.num.partitions` partitions,
/// all led by `node` on log directory `dir`.
pub fn offsets_topic_records(
    config: &Config,
    id: Uuid,
    node: i32,
    dir: Uuid,
) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::TopicRecord(TopicRecord {
        name: OFFSETS_TOPIC.to_string(),
        topic_id: id,
    })];
    for (name, value) in offsets_topic_configs(config) {
        records.push(MetadataRecord::ConfigRecord(ConfigRecord {
            resource_type: RESOURCE_TOPIC,
            resource_name: OFFSETS_TOPIC.to_string(),
            name: name.to_string(),
            value: Some(value),
        }));
    }
    for p in 0..config.offsets_topic_num_partitions.max(1) {
        records.push(MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id: p,
            topic_id: id,
            replicas: vec![node],
            isr: vec![node],
            leader: node,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![dir],
            ..PartitionRecord::default()
        }));
    }
    records
}

/// The partition count of `__consumer_offsets` in `image`, if the topic exists.
pub fn offsets_partitions(image: &ClusterImage) -> Option<i32> {
    image
        .topic(OFFSETS_TOPIC)
        .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
}

/// At startup, before the metadata actor runs (a migration of sluice's old offsets layout
/// needs the topic before the partitions start): creates `__consumer_offsets` unless the log
/// has it. Returns its partition count.
pub fn create_at_startup(
    log: &mut MetadataLog,
    image: &mut ClusterImage,
    config: &Config,
    node: i32,
    dir: Uuid,
) -> std::io::Result<i32> {
    if let Some(n) = offsets_partitions(image) {
        return Ok(n);
    }
    let id = Uuid::new_v4();
    log.append(
        &offsets_topic_records(config, id, node, dir),
        image,
        now_ms(),
    )?;
    info!(topic = OFFSETS_TOPIC, partitions = config.offsets_topic_num_partitions, %id, "internal topic created");
    Ok(offsets_partitions(image).unwrap_or(0))
}

/// Creates `__consumer_offsets` if it does not exist yet (FindCoordinator for a group, or a
/// group request that writes); answers its partition count. Creation is synced to the
/// metadata log and the partition actors are started before the answer.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<i32, ErrorCode>")]
pub struct EnsureOffsetsTopic;

impl Handler<EnsureOffsetsTopic> for MetadataActor {
    type Result = Result<i32, ErrorCode>;

    fn handle(&mut self, _: EnsureOffsetsTopic, _ctx: &mut Self::Context) -> Self::Result {
        if let Some(n) = offsets_partitions(&self.image) {
            return Ok(n);
        }
        let _e = self.span().entered();
        let id = Uuid::new_v4();
        let records = offsets_topic_records(
            &self.deps.config,
            id,
            self.deps.node.node_id,
            self.deps.node.directory_id,
        );
        // Kafka answers COORDINATOR_NOT_AVAILABLE while the topic cannot be created.
        self.append(&records)
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
        info!(
            topic = OFFSETS_TOPIC,
            partitions = self.deps.config.offsets_topic_num_partitions,
            %id,
            "internal topic created"
        );
        if let Some(topic) = self.image.topic(OFFSETS_TOPIC).cloned() {
            self.start_partitions(&topic);
        }
        self.publish();
        offsets_partitions(&self.image).ok_or(ErrorCode::CoordinatorNotAvailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_kafkas() {
        let config = Config {
            offsets_topic_num_partitions: 3,
            offsets_topic_segment_bytes: 1234,
            ..Config::default()
        };
        let id = Uuid::from_u128(7);
        let records = offsets_topic_records(&config, id, 1, Uuid::nil());
        assert_eq!(records.len(), 1 + 3 + 3);
        let mut image = ClusterImage::default();
        for r in &records {
            image.apply(r);
        }
        let t = image.topic(OFFSETS_TOPIC).expect("topic");
        assert_eq!(t.partitions.len(), 3);
        assert!(t.is_internal());
        assert_eq!(
            t.configs.get("cleanup.policy").map(String::as_str),
            Some("compact")
        );
        assert_eq!(
            t.configs.get("compression.type").map(String::as_str),
            Some("producer")
        );
        assert_eq!(
            t.configs.get("segment.bytes").map(String::as_str),
            Some("1234")
        );
    }
}
