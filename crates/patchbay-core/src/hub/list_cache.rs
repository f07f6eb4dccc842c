//! The on-disk cache of stdio servers' lists (`<cache dir>/lists/<server>.json`), so that
//! `tools/list` answers at once while a lazy server is not running, and while the servers of a
//! hub that just started are still starting.
//!
//! An entry records a fingerprint of what starts the server (command, arguments, environment
//! names and values, secret names, directory): a server whose entry changed is started once to
//! list again instead of being served stale lists. An unreadable or foreign entry is ignored.
//! The lists hold nothing secret (names, descriptions and schemas the server published). The
//! entry also keeps the server's era: whether it speaks only 2026-07-28, so that the next start
//! goes straight to `server/discover`.

use serde::{Deserialize, Serialize};

use crate::config::ServerConfig;
use crate::hub::catalog::ServerCatalog;
use crate::paths::Paths;

#[derive(Serialize, Deserialize)]
struct Entry {
    v: u32,
    fingerprint: String,
    catalog: ServerCatalog,
    /// It refused `initialize` (entries written before this was kept: no).
    #[serde(default)]
    modern: bool,
}

/// What the cache knows of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    /// Its lists.
    pub catalog: ServerCatalog,
    /// Whether it speaks only 2026-07-28.
    pub modern: bool,
}

/// What identifies how `server` is started (FNV-1a 64 over its launch fields as JSON).
pub fn fingerprint(server: &ServerConfig) -> String {
    let launch = serde_json::json!({
        "command": server.command,
        "args": server.args,
        "env": server.env,
        "secret_env": server.secret_env,
        "cwd": server.cwd,
    });
    let hash = crate::names::fnv1a64(launch.to_string().as_bytes());
    format!("{hash:016x}")
}

/// The cached lists and era of `name`, when there are some for this launch of it.
pub fn load(paths: &Paths, name: &str, server: &ServerConfig) -> Option<Cached> {
    let text = fs_err::read_to_string(paths.list_cache(name)).ok()?;
    let entry: Entry = serde_json::from_str(&text).ok()?;
    (entry.v == 1 && entry.fingerprint == fingerprint(server)).then_some(Cached {
        catalog: entry.catalog,
        modern: entry.modern,
    })
}

/// Keep `catalog` as the lists of `name`, and its era (best effort: a failure only costs a
/// start later).
pub fn store(
    paths: &Paths,
    name: &str,
    server: &ServerConfig,
    catalog: &ServerCatalog,
    modern: bool,
) {
    let path = paths.list_cache(name);
    let entry = Entry {
        v: 1,
        fingerprint: fingerprint(server),
        catalog: catalog.clone(),
        modern,
    };
    let written = serde_json::to_vec(&entry)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::files::write_atomically_in_new_dir(&path, &bytes));
    if let Err(err) = written {
        tracing::warn!(server = name, error = %err, "could not cache the server's lists");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_list_is_served_only_for_the_same_launch() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let server = ServerConfig::new("npx", vec!["-y".into(), "server".into()]);
        let mut catalog = ServerCatalog::default();
        catalog.tools.push(rmcp::model::Tool::new(
            "echo",
            "Echo",
            std::sync::Arc::new(serde_json::Map::new()),
        ));
        assert!(load(&paths, "s", &server).is_none());
        store(&paths, "s", &server, &catalog, false);
        let cached = load(&paths, "s", &server).expect("cached");
        assert_eq!((cached.catalog, cached.modern), (catalog.clone(), false));
        store(&paths, "s", &server, &catalog, true);
        assert!(
            load(&paths, "s", &server).unwrap().modern,
            "the era is kept"
        );
        let mut moved = server.clone();
        moved.args.push("--flag".into());
        assert!(
            load(&paths, "s", &moved).is_none(),
            "another launch lists again"
        );
        let mut renamed_env = server.clone();
        renamed_env.env.insert("A".into(), "1".into());
        assert!(load(&paths, "s", &renamed_env).is_none());
        let mut disabled = server;
        disabled.enabled = false;
        assert!(
            load(&paths, "s", &disabled).is_some(),
            "enabled is not part of the launch"
        );
    }
}
