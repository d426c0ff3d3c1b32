//! Where connections find partition actors: topic name → partition index → handle.
//!
//! Written only by the metadata actor (when topics appear or go away), read by every request
//! on the produce and fetch paths: an [`ArcSwap`] map, replaced whole by the writer, read
//! without a lock or a shared reference count.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::{Addr, Handler, MailboxError, Message};
use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::{Offsets, PartitionActor};
use crate::actor::ActorStats;

/// A partition's mailbox and its published offsets. Cloning it is one reference count.
#[derive(Clone)]
pub struct PartitionHandle(Arc<HandleParts>);

pub struct HandleParts {
    pub addr: Addr<PartitionActor>,
    pub offsets: watch::Receiver<Offsets>,
    /// The actor's inspection counters (mailbox depth, messages handled, log gauges).
    pub stats: Arc<ActorStats>,
}

impl Deref for PartitionHandle {
    type Target = HandleParts;

    fn deref(&self) -> &HandleParts {
        &self.0
    }
}

impl PartitionHandle {
    pub fn new(
        addr: Addr<PartitionActor>,
        offsets: watch::Receiver<Offsets>,
        stats: Arc<ActorStats>,
    ) -> PartitionHandle {
        PartitionHandle(Arc::new(HandleParts {
            addr,
            offsets,
            stats,
        }))
    }

    /// Sends a message and waits for the answer, bounded by the actor's mailbox capacity and
    /// counted in its stats. Prefer this to `addr.send`.
    pub fn send<M>(&self, msg: M) -> impl Future<Output = Result<M::Result, MailboxError>> + 'static
    where
        PartitionActor: Handler<M>,
        <PartitionActor as actix::Actor>::Context: ToEnvelope<PartitionActor, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.stats.send(&self.addr, msg)
    }
}

type Topics = HashMap<Arc<str>, Arc<BTreeMap<i32, PartitionHandle>>>;

pub struct PartitionRegistry {
    topics: ArcSwap<Topics>,
}

impl Default for PartitionRegistry {
    fn default() -> Self {
        PartitionRegistry {
            topics: ArcSwap::from_pointee(Topics::new()),
        }
    }
}

impl PartitionRegistry {
    pub fn get(&self, topic: &str, partition: i32) -> Option<PartitionHandle> {
        self.topics.load().get(topic)?.get(&partition).cloned()
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.topics
            .load()
            .get(topic)
            .is_some_and(|p| p.contains_key(&partition))
    }

    pub fn insert(&self, topic: Arc<str>, partition: i32, handle: PartitionHandle) {
        self.insert_all(topic, vec![(partition, handle)]);
    }

    /// Adds partitions of one topic in one update (one copy of the topic's map).
    pub fn insert_all(&self, topic: Arc<str>, handles: Vec<(i32, PartitionHandle)>) {
        if handles.is_empty() {
            return;
        }
        // Only the metadata actor writes, so `rcu` (copy, change, swap; again on a race) runs once.
        self.topics.rcu(|topics| {
            let mut topics = Topics::clone(topics);
            let mut partitions = topics
                .get(&topic)
                .map(|p| BTreeMap::clone(p))
                .unwrap_or_default();
            partitions.extend(handles.iter().cloned());
            topics.insert(topic.clone(), Arc::new(partitions));
            topics
        });
    }

    /// Removes a topic's partitions and returns them (to be closed).
    pub fn remove_topic(&self, topic: &str) -> Vec<PartitionHandle> {
        let mut removed = Vec::new();
        self.topics.rcu(|topics| {
            let mut topics = Topics::clone(topics);
            if let Some(p) = topics.remove(topic) {
                removed = p.values().cloned().collect();
            }
            topics
        });
        removed
    }

    /// Every partition, for shutdown and inspection.
    pub fn all(&self) -> Vec<(Arc<str>, i32, PartitionHandle)> {
        self.topics
            .load()
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, h)| (t.clone(), *p, h.clone())))
            .collect()
    }

    pub fn topic_partitions(&self, topic: &str) -> Vec<(i32, PartitionHandle)> {
        self.topics
            .load()
            .get(topic)
            .map(|p| p.iter().map(|(i, h)| (*i, h.clone())).collect())
            .unwrap_or_default()
    }
}
