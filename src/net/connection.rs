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
//! Affinity (`connection.affinity`): a connection starts on the next arbiter in turn, but most
//! clients send each connection's Produce or Fetch requests to the same few partitions. When
//! [`AFFINITY_STREAK`] of them in a row go to partitions that all live on one other arbiter, the
//! connection stops reading, lets its answers drain, and moves there (socket, decoder and bytes
//! read ahead): its requests then reach their partition actors without waking another thread.
//! A connection moves at most once.
//!
//! Everything the actor does, and every request future it spawns, runs inside its
//! `connection{id, peer, client_id}` span (client_id is recorded from the first request that has
//! one), so one client's traffic can be followed with a span filter.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{Decoder, FramedRead};
use tracing::{debug, warn, Instrument, Span};

use crate::actor::ActorSpan;
use crate::actor::{ActorStats, Identity};
use crate::metrics::Metrics;
use crate::net::frame::{FrameDecoder, FrameError};
use crate::net::registry::{Admission, Close};
use crate::net::response::Response;
use crate::net::service::{Home, NetContext, Peer, Service, Unservable};

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

pub struct ConnectionActor<S: Service> {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    net: NetContext,
    service: Arc<S>,
    span: ActorSpan,
    client_id: Option<String>,
    stats: Arc<ActorStats>,
    /// Frees this socket's place under the connection limits when the connection closes (it
    /// goes along when the connection moves).
    admission: Option<Admission>,
    /// Ordered response slots; dropping it lets the writer drain and close the socket.
    queue: Option<mpsc::UnboundedSender<Pending>>,
    inflight: Arc<Semaphore>,
    client_id_recorded: bool,
    max_inflight: usize,
    last_activity: Instant,
    idle_limit: Duration,
    /// The arbiter (index in [`NetContext::arbiters`]) this actor runs on.
    arbiter: usize,
    /// The socket's read half, shared with the actor's stream so that a move can take it back.
    reader: Rc<RefCell<Option<Reader>>>,
    /// Where the writer hands the write half over instead of closing it, when the connection
    /// moves.
    handoff: Handoff,
    /// Consecutive Produce/Fetch requests whose partitions all live on `affinity.0`.
    affinity: (usize, u32),
    /// Moved here, or moving: it does not move (again).
    moved: bool,
    /// The socket went to this connection's actor on another arbiter.
    moved_away: bool,
}

type Reader = FramedRead<OwnedReadHalf, FrameDecoder>;

type Handoff = Rc<RefCell<Option<oneshot::Sender<OwnedWriteHalf>>>>;

/// The read buffer a new connection starts with: room for the small requests a client opens
/// with (ApiVersions, Metadata) in one read; a larger frame gets room for all of it once its
/// size is read (see [`FrameDecoder`]).
const FIRST_READ_BUFFER: usize = 1024;

/// Produce/Fetch requests in a row that must go to one other arbiter's partitions before a
/// connection moves there.
pub const AFFINITY_STREAK: u32 = 16;

/// What a connection takes along when it moves to another arbiter.
struct Carried<S: Service> {
    id: u64,
    net: NetContext,
    service: Arc<S>,
    admission: Admission,
    stats: Arc<ActorStats>,
    client_id: Option<String>,
    decoder: FrameDecoder,
    /// Bytes read from the socket and not yet taken as frames.
    read_ahead: BytesMut,
    arbiter: usize,
    last_activity: Instant,
    moved: bool,
}

/// The actor's stream of frames: those decoded from bytes carried over by a move first, then
/// the socket's, through a reader the actor can take back to move the connection (after which
/// the stream waits forever: the actor stops).
struct Frames {
    ahead: VecDeque<Result<Bytes, FrameError>>,
    reader: Rc<RefCell<Option<Reader>>>,
}

impl Stream for Frames {
    type Item = Result<Bytes, FrameError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(frame) = this.ahead.pop_front() {
            return Poll::Ready(Some(frame));
        }
        match this.reader.borrow_mut().as_mut() {
            Some(reader) => Pin::new(reader).poll_next(cx),
            None => Poll::Pending,
        }
    }
}

impl<S: Service> ConnectionActor<S> {
    /// Starts the actor for an accepted socket on the current arbiter (number `arbiter`).
    pub fn start_for(
        stream: tokio::net::TcpStream,
        id: u64,
        net: NetContext,
        service: Arc<S>,
        admission: Admission,
        arbiter: usize,
    ) {
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let stats = net.actors.register(
            Identity::Connection {
                id,
                peer,
                client_id: OnceLock::new(),
            },
            net.settings.max_inflight,
        );
        let max_frame = net.settings.max_frame;
        ConnectionActor::run(
            stream,
            Carried {
                id,
                net,
                service,
                admission,
                stats,
                client_id: None,
                decoder: FrameDecoder::new(max_frame),
                read_ahead: BytesMut::with_capacity(FIRST_READ_BUFFER),
                arbiter,
                last_activity: Instant::now(),
                moved: false,
            },
        );
    }

