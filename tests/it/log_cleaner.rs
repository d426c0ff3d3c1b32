//! The log cleaner against the real broker, with librdkafka (the `rdkafka` crate) as producer,
//! consumer and admin client: a compacted topic ends up with the latest value per key and its
//! tombstone, which expires after `delete.retention.ms`; a deleted group's committed offsets
//! leave `__consumer_offsets`. Every loop is bounded by a count and a deadline.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice::record::{decode_records, BatchIter};

const DEADLINE: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn create_compacted(broker: &TestBroker, topic: &str, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin client");
    let mut new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = runtime()
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .expect("create topics");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

fn producer(broker: &TestBroker) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

fn send(p: &BaseProducer, topic: &str, key: &str, value: Option<&[u8]>) {
    let mut record = BaseRecord::<str, [u8]>::to(topic).key(key);
    if let Some(v) = value {
        record = record.payload(v);
    }
    p.send(record).expect("queued");
    p.flush(Duration::from_secs(10)).expect("flushed");
}

/// Every record of partition 0 from offset 0, as a consumer reads them: (offset, key, value).
fn read_from_start(broker: &TestBroker, topic: &str) -> Vec<(i64, String, Option<Vec<u8>>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "log-cleaner-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("offset");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let started = Instant::now();
    for _ in 0..10_000 {
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                out.push((m.offset(), key, m.payload().map(<[u8]>::to_vec)));
                if m.offset() + 1 >= high {
                    break;
                }
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

/// The broker's log lines about the cleaner (for a failure's message).
fn cleaner_lines(broker: &TestBroker) -> Vec<String> {
    broker
        .log_lines()
        .into_iter()
        .skip_while(|l| !l.contains("cleaner"))
        .take(12)
        .collect()
}

/// The 20 keys' records once compacted: exactly the latest value of each, and key-07's tombstone.
fn is_compacted(records: &[(i64, String, Option<Vec<u8>>)], tombstone: bool) -> bool {
    let mut seen: BTreeMap<&str, Vec<&Option<Vec<u8>>>> = BTreeMap::new();
    for (_, k, v) in records.iter().filter(|(_, k, _)| k.starts_with("key-")) {
        seen.entry(k).or_default().push(v);
    }
    (0..20).all(|i| {
        let key = format!("key-{i:02}");
        let expected: Vec<Option<Vec<u8>>> = match (i, tombstone) {
            (7, true) => vec![None],
            (7, false) => vec![],
            _ => vec![Some(format!("value-4-{i:02}").into_bytes())],
        };
        let got: Vec<Option<Vec<u8>>> = seen
            .get(key.as_str())
            .map(|v| v.iter().map(|x| (*x).clone()).collect())
            .unwrap_or_default();
        got == expected
    })
}

#[test]
fn a_compacted_topic_keeps_the_latest_value_per_key_and_its_tombstone_expires() {
    let broker = TestBroker::start_with(&[
        "--set",
        "log.cleaner.backoff.ms=100",
        "--set",
        "log.retention.check.interval.ms=100",
    ]);
    let topic = "compacted-cleaner";
    create_compacted(
        &broker,
        topic,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "2048"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "3000"),
        ],
    );
    let p = producer(&broker);
    for round in 0..5 {
        for k in 0..20 {
            let value = format!("value-{round}-{k:02}");
            send(&p, topic, &format!("key-{k:02}"), Some(value.as_bytes()));
        }
    }
    send(&p, topic, "key-07", None);
    // Large records after them roll the segment, so all of the above can be cleaned.
    let filler = vec![b'f'; 1500];
    for i in 0..3 {
        send(&p, topic, &format!("filler-{i}"), Some(&filler));
    }
    // Sent one at a time, so round r of key k is at offset 20 r + k, the tombstone at 100.
    // (The cleaner may already be at work: the log is not read before.)

    let started = Instant::now();
    let mut compacted = None;
    for _ in 0..300 {
        let records = read_from_start(&broker, topic);
        if is_compacted(&records, true) {
            compacted = Some(records);
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not compacted in time: {} records; cleaner log: {:?}",
            records.len(),
            cleaner_lines(&broker)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let compacted = compacted.expect("compacted");
    // Offsets are those the records had when produced.
    for (offset, key, value) in &compacted {
        if let Some(k) = key.strip_prefix("key-") {
            let k: i64 = k.parse().expect("key number");
            let expected = if k == 7 { 100 } else { 80 + k };
            assert_eq!(*offset, expected, "{key} kept at its own offset");
            assert_eq!(value.is_none(), k == 7);
        }
    }
    assert!(compacted.len() < 104, "{} records", compacted.len());

    // After delete.retention.ms, with more writes making the log dirty again, the tombstone
    // goes and the other keys stay.
    let started = Instant::now();
    let mut expired = false;
    for i in 0..300 {
        send(&p, topic, &format!("filler-{}", i % 3), Some(&filler));
        let records = read_from_start(&broker, topic);
        if is_compacted(&records, false) {
            expired = true;
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "tombstone not expired in time: {} records; cleaner log: {:?}",
            records.len(),
            cleaner_lines(&broker)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(expired);
    assert!(broker.log_lines().iter().any(|l| l.contains("log cleaned")));
    // The cleaner's progress is in Kafka's checkpoint file.
    let checkpoint =
        std::fs::read_to_string(broker.data_dir.join("cleaner-offset-checkpoint")).expect("file");
    assert!(checkpoint.starts_with("0\n"), "{checkpoint}");
    assert!(checkpoint.contains(&format!("{topic} 0 ")), "{checkpoint}");
}

/// The keys of every record in the partition directory's segment files, read from the files.
fn keys_on_disk(dir: &Path) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return keys;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("log") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for batch in BatchIter::new(bytes.into()).flatten() {
            if let Ok(records) = decode_records(&batch.bytes) {
                keys.extend(
                    records
                        .into_iter()
                        .filter_map(|r| r.key.map(|k| k.to_vec())),
                );
            }
        }
    }
    keys
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn commit(broker: &TestBroker, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("offset");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

#[test]
fn a_deleted_groups_offsets_leave_the_offsets_topic() {
    let broker = TestBroker::start_with(&[
        "--set",
        "log.cleaner.backoff.ms=100",
        "--set",
        "offsets.topic.num.partitions=1",
        "--set",
        "offsets.topic.segment.bytes=1024",
        "--set",
        "log.cleaner.min.cleanable.ratio=0.01",
        "--set",
        "log.cleaner.delete.retention.ms=1000",
    ]);
    let topic = "cleaner-groups";
    create_compacted(&broker, topic, &[]);
    let doomed = "doomed-group";
    for offset in 0..5 {
        commit(&broker, doomed, topic, offset);
    }
    let offsets_dir = broker.data_dir.join("__consumer_offsets-0");
    assert!(keys_on_disk(&offsets_dir)
        .iter()
        .any(|k| contains(k, doomed.as_bytes())));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("admin client");
    let deleted = runtime()
        .block_on(admin.delete_groups(&[doomed], &AdminOptions::new()))
        .expect("delete groups");
    assert!(deleted.iter().all(|r| r.is_ok()), "{deleted:?}");

    // Another group's commits roll the segments and keep the log dirty; the first clean
    // removes the offsets the tombstones supersede, a later one the tombstones themselves.
    let started = Instant::now();
    let mut gone = false;
    for i in 0..300 {
        commit(&broker, "filler-group", topic, i);
        if !keys_on_disk(&offsets_dir)
            .iter()
            .any(|k| contains(k, doomed.as_bytes()))
        {
            gone = true;
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the deleted group's records are still there; cleaner log: {:?}",
            cleaner_lines(&broker)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(gone);
    // The coordinator still answers the other group (its replay after a restart too).
    let mut broker = broker;
    broker.restart();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "filler-group")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed");
    let offset = committed
        .find_partition(topic, 0)
        .expect("partition")
        .offset();
    assert!(matches!(offset, Offset::Offset(n) if n >= 0), "{offset:?}");
}
