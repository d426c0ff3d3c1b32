//! sluice's integration tests: one test crate (one binary linking librdkafka and the shared
//! helpers once), one module per theme. `cargo test --test it <module>::` runs one theme, e.g.
//! `cargo test --test it kcat::`.

mod common;

mod admin;
mod admin_http;
mod affinity;
mod aiokafka;
mod api_versions;
mod bad_input;
mod codecrafters;
mod confluent_group;
mod describe_topic_partitions;
mod durability;
mod fetch_paths;
mod framing;
mod fuzz;
mod group_consumers;
mod group_python;
mod groups;
mod idempotence;
mod kafka4_clients;
mod kafka_dir;
mod kafkajs;
mod kcat;
mod limits;
mod log_cleaner;
mod metadata_api;
mod metadata_log;
mod offsets_topic;
mod old_versions;
mod python;
mod python_admin;
mod rdkafka_roundtrip;
mod topic_configs;
