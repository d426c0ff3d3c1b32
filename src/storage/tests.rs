//! PartitionLog tests on temporary directories. Every loop is bounded by a constant.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::error::ErrorCode;
use crate::record::{self, BatchBuilder, BatchHeader, BatchIter, ATTR_LOG_APPEND_TIME};
use crate::util::clock::now_ms;

/// A (non-idempotent) producer's batch of `records` records (values of equal length), base
/// offset 0. Without a producer id it can be appended again and again.
fn batch(records: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, ts);
    for i in 0..records {
        b.push(None, Some(format!("value-{i:04}").as_bytes()), &[]);
    }
    b.build()
}

fn append(log: &mut PartitionLog, records: usize, ts: i64) -> AppendInfo {
    log.append(BytesMut::from(&batch(records, ts)[..]), ts)
        .expect("append")
}

fn headers(slice: &FileSlice) -> Vec<BatchHeader> {
    let bytes = slice.read().expect("read slice");
    BatchIter::new(bytes)
        .map(|b| b.expect("whole valid batches").header)
        .collect()
}

fn seg_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}{suffix}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}

/// Size of `batch(records, _)`.
fn batch_len(records: usize) -> u64 {
    batch(records, 0).len() as u64
}

#[test]
fn append_and_read_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (0, 0, 1)
    );
    for suffix in [".log", ".index", ".timeindex"] {
        assert!(seg_path(dir.path(), 0, suffix).exists());
    }
    let mut sent = Vec::new();
    for i in 0..60 {
        let records = 1 + i % 4;
        let info = append(&mut log, records, 1000 + i as i64);
        assert_eq!(info.base_offset, log.log_end_offset() - records as i64);
        assert_eq!(info.last_offset, info.base_offset + records as i64 - 1);
        assert_eq!(info.log_append_time, -1);
        assert_eq!(info.batches.len(), 1);
        assert_eq!(info.batches[0].base_offset, info.base_offset);
        sent.push(info);
    }
    assert_eq!(
        log.log_end_offset(),
        (0..60).map(|i| 1 + i % 4).sum::<usize>() as i64
    );
    assert_eq!(log.high_watermark(), log.log_end_offset());

    // The stored bytes are the produced bytes with baseOffset and partitionLeaderEpoch (-1:
    // no epoch told) rewritten, CRC untouched.
    let file = fs::read(seg_path(dir.path(), 0, ".log")).expect("log file");
    assert_eq!(file.len() as u64, log.size_bytes());
    let mut position = 0;
    for (i, info) in sent.iter().enumerate() {
        let mut expected = batch(1 + i % 4, 1000 + i as i64).to_vec();
        record::set_base_offset(&mut expected, info.base_offset);
        record::set_partition_leader_epoch(&mut expected, -1);
        assert_eq!(&file[position..position + expected.len()], &expected[..]);
        position += expected.len();
    }

    // Every offset, including those in the middle of a batch, starts at its whole batch.
    for offset in 0..log.log_end_offset() {
        let slice = log.read(offset, 1 << 20, false).expect("read");
        let first = headers(&slice)[0];
        assert!(first.base_offset <= offset && offset <= first.last_offset());
        assert_eq!(slice.first_offset, first.base_offset);
    }
    let whole = log.read(0, usize::MAX, false).expect("read all");
    assert_eq!(whole.read().expect("bytes").as_ref(), &file[..]);

    let leo = log.log_end_offset();
    assert!(log.read(leo, 1000, true).expect("at LEO").is_empty());
    let err = log.read(leo + 1, 1000, true).expect_err("past LEO");
    assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);
    assert!(matches!(
        log.read(-1, 10, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn max_bytes_and_min_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    for i in 0..10 {
        append(&mut log, 1, i);
    }
    let len = batch_len(1) as usize;
    let slice = log.read(0, 3 * len - 1, false).expect("read");
    assert_eq!(slice.len, 2 * len);
    assert_eq!(headers(&slice).len(), 2);
    assert_eq!(log.read(2, 3 * len, false).expect("read").len, 3 * len);
    let none = log.read(0, len - 1, false).expect("read");
    assert!(none.is_empty());
    assert_eq!(none.first_offset, 0);
    assert_eq!(log.read(0, 1, true).expect("read").len, len);
    assert_eq!(log.read(5, 0, true).expect("read").len, len);
    assert_eq!(log.read(9, 1 << 20, false).expect("read").len, len);

    // A large batch after small ones: it is not cut, and min_one returns it whole.
    append(&mut log, 40, 100);
    let big = batch_len(40) as usize;
    let slice = log.read(8, 2 * len + big - 1, false).expect("read");
    assert_eq!(slice.len, 2 * len);
    let slice = log.read(10, 10, true).expect("read");
    assert_eq!((slice.len, slice.first_offset), (big, 10));
    assert_eq!(headers(&slice)[0].record_count, 40);
}

#[test]
fn bad_input_appends_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        max_message_bytes: 200,
        segment_bytes: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let good = batch(2, 10);
    let try_append = |log: &mut PartitionLog, parts: &[&[u8]]| {
        let mut data = BytesMut::new();
        for p in parts {
            data.extend_from_slice(p);
        }
        log.append(data, 10)
            .expect_err("must be refused")
            .error_code()
    };

    let mut corrupt = batch(1, 10).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        try_append(&mut log, &[&good, &corrupt]),
        ErrorCode::CorruptMessage
    );
    assert_eq!(
        try_append(&mut log, &[&good, &good[..30]]),
        ErrorCode::CorruptMessage
    );
    let empty_batch = BatchBuilder::new(0, 10).build();
    assert_eq!(
        try_append(&mut log, &[&good, &empty_batch]),
        ErrorCode::InvalidRecord
    );
    let mut old_magic = good.to_vec();
    old_magic[16] = 1;
    assert_eq!(
        try_append(&mut log, &[&old_magic]),
        ErrorCode::UnsupportedForMessageFormat
    );
    assert_eq!(try_append(&mut log, &[]), ErrorCode::InvalidRecord);
    let large = batch(20, 10);
    assert!(large.len() > 200);
    assert_eq!(
        try_append(&mut log, &[&good, &large]),
        ErrorCode::MessageTooLarge
    );
    let many: Vec<&[u8]> = (0..11).map(|_| &good[..]).collect();
    assert_eq!(try_append(&mut log, &many), ErrorCode::RecordListTooLarge);

    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(
        fs::metadata(seg_path(dir.path(), 0, ".log"))
            .expect("meta")
            .len(),
        0
    );

    // Several good batches in one append: one write, contiguous offsets.
    let info = log
        .append(
            BytesMut::from(&[&good[..], &good[..], &good[..]].concat()[..]),
            10,
        )
        .expect("append");
    assert_eq!((info.base_offset, info.last_offset), (0, 5));
    assert_eq!(
        info.batches
            .iter()
            .map(|b| b.base_offset)
            .collect::<Vec<_>>(),
        [0, 2, 4]
    );
    assert_eq!(info.bytes, 3 * good.len());
    assert_eq!(
        AppendError::Io(std::io::Error::other("disk")).error_code(),
        ErrorCode::KafkaStorageError
    );
}

#[test]
fn log_append_time_is_stamped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        timestamp_type_log_append: true,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let info = log
        .append(BytesMut::from(&batch(3, 5)[..]), 777)
        .expect("append");
    assert_eq!(info.log_append_time, 777);
    assert_eq!(info.batches[0].max_timestamp, 777);
    let stored = log
        .read(0, 1 << 20, false)
        .expect("read")
        .read()
        .expect("bytes");
    let header = record::validate(&stored).expect("CRC recomputed");
    assert_ne!(header.attributes & ATTR_LOG_APPEND_TIME, 0);
    assert_eq!(header.max_timestamp, 777);
    assert_eq!(
        log.offset_for_timestamp(700).expect("lookup"),
        Some((0, 777))
    );
}

/// 9 batches of 2 records, 3 per segment: segments at 0, 6, 12.
fn three_segment_log(dir: &Path, config: LogConfig) -> PartitionLog {
    let config = LogConfig {
        segment_bytes: 3 * batch_len(2),
        ..config
    };
    let mut log = PartitionLog::open(dir, config).expect("open");
    for i in 0..9 {
        append(&mut log, 2, 1000 + i);
    }
    log
}

