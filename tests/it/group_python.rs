//! kafka-python group consumers (tests/python/group_consume.py) against the real broker: the
//! current release from the main venv (`SLUICE_PYTHON`, default `.venv/bin/python`) and the
//! widely deployed 2.0.2 from its own pinned venv (`SLUICE_PYTHON_KP202`, default
//! `.venv-kp202/bin/python`); `scripts/test.sh` creates both.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::clients::{python, python_kafka_python_202, run_script};
use common::TestBroker;

fn group_consume(python: &PathBuf, topic: &str, extra: &[&str]) {
    let broker = TestBroker::start_with(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "num.partitions=4",
    ]);
    let created = broker.connect().create_topic(topic);
    assert_eq!(created.partitions.len(), 4);
    let bootstrap = broker.bootstrap();
    let mut args = vec![
        "--bootstrap",
        &bootstrap,
        "--topic",
        topic,
        "--partitions",
        "4",
    ];
    args.extend(["--count", "200", "--timeout", "60"]);
    args.extend(extra);
    let ran = run_script(
        python,
        "tests/python/group_consume.py",
        &args,
        Duration::from_secs(150),
        "kafka-python groups ok: 200 records",
    );
    println!("{}", ran.stdout.trim());
}

#[test]
fn kafka_python_group_consumers_share_commit_and_resume() {
    group_consume(&python(&["kafka"]), "py-groups", &[]);
}

/// kafka-python 2.0.2's `poll()` blocks until a JoinGroup completes, and the coordinator (in
/// Kafka as here) holds a JoinGroup until every member has rejoined or its rebalance timeout
/// (`max.poll.interval.ms`, 5 min) passes; so the pair polls on a thread each, as applications
/// run it.
#[test]
fn kafka_python_2_0_2_group_consumers_share_commit_and_resume() {
    let python = python_kafka_python_202();
    group_consume(&python, "py202-groups", &["--threads"]);
}

/// Why a single thread cannot interleave two kafka-python 2.0.2 consumers of one group: when
/// the second joins, its one `poll()` waits until the first has rejoined or is gone -- here the
/// first leaves once its `max.poll.interval.ms` (3 s) passes without a poll, as in Kafka (where
/// that is also the rebalance timeout the coordinator holds the JoinGroup for), and the second
/// then owns every partition. kafka-python 2.2 returns from the same `poll()` after its 100 ms.
#[test]
fn kafka_python_poll_during_a_join_waits_for_the_rebalance_in_2_0_2_only() {
    let broker = TestBroker::start_with(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "num.partitions=4",
    ]);
    let bootstrap = broker.bootstrap();
    let cases = [
        (python_kafka_python_202(), "join-wait-202"),
        (python(&["kafka"]), "join-wait"),
    ];
    for (python, topic) in cases {
        broker.connect().create_topic(topic);
        let ran = run_script(
            &python,
            "tests/python/join_wait.py",
            &["--bootstrap", &bootstrap, "--topic", topic],
            Duration::from_secs(90),
            "\"waited_s\"",
        );
        let seen: serde_json::Value =
            serde_json::from_str(ran.stdout.trim()).expect("join_wait.py prints JSON");
        println!("{seen}");
        let waited = seen["waited_s"].as_f64().expect("waited_s");
        if seen["version"] == "2.0.2" {
            assert!(
                (2.0..10.0).contains(&waited),
                "2.0.2's poll() should wait about max.poll.interval.ms (3 s): {seen}"
            );
            assert_eq!(seen["second"], serde_json::json!([0, 1, 2, 3]), "{seen}");
        } else {
            assert!(waited < 2.0, "poll(timeout_ms=100) took {waited} s: {seen}");
        }
    }
}
