//! The benchmark suite: librdkafka (and raw sockets where a client library would only add noise)
//! against freshly started release brokers on temp data directories, printing one table.
//!
//! ```text
//! scripts/bench.sh              # builds, raises `ulimit -n`, runs everything (≈ 1 min)
//! scripts/bench.sh --quick      # smoke run: a tenth of the data, 1,000 connections (≈ 15 s)
//! scripts/bench.sh --only produce,consume     # some sections only
//! ```
//!
//! Sections (`--only` takes their names):
//!
//! - `ceilings`: what the machine allows, measured in the same run: one loopback TCP stream
//!   pushing 1 GiB (std sockets, 1 MiB writes), and 1 GiB written to a temp file next to the
//!   brokers' data in 1 MiB chunks without fsync (the page cache).
//! - `produce`: one librdkafka producer (linger.ms 5, batch.size 1,000,000, no compression, null
//!   keys) sends 2,000,000 × 100 B and 400,000 × 1 KiB records, into 1 and 8 partitions, with
//!   acks=1 and acks=all: eight rows, each into its own topic.
//! - `consume`: a consumer with librdkafka's default settings reads the acks=1 topics back from
//!   the start (from the page cache); for 100 B also one with `fetch.queue.backoff.ms=10`. See
//!   the README for what that setting does to a default consumer.
//! - `latency`: 5,000 records/s of 100 B, acks=1, linger.ms 0, for 10 s after 1 s of warm-up:
//!   produce-to-acknowledgment (send call to delivery report) and end-to-end (send call to the
//!   record reaching a default-settings consumer polling in another thread), p50 / p99 / p99.9 /
//!   max.
//! - `connections`: a fresh broker; its idle RSS; then 10,000 raw TCP connections that each send
//!   one ApiVersions request, read the answer and stay open: RSS before, after, and per connection.
//! - `startup`: a broker with one 1,000-partition topic (100 records in each) is stopped cleanly
//!   and started again: time from spawn to its "listening on" line, and to the first Metadata
//!   answer listing all 1,000 partitions; its idle RSS after that.
//!
//! For every row: the broker's CPU seconds (user + system; the sum of its threads' run time from
//! `/proc/<pid>/task/*/schedstat`, which `/proc/<pid>/stat`'s utime + stime count in 10 ms ticks
//! and which is used when a thread came or went), per GB of record values moved (10^9 bytes), and
//! its peak RSS during the row (VmHWM, reset before each row through `/proc/<pid>/clear_refs`).
//! MB = 10^6 bytes, KB = 10^3 bytes. The throughput broker runs with its admin endpoint, whose
//! `/metrics` gives the number of Produce / Fetch requests each row took. A last block checks the
//! figures against issue 7's targets.
//!
//! Options: `--quick`, `--only <sections>`, `--filter TEXT` (produce/consume rows whose name
//! contains TEXT). Environment: `SLUICE_BIN` (broker binary; default `sluice` beside this example,
//! i.e. `target/release/sluice`), `SLUICE_BENCH_DIR` (where the temp data directories go; default
//! the system temp dir), `SLUICE_BENCH_PRODUCER_CONFIG` / `SLUICE_BENCH_CONSUMER_CONFIG` (extra
//! librdkafka settings for the throughput rows, `key=value,key=value`), `SLUICE_BENCH_PERF_CTL` +
//! `SLUICE_BENCH_PROFILE` (profile one row; see [`profiled`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use sluice::protocol::messages::create_topics_response::CreateTopicsResponse;
use sluice::protocol::messages::delete_topics_request::DeleteTopicsRequest;
use sluice::protocol::messages::delete_topics_response::DeleteTopicsResponse;
use sluice::protocol::messages::metadata_request::MetadataRequest;
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::protocol::wire::{DecodeError, EncodeBuf};

const GIB: usize = 1 << 30;
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// The broker process and what /proc says about it

/// A broker process; killed on drop.
struct Broker {
    child: Child,
    addr: String,
    /// From spawn to the "listening on" line.
    listening_after: Duration,
    /// The admin endpoint, if started with one (`admin.listener`).
    admin: Arc<Mutex<Option<String>>>,
}

