//! The hub process: every part of the running hub lives in this wing.
//!
//! - [`Hub`] (this file) owns the state: the applied config, the upstreams, the merged
//!   catalogue and its per-profile views, and the event channel.
//! - [`upstream`]: one supervised upstream per configured server (a stdio child or a remote
//!   session): spawn or connect, list, watch, restart, lazy start and idle stop.
//! - [`catalog`]: the merged, namespaced tools, prompts and resources; [`list_cache`] keeps
//!   each server's lists on disk so a lazy server's tools are served before it starts;
//!   [`apps`]: MCP Apps' `ui://` URIs, one corner per server.
//! - `sessions`: [`HubService`], the MCP server each client session talks to; it serves the
//!   catalogue, forwards a request to the upstream that owns the name, and tells sessions and
//!   stateless clients' `subscriptions/listen` streams when the catalogue changed.
//! - `relay`: [`UpstreamHandler`], the client side of each upstream session, which relays what
//!   a server sends back (progress, logs, list changes, sampling/elicitation/roots requests).
//! - `calls`: calls in flight (who called, where progress goes) and the call log; `rounds`: a
//!   server's questions during a stateless client's call, answered through `input_required`.
//! - `tasks`: tasks through the hub (ids `SERVER/ID`; 2025-11-25 for sessions, the 2026-07-28
//!   tasks extension for stateless clients); `updates`: resource subscriptions, one upstream
//!   per resource, and the updates sent on to the clients subscribed.
//! - `signin`: sign-in flows the control API starts, and each remote server's token keeper.
//! - [`endpoint`]: the loopback listener, its guard (Host, Origin, bearer, body size) and `/mcp`;
//!   [`routes`]: the control API beside it (`/api/v1`, its types in [`crate::api`]).
//!
//! Invariants:
//! - The catalogue is rebuilt only when a server's lists change; requests read a snapshot.
//! - A client's progress token is not sent upstream as it is: rmcp puts its own per-connection
//!   token on every request, and the hub routes (server, that token) back to the calling
//!   session and its own token, so clients sharing a server never see each other's progress.
//!   The route is forgotten when the call ends.
//! - A server-to-client request goes to the client whose call to that server is the most recent
//!   one still in flight; with none in flight it is refused, except `roots/list`, which is then
//!   answered with the union of every connected client's roots (a shared server serves them
//!   all), and servers are told `roots/list_changed` whenever that union may have changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rmcp::model::*;
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::api::ServerStatus;
use crate::config::{Config, ServerConfig};
use crate::events::{EventSender, HubEvent};
use crate::hub::catalog::{Catalog, ServerCatalog};
use crate::hub::upstream::{Lazy, Link, Upstream};
use crate::paths::Paths;

pub mod apps;
mod calls;
pub mod catalog;
pub mod endpoint;
pub mod list_cache;
mod relay;
pub mod review;
mod rounds;
pub mod routes;
mod sessions;
mod signin;
mod tasks;
mod updates;
pub mod upstream;

pub use calls::CALL_LOG_SIZE;
pub use relay::UpstreamHandler;
pub use sessions::{HubService, PAGE_SIZE};

/// How long a list request waits for servers still on their first start.
pub const FIRST_START_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The shared hub state. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    paths: Paths,
    vault: crate::vault::Vault,
    events: EventSender,
    shutdown: CancellationToken,
    config: RwLock<Config>,
    upstreams: Mutex<BTreeMap<String, Arc<Upstream>>>,
    catalogs: Mutex<BTreeMap<String, Arc<ServerCatalog>>>,
    /// Per server: its lists as it sent them and the tool changes held back from them
    /// ([`review`]); only servers with changes held.
    held: Mutex<BTreeMap<String, (ServerCatalog, Vec<review::ToolChange>)>>,
    /// Servers installed from the registry with a newer version listed there, and that version
    /// (as the last catalogue refresh saw it).
    newer: Mutex<BTreeMap<String, String>>,
    catalog: RwLock<Arc<Catalog>>,
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    /// Stateless (2026-07-28) clients' `subscriptions/listen` streams, each with its number.
    listeners: Mutex<Vec<(u64, rmcp::service::SubscriptionSink)>>,
    calls: calls::Calls,
    /// Stateless clients' calls waiting for an answer to their server's question.
    parked: rounds::Parked,
    /// Tasks made through the hub (2025-11-25).
    tasks: tasks::Tasks,
    /// Clients' subscriptions to resources.
    updates: updates::Updates,
    state_changes: tokio::sync::Notify,
    keepers: Mutex<BTreeMap<String, Arc<crate::oauth::Keeper>>>,
    flows: signin::Flows,
    /// Per profile: the catalogue and profile its view was made from, and the view.
    profile_views: Mutex<ProfileViews>,
    /// When the hub was made: the start-up window for lists is measured from here.
    born: tokio::time::Instant,
    /// The servers a fresh hub's first lists wait for (see `first_start_done`); `None` before
    /// the first config is applied and once they all settled.
    first_listing: Mutex<Option<BTreeSet<String>>>,
    first_apply_done: AtomicBool,
}

