//! The listener: accepts sockets and spreads their connection actors over the arbiters, and the
//! designed shutdown (stop accepting, let connections finish what they started, close the logs).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::metrics::Refusal;
use crate::net::connection::{Close, ConnectionActor};
use crate::net::service::{NetContext, Service};

/// Live connection actors, so shutdown (and inspection) can reach every one of them, and the
/// admission counts behind `max.connections` / `max.connections.per.ip`.
#[derive(Default)]
pub struct ConnectionRegistry {
    live: Mutex<HashMap<u64, Recipient<Close>>>,
    next_id: AtomicU64,
    admitted: Mutex<Admitted>,
}

/// Sockets accepted and not yet closed: counted at accept time, before any actor exists, so a
/// burst of connections cannot slip past the limits while actors start.
#[derive(Default)]
struct Admitted {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted socket; dropping it (when the connection actor goes away) frees its place.
pub struct Admission {
    connections: Arc<ConnectionRegistry>,
    ip: IpAddr,
}

impl Admission {
    /// Admits a socket from `ip`, or says which limit (`max.connections`,
    /// `max.connections.per.ip`) refuses it.
    pub fn try_new(net: &NetContext, ip: IpAddr) -> Result<Admission, Refusal> {
        let max_total = net.settings.max_connections;
        let max_per_ip = net.settings.max_connections_per_ip;
        let Ok(mut admitted) = net.connections.admitted.lock() else {
            return Err(Refusal::MaxConnections);
        };
        if admitted.total >= max_total {
            return Err(Refusal::MaxConnections);
        }
        let from_ip = admitted.per_ip.entry(ip).or_insert(0);
        if *from_ip >= max_per_ip {
            if *from_ip == 0 {
                admitted.per_ip.remove(&ip);
            }
            return Err(Refusal::MaxConnectionsPerIp);
        }
        *from_ip += 1;
        admitted.total += 1;
        Ok(Admission {
            connections: net.connections.clone(),
            ip,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Ok(mut admitted) = self.connections.admitted.lock() else {
            return;
        };
        admitted.total = admitted.total.saturating_sub(1);
        if let Some(n) = admitted.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                admitted.per_ip.remove(&self.ip);
            }
        }
    }
}

impl ConnectionRegistry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, id: u64, addr: Recipient<Close>) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(id, addr);
        }
    }

    pub fn deregister(&self, id: u64) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&id);
        }
    }

    pub fn count(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Sockets admitted and not yet closed (what the connection limits count).
    pub fn admitted(&self) -> usize {
        self.admitted.lock().map(|a| a.total).unwrap_or(0)
    }

    fn close_all(&self) {
        if let Ok(live) = self.live.lock() {
            for addr in live.values() {
                addr.do_send(Close);
            }
        }
    }
}

/// Binds the broker's listener with an accept queue of `backlog` connections (the kernel caps
/// it at `net.core.somaxconn`). When many clients connect at once and the queue overflows,
/// Linux answers with SYN cookies, and a client whose cookie it then refuses gets a reset on
/// its first request: 1,100 clients connecting together overflowed tokio's default of 1,024.
pub async fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts connections for `service` until `shutdown` resolves, then closes the listener, asks
/// every connection to stop reading and waits up to `grace` for their answers to be written.
/// The caller then closes what the connections used (the logs).
pub async fn serve<S: Service + Send + Sync>(
    listener: TcpListener,
    net: NetContext,
    service: Arc<S>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let arbiters = net.arbiters.clone();
    let mut next = 0usize;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let admission = match Admission::try_new(&net, peer.ip()) {
                        Ok(a) => a,
                        Err(why) => {
                            let limit = match why {
                                Refusal::MaxConnections => "max.connections",
                                Refusal::MaxConnectionsPerIp => "max.connections.per.ip",
                            };
                            warn!(%peer, limit, "refusing connection: limit reached");
                            net.metrics.refused(why);
                            drop(stream);
                            continue;
                        }
                    };
                    net.metrics.connections_accepted.fetch_add(1, Ordering::Relaxed);
                    let id = net.connections.next_id();
                    let Ok(std_stream) = stream.into_std() else { continue };
                    let (net, service) = (net.clone(), service.clone());
                    let index = next % arbiters.len();
                    let arbiter = &arbiters[index];
                    next = next.wrapping_add(1);
                    arbiter.spawn_fn(move || {
                        match tokio::net::TcpStream::from_std(std_stream) {
                            Ok(stream) => {
                                ConnectionActor::start_for(stream, id, net, service, admission, index)
                            }
                            Err(e) => warn!(error = %e, "could not adopt accepted socket"),
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    info!("shutting down: listener closed");
    net.connections.close_all();
    net.tasks.close();
    if tokio::time::timeout(grace, net.tasks.wait()).await.is_err() {
        warn!(
            remaining = net.connections.count(),
            "connections did not finish in time"
        );
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM received"),
                    _ = int.recv() => info!("SIGINT received"),
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
