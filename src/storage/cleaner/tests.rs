//! The cleaner on real partition directories: what it keeps, multi-pass cleaning, and crashes at
//! every step of a swap. Every loop is bounded by a constant.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::*;
use crate::record::{BatchBuilder, BatchIter};
use crate::storage::files::{delete_segment_files, SWAP_SUFFIX};
use crate::storage::PartitionLog;

const T0: i64 = 1_700_000_000_000;

fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        compact: true,
        retention_ms: -1,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

/// One record per batch, as a producer without batching sends them.
fn one(key: Option<&str>, value: Option<&str>, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, ts);
    b.push(key.map(str::as_bytes), value.map(str::as_bytes), &[]);
    b.build()
}

/// A record as read back: offset, key, value.
type Rec = (i64, Option<String>, Option<String>);

/// Every record of the log from its start, through reads as a Fetch does them; every batch is
/// checked (CRC) on the way.
fn read_all(log: &PartitionLog) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    for _ in 0..10_000 {
        if offset >= log.log_end_offset() {
            break;
        }
        let data = log
            .read(offset, 1 << 20, true)
            .expect("read")
            .read()
            .expect("bytes");
        assert!(
            !data.is_empty(),
            "a read at {offset} below the end is never empty"
        );
        for found in BatchIter::new(data) {
            let batch = found.expect("whole valid batches");
            offset = batch.header.last_offset() + 1;
            for r in record::decode_records(&batch.bytes).expect("records") {
                let s = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).expect("utf-8"));
                out.push((r.offset, s(r.key), s(r.value)));
            }
        }
    }
    out
}

/// The latest record of every key: what a compacted log must still give a reader.
fn latest_per_key(records: &[Rec]) -> BTreeMap<String, Rec> {
    let mut latest = BTreeMap::new();
    for r in records {
        if let Some(k) = &r.1 {
            latest.insert(k.clone(), r.clone());
        }
    }
    latest
}

/// Swaps each group straight into the log (the partition actor's part, without the actor).
struct Direct<'a> {
    log: &'a mut PartitionLog,
    now: i64,
}

impl CleanerContext for Direct<'_> {
    fn swap(&mut self, group: &CleanedGroup) -> Result<(), CleanError> {
        match self.log.replace_segments(group, self.now)? {
            true => Ok(()),
            false => Err(CleanError::Aborted("segments changed".into())),
        }
    }
}

fn clean_once(
    log: &mut PartitionLog,
    checkpoint: Option<i64>,
    map: &mut OffsetMap,
    now: i64,
) -> (LogToClean, i64, CleanerStats) {
    let view = log.cleaner_view();
    let to_clean = log_to_clean(&view, checkpoint, now);
    let mut ctx = Direct { log, now };
    let (end, stats) = clean(
        &view,
        &to_clean,
        map,
        CleanerOptions::default(),
        now,
        &mut ctx,
    )
    .expect("clean");
    (to_clean, end, stats)
}

/// 20 keys × 5 updates, a record without a key, a tombstone for key-03, then a few records
/// that stay in the active segment.
fn fill(log: &mut PartitionLog) -> Vec<Rec> {
    let mut ts = T0;
    for round in 0..5 {
        for k in 0..20 {
            let (key, value) = (format!("key-{k:02}"), format!("v{round}-{k:02}"));
            log.append(one(Some(&key), Some(&value), ts), ts)
                .expect("append");
            ts += 1;
        }
        if round == 2 {
            // A compacted topic refuses keyless records; this one dates from before the topic
            // was compacted (a delete topic whose policy was changed), as Kafka's cleaner
            // can find.
            let compacted = log.config().clone();
            log.set_config(LogConfig {
                compact: false,
                ..compacted.clone()
            });
            log.append(one(None, Some("no key"), ts), ts)
                .expect("append");
            log.set_config(compacted);
        }
    }
    log.append(one(Some("key-03"), None, ts), ts)
        .expect("append");
    read_all(log)
}

