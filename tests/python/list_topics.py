"""What stock Python clients see of a broker's topics, printed as one JSON object.

    python tests/python/list_topics.py --bootstrap 127.0.0.1:9092

Keys of the printed object (topics by name; partitions sorted by id, each
[id, leader, replicas, isr]):

  kafka_python_topics     KafkaAdminClient.describe_topics() (every topic): error code,
                          is_internal, partitions
  kafka_python_cluster    KafkaAdminClient.describe_cluster(): cluster id, controller, brokers
  confluent_topics        confluent-kafka AdminClient.list_topics(): error, partitions
  confluent_cluster       list_topics(): cluster id, controller, brokers
  confluent_described     AdminClient.describe_topics() of the listed topics: topic id (32 hex
                          digits), is_internal, partitions

The caller compares them with what Kafka would report. Exits non-zero if a client fails.
"""

import argparse
import json

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient


def uuid_hex(u):
    mask = (1 << 64) - 1
    return f"{u.get_most_significant_bits() & mask:016x}{u.get_least_significant_bits() & mask:016x}"


def kafka_python(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="sluice-list-topics")
    try:
        topics = {
            t["topic"]: {
                "error_code": t["error_code"],
                "is_internal": t["is_internal"],
                "partitions": sorted([p["partition"], p["leader"], p["replicas"], p["isr"]]
                                     for p in t["partitions"]),
            }
            for t in admin.describe_topics()
        }
        c = admin.describe_cluster()
        cluster = {
            "cluster_id": c["cluster_id"],
            "controller_id": c["controller_id"],
            "brokers": sorted([b["node_id"], b["host"], b["port"]] for b in c["brokers"]),
        }
    finally:
        admin.close()
    return topics, cluster


def confluent(bootstrap, timeout):
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "sluice-list-topics"})
    md = admin.list_topics(timeout=timeout)
    topics = {
        name: {
            "error": None if t.error is None else str(t.error),
            "partitions": sorted([p.id, p.leader, list(p.replicas), list(p.isrs)]
                                 for p in t.partitions.values()),
        }
        for name, t in md.topics.items()
    }
    cluster = {
        "cluster_id": md.cluster_id,
        "controller_id": md.controller_id,
        "brokers": sorted([b.id, b.host, b.port] for b in md.brokers.values()),
    }
    described = {}
    if topics:
        futures = admin.describe_topics(TopicCollection(sorted(topics)), request_timeout=timeout)
        for name, future in futures.items():
            d = future.result(timeout=timeout)
            described[name] = {
                "topic_id": uuid_hex(d.topic_id),
                "is_internal": d.is_internal,
                "partitions": sorted([p.id, p.leader.id, [r.id for r in p.replicas],
                                      [i.id for i in p.isr]] for p in d.partitions),
            }
    return topics, cluster, described


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--timeout", type=float, default=20)
    args = p.parse_args()
    kp_topics, kp_cluster = kafka_python(args.bootstrap)
    cf_topics, cf_cluster, cf_described = confluent(args.bootstrap, args.timeout)
    print(json.dumps({
        "kafka_python_topics": kp_topics,
        "kafka_python_cluster": kp_cluster,
        "confluent_topics": cf_topics,
        "confluent_cluster": cf_cluster,
        "confluent_described": cf_described,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