#[test]
fn rolls_by_size_and_reads_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = three_segment_log(dir.path(), LogConfig::default());
    assert_eq!(log.segment_base_offsets(), [0, 6, 12]);
    assert_eq!(log.log_end_offset(), 18);
    for base in [0, 6, 12] {
        assert_eq!(
            fs::metadata(seg_path(dir.path(), base, ".log"))
                .expect("meta")
                .len(),
            3 * batch_len(2)
        );
    }
    for offset in 0..18 {
        let slice = log.read(offset, 1 << 20, false).expect("read");
        let batches = headers(&slice);
        assert_eq!(batches[0].base_offset, offset - offset % 2);
        // One segment per read.
        let segment_end = (offset / 6 + 1) * 6;
        assert_eq!(
            batches.last().expect("batch").last_offset(),
            segment_end - 1
        );
    }
    // Rolled segments were flushed: the recovery point is the active segment's base.
    assert_eq!(log.recovery_point(), 12);
}

#[test]
fn rolls_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        roll_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    append(&mut log, 1, 10_000);
    append(&mut log, 1, 10_500);
    append(&mut log, 1, 11_000);
    assert_eq!(log.segment_count(), 1);
    append(&mut log, 1, 11_001);
    assert_eq!(log.segment_base_offsets(), [0, 3]);

    // Without timestamps the segment's creation time counts.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), config_roll_ms(1000)).expect("open");
    let now = now_ms();
    log.append(BytesMut::from(&batch(1, -1)[..]), now)
        .expect("append");
    log.append(BytesMut::from(&batch(1, -1)[..]), now + 10)
        .expect("append");
    assert_eq!(log.segment_count(), 1);
    log.append(BytesMut::from(&batch(1, -1)[..]), now + 60_000)
        .expect("append");
    assert_eq!(log.segment_count(), 2);
}

fn config_roll_ms(roll_ms: i64) -> LogConfig {
    LogConfig {
        roll_ms,
        ..LogConfig::default()
    }
}

#[test]
fn index_entries_follow_the_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 4096,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let len = batch_len(4);
    for i in 0..200 {
        append(&mut log, 4, 5000 + i);
    }
    let index = fs::read(seg_path(dir.path(), 0, ".index")).expect("index");
    let per_entry = 4096 / len + 1;
    let expected: Vec<u64> = (1..)
        .map(|k| k * per_entry)
        .take_while(|&i| i < 200)
        .collect();
    assert_eq!(index.len(), expected.len() * 8);
    for (entry, &batch_no) in index.chunks(8).zip(&expected) {
        // Relative offset of the batch's last record, then its byte position.
        let last_offset = (batch_no * 4 + 3) as u32;
        assert_eq!(entry[..4], last_offset.to_be_bytes());
        assert_eq!(entry[4..], ((batch_no * len) as u32).to_be_bytes());
    }
    let times = fs::read(seg_path(dir.path(), 0, ".timeindex")).expect("timeindex");
    assert_eq!(times.len(), expected.len() * 12);
    for (entry, &batch_no) in times.chunks(12).zip(&expected) {
        assert_eq!(entry[..8], (5000 + batch_no as i64).to_be_bytes());
        assert_eq!(entry[8..], ((batch_no * 4 + 3) as u32).to_be_bytes());
    }
    // Closing adds the segment's max timestamp as the final time-index entry.
    log.close().expect("close");
    let times = fs::read(seg_path(dir.path(), 0, ".timeindex")).expect("timeindex");
    assert_eq!(times.len(), (expected.len() + 1) * 12);
    assert_eq!(
        times[times.len() - 12..times.len() - 4],
        5199i64.to_be_bytes()
    );
    assert_eq!(times[times.len() - 4..], 799u32.to_be_bytes());
}

/// Collects the text of events at `.1` or more severe.
struct EventCapture(Arc<Mutex<Vec<String>>>, tracing::Level);

struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for EventCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() <= self.1 {
            let mut text = FieldText(String::new());
            event.record(&mut text);
            self.0.lock().expect("lock").push(text.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn open_capturing(
    dir: &Path,
    config: LogConfig,
    level: tracing::Level,
) -> (PartitionLog, Vec<String>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = tracing::subscriber::with_default(EventCapture(Arc::clone(&events), level), || {
        PartitionLog::open(dir, config)
    })
    .expect("reopen");
    let events = events.lock().expect("lock").clone();
    (log, events)
}

fn open_capturing_warnings(dir: &Path, config: LogConfig) -> (PartitionLog, Vec<String>) {
    open_capturing(dir, config, tracing::Level::WARN)
}

#[test]
fn recovery_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    for i in 0..10 {
        append(&mut log, 1, i);
    }
    drop(log); // no close: an unclean stop
    let path = seg_path(dir.path(), 0, ".log");
    let len = batch_len(1);
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open log");
    file.set_len(10 * len - 10).expect("tear");
    drop(file);

    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    let stats = log.recovery_stats().clone();
    assert!(!stats.clean_shutdown);
    assert_eq!(stats.segments_recovered, 1);
    assert_eq!(stats.batches_validated, 9);
    assert_eq!(stats.bytes_truncated, len - 10);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(fs::metadata(&path).expect("meta").len(), 9 * len);
    assert_eq!(
        headers(&log.read(8, 1 << 20, false).expect("read"))[0].base_offset,
        8
    );
    assert!(log.read(9, 1 << 20, false).expect("read").is_empty());
    assert_eq!(append(&mut log, 1, 10).base_offset, 9);
}

#[test]
fn recovery_truncates_at_garbage_and_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    for i in 0..10 {
        append(&mut log, 1, i);
    }
    drop(log);
    let path = seg_path(dir.path(), 0, ".log");
    let len = batch_len(1);
    let mut bytes = fs::read(&path).expect("read");
    let at = (4 * len + 30) as usize;
    bytes[at..at + 10].copy_from_slice(&[0xab; 10]);
    fs::write(&path, &bytes).expect("write");

    let (log, warnings) = open_capturing_warnings(dir.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.recovery_stats().bytes_truncated, 6 * len);
    assert_eq!(fs::metadata(&path).expect("meta").len(), 4 * len);
    let warning = warnings
        .iter()
        .find(|w| w.contains("truncating"))
        .expect("a truncation warning");
    assert!(warning.contains("00000000000000000000.log"), "{warning}");
    assert!(
        warning.contains(&format!("position={}", 4 * len)),
        "{warning}"
    );
    assert!(warning.contains("CRC mismatch"), "{warning}");
}

#[test]
fn recovery_deletes_segments_after_a_corrupt_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = three_segment_log(dir.path(), LogConfig::default());
    drop(log);
    // Without a checkpoint every segment is unflushed, as after a crash before any roll.
    fs::remove_file(dir.path().join("sluice-offset-checkpoint")).expect("rm checkpoint");
    let path = seg_path(dir.path(), 6, ".log");
    let mut bytes = fs::read(&path).expect("read");
    let second = batch_len(2) as usize;
    bytes[second + 8..second + 12].copy_from_slice(&5i32.to_be_bytes()); // batchLength
    fs::write(&path, &bytes).expect("write");

    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    let stats = log.recovery_stats();
    assert_eq!(stats.recovery_point, Some(0));
    assert_eq!(stats.segments_recovered, 2);
    assert_eq!(stats.segments_deleted, 1);
    assert_eq!(log.segment_base_offsets(), [0, 6]);
    assert_eq!(log.log_end_offset(), 8);
    for suffix in [".log", ".index", ".timeindex"] {
        assert!(!seg_path(dir.path(), 12, suffix).exists());
    }
}

