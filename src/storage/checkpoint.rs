//! sluice's per-partition checkpoint and clean-shutdown marker.
//!
//! ```text
//! <partition dir>/sluice-offset-checkpoint      Kafka's checkpoint text format:
//!     0                                         version
//!     2                                         entry count
//!     log-start-offset 42                       one "key value" entry per line
//!     recovery-point 1000
//!
//! <partition dir>/sluice-clean-shutdown         empty; present only between a clean close and
//!                                               the next open
//! ```
//!
//! Kafka keeps the same two values in `<log.dirs>/log-start-offset-checkpoint` and
//! `<log.dirs>/recovery-point-offset-checkpoint`, one line per partition; sluice keeps them beside
//! the segments so that a partition directory is self-contained. Kafka ignores both files.
//! The checkpoint is replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new one.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use crate::util::fs::{sync_dir, write_atomically};

pub(crate) const CHECKPOINT_FILE: &str = "sluice-offset-checkpoint";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "sluice-clean-shutdown";
const VERSION: i64 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub log_start_offset: i64,
    pub recovery_point: i64,
}

/// Reads the checkpoint. `Ok(None)` if there is none; a malformed file is reported as
/// `InvalidData` so the caller can log it and fall back to a full recovery.
pub(crate) fn read(dir: &Path) -> io::Result<Option<Checkpoint>> {
    let text = match fs::read_to_string(dir.join(CHECKPOINT_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    parse(&text)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed checkpoint file"))
}

fn parse(text: &str) -> Option<Checkpoint> {
    let mut lines = text.lines();
    if lines.next()?.trim().parse::<i64>().ok()? != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut log_start_offset = None;
    let mut recovery_point = None;
    for _ in 0..count.min(16) {
        let mut fields = lines.next()?.split_whitespace();
        let key = fields.next()?;
        let value: i64 = fields.next()?.parse().ok()?;
        match key {
            "log-start-offset" => log_start_offset = Some(value),
            "recovery-point" => recovery_point = Some(value),
            _ => {}
        }
    }
    Some(Checkpoint {
        log_start_offset: log_start_offset?,
        recovery_point: recovery_point?,
    })
}

/// Replaces the checkpoint atomically.
pub(crate) fn write(dir: &Path, checkpoint: Checkpoint) -> io::Result<()> {
    let text = format!(
        "{VERSION}\n2\nlog-start-offset {}\nrecovery-point {}\n",
        checkpoint.log_start_offset, checkpoint.recovery_point
    );
    write_atomically(&dir.join(CHECKPOINT_FILE), text.as_bytes())
}

pub(crate) fn write_clean_shutdown(dir: &Path) -> io::Result<()> {
    File::create(dir.join(CLEAN_SHUTDOWN_FILE))?.sync_all()?;
    sync_dir(dir)
}

/// Removes the marker; returns whether it was there.
pub(crate) fn take_clean_shutdown(dir: &Path) -> io::Result<bool> {
    match fs::remove_file(dir.join(CLEAN_SHUTDOWN_FILE)) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn clean_shutdown_exists(dir: &Path) -> bool {
    dir.join(CLEAN_SHUTDOWN_FILE).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("read"), None);
        let cp = Checkpoint {
            log_start_offset: 7,
            recovery_point: 1234,
        };
        write(dir.path(), cp).expect("write");
        assert_eq!(
            fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).expect("text"),
            "0\n2\nlog-start-offset 7\nrecovery-point 1234\n"
        );
        assert_eq!(read(dir.path()).expect("read"), Some(cp));
        fs::write(
            dir.path().join(CHECKPOINT_FILE),
            "0\n2\nlog-start-offset x\n",
        )
        .expect("w");
        assert!(read(dir.path()).is_err());
        assert!(!take_clean_shutdown(dir.path()).expect("take"));
        write_clean_shutdown(dir.path()).expect("marker");
        assert!(clean_shutdown_exists(dir.path()));
        assert!(take_clean_shutdown(dir.path()).expect("take"));
        assert!(!clean_shutdown_exists(dir.path()));
    }
}
