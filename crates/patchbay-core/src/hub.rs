//! The hub: supervised upstreams, the merged catalogue, and the MCP service clients talk to.
//!
//! [`Hub`] owns the state; [`HubService`] is the per-session `rmcp` server handler that routes a
//! client's requests to upstreams; [`UpstreamHandler`] is the `rmcp` client handler on each
//! upstream session that routes what the server sends back (progress, logs, list changes,
//! sampling/elicitation/roots requests) to the right client session.
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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rmcp::model::*;
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
};
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceError};
use tokio_util::sync::CancellationToken;

use crate::api::ServerStatus;
use crate::config::{Config, ServerConfig};
use crate::events::{CallRecord, EventSender, HubEvent};
use crate::hub::catalog::{Catalog, ServerCatalog};
use crate::hub::upstream::{Lazy, Link, Upstream};
use crate::paths::Paths;

pub mod catalog;
pub mod endpoint;
pub mod list_cache;
pub mod routes;
mod signin;
pub mod upstream;

/// Items per page of a merged list.
pub const PAGE_SIZE: usize = 500;

/// How long a list request waits for servers still on their first start.
pub const FIRST_START_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long a client may take to list its roots for a server.
const ROOTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Tool calls kept in the in-memory call log.
pub const CALL_LOG_SIZE: usize = 500;

/// `_meta` keys that describe the client's own session with the hub; they are not forwarded.
const SESSION_META_PREFIX: &str = "io.modelcontextprotocol/";

/// Calls in flight per server: call id and the client session that made it, oldest first.
type Callers = HashMap<String, Vec<(u64, Peer<RoleServer>)>>;