#[test]
fn damaged_or_missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = three_segment_log(dir.path(), config.clone());
    log.close().expect("close");
    let read_all = |suffix: &str| -> Vec<Vec<u8>> {
        [0, 6, 12]
            .iter()
            .map(|&b| fs::read(seg_path(dir.path(), b, suffix)).expect("index file"))
            .collect()
    };
    let (indexes, times) = (read_all(".index"), read_all(".timeindex"));
    assert!(indexes.iter().all(|i| !i.is_empty()));

    fs::remove_file(seg_path(dir.path(), 0, ".index")).expect("rm");
    let mut torn = times[1].clone();
    torn.extend_from_slice(&[1, 2, 3]);
    fs::write(seg_path(dir.path(), 6, ".timeindex"), torn).expect("write");
    let mut beyond_log = indexes[2].clone();
    beyond_log[4..8].copy_from_slice(&0x7fff_ffffu32.to_be_bytes()); // position past the log
    fs::write(seg_path(dir.path(), 12, ".index"), beyond_log).expect("write");

    let config = LogConfig {
        segment_bytes: 3 * batch_len(2),
        ..config
    };
    let log = PartitionLog::open(dir.path(), config).expect("reopen");
    assert!(log.recovery_stats().clean_shutdown);
    assert_eq!(log.recovery_stats().indexes_rebuilt, 3);
    assert_eq!(read_all(".index"), indexes);
    assert_eq!(read_all(".timeindex"), times);
    for offset in 0..18 {
        let slice = log.read(offset, 1 << 20, false).expect("read");
        assert_eq!(headers(&slice)[0].base_offset, offset - offset % 2);
    }
}

#[test]
fn clean_close_skips_validation_unclean_recovers_the_active_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = three_segment_log(dir.path(), LogConfig::default());
    let max = log.max_timestamp_offset();
    log.close().expect("close");
    assert!(dir.path().join("sluice-clean-shutdown").exists());

    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    let stats = log.recovery_stats().clone();
    assert!(stats.clean_shutdown);
    assert_eq!(stats.segments_loaded, 3);
    assert_eq!((stats.segments_recovered, stats.batches_validated), (0, 0));
    assert_eq!(stats.indexes_rebuilt, 0);
    // Nothing changed yet: the marker stays until the first write.
    assert!(dir.path().join("sluice-clean-shutdown").exists());
    assert_eq!(log.log_end_offset(), 18);
    assert_eq!(log.recovery_point(), 18);
    // Only the headers after each segment's last index entry were walked (no index entries
    // here: 3 batches per segment), and no batch was read whole.
    let scanned = log.scan_stats();
    assert_eq!(scanned.headers_parsed, 9, "{scanned:?}");
    assert!(scanned.bytes_read <= 3 * 3 * batch_len(2), "{scanned:?}");
    assert_eq!(log.max_timestamp_offset(), max);

    append(&mut log, 2, 2000);
    assert!(!dir.path().join("sluice-clean-shutdown").exists());
    drop(log); // unclean
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    let stats = log.recovery_stats();
    assert!(!stats.clean_shutdown);
    assert_eq!(stats.recovery_point, Some(18));
    assert_eq!(stats.segments_recovered, 1, "only the active segment");
    assert_eq!(stats.batches_validated, 4);
    assert_eq!(log.log_end_offset(), 20);
}

/// Every file of `dir` with its bytes.
fn dir_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).expect("read"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_clean_open_changes_nothing_until_the_first_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    three_segment_log(dir.path(), LogConfig::default())
        .close()
        .expect("close");
    let closed = dir_contents(dir.path());
    assert!(closed.iter().any(|(n, _)| n == "sluice-clean-shutdown"));

    // Opened, read, and stopped without a close (a crash): still exactly as closed, so still
    // clean.
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert!(!headers(&log.read(0, 1 << 20, false).expect("read")).is_empty());
    drop(log);
    assert_eq!(dir_contents(dir.path()), closed);
    // Opened and closed again without a write: nothing rewritten.
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert!(log.recovery_stats().clean_shutdown);
    log.close().expect("close");
    assert_eq!(dir_contents(dir.path()), closed);

    // The first write takes the marker away before anything else changes.
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    append(&mut log, 2, 3000);
    assert!(!dir.path().join("sluice-clean-shutdown").exists());
    drop(log); // unclean
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert!(!log.recovery_stats().clean_shutdown);
    assert_eq!(log.log_end_offset(), 20);
}

#[test]
fn retention_by_time_and_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_ms: 5000,
        ..LogConfig::default()
    };
    // Timestamps 1000..=1008; segments hold 1000-1002, 1003-1005, 1006-1008.
    let mut log = three_segment_log(dir.path(), config.clone());
    let kept = log.read(0, 1 << 20, false).expect("read");
    let outcome = log.apply_retention(1002 + 5000).expect("retention");
    assert_eq!(outcome.segments_deleted, 0);
    let outcome = log.apply_retention(1002 + 5001).expect("retention");
    assert_eq!(
        outcome,
        RetentionOutcome {
            segments_deleted: 1,
            bytes_deleted: 3 * batch_len(2),
            log_start_offset: 6,
        }
    );
    assert!(!seg_path(dir.path(), 0, ".log").exists());
    assert!(matches!(
        log.read(5, 100, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // A slice handed out before the deletion is still readable.
    assert_eq!(headers(&kept).len(), 3);

    let outcome = log.apply_retention(i64::MAX / 2).expect("retention");
    assert_eq!(outcome.segments_deleted, 1, "never the active segment");
    assert_eq!(log.segment_base_offsets(), [12]);
    assert_eq!(log.log_start_offset(), 12);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_ms: -1,
        retention_bytes: 4 * batch_len(2) as i64,
        ..LogConfig::default()
    };
    let mut log = three_segment_log(dir.path(), config.clone());
    let outcome = log.apply_retention(0).expect("retention");
    assert_eq!((outcome.segments_deleted, outcome.log_start_offset), (1, 6));
    assert_eq!(log.size_bytes(), 6 * batch_len(2));
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..log.config().clone()
    });
    let outcome = log.apply_retention(0).expect("retention");
    assert_eq!(
        (outcome.segments_deleted, outcome.log_start_offset),
        (1, 12)
    );
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn delete_records_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = three_segment_log(dir.path(), LogConfig::default());
    assert_eq!(log.delete_records_before(7).expect("delete"), 7);
    assert_eq!(log.segment_base_offsets(), [6, 12]);
    assert!(matches!(
        log.read(6, 100, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    // Offset 7 is inside the batch 6..=7, which is served whole.
    assert_eq!(log.read(7, 100, true).expect("read").first_offset, 6);
    assert_eq!(log.delete_records_before(3).expect("no-op"), 7);
    let err = log.delete_records_before(19).expect_err("past HW");
    assert_eq!(err.error_code(), ErrorCode::OffsetOutOfRange);
    assert!(log.delete_records_before(-2).is_err());
    assert_eq!(log.delete_records_before(-1).expect("to HW"), 18);
    assert_eq!(log.segment_base_offsets(), [12]);
    assert!(log.read(18, 100, true).expect("at LEO").is_empty());
    drop(log);
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.log_start_offset(), 18, "log start survives a restart");
}

#[test]
fn offsets_by_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 4 * batch_len(2),
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
    assert_eq!(log.max_timestamp_offset(), None);
    // Batch i: offsets 2i, 2i+1, timestamp 1000 + 10i.
    for i in 0..12 {
        append(&mut log, 2, 1000 + 10 * i);
    }
    assert_eq!(log.segment_count(), 3);
    let lookup = |log: &PartitionLog, ts| log.offset_for_timestamp(ts).expect("lookup");
    assert_eq!(lookup(&log, 0), Some((0, 1000)));
    assert_eq!(lookup(&log, 1000), Some((0, 1000)));
    assert_eq!(lookup(&log, 1005), Some((2, 1010)));
    assert_eq!(lookup(&log, 1040), Some((8, 1040)));
    assert_eq!(lookup(&log, 1041), Some((10, 1050)));
    assert_eq!(lookup(&log, 1110), Some((22, 1110)));
    assert_eq!(lookup(&log, 1111), None);
    assert_eq!(log.max_timestamp_offset(), Some((22, 1110)));
    log.delete_records_before(5).expect("delete");
    assert_eq!(lookup(&log, 0), Some((5, 1020)));
    // Same answers after a clean restart (max timestamps come back from the time indexes).
    log.close().expect("close");
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(lookup(&log, 1041), Some((10, 1050)));
    assert_eq!(log.max_timestamp_offset(), Some((22, 1110)));
}