impl Broker {
    fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Broker {
        let spawned = Instant::now();
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--log-dirs"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let admin = Arc::new(Mutex::new(None));
        let admin_addr = admin.clone();
        // Drains the broker's log for its whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(pos) = line.find("admin listening on ") {
                    let addr = line[pos + "admin listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Ok(mut a) = admin_addr.lock() {
                        *a = Some(addr);
                    }
                } else if let Some(pos) = line.find("listening on ") {
                    let addr = line[pos + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((addr, Instant::now()));
                    }
                }
            }
        });
        let (addr, at) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("broker printed its listening address");
        Broker {
            child,
            addr,
            listening_after: at - spawned,
            admin,
        }
    }

    /// The admin endpoint's `/metrics` text (empty without one).
    fn metrics(&self) -> String {
        let mut text = String::new();
        let Some(admin) = self.admin.lock().ok().and_then(|a| a.clone()) else {
            return text;
        };
        let Ok(mut s) = TcpStream::connect(&admin) else {
            return text;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
        if s.write_all(request.as_bytes()).is_err() || s.read_to_string(&mut text).is_err() {
            text.clear();
        }
        text
    }

    /// The broker's own handling time of `api` requests (read to response ready): cumulative
    /// count per histogram bound in µs (u64::MAX for +Inf), summed over versions.
    fn handling_histogram(&self, api: &str) -> std::collections::BTreeMap<u64, u64> {
        let mut out = std::collections::BTreeMap::new();
        // sluice_request_duration_seconds_bucket{le="0.0001",api="Produce",version="9"} 12
        let api_label = format!("api=\"{api}\"");
        for line in self.metrics().lines() {
            let Some(rest) = line.strip_prefix("sluice_request_duration_seconds_bucket{") else {
                continue;
            };
            if !rest.contains(&api_label) {
                continue;
            }
            let Some((_, rest)) = rest.split_once("le=\"") else {
                continue;
            };
            let Some((le, rest)) = rest.split_once('"') else {
                continue;
            };
            let bound = if le == "+Inf" {
                u64::MAX
            } else {
                le.parse::<f64>()
                    .map_or(u64::MAX, |s| (s * 1e6).round() as u64)
            };
            let n: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            *out.entry(bound).or_insert(0) += n;
        }
        out
    }

    /// A counter without labels from `/metrics` (`sluice_<name>_total`).
    fn counter(&self, name: &str) -> Option<f64> {
        let prefix = format!("sluice_{name}_total ");
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    }

    /// Seconds appends have spent in their write calls (page-cache copies).
    fn append_write_seconds(&self) -> Option<f64> {
        self.counter("log_append_write_seconds")
    }

    /// Seconds Fetch responses have spent in sendfile (the kernel's TCP send path).
    fn sendfile_seconds(&self) -> Option<f64> {
        self.counter("fetch_sendfile_seconds")
    }

    /// Requests answered so far, by API, from the admin endpoint's `/metrics` (empty without
    /// one).
    fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        let text = self.metrics();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("sluice_requests_total{api=\"") else {
                continue;
            };
            let Some((api, rest)) = rest.split_once('"') else {
                continue;
            };
            let n: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            *out.entry(api.to_string()).or_insert(0) += n;
        }
        out
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn probe(&self, ticks: f64) -> Probe {
        Probe {
            pid: self.pid(),
            ticks,
        }
    }

    /// SIGTERM, then waits (at most `patience`) for the clean shutdown to finish; true if it
    /// did.
    fn terminate(&mut self, patience: Duration) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Broker {
    /// A clean stop (so that a profiler wrapped around the broker through `SLUICE_BIN` gets to
    /// write its data), killed if it takes more than 10 s.
    fn drop(&mut self) {
        if !self.terminate(Duration::from_secs(10)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Reads a process's CPU time and memory from /proc.
#[derive(Clone, Copy)]
struct Probe {
    pid: u32,
    ticks: f64,
}

impl Probe {
    /// utime + stime, in seconds.
    fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / self.ticks
    }

    /// A `/proc/<pid>/status` value in KiB (VmRSS, VmHWM).
    fn status_kib(&self, key: &str) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    fn rss_kib(&self) -> f64 {
        self.status_kib("VmRSS")
    }

    fn peak_kib(&self) -> f64 {
        self.status_kib("VmHWM")
    }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if the kernel refuses.
    fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Runs `f`, returning its result with the CPU seconds it cost the broker and the broker's
    /// peak RSS meanwhile.
    fn measure<T>(&self, f: impl FnOnce() -> T) -> (T, Usage) {
        self.reset_peak();
        let before = (self.cpu(), self.threads_cpu());
        let out = f();
        let after = (self.cpu(), self.threads_cpu());
        // utime + stime come in 10 ms ticks; the threads' own run time is the same quantity to
        // the nanosecond, usable when no thread came or went meanwhile.
        let cpu = match (before.1, after.1) {
            (Some((b, b_tids)), Some((a, a_tids))) if b_tids == a_tids && a >= b => a - b,
            _ => after.0 - before.0,
        };
        let usage = Usage {
            cpu,
            peak_kib: self.peak_kib(),
        };
        (out, usage)
    }

    /// The sum of every thread's run time (`sum_exec_runtime` in
    /// `/proc/<pid>/task/<tid>/schedstat`, nanoseconds: what utime + stime add up to), with the
    /// thread ids it covers.
    fn threads_cpu(&self) -> Option<(f64, Vec<u64>)> {
        let mut tids: Vec<u64> = std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        let mut ns = 0u64;
        for tid in &tids {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/task/{tid}/schedstat", self.pid)).ok()?;
            ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some((ns as f64 / 1e9, tids))
    }
}

/// Runs `f`; if `SLUICE_BENCH_PROFILE` is part of `row`'s name, with the profiler enabled
/// meanwhile through perf's control fifo `SLUICE_BENCH_PERF_CTL` (start the broker through a
/// `SLUICE_BIN` wrapper running `perf record -D -1 --control fifo:<that path> …`).
fn profiled<T>(row: &str, f: impl FnOnce() -> T) -> T {
    let ctl = std::env::var_os("SLUICE_BENCH_PERF_CTL");
    let wanted = std::env::var("SLUICE_BENCH_PROFILE").unwrap_or_default();
    let on = ctl.is_some() && !wanted.is_empty() && row.contains(&wanted);
    let send = |what: &str| {
        if let Some(path) = &ctl {
            if let Err(e) = std::fs::write(path, what) {
                eprintln!("bench: cannot write {what:?} to the perf control fifo: {e}");
            }
        }
    };
    if on {
        send("enable\n");
    }
    let out = f();
    if on {
        send("disable\n");
    }
    out
}

#[derive(Clone, Copy, Default)]
struct Usage {
    cpu: f64,
    peak_kib: f64,
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

/// This process's soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// A minimal synchronous Kafka wire client (sluice's own codec), for admin requests and raw load

struct Wire {
    stream: TcpStream,
    next_correlation: i32,
}

impl Wire {
    fn connect(addr: &str) -> std::io::Result<Wire> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Wire {
            stream,
            next_correlation: 1,
        })
    }

    fn call<T>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut EncodeBuf),
        decode: impl FnOnce(&mut Bytes, i16) -> Result<T, DecodeError>,
    ) -> std::io::Result<T> {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        self.stream
            .write_all(&frame(key, version, correlation_id, body))?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let mut payload = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        self.stream.read_exact(&mut payload)?;
        let mut payload = Bytes::from(payload);
        let bad = |e: DecodeError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let header = ResponseHeader::decode(&mut payload, response_header_version(key, version))
            .map_err(bad)?;
        if header.correlation_id != correlation_id {
            return Err(std::io::Error::other("correlation id mismatch"));
        }
        let value = decode(&mut payload, version).map_err(bad)?;
        if payload.has_remaining() {
            return Err(std::io::Error::other("undecoded bytes in response"));
        }
        Ok(value)
    }
}

fn frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: impl FnOnce(&mut EncodeBuf),
) -> Vec<u8> {
    sluice::protocol::request_frame(key, version, correlation_id, Some("sluice-bench"), body)
}

