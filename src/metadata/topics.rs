//! Topic operations: creating and deleting topics, adding partitions and changing topic
//! configs. Each has the same shape: validate against the image, build the KRaft records,
//! append them (synced, then applied to the image), bring the partitions in line, publish the
//! new image.

use std::collections::BTreeMap;

use actix::prelude::*;
use tracing::{debug, info};
use uuid::Uuid;

use super::image::{TopicInfo, RESOURCE_TOPIC};
use super::{topic_config, MetadataActor, MetadataHandle};
use crate::error::ErrorCode;
use crate::partition::DetachedTopic;
use crate::protocol::messages::metadata::{
    ConfigRecord, MetadataRecord, PartitionRecord, RemoveTopicRecord, TopicRecord,
};

type TopicResult<T> = Result<T, (ErrorCode, String)>;

/// Most partitions one topic may have: each is an actor and a directory, and one request must
/// not be able to create an unbounded number of them (Kafka bounds a controller operation to
/// 10000 records likewise).
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

fn check_partition_limit(partitions: i32) -> Result<(), (ErrorCode, String)> {
    if partitions > MAX_PARTITIONS_PER_TOPIC {
        return Err((
            ErrorCode::InvalidPartitions,
            format!(
                "{partitions} partitions exceed the limit of {MAX_PARTITIONS_PER_TOPIC} per topic."
            ),
        ));
    }
    Ok(())
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

/// Topic names that would put a partition directory where sluice's old offsets layout lives
/// (`__sluice_consumer_offsets-0`, migrated on startup by `crate::group::migration`): no topic
/// may take them. `__consumer_offsets` is a real topic, made by the group coordinator only
/// ([`super::internal_topics`]).
pub const RESERVED_TOPICS: [&str; 1] = ["__sluice_consumer_offsets"];

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
    if RESERVED_TOPICS.contains(&name) {
        return bad("it is reserved: sluice's old committed-offsets layout used it");
    }
    Ok(())
}

/// Creates a topic (CreateTopics, or auto-creation by a Metadata request).
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<CreatedTopic, (ErrorCode, String)>")]
pub struct CreateTopic {
    pub name: String,
    /// -1 for the broker's `num.partitions` (and with a manual assignment).
    pub num_partitions: i32,
    /// -1 for `default.replication.factor` (and with a manual assignment).
    pub replication_factor: i16,
    /// Manual assignment: partition index → replica broker ids; empty = automatic.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// In request order; a null value or a repeated name is refused.
    pub configs: Vec<(String, Option<String>)>,
    pub validate_only: bool,
}

/// What was (or, with `validate_only`, would be) created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Nil when only validated.
    pub id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

impl Handler<CreateTopic> for MetadataActor {
    type Result = Result<CreatedTopic, (ErrorCode, String)>;

    fn handle(&mut self, msg: CreateTopic, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        self.create_topic(msg)
    }
}

/// A topic named by name or by id (DeleteTopics v6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// Deletes a topic: a RemoveTopicRecord is appended, the partition actors are closed and their
/// directories removed before the answer (so a topic re-created under the same name right
/// after never meets the old files).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<DeletedTopic, (ErrorCode, String)>")]
pub struct DeleteTopic {
    pub topic: TopicRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedTopic {
    pub name: String,
    pub id: Uuid,
}

/// Grows a topic to `count` partitions (CreatePartitions).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), (ErrorCode, String)>")]
pub struct CreatePartitions {
    pub topic: String,
    pub count: i32,
    /// Replica lists of the new partitions, in order; None = automatic.
    pub assignments: Option<Vec<Vec<i32>>>,
    pub validate_only: bool,
}

/// IncrementalAlterConfigs operation codes.
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;
pub const OP_APPEND: i8 = 2;
pub const OP_SUBTRACT: i8 = 3;

/// How a topic's dynamic configs change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// AlterConfigs: these become the topic's only overrides.
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: `(name, operation, value)`.
    Incremental(Vec<(String, i8, Option<String>)>),
}

