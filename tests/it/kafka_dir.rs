//! A data directory as a single-node KRaft Kafka 4 leaves it after a clean stop, opened by
//! sluice: every partition gets a leader before the first answer, every stored record is served
//! at its offset, the groups' committed offsets are returned, and producers carry on.
//!
//! The fixture is built byte by byte from the format descriptions — the v2 record batch with
//! its CRC-32C, the KRaft record framing and the fields of each metadata record as its JSON
//! schema orders them, the `__consumer_offsets` key and value structs, Kafka's checkpoint and
//! snapshot files — by the small encoder below, not by sluice's writers or its generated codec,
//! so that a misreading shared by sluice's writer and reader cannot hide.
//!
//! What Kafka's controller writes when its only broker stops cleanly, and what the fixture's
//! metadata log therefore ends with: `BrokerRegistrationChangeRecord` (in controlled shutdown),
//! one `PartitionChangeRecord` with `leader = -1` for every partition the broker led (the ISR
//! keeps the broker: it is the last member), then `BrokerRegistrationChangeRecord` (fenced).

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::kafka_bytes::{
    batch, control, enc, feature_level, java_hash, kraft, offset_key, offsets_partition,
    partition_record, topic_config, topic_record, Rec, ATTR_CONTROL, NO_PRODUCER,
};
use common::{TestBroker, WireClient};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::metadata_request::MetadataRequest;
use sluice::protocol::messages::metadata_response::MetadataResponse;
use uuid::Uuid;

const NODE: i32 = 1;
const CLUSTER: Uuid = uuid::uuid!("5a1c0000-0000-4000-8000-00000000c1c1");
const DIRECTORY: Uuid = uuid::uuid!("5a1c0000-0000-4000-8000-00000000d1d1");
const ORDERS: Uuid = uuid::uuid!("5a1c0000-0000-4000-8000-0000000000e1");
const OFFSETS_TOPIC: Uuid = uuid::uuid!("5a1c0000-0000-4000-8000-0000000000c0");
const ORDERS_PARTITIONS: i32 = 3;
const OFFSETS_PARTITIONS: i32 = 50;
/// The fixture's first timestamp: an hour ago, so that the producer of `orders-2` is within
/// `producer.id.expiration.ms` (a day) and is not expired on load, as Kafka would expire it.
static TS: LazyLock<i64> = LazyLock::new(|| {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    now.as_millis() as i64 - 3_600_000
});
/// The idempotent producer whose batches fill `orders-2`, and its epoch.
const PRODUCER_ID: i64 = 500;
const PRODUCER_EPOCH: i16 = 0;
/// The metadata log's raft epoch (quorum-state, the batches' partitionLeaderEpoch).
const RAFT_EPOCH: i32 = 1;
/// The broker epoch Kafka's controller gave the registration: the offset of its record.
const BROKER_EPOCH: i64 = 2;
/// `segment.index.bytes` default: Kafka preallocates each active segment's indexes to this.
const INDEX_BYTES: u64 = 10 * 1024 * 1024;

/// PartitionChangeRecord v1 that only sets the leader (tag 1).
fn leader_change(topic: Uuid, index: i32, leader: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&index.to_be_bytes());
    b.extend_from_slice(topic.as_bytes());
    enc::tagged(&mut b, &[(1, leader.to_be_bytes().to_vec())]);
    kraft(5, 1, b)
}

/// RegisterBrokerRecord v3 of broker `node` at `epoch`: one PLAINTEXT endpoint,
/// metadata.version support, fenced.
fn register_broker(node: i32, epoch: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&node.to_be_bytes());
    b.push(0); // is migrating zk broker
    b.extend_from_slice(Uuid::from_u128(0x1ca7 + node as u128).as_bytes()); // incarnation
    b.extend_from_slice(&epoch.to_be_bytes());
    enc::uvarint(&mut b, 2); // one endpoint
    enc::compact_str(&mut b, "PLAINTEXT");
    enc::compact_str(&mut b, "localhost");
    b.extend_from_slice(&9092u16.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    enc::tagged(&mut b, &[]);
    enc::uvarint(&mut b, 2); // one feature
    enc::compact_str(&mut b, "metadata.version");
    b.extend_from_slice(&7i16.to_be_bytes());
    b.extend_from_slice(&25i16.to_be_bytes());
    enc::tagged(&mut b, &[]);
    enc::uvarint(&mut b, 0); // rack: null
    b.push(1); // fenced
    b.push(0); // in controlled shutdown
    let mut dirs = Vec::new();
    enc::compact_uuids(&mut dirs, &[DIRECTORY]);
    enc::tagged(&mut b, &[(0, dirs)]);
    kraft(0, 3, b)
}

