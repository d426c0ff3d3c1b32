//! Property-style fuzzing that runs on the stable toolchain (cargo-fuzz needs nightly).
//!
//! Six targets, each driven by a seeded xorshift generator and a mutator (bit flips, interesting
//! integers over lengths and counts, inserted, deleted and duplicated ranges, truncation):
//!
//! * `frame_decoder` — random byte streams, split at random points, through
//!   [`FrameDecoder`]; the frames (or the error) must not depend on where the stream was split,
//!   and a partially received frame must not reserve its announced size.
//! * `request_decoders` — for every API in [`API_TABLE`] and every version in its decode range:
//!   `Request::parse` on random bodies, on every truncation and on mutations of valid encodings
//!   (the `Default` request and one with every array filled). A request that parses must survive
//!   an encode/parse round trip unchanged.
//! * `record_batches` — the 61-byte header view, `validate`, `validate_produced`,
//!   `decode_records` and `BatchIter` on mutated batches, with and without the CRC fixed up
//!   after the mutation (so that the record decoder sees damaged records, not just a bad CRC).
//! * `metadata_records` and `metadata_log` — `MetadataRecord::decode_value` on mutated record
//!   values, and `MetadataLog::load` of a mutated `__cluster_metadata-0` in a temp dir; a second
//!   load of what the first left behind must give the same image.
//! * `offsets_log` — a mutated `__consumer_offsets-0` segment through `group::store::recover`
//!   (segment recovery, then the offset-commit and group-metadata record parsers); a second
//!   recovery must replay to the same state.
//!
//! Every case must not panic, and its peak heap use (a counting global allocator) must stay
//! within `64 × input + 256 KiB`. A panic is caught and reported with the input bytes in hex, so
//! that it can become a regression test (see the `regression_*` tests at the end).
//!
//! Bounded by count and time. Environment:
//! `SLUICE_FUZZ_ITERS` (random cases per target; defaults 20000 for frames and requests, 100000
//! for batches and record values, 1000 for whole metadata logs, 2000 for offsets logs), `SLUICE_FUZZ_SECS` (time cap
//! per target, default 60) and `SLUICE_FUZZ_SEED` (default fixed, so CI runs are repeatable).
//! `scripts/fuzz.sh` runs them; e.g. `SLUICE_FUZZ_ITERS=10000000 SLUICE_FUZZ_SECS=600
//! SLUICE_FUZZ_SEED=$RANDOM scripts/fuzz.sh` for a longer hunt.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use peak_alloc::PeakAlloc;
use sluice::api::{Body, ParseFailure, Request};
use sluice::metadata::image::ClusterImage;
use sluice::metadata::kraft_log::{MetadataLog, METADATA_DIR};
use sluice::net::frame::{FrameDecoder, FrameError, WHOLE_FRAME_RESERVE};
use sluice::protocol::api_table::{self, ApiKey, API_TABLE};
use sluice::protocol::messages::metadata::register_broker_record::{BrokerEndpoint, BrokerFeature};
use sluice::protocol::messages::metadata::*;
use sluice::protocol::messages::request_header::RequestHeader;
use sluice::protocol::messages::*;
use sluice::protocol::wire::EncodeBuf;
use sluice::record::{self, BatchBuilder, BatchIter, BATCH_HEADER_LEN};
use tokio_util::codec::Decoder;
use uuid::Uuid;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// The targets take turns: the heap measurement is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

/// Heap a case may use beyond its input: `AMPLIFICATION × input + SLACK`.
const AMPLIFICATION: usize = 64;
const SLACK: usize = 256 * 1024;

// ---------------------------------------------------------------------------
// Generator, budget, case runner
// ---------------------------------------------------------------------------

struct Gen(u64);

