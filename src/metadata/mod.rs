//! The metadata actor: owner of the cluster view and of `__cluster_metadata-0`.
//!
//! It loads the KRaft metadata log at startup, starts a partition actor for every partition the
//! log describes, and is the only writer of topic changes: each change is appended to the log as
//! KRaft records (synced) before it is applied and published as a new immutable
//! [`ClusterImage`] snapshot. The topic operations (create and delete topics, add partitions,
//! change configs) are in [`topics`]. It also hands out producer ids ([`producer_ids`]),
//! reserving them in blocks recorded in the same log.

pub mod image;
pub mod kraft_log;
pub mod producer_ids;
pub mod properties;
pub mod topic_config;
pub mod topics;

pub use topics::{
    validate_topic_name, CreateTopic, CreatedTopic, MAX_PARTITIONS_PER_TOPIC, RESERVED_TOPICS,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::actor::{
    ActorRegistry, ActorSpan, ActorStats, Arbiters, Identity, PARTITION_MAILBOX_CAPACITY,
};
use crate::config::Config;
use crate::error::ErrorCode;
use crate::partition::{Offsets, PartitionActor, PartitionHandle, PartitionRegistry};
use crate::protocol::messages::metadata::MetadataRecord;
use crate::storage::{LogConfig, OpenHints};
use crate::util::clock::now_ms;
use image::{ClusterImage, TopicInfo};
use kraft_log::MetadataLog;

/// Who this broker is, as it tells clients.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub node_id: i32,
    pub cluster_id: String,
    pub directory_id: Uuid,
    pub rack: Option<String>,
    /// Host and port from `advertised.listeners`, else from the listener (None host: a wildcard
    /// listener, answered with the address the client connected to).
    pub advertised_host: Option<String>,
    pub advertised_port: u16,
}

/// What the metadata actor works with, handed over by the composition root
/// ([`crate::broker::Broker::start`]): the registries it fills, where it publishes the image,
/// and whom it tells of a deleted topic.
pub struct MetadataDeps {
    pub config: Arc<Config>,
    pub node: NodeIdentity,
    pub log_dir: PathBuf,
    /// Where each new cluster image is published to the request handlers.
    pub image: Arc<arc_swap::ArcSwap<ClusterImage>>,
    /// The partition actors it starts and stops.
    pub partitions: Arc<PartitionRegistry>,
    pub actors: Arc<ActorRegistry>,
    pub arbiters: Arbiters,
    /// Called after a topic is deleted (the group coordinator drops its committed offsets).
    pub topic_deleted: Box<dyn Fn(&str) + Send>,
}

/// The metadata actor's address with its registry entry: messages go through the bounded,
/// counted send.
pub struct MetadataHandle {
    addr: Addr<MetadataActor>,
    stats: Arc<ActorStats>,
}

impl MetadataHandle {
    pub fn new(addr: Addr<MetadataActor>, stats: Arc<ActorStats>) -> MetadataHandle {
        MetadataHandle { addr, stats }
    }

    /// The address itself, for the broker's own messages (startup), which are not counted as
    /// requests in the actor's inspection counters.
    pub fn addr(&self) -> &Addr<MetadataActor> {
        &self.addr
    }

    /// Sends `msg` and waits for the answer (see [`ActorStats::send`]).
    pub fn send<M>(
        &self,
        msg: M,
    ) -> impl std::future::Future<Output = Result<M::Result, MailboxError>> + 'static
    where
        MetadataActor: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.stats.send(&self.addr, msg)
    }
}

pub struct MetadataActor {
    deps: MetadataDeps,
    image: ClusterImage,
    log: MetadataLog,
    span: ActorSpan,
    /// Kafka's root-level state, used for the partitions opened at startup, then dropped.
    kafka_state: Option<properties::KafkaRootState>,
    /// The block of producer ids being handed out (InitProducerId).
    producer_ids: producer_ids::ProducerIdAllocator,
}

impl MetadataActor {
    pub fn new(deps: MetadataDeps, image: ClusterImage, log: MetadataLog) -> MetadataActor {
        let kafka_state = Some(properties::KafkaRootState::read(&deps.log_dir));
        MetadataActor {
            deps,
            image,
            log,
            span: ActorSpan::new(tracing::info_span!("metadata")),
            kafka_state,
            producer_ids: producer_ids::ProducerIdAllocator::default(),
        }
    }

    /// The actor's span, rebuilt if the log filter changed since it was made.
    fn span(&mut self) -> tracing::Span {
        self.span.get(|| tracing::info_span!("metadata"))
    }

    fn publish(&self) {
        self.deps.image.store(Arc::new(self.image.clone()));
    }