#[test]
fn cleaning_keeps_the_latest_value_per_key_and_preserves_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = compact_config(1024);
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    let before = fill(&mut log);
    // Some records past the tombstone so it is not in the active segment.
    for i in 0..12 {
        let ts = T0 + 200 + i;
        log.append(one(Some(&format!("tail-{i}")), Some("t"), ts), ts)
            .expect("append");
    }
    let before_all = read_all(&log);
    let segments_before = log.segment_count();
    let active_base = *log.segment_base_offsets().last().expect("active");
    let active_path = dir.path().join(format!("{active_base:020}.log"));
    let active_bytes = fs::read(&active_path).expect("active");
    assert!(segments_before > 5, "{segments_before} segments");

    let mut map = OffsetMap::new(1 << 20);
    let now = T0 + 10_000;
    let (to_clean, end, stats) = clean_once(&mut log, None, &mut map, now);
    assert_eq!(to_clean.first_dirty_offset, 0);
    assert_eq!(to_clean.first_uncleanable_offset, active_base);
    assert_eq!(end, active_base, "one pass reaches the active segment");
    assert_eq!(stats.invalid_records, 1, "the record without a key");
    assert!(stats.records_removed() >= 80, "{stats:?}");
    assert!(stats.groups >= 1);

    let after = read_all(&log);
    // Offsets are preserved: every record kept is the very record at that offset before.
    for r in &after {
        assert!(
            before_all.contains(r),
            "{r:?} was in the log at that offset"
        );
    }
    // Below the active segment, exactly the latest record of each key.
    let cleaned: Vec<&Rec> = after.iter().filter(|r| r.0 < active_base).collect();
    let expected = latest_per_key(&before_all);
    for r in &cleaned {
        let key = r.1.as_ref().expect("no record without a key is left");
        assert_eq!(&expected[key], *r, "only the latest of {key}");
    }
    assert_eq!(
        cleaned
            .iter()
            .filter(|r| r.1.as_deref() == Some("key-03"))
            .count(),
        1
    );
    let tombstone = after
        .iter()
        .find(|r| r.1.as_deref() == Some("key-03"))
        .expect("tombstone kept");
    assert_eq!(tombstone.2, None);
    for k in 0..20 {
        if k != 3 {
            let key = format!("key-{k:02}");
            let kept = after
                .iter()
                .find(|r| r.1.as_ref() == Some(&key))
                .expect("kept");
            assert_eq!(kept.2.as_deref(), Some(format!("v4-{k:02}").as_str()));
        }
    }
    assert_eq!(latest_per_key(&after), expected, "no latest value lost");
    assert_eq!(before.len() + 12, before_all.len());
    // A second clean groups the segments the first one shrank, within segment.bytes; the
    // active segment is untouched.
    assert_eq!(
        log.segment_count(),
        segments_before,
        "full segments are not grouped"
    );
    clean_once(&mut log, None, &mut map, now);
    assert_eq!(
        read_all(&log),
        after,
        "a clean of a clean log changes no record"
    );
    assert!(
        log.segment_count() < segments_before - 2,
        "{} segments",
        log.segment_count()
    );
    for base in log.segment_base_offsets() {
        let size = fs::metadata(dir.path().join(format!("{base:020}.log")))
            .expect("seg")
            .len();
        assert!(size <= config.segment_bytes, "segment {base}: {size} bytes");
    }
    assert_eq!(fs::read(&active_path).expect("active"), active_bytes);
    assert!(!dir.path().read_dir().expect("dir").any(|e| e
        .expect("entry")
        .file_name()
        .to_string_lossy()
        .contains(".cleaned")));

    // The tombstone's batch carries its delete horizon: now + delete.retention.ms.
    let tombstone_batch = BatchIter::new(
        log.read(tombstone.0, 1, true)
            .expect("read")
            .read()
            .expect("bytes"),
    )
    .next()
    .expect("batch")
    .expect("valid");
    assert_eq!(
        tombstone_batch.header.delete_horizon_ms(),
        Some(now + config.delete_retention_ms)
    );

    // Reopened (indexes and all), the log reads the same.
    log.close().expect("close");
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("reopen");
    assert_eq!(read_all(&log), after);

    // More writes make the log dirty again; a clean after the delete horizon drops the
    // tombstone (and keeps it before).
    for round in 0..3 {
        for i in 0..12 {
            let ts = T0 + 300 + round * 20 + i;
            log.append(
                one(Some(&format!("tail-{i}")), Some(&format!("r{round}")), ts),
                ts,
            )
            .expect("append");
        }
    }
    let (_, end2, _) = clean_once(&mut log, Some(end), &mut map, now + 500);
    assert!(
        read_all(&log)
            .iter()
            .any(|r| r.1.as_deref() == Some("key-03")),
        "horizon not passed"
    );
    for i in 0..36 {
        let ts = T0 + 400 + i;
        log.append(one(Some(&format!("tail-{}", i % 12)), Some("last"), ts), ts)
            .expect("append");
    }
    let (_, _, stats) = clean_once(&mut log, Some(end2), &mut map, now + 1_001);
    assert_eq!(stats.tombstones_removed, 1);
    let last = read_all(&log);
    assert!(
        !last.iter().any(|r| r.1.as_deref() == Some("key-03")),
        "tombstone expired"
    );
    for k in [0, 1, 19] {
        let key = format!("key-{k:02}");
        assert!(
            last.iter().any(|r| r.1.as_ref() == Some(&key)),
            "{key} still there"
        );
    }
}

