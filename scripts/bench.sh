#!/usr/bin/env bash
#
# sluice's benchmark suite (not part of the tests): builds the release broker and the bench
# example, raises the open-files limit (10,000 idle connections need 10,000 descriptors on each
# side), then runs examples/bench.rs against fresh brokers on temp data directories.
#
#   scripts/bench.sh                      # everything, about a minute after the build
#   scripts/bench.sh --quick              # smoke run, ≈ 15 s
#   scripts/bench.sh --only produce,consume
#   scripts/bench.sh --measure            # the one-off measurements of benches/measure.rs instead
#   scripts/bench.sh --measure commits    # (commits, producer-state; default both)
#
# Environment: SLUICE_BENCH_DIR (where the temp data directories go), SLUICE_BIN (broker
# binary), SLUICE_BENCH_PRODUCER_CONFIG / SLUICE_BENCH_CONSUMER_CONFIG (extra librdkafka settings
# for the throughput rows, key=value,...). See the README's Benchmark section.
set -euo pipefail

cd "$(dirname "$0")/.."

want=12000
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
    ulimit -n "$want"
else
    ulimit -n "$hard"
    echo "bench.sh: open-files hard limit is $hard; the connections row will open fewer than 10,000" >&2
fi

if [ "${1:-}" = --measure ]; then
    shift
    # A bench target (release profile) without the test harness: it starts the release broker
    # the way the integration tests do; cargo builds the broker for it.
    cargo bench --no-run --quiet --bench measure
    exec timeout 600 cargo bench --quiet --bench measure -- "$@"
fi

cargo build --release --quiet --bin sluice --example bench
target_dir=${CARGO_TARGET_DIR:-target}
exec timeout 600 "$target_dir/release/examples/bench" "$@"
