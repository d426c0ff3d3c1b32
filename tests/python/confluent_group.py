"""confluent-kafka (librdkafka) group consumers against a running sluice broker.

Subcommands (every wait is bounded by --timeout seconds; each exits 0 and prints a line starting
with "confluent-kafka ... ok" when every check passed, and raises SystemExit with a reason
otherwise):

  share    The admin client creates TOPIC with --partitions partitions; an idempotent producer
           writes --count keyed records; two consumers of one group (auto.offset.reset=earliest,
           manual commits, committing on revocation) split the partitions and read every record
           exactly once between them; both commit and leave. A third consumer of the group sees
           the committed offsets at the end of each partition, receives none of the old records,
           and then receives exactly the --more records produced after it joined.

  commit-part  (before a broker restart) An idempotent producer writes --count keyed records to
           the existing TOPIC; a group consumer reads --part of them one at a time, commits them
           synchronously and closes. The records read and the offsets committed go to --state.

  resume   (after the restart) A consumer of the same group finds the committed offsets of
           --state, reads the remaining records: none of the committed ones again, none lost.

    python tests/python/confluent_group.py share --bootstrap 127.0.0.1:9092 --topic t
"""

import argparse
import json
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce(bootstrap, topic, ids, timeout):
    """Idempotent producer; keyed records `key-<i>` / `value-<i>`. Returns {value: (p, offset)}."""
    delivered, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[msg.value().decode()] = (msg.partition(), msg.offset())

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(timeout * 1000),
    })
    for i in ids:
        while True:
            try:
                producer.produce(topic, key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                                 headers=[("seq", str(i).encode())], on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(timeout)
    if left or errors or len(delivered) != len(ids):
        raise SystemExit(f"produce: {len(delivered)} of {len(ids)} delivered, {left} left, "
                         f"errors {errors[:3]}")
    places = list(delivered.values())
    if len(set(places)) != len(places):
        raise SystemExit("produce: two records acknowledged at the same offset")
    return delivered


def consumer(bootstrap, group, client_id, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 30000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(conf)


def commit_now(c):
    """Synchronous commit of the consumed positions; None when there was nothing to commit."""
    try:
        result = c.commit(asynchronous=False)
    except KafkaException as e:
        if e.args[0].code() == KafkaError._NO_OFFSET:
            return None
        raise
    bad = [tp for tp in result if tp.error is not None]
    if bad:
        raise SystemExit(f"commit failed: {bad}")
    return {tp.partition: tp.offset for tp in result}


class Member:
    """A subscribed consumer that records what it was given and commits before giving it back."""

    def __init__(self, bootstrap, topic, group, name):
        self.name = name
        self.assigned = set()
        self.seen = []  # (value, partition, offset)
        self.c = consumer(bootstrap, group, name)
        self.c.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, c, partitions):
        self.assigned = {tp.partition for tp in partitions}

    def _revoked(self, c, partitions):
        commit_now(c)
        self.assigned = set()

    def poll(self, timeout=0.1):
        msg = self.c.poll(timeout)
        if msg is None:
            return None
        if msg.error():
            raise KafkaException(msg.error())
        self.seen.append((msg.value().decode(), msg.partition(), msg.offset()))
        return msg


def high_watermarks(c, topic, partitions):
    return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)}


def committed(c, topic, partitions):
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    for tp in tps:
        if tp.error is not None:
            raise SystemExit(f"OffsetFetch: {tp}")
    return {tp.partition: tp.offset for tp in tps}


def create_topic(bootstrap, topic, partitions, timeout):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                            replication_factor=1)], operation_timeout=timeout)
    futures[topic].result(timeout=timeout)
    listed = admin.list_topics(topic, timeout=timeout).topics[topic]
    if listed.error is not None or sorted(listed.partitions) != list(range(partitions)):
        raise SystemExit(f"created topic lists as {listed.error} {sorted(listed.partitions)}")


