//! One-off measurements: figures, not checks, so not part of the test suite (they were
//! `#[ignore]`d tests in `tests/groups.rs` and `src/storage/tests.rs`). A bench target without
//! the test harness, so that it can start the broker the integration tests start
//! (`tests/it/common`, `CARGO_BIN_EXE_sluice`).
//!
//! ```text
//! scripts/bench.sh --measure                    # both, release build
//! scripts/bench.sh --measure commits            # one of them
//! cargo bench --bench measure -- producer-state # the same without bench.sh
//! ```
//!
//! - `commits`: sequential OffsetCommit latency (each one fsynced), a 100-partition commit, an
//!   OffsetFetch of 100 partitions, and the replay time of the resulting offsets log on restart.
//! - `producer-state`: what rebuilding producer state costs when a partition log opens, with
//!   and without a snapshot, and after a crash (2,000,000 idempotent batches from 10,000
//!   producers).
//! - `cleaner`: log cleaner throughput on a built log (1,000,000 records, 100,000 keys, 100-byte
//!   values, batches of 100 records, 16 MiB segments): MB/s read (map and rewrite) and written.
//!
//! `cargo test --all-targets` builds this target and runs it without `--bench`: it then
//! measures nothing.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::fs;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::groups::{commit, create_topics, fast_broker, fetch_offsets};
use sluice::record::BatchBuilder;
use sluice::storage::{cleaner, producer_state, AppendError, AppendInfo, LogConfig, PartitionLog};
use sluice::util::clock::now_ms;

