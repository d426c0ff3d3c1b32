#!/bin/sh
#
# Builds sluice in release mode and runs it with the given arguments, as CodeCrafters does:
#   ./your_program.sh /tmp/server.properties
#
# The target directory lives outside the repository so builds survive a fresh checkout.
set -e
(
  cd "$(dirname "$0")"
  cargo build --quiet --release --target-dir=/tmp/sluice-target --manifest-path Cargo.toml --bin sluice
)
exec /tmp/sluice-target/release/sluice "$@"
