//! Versions below what we store or serve: Produce v0–2 and Fetch v0–3 carry the message formats
//! v0/v1 that Kafka 4 dropped, so they are answered with UNSUPPORTED_VERSION per partition (and
//! nothing is stored) rather than with a dropped connection; ListOffsets v0 answers in its
//! old-style offsets array.

mod common;

use common::topics::fetch_one;
use common::TestBroker;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::fetch_response::FetchResponse;
use sluice::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use sluice::protocol::messages::list_offsets_response::ListOffsetsResponse;
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::ProduceResponse;
use sluice::record::BatchBuilder;

const UNSUPPORTED_VERSION: i16 = 35;

#[test]
fn old_produce_and_fetch_versions_get_unsupported_version_per_partition() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    c.create_topic("legacy");
    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    b.push(Some(b"k"), Some(b"v"), &[]);
    let batch = b.build();

    for version in 0..=2 {
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: "legacy".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.clone()),
                }],
            }],
            ..Default::default()
        };
        let resp = c.request(
            ApiKey::Produce,
            version,
            |buf| req.encode(buf, version),
            ProduceResponse::decode,
        );
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, UNSUPPORTED_VERSION, "Produce v{version}");
        assert_eq!(p.base_offset, -1);
    }
    // Nothing was stored: a current Produce lands at offset 0.
    assert_eq!(c.produce_batch("legacy", 0, batch).base_offset, 0);

    for version in 0..=3 {
        let req = fetch_one("legacy", 0, 0, 0, 0);
        let resp = c.request(
            ApiKey::Fetch,
            version,
            |buf| req.encode(buf, version),
            FetchResponse::decode,
        );
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, UNSUPPORTED_VERSION, "Fetch v{version}");
        assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    }

    // ListOffsets v0: the answer is in old_style_offsets.
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: "legacy".into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp: -1,
                max_num_offsets: 1,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let resp = c.request(
        ApiKey::ListOffsets,
        0,
        |buf| req.encode(buf, 0),
        ListOffsetsResponse::decode,
    );
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.old_style_offsets.clone()), (0, vec![1]));
}
