//! Durability through the real process: SIGKILL during a sustained, fsync-acknowledged produce;
//! recovery from damaged segments and indexes; fetching across a multi-segment log; a clean
//! SIGTERM leaves the clean-shutdown markers.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::{PartitionProduceResponse, ProduceResponse};
use sluice::record::{self, BatchBuilder, BatchIter};

fn create_topic(client: &mut WireClient, name: &str) {
    let resp = client.request(
        ApiKey::Metadata,
        9,
        |b| {
            MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(name.to_string()),
                    ..Default::default()
                }]),
                allow_auto_topic_creation: true,
                ..Default::default()
            }
            .encode(b, 9)
        },
        MetadataResponse::decode,
    );
    assert_eq!(resp.topics[0].error_code, 0, "topic {name} created");
}

fn batch(keys: &[String]) -> Bytes {
    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    for k in keys {
        b.push(Some(k.as_bytes()), Some(b"value-payload"), &[]);
    }
    b.build()
}

fn produce(
    client: &mut WireClient,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> std::io::Result<PartitionProduceResponse> {
    let frame = client.frame(ApiKey::Produce, 9, 1, |b| {
        ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(records),
                }],
            }],
            ..Default::default()
        }
        .encode(b, 9)
    });
    use std::io::Write;
    client.stream.write_all(&frame)?;
    let mut payload = client.read_frame()?;
    // Response header v1: correlation id + tags.
    let _ = sluice::protocol::messages::response_header::ResponseHeader::decode(&mut payload, 1);
    let resp = ProduceResponse::decode(&mut payload, 9)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(resp.responses[0].partition_responses[0].clone())
}