impl Gen {
    fn new(target: &str) -> Gen {
        let seed = std::env::var("SLUICE_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0x5eed_f00d_cafe_0001);
        eprintln!("{target}: SLUICE_FUZZ_SEED={seed}");
        // Each target gets its own stream from the one seed.
        let mut g = Gen(seed.max(1) ^ fnv(target));
        g.0 = g.0.max(1);
        g
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Bytes skewed towards the values that steer a decoder: small counts and lengths, -1,
    /// varint continuation bits.
    fn steering_bytes(&mut self, len: usize) -> Vec<u8> {
        const PICKS: &[u8] = &[0, 0, 0, 0, 1, 1, 2, 3, 0x7f, 0x80, 0xff, 0xff, b'a'];
        (0..len)
            .map(|_| {
                if self.chance(3) {
                    self.next() as u8
                } else {
                    PICKS[self.below(PICKS.len())]
                }
            })
            .collect()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Integers that sit on the edges of lengths, counts and offsets.
const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    -2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    -0x8000_0000,
    0xffff_ffff,
    i64::MAX,
    i64::MIN,
];

/// Applies one to four random mutations to `data`.
fn mutate(g: &mut Gen, data: &mut Vec<u8>, splice_from: &[u8]) {
    for _ in 0..1 + g.below(4) {
        let len = data.len();
        match g.below(9) {
            0 if len > 0 => {
                let i = g.below(len);
                data[i] ^= 1 << g.below(8);
            }
            1 if len > 0 => {
                let i = g.below(len);
                data[i] = *g.pick(&[0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
            }
            2 if len > 0 => {
                // An interesting big-endian integer of 1, 2, 4 or 8 bytes.
                let width = *g.pick(&[1usize, 2, 4, 8]);
                let at = g.below(len);
                let value = *g.pick(INTERESTING);
                let be = value.to_be_bytes();
                for (k, b) in be[8 - width..].iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
            3 => {
                let at = g.below(len + 1);
                let n = 1 + g.below(16);
                let extra = g.bytes(n);
                data.splice(at..at, extra);
            }
            4 if len > 0 => {
                let at = g.below(len);
                let n = 1 + g.below((len - at).min(32));
                data.drain(at..at + n);
            }
            5 if len > 0 => {
                let at = g.below(len);
                let n = 1 + g.below((len - at).min(64));
                let copy = data[at..at + n].to_vec();
                let to = g.below(len + 1);
                data.splice(to..to, copy);
            }
            6 => data.truncate(g.below(len + 1)),
            7 if !splice_from.is_empty() => {
                let at = g.below(splice_from.len());
                let n = 1 + g.below((splice_from.len() - at).min(64));
                let to = g.below(len + 1);
                data.splice(to..to, splice_from[at..at + n].iter().copied());
            }
            _ if len > 0 => {
                // A varint-looking run: continuation bits that never end, or a huge value.
                let at = g.below(len);
                let run = *g.pick(&[
                    &[0xffu8, 0xff, 0xff, 0xff, 0x0f][..],
                    &[0x80; 6],
                    &[0xff; 10],
                ]);
                for (k, b) in run.iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
            _ => data.extend(g.bytes(4)),
        }
    }
}

/// How long and how much each target runs.
struct Budget {
    iters: u64,
    deadline: Instant,
    started: Instant,
}

impl Budget {
    fn new(default_iters: u64) -> Budget {
        let iters = env_u64("SLUICE_FUZZ_ITERS").unwrap_or(default_iters);
        let secs = env_u64("SLUICE_FUZZ_SECS").unwrap_or(60);
        let started = Instant::now();
        Budget {
            iters,
            deadline: started + Duration::from_secs(secs),
            started,
        }
    }

    /// Runs `case(i)` for `i` in `0..iters`, stopping early at the deadline. Returns the count.
    fn run(&self, target: &str, mut case: impl FnMut(u64)) -> u64 {
        let mut done = 0;
        while done < self.iters && Instant::now() < self.deadline {
            case(done);
            done += 1;
        }
        eprintln!(
            "{target}: {done} random cases in {:.1?}{}",
            self.started.elapsed(),
            if done < self.iters {
                " (time cap reached)"
            } else {
                ""
            }
        );
        done
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one case: fails the test with the input in hex if `f` panics or uses more heap than
/// the input allows. Returns what `f` returned.
fn case<T>(target: &str, what: &str, input: &[u8], f: impl FnOnce() -> T) -> T {
    case_with_allowance(target, what, input, 0, f)
}

/// As [`case`], with `allowance` more bytes of heap allowed than the input's share.
fn case_with_allowance<T>(
    target: &str,
    what: &str,
    input: &[u8],
    allowance: usize,
    f: impl FnOnce() -> T,
) -> T {
    let base = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let result = catch_unwind(AssertUnwindSafe(f));
    let used = ALLOC.peak_usage().saturating_sub(base);
    match result {
        Ok(value) => {
            if let Ok(mut peak) = PEAK_CASE.lock() {
                if used > peak.0 {
                    *peak = (used, input.len());
                }
            }
            let cap = AMPLIFICATION * input.len() + SLACK + allowance;
            assert!(
                used <= cap,
                "{target} ({what}): {used} bytes of heap for a {}-byte input (cap {cap}); input {}",
                input.len(),
                hex(input)
            );
            value
        }
        Err(_) => panic!(
            "{target} ({what}): panicked on a {}-byte input: {}",
            input.len(),
            hex(input)
        ),
    }
}

/// The largest heap use of one case in the running target, with that case's input size.
static PEAK_CASE: Mutex<(usize, usize)> = Mutex::new((0, 0));

/// Set in the environment of a target's own process to that target's test name.
const OWN_PROCESS_ENV: &str = "SLUICE_FUZZ_OWN_PROCESS";

/// The heap measurement is process-wide, and the integration tests share one binary: a target
/// runs in a process of its own, the test binary started again for just that test. Called
/// first by each target `test` (its function name): in the test binary's own run it takes the
/// target lock (so the targets still take turns), runs the child, passes its output on, fails
/// if the child failed, and returns `None` (the test returns). In the child it returns
/// [`serial`]'s guard and the target runs.
fn in_own_process(test: &str) -> Option<impl Drop> {
    // `it::fuzz` → `fuzz::<test>`, the name the test harness lists.
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let name = format!("{module}::{test}");
    if std::env::var(OWN_PROCESS_ENV).is_ok_and(|v| v == name) {
        return Some(serial());
    }
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS_ENV, &name)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the target in its own process");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{name} did not run in its own process"
    );
    None
}

/// Takes the target lock; the returned guard reports the target's peak heap use when dropped.
fn serial() -> impl Drop {
    struct Serial(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);
    impl Drop for Serial {
        fn drop(&mut self) {
            if let Ok(mut peak) = PEAK_CASE.lock() {
                eprintln!(
                    "peak heap of one case: {} bytes (input {} bytes)",
                    peak.0, peak.1
                );
                *peak = (0, 0);
            }
        }
    }
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut peak) = PEAK_CASE.lock() {
        *peak = (0, 0);
    }
    Serial(guard)
}

// ---------------------------------------------------------------------------
// (a) Frame decoder
// ---------------------------------------------------------------------------

const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Heap the decoder may hold for one partial frame of ordinary size beyond what arrived: its
/// whole buffer, reserved at once (twice, for the whole and the split feed of a stream).
const FRAME_ALLOWANCE: usize = 4 * WHOLE_FRAME_RESERVE;

#[derive(Debug, PartialEq)]
enum Framed {
    Frames(Vec<Bytes>),
    Failed(Vec<Bytes>, String),
}

/// Feeds `stream` to a fresh decoder in the given chunk sizes, draining frames after each
/// chunk as `FramedRead` does; checks the buffer never reserves an announced size.
fn feed(stream: &[u8], chunks: &[usize]) -> Framed {
    let mut d = FrameDecoder::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut at = 0;
    let mut sizes = chunks.iter().copied().chain(std::iter::repeat(4096));
    while at < stream.len() {
        let n = sizes.next().unwrap_or(4096).clamp(1, stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            match d.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    let kind = match e {
                        FrameError::TooLarge { .. } => "too large",
                        FrameError::Negative(_) => "negative",
                        FrameError::Empty => "empty",
                        FrameError::Io(_) => "io",
                    };
                    return Framed::Failed(frames, kind.to_string());
                }
            }
        }
        // A partial frame holds memory in step with what arrived, not with what it announced —
        // except that a frame of ordinary size (up to `WHOLE_FRAME_RESERVE`) is given its whole
        // buffer at once, by design (src/net/frame.rs): bounded by that constant, never by the
        // announced size of a large frame.
        let bound = (4 * buf.len().max(64 * 1024)).max(2 * (buf.len() + WHOLE_FRAME_RESERVE));
        assert!(
            buf.capacity() <= bound,
            "buffer of {} bytes reserved {} (bound {bound})",
            buf.len(),
            buf.capacity()
        );
    }
    Framed::Frames(frames)
}

/// A stream of well-formed frames, sometimes ending in a partial frame announcing a large
/// size, or in a bad prefix. Returns the stream and what a decoder must make of it.
fn frame_stream(g: &mut Gen) -> (Vec<u8>, Framed) {
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..g.below(6) {
        let limit = if g.chance(8) { 20_000 } else { 64 };
        let len = 1 + g.below(limit);
        let payload = g.bytes(len);
        stream.extend_from_slice(&(len as i32).to_be_bytes());
        stream.extend_from_slice(&payload);
        frames.push(Bytes::from(payload));
    }
    let expected = match g.below(6) {
        0 => {
            let size = *g.pick(&[-1i32, -2, i32::MIN, -0x1000]);
            stream.extend_from_slice(&size.to_be_bytes());
            Framed::Failed(frames, "negative".into())
        }
        1 => {
            stream.extend_from_slice(&0i32.to_be_bytes());
            Framed::Failed(frames, "empty".into())
        }
        2 => {
            let size = *g.pick(&[MAX_FRAME as i32 + 1, i32::MAX, 1 << 30]);
            stream.extend_from_slice(&size.to_be_bytes());
            Framed::Failed(frames, "too large".into())
        }
        3 => {
            // A partial frame announcing up to the limit: must wait, not allocate.
            let size = *g.pick(&[MAX_FRAME as i32, 8 << 20, 100_000]);
            stream.extend_from_slice(&size.to_be_bytes());
            let n = g.below(3000);
            stream.extend(g.bytes(n));
            Framed::Frames(frames)
        }
        4 => {
            // A prefix cut inside the 4-byte size.
            stream.extend_from_slice(&[0, 0, 1][..g.below(4)]);
            Framed::Frames(frames)
        }
        _ => Framed::Frames(frames),
    };
    (stream, expected)
}

fn random_chunks(g: &mut Gen, total: usize) -> Vec<usize> {
    let mut chunks = Vec::new();
    let mut sum = 0;
    while sum < total {
        let n = match g.below(4) {
            0 => 1,
            1 => 1 + g.below(5),
            2 => 1 + g.below(200),
            _ => 1 + g.below(5000),
        };
        chunks.push(n);
        sum += n;
    }
    chunks
}

#[test]
fn fuzz_frame_decoder() {
    let Some(_serial) = in_own_process("fuzz_frame_decoder") else {
        return;
    };
    let mut g = Gen::new("frame_decoder");
    let budget = Budget::new(20_000);
    budget.run("frame_decoder", |i| {
        if i % 2 == 0 {
            // A modelled stream: the result is known.
            let (stream, expected) = frame_stream(&mut g);
            let chunks = random_chunks(&mut g, stream.len());
            let got = case_with_allowance(
                "frame_decoder",
                "modelled stream",
                &stream,
                FRAME_ALLOWANCE,
                || feed(&stream, &chunks),
            );
            assert_eq!(got, expected, "stream {} split {chunks:?}", hex(&stream));
        } else {
            // Arbitrary bytes: the result must not depend on how they were split.
            let len = g.below(600);
            let mut stream = if g.chance(2) {
                g.bytes(len)
            } else {
                g.steering_bytes(len)
            };
            if g.chance(2) {
                let (modelled, _) = frame_stream(&mut g);
                mutate(&mut g, &mut stream, &modelled);
            }
            let chunks = random_chunks(&mut g, stream.len());
            let (whole, split) = case_with_allowance(
                "frame_decoder",
                "arbitrary stream",
                &stream,
                FRAME_ALLOWANCE,
                || (feed(&stream, &[stream.len()]), feed(&stream, &chunks)),
            );
            assert_eq!(whole, split, "stream {} split {chunks:?}", hex(&stream));
        }
    });
}

// ---------------------------------------------------------------------------
// (b) Request decoders
// ---------------------------------------------------------------------------

fn s(v: &str) -> String {
    v.to_string()
}

/// A small valid record batch for the Produce seeds.
fn seed_batch() -> Bytes {
    let mut b = BatchBuilder::new(0, 1_700_000_000_000).producer(1000, 0, 0);
    b.push(Some(b"k"), Some(b"value"), &[("h", Some(b"x"))]);
    b.push(None, Some(b"v2"), &[]);
    b.build()
}

/// A request body for `key` with every array holding two elements (and nested arrays filled).
/// Fields absent from a version are simply not encoded.
fn filled_body(key: ApiKey, version: i16) -> EncodeBuf {
    let mut buf = EncodeBuf::new();
    let b = &mut buf;
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    match key {
        ApiKey::Produce => {
            use produce_request::*;
            let part = |index| PartitionProduceData {
                index,
                records: Some(seed_batch()),
            };
            ProduceRequest {
                transactional_id: Some(s("tx")),
                acks: -1,
                timeout_ms: 1000,
                topic_data: vec![
                    TopicProduceData {
                        topic_id: Default::default(),
                        name: s("a"),
                        partition_data: vec![part(0), part(1)],
                    },
                    TopicProduceData {
                        topic_id: Default::default(),
                        name: s("b"),
                        partition_data: vec![part(0)],
                    },
                ],
            }
            .encode(b, version)
        }
        ApiKey::Fetch => {
            use fetch_request::*;
            let part = |partition| FetchPartition {
                high_watermark: -1,
                partition,
                current_leader_epoch: 1,
                fetch_offset: 5,
                last_fetched_epoch: 1,
                log_start_offset: 0,
                partition_max_bytes: 1 << 20,
                replica_directory_id: id,
            };
            FetchRequest {
                cluster_id: Some(s("c")),
                replica_id: -1,
                replica_state: ReplicaState {
                    replica_id: 3,
                    replica_epoch: 4,
                },
                max_wait_ms: 100,
                min_bytes: 1,
                max_bytes: 1 << 20,
                isolation_level: 1,
                session_id: 7,
                session_epoch: 8,
                topics: vec![
                    FetchTopic {
                        topic: s("a"),
                        topic_id: id,
                        partitions: vec![part(0), part(1)],
                    },
                    FetchTopic {
                        topic: s("b"),
                        topic_id: id,
                        partitions: vec![part(2)],
                    },
                ],
                forgotten_topics_data: vec![ForgottenTopic {
                    topic: s("old"),
                    topic_id: id,
                    partitions: vec![1, 2],
                }],
                rack_id: s("rack"),
            }
            .encode(b, version)
        }
        ApiKey::ListOffsets => {
            use list_offsets_request::*;
            let part = |partition_index| ListOffsetsPartition {
                partition_index,
                current_leader_epoch: 1,
                timestamp: -1,
            };
            ListOffsetsRequest {
                replica_id: -1,
                isolation_level: 1,
                topics: vec![
                    ListOffsetsTopic {
                        name: s("a"),
                        partitions: vec![part(0), part(1)],
                    },
                    ListOffsetsTopic {
                        name: s("b"),
                        partitions: vec![part(0)],
                    },
                ],
                timeout_ms: 1000,
            }
            .encode(b, version)
        }
        ApiKey::Metadata => {
            use metadata_request::*;
            MetadataRequest {
                topics: Some(vec![
                    MetadataRequestTopic {
                        topic_id: id,
                        name: Some(s("a")),
                    },
                    MetadataRequestTopic {
                        topic_id: Uuid::nil(),
                        name: Some(s("b")),
                    },
                ]),
                allow_auto_topic_creation: true,
                include_cluster_authorized_operations: true,
                include_topic_authorized_operations: true,
            }
            .encode(b, version)
        }
        ApiKey::OffsetCommit => {
            use offset_commit_request::*;
            let part = |partition_index| OffsetCommitRequestPartition {
                partition_index,
                committed_offset: 10,
                committed_leader_epoch: 1,
                committed_metadata: Some(s("m")),
            };
            OffsetCommitRequest {
                group_id: s("g"),
                generation_id_or_member_epoch: 1,
                member_id: s("m"),
                group_instance_id: Some(s("i")),
                retention_time_ms: 1000,
                topics: vec![
                    OffsetCommitRequestTopic {
                        topic_id: Default::default(),
                        name: s("a"),
                        partitions: vec![part(0), part(1)],
                    },
                    OffsetCommitRequestTopic {
                        topic_id: Default::default(),
                        name: s("b"),
                        partitions: vec![part(0)],
                    },
                ],
            }
            .encode(b, version)
        }
        ApiKey::OffsetFetch => {
            use offset_fetch_request::*;
            OffsetFetchRequest {
                group_id: s("g"),
                topics: Some(vec![
                    OffsetFetchRequestTopic {
                        name: s("a"),
                        partition_indexes: vec![0, 1],
                    },
                    OffsetFetchRequestTopic {
                        name: s("b"),
                        partition_indexes: vec![2],
                    },
                ]),
                groups: vec![
                    OffsetFetchRequestGroup {
                        group_id: s("g1"),
                        member_id: Some(s("m")),
                        member_epoch: 3,
                        topics: Some(vec![OffsetFetchRequestTopics {
                            topic_id: Default::default(),
                            name: s("a"),
                            partition_indexes: vec![0, 1],
                        }]),
                    },
                    OffsetFetchRequestGroup {
                        group_id: s("g2"),
                        member_id: None,
                        member_epoch: -1,
                        topics: None,
                    },
                ],
                require_stable: true,
            }
            .encode(b, version)
        }
        ApiKey::FindCoordinator => find_coordinator_request::FindCoordinatorRequest {
            key: s("g"),
            key_type: 0,
            coordinator_keys: vec![s("g1"), s("g2")],
        }
        .encode(b, version),
        ApiKey::JoinGroup => {
            use join_group_request::*;
            JoinGroupRequest {
                group_id: s("g"),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 20_000,
                member_id: s("m"),
                group_instance_id: Some(s("i")),
                protocol_type: s("consumer"),
                protocols: vec![
                    JoinGroupRequestProtocol {
                        name: s("range"),
                        metadata: Bytes::from_static(b"\x00\x01meta"),
                    },
                    JoinGroupRequestProtocol {
                        name: s("roundrobin"),
                        metadata: Bytes::new(),
                    },
                ],
                reason: Some(s("why")),
            }
            .encode(b, version)
        }
        ApiKey::Heartbeat => heartbeat_request::HeartbeatRequest {
            group_id: s("g"),
            generation_id: 1,
            member_id: s("m"),
            group_instance_id: Some(s("i")),
        }
        .encode(b, version),
        ApiKey::LeaveGroup => {
            use leave_group_request::*;
            LeaveGroupRequest {
                group_id: s("g"),
                member_id: s("m"),
                members: vec![
                    MemberIdentity {
                        member_id: s("m1"),
                        group_instance_id: Some(s("i")),
                        reason: Some(s("r")),
                    },
                    MemberIdentity {
                        member_id: s("m2"),
                        group_instance_id: None,
                        reason: None,
                    },
                ],
            }
            .encode(b, version)
        }
        ApiKey::SyncGroup => {
            use sync_group_request::*;
            SyncGroupRequest {
                group_id: s("g"),
                generation_id: 1,
                member_id: s("m"),
                group_instance_id: Some(s("i")),
                protocol_type: Some(s("consumer")),
                protocol_name: Some(s("range")),
                assignments: vec![
                    SyncGroupRequestAssignment {
                        member_id: s("m1"),
                        assignment: Bytes::from_static(b"\x00\x01a"),
                    },
                    SyncGroupRequestAssignment {
                        member_id: s("m2"),
                        assignment: Bytes::new(),
                    },
                ],
            }
            .encode(b, version)
        }
        ApiKey::DescribeGroups => describe_groups_request::DescribeGroupsRequest {
            groups: vec![s("g1"), s("g2")],
            include_authorized_operations: true,
        }
        .encode(b, version),
        ApiKey::ListGroups => list_groups_request::ListGroupsRequest {
            states_filter: vec![s("Stable"), s("Empty")],
            types_filter: vec![s("classic"), s("consumer")],
        }
        .encode(b, version),
        ApiKey::ApiVersions => api_versions_request::ApiVersionsRequest {
            client_software_name: s("fuzz"),
            client_software_version: s("1.0"),

            ..Default::default()
        }
        .encode(b, version),
        ApiKey::CreateTopics => {
            use create_topics_request::*;
            let topic = |name: &str| CreatableTopic {
                name: s(name),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![
                    CreatableReplicaAssignment {
                        partition_index: 0,
                        broker_ids: vec![1, 2],
                    },
                    CreatableReplicaAssignment {
                        partition_index: 1,
                        broker_ids: vec![1],
                    },
                ],
                configs: vec![
                    CreatableTopicConfig {
                        name: s("cleanup.policy"),
                        value: Some(s("compact")),
                    },
                    CreatableTopicConfig {
                        name: s("retention.ms"),
                        value: None,
                    },
                ],
            };
            CreateTopicsRequest {
                topics: vec![topic("a"), topic("b")],
                timeout_ms: 1000,
                validate_only: true,
            }
            .encode(b, version)
        }
        ApiKey::DeleteTopics => {
            use delete_topics_request::*;
            DeleteTopicsRequest {
                topics: vec![
                    DeleteTopicState {
                        name: Some(s("a")),
                        topic_id: Uuid::nil(),
                    },
                    DeleteTopicState {
                        name: None,
                        topic_id: id,
                    },
                ],
                topic_names: vec![s("a"), s("b")],
                timeout_ms: 1000,
            }
            .encode(b, version)
        }
        ApiKey::DeleteRecords => {
            use delete_records_request::*;
            DeleteRecordsRequest {
                topics: vec![
                    DeleteRecordsTopic {
                        name: s("a"),
                        partitions: vec![
                            DeleteRecordsPartition {
                                partition_index: 0,
                                offset: 5,
                            },
                            DeleteRecordsPartition {
                                partition_index: 1,
                                offset: -1,
                            },
                        ],
                    },
                    DeleteRecordsTopic {
                        name: s("b"),
                        partitions: vec![],
                    },
                ],
                timeout_ms: 1000,
            }
            .encode(b, version)
        }
        ApiKey::InitProducerId => init_producer_id_request::InitProducerIdRequest {
            transactional_id: Some(s("tx")),
            transaction_timeout_ms: 1000,
            producer_id: 1000,
            producer_epoch: 1,

            ..Default::default()
        }
        .encode(b, version),
        ApiKey::DescribeConfigs => {
            use describe_configs_request::*;
            DescribeConfigsRequest {
                resources: vec![
                    DescribeConfigsResource {
                        resource_type: 2,
                        resource_name: s("a"),
                        configuration_keys: Some(vec![s("retention.ms"), s("x")]),
                    },
                    DescribeConfigsResource {
                        resource_type: 4,
                        resource_name: s("1"),
                        configuration_keys: None,
                    },
                ],
                include_synonyms: true,
                include_documentation: true,
            }
            .encode(b, version)
        }
        ApiKey::AlterConfigs => {
            use alter_configs_request::*;
            let res = |name: &str| AlterConfigsResource {
                resource_type: 2,
                resource_name: s(name),
                configs: vec![
                    AlterableConfig {
                        name: s("retention.ms"),
                        value: Some(s("1000")),
                    },
                    AlterableConfig {
                        name: s("x"),
                        value: None,
                    },
                ],
            };
            AlterConfigsRequest {
                resources: vec![res("a"), res("b")],
                validate_only: true,
            }
            .encode(b, version)
        }
        ApiKey::CreatePartitions => {
            use create_partitions_request::*;
            CreatePartitionsRequest {
                topics: vec![
                    CreatePartitionsTopic {
                        name: s("a"),
                        count: 3,
                        assignments: Some(vec![
                            CreatePartitionsAssignment {
                                broker_ids: vec![1, 2],
                            },
                            CreatePartitionsAssignment {
                                broker_ids: vec![1],
                            },
                        ]),
                    },
                    CreatePartitionsTopic {
                        name: s("b"),
                        count: 2,
                        assignments: None,
                    },
                ],
                timeout_ms: 1000,
                validate_only: true,
            }
            .encode(b, version)
        }
        ApiKey::DeleteGroups => delete_groups_request::DeleteGroupsRequest {
            groups_names: vec![s("g1"), s("g2")],
        }
        .encode(b, version),
        ApiKey::DescribeQuorum => {
            use describe_quorum_request::*;
            DescribeQuorumRequest {
                topics: vec![TopicData {
                    topic_name: s("__cluster_metadata"),
                    partitions: vec![PartitionData { partition_index: 0 }],
                }],
            }
            .encode(b, version)
        }
        ApiKey::ElectLeaders => elect_leaders_request::ElectLeadersRequest {
            election_type: 1,
            topic_partitions: Some(vec![elect_leaders_request::TopicPartitions {
                topic: s("t1"),
                partitions: vec![0, 1, 7],
            }]),
            timeout_ms: 1000,
        }
        .encode(b, version),
        ApiKey::AlterPartitionReassignments => {
            use alter_partition_reassignments_request::*;
            AlterPartitionReassignmentsRequest {
                timeout_ms: 1000,
                allow_replication_factor_change: true,
                topics: vec![ReassignableTopic {
                    name: s("t1"),
                    partitions: vec![
                        ReassignablePartition {
                            partition_index: 0,
                            replicas: Some(vec![1]),
                        },
                        ReassignablePartition {
                            partition_index: 1,
                            replicas: None,
                        },
                    ],
                }],
            }
            .encode(b, version)
        }
        ApiKey::ListPartitionReassignments => {
            use list_partition_reassignments_request::*;
            ListPartitionReassignmentsRequest {
                timeout_ms: 1000,
                topics: Some(vec![ListPartitionReassignmentsTopics {
                    name: s("t1"),
                    partition_indexes: vec![0],
                }]),
            }
            .encode(b, version)
        }
        ApiKey::OffsetDelete => {
            use offset_delete_request::*;
            let topic = |name: &str| OffsetDeleteRequestTopic {
                name: s(name),
                partitions: vec![
                    OffsetDeleteRequestPartition { partition_index: 0 },
                    OffsetDeleteRequestPartition { partition_index: 1 },
                ],
            };
            OffsetDeleteRequest {
                group_id: s("g1"),
                topics: vec![topic("t1"), topic("t2")],
            }
            .encode(b, version)
        }
        ApiKey::IncrementalAlterConfigs => {
            use incremental_alter_configs_request::*;
            let res = |name: &str| AlterConfigsResource {
                resource_type: 2,
                resource_name: s(name),
                configs: vec![
                    AlterableConfig {
                        name: s("retention.ms"),
                        config_operation: 0,
                        value: Some(s("1000")),
                    },
                    AlterableConfig {
                        name: s("x"),
                        config_operation: 1,
                        value: None,
                    },
                ],
            };
            IncrementalAlterConfigsRequest {
                resources: vec![res("a"), res("b")],
                validate_only: true,
            }
            .encode(b, version)
        }
        ApiKey::DescribeCluster => describe_cluster_request::DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            endpoint_type: 1,

            ..Default::default()
        }
        .encode(b, version),
        ApiKey::DescribeTopicPartitions => {
            use describe_topic_partitions_request::*;
            DescribeTopicPartitionsRequest {
                topics: vec![TopicRequest { name: s("a") }, TopicRequest { name: s("b") }],
                response_partition_limit: 100,
                cursor: Some(Cursor {
                    topic_name: s("a"),
                    partition_index: 1,
                }),
            }
            .encode(b, version)
        }
    }
    buf
}

/// Encodes a parsed body again, at its version.
fn encode_body(body: &Body, version: i16) -> Option<EncodeBuf> {
    let mut buf = EncodeBuf::new();
    let b = &mut buf;
    match body {
        Body::ApiVersions(r) => r.encode(b, version),
        Body::ApiVersionsUnsupported => return None,
        Body::Produce(r) => r.encode(b, version),
        Body::Fetch(r) => r.encode(b, version),
        Body::ListOffsets(r) => r.encode(b, version),
        Body::Metadata(r) => r.encode(b, version),
        Body::DescribeTopicPartitions(r) => r.encode(b, version),
        Body::CreateTopics(r) => r.encode(b, version),
        Body::DeleteTopics(r) => r.encode(b, version),
        Body::CreatePartitions(r) => r.encode(b, version),
        Body::DescribeConfigs(r) => r.encode(b, version),
        Body::AlterConfigs(r) => r.encode(b, version),
        Body::IncrementalAlterConfigs(r) => r.encode(b, version),
        Body::DescribeCluster(r) => r.encode(b, version),
        Body::DeleteRecords(r) => r.encode(b, version),
        Body::InitProducerId(r) => r.encode(b, version),
        Body::FindCoordinator(r) => r.encode(b, version),
        Body::JoinGroup(r) => r.encode(b, version),
        Body::SyncGroup(r) => r.encode(b, version),
        Body::Heartbeat(r) => r.encode(b, version),
        Body::LeaveGroup(r) => r.encode(b, version),
        Body::ListGroups(r) => r.encode(b, version),
        Body::DescribeGroups(r) => r.encode(b, version),
        Body::DeleteGroups(r) => r.encode(b, version),
        Body::OffsetDelete(r) => r.encode(b, version),
        Body::ElectLeaders(r) => r.encode(b, version),
        Body::DescribeQuorum(r) => r.encode(b, version),
        Body::AlterPartitionReassignments(r) => r.encode(b, version),
        Body::ListPartitionReassignments(r) => r.encode(b, version),
        Body::OffsetCommit(r) => r.encode(b, version),
        Body::OffsetFetch(r) => r.encode(b, version),
    }
    Some(buf)
}

/// The `Default` body of `key` at `version`.
fn default_body(key: ApiKey, version: i16) -> EncodeBuf {
    let mut buf = EncodeBuf::new();
    let b = &mut buf;
    match key {
        ApiKey::Produce => produce_request::ProduceRequest::default().encode(b, version),
        ApiKey::Fetch => fetch_request::FetchRequest::default().encode(b, version),
        ApiKey::ListOffsets => {
            list_offsets_request::ListOffsetsRequest::default().encode(b, version)
        }
        ApiKey::Metadata => metadata_request::MetadataRequest::default().encode(b, version),
        ApiKey::OffsetCommit => {
            offset_commit_request::OffsetCommitRequest::default().encode(b, version)
        }
        ApiKey::OffsetFetch => {
            offset_fetch_request::OffsetFetchRequest::default().encode(b, version)
        }
        ApiKey::FindCoordinator => {
            find_coordinator_request::FindCoordinatorRequest::default().encode(b, version)
        }
        ApiKey::JoinGroup => join_group_request::JoinGroupRequest::default().encode(b, version),
        ApiKey::Heartbeat => heartbeat_request::HeartbeatRequest::default().encode(b, version),
        ApiKey::LeaveGroup => leave_group_request::LeaveGroupRequest::default().encode(b, version),
        ApiKey::SyncGroup => sync_group_request::SyncGroupRequest::default().encode(b, version),
        ApiKey::DescribeGroups => {
            describe_groups_request::DescribeGroupsRequest::default().encode(b, version)
        }
        ApiKey::ListGroups => list_groups_request::ListGroupsRequest::default().encode(b, version),
        ApiKey::ApiVersions => {
            api_versions_request::ApiVersionsRequest::default().encode(b, version)
        }
        ApiKey::CreateTopics => {
            create_topics_request::CreateTopicsRequest::default().encode(b, version)
        }
        ApiKey::DeleteTopics => {
            delete_topics_request::DeleteTopicsRequest::default().encode(b, version)
        }
        ApiKey::DeleteRecords => {
            delete_records_request::DeleteRecordsRequest::default().encode(b, version)
        }
        ApiKey::InitProducerId => {
            init_producer_id_request::InitProducerIdRequest::default().encode(b, version)
        }
        ApiKey::DescribeConfigs => {
            describe_configs_request::DescribeConfigsRequest::default().encode(b, version)
        }
        ApiKey::AlterConfigs => {
            alter_configs_request::AlterConfigsRequest::default().encode(b, version)
        }
        ApiKey::CreatePartitions => {
            create_partitions_request::CreatePartitionsRequest::default().encode(b, version)
        }
        ApiKey::OffsetDelete => {
            offset_delete_request::OffsetDeleteRequest::default().encode(b, version)
        }
        ApiKey::ElectLeaders => {
            elect_leaders_request::ElectLeadersRequest::default().encode(b, version)
        }
        ApiKey::DescribeQuorum => {
            describe_quorum_request::DescribeQuorumRequest::default().encode(b, version)
        }
        ApiKey::AlterPartitionReassignments => {
            alter_partition_reassignments_request::AlterPartitionReassignmentsRequest::default()
                .encode(b, version)
        }
        ApiKey::ListPartitionReassignments => {
            list_partition_reassignments_request::ListPartitionReassignmentsRequest::default()
                .encode(b, version)
        }
        ApiKey::DeleteGroups => {
            delete_groups_request::DeleteGroupsRequest::default().encode(b, version)
        }
        ApiKey::IncrementalAlterConfigs => {
            incremental_alter_configs_request::IncrementalAlterConfigsRequest::default()
                .encode(b, version)
        }
        ApiKey::DescribeCluster => {
            describe_cluster_request::DescribeClusterRequest::default().encode(b, version)
        }
        ApiKey::DescribeTopicPartitions => {
            describe_topic_partitions_request::DescribeTopicPartitionsRequest::default()
                .encode(b, version)
        }
    }
    buf
}

/// A request frame (no size prefix): header for `key`/`version`, then `body`.
fn request_frame(key: ApiKey, version: i16, client_id: Option<&str>, body: EncodeBuf) -> Vec<u8> {
    let mut buf = EncodeBuf::new();
    RequestHeader {
        request_api_key: key.as_i16(),
        request_api_version: version,
        correlation_id: 0x0102_0304,
        client_id: client_id.map(str::to_string),
    }
    .encode(&mut buf, api_table::request_header_version(key, version));
    buf.append(body);
    buf.to_bytes().to_vec()
}

/// Parses `frame`; checks what a successful parse must satisfy. Returns whether it parsed.
fn parse_and_check(frame: &[u8]) -> Result<(), String> {
    let parsed = Request::parse(Bytes::copy_from_slice(frame));
    let req = match parsed {
        Ok(req) => req,
        Err(e) => {
            // A refusal names the key and version it read (when there were 4 bytes to read).
            if frame.len() >= 4 && !matches!(e.reason, ParseFailure::ShortFrame) {
                assert_eq!(e.api_key, i16::from_be_bytes([frame[0], frame[1]]));
                assert_eq!(e.api_version, i16::from_be_bytes([frame[2], frame[3]]));
            }
            return Err(e.reason.to_string());
        }
    };
    assert_eq!(
        req.api_key.as_i16(),
        i16::from_be_bytes([frame[0], frame[1]])
    );
    assert_eq!(req.version, i16::from_be_bytes([frame[2], frame[3]]));
    // Round trip: what parsed encodes to a frame that parses to the same request.
    if let Some(body) = encode_body(&req.body, req.version) {
        let again = request_frame(
            req.api_key,
            req.version,
            req.header.client_id.as_deref(),
            body,
        );
        let mut again_frame = again.clone();
        again_frame[4..8].copy_from_slice(&req.header.correlation_id.to_be_bytes());
        let reparsed = Request::parse(Bytes::from(again_frame))
            .map_err(|e| format!("re-encoded request does not parse: {}", e.reason))
            .expect("round trip");
        assert_eq!(
            format!("{:?}", reparsed.body),
            format!("{:?}", req.body),
            "round trip changed the body"
        );
        assert_eq!(reparsed.header, req.header);
    }
    Ok(())
}

struct RequestSeed {
    key: ApiKey,
    version: i16,
    frame: Vec<u8>,
}

/// The valid frames every mutation starts from: for every API and decodable version, the
/// Default body and the filled body, with a null and a non-null client id.
fn request_seeds() -> Vec<RequestSeed> {
    let mut seeds = Vec::new();
    for support in API_TABLE {
        for version in support.decode_min..=support.decode_max {
            let key = support.key;
            for (body, client_id) in [
                (default_body(key, version), Some("fuzz-client")),
                (filled_body(key, version), None),
                (filled_body(key, version), Some("c")),
            ] {
                let frame = request_frame(key, version, client_id, body);
                let parsed = Request::parse(Bytes::from(frame.clone()));
                assert!(
                    parsed.is_ok(),
                    "seed {}/v{version} does not parse: {:?}",
                    key.name(),
                    parsed.err().map(|e| e.reason.to_string())
                );
                seeds.push(RequestSeed {
                    key,
                    version,
                    frame,
                });
            }
        }
    }
    seeds
}

#[test]
fn fuzz_request_decoders() {
    let Some(_serial) = in_own_process("fuzz_request_decoders") else {
        return;
    };
    let target = "request_decoders";
    let mut g = Gen::new(target);
    let budget = Budget::new(20_000);
    let seeds = request_seeds();
    let pairs: std::collections::BTreeSet<(i16, i16)> =
        seeds.iter().map(|s| (s.key.as_i16(), s.version)).collect();
    let expected_pairs: usize = API_TABLE
        .iter()
        .map(|s| (s.decode_max - s.decode_min + 1) as usize)
        .sum();
    assert_eq!(pairs.len(), expected_pairs, "every API and version seeded");

    // Systematic: every truncation of every seed fails (a strict prefix of a valid request
    // cannot be a whole request), and single-byte overwrites never panic.
    let mut systematic = 0u64;
    for seed in &seeds {
        let frame = &seed.frame;
        let what = format!("{}/v{} truncation", seed.key.name(), seed.version);
        for cut in 0..frame.len() {
            let prefix = &frame[..cut];
            let r = case(target, &what, prefix, || parse_and_check(prefix));
            assert!(
                r.is_err(),
                "{what}: a {cut}-byte prefix parsed: {}",
                hex(prefix)
            );
            systematic += 1;
        }
        let what = format!("{}/v{} overwrite", seed.key.name(), seed.version);
        let step = (frame.len() / 64).max(1);
        for pos in (0..frame.len()).step_by(step) {
            for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut m = frame.clone();
                m[pos] = byte;
                let _ = case(target, &what, &m, || parse_and_check(&m));
                systematic += 1;
            }
        }
    }
    eprintln!("{target}: {systematic} systematic cases");

    // Random: mutated seeds, random bodies behind a valid header, header mutations.
    let mut parsed = 0u64;
    let n = budget.run(target, |_| {
        let seed = g.pick(&seeds);
        let other = &g.pick(&seeds).frame;
        let (what, input) = match g.below(5) {
            0 => {
                // A valid header, then random (often steering) bytes.
                let mut f = request_frame(
                    seed.key,
                    seed.version,
                    Some("fuzz-client"),
                    EncodeBuf::new(),
                );
                let len = g.below(200);
                let body = if g.chance(2) {
                    g.steering_bytes(len)
                } else {
                    g.bytes(len)
                };
                f.extend(body);
                ("random body", f)
            }
            1 => {
                // Another API's key and version on this body.
                let mut f = seed.frame.clone();
                let key = *g.pick(ApiKey::ALL);
                let s = api_table::support(key);
                let version =
                    s.decode_min + g.below((s.decode_max - s.decode_min + 1) as usize) as i16;
                f[0..2].copy_from_slice(&key.as_i16().to_be_bytes());
                f[2..4].copy_from_slice(&version.to_be_bytes());
                ("swapped key", f)
            }
            2 => {
                // Version just outside the decode range, or an unknown key.
                let mut f = seed.frame.clone();
                let s = api_table::support(seed.key);
                let v = *g.pick(&[s.decode_min - 1, s.decode_max + 1, -1, i16::MAX]);
                f[2..4].copy_from_slice(&v.to_be_bytes());
                if g.chance(3) {
                    let unknown = *g.pick(&[4i16, 7, 17, 50, 74, 76, 999, -1, i16::MAX]);
                    f[0..2].copy_from_slice(&unknown.to_be_bytes());
                }
                ("bad version or key", f)
            }
            3 => {
                let mut f = seed.frame.clone();
                mutate(&mut g, &mut f, other);
                ("mutated", f)
            }
            _ => {
                // Mutations kept behind the header, so the body decoder sees them.
                let mut f = seed.frame.clone();
                let keep = 4.min(f.len());
                let mut body = f.split_off(keep);
                mutate(&mut g, &mut body, other);
                f.extend(body);
                ("mutated body", f)
            }
        };
        let what = format!("{}/v{} {what}", seed.key.name(), seed.version);
        if case(target, &what, &input, || parse_and_check(&input)).is_ok() {
            parsed += 1;
        }
    });
    eprintln!("{target}: {parsed} of {n} random cases parsed");
}

// ---------------------------------------------------------------------------
// (c) Record batches
// ---------------------------------------------------------------------------

const PINEAPPLE: &str = "0000000000000000000000410000000002cf35bf6200000000000000000191e05b6d8b00000191e05b6d8b0000000000000000000000000000000000011e000000011270696e656170706c6501";
const MANGO: &str = "00000000000000000000003d000000000272bc4ab000000000000000000191e05b6d8b00000191e05b6d8b00000000000000000000000000000000000116000000010a6d616e676f00";

fn batch_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        common::hex(PINEAPPLE),
        common::hex(MANGO),
        seed_batch().to_vec(),
    ];
    let mut b = BatchBuilder::new(42, 1_700_000_000_000)
        .partition_leader_epoch(3)
        .producer(1000, 1, 5);
    for i in 0..5u8 {
        let key = [b'k', i];
        let value = vec![i; usize::from(i) * 7];
        b.push(
            if i % 2 == 0 { Some(&key[..]) } else { None },
            Some(&value),
            &[("a", Some(b"1")), ("b", None)],
        );
    }
    seeds.push(b.build().to_vec());
    let mut b = BatchBuilder::new(0, 0).attributes(record::ATTR_TRANSACTIONAL);
    b.push_with_header_count(Some(b"x"), None, &[], -1);
    seeds.push(b.build().to_vec());
    seeds
}

