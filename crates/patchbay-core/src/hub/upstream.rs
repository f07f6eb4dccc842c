//! Running one server: spawn or connect, list, watch, restart.
//!
//! Each configured server gets an [`Upstream`] and one task running [`Upstream::run`]: the
//! life cycle (lazy start, idle stop, backoff, state) is here; how a session is opened is in
//! `stdio` (a child process) and `remote` (Streamable HTTP). A stdio server's child is spawned
//! through rmcp's child-process transport in a process tree of its own (so `npx`'s node
//! grandchild dies with it), its stderr goes line by line to the server's rotating log, and the
//! MCP client session over its stdio (its answers kept whole, see [`crate::whole`]) is what the
//! hub calls. When the child exits, calls in flight fail at once (rmcp drops their responders,
//! the hub maps that to a JSON-RPC error) and the server is restarted after a capped
//! exponential backoff: 0.5 s, 1 s, 2 s ... 30 s, back to 0.5 s after a minute of stable
//! running. Stopping closes stdin, waits, sends SIGTERM, waits, then kills the tree (rmcp's
//! graceful shutdown).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rmcp::model::ServerJsonRpcMessage;
use rmcp::model::{ProtocolVersion, RequestId, ServerNotification, SubscriptionFilter};
use rmcp::service::{
    ClientInitializeError, ClientLifecycleMode, ClientServiceExt, Peer, RoleClient, RunningService,
    ServiceExt,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio_util::sync::CancellationToken;

use crate::api::{ServerKind, ServerState, ServerStatus};
use crate::config::ServerConfig;
use crate::hub::catalog::{Freshness, ServerCatalog};
use crate::logs::RotatingLog;
use crate::oauth::Keeper;
use crate::vault::Vault;

mod remote;
mod stdio;
use stdio::child_exited;

/// First restart delay.
pub const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest restart delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Running this long counts as stable and resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a child may take to answer `initialize` and its first lists.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
#[derive(Debug, Default)]
struct Live {
    state: Option<ServerState>,
    pid: Option<u32>,
    running_since: Option<Instant>,
    tools: usize,
    restarts: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    settled: bool,
}

/// What the supervisor tells the rest of the hub, and the handler it needs for each session.
pub trait Link: Send + Sync + 'static {
    /// The MCP client handler for one session with the child.
    type Handler: rmcp::ClientHandler;
    /// A handler for a new session with `server`.
    fn handler(&self, server: &str) -> Self::Handler;
    /// The resources of `server` (its own URIs) that clients want updates of.
    fn subscribed(&self, server: &str) -> Vec<String>;
    /// `server` says its resource `uri` (its own URI) changed.
    fn resource_updated(&self, server: &str, uri: &str);
    /// The server is up and these are its lists.
    fn catalog_ready(&self, server: &str, catalog: ServerCatalog);
    /// The server changed state.
    fn state_changed(&self, status: &ServerStatus);
    /// See each message from the server in arrival order, before rmcp dispatches it; `true`
    /// means it was handled here and is not passed on. Progress is forwarded here because rmcp
    /// runs notification handlers on tasks of their own, which could lose the race against
    /// the response that follows them.
    fn intercept(
        &self,
        server: &str,
        message: &ServerJsonRpcMessage,
    ) -> impl std::future::Future<Output = bool> + Send;
}

/// A transport (rmcp's child-process or Streamable HTTP client one), with every incoming message
/// shown to the [`Link`] first.
struct Intercepted<L: Link, T> {
    inner: T,
    link: Arc<L>,
    server: String,
}

impl<L: Link, T: Transport<RoleClient>> Transport<RoleClient> for Intercepted<L, T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let message = self.inner.receive().await?;
            if !self.link.intercept(&self.server, &message).await {
                return Some(message);
            }
        }
    }

    fn close(&mut self) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// How a lazy server behaves.
#[derive(Debug, Clone, Copy)]
pub struct Lazy {
    /// Stop it after this long without calls.
    pub idle_after: Duration,
    /// Its lists came from the cache (with this many tools): begin idle instead of starting.
    pub cached_tools: Option<usize>,
}

/// Marks a call to a server as in flight; the idle clock starts again when it drops.
pub struct InUse(Arc<Upstream>);

