//! Data-directory fixtures: the files the CodeCrafters tester writes before it starts the broker
//! (STAGES.md §2), KRaft metadata batches built record by record from the generated schema
//! types, and a small seeded random source that mirrors the tester's choices.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use sluice::protocol::messages::metadata::{
    FeatureLevelRecord, MetadataRecord, PartitionRecord, TopicRecord,
};
use sluice::protocol::wire::EncodeBuf;
use sluice::record::BatchBuilder;
use uuid::Uuid;

/// `/tmp/server.properties` exactly as the tester writes it: 7 lines, no final newline.
pub const SERVER_PROPERTIES: &str = "process.roles=broker,controller\n\
node.id=1\n\
controller.quorum.voters=1@localhost:9093\n\
listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
controller.listener.names=CONTROLLER\n\
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
log.dirs=/tmp/kraft-combined-logs";

/// `cluster.id` in the tester's `meta.properties` (UUID 20000000-0000-4000-8000-000000000001).
pub const CLUSTER_ID: &str = "IAAAAAAAQACAAAAAAAAAAQ";
/// `directory.id` in the tester's `meta.properties`, standard padded base64.
pub const DIRECTORY_ID_TEXT: &str = "EAAAAAAAQACAAAAAAAAAAQ==";
pub const DIRECTORY_ID: Uuid = uuid::uuid!("10000000-0000-4000-8000-000000000001");
pub const CLUSTER_UUID: Uuid = uuid::uuid!("20000000-0000-4000-8000-000000000001");

/// Timestamps of the tester's batches (§2.1, §2.2, §3).
pub const FEATURE_TIMESTAMP: i64 = 1726045943832;
pub const TOPIC_TIMESTAMP: i64 = 1726045957397;
pub const MESSAGE_TIMESTAMP: i64 = 1726045973899;

/// §2.1: the constant FeatureLevelRecord batch at baseOffset 1 (91 bytes, crc b069457c).
pub const FEATURE_LEVEL_BATCH_HEX: &str = "00000000000000010000004f0000000102b069457c00000000000000000191e05af81800000191e05af818ffffffffffffffffffffffffffff000000013a000000012e010c00116d657461646174612e76657273696f6e00140000";
/// §2.1: the FeatureLevelRecord value (23 bytes).
pub const FEATURE_LEVEL_VALUE_HEX: &str = "010c00116d657461646174612e76657273696f6e001400";
/// §2.2: the message "pineapple" in a topic log (77 bytes, crc cf35bf62).
pub const PINEAPPLE_BATCH_HEX: &str = "0000000000000000000000410000000002cf35bf6200000000000000000191e05b6d8b00000191e05b6d8b0000000000000000000000000000000000011e000000011270696e656170706c6501";
/// §3: the Produce batch for "mango" (73 bytes, crc 72bc4ab0).
pub const MANGO_BATCH_HEX: &str = "00000000000000000000003d000000000272bc4ab000000000000000000191e05b6d8b00000191e05b6d8b00000000000000000000000000000000000116000000010a6d616e676f00";

/// The tester's 10 fruit words.
pub const FRUITS: [&str; 10] = [
    "apple",
    "orange",
    "banana",
    "pear",
    "grape",
    "pineapple",
    "mango",
    "strawberry",
    "raspberry",
    "blueberry",
];

/// One topic the tester writes: its partitions in ascending order, each with its messages.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub id: Uuid,
    /// `partitions[p]` holds the messages of partition `p` (empty: an empty `.log`).
    pub partitions: Vec<Vec<Vec<u8>>>,
}

impl TopicSpec {
    pub fn new(name: &str, id: Uuid, partitions: Vec<Vec<Vec<u8>>>) -> TopicSpec {
        TopicSpec {
            name: name.to_string(),
            id,
            partitions,
        }
    }

    /// A topic with `n` empty partitions.
    pub fn empty(name: &str, id: Uuid, n: usize) -> TopicSpec {
        TopicSpec::new(name, id, vec![Vec::new(); n])
    }
}

