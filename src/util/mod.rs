//! Small helpers shared across the crate: the ground floor. Nothing here imports any other module
//! of the crate, so every layer may use it without making an import circle.
//!
//! | module | what |
//! |---|---|
//! | [`clock`] | the wall clock in Unix milliseconds, as Kafka timestamps are |
//! | [`fs`] | durable file replacement (temporary file, fsync, rename, fsync of the directory) |
//! | [`properties`] | Java `.properties` text: `server.properties`, `meta.properties`, `partition.metadata` |

pub mod clock;
pub mod fs;
pub mod properties;
