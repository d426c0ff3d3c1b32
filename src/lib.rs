//! sluice: a Kafka-compatible message broker on the actor model.

pub mod error;
pub mod record;
pub mod storage;