/// The record value of a KRaft metadata record at `version`.
pub fn record_value(record: &MetadataRecord, version: i16) -> Bytes {
    let mut buf = EncodeBuf::new();
    record.encode_value(&mut buf, version);
    buf.to_bytes()
}

/// A metadata-log batch as the tester (and Kafka) writes it: PLE 1, no producer, one record per
/// value with a null key and header count 0.
pub fn metadata_batch(base_offset: i64, timestamp: i64, values: &[Bytes]) -> Bytes {
    let mut b = BatchBuilder::new(base_offset, timestamp).partition_leader_epoch(1);
    for v in values {
        b.push_with_header_count(None, Some(v), &[], 0);
    }
    b.build()
}

/// §2.1 batch 1: the FeatureLevelRecord `metadata.version` = 20 at offset 1.
pub fn feature_level_batch() -> Bytes {
    let value = record_value(
        &MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 20,
        }),
        0,
    );
    metadata_batch(1, FEATURE_TIMESTAMP, &[value])
}

/// The PartitionRecord v1 the tester writes for partition `index` of `topic_id`.
pub fn tester_partition_record(topic_id: Uuid, index: i32) -> PartitionRecord {
    PartitionRecord {
        partition_id: index,
        topic_id,
        replicas: vec![1],
        isr: vec![1],
        removing_replicas: Vec::new(),
        adding_replicas: Vec::new(),
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: vec![DIRECTORY_ID],
        ..PartitionRecord::default()
    }
}

/// §2.1: the batch for one topic: TopicRecord v0, then PartitionRecord v1 per partition.
pub fn tester_topic_batch(base_offset: i64, topic: &TopicSpec) -> Bytes {
    let mut values = vec![record_value(
        &MetadataRecord::TopicRecord(TopicRecord {
            name: topic.name.clone(),
            topic_id: topic.id,
        }),
        0,
    )];
    for p in 0..topic.partitions.len() {
        values.push(record_value(
            &MetadataRecord::PartitionRecord(tester_partition_record(topic.id, p as i32)),
            1,
        ));
    }
    metadata_batch(base_offset, TOPIC_TIMESTAMP, &values)
}

/// The whole tester-written `__cluster_metadata-0/00000000000000000000.log` for `topics`.
pub fn tester_metadata_log(topics: &[TopicSpec]) -> Vec<u8> {
    let mut log = feature_level_batch().to_vec();
    let mut next = 2i64;
    for t in topics {
        log.extend_from_slice(&tester_topic_batch(next, t));
        next += 1 + t.partitions.len() as i64;
    }
    log
}

/// §2.2: message `offset` of a topic log: one record, null key, header count -1.
pub fn topic_log_batch(offset: i64, message: &[u8]) -> Bytes {
    let mut b = BatchBuilder::new(offset, MESSAGE_TIMESTAMP).producer(0, 0, 0);
    b.push_with_header_count(None, Some(message), &[], -1);
    b.build()
}

/// A partition's `00000000000000000000.log` holding `messages`, one batch each.
pub fn topic_log(messages: &[Vec<u8>]) -> Vec<u8> {
    messages
        .iter()
        .enumerate()
        .flat_map(|(i, m)| topic_log_batch(i as i64, m).to_vec())
        .collect()
}

/// §3: the one batch of a tester Produce request: baseOffset 0, producer 0/0/0, records with
/// null keys and header count 0.
pub fn produce_batch(values: &[&[u8]]) -> Bytes {
    let mut b = BatchBuilder::new(0, MESSAGE_TIMESTAMP).producer(0, 0, 0);
    for v in values {
        b.push_with_header_count(None, Some(v), &[], 0);
    }
    b.build()
}

/// Standard padded base64, as the tester writes UUIDs in `partition.metadata`.
pub fn padded_base64(id: Uuid) -> String {
    base64::engine::general_purpose::STANDARD.encode(id.as_bytes())
}