/// BrokerRegistrationChangeRecord v2 of broker `node` at `epoch` with the given tagged changes.
fn broker_change(node: i32, epoch: i64, tags: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&node.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    enc::tagged(&mut b, tags);
    kraft(17, 2, b)
}

fn producer_ids(next: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&NODE.to_be_bytes());
    b.extend_from_slice(&BROKER_EPOCH.to_be_bytes());
    b.extend_from_slice(&next.to_be_bytes());
    enc::tagged(&mut b, &[]);
    kraft(15, 0, b)
}

/// LeaderChangeMessage v0: leader 1, voters [1], granting voters [1].
fn leader_change_message() -> Vec<u8> {
    let mut b = 0i16.to_be_bytes().to_vec();
    b.extend_from_slice(&NODE.to_be_bytes());
    for _ in 0..2 {
        enc::uvarint(&mut b, 2);
        b.extend_from_slice(&NODE.to_be_bytes());
        enc::tagged(&mut b, &[]);
    }
    enc::tagged(&mut b, &[]);
    b
}

/// A batch whose timestamps follow its offsets (`TS + offset`).
fn at_ts(
    base: i64,
    leader_epoch: i32,
    attributes: i16,
    producer: (i64, i16, i32),
    records: &[Rec],
) -> Vec<u8> {
    batch(
        base,
        *TS + base,
        leader_epoch,
        attributes,
        producer,
        records,
    )
}

fn values(vs: Vec<Vec<u8>>) -> Vec<Rec> {
    vs.into_iter().map(|v| (None, Some(v))).collect()
}

/// The metadata log: its batches, offsets counted as the controller counts them.
fn metadata_log() -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = 0i64;
    let mut push = |attributes: i16, recs: Vec<Rec>| {
        out.extend(at_ts(next, RAFT_EPOCH, attributes, NO_PRODUCER, &recs));
        next += recs.len() as i64;
    };
    push(ATTR_CONTROL, vec![control(2, leader_change_message())]);
    push(0, values(vec![feature_level("metadata.version", 25)]));
    // Offset 2: the registration, so the broker epoch is 2.
    push(0, values(vec![register_broker(NODE, BROKER_EPOCH)]));
    push(
        0,
        values(vec![broker_change(NODE, BROKER_EPOCH, &[(0, vec![0xff])])]),
    ); // unfenced
    let mut orders = vec![topic_record("orders", ORDERS)];
    orders.extend((0..ORDERS_PARTITIONS).map(|p| partition_record(ORDERS, p, NODE, DIRECTORY)));
    push(0, values(orders));
    let mut offsets = vec![
        topic_record("__consumer_offsets", OFFSETS_TOPIC),
        topic_config("__consumer_offsets", "cleanup.policy", "compact"),
        topic_config("__consumer_offsets", "compression.type", "producer"),
        topic_config("__consumer_offsets", "segment.bytes", "104857600"),
    ];
    offsets.extend(
        (0..OFFSETS_PARTITIONS).map(|p| partition_record(OFFSETS_TOPIC, p, NODE, DIRECTORY)),
    );
    push(0, values(offsets));
    push(0, values(vec![producer_ids(1000)]));
    // The clean stop.
    push(
        0,
        values(vec![broker_change(NODE, BROKER_EPOCH, &[(1, vec![1])])]),
    ); // in controlled shutdown
    let mut leaderless: Vec<Vec<u8>> = (0..ORDERS_PARTITIONS)
        .map(|p| leader_change(ORDERS, p, -1))
        .collect();
    leaderless.extend((0..OFFSETS_PARTITIONS).map(|p| leader_change(OFFSETS_TOPIC, p, -1)));
    push(0, values(leaderless));
    push(
        0,
        values(vec![broker_change(NODE, BROKER_EPOCH, &[(0, vec![1])])]),
    ); // fenced
    out
}