/// STAGES.md §2.2 and §3 vectors.
const PINEAPPLE: &str = "0000000000000000000000410000000002cf35bf6200000000000000000191e05b6d8b00000191e05b6d8b0000000000000000000000000000000000011e000000011270696e656170706c6501";
const MANGO: &str = "00000000000000000000003d000000000272bc4ab000000000000000000191e05b6d8b00000191e05b6d8b00000000000000000000000000000000000116000000010a6d616e676f00";
/// STAGES.md §2.1: the metadata log's first batch, at offset 1 in segment 0.
const FEATURE_LEVEL: &str = "00000000000000010000004f0000000102b069457c00000000000000000191e05af81800000191e05af818ffffffffffffffffffffffffffff000000013a000000012e010c00116d657461646174612e76657273696f6e00140000";

#[test]
fn codecrafters_directory_opens_and_serves() {
    let root = tempfile::tempdir().expect("tempdir");
    fs::write(
        root.path().join(".kafka_cleanshutdown"),
        r#"{"version":0,"brokerEpoch":10}"#,
    )
    .expect("marker");
    let topic = root.path().join("pear-0");
    fs::create_dir(&topic).expect("mkdir");
    let metadata = "version: 0\ntopic_id: caFhnHmoT4uTfgAAAAAAAQ==";
    fs::write(topic.join("partition.metadata"), metadata).expect("write");
    let pineapple = hex(PINEAPPLE);
    fs::write(seg_path(&topic, 0, ".log"), &pineapple).expect("write");

    let options = OpenHints {
        kafka_clean_shutdown: root.path().join(".kafka_cleanshutdown").exists(),
        ..OpenHints::default()
    };
    let mut log =
        PartitionLog::open_with_hints(&topic, LogConfig::default(), options).expect("open");
    assert_eq!(log.recovery_stats().indexes_rebuilt, 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 1));
    let slice = log.read(0, 1 << 20, true).expect("read");
    assert_eq!(slice.read().expect("bytes").as_ref(), &pineapple[..]);

    let info = log
        .append(BytesMut::from(&hex(MANGO)[..]), 1)
        .expect("produce");
    assert_eq!(
        (
            info.base_offset,
            info.log_append_time,
            info.log_start_offset
        ),
        (1, -1, 0)
    );
    let file = fs::read(seg_path(&topic, 0, ".log")).expect("read");
    assert_eq!(&file[..pineapple.len()], &pineapple[..]);
    let stored = record::validate(&file[pineapple.len()..]).expect("valid");
    assert_eq!((stored.base_offset, stored.crc), (1, 0x72bc4ab0));
    assert_eq!(
        fs::read_to_string(topic.join("partition.metadata")).expect("read"),
        metadata
    );

    // The metadata log starts at offset 1 in segment 0.
    let meta = root.path().join("__cluster_metadata-0");
    fs::create_dir(&meta).expect("mkdir");
    fs::write(seg_path(&meta, 0, ".log"), hex(FEATURE_LEVEL)).expect("write");
    let log = PartitionLog::open_with_hints(&meta, LogConfig::default(), options).expect("open");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 2));
    for offset in [0, 1] {
        let slice = log.read(offset, 1 << 20, false).expect("read");
        assert_eq!(
            slice.read().expect("bytes").as_ref(),
            &hex(FEATURE_LEVEL)[..]
        );
    }

    // A partition with no messages: a zero-length log.
    let empty = root.path().join("empty-0");
    fs::create_dir(&empty).expect("mkdir");
    fs::write(seg_path(&empty, 0, ".log"), b"").expect("write");
    let log = PartitionLog::open(&empty, LogConfig::default()).expect("open");
    assert_eq!(log.log_end_offset(), 0);
    assert!(log.read(0, 100, true).expect("read").is_empty());
}

#[test]
fn leftovers_and_foreign_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = three_segment_log(dir.path(), LogConfig::default());
    log.close().expect("close");
    let p = dir.path();
    fs::write(seg_path(p, 30, ".log.deleted"), b"junk").expect("write");
    fs::write(seg_path(p, 40, ".index"), b"").expect("orphan");
    fs::write(p.join("leader-epoch-checkpoint"), "0\n1\n0 0\n").expect("write");
    fs::write(p.join("partition.metadata"), "version: 0\n").expect("write");
    fs::write(seg_path(p, 0, ".snapshot"), b"").expect("write");
    let log = PartitionLog::open(p, LogConfig::default()).expect("open");
    assert_eq!(log.segment_base_offsets(), [0, 6, 12]);
    assert!(!seg_path(p, 30, ".log.deleted").exists());
    assert!(!seg_path(p, 40, ".index").exists());
    assert!(p.join("leader-epoch-checkpoint").exists());
    assert!(seg_path(p, 0, ".snapshot").exists());
}

/// A batch Kafka's cleaner could have written: `records` records from `base`, built with the
/// record encoder (not through a log), values naming their offsets.
fn cleaned_batch(base: i64, records: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(base, ts);
    for i in 0..records {
        b.push(
            None,
            Some(format!("kept-{}", base + i as i64).as_bytes()),
            &[],
        );
    }
    b.build()
}

