//! sluice: a Kafka-compatible message broker on the actor model.
//!
//! Stock Kafka clients talk to sluice unchanged; its data directory uses Kafka's own formats (the
//! KRaft metadata log, `{base_offset:020}.log` segments with `.index` / `.timeindex`), so a Kafka
//! 4.x directory opens as is.
//!
//! # Layout
//!
//! Floors from the ground up; a module imports only modules on its own floor or below
//! (`python3 scripts/modgraph.py` prints the graph and any circle).
//!
//! | floor | module | owns |
//! |---|---|---|
//! | ground | [`util`] | the clock, atomic file writes with directory fsync, `.properties` text |
//! | ground | [`error`] | Kafka error codes |
//! | ground | [`protocol`] | the wire codec, generated from Kafka's JSON schemas by `xtask` (`api_table` is the allow-list); [`protocol::records`]: records as bytes or a file range |
//! | ground | [`actor`] | actor plumbing: bounded mailbox sends, the actor registry, per-actor spans, the arbiters |
//! | ground | [`metrics`] | every counter and timer (atomics only) |
//! | ground | [`compression`] | streamed decompression of Kafka's four codecs, for the record checks that look inside a batch |
//! | 1 | [`record`] | the 61-byte record batch header view; records stay opaque bytes |
//! | 1 | [`config`], [`cli`] | settings from the embedded default, `server.properties`, TOML and flags |
//! | 2 | [`storage`] | segments, offset and time indexes, recovery, retention, idempotent-producer state (synchronous, actor-free) |
//! | 3 | [`partition`] | one [`partition::PartitionActor`] per topic-partition, owner of its log; the [`partition::PartitionManager`]: directories, `partition.metadata`, opening, placement on arbiters |
//! | 3 | [`group`] | the group coordinator: one [`group::actor::GroupActor`] per consumer group; committed offsets in `__consumer_offsets-0` |
//! | 3 | [`metadata`] | the [`metadata::MetadataActor`]: the cluster image, topic operations ([`metadata::topics`]), producer-id blocks; `__cluster_metadata-0` on the storage engine |
//! | 3 | [`net`] | the listener, the framing codec, one [`net::connection::ConnectionActor`] per socket, response writing (vectored writes, `sendfile`); it serves any [`net::Service`] |
//! | 4 | [`broker`] | the composition root: builds the parts in order, hands each its narrow handles |
//! | 5 | [`api`] | one file per Kafka API; [`api::KafkaApi`] is the [`net::Service`] and [`api::handle`] the dispatch |
//! | 5 | [`admin`] | the admin HTTP endpoint (`/metrics`, `/actors`, `/health`, `/log-filter`) |
//! | tool | [`dump`] | `sluice dump-log` |
//!
//! # How a request flows
//!
//! ```text
//! socket ─▶ net::FrameDecoder (size prefix, limit checked before allocating)
//!        ─▶ net::ConnectionActor ─▶ Service::parse (api: header + typed body, generated decode)
//!        ─▶ Service::handle = api::handle ── reads the published ClusterImage (no mailbox hop)
//!                       ├─ MetadataActor       topic creation, appended to the KRaft log
//!                       ├─ PartitionActor × n  Append / Read / ListOffset, fanned out at once
//!                       └─ GroupActor / OffsetStore  JoinGroup … OffsetCommit
//!        ─▶ net::Response (records in memory, or file ranges) in ordered slots
//!        ─▶ writer task: vectored writes, file ranges by sendfile
//! ```
//!
//! Actors are spread over one arbiter per core: connections round-robin, partitions by hash.
//! Responses leave in request order even though requests are handled concurrently.

pub mod actor;
pub mod admin;
pub mod api;
pub mod broker;
pub mod cli;
pub mod compression;
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