/// `bootstrap.checkpoint`: a snapshot-format file (header, the bootstrap records, footer).
fn bootstrap_checkpoint() -> Vec<u8> {
    let mut header = 0i16.to_be_bytes().to_vec();
    header.extend_from_slice(&TS.to_be_bytes());
    enc::tagged(&mut header, &[]);
    let mut footer = 0i16.to_be_bytes().to_vec();
    enc::tagged(&mut footer, &[]);
    let mut out = at_ts(0, 0, ATTR_CONTROL, NO_PRODUCER, &[control(3, header)]);
    out.extend(at_ts(
        1,
        0,
        0,
        NO_PRODUCER,
        &values(vec![feature_level("metadata.version", 25)]),
    ));
    out.extend(at_ts(
        2,
        0,
        ATTR_CONTROL,
        NO_PRODUCER,
        &[control(4, footer)],
    ));
    out
}

/// OffsetCommitValue v3: offset, leader epoch, metadata, commit timestamp.
fn offset_value(offset: i64, metadata: &str) -> Vec<u8> {
    let mut b = 3i16.to_be_bytes().to_vec();
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    enc::str16(&mut b, metadata);
    b.extend_from_slice(&TS.to_be_bytes());
    b
}

/// GroupMetadataKey v2 and an Empty group's GroupMetadataValue v3 (no members).
fn group_metadata(group: &str, generation: i32) -> Rec {
    let mut key = 2i16.to_be_bytes().to_vec();
    enc::str16(&mut key, group);
    let mut v = 3i16.to_be_bytes().to_vec();
    enc::str16(&mut v, "consumer");
    v.extend_from_slice(&generation.to_be_bytes());
    enc::null_str16(&mut v); // protocol
    enc::null_str16(&mut v); // leader
    v.extend_from_slice(&TS.to_be_bytes()); // current state timestamp
    v.extend_from_slice(&0i32.to_be_bytes()); // members
    (Some(key), Some(v))
}

/// The records of `orders-p`: `order-p-i` keyed `k-i`.
fn order_records(p: i32) -> Vec<Rec> {
    (0..order_count(p))
        .map(|i| {
            (
                Some(format!("k-{i}").into_bytes()),
                Some(format!("order-{p}-{i}").into_bytes()),
            )
        })
        .collect()
}

fn order_count(p: i32) -> usize {
    5 + 2 * p as usize
}

/// Groups and what they committed: billing has one offset per partition of orders; archive
/// committed orders-0 and then deleted it (a tombstone), leaving only orders-1.
const BILLING: &str = "billing";
const ARCHIVE: &str = "archive-readers";

fn billing_offsets() -> BTreeMap<i32, i64> {
    (0..ORDERS_PARTITIONS)
        .map(|p| (p, order_count(p) as i64 - 1))
        .collect()
}

fn kafka_uuid(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, bytes).expect("write fixture file");
}

/// Kafka's offset checkpoint text: version 0, count, then `topic partition offset` lines.
fn offset_checkpoint(entries: &[(String, i32, i64)]) -> String {
    let mut s = format!("0\n{}\n", entries.len());
    for (t, p, o) in entries {
        s.push_str(&format!("{t} {p} {o}\n"));
    }
    s
}

/// Writes a partition directory: its segments (each a list of batches), `partition.metadata`,
/// `leader-epoch-checkpoint`, and the indexes of each segment (the last one preallocated with a
/// zero tail when `preallocated`, as a Kafka that did not trim them leaves it).
fn write_partition(dir: &Path, topic_id: Uuid, segments: &[(i64, Vec<u8>)], preallocated: bool) {
    fs::create_dir_all(dir).expect("mkdir");
    write(
        &dir.join("partition.metadata"),
        format!("version: 0\ntopic_id: {}\n", kafka_uuid(topic_id)),
    );
    write(&dir.join("leader-epoch-checkpoint"), "0\n1\n0 0\n");
    for (i, (base, bytes)) in segments.iter().enumerate() {
        let name = format!("{base:020}");
        write(&dir.join(format!("{name}.log")), bytes);
        let last = i + 1 == segments.len();
        let index = fs::File::create(dir.join(format!("{name}.index"))).expect("index");
        let time = fs::File::create(dir.join(format!("{name}.timeindex"))).expect("timeindex");
        if last && preallocated {
            index.set_len(INDEX_BYTES).expect("preallocate");
            // Whole 12-byte entries, as Kafka rounds the size down.
            time.set_len(INDEX_BYTES / 12 * 12).expect("preallocate");
        } else if !last {
            // A rolled segment's time index ends with its largest timestamp.
            let next_base = segments[i + 1].0;
            let mut entry = (*TS + next_base - 1).to_be_bytes().to_vec();
            entry.extend_from_slice(&((next_base - 1 - base) as i32).to_be_bytes());
            fs::write(dir.join(format!("{name}.timeindex")), entry).expect("timeindex");
        }
    }
}

