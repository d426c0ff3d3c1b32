//! Load and soak: many concurrent producing connections and consumers against a release broker,
//! then a check that nothing acknowledged was lost and nothing was stored twice.
//!
//! ```text
//! scripts/soak.sh                        # 1,000 producers, 100 consumers, 60 s
//! cargo run --release --example soak -- --duration 10 --producers 200 --consumers 20
//! ```
//!
//! The broker (`--bin`, else `$SLUICE_BIN`, else `target/release/sluice`) starts on a temp dir
//! and a free loopback port. Each producer is its own TCP connection (a raw async client on the
//! generated codec, one request at a time, acks=-1, no retries) writing batches of 1-8 keyed
//! records — key `p<id>`, value `<id>:<seq>:<padding>` — to partition `id % partitions` of one
//! topic, pausing `--interval-ms` between requests. Each consumer is its own connection reading
//! its share of the partitions from offset 0 (with fewer consumers than partitions each reads
//! several; consumers beyond the partition count are not started). After `--duration` seconds
//! the producers stop,
//! the consumers read to the end, and every (producer, seq) is accounted for:
//! acknowledged records never read are lost; records read twice are duplicated; records stored
//! for a request whose answer was an error (or never came) are counted on their own.
//!
//! Prints records produced/consumed, lost, duplicated, the broker's peak RSS (VmHWM) and the
//! produce latency percentiles. Exits non-zero if anything acknowledged was lost or duplicated.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use sluice::protocol::messages::create_topics_response::CreateTopicsResponse;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::protocol::wire::{DecodeError, EncodeBuf};
use sluice::record::{self, BatchBuilder, BatchIter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOPIC: &str = "soak";

#[derive(Parser, Debug, Clone)]
#[command(about = "sluice load and soak test")]
struct Args {
    /// Seconds of producing.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Concurrent producing connections.
    #[arg(long, default_value_t = 1000)]
    producers: usize,
    /// Concurrent consuming connections.
    #[arg(long, default_value_t = 100)]
    consumers: usize,
    /// Partitions of the soak topic.
    #[arg(long, default_value_t = 100)]
    partitions: usize,
    /// Pause of each producer between two requests, in milliseconds.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
    /// Bytes of padding in each record value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// The broker binary.
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Extra broker settings, `key=value` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let bin = args
        .bin
        .clone()
        .or_else(|| std::env::var_os("SLUICE_BIN").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release/sluice"));
    let temp = tempfile::tempdir().expect("temp dir");
    let mut broker = Broker::start(&bin, temp.path(), &args.set);
    println!(
        "soak: broker pid {} on {} ({}), {} producers, {} consumers, {} partitions, {} s, \
         {} ms between requests",
        broker.child.id(),
        broker.addr,
        bin.display(),
        args.producers,
        args.consumers,
        args.partitions,
        args.duration,
        args.interval_ms
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(run(args.clone(), broker.addr, broker.child.id()));
    let warnings = broker.warnings.load(Ordering::Relaxed);
    broker.stop();
    report.print(warnings);
    if !report.passed() {
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------

struct Broker {
    child: Child,
    addr: SocketAddr,
    warnings: Arc<AtomicU64>,
}

impl Broker {
    fn start(bin: &std::path::Path, dir: &std::path::Path, set: &[String]) -> Broker {
        let mut cmd = Command::new(bin);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--log-dirs")
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for s in set {
            cmd.arg("--set").arg(s);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr");
        let warnings = Arc::new(AtomicU64::new(0));
        let counter = warnings.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let bad = line.contains(" WARN ")
                    || line.contains(" ERROR ")
                    || line.contains("panicked");
                if bad && counter.fetch_add(1, Ordering::Relaxed) < 20 {
                    eprintln!("[broker] {line}");
                }
                if let Some(pos) = line.find("listening on ") {
                    let rest = &line[pos + "listening on ".len()..];
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("broker did not report its address")
            .parse()
            .expect("listening address");
        Broker {
            child,
            addr,
            warnings,
        }
    }

    /// Peak resident set size (VmHWM) in KiB.
    fn peak_rss_kib(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A raw async Kafka client: one request at a time on one connection
// ---------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    correlation: i32,
    client_id: String,
}

enum ClientError {
    Io(std::io::Error),
    Decode(DecodeError),
    Correlation,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "i/o: {e}"),
            ClientError::Decode(e) => write!(f, "decode: {e}"),
            ClientError::Correlation => write!(f, "correlation id mismatch"),
        }
    }
}

impl Conn {
    async fn connect(addr: SocketAddr, client_id: String) -> std::io::Result<Conn> {
        // Many sockets open at once: retry a refused connect a few times (listen backlog).
        let mut last = None;
        for attempt in 0..20u64 {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(Conn {
                        stream,
                        correlation: 0,
                        client_id,
                    });
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("connect failed")))
    }

    async fn call<T>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut EncodeBuf),
        decode: impl FnOnce(&mut Bytes, i16) -> Result<T, DecodeError>,
    ) -> Result<T, ClientError> {
        self.correlation = self.correlation.wrapping_add(1);
        let frame = sluice::protocol::request_frame(
            key,
            version,
            self.correlation,
            Some(&self.client_id),
            body,
        );
        self.stream
            .write_all(&frame)
            .await
            .map_err(ClientError::Io)?;
        let size = self.stream.read_i32().await.map_err(ClientError::Io)?;
        let mut payload = BytesMut::zeroed(usize::try_from(size).unwrap_or(0));
        self.stream
            .read_exact(&mut payload)
            .await
            .map_err(ClientError::Io)?;
        let mut payload = payload.freeze();
        let header = ResponseHeader::decode(&mut payload, response_header_version(key, version))
            .map_err(ClientError::Decode)?;
        if header.correlation_id != self.correlation {
            return Err(ClientError::Correlation);
        }
        decode(&mut payload, version).map_err(ClientError::Decode)
    }
}

// ---------------------------------------------------------------------------
// Producers and consumers
// ---------------------------------------------------------------------------

/// What one producer did: acknowledged sequence ranges, failed ones, latencies (µs).
#[derive(Default)]
struct Produced {
    acked: Vec<(u32, u32)>,
    failed: Vec<(u32, u32)>,
    latencies_us: Vec<u32>,
    errors: HashMap<String, u64>,
    gave_up: bool,
}

fn value(id: usize, seq: u32, padding: usize) -> Vec<u8> {
    let mut v = format!("{id}:{seq}:").into_bytes();
    v.resize(v.len() + padding, b'.');
    v
}

async fn producer(
    id: usize,
    addr: SocketAddr,
    args: Arc<Args>,
    stop: Arc<AtomicBool>,
    acked_total: Arc<AtomicU64>,
) -> Produced {
    let mut out = Produced::default();
    let mut conn = match Conn::connect(addr, format!("soak-producer-{id}")).await {
        Ok(c) => c,
        Err(e) => {
            *out.errors.entry(format!("connect: {e}")).or_default() += 1;
            out.gave_up = true;
            return out;
        }
    };
    let partition = (id % args.partitions) as i32;
    let key = format!("p{id}");
    let mut seq = 0u32;
    let mut round = 0u64;
    // Spread the first requests over one interval.
    tokio::time::sleep(Duration::from_millis(
        (id as u64 * 7919) % args.interval_ms.max(1),
    ))
    .await;
    while !stop.load(Ordering::Relaxed) {
        let n = 1 + (round % 8) as u32;
        round += 1;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut batch = BatchBuilder::new(0, now_ms);
        for s in seq..seq + n {
            batch.push(
                Some(key.as_bytes()),
                Some(&value(id, s, args.value_bytes)),
                &[],
            );
        }
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: TOPIC.into(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch.build()),
                }],
            }],
            ..ProduceRequest::default()
        };
        let sent = Instant::now();
        let result = conn
            .call(
                ApiKey::Produce,
                9,
                |b| req.encode(b, 9),
                ProduceResponse::decode,
            )
            .await;
        let took = sent.elapsed();
        let range = (seq, seq + n);
        seq += n;
        match result {
            Ok(resp) => {
                let code = resp
                    .responses
                    .first()
                    .and_then(|t| t.partition_responses.first())
                    .map(|p| p.error_code)
                    .unwrap_or(-1);
                if code == 0 {
                    out.latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    out.acked.push(range);
                    acked_total.fetch_add(u64::from(n), Ordering::Relaxed);
                } else {
                    out.failed.push(range);
                    *out.errors.entry(format!("error code {code}")).or_default() += 1;
                }
            }
            Err(e) => {
                // The connection is unusable; no retries: stop this producer.
                out.failed.push(range);
                let local = conn
                    .stream
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string());
                eprintln!("soak: producer {id} (from {local}) stopped at request {round}: {e}");
                *out.errors.entry(e.to_string()).or_default() += 1;
                out.gave_up = true;
                return out;
            }
        }
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    out
}

