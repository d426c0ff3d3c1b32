//! Consumer groups: the group coordinator and committed offsets.
//!
//! | piece | owns |
//! |---|---|
//! | [`GroupManager`] (in [`crate::broker::Broker`]) | group id → its actor; empty groups the offsets log knows of, whose actors start on first use ("dormant") |
//! | [`actor::GroupActor`] | one per group, on an arbiter picked by hash, span `group{id}`: the mailbox, parked answers, the timer, persistence |
//! | [`state::Group`] | inside each actor: Kafka's classic rebalance protocol as a synchronous state machine (membership, generation, deadlines) |
//! | [`store::OffsetStore`] | one actor on its own thread: committed offsets in memory, written through the partition actors of `__consumer_offsets` |
//! | [`partitioning`] | Kafka's group → `__consumer_offsets` partition rule |
//! | [`records`] | Kafka's `__consumer_offsets` key/value formats |
//! | [`migration`] | sluice's old one-partition layout → the topic, on startup |
//!
//! Committed offsets are durable: an OffsetCommit is acknowledged after its batch is fsynced
//! (by the partition actor of the group's `__consumer_offsets` partition).
//! A commit is first checked by the group's actor (generation, member), then written by the
//! store. Each completed rebalance also writes the group's metadata record (members, their
//! assignments), unsynced: after a restart the groups come back as they last stood, so live
//! consumers keep their member ids and generation and nothing rebalances; a group whose last
//! record was lost (unclean stop) merely makes its consumers rejoin.
//!
//! When a topic is deleted, [`GroupManager::topic_deleted`] drops every group's offsets for it.

pub mod actor;
pub mod migration;
pub mod partitioning;
pub mod records;
pub mod state;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use tracing::{error, warn};

use crate::actor::{ActorRegistry, ActorStats, Identity};
use crate::config::Config;
use crate::error::ErrorCode;
use actor::{
    DeleteIfEmpty, Describe, GroupActor, GroupDescription, GroupOverview, GroupSettings,
    GroupState, Observed, Overview,
};
use records::GroupMetadataValue;
pub use store::OffsetsTopic;
use store::{
    CloseStore, DeleteGroup, DeleteOffsets, DropTopic, FetchOffsets, OffsetStore, ReplayedTopic,
};

enum Slot {
    Live(GroupHandle),
    /// An empty group known from the offsets log only; its actor starts on first use.
    Dormant(GroupMetadataValue),
}

/// Messages that may be outstanding at once to one group actor, as for partition actors
/// ([`crate::actor::PARTITION_MAILBOX_CAPACITY`]). Joins and syncs that wait for the
/// rest of the group wait outside the mailbox ([`actor::Parked`]), so a slot is only ever held
/// while the actor works on the message.
pub const GROUP_MAILBOX_CAPACITY: usize = 256;

/// A group actor's address with its registry entry: messages go through the bounded, counted
/// send every actor's handle uses.
#[derive(Clone)]
pub struct GroupHandle {
    addr: Addr<GroupActor>,
    stats: Arc<ActorStats>,
}

impl GroupHandle {
    /// Sends `msg` and waits for the actor's answer (see [`ActorStats::send`]).
    pub fn send<M>(&self, msg: M) -> impl Future<Output = Result<M::Result, MailboxError>>
    where
        GroupActor: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.stats.send(&self.addr, msg)
    }

    fn same_actor(&self, other: &GroupHandle) -> bool {
        self.addr == other.addr
    }
}

/// Where the coordinator reports to the broker's observers: the actor registry (`/actors`,
/// `/metrics`) and the `sluice_groups` / `sluice_group_members` gauges.
#[derive(Clone, Default)]
pub struct GroupObservers {
    pub registry: Arc<ActorRegistry>,
    /// Groups the coordinator holds, live or dormant.
    pub groups: Arc<AtomicI64>,
    /// Members over all groups.
    pub members: Arc<AtomicI64>,
}

/// The coordinator's registry: routes each group id to its [`GroupActor`], starting it on
/// demand, and owns the address of the [`OffsetStore`].
pub struct GroupManager {
    slots: Mutex<HashMap<String, Slot>>,
    store: Addr<OffsetStore>,
    arbiters: Vec<ArbiterHandle>,
    settings: Arc<GroupSettings>,
    observers: GroupObservers,
}