/// Changes a topic's configs: ConfigRecords for what differs (a null value removes an
/// override), then the running partitions are reconfigured.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), (ErrorCode, String)>")]
pub struct AlterTopicConfigs {
    pub topic: String,
    pub change: ConfigChange,
    pub validate_only: bool,
}

impl MetadataActor {
    fn create_topic(&mut self, req: CreateTopic) -> Result<CreatedTopic, (ErrorCode, String)> {
        validate_topic_name(&req.name)?;
        if super::internal_topics::is_coordinator_topic(&req.name)
            && self.image.topic(&req.name).is_none()
        {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Topic '{}' is internal: the group coordinator creates it.",
                    req.name
                ),
            ));
        }
        if self.image.topic(&req.name).is_some() {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", req.name),
            ));
        }
        let partitions = if req.assignments.is_empty() {
            let partitions = match req.num_partitions {
                -1 => self.deps.config.num_partitions,
                n => n,
            };
            if partitions < 1 {
                return Err((
                    ErrorCode::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.".into(),
                ));
            }
            // -1 asks for `default.replication.factor`, which is 1 (the only value a single
            // broker accepts).
            if req.replication_factor != -1 {
                self.check_replication_factor(req.replication_factor)?;
            }
            partitions
        } else {
            if req.num_partitions != -1 || req.replication_factor != -1 {
                return Err((
                    ErrorCode::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. \
                     Both cannot be used at the same time."
                        .into(),
                ));
            }
            self.check_assignments(&req.assignments)?
        };
        check_partition_limit(partitions)?;
        let mut configs = BTreeMap::new();
        for (key, value) in &req.configs {
            let Some(value) = value else {
                return Err((
                    ErrorCode::InvalidConfig,
                    format!("Null value not supported for topic configs: {key}"),
                ));
            };
            topic_config::validate(key, Some(value))
                .map_err(|msg| (ErrorCode::InvalidConfig, msg))?;
            if configs.insert(key.clone(), value.clone()).is_some() {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("Duplicate config name: {key}"),
                ));
            }
        }
        if let Some(other) = self.colliding_topic(&req.name) {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("Topic '{}' collides with existing topic: {other}", req.name),
            ));
        }
        let created = |id| CreatedTopic {
            id,
            num_partitions: partitions,
            replication_factor: 1,
            configs: configs.clone(),
        };
        if req.validate_only {
            return Ok(created(Uuid::nil()));
        }
        let id = Uuid::new_v4();
        let node = self.deps.node.node_id;
        let mut records = vec![MetadataRecord::TopicRecord(TopicRecord {
            name: req.name.clone(),
            topic_id: id,
        })];
        for (key, value) in &configs {
            records.push(MetadataRecord::ConfigRecord(ConfigRecord {
                resource_type: RESOURCE_TOPIC,
                resource_name: req.name.clone(),
                name: key.clone(),
                value: Some(value.clone()),
            }));
        }
        for p in 0..partitions {
            records.push(MetadataRecord::PartitionRecord(new_partition_record(
                id,
                p,
                node,
                self.deps.node.directory_id,
            )));
        }
        self.append(&records)?;
        info!(topic = %req.name, partitions, %id, "topic created");
        if let Some(topic) = self.image.topic(&req.name).cloned() {
            self.start_partitions(&topic);
        }
        self.publish();
        Ok(created(id))
    }

    /// On a single broker every partition has exactly one replica.
    fn check_replication_factor(&self, replication: i16) -> Result<(), (ErrorCode, String)> {
        match replication {
            1 => Ok(()),
            n if n < 1 => Err((
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            )),
            n => Err((
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {n} time(s): The target replication \
                     factor of {n} cannot be reached because only 1 broker(s) are registered."
                ),
            )),
        }
    }

    /// A manual assignment: partitions 0..n, each on exactly this broker. Returns n.
    fn check_assignments(
        &self,
        assignments: &[(i32, Vec<i32>)],
    ) -> Result<i32, (ErrorCode, String)> {
        let bad = |msg: String| Err((ErrorCode::InvalidReplicaAssignment, msg));
        let mut indexes: Vec<i32> = assignments.iter().map(|(p, _)| *p).collect();
        indexes.sort_unstable();
        if indexes
            .iter()
            .enumerate()
            .any(|(i, &p)| i64::from(p) != i as i64)
        {
            return bad("Partitions should be a consecutive 0-based integer sequence.".into());
        }
        for (p, brokers) in assignments {
            self.check_replicas(*p, brokers)?;
        }
        i32::try_from(assignments.len()).map_err(|_| {
            (
                ErrorCode::InvalidReplicaAssignment,
                "Too many partitions.".into(),
            )
        })
    }

    /// One partition's replica list: exactly `[this broker]`.
    fn check_replicas(&self, partition: i32, brokers: &[i32]) -> Result<(), (ErrorCode, String)> {
        let node = self.deps.node.node_id;
        let msg = match brokers {
            [] => format!("The manual partition assignment for partition {partition} is empty."),
            [b] if *b == node => return Ok(()),
            [b] => format!(
                "The manual partition assignment includes broker {b}, but no such broker is \
                 registered (this cluster has only broker {node})."
            ),
            _ => format!(
                "The manual partition assignment for partition {partition} has {} replicas; \
                 this cluster has only broker {node}.",
                brokers.len()
            ),
        };
        Err((ErrorCode::InvalidReplicaAssignment, msg))
    }

    /// Kafka refuses names that differ from an existing one only by '.' versus '_' (they map to
    /// the same metric names).
    fn colliding_topic(&self, name: &str) -> Option<String> {
        if !name.contains(['.', '_']) {
            return None;
        }
        let canonical = name.replace('.', "_");
        self.image
            .topics
            .keys()
            .find(|t| t.as_ref() != name && t.replace('.', "_") == canonical)
            .map(|t| t.to_string())
    }

    fn find_topic(&self, topic: &TopicRef) -> TopicResult<TopicInfo> {
        match topic {
            TopicRef::Name(name) => self.image.topic(name).cloned().ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            }),
            TopicRef::Id(id) => self.image.topic_by_id(id).cloned().ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicId,
                    format!("Topic id {id} does not exist."),
                )
            }),
        }
    }

    /// Records the deletion and detaches the partitions; returns them to be closed.
    fn delete_topic(&mut self, req: &DeleteTopic) -> TopicResult<(DeletedTopic, DetachedTopic)> {
        let topic = self.find_topic(&req.topic)?;
        if super::internal_topics::is_coordinator_topic(&topic.name) {
            return Err((
                ErrorCode::InvalidTopicException,
                format!(
                    "Topic {} is a Kafka internal topic and is not allowed to be deleted.",
                    topic.name
                ),
            ));
        }
        if !self.deps.config.delete_topic_enable {
            return Err((
                ErrorCode::TopicDeletionDisabled,
                "Topic deletion is disabled (delete.topic.enable=false).".into(),
            ));
        }
        self.append(&[MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
            topic_id: topic.id,
        })])?;
        let detached = self.deps.partitions.detach_topic(&topic.name);
        info!(topic = %topic.name, id = %topic.id, partitions = detached.len(), "topic deleted");
        self.publish();
        self.on_topic_deleted(&topic.name, topic.id);
        Ok((
            DeletedTopic {
                name: topic.name.to_string(),
                id: topic.id,
            },
            detached,
        ))
    }

    /// Called once a topic's removal is durable and published, before its directories are gone
    /// (and so before a topic of the same name can be created again): the topic's committed
    /// offsets are dropped from every group.
    pub(crate) fn on_topic_deleted(&self, name: &str, id: Uuid) {
        debug!(topic = name, %id, "dropping committed offsets of the deleted topic");
        (self.deps.topic_deleted)(name);
    }

    fn create_partitions(&mut self, req: &CreatePartitions) -> TopicResult<()> {
        let topic = self.find_topic(&TopicRef::Name(req.topic.clone()))?;
        // Kafka's controller would grow it; sluice refuses: every group's offsets would move to
        // another partition, and those already committed would no longer be found.
        if super::internal_topics::is_coordinator_topic(&topic.name) {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Topic {} is internal: its partition count fixes which partition holds each                      group's offsets, so it cannot be changed.",
                    topic.name
                ),
            ));
        }
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        if req.count < current {
            return Err((
                ErrorCode::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, which is higher than the \
                     requested {}.",
                    req.count
                ),
            ));
        }
        if req.count == current {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        check_partition_limit(req.count)?;
        let added = req.count - current;
        if let Some(assignments) = &req.assignments {
            if i64::try_from(assignments.len()).ok() != Some(i64::from(added)) {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Increasing the number of partitions by {added} but {} assignments \
                         provided.",
                        assignments.len()
                    ),
                ));
            }
            for (i, brokers) in assignments.iter().enumerate() {
                let index = current.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
                self.check_replicas(index, brokers)?;
            }
        }
        if req.validate_only {
            return Ok(());
        }
        // New partitions take the indexes after the highest existing one.
        let first = topic
            .partitions
            .keys()
            .next_back()
            .map_or(0, |last| last + 1);
        let node = self.deps.node.node_id;
        let records: Vec<MetadataRecord> = (first..first + added)
            .map(|p| {
                MetadataRecord::PartitionRecord(new_partition_record(
                    topic.id,
                    p,
                    node,
                    self.deps.node.directory_id,
                ))
            })
            .collect();
        self.append(&records)?;
        info!(topic = %topic.name, from = current, to = req.count, "partitions added");
        if let Some(topic) = self.image.topic(&topic.name).cloned() {
            self.start_partitions(&topic);
        }
        self.publish();
        Ok(())
    }

    fn alter_topic_configs(&mut self, req: &AlterTopicConfigs) -> TopicResult<()> {
        let topic = self.find_topic(&TopicRef::Name(req.topic.clone()))?;
        let wanted = apply_change(&topic.configs, &req.change)?;
        if req.validate_only {
            return Ok(());
        }
        let records = config_records(&topic.name, &topic.configs, &wanted);
        if records.is_empty() {
            return Ok(());
        }
        self.append(&records)?;
        info!(topic = %topic.name, changes = records.len(), "topic configs altered");
        if let Some(topic) = self.image.topic(&topic.name) {
            let config = super::log_config(&self.deps.config, topic);
            self.deps.partitions.reconfigure(&topic.name, &config);
        }
        self.publish();
        Ok(())
    }
}

