//! The composition root: [`Broker::start`] builds the broker's parts in dependency order and
//! hands each the narrow handles it uses — the partition manager gets the registries it fills
//! and the arbiters, the metadata actor gets the partition manager and the group coordinator's
//! topic-deletion hook, the group coordinator gets the actor registry and its gauges — and
//! [`Broker`] keeps them together for the request handlers and the HTTP face. Nothing started here holds the `Broker` itself: no part knows its parent.
//!
//! ```text
//!   config ─▶ data dir (meta.properties, metadata log) ─▶ cluster image
//!   arbiters, actor registry, metrics
//!   group coordinator (offsets store, group actors)      ◀─ actor registry, gauges
//!   partition manager (partition actors)                 ◀─ partitions, actor registry, arbiters
//!   metadata actor                                       ◀─ image, partition manager, groups
//!   Broker { … } ─▶ connections (net) ─▶ request handlers (api)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use arc_swap::{ArcSwap, Guard};
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::actor::{ActorRegistry, Arbiters, Identity, METADATA_MAILBOX_CAPACITY};
use crate::config::Config;
use crate::group::{GroupManager, GroupObservers, OffsetsTopic};
use crate::metadata::election::{self, Registration};
use crate::metadata::image::ClusterImage;
use crate::metadata::internal_topics;
use crate::metadata::kraft_log::{self, MetadataLog};
use crate::metadata::properties::MetaProperties;
pub use crate::metadata::NodeIdentity;
use crate::metadata::{MetadataActor, MetadataDeps, MetadataHandle};
use crate::metrics::Metrics;
use crate::net::registry::ConnectionRegistry;
use crate::net::service::{ConnectionSettings, NetContext};
use crate::partition::checkpoints::{Intervals, LogDirCheckpoints};
use crate::partition::{self, PartitionManager, PartitionRegistry};
use crate::protocol::messages::metadata::register_broker_record::BrokerEndpoint;

/// The broker's parts, as the request handlers and the HTTP face use them. Everything mutable
/// in it is owned by an actor and only published here.
pub struct Broker {
    pub config: Arc<Config>,
    pub node: NodeIdentity,
    pub log_dir: PathBuf,
    /// Read by every request, replaced whole by the metadata actor: an `ArcSwap`, so a reader
    /// neither locks nor touches the shared reference count.
    image: Arc<ArcSwap<ClusterImage>>,
    pub partitions: Arc<PartitionRegistry>,
    pub connections: Arc<ConnectionRegistry>,
    /// The connection writer tasks; shutdown waits for them to drain.
    pub tasks: TaskTracker,
    pub arbiters: Arbiters,
    metadata: MetadataHandle,
    /// Counters for `/metrics` (atomics only; see [`crate::metrics`]).
    pub metrics: Arc<Metrics>,
    /// Every live actor's stats, for `/actors` and `/metrics`.
    pub actors: Arc<ActorRegistry>,
    groups: Arc<GroupManager>,
    /// Kafka's root checkpoints (`recovery-point-offset-checkpoint`, …), refreshed on a timer
    /// and after the clean close.
    log_dir_checkpoints: Arc<LogDirCheckpoints>,
    /// This start's broker epoch (the offset of its `RegisterBrokerRecord`), which Kafka's
    /// clean-shutdown marker records.
    broker_epoch: i64,
    /// The log cleaner's threads (`log.cleaner.enable`); taken and stopped first at shutdown.
    cleaner: std::sync::Mutex<Option<partition::cleaner::LogCleaner>>,
    /// The cleaner's per-partition figures, for `/metrics`.
    pub cleaner_figures: Option<partition::cleaner::CleanerFigures>,
}

/// Refreshes the log-dir checkpoints as each falls due, off the async threads.
fn spawn_log_dir_checkpoints(
    checkpoints: Arc<LogDirCheckpoints>,
    partitions: Arc<PartitionRegistry>,
) {
    actix::spawn(async move {
        let mut ticks = tokio::time::interval(checkpoints.tick());
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let (c, p) = (checkpoints.clone(), partitions.clone());
            let _ = tokio::task::spawn_blocking(move || c.write_due(&p)).await;
        }
    });
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

/// Who this broker says it is: ids from `meta.properties` and the config, the advertised
/// address from `advertised.listeners`, else from the listener.
fn node_identity(config: &Config, meta: &MetaProperties, bound: SocketAddr) -> NodeIdentity {
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
    NodeIdentity {
        node_id: config.node_id,
        cluster_id: meta.cluster_id.clone(),
        directory_id: meta.directory_id.unwrap_or_else(Uuid::nil),
        rack: config.rack.clone(),
        advertised_host: advertised_host.filter(|h| !h.is_empty() && h != "0.0.0.0"),
        advertised_port,
    }
}

/// Kafka's `SecurityProtocol` id of a listener, from `listener.security.protocol.map` (the
/// configuration refuses a client listener that is not PLAINTEXT, so this is 0 today).
fn security_protocol(config: &Config, listener: &str) -> i16 {
    let protocol = config
        .listener_security_protocol_map
        .iter()
        .find(|(name, _)| name == listener)
        .map_or("PLAINTEXT", |(_, p)| p.as_str());
    match protocol {
        "SSL" => 1,
        "SASL_PLAINTEXT" => 2,
        "SASL_SSL" => 3,
        _ => 0,
    }
}

