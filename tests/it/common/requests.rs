//! Typed request helpers on [`WireClient`](super::WireClient), and a broker started on a
//! metadata log built in the test.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::api_versions_request::ApiVersionsRequest;
use sluice::protocol::messages::api_versions_response::ApiVersionsResponse;
use sluice::protocol::messages::describe_topic_partitions_request::{
    Cursor, DescribeTopicPartitionsRequest, TopicRequest,
};
use sluice::protocol::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponse;
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::MetadataResponse;
use uuid::Uuid;

use super::fixtures::meta_properties;
use super::{TestBroker, WireClient};

/// Metadata at `version` for `topics` by name (None: all topics).
pub fn metadata(
    c: &mut WireClient,
    version: i16,
    topics: Option<&[&str]>,
    allow_auto_topic_creation: bool,
) -> MetadataResponse {
    let req = MetadataRequest {
        topics: topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    topic_id: Uuid::nil(),
                    name: Some(n.to_string()),
                })
                .collect()
        }),
        allow_auto_topic_creation,
        ..MetadataRequest::default()
    };
    metadata_request(c, version, req)
}

/// Sends `req` at `version`; the answer must decode with nothing left over.
pub fn metadata_request(
    c: &mut WireClient,
    version: i16,
    req: MetadataRequest,
) -> MetadataResponse {
    c.request(
        ApiKey::Metadata,
        version,
        |b| req.encode(b, version),
        MetadataResponse::decode,
    )
}

/// DescribeTopicPartitions v0.
pub fn describe_topic_partitions(
    c: &mut WireClient,
    names: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let req = DescribeTopicPartitionsRequest {
        topics: names
            .iter()
            .map(|n| TopicRequest {
                name: n.to_string(),
            })
            .collect(),
        response_partition_limit: limit,
        cursor: cursor.map(|(t, p)| Cursor {
            topic_name: t.to_string(),
            partition_index: p,
        }),
    };
    c.request(
        ApiKey::DescribeTopicPartitions,
        0,
        |b| req.encode(b, 0),
        DescribeTopicPartitionsResponse::decode,
    )
}

/// ApiVersions v3 with error 0, on `c`.
pub fn api_versions(c: &mut WireClient) -> ApiVersionsResponse {
    c.request(
        ApiKey::ApiVersions,
        3,
        |b| ApiVersionsRequest::default().encode(b, 3),
        ApiVersionsResponse::decode,
    )
}

/// Writes the tester's `meta.properties` and `__cluster_metadata-0/00000000000000000000.log`
/// holding `batches` into `log_dir`.
pub fn write_metadata_dir(log_dir: &Path, batches: &[Bytes]) {
    fs::create_dir_all(log_dir).expect("log dir");
    fs::write(log_dir.join("meta.properties"), meta_properties()).expect("meta.properties");
    let dir = log_dir.join("__cluster_metadata-0");
    fs::create_dir_all(&dir).expect("metadata dir");
    let log: Vec<u8> = batches.iter().flat_map(|b| b.iter().copied()).collect();
    fs::write(dir.join("00000000000000000000.log"), log).expect("metadata log");
}

/// A broker on a fresh temp dir whose metadata log holds `batches`.
pub fn start_with_metadata(batches: &[Bytes], args: &[&str]) -> TestBroker {
    let temp = tempfile::tempdir().expect("temp dir");
    let log_dir = temp.path().join("data");
    write_metadata_dir(&log_dir, batches);
    TestBroker::start_owning(temp, &log_dir, args)
}