fn fix_crc(batch: &mut [u8]) {
    if batch.len() >= BATCH_HEADER_LEN {
        // Only over the bytes the batch claims, when it claims no more than there are.
        let claimed = i32::from_be_bytes([batch[8], batch[9], batch[10], batch[11]]);
        let end = usize::try_from(claimed)
            .ok()
            .map(|c| c + record::LOG_OVERHEAD)
            .filter(|&e| e >= BATCH_HEADER_LEN && e <= batch.len())
            .unwrap_or(batch.len());
        let crc = record::compute_crc(&batch[..end]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
}

fn check_batch_apis(input: &[u8]) {
    let bytes = Bytes::copy_from_slice(input);
    let parsed = record::BatchHeader::parse(input);
    if let Ok(h) = &parsed {
        let _ = (
            h.compression(),
            h.is_control(),
            h.is_transactional(),
            h.last_sequence(),
        );
        let _ = h.base_offset.checked_add(i64::from(h.last_offset_delta));
    }
    match record::validate(input) {
        Ok(h) => {
            assert!(h.total_len() <= input.len(), "validated past the input");
            assert!(h.record_count >= 0 && h.last_offset_delta >= 0);
            let _ = h.last_offset();
            if let Ok(records) = record::decode_records(&bytes) {
                assert_eq!(records.len(), h.record_count as usize);
            }
        }
        Err(e) => {
            let _ = e.error_code();
            assert!(record::decode_records(&bytes).is_err());
        }
    }
    if let Ok(h) = record::validate_produced(input) {
        assert_eq!(h.record_count, h.last_offset_delta + 1);
    }
    // Walking: positions advance, slices stay in bounds, and iteration ends at the first error.
    let mut expect_at = 0usize;
    let mut failed = false;
    for found in BatchIter::new(bytes.clone()).take(input.len() / 61 + 2) {
        assert!(!failed, "BatchIter went on after an error");
        match found {
            Ok(b) => {
                assert_eq!(b.position, expect_at);
                assert_eq!(b.bytes.len(), b.header.total_len());
                assert_eq!(&b.bytes[..], &input[b.position..b.position + b.bytes.len()]);
                expect_at += b.bytes.len();
            }
            Err((position, _)) => {
                assert_eq!(position, expect_at);
                failed = true;
            }
        }
    }
}

#[test]
fn fuzz_record_batches() {
    let Some(_serial) = in_own_process("fuzz_record_batches") else {
        return;
    };
    let target = "record_batches";
    let mut g = Gen::new(target);
    let budget = Budget::new(100_000);
    let seeds = batch_seeds();
    for s in &seeds {
        let recs = record::decode_records(&Bytes::from(s.clone())).expect("seed decodes");
        assert!(!recs.is_empty());
    }
    budget.run(target, |_| {
        let mut input = g.pick(&seeds).clone();
        if g.chance(4) {
            // Several batches laid end to end, as in a segment or a Produce records field.
            for _ in 0..1 + g.below(3) {
                let next = g.pick(&seeds);
                input.extend_from_slice(next);
            }
        }
        let other = g.pick(&seeds).clone();
        let what = match g.below(3) {
            0 => {
                mutate(&mut g, &mut input, &other);
                "mutated"
            }
            1 => {
                // Mutate inside the first batch's CRC-covered part, then fix the CRC so that
                // the record decoder sees the damage.
                let mut tail = input.split_off(21.min(input.len()));
                mutate(&mut g, &mut tail, &other);
                input.extend(tail);
                fix_crc(&mut input);
                "mutated, CRC fixed"
            }
            _ => {
                // Header fields only (lengths, counts, magic), CRC fixed.
                let field = *g.pick(&[(8usize, 4usize), (16, 1), (23, 4), (57, 4), (0, 8)]);
                let value = *g.pick(INTERESTING);
                let be = value.to_be_bytes();
                if input.len() >= field.0 + field.1 {
                    input[field.0..field.0 + field.1].copy_from_slice(&be[8 - field.1..]);
                }
                fix_crc(&mut input);
                "header field, CRC fixed"
            }
        };
        case(target, what, &input, || check_batch_apis(&input));
    });
}

// ---------------------------------------------------------------------------
// (d) Metadata records and the metadata log
// ---------------------------------------------------------------------------

fn metadata_record_seeds() -> Vec<(MetadataRecord, i16)> {
    let id = Uuid::from_u128(0x71a5_9a51_8968_4f8b_937e_0000_0000_0001);
    let partition = PartitionRecord {
        partition_id: 0,
        topic_id: id,
        replicas: vec![1, 2],
        isr: vec![1],
        removing_replicas: vec![2],
        adding_replicas: vec![3],
        leader: 1,
        leader_epoch: 4,
        partition_epoch: 5,
        directories: vec![id, id],
        eligible_leader_replicas: Some(vec![1]),
        last_known_elr: Some(vec![2]),
        ..PartitionRecord::default()
    };
    let change = PartitionChangeRecord {
        partition_id: 0,
        topic_id: id,
        isr: Some(vec![1, 2]),
        leader: 2,
        replicas: Some(vec![1, 2]),
        removing_replicas: Some(vec![]),
        adding_replicas: Some(vec![3]),
        directories: Some(vec![id]),
        eligible_leader_replicas: Some(vec![1]),
        last_known_elr: Some(vec![2]),
        ..PartitionChangeRecord::default()
    };
    let broker = RegisterBrokerRecord {
        broker_id: 1,
        incarnation_id: id,
        broker_epoch: 3,
        end_points: vec![BrokerEndpoint {
            name: s("PLAINTEXT"),
            host: s("localhost"),
            port: 9092,
            security_protocol: 0,
        }],
        features: vec![BrokerFeature {
            name: s("metadata.version"),
            min_supported_version: 1,
            max_supported_version: 20,
        }],
        rack: Some(s("r")),
        log_dirs: vec![id],
        ..RegisterBrokerRecord::default()
    };
    let mut seeds = vec![
        (
            MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
                name: s("metadata.version"),
                feature_level: 20,
            }),
            0,
        ),
        (
            MetadataRecord::TopicRecord(TopicRecord {
                name: s("orders"),
                topic_id: id,
            }),
            0,
        ),
        (
            MetadataRecord::ConfigRecord(ConfigRecord {
                resource_type: 2,
                resource_name: s("orders"),
                name: s("retention.ms"),
                value: Some(s("1000")),
            }),
            0,
        ),
        (
            MetadataRecord::ProducerIdsRecord(ProducerIdsRecord {
                broker_id: 1,
                broker_epoch: 1,
                next_producer_id: 2000,
            }),
            0,
        ),
        (
            MetadataRecord::BeginTransactionRecord(BeginTransactionRecord { name: Some(s("t")) }),
            0,
        ),
        (
            MetadataRecord::EndTransactionRecord(EndTransactionRecord {}),
            0,
        ),
        (
            MetadataRecord::ZkMigrationStateRecord(ZkMigrationStateRecord {
                zk_migration_state: 1,
            }),
            0,
        ),
        (MetadataRecord::NoOpRecord(NoOpRecord {}), 0),
        (
            MetadataRecord::RemoveTopicRecord(RemoveTopicRecord { topic_id: id }),
            0,
        ),
    ];
    for v in 0..=2 {
        seeds.push((MetadataRecord::PartitionRecord(partition.clone()), v));
        seeds.push((MetadataRecord::PartitionChangeRecord(change.clone()), v));
    }
    for v in 0..=3 {
        seeds.push((MetadataRecord::RegisterBrokerRecord(broker.clone()), v));
    }
    seeds
}