/// Kafka's offset index entry: relative offset, position, both big-endian 4 bytes.
fn offset_index_entry(relative: u32, position: u32) -> Vec<u8> {
    [relative.to_be_bytes(), position.to_be_bytes()].concat()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

fn logged(events: &[String], path: &Path) -> bool {
    let path = path.display().to_string();
    events.iter().any(|e| e.contains(&path))
}

#[test]
fn cleaned_files_and_swaps_of_an_incomplete_split_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    three_segment_log(p, LogConfig::default())
        .close()
        .expect("close");
    let logs_before: Vec<Vec<u8>> = [0, 6, 12]
        .iter()
        .map(|&b| fs::read(seg_path(p, b, ".log")).expect("log"))
        .collect();
    // A split of segments 6.. cut short: the cleaner renames `.cleaned` to `.swap` from the
    // highest offset down, so 12 is a swap and 6 still cleaned. Both go; the old segments stay.
    let leftovers = [
        seg_path(p, 6, ".log.cleaned"),
        seg_path(p, 6, ".index.cleaned"),
        seg_path(p, 12, ".log.swap"),
        seg_path(p, 12, ".timeindex.swap"),
    ];
    fs::write(&leftovers[0], cleaned_batch(6, 6, 1000)).expect("write");
    fs::write(&leftovers[1], offset_index_entry(0, 0)).expect("write");
    fs::write(&leftovers[2], cleaned_batch(12, 6, 1000)).expect("write");
    fs::write(&leftovers[3], b"").expect("write");

    let (log, events) = open_capturing(p, LogConfig::default(), tracing::Level::INFO);
    for path in &leftovers {
        assert!(!path.exists(), "{} deleted", path.display());
        assert!(logged(&events, path), "{} logged", path.display());
    }
    let stats = log.recovery_stats();
    assert_eq!(
        (stats.cleaner_files_deleted, stats.swap_files_completed),
        (4, 0)
    );
    assert_eq!(log.segment_base_offsets(), [0, 6, 12]);
    for (base, before) in [0, 6, 12].iter().zip(&logs_before) {
        assert_eq!(&fs::read(seg_path(p, *base, ".log")).expect("log"), before);
    }
    assert_eq!(log.log_end_offset(), 18);
    for offset in 0..18 {
        let first = headers(&log.read(offset, 1 << 20, false).expect("read"))[0];
        assert_eq!(first.base_offset, offset - offset % 2, "offset {offset}");
    }
    assert!(!names(p)
        .iter()
        .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")));
}

#[test]
fn a_swap_replaces_the_segments_it_covers_and_serves_their_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    three_segment_log(p, LogConfig::default())
        .close()
        .expect("close");
    let segment_12 = fs::read(seg_path(p, 12, ".log")).expect("log");
    // Segments 0 and 6 (offsets 0..12) compacted into one, swapped in but the old ones not yet
    // deleted: the cleaner kept offsets 1, 5, 10 and 11.
    let kept = [
        cleaned_batch(1, 1, 1000),
        cleaned_batch(5, 1, 1002),
        cleaned_batch(10, 2, 1005),
    ];
    let swap_log = kept.concat();
    fs::write(seg_path(p, 0, ".log.swap"), &swap_log).expect("write");
    let index = offset_index_entry(5, kept[0].len() as u32);
    fs::write(seg_path(p, 0, ".index.swap"), &index).expect("write");
    // Kafka's time index entry: timestamp (8 bytes), relative offset (4), big-endian.
    let time_index = [1005i64.to_be_bytes().to_vec(), 10u32.to_be_bytes().to_vec()].concat();
    fs::write(seg_path(p, 0, ".timeindex.swap"), &time_index).expect("write");
    let replaced: Vec<PathBuf> = [0, 6]
        .iter()
        .flat_map(|&b| [".log", ".index", ".timeindex"].map(|s| seg_path(p, b, s)))
        .collect();
    assert!(replaced.iter().all(|f| f.exists()));

    let (mut log, events) = open_capturing(p, LogConfig::default(), tracing::Level::INFO);
    for path in &replaced {
        assert!(logged(&events, path), "{} logged", path.display());
    }
    assert!(!seg_path(p, 6, ".log").exists() && !seg_path(p, 6, ".index").exists());
    for suffix in [".log.swap", ".index.swap", ".timeindex.swap"] {
        assert!(!seg_path(p, 0, suffix).exists(), "{suffix} renamed");
        assert!(logged(&events, &seg_path(p, 0, suffix)), "{suffix} logged");
    }
    assert_eq!(fs::read(seg_path(p, 0, ".log")).expect("log"), swap_log);
    // The swapped-in indexes, not rebuilt ones (which would have no entry in so small a log).
    assert_eq!(
        fs::read(seg_path(p, 0, ".index")).expect("index")[..8],
        index[..]
    );
    assert_eq!(
        fs::read(seg_path(p, 0, ".timeindex")).expect("time index")[..12],
        time_index[..]
    );
    assert_eq!(fs::read(seg_path(p, 12, ".log")).expect("log"), segment_12);
    let stats = log.recovery_stats();
    assert_eq!((stats.swap_files_completed, stats.indexes_rebuilt), (3, 0));
    assert_eq!(log.segment_base_offsets(), [0, 12]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 18));

    // Each offset is served by the batch holding it or, for an offset compacted away, the next.
    let served = |log: &PartitionLog, offset: i64| {
        let slice = log.read(offset, 1 << 20, false).expect("read");
        let bytes = slice.read().expect("bytes");
        let first = BatchIter::new(bytes)
            .next()
            .expect("a batch")
            .expect("valid");
        (first.header.base_offset, first.bytes)
    };
    for (offset, batch) in [(0, 0), (1, 0), (2, 1), (5, 1), (6, 2), (11, 2)] {
        let base = BatchHeader::parse(&kept[batch])
            .expect("header")
            .base_offset;
        assert_eq!(
            served(&log, offset),
            (base, kept[batch].clone()),
            "offset {offset}"
        );
    }
    assert_eq!(served(&log, 12).1[..], segment_12[..batch_len(2) as usize]);
    let info = append(&mut log, 1, 2000);
    assert_eq!(info.base_offset, 18);
    log.close().expect("close");

    // Opened again: nothing left to swap, the same data.
    let log = PartitionLog::open(p, LogConfig::default()).expect("open");
    let stats = log.recovery_stats();
    assert_eq!(
        (stats.cleaner_files_deleted, stats.swap_files_completed),
        (0, 0)
    );
    assert_eq!(log.segment_base_offsets(), [0, 12]);
    assert_eq!(served(&log, 3).0, 5);
    assert_eq!(log.log_end_offset(), 19);
}

#[test]
fn a_swap_whose_old_segments_are_already_gone_is_renamed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    three_segment_log(p, LogConfig::default())
        .close()
        .expect("close");
    // An open cut short after deleting the replaced segments 0 and 6, before renaming.
    for base in [0, 6] {
        for suffix in [".log", ".index", ".timeindex"] {
            fs::remove_file(seg_path(p, base, suffix)).expect("remove");
        }
    }
    let swap_log = [cleaned_batch(3, 2, 1000), cleaned_batch(9, 3, 1000)].concat();
    fs::write(seg_path(p, 0, ".log.swap"), &swap_log).expect("write");
    let log = PartitionLog::open(p, LogConfig::default()).expect("open");
    assert_eq!(log.recovery_stats().swap_files_completed, 1);
    assert_eq!(log.segment_base_offsets(), [0, 12]);
    assert_eq!(fs::read(seg_path(p, 0, ".log")).expect("log"), swap_log);
    let first = headers(&log.read(5, 1 << 20, false).expect("read"))[0];
    assert_eq!((first.base_offset, first.last_offset()), (9, 11));
    assert_eq!(log.log_end_offset(), 18);
}

/// Disk reads of one fetch from the middle of a log of `batches` single-record batches.
fn fetch_cost(batches: usize) -> ScanStats {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    for i in 0..batches {
        append(&mut log, 1, i as i64);
    }
    let before = log.scan_stats();
    let slice = log
        .read(batches as i64 / 2 + 1, 16 << 10, false)
        .expect("read");
    assert!(slice.len > 15 << 10);
    let after = log.scan_stats();
    ScanStats {
        reads: after.reads - before.reads,
        bytes_read: after.bytes_read - before.bytes_read,
        headers_parsed: after.headers_parsed - before.headers_parsed,
    }
}

#[test]
fn read_cost_does_not_grow_with_the_log() {
    let small = fetch_cost(500);
    let large = fetch_cost(20_000);
    // About one index interval of headers at each end of the slice, whatever the log size.
    let per_interval = 4096 / batch_len(1) + 2;
    for cost in [small, large] {
        assert!(cost.headers_parsed <= 2 * per_interval, "{cost:?}");
        assert!(cost.reads <= 4, "{cost:?}");
        assert!(cost.bytes_read <= 4 * 8192, "{cost:?}");
    }
    assert!(large.headers_parsed <= small.headers_parsed + per_interval / 2);
}

#[test]
fn slices_are_stable_while_appending_from_another_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    for i in 0..20 {
        append(&mut log, 3, i);
    }
    let slice = log.read(0, 1 << 20, false).expect("read");
    let expected = slice.read().expect("bytes");
    let reader = std::thread::spawn(move || {
        for _ in 0..200 {
            assert_eq!(slice.read().expect("bytes"), expected);
        }
    });
    for i in 0..200 {
        append(&mut log, 3, 100 + i);
    }
    reader.join().expect("reader thread");
}

#[test]
fn flush_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        flush_interval_messages: 3,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    append(&mut log, 1, 0);
    assert!(!log.maybe_flush(0).expect("flush"));
    assert_eq!(log.recovery_point(), 0);
    append(&mut log, 2, 0);
    assert!(log.maybe_flush(0).expect("flush"));
    assert_eq!(log.recovery_point(), 3);
    assert!(!log.maybe_flush(0).expect("flush"));

    log.set_config(LogConfig {
        flush_interval_ms: Some(100),
        flush_interval_messages: u64::MAX,
        ..LogConfig::default()
    });
    log.append(BytesMut::from(&batch(1, 0)[..]), 1000)
        .expect("append");
    log.append(BytesMut::from(&batch(1, 0)[..]), 1080)
        .expect("append");
    assert!(!log.maybe_flush(1099).expect("flush"));
    assert!(log.maybe_flush(1100).expect("flush"));
    assert_eq!(log.recovery_point(), 5);
}

#[test]
fn kafka_checkpoint_hints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = three_segment_log(dir.path(), LogConfig::default());
    drop(log);
    // As in a Kafka directory: no sluice checkpoint, an unclean stop.
    fs::remove_file(dir.path().join("sluice-offset-checkpoint")).expect("rm");
    let hints = OpenHints {
        kafka_clean_shutdown: false,
        recovery_point: Some(12),
        log_start_offset: Some(3),
    };
    let log = PartitionLog::open_with_hints(dir.path(), LogConfig::default(), hints).expect("open");
    let stats = log.recovery_stats();
    assert_eq!(stats.recovery_point, Some(12));
    assert_eq!(stats.segments_recovered, 1);
    assert_eq!(log.log_start_offset(), 3);
    drop(log);
    // Our own checkpoint, now written, wins over the hints.
    let hints = OpenHints {
        log_start_offset: Some(0),
        recovery_point: Some(0),
        ..OpenHints::default()
    };
    let log = PartitionLog::open_with_hints(dir.path(), LogConfig::default(), hints).expect("open");
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.recovery_stats().recovery_point, Some(18));
}

