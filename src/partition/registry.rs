//! Where connections find partition actors: topic name → partition index → handle.
//!
//! Written only by the metadata actor (when topics appear or go away), read by every request
//! on the produce and fetch paths, so it is a read-mostly lock held for a lookup at a time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, RwLock};

use actix::dev::ToEnvelope;
use actix::{Addr, Handler, MailboxError, Message};
use tokio::sync::watch;

use super::{Offsets, PartitionActor};
use crate::admin::actors::ActorStats;

/// A partition's mailbox and its published offsets.
#[derive(Clone)]
pub struct PartitionHandle {
    pub addr: Addr<PartitionActor>,
    pub offsets: watch::Receiver<Offsets>,
    /// The actor's inspection counters (mailbox depth, messages handled, log gauges).
    pub stats: Arc<ActorStats>,
}

impl PartitionHandle {
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

#[derive(Default)]
pub struct PartitionRegistry {
    topics: RwLock<HashMap<Arc<str>, BTreeMap<i32, PartitionHandle>>>,
}

impl PartitionRegistry {
    pub fn get(&self, topic: &str, partition: i32) -> Option<PartitionHandle> {
        let topics = self.topics.read().ok()?;
        topics.get(topic)?.get(&partition).cloned()
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.topics
            .read()
            .map(|t| t.get(topic).is_some_and(|p| p.contains_key(&partition)))
            .unwrap_or(false)
    }

    pub fn insert(&self, topic: Arc<str>, partition: i32, handle: PartitionHandle) {
        if let Ok(mut topics) = self.topics.write() {
            topics.entry(topic).or_default().insert(partition, handle);
        }
    }

    /// Removes a topic's partitions and returns them (to be closed).
    pub fn remove_topic(&self, topic: &str) -> Vec<PartitionHandle> {
        self.topics
            .write()
            .ok()
            .and_then(|mut t| t.remove(topic))
            .map(|p| p.into_values().collect())
            .unwrap_or_default()
    }

    /// Every partition, for shutdown and inspection.
    pub fn all(&self) -> Vec<(Arc<str>, i32, PartitionHandle)> {
        let Ok(topics) = self.topics.read() else {
            return Vec::new();
        };
        topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, h)| (t.clone(), *p, h.clone())))
            .collect()
    }

    pub fn topic_partitions(&self, topic: &str) -> Vec<(i32, PartitionHandle)> {
        self.topics
            .read()
            .ok()
            .and_then(|t| {
                t.get(topic)
                    .map(|p| p.iter().map(|(i, h)| (*i, h.clone())).collect())
            })
            .unwrap_or_default()
    }
}