/// The producer snapshot Kafka writes at a clean stop: version 1, CRC-32C of the entries, one
/// entry per producer.
fn producer_snapshot(last_seq: i32, last_offset: i64, offset_delta: i32) -> Vec<u8> {
    let mut entries = 1i32.to_be_bytes().to_vec();
    entries.extend_from_slice(&PRODUCER_ID.to_be_bytes());
    entries.extend_from_slice(&PRODUCER_EPOCH.to_be_bytes());
    entries.extend_from_slice(&last_seq.to_be_bytes());
    entries.extend_from_slice(&last_offset.to_be_bytes());
    entries.extend_from_slice(&offset_delta.to_be_bytes());
    entries.extend_from_slice(&(*TS + last_offset).to_be_bytes());
    entries.extend_from_slice(&(-1i32).to_be_bytes()); // coordinator epoch
    entries.extend_from_slice(&(-1i64).to_be_bytes()); // no ongoing transaction
    let mut out = 1i16.to_be_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(&entries).to_be_bytes());
    out.extend_from_slice(&entries);
    out
}

/// Writes the whole fixture into `root` (the `log.dirs`).
fn write_kafka_dir(root: &Path) {
    write(
        &root.join("meta.properties"),
        format!(
            "#\n#Sat Nov 01 10:00:00 UTC 2025\nnode.id={NODE}\ndirectory.id={}\nversion=1\ncluster.id={}\n",
            kafka_uuid(DIRECTORY),
            kafka_uuid(CLUSTER)
        ),
    );
    write(&root.join("bootstrap.checkpoint"), bootstrap_checkpoint());
    write(
        &root.join(".kafka_cleanshutdown"),
        format!("{{\"version\":0,\"brokerEpoch\":{BROKER_EPOCH}}}"),
    );
    write(&root.join(".lock"), "");
    // Files sluice does not know: logged once with their path, never touched.
    write(&root.join("operator-notes.txt"), "keep me");
    write(&root.join("orders-0/owner.txt"), "team orders");
    write(
        &root.join("__consumer_offsets-7/owner.txt"),
        "team platform",
    );
    write(
        &root.join("orders-1.0f0e0d0c0b0a09080706050403020100-future/00000000000000000000.log"),
        "",
    );

    let meta = root.join("__cluster_metadata-0");
    let log = metadata_log();
    write(&meta.join("00000000000000000000.log"), &log);
    write(&meta.join("00000000000000000000.index"), "");
    write(&meta.join("00000000000000000000.timeindex"), "");
    write(
        &meta.join("partition.metadata"),
        "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n",
    );
    write(
        &meta.join("leader-epoch-checkpoint"),
        format!("0\n1\n{RAFT_EPOCH} 0\n"),
    );
    write(
        &meta.join("quorum-state"),
        format!(
            "{{\"clusterId\":\"\",\"leaderId\":{NODE},\"leaderEpoch\":{RAFT_EPOCH},\"votedId\":-1,\
             \"appliedOffset\":0,\"currentVoters\":[{{\"voterId\":{NODE}}}],\"data_version\":0}}"
        ),
    );

    let mut ends = Vec::new();
    for p in 0..ORDERS_PARTITIONS {
        let recs = order_records(p);
        let dir = root.join(format!("orders-{p}"));
        let producer = |seq| {
            if p == 2 {
                (PRODUCER_ID, PRODUCER_EPOCH, seq)
            } else {
                NO_PRODUCER
            }
        };
        let first = at_ts(0, 0, 0, producer(0), &recs[..3]);
        let second = at_ts(3, 0, 0, producer(3), &recs[3..]);
        let segments = if p == 0 {
            // Rolled after the first batch.
            vec![(0, first), (3, second)]
        } else {
            vec![(0, [first, second].concat())]
        };
        write_partition(&dir, ORDERS, &segments, p != 0);
        let end = recs.len() as i64;
        if p == 2 {
            let last_seq = end as i32 - 1;
            write(
                &dir.join(format!("{end:020}.snapshot")),
                producer_snapshot(last_seq, end - 1, last_seq - 3),
            );
        }
        ends.push(("orders".to_string(), p, end));
    }

    let mut commits: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    let billing = commits
        .entry(offsets_partition(BILLING, OFFSETS_PARTITIONS))
        .or_default();
    billing.push(group_metadata(BILLING, 4));
    for (p, o) in billing_offsets() {
        billing.push((
            Some(offset_key(BILLING, "orders", p)),
            Some(offset_value(o, &format!("m{p}"))),
        ));
    }
    let archive = commits
        .entry(offsets_partition(ARCHIVE, OFFSETS_PARTITIONS))
        .or_default();
    archive.push(group_metadata(ARCHIVE, 1));
    archive.push((
        Some(offset_key(ARCHIVE, "orders", 0)),
        Some(offset_value(1, "")),
    ));
    archive.push((
        Some(offset_key(ARCHIVE, "orders", 1)),
        Some(offset_value(2, "")),
    ));
    archive.push((Some(offset_key(ARCHIVE, "orders", 0)), None));
    for p in 0..OFFSETS_PARTITIONS {
        let dir = root.join(format!("__consumer_offsets-{p}"));
        let (log, end) = match commits.get(&p) {
            // One batch per commit, as the coordinator appends them.
            Some(recs) => {
                let mut log = Vec::new();
                for (i, r) in recs.iter().enumerate() {
                    log.extend(at_ts(i as i64, 0, 0, NO_PRODUCER, std::slice::from_ref(r)));
                }
                (log, recs.len() as i64)
            }
            None => (Vec::new(), 0),
        };
        write_partition(&dir, OFFSETS_TOPIC, &[(0, log)], false);
        ends.push(("__consumer_offsets".to_string(), p, end));
    }
    write(
        &root.join("recovery-point-offset-checkpoint"),
        offset_checkpoint(&ends),
    );
    write(
        &root.join("replication-offset-checkpoint"),
        offset_checkpoint(&ends),
    );
    write(
        &root.join("log-start-offset-checkpoint"),
        offset_checkpoint(&[]),
    );
}

