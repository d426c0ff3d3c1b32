//! The metadata actor: owner of the cluster view and of `__cluster_metadata-0`.
//!
//! It loads the KRaft metadata log at startup, has the partition manager
//! ([`crate::partition::PartitionManager`]) start a partition actor for every partition the log
//! describes, and is the only writer of topic changes: each change is appended to the log as
//! KRaft records (synced) before it is applied and published as a new immutable
//! [`ClusterImage`] snapshot; then the manager brings the partitions in line. The topic operations (create and delete topics, add partitions,
//! change configs) are in [`topics`]. It also hands out producer ids ([`producer_ids`]),
//! reserving them in blocks recorded in the same log.

pub mod election;
pub mod image;
pub mod internal_topics;
pub mod kraft_log;
pub mod producer_ids;
pub mod properties;
pub mod quorum;
pub mod reassign;
pub mod snapshot;
pub mod topic_config;
pub mod topics;

pub use topics::{
    validate_topic_name, CreateTopic, CreatedTopic, MAX_PARTITIONS_PER_TOPIC, RESERVED_TOPICS,
};

use std::sync::Arc;

use actix::prelude::*;
use tracing::{error, info};
use uuid::Uuid;

use crate::actor::{ActorSpan, ActorStats};
use crate::config::Config;
use crate::error::ErrorCode;
use crate::partition::PartitionManager;
use crate::protocol::messages::metadata::MetadataRecord;
use crate::storage::LogConfig;
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
/// ([`crate::broker::Broker::start`]): the partition manager it drives, where it publishes the
/// image, and whom it tells of a deleted topic.
pub struct MetadataDeps {
    pub config: Arc<Config>,
    pub node: NodeIdentity,
    /// Where each new cluster image is published to the request handlers.
    pub image: Arc<arc_swap::ArcSwap<ClusterImage>>,
    /// Starts and stops the partition actors as the image changes (the metadata actor keeps
    /// the image and its log; the partitions' files and actors are the manager's).
    pub partitions: PartitionManager,
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
    /// The block of producer ids being handed out (InitProducerId).
    producer_ids: producer_ids::ProducerIdAllocator,
}

impl MetadataActor {
    pub fn new(deps: MetadataDeps, image: ClusterImage, log: MetadataLog) -> MetadataActor {
        MetadataActor {
            deps,
            image,
            log,
            span: ActorSpan::new(tracing::info_span!("metadata")),
            producer_ids: producer_ids::ProducerIdAllocator::default(),
        }
    }

    /// The actor's span, rebuilt if the log filter changed since it was made.
    fn span(&mut self) -> tracing::Span {
        self.span.get(|| tracing::info_span!("metadata"))
    }

    fn publish(&self) {
        // The logs learn a new leader epoch before clients see the image that has it.
        self.deps
            .partitions
            .update_leader_epochs(self.image.topics.values().flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |(&i, p)| (&t.name, i, p.leader_epoch))
            }));
        self.deps.image.store(Arc::new(self.image.clone()));
    }

    /// Starts the partitions of `topic` that are not running yet.
    fn start_partitions(&self, topic: &TopicInfo) {
        let config = log_config(&self.deps.config, topic);
        self.deps.partitions.start_topic(
            &topic.name,
            topic.id,
            topic.partitions.keys().copied(),
            &config,
        );
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

/// The storage settings for a topic: broker defaults overridden by the topic's configs.
pub fn log_config(config: &Config, topic: &TopicInfo) -> LogConfig {
    topic_config::log_config(config, &topic.configs)
}

impl Actor for MetadataActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let _e = self.span().entered();
        self.deps
            .partitions
            .clean_log_dir(&self.image, &[kraft_log::METADATA_DIR]);
        let topics: Vec<TopicInfo> = self.image.topics.values().cloned().collect();
        for topic in &topics {
            self.start_partitions(topic);
        }
        self.deps.partitions.finish_startup();
        info!(
            topics = topics.len(),
            partitions = topics.iter().map(|t| t.partitions.len()).sum::<usize>(),
            "metadata actor started"
        );
        self.publish();
    }
}

/// The metadata quorum as its only voter sees it: the raft epoch this node leads, and the log
/// end offset (every record is fsynced when appended, so it is also the high watermark).
#[derive(Message)]
#[rtype(result = "QuorumStatus")]
pub struct DescribeQuorum;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumStatus {
    pub leader_epoch: i32,
    pub log_end_offset: i64,
}

impl Handler<DescribeQuorum> for MetadataActor {
    type Result = MessageResult<DescribeQuorum>;

    fn handle(&mut self, _: DescribeQuorum, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(QuorumStatus {
            leader_epoch: self.log.leader_epoch(),
            log_end_offset: self.image.last_offset + 1,
        })
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
