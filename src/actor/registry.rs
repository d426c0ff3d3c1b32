//! What every live actor exposes for inspection, and the registry `/actors` and `/metrics` read.
//!
//! Each actor owns an `Arc<ActorStats>`; the registry keeps only `Weak` references, so an actor
//! that stops drops out of the listing by itself. Everything an actor updates on its hot path is
//! an atomic: no lock is taken per message or per request. The registry's lock is taken when an
//! actor starts and when someone inspects.
//!
//! # What "mailbox depth" means
//!
//! actix does not expose the length of a mailbox, so we count ourselves:
//!
//! - partition and metadata actors: messages sent through [`ActorStats::send`] (the handle's
//!   `send`) and not answered yet — those waiting in the mailbox plus the one being handled. It
//!   never exceeds the actor's mailbox capacity ([`PARTITION_MAILBOX_CAPACITY`],
//!   [`METADATA_MAILBOX_CAPACITY`]): a sender past that waits for a slot.
//! - connections: requests read from the socket and not yet answered (at most
//!   `max.inflight.requests.per.connection`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};
use tokio::sync::Semaphore;

use crate::util::clock::now_ms;

/// Messages that may be outstanding at once to one partition actor (see the module docs).
pub const PARTITION_MAILBOX_CAPACITY: usize = 256;
/// Messages that may be outstanding at once to the metadata actor.
pub const METADATA_MAILBOX_CAPACITY: usize = 64;

/// Who an actor is.
#[derive(Debug)]
pub enum Identity {
    Connection {
        id: u64,
        peer: SocketAddr,
        /// Set from the first request header that carries one.
        client_id: OnceLock<String>,
    },
    Partition {
        topic: Arc<str>,
        partition: i32,
        log: PartitionGauges,
    },
    Metadata,
    /// A consumer group coordinator (registered by the group actor).
    Group {
        id: String,
    },
}

impl Identity {
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Connection { .. } => "connection",
            Identity::Partition { .. } => "partition",
            Identity::Metadata => "metadata",
            Identity::Group { .. } => "group",
        }
    }

    /// A stable, human-readable name, also used as the `actor` label in `/metrics`.
    pub fn name(&self) -> String {
        match self {
            Identity::Connection { id, .. } => format!("connection-{id}"),
            Identity::Partition {
                topic, partition, ..
            } => format!("{topic}-{partition}"),
            Identity::Metadata => "metadata".to_owned(),
            Identity::Group { id } => id.clone(),
        }
    }
}

/// A partition's log, as last published by its actor.
#[derive(Debug, Default)]
pub struct PartitionGauges {
    pub log_start_offset: AtomicI64,
    pub high_watermark: AtomicI64,
    pub log_end_offset: AtomicI64,
    pub size_bytes: AtomicU64,
    pub segments: AtomicU64,
}

/// Counters of one actor.
#[derive(Debug)]
pub struct ActorStats {
    pub identity: Identity,
    /// See the module docs for what it counts per kind.
    depth: AtomicI64,
    handled: AtomicU64,
    /// Unix milliseconds of the last message handled (or of the start).
    last_activity_ms: AtomicI64,
    /// Bounds the messages outstanding through [`ActorStats::send`].
    mailbox: Semaphore,
}

impl ActorStats {
    fn new(identity: Identity, capacity: usize) -> ActorStats {
        ActorStats {
            identity,
            depth: AtomicI64::new(0),
            handled: AtomicU64::new(0),
            last_activity_ms: AtomicI64::new(now_ms()),
            mailbox: Semaphore::new(capacity.max(1)),
        }
    }

    pub fn depth(&self) -> i64 {
        self.depth.load(Ordering::Relaxed)
    }

    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    pub fn last_activity_ms(&self) -> i64 {
        self.last_activity_ms.load(Ordering::Relaxed)
    }

    /// One more message (request) waiting or in progress.
    pub fn enqueued(&self) {
        self.depth.fetch_add(1, Ordering::Relaxed);
    }

    /// A message (request) left the queue without being handled.
    pub fn dequeued(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }

    /// A message (request) was handled.
    pub fn handled_one(&self) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        self.last_activity_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Sends `msg` to `addr` and waits for the answer, counting it in this actor's mailbox depth
    /// and messages handled. Waits first for a mailbox slot when the actor already has its
    /// capacity outstanding, so a burst of senders queues here rather than in the actor.
    ///
    /// (actix's own mailbox capacity does not bound `Addr::send`: a fresh sender always gets its
    /// first message in, and every request clones the address.)
    pub fn send<A, M>(
        self: &Arc<Self>,
        addr: &Addr<A>,
        msg: M,
    ) -> impl Future<Output = Result<M::Result, MailboxError>> + 'static
    where
        A: Actor + Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let stats = self.clone();
        let addr = addr.clone();
        async move {
            // The semaphore is never closed, so acquiring only fails if that changes; then the
            // message goes unbounded rather than being lost.
            let _slot = stats.mailbox.acquire().await.ok();
            stats.enqueued();
            let _pending = Pending(&stats);
            let answer = addr.send(msg).await;
            if answer.is_ok() {
                stats.handled_one();
            }
            answer
        }
    }

    /// The partition gauges, for a partition actor.
    pub fn partition_gauges(&self) -> Option<&PartitionGauges> {
        match &self.identity {
            Identity::Partition { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// Takes a message off the depth count however the send ends (answered, failed, cancelled).
struct Pending<'a>(&'a ActorStats);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.dequeued();
    }
}