    /// Starts the partition actors of `topic` that are not running yet.
    fn start_partitions(&self, topic: &TopicInfo) {
        let mut started = Vec::new();
        for &index in topic.partitions.keys() {
            if self.deps.partitions.contains(&topic.name, index) {
                continue;
            }
            let dir = self.deps.log_dir.join(format!("{}-{}", topic.name, index));
            // One read of partition.metadata: a directory that names this topic exists and
            // needs nothing (what a restart with many partitions finds everywhere).
            match properties::read_partition_metadata(&dir) {
                Some(id) if id == topic.id => {}
                found => {
                    if found.is_some() {
                        // Left by an earlier topic of the same name whose deletion did not
                        // finish (a crash between its RemoveTopicRecord and the directory's
                        // removal): its records must not reappear in the new topic.
                        set_aside(&dir, "stray");
                    }
                    if let Err(e) = std::fs::create_dir_all(&dir) {
                        error!(dir = %dir.display(), error = %e, "cannot create partition directory");
                    }
                    if let Err(e) = properties::write_partition_metadata(&dir, topic.id) {
                        warn!(dir = %dir.display(), error = %e, "cannot write partition.metadata");
                    }
                }
            }
            let config = log_config(&self.deps.config, topic);
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
                Duration::from_millis(self.deps.config.log_retention_check_interval_ms);
            let (tx, rx) = watch::channel(Offsets::default());
            let name = topic.name.clone();
            let stats = self.deps.actors.register(
                Identity::Partition {
                    topic: topic.name.clone(),
                    partition: index,
                    log: Default::default(),
                },
                PARTITION_MAILBOX_CAPACITY,
            );
            let actor_stats = stats.clone();
            let addr = PartitionActor::start_in_arbiter(
                self.deps.arbiters.for_partition(&topic.name, index),
                move |_ctx| {
                    PartitionActor::build(name, index, dir, config, hints, retention_check, tx)
                        .with_stats(actor_stats)
                },
            );
            started.push((index, PartitionHandle::new(addr, rx, stats)));
        }
        self.deps.partitions.insert_all(topic.name.clone(), started);
    }

    /// Appends records to the metadata log (synced), then applies them to the image.
    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), (ErrorCode, String)> {
        self.log
            .append(records, &mut self.image, now_ms())
            .map_err(|e| {
                error!(error = %e, "metadata log append failed");
                (ErrorCode::KafkaStorageError, e.to_string())
            })
    }
}

/// Renames a partition directory that no topic owns to `<dir>.<uuid>-<suffix>`, as Kafka does
/// with stray logs: out of the way, but not deleted.
fn set_aside(dir: &Path, suffix: &str) {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let to = dir.with_file_name(format!("{name}.{}-{suffix}", Uuid::new_v4().simple()));
    match std::fs::rename(dir, &to) {
        Ok(()) => warn!(dir = %dir.display(), to = %to.display(),
                        "partition directory of an unknown topic id set aside"),
        Err(e) => error!(dir = %dir.display(), error = %e, "cannot set a stray directory aside"),
    }
}

/// At startup: finishes deletions a crash interrupted (`*-delete` directories) and sets aside
/// partition directories whose `partition.metadata` names a topic id the metadata log does not
/// know (a topic deleted just before a crash).
fn clean_log_dir(log_dir: &Path, image: &ClusterImage) {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == kraft_log::METADATA_DIR {
            continue;
        }
        if is_known_partition_dir(name, image) {
            // Its partition.metadata is checked when the partition starts.
            continue;
        }
        if name.ends_with("-delete") {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => info!(dir = %path.display(), "finished an interrupted topic deletion"),
                Err(e) => {
                    warn!(dir = %path.display(), error = %e, "cannot remove deleted partition")
                }
            }
            continue;
        }
        if let Some(id) = properties::read_partition_metadata(&path) {
            if !image.topic_ids.contains_key(&id) {
                set_aside(&path, "stray");
            }
        }
    }
}

/// `<topic>-<partition>` of a partition the image knows.
fn is_known_partition_dir(name: &str, image: &ClusterImage) -> bool {
    let Some((topic, index)) = name.rsplit_once('-') else {
        return false;
    };
    let Ok(index) = index.parse::<i32>() else {
        return false;
    };
    image
        .topic(topic)
        .is_some_and(|t| t.partitions.contains_key(&index))
}

/// The storage settings for a topic: broker defaults overridden by the topic's configs.
pub fn log_config(config: &Config, topic: &TopicInfo) -> LogConfig {
    topic_config::log_config(config, &topic.configs)
}

impl Actor for MetadataActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let _e = self.span().entered();
        clean_log_dir(&self.deps.log_dir, &self.image);
        let topics: Vec<TopicInfo> = self.image.topics.values().cloned().collect();
        for topic in &topics {
            self.start_partitions(topic);
        }
        // Kafka's marker describes the state Kafka left; from now on our own per-partition
        // markers say whether the last stop was clean, so a later crash is never mistaken for a
        // clean stop.
        if self.kafka_state.take().is_some_and(|k| k.clean_shutdown) {
            let marker = self.deps.log_dir.join(properties::KAFKA_CLEAN_SHUTDOWN);
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

/// Answered once the actor has started, i.e. once the partitions of the loaded log are
/// registered: the server awaits it before it announces that it listens, so that no request
/// sees topics in the image whose partitions are not reachable yet.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Started;

impl Handler<Started> for MetadataActor {
    type Result = ();

    fn handle(&mut self, _: Started, _ctx: &mut Self::Context) {}
}
