//! Broker-wide counters and timers, on the ground floor: every layer that counts something
//! writes here, and the HTTP face ([`crate::admin::metrics`]) renders them.
//!
//! The hot path only touches atomics laid out once at startup: a request is recorded with an
//! index lookup and a few `fetch_add`s — no lock, no allocation, no label hashing.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::api_table::{self, ApiKey};

/// Upper bounds of the latency histogram buckets, in microseconds (+Inf is implicit).
pub(crate) const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Counters of one API version.
#[derive(Default)]
pub(crate) struct RequestStats {
    pub(crate) count: AtomicU64,
    pub(crate) sum_us: AtomicU64,
    /// Per bucket (not cumulative); the last one is +Inf.
    pub(crate) buckets: [AtomicU64; BUCKETS_US.len() + 1],
}

pub(crate) struct ApiStats {
    pub(crate) key: ApiKey,
    /// Indexed by version, 0..=the highest version we decode.
    pub(crate) versions: Box<[RequestStats]>,
}

/// Why a connection was refused at accept time.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    MaxConnections,
    MaxConnectionsPerIp,
}

/// The broker-wide counters; one instance, shared by `Arc`.
pub struct Metrics {
    /// One entry per [`ApiKey::ALL`], in the same (key) order.
    pub(crate) apis: Box<[ApiStats]>,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub connections_accepted: AtomicU64,
    /// Connections moved to the arbiter of the partitions they use (`connection.affinity`).
    pub connections_moved: AtomicU64,
    pub(crate) refused_max: AtomicU64,
    pub(crate) refused_per_ip: AtomicU64,
    /// Requests read and not yet answered, over all connections.
    pub requests_inflight: AtomicI64,
    /// Consumer groups the group coordinator holds (it keeps a clone and updates it).
    pub groups: Arc<AtomicI64>,
    /// Members over all groups (each group actor adds its own count).
    pub group_members: Arc<AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let apis = ApiKey::ALL
            .iter()
            .map(|&key| {
                let max = api_table::support(key).decode_max.max(0) as usize;
                ApiStats {
                    key,
                    versions: (0..=max).map(|_| RequestStats::default()).collect(),
                }
            })
            .collect();
        Metrics {
            apis,
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_moved: AtomicU64::new(0),
            refused_max: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            requests_inflight: AtomicI64::new(0),
            groups: Arc::default(),
            group_members: Arc::default(),
        }
    }

    /// Records one answered request. Versions we do not decode are not recorded.
    pub fn record_request(&self, key: ApiKey, version: i16, took: Duration) {
        let Ok(i) = self
            .apis
            .binary_search_by_key(&key.as_i16(), |a| a.key.as_i16())
        else {
            return;
        };
        let Some(stats) = usize::try_from(version)
            .ok()
            .and_then(|v| self.apis[i].versions.get(v))
        else {
            return;
        };
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_US.partition_point(|&bound| bound < us);
        stats.count.fetch_add(1, Ordering::Relaxed);
        stats.sum_us.fetch_add(us, Ordering::Relaxed);
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, why: Refusal) {
        match why {
            Refusal::MaxConnections => &self.refused_max,
            Refusal::MaxConnectionsPerIp => &self.refused_per_ip,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// Time spent in `sendfile` calls for Fetch record bytes, all connections together, since start
/// (exposed in `/metrics`: the kernel's TCP send path, which over loopback also runs the
/// receiving socket's protocol processing).
static SENDFILE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Adds one `sendfile` call's duration to [`sendfile_time`].
pub fn record_sendfile(took: Duration) {
    let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    SENDFILE_NANOS.fetch_add(nanos, Ordering::Relaxed);
}

/// How long Fetch responses have spent in `sendfile` so far.
pub fn sendfile_time() -> Duration {
    Duration::from_nanos(SENDFILE_NANOS.load(Ordering::Relaxed))
}
