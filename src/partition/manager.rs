//! The partition lifecycle: directories, `partition.metadata`, opening logs, starting partition
//! actors on their arbiters and registering them, and closing (and deleting) them.
//!
//! The metadata actor decides *what* exists (its image of the KRaft log) and drives this
//! manager through a narrow interface: [`PartitionManager::start_topic`] when partitions appear,
//! [`PartitionManager::detach_topic`] when a topic goes away, [`PartitionManager::reconfigure`]
//! when its configs change, and [`PartitionManager::clean_log_dir`] /
//! [`PartitionManager::finish_startup`] once at startup. The manager knows nothing of metadata
//! records; what it must know of the image it asks through [`LiveTopics`].
//!
//! ```text
//!   MetadataActor ── start_topic(name, id, indexes, LogConfig) ─▶ PartitionManager
//!                 ── detach_topic(name) ─▶ DetachedTopic::delete()   (Close { delete: true })
//!                 ── reconfigure(name, LogConfig)                    (Reconfigure)
//!   PartitionManager ─▶ <log.dirs>/<topic>-<p>/partition.metadata, PartitionActor × n, registry
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use futures_util::future::join_all;
use tokio::sync::watch;
use tracing::{error, info, warn};
use uuid::Uuid;

use super::files::{self, KafkaRootState, KAFKA_CLEAN_SHUTDOWN};
use super::{
    Close, Offsets, Opening, PartitionActor, PartitionHandle, PartitionRegistry, Reconfigure,
    SetLeaderEpoch,
};
use crate::actor::{ActorRegistry, Arbiters, Identity, PARTITION_MAILBOX_CAPACITY};
use crate::storage::{LogConfig, OpenHints, PartitionLog};

/// How long a deletion waits for its partition actors to close and remove their directories.
/// They normally take milliseconds; past this the deletion is answered anyway (the records are
/// already durable) and a warning is logged.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the manager must know of the cluster image to tidy the data directory at startup.
pub trait LiveTopics {
    /// Whether partition `index` of `topic` exists.
    fn has_partition(&self, topic: &str, index: i32) -> bool;
    /// Whether a topic with this id exists.
    fn has_topic_id(&self, id: &Uuid) -> bool;
}

/// Starts, reconfigures and stops the partition actors; see the module docs.
pub struct PartitionManager {
    log_dir: PathBuf,
    /// How often each partition applies retention and its time-based flush policy.
    retention_check: Duration,
    /// Where connections find the partitions; written only here.
    registry: Arc<PartitionRegistry>,
    actors: Arc<ActorRegistry>,
    arbiters: Arbiters,
    /// Kafka's root-level state, used for the partitions opened at startup, then dropped (see
    /// [`finish_startup`](Self::finish_startup)).
    kafka_state: Option<KafkaRootState>,
    /// The leader epoch last sent to each partition (see
    /// [`update_leader_epochs`](Self::update_leader_epochs)).
    sent_epochs: Mutex<HashMap<(Arc<str>, i32), i32>>,
    /// Logs opened at start-up before their actors (the offsets topic's, by its replay), each
    /// handed to its actor instead of being opened a second time; those no actor took are
    /// closed by [`finish_startup`](Self::finish_startup).
    adopted: Mutex<HashMap<(String, i32), PartitionLog>>,
}

impl PartitionManager {
    /// A manager for the partitions of `log_dir`; `kafka_state` is what Kafka left at its root
    /// (used by the partitions started before [`finish_startup`](Self::finish_startup));
    /// `adopted` are logs already open, by topic and partition, for their actors to take.
    pub fn new(
        log_dir: PathBuf,
        retention_check: Duration,
        registry: Arc<PartitionRegistry>,
        actors: Arc<ActorRegistry>,
        arbiters: Arbiters,
        kafka_state: KafkaRootState,
        adopted: HashMap<(String, i32), PartitionLog>,
    ) -> PartitionManager {
        let kafka_state = Some(kafka_state);
        PartitionManager {
            log_dir,
            retention_check,
            registry,
            actors,
            arbiters,
            kafka_state,
            sent_epochs: Mutex::default(),
            adopted: Mutex::new(adopted),
        }
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.log_dir.join(format!("{topic}-{index}"))
    }

