//! Processes the benchmark starts: spawned with their output in a log file, measured through
//! `/proc`, and stopped by pid, descendants included.
//!
//! A proxy's children are its business while it runs, but ours to clean up: before a proxy is
//! stopped its process tree is recorded (pid and start time, so a reused pid is never hit), and
//! whatever of it outlives the proxy is stopped too.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A process this benchmark started; stopped (with its descendants) when dropped.
pub struct Owned {
    name: String,
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl Owned {
    /// Start `command` with stdin closed and stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let file =
            File::create(log).with_context(|| format!("failed to create `{}`", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = command
            .spawn()
            .with_context(|| format!("failed to start `{name}`"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error naming the process and quoting its log if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "`{}` exited ({status}); the end of its log:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines of the process's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, a bounded wait, then SIGKILL; the same for any descendant left behind.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let family: Vec<Proc> = tree(self.pid())
            .into_iter()
            .filter(|p| p.pid != self.pid())
            .collect();
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let alive = |p: &Proc| stat(p.pid).is_some_and(|s| s.start == p.start);
        let left: Vec<&Proc> = family.iter().filter(|p| alive(p)).collect();
        for p in &left {
            signal(p.pid, "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && left.iter().any(|p| alive(p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in left.iter().filter(|p| alive(p)) {
            signal(p.pid, "KILL");
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// A process as `/proc/PID/stat` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Start time in clock ticks since boot: with the pid, an identity that survives pid reuse.
    pub start: u64,
}

/// Parse one `/proc/PID/stat` line. The command name sits in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<Proc> {
    let (head, tail) = line.rsplit_once(')')?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn stat(pid: u32) -> Option<Proc> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `root` and every process descended from it, `root` first.
pub fn tree(root: u32) -> Vec<Proc> {
    let mut children: HashMap<u32, Vec<Proc>> = HashMap::new();
    let mut found = None;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(p) = stat(pid) {
            if p.pid == root {
                found = Some(p);
            }
            children.entry(p.ppid).or_default().push(p);
        }
    }
    let mut out: Vec<Proc> = found.into_iter().collect();
    let mut next = 0;
    while next < out.len() {
        out.extend(children.get(&out[next].pid).into_iter().flatten().copied());
        next += 1;
    }
    out
}

/// Resident set size of one process (its own, children not counted), in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no VmRSS value")?
        .parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A command name with a space and a `)` of its own, as `comm` allows.
        let line = "4242 (node) x) S 17 4242 17 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 7 0 123456 1 2 3";
        assert_eq!(
            parse_stat(line),
            Some(Proc {
                pid: 4242,
                ppid: 17,
                start: 123456
            })
        );
    }

    #[test]
    fn a_short_stat_line_is_not_a_process() {
        assert_eq!(parse_stat("1 (init) S 0"), None);
    }

    #[test]
    fn the_tree_of_this_process_starts_with_it() {
        let me = std::process::id();
        let family = tree(me);
        assert_eq!(family.first().map(|p| p.pid), Some(me), "root comes first");
    }
}