    /// Runs the connection on the current arbiter: a new one, or one that moved here.
    fn run(stream: tokio::net::TcpStream, carried: Carried<S>) {
        let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
            return;
        };
        let Carried {
            id,
            net,
            service,
            admission,
            stats,
            client_id,
            mut decoder,
            mut read_ahead,
            arbiter,
            last_activity,
            moved,
        } = carried;
        let span = connection_span(id, peer, client_id.as_deref());
        // Whole frames among the bytes carried over are taken now: the reader would wait for
        // the socket before looking at its buffer, and the client may be waiting for answers.
        let mut ahead = VecDeque::new();
        loop {
            match decoder.decode(&mut read_ahead) {
                Ok(Some(frame)) => ahead.push_back(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    ahead.push_back(Err(e));
                    break;
                }
            }
        }
        let (read, write) = stream.into_split();
        // Capacity 0: the buffer is replaced at once by the carried one (no allocation wasted).
        let mut reader = FramedRead::with_capacity(read, decoder, 0);
        *reader.read_buffer_mut() = read_ahead;
        let reader = Rc::new(RefCell::new(Some(reader)));
        let handoff: Handoff = Rc::new(RefCell::new(None));
        let (tx, rx) = mpsc::unbounded_channel();
        let max_inflight = net.settings.max_inflight;
        let idle = Duration::from_millis(net.settings.idle_ms);
        net.tasks.spawn_local(
            write_loop(write, rx, net.metrics.clone(), handoff.clone()).instrument(span.clone()),
        );
        ConnectionActor::create(move |ctx| {
            ctx.add_stream(Frames {
                ahead,
                reader: reader.clone(),
            });
            if !idle.is_zero() {
                ctx.run_interval(
                    (idle / 4).max(Duration::from_millis(50)),
                    |act: &mut ConnectionActor<S>, ctx| act.check_idle(ctx),
                );
            }
            ConnectionActor {
                id,
                peer,
                local,
                net,
                service,
                span: ActorSpan::new(span),
                client_id_recorded: client_id.is_some(),
                client_id,
                stats,
                admission: Some(admission),
                queue: Some(tx),
                inflight: Arc::new(Semaphore::new(max_inflight)),
                max_inflight,
                last_activity,
                idle_limit: idle,
                arbiter,
                reader,
                handoff,
                affinity: (arbiter, 0),
                moved,
                moved_away: false,
            }
        });
    }

    /// Whether this connection may still move (affinity on, more than one arbiter, not moved).
    fn may_move(&self) -> bool {
        !self.moved && self.net.settings.affinity && self.net.arbiters.len() > 1
    }

    /// Counts a request towards moving to its partitions' arbiter; the arbiter to move to when
    /// the streak is complete.
    fn note_affinity(&mut self, home: Home) -> Option<usize> {
        match home {
            Home::Anywhere => None,
            Home::On(h) if h != self.arbiter => {
                self.affinity = if self.affinity.0 == h {
                    (h, self.affinity.1.saturating_add(1))
                } else {
                    (h, 1)
                };
                (self.affinity.1 >= AFFINITY_STREAK).then_some(h)
            }
            Home::On(_) | Home::Scattered => {
                self.affinity.1 = 0;
                None
            }
        }
    }

    /// Stops reading, lets the writer answer everything read so far, then moves the connection
    /// to arbiter `to` (see [`ConnectionActor::finish_move`]).
    fn begin_move(&mut self, to: usize, ctx: &mut Context<Self>) {
        let Some(reader) = self.reader.borrow_mut().take() else {
            return;
        };
        self.moved = true;
        let (tx, rx) = oneshot::channel();
        *self.handoff.borrow_mut() = Some(tx);
        self.queue = None;
        ctx.spawn(rx.into_actor(self).map(move |write, act, ctx| match write {
            Ok(write) => act.finish_move(reader, write, to, ctx),
            Err(_) => ctx.stop(),
        }));
    }

    /// Reunites the socket's halves and starts this connection's actor on arbiter `to` with
    /// the socket, the decoder and the bytes read ahead; this actor then stops.
    fn finish_move(
        &mut self,
        reader: Reader,
        write: OwnedWriteHalf,
        to: usize,
        ctx: &mut Context<Self>,
    ) {
        let _enter = self.span().entered();
        let parts = reader.into_parts();
        let stream = match parts.io.reunite(write) {
            Ok(stream) => stream.into_std(),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let (std_stream, admission, arbiter) =
            match (stream, self.admission.take(), self.net.arbiters.get(to)) {
                (Ok(s), Some(a), Some(arbiter)) => (s, a, arbiter.clone()),
                (Err(e), _, _) => {
                    warn!(error = %e, "could not move the connection; closing it");
                    ctx.stop();
                    return;
                }
                _ => {
                    ctx.stop();
                    return;
                }
            };
        let carried = Carried {
            id: self.id,
            net: self.net.clone(),
            service: self.service.clone(),
            admission,
            stats: self.stats.clone(),
            client_id: self.client_id.clone(),
            decoder: parts.codec,
            read_ahead: parts.read_buf,
            arbiter: to,
            last_activity: self.last_activity,
            moved: true,
        };
        debug!(
            from = self.arbiter,
            to, "moving the connection to the arbiter of its partitions"
        );
        self.net
            .metrics
            .connections_moved
            .fetch_add(1, Ordering::Relaxed);
        self.moved_away =
            arbiter.spawn_fn(move || match tokio::net::TcpStream::from_std(std_stream) {
                Ok(stream) => ConnectionActor::run(stream, carried),
                Err(e) => warn!(error = %e, "could not adopt a moving connection's socket"),
            });
        ctx.stop();
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
        let request = match self.service.parse(frame) {
            Ok(request) => request,
            Err(e) => {
                let _enter = span.enter();
                warn!(peer = %self.peer, api_key = e.api_key(), api_version = e.api_version(),
                      reason = %e, "closing connection: undecodable request");
                ctx.stop();
                return;
            }
        };
        let info = S::info(&request);
        // Recorded before the span is entered: a filter decides whether a span matches its
        // directives when the span is entered, so `connection{client_id=...}` directives then
        // apply from this first request on.
        if !self.client_id_recorded {
            if let Some(client_id) = info.client_id {
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
        let (api_key, version) = (info.api_key, info.version);
        debug!(
            api = api_key.name(),
            version,
            correlation_id = info.correlation_id,
            "request"
        );
        let inflight = InFlight::new(permit, &self.net.metrics, &self.stats);
        let Some(queue) = &self.queue else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if queue.send((rx, inflight)).is_err() {
            ctx.stop();
            return;
        }
        let peer = Peer {
            local_addr: self.local,
            peer: self.peer,
            connection_id: self.id,
        };
        // Where its partitions live, only while the connection may still move.
        let home = if self.may_move() {
            self.service.home(&request)
        } else {
            Home::Anywhere
        };
        let fut = self.service.handle(peer, request);
        let metrics = self.net.metrics.clone();
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
        if let Some(to) = self.note_affinity(home) {
            self.begin_move(to, ctx);
        }
    }
}

impl<S: Service> Actor for ConnectionActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _enter = self.span().entered();
        debug!(local = %self.local, "connection opened");
        self.net
            .connections
            .register(self.id, ctx.address().recipient());
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _enter = self.span().entered();
        self.queue = None;
        if !self.moved_away {
            self.net.connections.deregister(self.id);
            debug!("connection closed");
        }
    }
}

