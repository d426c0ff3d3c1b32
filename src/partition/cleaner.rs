//! The log cleaner service (Kafka's `LogCleaner`, its `CleanerThread`s and the bookkeeping of
//! `LogCleanerManager`): `log.cleaner.threads` plain threads — never the arbiters the partition
//! actors run on — that compact the partitions whose topic has `cleanup.policy=compact`.
//!
//! ```text
//! cleaner thread, every log.cleaner.backoff.ms while nothing is dirty enough:
//!   each partition actor ── CleanerView ──▶ its inactive segments (open files), config, producers
//!   the filthiest log whose dirty ratio > min.cleanable.dirty.ratio (or past max.compaction.lag.ms)
//!   storage::cleaner::clean ── reads the files itself, writes {base}.log.cleaned per group
//!        └─ per group ── ReplaceSegments ──▶ the actor swaps it in (renames, deletes, reloads)
//!   <log.dirs>/cleaner-offset-checkpoint ← the new first dirty offset of the partition
//! ```
//!
//! A partition actor never waits for a cleaner: it answers two short messages per clean and
//! group; reading and writing the segments happens on the cleaner's thread, bounded by
//! `log.cleaner.io.max.bytes.per.second` (shared by the threads, Kafka's `Throttler`). Each
//! thread owns an offset map of `log.cleaner.dedupe.buffer.size / threads` bytes, allocated once.
//! A log that fails to clean for another reason than a change under it (corrupt bytes, a disk
//! error) is marked uncleanable until the next start, as Kafka marks it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use super::checkpoints::format_offset_checkpoint;
use super::files::{read_offset_checkpoint, CLEANER_OFFSET_CHECKPOINT};
use super::{CleanerView, PartitionHandle, PartitionRegistry, ReplaceSegments};
use crate::storage::cleaner::{
    self, CleanError, CleanedGroup, CleanerContext, CleanerOptions, CleanerStats, LogToClean,
    LogView, OffsetMap,
};
use crate::util::clock::now_ms;
use crate::util::fs::write_atomically;

/// How long a cleaner waits for a partition actor's answer before giving up on that log.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's settings, from the broker's `log.cleaner.*`.
#[derive(Debug, Clone, Copy)]
pub struct CleanerSettings {
    pub threads: usize,
    pub backoff: Duration,
    pub dedupe_buffer_size: u64,
    pub io_buffer_size: usize,
    pub load_factor: f64,
    pub max_io_bytes_per_second: f64,
}

/// One partition's cleaner figures, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionCleaning {
    /// The dirty ratio when the cleaner last looked.
    pub dirty_ratio: f64,
    /// When the last clean finished (ms since the epoch); 0 if none yet.
    pub last_clean_ms: i64,
    pub cleans: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    /// Failed to clean for another reason than a change under it: left alone until restart.
    pub uncleanable: bool,
}

type Key = (String, i32);

#[derive(Default)]
struct State {
    /// The first dirty offset of each partition (`cleaner-offset-checkpoint`).
    checkpoints: BTreeMap<Key, i64>,
    in_progress: HashSet<Key>,
    figures: BTreeMap<Key, PartitionCleaning>,
}

struct Shared {
    registry: Arc<PartitionRegistry>,
    log_dir: PathBuf,
    settings: CleanerSettings,
    state: Mutex<State>,
    stop: AtomicBool,
    /// Wakes sleeping threads at stop.
    wake: Condvar,
    sleeping: Mutex<()>,
    throttler: Mutex<Throttler>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rewrites `cleaner-offset-checkpoint` from the state (Kafka's text format).
    fn write_checkpoint(&self, state: &State) {
        let text = format_offset_checkpoint(&state.checkpoints);
        let path = self.log_dir.join(CLEANER_OFFSET_CHECKPOINT);
        if let Err(e) = write_atomically(&path, text.as_bytes()) {
            warn!(file = %path.display(), error = %e, "cannot write the cleaner checkpoint");
        }
    }
}

/// The running cleaner threads. [`stop`](Self::stop) ends them (a clean in progress is given up
/// between two reads; its `.cleaned` files are removed, or by the next open).
pub struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts `settings.threads` cleaner threads over the partitions of `registry`, resuming
    /// from `<log_dir>/cleaner-offset-checkpoint`.
    pub fn start(
        registry: Arc<PartitionRegistry>,
        log_dir: &Path,
        settings: CleanerSettings,
    ) -> std::io::Result<LogCleaner> {
        let checkpoints: BTreeMap<Key, i64> =
            read_offset_checkpoint(&log_dir.join(CLEANER_OFFSET_CHECKPOINT))
                .into_iter()
                .collect();
        let threads = settings.threads.max(1);
        let shared = Arc::new(Shared {
            registry,
            log_dir: log_dir.to_path_buf(),
            settings,
            state: Mutex::new(State {
                checkpoints,
                ..State::default()
            }),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            sleeping: Mutex::new(()),
            throttler: Mutex::new(Throttler::new(settings.max_io_bytes_per_second)),
        });
        let memory = usize::try_from(settings.dedupe_buffer_size / threads as u64)
            .unwrap_or(usize::MAX)
            .min(i32::MAX as usize);
        let slots = memory / cleaner::offset_map::BYTES_PER_ENTRY;
        if (slots as f64) * settings.load_factor <= 1.0 {
            return Err(std::io::Error::other(
                "log.cleaner.dedupe.buffer.size is too small for log.cleaner.threads: the \
                 offset map would not hold one key",
            ));
        }
        let mut handles = Vec::with_capacity(threads);
        for id in 0..threads {
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("log-cleaner-{id}"))
                .spawn(move || run(id, &shared, memory))?;
            handles.push(handle);
        }
        info!(threads, dedupe_buffer_bytes = memory, "log cleaner started");
        Ok(LogCleaner {
            shared,
            threads: handles,
        })
    }

    /// Each partition's figures, by topic and partition.
    pub fn figures(&self) -> BTreeMap<(String, i32), PartitionCleaning> {
        self.shared.state().figures.clone()
    }

    /// A handle that reads the figures (for `/metrics`).
    pub fn figures_source(&self) -> CleanerFigures {
        CleanerFigures(self.shared.clone())
    }

    /// Stops the threads and waits for them.
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.sleeping.lock();
            self.shared.wake.notify_all();
        }
        for t in self.threads {
            let _ = t.join();
        }
        info!("log cleaner stopped");
    }
}