fn fetch(client: &mut WireClient, topic: &str, partition: i32, offset: i64, max: i32) -> Bytes {
    let resp = client.request(
        ApiKey::Fetch,
        12,
        |b| {
            FetchRequest {
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: max,
                topics: vec![FetchTopic {
                    topic: topic.to_string(),
                    partitions: vec![FetchPartition {
                        partition,
                        fetch_offset: offset,
                        partition_max_bytes: max,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }
            .encode(b, 12)
        },
        FetchResponse::decode,
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch {topic}-{partition} at {offset}");
    p.records.clone().unwrap_or_default()
}

/// Every key stored in a partition, by offset, read through Fetch.
fn read_all(client: &mut WireClient, topic: &str, partition: i32) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    let mut offset = 0;
    for _ in 0..100_000 {
        let data = fetch(client, topic, partition, offset, 1 << 20);
        if data.is_empty() {
            break;
        }
        for found in BatchIter::new(data) {
            let found = found.expect("only whole, valid batches are served");
            for r in record::decode_records(&found.bytes).expect("records") {
                let key = String::from_utf8(r.key.expect("key").to_vec()).expect("utf8");
                out.insert(r.offset, key);
                offset = r.offset + 1;
            }
        }
    }
    out
}

fn segment_files(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// An acknowledged batch: partition, base offset, keys.
type Acked = (i32, i64, Vec<String>);

/// Issue 5 fault test (a), quick version: SIGKILL in the middle of a sustained produce with
/// fsync on acknowledgment; after a restart every acknowledged record is read back and only
/// whole batches are served. `scripts/soak-sigkill.sh` repeats this test.
#[test]
fn sigkill_during_synced_produce_loses_no_acknowledged_record() {
    let mut broker = TestBroker::start_with(&[
        "--set",
        "flush.on.ack=acks-all",
        "--set",
        "num.partitions=2",
    ]);
    let mut admin = broker.connect();
    create_topic(&mut admin, "durable");

    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for worker in 0..4 {
        let (acked, stop, addr) = (acked.clone(), stop.clone(), broker.addr);
        producers.push(std::thread::spawn(move || {
            let mut client = WireClient::connect(addr);
            let partition = worker % 2;
            let deadline = Instant::now() + Duration::from_secs(30);
            for n in 0..100_000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let keys: Vec<String> = (0..5).map(|i| format!("w{worker}-b{n}-r{i}")).collect();
                match produce(&mut client, "durable", partition, batch(&keys)) {
                    Ok(r) if r.error_code == 0 => {
                        if let Ok(mut a) = acked.lock() {
                            a.push((partition, r.base_offset, keys));
                        }
                    }
                    Ok(r) => panic!("produce error {}", r.error_code),
                    Err(_) => break, // the broker died under us
                }
            }
        }));
    }
    // Let the produce run, then kill the broker mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().map(|a| a.len()).unwrap_or(0) < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.kill();
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("producer thread");
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() >= 200, "produce was running when killed");

    broker.start_again();
    let mut client = broker.connect();
    let stored: Vec<BTreeMap<i64, String>> = (0..2)
        .map(|p| read_all(&mut client, "durable", p))
        .collect();
    for (partition, base, keys) in &acked {
        for (i, key) in keys.iter().enumerate() {
            let offset = base + i as i64;
            assert_eq!(
                stored[*partition as usize].get(&offset),
                Some(key),
                "acknowledged record {key} at {partition}/{offset} survived"
            );
        }
    }
}

/// Issue 5 fault test (b): a torn segment tail and a garbage index are repaired on restart.
#[test]
fn recovers_from_truncated_tail_and_garbage_index() {
    let mut broker = TestBroker::start_with(&["--set", "log.segment.bytes=4096"]);
    let mut client = broker.connect();
    create_topic(&mut client, "damaged");
    for n in 0..60 {
        let keys: Vec<String> = (0..4).map(|i| format!("k{n}-{i}")).collect();
        let r = produce(&mut client, "damaged", 0, batch(&keys)).expect("produce");
        assert_eq!(r.error_code, 0);
    }
    broker.kill();

    let dir = broker.data_dir.join("damaged-0");
    let logs = segment_files(&dir, ".log");
    assert!(logs.len() >= 3, "several segments: {logs:?}");
    // Tear the active segment's last batch in half.
    let active = logs.last().expect("active segment").clone();
    let len = std::fs::metadata(&active).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .expect("open");
    f.set_len(len - 20).expect("truncate");
    // Overwrite an older segment's index with garbage.
    let index = segment_files(&dir, ".index")[0].clone();
    std::fs::write(&index, b"garbage that is not an index").expect("garbage");

    broker.start_again();
    let warning = "invalid data in segment; truncating it";
    assert!(
        broker.wait_for_log(warning, Duration::from_secs(10)),
        "recovery logs the truncation"
    );
    let line = broker
        .log_lines()
        .into_iter()
        .find(|l| l.contains(warning))
        .unwrap_or_default();
    let file = active.to_string_lossy().to_string();
    assert!(line.contains(&file) && line.contains("position="), "{line}");
    let mut client = broker.connect();
    let stored = read_all(&mut client, "damaged", 0);
    // 59 whole batches of 4 survive; the torn 60th is gone.
    assert_eq!(stored.len(), 59 * 4);
    assert_eq!(stored.get(&0).map(String::as_str), Some("k0-0"));
    assert_eq!(stored.get(&(59 * 4 - 1)).map(String::as_str), Some("k58-3"));
    let rebuilt = std::fs::read(&index).expect("index rebuilt");
    assert_eq!(rebuilt.len() % 8, 0, "index is whole 8-byte entries again");
    // The log accepts new data right after the recovered tail.
    let r = produce(&mut client, "damaged", 0, batch(&["after".into()])).expect("produce");
    assert_eq!(r.base_offset, 59 * 4);
}

/// Issue 5 fault test (d): fetching from the middle of a multi-segment log returns the batch
/// holding the requested offset, from any segment.
#[test]
fn fetch_from_the_middle_of_a_multi_segment_log() {
    let broker = TestBroker::start_with(&["--set", "log.segment.bytes=2048"]);
    let mut client = broker.connect();
    create_topic(&mut client, "segmented");
    for n in 0..100 {
        let keys: Vec<String> = (0..3).map(|i| format!("{}", n * 3 + i)).collect();
        produce(&mut client, "segmented", 0, batch(&keys)).expect("produce");
    }
    let segments = segment_files(&broker.data_dir.join("segmented-0"), ".log");
    assert!(segments.len() > 5, "{} segments", segments.len());
    for offset in [0, 1, 2, 3, 100, 151, 152, 200, 298, 299] {
        let data = fetch(&mut client, "segmented", 0, offset, 1);
        let first = BatchIter::new(data)
            .next()
            .expect("a batch")
            .expect("valid");
        let h = first.header;
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "offset {offset}: {h:?}"
        );
        let recs = record::decode_records(&first.bytes).expect("records");
        let key = recs
            .iter()
            .find(|r| r.offset == offset)
            .and_then(|r| r.key.clone());
        assert_eq!(key.as_deref(), Some(offset.to_string().as_bytes()));
    }
}

/// Issue 5 item 6: SIGTERM flushes, leaves the clean-shutdown marker, and exits 0.
#[test]
fn sigterm_leaves_clean_markers_and_exits_zero() {
    let mut broker = TestBroker::start();
    let mut client = broker.connect();
    create_topic(&mut client, "clean");
    produce(&mut client, "clean", 0, batch(&["x".into()])).expect("produce");
    assert_eq!(broker.terminate(), Some(0));
    let dir = broker.data_dir.join("clean-0");
    assert!(dir.join("sluice-clean-shutdown").exists());
    assert!(dir.join("sluice-offset-checkpoint").exists());
    broker.start_again();
    let mut client = broker.connect();
    assert_eq!(read_all(&mut client, "clean", 0).len(), 1);
}

/// Several `log.dirs` are refused at startup by name (sluice does not spread partitions over
/// directories), never silently reduced to the first: the broker exits non-zero and writes
/// nothing into either directory.
#[test]
fn several_log_dirs_are_refused_at_startup() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let dirs = format!("{},{}", a.display(), b.display());
    let ran = common::process::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice")).args([
            "--listen",
            "127.0.0.1:0",
            "--log-dirs",
            &dirs,
        ]),
        None,
        Duration::from_secs(30),
    );
    assert_ne!(ran.code, Some(0), "started with two log.dirs");
    assert!(
        ran.stderr.contains("log.dirs lists 2 directories") && ran.stderr.contains(&dirs),
        "{}",
        ran.stderr
    );
    for d in [&a, &b] {
        let empty = std::fs::read_dir(d).map_or(true, |mut e| e.next().is_none());
        assert!(empty, "{} written to", d.display());
    }
}

