//! The hub: supervised upstreams, the merged catalogue, and the MCP service clients talk to.
//!
//! [`Hub`] owns the state; [`HubService`] is the per-session `rmcp` server handler that routes a
//! client's requests to upstreams; [`UpstreamHandler`] is the `rmcp` client handler on each
//! upstream session that routes what the server sends back (progress, logs, list changes,
//! sampling/elicitation/roots requests) to the right client session.
//!
//! Invariants:
//! - The catalogue is rebuilt only when a server's lists change; requests read a snapshot.
//! - A progress token is rewritten on the way up to a hub-unique one, so two clients using the
//!   same token on one shared server never see each other's progress; it is mapped back on the
//!   way down and forgotten when the call ends.
//! - A server-to-client request goes to the client whose call to that server is the most recent
//!   one still in flight; with none in flight it is refused (roots: an empty list).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rmcp::model::*;
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleClient, RoleServer};
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceError};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ServerConfig};
use crate::events::{EventSender, HubEvent};
use crate::paths::Paths;
use crate::router::{Catalog, ServerCatalog};
use crate::supervisor::{Link, ServerStatus, Upstream};

/// Items per page of a merged list.
pub const PAGE_SIZE: usize = 500;

/// `_meta` keys that describe the client's own session with the hub; they are not forwarded.
const SESSION_META_PREFIX: &str = "io.modelcontextprotocol/";

/// Calls in flight per server: call id and the client session that made it, oldest first.
type Callers = HashMap<String, Vec<(u64, Peer<RoleServer>)>>;

/// The shared hub state. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    paths: Paths,
    events: EventSender,
    shutdown: CancellationToken,
    config: RwLock<Config>,
    upstreams: Mutex<BTreeMap<String, Arc<Upstream>>>,
    catalogs: Mutex<BTreeMap<String, Arc<ServerCatalog>>>,
    catalog: RwLock<Arc<Catalog>>,
    sessions: Mutex<Vec<Peer<RoleServer>>>,
    progress: Mutex<HashMap<String, (Peer<RoleServer>, ProgressToken)>>,
    callers: Mutex<Callers>,
    next_id: AtomicU64,
}

