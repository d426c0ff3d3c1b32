//! One actor per client socket.
//!
//! The read half is a `FramedRead` stream feeding [`ConnectionActor`]; each frame is parsed
//! (header + typed body) on the actor, then handled by a spawned future so that a slow request
//! (a long-polling Fetch, a Produce waiting for its partitions) does not hold up the next one.
//! Kafka clients rely on responses arriving in request order, so every request gets a slot in an
//! ordered queue the moment it is read; the writer task awaits those slots in order and writes
//! each response with vectored writes (Fetch record bytes go from the page cache with
//! `sendfile`; see [`Response::write_to`]).
//!
//! Backpressure: a request holds a permit from a per-connection semaphore until its response is
//! written. When all permits are out, the actor waits (`ctx.wait`), which stops it reading the
//! socket, so a client that pipelines without reading cannot grow the broker's memory.
//!
//! Everything the actor does, and every request future it spawns, runs inside its
//! `connection{id, peer, client_id}` span (client_id is recorded from the first request that has
//! one), so one client's traffic can be followed with a span filter.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::FramedRead;
use tracing::{debug, warn, Instrument, Span};

use crate::admin::actors::{ActorStats, Identity};
use crate::admin::log::ActorSpan;
use crate::admin::metrics::Metrics;
use crate::api::{self, RequestContext, Response};
use crate::broker::Broker;
use crate::net::frame::{FrameDecoder, FrameError};
use crate::net::server::Admission;

/// A response slot in the ordered write queue, with the in-flight place its request holds.
type Pending = (oneshot::Receiver<Option<Response>>, InFlight);

/// A request between being read and its response being written: holds one of the connection's
/// in-flight permits and is counted in the in-flight gauges until dropped.
struct InFlight {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    stats: Arc<ActorStats>,
}

impl InFlight {
    fn new(permit: OwnedSemaphorePermit, metrics: &Arc<Metrics>, stats: &Arc<ActorStats>) -> Self {
        metrics.requests_inflight.fetch_add(1, Ordering::Relaxed);
        stats.enqueued();
        InFlight {
            _permit: permit,
            metrics: metrics.clone(),
            stats: stats.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics
            .requests_inflight
            .fetch_sub(1, Ordering::Relaxed);
        self.stats.dequeued();
    }
}

fn connection_span(id: u64, peer: SocketAddr, client_id: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "connection",
        id,
        %peer,
        client_id = tracing::field::Empty
    );
    if let Some(client_id) = client_id {
        span.record("client_id", client_id);
    }
    span
}

pub struct ConnectionActor {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    broker: Arc<Broker>,
    span: ActorSpan,
    client_id: Option<String>,
    stats: Arc<ActorStats>,
    /// Frees this socket's place under the connection limits when the actor goes away.
    _admission: Admission,
    /// Ordered response slots; dropping it lets the writer drain and close the socket.
    queue: Option<mpsc::UnboundedSender<Pending>>,
    inflight: Arc<Semaphore>,
    client_id_recorded: bool,
    max_inflight: usize,
    last_activity: Instant,
    idle_limit: Duration,
}

impl ConnectionActor {
    /// Starts the actor for an accepted socket on the current arbiter.
    pub fn start_for(
        stream: tokio::net::TcpStream,
        id: u64,
        broker: Arc<Broker>,
        admission: Admission,
    ) {
        let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let span = connection_span(id, peer, None);
        let stats = broker.actors.register(
            Identity::Connection {
                id,
                peer,
                client_id: OnceLock::new(),
            },
            max_inflight_of(&broker),
        );
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let max_inflight = max_inflight_of(&broker);
        let max_frame = broker.config.socket_request_max_bytes;
        let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
        broker
            .tasks
            .spawn_local(write_loop(write, rx, broker.metrics.clone()).instrument(span.clone()));
        ConnectionActor::create(move |ctx| {
            ctx.add_stream(FramedRead::new(read, FrameDecoder::new(max_frame)));
            if !idle.is_zero() {
                ctx.run_interval(
                    (idle / 4).max(Duration::from_millis(50)),
                    |act: &mut ConnectionActor, ctx| act.check_idle(ctx),
                );
            }
            ConnectionActor {
                id,
                peer,
                local,
                broker,
                span: ActorSpan::new(span),
                client_id: None,
                stats,
                _admission: admission,
                queue: Some(tx),
                inflight: Arc::new(Semaphore::new(max_inflight)),
                client_id_recorded: false,
                max_inflight,
                last_activity: Instant::now(),
                idle_limit: idle,
            }
        });
    }

    /// The actor's span, rebuilt if the log filter changed since it was made.
    fn span(&mut self) -> Span {
        let (id, peer, client_id) = (self.id, self.peer, self.client_id.as_deref());
        self.span.get(|| connection_span(id, peer, client_id))
    }