/// Each root checkpoint is refreshed at its own Kafka interval: with the high-watermark one at
/// 200 ms and the other two at ten minutes, a record's offset reaches
/// `replication-offset-checkpoint` while `recovery-point-offset-checkpoint` and
/// `log-start-offset-checkpoint` are not written until the clean stop.
#[test]
fn root_checkpoints_follow_their_own_intervals() {
    let mut broker = TestBroker::start_with(&[
        "--set",
        "replica.high.watermark.checkpoint.interval.ms=200",
        "--set",
        "log.flush.offset.checkpoint.interval.ms=600000",
        "--set",
        "log.flush.start.offset.checkpoint.interval.ms=600000",
    ]);
    let mut client = broker.connect();
    create_topic(&mut client, "paced");
    produce(&mut client, "paced", 0, batch(&["a".into(), "b".into()])).expect("produce");
    let root = broker.data_dir.clone();
    let hw = root.join("replication-offset-checkpoint");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&hw).is_ok_and(|t| t.contains("paced 0 2\n")) {
        assert!(
            Instant::now() < deadline,
            "high watermark not checkpointed in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for name in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
    ] {
        assert!(
            !root.join(name).exists(),
            "{name} written before its interval"
        );
    }
    assert_eq!(broker.terminate(), Some(0));
    for name in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
    ] {
        let text = std::fs::read_to_string(root.join(name)).expect(name);
        assert!(
            text.contains("paced 0 "),
            "{name} after the clean stop: {text}"
        );
    }
}
