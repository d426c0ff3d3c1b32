//! The network edge: framing, connection actors and the listener.

pub mod connection;
pub mod frame;
pub mod server;
