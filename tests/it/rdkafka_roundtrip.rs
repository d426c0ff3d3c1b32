//! A current librdkafka (the `rdkafka` crate, bundled) against the real broker: the ApiVersions
//! handshake, a 100,000-record acks=all round trip with keys, values and headers, batches
//! compressed with each codec stored untouched, and Fetch long polling measured on the wire.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::topics::fetch_one;
use common::TestBroker;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::record::{decode_records, BatchBuilder, BatchIter};

/// Fetch version used for the long-poll measurements (topics by name, flexible).
const FETCH_VERSION: i16 = 12;

/// Held by every test here: the long-poll timings must not share two cores with the
/// 100,000-record run, so the tests of this file run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts delivery reports and keeps librdkafka's log lines.
#[derive(Default)]
struct Context {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    log: Mutex<Vec<String>>,
}

impl ClientContext for Context {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, line: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("{fac}: {line}"));
        }
    }
}

impl ConsumerContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> BaseProducer<Context> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", broker.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    // librdkafka's log lines reach `Context::log` only at or above this level.
    cfg.set_log_level(RDKafkaLogLevel::Debug);
    cfg.create_with_context(Context::default())
        .expect("create producer")
}

fn consumer(broker: &TestBroker, extra: &[(&str, &str)]) -> BaseConsumer<Context> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "sluice-rdkafka-test")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create_with_context(Context::default())
        .expect("create consumer")
}

/// Assigns partitions `0..partitions` of `topic` from the beginning.
fn assign_from_beginning(consumer: &BaseConsumer<Context>, topic: &str, partitions: i32) {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&tpl).expect("assign");
}

/// Sends one record, polling for delivery reports while librdkafka's queue is full (bounded).
fn send(producer: &BaseProducer<Context>, mut record: BaseRecord<'_, [u8], [u8]>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                assert!(Instant::now() < deadline, "producer queue stayed full");
                producer.poll(Duration::from_millis(5));
                record = back;
            }
            Err((e, _)) => panic!("send failed: {e}"),
        }
    }
}

/// Flushes and checks that exactly `expected` records were acknowledged and none failed.
fn flush_and_check(producer: &BaseProducer<Context>, expected: u64) {
    producer
        .flush(Duration::from_secs(60))
        .expect("flush within 60 s");
    let ctx = producer.context();
    let first = ctx
        .first_error
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    assert_eq!(
        ctx.failed.load(Ordering::Relaxed),
        0,
        "failed deliveries, first: {first:?}"
    );
    assert_eq!(ctx.delivered.load(Ordering::Relaxed), expected);
}

fn key_of(i: u64) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value_of(i: u64) -> Vec<u8> {
    format!("value-{i:07}-{}", "x".repeat((i % 64) as usize)).into_bytes()
}

fn headers_of(i: u64) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "seq",
            value: Some(i.to_string().as_bytes()),
        })
        .insert(Header {
            key: "empty",
            value: Some(&[][..]),
        })
        .insert(Header {
            key: "null",
            value: None::<&[u8]>,
        })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn librdkafka_handshake_and_metadata() {
    let _serial = one_at_a_time();
    let broker = TestBroker::start_with(&["--num-partitions", "3"]);
    broker.connect().create_topic("described");

    let client = producer(&broker, &[("debug", "feature")]);
    let md = client
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(md.brokers().len(), 1);
    assert_eq!(md.brokers()[0].port(), i32::from(broker.addr.port()));
    let topic = md
        .topics()
        .iter()
        .find(|t| t.name() == "described")
        .expect("topic listed");
    assert!(topic.error().is_none(), "topic error {:?}", topic.error());
    let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1, 2]);
    for p in topic.partitions() {
        assert!(p.error().is_none());
        assert_eq!(p.leader(), md.brokers()[0].id());
    }

    // The handshake itself: librdkafka parsed our ApiVersions answer (it logs the table it read)
    // rather than falling back to its guessed broker version.
    // Log lines are queued for the application; polling the producer delivers them.
    let has = |needle: &str| {
        let log = client.context().log.lock().expect("log");
        log.iter().any(|l| l.contains(needle))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !has("ApiKey Fetch (1)") && Instant::now() < deadline {
        client.poll(Duration::from_millis(50));
    }
    let log = client.context().log.lock().expect("log").clone();
    assert!(
        log.iter().any(|l| l.contains("Broker API support:")),
        "no ApiVersions table in librdkafka's log:\n{}",
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.contains("ApiKey Fetch (1) Versions 4..16")),
        "Fetch range not read from ApiVersions:\n{}",
        log.join("\n")
    );
}

