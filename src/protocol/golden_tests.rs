//! Byte-exact tests against the vectors in shared/STAGES.md §2–§4, plus
//! tagged-field and hostile-input behaviour of the generated codec.

use super::api_table::{self, ApiKey};
use super::messages::api_versions_response::ApiVersion;
use super::messages::describe_topic_partitions_response::{
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use super::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use super::messages::metadata::{FeatureLevelRecord, MetadataRecord, PartitionRecord, TopicRecord};
use super::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use super::messages::*;
use super::wire::testing::in_memory;
use super::wire::{Bytes, Chunk, DecodeError, EncodeBuf, RecordsField, Uuid};

fn hex(s: &str) -> Bytes {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        })
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    Bytes::from(
        digits
            .chunks(2)
            .map(|p| (p[0] << 4) | p[1])
            .collect::<Vec<u8>>(),
    )
}

fn encode_with<F: FnOnce(&mut EncodeBuf)>(f: F) -> Bytes {
    let mut buf = EncodeBuf::new();
    f(&mut buf);
    let len = buf.len();
    let bytes = buf.to_bytes();
    assert_eq!(bytes.len(), len);
    bytes
}

/// The "mango" batch of STAGES.md §3 (73 bytes, crc 72bc4ab0).
const MANGO_BATCH: &str = "00000000000000000000003d000000000272bc4ab000000000000000000191e05b6d8b00000191e05b6d8b00000000000000000000000000000000000116000000010a6d616e676f00";

#[test]
fn request_header_v2_client_id_is_a_classic_string() {
    let mut input = hex("0012 0004 00000007 000c 6b61666b612d746573746572 00");
    let header = RequestHeader::decode(&mut input, 2).expect("header decodes");
    assert!(input.is_empty());
    assert_eq!(header.request_api_key, 18);
    assert_eq!(header.request_api_version, 4);
    assert_eq!(header.correlation_id, 7);
    assert_eq!(header.client_id.as_deref(), Some("kafka-tester"));
    assert_eq!(
        encode_with(|b| header.encode(b, 2)),
        hex("0012 0004 00000007 000c 6b61666b612d746573746572 00")
    );
    // v1: no tag section; null client id.
    let mut input = hex("0003 0001 00000009 ffff");
    let header = RequestHeader::decode(&mut input, 1).expect("header v1 decodes");
    assert_eq!(header.client_id, None);
    assert!(input.is_empty());
}

#[test]
fn api_versions_v4_request_body() {
    let mut input = hex("0a 6b61666b612d636c69 04 302e31 00");
    let req = ApiVersionsRequest::decode(&mut input, 4).expect("decodes");
    assert!(input.is_empty());
    assert_eq!(req.client_software_name, "kafka-cli");
    assert_eq!(req.client_software_version, "0.1");
    // The whole 42-byte frame: size 0x26, header v2, body.
    let frame = hex(
        "00000026 0012 0004 00000007 000c 6b61666b612d746573746572 00 \
         0a 6b61666b612d636c69 04 302e31 00",
    );
    let mut rest = frame.slice(4..);
    assert_eq!(frame.len(), 42);
    let header = RequestHeader::decode(&mut rest, 2).expect("header decodes");
    let key = ApiKey::from_i16(header.request_api_key).expect("known key");
    assert_eq!(key, ApiKey::ApiVersions);
    assert_eq!(
        api_table::request_header_version(key, header.request_api_version),
        2
    );
    assert_eq!(
        ApiVersionsRequest::decode(&mut rest, header.request_api_version),
        Ok(req)
    );
}

#[test]
fn api_versions_v4_minimal_response() {
    let resp = ApiVersionsResponse {
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        }],
        ..ApiVersionsResponse::default()
    };
    let body = encode_with(|b| resp.encode(b, 4));
    assert_eq!(body, hex("0000 02 0012 0000 0004 00 00000000 00"));
    // Header v0 for ApiVersions, always.
    assert_eq!(
        api_table::response_header_version(ApiKey::ApiVersions, 4),
        0
    );
    let header = ResponseHeader {
        correlation_id: 0x1234_5678,
    };
    assert_eq!(encode_with(|b| header.encode(b, 0)), hex("12345678"));
    // Decoding back.
    assert_eq!(ApiVersionsResponse::decode(&mut body.clone(), 4), Ok(resp));
}