#[test]
fn a_map_smaller_than_the_keys_cleans_in_several_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), compact_config(2048)).expect("open");
    let mut ts = T0;
    for round in 0..3 {
        for k in 0..40 {
            log.append(
                one(Some(&format!("k{k:02}")), Some(&format!("r{round}")), ts),
                ts,
            )
            .expect("append");
            ts += 1;
        }
    }
    // Roll once more so the last round is not in the active segment.
    for i in 0..30 {
        log.append(one(Some(&format!("z{i}")), Some("z"), ts), ts)
            .expect("append");
        ts += 1;
    }
    let before = read_all(&log);
    let active_base = *log.segment_base_offsets().last().expect("active");
    // 12 slots, 10 keys a pass at the 0.9 load factor.
    let mut map = OffsetMap::new(12 * offset_map::BYTES_PER_ENTRY);
    let memory = map.memory();
    let mut checkpoint = None;
    let mut passes = 0;
    for _ in 0..100 {
        let view = log.cleaner_view();
        let to_clean = log_to_clean(&view, checkpoint, ts);
        if to_clean.cleanable_bytes == 0 || to_clean.first_dirty_offset >= active_base {
            break;
        }
        let (_, end, stats) = clean_once(&mut log, checkpoint, &mut map, ts);
        assert!(stats.map_keys <= 10, "{stats:?}");
        assert_eq!(map.memory(), memory, "the map never grows");
        assert!(end > to_clean.first_dirty_offset, "every pass moves on");
        checkpoint = Some(end);
        passes += 1;
        // Whatever pass we are at, no latest value is lost.
        assert_eq!(latest_per_key(&read_all(&log)), latest_per_key(&before));
    }
    assert!(passes > 3, "{passes} passes");
    let after = read_all(&log);
    let cleaned: Vec<&Rec> = after.iter().filter(|r| r.0 < active_base).collect();
    let expected = latest_per_key(&before);
    for r in &cleaned {
        assert_eq!(&expected[r.1.as_ref().expect("key")], *r);
    }
    assert_eq!(
        cleaned
            .iter()
            .filter(|r| r.1.as_deref().is_some_and(|k| k.starts_with('k')))
            .count(),
        40
    );
}