impl Drop for InUse {
    fn drop(&mut self) {
        *self.0.last_used.lock().expect("last used lock") = Instant::now();
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One supervised stdio server.
#[derive(Debug)]
pub struct Upstream {
    name: String,
    config: ServerConfig,
    log_path: std::path::PathBuf,
    vault: Vault,
    /// A remote server's credentials (none for stdio servers).
    keeper: Option<Arc<Keeper>>,
    /// Set for a lazy server.
    lazy: Option<Lazy>,
    /// Wakes an idle lazy server.
    wake: tokio::sync::Notify,
    /// Calls in flight, and when the last one ended (the idle clock).
    in_use: std::sync::atomic::AtomicUsize,
    last_used: Mutex<Instant>,
    /// The session ended because the server sat idle.
    went_idle: AtomicBool,
    /// The state, for waiters ([`Upstream::ready`]).
    state_tx: tokio::sync::watch::Sender<ServerState>,
    live: Mutex<Live>,
    peer: RwLock<Option<Peer<RoleClient>>>,
    /// A list change announced before the first lists were in: fetch again once running.
    stale_lists: AtomicBool,
    /// Wakes a remote server's keepalive to check it now (a call to it just failed).
    check_now: tokio::sync::Notify,
    /// Opens a 2026-07-28 server's listen stream again: the resources wanted changed.
    listen_again: tokio::sync::Notify,
    /// The server refused `initialize`: it is spoken to through `server/discover` (2026-07-28).
    modern: AtomicBool,
    /// Set when the era just changed: the next start comes at once, not after a backoff.
    start_again: AtomicBool,
    /// The era changed once: later changes wait for the usual backoff.
    era_switched: AtomicBool,
    stop: CancellationToken,
}

impl Upstream {
    /// A server that is not started yet; `stop` ends it. Its `secret_env` values come from
    /// `vault` at each start; a remote server's requests carry `keeper`'s credential.
    pub fn new(
        name: String,
        config: ServerConfig,
        log_path: std::path::PathBuf,
        vault: Vault,
        keeper: Option<Arc<Keeper>>,
        lazy: Option<Lazy>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            config,
            log_path,
            vault,
            keeper,
            lazy,
            wake: tokio::sync::Notify::new(),
            in_use: std::sync::atomic::AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
            went_idle: AtomicBool::new(false),
            state_tx: tokio::sync::watch::channel(ServerState::Starting).0,
            live: Mutex::new(Live::default()),
            peer: RwLock::new(None),
            stale_lists: AtomicBool::new(false),
            check_now: tokio::sync::Notify::new(),
            listen_again: tokio::sync::Notify::new(),
            modern: AtomicBool::new(false),
            start_again: AtomicBool::new(false),
            era_switched: AtomicBool::new(false),
            stop,
        })
    }

    /// Speak 2026-07-28 to it from the start (it refused `initialize` before).
    pub fn speak_2026(&self) {
        self.modern.store(true, Ordering::Release);
    }

    /// Speak the other era than `modern` at the next start: always when the server refused
    /// (`refused`), otherwise only when the era never changed before. The first change starts
    /// the server again at once. Whether the era changed.
    fn switch_era(&self, modern: bool, refused: bool) -> bool {
        let first = !self.era_switched.swap(true, Ordering::AcqRel);
        if !refused && !first {
            return false;
        }
        self.modern.store(!modern, Ordering::Release);
        self.start_again.store(first, Ordering::Release);
        true
    }

    /// Whether it is spoken to through `server/discover` (2026-07-28).
    pub fn speaks_2026(&self) -> bool {
        self.modern.load(Ordering::Acquire)
    }

    /// The resources clients want updates of changed: a 2026-07-28 server is listened to
    /// again with the new set (a 2025 one is subscribed to one by one instead).
    pub fn listen_again(&self) {
        self.listen_again.notify_one();
    }

    /// Its config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config it runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The MCP session with the child while it runs.
    pub fn peer(&self) -> Option<Peer<RoleClient>> {
        self.peer.read().expect("peer lock").clone()
    }

    /// Whether its first start has come to an end, serving or failing. Lists wait for this so
    /// that a client connecting to a fresh hub sees every server's tools in its first answer.
    pub fn settled(&self) -> bool {
        self.live.lock().expect("status lock").settled
    }