/// What consumers read: per producer id, how many times each sequence number was seen.
type Seen = HashMap<usize, Vec<u8>>;

struct Consumed {
    seen: Seen,
    records: u64,
    malformed: u64,
    error: Option<String>,
}

async fn consumer(
    id: usize,
    addr: SocketAddr,
    partitions: Vec<i32>,
    producers_done: Arc<AtomicBool>,
    deadline: Instant,
) -> Consumed {
    let mut out = Consumed {
        seen: Seen::new(),
        records: 0,
        malformed: 0,
        error: None,
    };
    let mut conn = match Conn::connect(addr, format!("soak-consumer-{id}")).await {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(format!("connect: {e}"));
            return out;
        }
    };
    let mut next: Vec<i64> = vec![0; partitions.len()];
    let mut done = vec![false; partitions.len()];
    while done.iter().any(|d| !d) {
        if Instant::now() > deadline {
            out.error = Some(format!("consumer {id}: not caught up by the deadline"));
            return out;
        }
        let finishing = producers_done.load(Ordering::Acquire);
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 200,
            min_bytes: 1,
            max_bytes: 4 << 20,
            topics: vec![FetchTopic {
                topic: TOPIC.into(),
                partitions: partitions
                    .iter()
                    .zip(&next)
                    .map(|(&p, &offset)| FetchPartition {
                        partition: p,
                        fetch_offset: offset,
                        partition_max_bytes: 1 << 20,
                        ..FetchPartition::default()
                    })
                    .collect(),
                ..FetchTopic::default()
            }],
            ..FetchRequest::default()
        };
        let resp = match conn
            .call(
                ApiKey::Fetch,
                12,
                |b| req.encode(b, 12),
                FetchResponse::decode,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                out.error = Some(format!("consumer {id}: fetch failed: {e}"));
                return out;
            }
        };
        for topic in &resp.responses {
            for p in &topic.partitions {
                let Some(i) = partitions.iter().position(|&x| x == p.partition_index) else {
                    continue;
                };
                if p.error_code != 0 {
                    out.error = Some(format!(
                        "consumer {id}: partition {} error {}",
                        p.partition_index, p.error_code
                    ));
                    return out;
                }
                if let Some(records) = &p.records {
                    for batch in BatchIter::new(records.clone()).map_while(Result::ok) {
                        let Ok(recs) = record::decode_records(&batch.bytes) else {
                            out.malformed += 1;
                            continue;
                        };
                        for r in recs {
                            if r.offset < next[i] {
                                continue;
                            }
                            next[i] = r.offset + 1;
                            out.records += 1;
                            match parse_value(r.value.as_deref()) {
                                Some((producer, seq)) => {
                                    let counts = out.seen.entry(producer).or_default();
                                    let seq = seq as usize;
                                    if counts.len() <= seq {
                                        counts.resize(seq + 1, 0);
                                    }
                                    counts[seq] = counts[seq].saturating_add(1);
                                }
                                None => out.malformed += 1,
                            }
                        }
                    }
                }
                // Caught up once nothing more is being produced and we hold the high watermark.
                if finishing && next[i] >= p.high_watermark {
                    done[i] = true;
                }
            }
        }
    }
    out
}