fn create_topic(addr: &str, name: &str, partitions: i32) {
    let mut wire = Wire::connect(addr).expect("connect for CreateTopics");
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: 1,
            ..CreatableTopic::default()
        }],
        timeout_ms: 30_000,
        ..CreateTopicsRequest::default()
    };
    let resp = wire
        .call(
            ApiKey::CreateTopics,
            7,
            |b| req.encode(b, 7),
            CreateTopicsResponse::decode,
        )
        .expect("CreateTopics");
    let code = resp.topics.first().map_or(-1, |t| t.error_code);
    assert_eq!(code, 0, "CreateTopics {name}: error {code}");
}

/// Deletes a topic the bench is done with, so that a run keeps little on disk at a time.
fn delete_topic(addr: &str, name: &str) {
    let req = DeleteTopicsRequest {
        topic_names: vec![name.to_string()],
        timeout_ms: 30_000,
        ..DeleteTopicsRequest::default()
    };
    let deleted = Wire::connect(addr).and_then(|mut wire| {
        wire.call(
            ApiKey::DeleteTopics,
            4,
            |b| req.encode(b, 4),
            DeleteTopicsResponse::decode,
        )
    });
    if let Err(e) = deleted {
        eprintln!("bench: could not delete topic {name}: {e}");
    }
}

/// Metadata for every topic; the number of partitions `topic` has (without errors).
fn partitions_listed(wire: &mut Wire, topic: &str) -> std::io::Result<usize> {
    let req = MetadataRequest {
        topics: None,
        ..MetadataRequest::default()
    };
    let resp = wire.call(
        ApiKey::Metadata,
        12,
        |b| req.encode(b, 12),
        MetadataResponse::decode,
    )?;
    Ok(resp
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic) && t.error_code == 0)
        .map_or(0, |t| {
            t.partitions.iter().filter(|p| p.error_code == 0).count()
        }))
}

// ---------------------------------------------------------------------------------------------
// Rows

struct Row {
    name: String,
    /// Records and seconds of a throughput row (rec/s and MB/s are printed for these).
    throughput: Option<(u64, f64)>,
    /// Bytes of record values moved, for CPU s per GB.
    bytes: u64,
    result: String,
    usage: Usage,
}

impl Row {
    fn mb_per_s(&self) -> Option<f64> {
        self.throughput.map(|(_, s)| self.bytes as f64 / 1e6 / s)
    }

    fn records_per_s(&self) -> Option<f64> {
        self.throughput.map(|(n, s)| n as f64 / s)
    }

    fn cpu_per_gb(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.usage.cpu / (self.bytes as f64 / 1e9))
    }

    /// CPU s per GB apart from `calls` seconds spent in one kind of system call. Those are wall
    /// time: when the host stalls the calls they can exceed the CPU time, and then the
    /// difference means nothing (None).
    fn cpu_per_gb_outside(&self, calls: Option<f64>) -> Option<f64> {
        let calls = calls.filter(|c| *c < self.usage.cpu)?;
        (self.bytes > 0).then(|| (self.usage.cpu - calls) / (self.bytes as f64 / 1e9))
    }
}

/// The growth of a broker counter (seconds) over a row.
fn seconds_between(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

/// ", 0.12 s of it in `what`" for the result column, or nothing without the figure.
fn spent_in(seconds: Option<f64>, what: &str) -> String {
    seconds
        .map(|s| format!(", {s:.2} s of it in {what}"))
        .unwrap_or_default()
}

/// A produce row's figures: (size, partitions, acks), records/s, CPU s/GB, and CPU s/GB outside
/// the log writes.
type ProduceFigures = ((usize, u32, &'static str), f64, f64, Option<f64>);

/// A consume row's figures: (size, partitions), records/s, CPU s/GB, and CPU s/GB outside
/// sendfile.
type ConsumeFigures = ((usize, u32), f64, f64, Option<f64>);

/// Figures the targets are checked against.
#[derive(Default)]
struct Figures {
    tcp_mb_s: Option<f64>,
    disk_mb_s: Option<f64>,
    produce: Vec<ProduceFigures>,
    /// CPU s/GB of the page-cache write ceiling (the writer's, first measurement).
    disk_cpu_per_gb: Option<f64>,
    /// (size, partitions) → (records/s, CPU s/GB).
    consume: Vec<ConsumeFigures>,
    ack_latency_us: Option<Percentiles>,
    e2e_latency_us: Option<Percentiles>,
    raw_latency_us: Option<Percentiles>,
    per_connection_kb: Option<f64>,
    idle_rss_mb: Option<f64>,
    startup_ms: Option<f64>,
}

#[derive(Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn percentiles(mut samples: Vec<u64>) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i] as f64 / 1e3
    };
    Some(Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
    })
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.0} / p99 {:.0} / p99.9 {:.0} / max {:.0} µs",
            self.p50, self.p99, self.p999, self.max
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Ceilings

/// One loopback TCP stream pushing `total` bytes in 1 MiB writes: MB/s.
fn loopback_tcp(total: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; MIB];
        let mut got = 0usize;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => panic!("loopback read: {e}"),
            }
        }
        got
    });
    let mut s = TcpStream::connect(addr).expect("connect");
    let chunk = vec![7u8; MIB];
    let started = Instant::now();
    for _ in 0..total / MIB {
        s.write_all(&chunk).expect("loopback write");
    }
    drop(s);
    let got = reader.join().expect("reader");
    assert_eq!(got, total);
    total as f64 / 1e6 / started.elapsed().as_secs_f64()
}