#[test]
fn api_versions_v0_unsupported_version_response() {
    let resp = ApiVersionsResponse {
        error_code: 35,
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        }],
        ..ApiVersionsResponse::default()
    };
    assert_eq!(
        encode_with(|b| resp.encode(b, 0)),
        hex("0023 00000001 0012 0000 0004")
    );
    assert_eq!(
        ApiVersionsRequest::decode(&mut Bytes::new(), 1000),
        Err(DecodeError::UnsupportedVersion {
            api_key: 18,
            version: 1000
        })
    );
}

#[test]
fn tagged_fields_at_default_are_not_written() {
    let mut resp = ApiVersionsResponse {
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        }],
        ..ApiVersionsResponse::default()
    };
    assert_eq!(resp.finalized_features_epoch, -1);
    assert!(!resp.zk_migration_ready);
    let body = encode_with(|b| resp.encode(b, 3));
    assert_eq!(body, hex("0000 02 0012 0000 0004 00 00000000 00"));

    // Non-default tagged fields are written, in ascending tag order.
    resp.zk_migration_ready = true;
    resp.finalized_features_epoch = 5;
    let body = encode_with(|b| resp.encode(b, 3));
    assert_eq!(
        body,
        hex("0000 02 0012 0000 0004 00 00000000 02 01 08 0000000000000005 03 01 01")
    );
    assert_eq!(ApiVersionsResponse::decode(&mut body.clone(), 3), Ok(resp));
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    // ApiVersions v3 request with unknown tags 7 and 9 in the body.
    let mut input = hex("0a 6b61666b612d636c69 04 302e31 02 07 03 aabbcc 09 00");
    let req = ApiVersionsRequest::decode(&mut input, 3).expect("decodes");
    assert!(input.is_empty());
    assert_eq!(req.client_software_name, "kafka-cli");

    // A known tag (3 = ZkMigrationReady) next to an unknown one (6), and an
    // unknown tag inside an array element.
    let mut input = hex("0000 02 0012 0000 0004 01 06 01 ff 00000000 02 03 01 01 06 02 1234");
    let resp = ApiVersionsResponse::decode(&mut input, 3).expect("decodes");
    assert!(input.is_empty());
    assert!(resp.zk_migration_ready);
    assert_eq!(resp.api_keys.len(), 1);

    // DescribeTopicPartitions request with an unknown tag in the topic
    // struct.
    let mut input = hex("02 06 6d616e676f 01 05 01 00 00000001 ff 00");
    let req = DescribeTopicPartitionsRequest::decode(&mut input, 0).expect("decodes");
    assert!(input.is_empty());
    assert_eq!(req.topics[0].name, "mango");
}

#[test]
fn describe_topic_partitions_v0_request() {
    let bytes = hex("02 06 6d616e676f 00 00000001 ff 00");
    let req = DescribeTopicPartitionsRequest::decode(&mut bytes.clone(), 0).expect("decodes");
    assert_eq!(req.topics.len(), 1);
    assert_eq!(req.topics[0].name, "mango");
    assert_eq!(req.response_partition_limit, 1);
    assert_eq!(req.cursor, None);
    assert_eq!(encode_with(|b| req.encode(b, 0)), bytes);
    assert_eq!(
        api_table::request_header_version(ApiKey::DescribeTopicPartitions, 0),
        2
    );
}

#[test]
fn describe_topic_partitions_unknown_topic_response() {
    let resp = DescribeTopicPartitionsResponse {
        throttle_time_ms: 0,
        topics: vec![DescribeTopicPartitionsResponseTopic {
            error_code: 3,
            name: Some("UNKNOWN_TOPIC_1".into()),
            topic_id: uuid::Uuid::nil(),
            is_internal: false,
            partitions: vec![],
            topic_authorized_operations: 0x0df8,
        }],
        next_cursor: None,
    };
    let body = encode_with(|b| resp.encode(b, 0));
    assert_eq!(
        body,
        hex("00000000 02 0003 10 554e4b4e4f574e5f544f5049435f31 \
             00000000000000000000000000000000 00 01 00000df8 00 ff 00")
    );
    assert_eq!(
        DescribeTopicPartitionsResponse::decode(&mut body.clone(), 0),
        Ok(resp)
    );
    assert_eq!(
        api_table::response_header_version(ApiKey::DescribeTopicPartitions, 0),
        1
    );
    assert_eq!(
        encode_with(|b| ResponseHeader { correlation_id: 7 }.encode(b, 1)),
        hex("00000007 00")
    );
}

