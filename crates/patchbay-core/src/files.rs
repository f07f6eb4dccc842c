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

/// Attempts of [`rename_patiently`], and the wait before the first retry (doubled each time).
const RENAME_ATTEMPTS: u32 = 6;
const RENAME_FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(25);

/// Rename `from` to `to`, trying again for about 1.5 s while Windows refuses because some
/// process still holds a handle in the tree (a virus scanner or the indexer reading files just
/// written: sharing violation, access denied). Any other error is returned at once.
pub fn rename_patiently(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut wait = RENAME_FIRST_WAIT;
    let mut attempt = 1;
    loop {
        // std's error, not fs_err's: fs_err's wrapper has no raw OS error to tell.
        match std::fs::rename(from, to) {
            Err(err) if attempt < RENAME_ATTEMPTS && held_open(&err, cfg!(windows)) => {
                std::thread::sleep(wait);
                wait *= 2;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Whether `err` is Windows saying another handle is open (`ERROR_SHARING_VIOLATION`,
/// `ERROR_ACCESS_DENIED`); never on other systems, where those numbers mean other things.
pub fn held_open(err: &std::io::Error, windows: bool) -> bool {
    const ACCESS_DENIED: i32 = 5;
    const SHARING_VIOLATION: i32 = 32;
    windows && matches!(err.raw_os_error(), Some(ACCESS_DENIED | SHARING_VIOLATION))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_windows_handle_errors_are_waited_out() {
        let os = std::io::Error::from_raw_os_error;
        assert!(held_open(&os(32), true), "a sharing violation");
        assert!(held_open(&os(5), true), "access denied");
        assert!(!held_open(&os(2), true), "a missing file is not waited for");
        assert!(!held_open(&os(32), false), "32 is EPIPE elsewhere");
        let plain = std::io::Error::other("no number");
        assert!(!held_open(&plain, true));
    }

    #[test]
    fn a_patient_rename_moves_a_folder_and_fails_plainly_on_a_missing_one() {
        let root = tempfile::tempdir().unwrap();
        let from = root.path().join(".unpacking-1");
        std::fs::create_dir(&from).unwrap();
        std::fs::write(from.join("index.js"), "run()").unwrap();
        let to = root.path().join("weather");
        rename_patiently(&from, &to).unwrap();
        assert_eq!(std::fs::read(to.join("index.js")).unwrap(), b"run()");
        let err = rename_patiently(&from, &root.path().join("other")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        assert!(
            err.raw_os_error().is_some(),
            "the OS error number stays readable, for held_open: {err:?}"
        );
    }
}
