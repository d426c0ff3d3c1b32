#!/usr/bin/env bash
# Load and soak (issue 8): a release broker on a temp dir, 1,000 concurrent producing
# connections and 100 consumers for 60 s, then a check that no acknowledged record was lost or
# duplicated; prints peak RSS and produce latency percentiles. Bounded: the run is killed
# after its duration plus 5 minutes.
#
#   scripts/soak.sh                                  # defaults: 60 s, 1000 producers, 100 consumers
#   scripts/soak.sh --duration 20 --producers 200    # any examples/soak.rs flag (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."

# Every connection is a file descriptor on both sides: raise the soft limit if it is low.
want=8192
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
    ulimit -n "$want"
  else
    ulimit -n "$hard"
  fi
fi
echo "soak: open-files limit $(ulimit -n)"

duration=60
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = --duration ] && [ $((i + 1)) -lt ${#args[@]} ]; then
    duration=${args[$((i + 1))]}
  fi
done

cargo build --release --quiet --bin sluice --example soak
target_dir=${CARGO_TARGET_DIR:-target}
timeout --signal=TERM --kill-after=10 $((duration + 300)) \
  "$target_dir/release/examples/soak" --bin "$target_dir/release/sluice" "$@"
