#!/usr/bin/env bash
# Stable-toolchain fuzzing (tests/it/fuzz.rs): the frame decoder, every request decoder at every
# version, record batches, metadata record values and whole metadata logs.
#
#   scripts/fuzz.sh                      # the short run CI does (fixed seed, ~10 s)
#   SLUICE_FUZZ_ITERS=5000000 SLUICE_FUZZ_SECS=600 SLUICE_FUZZ_SEED=$RANDOM scripts/fuzz.sh
#
# SLUICE_FUZZ_ITERS: random cases per target; SLUICE_FUZZ_SECS: time cap per target;
# SLUICE_FUZZ_SEED: generator seed (printed by each target, so a failure can be replayed).
# Runs in the debug profile on purpose: integer overflow checks are what find most crashes.
# A failure prints the input in hex: add it to the regression tests at the end of tests/it/fuzz.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test it -- fuzz:: --nocapture "$@"