fn parse_value(value: Option<&[u8]>) -> Option<(usize, u32)> {
    let text = std::str::from_utf8(value?).ok()?;
    let mut parts = text.splitn(3, ':');
    let producer = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((producer, seq))
}

// ---------------------------------------------------------------------------
// The run and its report
// ---------------------------------------------------------------------------

struct Report {
    duration: Duration,
    producers: usize,
    producers_gave_up: usize,
    consumers: usize,
    produced: u64,
    failed_records: u64,
    consumed: u64,
    unique_consumed: u64,
    lost: u64,
    duplicated: u64,
    stored_though_failed: u64,
    malformed: u64,
    producer_failures: u64,
    errors: HashMap<String, u64>,
    lost_examples: Vec<String>,
    consumer_errors: Vec<String>,
    latencies_us: Vec<u32>,
    peak_rss_kib: Option<u64>,
}

async fn run(args: Args, addr: SocketAddr, pid: u32) -> Report {
    let args = Arc::new(args);
    // The topic, with its partitions.
    let mut admin = Conn::connect(addr, "soak-admin".into())
        .await
        .expect("admin connection");
    let created = admin
        .call(
            ApiKey::CreateTopics,
            7,
            |b| {
                CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: TOPIC.into(),
                        num_partitions: args.partitions as i32,
                        replication_factor: 1,
                        ..CreatableTopic::default()
                    }],
                    timeout_ms: 30_000,
                    ..CreateTopicsRequest::default()
                }
                .encode(b, 7)
            },
            CreateTopicsResponse::decode,
        )
        .await
        .unwrap_or_else(|e| panic!("CreateTopics: {e}"));
    assert_eq!(created.topics[0].error_code, 0, "topic created");

    let stop = Arc::new(AtomicBool::new(false));
    // Set only once every producer has its last answer: a request still in flight after `stop`
    // may yet be appended, so consumers must not call the end before this.
    let producers_done = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration + 180);

    // Consumers first: they long-poll from offset 0 while the producers write.
    let consumer_count = args.consumers.max(1);
    let mut consumers = Vec::new();
    for c in 0..consumer_count {
        let parts: Vec<i32> = (0..args.partitions)
            .filter(|p| p % consumer_count == c)
            .map(|p| p as i32)
            .collect();
        if parts.is_empty() {
            continue;
        }
        consumers.push(tokio::spawn(consumer(
            c,
            addr,
            parts,
            producers_done.clone(),
            deadline,
        )));
    }
    let mut producers = Vec::new();
    for p in 0..args.producers {
        producers.push(tokio::spawn(producer(
            p,
            addr,
            args.clone(),
            stop.clone(),
            acked_total.clone(),
        )));
    }

    // Progress, every 10 s.
    let end = started + Duration::from_secs(args.duration);
    let mut last = 0;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(10).min(end - Instant::now())).await;
        let total = acked_total.load(Ordering::Relaxed);
        eprintln!(
            "soak: {:>4.0} s  {total} records acknowledged (+{}), broker RSS peak {} KiB",
            started.elapsed().as_secs_f64(),
            total - last,
            Broker::peak_rss_kib(pid).unwrap_or(0)
        );
        last = total;
    }
    stop.store(true, Ordering::Release);
    let started_consumers = consumers.len();
    let mut produced_by: Vec<Produced> = Vec::new();
    for p in producers {
        produced_by.push(p.await.unwrap_or_default());
    }
    producers_done.store(true, Ordering::Release);
    let duration = started.elapsed();
    let mut consumed_parts = Vec::new();
    for c in consumers {
        if let Ok(c) = c.await {
            consumed_parts.push(c);
        }
    }
    let peak_rss_kib = Broker::peak_rss_kib(pid);

    // Account for every record.
    let mut seen = Seen::new();
    let mut consumed = 0;
    let mut malformed = 0;
    let mut consumer_errors = Vec::new();
    for c in consumed_parts {
        consumed += c.records;
        malformed += c.malformed;
        consumer_errors.extend(c.error);
        for (producer, counts) in c.seen {
            let into = seen.entry(producer).or_default();
            if into.len() < counts.len() {
                into.resize(counts.len(), 0);
            }
            for (i, n) in counts.into_iter().enumerate() {
                into[i] = into[i].saturating_add(n);
            }
        }
    }
    let count_of = |producer: usize, seq: u32| -> u8 {
        seen.get(&producer)
            .and_then(|c| c.get(seq as usize))
            .copied()
            .unwrap_or(0)
    };
    let (mut produced, mut failed_records, mut lost, mut duplicated, mut stored_though_failed) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut errors = HashMap::new();
    let mut lost_examples = Vec::new();
    let mut latencies_us = Vec::new();
    let mut gave_up = 0;
    for (id, p) in produced_by.iter().enumerate() {
        for &(from, to) in &p.acked {
            for seq in from..to {
                produced += 1;
                match count_of(id, seq) {
                    0 => {
                        lost += 1;
                        if lost_examples.len() < 10 {
                            lost_examples.push(format!(
                                "producer {id} seq {seq} (partition {})",
                                id % args.partitions
                            ));
                        }
                    }
                    1 => {}
                    n => duplicated += u64::from(n - 1),
                }
            }
        }
        for &(from, to) in &p.failed {
            for seq in from..to {
                failed_records += 1;
                if count_of(id, seq) > 0 {
                    stored_though_failed += 1;
                }
            }
        }
        for (e, n) in &p.errors {
            *errors.entry(e.clone()).or_insert(0) += n;
        }
        gave_up += usize::from(p.gave_up);
        latencies_us.extend_from_slice(&p.latencies_us);
    }
    let unique_consumed = seen
        .values()
        .map(|c| c.iter().filter(|&&n| n > 0).count() as u64)
        .sum();
    latencies_us.sort_unstable();
    Report {
        duration,
        producers: args.producers,
        producers_gave_up: gave_up,
        consumers: started_consumers,
        produced,
        failed_records,
        consumed,
        unique_consumed,
        lost,
        duplicated,
        stored_though_failed,
        malformed,
        producer_failures: errors.values().sum(),
        errors,
        lost_examples,
        consumer_errors,
        latencies_us,
        peak_rss_kib,
    }
}

