#!/bin/sh
#
# Builds sluice in release mode and runs it with the given arguments, as CodeCrafters does:
#   ./your_program.sh /tmp/server.properties
#
# The target directory is the one .codecrafters/compile.sh builds into, so CodeCrafters' run
# step finds the broker already compiled instead of building it again inside its start-up limit.
set -e
(
  cd "$(dirname "$0")"
  cargo build --quiet --release --target-dir=/tmp/codecrafters-build-kafka-rust --manifest-path Cargo.toml --bin sluice
)
exec /tmp/codecrafters-build-kafka-rust/release/sluice "$@"