    /// Starts the partition actors of topic `name` (id `id`) among `indexes` that are not
    /// running yet, each on its arbiter, and registers them in one update. Each directory is
    /// made to name the topic in its `partition.metadata`; one left by an earlier topic of the
    /// same name is set aside first.
    pub fn start_topic(
        &self,
        name: &Arc<str>,
        id: Uuid,
        indexes: impl IntoIterator<Item = i32>,
        config: &LogConfig,
    ) {
        let mut started = Vec::new();
        for index in indexes {
            if self.registry.contains(name, index) {
                continue;
            }
            let dir = self.partition_dir(name, index);
            self.prepare_dir(&dir, id);
            let handle = self.start_partition(name, index, dir, config.clone());
            started.push((index, handle));
        }
        self.registry.insert_all(name.clone(), started);
    }

    /// One read of partition.metadata: a directory that names this topic exists and needs
    /// nothing (what a restart with many partitions finds everywhere).
    fn prepare_dir(&self, dir: &Path, id: Uuid) {
        match files::read_partition_metadata(dir) {
            Some(found) if found == id => {}
            found => {
                if found.is_some() {
                    // Left by an earlier topic of the same name whose deletion did not finish
                    // (a crash between its RemoveTopicRecord and the directory's removal): its
                    // records must not reappear in the new topic.
                    set_aside(dir, "stray");
                }
                if let Err(e) = std::fs::create_dir_all(dir) {
                    error!(dir = %dir.display(), error = %e, "cannot create partition directory");
                }
                if let Err(e) = files::write_partition_metadata(dir, id) {
                    warn!(dir = %dir.display(), error = %e, "cannot write partition.metadata");
                }
            }
        }
    }

    /// Starts one partition actor on its arbiter; the log is opened there, so recoveries of
    /// different partitions proceed in parallel.
    fn start_partition(
        &self,
        topic: &Arc<str>,
        index: i32,
        dir: PathBuf,
        config: LogConfig,
    ) -> PartitionHandle {
        let key = (topic.to_string(), index);
        let adopted = self
            .adopted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
        let opening = match (adopted, &self.kafka_state) {
            (Some(log), _) => Opening::Adopt(Box::new(log)),
            (None, Some(k)) => Opening::Open(OpenHints {
                kafka_clean_shutdown: k.clean_shutdown,
                recovery_point: k.recovery_points.get(&key).copied(),
                log_start_offset: k.log_start_offsets.get(&key).copied(),
            }),
            (None, None) => Opening::Open(OpenHints::default()),
        };
        let retention_check = self.retention_check;
        let (tx, rx) = watch::channel(Offsets::default());
        let stats = self.actors.register(
            Identity::Partition {
                topic: topic.clone(),
                partition: index,
                log: Default::default(),
            },
            PARTITION_MAILBOX_CAPACITY,
        );
        let actor_stats = stats.clone();
        let name = topic.clone();
        let addr = PartitionActor::start_in_arbiter(
            self.arbiters.for_partition(topic, index),
            move |_ctx| {
                PartitionActor::build(name, index, dir, config, opening, retention_check, tx)
                    .with_stats(actor_stats)
            },
        );
        PartitionHandle::new(addr, rx, stats)
    }

    /// Once the partitions of the loaded log are started: Kafka's marker described the state
    /// Kafka left; from now on our own per-partition markers say whether the last stop was
    /// clean, so a later crash is never mistaken for a clean stop.
    pub fn finish_startup(&mut self) {
        for ((topic, index), log) in self
            .adopted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
        {
            if let Err(e) = log.close() {
                warn!(topic, partition = index, error = %e, "closing a log no partition took failed");
            }
        }
        if self.kafka_state.take().is_some_and(|k| k.clean_shutdown) {
            let marker = self.log_dir.join(KAFKA_CLEAN_SHUTDOWN);
            if let Err(e) = std::fs::remove_file(&marker) {
                warn!(file = %marker.display(), error = %e, "cannot remove Kafka's clean-shutdown marker");
            }
        }
    }