impl Report {
    fn percentile(&self, q: f64) -> String {
        if self.latencies_us.is_empty() {
            return "-".into();
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        format!("{:.2} ms", f64::from(self.latencies_us[i]) / 1000.0)
    }

    fn print(&self, broker_warnings: u64) {
        let secs = self.duration.as_secs_f64();
        println!("== soak report ==");
        println!(
            "producing connections    {} ({} stopped on an error)",
            self.producers, self.producers_gave_up
        );
        println!("consuming connections    {}", self.consumers);
        println!("run time                 {secs:.1} s");
        println!(
            "records produced (acked) {} ({:.0}/s) in {} requests",
            self.produced,
            self.produced as f64 / secs,
            self.latencies_us.len()
        );
        println!("records refused/failed   {}", self.failed_records);
        println!(
            "records consumed         {} ({} distinct)",
            self.consumed, self.unique_consumed
        );
        println!("lost (acked, never read) {}", self.lost);
        println!("duplicated               {}", self.duplicated);
        println!("stored though not acked  {}", self.stored_though_failed);
        println!("malformed on read        {}", self.malformed);
        match self.peak_rss_kib {
            Some(kib) => println!(
                "broker peak RSS (VmHWM)  {kib} KiB ({:.1} MiB)",
                kib as f64 / 1024.0
            ),
            None => println!("broker peak RSS (VmHWM)  unavailable"),
        }
        println!(
            "produce latency          p50 {}  p99 {}  p99.9 {}  max {}",
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(0.999),
            self.percentile(1.0)
        );
        println!("broker WARN/ERROR lines  {broker_warnings}");
        let mut errors: Vec<_> = self.errors.iter().collect();
        errors.sort();
        for (e, n) in errors {
            println!("producer error           {n} × {e}");
        }
        for l in &self.lost_examples {
            println!("lost                     {l}");
        }
        for e in &self.consumer_errors {
            println!("consumer error           {e}");
        }
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        println!("result                   {verdict}");
    }

    /// Nothing acknowledged lost or duplicated, every request answered without error, every
    /// consumer caught up.
    fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.producer_failures == 0
            && self.consumer_errors.is_empty()
            && self.produced > 0
    }
}
