//! kafka-python's KafkaAdminClient (tests/python/admin.py) against a real broker: the current
//! release from the main venv (`SLUICE_PYTHON`, default `.venv/bin/python`) and 2.0.2 from its
//! pinned venv (`SLUICE_PYTHON_KP202`, default `.venv-kp202/bin/python`); `scripts/test.sh`
//! creates both. OffsetDelete is driven by kafka-python 3 (`SLUICE_PYTHON_KP3`, default
//! `.venv-kp3/bin/python`), the Python client that calls it.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::clients::{python, python_kafka_python_202, python_kafka_python_3, run_script};
use common::TestBroker;

fn admin_checks(python: &PathBuf) {
    let broker = TestBroker::start();
    run_script(
        python,
        "tests/python/admin.py",
        &[&broker.bootstrap()],
        Duration::from_secs(120),
        "all admin checks passed",
    );
}

#[test]
fn kafka_python_admin_client() {
    admin_checks(&python(&["kafka"]));
}

#[test]
fn kafka_python_2_0_2_admin_client() {
    admin_checks(&python_kafka_python_202());
}

/// OffsetDelete (KIP-496) through kafka-python 3's `delete_group_offsets`: refused per partition
/// for a topic the live group subscribes to, done for one it does not and for every topic once
/// the group is empty; a partition the cluster lacks and an unknown group get Kafka's codes.
#[test]
fn kafka_python_3_deletes_the_offsets_a_group_no_longer_consumes() {
    let broker = TestBroker::start_with(&["--set", "group.initial.rebalance.delay.ms=0"]);
    run_script(
        &python_kafka_python_3(),
        "tests/python/offset_delete.py",
        &[&broker.bootstrap()],
        Duration::from_secs(90),
        "kafka-python 3 offset-delete ok",
    );
}
