//! Versions Kafka 4 removed (KIP-896): Produce v0–2 and Fetch v0–3 carry the message formats
//! v0/v1, ListOffsets v0, OffsetCommit v0–1, OffsetFetch v0, CreateTopics v0–1, DeleteTopics v0
//! and DescribeConfigs v0 are gone. They are not advertised, and a request at one of them is
//! refused as Kafka refuses it: the connection is closed, and nothing is stored.

use crate::common;

use std::time::Duration;

use bytes::Buf;
use common::TestBroker;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::record::BatchBuilder;

#[test]
fn removed_versions_are_neither_advertised_nor_served() {
    let broker = TestBroker::start();
    let mut c = broker.connect();
    c.create_topic("legacy");

    let f = c.frame(ApiKey::ApiVersions, 3, 7, |b| {
        ApiVersionsRequest {
            client_software_name: "sluice-test".into(),
            client_software_version: "1".into(),
            ..Default::default()
        }
        .encode(b, 3)
    });
    c.send_raw(&f);
    let mut payload = c.read_frame().expect("ApiVersions answer");
    assert_eq!(payload.get_i32(), 7);
    let resp = ApiVersionsResponse::decode(&mut payload, 3).expect("v0 header, v3 body");
    let min = |key: ApiKey| {
        resp.api_keys
            .iter()
            .find(|k| k.api_key == key.as_i16())
            .map(|k| k.min_version)
    };
    assert_eq!(min(ApiKey::Produce), Some(3));
    assert_eq!(min(ApiKey::Fetch), Some(4));
    assert_eq!(min(ApiKey::ListOffsets), Some(1));
    assert_eq!(min(ApiKey::OffsetCommit), Some(2));
    assert_eq!(min(ApiKey::OffsetFetch), Some(1));
    assert_eq!(min(ApiKey::CreateTopics), Some(2));
    assert_eq!(min(ApiKey::DeleteTopics), Some(1));
    assert_eq!(min(ApiKey::DescribeConfigs), Some(1));

    // A Produce v2 frame: the connection is closed and nothing is stored.
    let mut old = broker.connect();
    let f = old.frame(ApiKey::Produce, 2, 1, |b| (0..16).for_each(|_| b.put_i8(0)));
    old.send_raw(&f);
    assert!(old.is_closed(Duration::from_secs(10)), "Produce v2 refused");

    let mut b = BatchBuilder::new(0, 1_700_000_000_000);
    b.push(Some(b"k"), Some(b"v"), &[]);
    assert_eq!(c.produce_batch("legacy", 0, b.build()).base_offset, 0);
}