    /// Why it waits for a sign-in, when it does.
    pub fn sign_in_needed(&self) -> Option<String> {
        let keeper = self.keeper.as_ref().filter(|k| k.blocked())?;
        Some(keeper.message().unwrap_or_else(|| {
            format!(
                "`{}` needs a new sign-in: run `patchbay login {}`",
                self.name, self.name
            )
        }))
    }

    /// Whether its sign-in has lapsed (a rejected refresh, no tokens when the server asked for
    /// them): a new sign-in mends it. Not after the user revoked the tokens on purpose.
    pub fn sign_in_lapsed(&self) -> bool {
        self.keeper
            .as_ref()
            .is_some_and(|k| k.state() == crate::oauth::TokenState::NeedsSignIn)
    }

    /// Whether it is a server whose sign-in may lapse (a remote one).
    pub fn signs_in(&self) -> bool {
        self.keeper.is_some()
    }

    /// Whether request `id`, sent at `since` or later, went unserved for want of a sign-in.
    pub fn unserved_since(&self, id: &RequestId, since: Instant) -> bool {
        self.keeper
            .as_ref()
            .is_some_and(|k| k.unserved_since(id, since))
    }

    /// Why a call to it started at `since` failed for want of credentials or scope, when so.
    pub fn auth_failure_since(&self, since: std::time::Instant) -> Option<String> {
        self.keeper.as_ref()?.failure_since(since)
    }

    /// A call to it failed in transport: a remote server is pinged at once, so one that has gone
    /// away shows as restarting now rather than at the next keepalive.
    pub fn check_health(&self) {
        self.check_now.notify_one();
    }

    /// Ask it to stop; [`Upstream::run`] returns once the child is gone.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// The status shown to the user.
    pub fn status(&self) -> ServerStatus {
        let live = self.live.lock().expect("status lock");
        let now = Instant::now();
        ServerStatus {
            name: self.name.clone(),
            state: live.state.unwrap_or(ServerState::Starting),
            pid: live.pid,
            uptime_secs: live.running_since.map(|t| now.duration_since(t).as_secs()),
            tools: live.tools,
            restarts: live.restarts,
            retry_in_ms: live
                .retry_at
                .map(|t| t.saturating_duration_since(now).as_millis() as u64),
            last_error: live.last_error.clone(),
            command: self.config.command_line(),
            kind: ServerKind::of(&self.config),
            enabled: self.config.enabled,
            tools_held: 0,
            update: None,
        }
    }

    fn set(&self, link: &impl Link, change: impl FnOnce(&mut Live)) {
        let status = {
            let mut live = self.live.lock().expect("status lock");
            change(&mut live);
            live.settled |= live.state.is_some_and(|s| s != ServerState::Starting);
            drop(live);
            self.status()
        };
        self.state_tx.send_replace(status.state);
        link.state_changed(&status);
    }

    /// Mark a call to it as in flight until the guard drops (a lazy server is not stopped
    /// for idleness meanwhile).
    pub fn begin_use(self: &Arc<Self>) -> InUse {
        self.in_use.fetch_add(1, Ordering::AcqRel);
        InUse(self.clone())
    }

    /// The session with it, starting an idle lazy server and waiting (at most `limit`) for
    /// it to run. `None` when it could not be had; its status says why.
    pub async fn ready(&self, limit: Duration) -> Option<Peer<RoleClient>> {
        let mut state = self.state_tx.subscribe();
        if *state.borrow_and_update() == ServerState::Idle {
            self.wake.notify_one();
        }
        let waited = tokio::time::timeout(limit, async {
            loop {
                if let Some(peer) = self.peer() {
                    return Some(peer);
                }
                let now = *state.borrow_and_update();
                // Right after a sign-in the state still says so, on its way to `starting`.
                let signed_out = now == ServerState::NeedsSignIn && self.sign_in_needed().is_some();
                if matches!(now, ServerState::Restarting | ServerState::Stopped) || signed_out {
                    return None;
                }
                state.changed().await.ok()?;
            }
        })
        .await;
        waited.ok().flatten()
    }

