//! Per-server log files: each child's stderr, line by line, with size-based rotation.
//!
//! `logs/NAME.log` is the live file; past [`MAX_BYTES`] it moves to `NAME.log.1` (older ones
//! shift up to `.log.KEEP`, the oldest is dropped), so a chatty server cannot fill the disk.
//! Lines the hub itself adds (start, exit) begin with `[patchbay]`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Size at which the live file is rotated.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Rotated files kept besides the live one.
pub const KEEP: usize = 3;

/// An append-only, rotating log file.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    file: Option<std::fs::File>,
    size: u64,
    max_bytes: u64,
}

impl RotatingLog {
    /// A log at `path`, created on first write.
    pub fn new(path: PathBuf) -> Self {
        Self::with_limit(path, MAX_BYTES)
    }

    /// A log that rotates at `max_bytes` (tests use a small limit).
    pub fn with_limit(path: PathBuf, max_bytes: u64) -> Self {
        Self {
            path,
            file: None,
            size: 0,
            max_bytes,
        }
    }

    /// Append one line (a newline is added).
    pub fn line(&mut self, line: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                fs_err::create_dir_all(dir)?;
            }
            let file = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file.into_parts().0);
        }
        if self.size + line.len() as u64 + 1 > self.max_bytes && self.size > 0 {
            self.rotate()?;
            return self.line(line);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    /// A line written by the hub itself, with a timestamp.
    pub fn note(&mut self, message: &str) -> std::io::Result<()> {
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        self.line(&format!("[patchbay] {now} {message}"))
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        for n in (1..KEEP).rev() {
            let from = numbered(&self.path, n);
            if from.exists() {
                fs_err::rename(&from, numbered(&self.path, n + 1))?;
            }
        }
        fs_err::rename(&self.path, numbered(&self.path, 1))?;
        self.size = 0;
        Ok(())
    }
}

fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The last `lines` lines of a log, reaching into the rotated file when the live one is short.
pub fn tail(path: &Path, lines: usize) -> std::io::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for file in [path.to_path_buf(), numbered(path, 1)] {
        if out.len() >= lines {
            break;
        }
        let text = match fs_err::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        let want = lines - out.len();
        let mut older: Vec<String> = text.lines().rev().take(want).map(str::to_owned).collect();
        older.reverse();
        older.append(&mut out);
        out = older;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_tail_spans_the_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut log = RotatingLog::with_limit(path.clone(), 64);
        for i in 0..40 {
            log.line(&format!("line {i:02}")).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 64);
        assert!(
            numbered(&path, KEEP).exists(),
            "old files are kept up to KEEP"
        );
        assert!(!numbered(&path, KEEP + 1).exists(), "and no more");
        let last = tail(&path, 10).unwrap();
        let expected: Vec<String> = (30..40).map(|i| format!("line {i:02}")).collect();
        assert_eq!(last, expected);
    }
}
