//! Python clients against the real broker, with the interpreter of the venv that
//! `scripts/test.sh` sets up (`SLUICE_PYTHON` overrides it).

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::process::{repo_root, run};
use common::TestBroker;

/// The venv's interpreter, checked to have the clients the suite needs.
fn python() -> PathBuf {
    let path = std::env::var_os("SLUICE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        path.is_file(),
        "no Python interpreter at {} (set SLUICE_PYTHON, or run the suite with `scripts/test.sh`, \
         which creates .venv with the Python Kafka clients)",
        path.display()
    );
    let probe = run(
        Command::new(&path).args(["-c", "import confluent_kafka, kafka, aiokafka"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(
        probe.code,
        Some(0),
        "{} lacks the Python Kafka clients (run `scripts/test.sh` to install them):\n{}",
        path.display(),
        probe.stderr
    );
    path
}

#[test]
fn confluent_kafka_round_trip() {
    let python = python();
    let broker = TestBroker::start();
    let topic = "py-roundtrip";
    broker.connect().create_topic(topic);
    let script = repo_root().join("tests/python/roundtrip.py");
    let ran = run(
        Command::new(python)
            .arg(script)
            .args(["--bootstrap", &broker.bootstrap(), "--topic", topic])
            .args(["--count", "2000", "--timeout", "30"]),
        None,
        Duration::from_secs(90),
    )
    .expect_success("tests/python/roundtrip.py");
    assert!(
        ran.stdout
            .contains("confluent-kafka round trip ok: 2000 records"),
        "{}",
        ran.stdout
    );
}