/// The tester's `meta.properties`.
pub fn meta_properties() -> String {
    format!(
        "#\n#Mon Jan 02 15:04:05 UTC 2006\ncluster.id={CLUSTER_ID}\ndirectory.id={DIRECTORY_ID_TEXT}\nnode.id=1\nversion=1\n"
    )
}

/// A temp root holding `server.properties` and the log directory the tester fills.
pub struct TesterFiles {
    pub temp: tempfile::TempDir,
    /// `<root>/server.properties`.
    pub properties: PathBuf,
    /// `<root>/kraft-combined-logs`.
    pub log_dir: PathBuf,
}

impl TesterFiles {
    /// `<log_dir>/<topic>-<p>/00000000000000000000.log`.
    pub fn segment(&self, topic: &str, partition: i32) -> PathBuf {
        segment_path(&self.log_dir, topic, partition)
    }
}

pub fn segment_path(log_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    log_dir
        .join(format!("{topic}-{partition}"))
        .join("00000000000000000000.log")
}

/// Writes every file of §2 for `topics` (no topics: the base files only, and no
/// `__cluster_metadata-0` directory).
pub fn write_tester_files(topics: &[TopicSpec]) -> TesterFiles {
    let temp = tempfile::tempdir().expect("temp dir");
    let properties = temp.path().join("server.properties");
    fs::write(&properties, SERVER_PROPERTIES).expect("server.properties");
    let log_dir = temp.path().join("kraft-combined-logs");
    fs::create_dir_all(&log_dir).expect("log dir");
    fs::write(log_dir.join("meta.properties"), meta_properties()).expect("meta.properties");
    fs::write(
        log_dir.join(".kafka_cleanshutdown"),
        r#"{"version":0,"brokerEpoch":10}"#,
    )
    .expect("clean shutdown marker");
    for t in topics {
        for (p, messages) in t.partitions.iter().enumerate() {
            let dir = log_dir.join(format!("{}-{p}", t.name));
            fs::create_dir_all(&dir).expect("partition dir");
            fs::write(
                dir.join("partition.metadata"),
                format!("version: 0\ntopic_id: {}", padded_base64(t.id)),
            )
            .expect("partition.metadata");
            fs::write(dir.join("00000000000000000000.log"), topic_log(messages)).expect("log");
        }
    }
    if !topics.is_empty() {
        let dir = log_dir.join("__cluster_metadata-0");
        fs::create_dir_all(&dir).expect("metadata dir");
        fs::write(
            dir.join("partition.metadata"),
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ",
        )
        .expect("metadata partition.metadata");
        fs::write(
            dir.join("00000000000000000000.log"),
            tester_metadata_log(topics),
        )
        .expect("metadata log");
    }
    TesterFiles {
        temp,
        properties,
        log_dir,
    }
}

/// A seeded xorshift source for the tester's random choices. The seed comes from
/// `SLUICE_TEST_SEED` or the clock, and is printed so that a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(label: &str) -> Rng {
        let seed = std::env::var("SLUICE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x5eed)
            });
        eprintln!("{label}: SLUICE_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// A correlation id in [0, 2147483645].
    pub fn correlation_id(&mut self) -> i32 {
        self.range(0, 2_147_483_646) as i32
    }

    /// `n` distinct fruit words.
    pub fn words(&mut self, n: usize) -> Vec<String> {
        let mut pool: Vec<&str> = FRUITS.to_vec();
        let mut out = Vec::new();
        for _ in 0..n {
            let i = self.range(0, pool.len() as i64) as usize;
            out.push(pool.remove(i).to_string());
        }
        out
    }

    /// 6 distinct fruit words joined by spaces.
    pub fn random_string(&mut self) -> String {
        self.words(6).join(" ")
    }

    /// §2.3: `71a59a51-8968-4f8b-937e-` and 12 hex digits in 0..=e.
    pub fn topic_uuid(&mut self) -> Uuid {
        let mut suffix = 0u128;
        for _ in 0..12 {
            suffix = suffix * 16 + self.range(0, 15) as u128;
        }
        Uuid::from_u128(uuid::uuid!("71a59a51-8968-4f8b-937e-000000000000").as_u128() | suffix)
    }

    /// §2.3: ids sharing the prefix with suffix `i * 1000 + r`, r in [0, 999).
    pub fn sibling_uuids(&mut self, n: usize) -> Vec<Uuid> {
        (0..n)
            .map(|i| {
                let suffix = i as u128 * 1000 + self.range(0, 999) as u128;
                Uuid::from_u128(
                    uuid::uuid!("71a59a51-8968-4f8b-937e-000000000000").as_u128() | suffix,
                )
            })
            .collect()
    }
}

