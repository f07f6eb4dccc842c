//! CPU time per call, split between the server and what carries the call to it.
//!
//! A round trip's wall time hides where it goes: a proxy's own work, or a server that works
//! harder when its calls come further apart (on a small machine a server called back to back
//! stays on a warm CPU; one called through a hop wakes cold each time). So each turn of the
//! round-trip rounds reads the CPU time of every process the benchmark started, before and
//! after, and puts the difference on the path that had the turn. The other paths' processes
//! sit idle meanwhile, and their little idle work counts too.

use std::path::Path;

use crate::process;

/// CPU time used so far by the benchmark's descendants, in nanoseconds: server-everything's
/// processes, and every other (proxies, bridges, peers' helpers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub server_ns: u64,
    pub carrier_ns: u64,
}

impl Split {
    /// The CPU time of every process under this one now, those that run the script `server`
    /// (`node SERVER ...`) counted as the server.
    pub fn now(server: &Path) -> Self {
        let marker = server.to_string_lossy();
        let me = std::process::id();
        let mut split = Self::default();
        for proc in process::tree(me).into_iter().filter(|p| p.pid != me) {
            let ns = cpu_ns(proc.pid);
            if runs(&args(proc.pid), &marker) {
                split.server_ns += ns;
            } else {
                split.carrier_ns += ns;
            }
        }
        split
    }

    /// What was used between `earlier` and `self` (a process that exited meanwhile takes its
    /// time with it, so a part never goes below zero).
    pub fn since(self, earlier: Self) -> Self {
        Self {
            server_ns: self.server_ns.saturating_sub(earlier.server_ns),
            carrier_ns: self.carrier_ns.saturating_sub(earlier.carrier_ns),
        }
    }

    pub fn add(&mut self, other: Self) {
        self.server_ns += other.server_ns;
        self.carrier_ns += other.carrier_ns;
    }
}

/// CPU per call over a path's turns, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerCall {
    pub server_ms: f64,
    pub carrier_ms: f64,
}

impl PerCall {
    /// `None` when no call was made.
    pub fn of(total: Split, calls: usize) -> Option<Self> {
        (calls > 0).then(|| Self {
            server_ms: total.server_ns as f64 / 1e6 / calls as f64,
            carrier_ms: total.carrier_ns as f64 / 1e6 / calls as f64,
        })
    }
}

/// Time on CPU of all of `pid`'s threads alive now, from each one's `schedstat` (nanoseconds,
/// unlike `stat`'s 10 ms ticks); 0 for a process gone.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| parse_schedstat(&line))
        .sum()
}

/// The first field of a `schedstat` line: time spent on the CPU, in nanoseconds.
fn parse_schedstat(line: &str) -> Option<u64> {
    line.split_whitespace().next()?.parse().ok()
}

/// Whether a command line runs `script` itself (`node SCRIPT ...`), rather than naming it as
/// the command of a server it wraps (`supergateway --stdio "node SCRIPT stdio"`).
fn runs(args: &[String], script: &str) -> bool {
    args.get(1).is_some_and(|first| first == script)
}

fn args(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_its_first_field() {
        assert_eq!(parse_schedstat("123456789 2000 31\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn a_server_is_the_process_that_runs_the_script_not_one_that_wraps_it() {
        let script = "/peers/everything/dist/index.js";
        let argv = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(runs(
            &argv("node /peers/everything/dist/index.js stdio"),
            script
        ));
        assert!(!runs(
            &argv("node /peers/supergateway --stdio node /peers/everything/dist/index.js stdio"),
            script
        ));
        assert!(!runs(&argv("node"), script));
    }

    #[test]
    fn a_busy_child_shows_as_carrier_time_and_one_running_the_script_as_server_time() {
        let script = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 5";
        let mut child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .expect("sh runs");
        let other = Path::new("no-such-script");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut split = Split::now(other);
        while split.carrier_ns < 10_000_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            split = Split::now(other);
        }
        // `sh -c SCRIPT`: the script is its first argument.
        let named = Split::now(Path::new("-c"));
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            split.carrier_ns >= 10_000_000,
            "the loop's CPU time: {split:?}"
        );
        assert_eq!(split.server_ns, 0);
        assert!(named.server_ns >= 10_000_000, "{named:?}");
    }

    #[test]
    fn per_call_divides_and_refuses_no_calls() {
        let total = Split {
            server_ns: 3_000_000,
            carrier_ns: 1_000_000,
        };
        assert_eq!(
            PerCall::of(total, 4),
            Some(PerCall {
                server_ms: 0.75,
                carrier_ms: 0.25
            })
        );
        assert_eq!(PerCall::of(total, 0), None);
    }
}
