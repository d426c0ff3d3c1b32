//! Request handling: one file per Kafka API, reached through one exhaustive match on the API key.
//!
//! [`Request::parse`] turns a frame into a header and a typed body (generated codec); a frame that
//! does not parse is refused with a [`ParseError`] and the connection closes. [`handle`] returns
//! a future that resolves to the encoded [`Response`], or `None` when the client asked for no
//! answer (Produce with `acks=0`).

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use crate::broker::Broker;
use crate::net::service::{Home, Peer, RequestInfo, Service, Unservable};
pub use crate::net::{Response, ResponseFuture};
use crate::protocol::api_table::{self, ApiKey};
use crate::protocol::messages::{
    alter_configs_request::AlterConfigsRequest, api_versions_request::ApiVersionsRequest,
    create_partitions_request::CreatePartitionsRequest, create_topics_request::CreateTopicsRequest,
    delete_records_request::DeleteRecordsRequest, delete_topics_request::DeleteTopicsRequest,
    describe_cluster_request::DescribeClusterRequest,
    describe_configs_request::DescribeConfigsRequest,
    describe_topic_partitions_request::DescribeTopicPartitionsRequest, fetch_request::FetchRequest,
    incremental_alter_configs_request::IncrementalAlterConfigsRequest,
    init_producer_id_request::InitProducerIdRequest, list_offsets_request::ListOffsetsRequest,
    metadata_request::MetadataRequest, produce_request::ProduceRequest,
    request_header::RequestHeader,
};
use crate::protocol::messages::{
    delete_groups_request::DeleteGroupsRequest, describe_groups_request::DescribeGroupsRequest,
    find_coordinator_request::FindCoordinatorRequest, heartbeat_request::HeartbeatRequest,
    join_group_request::JoinGroupRequest, leave_group_request::LeaveGroupRequest,
    list_groups_request::ListGroupsRequest, offset_commit_request::OffsetCommitRequest,
    offset_fetch_request::OffsetFetchRequest, sync_group_request::SyncGroupRequest,
};
use crate::protocol::wire::{DecodeError, EncodeBuf};

/// What a handler knows about the connection its request came on.
#[derive(Clone)]
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub local_addr: SocketAddr,
    pub peer: SocketAddr,
    pub connection_id: u64,
}