/// A metadata log shaped like the one Apache Kafka 4.0 writes (see `kafka_4_log`), and the
/// topics that survive in it (`SURVIVING`): what Kafka itself would report for that directory.
pub mod kafka4 {
    use bytes::Bytes;
    use sluice::protocol::messages::metadata::register_broker_record::{
        BrokerEndpoint, BrokerFeature,
    };
    use sluice::protocol::messages::metadata::{
        BeginTransactionRecord, ConfigRecord, EndTransactionRecord, FeatureLevelRecord,
        MetadataRecord, NoOpRecord, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord,
        RegisterBrokerRecord, RemoveTopicRecord, TopicRecord, ZkMigrationStateRecord,
    };
    use sluice::record::{BatchBuilder, ATTR_CONTROL};
    use uuid::Uuid;

    use super::{record_value, DIRECTORY_ID};

    pub const TS: i64 = 1_745_000_000_000;

    /// Builds a metadata log batch by batch, numbering offsets as the controller does.
    pub struct KraftLog {
        pub next: i64,
        pub epoch: i32,
        pub batches: Vec<Bytes>,
    }

    impl KraftLog {
        pub fn new() -> KraftLog {
            KraftLog {
                next: 0,
                epoch: 1,
                batches: Vec::new(),
            }
        }

        /// One batch of records, each `(record, version)`.
        pub fn batch(&mut self, records: &[(MetadataRecord, i16)]) -> &mut Self {
            let values: Vec<Bytes> = records.iter().map(|(r, v)| record_value(r, *v)).collect();
            self.raw_batch(&values)
        }

        /// One batch of already-encoded record values (for types the broker has no codec for).
        pub fn raw_batch(&mut self, values: &[Bytes]) -> &mut Self {
            let mut b =
                BatchBuilder::new(self.next, TS + self.next).partition_leader_epoch(self.epoch);
            for v in values {
                b.push_with_header_count(None, Some(v), &[], 0);
            }
            self.next += values.len() as i64;
            self.batches.push(b.build());
            self
        }

        /// A KRaft control batch (attributes bit 5): records keyed by (version 0, control type).
        pub fn control(&mut self, records: &[(i16, Bytes)]) -> &mut Self {
            let mut b = BatchBuilder::new(self.next, TS + self.next)
                .partition_leader_epoch(self.epoch)
                .attributes(ATTR_CONTROL);
            for (kind, value) in records {
                let mut key = 0i16.to_be_bytes().to_vec();
                key.extend_from_slice(&kind.to_be_bytes());
                b.push_with_header_count(Some(&key), Some(value), &[], 0);
            }
            self.next += records.len() as i64;
            self.batches.push(b.build());
            self
        }
    }

    pub fn hexv(s: &str) -> Bytes {
        Bytes::from(crate::common::hex(s))
    }

    /// LeaderChangeMessage v0: leader 1, voters [1], granting voters [1].
    pub fn leader_change() -> Bytes {
        hexv("0000 00000001 02 00000001 00 02 00000001 00 00")
    }

