//! The actor plumbing every actor uses, on the ground floor of the crate: the registry of live
//! actors with their counters and bounded mailbox send ([`registry`]), spans that follow the
//! tracing filter ([`span`]) and the worker threads actors are placed on ([`arbiters`]).
//! Nothing here knows what any actor does.

pub mod arbiters;
pub mod registry;
pub mod span;

pub use arbiters::Arbiters;
pub use registry::*;
pub use span::ActorSpan;
