//! The running hub's watch on installed clients' config files.
//!
//! Claude Desktop (and others) rewrite their own file and can drop our entry. The hub watches
//! the directory of every file Patchbay installed into (and the install records, so a new
//! install is picked up), and when an entry's state changes, announces a
//! [`HubEvent::ClientDrift`]; `patchbay install CLIENT` repairs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use tokio_util::sync::CancellationToken;

use super::{Context, EntryState};
use crate::events::{EventSender, HubEvent};

/// States of every installed client's entry, by id.
fn states(ctx: &Context) -> BTreeMap<String, (PathBuf, EntryState)> {
    super::installed(&ctx.paths)
        .keys()
        .filter_map(|id| super::catalog::find(id))
        .map(|spec| {
            let row = super::status(ctx, spec);
            (spec.id.to_owned(), (row.path, row.entry))
        })
        .collect()
}

/// Directories to watch: each installed file's parent (made by install, so it exists) and
/// Patchbay's state dir (where the install records are).
fn directories(ctx: &Context) -> BTreeSet<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = super::installed(&ctx.paths)
        .values()
        .filter_map(|r| r.path.parent().map(PathBuf::from))
        .collect();
    dirs.insert(ctx.paths.state_dir.clone());
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Start watching, in a task that owns the watcher and ends when `shutdown` fires. A failure to
/// watch is logged, not fatal: `patchbay clients` still reports drift.
pub fn start(ctx: Context, events: EventSender, shutdown: CancellationToken) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(200),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let wrote = result.is_ok_and(|events| {
                events
                    .iter()
                    .any(|e| !e.kind.is_access() && !e.kind.is_other())
            });
            if wrote {
                let _ = tx.send(());
            }
        },
    )
    .inspect_err(|err| tracing::warn!("not watching client configs: {err}"));
    let Ok(debouncer) = debouncer else { return };
    let debouncer = Mutex::new(debouncer);
    let mut watched = BTreeSet::new();
    let rewatch = {
        move |ctx: &Context, watched: &mut BTreeSet<PathBuf>| {
            let Ok(mut debouncer) = debouncer.lock() else {
                return;
            };
            for dir in directories(ctx) {
                if watched.contains(&dir) {
                    continue;
                }
                match debouncer.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        watched.insert(dir);
                    }
                    Err(err) => tracing::warn!("not watching {}: {err}", dir.display()),
                }
            }
        }
    };
    rewatch(&ctx, &mut watched);
    let mut known = states(&ctx);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
            let scan = ctx.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || states(&scan)).await else {
                return;
            };
            for (client, (path, entry)) in &now {
                let before = known.get(client).map(|(_, e)| *e);
                if before != Some(*entry) && before.is_some() {
                    if *entry != EntryState::Intact {
                        tracing::warn!(client, "Patchbay's entry is {}", entry.as_str());
                    }
                    let _ = events.send(HubEvent::ClientDrift {
                        client: client.clone(),
                        path: path.display().to_string(),
                        entry: entry.as_str().to_owned(),
                    });
                }
            }
            known = now;
            rewatch(&ctx, &mut watched);
        }
    });
}