/// The overrides a topic has after `change`, validated.
pub fn apply_change(
    current: &BTreeMap<String, String>,
    change: &ConfigChange,
) -> TopicResult<BTreeMap<String, String>> {
    let invalid_request = |msg: String| Err((ErrorCode::InvalidRequest, msg));
    let invalid_config = |msg: String| (ErrorCode::InvalidConfig, msg);
    let mut seen = std::collections::BTreeSet::new();
    let mut next = match change {
        ConfigChange::Replace(_) => BTreeMap::new(),
        ConfigChange::Incremental(_) => current.clone(),
    };
    let names: Vec<&str> = match change {
        ConfigChange::Replace(entries) => entries.iter().map(|(n, _)| n.as_str()).collect(),
        ConfigChange::Incremental(ops) => ops.iter().map(|(n, _, _)| n.as_str()).collect(),
    };
    for name in names {
        if !seen.insert(name) {
            return invalid_request(format!("Error due to duplicate config keys: {name}"));
        }
    }
    match change {
        ConfigChange::Replace(entries) => {
            for (name, value) in entries {
                let Some(value) = value else {
                    return invalid_request(format!("Null value not supported for : {name}"));
                };
                topic_config::validate(name, Some(value)).map_err(invalid_config)?;
                next.insert(name.clone(), value.clone());
            }
        }
        ConfigChange::Incremental(ops) => {
            for (name, op, value) in ops {
                let key = topic_config::find(name);
                if key.is_none() && !(*op == OP_DELETE && current.contains_key(name)) {
                    return Err(invalid_config(format!("Unknown topic config name: {name}")));
                }
                match (*op, key) {
                    (OP_SET, _) => {
                        let Some(value) = value else {
                            return invalid_request(format!(
                                "Null value not supported for : {name}"
                            ));
                        };
                        next.insert(name.clone(), value.clone());
                    }
                    (OP_DELETE, _) => {
                        next.remove(name);
                    }
                    (OP_APPEND | OP_SUBTRACT, Some(key)) if key.is_list() => {
                        let Some(value) = value else {
                            return invalid_request(format!(
                                "Null value not supported for : {name}"
                            ));
                        };
                        let base = next
                            .get(name)
                            .cloned()
                            .or_else(|| topic_default(name))
                            .unwrap_or_default();
                        let mut items: Vec<String> = topic_config::split_list(&base)
                            .into_iter()
                            .map(str::to_string)
                            .collect();
                        for item in topic_config::split_list(value) {
                            if *op == OP_APPEND {
                                if !items.iter().any(|i| i == item) {
                                    items.push(item.to_string());
                                }
                            } else {
                                items.retain(|i| i != item);
                            }
                        }
                        next.insert(name.clone(), items.join(","));
                    }
                    (OP_APPEND, _) => {
                        return invalid_request(format!(
                            "Config value append is not allowed for config key: {name}"
                        ))
                    }
                    (OP_SUBTRACT, _) => {
                        return invalid_request(format!(
                            "Config value subtract is not allowed for config key: {name}"
                        ))
                    }
                    (other, _) => {
                        return invalid_request(format!(
                            "Unknown alter config operation type {other} for {name}"
                        ))
                    }
                }
            }
            for (name, value) in &next {
                if current.get(name) != Some(value) {
                    topic_config::validate(name, Some(value)).map_err(invalid_config)?;
                }
            }
        }
    }
    Ok(next)
}