/// `total` bytes written to a new file in `dir` in 1 MiB chunks, no fsync: MB/s.
fn page_cache_write(dir: &Path, total: usize) -> f64 {
    let path = dir.join("ceiling.tmp");
    let mut file = std::fs::File::create(&path).expect("create");
    let chunk = vec![7u8; MIB];
    let started = Instant::now();
    for _ in 0..total / MIB {
        file.write_all(&chunk).expect("write");
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    total as f64 / 1e6 / seconds
}

// ---------------------------------------------------------------------------------------------
// Throughput

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

/// Sends `count` records of `size` bytes; returns the seconds from the first send to the last
/// acknowledgment.
fn produce(addr: &str, topic: &str, acks: &str, count: u64, size: usize) -> f64 {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000");
    let producer: BaseProducer<Deliveries> = with_extra(config, "SLUICE_BENCH_PRODUCER_CONFIG")
        .create_with_context(Deliveries::default())
        .expect("producer");
    // Metadata first, so connecting is not timed.
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
    seconds
}

/// Prints librdkafka's log lines (e.g. with `debug=fetch` in `SLUICE_BENCH_CONSUMER_CONFIG`).
struct Logged;

impl ClientContext for Logged {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!("librdkafka {level:?} {fac}: {log_message}");
    }
}

impl rdkafka::consumer::ConsumerContext for Logged {}

/// A consumer with librdkafka's defaults, connected (metadata of `topic` fetched), not yet
/// assigned.
fn default_consumer(
    addr: &str,
    topic: &str,
    extra: Option<&str>,
    settings: &[(&str, &str)],
) -> BaseConsumer<Logged> {
    // It needs a group.id even to assign partitions; auto commit off so that closing it does not
    // commit. Neither changes how it fetches.
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", "sluice-bench")
        .set("enable.auto.commit", "false");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let mut config = match extra {
        Some(var) => with_extra(config, var),
        None => config,
    };
    if config.get("debug").is_some() {
        config.set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
    }
    let consumer: BaseConsumer<Logged> = config.create_with_context(Logged).expect("consumer");
    // Metadata first, as for the producer: assigned before it knows the leader, librdkafka
    // waits for its 500 ms offset-query timer before the first fetch.
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    consumer
}

/// Assigns every partition of `topic` (0..`partitions`) from the start.
fn assign_from_start(consumer: &BaseConsumer<Logged>, topic: &str, partitions: u32) {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p as i32, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
}

/// Reads `count` records of `size` bytes from the start; returns the seconds from the
/// assignment to the last record. Like the producer's, the clock starts once the client is
/// connected and has the topic's metadata.
fn consume(
    addr: &str,
    topic: &str,
    partitions: u32,
    count: u64,
    size: usize,
    settings: &[(&str, &str)],
) -> f64 {
    let consumer = default_consumer(addr, topic, Some("SLUICE_BENCH_CONSUMER_CONFIG"), settings);
    let started = Instant::now();
    assign_from_start(&consumer, topic, partitions);
    let deadline = started + Duration::from_secs(600);
    let mut n = 0u64;
    while n < count {
        assert!(
            Instant::now() < deadline,
            "{topic}: {n} of {count} in 600 s"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let len = m.payload().map_or(0, <[u8]>::len);
                assert_eq!(len, size, "{topic}: record size");
                n += 1;
            }
            Some(Err(e)) => panic!("consume {topic}: {e}"),
            None => {}
        }
    }
    started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Latency

const MEASURED: usize = 1;

/// Delivery reports of the latency producer: the opaque is the send time (ns since `epoch`)
/// shifted left by one, with the low bit set for measured (not warm-up) records.
struct AckTimes {
    epoch: Instant,
    samples: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

impl ClientContext for AckTimes {}

impl ProducerContext for AckTimes {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if opaque & MEASURED != 0 {
            let sent = (opaque >> 1) as u64;
            if let Ok(mut s) = self.samples.lock() {
                s.push(now.saturating_sub(sent));
            }
        }
    }
}

/// Produce-to-ack and end-to-end latency at `rate` records/s of 100 B for `seconds` (after
/// `warmup` seconds that are not counted).
fn latency(
    addr: &str,
    topic: &str,
    rate: u64,
    warmup: f64,
    seconds: f64,
) -> (Option<Percentiles>, Option<Percentiles>, u64) {
    let epoch = Instant::now();
    let expected = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (addr, topic, expected, done) = (
            addr.to_string(),
            topic.to_string(),
            expected.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let consumer = default_consumer(&addr, &topic, None, &[]);
            assign_from_start(&consumer, &topic, 1);
            let mut samples = Vec::new();
            let deadline_after_done = Duration::from_secs(30);
            let mut done_at = None;
            loop {
                if samples.len() as u64 >= expected.load(Ordering::Relaxed) {
                    break;
                }
                if done.load(Ordering::Relaxed) {
                    let at = *done_at.get_or_insert_with(Instant::now);
                    if at.elapsed() > deadline_after_done {
                        break;
                    }
                }
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(m)) => {
                        let now = epoch.elapsed().as_nanos() as u64;
                        let p = m.payload().unwrap_or(&[]);
                        if p.len() >= 9 && p[8] == 1 {
                            let mut sent = [0u8; 8];
                            sent.copy_from_slice(&p[..8]);
                            samples.push(now.saturating_sub(u64::from_be_bytes(sent)));
                        }
                    }
                    Some(Err(e)) => panic!("latency consumer: {e}"),
                    None => {}
                }
            }
            samples
        })
    };

    let producer: ThreadedProducer<AckTimes> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "1")
        .set("linger.ms", "0")
        .create_with_context(AckTimes {
            epoch,
            samples: Mutex::new(Vec::new()),
            failed: AtomicU64::new(0),
        })
        .expect("latency producer");
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut payload = [b'x'; 100];
    let measured_n = paced(rate, warmup, seconds, |measured| {
        let sent = epoch.elapsed().as_nanos() as u64;
        payload[..8].copy_from_slice(&sent.to_be_bytes());
        payload[8] = u8::from(measured);
        let opaque = ((sent as usize) << 1) | usize::from(measured);
        let mut record = BaseRecord::with_opaque_to(topic, opaque).payload(&payload[..]);
        loop {
            match producer.send::<(), [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    std::thread::sleep(Duration::from_micros(100));
                    record = back;
                }
                Err((e, _)) => panic!("latency produce: {e}"),
            }
        }
    });
    producer
        .flush(Duration::from_secs(60))
        .expect("flush within 60 s");
    expected.store(measured_n, Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    let e2e = consumer.join().expect("latency consumer");
    let failed = producer.context().failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "latency: {failed} records failed");
    let acks = producer
        .context()
        .samples
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    assert_eq!(
        e2e.len() as u64,
        measured_n,
        "latency: the consumer saw {} of {measured_n} records",
        e2e.len()
    );
    (percentiles(acks), percentiles(e2e), measured_n)
}