    /// Wait, idle, for a call (`true`) or the stop (`false`).
    async fn idle<L: Link>(&self, link: &L, tools: Option<usize>) -> bool {
        self.set(link, |l| {
            l.state = Some(ServerState::Idle);
            l.pid = None;
            l.running_since = None;
            l.retry_at = None;
            if let Some(tools) = tools {
                l.tools = tools;
            }
        });
        tokio::select! {
            _ = self.wake.notified() => true,
            _ = self.stop.cancelled() => false,
        }
    }

    /// Resolves when a lazy server has had no call in flight for its idle time-out.
    async fn idle_watch(&self) {
        let Some(lazy) = self.lazy else {
            return std::future::pending().await;
        };
        *self.last_used.lock().expect("last used lock") = Instant::now();
        let tick = (lazy.idle_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
        loop {
            tokio::time::sleep(tick).await;
            let quiet = self.last_used.lock().expect("last used lock").elapsed();
            if self.in_use.load(Ordering::Acquire) == 0 && quiet >= lazy.idle_after {
                return;
            }
        }
    }

    /// Keep the server running until stopped.
    pub async fn run<L: Link>(self: Arc<Self>, link: Arc<L>) {
        // One writer for the file: the child's stderr and the hub's notes share it, so rotation
        // is seen by both.
        let log = Arc::new(Mutex::new(RotatingLog::new(self.log_path.clone())));
        let note = |message: &str| {
            let _ = log.lock().expect("log lock").note(message);
        };
        let mut attempt: u32 = 0;
        if let Some(tools) = self.lazy.and_then(|l| l.cached_tools) {
            note("idle: lists from the cache; the first call starts it");
            if !self.idle(&*link, Some(tools)).await {
                self.set(&*link, |l| l.state = Some(ServerState::Stopped));
                return;
            }
        }
        loop {
            if let Some(keeper) = self.keeper.clone().filter(|k| k.blocked()) {
                let mut changed = keeper.watch();
                changed.borrow_and_update();
                let reason = self.sign_in_needed();
                if let Some(reason) = &reason {
                    note(reason);
                }
                self.set(&*link, |l| {
                    l.state = Some(ServerState::NeedsSignIn);
                    l.pid = None;
                    l.running_since = None;
                    l.retry_at = None;
                    l.last_error = reason;
                });
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = self.stop.cancelled() => {}
                }
                if self.stop.is_cancelled() {
                    self.set(&*link, |l| l.state = Some(ServerState::Stopped));
                    return;
                }
                attempt = 0;
                continue;
            }
            self.set(&*link, |l| {
                l.state = Some(ServerState::Starting);
                l.retry_at = None;
            });
            note(&format!("starting: {}", self.config.command_line()));
            let started = Instant::now();
            let outcome = self.run_once(&link, &log).await;
            *self.peer.write().expect("peer lock") = None;
            if self.stop.is_cancelled() {
                note("stopped");
                self.set(&*link, |l| {
                    l.state = Some(ServerState::Stopped);
                    l.pid = None;
                    l.running_since = None;
                });
                return;
            }
            if self.keeper.as_ref().is_some_and(|k| k.blocked()) {
                // Not a crash: the loop's head waits for the sign-in.
                continue;
            }
            if self.went_idle.swap(false, Ordering::AcqRel) {
                note("idle: stopped after its idle time-out; the next call starts it");
                attempt = 0;
                if !self.idle(&*link, None).await {
                    note("stopped");
                    self.set(&*link, |l| l.state = Some(ServerState::Stopped));
                    return;
                }
                continue;
            }
            let error = match outcome {
                Ok(()) => "the server exited".to_owned(),
                Err(err) => err,
            };
            if self.start_again.swap(false, Ordering::AcqRel) {
                note(&error);
                continue;
            }
            if started.elapsed() >= STABLE_AFTER {
                attempt = 0;
            }
            let delay = backoff(attempt);
            attempt = attempt.saturating_add(1);
            note(&format!("{error}; restarting in {} ms", delay.as_millis()));
            tracing::warn!(server = %self.name, %error, delay_ms = delay.as_millis() as u64, "server down");
            self.set(&*link, |l| {
                l.state = Some(ServerState::Restarting);
                l.pid = None;
                l.running_since = None;
                l.restarts += 1;
                l.retry_at = Some(Instant::now() + delay);
                l.last_error = Some(error);
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.cancelled() => {}
            }
        }
    }

    /// One life of the server: connect, handshake, list, serve until it ends or we stop it.
    async fn run_once<L: Link>(
        &self,
        link: &Arc<L>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String> {
        match &self.config.url {
            Some(url) => self.run_remote(url, link, log).await,
            None => self.run_child(link, log).await,
        }
    }

    /// The MCP session over `transport`: handshake, lists, then serve until it ends.
    async fn serve<L: Link, T>(
        &self,
        link: &Arc<L>,
        transport: T,
        pid: Option<u32>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String>
    where
        T: Transport<RoleClient> + Send + 'static,
    {
        let transport = Intercepted {
            inner: transport,
            link: link.clone(),
            server: self.name.clone(),
        };
        // The era of the server: `initialize` (2025-11-25 and earlier), which every server of
        // those revisions answers and over which the hub relays everything, unless the server
        // refused it; then `server/discover` (2026-07-28).
        let modern = self.modern.load(Ordering::Acquire);
        let handler = link.handler(&self.name);
        let handshake = async {
            match modern {
                true => {
                    let discover = ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    };
                    handler.serve_with_lifecycle(transport, discover).await
                }
                false => handler.serve(transport).await,
            }
        };
        let handshake = tokio::select! {
            r = tokio::time::timeout(START_TIMEOUT, handshake) => r,
            _ = self.stop.cancelled() => return Ok(()),
        };
        let service: RunningService<RoleClient, L::Handler> = match handshake {
            Ok(Ok(service)) => service,
            // Refused: try the other era, at once the first time (a server from the cache as
            // 2026-only may since have become a 2025 one).
            Ok(Err(ClientInitializeError::JsonRpcError(refused))) => {
                self.switch_era(modern, true);
                let (asked, next) = era_names(modern);
                return Err(format!(
                    "it refused {asked} ({}); speaking {next} to it",
                    refused.message
                ));
            }
            Ok(Err(err)) => {
                return Err(format!(
                    "MCP handshake failed: {}",
                    crate::human::error_chain(&err)
                ));
            }
            // Silence may be a server of the other era ignoring what it does not know: the
            // other era is tried once; after that, silence is only slowness.
            Err(_) => {
                let mut error = format!("no MCP handshake within {START_TIMEOUT:?}");
                if self.switch_era(modern, false) {
                    let (asked, next) = era_names(modern);
                    error.push_str(&format!(" of {asked}; trying {next}"));
                }
                return Err(error);
            }
        };
        let peer = service.peer().clone();
        let catalog = tokio::select! {
            c = fetch_catalog(&peer) => c,
            _ = self.stop.cancelled() => Ok(ServerCatalog::default()),
        };
        let catalog = match catalog {
            Ok(c) => c,
            Err(err) => {
                let _ = service.cancel().await;
                return Err(format!("listing the server's tools failed: {err}"));
            }
        };
        *self.peer.write().expect("peer lock") = Some(peer.clone());
        // Servers often announce a change right after the handshake (server-everything adds
        // its capability-gated tools then); one that raced the first listing is fetched again.
        let catalog = match self.stale_lists.swap(false, Ordering::AcqRel) {
            true => fetch_catalog(&peer).await.unwrap_or(catalog),
            false => catalog,
        };
        let tools = catalog.tools.len();
        link.catalog_ready(&self.name, catalog);
        self.set(&**link, |l| {
            l.state = Some(ServerState::Running);
            l.running_since = Some(Instant::now());
            l.tools = tools;
            l.last_error = None;
        });
        let _ = log
            .lock()
            .expect("log lock")
            .note(&format!("running with {tools} tools"));
        // Subscriptions clients made before a restart hold on (a 2026-07-28 server gets them
        // on its listen stream).
        if !modern {
            renew_subscriptions(&peer, link.subscribed(&self.name));
        }

        // End the session when we are told to stop; when the child died while something it
        // started (a grandchild of a wrapper) still holds its stdout open, so no EOF ever comes;
        // or when a remote server stopped answering (its transport retries quietly otherwise).
        let service_stop = service.cancellation_token();
        let watched = async {
            tokio::select! {
                _ = self.stop.cancelled() => None,
                _ = child_exited(pid) => {
                    tracing::warn!(?pid, "the server process exited");
                    None
                }
                gone = self.keepalive(&peer) => Some(gone),
                _ = self.follow_changes(link, &peer), if modern => None,
                _ = self.idle_watch() => {
                    self.went_idle.store(true, Ordering::Release);
                    None
                }
            }
        };
        let waiting = service.waiting();
        tokio::pin!(waiting);
        let gone = tokio::select! {
            quit = &mut waiting => return session_end(quit),
            gone = watched => gone,
        };
        service_stop.cancel();
        let quit = waiting.await;
        match gone {
            Some(gone) => Err(gone),
            None => session_end(quit),
        }
    }

    /// A 2026-07-28 server tells of list changes only on a `subscriptions/listen` stream: hold
    /// one open while it serves, and list again at each change. Never returns.
    async fn follow_changes<L: Link>(&self, link: &Arc<L>, peer: &Peer<RoleClient>) {
        loop {
            let wanted = SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .resources_list_changed()
                .resource_subscriptions(link.subscribed(&self.name))
                .build();
            match peer.listen(wanted).await {
                Ok(mut changes) => loop {
                    let change = tokio::select! {
                        change = changes.next() => change,
                        // The stream ends when dropped; a new one is opened below.
                        _ = self.listen_again.notified() => break,
                    };
                    let Ok(Some(change)) = change else {
                        self.listen_again.notified().await;
                        break;
                    };
                    match change {
                        ServerNotification::ResourceUpdatedNotification(updated) => {
                            link.resource_updated(&self.name, &updated.params.uri);
                        }
                        ServerNotification::ToolListChangedNotification(_)
                        | ServerNotification::PromptListChangedNotification(_)
                        | ServerNotification::ResourceListChangedNotification(_) => {
                            if let Ok(catalog) = self.fetch(peer).await {
                                link.catalog_ready(&self.name, catalog);
                            }
                        }
                        _ => {}
                    }
                },
                Err(err) => {
                    tracing::info!(server = %self.name, "it offers no stream of changes: {err}");
                    self.listen_again.notified().await;
                }
            }
        }
    }

    /// Refresh the lists after the server said they changed. `None` when the server is not
    /// serving yet: the change is then picked up when it is.
    pub async fn refresh_catalog(&self) -> Option<Result<ServerCatalog, String>> {
        let Some(peer) = self.peer() else {
            self.stale_lists.store(true, Ordering::Release);
            return None;
        };
        Some(self.fetch(&peer).await)
    }

    async fn fetch(&self, peer: &Peer<RoleClient>) -> Result<ServerCatalog, String> {
        let catalog = fetch_catalog(peer).await.map_err(|e| e.to_string())?;
        self.live.lock().expect("status lock").tools = catalog.tools.len();
        Ok(catalog)
    }
}

/// Subscribe `peer` (a 2025 server, just started) to `uris` again, in the background: a server
/// that refuses one now leaves the clients without its updates, as before the restart.
#[expect(
    deprecated,
    reason = "servers of the 2025 revisions subscribe this way"
)]
fn renew_subscriptions(peer: &Peer<RoleClient>, uris: Vec<String>) {
    for uri in uris {
        let peer = peer.clone();
        tokio::spawn(async move {
            let params = rmcp::model::SubscribeRequestParams::new(uri);
            let _ = peer.subscribe(params).await;
        });
    }
}

