//! The network edge: the listener, the framing codec, one connection actor per socket, and
//! response writing (vectored writes, `sendfile`). It serves any [`service::Service`]; what
//! requests mean (metadata, partitions, groups) is not its business.

pub mod connection;
pub mod frame;
pub mod registry;
pub mod response;
pub mod server;
pub mod service;

pub use response::Response;
pub use service::{NetContext, Peer, ResponseFuture, Service};
