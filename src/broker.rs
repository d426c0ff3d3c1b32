//! The broker's shared context: configuration, the published cluster image, the partition and
//! connection registries, and the arbiters actors are spread over. One `Arc<Broker>` is handed to
//! every connection; everything mutable in it is owned by an actor and only published here.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use actix::prelude::*;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::admin::actors::{ActorRegistry, ActorStats, Identity, METADATA_MAILBOX_CAPACITY};
use crate::admin::metrics::Metrics;
use crate::config::Config;
use crate::group::{GroupManager, GroupObservers};
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

/// A value that many threads read on every request and one writer replaces now and then (the
/// cluster image, the partition registry), readable without a lock: each thread keeps the
/// latest `Arc` it saw and only goes to the (rarely written) slot when the version moved.
pub struct Published<T> {
    id: u64,
    version: AtomicU64,
    slot: RwLock<Arc<T>>,
}

/// A thread's copies of published values: id → (version, value).
type Seen = HashMap<u64, (u64, Arc<dyn Any + Send + Sync>)>;

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(HashMap::new());
}

impl<T: Send + Sync + 'static> Published<T> {
    pub fn new(value: T) -> Published<T> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Published {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            slot: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value: this thread's copy, unless a newer one was stored since.
    pub fn load(&self) -> Arc<T> {
        let version = self.version.load(Ordering::Acquire);
        let cached = SEEN.with(|seen| {
            let seen = seen.borrow();
            let (v, value) = seen.get(&self.id)?;
            if *v != version {
                return None;
            }
            value.clone().downcast::<T>().ok()
        });
        if let Some(value) = cached {
            return value;
        }
        let value = self.load_slot();
        SEEN.with(|seen| {
            let any: Arc<dyn Any + Send + Sync> = value.clone();
            seen.borrow_mut().insert(self.id, (version, any));
        });
        value
    }

    fn load_slot(&self) -> Arc<T> {
        match self.slot.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the value; readers see it on their next `load`.
    pub fn store(&self, value: Arc<T>) {
        match self.slot.write() {
            Ok(mut slot) => *slot = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Replaces the value with `change` applied to a copy of it; writers are serialised (the
    /// slot's lock is held meanwhile), readers are not held up.
    pub fn update(&self, change: impl FnOnce(&T) -> T) {
        {
            let mut slot = match self.slot.write() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            let next = change(&slot);
            *slot = Arc::new(next);
        }
        self.version.fetch_add(1, Ordering::Release);
    }
}

pub struct Broker {
    pub config: Arc<Config>,
    pub node: NodeIdentity,
    pub log_dir: PathBuf,
    image: Published<ClusterImage>,
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

/// The one data directory sluice keeps. Kafka spreads partitions over several `log.dirs` (JBOD,
/// each with its own `meta.properties`); sluice does not yet, so a list of several is refused
/// by name rather than silently reduced to its first entry.
fn single_log_dir(dirs: &[PathBuf]) -> std::io::Result<PathBuf> {
    match dirs {
        [] => Ok(PathBuf::from("./sluice-data")),
        [one] => Ok(one.clone()),
        several => {
            let listed: Vec<String> = several.iter().map(|d| d.display().to_string()).collect();
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "log.dirs lists {} directories ({}): sluice keeps its data in one \
                     directory and does not spread partitions over several (JBOD); \
                     set log.dirs to one directory",
                    several.len(),
                    listed.join(",")
                ),
            ))
        }
    }
}

impl Broker {
    /// Loads the data directory and starts the metadata actor (which starts the partition
    /// actors). Must run inside an actix `System`.
    pub fn start(config: Config, bound: SocketAddr) -> std::io::Result<Arc<Broker>> {
        let log_dir = single_log_dir(&config.log_dirs)?;
        let config = Arc::new(config);
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
        let metrics = Arc::new(Metrics::new());
        let groups = GroupManager::start(
            &config,
            &log_dir,
            arbiters.clone(),
            &image,
            GroupObservers {
                registry: actors.clone(),
                groups: metrics.groups.clone(),
                members: metrics.group_members.clone(),
            },
        );
        let broker = Arc::new(Broker {
            config,
            node,
            log_dir,
            image: Published::new(image.clone()),
            partitions: PartitionRegistry::default(),
            connections: ConnectionRegistry::default(),
            tasks: TaskTracker::new(),
            arbiters,
            metadata: OnceLock::new(),
            metrics,
            actors,
            metadata_stats,
            groups,
        });
        let addr = MetadataActor::new(broker.clone(), image, metadata_log).start();
        let _ = broker.metadata.set(addr);
        Ok(broker)
    }

    /// The current cluster image (cheap: this thread's `Arc` of it, no lock).
    pub fn image(&self) -> Arc<ClusterImage> {
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

#[cfg(test)]
mod published_tests {
    use super::Published;
    use std::sync::Arc;

    #[test]
    fn every_thread_sees_the_latest_value() {
        let p = Arc::new(Published::new(1u32));
        assert_eq!(*p.load(), 1);
        p.store(Arc::new(2));
        assert_eq!(*p.load(), 2);
        let other = p.clone();
        let seen = std::thread::spawn(move || {
            let first = *other.load();
            other.update(|v| v + 10);
            (first, *other.load())
        })
        .join()
        .expect("thread");
        assert_eq!(seen, (2, 12));
        // This thread's copy is refreshed by the other thread's update.
        assert_eq!(*p.load(), 12);
        // Two published values of the same type do not share a thread's copies.
        let q = Published::new(7u32);
        assert_eq!((*p.load(), *q.load()), (12, 7));
    }
}