#[test]
fn large_batches_are_validated_piecewise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        max_message_bytes: 4 << 20,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    let value = vec![0x5a; 3 << 19]; // 1.5 MiB: more than one recovery chunk
    let mut b = BatchBuilder::new(0, 1);
    b.push(None, Some(&value), &[]);
    let big = b.build();
    append(&mut log, 1, 0);
    log.append(BytesMut::from(&big[..]), 1).expect("append big");
    append(&mut log, 1, 2);
    drop(log);
    let log = PartitionLog::open(dir.path(), config.clone()).expect("reopen");
    assert_eq!(log.recovery_stats().batches_validated, 3);
    assert_eq!(log.log_end_offset(), 3);
    let slice = log.read(1, 10, true).expect("read");
    assert_eq!(slice.len, big.len());
    drop(log);

    // Flip a byte near the end of the big batch: its CRC no longer matches.
    let path = seg_path(dir.path(), 0, ".log");
    let mut bytes = fs::read(&path).expect("read");
    let at = batch_len(1) as usize + big.len() - 5;
    bytes[at] ^= 1;
    fs::write(&path, &bytes).expect("write");
    let log = PartitionLog::open(dir.path(), config).expect("reopen");
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.size_bytes(), batch_len(1));
}

#[test]
fn appends_after_a_trusted_open_index_like_a_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    for i in 0..25 {
        append(&mut log, 1 + i % 3, i as i64);
    }
    log.close().expect("close");
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("reopen");
    assert_eq!(log.recovery_stats().batches_validated, 0);
    for i in 25..50 {
        append(&mut log, 1 + i % 3, i as i64);
    }
    log.close().expect("close");
    let index_path = seg_path(dir.path(), 0, ".index");
    let incremental = fs::read(&index_path).expect("index");
    assert!(incremental.len() >= 8 * 10);
    fs::remove_file(&index_path).expect("rm");
    let log = PartitionLog::open(dir.path(), config).expect("reopen");
    assert_eq!(log.recovery_stats().indexes_rebuilt, 1);
    assert_eq!(fs::read(&index_path).expect("index"), incremental);
}

#[test]
fn a_full_index_rolls_the_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 1,
        max_index_size: 36, // 4 offset entries, 3 time entries (one kept for the roll)
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    for i in 0..20 {
        append(&mut log, 1, i);
    }
    assert!(log.segment_count() >= 5, "{}", log.segment_count());
    for base in log.segment_base_offsets() {
        let times = fs::metadata(seg_path(dir.path(), base, ".timeindex")).expect("meta");
        assert!(times.len() <= 36);
    }
    for offset in 0..20 {
        assert_eq!(
            log.read(offset, 1, true).expect("read").first_offset,
            offset
        );
    }
}

/// Deterministic xorshift, so the damage test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random damage to logs and indexes, after clean and unclean stops: opening never panics or
/// fails, and every offset of the recovered log can be read back as whole valid batches.
#[test]
fn random_damage_never_breaks_open_or_read() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let config = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 90,
        ..LogConfig::default()
    };
    for round in 0..200 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
        for i in 0..20 {
            append(&mut log, 1 + rng.below(3), i);
        }
        if round % 2 == 0 {
            log.close().expect("close");
        } else {
            drop(log);
        }
        let bases: Vec<i64> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| {
                let name = e.expect("entry").file_name().into_string().ok()?;
                segment::parse_segment_file_name(&name, ".log")
            })
            .collect();
        let last = bases.iter().copied().max().expect("a segment");
        for _ in 0..3 {
            let base = bases[rng.below(bases.len())];
            let suffix = [".log", ".index", ".timeindex"][rng.below(3)];
            let path = seg_path(dir.path(), base, suffix);
            let mut bytes = fs::read(&path).expect("read");
            match rng.below(3) {
                // Flushed segments (all after a clean stop, all but the active one otherwise)
                // are trusted, as in Kafka: their batches are not re-validated, so flip log bytes
                // only in the active segment after an unclean stop, which is. Index files may be
                // damaged anywhere: what the open checks miss, reads work around.
                0 if !bytes.is_empty()
                    && (suffix != ".log" || (round % 2 == 1 && base == last)) =>
                {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
                1 => bytes.truncate(rng.below(bytes.len() + 1)),
                _ => bytes.extend((0..rng.below(20)).map(|_| rng.next() as u8)),
            }
            fs::write(&path, &bytes).expect("write");
        }
        let log = PartitionLog::open(dir.path(), config.clone()).expect("open after damage");
        for offset in log.log_start_offset()..log.log_end_offset() {
            let slice = log.read(offset, 1 << 20, false).expect("read");
            if slice.is_empty() {
                continue; // an offset lost in a gap left by a truncated older segment
            }
            let batches = headers(&slice);
            assert!(batches.last().expect("batch").last_offset() >= offset);
        }
        assert!(log.offset_for_timestamp(5).is_ok());
    }
}

#[test]
fn handles_cross_threads_and_open_creates_the_directory() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PartitionLog>();
    send_sync::<FileSlice>();
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("logs").join("topic-3");
    let log = PartitionLog::open(&dir, LogConfig::default()).expect("open");
    assert!(seg_path(&dir, 0, ".log").exists());
    assert_eq!(
        fs::read_to_string(dir.join("sluice-offset-checkpoint")).expect("checkpoint"),
        "0\n2\nlog-start-offset 0\nrecovery-point 0\n"
    );
    log.close().expect("close");
    assert!(dir.join("sluice-clean-shutdown").exists());
}

// ---- idempotent producers -------------------------------------------------------------------

/// An idempotent producer's batch of `records` records.
fn idem(pid: i64, epoch: i16, seq: i32, records: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, ts).producer(pid, epoch, seq);
    for i in 0..records {
        b.push(Some(format!("k{seq}-{i}").as_bytes()), Some(b"v"), &[]);
    }
    b.build()
}

fn append_bytes(log: &mut PartitionLog, bytes: &[u8], now: i64) -> Result<AppendInfo, AppendError> {
    log.append(BytesMut::from(bytes), now)
}

/// Headers of every batch in the log, read back from the files.
fn all_headers(log: &PartitionLog) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    for _ in 0..10_000 {
        if offset >= log.log_end_offset() {
            break;
        }
        let slice = log.read(offset, 1 << 20, true).expect("read");
        let found = headers(&slice);
        let Some(last) = found.last() else { break };
        offset = last.last_offset() + 1;
        out.extend(found);
    }
    out
}

#[test]
fn idempotent_retries_are_answered_with_their_original_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    append(&mut log, 2, now);
    let first = idem(5, 0, 0, 3, now);
    let info = append_bytes(&mut log, &first, now).expect("append");
    assert_eq!(
        (info.base_offset, info.last_offset, info.duplicate),
        (2, 4, false)
    );
    let second = idem(5, 0, 3, 1, now);
    append_bytes(&mut log, &second, now).expect("append");

    for (bytes, base, last) in [(&first, 2, 4), (&second, 5, 5)] {
        let dup = append_bytes(&mut log, bytes, now).expect("duplicate acknowledged");
        assert_eq!((dup.base_offset, dup.last_offset), (base, last));
        assert!(dup.duplicate && dup.batches.is_empty() && dup.bytes == 0);
    }
    assert_eq!(log.log_end_offset(), 6, "duplicates were not written");
    assert_eq!(all_headers(&log).len(), 3);

    let gap = append_bytes(&mut log, &idem(5, 0, 7, 1, now), now).expect_err("gap");
    assert_eq!(gap.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    let bumped = append_bytes(&mut log, &idem(5, 1, 0, 1, now), now).expect("new epoch at 0");
    assert_eq!(bumped.base_offset, 6);
    let old = append_bytes(&mut log, &idem(5, 0, 4, 1, now), now).expect_err("old epoch");
    assert_eq!(old.error_code(), ErrorCode::InvalidProducerEpoch);
    assert_eq!(log.log_end_offset(), 7);
}