fn record_value(record: &MetadataRecord, version: i16) -> Vec<u8> {
    common::fixtures::record_value(record, version).to_vec()
}

#[test]
fn fuzz_metadata_records() {
    let Some(_serial) = in_own_process("fuzz_metadata_records") else {
        return;
    };
    let target = "metadata_records";
    let mut g = Gen::new(target);
    let budget = Budget::new(100_000);
    let seeds: Vec<Vec<u8>> = metadata_record_seeds()
        .iter()
        .map(|(r, v)| {
            let value = record_value(r, *v);
            let decoded = MetadataRecord::decode_value(&mut Bytes::from(value.clone()));
            assert!(
                matches!(decoded, Ok(Some(_))),
                "seed {:?} v{v}: {decoded:?}",
                r.record_type()
            );
            value
        })
        .collect();
    budget.run(target, |_| {
        let mut input = g.pick(&seeds).clone();
        let other = g.pick(&seeds).clone();
        if g.chance(5) {
            let n = g.below(64);
            input = g.steering_bytes(n);
        } else {
            mutate(&mut g, &mut input, &other);
        }
        case(target, "record value", &input, || {
            let mut buf = Bytes::copy_from_slice(&input);
            if let Ok(Some((rec, version))) = MetadataRecord::decode_value(&mut buf) {
                // What decodes can be applied to an image, and encodes back to the same record.
                let mut image = ClusterImage::default();
                image.apply(&rec);
                let mut again = EncodeBuf::new();
                rec.encode_value(&mut again, version);
                let round = MetadataRecord::decode_value(&mut again.to_bytes());
                assert_eq!(round, Ok(Some((rec, version))));
            }
        });
    });
}

