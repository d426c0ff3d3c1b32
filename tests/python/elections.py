"""ElectLeaders, the partition reassignment APIs and DescribeQuorum through kafka-python
3's KafkaAdminClient, against the two-broker Kafka directory of tests/it/kafka_dir.rs opened by
broker 1 alone (broker 2 fenced). At start-up: `clean` has no leader (replicas [1, 2], ISR [2]),
`elr` and `unclean` are led by 1.

    python tests/python/elections.py 127.0.0.1:9092
"""

import sys

from kafka import KafkaAdminClient, TopicPartition
from kafka import errors as Errors

PREFERRED, UNCLEAN = 0, 1


def election(admin, election_type, partitions):
    """{(topic, partition): error class} of one ElectLeaders call."""
    r = admin.elect_leaders(election_type, partitions, raise_errors=False)
    if Errors.for_code(r.error_code) is not Errors.NoError:
        raise SystemExit(f"top-level error: {r}")
    return {(t.topic, p.partition_id): Errors.for_code(p.error_code)
            for t in r.replica_election_results for p in t.partition_result}


def expect(what, got, want):
    if got != want:
        raise SystemExit(f"{what}: got {got}, want {want}")


def main(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    expect("preferred", election(admin, PREFERRED, {"clean": [0], "elr": [0]}), {
        ("clean", 0): Errors.PreferredLeaderNotAvailableError,
        ("elr", 0): Errors.ElectionNotNeededError,
    })
    expect("unclean", election(admin, UNCLEAN, {"clean": [0], "elr": [0], "nope": [0]}), {
        ("clean", 0): Errors.NoError,
        ("elr", 0): Errors.ElectionNotNeededError,
        ("nope", 0): Errors.UnknownTopicOrPartitionError,
    })
    # Every partition now has its leader (the client names them all for None).
    expect("all partitions", election(admin, UNCLEAN, None), {
        (t, 0): Errors.ElectionNotNeededError for t in ["clean", "elr", "unclean"]
    })

    expect("reassign to this node", admin.alter_partition_reassignments(
        {TopicPartition("clean", 0): [1]}), {TopicPartition("clean", 0): None})
    expect("reassign to the same replicas", admin.alter_partition_reassignments(
        {TopicPartition("elr", 0): [1, 2]}), {TopicPartition("elr", 0): None})
    expect("reassign to a dead broker", admin.alter_partition_reassignments(
        {TopicPartition("unclean", 0): [1, 3]}),
        {TopicPartition("unclean", 0): Errors.InvalidReplicationAssignmentError})
    expect("cancel", admin.alter_partition_reassignments(
        {TopicPartition("unclean", 0): None}),
        {TopicPartition("unclean", 0): Errors.NoReassignmentInProgressError})
    expect("ongoing", admin.list_partition_reassignments(), {})

    # DescribeQuorum: this node leads the metadata log at the epoch after the fixture's (1),
    # alone, with every record appended so far below the high watermark.
    quorum = admin.describe_metadata_quorum()
    part = quorum["topics"][0]["partitions"][0]
    expect("quorum topic", quorum["topics"][0]["topic_name"], "__cluster_metadata")
    expect("quorum leader", (part["leader_id"], part["leader_epoch"], part["error"]), (1, 2, None))
    voters = part["current_voters"]
    expect("voters", [v["replica_id"] for v in voters], [1])
    if not part["high_watermark"] > 0 or voters[0]["log_end_offset"] != part["high_watermark"]:
        raise SystemExit(f"quorum offsets: {part}")
    expect("observers", part["observers"], [])
    expect("nodes", [n["node_id"] for n in quorum.get("nodes", [])], [1])
    admin.close()
    print("kafka-python 3 elections ok")


if __name__ == "__main__":
    main(sys.argv[1])