#[test]
fn an_idempotent_producers_last_batch_is_kept_emptied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), compact_config(512)).expect("open");
    let mut ts = T0;
    for seq in 0..3 {
        let mut b = BatchBuilder::new(0, ts).producer(42, 0, seq);
        b.push(
            Some(b"p"),
            Some(format!("idempotent-{seq}").as_bytes()),
            &[],
        );
        log.append(b.build(), ts).expect("append");
        ts += 1;
    }
    let last_of_producer = log.log_end_offset() - 1;
    // The same key from another producer supersedes it; then enough to roll.
    for i in 0..20 {
        log.append(one(Some("p"), Some(&format!("plain-{i}")), ts), ts)
            .expect("append");
        ts += 1;
    }
    let mut map = OffsetMap::new(1 << 16);
    clean_once(&mut log, None, &mut map, ts);
    let data = log
        .read(0, 1 << 20, true)
        .expect("read")
        .read()
        .expect("bytes");
    let kept: Vec<_> = BatchIter::new(data)
        .map(|b| b.expect("valid").header)
        .collect();
    let producer = kept
        .iter()
        .find(|h| h.producer_id == 42)
        .expect("the producer's last batch is kept");
    assert_eq!(producer.last_offset(), last_of_producer);
    assert_eq!((producer.record_count, producer.base_sequence), (0, 2));
    assert_eq!(kept.iter().filter(|h| h.producer_id == 42).count(), 1);
}

/// A log of several segments, closed, and what its reader must keep seeing.
fn crash_fixture(dir: &Path) -> (LogConfig, BTreeMap<String, Rec>) {
    let config = compact_config(1024);
    let mut log = PartitionLog::open(dir, config.clone()).expect("open");
    fill(&mut log);
    for i in 0..12 {
        let ts = T0 + 200 + i;
        log.append(one(Some(&format!("tail-{i}")), Some("t"), ts), ts)
            .expect("append");
    }
    // Cleaned once, so the segments are small and the next clean groups them; then dirty again.
    let mut map = OffsetMap::new(1 << 20);
    clean_once(&mut log, None, &mut map, T0 + 1_000);
    for round in 0..2 {
        for k in 0..20 {
            let ts = T0 + 2_000 + round * 20 + k;
            let (key, value) = (format!("key-{k:02}"), format!("again{round}"));
            log.append(one(Some(&key), Some(&value), ts), ts)
                .expect("append");
        }
    }
    let latest = latest_per_key(&read_all(&log));
    log.close().expect("close");
    (config, latest)
}

/// Leaves the first group's files as a crash at some step of its swap would, and the later
/// groups as written (`.cleaned`): the state of a crash while the clean is still writing.
struct CrashAt<F: FnMut(&CleanedGroup)> {
    crash: Option<F>,
}

impl<F: FnMut(&CleanedGroup)> CleanerContext for CrashAt<F> {
    fn swap(&mut self, group: &CleanedGroup) -> Result<(), CleanError> {
        if let Some(mut crash) = self.crash.take() {
            crash(group);
        }
        Ok(())
    }
}

/// Runs a clean whose first swap "crashes" as `crash` says, drops the log without closing it,
/// reopens it with the loader and checks no latest value is lost; returns the reopened log.
fn crash_and_reopen(crash: impl FnMut(&CleanedGroup)) -> (tempfile::TempDir, PartitionLog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, latest) = crash_fixture(dir.path());
    let log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    let view = log.cleaner_view();
    let to_clean = log_to_clean(&view, None, T0 + 10_000);
    let mut map = OffsetMap::new(1 << 20);
    let mut ctx = CrashAt { crash: Some(crash) };
    clean(
        &view,
        &to_clean,
        &mut map,
        CleanerOptions::default(),
        T0 + 10_000,
        &mut ctx,
    )
    .expect("clean");
    drop(log); // no close: as after a crash
    let log = PartitionLog::open(dir.path(), config).expect("reopen after the crash");
    assert_eq!(
        latest_per_key(&read_all(&log)),
        latest,
        "nothing the latest-value rule keeps is lost"
    );
    for e in fs::read_dir(dir.path()).expect("dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains(".cleaned") && !name.contains(".swap"),
            "{name} left"
        );
    }
    (dir, log)
}

