//! aiokafka (asyncio) admin, idempotent producer and group consumers against the real broker
//! (tests/python/aiokafka_group.py), run with the venv interpreter in `SLUICE_PYTHON` (default
//! `.venv/bin/python`, which `scripts/test.sh` creates).

use crate::common;

use std::time::Duration;

use common::clients::{python, run_script};
use common::TestBroker;

#[test]
fn aiokafka_group_consumers_share_commit_and_resume() {
    let python = python(&["aiokafka"]);
    // Kafka's default initial rebalance delay (3 s): both members land in the first generation.
    let broker = TestBroker::start();
    let ran = run_script(
        &python,
        "tests/python/aiokafka_group.py",
        &["--bootstrap", &broker.bootstrap(), "--topic", "aio-group"],
        Duration::from_secs(150),
        "aiokafka group ok: 400 records",
    );
    println!("{}", ran.stdout.trim());
}
