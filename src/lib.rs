//! sluice: a Kafka-compatible message broker on the actor model.

pub mod cli;
pub mod config;
pub mod error;
pub mod protocol;
pub mod record;
pub mod storage;