#[test]
fn describe_topic_partitions_defaults() {
    let topic = DescribeTopicPartitionsResponseTopic::default();
    assert_eq!(topic.topic_authorized_operations, i32::MIN);
    let partition = DescribeTopicPartitionsResponsePartition::default();
    assert_eq!(partition.leader_epoch, -1);
    assert_eq!(partition.eligible_leader_replicas, None);
    let partition = DescribeTopicPartitionsResponsePartition {
        partition_index: 1,
        leader_id: 1,
        leader_epoch: 0,
        replica_nodes: vec![1],
        isr_nodes: vec![1],
        eligible_leader_replicas: Some(vec![]),
        last_known_elr: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(
        encode_with(|b| partition.encode(b, 0)),
        hex("0000 00000001 00000001 00000000 02 00000001 02 00000001 01 01 01 00")
    );
}

#[test]
fn fetch_v16_request() {
    let topic_id = "71a59a51-8968-4f8b-937e-000000000479";
    let bytes = hex(&format!(
        "000001f4 00000001 7fffffff 00 00000000 00000000 \
         02 {} 02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 7fffffff 00 00 \
         01 01 00",
        topic_id.replace('-', "")
    ));
    let req = FetchRequest::decode(&mut bytes.clone(), 16).expect("decodes");
    assert_eq!(req.max_wait_ms, 500);
    assert_eq!(req.min_bytes, 1);
    assert_eq!(req.max_bytes, i32::MAX);
    assert_eq!(req.topics.len(), 1);
    assert_eq!(
        req.topics[0].topic_id,
        Uuid::parse_str(topic_id).expect("uuid")
    );
    let p = &req.topics[0].partitions[0];
    assert_eq!(
        (p.partition, p.current_leader_epoch, p.fetch_offset),
        (0, -1, 0)
    );
    assert_eq!(
        (
            p.last_fetched_epoch,
            p.log_start_offset,
            p.partition_max_bytes
        ),
        (-1, -1, i32::MAX)
    );
    assert!(req.forgotten_topics_data.is_empty());
    assert_eq!(req.rack_id, "");
    assert_eq!(encode_with(|b| req.encode(b, 16)), bytes);
}

#[test]
fn fetch_v16_empty_response() {
    let resp: FetchResponse = FetchResponse::default();
    assert_eq!(
        encode_with(|b| resp.encode(b, 16)),
        hex("00000000 0000 00000000 01 00")
    );
}

/// A Fetch response with one partition of topic id 1 holding `records`.
fn one_partition<R: RecordsField>(records: R) -> FetchResponse<R> {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic_id: Uuid::from_u128(1),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1,
                last_stable_offset: 1,
                log_start_offset: 0,
                aborted_transactions: None,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn fetch_v16_response_records_are_not_copied() {
    let records = Bytes::from(vec![0x5a_u8; 4000]);
    let resp = one_partition(records.clone());
    let mut buf = EncodeBuf::new();
    resp.encode(&mut buf, 16);
    let len = buf.len();
    let chunks = in_memory(buf.into_chunks());
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[1].as_ptr(), records.as_ptr());
    assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), len);
    // Prefix: throttle, error, session, 1 topic, id, 1 partition, index,
    // error, hw, lso, log start, aborted null, preferred -1, uvarint 4001.
    assert_eq!(
        chunks[0],
        hex(
            "00000000 0000 00000000 02 00000000000000000000000000000001 02 \
             00000000 0000 0000000000000001 0000000000000001 0000000000000000 00 ffffffff a11f"
        )
    );
    assert_eq!(chunks[2], hex("00 00 00"));
    let mut joined = Vec::new();
    for c in &chunks {
        joined.extend_from_slice(c);
    }
    assert_eq!(
        FetchResponse::decode(&mut Bytes::from(joined), 16),
        Ok(resp)
    );
}

#[test]
fn fetch_v16_response_records_in_a_file_stay_a_file_range() {
    use std::io::Write;

    use super::records::{FileRange, Records};

    let mut tmp = tempfile::tempfile().expect("temp file");
    tmp.write_all(&[0x5a_u8; 5000]).expect("write");
    let range = FileRange {
        file: std::sync::Arc::new(tmp),
        position: 1000,
        len: 4000,
    };
    let resp = one_partition(Records::File(range.clone()));
    let mut buf = EncodeBuf::new();
    resp.encode(&mut buf, 16);
    let len = buf.len();
    let chunks = buf.into_chunks();
    // The same bytes around it as for records in memory (the test above), the length prefix
    // 4001 included; the records themselves are the file range, unread.
    assert_eq!(chunks.len(), 3);
    assert!(matches!(&chunks[1], Chunk::File(r) if *r == range));
    assert_eq!(chunks.iter().map(Chunk::len).sum::<usize>(), len);
    assert!(matches!(&chunks[0], Chunk::Mem(b) if b.ends_with(&hex("ffffffff a11f"))));
    assert!(matches!(&chunks[2], Chunk::Mem(b) if *b == hex("00 00 00")));
}