/// What this broker registers with in the metadata log: a new incarnation id, the endpoint it
/// advertises (host and port as Metadata answers them), its rack, its log directory id and
/// the features it supports.
fn registration(config: &Config, node: &NodeIdentity, image: &ClusterImage) -> Registration {
    let name = config.broker_listener().name.clone();
    Registration {
        node_id: node.node_id,
        incarnation_id: Uuid::new_v4(),
        endpoints: vec![BrokerEndpoint {
            security_protocol: security_protocol(config, &name),
            name,
            host: node
                .advertised_host
                .clone()
                .unwrap_or_else(|| "localhost".to_string()),
            port: node.advertised_port,
        }],
        rack: node.rack.clone(),
        log_dirs: vec![node.directory_id],
        features: election::supported_features(image),
    }
}

impl Broker {
    /// Loads the data directory, then starts the group coordinator and the metadata actor
    /// (which starts the partition actors). Must run inside an actix `System`.
    pub fn start(config: Config, bound: SocketAddr) -> std::io::Result<Arc<Broker>> {
        let log_dir = single_log_dir(&config.log_dirs)?;
        let config = Arc::new(config);
        std::fs::create_dir_all(&log_dir)?;
        let meta = MetaProperties::load_or_create(&log_dir, config.node_id)?;
        let mut image = ClusterImage::default();
        let mut metadata_log = MetadataLog::open(
            &log_dir,
            kraft_log::log_config(config.metadata_log_segment_bytes),
            &mut image,
        )?;
        let node = node_identity(&config, &meta, bound);
        metadata_log.take_leadership(node.node_id, &mut image, crate::util::clock::now_ms())?;
        let registration = registration(&config, &node, &image);
        election::elect_at_startup(&mut metadata_log, &mut image, &config, &registration)?;
        let broker_epoch = image.brokers.get(&node.node_id).map_or(-1, |b| b.epoch);
        // sluice's old offsets layout: set aside, and the topic registered, before anything
        // else opens `__consumer_offsets-0` (see `group::migration`).
        let migrate = crate::group::migration::prepare(
            &log_dir,
            internal_topics::offsets_partitions(&image).is_some(),
        )?;
        if !migrate.is_empty() {
            internal_topics::create_at_startup(
                &mut metadata_log,
                &mut image,
                &config,
                node.node_id,
                node.directory_id,
            )?;
        }

        let threads = config.num_arbiters.max(1);
        let arbiters = Arbiters::new((0..threads).map(|_| Arbiter::new().handle()).collect());
        let actors = Arc::new(ActorRegistry::default());
        let metrics = Arc::new(Metrics::new());
        let published = Arc::new(ArcSwap::from_pointee(image.clone()));
        let partitions = Arc::new(PartitionRegistry::default());
        let offsets_topic = OffsetsTopic {
            registry: partitions.clone(),
            partitions: {
                let published = published.clone();
                Arc::new(move || internal_topics::offsets_partitions(&published.load()))
            },
        };
        // What Kafka left at the root (its clean-shutdown marker, recovery points, log starts),
        // read once for every log opened at start-up: the offsets replay's and the partitions'.
        let kafka_state = partition::files::KafkaRootState::read(&log_dir);
        let (groups, offsets_logs) = GroupManager::start(
            &config,
            &log_dir,
            arbiters.to_vec(),
            |topic| image.topic(topic).is_some(),
            offsets_topic,
            internal_topics::offsets_partitions(&image),
            &migrate,
            &kafka_state,
            GroupObservers {
                registry: actors.clone(),
                groups: metrics.groups.clone(),
                members: metrics.group_members.clone(),
            },
        );
        let groups = Arc::new(groups);
        let metadata_stats = actors.register(Identity::Metadata, METADATA_MAILBOX_CAPACITY);
        let partition_manager = PartitionManager::new(
            log_dir.clone(),
            Duration::from_millis(config.log_retention_check_interval_ms),
            partitions.clone(),
            actors.clone(),
            arbiters.clone(),
            kafka_state,
            offsets_logs
                .into_iter()
                .map(|(p, log)| ((internal_topics::OFFSETS_TOPIC.to_string(), p), log))
                .collect(),
        );
        let deps = MetadataDeps {
            config: config.clone(),
            node: node.clone(),
            image: published.clone(),
            partitions: partition_manager,
            topic_deleted: {
                let groups = groups.clone();
                Box::new(move |topic: &str| groups.topic_deleted(topic))
            },
        };
        let addr = MetadataActor::new(deps, image, metadata_log).start();
        let ms = Duration::from_millis;
        let log_dir_checkpoints = Arc::new(LogDirCheckpoints::new(
            &log_dir,
            Intervals([
                ms(config.log_flush_offset_checkpoint_interval_ms),
                ms(config.log_flush_start_offset_checkpoint_interval_ms),
                ms(config.replica_high_watermark_checkpoint_interval_ms),
            ]),
        ));
        spawn_log_dir_checkpoints(log_dir_checkpoints.clone(), partitions.clone());
        let cleaner = if config.log_cleaner_enable {
            Some(partition::cleaner::LogCleaner::start(
                partitions.clone(),
                &log_dir,
                partition::cleaner::CleanerSettings {
                    threads: config.log_cleaner_threads,
                    backoff: ms(config.log_cleaner_backoff_ms),
                    dedupe_buffer_size: config.log_cleaner_dedupe_buffer_size,
                    io_buffer_size: config.log_cleaner_io_buffer_size,
                    load_factor: config.log_cleaner_io_buffer_load_factor,
                    max_io_bytes_per_second: config.log_cleaner_io_max_bytes_per_second,
                },
            )?)
        } else {
            None
        };
        let cleaner_figures = cleaner.as_ref().map(|c| c.figures_source());
        Ok(Arc::new(Broker {
            cleaner: std::sync::Mutex::new(cleaner),
            cleaner_figures,
            log_dir_checkpoints,
            broker_epoch,
            config,
            node,
            log_dir,
            image: published,
            partitions,
            connections: Arc::default(),
            tasks: TaskTracker::new(),
            arbiters,
            metadata: MetadataHandle::new(addr, metadata_stats),
            metrics,
            actors,
            groups,
        }))
    }

