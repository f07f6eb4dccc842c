//! Timestamped copies of a client's config file, taken before Patchbay changes it.
//!
//! One directory per client under Patchbay's state dir (never beside the client's file), one
//! file per backup named by the UTC time it was taken, so names sort by age. A file that did not
//! exist is backed up as an `.absent` marker: restoring it removes the file again. At most
//! [`KEEP`] backups are kept per client; the oldest go first.

use std::path::{Path, PathBuf};

/// How many backups are kept per client.
pub const KEEP: usize = 20;

const ABSENT: &str = "absent";

/// One backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    /// The backup file.
    pub path: PathBuf,
    /// When it was taken (RFC 3339, UTC).
    pub taken: String,
    /// The client's file did not exist then; restoring removes it.
    pub absent: bool,
}

impl Backup {
    /// The content to put back, or `None` when the file is to be removed.
    pub fn content(&self) -> std::io::Result<Option<Vec<u8>>> {
        if self.absent {
            Ok(None)
        } else {
            fs_err::read(&self.path).map(Some)
        }
    }
}

/// Copy `original` (or mark its absence) into `dir`, then prune to [`KEEP`].
pub fn take(dir: &Path, original: Option<&[u8]>, extension: &str) -> std::io::Result<Backup> {
    fs_err::create_dir_all(dir)?;
    let stamp = humantime::format_rfc3339_nanos(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let extension = if original.is_some() {
        extension
    } else {
        ABSENT
    };
    let mut n = 0;
    let path = loop {
        let name = match n {
            0 => format!("{stamp}.{extension}"),
            n => format!("{stamp}-{n}.{extension}"),
        };
        let path = dir.join(name);
        match fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => break path,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(err) => return Err(err),
        }
    };
    crate::files::write_atomically(&path, original.unwrap_or_default())?;
    let backups = list(dir)?;
    for old in backups.iter().skip(KEEP) {
        fs_err::remove_file(&old.path)?;
    }
    Ok(backups
        .into_iter()
        .find(|b| b.path == path)
        .expect("the backup just taken is listed"))
}

/// Every backup in `dir`, newest first.
pub fn list(dir: &Path) -> std::io::Result<Vec<Backup>> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Stamps start with the year; anything else (a temp file) is not a backup.
        let Some((stem, extension)) = name.rsplit_once('.') else {
            continue;
        };
        if !stem.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let taken = match stem.split_once('T') {
            Some((day, time)) => format!("{day}T{}", time.replacen('-', ":", 2)),
            None => stem.to_owned(),
        };
        backups.push(Backup {
            absent: extension == ABSENT,
            taken,
            path,
        });
    }
    backups.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(backups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_listed_newest_first_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let first = take(dir.path(), None, "json").unwrap();
        assert!(first.absent);
        assert_eq!(first.content().unwrap(), None);
        for i in 0..KEEP + 3 {
            take(dir.path(), Some(format!("{i}").as_bytes()), "json").unwrap();
        }
        let all = list(dir.path()).unwrap();
        assert_eq!(all.len(), KEEP, "pruned to the bound");
        let newest = all[0].content().unwrap().unwrap();
        assert_eq!(newest, format!("{}", KEEP + 2).as_bytes());
        assert!(!all.iter().any(|b| b.absent), "the oldest went first");
        assert!(all[0].taken.contains(':'), "{}", all[0].taken);
    }
}