#[test]
fn hundred_thousand_records_round_trip_in_order_per_partition() {
    let _serial = one_at_a_time();
    const TOTAL: u64 = 100_000;
    const PARTITIONS: i32 = 4;
    let topic = "roundtrip";
    let broker = TestBroker::start_with(&["--num-partitions", "4"]);
    let created = broker.connect().create_topic(topic);
    assert_eq!(created.partitions.len(), PARTITIONS as usize);

    let started = Instant::now();
    let producer = producer(&broker, &[]);
    for i in 0..TOTAL {
        let key = key_of(i);
        let value = value_of(i);
        let record = BaseRecord::to(topic)
            .partition((i % PARTITIONS as u64) as i32)
            .key(&key[..])
            .payload(&value[..])
            .headers(headers_of(i));
        send(&producer, record);
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    flush_and_check(&producer, TOTAL);
    let produced = started.elapsed();

    let consumer = consumer(&broker, &[]);
    assign_from_beginning(&consumer, topic, PARTITIONS);
    // Per partition: the next offset and the next record index expected.
    let mut next: HashMap<i32, (i64, u64)> = (0..PARTITIONS).map(|p| (p, (0, p as u64))).collect();
    let mut received = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < TOTAL {
        assert!(
            Instant::now() < deadline,
            "only {received} of {TOTAL} records within 60 s"
        );
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.expect("consume");
        let p = msg.partition();
        let (offset, index) = next.get_mut(&p).expect("partition in range");
        assert_eq!(msg.offset(), *offset, "offsets in order on partition {p}");
        assert_eq!(msg.key(), Some(&key_of(*index)[..]), "key at {p}/{offset}");
        assert_eq!(
            msg.payload(),
            Some(&value_of(*index)[..]),
            "value at {p}/{offset}"
        );
        let headers = msg.headers().expect("headers");
        let got: Vec<(String, Option<Vec<u8>>)> = headers
            .iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        let want = vec![
            ("seq".to_string(), Some(index.to_string().into_bytes())),
            ("empty".to_string(), Some(Vec::new())),
            ("null".to_string(), None),
        ];
        assert_eq!(got, want, "headers at {p}/{offset}");
        *offset += 1;
        *index += PARTITIONS as u64;
        received += 1;
    }
    let consumed = started.elapsed() - produced;
    // Exactly once: each partition's log ends where the consumer stopped, so nothing was
    // written twice (a duplicate would have broken the sequence above or moved the end).
    for p in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!((low, high), (0, TOTAL as i64 / 4), "partition {p}");
        assert_eq!(next[&p].0, high);
    }
    eprintln!("100,000 records: produced in {produced:?}, consumed in {consumed:?}");
}

#[test]
fn gzip_snappy_and_zstd_batches_are_stored_untouched_and_decoded() {
    let _serial = one_at_a_time();
    let broker = TestBroker::start();
    for (codec, attribute) in [("gzip", 1), ("snappy", 2), ("zstd", 4)] {
        compressed_round_trip(&broker, codec, attribute);
    }
}

/// librdkafka turns LZ4 on only for brokers that advertise FindCoordinator (its feature table
/// maps "LZ4" to that API, which arrived in the same Kafka release), so this also checks that
/// the group coordinator's APIs are advertised.
#[test]
fn lz4_batches_are_stored_untouched_and_decoded() {
    let _serial = one_at_a_time();
    let broker = TestBroker::start();
    compressed_round_trip(&broker, "lz4", 3);
}

