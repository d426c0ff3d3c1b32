//! Debian's `kcat` (librdkafka 2.0.2) against the real broker: the ApiVersions handshake, `-L` on
//! a data directory written by an earlier run, and a produce/consume round trip with keys and
//! headers.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::process::{on_path, run};
use common::TestBroker;

const KCAT_TIMEOUT: Duration = Duration::from_secs(60);

fn kcat() -> PathBuf {
    on_path("kcat").unwrap_or_else(|| {
        panic!(
            "kcat is not installed: run the suite with `scripts/test.sh`, which installs it \
             (apt-get install kcat), as the README says"
        )
    })
}

/// Parses `kcat -L` output into topic → [(partition, leader)].
fn listed_topics(stdout: &str) -> BTreeMap<String, Vec<(i32, i32)>> {
    let mut topics: BTreeMap<String, Vec<(i32, i32)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stdout.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("topic \"") {
            let name = rest.split('"').next().unwrap_or("").to_string();
            topics.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(rest) = line.strip_prefix("partition ") {
            // partition 0, leader 1, replicas: 1, isrs: 1
            let mut parts = rest.split(", ");
            let p: i32 = parts
                .next()
                .and_then(|p| p.parse().ok())
                .expect("partition");
            let leader: i32 = parts
                .next()
                .and_then(|l| l.strip_prefix("leader "))
                .and_then(|l| l.parse().ok())
                .expect("leader");
            let topic = current.as_ref().expect("partition line under a topic");
            topics.entry(topic.clone()).or_default().push((p, leader));
        }
    }
    topics
}

#[test]
fn kcat_handshakes_and_lists_the_topics_of_a_restarted_broker() {
    let mut broker = TestBroker::start_with(&["--num-partitions", "3"]);
    {
        let mut wire = broker.connect();
        wire.create_topic("alpha");
        wire.create_topic("beta");
    }
    // The listing must come from what the data directory holds, not from memory.
    broker.restart();

    let ran = run(
        Command::new(kcat()).args(["-b", &broker.bootstrap(), "-L", "-m", "10", "-d", "feature"]),
        None,
        KCAT_TIMEOUT,
    )
    .expect_success("kcat -L");

    // librdkafka 2.0.2 read our ApiVersions answer (it logs the table with `-d feature`).
    assert!(
        ran.stderr.contains("Broker API support:")
            && ran.stderr.contains("ApiKey Fetch (1) Versions 4..16"),
        "no ApiVersions table in kcat's debug output:\n{}",
        ran.stderr
    );

    let port = broker.addr.port();
    assert!(
        ran.stdout.contains(" 1 brokers:")
            && ran
                .stdout
                .contains(&format!("broker 1 at 127.0.0.1:{port}")),
        "{}",
        ran.stdout
    );
    let topics = listed_topics(&ran.stdout);
    let three = vec![(0, 1), (1, 1), (2, 1)];
    let mut want = BTreeMap::new();
    want.insert("alpha".to_string(), three.clone());
    want.insert("beta".to_string(), three);
    assert_eq!(topics, want, "kcat -L output:\n{}", ran.stdout);
}

#[test]
fn kcat_produce_then_consume_with_keys_and_headers() {
    const RECORDS: usize = 200;
    let broker = TestBroker::start();
    let topic = "kcat-roundtrip";
    broker.connect().create_topic(topic);
    let bootstrap = broker.bootstrap();

    let input: String = (0..RECORDS)
        .map(|i| format!("key-{i}:value number {i}\n"))
        .collect();
    run(
        Command::new(kcat()).args([
            "-b",
            &bootstrap,
            "-P",
            "-t",
            topic,
            "-p",
            "0",
            "-K:",
            "-H",
            "source=kcat",
            "-H",
            "run=42",
            "-m",
            "10",
        ]),
        Some(input.as_bytes()),
        KCAT_TIMEOUT,
    )
    .expect_success("kcat -P");

    let ran = run(
        Command::new(kcat()).args([
            "-b",
            &bootstrap,
            "-C",
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-m",
            "10",
            "-f",
            "%p|%o|%k|%s|%h\n",
        ]),
        None,
        KCAT_TIMEOUT,
    )
    .expect_success("kcat -C");
    let got: Vec<&str> = ran.stdout.lines().collect();
    let want: Vec<String> = (0..RECORDS)
        .map(|i| format!("0|{i}|key-{i}|value number {i}|source=kcat,run=42"))
        .collect();
    assert_eq!(got, want, "stderr:\n{}", ran.stderr);
}
