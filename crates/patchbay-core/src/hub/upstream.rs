//! Running one server: spawn or connect, list, watch, restart.
//!
//! Each configured server gets an [`Upstream`] and one task running [`Upstream::run`]. A remote
//! server is an MCP client session over rmcp's Streamable HTTP client transport. A stdio server's
//! child is spawned through rmcp's child-process transport in a process group of its own (so
//! `npx`'s node grandchild dies with it), its stderr goes line by line to the server's rotating
//! log, and the MCP client session over its stdio (with its answers kept whole, see [`crate::whole`]) is
//! what the router calls. When the child exits, calls in
//! flight fail at once (rmcp drops their responders, the router maps that to a JSON-RPC error)
//! and the server is restarted after a capped exponential backoff: 0.5 s, 1 s, 2 s ... 30 s,
//! back to 0.5 s after a minute of stable running. Stopping closes stdin, waits, sends SIGTERM,
//! waits, then kills the group (rmcp's graceful shutdown).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use process_wrap::tokio::{CommandWrap, KillOnDrop};
use rmcp::model::{ClientRequest, PingRequest, ServerJsonRpcMessage};
use rmcp::service::{Peer, RoleClient, RunningService, ServiceExt};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess, Transport};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use crate::api::{ServerKind, ServerState, ServerStatus};
use crate::config::ServerConfig;
use crate::hub::catalog::ServerCatalog;
use crate::logs::RotatingLog;
use crate::oauth::Keeper;
use crate::oauth::http::Authorized;
use crate::vault::Vault;

use crate::whole::child::{TakeStdio, WholeChild};

/// First restart delay.
pub const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest restart delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Running this long counts as stable and resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a child may take to answer `initialize` and its first lists.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a remote server may take to accept a connection.
pub const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a quiet remote server is pinged to see that it is still there.
pub const REMOTE_PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may take before the server counts as gone.
pub const REMOTE_PING_TIMEOUT: Duration = Duration::from_secs(10);

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
struct Tapped<L: Link, T> {
    inner: T,
    link: Arc<L>,
    server: String,
}