/// A metadata log with every record type the image applies: a topic, a control batch, every
/// seed record (partition records, changes, configs, …), then a topic created and removed and
/// one more topic.
fn seed_metadata_log() -> Vec<u8> {
    use common::fixtures::metadata_batch;
    let value = |r: MetadataRecord| Bytes::from(record_value(&r, 0));
    let topic = |name: &str, topic_id| {
        value(MetadataRecord::TopicRecord(TopicRecord {
            name: s(name),
            topic_id,
        }))
    };
    let id = Uuid::from_u128(0x71a5_9a51_8968_4f8b_937e_0000_0000_0001);
    let gone = Uuid::from_u128(3);
    let rest: Vec<Bytes> = metadata_record_seeds()
        .iter()
        .filter(|(r, _)| {
            !matches!(
                r,
                MetadataRecord::TopicRecord(_) | MetadataRecord::RemoveTopicRecord(_)
            )
        })
        .map(|(r, v)| Bytes::from(record_value(r, *v)))
        .collect();
    let mut control = BatchBuilder::new(2, 1_700_000_000_001)
        .attributes(record::ATTR_CONTROL)
        .partition_leader_epoch(1);
    control.push_with_header_count(Some(&[0, 0, 0, 3]), Some(&[0, 0, 0, 0]), &[], 0);
    let last = vec![
        topic("gone", gone),
        value(MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
            topic_id: gone,
        })),
        topic("payments", Uuid::from_u128(7)),
    ];
    let mut log = Vec::new();
    log.extend_from_slice(&metadata_batch(
        0,
        1_700_000_000_000,
        &[rest[0].clone(), topic("orders", id)],
    ));
    log.extend_from_slice(&control.build());
    log.extend_from_slice(&metadata_batch(3, 1_700_000_000_002, &rest));
    log.extend_from_slice(&metadata_batch(
        3 + rest.len() as i64,
        1_700_000_000_003,
        &last,
    ));
    log
}

