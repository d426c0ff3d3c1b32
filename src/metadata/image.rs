//! The cluster image: what the metadata log says exists, after applying its records in order.
//!
//! The metadata actor is the only writer; everyone else reads an immutable snapshot
//! (`Arc<ClusterImage>`) so the hot paths never wait for the actor's mailbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use tracing::debug;

use crate::partition::LiveTopics;

use crate::protocol::messages::metadata::{
    BrokerRegistrationChangeRecord, ConfigRecord, FeatureLevelRecord, MetadataRecord,
    PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    RemoveTopicRecord, TopicRecord,
};

/// ConfigRecord resource types (Kafka's `ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub eligible_leader_replicas: Option<Vec<i32>>,
    pub last_known_elr: Option<Vec<i32>>,
    /// Kafka's `LeaderRecoveryState`: 0 recovered, 1 recovering (after an unclean election).
    pub leader_recovery_state: i8,
}

/// A broker as the registration records describe it (Kafka's `BrokerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker epoch: the offset of its RegisterBrokerRecord.
    pub epoch: i64,
    pub incarnation_id: Uuid,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: Arc<str>,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionInfo>,
    /// Per-topic overrides from ConfigRecords (`retention.ms`, `segment.bytes`, …).
    pub configs: BTreeMap<String, String>,
}

impl TopicInfo {
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// Everything the metadata log describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterImage {
    pub topics: BTreeMap<Arc<str>, TopicInfo>,
    pub topic_ids: HashMap<Uuid, Arc<str>>,
    pub features: BTreeMap<String, i16>,
    pub broker_configs: BTreeMap<String, String>,
    /// The broker registry: the latest registration of each broker id, fenced or not.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Offset of the last record applied; the next record written gets this + 1.
    pub last_offset: i64,
    /// The first producer id not yet reserved: every block of ids below it was handed out
    /// (its ProducerIdsRecord is in the log), so after a restart allocation resumes here.
    pub next_producer_id: i64,
}

impl ClusterImage {
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicInfo> {
        self.topic_ids.get(id).and_then(|n| self.topics.get(n))
    }

    /// Applies one record. Returns false for types that do not change the image (brokers,
    /// transactions markers, …) and for records naming unknown topics.
    pub fn apply(&mut self, record: &MetadataRecord) -> bool {
        let applied = match record {
            MetadataRecord::FeatureLevelRecord(r) => {
                self.apply_feature_level(r);
                true
            }
            MetadataRecord::TopicRecord(r) => {
                self.apply_topic(r);
                true
            }
            MetadataRecord::PartitionRecord(r) => self.apply_partition(r),
            MetadataRecord::PartitionChangeRecord(r) => self.apply_partition_change(r),
            MetadataRecord::RemoveTopicRecord(r) => self.apply_remove_topic(r),
            MetadataRecord::ConfigRecord(r) => {
                self.apply_config(r);
                true
            }
            MetadataRecord::ProducerIdsRecord(r) => {
                self.apply_producer_ids(r);
                true
            }
            MetadataRecord::RegisterBrokerRecord(r) => {
                self.apply_register_broker(r);
                true
            }
            MetadataRecord::BrokerRegistrationChangeRecord(r) => self.apply_registration_change(r),
            MetadataRecord::FenceBrokerRecord(r) => self.set_fenced(r.id, r.epoch, true),
            MetadataRecord::UnfenceBrokerRecord(r) => self.set_fenced(r.id, r.epoch, false),
            MetadataRecord::UnregisterBrokerRecord(r) => {
                // As Kafka's ClusterControlManager: only the registration of that epoch goes.
                match self.brokers.get(&r.broker_id) {
                    Some(b) if b.epoch == r.broker_epoch => {
                        self.brokers.remove(&r.broker_id);
                        true
                    }
                    _ => false,
                }
            }
            other => {
                debug!(
                    record_type = other.record_type(),
                    "metadata record type not applied"
                );
                false
            }
        };
        applied
    }

    /// A block of producer ids was reserved: ids below `next_producer_id` are never handed out
    /// again. Ids only move forward, whatever order the records come in.
    pub fn apply_producer_ids(&mut self, r: &ProducerIdsRecord) {
        self.next_producer_id = self.next_producer_id.max(r.next_producer_id);
    }

    /// A (re-)registration replaces the broker's previous one whole.
    pub fn apply_register_broker(&mut self, r: &RegisterBrokerRecord) {
        self.brokers.insert(
            r.broker_id,
            BrokerInfo {
                epoch: r.broker_epoch,
                incarnation_id: r.incarnation_id,
                fenced: r.fenced,
                in_controlled_shutdown: r.in_controlled_shutdown,
                rack: r.rack.clone(),
                log_dirs: r.log_dirs.clone(),
            },
        );
    }

