//! What the network edge needs from the rest of the broker: a [`Service`] that parses and
//! answers requests, and a [`NetContext`] of the handles connections use. `net` knows frames,
//! sockets and response writing; what a request means is the service's business.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::task::TaskTracker;

use crate::actor::{ActorRegistry, Arbiters};
use crate::metrics::Metrics;
use crate::net::registry::ConnectionRegistry;
use crate::net::response::Response;
use crate::protocol::api_table::ApiKey;

/// A request's answer: `None` when the client asked for none (Produce with `acks=0`).
pub type ResponseFuture = Pin<Box<dyn Future<Output = Option<Response>>>>;

/// Where a request came from.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub local_addr: SocketAddr,
    pub peer: SocketAddr,
    pub connection_id: u64,
}

/// What a connection logs and counts of a parsed request.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a str>,
}

/// Where a request's partitions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// It names no partition: it neither makes nor breaks a streak.
    Anywhere,
    /// All on this arbiter.
    On(usize),
    /// On several arbiters, or some are unknown.
    Scattered,
}

/// Turns request frames into answers. One value serves every connection.
pub trait Service: Send + Sync + 'static {
    type Request: 'static;
    /// Why a frame cannot be served; the connection that sent it is closed.
    type Refusal: Unservable;

    /// Parses one frame (the bytes after its size prefix).
    fn parse(&self, frame: Bytes) -> Result<Self::Request, Self::Refusal>;

    fn info(request: &Self::Request) -> RequestInfo<'_>;

    /// Where the partitions a request reads or writes live (see `connection.affinity`).
    fn home(&self, request: &Self::Request) -> Home;

    /// Handles the request; the future runs on the connection's arbiter.
    fn handle(&self, peer: Peer, request: Self::Request) -> ResponseFuture;
}

/// Why a frame cannot be served: logged (with the API key and version its header names) when
/// its connection is closed.
pub trait Unservable: Display {
    fn api_key(&self) -> i16;
    fn api_version(&self) -> i16;
}

/// Connection settings, from the broker's config.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// `socket.request.max.bytes`.
    pub max_frame: usize,
    /// `max.inflight.requests.per.connection`, at least 1 (the broker makes it so).
    pub max_inflight: usize,
    /// `connections.max.idle.ms`; 0 for never.
    pub idle_ms: u64,
    /// `connection.affinity`.
    pub affinity: bool,
    /// `max.connections`.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
}

/// The handles the listener and its connections use, and nothing else of the broker.
#[derive(Clone)]
pub struct NetContext {
    pub settings: ConnectionSettings,
    pub connections: Arc<ConnectionRegistry>,
    /// The connection writer tasks; shutdown waits for them to drain.
    pub tasks: TaskTracker,
    pub arbiters: Arbiters,
    pub metrics: Arc<Metrics>,
    pub actors: Arc<ActorRegistry>,
}