/// Produce-to-ack round trips of the smallest possible client: one thread and one connection,
/// one 100 B record per Produce (v9, acks=1) sent at `rate`/s, each answer awaited in a blocking
/// read. What the broker and loopback TCP add to a round trip, without a client library's
/// threads; the warm-up is not counted.
fn raw_latency(
    addr: &str,
    topic: &str,
    rate: u64,
    warmup: f64,
    seconds: f64,
) -> Option<Percentiles> {
    let mut wire = Wire::connect(addr).expect("connect for the raw latency client");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut batch = sluice::record::BatchBuilder::new(0, now_ms);
    batch.push(None, Some(&[b'r'; 100]), &[]);
    let req = ProduceRequest {
        acks: 1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            topic_id: Default::default(),
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.build()),
            }],
        }],
        ..ProduceRequest::default()
    };
    let mut samples = Vec::new();
    paced(rate, warmup, seconds, |measured| {
        let sent = Instant::now();
        let resp = wire
            .call(
                ApiKey::Produce,
                9,
                |b| req.encode(b, 9),
                ProduceResponse::decode,
            )
            .expect("raw Produce");
        let took = sent.elapsed().as_nanos() as u64;
        let code = resp
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .map_or(-1, |p| p.error_code);
        assert_eq!(code, 0, "raw Produce: error {code}");
        if measured {
            samples.push(took);
        }
    });
    percentiles(samples)
}

/// Calls `send` `rate` times a second on schedule: `warmup` seconds' worth with `false` (not to
/// be counted), then `seconds`' worth with `true`. Returns how many calls were measured.
fn paced(rate: u64, warmup: f64, seconds: f64, mut send: impl FnMut(bool)) -> u64 {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let warmup_n = (warmup * rate as f64) as u64;
    let measured_n = (seconds * rate as f64) as u64;
    let start = Instant::now();
    for i in 0..warmup_n + measured_n {
        let due = start + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        send(i >= warmup_n);
    }
    measured_n
}

// ---------------------------------------------------------------------------------------------
// Idle connections

/// Opens `n` connections that each send one ApiVersions v3 and read its answer.
fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let req = ApiVersionsRequest {
        client_software_name: "sluice-bench".into(),
        client_software_version: "1".into(),
        ..Default::default()
    };
    let request = frame(ApiKey::ApiVersions, 3, 1, |b| req.encode(b, 3));
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut attempt = 0;
        let mut s = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    if attempt == 1 {
                        eprintln!("connection {i}: {e}; retrying");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connection {i}: {e}"),
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        s.write_all(&request).expect("ApiVersions");
        let mut size = [0u8; 4];
        s.read_exact(&mut size).expect("ApiVersions answer");
        let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        s.read_exact(&mut body).expect("ApiVersions answer");
        let mut body = Bytes::from(body);
        let _ = ResponseHeader::decode(&mut body, 0).expect("response header");
        let resp = ApiVersionsResponse::decode(&mut body, 3).expect("ApiVersions response");
        assert_eq!(resp.error_code, 0, "ApiVersions error");
        sockets.push(s);
    }
    sockets
}

// ---------------------------------------------------------------------------------------------

struct Options {
    quick: bool,
    only: Option<Vec<String>>,
    /// Only the produce and consume rows whose name contains this.
    filter: Option<String>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            quick: false,
            only: None,
            filter: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--only" => {
                    let list = args.next().unwrap_or_default();
                    options.only = Some(list.split(',').map(|s| s.trim().to_string()).collect());
                }
                "--filter" => options.filter = args.next(),
                "-h" | "--help" => {
                    println!(
                        "usage: bench [--quick] \
                         [--only ceilings,produce,consume,latency,connections,startup] \
                         [--filter TEXT (produce/consume rows whose name has TEXT)]"
                    );
                    std::process::exit(0);
                }
                other => {
                    eprintln!("bench: unknown argument {other} (try --help)");
                    std::process::exit(2);
                }
            }
        }
        options
    }

    fn selects(&self, row: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| row.contains(f.as_str()))
    }

    fn runs(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }
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