impl<L: Link, T: Transport<RoleClient>> Transport<RoleClient> for Tapped<L, T> {
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
            stop,
        })
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
                if matches!(
                    now,
                    ServerState::Restarting | ServerState::Stopped | ServerState::NeedsSignIn
                ) {
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

    /// A stdio server: spawn the child in its own process group, its stderr to the log.
    async fn run_child<L: Link>(
        &self,
        link: &Arc<L>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String> {
        let secrets = self.secret_env().await?;
        // On Windows `npx` is `npx.cmd`: found through PATHEXT, as a shell would (see `exec`).
        let program = crate::exec::resolve(
            &self.config.command,
            self.config.env.get("PATH").map(std::ffi::OsStr::new),
        );
        let mut command = tokio::process::Command::new(program);
        command
            .args(&self.config.args)
            .envs(&self.config.env)
            .envs(secrets.iter().map(|(var, value)| (var, value.expose())));
        if let Some(cwd) = &self.config.cwd {
            command.current_dir(cwd);
        }
        let stdio = TakeStdio::default();
        let mut wrapped = CommandWrap::from(command);
        own_process_tree(&mut wrapped);
        wrapped.wrap(KillOnDrop).wrap(stdio.clone());
        let started = TokioChildProcess::builder(wrapped)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|(child, stderr)| Ok((WholeChild::new(child, &stdio)?, stderr)));
        let (transport, stderr) =
            started.map_err(|err| format!("failed to start `{}`: {err}", self.config.command))?;
        let pid = transport.id();
        let _ = log
            .lock()
            .expect("log lock")
            .note(&format!("pid {}", pid.unwrap_or_default()));
        let stderr_task = stderr.map(|stderr| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                let mut last = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = log.lock().expect("log lock").line(&line);
                    if !line.trim().is_empty() {
                        last = Some(line);
                    }
                }
                last
            })
        });
        self.set(&**link, |l| l.pid = pid);
        let outcome = self.serve(link, transport, pid, log).await;
        if let Some(pid) = pid {
            reap_group(pid).await;
        }
        let last_words = match stderr_task {
            // The pipe closes with the child; bounded in case a grandchild keeps it open.
            Some(task) => match tokio::time::timeout(Duration::from_secs(1), task).await {
                Ok(Ok(last)) => last,
                _ => None,
            },
            None => None,
        };
        // A server that fails usually says why on stderr; its last line saves a trip to the log.
        outcome.map_err(|err| match last_words {
            Some(line) => format!("{err}; its last stderr line: {}", clip(&line, 200)),
            None => err,
        })
    }

    /// A remote server over Streamable HTTP. A lost session is recreated by the transport
    /// (`reinit_on_expired_session`); a server that cannot be reached ends the session, and the
    /// same backoff as a crashed child applies.
    async fn run_remote<L: Link>(
        &self,
        url: &str,
        link: &Arc<L>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(url);
        config.reinit_on_expired_session = true;
        let http = reqwest::Client::builder()
            .connect_timeout(REMOTE_CONNECT_TIMEOUT)
            .build()
            .map_err(|err| format!("cannot set up an HTTP client: {err}"))?;
        match &self.keeper {
            Some(keeper) => {
                let client = Authorized::new(http, keeper.clone());
                let transport = StreamableHttpClientTransport::with_client(client, config);
                self.serve(link, transport, None, log).await
            }
            None => {
                let transport = StreamableHttpClientTransport::with_client(http, config);
                self.serve(link, transport, None, log).await
            }
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
        let transport = Tapped {
            inner: transport,
            link: link.clone(),
            server: self.name.clone(),
        };
        let handshake = tokio::select! {
            r = tokio::time::timeout(START_TIMEOUT, link.handler(&self.name).serve(transport)) => r,
            _ = self.stop.cancelled() => return Ok(()),
        };
        let service: RunningService<RoleClient, L::Handler> = match handshake {
            Ok(Ok(service)) => service,
            Ok(Err(err)) => {
                return Err(format!(
                    "MCP handshake failed: {}",
                    crate::human::error_chain(&err)
                ));
            }
            Err(_) => return Err(format!("no MCP handshake within {START_TIMEOUT:?}")),
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

    /// For a remote server: resolves, with what went wrong, once it stops answering pings.
    /// Pending forever for a stdio server, whose exit is seen directly.
    async fn keepalive(&self, peer: &Peer<RoleClient>) -> String {
        if self.config.url.is_none() {
            return std::future::pending().await;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REMOTE_PING_INTERVAL) => {}
                _ = self.check_now.notified() => {}
            }
            let ping = ClientRequest::PingRequest(PingRequest::default());
            match tokio::time::timeout(REMOTE_PING_TIMEOUT, peer.send_request(ping)).await {
                // An error answer is still an answer (2026-07-28 servers have no `ping`).
                Ok(Ok(_) | Err(rmcp::ServiceError::McpError(_))) => {}
                Ok(Err(rmcp::ServiceError::TransportSend(err))) => {
                    return format!(
                        "the server stopped answering: {}",
                        crate::human::error_chain(&*err.error)
                    );
                }
                Ok(Err(err)) => {
                    return format!(
                        "the server stopped answering: {}",
                        crate::human::error_chain(&err)
                    );
                }
                Err(_) => {
                    return format!(
                        "the server did not answer a ping within {REMOTE_PING_TIMEOUT:?}"
                    );
                }
            }
        }
    }

    /// The values of the server's `secret_env`, read from the vault now (so a secret set since
    /// the last attempt is picked up by the next). A missing one is an error that says how to
    /// set it: the child never starts with an empty value.
    async fn secret_env(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::secret::Secret>, String> {
        if self.config.secret_env.is_empty() {
            return Ok(Default::default());
        }
        let (found, missing) = self
            .vault
            .env_values(&self.name, &self.config.secret_env)
            .await
            .map_err(|err| {
                let hint = err
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                format!(
                    "cannot read the secrets of server {}: {err}{hint}",
                    self.name
                )
            })?;
        if let Some(var) = missing.first() {
            return Err(format!(
                "secret {var} for server {name} is not in the keychain; run `patchbay secret set {name} {var}`",
                name = self.name
            ));
        }
        Ok(found)
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

fn session_end(
    quit: Result<rmcp::service::QuitReason, tokio::task::JoinError>,
) -> Result<(), String> {
    match quit {
        Ok(_) => Ok(()),
        Err(err) => Err(format!("the server's session ended abnormally: {err}")),
    }
}

/// Resolves once the process `pid` has exited (it may stay a zombie until rmcp reaps it).
/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

async fn child_exited(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !process_alive(pid) {
            return;
        }
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    // State is the field after the parenthesised command name; `Z` is a zombie.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn process_alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    // Windows: the job object ends the tree with the child, so stdout closes with it.
    true
}

/// Gives the child a process tree of its own that ends with it. On unix, a process group: a stop
/// signals the whole group, so `npx`'s node grandchild goes too. On Windows, a job object that
/// kills every process in it when its last handle closes (the child's wrapper holds it, so the
/// tree ends on stop, restart, idle stop, and when the hub itself exits or is killed), and no
/// console window of its own: the hub may run without one, and a window per server would flash.
#[cfg(unix)]
fn own_process_tree(command: &mut CommandWrap) {
    command.wrap(process_wrap::tokio::ProcessGroup::leader());
}

#[cfg(windows)]
fn own_process_tree(command: &mut CommandWrap) {
    use process_wrap::tokio::{CreationFlags, JobObject};
    use windows::Win32::System::Threading::CREATE_NO_WINDOW;
    command
        .wrap(JobObject)
        .wrap(CreationFlags(CREATE_NO_WINDOW));
}

/// End whatever is left of the child's process group. rmcp kills the group when it stops the
/// child itself, but when the child died on its own (a wrapper shell killed, a crash), its
/// grandchildren would live on: SIGTERM them, then SIGKILL what is still there a moment later.
/// The group id is the dead leader's pid, which cannot be reused while the group has members.
#[cfg(unix)]
async fn reap_group(pgid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let group = Pid::from_raw(pgid as i32);
    if killpg(group, Signal::SIGTERM).is_err() {
        return; // no member left
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if killpg(group, None).is_err() {
            return;
        }
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(not(unix))]
async fn reap_group(_pgid: u32) {
    // On Windows process-wrap's job object ends the whole tree with the child.
}

/// The delay before restart number `attempt` (0-based).
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
    let mut catalog = ServerCatalog::default();
    if caps.tools.is_some() {
        catalog.tools = peer.list_all_tools().await?;
    }
    if caps.prompts.is_some() {
        catalog.prompts = peer.list_all_prompts().await?;
    }
    if caps.resources.is_some() {
        catalog.resources = peer.list_all_resources().await?;
        // Templates are optional even for resource servers.
        catalog.templates = peer.list_all_resource_templates().await.unwrap_or_default();
    }
    Ok(catalog)
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