    /// Tells each running partition its leader epoch from the image (`(topic, partition,
    /// leader_epoch)` for every partition), once per change: the metadata actor calls it with the
    /// whole image each time it publishes one, at start-up (after starting the partitions) and
    /// after every change, so a leader election reaches the logs before clients see it.
    pub fn update_leader_epochs<'a>(
        &self,
        epochs: impl IntoIterator<Item = (&'a Arc<str>, i32, i32)>,
    ) {
        let mut sent = self
            .sent_epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, index, epoch) in epochs {
            let key = (topic.clone(), index);
            if sent.get(&key) == Some(&epoch) {
                continue;
            }
            if let Some(handle) = self.registry.get(topic, index) {
                handle.addr.do_send(SetLeaderEpoch(epoch));
                sent.insert(key, epoch);
            }
        }
    }

    /// Sends every running partition of `topic` its new settings.
    pub fn reconfigure(&self, topic: &str, config: &LogConfig) {
        for (_, handle) in self.registry.topic_partitions(topic) {
            handle.addr.do_send(Reconfigure(config.clone()));
        }
    }

    /// Takes a deleted topic's partitions out of the registry (no request reaches them from
    /// now on); [`DetachedTopic::delete`] then closes them and removes their directories.
    pub fn detach_topic(&self, topic: &str) -> DetachedTopic {
        self.sent_epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(t, _), _| &**t != topic);
        DetachedTopic {
            topic: topic.to_string(),
            handles: self.registry.remove_topic(topic),
        }
    }

    /// At startup: finishes deletions a crash interrupted (`*-delete` directories) and sets
    /// aside partition directories whose `partition.metadata` names a topic id `live` does not
    /// know (a topic deleted just before a crash). Directories named in `reserved` (logs that
    /// are not topic partitions, such as the metadata log) are left alone.
    pub fn clean_log_dir(&self, live: &dyn LiveTopics, reserved: &[&str]) {
        let Ok(entries) = std::fs::read_dir(&self.log_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                info!(path = %path.display(), "not a name sluice knows in the log directory: left as it is");
                continue;
            };
            if !path.is_dir() {
                if !KNOWN_ROOT_FILES.contains(&name) && !name.ends_with(".tmp") {
                    info!(file = %path.display(), "not a file sluice knows in the log directory: left as it is");
                }
                continue;
            }
            if reserved.contains(&name) {
                continue;
            }
            if is_live_partition_dir(name, live) {
                // Its partition.metadata is checked when the partition starts.
                continue;
            }
            if name.ends_with("-delete") {
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => {
                        info!(dir = %path.display(), "finished an interrupted topic deletion")
                    }
                    Err(e) => {
                        warn!(dir = %path.display(), error = %e, "cannot remove deleted partition")
                    }
                }
                continue;
            }
            if name.ends_with("-stray") {
                // Set aside earlier, by sluice or by Kafka 3.7+ (a partition the metadata no
                // longer assigns here): kept for the operator, never renamed again.
                info!(dir = %path.display(), "a stray partition set aside earlier: left as it is");
                continue;
            }
            if name.ends_with("-future") {
                // Kafka's AlterReplicaLogDirs copies a partition into `<dir>.<uuid>-future` and
                // swaps it in when caught up; sluice keeps one log directory, so the copy stays.
                warn!(dir = %path.display(), "a replica move between log directories was in \
                      progress (a -future directory): sluice keeps one log directory and leaves it as it is");
                continue;
            }
            match files::read_partition_metadata(&path) {
                Some(id) if !live.has_topic_id(&id) => set_aside(&path, "stray"),
                _ => {
                    info!(dir = %path.display(), "not a directory sluice knows in the log directory: left as it is")
                }
            }
        }
    }
}

