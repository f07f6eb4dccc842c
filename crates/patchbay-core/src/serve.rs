//! `patchbay serve`: become the hub, or find the one that already is.
//!
//! Order matters: take the lock (one hub per user), make or read the secret, bind the port,
//! publish the discovery file, apply the config, start watching it, serve. The discovery file
//! appears only once the port answers, so whoever waits for it can connect at once.

use std::path::PathBuf;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::discovery::{Discovery, DiscoveryError, HubLock};
use crate::hub::Hub;
use crate::paths::Paths;

/// Options of `patchbay serve`.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Port override (else the config's, else the default).
    pub port: Option<u16>,
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Another hub is running or starting.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The config file is broken at start (no last good config to keep).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The port is taken.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Files in the state directory could not be used.
    #[error("cannot prepare the hub's state in {}", dir.display())]
    State {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The listener failed while serving.
    #[error("the hub's listener failed")]
    Serve(#[source] std::io::Error),
}

/// Run the hub until `shutdown` is cancelled; `ready` gets the discovery once serving.
pub async fn serve(
    paths: Paths,
    options: ServeOptions,
    shutdown: CancellationToken,
    ready: impl FnOnce(&Discovery),
) -> Result<(), ServeError> {
    let lock = HubLock::acquire(&paths)?;
    let state_error = |source| ServeError::State {
        dir: paths.state_dir.clone(),
        source,
    };
    let secret = crate::secret::load_or_create(&paths.secret_file()).map_err(state_error)?;
    let config = Config::load(&paths.config_file)?;
    let port = options.port.unwrap_or(config.hub.port);
    let listener = crate::hub::endpoint::bind(port)
        .await
        .map_err(|source| ServeError::Bind { port, source })?;
    let port = listener.local_addr().map_err(state_error)?.port();
    let discovery = Discovery {
        pid: std::process::id(),
        port,
        url: format!("http://127.0.0.1:{port}/mcp"),
        secret_file: paths.secret_file(),
        version: crate::VERSION.to_owned(),
    };

    let hub = Hub::new(paths.clone(), shutdown.child_token());
    // From here on the hub's own token: `POST /api/v1/shutdown` cancels it, and cancelling
    // `shutdown` cancels it too.
    let shutdown = hub.stopping();
    let settings = config.hub.clone();
    hub.apply(config);
    let _watcher = watch_config(&hub, shutdown.clone());
    tokio::spawn(refresh_catalog(hub.clone(), shutdown.clone()));
    match crate::clients::Context::from_env(paths.clone()) {
        Ok(ctx) => crate::clients::watch::start(ctx, hub.events().clone(), shutdown.clone()),
        Err(err) => tracing::warn!("not watching client configs: {err}"),
    }
    let serving = tokio::spawn(crate::hub::endpoint::serve(
        hub.clone(),
        listener,
        secret,
        settings,
        shutdown.clone(),
    ));
    lock.publish(&discovery).map_err(state_error)?;
    tracing::info!(url = %discovery.url, pid = discovery.pid, "hub listening");
    ready(&discovery);

    let result = serving.await;
    hub.shutdown().await;
    drop(lock);
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(ServeError::Serve(err)),
        Err(join) => Err(ServeError::Serve(std::io::Error::other(join))),
    }
}

/// How soon after the start the catalogue is first refreshed (sooner when `[catalog] refresh`
/// is shorter): a hub started for a moment does not ask the registries.
const FIRST_CATALOG_REFRESH: Duration = Duration::from_secs(30);

/// Read the registries' listings again now and then (`[catalog] refresh`), in the background
/// and within the registry client's bounds: the hub never waits for it. Search falls back to
/// what it keeps when a registry cannot be reached (`registry::listing`).
async fn refresh_catalog(hub: Hub, shutdown: CancellationToken) {
    let mut wait = (hub.config().catalog.refresh()).map_or(FIRST_CATALOG_REFRESH, |every| {
        every.min(FIRST_CATALOG_REFRESH)
    });
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        let config = hub.config();
        let Some(every) = config.catalog.refresh() else {
            // Off: look again at the config later.
            wait = FIRST_CATALOG_REFRESH;
            continue;
        };
        let registries = crate::registry::Registries::of(&config, hub.paths());
        for (registry, done) in registries.refresh().await {
            match done {
                Ok(crate::registry::Refreshed::Unchanged) => {
                    tracing::info!(registry, "catalogue unchanged since last read")
                }
                Ok(crate::registry::Refreshed::Read(servers)) => {
                    tracing::info!(registry, servers, "catalogue read")
                }
                Err(error) => tracing::info!(registry, error, "catalogue not refreshed"),
            }
        }
        hub.note_updates();
        wait = every;
    }
}

/// Watch the config file's directory and reload on change (debounced). A failure to watch is
/// logged, not fatal: `patchbay reload` and the control API still apply edits.
fn watch_config(hub: &Hub, shutdown: CancellationToken) -> Option<impl Drop> {
    let file = hub.paths().config_file.clone();
    let dir = file.parent()?.to_path_buf();
    if let Err(err) = fs_err::create_dir_all(&dir) {
        tracing::warn!("not watching the config: {err}");
        return None;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = file.clone();
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(200),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            // Only writes count: reading the file (the hub itself does) raises access events.
            let touches = result.is_ok_and(|events| {
                events.iter().any(|e| {
                    !e.kind.is_access()
                        && !e.kind.is_other()
                        && e.paths.iter().any(|p| p == &watched)
                })
            });
            if touches {
                let _ = tx.send(());
            }
        },
    )
    .inspect_err(|err| tracing::warn!("not watching the config: {err}"))
    .ok()?;
    if let Err(err) = debouncer.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!("not watching {}: {err}", dir.display());
        return None;
    }
    let hub = hub.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
            if hub.reload().is_ok() {
                tracing::info!("config applied");
            }
        }
    });
    Some(debouncer)
}
