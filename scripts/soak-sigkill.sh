#!/usr/bin/env bash
# SIGKILL soak (issue 5): runs the "kill -9 during a synced produce" test N times (default 20)
# and reports how many rounds lost no acknowledged record.
#   scripts/soak-sigkill.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
cargo test --release --test it --no-run --quiet
pass=0
for i in $(seq 1 "$rounds"); do
  if cargo test --release --quiet --test it -- --exact \
      durability::sigkill_during_synced_produce_loses_no_acknowledged_record >/tmp/sluice-soak-$i.log 2>&1; then
    pass=$((pass + 1))
    echo "round $i: ok"
  else
    echo "round $i: FAILED (log: /tmp/sluice-soak-$i.log)"
  fi
done
echo "SIGKILL soak: $pass of $rounds rounds lost no acknowledged record"
[ "$pass" -eq "$rounds" ]
