//! Wire-level helpers shared by the client tests: create a topic (Metadata auto-creation), produce
//! one batch, build a Fetch request.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice::protocol::api_table::ApiKey;
use sluice::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use sluice::protocol::messages::metadata_response::{MetadataResponse, MetadataResponseTopic};
use sluice::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use sluice::protocol::messages::produce_response::{PartitionProduceResponse, ProduceResponse};

use super::WireClient;

/// Metadata version used by the helpers (topic names, allow_auto_topic_creation, flexible).
pub const METADATA_VERSION: i16 = 12;
/// Produce version used by the helpers.
pub const PRODUCE_VERSION: i16 = 9;

impl WireClient {
    /// Metadata for the named topics, creating them when the broker allows auto-creation.
    pub fn metadata(&mut self, topics: &[&str], auto_create: bool) -> MetadataResponse {
        let req = MetadataRequest {
            topics: Some(
                topics
                    .iter()
                    .map(|t| MetadataRequestTopic {
                        name: Some((*t).to_string()),
                        ..MetadataRequestTopic::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: auto_create,
            ..MetadataRequest::default()
        };
        self.request(
            ApiKey::Metadata,
            METADATA_VERSION,
            |b| req.encode(b, METADATA_VERSION),
            MetadataResponse::decode,
        )
    }

    /// Creates `topic` through Metadata auto-creation (its partition count is the broker's
    /// `num.partitions`) and waits, bounded, until every partition has a leader.
    pub fn create_topic(&mut self, topic: &str) -> MetadataResponseTopic {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let resp = self.metadata(&[topic], true);
            let t = resp.topics.into_iter().next().expect("one topic answered");
            let ready = t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id >= 0);
            if ready {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} not ready within 10 s: error {} partitions {:?}",
                t.error_code,
                t.partitions
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Produces one batch (acks=all) to `topic`/`partition` and returns the partition's answer.
    pub fn produce_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> PartitionProduceResponse {
        let req = ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch),
                }],
            }],
        };
        let resp = self.request(
            ApiKey::Produce,
            PRODUCE_VERSION,
            |b| req.encode(b, PRODUCE_VERSION),
            ProduceResponse::decode,
        );
        resp.responses
            .into_iter()
            .next()
            .and_then(|t| t.partition_responses.into_iter().next())
            .expect("one partition answered")
    }
}

/// A Fetch request for one partition, by topic name (versions ≤ 12).
pub fn fetch_one(
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.to_string(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    }
}
