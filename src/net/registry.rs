//! The live connections and the admission counts behind the connection limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use crate::metrics::Refusal;

/// Asks a connection to stop reading; responses already queued are still written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

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

impl ConnectionRegistry {
    /// Admits a socket from `ip` under the limits `(max.connections, max.connections.per.ip)`,
    /// or says which limit refuses it.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        (max_total, max_per_ip): (usize, usize),
    ) -> Result<Admission, Refusal> {
        let Ok(mut admitted) = self.admitted.lock() else {
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
            connections: self.clone(),
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

    pub(crate) fn close_all(&self) {
        if let Ok(live) = self.live.lock() {
            for addr in live.values() {
                addr.do_send(Close);
            }
        }
    }
}