    pub fn topic(name: &str, id: Uuid) -> (MetadataRecord, i16) {
        (
            MetadataRecord::TopicRecord(TopicRecord {
                name: name.into(),
                topic_id: id,
            }),
            0,
        )
    }

    pub fn partition_v2(id: Uuid, index: i32) -> PartitionRecord {
        PartitionRecord {
            partition_id: index,
            topic_id: id,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![DIRECTORY_ID],
            ..PartitionRecord::default()
        }
    }

    pub fn partition(id: Uuid, index: i32) -> (MetadataRecord, i16) {
        (MetadataRecord::PartitionRecord(partition_v2(id, index)), 2)
    }

    pub fn feature(name: &str, level: i16) -> (MetadataRecord, i16) {
        (
            MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
                name: name.into(),
                feature_level: level,
            }),
            0,
        )
    }

    pub fn noop() -> (MetadataRecord, i16) {
        (MetadataRecord::NoOpRecord(NoOpRecord {}), 0)
    }

    pub const EVENTS: Uuid = uuid::uuid!("3f1c9a2e-5d4b-4c1a-9e2f-00000000e001");
    pub const AUDIT: Uuid = uuid::uuid!("3f1c9a2e-5d4b-4c1a-9e2f-00000000a001");
    pub const DOOMED: Uuid = uuid::uuid!("3f1c9a2e-5d4b-4c1a-9e2f-00000000d001");
    pub const PHOENIX_OLD: Uuid = uuid::uuid!("3f1c9a2e-5d4b-4c1a-9e2f-00000000f001");
    pub const PHOENIX: Uuid = uuid::uuid!("3f1c9a2e-5d4b-4c1a-9e2f-00000000f002");

    /// A metadata log with the record mix Kafka 4.0 writes: bootstrap records in a metadata
    /// transaction, broker and controller registrations, producer id blocks, no-ops, control
    /// batches, PartitionRecord v2 with ELR tags, partition changes, configs and topic removal.
    pub fn kafka_4_log() -> Vec<Bytes> {
        let mut log = KraftLog::new();
        // Offset 0: kraft.version (type 5) and a leader change (type 2).
        log.control(&[(5, hexv("0000 0001 00")), (2, leader_change())]);
        // Bootstrap, inside a metadata transaction.
        log.batch(&[
            (
                MetadataRecord::BeginTransactionRecord(BeginTransactionRecord {
                    name: Some("Bootstrap records".into()),
                }),
                0,
            ),
            feature("metadata.version", 25),
            feature("group.version", 1),
            feature("transaction.version", 2),
            (
                MetadataRecord::ZkMigrationStateRecord(ZkMigrationStateRecord {
                    zk_migration_state: 0,
                }),
                0,
            ),
            (
                MetadataRecord::ConfigRecord(ConfigRecord {
                    resource_type: 4,
                    resource_name: String::new(),
                    name: "min.insync.replicas".into(),
                    value: Some("1".into()),
                }),
                0,
            ),
            (
                MetadataRecord::EndTransactionRecord(EndTransactionRecord {}),
                0,
            ),
        ]);
        log.batch(&[(
            MetadataRecord::RegisterBrokerRecord(RegisterBrokerRecord {
                broker_id: 1,
                incarnation_id: Uuid::from_u128(0xabc),
                broker_epoch: 7,
                end_points: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                features: vec![BrokerFeature {
                    name: "metadata.version".into(),
                    min_supported_version: 7,
                    max_supported_version: 25,
                }],
                rack: None,
                fenced: true,
                log_dirs: vec![DIRECTORY_ID],
                ..RegisterBrokerRecord::default()
            }),
            3,
        )]);
        // Types sluice has no codec for: BrokerRegistrationChangeRecord (17) unfencing broker 1,
        // and RegisterControllerRecord (27).
        let mut controller = crate::common::hex("011b00 00000001");
        controller.extend_from_slice(Uuid::from_u128(0xdef).as_bytes());
        controller.extend(crate::common::hex(
            "00 02 0b434f4e54524f4c4c4552 0a6c6f63616c686f7374 2385 0000 00 \
             02 0e6b726166742e76657273696f6e 0000 0001 00 00",
        ));
        log.raw_batch(&[
            hexv("011102 00000001 0000000000000007 01 00 01 ff"),
            Bytes::from(controller),
        ]);
        log.batch(&[noop()]);
        // A topic created inside a metadata transaction; partition 1 carries ELR tags.
        let mut p1 = partition_v2(EVENTS, 1);
        p1.eligible_leader_replicas = Some(vec![]);
        p1.last_known_elr = Some(vec![1]);
        log.batch(&[
            (
                MetadataRecord::BeginTransactionRecord(BeginTransactionRecord {
                    name: Some("CreateTopics".into()),
                }),
                0,
            ),
            topic("events", EVENTS),
            partition(EVENTS, 0),
            (MetadataRecord::PartitionRecord(p1), 2),
            partition(EVENTS, 2),
            (
                MetadataRecord::EndTransactionRecord(EndTransactionRecord {}),
                0,
            ),
        ]);
        log.batch(&[(
            MetadataRecord::ProducerIdsRecord(ProducerIdsRecord {
                broker_id: 1,
                broker_epoch: 7,
                next_producer_id: 1000,
            }),
            0,
        )]);
        log.batch(&[
            topic("audit", AUDIT),
            (
                MetadataRecord::ConfigRecord(ConfigRecord {
                    resource_type: 2,
                    resource_name: "audit".into(),
                    name: "max.message.bytes".into(),
                    value: Some("200".into()),
                }),
                0,
            ),
            partition(AUDIT, 0),
        ]);
        log.batch(&[
            topic("doomed", DOOMED),
            partition(DOOMED, 0),
            partition(DOOMED, 1),
        ]);
        log.batch(&[noop(), noop()]);
        // The controller restarts: a new leader epoch, announced by a control batch.
        log.epoch = 2;
        log.control(&[(2, leader_change())]);
        log.batch(&[(
            MetadataRecord::PartitionChangeRecord(PartitionChangeRecord {
                partition_id: 0,
                topic_id: EVENTS,
                leader: -1,
                ..PartitionChangeRecord::default()
            }),
            0,
        )]);
        log.batch(&[(
            MetadataRecord::RemoveTopicRecord(RemoveTopicRecord { topic_id: DOOMED }),
            0,
        )]);
        log.batch(&[topic("phoenix", PHOENIX_OLD), partition(PHOENIX_OLD, 0)]);
        log.batch(&[(
            MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
                topic_id: PHOENIX_OLD,
            }),
            0,
        )]);
        log.batch(&[
            topic("phoenix", PHOENIX),
            partition(PHOENIX, 0),
            partition(PHOENIX, 1),
        ]);
        log.batch(&[(
            MetadataRecord::PartitionChangeRecord(PartitionChangeRecord {
                partition_id: 0,
                topic_id: EVENTS,
                leader: 1,
                isr: Some(vec![1]),
                eligible_leader_replicas: Some(vec![]),
                last_known_elr: Some(vec![]),
                ..PartitionChangeRecord::default()
            }),
            2,
        )]);
        // A config for the removed topic is ignored.
        log.batch(&[
            noop(),
            (
                MetadataRecord::ConfigRecord(ConfigRecord {
                    resource_type: 2,
                    resource_name: "doomed".into(),
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                }),
                0,
            ),
        ]);
        log.batches
    }

    /// The topics of `kafka_4_log` that survive it: (name, id, partition count). Every partition
    /// has leader 1, replicas [1] and ISR [1]; `events-0` is at leader epoch 2, the others at 0.
    pub const SURVIVING: [(&str, Uuid, i32); 3] = [
        ("audit", AUDIT, 1),
        ("events", EVENTS, 3),
        ("phoenix", PHOENIX, 2),
    ];
}