/// Progress routes: (server, rmcp's token on the upstream request) to the calling session and
/// the client's own token.
type ProgressRoutes = HashMap<(String, ProgressToken), (Peer<RoleServer>, ProgressToken)>;

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
    catalog: RwLock<Arc<Catalog>>,
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    progress: Mutex<ProgressRoutes>,
    callers: Mutex<Callers>,
    calls: Mutex<VecDeque<CallRecord>>,
    state_changes: tokio::sync::Notify,
    next_id: AtomicU64,
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
                catalog: RwLock::new(Arc::new(Catalog::default())),
                sessions: Mutex::new(Vec::new()),
                progress: Mutex::new(HashMap::new()),
                callers: Mutex::new(HashMap::new()),
                calls: Mutex::new(VecDeque::with_capacity(CALL_LOG_SIZE)),
                state_changes: tokio::sync::Notify::new(),
                next_id: AtomicU64::new(1),
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

    /// The most recent tool calls, oldest first.
    pub fn recent_calls(&self) -> Vec<CallRecord> {
        self.inner
            .calls
            .lock()
            .expect("calls lock")
            .iter()
            .cloned()
            .collect()
    }

    fn record_call(&self, record: CallRecord) {
        tracing::debug!(server = %record.server, tool = %record.tool, ms = record.duration_ms, outcome = %record.outcome, "tool call");
        let mut calls = self.inner.calls.lock().expect("calls lock");
        if calls.len() == CALL_LOG_SIZE {
            calls.pop_front();
        }
        calls.push_back(record.clone());
        drop(calls);
        let _ = self.inner.events.send(HubEvent::ToolCall(record));
    }

    /// Every configured server's status, disabled ones included, in name order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let config = self.config();
        let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
        config
            .servers
            .iter()
            .map(|(name, server)| match upstreams.get(name) {
                Some(up) => up.status(),
                None => ServerStatus::not_running(name, server, None),
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
                let cached_tools = cached.as_ref().map(|c| c.tools.len());
                match cached {
                    Some(catalog) => from_cache.push((name.clone(), catalog)),
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
                upstreams.insert(name.clone(), up.clone());
                tokio::spawn(up.run(Arc::new(self.clone())));
            }
        }
        self.prune_keepers(&config);
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
            let mut catalogs = self.inner.catalogs.lock().expect("catalogs lock");
            for name in &stopped {
                catalogs.remove(name);
            }
            drop(catalogs);
            self.rebuild_catalog();
        }
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

    fn set_catalog(&self, server: &str, catalog: ServerCatalog) {
        let stdio = self.upstream(server).filter(|u| u.config().url.is_none());
        let mut catalogs = self.inner.catalogs.lock().expect("catalogs lock");
        if catalogs.get(server).is_some_and(|c| **c == catalog) {
            return;
        }
        if let Some(up) = stdio {
            crate::hub::list_cache::store(&self.inner.paths, server, up.config(), &catalog);
        }
        catalogs.insert(server.to_owned(), Arc::new(catalog));
        drop(catalogs);
        self.rebuild_catalog();
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

    fn live_sessions(&self) -> Vec<Peer<RoleServer>> {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        sessions.retain(|p| !p.is_transport_closed());
        sessions.clone()
    }

    fn notify_sessions(&self, tools: bool, prompts: bool, resources: bool) {
        for peer in self.live_sessions() {
            tokio::spawn(async move {
                if tools {
                    let _ = peer.notify_tool_list_changed().await;
                }
                if prompts {
                    let _ = peer.notify_prompt_list_changed().await;
                }
                if resources {
                    let _ = peer.notify_resource_list_changed().await;
                }
            });
        }
    }

    /// The sessions with every server that is serving now.
    fn running_peers(&self) -> Vec<Peer<RoleClient>> {
        let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
        upstreams.values().filter_map(|u| u.peer()).collect()
    }

    /// Tell every running server that supports roots that the clients' roots changed.
    fn roots_changed(&self) {
        for peer in self.running_peers() {
            tokio::spawn(async move {
                let _ = peer.notify_roots_list_changed().await;
            });
        }
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The client session whose call to `server` is the most recent one in flight.
    fn caller_for(&self, server: &str) -> Option<Peer<RoleServer>> {
        let callers = self.inner.callers.lock().expect("callers lock");
        callers.get(server)?.last().map(|(_, p)| p.clone())
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

    async fn intercept(&self, server: &str, message: &ServerJsonRpcMessage) -> bool {
        let JsonRpcMessage::Notification(note) = message else {
            return false;
        };
        let ServerNotification::ProgressNotification(progress) = &note.notification else {
            return false;
        };
        let route = self
            .inner
            .progress
            .lock()
            .expect("progress lock")
            .get(&(server.to_owned(), progress.params.progress_token.clone()))
            .cloned();
        let Some((peer, token)) = route else {
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

/// Bookkeeping for one forwarded request: registers the caller (for server-to-client requests)
/// and the progress route, and removes both when dropped (completion, error or cancellation).
struct CallGuard {
    hub: Hub,
    server: String,
    id: u64,
    progress: Option<(String, ProgressToken)>,
}

impl CallGuard {
    fn new(hub: &Hub, server: &str, caller: &Peer<RoleServer>) -> Self {
        let id = hub.next_id();
        hub.inner
            .callers
            .lock()
            .expect("callers lock")
            .entry(server.to_owned())
            .or_default()
            .push((id, caller.clone()));
        Self {
            hub: hub.clone(),
            server: server.to_owned(),
            id,
            progress: None,
        }
    }

    /// Send progress for `upstream` (the token rmcp put on the request) to `caller` as `token`.
    fn route_progress(
        &mut self,
        upstream: ProgressToken,
        caller: Peer<RoleServer>,
        token: ProgressToken,
    ) {
        let key = (self.server.clone(), upstream);
        self.hub
            .inner
            .progress
            .lock()
            .expect("progress lock")
            .insert(key.clone(), (caller, token));
        self.progress = Some(key);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.progress {
            self.hub
                .inner
                .progress
                .lock()
                .expect("progress lock")
                .remove(token);
        }
        let mut callers = self.hub.inner.callers.lock().expect("callers lock");
        if let Some(list) = callers.get_mut(&self.server) {
            list.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The MCP server one client session talks to.
#[derive(Clone)]
pub struct HubService {
    hub: Hub,
    /// The profile this session is served (`/p/<profile>/mcp`); none: everything.
    profile: Option<String>,
}

impl HubService {
    /// A handler for one client session.
    pub fn new(hub: Hub) -> Self {
        Self { hub, profile: None }
    }

    /// A handler for one client session of `profile`.
    pub fn for_profile(hub: Hub, profile: String) -> Self {
        Self {
            hub,
            profile: Some(profile),
        }
    }

    /// What this session sees: the whole catalogue, or its profile's part.
    fn snapshot(&self) -> Arc<Catalog> {
        match &self.profile {
            Some(profile) => self.hub.profile_catalog(profile),
            None => self.hub.catalog(),
        }
    }

    /// The error for a name this session cannot see: outside its profile, or unknown.
    fn not_here(&self, what: &str, name: &str, exists: impl Fn(&Catalog) -> bool) -> ErrorData {
        match &self.profile {
            Some(profile) if exists(&self.hub.catalog()) => ErrorData::invalid_params(
                format!("{what} `{name}` is not in profile `{profile}`"),
                None,
            ),
            _ => ErrorData::invalid_params(format!("unknown {what} `{name}`"), None),
        }
    }

    /// One page of a merged list, once servers on their first start have listed theirs.
    async fn page_of<T: Clone>(
        &self,
        request: Option<&PaginatedRequestParams>,
        items: impl Fn(&Catalog) -> &Vec<T>,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        self.hub.first_start_done(FIRST_START_WAIT).await;
        page(items(&self.snapshot()), request)
    }

    /// The catalogue, once servers on their first start have listed (bounded wait): a call
    /// made right after the hub started must find tools that are about to appear.
    async fn catalog_with(&self, found: impl Fn(&Catalog) -> bool) -> Arc<Catalog> {
        let catalog = self.snapshot();
        if found(&catalog) {
            return catalog;
        }
        self.hub.first_start_done(FIRST_START_WAIT).await;
        self.snapshot()
    }

    /// The session with `server` for a call, and the mark that keeps a lazy server from being
    /// stopped for idleness meanwhile. An idle lazy server is started first, and a call to a
    /// server still starting (its tools listed from the cache) waits for it; a client that
    /// asked for progress hears that it is starting.
    async fn ready_peer(
        &self,
        server: &str,
        progress: Option<&ProgressToken>,
        caller: &Peer<RoleServer>,
    ) -> Result<(Peer<RoleClient>, Option<crate::hub::upstream::InUse>), ErrorData> {
        let Some(up) = self.hub.upstream(server) else {
            return self.running_peer(server).map(|p| (p, None));
        };
        let in_use = up.begin_use();
        if let Some(peer) = up.peer() {
            return Ok((peer, Some(in_use)));
        }
        if matches!(
            up.status().state,
            crate::api::ServerState::Idle | crate::api::ServerState::Starting
        ) {
            if let Some(token) = progress {
                let note = ProgressNotificationParam::new(token.clone(), 0.0)
                    .with_message(format!("starting server `{server}`"));
                let _ = caller.notify_progress(note).await;
            }
            if let Some(peer) = up.ready(crate::hub::upstream::START_TIMEOUT).await {
                return Ok((peer, Some(in_use)));
            }
        }
        self.running_peer(server).map(|p| (p, Some(in_use)))
    }

    fn running_peer(&self, server: &str) -> Result<Peer<RoleClient>, ErrorData> {
        let up = self.hub.upstream(server).ok_or_else(|| {
            ErrorData::internal_error(format!("server `{server}` is not running"), None)
        })?;
        up.peer().ok_or_else(|| {
            if let Some(reason) = up.sign_in_needed() {
                return ErrorData::internal_error(reason, None);
            }
            let status = up.status();
            let mut message = format!("server `{server}` is {}", status.state.as_str());
            if let Some(ms) = status.retry_in_ms {
                message.push_str(&format!(" (next attempt in {} ms)", ms));
            }
            if let Some(err) = status.last_error {
                message.push_str(&format!(": {err}"));
            }
            ErrorData::internal_error(message, None)
        })
    }

    /// Forward one request to `server`. The client's session keys (`io.modelcontextprotocol/*`)
    /// are dropped from `_meta` (the hub has its own session upstream); rmcp puts its own
    /// progress token on every request, and the client's token is mapped to it. A client
    /// cancellation sends `notifications/cancelled` upstream and ends the request at once.
    async fn forward(
        &self,
        server: &str,
        mut request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let started = std::time::Instant::now();
        let meta = request.get_meta_mut();
        meta.retain(|key, _| !key.starts_with(SESSION_META_PREFIX));
        // rmcp moves the client's `_meta` into the request context.
        let client_token = meta
            .get_progress_token()
            .or_else(|| context.meta.get_progress_token());
        let (peer, _in_use) = self
            .ready_peer(server, client_token.as_ref(), &context.peer)
            .await?;
        let mut guard = CallGuard::new(&self.hub, server, &context.peer);
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|err| upstream_error(server, err))?;
        if let Some(token) = client_token {
            guard.route_progress(handle.progress_token.clone(), context.peer.clone(), token);
        }
        let id = handle.id.clone();
        tokio::select! {
            result = handle.await_response() => result.map_err(|err| {
                if !matches!(err, ServiceError::McpError(_))
                    && let Some(up) = self.hub.upstream(server)
                {
                    if let Some(reason) = up
                        .auth_failure_since(started)
                        .or_else(|| up.sign_in_needed())
                    {
                        return ErrorData::internal_error(reason, None);
                    }
                    up.check_health();
                }
                upstream_error(server, err)
            }),
            _ = context.ct.cancelled() => {
                let reason = Some("cancelled by the client".to_owned());
                let _ = peer.notify_cancelled(CancelledNotificationParam::new(Some(id), reason)).await;
                Err(ErrorData::internal_error("request cancelled by the client", None))
            }
        }
    }
}

/// The `_meta` of a placeholder for an answer rmcp's model could not read: the endpoint puts
/// the answer back in the placeholder's place on its way to the client.
fn carry(unread: CustomResult) -> MetaObject {
    crate::whole::carry(unread.0)
}

fn unexpected(server: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("server `{server}` sent an answer of the wrong kind"),
        None,
    )
}

/// Stateless (2026-07-28) clients require `resultType`; servers speaking an earlier revision
/// do not send it, and absent means complete. rmcp drops it again for older clients.
fn mark_complete(result_type: &mut Option<ResultType>) {
    result_type.get_or_insert(ResultType::COMPLETE);
}

/// A failed upstream request as the client sees it: the server's own JSON-RPC error passes
/// through unchanged; the rest are said plainly.
fn upstream_error(server: &str, err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(data) => data,
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            ErrorData::internal_error(
                format!("server `{server}` went away during the call (it is being restarted)"),
                None,
            )
        }
        other => ErrorData::internal_error(format!("server `{server}`: {other}"), None),
    }
}

fn page<T: Clone>(
    items: &[T],
    params: Option<&PaginatedRequestParams>,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match params.and_then(|p| p.cursor.as_deref()) {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor `{cursor}`"), None))?,
    };
    let end = (start + PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

// Logging, sampling and roots are deprecated by the 2026-07-28 revision but still what every
// server speaking the earlier ones uses; a hub must forward them.
#[expect(deprecated, reason = "legacy revisions still use logging")]
impl ServerHandler for HubService {
    fn get_info(&self) -> InitializeResult {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_logging()
            .enable_completions()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(Implementation::new("patchbay", crate::VERSION).with_title("Patchbay hub"))
            .with_instructions(
                "Patchbay hub: tools and prompts of every connected server, named <server>__<name>.",
            )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let has_roots = context
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        self.hub
            .inner
            .sessions
            .lock()
            .expect("sessions lock")
            .push(context.peer);
        if has_roots {
            // The union of roots the servers see just grew.
            self.hub.roots_changed();
        }
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        self.hub.roots_changed();
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (tools, next) = self.page_of(request.as_ref(), |c| &c.tools).await?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let route = self
            .catalog_with(|c| c.tool(&request.name).is_some())
            .await
            .tool(&request.name)
            .cloned()
            .ok_or_else(|| {
                self.not_here("tool", &request.name, |c| c.tool(&request.name).is_some())
            })?;
        let started = std::time::Instant::now();
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let cancelled = context.ct.clone();
        // Stateless (2026-07-28) requests name their client per request; sessions once.
        let client = context
            .meta
            .client_info()
            .map(|info| info.name)
            .or_else(|| {
                context
                    .peer
                    .peer_info()
                    .map(|info| info.client_info.name.clone())
            });
        let tool = route.name.clone();
        let mut upstream = request;
        upstream.name = route.name.into();
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(upstream));
        let result = match self.forward(&route.server, request, &context).await {
            Ok(ServerResult::CallToolResult(mut r)) => {
                mark_complete(&mut r.result_type);
                Ok(CallToolResponse::Complete(r))
            }
            Ok(ServerResult::InputRequiredResult(r)) => Ok(CallToolResponse::InputRequired(r)),
            Ok(ServerResult::CreateTaskResult(r)) => Ok(CallToolResponse::Task(r)),
            Ok(ServerResult::CustomResult(unread)) => {
                let mut r = CallToolResult::success(Vec::new());
                r.is_error = unread.0.get("isError").and_then(serde_json::Value::as_bool);
                r.meta = Some(carry(unread));
                Ok(CallToolResponse::Complete(r))
            }
            Ok(_) => Err(unexpected(&route.server)),
            Err(err) => Err(err),
        };
        let outcome = match &result {
            _ if cancelled.is_cancelled() => "cancelled",
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "error",
        };
        self.hub.record_call(CallRecord {
            started_ms,
            server: route.server,
            tool,
            client,
            duration_ms: started.elapsed().as_millis() as u64,
            outcome: outcome.to_owned(),
        });
        result
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let (prompts, next) = self.page_of(request.as_ref(), |c| &c.prompts).await?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let route = self
            .catalog_with(|c| c.prompt(&request.name).is_some())
            .await
            .prompt(&request.name)
            .cloned()
            .ok_or_else(|| {
                self.not_here("prompt", &request.name, |c| {
                    c.prompt(&request.name).is_some()
                })
            })?;
        let mut upstream = request;
        upstream.name = route.name;
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(upstream));
        match self.forward(&route.server, request, &context).await? {
            ServerResult::GetPromptResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(GetPromptResponse::Complete(r))
            }
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            ServerResult::CustomResult(unread) => {
                let mut r = GetPromptResult::new(Vec::new());
                r.meta = Some(carry(unread));
                Ok(GetPromptResponse::Complete(r))
            }
            _ => Err(unexpected(&route.server)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (resources, next) = self.page_of(request.as_ref(), |c| &c.resources).await?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (templates, next) = self.page_of(request.as_ref(), |c| &c.templates).await?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let server = self
            .catalog_with(|c| c.resource_server(&request.uri).is_some())
            .await
            .resource_server(&request.uri)
            .map(str::to_owned)
            .ok_or_else(|| {
                ErrorData::resource_not_found(format!("no server offers `{}`", request.uri), None)
            })?;
        let upstream = request;
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(upstream));
        match self.forward(&server, request, &context).await? {
            ServerResult::ReadResourceResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(ReadResourceResponse::Complete(r))
            }
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            ServerResult::CustomResult(unread) => {
                let mut r = ReadResourceResult::new(Vec::new());
                r.meta = Some(carry(unread));
                Ok(ReadResourceResponse::Complete(r))
            }
            _ => Err(unexpected(&server)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let catalog = self.snapshot();
        let mut upstream = request;
        let server = match &mut upstream.r#ref {
            Reference::Prompt(prompt) => {
                let route = catalog.prompt(&prompt.name).cloned().ok_or_else(|| {
                    ErrorData::invalid_params(format!("unknown prompt `{}`", prompt.name), None)
                })?;
                prompt.name = route.name;
                route.server
            }
            Reference::Resource(resource) => catalog
                .resource_server(&resource.uri)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("no server offers `{}`", resource.uri), None)
                })?,
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(upstream));
        match self.forward(&server, request, &context).await? {
            ServerResult::CompleteResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(r)
            }
            _ => Err(unexpected(&server)),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        for peer in self.hub.running_peers() {
            let supports = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.logging.is_some());
            if supports {
                let _ = peer.set_level(request.clone()).await;
            }
        }
        Ok(())
    }
}