fn temp_dir() -> tempfile::TempDir {
    match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("temp dir in SLUICE_BENCH_DIR"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

fn say(what: &str) {
    eprintln!("[{}] {what}", chrono_now());
}

fn chrono_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn main() {
    let options = Options::parse();
    let quick = options.quick;
    let bin = broker_binary();
    let ticks = clock_ticks();
    let (_, version) = rdkafka::util::get_rdkafka_version();
    let suite_started = Instant::now();
    println!(
        "sluice bench{}: broker {}, librdkafka {version}, {} cores",
        if quick { " --quick" } else { "" },
        bin.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let scale = if quick { 10 } else { 1 };
    let mut rows: Vec<Row> = Vec::new();
    let mut figures = Figures::default();

    if options.runs("ceilings") {
        let total = if quick { GIB / 4 } else { GIB };
        // This process's own CPU: what moving the bytes costs the machine, for comparison with
        // the broker's CPU per GB below.
        let me = Probe {
            pid: std::process::id(),
            ticks,
        };
        say("ceiling: loopback TCP");
        let (tcp, tcp_usage) = me.measure(|| loopback_tcp(total));
        say("ceiling: page-cache write");
        let dir = temp_dir();
        let (disk, disk_usage) = me.measure(|| page_cache_write(dir.path(), total));
        for (name, mb_s, usage, what) in [
            (
                format!("ceiling: loopback TCP, 1 stream, {} MiB", total / MIB),
                tcp,
                tcp_usage,
                "CPU = sender + receiver",
            ),
            (
                format!("ceiling: page-cache write, {} MiB", total / MIB),
                disk,
                disk_usage,
                "CPU = the writer",
            ),
        ] {
            rows.push(Row {
                name,
                throughput: Some((0, total as f64 / 1e6 / mb_s)),
                bytes: total as u64,
                result: format!("(not the broker: {what})"),
                usage,
            });
        }
        figures.tcp_mb_s = Some(tcp);
        figures.disk_mb_s = Some(disk);
        figures.disk_cpu_per_gb = rows.last().and_then(Row::cpu_per_gb);
    }

    let throughput = options.runs("produce") || options.runs("consume") || options.runs("latency");
    if throughput {
        let dir = temp_dir();
        // With the admin endpoint, to count the requests each row took.
        let broker = Broker::start(&bin, dir.path(), &["--set", "admin.listener=127.0.0.1:0"]);
        let probe = broker.probe(ticks);
        let addr = broker.addr.clone();
        let requests_during = |api: &str, before: &std::collections::BTreeMap<String, u64>| {
            let after = broker.requests();
            let n = after.get(api).copied().unwrap_or(0) - before.get(api).copied().unwrap_or(0);
            if after.is_empty() {
                String::new()
            } else {
                format!("{n} {api} requests")
            }
        };
        let workloads: [(u64, usize); 2] = [(2_000_000 / scale, 100), (400_000 / scale, 1024)];
        let mut produced = Vec::new();
        if options.runs("produce") || options.runs("consume") {
            for (count, size) in workloads {
                for partitions in [1u32, 8] {
                    for acks in ["1", "all"] {
                        let topic = format!("bench-{size}b-p{partitions}-acks-{acks}");
                        let name = format!("produce {size:>4} B  p={partitions} acks={acks}");
                        if !options.selects(&name) {
                            continue;
                        }
                        create_topic(&addr, &topic, partitions as i32);
                        say(&name);
                        let before = broker.requests();
                        let writes_before = broker.append_write_seconds();
                        let (seconds, usage) = probe.measure(|| {
                            profiled(&name, || produce(&addr, &topic, acks, count, size))
                        });
                        // The kernel's copy into the page cache, timed around the writes.
                        let log_writes =
                            seconds_between(writes_before, broker.append_write_seconds());
                        let result = requests_during("Produce", &before)
                            + &spent_in(log_writes, "log writes");
                        let row = Row {
                            name,
                            throughput: Some((count, seconds)),
                            bytes: count * size as u64,
                            result,
                            usage,
                        };
                        figures.produce.push((
                            (size, partitions, if acks == "1" { "1" } else { "all" }),
                            row.records_per_s().unwrap_or(0.0),
                            row.cpu_per_gb().unwrap_or(0.0),
                            row.cpu_per_gb_outside(log_writes),
                        ));
                        rows.push(row);
                        if acks == "1" {
                            produced.push((topic, partitions, count, size));
                        } else {
                            // Not read back: off the disk at once.
                            delete_topic(&addr, &topic);
                        }
                    }
                }
            }
        }
        if options.runs("ceilings") && options.runs("produce") {
            // The page cache again, now that the produce rows have taken their share of memory
            // (on a VM, pages the host has taken back cost much more to write the first time).
            let total = if quick { GIB / 4 } else { GIB };
            let me = Probe {
                pid: std::process::id(),
                ticks,
            };
            say("ceiling: page-cache write, after the produce rows");
            let (disk, usage) = me.measure(|| page_cache_write(dir.path(), total));
            rows.push(Row {
                name: format!("ceiling: page-cache write, {} MiB, again", total / MIB),
                throughput: Some((0, total as f64 / 1e6 / disk)),
                bytes: total as u64,
                result: "(not the broker: after the produce rows)".into(),
                usage,
            });
        }
        if options.runs("consume") {
            // The default consumer, then (100 B only, informative) one that does not pause for a
            // second whenever 100,000 records wait in its queue (see the README).
            let no_pause: &[(&str, &str)] = &[("fetch.queue.backoff.ms", "10")];
            let runs = produced
                .iter()
                .map(|p| (p, "default consumer", &[][..]))
                .chain(
                    produced
                        .iter()
                        .filter(|p| p.3 == 100)
                        .map(|p| (p, "fetch.queue.backoff.ms=10", no_pause)),
                );
            for ((topic, partitions, count, size), what, settings) in runs {
                let name = format!("consume {size:>4} B  p={partitions} ({what})");
                if !options.selects(&name) {
                    continue;
                }
                say(&name);
                let before = broker.requests();
                let sendfile_before = broker.sendfile_seconds();
                let (seconds, usage) = probe.measure(|| {
                    profiled(&name, || {
                        consume(&addr, topic, *partitions, *count, *size, settings)
                    })
                });
                let in_sendfile = seconds_between(sendfile_before, broker.sendfile_seconds());
                let result = requests_during("Fetch", &before) + &spent_in(in_sendfile, "sendfile");
                let row = Row {
                    name,
                    throughput: Some((*count, seconds)),
                    bytes: count * *size as u64,
                    result,
                    usage,
                };
                let last_read = settings.len() == no_pause.len() || *size != 100;
                if last_read {
                    delete_topic(&addr, topic);
                }
                if settings.is_empty() {
                    figures.consume.push((
                        (*size, *partitions),
                        row.records_per_s().unwrap_or(0.0),
                        row.cpu_per_gb().unwrap_or(0.0),
                        row.cpu_per_gb_outside(in_sendfile),
                    ));
                }
                rows.push(row);
            }
        }
        if options.runs("latency") {
            let (rate, warmup, seconds) = if quick {
                (5_000, 0.5, 2.0)
            } else {
                (5_000, 1.0, 10.0)
            };
            create_topic(&addr, "bench-latency", 1);
            say("latency");
            let before = broker.handling_histogram("Produce");
            let ((acks, e2e, n), usage) = probe.measure(|| {
                profiled("latency", || {
                    latency(&addr, "bench-latency", rate, warmup, seconds)
                })
            });
            let after = broker.handling_histogram("Produce");
            for (what, p) in [("produce→ack", acks), ("end-to-end", e2e)] {
                rows.push(Row {
                    name: format!("latency {what}, {rate}/s × 100 B acks=1"),
                    throughput: Some((n, seconds)),
                    bytes: n * 100,
                    result: p.map(|p| p.to_string()).unwrap_or_default(),
                    usage,
                });
            }
            // Of the produce-to-ack time, what the broker took (read to response ready, warm-up
            // included): shares under its histogram's bounds.
            let delta =
                |b: u64| after.get(&b).copied().unwrap_or(0) - before.get(&b).copied().unwrap_or(0);
            let total = delta(u64::MAX);
            if total > 0 {
                let shares: Vec<String> = [100u64, 250, 500, 1000, 2500]
                    .iter()
                    .map(|&b| format!("{:.2}% ≤ {b}", 100.0 * delta(b) as f64 / total as f64))
                    .collect();
                rows.push(Row {
                    name: "latency: the broker's Produce handling".into(),
                    throughput: None,
                    bytes: 0,
                    result: format!("{} µs ({total} requests)", shares.join(", ")),
                    usage,
                });
            }
            figures.ack_latency_us = acks;
            figures.e2e_latency_us = e2e;
            // The same load from a client with no threads of its own: the broker's part.
            say("latency, raw client");
            let (raw, usage) = probe.measure(|| {
                profiled("latency raw", || {
                    raw_latency(&addr, "bench-latency", rate, warmup, seconds)
                })
            });
            figures.raw_latency_us = raw;
            rows.push(Row {
                name: format!("latency produce→ack, raw client, {rate}/s"),
                throughput: Some((n, seconds)),
                bytes: n * 100,
                result: raw.map(|p| p.to_string()).unwrap_or_default(),
                usage,
            });
        }
        drop(broker);
    }

    if options.runs("connections") {
        let dir = temp_dir();
        let broker = Broker::start(&bin, dir.path(), &[]);
        let probe = broker.probe(ticks);
        // Idle: started, nothing asked of it yet.
        std::thread::sleep(Duration::from_millis(500));
        let idle = probe.rss_kib();
        figures.idle_rss_mb = Some(idle * 1024.0 / 1e6);
        rows.push(Row {
            name: "idle broker (fresh, no topics)".into(),
            throughput: None,
            bytes: 0,
            result: format!("RSS {:.1} MiB", idle / 1024.0),
            usage: Usage {
                cpu: probe.cpu(),
                peak_kib: probe.peak_kib(),
            },
        });
        let wanted = if quick { 1_000 } else { 10_000 };
        let n = match open_files_limit() {
            Some(limit) if (limit as usize) < wanted + 256 => {
                eprintln!(
                    "bench: open-files limit {limit} is too low for {wanted} connections; \
                     run scripts/bench.sh (it raises ulimit -n)"
                );
                (limit as usize).saturating_sub(256)
            }
            _ => wanted,
        };
        let name = format!("{n} idle connections (ApiVersions each)");
        say(&name);
        let before = probe.rss_kib();
        let (sockets, usage) = probe.measure(|| {
            let sockets = idle_connections(&broker.addr, n);
            // Let the broker finish whatever it does after answering.
            std::thread::sleep(Duration::from_millis(1000));
            sockets
        });
        let after = probe.rss_kib();
        let per_kb = (after - before) * 1024.0 / 1000.0 / n.max(1) as f64;
        figures.per_connection_kb = Some(per_kb);
        rows.push(Row {
            name,
            throughput: None,
            bytes: 0,
            result: format!(
                "RSS {:.1} → {:.1} MiB: {per_kb:.1} KB each",
                before / 1024.0,
                after / 1024.0
            ),
            usage,
        });
        drop(sockets);
        drop(broker);
    }

    if options.runs("startup") {
        let partitions = 1000;
        let dir = temp_dir();
        say("startup: filling 1,000 partitions");
        {
            // Closing 1,000 written partitions takes a few fsyncs each: give it time, so that
            // the restart below is a clean one.
            let mut broker =
                Broker::start(&bin, dir.path(), &["--set", "shutdown.timeout.ms=300000"]);
            create_topic(&broker.addr, "bench-startup", partitions);
            let producer: BaseProducer<Deliveries> = ClientConfig::new()
                .set("bootstrap.servers", &broker.addr)
                .set("linger.ms", "5")
                .create_with_context(Deliveries::default())
                .expect("producer");
            let payload = [b's'; 100];
            for p in 0..partitions {
                for _ in 0..100 {
                    let mut record = BaseRecord::<(), [u8]>::to("bench-startup")
                        .partition(p)
                        .payload(&payload[..]);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                back,
                            )) => {
                                producer.poll(Duration::from_millis(1));
                                record = back;
                            }
                            Err((e, _)) => panic!("produce for startup: {e}"),
                        }
                    }
                }
            }
            producer.flush(Duration::from_secs(120)).expect("flush");
            assert_eq!(
                producer.context().ok.load(Ordering::Relaxed),
                partitions as u64 * 100
            );
            drop(producer);
            assert!(
                broker.terminate(Duration::from_secs(300)),
                "broker did not stop within 300 s of SIGTERM"
            );
        }
        let clean = (0..partitions)
            .filter(|p| {
                dir.path()
                    .join(format!("bench-startup-{p}"))
                    .join("sluice-clean-shutdown")
                    .exists()
            })
            .count();
        say("startup: restarting");
        let spawned = Instant::now();
        let broker = Broker::start(&bin, dir.path(), &[]);
        let listening = broker.listening_after;
        let mut wire = Wire::connect(&broker.addr).expect("connect for Metadata");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = partitions_listed(&mut wire, "bench-startup").unwrap_or(0);
            if listed == partitions as usize {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "startup: {listed} partitions listed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let ready = spawned.elapsed();
        let probe = broker.probe(ticks);
        let usage = Usage {
            cpu: probe.cpu(),
            peak_kib: probe.peak_kib(),
        };
        figures.startup_ms = Some(ready.as_secs_f64() * 1e3);
        rows.push(Row {
            name: format!("startup, {partitions} partitions on disk"),
            throughput: None,
            bytes: 0,
            result: format!(
                "listening {:.0} ms, first Metadata {:.0} ms{}",
                listening.as_secs_f64() * 1e3,
                ready.as_secs_f64() * 1e3,
                if clean == partitions as usize {
                    String::new()
                } else {
                    format!(" ({clean} of {partitions} partitions had closed cleanly)")
                }
            ),
            usage,
        });
        std::thread::sleep(Duration::from_millis(500));
        rows.push(Row {
            name: format!("idle broker ({partitions} partitions)"),
            throughput: None,
            bytes: 0,
            result: format!("RSS {:.1} MiB", probe.rss_kib() / 1024.0),
            usage: Usage {
                cpu: probe.cpu(),
                peak_kib: probe.peak_kib(),
            },
        });
        drop(broker);
    }

    print_table(&rows, &figures);
    print_targets(&figures);
    println!(
        "\nsuite ran {:.0} s. MB = 10^6 bytes of record values (ceilings: of data); GB = 10^9. \
         CPU s = the broker's utime+stime during the row; peak RSS = its VmHWM during the row \
         (since start for the idle and startup rows).",
        suite_started.elapsed().as_secs_f64()
    );
}