/// The built-in default of a list key (the base APPEND/SUBTRACT work on when no override).
fn topic_default(name: &str) -> Option<String> {
    topic_config::broker_default(&crate::config::Config::default(), name)
}

/// ConfigRecords turning `old` into `new`: one per key whose value differs, null for removals.
fn config_records(
    topic: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let record = |name: &str, value: Option<&String>| {
        MetadataRecord::ConfigRecord(ConfigRecord {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            name: name.to_string(),
            value: value.cloned(),
        })
    };
    let mut records: Vec<MetadataRecord> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| record(k, Some(v)))
        .collect();
    records.extend(
        old.keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| record(k, None)),
    );
    records
}

/// Sends a topic operation to the metadata actor; a broker without one (shutting down) answers
/// as Kafka does when the controller is gone.
pub async fn ask<M, T>(metadata: &MetadataHandle, msg: M) -> TopicResult<T>
where
    M: Message<Result = TopicResult<T>> + Send + 'static,
    T: Send + 'static,
    MetadataActor: Handler<M>,
{
    let unavailable = || {
        (
            ErrorCode::NotController,
            "The metadata actor is not running (broker shutting down).".to_string(),
        )
    };
    // Counted in the metadata actor's mailbox depth and messages handled.
    metadata.send(msg).await.map_err(|_| unavailable())?
}

