//! Kafka wire protocol: the hand-written runtime ([`wire`]) and the codec
//! generated from the Apache Kafka message schemas ([`messages`],
//! [`api_table`]). Regenerate with `cargo run -p xtask -- codegen`.

pub mod api_table;
pub mod messages;
pub mod wire;

#[cfg(test)]
mod golden_tests;
