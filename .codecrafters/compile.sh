#!/bin/sh
#
# CodeCrafters runs this once to compile the broker before the stages start.
set -e
cargo build --release --target-dir=/tmp/codecrafters-build-kafka-rust --manifest-path Cargo.toml --bin sluice