impl Handler<DeleteTopic> for MetadataActor {
    /// Atomic: no other metadata change runs until the partitions are closed and their
    /// directories are gone.
    type Result = AtomicResponse<Self, Result<DeletedTopic, (ErrorCode, String)>>;

    fn handle(&mut self, msg: DeleteTopic, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        let (deleted, detached) = match self.delete_topic(&msg) {
            Ok(d) => d,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        let wait = detached.delete();
        AtomicResponse::new(Box::pin(
            wait.into_actor(self).map(move |(), _, _| Ok(deleted)),
        ))
    }
}

impl Handler<CreatePartitions> for MetadataActor {
    type Result = Result<(), (ErrorCode, String)>;

    fn handle(&mut self, msg: CreatePartitions, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        self.create_partitions(&msg)
    }
}

impl Handler<AlterTopicConfigs> for MetadataActor {
    type Result = Result<(), (ErrorCode, String)>;

    fn handle(&mut self, msg: AlterTopicConfigs, _ctx: &mut Self::Context) -> Self::Result {
        let _e = self.span().entered();
        self.alter_topic_configs(&msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn op(name: &str, op: i8, value: Option<&str>) -> (String, i8, Option<String>) {
        (name.to_string(), op, value.map(str::to_string))
    }

    #[test]
    fn replace_drops_what_is_not_listed() {
        let current = map(&[("retention.ms", "10"), ("segment.bytes", "1024")]);
        let change = ConfigChange::Replace(vec![("retention.ms".into(), Some("20".into()))]);
        let next = apply_change(&current, &change).expect("valid");
        assert_eq!(next, map(&[("retention.ms", "20")]));
        let records = config_records("t", &current, &next);
        assert_eq!(records.len(), 2);
        assert!(records.iter().any(|r| matches!(r,
            MetadataRecord::ConfigRecord(c) if c.name == "segment.bytes" && c.value.is_none())));
    }

    #[test]
    fn incremental_operations() {
        let current = map(&[("retention.ms", "10"), ("compression.type", "lz4")]);
        let change = ConfigChange::Incremental(vec![
            op("retention.ms", OP_DELETE, None),
            op("segment.bytes", OP_SET, Some("4096")),
            op("cleanup.policy", OP_APPEND, Some("compact")),
            op("compression.type", OP_DELETE, None),
        ]);
        let next = apply_change(&current, &change).expect("valid");
        assert_eq!(
            next,
            map(&[
                ("cleanup.policy", "delete,compact"),
                ("segment.bytes", "4096")
            ])
        );
        let subtract =
            ConfigChange::Incremental(vec![op("cleanup.policy", OP_SUBTRACT, Some("delete"))]);
        let next = apply_change(&next, &subtract).expect("valid");
        assert_eq!(
            next.get("cleanup.policy").map(String::as_str),
            Some("compact")
        );
    }

    #[test]
    fn incremental_errors() {
        let current = BTreeMap::new();
        let code = |ops| {
            apply_change(&current, &ConfigChange::Incremental(ops))
                .map_err(|(c, _)| c)
                .err()
        };
        assert_eq!(
            code(vec![op("retention.ms", OP_APPEND, Some("1"))]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(vec![op("retention.ms", OP_SUBTRACT, Some("1"))]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(vec![op("retention.ms", 9, Some("1"))]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(vec![
                op("retention.ms", OP_SET, Some("1")),
                op("retention.ms", OP_DELETE, None)
            ]),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(vec![op("no.such.key", OP_SET, Some("1"))]),
            Some(ErrorCode::InvalidConfig)
        );
        assert_eq!(
            code(vec![op("retention.ms", OP_SET, Some("soon"))]),
            Some(ErrorCode::InvalidConfig)
        );
        assert_eq!(
            code(vec![op("cleanup.policy", OP_SUBTRACT, Some("delete"))]),
            Some(ErrorCode::InvalidConfig),
            "an empty cleanup.policy is refused"
        );
        assert_eq!(code(vec![op("retention.ms", OP_SET, Some("1"))]), None);
    }
}