/// Files Kafka or sluice keep at the root of a log directory. `bootstrap.checkpoint` (the
/// bootstrap records `kafka-storage format` wrote) is read by the metadata log when it is empty
/// (`metadata::snapshot`).
const KNOWN_ROOT_FILES: [&str; 8] = [
    "meta.properties",
    ".lock",
    files::KAFKA_CLEAN_SHUTDOWN,
    files::RECOVERY_POINT_CHECKPOINT,
    files::LOG_START_OFFSET_CHECKPOINT,
    files::REPLICATION_OFFSET_CHECKPOINT,
    files::CLEANER_OFFSET_CHECKPOINT,
    crate::metadata::snapshot::BOOTSTRAP_FILE,
];

/// A deleted topic's partitions, out of the registry, still running until deleted.
pub struct DetachedTopic {
    topic: String,
    handles: Vec<PartitionHandle>,
}

impl DetachedTopic {
    /// How many partitions the topic had running.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Closes the partitions and removes their directories; resolves once they are gone, or
    /// after `CLOSE_TIMEOUT` with a warning.
    pub fn delete(self) -> impl Future<Output = ()> + 'static {
        let DetachedTopic { topic, handles } = self;
        let closes = join_all(
            handles
                .into_iter()
                .map(|h| h.addr.send(Close { delete: true })),
        );
        async move {
            if tokio::time::timeout(CLOSE_TIMEOUT, closes).await.is_err() {
                warn!(topic = %topic, "partitions of a deleted topic did not close in time");
            }
        }
    }
}

/// `<topic>-<partition>` of a partition `live` knows.
fn is_live_partition_dir(name: &str, live: &dyn LiveTopics) -> bool {
    let Some((topic, index)) = name.rsplit_once('-') else {
        return false;
    };
    let Ok(index) = index.parse::<i32>() else {
        return false;
    };
    live.has_partition(topic, index)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Live {
        partitions: HashSet<(String, i32)>,
        ids: HashSet<Uuid>,
    }

    impl LiveTopics for Live {
        fn has_partition(&self, topic: &str, index: i32) -> bool {
            self.partitions.contains(&(topic.to_string(), index))
        }
        fn has_topic_id(&self, id: &Uuid) -> bool {
            self.ids.contains(id)
        }
    }

    fn manager(dir: &Path) -> PartitionManager {
        PartitionManager {
            log_dir: dir.to_path_buf(),
            retention_check: Duration::ZERO,
            registry: Arc::default(),
            actors: Arc::default(),
            arbiters: Arbiters::new(Vec::new()),
            kafka_state: None,
            sent_epochs: Mutex::default(),
            adopted: Mutex::default(),
        }
    }

    #[test]
    fn clean_log_dir_sets_aside_strays_and_finishes_deletions() {
        let temp = tempfile::tempdir().expect("tempdir");
        let root = temp.path();
        let (live_id, gone_id) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for (dir, id) in [
            ("live-0", Some(live_id)),
            ("gone-0", Some(gone_id)),
            ("__cluster_metadata-0", Some(Uuid::from_u128(3))),
            ("other-0.abc-delete", None),
            ("plain", None),
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
            if let Some(id) = id {
                files::write_partition_metadata(&root.join(dir), id).expect("write");
            }
        }
        let live = Live {
            partitions: [("live".to_string(), 0)].into_iter().collect(),
            ids: [live_id].into_iter().collect(),
        };
        manager(root).clean_log_dir(&live, &["__cluster_metadata-0"]);
        let mut names: Vec<String> = std::fs::read_dir(root)
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names[0], "__cluster_metadata-0");
        assert!(names[1].starts_with("gone-0.") && names[1].ends_with("-stray"));
        assert_eq!(&names[2..], ["live-0", "plain"]);
        // The next start leaves the stray directory as it is (it is not set aside again).
        manager(root).clean_log_dir(&live, &["__cluster_metadata-0"]);
        let mut again: Vec<String> = std::fs::read_dir(root)
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        again.sort();
        assert_eq!(again, names);
    }
}
