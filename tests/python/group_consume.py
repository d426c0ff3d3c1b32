"""kafka-python group consumers against a running sluice broker.

1. Produces COUNT records spread over the topic's partitions (kafka-python producer).
2. A consumer of group `<topic>-resume` reads half of them, commits synchronously and closes;
   a second consumer of the same group reads the rest: nothing lost, nothing read twice.
3. Two consumers of group `<topic>-pair` poll side by side until they split the partitions
   between them (disjoint, all covered); the admin client then lists and describes the groups
   and reads the committed offsets. With --threads each of the two polls on its own thread
   (needed by kafka-python before 2.1, whose poll() blocks until a rebalance completes).

    python tests/python/group_consume.py --bootstrap 127.0.0.1:9092 --topic t --partitions 4

Every wait is bounded by --timeout seconds. Exits 0 and prints "kafka-python groups ok: ..."
when every check passed; raises SystemExit with a reason otherwise.
"""

import argparse
import threading
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap, topic, partitions, count):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    values = set()
    futures = []
    for i in range(count):
        value = f"rec-{i:05d}"
        futures.append(producer.send(topic, value=value.encode(), partition=i % partitions))
        values.add(value)
    producer.flush(30)
    for f in futures:
        f.get(timeout=30)
    producer.close()
    return values


def consumer(bootstrap, topic, group, client_id):
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=30000,
        heartbeat_interval_ms=300,
    )


def take(c, want, deadline):
    """Polls one record at a time (so the committed position is exactly what was read)."""
    got = []
    while len(got) < want and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=200, max_records=1).values():
            got.extend(r.value.decode() for r in records)
    return got


def drained(c, quiet):
    end = time.monotonic() + quiet
    while time.monotonic() < end:
        for records in c.poll(timeout_ms=200).values():
            if records:
                raise SystemExit(f"unexpected extra records: {[r.value for r in records][:5]}")


def resume(bootstrap, topic, sent, timeout):
    group = f"{topic}-resume"
    deadline = time.monotonic() + timeout
    first = consumer(bootstrap, topic, group, "py-first")
    half = take(first, len(sent) // 2, deadline)
    if len(half) != len(sent) // 2:
        raise SystemExit(f"first consumer read {len(half)} of {len(sent) // 2}")
    first.commit()
    first.close()

    second = consumer(bootstrap, topic, group, "py-second")
    rest = take(second, len(sent) - len(half), deadline)
    drained(second, 2.0)
    second.commit()
    second.close()

    a, b = set(half), set(rest)
    if len(a) != len(half) or len(b) != len(rest):
        raise SystemExit("a consumer read a record twice")
    if a & b:
        raise SystemExit(f"the second consumer re-read {len(a & b)} committed records")
    if a | b != sent:
        raise SystemExit(f"lost {len(sent - (a | b))} records")
    return group


class Pair:
    """Two consumers of one group, polled side by side until they split the partitions.

    Interleaved on this thread by default. With `threads`, each consumer polls on a thread of
    its own, as an application would run it: kafka-python before 2.1 blocks inside `poll()`
    until a JoinGroup completes, and the coordinator holds that JoinGroup until every member of
    the group rejoins (or its rebalance timeout, max.poll.interval.ms, passes) -- so one thread
    interleaving two such consumers waits on itself.
    """

    def __init__(self, bootstrap, topic, group, threads):
        self.consumers = [consumer(bootstrap, topic, group, "py-c1"),
                          consumer(bootstrap, topic, group, "py-c2")]
        self.assigned = [set(), set()]
        self.threads = []
        self.stop = threading.Event()
        self.failure = []
        if threads:
            self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                            for i in range(2)]
            for t in self.threads:
                t.start()

    def _poll(self, i):
        c = self.consumers[i]
        c.poll(timeout_ms=100)
        self.assigned[i] = {tp.partition for tp in c.assignment()}

    def _run(self, i):
        try:
            while not self.stop.is_set():
                self._poll(i)
        except Exception as e:  # reported by `step` on the main thread
            self.failure.append(repr(e))

    def step(self):
        """One round: both consumers poll (or, threaded, the main thread waits a little)."""
        if self.failure:
            raise SystemExit(f"a consumer thread failed: {self.failure}")
        if self.threads:
            time.sleep(0.05)
        else:
            self._poll(0)
            self._poll(1)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        for c in self.consumers:
            c.close()


def pair(bootstrap, topic, partitions, timeout, threads):
    group = f"{topic}-pair"
    p = Pair(bootstrap, topic, group, threads)
    deadline = time.monotonic() + timeout
    split = None
    while time.monotonic() < deadline:
        p.step()
        a, b = p.assigned
        if a and b and not (a & b) and a | b == set(range(partitions)):
            split = (sorted(a), sorted(b))
            break
    if split is None:
        raise SystemExit(f"the pair never split the partitions: {p.assigned}")
    return group, p, split


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--threads", action="store_true",
                   help="poll each consumer of the pair on its own thread")
    args = p.parse_args()

    sent = produce(args.bootstrap, args.topic, args.partitions, args.count)
    resume_group = resume(args.bootstrap, args.topic, sent, args.timeout)
    pair_group, members, split = pair(args.bootstrap, args.topic, args.partitions, args.timeout,
                                      args.threads)

    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    listed = {g[0]: g[1] for g in admin.list_consumer_groups()}
    for g in (resume_group, pair_group):
        if listed.get(g) != "consumer":
            raise SystemExit(f"ListGroups: {g} missing or wrong type in {listed}")
    # The pair keeps heartbeating while the admin asks (they poll between the calls).
    members.step()
    described = admin.describe_consumer_groups([pair_group])[0]
    if described.state != "Stable" or len(described.members) != 2:
        raise SystemExit(f"DescribeGroups: {described.state} with {len(described.members)} members")
    clients = sorted(m.client_id for m in described.members)
    if clients != ["py-c1", "py-c2"]:
        raise SystemExit(f"DescribeGroups members: {clients}")
    offsets = admin.list_consumer_group_offsets(resume_group)
    ends = {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == args.topic}
    per_partition = {p: len([i for i in range(args.count) if i % args.partitions == p])
                     for p in range(args.partitions)}
    if ends != per_partition:
        raise SystemExit(f"committed offsets {ends}, expected {per_partition}")
    admin.close()
    members.close()
    print(f"kafka-python groups ok: {len(sent)} records resumed without loss or duplicates; "
          f"pair split {split[0]} / {split[1]}; committed {ends} (kafka-python {kafka.__version__})")


if __name__ == "__main__":
    main()
