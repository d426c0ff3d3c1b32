"""aiokafka group consumers against a running sluice broker.

1. AIOKafkaAdminClient creates TOPIC with --partitions partitions.
2. An idempotent AIOKafkaProducer sends --count keyed records with headers.
3. Two AIOKafkaConsumer of one group (auto_offset_reset=earliest, manual commits, committing
   before giving partitions back) split the partitions and read every record exactly once
   between them; both commit and leave.
4. The admin client reads the group's committed offsets: the end of every partition.
5. A third consumer of the group joins, receives none of the old records, and then exactly the
   --more records produced after it joined.

    python tests/python/aiokafka_group.py --bootstrap 127.0.0.1:9092 --topic aio-group

Every wait is bounded by --timeout seconds. Exits 0 and prints "aiokafka group ok: ..." when
every check passed; raises SystemExit with a reason otherwise.
"""

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def record(i):
    return f"key-{i}".encode(), f"value-{i}".encode(), [("seq", str(i).encode())]


async def produce(bootstrap, topic, ids):
    """Idempotent producer. Returns {value: (partition, offset)} from the acknowledgements."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in ids:
            key, value, headers = record(i)
            futures.append((value.decode(), await producer.send(topic, value=value, key=key,
                                                                 headers=headers)))
        acked = {}
        for value, fut in futures:
            meta = await fut
            acked[value] = (meta.partition, meta.offset)
    finally:
        await producer.stop()
    if len(set(acked.values())) != len(acked):
        raise SystemExit("produce: two records acknowledged at the same offset")
    return acked


class CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, member):
        self.member = member

    async def on_partitions_revoked(self, revoked):
        if revoked:
            await self.member.consumer.commit()

    async def on_partitions_assigned(self, assigned):
        self.member.assigned = {tp.partition for tp in assigned}
        self.member.joins += 1


class Member:
    def __init__(self, bootstrap, topic, group, name):
        self.name = name
        self.assigned = set()
        self.joins = 0
        self.seen = []  # (value, partition, offset)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=30000,
            heartbeat_interval_ms=500,
            fetch_max_wait_ms=200,
        )
        self.consumer.subscribe([topic], listener=CommitOnRevoke(self))

    async def poll(self, timeout_ms=100):
        got = await self.consumer.getmany(timeout_ms=timeout_ms)
        for records in got.values():
            for r in records:
                want_key, want_value, want_headers = record(int(r.value.decode()[6:]))
                if (r.key, r.value, list(r.headers)) != (want_key, want_value, want_headers):
                    raise SystemExit(f"garbled record at {r.partition}/{r.offset}: {r}")
                self.seen.append((r.value.decode(), r.partition, r.offset))


async def until(what, deadline, members, check):
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.gather(*(m.poll() for m in members))


async def run(args):
    deadline = time.monotonic() + args.timeout
    topic, group = args.topic, f"{args.topic}-group"
    partitions = set(range(args.partitions))

    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=args.partitions,
                                        replication_factor=1)])
    described = await admin.describe_topics([topic])
    listed = {p["partition"] for p in described[0]["partitions"]}
    if described[0]["error_code"] != 0 or listed != partitions:
        raise SystemExit(f"describe_topics: {described}")

    sent = await produce(args.bootstrap, topic, range(args.count))
    if {p for p, _ in sent.values()} != partitions:
        raise SystemExit("the keys did not reach every partition")

    a = Member(args.bootstrap, topic, group, "aio-a")
    b = Member(args.bootstrap, topic, group, "aio-b")
    await asyncio.gather(a.consumer.start(), b.consumer.start())
    await until(f"{len(sent)} records", deadline, (a, b),
                lambda: len(a.seen) + len(b.seen) >= len(sent))
    await until("the pair to split the partitions", deadline, (a, b),
                lambda: a.assigned and b.assigned and not (a.assigned & b.assigned)
                and a.assigned | b.assigned == partitions)
    seen = a.seen + b.seen
    places = [(p, o) for _, p, o in seen]
    if len(set(places)) != len(places):
        raise SystemExit(f"{len(places) - len(set(places))} records were delivered twice")
    if {v for v, _, _ in seen} != set(sent) or len(seen) != len(sent):
        raise SystemExit(f"read {len(seen)} records, {len(sent)} sent")
    for v, p, o in seen:
        if sent[v] != (p, o):
            raise SystemExit(f"{v} read at {(p, o)}, acknowledged at {sent[v]}")
    if not a.seen or not b.seen:
        raise SystemExit(f"one consumer read everything: {len(a.seen)} / {len(b.seen)}")
    split = (sorted(a.assigned), sorted(b.assigned))
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    ends = {tp.partition: o for tp, o in (await a.consumer.end_offsets(tps)).items()}
    for m in (a, b):
        await m.consumer.commit()
    await asyncio.gather(a.consumer.stop(), b.consumer.stop())

    offsets = await admin.list_consumer_group_offsets(group)
    committed = {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic}
    if committed != ends:
        raise SystemExit(f"committed offsets {committed}, partition ends {ends}")

    c = Member(args.bootstrap, topic, group, "aio-c")
    await c.consumer.start()
    await until("the third consumer to join", deadline, (c,), lambda: c.joins > 0)
    if c.assigned != partitions:
        raise SystemExit(f"the third consumer was assigned {sorted(c.assigned)}")
    for tp in tps:
        if await c.consumer.committed(tp) != ends[tp.partition]:
            raise SystemExit(f"the third consumer sees {tp} committed at "
                             f"{await c.consumer.committed(tp)}, want {ends[tp.partition]}")
    if c.seen:
        raise SystemExit(f"the third consumer read an old record: {c.seen[0]}")
    more = await produce(args.bootstrap, topic, range(args.count, args.count + args.more))
    await until(f"{len(more)} new records", deadline, (c,), lambda: len(c.seen) >= len(more))
    got = {v for v, _, _ in c.seen}
    if got & set(sent):
        raise SystemExit(f"the third consumer re-read {len(got & set(sent))} committed records")
    if len(c.seen) != len(more) or got != set(more):
        raise SystemExit(f"the third consumer read {len(c.seen)} records, want {len(more)}")
    await c.consumer.commit()
    await c.consumer.stop()

    groups = {g[0] for g in await admin.list_consumer_groups()}
    if group not in groups:
        raise SystemExit(f"list_consumer_groups: {groups}")
    await admin.close()
    print(f"aiokafka group ok: {len(sent)} records read once by two consumers "
          f"({len(a.seen)} + {len(b.seen)}, partitions {split[0]} / {split[1]}); committed "
          f"{committed}; a third read only the {len(more)} new records")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--count", type=int, default=400)
    p.add_argument("--more", type=int, default=40)
    p.add_argument("--timeout", type=float, default=90)
    args = p.parse_args()
    asyncio.run(asyncio.wait_for(run(args), args.timeout + 30))


if __name__ == "__main__":
    main()
