//! The broker's shared context: configuration, the published cluster image, the partition and
//! connection registries, and the arbiters actors are spread over. One `Arc<Broker>` is handed to
//! every connection; everything mutable in it is owned by an actor and only published here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;
use arc_swap::{ArcSwap, Guard};
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::admin::actors::{ActorRegistry, ActorStats, Identity, METADATA_MAILBOX_CAPACITY};
use crate::admin::metrics::Metrics;
use crate::config::Config;
use crate::group::GroupManager;
use crate::metadata::image::ClusterImage;
use crate::metadata::kraft_log::MetadataLog;
use crate::metadata::properties::MetaProperties;
use crate::metadata::MetadataActor;
use crate::net::server::ConnectionRegistry;
use crate::partition::{self, PartitionRegistry};

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

pub struct Broker {
    pub config: Arc<Config>,
    pub node: NodeIdentity,
    pub log_dir: PathBuf,
    /// Read by every request, replaced whole by the metadata actor: an `ArcSwap`, so a reader
    /// neither locks nor touches the shared reference count.
    image: ArcSwap<ClusterImage>,
    pub partitions: PartitionRegistry,
    pub connections: ConnectionRegistry,
    /// The connection writer tasks; shutdown waits for them to drain.
    pub tasks: TaskTracker,
    pub arbiters: Vec<ArbiterHandle>,
    metadata: OnceLock<Addr<MetadataActor>>,
    /// Counters for `/metrics` (atomics only; see [`crate::admin::metrics`]).
    pub metrics: Arc<Metrics>,
    /// Every live actor's stats, for `/actors` and `/metrics`.
    pub actors: Arc<ActorRegistry>,
    metadata_stats: Arc<ActorStats>,
    groups: GroupManager,
}

impl Broker {
    /// Loads the data directory and starts the metadata actor (which starts the partition
    /// actors). Must run inside an actix `System`.
    pub fn start(config: Config, bound: SocketAddr) -> std::io::Result<Arc<Broker>> {
        let config = Arc::new(config);
        let log_dir = config
            .log_dirs
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("./sluice-data"));
        std::fs::create_dir_all(&log_dir)?;
        let meta = MetaProperties::load_or_create(&log_dir, config.node_id)?;
        let mut image = ClusterImage::default();
        let metadata_log = MetadataLog::load(&log_dir, &mut image)?;

        let listener = config.broker_listener();
        let advertised = config
            .advertised_listeners
            .iter()
            .find(|l| l.name == listener.name)
            .or(config.advertised_listeners.first());
        let (advertised_host, advertised_port) = match advertised {
            Some(a) => (a.host.clone(), a.port),
            None => (listener.host.clone(), bound.port()),
        };
        let node = NodeIdentity {
            node_id: config.node_id,
            cluster_id: meta.cluster_id.clone(),
            directory_id: meta.directory_id.unwrap_or_else(Uuid::nil),
            rack: config.rack.clone(),
            advertised_host: advertised_host.filter(|h| !h.is_empty() && h != "0.0.0.0"),
            advertised_port,
        };
        let threads = config.num_arbiters.max(1);
        let arbiters: Vec<ArbiterHandle> = (0..threads).map(|_| Arbiter::new().handle()).collect();
        let actors = Arc::new(ActorRegistry::default());
        let metadata_stats = actors.register(Identity::Metadata, METADATA_MAILBOX_CAPACITY);
        let groups = GroupManager::start(&config, &log_dir, arbiters.clone(), &image);
        let broker = Arc::new(Broker {
            config,
            node,
            log_dir,
            image: ArcSwap::from_pointee(image.clone()),
            partitions: PartitionRegistry::default(),
            connections: ConnectionRegistry::default(),
            tasks: TaskTracker::new(),
            arbiters,
            metadata: OnceLock::new(),
            metrics: Arc::new(Metrics::new()),
            actors,
            metadata_stats,
            groups,
        });
        let addr = MetadataActor::new(broker.clone(), image, metadata_log).start();
        let _ = broker.metadata.set(addr);
        Ok(broker)
    }

    /// The current cluster image: no lock, no reference count (the guard borrows it; one held
    /// across a long wait degrades to an ordinary `Arc`, still correct).
    pub fn image(&self) -> Guard<Arc<ClusterImage>> {
        self.image.load()
    }

    pub(crate) fn publish_image(&self, image: Arc<ClusterImage>) {
        self.image.store(image);
    }

    pub fn metadata(&self) -> Option<&Addr<MetadataActor>> {
        self.metadata.get()
    }

    /// Sends a message to the metadata actor and waits for the answer, counted in its mailbox
    /// depth and messages handled (prefer this to `metadata()?.send`).
    pub fn send_metadata<M>(
        &self,
        msg: M,
    ) -> impl std::future::Future<Output = Result<M::Result, MailboxError>> + 'static
    where
        MetadataActor: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let sent = self
            .metadata
            .get()
            .map(|addr| self.metadata_stats.send(addr, msg));
        async move {
            match sent {
                Some(fut) => fut.await,
                None => Err(MailboxError::Closed),
            }
        }
    }

    /// The group coordinator: group actors and committed offsets. Topic deletion must call
    /// [`GroupManager::topic_deleted`] so that the topic's committed offsets go.
    pub fn groups(&self) -> &GroupManager {
        &self.groups
    }

    /// Picks the arbiter for a partition actor: spread by hash so a topic's partitions land on
    /// different threads.
    pub fn arbiter_for(&self, topic: &str, partition: i32) -> &ArbiterHandle {
        &self.arbiters[self.arbiter_index(topic, partition)]
    }

    /// Which of [`Broker::arbiters`] a partition's actor runs on.
    pub fn arbiter_index(&self, topic: &str, partition: i32) -> usize {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in topic.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        (h.wrapping_add(partition as u64) % self.arbiters.len().max(1) as u64) as usize
    }

    /// Closes every partition log (flush, checkpoints, clean marker), waiting at most `grace`.
    pub async fn shutdown_storage(&self, grace: Duration) {
        let closes: Vec<_> = self
            .partitions
            .all()
            .into_iter()
            .map(|(_, _, h)| h.addr.send(partition::Close { delete: false }))
            .collect();
        let n = closes.len();
        let all = futures_util::future::join_all(closes);
        if tokio::time::timeout(grace, all).await.is_err() {
            warn!(partitions = n, "partition logs did not close in time");
        } else {
            info!(partitions = n, "partition logs closed");
        }
        self.groups.shutdown(grace).await;
    }
}
