//! The names of a segment's files, and deleting them (Kafka's `LogFileUtils`).
//!
//! ```text
//! {base_offset:020}.log            record batches
//! {base_offset:020}.index          offset index           (index/offset.rs)
//! {base_offset:020}.timeindex      time index             (index/time.rs)
//! {base_offset:020}.txnindex       Kafka's transaction index: never written, deleted with its log
//! {base_offset:020}.log.deleted    a log being deleted (its indexes likewise): removed once
//!                                  `file.delete.delay.ms` has passed, or by the next open
//! {base_offset:020}.log.cleaned    Kafka's log cleaner writing a replacement (indexes likewise)
//! {base_offset:020}.log.swap       the replacement, complete, not yet swapped in (indexes likewise)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Kafka's transaction index; we never write one but delete it with its segment.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
pub const DELETED_SUFFIX: &str = ".deleted";
/// Kafka's log cleaner (and its segment split) writes a replacement segment's files with this
/// suffix; an open deletes them (the work is redone).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// A `.cleaned` replacement renamed once complete, before the segments it replaces are deleted;
/// an open finishes the swap (see `loader`).
pub const SWAP_SUFFIX: &str = ".swap";

/// `{base_offset:020}{suffix}`, Kafka's segment file name.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset in a segment file name, if `name` is exactly 20 digits then `suffix`.
pub fn parse_segment_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Kafka's `LogFileUtils.offsetFromFile`: the offset the name starts with, up to its first
/// `.` (`00000000000000000042.log.swap` → 42), if those are digits.
pub fn offset_from_file_name(name: &str) -> Option<i64> {
    let stem = name.split('.').next()?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// `e` with the path it concerns in its message.
pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Deletes the files of segment `base_offset` in `dir`, the log last (renamed to `.deleted` first).
pub(crate) fn delete_segment_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    let log_path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
    let deleted = dir.join(segment_file_name(
        base_offset,
        &format!("{LOG_SUFFIX}{DELETED_SUFFIX}"),
    ));
    match fs::rename(&log_path, &deleted) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_path(e, &log_path)),
    }
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, ""] {
        let path = if suffix.is_empty() {
            deleted.clone()
        } else {
            dir.join(segment_file_name(base_offset, suffix))
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, &path)),
        }
    }
    Ok(())
}

/// Renames the files of segment `base_offset` in `dir` to `….deleted`, the log first (Kafka's
/// asynchronous delete: the files go once `file.delete.delay.ms` has passed, see
/// [`remove_files`]). Returns the renamed files. A crash before their removal leaves only
/// `.deleted` files and indexes without a log, both of which an open removes.
pub(crate) fn rename_segment_files_deleted(
    dir: &Path,
    base_offset: i64,
) -> io::Result<Vec<PathBuf>> {
    let mut renamed = Vec::new();
    for suffix in [
        LOG_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        TXN_INDEX_SUFFIX,
    ] {
        let path = dir.join(segment_file_name(base_offset, suffix));
        let deleted = dir.join(segment_file_name(
            base_offset,
            &format!("{suffix}{DELETED_SUFFIX}"),
        ));
        match fs::rename(&path, &deleted) {
            Ok(()) => renamed.push(deleted),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, &path)),
        }
    }
    Ok(renamed)
}

/// Removes `paths` (those already gone are fine).
pub(crate) fn remove_files(paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(e, path)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(0, LOG_SUFFIX), "00000000000000000000.log");
        assert_eq!(
            segment_file_name(1234, TIME_INDEX_SUFFIX),
            "00000000000000001234.timeindex"
        );
        assert_eq!(
            parse_segment_file_name("00000000000000001234.log", LOG_SUFFIX),
            Some(1234)
        );
        assert_eq!(parse_segment_file_name("1234.log", LOG_SUFFIX), None);
        assert_eq!(
            parse_segment_file_name("00000000000000001234.log.deleted", LOG_SUFFIX),
            None
        );
        assert_eq!(
            parse_segment_file_name("0000000000000000123x.log", LOG_SUFFIX),
            None
        );
        assert_eq!(
            offset_from_file_name("00000000000000000042.timeindex.swap"),
            Some(42)
        );
        assert_eq!(offset_from_file_name("7.log.cleaned"), Some(7));
        for name in ["leader-epoch-checkpoint", ".swap", "x1.log.swap"] {
            assert_eq!(offset_from_file_name(name), None, "{name}");
        }
        assert_eq!(
            offset_from_file_name("00000000000000000100-0000000001.checkpoint"),
            None
        );
        assert_eq!(offset_from_file_name("99999999999999999999.log"), None);
    }
}