    /// What the listener and its connections use of the broker.
    pub fn net_context(&self) -> NetContext {
        let c = &self.config;
        NetContext {
            settings: ConnectionSettings {
                max_frame: c.socket_request_max_bytes,
                max_inflight: c.max_inflight_requests_per_connection.max(1),
                idle_ms: c.connections_max_idle_ms,
                affinity: c.connection_affinity,
                max_connections: c.max_connections,
                max_connections_per_ip: c.max_connections_per_ip,
            },
            connections: self.connections.clone(),
            tasks: self.tasks.clone(),
            arbiters: self.arbiters.clone(),
            metrics: self.metrics.clone(),
            actors: self.actors.clone(),
        }
    }

    /// How long shutdown waits for connections, then for the logs (`shutdown.timeout.ms`).
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.config.shutdown_timeout_ms)
    }

    /// The current cluster image: no lock, no reference count (the guard borrows it; one held
    /// across a long wait degrades to an ordinary `Arc`, still correct).
    pub fn image(&self) -> Guard<Arc<ClusterImage>> {
        self.image.load()
    }

    /// The metadata actor, for requests that go through it (prefer [`Broker::send_metadata`],
    /// which counts them).
    pub fn metadata(&self) -> &MetadataHandle {
        &self.metadata
    }

    /// Sends a message to the metadata actor and waits for the answer, counted in its mailbox
    /// depth and messages handled.
    pub fn send_metadata<M>(
        &self,
        msg: M,
    ) -> impl std::future::Future<Output = Result<M::Result, MailboxError>> + 'static
    where
        MetadataActor: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.metadata.send(msg)
    }

    /// The group coordinator: group actors and committed offsets.
    pub fn groups(&self) -> &GroupManager {
        &self.groups
    }

    /// Which of [`Broker::arbiters`] a partition's actor runs on.
    pub fn arbiter_index(&self, topic: &str, partition: i32) -> usize {
        self.arbiters.partition_index(topic, partition)
    }

    /// Closes every partition log (flush, checkpoints, clean marker), waiting at most `grace`.
    pub async fn shutdown_storage(&self, grace: Duration) {
        // The cleaner first: it stops between two reads, and no swap reaches a closing log.
        let cleaner = self
            .cleaner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(cleaner) = cleaner {
            let stopped = tokio::task::spawn_blocking(move || cleaner.stop());
            if tokio::time::timeout(grace, stopped).await.is_err() {
                warn!("the log cleaner did not stop in time");
            }
        }
        let closes: Vec<_> = self
            .partitions
            .all()
            .into_iter()
            .map(|(_, _, h)| h.addr.send(partition::Close { delete: false }))
            .collect();
        let n = closes.len();
        let all = futures_util::future::join_all(closes);
        let closed = match tokio::time::timeout(grace, all).await {
            Err(_) => {
                warn!(partitions = n, "partition logs did not close in time");
                false
            }
            Ok(results) => {
                info!(partitions = n, "partition logs closed");
                results.iter().all(|r| matches!(r, Ok(true)))
            }
        };
        // After the closes: each closed partition's recovery point is its log end.
        self.log_dir_checkpoints.write_from(&self.partitions);
        self.groups.shutdown(grace).await;
        // Kafka's marker, last, and only when every log closed: a Kafka (or sluice) started on
        // this directory then trusts the files instead of re-validating the active segments.
        if closed {
            if let Err(e) =
                partition::files::write_kafka_clean_shutdown(&self.log_dir, self.broker_epoch)
            {
                warn!(error = %e, "cannot write Kafka's clean-shutdown marker");
            }
        }
    }
}
