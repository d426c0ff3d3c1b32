//! The admin HTTP endpoint (`admin.listener`, off unless set) and the state it shows.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | `200 ok` |
//! | `GET /metrics` | Prometheus / OpenMetrics text: requests and latency per API and version, bytes, connections, per-partition offsets and sizes, per-actor mailbox depth and messages handled |
//! | `GET /actors` | JSON: every live actor with its kind, identity, mailbox depth, messages handled, last activity; partitions add offsets, size and segments |
//! | `GET /log-filter` | the tracing filter in force |
//! | `PUT /log-filter` | body = new `EnvFilter` directives; `400` if they do not parse |
//!
//! The server runs on its own arbiter, so a slow scrape never delays a connection or a partition.
//! HTTP is hyper's (HTTP/1 only); there are five routes, so a `match` routes them.

pub mod log;
pub mod metrics;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::actor::{ActorStats, Identity};
use crate::broker::Broker;
use crate::util::clock::now_ms;
use log::LogControl;

/// Largest `PUT /log-filter` body accepted.
const MAX_FILTER_BYTES: usize = 64 * 1024;
/// A client gets this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin handlers reach.
pub struct AdminState {
    pub broker: Arc<Broker>,
    pub log: Arc<LogControl>,
}

/// Binds the admin listener (synchronously, so the caller can log the bound address) and
/// starts serving it on a dedicated arbiter. The returned arbiter stops the server when stopped.
pub fn start(addr: SocketAddr, state: AdminState) -> std::io::Result<(SocketAddr, actix::Arbiter)> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let bound = std_listener.local_addr()?;
    let arbiter = actix::Arbiter::new();
    let state = Arc::new(state);
    arbiter.spawn(async move {
        match TcpListener::from_std(std_listener) {
            Ok(listener) => serve(listener, state).await,
            Err(e) => warn!(error = %e, "admin listener unusable"),
        }
    });
    Ok((bound, arbiter))
}

async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(route(&state, req).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        actix::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "admin connection ended");
            }
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn route(state: &AdminState, req: Request<Incoming>) -> Answer {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match (&method, path.as_str()) {
        (&Method::GET, "/health") => answer(StatusCode::OK, TEXT, "ok\n"),
        (&Method::GET, "/metrics") => answer(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics::render(metrics::Snapshot {
                metrics: state.broker.metrics.clone(),
                actors: state.broker.actors.clone(),
                open_connections: state.broker.connections.count(),
                cleaner: state
                    .broker
                    .cleaner_figures
                    .as_ref()
                    .map(|f| f.get())
                    .unwrap_or_default(),
            }),
        ),
        (&Method::GET, "/actors") => {
            let list: Vec<Value> = state
                .broker
                .actors
                .live()
                .iter()
                .map(|a| describe(a))
                .collect();
            let body = serde_json::to_vec_pretty(&json!({ "actors": list })).unwrap_or_default();
            answer(StatusCode::OK, "application/json", body)
        }
        (&Method::GET, "/log-filter") => {
            answer(StatusCode::OK, TEXT, format!("{}\n", state.log.current()))
        }
        (&Method::PUT, "/log-filter") => {
            let body = match Limited::new(req.into_body(), MAX_FILTER_BYTES)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => return answer(StatusCode::BAD_REQUEST, TEXT, format!("bad body: {e}\n")),
            };
            let Ok(directives) = std::str::from_utf8(&body) else {
                return answer(StatusCode::BAD_REQUEST, TEXT, "filter is not UTF-8\n");
            };
            match state.log.set(directives) {
                Ok(()) => answer(StatusCode::OK, TEXT, format!("{}\n", directives.trim())),
                Err(e) => {
                    info!(filter = directives, error = %e, "log filter refused");
                    answer(
                        StatusCode::BAD_REQUEST,
                        TEXT,
                        format!("invalid filter: {e}\n"),
                    )
                }
            }
        }
        (_, "/health" | "/metrics" | "/actors" | "/log-filter") => {
            answer(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n")
        }
        _ => answer(StatusCode::NOT_FOUND, TEXT, "not found\n"),
    }
}

/// One actor as `/actors` shows it.
fn describe(a: &ActorStats) -> Value {
    let now = now_ms();
    let mut v = json!({
        "kind": a.identity.kind(),
        "name": a.identity.name(),
        "mailbox_depth": a.depth(),
        "messages_handled": a.handled(),
        "last_activity_ms": a.last_activity_ms(),
        "idle_ms": (now - a.last_activity_ms()).max(0),
    });
    let extra = match &a.identity {
        Identity::Connection {
            id,
            peer,
            client_id,
        } => json!({ "id": id, "peer": peer.to_string(), "client_id": client_id.get() }),
        Identity::Partition {
            topic,
            partition,
            log,
        } => {
            use std::sync::atomic::Ordering::Relaxed;
            json!({
                "topic": topic.as_ref(),
                "partition": partition,
                "log_start_offset": log.log_start_offset.load(Relaxed),
                "high_watermark": log.high_watermark.load(Relaxed),
                "log_end_offset": log.log_end_offset.load(Relaxed),
                "size_bytes": log.size_bytes.load(Relaxed),
                "segments": log.segments.load(Relaxed),
            })
        }
        Identity::Metadata => json!({}),
        Identity::Group { id } => json!({ "group_id": id }),
    };
    if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
        base.extend(more);
    }
    v
}
