//! Shared integration-test harness: a real `sluice` process on a free loopback port with a temp
//! data directory, and a minimal Kafka wire client built on the generated codec.
#![allow(dead_code)]

pub mod clients;
pub mod fixtures;
pub mod groups;
pub mod kafka_bytes;
pub mod process;
pub mod requests;
pub mod topics;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use sluice::protocol::api_table::{response_header_version, ApiKey};
use sluice::protocol::messages::response_header::ResponseHeader;
use sluice::protocol::wire::{DecodeError, EncodeBuf};

/// How long a broker gets to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A broker process. Killed when dropped.
pub struct TestBroker {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Keeps the temp dir alive when the harness created it.
    _temp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The admin HTTP listener, when the broker logged `admin listening on <addr>`.
    admin: std::sync::Arc<std::sync::Mutex<Option<SocketAddr>>>,
}

impl TestBroker {
    /// A broker on a fresh temp data directory.
    pub fn start() -> TestBroker {
        Self::start_with(&[])
    }

    /// A broker on a fresh temp data directory with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> TestBroker {
        Self::start_with_env(args, &[])
    }

    /// As `start_with`, with extra environment variables (e.g. `RUST_LOG`, which otherwise
    /// comes from `SLUICE_TEST_LOG` or is `info`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestBroker {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut b = Self::spawn_env(&dir, args, 0, &env);
        b._temp = Some(temp);
        b
    }

    /// A broker with the admin HTTP endpoint on a free loopback port (see `admin_addr`).
    pub fn start_with_admin(args: &[&str]) -> TestBroker {
        let mut all = vec!["--set", "admin.listener=127.0.0.1:0"];
        all.extend_from_slice(args);
        let b = Self::start_with(&all);
        b.admin_addr();
        b
    }

    /// A broker on `data_dir`, somewhere inside `temp`; the temp dir lives as long as the broker.
    pub fn start_owning(temp: tempfile::TempDir, data_dir: &Path, args: &[&str]) -> TestBroker {
        let mut b = Self::spawn(data_dir, args, 0);
        b._temp = Some(temp);
        b
    }

    /// A broker on an existing data directory (not deleted afterwards).
    pub fn start_in(dir: &Path, args: &[&str]) -> TestBroker {
        Self::spawn(dir, args, 0)
    }

    fn spawn(dir: &Path, args: &[&str], port: u16) -> TestBroker {
        Self::spawn_env(dir, args, port, &[])
    }

    fn spawn_env(dir: &Path, args: &[&str], port: u16, env: &[(String, String)]) -> TestBroker {
        let listen = format!("127.0.0.1:{port}");
        // SLUICE_BIN runs another build (benches compare an old binary with the new one).
        let bin = std::env::var_os("SLUICE_BIN")
            .unwrap_or_else(|| std::ffi::OsString::from(env!("CARGO_BIN_EXE_sluice")));
        let mut cmd = Command::new(bin);
        cmd.arg("--listen")
            .arg(&listen)
            .arg("--log-dirs")
            .arg(dir)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("SLUICE_TEST_LOG").unwrap_or("info".into()),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let admin = std::sync::Arc::new(std::sync::Mutex::new(None));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        let admin_sink = admin.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var("SLUICE_TEST_ECHO").is_ok() {
                    eprintln!("[sluice] {line}");
                }
                // Recorded before the start is announced, so that `log_lines()` right after
                // `start` holds every line up to and including the listening line.
                let listening = if let Some(addr) = address_after(&line, "admin listening on ") {
                    if let (Ok(addr), Ok(mut slot)) = (addr.parse(), admin_sink.lock()) {
                        *slot = Some(addr);
                    }
                    None
                } else {
                    address_after(&line, "listening on ")
                };
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
                if let Some(addr) = listening {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(a) => a.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("sluice did not start within {START_TIMEOUT:?}:\n{lines}");
            }
        };
        TestBroker {
            child: Some(child),
            addr,
            data_dir: dir.to_path_buf(),
            _temp: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            extra_env: env.to_vec(),
            log,
            admin,
        }
    }

    /// The admin HTTP listener's address (waits, bounded, for its log line).
    pub fn admin_addr(&self) -> SocketAddr {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addr) = self.admin.lock().ok().and_then(|a| *a) {
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "no `admin listening on` line:\n{}",
                self.log_lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A blocking HTTP/1.1 request to the admin endpoint: (status, body).
    pub fn admin_request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http_request(self.admin_addr(), method, path, body)
    }

    /// Waits (bounded) until `/metrics` shows `series` at `value`; panics with the last scrape
    /// otherwise. For gauges that settle just after the client has its answer (a request's
    /// in-flight place is released once its response is written).
    pub fn wait_metric(&self, series: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.admin_get("/metrics");
            if metric(&text, series) == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} never reached {value}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `GET path` on the admin endpoint, expecting 200; returns the body.
    pub fn admin_get(&self, path: &str) -> String {
        let (status, body) = self.admin_request("GET", path, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Every line the broker wrote to stderr so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (bounded) until a log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log_lines().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGTERM, then wait for exit (bounded). Returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (an unclean stop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (SIGTERM) and starts again on the same data directory and port.
    pub fn restart(&mut self) {
        self.terminate();
        self.start_again();
    }

    /// Starts the process again after `kill`/`terminate`, on the same directory and port.
    pub fn start_again(&mut self) {
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let temp = self._temp.take();
        let env = self.extra_env.clone();
        let mut fresh = Self::spawn_env(&self.data_dir.clone(), &args, self.addr.port(), &env);
        self.child = fresh.child.take();
        self.log = fresh.log.clone();
        self.admin = fresh.admin.clone();
        self._temp = temp;
    }

    pub fn connect(&self) -> WireClient {
        WireClient::connect(self.addr)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking Kafka wire client on the generated codec: encodes typed requests, decodes
/// typed responses.
pub struct WireClient {
    pub stream: TcpStream,
    next_correlation: i32,
    pub client_id: Option<String>,
}

impl WireClient {
    pub fn connect(addr: SocketAddr) -> WireClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        WireClient {
            stream,
            next_correlation: 1,
            client_id: Some("sluice-test".into()),
        }
    }

    /// Encodes a request frame (size, header, body).
    pub fn frame(
        &self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        body: impl FnOnce(&mut EncodeBuf),
    ) -> Vec<u8> {
        sluice::protocol::request_frame(
            key,
            version,
            correlation_id,
            self.client_id.as_deref(),
            body,
        )
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one response frame's payload (after the size prefix).
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        let mut payload = vec![0u8; usize::try_from(size).unwrap_or(0)];
        self.stream.read_exact(&mut payload)?;
        Ok(Bytes::from(payload))
    }

    /// Receives one response the way the CodeCrafters tester does (STAGES.md §1): one blocking
    /// read of up to 4 bytes, then everything that arrives before an absolute deadline 100 ms
    /// later (or EOF / reset). Returns every byte received, size prefix included, so that the
    /// caller can check the size field against what actually arrived.
    pub fn receive_like_tester(&mut self) -> Vec<u8> {
        let mut first = [0u8; 4];
        let n = self.stream.read(&mut first).expect("first read");
        let mut got = first[..n].to_vec();
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(30)));
        got
    }

    /// Sends a typed request and returns (correlation id, body bytes after the response header).
    pub fn call(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut EncodeBuf),
    ) -> (i32, Bytes) {
        let cid = self.next_correlation;
        self.next_correlation += 1;
        let frame = self.frame(key, version, cid, body);
        self.send_raw(&frame);
        let mut payload = self.read_frame().expect("response");
        let header = ResponseHeader::decode(&mut payload, response_header_version(key, version))
            .expect("response header");
        assert_eq!(header.correlation_id, cid, "correlation id echoed");
        (cid, payload)
    }

    /// As `call`, then decodes the body with `decode` and checks nothing is left over.
    pub fn request<T>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut EncodeBuf),
        decode: impl FnOnce(&mut Bytes, i16) -> Result<T, DecodeError>,
    ) -> T {
        let (_, mut payload) = self.call(key, version, body);
        let value = decode(&mut payload, version).expect("decode response");
        assert_eq!(payload.remaining(), 0, "undecoded bytes in response");
        value
    }

    /// Wraps an already connected socket (e.g. one bound to a chosen source address).
    pub fn from_stream(stream: TcpStream) -> WireClient {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        WireClient {
            stream,
            next_correlation: 1,
            client_id: Some("sluice-test".into()),
        }
    }

    /// Metadata v9 for `topics`, auto-creating them; panics unless every topic comes back
    /// without error.
    pub fn ensure_topics(&mut self, topics: &[&str]) {
        use sluice::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
        use sluice::protocol::messages::metadata_response::MetadataResponse;
        let req = MetadataRequest {
            topics: Some(
                topics
                    .iter()
                    .map(|t| MetadataRequestTopic {
                        name: Some(t.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        let resp = self.request(
            ApiKey::Metadata,
            9,
            |b| req.encode(b, 9),
            MetadataResponse::decode,
        );
        for t in &resp.topics {
            assert_eq!(t.error_code, 0, "topic {:?}", t.name);
        }
    }

    /// Produce v9 (acks=-1) of one batch holding `values` to `topic`/`partition`.
    /// Returns (error code, base offset).
    pub fn produce(&mut self, topic: &str, partition: i32, values: &[&[u8]]) -> (i16, i64) {
        let (version, frame) = self.produce_frame(topic, partition, values);
        let cid = self.next_correlation;
        self.next_correlation += 1;
        let frame = self.frame(ApiKey::Produce, version, cid, |b| frame.encode(b, version));
        self.send_raw(&frame);
        let mut payload = self.read_frame().expect("produce response");
        let header = ResponseHeader::decode(
            &mut payload,
            response_header_version(ApiKey::Produce, version),
        )
        .expect("response header");
        assert_eq!(header.correlation_id, cid);
        let resp = sluice::protocol::messages::produce_response::ProduceResponse::decode(
            &mut payload,
            version,
        )
        .expect("produce response body");
        let p = &resp.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    /// The Produce request (version, body) that [`WireClient::produce`] sends: acks=-1, one
    /// batch of `values` stamped now.
    pub fn produce_frame(
        &self,
        topic: &str,
        partition: i32,
        values: &[&[u8]],
    ) -> (
        i16,
        sluice::protocol::messages::produce_request::ProduceRequest,
    ) {
        use sluice::protocol::messages::produce_request::{
            PartitionProduceData, ProduceRequest, TopicProduceData,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut batch = sluice::record::BatchBuilder::new(0, now);
        for v in values {
            batch.push(None, Some(v), &[]);
        }
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                topic_id: Default::default(),
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch.build()),
                }],
            }],
            ..Default::default()
        };
        (9, req)
    }

    /// True when the server closes the connection (EOF or reset) within `timeout`; false when
    /// the connection is still open (the read times out) or data arrives.
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut b = [0u8; 1];
        let closed = match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(30)));
        closed
    }
}

/// The address that follows `marker` in a log line (text or JSON format).
fn address_after(line: &str, marker: &str) -> Option<String> {
    let pos = line.find(marker)?;
    let rest = &line[pos + marker.len()..];
    let addr = rest
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '}')
        .next()
        .unwrap_or("");
    Some(addr.to_string())
}

/// A minimal blocking HTTP/1.1 client (one request per connection, `Connection: close`).
pub fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to admin");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    // hyper sends small bodies with Content-Length; chunked bodies are not expected here.
    (status, body.to_string())
}

/// The value of a metric series in Prometheus text, e.g. `sluice_connections` or
/// `sluice_requests_total{api="Produce",version="9"}`; `None` if absent.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Hex string to bytes (test vectors from STAGES.md).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