/// Produces 1,000 records with `compression.type=codec`, checks that every stored batch carries
/// `attribute` (the codec bits Kafka stores), and that a consumer decodes every record.
fn compressed_round_trip(broker: &TestBroker, codec: &str, attribute: i16) {
    const RECORDS: u64 = 1000;
    let topic = format!("compressed-{codec}");
    broker.connect().create_topic(&topic);
    let value = |i: u64| format!("{codec} {i:06} {}", "compressible ".repeat(20)).into_bytes();

    let producer = producer(broker, &[("compression.type", codec)]);
    for i in 0..RECORDS {
        let key = key_of(i);
        let value = value(i);
        send(
            &producer,
            BaseRecord::to(&topic)
                .partition(0)
                .key(&key[..])
                .payload(&value[..]),
        );
    }
    flush_and_check(&producer, RECORDS);

    // On disk: every batch carries the codec, and together they hold every record.
    let (batches, records) = stored_batches(&broker.data_dir.join(format!("{topic}-0")), attribute);
    assert_eq!(records, RECORDS as i64, "{codec}: records stored");
    assert!(batches >= 1);
    // `sluice dump-log` on the partition directory tells the same.
    let dumped = common::process::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("dump-log")
            .arg(broker.data_dir.join(format!("{topic}-0"))),
        None,
        Duration::from_secs(30),
    )
    .expect_success("sluice dump-log");
    let batch_lines: Vec<&str> = dumped
        .stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batch_lines.len(), batches, "{}", dumped.stdout);
    assert!(
        batch_lines.iter().all(
            |l| l.contains(&format!("compresscodec: {codec} ")) && l.ends_with("isvalid: true")
        ),
        "{}",
        dumped.stdout
    );

    let consumer = consumer(broker, &[]);
    assign_from_beginning(&consumer, &topic, 1);
    let mut i = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while i < RECORDS {
        assert!(
            Instant::now() < deadline,
            "{codec}: only {i} of {RECORDS} records consumed within 30 s"
        );
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.expect("consume");
        assert_eq!(msg.offset(), i as i64, "{codec}");
        assert_eq!(msg.key(), Some(&key_of(i)[..]), "{codec}");
        assert_eq!(msg.payload(), Some(&value(i)[..]), "{codec}");
        i += 1;
    }
    eprintln!("{codec}: {RECORDS} records in {batches} batches");
}

/// Reads every segment of a partition directory; checks each batch (CRC included) and that it is
/// compressed with `attribute`. Returns (batches, records).
fn stored_batches(dir: &Path, attribute: i16) -> (usize, i64) {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("partition directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(!logs.is_empty(), "no segment in {}", dir.display());
    let (mut batches, mut records, mut next_offset) = (0usize, 0i64, 0i64);
    for log in logs {
        let data = Bytes::from(std::fs::read(&log).expect("read segment"));
        for batch in BatchIter::new(data) {
            let batch = batch.unwrap_or_else(|(pos, e)| {
                panic!("bad batch in {} at {pos}: {e:?}", log.display())
            });
            let h = batch.header;
            assert_eq!(
                h.compression(),
                attribute,
                "batch at offset {} in {}",
                h.base_offset,
                log.display()
            );
            assert_eq!(h.base_offset, next_offset, "batches contiguous");
            next_offset = h.last_offset() + 1;
            records += i64::from(h.record_count);
            batches += 1;
        }
    }
    (batches, records)
}

#[test]
fn long_poll_fetch_waits_max_wait_when_idle() {
    let _serial = one_at_a_time();
    let broker = TestBroker::start();
    let mut client = broker.connect();
    client.create_topic("idle");
    let req = fetch_one("idle", 0, 0, 400, 1);
    let started = Instant::now();
    let resp = client.request(
        ApiKey::Fetch,
        FETCH_VERSION,
        |b| req.encode(b, FETCH_VERSION),
        FetchResponse::decode,
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(1500),
        "idle fetch with max_wait_ms=400 answered after {waited:?}"
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 0);
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
}

#[test]
fn long_poll_fetch_answers_as_soon_as_a_record_arrives() {
    let _serial = one_at_a_time();
    let broker = TestBroker::start();
    let mut fetcher = broker.connect();
    let mut producer = broker.connect();
    fetcher.create_topic("live");

    // A long max_wait, so an answer driven by the timeout cannot pass for one driven by data.
    let frame = fetcher.frame(ApiKey::Fetch, FETCH_VERSION, 4242, |b| {
        fetch_one("live", 0, 0, 10_000, 1).encode(b, FETCH_VERSION)
    });
    let sent = Instant::now();
    fetcher.send_raw(&frame);

    std::thread::sleep(Duration::from_millis(150));
    let mut batch = BatchBuilder::new(0, now_ms());
    batch.push(Some(b"k"), Some(b"arrived"), &[]);
    let produced = Instant::now();
    let ack = producer.produce_batch("live", 0, batch.build());
    assert_eq!(ack.error_code, 0);
    assert_eq!(ack.base_offset, 0);

    let mut payload = fetcher.read_frame().expect("fetch response");
    let answered = Instant::now();
    let header = ResponseHeader::decode(
        &mut payload,
        response_header_version(ApiKey::Fetch, FETCH_VERSION),
    )
    .expect("response header");
    assert_eq!(header.correlation_id, 4242);
    let resp = FetchResponse::decode(&mut payload, FETCH_VERSION).expect("fetch body");
    assert!(
        answered - produced < Duration::from_millis(100),
        "fetch answered {:?} after the produce ({:?} after it was sent)",
        answered - produced,
        answered - sent
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 1);
    let records = p.records.clone().expect("records");
    let decoded = decode_records(&records).expect("one uncompressed batch");
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].value.as_deref(), Some(&b"arrived"[..]));
}
