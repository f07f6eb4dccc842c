//! One hub per user: the lock a running hub holds and the discovery file that finds it.
//!
//! The hub takes an exclusive lock on `state/hub.lock` for its whole life, then writes
//! `state/hub.json` (pid, port, URL, where the secret is). Whoever wants a hub reads the file and
//! checks the lock: a file whose lock is free was left by a hub that died, and is stale.
//! The lock, not the pid, is the truth: pids are reused, locks die with their process.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::Paths;

/// What a running hub publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The hub's process id.
    pub pid: u32,
    /// The loopback port it listens on.
    pub port: u16,
    /// The MCP endpoint URL.
    pub url: String,
    /// Where the bearer secret is kept.
    pub secret_file: PathBuf,
    /// The hub's version.
    pub version: String,
}

impl Discovery {
    /// The base URL of the listener (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Failure to become or find the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Another hub holds the lock.
    #[error("a hub is already running (pid {}, {})", .0.pid, .0.url)]
    AlreadyRunning(Box<Discovery>),
    /// Another process holds the lock but has not published itself yet.
    #[error("another hub is starting up")]
    Starting,
    /// The state directory or files could not be used.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The lock held by the running hub; dropping it (or dying) releases it.
#[derive(Debug)]
pub struct HubLock {
    _file: std::fs::File,
    discovery_file: PathBuf,
}

impl HubLock {
    /// Take the hub lock, or say who has it.
    pub fn acquire(paths: &Paths) -> Result<Self, DiscoveryError> {
        crate::secret::create_private_dir(&paths.state_dir)?;
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.lock_file())?
            .into_parts()
            .0;
        match file.try_lock() {
            Ok(()) => {
                crate::secret::make_private(&paths.lock_file())?;
                Ok(Self {
                    _file: file,
                    discovery_file: paths.discovery_file(),
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => match read_file(&paths.discovery_file()) {
                Some(found) => Err(DiscoveryError::AlreadyRunning(Box::new(found))),
                None => Err(DiscoveryError::Starting),
            },
            Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
        }
    }

    /// Publish where this hub listens (atomically replacing any stale file), private to the
    /// user like the directory it is made in.
    pub fn publish(&self, discovery: &Discovery) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(discovery).map_err(std::io::Error::other)?;
        crate::files::write_atomically(&self.discovery_file, &json)?;
        crate::secret::make_private(&self.discovery_file)
    }
}

impl Drop for HubLock {
    fn drop(&mut self) {
        // Best effort: a hub that dies without this leaves a file the lock check marks stale.
        let _ = std::fs::remove_file(&self.discovery_file);
    }
}

fn read_file(path: &Path) -> Option<Discovery> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Whether some process holds the hub lock (a hub runs or is starting).
pub fn lock_held(paths: &Paths) -> bool {
    let Ok(lock) = std::fs::OpenOptions::new()
        .write(true)
        .open(paths.lock_file())
    else {
        return false;
    };
    matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// The running hub, if there is one: its discovery file exists and its lock is held.
pub fn find_running(paths: &Paths) -> Option<Discovery> {
    let found = read_file(&paths.discovery_file())?;
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(paths.lock_file())
        .ok()?;
    match lock.try_lock() {
        // We got the lock: nobody holds it, so the file is stale.
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => Some(found),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(port: u16) -> Discovery {
        Discovery {
            pid: std::process::id(),
            port,
            url: format!("http://127.0.0.1:{port}/mcp"),
            secret_file: "/x/secret".into(),
            version: "t".into(),
        }
    }

    #[test]
    fn second_hub_is_refused_and_told_about_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let lock = HubLock::acquire(&paths).unwrap();
        lock.publish(&sample(1234)).unwrap();
        assert_eq!(find_running(&paths), Some(sample(1234)));
        for path in [
            paths.state_dir.clone(),
            paths.lock_file(),
            paths.discovery_file(),
        ] {
            crate::secret::assert_private(&path);
        }
        match HubLock::acquire(&paths) {
            Err(DiscoveryError::AlreadyRunning(found)) => assert_eq!(found.port, 1234),
            other => panic!("a second hub must be refused, got {other:?}"),
        }
        drop(lock);
        assert_eq!(find_running(&paths), None, "released lock means no hub");
    }

    #[test]
    fn stale_file_without_a_lock_holder_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(&paths.state_dir).unwrap();
        std::fs::write(
            paths.discovery_file(),
            serde_json::to_vec(&sample(9)).unwrap(),
        )
        .unwrap();
        assert_eq!(find_running(&paths), None, "a killed hub's file is stale");
        let lock = HubLock::acquire(&paths).expect("stale file does not block a new hub");
        lock.publish(&sample(10)).unwrap();
        assert_eq!(find_running(&paths).map(|d| d.port), Some(10));
        crate::secret::assert_private(&paths.discovery_file());
    }
}