impl Hub {
    /// A hub with no servers running yet.
    pub fn new(paths: Paths, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
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
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Where this hub's files are.
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
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

    /// Every configured server's status, disabled ones included, in name order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        let config = self.config();
        let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
        config
            .servers
            .iter()
            .map(|(name, server)| match upstreams.get(name) {
                Some(up) => up.status(),
                None => disabled_status(name, server),
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
                let up = Upstream::new(
                    name.clone(),
                    server.clone(),
                    self.inner.paths.server_log(name),
                    self.inner.shutdown.child_token(),
                );
                upstreams.insert(name.clone(), up.clone());
                tokio::spawn(up.run(Arc::new(self.clone())));
            }
        }
        *self.inner.config.write().expect("config lock") = config;
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
                .any(|u| u.status().state != crate::supervisor::ServerState::Stopped);
            if !running || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn set_catalog(&self, server: &str, catalog: ServerCatalog) {
        let mut catalogs = self.inner.catalogs.lock().expect("catalogs lock");
        if catalogs.get(server).is_some_and(|c| **c == catalog) {
            return;
        }
        catalogs.insert(server.to_owned(), Arc::new(catalog));
        drop(catalogs);
        self.rebuild_catalog();
    }

    /// Rebuild the merged snapshot and tell every session what changed.
    fn rebuild_catalog(&self) {
        let new = {
            let catalogs = self.inner.catalogs.lock().expect("catalogs lock");
            Arc::new(Catalog::build(&catalogs))
        };
        let old = std::mem::replace(
            &mut *self.inner.catalog.write().expect("catalog lock"),
            new.clone(),
        );
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

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The client session whose call to `server` is the most recent one in flight.
    fn caller_for(&self, server: &str) -> Option<Peer<RoleServer>> {
        let callers = self.inner.callers.lock().expect("callers lock");
        callers.get(server)?.last().map(|(_, p)| p.clone())
    }
}

fn disabled_status(name: &str, server: &ServerConfig) -> ServerStatus {
    ServerStatus {
        name: name.to_owned(),
        state: crate::supervisor::ServerState::Stopped,
        pid: None,
        uptime_secs: None,
        tools: 0,
        restarts: 0,
        retry_in_ms: None,
        last_error: (!server.enabled).then(|| "disabled".to_owned()),
        command: server.command_line(),
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

    fn state_changed(&self, status: &ServerStatus) {
        let _ = self.inner.events.send(HubEvent::ServerState {
            server: status.name.clone(),
            state: status.state.as_str().to_owned(),
            error: status.last_error.clone(),
        });
    }
}

/// Bookkeeping for one forwarded call: registers the caller and the progress route, and
/// removes both when dropped (completion, error or cancellation alike).
struct CallGuard {
    hub: Hub,
    server: String,
    id: u64,
    progress_key: Option<String>,
}

impl CallGuard {
    /// Register a call from `peer` to `server`; rewrites the progress token in `meta`.
    fn new(hub: &Hub, server: &str, peer: &Peer<RoleServer>, meta: &mut RequestMetaObject) -> Self {
        let id = hub.next_id();
        meta.retain(|key, _| !key.starts_with(SESSION_META_PREFIX));
        let progress_key = meta.get_progress_token().map(|token| {
            let key = format!("patchbay-{id}");
            hub.inner
                .progress
                .lock()
                .expect("progress lock")
                .insert(key.clone(), (peer.clone(), token));
            meta.set_progress_token(ProgressToken(NumberOrString::String(key.as_str().into())));
            key
        });
        hub.inner
            .callers
            .lock()
            .expect("callers lock")
            .entry(server.to_owned())
            .or_default()
            .push((id, peer.clone()));
        Self {
            hub: hub.clone(),
            server: server.to_owned(),
            id,
            progress_key,
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(key) = &self.progress_key {
            self.hub
                .inner
                .progress
                .lock()
                .expect("progress lock")
                .remove(key);
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
}

impl HubService {
    /// A handler for one client session.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }

    fn running_peer(&self, server: &str) -> Result<Peer<RoleClient>, ErrorData> {
        let up = self.hub.upstream(server).ok_or_else(|| {
            ErrorData::internal_error(format!("server `{server}` is not running"), None)
        })?;
        up.peer().ok_or_else(|| {
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

    /// Run one forwarded request with its bookkeeping; a client cancellation drops the upstream
    /// request future, which makes rmcp send `notifications/cancelled` upstream.
    async fn forward<T>(
        &self,
        server: &str,
        meta: Option<RequestMetaObject>,
        context: &RequestContext<RoleServer>,
        call: impl AsyncFnOnce(Peer<RoleClient>, RequestMetaObject) -> Result<T, ServiceError>,
    ) -> Result<T, ErrorData> {
        let peer = self.running_peer(server)?;
        let mut meta = meta.unwrap_or_default();
        let _guard = CallGuard::new(&self.hub, server, &context.peer, &mut meta);
        tokio::select! {
            result = call(peer, meta) => result.map_err(|err| upstream_error(server, err)),
            _ = context.ct.cancelled() => Err(ErrorData::internal_error("request cancelled by the client", None)),
        }
    }
}

/// A failed upstream request as the client sees it: the server's own JSON-RPC error passes
/// through unchanged; the rest are said plainly.
fn upstream_error(server: &str, err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(data) => data,
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            ErrorData::internal_error(
                format!("server `{server}` exited during the call; it is being restarted"),
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
        self.hub
            .inner
            .sessions
            .lock()
            .expect("sessions lock")
            .push(context.peer);
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let catalog = self.hub.catalog();
        let (tools, next) = page(&catalog.tools, request.as_ref())?;
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
            .hub
            .catalog()
            .tool(&request.name)
            .cloned()
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("unknown tool `{}`", request.name), None)
            })?;
        let mut upstream = request;
        upstream.name = route.name.into();
        self.forward(
            &route.server,
            upstream.meta.take(),
            &context,
            async |peer, meta| {
                upstream.meta = Some(meta);
                peer.call_tool_once(upstream).await
            },
        )
        .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let catalog = self.hub.catalog();
        let (prompts, next) = page(&catalog.prompts, request.as_ref())?;
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
            .hub
            .catalog()
            .prompt(&request.name)
            .cloned()
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("unknown prompt `{}`", request.name), None)
            })?;
        let mut upstream = request;
        upstream.name = route.name;
        self.forward(
            &route.server,
            upstream.meta.take(),
            &context,
            async |peer, meta| {
                upstream.meta = Some(meta);
                peer.get_prompt_once(upstream).await
            },
        )
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let catalog = self.hub.catalog();
        let (resources, next) = page(&catalog.resources, request.as_ref())?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let catalog = self.hub.catalog();
        let (templates, next) = page(&catalog.templates, request.as_ref())?;
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
            .hub
            .catalog()
            .resource_server(&request.uri)
            .map(str::to_owned)
            .ok_or_else(|| {
                ErrorData::resource_not_found(format!("no server offers `{}`", request.uri), None)
            })?;
        let mut upstream = request;
        self.forward(
            &server,
            upstream.meta.take(),
            &context,
            async |peer, meta| {
                upstream.meta = Some(meta);
                peer.read_resource_once(upstream).await
            },
        )
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let catalog = self.hub.catalog();
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
        self.forward(
            &server,
            upstream.meta.take(),
            &context,
            async |peer, meta| {
                upstream.meta = Some(meta);
                peer.complete(upstream).await
            },
        )
        .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let upstreams: Vec<_> = self
            .hub
            .inner
            .upstreams
            .lock()
            .expect("upstreams lock")
            .values()
            .filter_map(|u| u.peer())
            .collect();
        for peer in upstreams {
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
        let Some(peer) = self.hub.caller_for(&self.server) else {
            return Ok(ListRootsResult::default());
        };
        let supports = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        if !supports {
            return Ok(ListRootsResult::default());
        }
        peer.list_roots().await.map_err(Self::client_error)
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let key = match &params.progress_token.0 {
            NumberOrString::String(s) => s.to_string(),
            NumberOrString::Number(n) => n.to_string(),
        };
        let route = self
            .hub
            .inner
            .progress
            .lock()
            .expect("progress lock")
            .get(&key)
            .cloned();
        if let Some((peer, token)) = route {
            let mut params = params;
            params.progress_token = token;
            let _ = peer.notify_progress(params).await;
        }
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
