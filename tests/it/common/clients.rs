//! Locating the external Kafka clients the suite drives (the Python venvs and Node's kafkajs that
//! `scripts/test.sh` installs) and running their scripts with a time bound. A missing client is
//! a test failure with a message that says how to install it, never a silent skip.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::process::{on_path, repo_root, run, Ran};

/// The interpreter of the main venv (`SLUICE_PYTHON`, else `<repo>/.venv/bin/python`), checked
/// to import `modules`.
pub fn python(modules: &[&str]) -> PathBuf {
    let path = std::env::var_os("SLUICE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    checked_python(path, modules, "SLUICE_PYTHON")
}

/// The interpreter of the venv pinned to kafka-python 2.0.2 (`SLUICE_PYTHON_KP202`, else
/// `<repo>/.venv-kp202/bin/python`), checked to import `kafka` at exactly that release.
pub fn python_kafka_python_202() -> PathBuf {
    pinned_kafka_python("SLUICE_PYTHON_KP202", ".venv-kp202", "2.0.2")
}

/// The interpreter of the venv pinned to kafka-python 3 (`SLUICE_PYTHON_KP3`, else
/// `<repo>/.venv-kp3/bin/python`), checked to import `kafka` at exactly that release.
pub fn python_kafka_python_3() -> PathBuf {
    pinned_kafka_python("SLUICE_PYTHON_KP3", ".venv-kp3", "3.0.12")
}

fn pinned_kafka_python(var: &str, venv: &str, version: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(venv).join("bin/python"));
    let path = checked_python(path, &["kafka"], var);
    let ran = run(
        Command::new(&path).args(["-c", "import kafka; print(kafka.__version__)"]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(
        ran.stdout.trim(),
        version,
        "{} has kafka-python {:?}, not {version} (run `scripts/test.sh` to recreate {venv})",
        path.display(),
        ran.stdout.trim()
    );
    path
}

fn checked_python(path: PathBuf, modules: &[&str], var: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "no Python interpreter at {} (set {var}, or run the suite with `scripts/test.sh`, which \
         creates the venvs with the Python Kafka clients)",
        path.display()
    );
    let probe = format!("import {}", modules.join(", "));
    let ran = run(
        Command::new(&path).args(["-c", &probe]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(
        ran.code,
        Some(0),
        "{} cannot `{probe}` (run `scripts/test.sh` to install the clients):\n{}",
        path.display(),
        ran.stderr
    );
    path
}

/// `node` on PATH, with kafkajs installed in `tests/js/node_modules`.
pub fn node_with_kafkajs() -> PathBuf {
    let node = on_path("node").unwrap_or_else(|| {
        panic!("no `node` on PATH (run `scripts/test.sh`, which installs nodejs and kafkajs)")
    });
    let module = repo_root().join("tests/js/node_modules/kafkajs/package.json");
    assert!(
        module.is_file(),
        "kafkajs is not installed at {} (run `scripts/test.sh`, or `npm ci` in tests/js)",
        module.display()
    );
    node
}

/// Runs `program script args…` from the repository root, bounded by `timeout`; panics with
/// everything it printed unless it exits 0 and its stdout contains `success`.
pub fn run_script(
    program: &PathBuf,
    script: &str,
    args: &[&str],
    timeout: Duration,
    success: &str,
) -> Ran {
    let ran = run(
        Command::new(program)
            .current_dir(repo_root())
            .arg(repo_root().join(script))
            .args(args),
        None,
        timeout,
    )
    .expect_success(script);
    assert!(
        ran.stdout.contains(success),
        "{script} exited 0 without `{success}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
        ran.stdout,
        ran.stderr
    );
    ran
}
