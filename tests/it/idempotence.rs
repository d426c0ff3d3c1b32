//! Idempotent producers end to end: InitProducerId, and Produce's sequence and epoch checks over
//! the real wire with hand-built batches; producer state across clean and unclean restarts;
//! librdkafka's idempotent producer forced into retries by stalling the broker, and carrying
//! on, the same instance, across a stop and start of the broker.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{TestBroker, WireClient};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use sluice::protocol::messages::init_producer_id_response::InitProducerIdResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::{PartitionProduceResponse, ProduceResponse};
use sluice::record::{decode_records, BatchBuilder, BatchHeader, BatchIter};

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_REQUEST: i16 = 42;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock")
}

/// One Produce (v9, acks=all) of `records` to partition 0 of `topic`.
fn produce(client: &mut WireClient, topic: &str, records: &Bytes) -> PartitionProduceResponse {
    let resp = client.request(
        ApiKey::Produce,
        9,
        |b| {
            ProduceRequest {
                transactional_id: None,
                acks: -1,
                timeout_ms: 10_000,
                topic_data: vec![TopicProduceData {
                    topic_id: Default::default(),
                    name: topic.to_string(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(records.clone()),
                    }],
                }],
            }
            .encode(b, 9)
        },
        ProduceResponse::decode,
    );
    resp.responses[0].partition_responses[0].clone()
}

fn init_producer_id(
    client: &mut WireClient,
    version: i16,
    transactional_id: Option<&str>,
    current: (i64, i16),
) -> InitProducerIdResponse {
    client.request(
        ApiKey::InitProducerId,
        version,
        |b| {
            InitProducerIdRequest {
                transactional_id: transactional_id.map(str::to_string),
                transaction_timeout_ms: 60_000,
                producer_id: current.0,
                producer_epoch: current.1,
                ..Default::default()
            }
            .encode(b, version)
        },
        InitProducerIdResponse::decode,
    )
}

/// A fresh producer id at epoch 0.
fn new_producer(client: &mut WireClient) -> i64 {
    let resp = init_producer_id(client, 4, None, (-1, -1));
    assert_eq!((resp.error_code, resp.producer_epoch), (0, 0));
    assert!(resp.producer_id >= 0);
    resp.producer_id
}

/// An idempotent batch of `records` records keyed `{tag}-{i}`.
fn batch(pid: i64, epoch: i16, seq: i32, records: usize, tag: &str) -> Bytes {
    let mut b = BatchBuilder::new(0, now_ms()).producer(pid, epoch, seq);
    for i in 0..records {
        b.push(Some(format!("{tag}-{i}").as_bytes()), Some(b"v"), &[]);
    }
    b.build()
}