#[test]
fn fuzz_metadata_log() {
    let Some(_serial) = in_own_process("fuzz_metadata_log") else {
        return;
    };
    let target = "metadata_log";
    let mut g = Gen::new(target);
    let budget = Budget::new(1_000);
    let seed = seed_metadata_log();
    let temp = tempfile::tempdir().expect("temp dir");
    let log_dir = temp.path();
    let dir = log_dir.join(METADATA_DIR);
    std::fs::create_dir_all(&dir).expect("metadata dir");
    let segment = dir.join("00000000000000000000.log");

    // The seed itself loads whole.
    std::fs::write(&segment, &seed).expect("write");
    let mut image = ClusterImage::default();
    MetadataLog::load(log_dir, &mut image).expect("seed loads");
    let orders = image.topic("orders").expect("orders");
    assert!(orders.partitions.contains_key(&0) && !orders.configs.is_empty());
    assert!(image.topic("payments").is_some() && image.topic("gone").is_none());

    budget.run(target, |_| {
        let mut input = seed.clone();
        let what = match g.below(3) {
            0 => {
                mutate(&mut g, &mut input, &seed);
                "mutated"
            }
            _ => {
                // Damage inside one batch, CRC fixed, so its records are decoded.
                let batches: Vec<(usize, usize)> = BatchIter::new(Bytes::from(seed.clone()))
                    .filter_map(Result::ok)
                    .map(|b| (b.position, b.bytes.len()))
                    .collect();
                let (start, len) = *g.pick(&batches);
                let mut batch = input[start..start + len].to_vec();
                let mut tail = batch.split_off(if g.chance(4) { 0 } else { 21 });
                mutate(&mut g, &mut tail, &seed);
                batch.extend(tail);
                fix_crc(&mut batch);
                input.splice(start..start + len, batch);
                "batch damaged, CRC fixed"
            }
        };
        let _ = std::fs::remove_file(dir.join("00000000000000000000.log"));
        std::fs::write(&segment, &input).expect("write");
        case(target, what, &input, || {
            let mut first = ClusterImage::default();
            if MetadataLog::load(log_dir, &mut first).is_ok() {
                // What the first load kept (it truncates a damaged tail) loads the same again.
                let mut second = ClusterImage::default();
                MetadataLog::load(log_dir, &mut second).expect("second load");
                assert_eq!(first, second, "a second load disagrees");
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Regressions: inputs the targets above found, kept byte for byte.
// ---------------------------------------------------------------------------

/// A batch whose lastOffsetDelta is i32::MAX (CRC valid): `validate_produced` computed
/// `lastOffsetDelta + 1` and overflowed (a panic in debug builds, reachable through Produce).
#[test]
fn regression_validate_produced_last_offset_delta_max() {
    let input = common::hex("00000000000000000000004b000000000228c9362d00007fffffff0000018bcfe568000000018bcfe5680000000000000003e80000000000000000000220000000026b0a76616c75650202680278100000020104763200");
    let h = record::validate(&input).expect("CRC and length are fine");
    assert_eq!(h.last_offset_delta, i32::MAX);
    assert_eq!(
        record::validate_produced(&input),
        Err(record::BatchError::CountMismatch {
            count: 2,
            last_offset_delta: i32::MAX
        })
    );
    check_batch_apis(&input);
}

/// A CRC-valid batch whose baseOffset (outside the CRC) is i64::MAX and lastOffsetDelta 1:
/// `last_offset()` overflowed. The metadata log loader calls it on every batch it reads.
#[test]
fn regression_last_offset_of_a_batch_at_i64_max() {
    let input = common::hex("7fffffffffffffff0000004b0000000002dca282a30000000000010000018bcfe568000000018bcfe5680000000000000003e80000000000000000000220000000026b0a76616c75650202680278100000020104763200");
    let h = record::validate(&input).expect("CRC and length are fine");
    assert_eq!(h.last_offset(), i64::MAX);
    // The record decoder adds the offset deltas the same way.
    let records = record::decode_records(&Bytes::from(input.clone())).expect("records");
    assert_eq!(records[1].offset, i64::MAX);
    check_batch_apis(&input);
}

/// A metadata log whose last batch (CRC fixed after the damage) claims 268435459 records and
/// holds 3. The loader truncated the log before that batch but had already moved the image's
/// end offset past it, so a second load of the same directory disagreed (and the next append
/// would have left a gap).
#[test]
fn regression_metadata_log_unreadable_batch_does_not_move_the_end_offset() {
    let input = common::hex(include_str!(
        "../fuzz_inputs/metadata_log_unreadable_batch.hex"
    ));
    let (first, second) = load_twice(&input);
    assert_eq!(
        first.last_offset, 19,
        "the batches before the damaged one end at 19"
    );
    assert_eq!(first, second);
}

/// Writes `log` as the only metadata segment of a temp dir and loads it twice.
fn load_twice(log: &[u8]) -> (ClusterImage, ClusterImage) {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join(METADATA_DIR);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("00000000000000000000.log"), log).expect("write");
    let mut first = ClusterImage::default();
    MetadataLog::load(temp.path(), &mut first).expect("first load");
    let mut second = ClusterImage::default();
    MetadataLog::load(temp.path(), &mut second).expect("second load");
    (first, second)
}

/// A metadata log (CRC fixed after the damage) whose PartitionRecord carries partition epoch
/// i32::MAX, followed by a PartitionChangeRecord for it: applying the change computed
/// `partition_epoch + 1` and overflowed (a panic in debug builds at startup).
#[test]
fn regression_metadata_log_partition_epoch_at_i32_max() {
    let input = common::hex(include_str!(
        "../fuzz_inputs/metadata_log_partition_epoch_max.hex"
    ));
    let (first, second) = load_twice(&input);
    assert_eq!(first, second);
    // Later records in the same batch set the partition again (epoch 5, then a change).
    let orders = first.topic("orders").expect("orders");
    assert_eq!(orders.partitions[&0].partition_epoch, 6);
}

// ---------------------------------------------------------------------------
// (e) The committed-offsets log: group record parsers and segment recovery
// ---------------------------------------------------------------------------

/// A `__consumer_offsets-0` segment: offset commits (value versions 1, 3 and 4), a deleted
/// commit, group metadata with members (versions 0 and 3) and a deleted group.
fn seed_offsets_log() -> Vec<u8> {
    use sluice::group::records::{CommittedOffset, GroupMetadataValue, MemberRecord, RecordKey};
    let offset_key = |group: &str, topic: &str, partition| {
        RecordKey::Offset {
            group: s(group),
            topic: s(topic),
            partition,
        }
        .encode()
    };
    let group_key = |group: &str| RecordKey::Group { group: s(group) }.encode();
    let committed = |offset| {
        CommittedOffset {
            offset,
            leader_epoch: 3,
            metadata: s("meta"),
            commit_timestamp: 1_700_000_000_000,
        }
        .encode()
    };
    let member = |id: &str| MemberRecord {
        member_id: s(id),
        group_instance_id: Some(s("i")),
        client_id: s("client"),
        client_host: s("/127.0.0.1"),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        subscription: Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x01t"),
        assignment: Bytes::from_static(
            b"\x00\x01\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x01\x00\x00\x00\x00",
        ),
    };
    let group = GroupMetadataValue {
        protocol_type: s("consumer"),
        generation: 4,
        protocol: Some(s("range")),
        leader: Some(s("m1")),
        current_state_timestamp: 1_700_000_000_000,
        members: vec![member("m1"), member("m2")],
    }
    .encode();
    // Older and newer value versions, written by hand: v1 (expire timestamp), v4 (flexible).
    let mut v1 = vec![0, 1];
    v1.extend_from_slice(&7i64.to_be_bytes());
    v1.extend_from_slice(&[0, 1, b'm']);
    v1.extend_from_slice(&1i64.to_be_bytes());
    v1.extend_from_slice(&2i64.to_be_bytes());
    let mut v4 = vec![0, 4];
    v4.extend_from_slice(&9i64.to_be_bytes());
    v4.extend_from_slice(&(-1i32).to_be_bytes());
    v4.extend_from_slice(&[2, b'm', 0, 0, 0, 0, 0, 0, 0, 5, 0]);
    let mut group_v0 = vec![0, 0, 0, 8];
    group_v0.extend_from_slice(b"consumer");
    group_v0.extend_from_slice(&1i32.to_be_bytes());
    group_v0.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null protocol and leader
    group_v0.extend_from_slice(&0i32.to_be_bytes()); // no members

    let records: Vec<(Bytes, Option<Bytes>)> = vec![
        (offset_key("g1", "orders", 0), Some(committed(10))),
        (offset_key("g1", "orders", 1), Some(Bytes::from(v1))),
        (offset_key("g1", "payments", 0), Some(Bytes::from(v4))),
        (group_key("g1"), Some(group)),
        (group_key("g2"), Some(Bytes::from(group_v0))),
        (offset_key("g2", "orders", 0), Some(committed(3))),
        (offset_key("g2", "orders", 0), None),
        (group_key("g3"), Some(Bytes::from_static(&[0, 3, 0, 0]))),
        (group_key("g3"), None),
    ];
    let mut log = Vec::new();
    for (i, chunk) in records.chunks(3).enumerate() {
        let mut b = BatchBuilder::new(3 * i as i64, 1_700_000_000_000 + i as i64);
        for (key, value) in chunk {
            b.push(Some(key), value.as_deref(), &[]);
        }
        log.extend_from_slice(&b.build());
    }
    log
}

#[test]
fn fuzz_offsets_log() {
    use sluice::group::store::{recover, OFFSETS_DIR};
    let Some(_serial) = in_own_process("fuzz_offsets_log") else {
        return;
    };
    let target = "offsets_log";
    let mut g = Gen::new(target);
    let budget = Budget::new(2_000);
    let seed = seed_offsets_log();
    let temp = tempfile::tempdir().expect("temp dir");
    let log_dir = temp.path();
    let dir = log_dir.join(OFFSETS_DIR);

    let reset = |data: &[u8]| {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("offsets dir");
        std::fs::write(dir.join("00000000000000000000.log"), data).expect("write");
    };
    reset(&seed);
    let (log, state, _) = recover(log_dir, OFFSETS_DIR);
    assert!(log.is_some(), "the seed log opens");
    assert_eq!(state.offsets["g1"]["orders"][&0].offset, 10);
    assert_eq!(state.offsets["g1"]["payments"][&0].offset, 9);
    assert_eq!(state.groups["g1"].members.len(), 2);
    assert!(state.groups.contains_key("g2") && !state.groups.contains_key("g3"));
    drop(log);

    budget.run(target, |_| {
        let mut input = seed.clone();
        let what = if g.chance(3) {
            mutate(&mut g, &mut input, &seed);
            "mutated"
        } else {
            // Damage inside one batch, CRC fixed, so that its records reach the parsers.
            let batches: Vec<(usize, usize)> = BatchIter::new(Bytes::from(seed.clone()))
                .filter_map(Result::ok)
                .map(|b| (b.position, b.bytes.len()))
                .collect();
            let (start, len) = *g.pick(&batches);
            let mut batch = input[start..start + len].to_vec();
            let mut tail = batch.split_off(21);
            mutate(&mut g, &mut tail, &seed);
            batch.extend(tail);
            fix_crc(&mut batch);
            input.splice(start..start + len, batch);
            "batch damaged, CRC fixed"
        };
        reset(&input);
        case(target, what, &input, || {
            let (log, first, _) = recover(log_dir, OFFSETS_DIR);
            drop(log);
            // What recovery kept replays the same the second time.
            let (log, second, _) = recover(log_dir, OFFSETS_DIR);
            drop(log);
            assert_eq!(
                first.offsets, second.offsets,
                "offsets differ on a second replay"
            );
            assert_eq!(
                first.groups, second.groups,
                "groups differ on a second replay"
            );
        });
    });
}