    /// Fencing changes (`fenced`: -1 unfenced, 0 no change, 1 fenced), controlled shutdown and
    /// log dirs; ignored, as Kafka ignores it, when the epoch is not the registered one.
    pub fn apply_registration_change(&mut self, r: &BrokerRegistrationChangeRecord) -> bool {
        let Some(b) = self.brokers.get_mut(&r.broker_id) else {
            return false;
        };
        if b.epoch != r.broker_epoch {
            return false;
        }
        match r.fenced {
            -1 => b.fenced = false,
            1 => b.fenced = true,
            _ => {}
        }
        if r.in_controlled_shutdown == 1 {
            b.in_controlled_shutdown = true;
        }
        if !r.log_dirs.is_empty() {
            b.log_dirs = r.log_dirs.clone();
        }
        true
    }

    fn set_fenced(&mut self, id: i32, epoch: i64, fenced: bool) -> bool {
        match self.brokers.get_mut(&id) {
            Some(b) if b.epoch == epoch => {
                b.fenced = fenced;
                true
            }
            _ => false,
        }
    }

    pub fn apply_feature_level(&mut self, r: &FeatureLevelRecord) {
        self.features.insert(r.name.clone(), r.feature_level);
    }

    pub fn apply_topic(&mut self, r: &TopicRecord) {
        let name: Arc<str> = Arc::from(r.name.as_str());
        if let Some(old) = self.topics.get(&name) {
            // A re-created topic under the same name replaces the old one.
            self.topic_ids.remove(&old.id);
        }
        self.topic_ids.insert(r.topic_id, name.clone());
        self.topics.insert(
            name.clone(),
            TopicInfo {
                name,
                id: r.topic_id,
                partitions: BTreeMap::new(),
                configs: BTreeMap::new(),
            },
        );
    }

    /// Applies a PartitionRecord. Returns false when it names a topic id we do not know.
    pub fn apply_partition(&mut self, r: &PartitionRecord) -> bool {
        let Some(topic) = self.topic_mut(&r.topic_id) else {
            return false;
        };
        topic.partitions.insert(
            r.partition_id,
            PartitionInfo {
                leader: r.leader,
                leader_epoch: r.leader_epoch,
                partition_epoch: r.partition_epoch,
                replicas: r.replicas.clone(),
                isr: r.isr.clone(),
                eligible_leader_replicas: r.eligible_leader_replicas.clone(),
                last_known_elr: r.last_known_elr.clone(),
                leader_recovery_state: r.leader_recovery_state,
            },
        );
        true
    }

    /// Applies a PartitionChangeRecord as Kafka's `PartitionRegistration.merge` does: only the
    /// fields it carries change; a `leader` field other than -2 ("no change") bumps the leader
    /// epoch even when it names the current leader (the controller writes it so to force a
    /// bump), and every change bumps the partition epoch.
    pub fn apply_partition_change(&mut self, r: &PartitionChangeRecord) -> bool {
        let Some(p) = self
            .topic_mut(&r.topic_id)
            .and_then(|t| t.partitions.get_mut(&r.partition_id))
        else {
            return false;
        };
        if let Some(isr) = &r.isr {
            p.isr = isr.clone();
        }
        if let Some(replicas) = &r.replicas {
            p.replicas = replicas.clone();
        }
        if r.leader != -2 {
            p.leader = r.leader;
            // Epochs come from the log: a damaged one at i32::MAX stays there.
            p.leader_epoch = p.leader_epoch.saturating_add(1);
        }
        if r.eligible_leader_replicas.is_some() {
            p.eligible_leader_replicas = r.eligible_leader_replicas.clone();
        }
        if r.last_known_elr.is_some() {
            p.last_known_elr = r.last_known_elr.clone();
        }
        if r.leader_recovery_state != -1 {
            p.leader_recovery_state = r.leader_recovery_state;
        }
        p.partition_epoch = p.partition_epoch.saturating_add(1);
        true
    }

    pub fn apply_remove_topic(&mut self, r: &RemoveTopicRecord) -> bool {
        match self.topic_ids.remove(&r.topic_id) {
            Some(name) => {
                self.topics.remove(&name);
                true
            }
            None => false,
        }
    }

    pub fn apply_config(&mut self, r: &ConfigRecord) {
        let target = match r.resource_type {
            RESOURCE_TOPIC => match self.topics.get_mut(r.resource_name.as_str()) {
                Some(t) => &mut t.configs,
                None => return,
            },
            RESOURCE_BROKER => &mut self.broker_configs,
            _ => return,
        };
        match &r.value {
            Some(v) => {
                target.insert(r.name.clone(), v.clone());
            }
            None => {
                target.remove(&r.name);
            }
        }
    }

    fn topic_mut(&mut self, id: &Uuid) -> Option<&mut TopicInfo> {
        let name = self.topic_ids.get(id)?;
        self.topics.get_mut(name)
    }
}

/// What the partition manager asks of the image when it tidies the data directory.
impl LiveTopics for ClusterImage {
    fn has_partition(&self, topic: &str, index: i32) -> bool {
        self.topic(topic)
            .is_some_and(|t| t.partitions.contains_key(&index))
    }

    fn has_topic_id(&self, id: &Uuid) -> bool {
        self.topic_ids.contains_key(id)
    }
}