impl<S: Service> StreamHandler<Result<Bytes, FrameError>> for ConnectionActor<S> {
    fn handle(&mut self, item: Result<Bytes, FrameError>, ctx: &mut Self::Context) {
        let frame = match item {
            Ok(frame) => {
                self.last_activity = Instant::now();
                self.net
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

impl<S: Service> Handler<Close> for ConnectionActor<S> {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Writes responses in request order. Ends when the actor drops the queue (after draining it),
/// when a handler is dropped without answering, or when the socket fails. When the queue ends
/// because the connection moves, the write half goes to the actor instead of being closed.
async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    metrics: Arc<Metrics>,
    handoff: Handoff,
) {
    let mut drained = true;
    while let Some((slot, permit)) = queue.recv().await {
        match slot.await {
            Ok(Some(response)) => {
                let len = response.len() as u64;
                if let Err(e) = response.write_to(&mut socket).await {
                    debug!(error = %e, "write failed");
                    drained = false;
                    break;
                }
                metrics.bytes_sent.fetch_add(len, Ordering::Relaxed);
            }
            Ok(None) => {} // acks=0: no response
            Err(_) => {
                drained = false;
                break;
            }
        }
        drop(permit);
    }
    let mover = handoff.borrow_mut().take();
    if let (true, Some(mover)) = (drained, mover) {
        let _ = mover.send(socket);
        return;
    }
    let _ = socket.shutdown().await;
}
