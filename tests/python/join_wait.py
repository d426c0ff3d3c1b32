"""How long one kafka-python poll() waits when a second member joins a stable group.

A first consumer of a fresh group polls until it owns every partition; a second consumer of the
group, polled from the same thread, then calls poll(timeout_ms=100) once. The coordinator holds
the second's JoinGroup until every member has rejoined or the rebalance timeout passes (both
members send max.poll.interval.ms, --rebalance-timeout-ms, as theirs); the first, not polled,
rejoins never, and its heartbeat thread sends LeaveGroup once that interval has passed since its
last poll, which completes the join. kafka-python 2.0.2 waits inside that poll() all along;
newer releases return after the poll timeout and finish joining in later polls.

    python tests/python/join_wait.py --bootstrap 127.0.0.1:9092 --topic t

Prints one JSON object: {"version", "waited_s", "first", "second"} (the partitions each member
owns afterwards).
"""

import argparse
import json
import time

import kafka
from kafka import KafkaConsumer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--rebalance-timeout-ms", type=int, default=3000)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()

    def member(name):
        return KafkaConsumer(args.topic, bootstrap_servers=args.bootstrap,
                             group_id=f"{args.topic}-join-wait", client_id=name,
                             enable_auto_commit=False, session_timeout_ms=30000,
                             heartbeat_interval_ms=300,
                             max_poll_interval_ms=args.rebalance_timeout_ms)

    first, second = member("first"), member("second")
    deadline = time.monotonic() + args.timeout
    while not first.assignment():
        if time.monotonic() > deadline:
            raise SystemExit("the first member was never assigned")
        first.poll(timeout_ms=100)
    started = time.monotonic()
    second.poll(timeout_ms=100)
    waited = time.monotonic() - started
    result = {
        "version": kafka.__version__,
        "waited_s": round(waited, 2),
        "first": sorted(tp.partition for tp in first.assignment()),
        "second": sorted(tp.partition for tp in second.assignment()),
    }
    first.close()
    second.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