def share(args):
    deadline = time.monotonic() + args.timeout
    create_topic(args.bootstrap, args.topic, args.partitions, args.timeout)
    ids = list(range(args.count))
    sent = produce(args.bootstrap, args.topic, ids, args.timeout)
    used = {p for p, _ in sent.values()}
    if used != set(range(args.partitions)):
        raise SystemExit(f"the keys landed in partitions {sorted(used)} only")

    group = f"{args.topic}-group"
    a = Member(args.bootstrap, args.topic, group, "cf-a")
    b = Member(args.bootstrap, args.topic, group, "cf-b")
    while len(a.seen) + len(b.seen) < len(sent) and time.monotonic() < deadline:
        a.poll()
        b.poll()
    # Both keep polling until the split is final (a late rebalance would show here).
    while time.monotonic() < deadline and not (
            a.assigned and b.assigned and not (a.assigned & b.assigned)
            and a.assigned | b.assigned == set(range(args.partitions))):
        a.poll()
        b.poll()
    split = (sorted(a.assigned), sorted(b.assigned))
    seen = a.seen + b.seen
    places = [(p, o) for _, p, o in seen]
    if len(set(places)) != len(places):
        raise SystemExit(f"{len(places) - len(set(places))} records were delivered twice")
    values = {v for v, _, _ in seen}
    if values != set(sent):
        raise SystemExit(f"read {len(values)} of {len(sent)} records; missing "
                         f"{sorted(set(sent) - values)[:5]}")
    for v, p, o in seen:
        if sent[v] != (p, o):
            raise SystemExit(f"{v} read at {(p, o)}, acknowledged at {sent[v]}")
    if not a.seen or not b.seen:
        raise SystemExit(f"one consumer read everything: {len(a.seen)} / {len(b.seen)}")
    if not (split[0] and split[1]) or set(split[0]) & set(split[1]):
        raise SystemExit(f"the pair never split the partitions: {split}")
    ends = high_watermarks(a.c, args.topic, args.partitions)
    for m in (a, b):
        commit_now(m.c)
        m.c.close()

    # A third member starts afterwards: it resumes at the committed offsets.
    third = Member(args.bootstrap, args.topic, group, "cf-c")
    while time.monotonic() < deadline and third.assigned != set(range(args.partitions)):
        if third.poll() is not None:
            raise SystemExit(f"the third consumer received an old record: {third.seen[-1]}")
    if third.assigned != set(range(args.partitions)):
        raise SystemExit(f"the third consumer was assigned {sorted(third.assigned)}")
    offsets = committed(third.c, args.topic, args.partitions)
    if offsets != ends:
        raise SystemExit(f"committed offsets {offsets}, partition ends {ends}")
    more = produce(args.bootstrap, args.topic, range(args.count, args.count + args.more),
                   args.timeout)
    while len(third.seen) < len(more) and time.monotonic() < deadline:
        third.poll()
    got = {v for v, _, _ in third.seen}
    old = got & set(sent)
    if old:
        raise SystemExit(f"the third consumer re-read {len(old)} committed records")
    if len(third.seen) != len(more) or got != set(more):
        raise SystemExit(f"the third consumer read {len(third.seen)} records, want {len(more)}")
    for v, p, o in third.seen:
        if o < ends[p]:
            raise SystemExit(f"{v} at {(p, o)} is below the committed offset {ends[p]}")
    commit_now(third.c)
    final = committed(third.c, args.topic, args.partitions)
    want = {p: ends[p] + sum(1 for q, _ in more.values() if q == p) for p in ends}
    if final != want:
        raise SystemExit(f"final committed offsets {final}, want {want}")
    third.c.close()
    print(f"confluent-kafka group ok: {len(sent)} records read once by two consumers "
          f"({len(a.seen)} + {len(b.seen)}, partitions {split[0]} / {split[1]}); a third resumed "
          f"at {offsets} and read only the {len(more)} new records")


def commit_part(args):
    deadline = time.monotonic() + args.timeout
    sent = produce(args.bootstrap, args.topic, list(range(args.count)), args.timeout)
    c = consumer(args.bootstrap, args.group, "cf-before")
    c.subscribe([args.topic])
    seen = []
    while len(seen) < args.part and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        seen.append((msg.value().decode(), msg.partition(), msg.offset()))
    if len(seen) != args.part:
        raise SystemExit(f"read {len(seen)} of {args.part} records before the restart")
    offsets = commit_now(c)
    c.close()
    want = {}
    for _, p, o in seen:
        want[p] = max(want.get(p, 0), o + 1)
    if {p: o for p, o in (offsets or {}).items() if p in want} != want:
        raise SystemExit(f"committed {offsets}, expected {want}")
    with open(args.state, "w") as f:
        json.dump({"sent": sent, "seen": seen, "committed": want}, f)
    print(f"confluent-kafka commit-part ok: {len(sent)} produced, {len(seen)} read and committed "
          f"at {want}")


def resume(args):
    deadline = time.monotonic() + args.timeout
    with open(args.state) as f:
        state = json.load(f)
    sent = {v: tuple(place) for v, place in state["sent"].items()}
    before = {v for v, _, _ in state["seen"]}
    want_committed = {int(p): o for p, o in state["committed"].items()}
    partitions = 1 + max(p for p, _ in sent.values())
    c = consumer(args.bootstrap, args.group, "cf-after")
    offsets = committed(c, args.topic, partitions)
    kept = {p: o for p, o in offsets.items() if p in want_committed}
    if kept != want_committed:
        raise SystemExit(f"after the restart the committed offsets are {offsets}, "
                         f"expected {want_committed}")
    ends = high_watermarks(c, args.topic, partitions)
    per_partition = {p: sum(1 for q, _ in sent.values() if q == p) for p in range(partitions)}
    if ends != per_partition:
        raise SystemExit(f"after the restart the partition ends are {ends}, "
                         f"expected {per_partition}")
    c.subscribe([args.topic])
    rest = []
    want = len(sent) - len(before)
    while len(rest) < want and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        rest.append((msg.value().decode(), msg.partition(), msg.offset()))
    again = {v for v, _, _ in rest} & before
    if again:
        raise SystemExit(f"{len(again)} committed records were delivered again, e.g. "
                         f"{sorted(again)[:3]}")
    if len(rest) != want or {v for v, _, _ in rest} | before != set(sent):
        raise SystemExit(f"after the restart read {len(rest)} records, want {want}")
    for v, p, o in rest:
        if sent[v] != (p, o):
            raise SystemExit(f"{v} read at {(p, o)}, acknowledged before the restart at {sent[v]}")
    commit_now(c)
    c.close()
    print(f"confluent-kafka resume ok: {len(rest)} records after the restart, none of the "
          f"{len(before)} committed ones again")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["share", "commit-part", "resume"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--more", type=int, default=50)
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--state")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    {"share": share, "commit-part": commit_part, "resume": resume}[args.command](args)


if __name__ == "__main__":
    main()
