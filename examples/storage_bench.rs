//! Storage benchmarks (issue 5). Not a test: run it on a quiet machine.
//!
//! ```text
//! cargo build --release && cargo run --release --example storage_bench
//! ```
//!
//! 1. Recovery time of a 1 GiB log after an unclean stop (no clean-shutdown marker, so every
//!    batch past the recovery point is validated).
//! 2. Latency of a Fetch-sized read at a random offset in a 100 MiB and a 2 GiB log: the seek
//!    goes through the offset index, so both should cost the same.
//! 3. Produce throughput through the broker process with `flush.on.ack=none` and `acks-all`
//!    (4 connections, 64 KiB batches of 1 KiB records, acks=-1).
//!
//! The broker binary is `$SLUICE_BIN`, else `target/release/sluice`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::protocol::wire::EncodeBuf;
use sluice::record::BatchBuilder;
use sluice::storage::{LogConfig, PartitionLog};

const MIB: usize = 1 << 20;

fn batch(records: usize, size: usize) -> Bytes {
    let value = vec![b'x'; size];
    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    for _ in 0..records {
        b.push(None, Some(&value), &[]);
    }
    b.build()
}

/// Appends `bytes` of 16 KiB batches; returns the log end offset.
fn fill(log: &mut PartitionLog, bytes: usize) -> i64 {
    let template = batch(16, 1000);
    let mut written = 0;
    while written < bytes {
        log.append(BytesMut::from(&template[..]), 1_700_000_000_000)
            .expect("append");
        written += template.len();
    }
    log.log_end_offset()
}

fn recovery(dir: &Path) {
    let path = dir.join("recovery-0");
    // One segment holding the whole GiB, recovery point 0: the worst case.
    let config = LogConfig {
        segment_bytes: i32::MAX as u64,
        ..LogConfig::default()
    };
    {
        let mut log = PartitionLog::open(&path, config.clone()).expect("open");
        fill(&mut log, 1 << 30);
        // Dropped without close(): no clean-shutdown marker, as after SIGKILL.
    }
    let start = Instant::now();
    let log = PartitionLog::open(&path, config).expect("recover");
    let took = start.elapsed();
    let stats = log.recovery_stats();
    println!(
        "recovery of a 1 GiB log after an unclean stop: {:.2} s ({:.0} MB/s), log end offset {}, {:?}",
        took.as_secs_f64(),
        (1u64 << 30) as f64 / 1e6 / took.as_secs_f64(),
        log.log_end_offset(),
        stats
    );
    let _ = std::fs::remove_dir_all(&path);
}

fn fetch_latency(dir: &Path, size: usize, label: &str) {
    let path = dir.join(format!("fetch-{label}-0"));
    let mut log = PartitionLog::open(&path, LogConfig::default()).expect("open");
    let end = fill(&mut log, size);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let offset = (rng % end as u64) as i64;
        let start = Instant::now();
        let slice = log.read(offset, 64 * 1024, true).expect("read");
        let data = slice.read().expect("pread");
        samples.push(start.elapsed());
        assert!(!data.is_empty());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "fetch at a random offset, {label} log ({} segments): p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        log.segment_count(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );
    let _ = log.close();
    let _ = std::fs::remove_dir_all(&path);
}

fn frame(key: ApiKey, version: i16, body: impl FnOnce(&mut EncodeBuf)) -> Vec<u8> {
    sluice::protocol::request_frame(key, version, 1, Some("bench"), body)
}

fn roundtrip(stream: &mut TcpStream, frame: &[u8]) -> Bytes {
    stream.write_all(frame).expect("write");
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("read");
    let mut payload = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut payload).expect("read");
    Bytes::from(payload)
}

/// Checks a Produce v9 response (header v1) reports success for its one partition.
fn check_produced(mut payload: Bytes) {
    ResponseHeader::decode(&mut payload, 1).expect("header");
    let resp = ProduceResponse::decode(&mut payload, 9).expect("produce response");
    let code = resp.responses[0].partition_responses[0].error_code;
    assert_eq!(code, 0, "produce failed with error {code}");
}

fn produce_throughput(dir: &Path, flush_on_ack: &str) {
    let bin = std::env::var("SLUICE_BIN").unwrap_or_else(|_| "target/release/sluice".into());
    let data = dir.join(format!("produce-{flush_on_ack}"));
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--log-dirs"])
        .arg(&data)
        .args([
            "--set",
            &format!("flush.on.ack={flush_on_ack}"),
            "--set",
            "num.partitions=4",
        ])
        .env("RUST_LOG", "warn,sluice=info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the broker (build it with cargo build --release)");
    let stderr = child.stderr.take().expect("stderr");
    let mut addr = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(p) = line.find("listening on ") {
            addr = line[p + 13..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            break;
        }
    }
    let mut admin = TcpStream::connect(&addr).expect("connect");
    let mut created = roundtrip(
        &mut admin,
        &frame(ApiKey::Metadata, 9, |b| {
            MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some("bench".into()),
                    ..Default::default()
                }]),
                allow_auto_topic_creation: true,
                ..Default::default()
            }
            .encode(b, 9)
        }),
    );
    ResponseHeader::decode(&mut created, 1).expect("header");
    let created = MetadataResponse::decode(&mut created, 9).expect("metadata response");
    let topic = &created.topics[0];
    assert_eq!(topic.error_code, 0, "topic created: {topic:?}");
    assert_eq!(topic.partitions.len(), 4, "4 partitions");
    let payload = batch(64, 1000);
    let bytes = Arc::new(AtomicU64::new(0));
    let run_for = Duration::from_secs(5);
    let threads: Vec<_> = (0..4)
        .map(|p| {
            let (addr, payload, bytes) = (addr.clone(), payload.clone(), bytes.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                let f = frame(ApiKey::Produce, 9, |b| {
                    ProduceRequest {
                        acks: -1,
                        timeout_ms: 30_000,
                        topic_data: vec![TopicProduceData {
                            topic_id: Default::default(),
                            name: "bench".into(),
                            partition_data: vec![PartitionProduceData {
                                index: p,
                                records: Some(payload.clone()),
                            }],
                        }],
                        ..Default::default()
                    }
                    .encode(b, 9)
                });
                let start = Instant::now();
                while start.elapsed() < run_for {
                    check_produced(roundtrip(&mut s, &f));
                    bytes.fetch_add(payload.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    let total = bytes.load(Ordering::Relaxed) as f64;
    println!(
        "produce, flush.on.ack={flush_on_ack:<8} 4 connections, 64 KiB batches, acks=-1: {:.1} MB/s",
        total / 1e6 / run_for.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let temp = tempfile::tempdir_in(".").expect("temp dir on the local disk");
    let dir = temp.path();
    println!("storage benchmarks in {} ({MIB} B = 1 MiB)", dir.display());
    recovery(dir);
    fetch_latency(dir, 100 * MIB, "100 MiB");
    fetch_latency(dir, 2048 * MIB, "2 GiB");
    produce_throughput(dir, "none");
    produce_throughput(dir, "acks-all");
}