/// Reads the cleaner's figures from elsewhere (the metrics endpoint).
#[derive(Clone)]
pub struct CleanerFigures(Arc<Shared>);

impl CleanerFigures {
    pub fn get(&self) -> BTreeMap<(String, i32), PartitionCleaning> {
        self.0.state().figures.clone()
    }
}

/// One cleaner thread: clean the filthiest log, or sleep a backoff.
fn run(id: usize, shared: &Shared, memory: usize) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(thread = id, error = %e, "log cleaner thread cannot start");
            return;
        }
    };
    let mut map = OffsetMap::new(memory);
    while !shared.stop.load(Ordering::SeqCst) {
        let cleaned = match grab_filthiest(shared, &runtime) {
            Some(found) => {
                let key = found.key.clone();
                clean_one(shared, &runtime, &mut map, found);
                shared.state().in_progress.remove(&key);
                true
            }
            None => false,
        };
        if !cleaned {
            let guard = shared
                .sleeping
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let _ = shared.wake.wait_timeout(guard, shared.settings.backoff);
        }
    }
}

/// The log chosen for a clean.
struct Found {
    key: Key,
    handle: PartitionHandle,
    view: LogView,
    to_clean: LogToClean,
}

/// Kafka's `grabFilthiestCompactedLog`: asks every partition for its view, computes each
/// compacted log's dirty ratio, and takes the dirtiest that should be cleaned (marked in
/// progress, so no other thread takes it).
fn grab_filthiest(shared: &Shared, runtime: &tokio::runtime::Runtime) -> Option<Found> {
    let now = now_ms();
    let mut best: Option<Found> = None;
    for (topic, index, handle) in shared.registry.all() {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        let key = (topic.to_string(), index);
        {
            let state = shared.state();
            if state.in_progress.contains(&key)
                || state.figures.get(&key).is_some_and(|f| f.uncleanable)
            {
                continue;
            }
        }
        // The timer is made inside the runtime (it needs its time driver).
        let asked = runtime.block_on(async {
            tokio::time::timeout(ACTOR_TIMEOUT, handle.send(CleanerView)).await
        });
        let Ok(Ok(Some(view))) = asked else {
            continue;
        };
        let mut state = shared.state();
        let to_clean = cleaner::log_to_clean(&view, state.checkpoints.get(&key).copied(), now);
        if to_clean.reset_checkpoint {
            state
                .checkpoints
                .insert(key.clone(), to_clean.first_dirty_offset);
            shared.write_checkpoint(&state);
        }
        state.figures.entry(key.clone()).or_default().dirty_ratio = to_clean.cleanable_ratio();
        drop(state);
        if to_clean.total_bytes() == 0 || !to_clean.should_clean(view.config.min_cleanable_ratio) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| to_clean.cleanable_ratio() > b.to_clean.cleanable_ratio())
        {
            best = Some(Found {
                key,
                handle,
                view,
                to_clean,
            });
        }
    }
    let found = best?;
    shared.state().in_progress.insert(found.key.clone());
    Some(found)
}

/// How one clean reaches its partition actor, the throttle and the stop flag.
struct Context<'a> {
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    handle: &'a PartitionHandle,
}