fn print_table(rows: &[Row], figures: &Figures) {
    println!();
    println!(
        "{:<46} {:>9} {:>8} {:>8} {:>8}  {:>9} {:>9}  result",
        "row", "records/s", "MB/s", "% TCP", "CPU s", "CPU s/GB", "peak MiB"
    );
    for row in rows {
        let opt = |v: Option<f64>, prec: usize| match v {
            Some(v) => format!("{v:.prec$}"),
            None => "-".into(),
        };
        let records_per_s = row
            .records_per_s()
            .filter(|r| *r > 0.0)
            .map(|r| format!("{r:.0}"))
            .unwrap_or_else(|| "-".into());
        let is_ceiling = row.name.starts_with("ceiling");
        let of_tcp = match (row.mb_per_s(), figures.tcp_mb_s) {
            (Some(mb), Some(tcp)) if !is_ceiling && !row.name.starts_with("latency") => {
                format!("{:.0}%", 100.0 * mb / tcp)
            }
            _ => "-".into(),
        };
        let (cpu, per_gb, peak) = (
            format!("{:.2}", row.usage.cpu),
            opt(row.cpu_per_gb(), 2),
            if is_ceiling {
                "-".into()
            } else {
                format!("{:.1}", row.usage.peak_kib / 1024.0)
            },
        );
        println!(
            "{:<46} {:>9} {:>8} {:>8} {:>8}  {:>9} {:>9}  {}",
            row.name,
            records_per_s,
            opt(row.mb_per_s(), 1),
            of_tcp,
            cpu,
            per_gb,
            peak,
            row.result
        );
    }
}