/// A decoded request body.
#[derive(Debug)]
pub enum Body {
    ApiVersions(ApiVersionsRequest),
    /// An ApiVersions version we do not know: answered with error 35 and a v0 body (KIP-511).
    ApiVersionsUnsupported,
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    Metadata(MetadataRequest),
    DescribeTopicPartitions(DescribeTopicPartitionsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    AlterConfigs(AlterConfigsRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    DeleteRecords(DeleteRecordsRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    ListGroups(ListGroupsRequest),
    DescribeGroups(DescribeGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
}

#[derive(Debug)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub version: i16,
    pub body: Body,
}

/// A frame that cannot be served; the connection that sent it is closed.
#[derive(Debug)]
pub struct ParseError {
    pub api_key: i16,
    pub api_version: i16,
    pub reason: ParseFailure,
}

impl std::fmt::Display for ParseError {
    /// The reason (the API key and version are logged as fields of their own).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.reason.fmt(f)
    }
}

impl Unservable for ParseError {
    fn api_key(&self) -> i16 {
        self.api_key
    }

    fn api_version(&self) -> i16 {
        self.api_version
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseFailure {
    #[error("frame shorter than a request header")]
    ShortFrame,
    #[error("unknown API key")]
    UnknownApiKey,
    #[error("API not supported by this broker")]
    NotSupported,
    #[error("unsupported version (we decode {min}-{max})")]
    UnsupportedVersion { min: i16, max: i16 },
    #[error("bad request header: {0}")]
    Header(DecodeError),
    #[error("bad request body: {0}")]
    Body(DecodeError),
}

impl Request {
    pub fn parse(frame: Bytes) -> Result<Request, ParseError> {
        if frame.len() < 8 {
            return Err(ParseError {
                api_key: -1,
                api_version: -1,
                reason: ParseFailure::ShortFrame,
            });
        }
        let api_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let fail = |reason| ParseError {
            api_key,
            api_version: version,
            reason,
        };
        let key = ApiKey::from_i16(api_key).ok_or_else(|| fail(ParseFailure::UnknownApiKey))?;
        let support = api_table::support(key);
        if !support.advertised {
            return Err(fail(ParseFailure::NotSupported));
        }
        let in_range = (support.decode_min..=support.decode_max).contains(&version);
        let mut buf = frame;
        let header_version = api_table::request_header_version(key, version);
        let header = RequestHeader::decode(&mut buf, header_version)
            .map_err(|e| fail(ParseFailure::Header(e)))?;
        if !in_range {
            if key == ApiKey::ApiVersions {
                return Ok(Request {
                    header,
                    api_key: key,
                    version,
                    body: Body::ApiVersionsUnsupported,
                });
            }
            return Err(fail(ParseFailure::UnsupportedVersion {
                min: support.decode_min,
                max: support.decode_max,
            }));
        }
        let b = &mut buf;
        let body = match key {
            ApiKey::ApiVersions => ApiVersionsRequest::decode(b, version).map(Body::ApiVersions),
            ApiKey::Produce => ProduceRequest::decode(b, version).map(Body::Produce),
            ApiKey::Fetch => FetchRequest::decode(b, version).map(Body::Fetch),
            ApiKey::ListOffsets => ListOffsetsRequest::decode(b, version).map(Body::ListOffsets),
            ApiKey::Metadata => MetadataRequest::decode(b, version).map(Body::Metadata),
            ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::decode(b, version)
                .map(Body::DescribeTopicPartitions),
            ApiKey::CreateTopics => CreateTopicsRequest::decode(b, version).map(Body::CreateTopics),
            ApiKey::DeleteTopics => DeleteTopicsRequest::decode(b, version).map(Body::DeleteTopics),
            ApiKey::CreatePartitions => {
                CreatePartitionsRequest::decode(b, version).map(Body::CreatePartitions)
            }
            ApiKey::DescribeConfigs => {
                DescribeConfigsRequest::decode(b, version).map(Body::DescribeConfigs)
            }
            ApiKey::AlterConfigs => AlterConfigsRequest::decode(b, version).map(Body::AlterConfigs),
            ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::decode(b, version)
                .map(Body::IncrementalAlterConfigs),
            ApiKey::DescribeCluster => {
                DescribeClusterRequest::decode(b, version).map(Body::DescribeCluster)
            }
            ApiKey::DeleteRecords => {
                DeleteRecordsRequest::decode(b, version).map(Body::DeleteRecords)
            }
            ApiKey::InitProducerId => {
                InitProducerIdRequest::decode(b, version).map(Body::InitProducerId)
            }
            ApiKey::FindCoordinator => {
                FindCoordinatorRequest::decode(b, version).map(Body::FindCoordinator)
            }
            ApiKey::JoinGroup => JoinGroupRequest::decode(b, version).map(Body::JoinGroup),
            ApiKey::SyncGroup => SyncGroupRequest::decode(b, version).map(Body::SyncGroup),
            ApiKey::Heartbeat => HeartbeatRequest::decode(b, version).map(Body::Heartbeat),
            ApiKey::LeaveGroup => LeaveGroupRequest::decode(b, version).map(Body::LeaveGroup),
            ApiKey::ListGroups => ListGroupsRequest::decode(b, version).map(Body::ListGroups),
            ApiKey::DescribeGroups => {
                DescribeGroupsRequest::decode(b, version).map(Body::DescribeGroups)
            }
            ApiKey::DeleteGroups => DeleteGroupsRequest::decode(b, version).map(Body::DeleteGroups),
            ApiKey::OffsetCommit => OffsetCommitRequest::decode(b, version).map(Body::OffsetCommit),
            ApiKey::OffsetFetch => OffsetFetchRequest::decode(b, version).map(Body::OffsetFetch),
        }
        .map_err(|e| fail(ParseFailure::Body(e)))?;
        if buf.has_remaining() {
            // Kafka ignores bytes after the body, and clients depend on it: librdkafka (up to at
            // least 2.12) sends an "all topics" Metadata v9+ request with a 4-byte null array
            // where one varint byte belongs, i.e. 3 stray bytes at the end.
            tracing::debug!(
                api_key,
                version,
                trailing = buf.remaining(),
                "ignoring bytes after the request body"
            );
        }
        Ok(Request {
            header,
            api_key: key,
            version,
            body,
        })
    }
}

/// Routes a request to its API's handler.
pub fn handle(ctx: RequestContext, req: Request) -> ResponseFuture {
    let correlation_id = req.header.correlation_id;
    let key = req.api_key;
    let version = req.version;
    let header_version = api_table::response_header_version(key, version);
    let respond = move |encode: &dyn Fn(&mut EncodeBuf)| {
        Some(Response::encode(correlation_id, header_version, encode))
    };
    match req.body {
        Body::ApiVersions(_) => {
            let body = api_versions::handle(version);
            Box::pin(async move { respond(&|b| body.encode(b, version)) })
        }
        Body::ApiVersionsUnsupported => {
            let body = api_versions::unsupported();
            Box::pin(async move { respond(&|b| body.encode(b, 0)) })
        }
        Body::Metadata(r) => Box::pin(async move {
            let body = metadata::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DescribeTopicPartitions(r) => Box::pin(async move {
            let body = describe_topic_partitions::handle(&ctx, r);
            respond(&|b| body.encode(b, version))
        }),
        Body::Produce(r) => Box::pin(async move {
            let body = produce::handle(&ctx, r).await?;
            respond(&|b| body.encode(b, version))
        }),
        Body::Fetch(r) => Box::pin(async move {
            let body = fetch::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::ListOffsets(r) => Box::pin(async move {
            let body = list_offsets::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::CreateTopics(r) => Box::pin(async move {
            let body = create_topics::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DeleteTopics(r) => Box::pin(async move {
            let body = delete_topics::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::CreatePartitions(r) => Box::pin(async move {
            let body = create_partitions::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DescribeConfigs(r) => Box::pin(async move {
            let body = describe_configs::handle(&ctx, version, r);
            respond(&|b| body.encode(b, version))
        }),
        Body::AlterConfigs(r) => Box::pin(async move {
            let body = alter_configs::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::IncrementalAlterConfigs(r) => Box::pin(async move {
            let body = incremental_alter_configs::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DescribeCluster(r) => Box::pin(async move {
            let body = describe_cluster::handle(&ctx, r);
            respond(&|b| body.encode(b, version))
        }),
        Body::DeleteRecords(r) => Box::pin(async move {
            let body = delete_records::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::InitProducerId(r) => Box::pin(async move {
            let body = init_producer_id::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::FindCoordinator(r) => {
            let body = find_coordinator::handle(&ctx, version, r);
            Box::pin(async move { respond(&|b| body.encode(b, version)) })
        }
        Body::JoinGroup(r) => {
            let client_id = req.header.client_id;
            Box::pin(async move {
                let body = join_group::handle(&ctx, version, client_id, r).await;
                respond(&|b| body.encode(b, version))
            })
        }
        Body::SyncGroup(r) => Box::pin(async move {
            let body = sync_group::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::Heartbeat(r) => Box::pin(async move {
            let body = heartbeat::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::LeaveGroup(r) => Box::pin(async move {
            let body = leave_group::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::ListGroups(r) => Box::pin(async move {
            let body = list_groups::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DescribeGroups(r) => Box::pin(async move {
            let body = describe_groups::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::DeleteGroups(r) => Box::pin(async move {
            let body = delete_groups::handle(&ctx, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::OffsetCommit(r) => Box::pin(async move {
            let body = offset_commit::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
        Body::OffsetFetch(r) => Box::pin(async move {
            let body = offset_fetch::handle(&ctx, version, r).await;
            respond(&|b| body.encode(b, version))
        }),
    }
}

/// The Kafka API as the network edge serves it: parsing, routing to the handlers, and where a
/// request's partitions live (for `connection.affinity`).
pub struct KafkaApi {
    broker: Arc<Broker>,
}

impl KafkaApi {
    pub fn new(broker: Arc<Broker>) -> KafkaApi {
        KafkaApi { broker }
    }
}

impl Service for KafkaApi {
    type Request = Request;
    type Refusal = ParseError;

    fn parse(&self, frame: Bytes) -> Result<Request, ParseError> {
        Request::parse(frame)
    }

    fn info(request: &Request) -> RequestInfo<'_> {
        RequestInfo {
            api_key: request.api_key,
            version: request.version,
            correlation_id: request.header.correlation_id,
            client_id: request.header.client_id.as_deref(),
        }
    }

    /// The arbiter that the partitions of a Produce or Fetch all live on.
    fn home(&self, request: &Request) -> Home {
        let broker = &self.broker;
        let mut home = Home::Anywhere;
        let mut add = |topic: &str, partition: i32| {
            let here = broker.arbiter_index(topic, partition);
            home = match home {
                Home::Anywhere => Home::On(here),
                Home::On(h) if h == here => Home::On(h),
                _ => Home::Scattered,
            };
            home != Home::Scattered
        };
        match &request.body {
            Body::Produce(req) => {
                for topic in &req.topic_data {
                    for p in &topic.partition_data {
                        if !add(&topic.name, p.index) {
                            return Home::Scattered;
                        }
                    }
                }
            }
            Body::Fetch(req) => {
                let image = broker.image();
                for topic in &req.topics {
                    let name: &str = if topic.topic.is_empty() {
                        match image.topic_by_id(&topic.topic_id) {
                            Some(t) => &t.name,
                            None => return Home::Scattered,
                        }
                    } else {
                        &topic.topic
                    };
                    for p in &topic.partitions {
                        if !add(name, p.partition) {
                            return Home::Scattered;
                        }
                    }
                }
            }
            _ => {}
        }
        home
    }

    fn handle(&self, peer: Peer, request: Request) -> ResponseFuture {
        let ctx = RequestContext {
            broker: self.broker.clone(),
            local_addr: peer.local_addr,
            peer: peer.peer,
            connection_id: peer.connection_id,
        };
        handle(ctx, request)
    }
}
