//! Durable file replacement.
//!
//! A file replaced in place can be torn by a crash. [`write_atomically`] writes a temporary
//! sibling, fsyncs it, renames it over the target and fsyncs the directory, so that after a crash
//! the target holds either the old or the new content, and the new content, once the call
//! returns, survives one.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents`: `<path>.tmp` written and fsynced, renamed over `path`, then
/// the directory fsynced (the rename is only durable once the directory is).
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = tmp_sibling(path);
    let mut file = File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(parent_dir(path))
}

/// fsync a directory, so that creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `<path>.tmp`, beside `path`.
fn tmp_sibling(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.checkpoint");
        write_atomically(&path, b"first").expect("write");
        write_atomically(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.checkpoint"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("meta.properties");
        write_atomically(&path, b"old").expect("write");
        // The temporary cannot be created where a directory stands.
        std::fs::create_dir(tmp_sibling(&path)).expect("mkdir");
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
    }

    #[test]
    fn names_beside_the_target() {
        assert_eq!(
            tmp_sibling(Path::new("/d/meta.properties")),
            Path::new("/d/meta.properties.tmp")
        );
        assert_eq!(parent_dir(Path::new("/d/meta.properties")), Path::new("/d"));
        assert_eq!(parent_dir(Path::new("meta.properties")), Path::new("."));
    }
}
