"""kafka-python's KafkaAdminClient against sluice: create topics with configs, describe and
alter configs, add partitions, list and delete topics. Exits non-zero on the first failed check.

Usage: admin.py BOOTSTRAP   (run by tests/it/python_admin.rs)
"""

import sys
import time

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

DYNAMIC_TOPIC_CONFIG = 1
DEFAULT_CONFIG = 5


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def raises(error, action, what):
    try:
        action()
    except error:
        print("ok:", what, flush=True)
        return
    raise AssertionError(what + ": no " + error.__name__)


def topic_configs(admin, name):
    """name -> (value, source) from DescribeConfigs (kafka-python uses v2 here)."""
    responses = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    check(len(responses) == 1, "one DescribeConfigs response")
    resources = responses[0].resources
    check(len(resources) == 1, "one resource described")
    error_code, _message, _type, resource_name, entries = resources[0]
    check(error_code == 0 and resource_name == name, "describe " + name)
    # v1+ entries: (name, value, read_only, config_source, is_sensitive, synonyms)
    return {e[0]: (e[1], e[3]) for e in entries}


def partition_count(admin, name):
    # describe_topics returns the Metadata view of each topic.
    topics = admin.describe_topics([name])
    check(len(topics) == 1 and topics[0]["error_code"] == 0, "metadata for " + name)
    return len(topics[0]["partitions"])


def wait_listed(admin, name, present, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        listed = name in admin.list_topics()
        if listed == present or time.monotonic() > deadline:
            return listed == present
        time.sleep(0.05)


def main():
    bootstrap = sys.argv[1]
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="sluice-python-admin", request_timeout_ms=20000
    )
    try:
        admin.create_topics(
            [
                NewTopic(
                    "py-admin",
                    num_partitions=2,
                    replication_factor=1,
                    topic_configs={"retention.ms": "3600000", "cleanup.policy": "compact"},
                ),
                NewTopic("py-other", num_partitions=1, replication_factor=1),
            ]
        )
        check(wait_listed(admin, "py-admin", True), "py-admin listed")
        check("py-other" in admin.list_topics(), "py-other listed")
        check(partition_count(admin, "py-admin") == 2, "py-admin has 2 partitions")

        raises(
            TopicAlreadyExistsError,
            lambda: admin.create_topics([NewTopic("py-admin", 1, 1)]),
            "creating it again: TopicAlreadyExistsError",
        )
        raises(
            InvalidReplicationFactorError,
            lambda: admin.create_topics([NewTopic("py-rf", 1, 3)]),
            "replication factor 3: InvalidReplicationFactorError",
        )

        configs = topic_configs(admin, "py-admin")
        check(configs["retention.ms"] == ("3600000", DYNAMIC_TOPIC_CONFIG), "retention.ms override")
        check(configs["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG), "cleanup.policy override")
        check(configs["segment.bytes"] == ("1073741824", DEFAULT_CONFIG), "segment.bytes default")

        broker = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
        entries = {e[0]: e[1] for e in broker[0].resources[0][4]}
        check(broker[0].resources[0][0] == 0, "broker 1 described")
        check(entries.get("num.partitions") == "1", "broker num.partitions")

        # AlterConfigs replaces the topic's dynamic configs.
        response = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "py-admin", configs={"retention.ms": "7200000"})]
        )
        check(response.resources[0][0] == 0, "alter_configs accepted")
        configs = topic_configs(admin, "py-admin")
        check(configs["retention.ms"] == ("7200000", DYNAMIC_TOPIC_CONFIG), "retention.ms altered")
        check(configs["cleanup.policy"] == ("delete", DEFAULT_CONFIG), "cleanup.policy back to default")
        response = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "py-admin", configs={"no.such.key": "1"})]
        )
        check(response.resources[0][0] == 40, "unknown key: INVALID_CONFIG")

        admin.create_partitions({"py-admin": NewPartitions(total_count=4)})
        check(partition_count(admin, "py-admin") == 4, "py-admin grown to 4 partitions")
        raises(
            InvalidPartitionsError,
            lambda: admin.create_partitions({"py-admin": NewPartitions(total_count=3)}),
            "shrinking: InvalidPartitionsError",
        )

        admin.delete_topics(["py-admin", "py-other"])
        check(wait_listed(admin, "py-admin", False), "py-admin no longer listed")
        check("py-other" not in admin.list_topics(), "py-other no longer listed")
        raises(
            UnknownTopicOrPartitionError,
            lambda: admin.delete_topics(["py-admin"]),
            "deleting it again: UnknownTopicOrPartitionError",
        )
    finally:
        admin.close()
    print("all admin checks passed", flush=True)


if __name__ == "__main__":
    main()
