//! What the topic configs sluice honours do to a partition log: `cleanup.policy` (retention
//! and DeleteRecords), keys on compacted topics, `message.timestamp.before/after.max.ms`,
//! `file.delete.delay.ms` and `segment.jitter.ms`.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::compression;
use crate::error::ErrorCode;
use crate::record::{self, BatchBuilder, BATCH_HEADER_LEN};

const NOW: i64 = 1_700_000_000_000;

/// One batch of records `(timestamp, key)`, base timestamp that of the first.
fn batch(records: &[(i64, Option<&[u8]>)]) -> Bytes {
    let mut b = BatchBuilder::new(0, records[0].0);
    for (ts, key) in records {
        b.push_at(*ts, *key, Some(b"value"));
    }
    b.build()
}

/// `batch` with its records compressed with `codec`, header and CRC rewritten.
fn compressed(batch: &Bytes, codec: i16) -> Bytes {
    let plain = &batch[BATCH_HEADER_LEN..];
    let records = match codec {
        compression::GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain).expect("gzip");
            e.finish().expect("gzip")
        }
        compression::SNAPPY => snap::raw::Encoder::new()
            .compress_vec(plain)
            .expect("snappy"),
        compression::LZ4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(plain).expect("lz4");
            e.finish().expect("lz4")
        }
        _ => zstd::stream::encode_all(plain, 3).expect("zstd"),
    };
    let mut out = BytesMut::from(&batch[..BATCH_HEADER_LEN]);
    out.extend_from_slice(&records);
    let length = (out.len() - record::LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let attributes = i16::from_be_bytes([out[21], out[22]]) | codec;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = record::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(&dir.join("topic-0"), config).expect("open")
}

fn compact() -> LogConfig {
    LogConfig {
        delete: false,
        compact: true,
        ..LogConfig::default()
    }
}

/// The refusal's code, message and (index, message) of each record error.
fn refused(r: Result<AppendInfo, AppendError>) -> (ErrorCode, String, Vec<(i32, String)>) {
    match r {
        Err(AppendError::Records {
            code,
            message,
            errors,
        }) => (
            code,
            message,
            errors
                .into_iter()
                .map(|e| (e.batch_index, e.message))
                .collect(),
        ),
        other => panic!("expected refused records, got {other:?}"),
    }
}

#[test]
fn a_compacted_topic_refuses_records_without_keys_as_kafka_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), compact());
    let keyless = batch(&[
        (NOW, Some(b"k")),
        (NOW, None),
        (NOW, Some(b"k")),
        (NOW, None),
    ]);
    let (code, message, errors) = refused(log.append(keyless.clone(), NOW));
    assert_eq!(code, ErrorCode::InvalidRecord);
    let why = "Compacted topic cannot accept message without key in topic partition topic-0";
    assert_eq!(errors, [(1, why.to_string()), (3, why.to_string())]);
    assert_eq!(
        message,
        format!(
            "One or more records have been rejected due to 2 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, message='{why}'), \
             RecordError(batchIndex=3, message='{why}')]"
        )
    );
    assert_eq!(log.log_end_offset(), 0, "nothing appended");
    // Keyed records (a null value is a tombstone, and fine) go in.
    let mut b = BatchBuilder::new(0, NOW);
    b.push(Some(b"k"), None, &[]);
    log.append(b.build(), NOW).expect("keyed");
    assert_eq!(log.log_end_offset(), 1);
    // Compressed batches are looked into with every codec Kafka has.
    for codec in [
        compression::GZIP,
        compression::SNAPPY,
        compression::LZ4,
        compression::ZSTD,
    ] {
        let (code, _, errors) = refused(log.append(compressed(&keyless, codec), NOW));
        assert_eq!(code, ErrorCode::InvalidRecord, "codec {codec}");
        assert_eq!(
            errors.iter().map(|e| e.0).collect::<Vec<_>>(),
            [1, 3],
            "codec {codec}"
        );
        let keyed = batch(&[(NOW, Some(b"a")), (NOW, Some(b"b"))]);
        log.append(compressed(&keyed, codec), NOW)
            .unwrap_or_else(|e| panic!("codec {codec}: {e}"));
    }
    assert_eq!(log.log_end_offset(), 9);

    // The same keyless batch is taken by a topic that is not compacted.
    let mut plain = open(&dir.path().join("other"), LogConfig::default());
    plain.append(keyless.clone(), NOW).expect("delete policy");
    plain
        .append(compressed(&keyless, compression::LZ4), NOW)
        .expect("delete policy");
}