fn metadata(client: &mut WireClient) -> MetadataResponse {
    let req = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    client.request(
        ApiKey::Metadata,
        12,
        |b| req.encode(b, 12),
        MetadataResponse::decode,
    )
}

/// (topic, partition) → (leader, leader epoch) of every partition Metadata lists.
fn leaders(resp: &MetadataResponse) -> BTreeMap<(String, i32), (i32, i32)> {
    resp.topics
        .iter()
        .flat_map(|t| {
            let name = t.name.clone().unwrap_or_default();
            t.partitions.iter().map(move |p| {
                (
                    (name.clone(), p.partition_index),
                    (p.leader_id, p.leader_epoch),
                )
            })
        })
        .collect()
}

fn consumer(broker: &TestBroker, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("broker.address.family", "v4")
        .create()
        .expect("consumer")
}

/// Reads every record of `orders` from offset 0: (partition, offset) → (key, value).
fn read_orders(broker: &TestBroker, want: usize) -> BTreeMap<(i32, i64), (Vec<u8>, Vec<u8>)> {
    let c = consumer(broker, "fixture-reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..ORDERS_PARTITIONS {
        tpl.add_partition_offset("orders", p, Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < want && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            got.insert(
                (m.partition(), m.offset()),
                (
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                ),
            );
        }
    }
    got
}