impl CleanerContext for Context<'_> {
    fn throttle(&mut self, bytes: u64) {
        self.shared
            .throttler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .maybe_throttle(bytes);
    }

    fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn swap(&mut self, group: &CleanedGroup) -> Result<(), CleanError> {
        let group = CleanedGroup {
            dir: group.dir.clone(),
            base_offset: group.base_offset,
            old: group.old.clone(),
            size: group.size,
        };
        let handle = self.handle;
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(ACTOR_TIMEOUT, handle.send(ReplaceSegments(group))).await
        });
        match answer {
            Ok(Ok(Ok(true))) => Ok(()),
            Ok(Ok(Ok(false))) => Err(CleanError::Aborted(
                "the segments changed while they were cleaned".into(),
            )),
            Ok(Ok(Err(code))) => Err(CleanError::Io(std::io::Error::other(format!(
                "the partition could not swap the cleaned segment in: {code:?}"
            )))),
            Ok(Err(_)) | Err(_) => Err(CleanError::Aborted(
                "the partition is gone or does not answer".into(),
            )),
        }
    }
}

fn clean_one(
    shared: &Shared,
    runtime: &tokio::runtime::Runtime,
    map: &mut OffsetMap,
    found: Found,
) {
    let Found {
        key,
        handle,
        view,
        to_clean,
    } = found;
    let span = tracing::info_span!("log_cleaner", topic = %key.0, partition = key.1);
    let _e = span.enter();
    let started = Instant::now();
    let now = now_ms();
    let options = CleanerOptions {
        io_buffer_size: shared.settings.io_buffer_size,
        load_factor: shared.settings.load_factor,
    };
    let mut ctx = Context {
        shared,
        runtime,
        handle: &handle,
    };
    info!(
        first_dirty_offset = to_clean.first_dirty_offset,
        first_uncleanable_offset = to_clean.first_uncleanable_offset,
        dirty_ratio = to_clean.cleanable_ratio(),
        "cleaning log"
    );
    match cleaner::clean(&view, &to_clean, map, options, now, &mut ctx) {
        Ok((end, stats)) => {
            let mut state = shared.state();
            state.checkpoints.insert(key.clone(), end);
            shared.write_checkpoint(&state);
            let f = state.figures.entry(key).or_default();
            f.last_clean_ms = now_ms();
            f.cleans += 1;
            f.bytes_read += stats.bytes_read + stats.map_bytes_read;
            f.bytes_written += stats.bytes_written;
            f.records_removed += stats.records_removed();
            drop(state);
            log_stats(&stats, end, started.elapsed());
        }
        Err(CleanError::Aborted(why)) => info!(reason = %why, "log cleaning given up"),
        Err(e) => {
            error!(error = %e, "log cleaning failed: the log is left alone until restart");
            shared.state().figures.entry(key).or_default().uncleanable = true;
        }
    }
}

/// Kafka's cleaner summary line.
fn log_stats(stats: &CleanerStats, end: i64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    info!(
        next_dirty_offset = end,
        groups = stats.groups,
        map_keys = stats.map_keys,
        map_utilization = stats.map_utilization,
        bytes_read = stats.bytes_read + stats.map_bytes_read,
        bytes_written = stats.bytes_written,
        records_read = stats.records_read,
        records_removed = stats.records_removed(),
        tombstones_removed = stats.tombstones_removed,
        keyless_removed = stats.invalid_records,
        compressed_batches_kept = stats.opaque_batches,
        elapsed_ms = elapsed.as_millis() as u64,
        read_mb_per_s = mb(stats.bytes_read + stats.map_bytes_read) / secs,
        "log cleaned"
    );
    if stats.opaque_batches > 0 {
        debug!(
            batches = stats.opaque_batches,
            "compressed batches kept whole: sluice has no codecs to look inside them"
        );
    }
}

/// Kafka's `Throttler`: over each check interval, if more bytes went by than the rate allows,
/// sleep long enough to bring it back down.
struct Throttler {
    bytes_per_sec: f64,
    period_start: Instant,
    observed: u64,
}

impl Throttler {
    const CHECK_INTERVAL: Duration = Duration::from_millis(300);

    fn new(bytes_per_sec: f64) -> Throttler {
        Throttler {
            bytes_per_sec,
            period_start: Instant::now(),
            observed: 0,
        }
    }

    fn maybe_throttle(&mut self, bytes: u64) {
        if !self.bytes_per_sec.is_finite() || self.bytes_per_sec >= f64::MAX {
            return;
        }
        self.observed += bytes;
        let elapsed = self.period_start.elapsed();
        if elapsed < Self::CHECK_INTERVAL {
            return;
        }
        let wanted = Duration::from_secs_f64(self.observed as f64 / self.bytes_per_sec);
        if wanted > elapsed {
            std::thread::sleep(wanted - elapsed);
        }
        self.period_start = Instant::now();
        self.observed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttler_holds_the_rate() {
        let mut t = Throttler::new(1_000_000.0);
        let started = Instant::now();
        // 600 KB at 1 MB/s take 0.6 s; the period is made to look 300 ms older than it is, so
        // the throttle sleeps what remains of 0.6 s after about 0.3 s of real time.
        for _ in 0..60 {
            t.maybe_throttle(10_000);
            std::thread::sleep(Duration::from_millis(1));
        }
        t.period_start -= Throttler::CHECK_INTERVAL;
        t.maybe_throttle(0);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let mut free = Throttler::new(f64::MAX);
        let started = Instant::now();
        free.maybe_throttle(u64::MAX / 2);
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
