//! kafka-python group consumers (tests/python/group_consume.py) against the real broker, run
//! with the venv interpreter in `SLUICE_PYTHON` (default `.venv/bin/python`, which
//! `scripts/test.sh` creates with the Python Kafka clients).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBroker;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let path = std::env::var_os("SLUICE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.is_file(),
        "no Python interpreter at {} (set SLUICE_PYTHON to a venv with kafka-python, or run \
         scripts/test.sh, which creates .venv)",
        path.display()
    );
    path
}

/// Runs `cmd` to completion, killing it after `limit`; returns (exit code, stdout, stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        code,
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    )
}

#[test]
fn kafka_python_group_consumers_share_commit_and_resume() {
    let python = python();
    let broker = TestBroker::start_with(&[
        "--set",
        "group.initial.rebalance.delay.ms=0",
        "--set",
        "num.partitions=4",
    ]);
    let topic = "py-groups";
    let mut client = broker.connect();
    client.create_topic(topic);
    let (code, stdout, stderr) = run_bounded(
        Command::new(python)
            .arg(repo().join("tests/python/group_consume.py"))
            .args(["--bootstrap", &broker.bootstrap(), "--topic", topic])
            .args(["--partitions", "4", "--count", "200", "--timeout", "60"]),
        Duration::from_secs(150),
    );
    assert_eq!(
        code,
        Some(0),
        "group_consume.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("kafka-python groups ok: 200 records"),
        "{stdout}"
    );
    println!("{}", stdout.trim());
}