fn session_end(
    quit: Result<rmcp::service::QuitReason, tokio::task::JoinError>,
) -> Result<(), String> {
    match quit {
        Ok(_) => Ok(()),
        Err(err) => Err(format!("the server's session ended abnormally: {err}")),
    }
}

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// The delay before restart number `attempt` (0-based).
/// What was asked of a server spoken to as `modern` (or not), and the era tried next.
fn era_names(modern: bool) -> (&'static str, &'static str) {
    match modern {
        false => ("`initialize`", "2026-07-28 (`server/discover`)"),
        true => ("`server/discover`", "the 2025 revisions (`initialize`)"),
    }
}

pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_START
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(BACKOFF_CAP)
}

/// Every list the server offers, all pages, per its advertised capabilities.
async fn fetch_catalog(peer: &Peer<RoleClient>) -> Result<ServerCatalog, rmcp::ServiceError> {
    let caps = peer
        .peer_info()
        .map(|info| info.capabilities.clone())
        .unwrap_or_default();
    let mut catalog = ServerCatalog {
        fresh: Freshness::unbounded(),
        tasks_extension: caps.supports_tasks(),
        ..ServerCatalog::default()
    };
    let fresh = &mut catalog.fresh;
    if caps.tools.is_some() {
        catalog.tools = all_pages(fresh, |params| async move {
            let page = peer.list_tools(params).await?;
            Ok((page.tools, page.next_cursor, page.ttl_ms, page.cache_scope))
        })
        .await?;
    }
    if caps.prompts.is_some() {
        catalog.prompts = all_pages(fresh, |params| async move {
            let page = peer.list_prompts(params).await?;
            Ok((
                page.prompts,
                page.next_cursor,
                page.ttl_ms,
                page.cache_scope,
            ))
        })
        .await?;
    }
    if caps.resources.is_some() {
        catalog.resources = all_pages(fresh, |params| async move {
            let page = peer.list_resources(params).await?;
            Ok((
                page.resources,
                page.next_cursor,
                page.ttl_ms,
                page.cache_scope,
            ))
        })
        .await?;
        // Templates are optional even for resource servers.
        let templates = all_pages(fresh, |params| async move {
            let page = peer.list_resource_templates(params).await?;
            let templates = page.resource_templates;
            Ok((templates, page.next_cursor, page.ttl_ms, page.cache_scope))
        });
        catalog.templates = templates.await.unwrap_or_default();
    }
    Ok(catalog)
}

