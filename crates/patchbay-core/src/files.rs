//! Files that more than one writer shares: replaced atomically, edited under a lock.
//!
//! The config, the clients' configs, their backups, the list cache and the discovery file are
//! all written through [`write_atomically`]; every read-modify-write of a shared file holds
//! [`lock_exclusive`] on the file's lock. A leaf: it imports nothing of the crate.

use std::io::Write;
use std::path::Path;

/// Take an exclusive advisory lock on `lock_path` (created with its directory if missing); it is
/// held until the returned file is dropped. Every writer of a shared file takes the same lock.
pub fn lock_exclusive(lock_path: &Path) -> std::io::Result<fs_err::File> {
    if let Some(dir) = lock_path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let lock = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)?;
    lock.file().lock()?;
    Ok(lock)
}

/// How the temp files of [`write_atomically`] start, so one left by a killed writer is known.
pub const TEMP_PREFIX: &str = ".patchbay-tmp-";

/// [`write_atomically`], making `path`'s directory first when it is missing (the hub's own
/// state and cache files, whose folders appear on first use).
pub fn write_atomically_in_new_dir(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    write_atomically(path, bytes)
}

/// Replace `path` with `bytes` so that a reader sees the old or the new file, never a torn one:
/// a temp file in the same directory, fsync, then rename over. The old file's mode is kept.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|err| err.error)?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