#[test]
fn a_crash_after_writing_cleaned_files_keeps_the_old_segments() {
    let mut first = None;
    let (dir, log) = crash_and_reopen(|group| first = Some(group.base_offset));
    assert!(first.is_some());
    assert!(log.recovery_stats().cleaner_files_deleted >= 3);
    assert_eq!(log.recovery_stats().swap_files_completed, 0);
    // The old segments, as they were.
    let (_, latest) = crash_fixture(tempfile::tempdir().expect("tempdir").path());
    assert_eq!(latest_per_key(&read_all(&log)), latest);
    assert!(names(dir.path()).len() > 5);
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    v.sort();
    v
}

fn rename_to_swap(group: &CleanedGroup) {
    for (from, to) in group
        .files(CLEANED_SUFFIX)
        .iter()
        .zip(group.files(SWAP_SUFFIX))
    {
        fs::rename(from, to).expect("rename");
    }
}

#[test]
fn a_crash_after_renaming_to_swap_completes_the_swap() {
    let mut replaced = Vec::new();
    let (dir, log) = crash_and_reopen(|group| {
        rename_to_swap(group);
        replaced = group.old.iter().map(|(b, _)| *b).collect();
    });
    assert!(log.recovery_stats().swap_files_completed >= 3);
    assert!(replaced.len() > 1, "{replaced:?}");
    // The swapped-in segment covers the old ones up to its last offset (Kafka's rule: an old
    // segment past the cleaned one's last offset stays, its records all superseded later).
    let bases = log.segment_base_offsets();
    assert!(bases.len() < 20);
    assert!(dir.path().join(format!("{:020}.log", replaced[0])).exists());
}

#[test]
fn a_crash_after_deleting_some_old_segments_completes_the_swap() {
    let (_dir, log) = crash_and_reopen(|group| {
        rename_to_swap(group);
        // The first old segment is gone, the others not yet.
        delete_segment_files(&group.dir, group.old[0].0).expect("delete");
    });
    assert!(log.recovery_stats().swap_files_completed >= 3);
}

#[test]
fn a_crash_while_renaming_to_swap_keeps_the_old_segments() {
    let (_dir, log) = crash_and_reopen(|group| {
        // Only the log file renamed: the indexes are still `.cleaned`.
        let (cleaned, swap) = (group.files(CLEANED_SUFFIX), group.files(SWAP_SUFFIX));
        fs::rename(&cleaned[0], &swap[0]).expect("rename");
    });
    assert_eq!(log.recovery_stats().swap_files_completed, 0);
}

#[test]
fn a_stale_group_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _) = crash_fixture(dir.path());
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let view = log.cleaner_view();
    let to_clean = log_to_clean(&view, None, T0 + 10_000);
    let mut groups = Vec::new();
    struct Keep<'a>(&'a mut Vec<CleanedGroup>);
    impl CleanerContext for Keep<'_> {
        fn swap(&mut self, group: &CleanedGroup) -> Result<(), CleanError> {
            self.0.push(CleanedGroup {
                dir: group.dir.clone(),
                base_offset: group.base_offset,
                old: group.old.clone(),
                size: group.size,
            });
            Err(CleanError::Aborted("kept for later".into()))
        }
    }
    let mut map = OffsetMap::new(1 << 20);
    let _ = clean(
        &view,
        &to_clean,
        &mut map,
        CleanerOptions::default(),
        T0,
        &mut Keep(&mut groups),
    );
    let group = groups.pop().expect("a group");
    // Meanwhile DeleteRecords took the first segment.
    let second = view.segments[1].base_offset;
    log.delete_records_before(second).expect("delete records");
    assert!(!log.replace_segments(&group, T0).expect("replace"));
    assert_eq!(log.segment_base_offsets()[0], second);
}
