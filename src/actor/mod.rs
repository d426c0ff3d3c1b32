//! The actor plumbing every actor uses, on the ground floor of the crate: the registry of live
//! actors with their counters and bounded mailbox send ([`registry`]), spans that follow the
//! tracing filter ([`span`]), the worker threads actors are placed on ([`arbiters`]), and values published to readers without a lock ([`published`]).
//! Nothing here knows what any actor does.

pub mod arbiters;
pub mod published;
pub mod registry;
pub mod span;

pub use arbiters::Arbiters;
pub use published::Published;
pub use registry::*;
pub use span::ActorSpan;