type ProfileViews = HashMap<String, (Arc<Catalog>, crate::config::profile::Profile, Arc<Catalog>)>;

impl Hub {
    /// A hub with no servers running yet.
    pub fn new(paths: Paths, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                vault: crate::vault::Vault::for_paths(&paths),
                paths,
                events: crate::events::channel(),
                shutdown,
                config: RwLock::new(Config::default()),
                upstreams: Mutex::new(BTreeMap::new()),
                catalogs: Mutex::new(BTreeMap::new()),
                held: Mutex::new(BTreeMap::new()),
                newer: Mutex::new(BTreeMap::new()),
                catalog: RwLock::new(Arc::new(Catalog::default())),
                sessions: Mutex::new(Vec::new()),
                listeners: Mutex::new(Vec::new()),
                calls: calls::Calls::default(),
                parked: rounds::Parked::default(),
                tasks: tasks::Tasks::default(),
                updates: updates::Updates::default(),
                state_changes: tokio::sync::Notify::new(),
                keepers: Mutex::new(BTreeMap::new()),
                flows: signin::Flows::default(),
                profile_views: Mutex::new(HashMap::new()),
                born: tokio::time::Instant::now(),
                first_listing: Mutex::new(None),
                first_apply_done: AtomicBool::new(false),
            }),
        }
    }

    /// Where this hub's files are.
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// Where this hub's secrets are.
    pub fn vault(&self) -> &crate::vault::Vault {
        &self.inner.vault
    }

    /// Cancelled when the hub shuts down.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// The event stream's sender.
    pub fn events(&self) -> &EventSender {
        &self.inner.events
    }

    /// The config currently applied.
    pub fn config(&self) -> Config {
        self.inner.config.read().expect("config lock").clone()
    }

    /// The merged catalogue snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.read().expect("catalog lock").clone()
    }

    /// How many tools a client is served: the whole catalogue's, or `profile`'s; `None` for a
    /// profile that does not exist.
    pub fn served_tools(&self, profile: Option<&str>) -> Option<usize> {
        match profile {
            None => Some(self.catalog().tools.len()),
            Some(p)
                if self
                    .inner
                    .config
                    .read()
                    .expect("config lock")
                    .profiles
                    .contains_key(p) =>
            {
                Some(self.profile_catalog(p).tools.len())
            }
            Some(_) => None,
        }
    }

    /// Every profile with what it serves now, in name order.
    pub fn profiles(&self) -> Vec<crate::config::profile::ProfileStatus> {
        let config = self.config();
        config
            .profiles
            .iter()
            .map(|(name, profile)| crate::config::profile::ProfileStatus {
                name: name.clone(),
                servers: profile.servers.clone(),
                tools: profile.tools.clone(),
                unknown_servers: profile
                    .unknown_servers(&config.servers)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                served_tools: self.profile_catalog(name).tools.len(),
                path: format!("/p/{name}/mcp"),
                problem: profile.problem(),
            })
            .collect()
    }

    /// The part of the catalogue `profile` serves (empty for a profile that does not exist).
    /// Made once per catalogue and profile, then shared.
    pub fn profile_catalog(&self, profile: &str) -> Arc<Catalog> {
        let base = self.catalog();
        let wanted = self
            .inner
            .config
            .read()
            .expect("config lock")
            .profiles
            .get(profile)
            .cloned();
        let Some(wanted) = wanted else {
            return Arc::new(Catalog::default());
        };
        let mut views = self.inner.profile_views.lock().expect("views lock");
        if let Some((seen_base, seen_profile, view)) = views.get(profile)
            && Arc::ptr_eq(seen_base, &base)
            && *seen_profile == wanted
        {
            return view.clone();
        }
        let view = Arc::new(base.restricted(&wanted));
        views.insert(profile.to_owned(), (base, wanted, view.clone()));
        view
    }

    /// In a fresh hub's start-up window (`limit` from when the hub was made), wait until the
    /// servers of its first config that have no cached lists have finished their first start,
    /// so that the first `tools/list` of a client that started the hub (through the bridge) is
    /// complete. Nothing else ever waits: servers with cached lists are served from the cache,
    /// servers added later and restarts never hold lists back, and after the window nothing
    /// does. A server that finishes later announces its tools with `list_changed`.
    pub async fn first_start_done(&self, limit: std::time::Duration) {
        let deadline = self.inner.born + limit;
        loop {
            let changed = self.inner.state_changes.notified();
            let pending = {
                let mut first = self.inner.first_listing.lock().expect("first listing lock");
                let Some(waiting_for) = first.as_mut() else {
                    return;
                };
                let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
                waiting_for.retain(|name| upstreams.get(name).is_some_and(|u| !u.settled()));
                if waiting_for.is_empty() {
                    *first = None;
                }
                first.is_some()
            };
            if !pending {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    /// Every configured server's status, disabled ones included, in name order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let config = self.config();
        let held = self.inner.held.lock().expect("held lock");
        let newer = self.inner.newer.lock().expect("newer lock");
        let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
        config
            .servers
            .iter()
            .map(|(name, server)| {
                let mut status = match upstreams.get(name) {
                    Some(up) => up.status(),
                    None => ServerStatus::not_running(name, server, None),
                };
                status.tools_held = held.get(name).map_or(0, |(_, c)| c.len());
                status.update = newer.get(name).cloned();
                status
            })
            .collect()
    }

    /// The running upstream for `server`.
    pub fn upstream(&self, server: &str) -> Option<Arc<Upstream>> {
        self.inner
            .upstreams
            .lock()
            .expect("upstreams lock")
            .get(server)
            .cloned()
    }

    /// Re-read the config file and apply it. On error the running config stays.
    pub fn reload(&self) -> Result<(), crate::config::ConfigError> {
        match Config::load(&self.inner.paths.config_file) {
            Ok(config) if config == self.config() => Ok(()),
            Ok(config) => {
                self.apply(config);
                Ok(())
            }
            Err(err) => {
                tracing::error!("config not applied: {err}");
                let _ = self.inner.events.send(HubEvent::ConfigError {
                    message: err.to_string(),
                });
                Err(err)
            }
        }
    }

    /// Make the running servers match `config`: start new or changed ones, stop removed,
    /// disabled or changed ones. Servers whose entry did not change are not touched.
    pub fn apply(&self, config: Config) {
        let mut stopped = Vec::new();
        let mut from_cache = Vec::new();
        let mut first_listing = Vec::new();
        {
            let mut upstreams = self.inner.upstreams.lock().expect("upstreams lock");
            let wanted: BTreeMap<&String, &ServerConfig> = config.enabled_servers().collect();
            upstreams.retain(|name, up| {
                let keep = wanted.get(name).is_some_and(|c| *c == up.config());
                if !keep {
                    up.stop();
                    stopped.push(name.clone());
                }
                keep
            });
            for (name, server) in wanted {
                if upstreams.contains_key(name) {
                    continue;
                }
                let keeper = server.url.as_deref().map(|url| self.keeper(name, url));
                let cached = server
                    .url
                    .is_none()
                    .then(|| crate::hub::list_cache::load(&self.inner.paths, name, server))
                    .flatten();
                let cached_tools = cached.as_ref().map(|c| c.catalog.tools.len());
                let modern = cached.as_ref().is_some_and(|c| c.modern);
                match cached {
                    Some(cached) => from_cache.push((name.clone(), cached.catalog)),
                    None => first_listing.push(name.clone()),
                }
                let lazy = server.lazy().then(|| Lazy {
                    idle_after: server.idle_timeout_or(config.hub.idle_timeout()),
                    cached_tools,
                });
                let up = Upstream::new(
                    name.clone(),
                    server.clone(),
                    self.inner.paths.server_log(name),
                    self.inner.vault.clone(),
                    keeper,
                    lazy,
                    self.inner.shutdown.child_token(),
                );
                if modern {
                    up.speak_2026();
                }
                upstreams.insert(name.clone(), up.clone());
                tokio::spawn(up.run(Arc::new(self.clone())));
            }
        }
        self.prune_keepers(&config);
        let config_names: BTreeSet<String> = config.servers.keys().cloned().collect();
        *self.inner.config.write().expect("config lock") = config;
        {
            let mut first = self.inner.first_listing.lock().expect("first listing lock");
            if !self.inner.first_apply_done.swap(true, Ordering::AcqRel) {
                *first = Some(first_listing.into_iter().collect());
            }
        }
        // Outside the upstreams lock: `set_catalog` takes it.
        for (name, catalog) in from_cache {
            self.set_catalog(&name, catalog);
        }
        if !stopped.is_empty() {
            let mut held = self.inner.held.lock().expect("held lock");
            for name in &stopped {
                held.remove(name);
                if !config_names.contains(name) {
                    review::forget(&self.inner.paths, name);
                }
            }
            drop(held);
            let mut catalogs = self.inner.catalogs.lock().expect("catalogs lock");
            for name in &stopped {
                catalogs.remove(name);
            }
            drop(catalogs);
            self.rebuild_catalog();
        }
        // A server updated, added or removed changes which are behind.
        self.note_updates();
        let _ = self.inner.events.send(HubEvent::ConfigApplied);
    }

    /// Restart one running server. False when no such server runs.
    pub fn restart(&self, server: &str) -> bool {
        let removed = self
            .inner
            .upstreams
            .lock()
            .expect("upstreams lock")
            .remove(server);
        match removed {
            Some(up) => {
                up.stop();
                self.apply(self.config());
                true
            }
            None => false,
        }
    }

    /// Stop every server and wait (bounded) for them to exit.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let running = self
                .inner
                .upstreams
                .lock()
                .expect("upstreams lock")
                .values()
                .any(|u| u.status().state != crate::api::ServerState::Stopped);
            if !running || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Take in `server`'s lists: its tools reviewed ([`review`]), changed ones held back.
    fn set_catalog(&self, server: &str, catalog: ServerCatalog) {
        let stdio = self.upstream(server).filter(|u| u.config().url.is_none());
        let mut served = catalog.clone();
        let (tools, held) = review::review(&self.inner.paths, server, catalog.tools.clone());
        served.tools = tools;
        self.hold(server, catalog.clone(), held);
        let mut catalogs = self.inner.catalogs.lock().expect("catalogs lock");
        if catalogs.get(server).is_some_and(|c| **c == served) {
            return;
        }
        if let Some(up) = stdio {
            let paths = &self.inner.paths;
            crate::hub::list_cache::store(paths, server, up.config(), &catalog, up.speaks_2026());
        }
        catalogs.insert(server.to_owned(), Arc::new(served));
        drop(catalogs);
        self.rebuild_catalog();
    }

    /// Keep `server`'s held tool changes, announcing ones not held before.
    fn hold(&self, server: &str, lists: ServerCatalog, changes: Vec<review::ToolChange>) {
        let mut held = self.inner.held.lock().expect("held lock");
        if changes.is_empty() {
            held.remove(server);
            return;
        }
        let before = held.get(server).map(|(_, c)| c.clone()).unwrap_or_default();
        let tools: Vec<String> = changes
            .iter()
            .filter(|c| !before.contains(c))
            .map(|c| c.tool.clone())
            .collect();
        held.insert(server.to_owned(), (lists, changes));
        drop(held);
        if !tools.is_empty() {
            tracing::warn!(
                server,
                ?tools,
                "tool definitions changed: held back until accepted"
            );
            let _ = self.inner.events.send(HubEvent::ToolsHeld {
                server: server.to_owned(),
                tools,
            });
        }
    }

    /// Note which servers installed from the registry have a newer version there, from the kept
    /// listings (`registry::listing`); the servers' statuses say so (the tray shows it at its
    /// next refresh, the window at its next read).
    pub fn note_updates(&self) {
        let config = self.config();
        let found = crate::registry::Registries::of(&config, self.paths()).updates(&config);
        *self.inner.newer.lock().expect("newer lock") = found;
    }

    /// Every tool change held back, by server.
    pub fn tool_changes(&self) -> Vec<review::ToolChange> {
        let held = self.inner.held.lock().expect("held lock");
        held.values().flat_map(|(_, c)| c.iter().cloned()).collect()
    }

    /// Why `exposed` is not served, when it is a tool held back for a change.
    pub(crate) fn held_tool(&self, exposed: &str) -> Option<String> {
        let held = self.inner.held.lock().expect("held lock");
        held.values().flat_map(|(_, c)| c.iter()).find_map(|c| {
            (crate::names::exposed_name(&c.server, &c.tool) == exposed).then(|| {
                format!(
                    "tool `{exposed}` changed its definition since it was accepted and is held \
                     back: review it with `patchbay tools changes`, then `patchbay tools accept \
                     {} {}`",
                    c.server, c.tool
                )
            })
        })
    }

    /// Accept `server`'s changed tools named in `tools` (every held one when none are named)
    /// and serve them; how many were accepted.
    pub fn accept_tool_changes(&self, server: &str, tools: &[String]) -> Result<usize, String> {
        let Some((lists, changes)) = self
            .inner
            .held
            .lock()
            .expect("held lock")
            .get(server)
            .cloned()
        else {
            return Err(format!("`{server}` has no tool changes waiting"));
        };
        let not_held: Vec<&String> = tools
            .iter()
            .filter(|t| !changes.iter().any(|c| &c.tool == *t))
            .collect();
        if let Some(name) = not_held.first() {
            return Err(format!("`{server}`'s tool `{name}` has no change waiting"));
        }
        let names: Vec<String> = match tools.is_empty() {
            true => changes.iter().map(|c| c.tool.clone()).collect(),
            false => tools.to_vec(),
        };
        let count = review::accept(&self.inner.paths, server, &lists.tools, &names)?;
        self.set_catalog(server, lists);
        Ok(count)
    }

    /// Rebuild the merged snapshot and tell every session what changed.
    ///
    /// The snapshot is built and published under the `catalogs` lock: two servers finishing
    /// their listings at once must not publish out of order, or the older snapshot (missing
    /// the other server's tools) would replace the newer one and stay until the next change.
    fn rebuild_catalog(&self) {
        let (old, new) = {
            let catalogs = self.inner.catalogs.lock().expect("catalogs lock");
            let new = Arc::new(Catalog::build(&catalogs));
            let old = std::mem::replace(
                &mut *self.inner.catalog.write().expect("catalog lock"),
                new.clone(),
            );
            (old, new)
        };
        let tools = old.tools != new.tools;
        let prompts = old.prompts != new.prompts;
        let resources = old.resources != new.resources || old.templates != new.templates;
        if tools || prompts || resources {
            let _ = self.inner.events.send(HubEvent::CatalogChanged);
            self.notify_sessions(tools, prompts, resources);
        }
    }
}

impl Link for Hub {
    type Handler = UpstreamHandler;

    fn handler(&self, server: &str) -> UpstreamHandler {
        UpstreamHandler {
            hub: self.clone(),
            server: server.to_owned(),
        }
    }

    fn catalog_ready(&self, server: &str, catalog: ServerCatalog) {
        self.set_catalog(server, catalog);
    }

    fn subscribed(&self, server: &str) -> Vec<String> {
        self.subscribed_at(server)
    }

    fn resource_updated(&self, server: &str, uri: &str) {
        Hub::resource_updated(self, server, uri);
    }

    async fn intercept(&self, server: &str, message: &ServerJsonRpcMessage) -> bool {
        let JsonRpcMessage::Notification(note) = message else {
            return false;
        };
        let ServerNotification::ProgressNotification(progress) = &note.notification else {
            return false;
        };
        let Some((peer, token)) = self.progress_route(server, &progress.params.progress_token)
        else {
            return false;
        };
        let mut params = progress.params.clone();
        params.progress_token = token;
        let _ = peer.notify_progress(params).await;
        true
    }

    fn state_changed(&self, status: &ServerStatus) {
        self.inner.state_changes.notify_waiters();
        let _ = self.inner.events.send(HubEvent::ServerState {
            server: status.name.clone(),
            state: status.state.as_str().to_owned(),
            error: status.last_error.clone(),
        });
    }
}