#[test]
fn produce_v11_request_with_mango_batch() {
    let batch = hex(MANGO_BATCH);
    assert_eq!(batch.len(), 73);
    let bytes = hex(&format!(
        "00 ffff 00007530 02 06 6d616e676f 02 00000000 4a {MANGO_BATCH} 00 00 00"
    ));
    let req = ProduceRequest::decode(&mut bytes.clone(), 11).expect("decodes");
    assert_eq!(req.transactional_id, None);
    assert_eq!(req.acks, -1);
    assert_eq!(req.timeout_ms, 30000);
    assert_eq!(req.topic_data.len(), 1);
    assert_eq!(req.topic_data[0].name, "mango");
    let part = &req.topic_data[0].partition_data[0];
    assert_eq!(part.index, 0);
    assert_eq!(part.records.as_ref(), Some(&batch));
    assert_eq!(encode_with(|b| req.encode(b, 11)), bytes);

    // A null topic name is rejected, not defaulted.
    let mut bad = hex("00 ffff 00007530 02 00 01 00 00");
    assert_eq!(
        ProduceRequest::decode(&mut bad, 11),
        Err(DecodeError::NullNotAllowed { field: "Name" })
    );
    // Kafka 4 removed Produce v0-v2: they no longer decode, and neither does a version past
    // the schema's range.
    assert!(matches!(
        ProduceRequest::decode(&mut bytes.clone(), 2),
        Err(DecodeError::UnsupportedVersion {
            api_key: 0,
            version: 2
        })
    ));
    assert!(matches!(
        ProduceRequest::decode(&mut bytes.clone(), 12),
        Err(DecodeError::UnsupportedVersion {
            api_key: 0,
            version: 12
        })
    ));
}

#[test]
fn produce_v11_response() {
    let resp = ProduceResponse {
        responses: vec![TopicProduceResponse {
            topic_id: uuid::Uuid::nil(),
            name: "mango".into(),
            partition_responses: vec![PartitionProduceResponse {
                index: 0,
                error_code: 3,
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                ..Default::default()
            }],
        }],
        throttle_time_ms: 0,
        ..Default::default()
    };
    assert_eq!(
        encode_with(|b| resp.encode(b, 11)),
        hex(
            "02 06 6d616e676f 02 00000000 0003 ffffffffffffffff ffffffffffffffff \
             ffffffffffffffff 01 00 00 00 00000000 00"
        )
    );
}

#[test]
fn metadata_records_from_the_cluster_metadata_log() {
    // FeatureLevelRecord value: frame version 1, type 12, version 0, body.
    let mut value = hex("010c00116d657461646174612e76657273696f6e001400");
    let frame = super::wire::read_uvarint(&mut value).expect("frame");
    let ty = super::wire::read_uvarint(&mut value).expect("type");
    let version = super::wire::read_uvarint(&mut value).expect("version");
    assert_eq!((frame, ty, version), (1, 12, 0));
    assert_eq!(i64::from(ty), i64::from(FeatureLevelRecord::API_KEY));
    let rec = FeatureLevelRecord::decode(&mut value, 0).expect("decodes");
    assert!(value.is_empty());
    assert_eq!(rec.name, "metadata.version");
    assert_eq!(rec.feature_level, 20);

    // PartitionRecord v1 of one partition: 62 bytes of body (65 with the
    // 3-byte prefix).
    let topic_id = Uuid::from_u128(0x71a5_9a51_8968_4f8b_937e_0000_0000_0001);
    let rec = PartitionRecord {
        partition_id: 0,
        topic_id,
        replicas: vec![1],
        isr: vec![1],
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: vec![Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0001)],
        ..Default::default()
    };
    let body = encode_with(|b| rec.encode(b, 1));
    assert_eq!(body.len(), 62);
    assert_eq!(PartitionRecord::decode(&mut body.clone(), 1), Ok(rec));

    let topic = TopicRecord {
        name: "mango".into(),
        topic_id,
    };
    assert_eq!(
        encode_with(|b| topic.encode(b, 0)),
        hex("06 6d616e676f 71a59a5189684f8b937e000000000001 00")
    );
}

