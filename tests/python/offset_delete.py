"""OffsetDelete (KIP-496) through kafka-python 3's KafkaAdminClient.delete_group_offsets.

A consumer of GROUP subscribed to TOPIC commits offsets for TOPIC (2 partitions) and for
TOPIC-audit (which it does not subscribe to). While it is a member, deleting TOPIC's offsets is
refused per partition with GROUP_SUBSCRIBED_TO_TOPIC and deleting TOPIC-audit's succeeds; once
it has left, TOPIC's go too. Committed offsets are read back each time. A partition the cluster
lacks is UNKNOWN_TOPIC_OR_PARTITION; an unknown group is GROUP_ID_NOT_FOUND.

    python tests/python/offset_delete.py 127.0.0.1:9092
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka import errors as Errors
from kafka.structs import OffsetAndMetadata

TIMEOUT = 20


def main(bootstrap):
    topic, audit, group = "od-orders", "od-orders-audit", "od-group"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1), NewTopic(audit, 1, 1)])
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    consumer.subscribe([topic])
    deadline = time.monotonic() + TIMEOUT
    while len(consumer.assignment()) < 2:
        if time.monotonic() > deadline:
            raise SystemExit(f"no assignment: {consumer.assignment()}")
        consumer.poll(timeout_ms=200)
    parts = [TopicPartition(topic, 0), TopicPartition(topic, 1), TopicPartition(audit, 0)]
    consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in zip(parts, [5, 6, 7])})

    def committed(c):
        return [c.committed(tp) for tp in parts]

    if committed(consumer) != [5, 6, 7]:
        raise SystemExit(f"committed before: {committed(consumer)}")

    refused = admin.delete_group_offsets(group, parts[:2])
    if refused != {tp: Errors.GroupSubscribedToTopicError for tp in parts[:2]}:
        raise SystemExit(f"subscribed topic: {refused}")
    done = admin.delete_group_offsets(group, parts[2:])
    if done != {parts[2]: Errors.NoError}:
        raise SystemExit(f"unsubscribed topic: {done}")
    if committed(consumer) != [5, 6, None]:
        raise SystemExit(f"committed after deleting {audit}: {committed(consumer)}")

    consumer.close()
    deadline = time.monotonic() + TIMEOUT
    while True:
        done = admin.delete_group_offsets(group, parts[:2])
        # The member's LeaveGroup may still be on its way.
        if Errors.GroupSubscribedToTopicError not in done.values():
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"still subscribed after close: {done}")
        time.sleep(0.2)
    if done != {tp: Errors.NoError for tp in parts[:2]}:
        raise SystemExit(f"after close: {done}")
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                           enable_auto_commit=False)
    left = committed(reader)
    reader.close()
    if left != [None, None, None]:
        raise SystemExit(f"committed after close: {left}")

    missing = TopicPartition("od-missing", 0)
    got = admin.delete_group_offsets(group, [missing])
    if got != {missing: Errors.UnknownTopicOrPartitionError}:
        raise SystemExit(f"missing partition: {got}")
    try:
        admin.delete_group_offsets("od-nobody", parts[:1])
        raise SystemExit("an unknown group was accepted")
    except Errors.GroupIdNotFoundError:
        pass
    admin.close()
    print("kafka-python 3 offset-delete ok: subscribed refused, others and after close deleted")


if __name__ == "__main__":
    main(sys.argv[1])
