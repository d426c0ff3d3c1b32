"""confluent-kafka round trip against a running sluice broker.

Produces COUNT records (keys, values, headers) to partition 0 of TOPIC with acks=all, then reads
them back with a consumer assigned from the beginning and checks every record, in order.

    python tests/python/roundtrip.py --bootstrap 127.0.0.1:9092 --topic py-roundtrip --count 1000

Exits 0 and prints a summary line when every record came back intact; exits 1 otherwise.
"""

import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition


def record(i):
    key = f"py-key-{i}".encode()
    value = f"python value {i} ".encode() + b"z" * (i % 50)
    headers = [("seq", str(i).encode()), ("lang", b"python")]
    return key, value, headers


def produce(bootstrap, topic, count):
    errors = []
    delivered = [0]

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[0] += 1

    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000}
    )
    for i in range(count):
        key, value, headers = record(i)
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, partition=0,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(30)
    if left or errors or delivered[0] != count:
        raise SystemExit(f"produce: {delivered[0]} of {count} delivered, {left} left, errors {errors[:3]}")


def consume(bootstrap, topic, count, timeout_s):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "sluice-python-roundtrip",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + timeout_s
    i = 0
    try:
        while i < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"consume: only {i} of {count} records within {timeout_s} s")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            key, value, headers = record(i)
            got = (msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers())
            want = (0, i, key, value, headers)
            if got != want:
                raise SystemExit(f"record {i}: got {got!r}, want {want!r}")
            i += 1
    finally:
        consumer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    started = time.monotonic()
    produce(args.bootstrap, args.topic, args.count)
    consume(args.bootstrap, args.topic, args.count, args.timeout)
    elapsed = time.monotonic() - started
    print(f"confluent-kafka round trip ok: {args.count} records in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