impl GroupManager {
    /// Migrates sluice's old offsets layout if `migrate` names its directories, replays
    /// `__consumer_offsets` (synchronously: the broker answers nothing before this is done;
    /// `partitions` is its partition count, `None` while the topic does not exist) and starts
    /// the store on a thread of its own. Runs before the partition actors start: the logs the
    /// replay opened are returned, for their partition actors to adopt. Must run inside an
    /// actix `System`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        config: &Config,
        log_dir: &Path,
        arbiters: Vec<ArbiterHandle>,
        topic_exists: impl Fn(&str) -> bool,
        topic: OffsetsTopic,
        partitions: Option<i32>,
        migrate: &[std::path::PathBuf],
        kafka_state: &crate::partition::files::KafkaRootState,
        observers: GroupObservers,
    ) -> (GroupManager, Vec<(i32, crate::storage::PartitionLog)>) {
        let segment_bytes = u64::try_from(config.offsets_topic_segment_bytes).unwrap_or(1 << 20);
        let replayed = match partitions {
            Some(n) => {
                if !migrate.is_empty() {
                    if let Err(e) = migration::migrate(log_dir, migrate, n, segment_bytes) {
                        error!(error = %e, "migrating the old offsets layout failed: it stays in place and is retried on the next start");
                    }
                }
                store::recover_topic(log_dir, n, kafka_state, segment_bytes, &topic_exists)
            }
            None => ReplayedTopic::default(),
        };
        let ReplayedTopic { state, logs } = replayed;
        let known = state.known_groups();
        let store_thread = Arbiter::new();
        let store = OffsetStore::start_in_arbiter(&store_thread.handle(), move |_| {
            OffsetStore::new(topic, state)
        });
        let clamp = |ms: u64| i32::try_from(ms).unwrap_or(i32::MAX);
        let manager = GroupManager {
            slots: Mutex::new(HashMap::new()),
            store,
            arbiters,
            settings: Arc::new(GroupSettings {
                initial_rebalance_delay: Duration::from_millis(
                    config.group_initial_rebalance_delay_ms,
                ),
                min_session_timeout_ms: clamp(config.group_min_session_timeout_ms),
                max_session_timeout_ms: clamp(config.group_max_session_timeout_ms),
            }),
            observers,
        };
        {
            // Groups that had members start now, so that their sessions run (and expire if
            // the consumers are gone); the others wait for their first request.
            let mut slots = manager.slots();
            for (id, record) in known {
                let slot = if record.members.is_empty() {
                    Slot::Dormant(record)
                } else {
                    Slot::Live(manager.spawn(&id, Some(record)))
                };
                slots.insert(id, slot);
            }
            manager.count_groups(&slots);
        }
        (manager, logs)
    }

    /// The coordinator settings (session timeout bounds, initial rebalance delay).
    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the number of groups; called with the slots locked after each change.
    fn count_groups(&self, slots: &HashMap<String, Slot>) {
        self.observers
            .groups
            .store(slots.len() as i64, Ordering::Relaxed);
    }

    fn spawn(&self, id: &str, record: Option<GroupMetadataValue>) -> GroupHandle {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        let settings = self.settings.clone();
        let store = self.store.clone();
        let group_id = id.to_string();
        let stats = self.observers.registry.register(
            Identity::Group { id: id.to_string() },
            GROUP_MAILBOX_CAPACITY,
        );
        let observed = Observed {
            stats: stats.clone(),
            members: self.observers.members.clone(),
        };
        let make = move |_: &mut Context<GroupActor>| {
            GroupActor::new(group_id, settings, store, record, observed)
        };
        let addr = match self
            .arbiters
            .get((h % self.arbiters.len().max(1) as u64) as usize)
        {
            Some(arbiter) => GroupActor::start_in_arbiter(arbiter, make),
            None => GroupActor::create(make),
        };
        GroupHandle { addr, stats }
    }

    /// The group's actor, if the group exists (a dormant group's actor starts here).
    pub fn group(&self, id: &str) -> Option<GroupHandle> {
        let mut slots = self.slots();
        let slot = slots.get_mut(id)?;
        match slot {
            Slot::Live(addr) => Some(addr.clone()),
            Slot::Dormant(record) => {
                let addr = self.spawn(id, Some(record.clone()));
                *slot = Slot::Live(addr.clone());
                Some(addr)
            }
        }
    }

    /// The group's actor, creating an empty group if there is none.
    pub fn group_or_create(&self, id: &str) -> GroupHandle {
        if let Some(addr) = self.group(id) {
            return addr;
        }
        let mut slots = self.slots();
        if let Some(Slot::Live(addr)) = slots.get(id) {
            return addr.clone();
        }
        let addr = self.spawn(id, None);
        slots.insert(id.to_string(), Slot::Live(addr.clone()));
        self.count_groups(&slots);
        addr
    }

    /// The actor owning committed offsets.
    pub fn store(&self) -> &Addr<OffsetStore> {
        &self.store
    }

    /// Every group with its state, for ListGroups.
    pub async fn list(&self) -> Vec<GroupOverview> {
        let (live, mut out): (Vec<_>, Vec<_>) = {
            let slots = self.slots();
            let mut live = Vec::new();
            let mut dormant = Vec::new();
            for (id, slot) in slots.iter() {
                match slot {
                    Slot::Live(addr) => live.push(addr.clone()),
                    Slot::Dormant(r) => dormant.push(GroupOverview {
                        group_id: id.clone(),
                        protocol_type: r.protocol_type.clone(),
                        state: GroupState::Empty,
                    }),
                }
            }
            (live, dormant)
        };
        let answers = join_all(live.iter().map(|a| a.send(Overview))).await;
        out.extend(
            answers
                .into_iter()
                .flatten()
                .filter(|o| o.state != GroupState::Dead),
        );
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups' view; `None` for a group that does not exist.
    pub async fn describe(&self, id: &str) -> Option<GroupDescription> {
        let addr = {
            let slots = self.slots();
            match slots.get(id)? {
                Slot::Live(addr) => addr.clone(),
                Slot::Dormant(r) => {
                    return Some(GroupDescription {
                        state: GroupState::Empty,
                        protocol_type: r.protocol_type.clone(),
                        protocol_data: String::new(),
                        members: Vec::new(),
                    })
                }
            }
        };
        addr.send(Describe).await.ok()
    }

    /// DeleteGroups for one group: only an Empty group goes (its offsets with it).
    pub async fn delete(&self, id: &str) -> ErrorCode {
        let live = {
            let slots = self.slots();
            match slots.get(id) {
                None => return ErrorCode::GroupIdNotFound,
                Some(Slot::Live(addr)) => Some(addr.clone()),
                Some(Slot::Dormant(_)) => None,
            }
        };
        if let Some(addr) = &live {
            match addr.send(DeleteIfEmpty).await {
                Ok(Ok(())) => {}
                Ok(Err(code)) => return code,
                Err(_) => return ErrorCode::GroupIdNotFound,
            }
        }
        {
            // Forget the group unless a new one was created under the same id meanwhile.
            let mut slots = self.slots();
            let same = match (slots.get(id), &live) {
                (Some(Slot::Live(a)), Some(b)) => a.same_actor(b),
                (Some(Slot::Dormant(_)), None) => true,
                _ => false,
            };
            if same {
                slots.remove(id);
                self.count_groups(&slots);
            }
        }
        match self.store.send(DeleteGroup { group: id.into() }).await {
            Ok(Ok(())) => ErrorCode::None,
            Ok(Err(code)) => code,
            Err(_) => ErrorCode::CoordinatorNotAvailable,
        }
    }

    /// OffsetDelete (KIP-496): the group's committed offsets for `partitions` go, except where
    /// the group is consuming the topic. `Err` is the group's error: GROUP_ID_NOT_FOUND (no such
    /// group, or a dead one), NON_EMPTY_GROUP (members, and a protocol other than `consumer`,
    /// whose subscriptions cannot be read). `Ok` gives each partition's error, in order:
    /// GROUP_SUBSCRIBED_TO_TOPIC where a member subscribes to its topic (or, as Kafka, any topic
    /// while the members' subscriptions are not settled).
    pub async fn delete_offsets(
        &self,
        id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let slot = match self.slots().get(id) {
            Some(Slot::Live(addr)) => Some(Some(addr.clone())),
            Some(Slot::Dormant(_)) => Some(None),
            None => None,
        };
        let live = match slot {
            Some(live) => live,
            None => {
                // A group that only ever committed offsets (no member joined) has no slot.
                let stored = self.store.send(FetchOffsets {
                    group: id.into(),
                    topics: None,
                });
                match stored.await {
                    Ok(topics) if !topics.is_empty() => None,
                    Ok(_) => return Err(ErrorCode::GroupIdNotFound),
                    Err(_) => return Err(ErrorCode::CoordinatorNotAvailable),
                }
            }
        };
        let mut subscribed: Option<Vec<String>> = Some(Vec::new());
        if let Some(addr) = live {
            let described = addr
                .send(Describe)
                .await
                .map_err(|_| ErrorCode::GroupIdNotFound)?;
            if described.state == GroupState::Dead {
                return Err(ErrorCode::GroupIdNotFound);
            }
            if !described.members.is_empty() {
                if described.protocol_type != "consumer" {
                    return Err(ErrorCode::NonEmptyGroup);
                }
                subscribed = described
                    .members
                    .iter()
                    .map(|m| subscribed_topics(&m.metadata))
                    .collect::<Option<Vec<Vec<String>>>>()
                    .map(|all| all.concat());
            }
        }
        let is_subscribed = |topic: &str| {
            subscribed
                .as_ref()
                .is_none_or(|s| s.iter().any(|t| t == topic))
        };
        let codes: Vec<ErrorCode> = partitions
            .iter()
            .map(|(topic, _)| {
                if is_subscribed(topic) {
                    ErrorCode::GroupSubscribedToTopic
                } else {
                    ErrorCode::None
                }
            })
            .collect();
        let deletable: Vec<(String, i32)> = partitions
            .iter()
            .zip(&codes)
            .filter(|(_, code)| **code == ErrorCode::None)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !deletable.is_empty() {
            let deleted = self.store.send(DeleteOffsets {
                group: id.into(),
                partitions: deletable,
            });
            match deleted.await {
                Ok(Ok(())) => {}
                Ok(Err(code)) => return Err(code),
                Err(_) => return Err(ErrorCode::CoordinatorNotAvailable),
            }
        }
        Ok(codes)
    }

    /// To be called when a topic is deleted: every group's committed offsets for it are
    /// dropped (tombstones in the offsets log). Returns at once; the store applies it in order
    /// with the commits it receives.
    pub fn topic_deleted(&self, topic: &str) {
        self.store.do_send(DropTopic {
            topic: topic.to_string(),
        });
    }

    /// Closes the offsets log cleanly, waiting at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        if tokio::time::timeout(grace, self.store.send(CloseStore))
            .await
            .is_err()
        {
            warn!("the offsets log did not close in time");
        }
    }
}

/// The topics of a `consumer` protocol member's subscription (Kafka's
/// ConsumerProtocolSubscription: int16 version, then an array of int16-length topic names,
/// the same prefix in every version); `None` when there is none or it does not parse.
fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut rest = metadata;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        Some(head)
    };
    let _version = take(2)?;
    let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut topics = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let name = take(usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
    }
    Some(topics)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_consumer_subscription_gives_its_topics() {
        // Laid out from ConsumerProtocolSubscription v1: version, topics ["ab", "c"], then
        // user data (null) — the fields after the topics are not read.
        let mut v: Vec<u8> = vec![0, 1, 0, 0, 0, 2, 0, 2, b'a', b'b', 0, 1, b'c'];
        v.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            super::subscribed_topics(&v),
            Some(vec!["ab".to_string(), "c".to_string()])
        );
        assert_eq!(super::subscribed_topics(&[]), None);
        assert_eq!(super::subscribed_topics(&[0, 0, 0, 0, 0, 3, 0, 1]), None);
        assert_eq!(
            super::subscribed_topics(&[0, 0, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