    /// Closes a connection that has neither completed a request nor had one in flight for
    /// `connections.max.idle.ms`. Only whole frames count as activity, so a client that sends
    /// half a frame and goes silent is closed too.
    fn check_idle(&mut self, ctx: &mut Context<Self>) {
        let idle_for = self.last_activity.elapsed();
        let busy = self.inflight.available_permits() < self.max_inflight;
        if !busy && idle_for >= self.idle_limit {
            let _enter = self.span().entered();
            debug!(
                idle_ms = idle_for.as_millis() as u64,
                "closing idle connection"
            );
            ctx.stop();
        }
    }

    fn process(&mut self, frame: Bytes, permit: OwnedSemaphorePermit, ctx: &mut Context<Self>) {
        let read_at = Instant::now();
        let span = self.span();
        let request = match api::Request::parse(frame) {
            Ok(request) => request,
            Err(e) => {
                let _enter = span.enter();
                warn!(peer = %self.peer, api_key = e.api_key, api_version = e.api_version,
                      reason = %e.reason, "closing connection: undecodable request");
                ctx.stop();
                return;
            }
        };
        // Recorded before the span is entered: a filter decides whether a span matches its
        // directives when the span is entered, so `connection{client_id=...}` directives then
        // apply from this first request on.
        if !self.client_id_recorded {
            if let Some(client_id) = request.header.client_id.as_deref() {
                span.record("client_id", client_id);
                self.client_id = Some(client_id.to_owned());
                if let Identity::Connection {
                    client_id: slot, ..
                } = &self.stats.identity
                {
                    let _ = slot.set(client_id.to_owned());
                }
            }
            self.client_id_recorded = true;
        }
        let _enter = span.enter();
        let (api_key, version) = (request.api_key, request.version);
        debug!(
            api = api_key.name(),
            version,
            correlation_id = request.header.correlation_id,
            "request"
        );
        let inflight = InFlight::new(permit, &self.broker.metrics, &self.stats);
        let Some(queue) = &self.queue else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if queue.send((rx, inflight)).is_err() {
            ctx.stop();
            return;
        }
        let rctx = RequestContext {
            broker: self.broker.clone(),
            local_addr: self.local,
            peer: self.peer,
            connection_id: self.id,
        };
        let fut = api::handle(rctx, request);
        let metrics = self.broker.metrics.clone();
        let stats = self.stats.clone();
        actix::spawn(
            async move {
                let response = fut.await;
                metrics.record_request(api_key, version, read_at.elapsed());
                stats.handled_one();
                let _ = tx.send(response);
            }
            .instrument(span.clone()),
        );
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _enter = self.span().entered();
        debug!(local = %self.local, "connection opened");
        self.broker.connections.register(self.id, ctx.address());
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _enter = self.span().entered();
        self.queue = None;
        self.broker.connections.deregister(self.id);
        debug!("connection closed");
    }
}

impl StreamHandler<Result<Bytes, FrameError>> for ConnectionActor {
    fn handle(&mut self, item: Result<Bytes, FrameError>, ctx: &mut Self::Context) {
        let frame = match item {
            Ok(frame) => {
                self.last_activity = Instant::now();
                self.broker
                    .metrics
                    .bytes_received
                    .fetch_add(frame.len() as u64 + 4, Ordering::Relaxed);
                frame
            }
            Err(FrameError::Io(e)) => {
                let _enter = self.span().entered();
                debug!(error = %e, "read failed");
                ctx.stop();
                return;
            }
            Err(e) => {
                let _enter = self.span().entered();
                warn!(peer = %self.peer, reason = %e, "closing connection: bad frame");
                ctx.stop();
                return;
            }
        };
        match self.inflight.clone().try_acquire_owned() {
            Ok(permit) => self.process(frame, permit, ctx),
            Err(_) => {
                // Every slot is taken: stop reading this socket until a response is written.
                let semaphore = self.inflight.clone();
                ctx.wait(
                    async move { semaphore.acquire_owned().await }
                        .into_actor(self)
                        .map(move |permit, act, ctx| match permit {
                            Ok(permit) => act.process(frame, permit, ctx),
                            Err(_) => ctx.stop(),
                        }),
                );
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Asks a connection to stop reading; responses already queued are still written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

impl Handler<Close> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Writes responses in request order. Ends when the actor drops the queue (after draining it),
/// when a handler is dropped without answering, or when the socket fails.
async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    metrics: Arc<Metrics>,
) {
    while let Some((slot, permit)) = queue.recv().await {
        match slot.await {
            Ok(Some(response)) => {
                let len = response.len() as u64;
                if let Err(e) = response.write_to(&mut socket).await {
                    debug!(error = %e, "write failed");
                    break;
                }
                metrics.bytes_sent.fetch_add(len, Ordering::Relaxed);
            }
            Ok(None) => {} // acks=0: no response
            Err(_) => break,
        }
        drop(permit);
    }
    let _ = socket.shutdown().await;
}

fn max_inflight_of(broker: &Broker) -> usize {
    broker.config.max_inflight_requests_per_connection.max(1)
}
