//! sluice: a Kafka-compatible message broker on the actor model.
//!
//! Stock Kafka clients talk to sluice unchanged; its data directory uses Kafka's own formats (the
//! KRaft metadata log, `{base_offset:020}.log` segments with `.index` / `.timeindex`), so a Kafka
//! 4.x directory opens as is.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`config`], [`cli`] | settings from the embedded default, `server.properties`, TOML and flags |
//! | [`net`] | the listener, the framing codec and one [`net::connection::ConnectionActor`] per socket |
//! | [`protocol`] | the wire codec, generated from Kafka's JSON schemas by `xtask` (`api_table` is the allow-list) |
//! | [`api`] | one file per Kafka API; [`api::handle`] is the single dispatch |
//! | [`broker`] | the shared context handed to every connection |
//! | [`metadata`] | the [`metadata::MetadataActor`]: topics, ids, partitions, producer-id blocks; `__cluster_metadata-0` |
//! | [`partition`] | one [`partition::PartitionActor`] per topic-partition, owner of its directory |
//! | [`group`] | the group coordinator: one [`group::actor::GroupActor`] per consumer group; committed offsets in `__consumer_offsets-0` |
//! | [`storage`] | segments, offset and time indexes, recovery, retention, idempotent-producer state (synchronous, actor-free) |
//! | [`record`] | the 61-byte record batch header view; records stay opaque bytes |
//! | [`error`] | Kafka error codes |
//! | [`util`] | the ground floor, importing nothing of the crate: the clock, atomic file writes, `.properties` text |
//! | [`admin`] | the admin HTTP endpoint (`/metrics`, `/actors`, `/health`, `/log-filter`), actor stats, counters |
//!
//! # How a request flows
//!
//! ```text
//! socket ─▶ FrameDecoder (size prefix, limit checked before allocating)
//!        ─▶ ConnectionActor: header + typed body (generated decode)
//!        ─▶ api::handle ── reads the published ClusterImage (no mailbox hop)
//!                       ├─ MetadataActor       topic creation, appended to the KRaft log
//!                       ├─ PartitionActor × n  Append / Read / ListOffset, fanned out at once
//!                       └─ GroupActor / OffsetStore  JoinGroup … OffsetCommit
//!        ─▶ ordered response slots ─▶ writer task: vectored writes, record bytes by sendfile
//! ```
//!
//! Actors are spread over one arbiter per core: connections round-robin, partitions by hash.
//! Responses leave in request order even though requests are handled concurrently.

pub mod actor;
pub mod admin;
pub mod api;
pub mod broker;
pub mod cli;
pub mod config;
pub mod dump;
pub mod error;
pub mod group;
pub mod metadata;
pub mod metrics;
pub mod net;
pub mod partition;
pub mod protocol;
pub mod record;
pub mod storage;
pub mod util;
