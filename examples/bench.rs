//! Throughput benchmark: one librdkafka producer, then one default-settings consumer, against a
//! release-built broker on a temp data directory.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench
//! ```
//!
//! Phases: 1,000,000 × 100 B and 200,000 × 1 KiB records, each with acks=1 and acks=all
//! (linger.ms=5, batch.size=1000000, no compression, null keys), each into its own topic; then a
//! consumer with librdkafka's default settings reads every topic back from the beginning. For
//! each phase it prints records/s, MB/s (10^6 bytes of record values), the broker's CPU seconds
//! (utime + stime from /proc/<pid>/stat), its peak RSS so far (VmHWM), and the client's own CPU
//! seconds (this process: librdkafka's threads included).
//!
//! Environment: `SLUICE_BIN` (broker binary; default: `sluice` next to this example's target
//! directory, i.e. `target/release/sluice`), `SLUICE_BENCH_PARTITIONS` (partitions per topic,
//! default 1), `SLUICE_BENCH_SCALE` (divides every record count, for a quick smoke run),
//! `SLUICE_BENCH_PRODUCER_CONFIG` / `SLUICE_BENCH_CONSUMER_CONFIG` (extra librdkafka settings,
//! `key=value,key=value`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// The broker process; killed on drop.
struct Broker {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn start(bin: &PathBuf, partitions: u32) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--log-dirs"])
            .arg(dir.path())
            .args(["--num-partitions", &partitions.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Drains the broker's log for its whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(pos) = line.find("listening on ") {
                    let addr = line[pos + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("broker printed its listening address");
        Broker {
            child,
            addr,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The broker's CPU time (user + system) in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / ticks_per_second
}

/// The broker's peak resident set size (VmHWM) in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() {
            &self.ok
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct Phase {
    name: String,
    records: u64,
    bytes: u64,
    seconds: f64,
    cpu: f64,
    client_cpu: f64,
    rss_mib: f64,
}

/// Extra client settings from an environment variable: `key=value,key=value`.
fn with_extra(mut config: ClientConfig, var: &str) -> ClientConfig {
    let extra = std::env::var(var).unwrap_or_default();
    config.extend(
        extra
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string())),
    );
    config
}

fn produce(addr: &str, topic: &str, acks: &str, count: u64, size: usize) -> (u64, f64) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000");
    let producer: BaseProducer<Deliveries> = with_extra(config, "SLUICE_BENCH_PRODUCER_CONFIG")
        .create_with_context(Deliveries::default())
        .expect("producer");
    // Metadata first, so topic auto-creation is not timed.
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let started = Instant::now();
    for _ in 0..count {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
                Err((e, _)) => panic!("produce to {topic}: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .expect("flush within 300 s");
    let seconds = started.elapsed().as_secs_f64();
    let ctx = producer.context();
    let (ok, failed) = (
        ctx.ok.load(Ordering::Relaxed),
        ctx.failed.load(Ordering::Relaxed),
    );
    assert!(
        ok == count && failed == 0,
        "{topic}: {ok} delivered, {failed} failed"
    );
    (count * size as u64, seconds)
}

fn consume(addr: &str, topic: &str, partitions: u32, count: u64, size: usize) -> (u64, f64) {
    // librdkafka's defaults otherwise. It needs a group.id even to assign partitions; with auto
    // commit on, closing the consumer would wait session.timeout.ms (45 s) for a group
    // coordinator, which sluice does not serve yet. Neither changes how it fetches.
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", "sluice-bench")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = with_extra(config, "SLUICE_BENCH_CONSUMER_CONFIG")
        .create()
        .expect("consumer");
    // Metadata first, as for the producer: assigned before it knows the leader, librdkafka
    // waits for its 500 ms offset-query timer before the first fetch.
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p as i32, Offset::Beginning)
            .expect("partition");
    }
    let started = Instant::now();
    consumer.assign(&tpl).expect("assign");
    let deadline = started + Duration::from_secs(600);
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < count {
        assert!(
            Instant::now() < deadline,
            "{topic}: {n} of {count} in 600 s"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let len = m.payload().map_or(0, <[u8]>::len);
                assert_eq!(len, size, "{topic}: record size");
                bytes += len as u64;
                n += 1;
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
    (bytes, started.elapsed().as_secs_f64())
}

fn broker_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(bin);
    }
    // This example runs from <target>/release/examples/bench; the broker is <target>/release/sluice.
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("sluice"))
        .expect("target directory");
    if !bin.is_file() {
        eprintln!("building the broker: cargo build --release --bin sluice");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bin", "sluice"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "cargo build --release failed");
    }
    bin
}

fn main() {
    let env_u64 = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let partitions = env_u64("SLUICE_BENCH_PARTITIONS", 1).max(1) as u32;
    let scale = env_u64("SLUICE_BENCH_SCALE", 1).max(1);
    let bin = broker_binary();
    let ticks = clock_ticks();
    let broker = Broker::start(&bin, partitions);
    let pid = broker.pid();
    let (_, version) = rdkafka::util::get_rdkafka_version();
    println!(
        "sluice bench: broker {} (pid {pid}) on {}, {partitions} partition(s) per topic, \
         librdkafka {version}, {} cores",
        bin.display(),
        broker.addr,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let workloads: [(u64, usize); 2] = [(1_000_000 / scale, 100), (200_000 / scale, 1024)];
    let mut topics = Vec::new();
    let mut phases = Vec::new();
    let mut measure = |name: String, records: u64, run: &mut dyn FnMut() -> (u64, f64)| {
        let cpu_before = cpu_seconds(pid, ticks);
        let client_before = cpu_seconds(std::process::id(), ticks);
        let (bytes, seconds) = run();
        let phase = Phase {
            name,
            records,
            bytes,
            seconds,
            cpu: cpu_seconds(pid, ticks) - cpu_before,
            client_cpu: cpu_seconds(std::process::id(), ticks) - client_before,
            rss_mib: peak_rss_mib(pid),
        };
        eprintln!("done: {} in {:.2} s", phase.name, phase.seconds);
        phases.push(phase);
    };
    for (count, size) in workloads {
        for acks in ["1", "all"] {
            let topic = format!("bench-{size}b-acks-{acks}");
            measure(
                format!("produce {count} x {size} B acks={acks}"),
                count,
                &mut || produce(&broker.addr, &topic, acks, count, size),
            );
            topics.push((topic, count, size));
        }
    }
    for (topic, count, size) in &topics {
        measure(format!("consume {topic}"), *count, &mut || {
            consume(&broker.addr, topic, partitions, *count, *size)
        });
    }

    println!();
    println!(
        "{:<34} {:>9} {:>7} {:>10} {:>7} {:>12} {:>14} {:>12}",
        "phase",
        "records",
        "seconds",
        "records/s",
        "MB/s",
        "broker CPU s",
        "broker RSS MiB",
        "client CPU s"
    );
    for p in &phases {
        println!(
            "{:<34} {:>9} {:>7.2} {:>10.0} {:>7.1} {:>12.2} {:>14.1} {:>12.2}",
            p.name,
            p.records,
            p.seconds,
            p.records as f64 / p.seconds,
            p.bytes as f64 / 1e6 / p.seconds,
            p.cpu,
            p.rss_mib,
            p.client_cpu
        );
    }
    println!(
        "\nMB = 10^6 bytes of record values. broker CPU s = the broker's utime+stime during the \
         phase; broker RSS = its peak (VmHWM) so far; client CPU s = this process (librdkafka \
         producer or consumer) during the phase."
    );
}