fn print_targets(f: &Figures) {
    let mut lines: Vec<(String, String, Option<bool>)> = Vec::new();
    let mut check = |what: String, value: String, ok: Option<bool>| lines.push((what, value, ok));
    for &((size, partitions, acks), _, per_gb, outside_writes) in &f.produce {
        let limit = match (size, acks) {
            (1024, "1") => 0.6,
            (100, "1") => 1.5,
            _ => continue,
        };
        check(
            format!("produce {size} B p={partitions} acks=1: CPU ≤ {limit} s/GB"),
            format!("{per_gb:.2} s/GB"),
            Some(per_gb <= limit),
        );
        if let Some(outside) = outside_writes {
            // Not a target: the broker's own work apart from the page cache's, and what the page
            // cache cost a plain file write on this run.
            let file = f
                .disk_cpu_per_gb
                .map(|c| format!(" | {c:.2}"))
                .unwrap_or_default();
            check(
                "  (outside log writes | a file write)".into(),
                format!("{outside:.2}{file} s/GB"),
                None,
            );
        }
    }
    for &((size, partitions), rate, per_gb, outside_sendfile) in &f.consume {
        check(
            format!("consume {size} B p={partitions}: CPU ≤ 0.3 s/GB"),
            format!("{per_gb:.2} s/GB"),
            Some(per_gb <= 0.3),
        );
        if let Some(outside) = outside_sendfile {
            // Not a target: the broker's own work apart from the kernel's TCP send of records.
            check(
                "  (outside sendfile)".into(),
                format!("{outside:.2} s/GB"),
                None,
            );
        }
        let produced = f
            .produce
            .iter()
            .find(|((s, p, a), ..)| *s == size && *p == partitions && *a == "1")
            .map(|(_, r, ..)| *r);
        if let Some(produced) = produced {
            check(
                format!("consume {size} B p={partitions}: ≥ producer's records/s"),
                format!("{rate:.0} vs {produced:.0} records/s"),
                Some(rate >= produced),
            );
        }
    }
    if let Some(p) = f.ack_latency_us {
        check(
            "produce→ack p99 ≤ 300 µs".into(),
            format!("{:.0} µs", p.p99),
            Some(p.p99 <= 300.0),
        );
        check(
            "produce→ack p99.9 ≤ 2 ms".into(),
            format!("{:.0} µs", p.p999),
            Some(p.p999 <= 2000.0),
        );
    }
    if let Some(p) = f.raw_latency_us {
        // Not a target: the same round trip without librdkafka's threads, to tell the two apart.
        check(
            "  (raw client: the broker + loopback)".into(),
            format!("p99 {:.0} / p99.9 {:.0} µs", p.p99, p.p999),
            None,
        );
    }
    if let Some(kb) = f.per_connection_kb {
        check(
            "idle connection ≤ 20 KB RSS".into(),
            format!("{kb:.1} KB"),
            Some(kb <= 20.0),
        );
    }
    if let Some(mb) = f.idle_rss_mb {
        check(
            "idle RSS ≤ 30 MB".into(),
            format!("{mb:.1} MB"),
            Some(mb <= 30.0),
        );
    }
    if let Some(ms) = f.startup_ms {
        check(
            "startup with 1,000 partitions ≤ 200 ms".into(),
            format!("{ms:.0} ms"),
            Some(ms <= 200.0),
        );
    }
    if let (Some(tcp), Some(disk)) = (f.tcp_mb_s, f.disk_mb_s) {
        check(
            "ceilings (for reading the rows)".into(),
            format!("loopback TCP {tcp:.0} MB/s, page-cache write {disk:.0} MB/s"),
            None,
        );
    }
    if lines.is_empty() {
        return;
    }
    println!("\ntargets (issue 7)");
    for (what, value, ok) in lines {
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("  {what:<52} {value:<40} {verdict}");
    }
}