fn expected_orders() -> BTreeMap<(i32, i64), (Vec<u8>, Vec<u8>)> {
    (0..ORDERS_PARTITIONS)
        .flat_map(|p| {
            order_records(p)
                .into_iter()
                .enumerate()
                .map(move |(i, (k, v))| ((p, i as i64), (k.expect("key"), v.expect("value"))))
        })
        .collect()
}

/// What `group` has committed for the partitions of orders (None: nothing).
fn committed(broker: &TestBroker, group: &str) -> BTreeMap<i32, Option<i64>> {
    let c = consumer(broker, group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..ORDERS_PARTITIONS {
        tpl.add_partition("orders", p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    got.elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect()
}

/// Produce v9 of one raw batch to orders-2: (error code, base offset).
fn produce_raw(client: &mut WireClient, records: Vec<u8>) -> (i16, i64) {
    use sluice::protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use sluice::protocol::messages::produce_response::ProduceResponse;
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: "orders".into(),
            partition_data: vec![PartitionProduceData {
                index: 2,
                records: Some(records.into()),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = client.request(
        ApiKey::Produce,
        9,
        |b| req.encode(b, 9),
        ProduceResponse::decode,
    );
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn a_directory_kafka_left_after_a_clean_stop_opens_and_serves() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path().join("kraft-combined-logs");
    write_kafka_dir(&root);
    // Known values of Java's String.hashCode.
    assert_eq!(java_hash("hello"), 99_162_322);
    assert_eq!((java_hash("Aa"), java_hash("BB")), (2112, 2112));

    let started = Instant::now();
    let mut broker = TestBroker::start_in(&root, &[]);
    for unknown in [
        "operator-notes.txt",
        "orders-0/owner.txt",
        // Opened once, by the offsets replay, whose log its partition actor then adopts.
        "__consumer_offsets-7/owner.txt",
        "orders-1.0f0e0d0c0b0a09080706050403020100-future",
    ] {
        let path = root.join(unknown);
        assert!(path.exists(), "{unknown} left as it is");
        // Partition directories are opened as their actors start, just after the listener.
        let needle = path.to_string_lossy();
        assert!(
            broker.wait_for_log(&needle, Duration::from_secs(10)),
            "{unknown} is logged"
        );
        let lines = broker.log_lines();
        let hits = lines
            .iter()
            .filter(|l| l.contains(&*path.to_string_lossy()))
            .count();
        assert_eq!(hits, 1, "{unknown} logged once:\n{}", lines.join("\n"));
    }
    let mut client = broker.connect();
    // The first answer after start-up: every partition already has this broker as leader, one
    // leader epoch above the -1 change of the clean stop.
    let first = leaders(&metadata(&mut client));
    eprintln!("first Metadata answer {:?} after spawn", started.elapsed());
    let mut want = BTreeMap::new();
    for p in 0..ORDERS_PARTITIONS {
        want.insert(("orders".to_string(), p), (NODE, 2));
    }
    for p in 0..OFFSETS_PARTITIONS {
        want.insert(("__consumer_offsets".to_string(), p), (NODE, 2));
    }
    assert_eq!(first, want, "leaders and leader epochs after start-up");

    // The quorum taken as Kafka's only voter takes it: the next raft epoch in `quorum-state`
    // (same data version), opened in the log, and Kafka's bootstrap file left as it was (the
    // log was not empty).
    let meta = root.join("__cluster_metadata-0");
    let next = RAFT_EPOCH + 1;
    assert_eq!(
        std::fs::read_to_string(meta.join("quorum-state")).expect("quorum-state"),
        format!(
            "{{\"clusterId\":\"\",\"leaderId\":{NODE},\"leaderEpoch\":{next},\"votedId\":-1,\
             \"appliedOffset\":0,\"currentVoters\":[{{\"voterId\":{NODE}}}],\"data_version\":0}}"
        )
    );
    let epochs = std::fs::read_to_string(meta.join("leader-epoch-checkpoint")).expect("epochs");
    let lines: Vec<&str> = epochs.lines().collect();
    assert_eq!(
        lines[..3],
        ["0", "2", &format!("{RAFT_EPOCH} 0")],
        "{epochs}"
    );
    assert!(lines[3].starts_with(&format!("{next} ")), "{epochs}");
    assert_eq!(
        std::fs::read(root.join("bootstrap.checkpoint")).expect("bootstrap"),
        bootstrap_checkpoint()
    );

    // Every stored record at its offset, through librdkafka.
    let expected = expected_orders();
    assert_eq!(read_orders(&broker, expected.len()), expected);

    // Every committed offset; the tombstoned one is gone.
    let billing: BTreeMap<i32, Option<i64>> = billing_offsets()
        .into_iter()
        .map(|(p, o)| (p, Some(o)))
        .collect();
    assert_eq!(committed(&broker, BILLING), billing);
    assert_eq!(
        committed(&broker, ARCHIVE),
        BTreeMap::from([(0, None), (1, Some(2)), (2, None)])
    );

    // The fixture's idempotent producer carries on from the snapshot: a retry of its last batch
    // is recognised as the duplicate it is, and its next sequence is accepted at the log end.
    let end = order_count(2) as i64;
    let retry = at_ts(
        0,
        0,
        0,
        (PRODUCER_ID, PRODUCER_EPOCH, 3),
        &order_records(2)[3..],
    );
    assert_eq!(
        produce_raw(&mut client, retry),
        (0, 3),
        "a retry of the snapshot's last batch is a duplicate"
    );

    let next = at_ts(
        0,
        0,
        0,
        (PRODUCER_ID, PRODUCER_EPOCH, end as i32),
        &values(vec![b"order-2-next".to_vec()]),
    );
    assert_eq!(produce_raw(&mut client, next), (0, end));

    // A new librdkafka idempotent producer gets an id past the fixture's block and produces.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("enable.idempotence", "true")
        .set("broker.address.family", "v4")
        .create()
        .expect("producer");
    for i in 0..10 {
        let v = format!("late-{i}");
        producer
            .send(
                BaseRecord::<str, str>::to("orders")
                    .partition(2)
                    .payload(&v),
            )
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    // A clean stop leaves Kafka's marker with this start's broker epoch (the offset of the
    // registration it wrote), and the next start consumes it.
    let epoch = broker
        .log_lines()
        .iter()
        .find_map(|l| {
            let rest = l.split("broker_epoch=").nth(1)?;
            rest.split_whitespace().next()?.parse::<i64>().ok()
        })
        .expect("the registration's broker epoch is logged");
    assert!(epoch > BROKER_EPOCH, "a new registration: {epoch}");
    broker.terminate();
    let marker = root.join(".kafka_cleanshutdown");
    assert_eq!(
        fs::read_to_string(&marker).expect("Kafka's clean-shutdown marker"),
        format!("{{\"version\":0,\"brokerEpoch\":{epoch}}}")
    );

    // A restart keeps all of it: leaders, records, offsets.
    broker.start_again();
    assert!(!marker.exists(), "the marker is consumed by the start");
    let mut client = broker.connect();
    let again = leaders(&metadata(&mut client));
    assert!(
        again.values().all(|(leader, _)| *leader == NODE),
        "leaders after a restart: {again:?}"
    );
    let orders = read_orders(&broker, expected.len() + 11);
    assert_eq!(orders.len(), expected.len() + 11);
    for (at, record) in &expected {
        assert_eq!(
            orders.get(at),
            Some(record),
            "record at {at:?} after a restart"
        );
    }
    assert_eq!(committed(&broker, BILLING), billing);
}

/// PartitionRecord v2 (Kafka 4 with `eligible.leader.replicas.version` 1): replicas, ISR,
/// leader, epochs 0, and the ELR (tag 1) when given.
fn partition_record_v2(
    topic: Uuid,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
    elr: Option<&[i32]>,
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i32.to_be_bytes()); // partition 0
    b.extend_from_slice(topic.as_bytes());
    enc::compact_i32s(&mut b, replicas);
    enc::compact_i32s(&mut b, isr);
    enc::compact_i32s(&mut b, &[]); // removing
    enc::compact_i32s(&mut b, &[]); // adding
    b.extend_from_slice(&leader.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    b.extend_from_slice(&0i32.to_be_bytes()); // partition epoch
    enc::compact_uuids(&mut b, &vec![DIRECTORY; replicas.len()]);
    let mut tags = Vec::new();
    if let Some(elr) = elr {
        let mut list = Vec::new();
        enc::compact_i32s(&mut list, elr);
        tags.push((1, list));
    }
    enc::tagged(&mut b, &tags);
    kraft(3, 2, b)
}

/// A two-broker Kafka cluster's metadata, opened by broker 1 alone: broker 2 (fenced, as the
/// controller left it when it went away) was the last ISR member of every partition, so
/// broker 1 may lead `elr` (it is in the ELR, `eligible.leader.replicas.version` 1) and
/// `unclean` (its topic sets `unclean.leader.election.enable`), but not `clean`.
#[test]
fn start_up_election_follows_the_isr_the_elr_and_unclean_election() {
    const OTHER: i32 = 2;
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path().join("kafka-logs");
    write(
        &root.join("meta.properties"),
        format!(
            "#\nnode.id={NODE}\ndirectory.id={}\nversion=1\ncluster.id={}\n",
            kafka_uuid(DIRECTORY),
            kafka_uuid(CLUSTER)
        ),
    );
    let topics = [
        ("clean", Uuid::from_u128(0xc1), None),
        ("elr", Uuid::from_u128(0xc2), Some(&[NODE][..])),
        ("unclean", Uuid::from_u128(0xc3), None),
    ];
    let mut out = Vec::new();
    let mut next = 0i64;
    let mut push = |attributes: i16, recs: Vec<Rec>| {
        out.extend(at_ts(next, RAFT_EPOCH, attributes, NO_PRODUCER, &recs));
        next += recs.len() as i64;
    };
    push(ATTR_CONTROL, vec![control(2, leader_change_message())]);
    push(
        0,
        values(vec![
            feature_level("metadata.version", 25),
            feature_level("eligible.leader.replicas.version", 1),
        ]),
    );
    push(0, values(vec![register_broker(NODE, 3)]));
    push(0, values(vec![register_broker(OTHER, 4)]));
    for (name, id, elr) in topics {
        let mut recs = vec![
            topic_record(name, id),
            partition_record_v2(id, &[NODE, OTHER], &[OTHER], -1, elr),
        ];
        if name == "unclean" {
            recs.push(topic_config(name, "unclean.leader.election.enable", "true"));
        }
        push(0, values(recs));
    }
    write(
        &root.join("__cluster_metadata-0/00000000000000000000.log"),
        &out,
    );

    let broker = TestBroker::start_in(&root, &[]);
    let mut client = broker.connect();
    let resp = metadata(&mut client);
    let got = leaders(&resp);
    let want: BTreeMap<(String, i32), (i32, i32)> = [
        (("clean".to_string(), 0), (-1, 0)),
        (("elr".to_string(), 0), (NODE, 1)),
        (("unclean".to_string(), 0), (NODE, 1)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "leaders after start-up");
    let clean = resp
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("clean"))
        .expect("clean listed");
    assert_eq!(clean.partitions[0].error_code, 5, "LEADER_NOT_AVAILABLE");
    let unclean = resp
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("unclean"))
        .expect("unclean listed");
    assert_eq!(
        unclean.partitions[0].isr_nodes,
        [NODE],
        "an unclean leader is the ISR"
    );
    assert!(
        broker.wait_for_log("unclean.leader.election.enable", Duration::from_secs(5)),
        "the leaderless partition is logged with the setting that would elect it"
    );
    let lines = broker.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("topic=clean ") && l.contains("unclean.leader.election.enable")),
        "{}",
        lines.join("\n")
    );

    // ElectLeaders and reassignments through kafka-python 3's admin client (see the script):
    // `clean` gets its leader by an UNCLEAN election, then this node as its only replica.
    common::clients::run_script(
        &common::clients::python_kafka_python_3(),
        "tests/python/elections.py",
        &[&broker.bootstrap()],
        Duration::from_secs(60),
        "kafka-python 3 elections ok",
    );
    let resp = metadata(&mut client);
    assert_eq!(
        leaders(&resp)[&("clean".to_string(), 0)],
        (NODE, 1),
        "elected, epoch bumped"
    );
    let clean = resp
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("clean"))
        .expect("clean listed");
    let p = &clean.partitions[0];
    assert_eq!(
        (p.error_code, &p.replica_nodes, &p.isr_nodes),
        (0, &vec![NODE], &vec![NODE])
    );
}
