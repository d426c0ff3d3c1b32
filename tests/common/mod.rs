//! Shared integration-test harness: a real `sluice` process on a free loopback port with a temp
//! data directory, and a minimal Kafka wire client built on the generated codec.
#![allow(dead_code)]

pub mod process;
pub mod topics;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use sluice::protocol::api_table::{request_header_version, response_header_version, ApiKey};
use sluice::protocol::messages::request_header::RequestHeader;
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
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestBroker {
    /// A broker on a fresh temp data directory.
    pub fn start() -> TestBroker {
        Self::start_with(&[])
    }

    /// A broker on a fresh temp data directory with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> TestBroker {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let mut b = Self::spawn(&dir, args, 0);
        b._temp = Some(temp);
        b
    }

    /// A broker on an existing data directory (not deleted afterwards).
    pub fn start_in(dir: &Path, args: &[&str]) -> TestBroker {
        Self::spawn(dir, args, 0)
    }

    fn spawn(dir: &Path, args: &[&str], port: u16) -> TestBroker {
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.arg("--listen")
            .arg(&listen)
            .arg("--log-dirs")
            .arg(dir)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("SLUICE_TEST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(pos) = line.find("listening on ") {
                    let rest = &line[pos + "listening on ".len()..];
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                if std::env::var("SLUICE_TEST_ECHO").is_ok() {
                    eprintln!("[sluice] {line}");
                }
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
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
            log,
        }
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
        let mut fresh = Self::spawn(&self.data_dir.clone(), &args, self.addr.port());
        self.child = fresh.child.take();
        self.log = fresh.log.clone();
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
        let mut buf = EncodeBuf::new();
        RequestHeader {
            request_api_key: key as i16,
            request_api_version: version,
            correlation_id,
            client_id: self.client_id.clone(),
        }
        .encode(&mut buf, request_header_version(key, version));
        body(&mut buf);
        buf.into_frame_chunks()
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect()
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

/// Hex string to bytes (test vectors from STAGES.md).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