const MEASUREMENTS: [(&str, fn()); 3] = [
    ("commits", commits),
    ("producer-state", producer_state),
    ("cleaner", cleaner),
];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test` runs bench targets without it.
    let Some(at) = args.iter().position(|a| a == "--bench") else {
        println!("measure: nothing to do outside `cargo bench` (see scripts/bench.sh --measure)");
        return;
    };
    args.remove(at);
    for arg in &args {
        if !MEASUREMENTS.iter().any(|(name, _)| name == arg) {
            eprintln!(
                "measure: unknown measurement {arg:?}; known: {}",
                MEASUREMENTS.map(|(name, _)| name).join(", ")
            );
            std::process::exit(2);
        }
    }
    for (name, measure) in MEASUREMENTS {
        if args.is_empty() || args.iter().any(|a| a == name) {
            println!("== {name}");
            measure();
        }
    }
}

// ---- commits (formerly tests/groups.rs, `measure_commit_latency_and_replay`) ----------------

/// Sequential OffsetCommit latency (each one fsynced), a 100-partition commit, and the replay
/// time of the resulting log on restart.
fn commits() {
    let mut broker = fast_broker(&["--set", "num.partitions=100"]);
    let mut c = broker.connect();
    create_topics(&mut c, &["m"]);
    let n = 2_000;
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for i in 0..n {
        let t = Instant::now();
        let r = commit(
            &mut c,
            8,
            "bench",
            -1,
            "",
            &[("m", (i % 100) as i32, i64::from(i), None)],
        );
        worst = worst.max(t.elapsed());
        assert_eq!(r[0].2, 0);
    }
    let took = started.elapsed();
    println!(
        "{n} sequential 1-partition commits: {:?} total, {:.0} commits/s, mean {:?}, worst {worst:?}",
        took,
        f64::from(n) / took.as_secs_f64(),
        took / n
    );
    let all: Vec<(&str, i32, i64, Option<&str>)> =
        (0..100).map(|p| ("m", p, 7, Some("x"))).collect();
    let started = Instant::now();
    for _ in 0..200 {
        assert!(commit(&mut c, 8, "bench-wide", -1, "", &all)
            .iter()
            .all(|r| r.2 == 0));
    }
    println!(
        "200 commits of 100 partitions: mean {:?}",
        started.elapsed() / 200
    );
    let started = Instant::now();
    for _ in 0..1000 {
        let (_, rows) = fetch_offsets(&mut c, 7, "bench-wide", None);
        assert_eq!(rows.len(), 100);
    }
    println!(
        "OffsetFetch of 100 partitions: mean {:?}",
        started.elapsed() / 1000
    );
    drop(c);
    broker.restart();
    let replayed = broker
        .log_lines()
        .into_iter()
        .find(|l| l.contains("offsets topic replayed"))
        .unwrap_or_default();
    println!(
        "restart: {}",
        replayed
            .split("offsets topic replayed")
            .nth(1)
            .unwrap_or("")
    );
}

// ---- producer-state (formerly src/storage/tests.rs, `measure_producer_state_open_cost`) ------

/// An idempotent producer's batch of `records` records (as in src/storage/tests.rs).
fn idem(pid: i64, epoch: i16, seq: i32, records: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, ts).producer(pid, epoch, seq);
    for i in 0..records {
        b.push(Some(format!("k{seq}-{i}").as_bytes()), Some(b"v"), &[]);
    }
    b.build()
}

fn append_bytes(log: &mut PartitionLog, bytes: &[u8], now: i64) -> Result<AppendInfo, AppendError> {
    log.append(BytesMut::from(bytes), now)
}

/// What rebuilding producer state costs at open, with and without a snapshot, and after a
/// crash.
fn producer_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let config = LogConfig {
        segment_bytes: 8 << 20,
        ..LogConfig::default()
    };
    let (producers, batches) = (10_000usize, 2_000_000usize);
    let snapshot = dir.path().join(producer_state::SNAPSHOT_FILE);
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    let t = std::time::Instant::now();
    for i in 0..batches {
        let (pid, seq) = ((i % producers) as i64, (i / producers) as i32);
        append_bytes(&mut log, &idem(pid, 0, seq, 1, now), now).expect("append");
    }
    eprintln!(
        "appended {batches} one-record idempotent batches from {producers} producers in {:?}: \
         {} segments, {} bytes",
        t.elapsed(),
        log.segment_count(),
        log.size_bytes()
    );
    log.close().expect("close");
    let size = fs::metadata(&snapshot).expect("snapshot").len();
    let t = std::time::Instant::now();
    let log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    let stats = log.recovery_stats().clone();
    eprintln!(
        "clean open with a {size}-byte snapshot: {:?}, {} headers scanned",
        t.elapsed(),
        stats.producer_batches_scanned
    );
    log.close().expect("close");
    fs::remove_file(&snapshot).expect("rm");
    let t = std::time::Instant::now();
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    eprintln!(
        "clean open without a snapshot: {:?}, {} headers scanned",
        t.elapsed(),
        log.recovery_stats().producer_batches_scanned
    );
    for i in 0..100_000 {
        let (pid, seq) = ((i % producers) as i64, ((batches + i) / producers) as i32);
        append_bytes(&mut log, &idem(pid, 0, seq, 1, now), now).expect("append");
    }
    log.flush().expect("flush");
    drop(log);
    let t = std::time::Instant::now();
    let log = PartitionLog::open(dir.path(), config).expect("open");
    let stats = log.recovery_stats();
    eprintln!(
        "open after a crash: {:?} (segments re-validated: {}), snapshot at {:?}, {} headers \
         scanned, {} producers",
        t.elapsed(),
        stats.segments_recovered,
        stats.producer_snapshot_offset,
        stats.producer_batches_scanned,
        stats.producers
    );
    assert_eq!(stats.producers, producers);
}

// ---- cleaner ---------------------------------------------------------------------------

/// Swaps each cleaned group straight into the log.
struct Direct<'a>(&'a mut PartitionLog);

impl cleaner::CleanerContext for Direct<'_> {
    fn swap(&mut self, group: &cleaner::CleanedGroup) -> Result<(), cleaner::CleanError> {
        match self.0.replace_segments(group, now_ms()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(cleaner::CleanError::Aborted("changed".into())),
            Err(e) => Err(e.into()),
        }
    }
}

fn cleaner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 16 << 20,
        compact: true,
        retention_ms: -1,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let value = [b'v'; 100];
    let (records, keys, per_batch) = (1_000_000u64, 100_000u64, 100u64);
    let now = now_ms();
    for b in 0..records / per_batch {
        let mut batch = BatchBuilder::new(0, now);
        for i in 0..per_batch {
            let key = format!("key-{:08}", (b * per_batch + i) * 7919 % keys);
            batch.push(Some(key.as_bytes()), Some(&value), &[]);
        }
        log.append(BytesMut::from(&batch.build()[..]), now)
            .expect("append");
    }
    // The records of the active segment (the last 16 MiB at most) are not cleaned.
    let size = log.size_bytes();
    let view = log.cleaner_view();
    let to_clean = cleaner::log_to_clean(&view, None, now);
    let mut map = cleaner::OffsetMap::new(128 << 20);
    let started = Instant::now();
    let (end, stats) = cleaner::clean(
        &view,
        &to_clean,
        &mut map,
        cleaner::CleanerOptions::default(),
        now,
        &mut Direct(&mut log),
    )
    .expect("clean");
    let secs = started.elapsed().as_secs_f64();
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let read = stats.map_bytes_read + stats.bytes_read;
    println!(
        "log {:.1} MiB in {} segments; cleaned to offset {end} in {secs:.2} s: read {:.1} MiB \
         ({:.0} MiB/s), wrote {:.1} MiB; {} of {} records removed; {} keys in the map",
        mb(size),
        view.segments.len() + 1,
        mb(read),
        mb(read) / secs,
        mb(stats.bytes_written),
        stats.records_removed(),
        stats.records_read,
        stats.map_keys
    );
}