/// The client side of one upstream session: routes what the server sends back.
#[derive(Clone)]
pub struct UpstreamHandler {
    hub: Hub,
    server: String,
}

impl UpstreamHandler {
    fn caller(&self, what: &str) -> Result<Peer<RoleServer>, ErrorData> {
        self.hub.caller_for(&self.server).ok_or_else(|| {
            ErrorData::internal_error(
                format!(
                    "server `{}` asked for {what} outside of a client call",
                    self.server
                ),
                None,
            )
        })
    }

    fn client_error(err: ServiceError) -> ErrorData {
        match err {
            ServiceError::McpError(data) => data,
            other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
        }
    }
}

#[expect(
    deprecated,
    reason = "legacy revisions still use sampling, roots and logging"
)]
impl ClientHandler for UpstreamHandler {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_sampling()
            .enable_elicitation()
            .build();
        capabilities.experimental = None;
        ClientConfig::new(
            capabilities,
            Implementation::new("patchbay", crate::VERSION),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let peer = self.caller("sampling")?;
        peer.create_message(params)
            .await
            .map_err(Self::client_error)
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let peer = self.caller("elicitation")?;
        peer.create_elicitation(request)
            .await
            .map_err(Self::client_error)
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        // During a call the caller's roots are the answer. Outside one (servers often ask right
        // after their handshake, and cache it), a shared server works for every client, so it
        // gets the union of the roots of every connected client that has any.
        let clients = match self.hub.caller_for(&self.server) {
            Some(caller) => vec![caller],
            None => self.hub.live_sessions(),
        };
        let mut roots: Vec<Root> = Vec::new();
        for peer in clients {
            let supports = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.roots.is_some());
            if !supports {
                continue;
            }
            let asked = tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await;
            if let Ok(Ok(answer)) = asked {
                for root in answer.roots {
                    if !roots.iter().any(|r| r.uri == root.uri) {
                        roots.push(root);
                    }
                }
            }
        }
        Ok(ListRootsResult::new(roots))
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        params.logger = Some(match params.logger {
            Some(logger) => format!("{}/{logger}", self.server),
            None => self.server.clone(),
        });
        for peer in self.hub.live_sessions() {
            let _ = peer.notify_logging_message(params.clone()).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }
}

impl UpstreamHandler {
    async fn refresh(&self) {
        let Some(up) = self.hub.upstream(&self.server) else {
            return;
        };
        // The handler runs on the session's loop; list in a task so the answers can arrive.
        let hub = self.hub.clone();
        tokio::spawn(async move {
            match up.refresh_catalog().await {
                Some(Ok(catalog)) => hub.set_catalog(up.name(), catalog),
                Some(Err(err)) => {
                    tracing::warn!(server = up.name(), "refreshing lists failed: {err}")
                }
                None => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_with_cursor(cursor: &str) -> PaginatedRequestParams {
        serde_json::from_value(serde_json::json!({ "cursor": cursor })).unwrap()
    }

    #[test]
    fn pages_cover_the_list_once() {
        let items: Vec<usize> = (0..1234).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let params = cursor.map(|c: String| params_with_cursor(&c));
            let (chunk, next) = page(&items, params.as_ref()).unwrap();
            seen.extend(chunk);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let bad = params_with_cursor("x");
        assert!(page(&items, Some(&bad)).is_err());
    }
}