#[test]
fn an_append_mixing_retries_and_new_batches_writes_only_the_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let a = idem(9, 0, 0, 2, now);
    append_bytes(&mut log, &a, now).expect("append");
    let b = idem(9, 0, 2, 2, now);
    let mut both = a.to_vec();
    both.extend_from_slice(&b);
    let info = append_bytes(&mut log, &both, now).expect("append");
    assert_eq!((info.base_offset, info.last_offset), (0, 3));
    assert!(!info.duplicate);
    assert_eq!(info.batches.len(), 1);
    let stored = all_headers(&log);
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[1].base_offset, stored[1].base_sequence), (2, 2));
    // A gap anywhere refuses the whole append.
    let mut bad = idem(9, 0, 4, 1, now).to_vec();
    bad.extend_from_slice(&idem(9, 0, 9, 1, now));
    assert!(append_bytes(&mut log, &bad, now).is_err());
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn log_append_time_duplicates_answer_the_stamped_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        timestamp_type_log_append: true,
        ..LogConfig::default()
    };
    let now = now_ms();
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let batch = idem(3, 0, 0, 1, 5);
    let info = append_bytes(&mut log, &batch, now).expect("append");
    assert_eq!(info.log_append_time, now);
    let dup = append_bytes(&mut log, &batch, now + 50).expect("duplicate");
    assert!(dup.duplicate);
    assert_eq!(dup.log_append_time, now);
}

#[test]
fn producer_state_survives_a_clean_close_and_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let mut batches = Vec::new();
    for seq in 0..4 {
        let b = idem(11, 2, seq * 2, 2, now);
        append_bytes(&mut log, &b, now).expect("append");
        batches.push(b);
    }
    log.close().expect("close");
    assert!(dir.path().join(producer_state::SNAPSHOT_FILE).exists());

    // Clean: the snapshot covers everything, no header is read.
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    let stats = log.recovery_stats().clone();
    assert_eq!(stats.producer_snapshot_offset, Some(8));
    assert_eq!((stats.producer_batches_scanned, stats.producers), (0, 1));
    let dup = append_bytes(&mut log, &batches[3], now).expect("dup");
    assert!(dup.duplicate && dup.base_offset == 6);
    for seq in 4..7 {
        let b = idem(11, 2, seq * 2, 2, now);
        append_bytes(&mut log, &b, now).expect("append");
        batches.push(b);
    }
    log.flush().expect("flush");
    drop(log); // unclean: no snapshot past offset 8

    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("recover");
    let stats = log.recovery_stats().clone();
    assert!(!stats.clean_shutdown);
    assert_eq!(stats.producer_snapshot_offset, Some(8));
    assert_eq!(stats.producer_batches_scanned, 3);
    for (i, b) in batches.iter().enumerate().skip(2) {
        let dup = append_bytes(&mut log, b, now).expect("dup after recovery");
        assert!(dup.duplicate, "batch {i}");
        assert_eq!(dup.base_offset, i as i64 * 2);
    }
    let gap = append_bytes(&mut log, &idem(11, 2, 20, 1, now), now).expect_err("gap");
    assert_eq!(gap.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    append_bytes(&mut log, &idem(11, 2, 14, 1, now), now).expect("in sequence");
    assert_eq!(log.log_end_offset(), 15);
    drop(log);

    // The recovering open wrote a snapshot, so the next unclean open reads one header only.
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("again");
    assert_eq!(log.recovery_stats().producer_snapshot_offset, Some(14));
    assert_eq!(log.recovery_stats().producer_batches_scanned, 1);
}

/// Removes both kinds of producer snapshot: Kafka's `*.snapshot` and ours.
fn remove_producer_snapshots(dir: &Path) {
    let _ = fs::remove_file(dir.join(producer_state::SNAPSHOT_FILE));
    for (_, path) in crate::storage::producer_snapshot::list(dir).expect("list") {
        fs::remove_file(path).expect("rm");
    }
}

#[test]
fn producer_state_is_rebuilt_without_a_usable_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let config = LogConfig {
        segment_bytes: 150,
        ..LogConfig::default()
    };
    let day = producer_state::PRODUCER_ID_EXPIRATION_MS;
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    // Two producers long gone (batch timestamps two days old) fill the first segments…
    for seq in 0..6 {
        append_bytes(&mut log, &idem(1, 0, seq, 1, now - 2 * day), now).expect("old");
    }
    // …then a live one.
    let live: Vec<Bytes> = (0..3).map(|seq| idem(2, 0, seq, 1, now)).collect();
    for b in &live {
        append_bytes(&mut log, b, now).expect("live");
    }
    assert!(log.segment_count() >= 3, "{} segments", log.segment_count());
    let end = log.log_end_offset();
    log.close().expect("close");

    // No snapshot: only segments holding batches newer than a day are scanned.
    remove_producer_snapshots(dir.path());
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("reopen");
    let stats = log.recovery_stats().clone();
    assert_eq!(stats.producer_snapshot_offset, None);
    assert!(stats.producer_batches_scanned >= 3 && stats.producer_batches_scanned < 9);
    assert_eq!(stats.producers, 1, "only the live producer");
    let dup = append_bytes(&mut log, &live[2], now).expect("dup");
    assert!(dup.duplicate);
    log.close().expect("close");

    // A snapshot claiming more than the log holds is not trusted.
    remove_producer_snapshots(dir.path());
    let mut other = producer_state::ProducerStateManager::default();
    other.set_map_end_offset(end + 100);
    other.write_snapshot(dir.path()).expect("write");
    let mut log = PartitionLog::open(dir.path(), config).expect("reopen");
    assert_eq!(log.recovery_stats().producer_snapshot_offset, None);
    assert!(
        append_bytes(&mut log, &live[2], now)
            .expect("dup")
            .duplicate
    );

    // A damaged snapshot likewise.
    log.close().expect("close");
    fs::write(dir.path().join(producer_state::SNAPSHOT_FILE), b"garbage").expect("w");
    for (_, path) in crate::storage::producer_snapshot::list(dir.path()).expect("list") {
        fs::write(path, b"garbage").expect("w");
    }
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.recovery_stats().producer_snapshot_offset, None);
    assert!(
        append_bytes(&mut log, &live[1], now)
            .expect("dup")
            .duplicate
    );
}

// ---- appends written together ---------------------------------------------------------------

/// What an append answered, without the error's details.
fn outcome(r: &Result<AppendInfo, AppendError>) -> Result<(i64, i64, bool, usize), ErrorCode> {
    r.as_ref()
        .map(|i| (i.base_offset, i.last_offset, i.duplicate, i.batches.len()))
        .map_err(|e| e.error_code())
}

