//! kafkajs (Node.js) admin, idempotent producer and group consumers against the real broker
//! (tests/js/group.js), with `node` from PATH and kafkajs from tests/js/node_modules (both
//! installed by `scripts/test.sh`).

use crate::common;

use std::time::Duration;

use common::clients::{node_with_kafkajs, run_script};
use common::TestBroker;

#[test]
fn kafkajs_admin_producer_and_group_consumers() {
    let node = node_with_kafkajs();
    // Kafka's default initial rebalance delay (3 s): both members land in the first generation.
    let broker = TestBroker::start();
    let ran = run_script(
        &node,
        "tests/js/group.js",
        &["--bootstrap", &broker.bootstrap(), "--topic", "js-group"],
        Duration::from_secs(150),
        "kafkajs group ok: 400 records",
    );
    println!("{}", ran.stdout.trim());
}
