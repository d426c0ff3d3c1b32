//! The listener: accepts sockets and spreads their connection actors over the arbiters, and the
//! designed shutdown (stop accepting, let connections finish what they started, close the logs).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::metrics::Refusal;
use crate::net::connection::ConnectionActor;
pub use crate::net::registry::ConnectionRegistry;
use crate::net::service::{NetContext, Service};

/// The socket options of the client listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Accept queue length (`socket.listen.backlog.size`).
    pub backlog: u32,
    /// SO_SNDBUF / SO_RCVBUF of every accepted connection (`socket.send.buffer.bytes`,
    /// `socket.receive.buffer.bytes`); -1 leaves the OS default.
    pub send_buffer_bytes: i32,
    pub receive_buffer_bytes: i32,
}

/// Binds the broker's listener with an accept queue of `backlog` connections (the kernel caps
/// it at `net.core.somaxconn`). When many clients connect at once and the queue overflows,
/// Linux answers with SYN cookies, and a client whose cookie it then refuses gets a reset on
/// its first request: 1,100 clients connecting together overflowed tokio's default of 1,024.
/// The buffer sizes are set on the listening socket, which every accepted connection inherits
/// (the receive buffer must be set before the handshake to size the TCP window).
pub async fn bind(addr: SocketAddr, options: ListenOptions) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if let Ok(bytes) = u32::try_from(options.send_buffer_bytes) {
        socket.set_send_buffer_size(bytes)?;
    }
    if let Ok(bytes) = u32::try_from(options.receive_buffer_bytes) {
        socket.set_recv_buffer_size(bytes)?;
    }
    socket.bind(addr)?;
    socket.listen(options.backlog)
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
                    let limits = (net.settings.max_connections, net.settings.max_connections_per_ip);
                    let admission = match net.connections.admit(peer.ip(), limits) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What an accepted connection's SO_SNDBUF / SO_RCVBUF read back as.
    async fn accepted_buffers(options: ListenOptions) -> (u32, u32) {
        let listener = bind("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let socket =
            tokio::net::TcpSocket::from_std_stream(accepted.into_std().expect("std stream"));
        drop(client);
        (
            socket.send_buffer_size().expect("sndbuf"),
            socket.recv_buffer_size().expect("rcvbuf"),
        )
    }

    #[tokio::test]
    async fn accepted_connections_get_the_configured_buffers() {
        let (send, recv) = accepted_buffers(ListenOptions {
            backlog: 16,
            send_buffer_bytes: 30_000,
            receive_buffer_bytes: 40_000,
        })
        .await;
        // Linux keeps twice the size asked for (the rest is its bookkeeping), and reports it.
        assert_eq!((send, recv), (60_000, 80_000));
        let defaults = accepted_buffers(ListenOptions {
            backlog: 16,
            send_buffer_bytes: -1,
            receive_buffer_bytes: -1,
        })
        .await;
        assert_ne!(defaults, (60_000, 80_000), "-1 leaves the OS defaults");
    }
}
