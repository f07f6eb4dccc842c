//! The running hub's watch on installed clients' config files.
//!
//! Claude Desktop (and others) rewrite their own file and can drop our entry. The hub watches
//! the directory of every file Patchbay installed into (and the install records, so a new
//! install is picked up), and when an entry's state changes, announces a
//! [`HubEvent::ClientDrift`]; `patchbay install CLIENT` repairs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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

/// The files whose changes matter: every installed client's config and the install records.
fn files(ctx: &Context) -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = super::installed(&ctx.paths)
        .into_values()
        .map(|r| r.path)
        .collect();
    files.insert(ctx.paths.clients_file());
    files
}

/// Start watching, in a task that owns the watcher and ends when `shutdown` fires. A failure to
/// watch is logged, not fatal: `patchbay clients` still reports drift.
pub fn start(ctx: Context, events: EventSender, shutdown: CancellationToken) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Watches are on directories (a client replaces its file by rename), so other files there
    // (`~/.claude.json` lives in the home directory) are filtered out here.
    let interesting = Arc::new(Mutex::new(files(&ctx)));
    let filter = interesting.clone();
    let debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(200),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let Ok(files) = filter.lock() else { return };
            let wrote = result.is_ok_and(|events| {
                events.iter().any(|e| {
                    !e.kind.is_access()
                        && !e.kind.is_other()
                        && e.paths.iter().any(|p| files.contains(p))
                })
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
            let files = files(ctx);
            // Each file's directory (install made it, so it exists).
            let dirs: BTreeSet<PathBuf> = files
                .iter()
                .filter_map(|f| f.parent().map(PathBuf::from))
                .filter(|d| d.is_dir())
                .collect();
            if let Ok(mut interesting) = interesting.lock() {
                *interesting = files;
            }
            for dir in dirs {
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
                // A client installed while the hub runs is announced only if it has drifted.
                if before != Some(*entry) && (before.is_some() || *entry != EntryState::Intact) {
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