/// A mix of inputs: plain batches, idempotent sequences with a retry, a gap and an old epoch,
/// a corrupt batch, an empty input and a two-batch input.
fn mixed_inputs(round: i64) -> Vec<Bytes> {
    let ts = 1000 + round;
    let mut corrupt = BytesMut::from(&batch(2, ts)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let mut two = BytesMut::from(&batch(3, ts)[..]);
    two.extend_from_slice(&idem(9, 0, (round * 10) as i32, 1, ts));
    let seq = (round * 10) as i32;
    vec![
        batch(3, ts),
        idem(7, 0, seq, 2, ts),
        idem(7, 0, seq + 2, 1, ts),
        idem(7, 0, seq, 2, ts), // a retry of the one two inputs earlier
        corrupt.freeze(),
        idem(7, 0, seq + 9, 1, ts), // a gap
        Bytes::new(),
        two.freeze(),
        batch(40, ts),
        idem(8, 0, 0, 1, ts).slice(..0),
    ]
}

/// `append_all` answers every input as `append` would one after the other, and leaves the
/// directory byte for byte the same — across rolls (small segments), index entries (small
/// interval) and LogAppendTime.
#[test]
fn appends_written_together_equal_appends_one_by_one() {
    for log_append in [false, true] {
        let config = LogConfig {
            segment_bytes: 1200,
            index_interval_bytes: 200,
            timestamp_type_log_append: log_append,
            ..LogConfig::default()
        };
        let one = tempfile::tempdir().expect("tempdir");
        let all = tempfile::tempdir().expect("tempdir");
        let mut a = PartitionLog::open(one.path(), config.clone()).expect("open");
        let mut b = PartitionLog::open(all.path(), config.clone()).expect("open");
        for round in 0..8 {
            let inputs = mixed_inputs(round);
            let now = 50_000 + round;
            let singly: Vec<_> = inputs
                .iter()
                .map(|i| outcome(&a.append(i.clone(), now)))
                .collect();
            let together: Vec<_> = b.append_all(inputs, now).iter().map(outcome).collect();
            assert_eq!(
                singly, together,
                "round {round}, log append time {log_append}"
            );
        }
        assert!(
            b.segment_count() > 2,
            "the test should span rolls: {} segments, {} bytes",
            b.segment_count(),
            b.size_bytes()
        );
        assert_eq!(a.log_end_offset(), b.log_end_offset());
        assert_eq!(all_headers(&a), all_headers(&b));
        a.close().expect("close");
        b.close().expect("close");
        assert_eq!(dir_contents(one.path()), dir_contents(all.path()));
    }
}

/// The bytes of a batch are written as produced, only the base offset rewritten; the input is
/// not modified (it may be shared with the request).
#[test]
fn appended_bytes_are_the_input_with_its_base_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    append(&mut log, 2, 5);
    let input = batch(3, 7);
    let kept = input.clone();
    let info = log.append(input, 9).expect("append");
    assert_eq!(info.base_offset, 2);
    assert_eq!(kept, batch(3, 7));
    let stored = log
        .read(2, 1 << 20, false)
        .expect("read")
        .read()
        .expect("bytes");
    assert_eq!(&stored[..8], &2i64.to_be_bytes());
    assert_eq!(&stored[8..12], &kept[8..12]);
    assert_eq!(
        &stored[12..16],
        &(-1i32).to_be_bytes(),
        "the log's leader epoch"
    );
    assert_eq!(&stored[16..], &kept[16..]);
}

/// Blocks are preallocated ahead of appends without changing the file size (readers, recovery
/// and Kafka's tools see only the batches), and given back at roll and close.
#[test]
fn preallocation_keeps_the_file_size_and_is_trimmed_at_roll_and_close() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 40 * batch_len(50),
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    for i in 0..30 {
        append(&mut log, 50, 1000 + i);
    }
    let first = seg_path(dir.path(), 0, ".log");
    let meta = fs::metadata(&first).expect("metadata");
    assert_eq!(meta.len(), 30 * batch_len(50), "the size is the batches'");
    // (Preallocated blocks show in `blocks` while the segment is active, where the filesystem
    // supports it.)
    for i in 0..20 {
        append(&mut log, 50, 2000 + i);
    }
    assert_eq!(log.segment_count(), 2);
    let rolled = fs::metadata(&first).expect("metadata");
    assert_eq!(rolled.len(), 40 * batch_len(50));
    let allocated = |m: &fs::Metadata| m.blocks() * 512;
    let rounded = |len: u64| len.div_ceil(4096) * 4096;
    assert!(
        allocated(&rolled) <= rounded(rolled.len()),
        "rolled segment keeps {} bytes of blocks for {} bytes",
        allocated(&rolled),
        rolled.len()
    );
    let active = seg_path(dir.path(), 40 * 50, ".log");
    log.close().expect("close");
    let closed = fs::metadata(&active).expect("metadata");
    assert_eq!(closed.len(), 10 * batch_len(50));
    assert!(allocated(&closed) <= rounded(closed.len()));
    // And it reads back whole.
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.log_end_offset(), 50 * 50);
    assert_eq!(all_headers(&log).len(), 50);
}

#[test]
fn kafka_producer_snapshot_is_authoritative_and_ours_adds_older_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let batches: Vec<Bytes> = (0..3).map(|seq| idem(21, 1, seq * 2, 2, now)).collect();
    for b in &batches {
        append_bytes(&mut log, b, now).expect("append");
    }
    log.close().expect("close");
    let kafka = dir.path().join("00000000000000000006.snapshot");
    assert!(kafka.exists(), "Kafka's snapshot at the log end");

    // Both files, in agreement: every remembered batch is a duplicate.
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.recovery_stats().producer_snapshot_offset, Some(6));
    assert!(
        append_bytes(&mut log, &batches[0], now)
            .expect("dup")
            .duplicate
    );
    drop(log);

    // Kafka's alone (as Kafka left it): its last batch only.
    fs::remove_file(dir.path().join(producer_state::SNAPSHOT_FILE)).expect("rm");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.recovery_stats().producer_snapshot_offset, Some(6));
    assert_eq!(log.recovery_stats().producer_batches_scanned, 0);
    let dup = append_bytes(&mut log, &batches[2], now).expect("dup");
    assert!(dup.duplicate && dup.base_offset == 4);
    let old = append_bytes(&mut log, &batches[0], now).expect_err("older than the last");
    assert_eq!(old.error_code(), ErrorCode::OutOfOrderSequenceNumber);
    append_bytes(&mut log, &idem(21, 1, 6, 1, now), now).expect("next in sequence");
    log.close().expect("close");

    // Ours disagreeing with Kafka's (Kafka ran on the directory since): Kafka's wins.
    let mut stale = producer_state::ProducerStateManager::default();
    stale.set_map_end_offset(7);
    stale.write_snapshot(dir.path()).expect("write both");
    producer_snapshot::write(
        dir.path(),
        7,
        &[producer_snapshot::SnapshotEntry {
            producer_id: 21,
            epoch: 1,
            last_sequence: 6,
            last_offset: 6,
            offset_delta: 0,
            timestamp: now,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }],
    )
    .expect("kafka's");
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen");
    assert_eq!(log.producer_state().len(), 1);
    assert!(
        append_bytes(&mut log, &idem(21, 1, 6, 1, now), now)
            .expect("dup")
            .duplicate
    );
}

#[test]
fn leader_epochs_are_stamped_checkpointed_rebuilt_and_truncated() {
    use crate::storage::leader_epoch::{EpochEntry, LEADER_EPOCH_CHECKPOINT};
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let checkpoint = dir.path().join(LEADER_EPOCH_CHECKPOINT);
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    assert_eq!(fs::read_to_string(&checkpoint).expect("created"), "0\n0\n");
    log.set_leader_epoch(0);
    for _ in 0..3 {
        append_bytes(&mut log, &batch(1, now), now).expect("append");
    }
    log.set_leader_epoch(4);
    for _ in 0..3 {
        append_bytes(&mut log, &batch(1, now), now).expect("append");
    }
    assert_eq!(
        fs::read_to_string(&checkpoint).expect("text"),
        "0\n2\n0 0\n4 3\n"
    );
    // The stored batches carry the epoch (bytes 12..16, outside the CRC, which still holds).
    let stored = log
        .read(4, 1 << 20, true)
        .expect("read")
        .read()
        .expect("bytes");
    let header = BatchHeader::parse(&stored).expect("header");
    assert_eq!(header.partition_leader_epoch, 4);
    assert_eq!(&stored[12..16], &4i32.to_be_bytes());
    record::validate_produced(&stored).expect("CRC still valid");
    drop(log);

    // Unclean, checkpoint lost: rebuilt from the batches.
    fs::remove_file(&checkpoint).expect("rm");
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("reopen");
    assert_eq!(
        log.leader_epochs().entries(),
        [
            EpochEntry {
                epoch: 0,
                start_offset: 0
            },
            EpochEntry {
                epoch: 4,
                start_offset: 3
            }
        ]
    );
    assert_eq!(log.leader_epoch(), 4);
    assert_eq!(
        fs::read_to_string(&checkpoint).expect("text"),
        "0\n2\n0 0\n4 3\n"
    );

    // A log start past epoch 0's entries moves the epoch-4 floor: [4 3] → start moves to 4.
    log.delete_records_before(4).expect("delete records");
    assert_eq!(
        fs::read_to_string(&checkpoint).expect("text"),
        "0\n1\n4 4\n"
    );
    log.close().expect("close");

    // A damaged checkpoint is rebuilt, never trusted.
    fs::write(&checkpoint, "0\n5\n1 2\n").expect("damage");
    let log = PartitionLog::open(dir.path(), config).expect("reopen");
    assert_eq!(
        log.leader_epochs().entries(),
        [EpochEntry {
            epoch: 4,
            start_offset: 4
        }]
    );
}
