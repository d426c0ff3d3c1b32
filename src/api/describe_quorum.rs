//! DescribeQuorum (55): the KRaft metadata quorum, `__cluster_metadata-0`, of which this node
//! is the leader and only voter (see `metadata::quorum`): the raft epoch it leads, the log end
//! as the high watermark (every metadata record is fsynced when appended), itself as the one
//! voter (v1+: never fetching, caught up now; v2: its log directory id), no observers, and
//! (v2) its node with the listener this request came in on. Any other partition is
//! UNKNOWN_TOPIC_OR_PARTITION, as Kafka's raft client answers it.

use crate::api::RequestContext;
use crate::error::ErrorCode;
use crate::metadata::DescribeQuorum;
use crate::protocol::messages::describe_quorum_request::DescribeQuorumRequest;
use crate::protocol::messages::describe_quorum_response::{
    DescribeQuorumResponse, Listener, Node, PartitionData, ReplicaState, TopicData,
};
use crate::protocol::messages::RequestHeader;
use crate::util::clock::now_ms;

/// The metadata log's topic: `__cluster_metadata`, partition 0.
const TOPIC: &str = "__cluster_metadata";

fn top_level(code: ErrorCode, message: String) -> DescribeQuorumResponse {
    DescribeQuorumResponse {
        error_code: code.code(),
        error_message: Some(message),
        ..DescribeQuorumResponse::default()
    }
}

pub async fn handle(
    ctx: &RequestContext,
    _header: &RequestHeader,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let asks_metadata_log = matches!(req.topics.as_slice(),
        [t] if t.topic_name == TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0));
    if !asks_metadata_log {
        return top_level(
            ErrorCode::UnknownTopicOrPartition,
            format!("DescribeQuorum describes {TOPIC}-0 only"),
        );
    }
    let status = match ctx.broker.metadata().send(DescribeQuorum).await {
        Ok(s) => s,
        Err(_) => {
            return top_level(
                ErrorCode::NotController,
                "The metadata actor is not running (broker shutting down).".into(),
            )
        }
    };
    let node = &ctx.broker.node;
    let me = ReplicaState {
        replica_id: node.node_id,
        replica_directory_id: node.directory_id,
        log_end_offset: status.log_end_offset,
        last_fetch_timestamp: -1,
        last_caught_up_timestamp: now_ms(),
    };
    let host = node
        .advertised_host
        .clone()
        .unwrap_or_else(|| ctx.local_addr.ip().to_string());
    DescribeQuorumResponse {
        error_code: ErrorCode::None.code(),
        error_message: None,
        topics: vec![TopicData {
            topic_name: TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                error_code: ErrorCode::None.code(),
                error_message: None,
                leader_id: node.node_id,
                leader_epoch: status.leader_epoch,
                high_watermark: status.log_end_offset,
                current_voters: vec![me],
                observers: Vec::new(),
            }],
        }],
        nodes: vec![Node {
            node_id: node.node_id,
            listeners: vec![Listener {
                name: ctx.broker.config.broker_listener().name.clone(),
                host,
                port: node.advertised_port,
            }],
        }],
    }
}
