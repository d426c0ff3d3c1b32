#!/bin/sh
#
# CodeCrafters runs this for every stage, with /tmp/server.properties as the argument.
set -e
exec /tmp/codecrafters-build-kafka-rust/release/sluice "$@"