/// One page of a list: its items, the next page's cursor, and its cache hints.
type Page<T> = (
    Vec<T>,
    Option<String>,
    Option<u64>,
    Option<rmcp::model::CacheScope>,
);

/// Every page of a list (`page` fetches one), its cache hints noted in `fresh`.
async fn all_pages<T, F, Fut>(fresh: &mut Freshness, page: F) -> Result<Vec<T>, rmcp::ServiceError>
where
    F: Fn(Option<rmcp::model::PaginatedRequestParams>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, rmcp::ServiceError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let params = rmcp::model::PaginatedRequestParams::default().with_cursor(cursor);
        let (more, next, ttl_ms, scope) = page(Some(params)).await?;
        items.extend(more);
        fresh.note(ttl_ms, scope);
        cursor = next;
        if cursor.is_none() {
            return Ok(items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_not_running_says_disabled_only_when_the_config_disables_it() {
        let mut config = ServerConfig::remote("https://mcp.example.com/mcp");
        let shown = ServerStatus::not_running("r", &config, None);
        assert_eq!(
            (shown.last_error, shown.kind, shown.enabled),
            (None, ServerKind::Remote, true)
        );
        let shown = ServerStatus::not_running("r", &config, Some("hub not running"));
        assert_eq!(shown.last_error.as_deref(), Some("hub not running"));
        config.enabled = false;
        let shown = ServerStatus::not_running("r", &config, Some("hub not running"));
        assert_eq!(
            (shown.last_error.as_deref(), shown.enabled),
            (Some("disabled"), false)
        );
        let stdio = ServerConfig::new("uvx", vec!["mcp-server-time".into()]);
        assert_eq!(
            ServerStatus::not_running("t", &stdio, None).kind,
            ServerKind::Stdio
        );
    }

    #[test]
    fn the_other_era_is_tried_after_a_refusal_always_and_after_silence_once() {
        let up = Upstream::new(
            "s".into(),
            ServerConfig::new("s", Vec::new()),
            std::path::PathBuf::from("s.log"),
            Vault::keychain("patchbay-test"),
            None,
            None,
            CancellationToken::new(),
        );
        let at_once = || up.start_again.swap(false, Ordering::AcqRel);
        assert!(up.switch_era(false, false), "silence to `initialize`");
        assert!(
            up.speaks_2026() && at_once(),
            "the first change comes at once"
        );
        assert!(!up.switch_era(true, false), "silence a second time");
        assert!(up.speaks_2026() && !at_once());
        assert!(up.switch_era(true, true), "a refusal of `server/discover`");
        assert!(
            !up.speaks_2026() && !at_once(),
            "a later change waits for the backoff"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let ms: Vec<u128> = (0..9).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(
            ms,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn clip_cuts_on_characters_and_marks_the_cut() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("exactly10!", 10), "exactly10!");
        assert_eq!(clip("ééééé", 3), "ééé...");
    }
}