#[test]
fn timestamp_bounds_refuse_records_outside_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        timestamp_before_max_ms: 1000,
        timestamp_after_max_ms: 500,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    // The first record is in range: only a record walk finds the old one after it.
    let b = batch(&[
        (NOW, None),
        (NOW - 1001, None),
        (NOW + 500, None),
        (-1, None),
    ]);
    let (code, message, errors) = refused(log.append(b.clone(), NOW));
    assert_eq!(code, ErrorCode::InvalidTimestamp);
    assert_eq!(
        message,
        "One or more records have been rejected due to invalid timestamp"
    );
    assert_eq!(
        errors,
        [(
            1,
            format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be \
                 within [{}, {}]",
                NOW - 1001,
                NOW - 1000,
                NOW + 500
            )
        )]
    );
    let (code, _, errors) = refused(log.append(compressed(&b, compression::ZSTD), NOW));
    assert_eq!((code, errors.len()), (ErrorCode::InvalidTimestamp, 1));
    let late = batch(&[(NOW + 501, None)]);
    assert_eq!(refused(log.append(late.clone(), NOW)).2[0].0, 0);
    log.append(batch(&[(NOW - 1000, None), (NOW + 500, None)]), NOW)
        .expect("within the bounds");
    // LogAppendTime topics stamp their own time: the bounds do not apply (as in Kafka).
    let mut stamped = open(
        &dir.path().join("stamped"),
        LogConfig {
            timestamp_type_log_append: true,
            ..config
        },
    );
    stamped.append(late, NOW).expect("LogAppendTime");
}

#[test]
fn compact_alone_keeps_every_segment_and_refuses_delete_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = |config: LogConfig| LogConfig {
        segment_bytes: 200,
        retention_ms: 1,
        retention_bytes: 0,
        file_delete_delay_ms: 0,
        ..config
    };
    for (name, config, kept) in [
        ("compact", small(compact()), true),
        (
            "compact,delete",
            small(LogConfig {
                compact: true,
                ..LogConfig::default()
            }),
            false,
        ),
        ("delete", small(LogConfig::default()), false),
    ] {
        let mut log = open(&dir.path().join(name), config.clone());
        for i in 0..10 {
            log.append(batch(&[(NOW + i, Some(b"key"))]), NOW + i)
                .expect("append");
        }
        let segments = log.segment_count();
        assert!(segments > 3, "{name}: rolled");
        let outcome = log.apply_retention(NOW + 60_000).expect("retention");
        if kept {
            assert_eq!(outcome.segments_deleted, 0, "{name}");
            assert_eq!(log.log_start_offset(), 0, "{name}");
            assert_eq!(
                log.delete_records_before(5).expect_err(name).error_code(),
                ErrorCode::PolicyViolation
            );
        } else {
            assert_eq!(outcome.segments_deleted, segments - 1, "{name}");
            assert!(log.delete_records_before(-1).is_ok(), "{name}");
        }
    }
}

#[test]
fn deleted_segments_stay_renamed_until_file_delete_delay_ms_has_passed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 200,
        retention_ms: 1,
        file_delete_delay_ms: 60_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..8 {
        log.append(batch(&[(NOW + i, None)]), NOW + i)
            .expect("append");
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    let outcome = log.apply_retention(NOW + 10_000).expect("retention");
    assert_eq!(outcome.segments_deleted, bases.len() - 1);
    let part = dir.path().join("topic-0");
    let names = |p: &Path| -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(p)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let first = format!("{:020}", bases[0]);
    let listed = names(&part);
    for suffix in [".log.deleted", ".index.deleted", ".timeindex.deleted"] {
        assert!(
            listed.contains(&format!("{first}{suffix}")),
            "{suffix}: {listed:?}"
        );
    }
    assert!(!listed.contains(&format!("{first}.log")));
    assert_eq!(log.next_file_removal(), Some(NOW + 10_000 + 60_000));
    assert_eq!(log.remove_deleted_files(NOW + 69_999).expect("early"), 0);
    assert!(log.remove_deleted_files(NOW + 70_000).expect("due") >= 3 * (bases.len() - 1));
    assert!(!names(&part).iter().any(|n| n.ends_with(".deleted")));
    assert_eq!(log.next_file_removal(), None);

    // A stop before the delay ends: the next open removes what is left.
    for i in 8..16 {
        log.append(batch(&[(NOW + i, None)]), NOW + i)
            .expect("append");
    }
    log.apply_retention(NOW + 20_000).expect("retention");
    assert!(names(&part).iter().any(|n| n.ends_with(".deleted")));
    log.close().expect("close");
    let log = open(dir.path(), LogConfig::default());
    assert!(!names(&part).iter().any(|n| n.ends_with(".deleted")));
    drop(log);
}

#[test]
fn segment_jitter_is_below_both_bounds_and_rolls_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (jitter, roll, bound) in [(0, 1000, 1), (50, 1000, 50), (5000, 1000, 1000)] {
        let config = LogConfig {
            roll_ms: roll,
            roll_jitter_ms: jitter,
            ..LogConfig::default()
        };
        let mut log = open(&dir.path().join(format!("j{jitter}")), config.clone());
        let mut first = NOW;
        log.append(batch(&[(first, None)]), NOW).expect("append");
        for _ in 0..20 {
            let j = log.active_roll_jitter_ms();
            assert!((0..bound).contains(&j), "jitter {j} of {jitter} / {roll}");
            // A segment rolls once the new data is more than roll - jitter newer than its first.
            let base = *log.segment_base_offsets().last().expect("a segment");
            log.append(batch(&[(first + roll - j, None)]), NOW)
                .expect("append");
            assert_eq!(log.segment_base_offsets().last(), Some(&base), "not yet");
            first += roll - j + 1;
            let info = log.append(batch(&[(first, None)]), NOW).expect("append");
            assert_eq!(
                log.segment_base_offsets().last(),
                Some(&info.base_offset),
                "rolled"
            );
        }
    }
}
