//! Request handling: one file per Kafka API, reached through one exhaustive match on the API key.
//!
//! [`Request::parse`] turns a frame into a header and a typed body (generated codec); a frame that
//! does not parse is refused with a [`ParseError`] and the connection closes. [`handle`] returns
//! a future that resolves to the encoded [`Response`], or `None` when the client asked for no
//! answer (Produce with `acks=0`).
//!
//! The per-API lists are generated from the allow-list (`xtask/src/apis.rs`): the [`Body`] enum
//! and its decoder (`protocol::body`), and the dispatch (`api/dispatch.rs`), which calls every
//! API's handler the same way:
//!
//! ```text
//! pub async fn handle(ctx: &RequestContext, header: &RequestHeader, req: <Name>Request)
//!     -> impl IntoResponse
//! ```
//!
//! A handler takes from the header what it needs (the version, the client id); its answer is a
//! response body, `Option` of one (no answer), a body with file ranges (Fetch), or a body in a
//! version of its own ([`InVersion`]). Requests that name partitions reach their partition
//! actors through [`fan_out`].

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_quorum;
pub mod describe_topic_partitions;
mod dispatch;
pub mod elect_leaders;
pub mod fan_out;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
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
pub use crate::protocol::body::Body;
use crate::protocol::body::{decode_body, ResponseBody};
use crate::protocol::messages::request_header::RequestHeader;
use crate::protocol::wire::DecodeError;

pub use dispatch::handle;

/// What a handler knows about the connection its request came on.
#[derive(Clone)]
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub local_addr: SocketAddr,
    pub peer: SocketAddr,
    pub connection_id: u64,
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
        let body = decode_body(key, version, &mut buf).map_err(|e| fail(ParseFailure::Body(e)))?;
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

/// Where a handler's answer goes: the request's correlation id, and the versions of the
/// response header and body.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub correlation_id: i32,
    pub header_version: i16,
    pub version: i16,
}

impl Reply {
    /// The answer to `req`, in the header and body versions of its request.
    pub fn to(req: &Request) -> Reply {
        Reply {
            correlation_id: req.header.correlation_id,
            header_version: api_table::response_header_version(req.api_key, req.version),
            version: req.version,
        }
    }
}

/// What a handler answers with: the [`Response`] it becomes, or none.
pub trait IntoResponse {
    fn into_response(self, reply: Reply) -> Option<Response>;
}

impl<T: ResponseBody> IntoResponse for T {
    fn into_response(self, reply: Reply) -> Option<Response> {
        Some(Response::encode(
            reply.correlation_id,
            reply.header_version,
            &|b| self.encode_body(b, reply.version),
        ))
    }
}

/// No answer at all: Produce with `acks=0`.
impl<T: IntoResponse> IntoResponse for Option<T> {
    fn into_response(self, reply: Reply) -> Option<Response> {
        self?.into_response(reply)
    }
}

/// A body encoded in a version of its own rather than the request's: the v0 answer to an
/// ApiVersions version we do not know.
#[derive(Debug)]
pub struct InVersion<T> {
    pub version: i16,
    pub body: T,
}

impl<T: IntoResponse> IntoResponse for InVersion<T> {
    fn into_response(self, reply: Reply) -> Option<Response> {
        self.body.into_response(Reply {
            version: self.version,
            ..reply
        })
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

/// Creates `__consumer_offsets` unless it exists (a look at the image, then at most one trip
/// to the metadata actor). Called by FindCoordinator for groups, by the group requests that
/// write (a client may skip FindCoordinator), and by Metadata auto-creating the topic.
pub async fn ensure_offsets_topic(ctx: &RequestContext) -> crate::error::ErrorCode {
    if crate::metadata::internal_topics::offsets_partitions(&ctx.broker.image()).is_some() {
        return crate::error::ErrorCode::None;
    }
    match ctx
        .broker
        .send_metadata(crate::metadata::internal_topics::EnsureOffsetsTopic)
        .await
    {
        Ok(Ok(_)) => crate::error::ErrorCode::None,
        Ok(Err(code)) => code,
        Err(_) => crate::error::ErrorCode::CoordinatorNotAvailable,
    }
}