#[test]
fn hostile_counts_fail_without_allocating() {
    // DescribeTopicPartitions topics count uvarint 0x0FFFFFFF with 3 bytes.
    let mut input = hex("ffffff7f 000000");
    assert!(matches!(
        DescribeTopicPartitionsRequest::decode(&mut input, 0),
        Err(DecodeError::LengthExceedsRemaining { .. })
    ));
    // Metadata v1 topics count 0x7fffffff.
    let mut input = hex("7fffffff 00");
    assert!(matches!(
        MetadataRequest::decode(&mut input, 1),
        Err(DecodeError::LengthExceedsRemaining { .. })
    ));
    // A huge string length.
    let mut input = hex("0012 0004 00000007 7fff 61");
    assert!(matches!(
        RequestHeader::decode(&mut input, 2),
        Err(DecodeError::LengthExceedsRemaining { .. })
    ));
    // A varint that never ends.
    let mut input = hex("ffffffffffffff");
    assert_eq!(
        ApiVersionsRequest::decode(&mut input, 3),
        Err(DecodeError::VarintOverflow)
    );
}

#[test]
fn api_table_rows() {
    let advertised: Vec<(i16, i16, i16)> = api_table::API_TABLE
        .iter()
        .filter(|s| s.advertised)
        .map(|s| (s.key.as_i16(), s.advertised_min, s.advertised_max))
        .collect();
    assert_eq!(
        advertised,
        vec![
            (0, 3, 11),
            (1, 4, 16),
            (2, 1, 8),
            (3, 0, 12),
            (8, 2, 9),
            (9, 1, 9),
            (10, 0, 6),
            (11, 0, 9),
            (12, 0, 4),
            (13, 0, 5),
            (14, 0, 5),
            (15, 0, 5),
            (16, 0, 5),
            (18, 0, 4),
            (19, 2, 7),
            (20, 1, 6),
            (21, 0, 2),
            (22, 0, 5),
            (32, 1, 4),
            (33, 0, 2),
            (37, 0, 3),
            (42, 0, 2),
            (43, 0, 2),
            (44, 0, 1),
            (45, 0, 1),
            (46, 0, 0),
            (47, 0, 0),
            (55, 0, 2),
            (60, 0, 1),
            (75, 0, 0)
        ]
    );
    let produce = api_table::support(ApiKey::Produce);
    assert_eq!((produce.decode_min, produce.decode_max), (3, 11));
    assert_eq!(ApiKey::Produce.name(), "Produce");
    assert_eq!(ApiKey::from_i16(75), Some(ApiKey::DescribeTopicPartitions));
    assert_eq!(ApiKey::from_i16(4), None);
    assert_eq!(api_table::request_header_version(ApiKey::Produce, 8), 1);
    assert_eq!(api_table::request_header_version(ApiKey::Produce, 9), 2);
    assert_eq!(api_table::response_header_version(ApiKey::Produce, 8), 0);
    assert_eq!(api_table::response_header_version(ApiKey::Fetch, 12), 1);
    assert_eq!(
        api_table::response_header_version(ApiKey::ApiVersions, 3),
        0
    );
    assert_eq!(api_table::request_header_version(ApiKey::ApiVersions, 3), 2);
    assert_eq!(api_table::request_header_version(ApiKey::Metadata, 9), 2);
}

#[test]
fn metadata_record_values_dispatch_on_type() {
    let value = hex("010c00116d657461646174612e76657273696f6e001400");
    let (record, version) = MetadataRecord::decode_value(&mut value.clone())
        .expect("decodes")
        .expect("known type");
    assert_eq!(version, 0);
    assert_eq!(record.record_type(), 12);
    let MetadataRecord::FeatureLevelRecord(ref level) = record else {
        panic!("not a FeatureLevelRecord: {record:?}");
    };
    assert_eq!(level.feature_level, 20);
    assert_eq!(encode_with(|b| record.encode_value(b, 0)), value);

    // Record type 14 (ClientQuotaRecord, not generated) is skipped, not an error.
    let mut value = hex("01 0e 00 00");
    assert_eq!(MetadataRecord::decode_value(&mut value), Ok(None));
    // A known type in an unknown version is an error.
    let mut value = hex("01 02 07 00");
    assert_eq!(
        MetadataRecord::decode_value(&mut value),
        Err(DecodeError::UnsupportedVersion {
            api_key: 2,
            version: 7
        })
    );
}
