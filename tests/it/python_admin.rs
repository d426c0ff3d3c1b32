//! kafka-python's KafkaAdminClient (tests/python/admin.py) against a real broker: the current
//! release from the main venv (`SLUICE_PYTHON`, default `.venv/bin/python`) and 2.0.2 from its
//! pinned venv (`SLUICE_PYTHON_KP202`, default `.venv-kp202/bin/python`); `scripts/test.sh`
//! creates both.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::clients::{python, python_kafka_python_202, run_script};
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