/// Every batch header stored in the partition's segment files, read from disk.
fn stored_batches(data_dir: &Path, topic: &str) -> Vec<BatchHeader> {
    stored(data_dir, topic)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

fn stored(data_dir: &Path, topic: &str) -> Vec<(BatchHeader, Bytes)> {
    let dir = data_dir.join(format!("{topic}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for path in logs {
        let data = Bytes::from(std::fs::read(&path).expect("segment"));
        for found in BatchIter::new(data) {
            let found = found.expect("valid batch on disk");
            out.push((found.header, found.bytes));
        }
    }
    out
}

#[test]
fn a_retried_batch_gets_its_original_offset_and_is_stored_once() {
    let broker = TestBroker::start();
    let mut client = broker.connect();
    client.create_topic("idem");
    let pid = new_producer(&mut client);

    let first = batch(pid, 0, 0, 3, "a");
    let r = produce(&mut client, "idem", &first);
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    // A plain (non-idempotent) batch in between.
    let plain = {
        let mut b = BatchBuilder::new(0, now_ms());
        b.push(None, Some(b"plain"), &[]);
        b.build()
    };
    assert_eq!(produce(&mut client, "idem", &plain).base_offset, 3);
    let second = batch(pid, 0, 3, 2, "b");
    assert_eq!(produce(&mut client, "idem", &second).base_offset, 4);

    // Retries of both: acknowledged with their original offsets.
    for _ in 0..2 {
        let r = produce(&mut client, "idem", &first);
        assert_eq!((r.error_code, r.base_offset), (0, 0), "retry of the first");
        let r = produce(&mut client, "idem", &second);
        assert_eq!((r.error_code, r.base_offset), (0, 4), "retry of the second");
    }
    // A gap, then an old epoch after InitProducerId bumped it.
    let r = produce(&mut client, "idem", &batch(pid, 0, 9, 1, "gap"));
    assert_eq!(r.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(r.base_offset, -1);
    let bumped = init_producer_id(&mut client, 4, None, (pid, 0));
    assert_eq!(
        (bumped.error_code, bumped.producer_id, bumped.producer_epoch),
        (0, pid, 1)
    );
    let r = produce(&mut client, "idem", &batch(pid, 1, 0, 1, "c"));
    assert_eq!((r.error_code, r.base_offset), (0, 6));
    let r = produce(&mut client, "idem", &batch(pid, 0, 5, 1, "zombie"));
    assert_eq!(r.error_code, INVALID_PRODUCER_EPOCH);
    // A new epoch must start at sequence 0.
    let r = produce(&mut client, "idem", &batch(pid, 2, 4, 1, "d"));
    assert_eq!(r.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);

    let on_disk = stored_batches(&broker.data_dir, "idem");
    let layout: Vec<(i64, i64, i32)> = on_disk
        .iter()
        .map(|h| (h.base_offset, h.producer_id, h.base_sequence))
        .collect();
    assert_eq!(
        layout,
        vec![(0, pid, 0), (3, -1, -1), (4, pid, 3), (6, pid, 0)],
        "each batch stored exactly once"
    );
}

#[test]
fn producer_state_survives_a_restart_and_a_kill() {
    let mut broker = TestBroker::start();
    let mut client = broker.connect();
    client.create_topic("durable");
    let pid = new_producer(&mut client);
    let a = batch(pid, 0, 0, 2, "a");
    assert_eq!(produce(&mut client, "durable", &a).base_offset, 0);
    let b = batch(pid, 0, 2, 2, "b");
    assert_eq!(produce(&mut client, "durable", &b).base_offset, 2);

    broker.restart();
    let mut client = broker.connect();
    for (bytes, base) in [(&a, 0), (&b, 2)] {
        let r = produce(&mut client, "durable", bytes);
        assert_eq!(
            (r.error_code, r.base_offset),
            (0, base),
            "duplicate after restart"
        );
    }
    let c = batch(pid, 0, 4, 1, "c");
    assert_eq!(produce(&mut client, "durable", &c).base_offset, 4);

    // Unclean: SIGKILL right after the acknowledgement; no snapshot covers `c`.
    broker.kill();
    broker.start_again();
    let mut client = broker.connect();
    for (bytes, base) in [(&b, 2), (&c, 4)] {
        let r = produce(&mut client, "durable", bytes);
        assert_eq!(
            (r.error_code, r.base_offset),
            (0, base),
            "duplicate after kill"
        );
    }
    let r = produce(&mut client, "durable", &batch(pid, 0, 7, 1, "gap"));
    assert_eq!(r.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    let r = produce(&mut client, "durable", &batch(pid, 0, 5, 1, "d"));
    assert_eq!((r.error_code, r.base_offset), (0, 5));

    let bases: Vec<i64> = stored_batches(&broker.data_dir, "durable")
        .iter()
        .map(|h| h.base_offset)
        .collect();
    assert_eq!(bases, vec![0, 2, 4, 5]);
}

#[test]
fn producer_ids_are_unique_across_restarts_and_epochs_bump() {
    let mut broker = TestBroker::start();
    let mut ids = BTreeSet::new();
    let take = |broker: &TestBroker, ids: &mut BTreeSet<i64>| {
        let mut client = broker.connect();
        for version in 0..=5 {
            let resp = init_producer_id(&mut client, version, None, (-1, -1));
            assert_eq!((resp.error_code, resp.producer_epoch), (0, 0), "v{version}");
            assert!(
                ids.insert(resp.producer_id),
                "id {} handed out twice",
                resp.producer_id
            );
        }
    };
    take(&broker, &mut ids);
    // Block [0, 1000) is never used: hand-built clients write batches claiming producer id 0.
    assert!(ids.iter().all(|&id| id >= 1000), "{ids:?}");
    broker.restart();
    take(&broker, &mut ids);
    broker.kill();
    broker.start_again();
    take(&broker, &mut ids);
    assert_eq!(ids.len(), 18);

    let mut client = broker.connect();
    let pid = *ids.iter().next().expect("an id");
    // v3+ with the current id and epoch: the same id, next epoch.
    for (version, epoch) in [(3, 0), (4, 1), (5, 2)] {
        let resp = init_producer_id(&mut client, version, None, (pid, epoch));
        assert_eq!(
            (resp.error_code, resp.producer_id, resp.producer_epoch),
            (0, pid, epoch + 1)
        );
    }
    // At the last usable epoch: a new id at epoch 0.
    let resp = init_producer_id(&mut client, 4, None, (pid, i16::MAX - 1));
    assert_eq!((resp.error_code, resp.producer_epoch), (0, 0));
    assert!(!ids.contains(&resp.producer_id));
    // An id and no epoch is malformed; transactions are refused.
    let resp = init_producer_id(&mut client, 4, None, (pid, -1));
    assert_eq!(
        (resp.error_code, resp.producer_id, resp.producer_epoch),
        (INVALID_REQUEST, -1, -1)
    );
    for version in [0, 2, 5] {
        let resp = init_producer_id(&mut client, version, Some("tx-1"), (-1, -1));
        assert_eq!((resp.error_code, resp.producer_id), (INVALID_REQUEST, -1));
    }
    assert!(broker.wait_for_log(
        "transactional producers are not supported",
        Duration::from_secs(5)
    ));
}

// ---- librdkafka -----------------------------------------------------------------------------

mod librdkafka {
    use super::*;

    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
    use rdkafka::statistics::Statistics;
    use rdkafka::{ClientContext, Offset, TopicPartitionList};

    /// Counts deliveries, and request timeouts as the client's statistics report them.
    #[derive(Default)]
    struct Tally {
        delivered: Mutex<Vec<i64>>,
        failed: Mutex<Vec<String>>,
        req_timeouts: Mutex<u64>,
    }

    impl Tally {
        fn timeouts(&self) -> u64 {
            *self.req_timeouts.lock().expect("lock")
        }
    }

    #[derive(Clone, Default)]
    struct Ctx(Arc<Tally>);

    impl ClientContext for Ctx {
        /// librdkafka's own log, shown when `IDEM_DEBUG` is set (with its `debug` contexts).
        fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
            if std::env::var("IDEM_DEBUG").is_ok() {
                eprintln!("[rdkafka {level:?}] {fac} {log_message}");
            }
        }

        fn stats(&self, stats: Statistics) {
            let timeouts: u64 = stats.brokers.values().map(|b| b.req_timeouts).sum();
            if let Ok(mut t) = self.0.req_timeouts.lock() {
                *t = (*t).max(timeouts);
            }
        }
    }

    impl ProducerContext for Ctx {
        type DeliveryOpaque = ();

        fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
            match result {
                Ok(m) => self.0.delivered.lock().expect("lock").push(m.offset()),
                Err((e, _)) => self.0.failed.lock().expect("lock").push(e.to_string()),
            }
        }
    }

    /// SIGSTOP / SIGCONT the broker; continues it when dropped, whatever happens.
    struct Stall(u32);

    impl Stall {
        fn start(pid: u32) -> Stall {
            signal("-STOP", pid);
            Stall(pid)
        }
    }

    impl Drop for Stall {
        fn drop(&mut self) {
            // No panic here: this may run while a failed assertion unwinds.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.0.to_string())
                .status();
        }
    }

    fn signal(sig: &str, pid: u32) {
        assert!(pid > 0, "no broker process");
        let status = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    const TOPIC: &str = "idem-rdkafka";
    const RECORDS: usize = 3500;
    const STALLS: usize = 3;

    /// Polls until `count` messages are acknowledged (bounded).
    fn wait_for_deliveries(producer: &BaseProducer<Ctx>, tally: &Tally, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while tally.delivered.lock().expect("lock").len() < count && Instant::now() < deadline {
            producer.poll(Duration::from_millis(20));
        }
        let failed = tally.failed.lock().expect("lock").clone();
        assert!(failed.is_empty(), "failed deliveries: {failed:?}");
        assert_eq!(tally.delivered.lock().expect("lock").len(), count);
    }

    fn key(i: usize) -> String {
        format!("key-{i:06}")
    }

    fn send(producer: &BaseProducer<Ctx>, range: std::ops::Range<usize>) {
        for i in range {
            let k = key(i);
            let v = format!("value-{i}");
            let mut record = BaseRecord::to(TOPIC).partition(0).key(&k).payload(&v);
            let mut attempts = 0;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        attempts += 1;
                        assert!(attempts < 1000, "queue stayed full: {e}");
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
    }

    #[test]
    fn an_idempotent_producer_forced_to_retry_writes_no_duplicates() {
        let broker = TestBroker::start();
        let mut client = broker.connect();
        client.create_topic(TOPIC);
        let ctx = Ctx::default();
        let tally = ctx.0.clone();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", broker.bootstrap())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.codec", "none")
            .set("linger.ms", "5")
            .set("batch.num.messages", "40")
            .set("max.in.flight.requests.per.connection", "5")
            // A request unanswered for 600 ms times out: the client disconnects and resends.
            .set("socket.timeout.ms", "600")
            .set("request.timeout.ms", "400")
            // …but messages never expire, so nothing is given up as "possibly persisted".
            .set("message.timeout.ms", "120000")
            .set("retry.backoff.ms", "50")
            .set("statistics.interval.ms", "50");
        if std::env::var("IDEM_DEBUG").is_ok() {
            config.set("debug", "eos,broker,protocol,msg");
        }
        let producer: BaseProducer<Ctx> = config.create_with_context(ctx).expect("producer");

        // Rounds of: send a chunk and wait for its acknowledgements; send the next chunk while
        // the broker is stopped, until the client has seen a request time out (bounded). The
        // client then reconnects and resends the same batches, while the broker still holds the
        // originals in the old connection's socket buffer: once continued it gets both.
        let chunk = RECORDS / (2 * STALLS + 1);
        let mut next = 0;
        for round in 0..=STALLS {
            let end = if round == STALLS {
                RECORDS
            } else {
                next + chunk
            };
            send(&producer, next..end);
            next = end;
            wait_for_deliveries(&producer, &tally, next);
            if round == STALLS {
                break;
            }
            let timeouts_before = tally.timeouts();
            let _stall = Stall::start(broker.pid());
            send(&producer, next..next + chunk);
            next += chunk;
            let deadline = Instant::now() + Duration::from_secs(20);
            while tally.timeouts() == timeouts_before && Instant::now() < deadline {
                producer.poll(Duration::from_millis(20));
            }
            assert!(
                tally.timeouts() > timeouts_before,
                "round {round}: no request timed out during the stall"
            );
        }
        producer.flush(Duration::from_secs(60)).expect("flush");

        let failed = tally.failed.lock().expect("lock").clone();
        assert!(failed.is_empty(), "failed deliveries: {failed:?}");
        // Every message acknowledged once, at its own offset: retries got their originals.
        let mut delivered = tally.delivered.lock().expect("lock").clone();
        delivered.sort_unstable();
        assert_eq!(delivered, (0..RECORDS as i64).collect::<Vec<_>>());
        let duplicates = broker
            .log_lines()
            .iter()
            .filter(|l| l.contains("duplicate batch"))
            .count();
        eprintln!(
            "librdkafka: {} request timeouts over {STALLS} stalls; the broker answered {duplicates} \
             retried batches with their original offsets",
            tally.timeouts()
        );

        // Stored once: every key exactly once, in order, in the segment files…
        let mut on_disk = Vec::new();
        for (header, bytes) in stored(&broker.data_dir, TOPIC) {
            assert_eq!(header.compression(), 0);
            for r in decode_records(&bytes).expect("records") {
                on_disk.push(String::from_utf8(r.key.expect("key").to_vec()).expect("utf8"));
            }
        }
        let expected: Vec<String> = (0..RECORDS).map(key).collect();
        assert_eq!(on_disk.len(), RECORDS, "records stored");
        assert_eq!(on_disk, expected);

        // …and as a consumer reads them.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap())
            .set("enable.auto.commit", "false")
            .set("group.id", "idem-check")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
            .expect("tpl");
        consumer.assign(&tpl).expect("assign");
        let mut consumed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while consumed.len() < RECORDS && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("message");
                let k = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                consumed.push(k.expect("key"));
            }
        }
        assert_eq!(consumed, expected, "each key exactly once, in order");
        // The stalls did what they are for: retries of batches the broker had written.
        assert!(duplicates > 0, "no retry reached the broker as a duplicate");
    }

    /// An error a client reported: its code, when it has one, and its text.
    type Reported = (Option<rdkafka::types::RDKafkaErrorCode>, String);

    /// What a client reported besides its deliveries: every error, and librdkafka's log lines.
    #[derive(Clone, Default)]
    struct Reports {
        errors: Arc<Mutex<Vec<Reported>>>,
        logs: Arc<Mutex<Vec<String>>>,
    }

    impl ClientContext for Reports {
        fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
            if std::env::var("IDEM_DEBUG").is_ok() {
                eprintln!("[rdkafka {level:?}] {fac} {log_message}");
            }
            if let Ok(mut l) = self.logs.lock() {
                l.push(format!("{fac} {log_message}"));
            }
        }

        fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
            if let Ok(mut e) = self.errors.lock() {
                e.push((error.rdkafka_error_code(), format!("{error}: {reason}")));
            }
        }
    }

    const RESTART_TOPIC: &str = "idem-restart";

    /// Queues records `range` (key `key(i)`) on `producer` without waiting for them.
    fn enqueue(
        producer: &rdkafka::producer::FutureProducer<Reports>,
        range: std::ops::Range<usize>,
    ) -> Vec<(usize, rdkafka::producer::DeliveryFuture)> {
        range
            .map(|i| {
                let (k, v) = (key(i), format!("value-{i}"));
                let record = rdkafka::producer::FutureRecord::to(RESTART_TOPIC)
                    .partition(0)
                    .key(&k)
                    .payload(&v);
                match producer.send_result(record) {
                    Ok(delivery) => (i, delivery),
                    Err((e, _)) => panic!("record {i} not queued: {e}"),
                }
            })
            .collect()
    }

    /// Awaits every delivery (all within one bounded wait); answers (record, offset) pairs.
    async fn delivered(
        pending: Vec<(usize, rdkafka::producer::DeliveryFuture)>,
    ) -> Vec<(usize, i64)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut out = Vec::with_capacity(pending.len());
        for (i, delivery) in pending {
            match tokio::time::timeout_at(deadline, delivery).await {
                Ok(Ok(Ok(d))) => {
                    assert_eq!(d.partition, 0);
                    out.push((i, d.offset));
                }
                Ok(Ok(Err((e, _)))) => panic!("record {i} failed: {e}"),
                Ok(Err(_)) => panic!("record {i}: the producer dropped its delivery"),
                Err(_) => panic!("record {i} not acknowledged within 60 s"),
            }
        }
        out
    }

    /// One librdkafka idempotent producer (a `FutureProducer`, the same instance throughout)
    /// across a clean stop and start of the broker on the same port and data directory: records
    /// acknowledged before the stop, records queued while the broker is down (librdkafka holds
    /// and resends them), records sent after the start. Every record is acknowledged at its own
    /// offset, stored exactly once and in order, and the client saw no sequence or producer-id
    /// error and no fatal error: the broker restored the producer's state from its files.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idempotent_producer_carries_on_across_a_broker_stop_and_start() {
        const BEFORE: usize = 300;
        const IN_FLIGHT: usize = 2000;
        const WHILE_DOWN: usize = 150;
        const AFTER: usize = 300;
        let total = BEFORE + IN_FLIGHT + WHILE_DOWN + AFTER;
        let mut broker = TestBroker::start();
        let port = broker.addr.port();
        broker.connect().create_topic(RESTART_TOPIC);
        let reports = Reports::default();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", broker.bootstrap())
            .set("broker.address.family", "v4")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.num.messages", "50")
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", "60000")
            .set("retry.backoff.ms", "50")
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "200");
        if std::env::var("IDEM_DEBUG").is_ok() {
            config.set("debug", "eos,broker,protocol,msg");
        }
        let producer: rdkafka::producer::FutureProducer<Reports> = config
            .create_with_context(reports.clone())
            .expect("producer");

        let mut acked = delivered(enqueue(&producer, 0..BEFORE)).await;
        // Batches on their way as the broker stops: written or not, answered or not, each must
        // end up stored once (a resent batch the broker wrote is answered as a duplicate).
        let in_flight = enqueue(&producer, BEFORE..BEFORE + IN_FLIGHT);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(broker.terminate(), Some(0), "a clean stop");
        assert!(
            std::net::TcpStream::connect_timeout(&broker.addr, Duration::from_millis(200)).is_err(),
            "the broker is down"
        );
        let at_stop: usize = stored(&broker.data_dir, RESTART_TOPIC)
            .iter()
            .map(|(h, _)| h.record_count as usize)
            .sum();
        assert!(at_stop >= BEFORE, "{at_stop} records stored at the stop");
        let down = enqueue(
            &producer,
            BEFORE + IN_FLIGHT..BEFORE + IN_FLIGHT + WHILE_DOWN,
        );
        // librdkafka finds the broker gone and keeps the records; then the same broker comes back.
        std::thread::sleep(Duration::from_millis(500));
        broker.start_again();
        assert_eq!(broker.addr.port(), port);
        acked.extend(delivered(in_flight).await);
        acked.extend(delivered(down).await);
        let after = enqueue(&producer, BEFORE + IN_FLIGHT + WHILE_DOWN..total);
        acked.extend(delivered(after).await);
        producer.flush(Duration::from_secs(30)).expect("flush");

        // Acknowledged in order, each at its own offset: record i at offset i.
        let expected_acks: Vec<(usize, i64)> = (0..total).map(|i| (i, i as i64)).collect();
        assert_eq!(acked, expected_acks);
        assert_eq!(producer.client().fatal_error(), None);
        let errors = reports.errors.lock().expect("lock").clone();
        use rdkafka::types::RDKafkaErrorCode as E;
        let bad: Vec<_> = errors
            .iter()
            .filter(|(code, _)| {
                matches!(
                    code,
                    Some(
                        E::OutOfOrderSequenceNumber
                            | E::DuplicateSequenceNumber
                            | E::UnknownProducerId
                            | E::InvalidProducerEpoch
                            | E::InvalidProducerIdMapping
                            | E::Fatal
                    )
                )
            })
            .collect();
        assert!(bad.is_empty(), "idempotence errors: {bad:?}");
        let logs = reports.logs.lock().expect("lock").clone();
        let sequence_trouble: Vec<&String> = logs
            .iter()
            .filter(|l| {
                l.contains("OUT_OF_ORDER") || l.contains("UNKNOWN_PRODUCER") || l.contains("FATAL")
            })
            .collect();
        assert!(sequence_trouble.is_empty(), "{sequence_trouble:?}");
        let duplicates = broker
            .log_lines()
            .iter()
            .filter(|l| l.contains("duplicate batch"))
            .count();
        eprintln!(
            "idempotent producer across a restart: {total} records acknowledged in order \
             ({at_stop} stored when the broker stopped); {duplicates} resent batches answered as duplicates after the start; {} client \
             errors reported (connection losses while the broker was down): {:?}",
            errors.len(),
            errors.iter().map(|(c, _)| c).collect::<Vec<_>>()
        );

        // Stored once each, in order, from one producer id.
        let mut keys = Vec::new();
        let mut producer_ids = BTreeSet::new();
        for (header, bytes) in stored(&broker.data_dir, RESTART_TOPIC) {
            producer_ids.insert(header.producer_id);
            for r in decode_records(&bytes).expect("records") {
                keys.push(String::from_utf8(r.key.expect("key").to_vec()).expect("utf8"));
            }
        }
        assert_eq!(keys, (0..total).map(key).collect::<Vec<_>>());
        assert_eq!(producer_ids.len(), 1, "{producer_ids:?}");
        assert!(producer_ids.iter().all(|&id| id >= 0));
    }
}
