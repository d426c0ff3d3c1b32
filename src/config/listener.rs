//! Kafka listener specs: `NAME://HOST:PORT`.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// One entry of `listeners` / `advertised.listeners`, e.g. `PLAINTEXT://localhost:9092`.
///
/// Parsing follows Kafka: `NAME://HOST:PORT`, where an empty host (`PLAINTEXT://:9092`) means
/// "bind every interface" and an IPv6 literal is written in brackets (`PLAINTEXT://[::1]:9092`).
/// Listener names are case-insensitive and stored upper-case, as Kafka normalises them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    /// The listener name, e.g. `PLAINTEXT`, `CONTROLLER`, `INTERNAL` (upper-case).
    pub name: String,
    /// Host name or IP literal (IPv6 without brackets); `None` = all interfaces.
    pub host: Option<String>,
    /// TCP port; 0 asks the OS for a free port.
    pub port: u16,
}

impl Listener {
    /// A listener from its parts; the name is upper-cased.
    pub fn new(name: &str, host: Option<&str>, port: u16) -> Listener {
        Listener {
            name: name.to_ascii_uppercase(),
            host: host.map(str::to_owned),
            port,
        }
    }

    /// True when the listener binds every interface (no host, `0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        match &self.host {
            None => true,
            Some(h) => h
                .parse::<IpAddr>()
                .map(|ip| ip.is_unspecified())
                .unwrap_or(false),
        }
    }

    /// The address to bind. No host binds `0.0.0.0` (every IPv4 interface); an IP literal is
    /// used as is; a host name is resolved (blocking) and its first address is used.
    pub fn socket_addr(&self) -> io::Result<SocketAddr> {
        let host = match &self.host {
            None => {
                return Ok(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    self.port,
                ))
            }
            Some(h) => h,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        (host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("listener {self}: host {host:?} resolves to no address"),
                )
            })
    }

    /// `host:port` as a string (IPv6 in brackets; no host gives `0.0.0.0`).
    pub fn host_port(&self) -> String {
        match &self.host {
            None => format!("0.0.0.0:{}", self.port),
            Some(h) if h.contains(':') => format!("[{h}]:{}", self.port),
            Some(h) => format!("{h}:{}", self.port),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => write!(f, "{}://:{}", self.name, self.port),
            Some(h) if h.contains(':') => write!(f, "{}://[{h}]:{}", self.name, self.port),
            Some(h) => write!(f, "{}://{h}:{}", self.name, self.port),
        }
    }
}

impl FromStr for Listener {
    type Err = String;

    /// Parses `NAME://HOST:PORT`; the error is a short reason (no key or location).
    fn from_str(s: &str) -> Result<Listener, String> {
        const SHAPE: &str = "expected NAME://HOST:PORT, e.g. PLAINTEXT://localhost:9092";
        let s = s.trim();
        let (name, rest) = s.split_once("://").ok_or_else(|| SHAPE.to_owned())?;
        if name.is_empty() {
            return Err(format!("missing listener name: {SHAPE}"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "listener name {name:?} may contain only letters, digits, '_' and '-'"
            ));
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("unclosed '[' in IPv6 address: {SHAPE}"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("missing :PORT after ']': {SHAPE}"))?;
            let addr = host.split('%').next().unwrap_or_default();
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{host:?} is not an IPv6 address"));
            }
            (Some(host), port)
        } else {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("missing :PORT: {SHAPE}"))?;
            if host.contains(':') {
                return Err(format!(
                    "IPv6 addresses must be written in brackets, e.g. {name}://[::1]:9092"
                ));
            }
            if !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(format!("{host:?} is not a valid host name"));
            }
            ((!host.is_empty()).then_some(host), port)
        };
        if port.is_empty() {
            return Err(format!("missing port: {SHAPE}"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("port {port:?} is not a number between 0 and 65535"))?;
        Ok(Listener::new(name, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Listener {
        match s.parse() {
            Ok(l) => l,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_kafka_shapes() {
        assert_eq!(
            parse("PLAINTEXT://:9092"),
            Listener::new("PLAINTEXT", None, 9092)
        );
        assert_eq!(
            parse(" plaintext://localhost:9092 "),
            Listener::new("PLAINTEXT", Some("localhost"), 9092)
        );
        assert_eq!(
            parse("PLAINTEXT://[::1]:9092"),
            Listener::new("PLAINTEXT", Some("::1"), 9092)
        );
        assert_eq!(
            parse("INTERNAL://10.0.0.1:0"),
            Listener::new("INTERNAL", Some("10.0.0.1"), 0)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "garbage",
            "://:9092",
            "PLAINTEXT://localhost",
            "PLAINTEXT://localhost:",
            "PLAINTEXT://localhost:99999",
            "PLAINTEXT://localhost:-1",
            "PLAINTEXT://::1:9092",
            "PLAINTEXT://[::1:9092",
            "PLAINTEXT://[nope]:9092",
            "PLAIN TEXT://:9092",
            "PLAINTEXT://local host:9092",
        ] {
            assert!(bad.parse::<Listener>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "PLAINTEXT://:9092",
            "PLAINTEXT://localhost:9092",
            "PLAINTEXT://[::1]:9092",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn socket_addrs() {
        let all = parse("PLAINTEXT://:9092");
        assert!(all.is_wildcard());
        assert_eq!(all.socket_addr().ok(), "0.0.0.0:9092".parse().ok());
        let v6 = parse("PLAINTEXT://[::1]:9093");
        assert_eq!(v6.socket_addr().ok(), "[::1]:9093".parse().ok());
        assert_eq!(v6.host_port(), "[::1]:9093");
        assert!(!v6.is_wildcard());
        assert!(parse("PLAINTEXT://0.0.0.0:1").is_wildcard());
    }
}