/// Every live actor's stats.
#[derive(Default)]
pub struct ActorRegistry {
    inner: Mutex<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    next_id: u64,
    actors: HashMap<u64, Weak<ActorStats>>,
    /// Dead entries are swept when the map reaches this size, so churn (connections coming and
    /// going with nobody inspecting) cannot grow it without bound.
    sweep_at: usize,
}

impl ActorRegistry {
    /// Registers an actor; the returned `Arc` is the actor's to keep (and to drop when it stops).
    pub fn register(&self, identity: Identity, mailbox_capacity: usize) -> Arc<ActorStats> {
        let stats = Arc::new(ActorStats::new(identity, mailbox_capacity));
        if let Ok(mut inner) = self.inner.lock() {
            if inner.actors.len() >= inner.sweep_at {
                inner.actors.retain(|_, w| w.strong_count() > 0);
                inner.sweep_at = (inner.actors.len() * 2).max(64);
            }
            let id = inner.next_id;
            inner.next_id += 1;
            inner.actors.insert(id, Arc::downgrade(&stats));
        }
        stats
    }

    /// The live actors, in registration order.
    pub fn live(&self) -> Vec<Arc<ActorStats>> {
        let Ok(mut inner) = self.inner.lock() else {
            return Vec::new();
        };
        inner.actors.retain(|_, w| w.strong_count() > 0);
        let mut live: Vec<(u64, Arc<ActorStats>)> = inner
            .actors
            .iter()
            .filter_map(|(id, w)| w.upgrade().map(|s| (*id, s)))
            .collect();
        drop(inner);
        live.sort_by_key(|(id, _)| *id);
        live.into_iter().map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::prelude::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Holds every message until the test opens the gate.
    struct Gated {
        gate: Arc<Semaphore>,
        received: Arc<AtomicUsize>,
    }

    impl Actor for Gated {
        type Context = Context<Self>;
    }

    #[derive(actix::Message)]
    #[rtype(result = "()")]
    struct Hold;

    impl Handler<Hold> for Gated {
        type Result = ResponseFuture<()>;

        fn handle(&mut self, _: Hold, _: &mut Context<Self>) -> Self::Result {
            self.received.fetch_add(1, Ordering::SeqCst);
            let gate = self.gate.clone();
            Box::pin(async move {
                if let Ok(p) = gate.acquire().await {
                    p.forget();
                }
            })
        }
    }

    #[test]
    fn send_bounds_outstanding_messages_and_counts_them() {
        actix::System::new().block_on(async {
            let gate = Arc::new(Semaphore::new(0));
            let received = Arc::new(AtomicUsize::new(0));
            let addr = Gated {
                gate: gate.clone(),
                received: received.clone(),
            }
            .start();
            let registry = ActorRegistry::default();
            let stats = registry.register(Identity::Metadata, 3);
            let sends: Vec<_> = (0..10)
                .map(|_| actix::spawn(stats.send(&addr, Hold)))
                .collect();
            for _ in 0..1000 {
                if received.load(Ordering::SeqCst) >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(received.load(Ordering::SeqCst), 3, "only capacity gets in");
            assert_eq!(stats.depth(), 3);
            assert_eq!(stats.handled(), 0);
            gate.add_permits(10);
            for s in sends {
                assert!(matches!(s.await, Ok(Ok(()))));
            }
            assert_eq!(received.load(Ordering::SeqCst), 10);
            assert_eq!(stats.depth(), 0);
            assert_eq!(stats.handled(), 10);
        });
    }

    #[test]
    fn registry_forgets_dropped_actors_and_sweeps_churn() {
        let registry = ActorRegistry::default();
        let kept = registry.register(Identity::Metadata, 1);
        for id in 0..1000 {
            let s = registry.register(
                Identity::Group {
                    id: format!("g{id}"),
                },
                1,
            );
            drop(s);
        }
        let size = registry.inner.lock().map(|i| i.actors.len()).unwrap_or(0);
        assert!(size <= 130, "dead entries swept: {size}");
        let live = registry.live();
        assert_eq!(live.len(), 1);
        assert!(Arc::ptr_eq(&live[0], &kept));
    }
}
