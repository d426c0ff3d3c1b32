//! confluent-kafka (librdkafka under Python) group consumers against the real broker
//! (tests/python/confluent_group.py), run with the venv interpreter in `SLUICE_PYTHON` (default
//! `.venv/bin/python`, which `scripts/test.sh` creates).

use crate::common;

use std::time::Duration;

use common::clients::{python, run_script};
use common::TestBroker;

const SCRIPT: &str = "tests/python/confluent_group.py";

/// Two consumers of one group share a 4-partition topic written by an idempotent producer, read
/// every record once between them and commit; a third member resumes at the committed offsets
/// and reads only what is produced after it joined.
#[test]
fn confluent_kafka_group_consumers_share_commit_and_resume() {
    let python = python(&["confluent_kafka"]);
    // Kafka's default initial rebalance delay (3 s): both members land in the first generation.
    let broker = TestBroker::start();
    let ran = run_script(
        &python,
        SCRIPT,
        &[
            "share",
            "--bootstrap",
            &broker.bootstrap(),
            "--topic",
            "cf-group",
        ],
        Duration::from_secs(150),
        "confluent-kafka group ok: 1000 records",
    );
    println!("{}", ran.stdout.trim());
}

/// Records produced and offsets committed before a broker restart are all there after it: the
/// same group resumes exactly after the committed records, nothing lost, nothing read twice.
#[test]
fn confluent_kafka_group_resumes_after_a_broker_restart() {
    let python = python(&["confluent_kafka"]);
    let mut broker = TestBroker::start_with(&[
        "--set",
        "num.partitions=4",
        "--set",
        "group.initial.rebalance.delay.ms=0",
    ]);
    let topic = "cf-restart";
    let created = broker.connect().create_topic(topic);
    assert_eq!(created.partitions.len(), 4);
    let state = tempfile::tempdir().expect("temp dir");
    let state_file = state.path().join("state.json");
    let state_arg = state_file.to_string_lossy().into_owned();
    let common_args = [
        "--topic",
        topic,
        "--group",
        "cf-restart-group",
        "--state",
        &state_arg,
    ];

    let bootstrap = broker.bootstrap();
    let mut before = vec!["commit-part", "--bootstrap", &bootstrap];
    before.extend(common_args);
    before.extend(["--count", "600", "--part", "250"]);
    let ran = run_script(
        &python,
        SCRIPT,
        &before,
        Duration::from_secs(120),
        "confluent-kafka commit-part ok: 600 produced, 250 read",
    );
    println!("{}", ran.stdout.trim());

    broker.restart();

    let bootstrap = broker.bootstrap();
    let mut after = vec!["resume", "--bootstrap", &bootstrap];
    after.extend(common_args);
    let ran = run_script(
        &python,
        SCRIPT,
        &after,
        Duration::from_secs(120),
        "confluent-kafka resume ok: 350 records after the restart",
    );
    println!("{}", ran.stdout.trim());
}
