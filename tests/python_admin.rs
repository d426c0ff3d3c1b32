//! kafka-python's KafkaAdminClient (tests/python/admin.py) against a real broker.
//!
//! The interpreter comes from `SLUICE_PYTHON`, else `<repo>/.venv/bin/python` (scripts/test.sh
//! creates it with kafka-python 2.0.2; by hand: `python3 -m venv .venv &&
//! .venv/bin/pip install kafka-python==2.0.2`).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBroker;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn python() -> PathBuf {
    match std::env::var_os("SLUICE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    }
}

#[test]
fn kafka_python_admin_client() {
    let python = python();
    assert!(
        python.exists() || std::env::var_os("SLUICE_PYTHON").is_some(),
        "no Python interpreter at {} (set SLUICE_PYTHON, or create the venv: python3 -m venv \
         .venv && .venv/bin/pip install kafka-python==2.0.2)",
        python.display()
    );
    let broker = TestBroker::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/admin.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(broker.bootstrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let report = format!("stdout:\n{out}\nstderr:\n{err}");
    let status = status.unwrap_or_else(|| panic!("admin.py ran over {SCRIPT_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "admin.py failed ({status})\n{report}");
    assert!(out.contains("all admin checks passed"), "{report}");
}
