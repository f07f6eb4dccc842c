//! `patchbay bridge`: a client's stdio, carried to the hub's Streamable HTTP endpoint.
//!
//! Clients that only launch stdio servers (Claude Desktop) run this. It forwards messages as
//! raw JSON text, never re-serialising them, so nothing a newer protocol adds is lost, and it
//! starts in milliseconds because a client spawns one per session.
//!
//! - Each line from stdin is one JSON-RPC message, POSTed on its own task (a slow call never
//!   holds up a cancellation behind it). A JSON answer or each SSE event's data is written to
//!   stdout as one line, through one writer task so lines never interleave.
//! - `initialize` is remembered. Its answer gives the session id and protocol version that later
//!   requests carry; once the client says `notifications/initialized`, a GET stream carries what
//!   the hub sends unprompted (`list_changed`, logs).
//! - No hub running: one is started in the background (`patchbay serve`, detached) and waited
//!   for. Until the hub has answered once, a refused connection means it is still coming up (or
//!   one that was stopping still held the lock): the bridge looks for the hub again and resends,
//!   with backoff, for at most [`FIRST_CONTACT_TIMEOUT`], then answers with an error saying why.
//!   Only a refused connection is retried this way, so nothing the hub has seen is sent twice.
//! - The hub restarted later (connection refused, or 404 for an unknown session): the bridge
//!   finds or starts the hub again, replays `initialize` and `initialized`, and retries once.
//!   A request that still fails is answered with a JSON-RPC error, so the client never hangs.
//! - stdin closed: the session is deleted and the bridge exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

use crate::discovery::{self, Discovery};
use crate::paths::Paths;
use crate::secret::Secret;

/// How long to wait for a hub the bridge started.
pub const HUB_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the bridge keeps trying to reach the hub before it has ever answered (a hub coming
/// up, or one stopping that another replaces).
pub const FIRST_CONTACT_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the bridge stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// No hub ran and none could be started.
    #[error("could not start the hub (`{exe}` serve)")]
    SpawnHub {
        /// The executable we ran.
        exe: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The hub was started but did not come up in time.
    #[error("the hub did not come up within {0:?}; see its log at {1}")]
    HubTimeout(Duration, PathBuf),
    /// The hub we started exited before serving; its last log lines say why.
    #[error("the hub exited before serving ({status}):\n{log}")]
    HubExited {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// The secret could not be read.
    #[error("cannot read the hub's secret at {}", .0.display())]
    Secret(PathBuf, #[source] std::io::Error),
    /// Reading stdin or writing stdout failed.
    #[error("stdio failed")]
    Io(#[from] std::io::Error),
    /// The profile asked for is not in the config.
    #[error("no profile named `{0}` in the config")]
    NoProfile(String),
}

/// Where to find or how to start the hub.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The `patchbay` executable used to start a hub (normally the current one).
    pub exe: PathBuf,
    /// Serve this profile (`/p/<profile>/mcp`) instead of everything.
    pub profile: Option<String>,
    /// How long to keep trying until the hub first answers ([`FIRST_CONTACT_TIMEOUT`]).
    pub first_contact: Duration,
}

impl BridgeOptions {
    /// Start hubs with `exe`, serve `profile`, and wait the usual time for first contact.
    pub fn new(exe: PathBuf, profile: Option<String>) -> Self {
        Self {
            exe,
            profile,
            first_contact: FIRST_CONTACT_TIMEOUT,
        }
    }
}

/// The endpoint of `profile` at the hub whose `/mcp` URL is `url`.
fn endpoint(url: &str, profile: Option<&str>) -> String {
    match profile {
        Some(profile) => format!("{}/p/{profile}/mcp", url.trim_end_matches("/mcp")),
        None => url.to_owned(),
    }
}

/// Find the running hub, or start one in the background and wait for it.
pub async fn ensure_hub(paths: &Paths, exe: &std::path::Path) -> Result<Discovery, BridgeError> {
    ensure_hub_without(paths, exe, &[]).await
}

/// [`ensure_hub`], where a hub it starts does not inherit the environment variables in `unset`
/// (the desktop app's settings for its own toolkit).
pub async fn ensure_hub_without(
    paths: &Paths,
    exe: &std::path::Path,
    unset: &[&str],
) -> Result<Discovery, BridgeError> {
    if let Some(found) = discovery::find_running(paths) {
        return Ok(found);
    }
    let log_start = std::fs::metadata(paths.hub_log()).map_or(0, |m| m.len());
    let mut child = spawn_hub(paths, exe, unset)?;
    let deadline = Instant::now() + HUB_START_TIMEOUT;
    let mut delay = Duration::from_millis(5);
    loop {
        if let Some(found) = discovery::find_running(paths) {
            return Ok(found);
        }
        // Ours exited: fine if another bridge's hub won the lock, else it failed to start.
        if let Ok(Some(status)) = child.try_wait()
            && !discovery::lock_held(paths)
            && discovery::find_running(paths).is_none()
        {
            return Err(BridgeError::HubExited {
                status,
                log: log_since(&paths.hub_log(), log_start),
            });
        }
        if Instant::now() >= deadline {
            return Err(BridgeError::HubTimeout(HUB_START_TIMEOUT, paths.hub_log()));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Start `exe serve` detached: its own process group, no stdio of ours, output to the hub log.
/// If another bridge won the race, that hub exits at once on the lock and ours is found.
fn spawn_hub(
    paths: &Paths,
    exe: &std::path::Path,
    unset: &[&str],
) -> Result<std::process::Child, BridgeError> {
    let spawn_error = |source| BridgeError::SpawnHub {
        exe: exe.to_owned(),
        source,
    };
    fs_err::create_dir_all(&paths.log_dir).map_err(spawn_error)?;
    let log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.hub_log())
        .map_err(spawn_error)?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log.into_parts().0);
    for name in unset {
        command.env_remove(name);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    // Watched only while it starts; once it serves, it outlives us and init reaps it.
    #[cfg(windows)]
    return spawn_detached_windows(&mut command).map_err(spawn_error);
    #[cfg(not(windows))]
    command.spawn().map_err(spawn_error)
}

/// Windows: the hub gets no console window and is not in the client's console process group
/// (a Ctrl+C there is not the hub's), and it leaves the client's job object when the job
/// allows that, so closing the client does not end the hub the other clients share. A job
/// that forbids breaking away refuses the spawn (access denied); the hub then starts inside it.
#[cfg(windows)]
fn spawn_detached_windows(
    command: &mut std::process::Command,
) -> std::io::Result<std::process::Child> {
    use std::os::windows::process::CommandExt;
    use windows::Win32::System::Threading::{
        CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW,
    };
    const ACCESS_DENIED: i32 = 5;
    let flags = CREATE_NEW_PROCESS_GROUP.0 | CREATE_NO_WINDOW.0;
    command.creation_flags(flags | CREATE_BREAKAWAY_FROM_JOB.0);
    match command.spawn() {
        Err(err) if err.raw_os_error() == Some(ACCESS_DENIED) => {
            command.creation_flags(flags);
            command.spawn()
        }
        spawned => spawned,
    }
}

/// What the hub wrote to its log after byte `start` (at most the last 4 KiB).
fn log_since(path: &std::path::Path, start: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let tail = bytes.get(start as usize..).unwrap_or_default();
    let tail = &tail[tail.len().saturating_sub(4096)..];
    String::from_utf8_lossy(tail).trim_end().to_owned()
}

/// The session with the hub, shared by the per-message tasks.
struct Session {
    paths: Paths,
    exe: PathBuf,
    http: reqwest::Client,
    link: Mutex<HubLink>,
    profile: Option<String>,
    out: mpsc::UnboundedSender<String>,
    /// The hub has answered at least once; from then on, a refusal means it went away.
    reached: AtomicBool,
    /// How long a message is resent while the hub has never answered.
    first_contact: Duration,
}

/// What a request to the hub needs; replaced whole when the bridge reconnects.
#[derive(Clone, Default)]
struct HubLink {
    url: String,
    secret: Option<Arc<Secret>>,
    session_id: Option<String>,
    protocol_version: Option<String>,
    /// The client's `initialize`, replayed on reconnect.
    initialize: Option<String>,
    /// Whether the client sent `notifications/initialized` (then it is replayed too).
    initialized: bool,
    /// Bumped on every reconnect, so concurrent failures reconnect once.
    generation: u64,
}

/// The outcome of one POST.
enum Posted {
    /// Answered; for `initialize`, what the answer set up.
    Done {
        session_id: Option<String>,
        protocol_version: Option<String>,
    },
    /// The hub is gone (connection refused) or forgot our session (404).
    HubGone,
}

/// Run the bridge until stdin closes.
pub async fn run(paths: Paths, options: BridgeOptions) -> Result<(), BridgeError> {
    run_on(paths, options, tokio::io::stdin(), tokio::io::stdout()).await
}

/// [`run`] with the client's messages read from `input` and the answers written to `output`,
/// until `input` ends.
pub async fn run_on(
    paths: Paths,
    options: BridgeOptions,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> Result<(), BridgeError> {
    if let Some(profile) = &options.profile {
        let known = crate::config::Config::load(&paths.config_file)
            .is_ok_and(|c| c.profiles.contains_key(profile));
        if !known {
            return Err(BridgeError::NoProfile(profile.clone()));
        }
    }
    let found = ensure_hub(&paths, &options.exe).await?;
    let secret = crate::secret::read(&found.secret_file)
        .map_err(|err| BridgeError::Secret(found.secret_file.clone(), err))?;
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = output;
        while let Some(line) = out_rx.recv().await {
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            if stdout.write_all(&bytes).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let session = Arc::new(Session {
        paths,
        exe: options.exe,
        http: reqwest::Client::builder()
            .no_proxy()
            // Loopback HTTP only: no TLS roots to load (the platform's take milliseconds).
            .tls_certs_only([])
            .tcp_nodelay(true)
            .build()
            .expect("a plain HTTP client builds"),
        link: Mutex::new(HubLink {
            url: endpoint(&found.url, options.profile.as_deref()),
            secret: Some(Arc::new(secret)),
            ..Default::default()
        }),
        profile: options.profile,
        out,
        reached: AtomicBool::new(false),
        first_contact: options.first_contact,
    });

    let mut lines = tokio::io::BufReader::new(input).lines();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(err) => {
                let _ = session.out.send(parse_error(&err.to_string()));
                continue;
            }
        };
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            // Answered before anything else is sent; the client waits for it anyway.
            session.link.lock().await.initialize = Some(line.clone());
            session.forward(line, message).await;
            continue;
        }
        let session = session.clone();
        tasks.spawn(async move { session.forward(line, message).await });
        // Reap finished tasks so a long session does not accumulate them.
        while tasks.try_join_next().is_some() {}
    }
    // stdin closed: give in-flight calls a moment, then end the session.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    session.delete().await;
    drop(session);
    let _ = writer.await;
    Ok(())
}

impl Session {
    /// Send one message, reconnecting once if the hub went away. A request that cannot be
    /// delivered is answered with an error so the client never waits forever.
    async fn forward(&self, line: String, message: Value) {
        let id = message.get("id").cloned();
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let is_request = id.is_some() && !method.is_empty();
        // A stateless (2026-07-28) request names its revision itself; the HTTP header must match.
        let own_version = message["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"]
            .as_str()
            .map(str::to_owned);
        let routing = match own_version {
            Some(_) => routing_headers(&message),
            None => Vec::new(),
        };
        let first_contact_until = Instant::now() + self.first_contact;
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(25);
        let mut looked: Option<BridgeError> = None;
        let mut unreached: Option<String> = None;
        loop {
            let mut link = self.link.lock().await.clone();
            if own_version.is_some() {
                link.protocol_version = own_version.clone();
            }
            let posted = post(&self.http, &link, &line, &routing, Some(&self.out)).await;
            if matches!(posted, Ok(Posted::HubGone)) && !self.reached.load(Ordering::Acquire) {
                // Not one answer yet: the hub is coming up, or one stopping still held the lock
                // when we looked. Look again and resend (the hub saw nothing) within the bound.
                let left = first_contact_until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    unreached = Some(format!(
                        "nothing answered at {} within {:?}{}",
                        link.url,
                        self.first_contact,
                        looked
                            .map(|e| format!(
                                " (looking for it again: {})",
                                crate::human::error_chain(&e)
                            ))
                            .unwrap_or_default()
                    ));
                    break;
                }
                tokio::time::sleep(backoff.min(left)).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                looked = self
                    .relocate(link.generation, first_contact_until)
                    .await
                    .err();
                continue;
            }
            match posted {
                Ok(Posted::Done {
                    session_id,
                    protocol_version,
                }) => {
                    self.reached.store(true, Ordering::Release);
                    if method == "initialize" {
                        let mut current = self.link.lock().await;
                        current.session_id = session_id;
                        current.protocol_version = protocol_version;
                    } else if method == "notifications/initialized" {
                        let current = {
                            let mut current = self.link.lock().await;
                            current.initialized = true;
                            current.clone()
                        };
                        open_stream(self.http.clone(), current, self.out.clone());
                    }
                    return;
                }
                Ok(Posted::HubGone) | Err(_) if attempt == 0 && method != "initialize" => {
                    attempt += 1;
                    if let Err(err) = self.reconnect(link.generation).await {
                        tracing::warn!("reconnecting to the hub failed: {err}");
                        break;
                    }
                }
                Ok(Posted::HubGone) | Err(_) => break,
            }
        }
        if is_request {
            let message = match unreached {
                Some(why) => format!(
                    "the Patchbay hub is not reachable: {why}; run `patchbay status` for details, \
                     and see the hub's log at {}",
                    self.paths.hub_log().display()
                ),
                None => {
                    "the Patchbay hub is not reachable; run `patchbay status` for details".into()
                }
            };
            let _ = self
                .out
                .send(error_response(id.unwrap_or(Value::Null), &message));
        }
    }

    /// Find the hub again (starting one if none runs) and send to it from now on, without a
    /// handshake to replay: nothing has reached a hub yet. Only the first task to notice a
    /// failure of one generation looks; the others just resend.
    async fn relocate(&self, seen_generation: u64, until: Instant) -> Result<(), BridgeError> {
        let mut current = self.link.lock().await;
        if current.generation != seen_generation {
            return Ok(());
        }
        let left = until.saturating_duration_since(Instant::now());
        let found = tokio::time::timeout(left, ensure_hub(&self.paths, &self.exe))
            .await
            .map_err(|_| BridgeError::HubTimeout(left, self.paths.hub_log()))??;
        let secret = crate::secret::read(&found.secret_file)
            .map_err(|err| BridgeError::Secret(found.secret_file.clone(), err))?;
        current.url = endpoint(&found.url, self.profile.as_deref());
        current.secret = Some(Arc::new(secret));
        current.generation += 1;
        Ok(())
    }

    /// Find or start the hub again and replay the handshake on a new session. Only the first
    /// task to notice a failure of one generation reconnects; the others just retry.
    async fn reconnect(&self, seen_generation: u64) -> Result<(), BridgeError> {
        let mut current = self.link.lock().await;
        if current.generation != seen_generation {
            return Ok(());
        }
        let found = ensure_hub(&self.paths, &self.exe).await?;
        let secret = crate::secret::read(&found.secret_file)
            .map_err(|err| BridgeError::Secret(found.secret_file.clone(), err))?;
        let mut fresh = HubLink {
            url: endpoint(&found.url, self.profile.as_deref()),
            secret: Some(Arc::new(secret)),
            session_id: None,
            protocol_version: current.protocol_version.clone(),
            initialize: current.initialize.clone(),
            initialized: current.initialized,
            generation: current.generation + 1,
        };
        if let Some(init) = &fresh.initialize {
            // The replayed handshake's answers are for us, not the client.
            if let Ok(Posted::Done {
                session_id,
                protocol_version,
            }) = post(&self.http, &fresh, init, &[], None).await
            {
                fresh.session_id = session_id;
                fresh.protocol_version = protocol_version.or(fresh.protocol_version);
            }
            if fresh.initialized {
                let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
                let _ = post(&self.http, &fresh, note, &[], None).await;
                open_stream(self.http.clone(), fresh.clone(), self.out.clone());
            }
        }
        *current = fresh;
        Ok(())
    }

    /// End the session at the hub (best effort).
    async fn delete(&self) {
        let link = self.link.lock().await.clone();
        if link.session_id.is_some() && link.secret.is_some() {
            let request = authorized(self.http.delete(&link.url), &link);
            let _ = request.timeout(Duration::from_secs(1)).send().await;
        }
    }
}

/// The bearer secret and, once there are any, the session and protocol-version headers.
fn authorized(mut request: reqwest::RequestBuilder, link: &HubLink) -> reqwest::RequestBuilder {
    if let Some(secret) = &link.secret {
        request = request.bearer_auth(secret.expose());
    }
    if let Some(id) = &link.session_id {
        request = request.header("mcp-session-id", id);
    }
    if let Some(version) = &link.protocol_version {
        request = request.header("mcp-protocol-version", version);
    }
    request
}

/// The headers a stateless (2026-07-28) message carries beside its body (SEP-2243): its method
/// and, for a call, a prompt or a read, the name or URI it is about. A value that cannot travel
/// as a bare header value (not printable ASCII, spaces at an end, or looking like the escape
/// itself) goes as `=?base64?...?=`.
fn routing_headers(message: &Value) -> Vec<(&'static str, String)> {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut headers = vec![("mcp-method", header_value(method))];
    let name = match method {
        "tools/call" | "prompts/get" => message["params"]["name"].as_str(),
        "resources/read" => message["params"]["uri"].as_str(),
        _ => None,
    };
    if let Some(name) = name {
        headers.push(("mcp-name", header_value(name)));
    }
    headers
}

fn header_value(value: &str) -> String {
    use base64::Engine;
    const OPEN: &str = "=?base64?";
    const CLOSE: &str = "?=";
    let plain = value.chars().all(|c| (' '..='~').contains(&c))
        && value.trim_matches([' ', '\t']) == value
        && !(value.starts_with(OPEN) && value.ends_with(CLOSE));
    match plain {
        true => value.to_owned(),
        false => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            format!("{OPEN}{encoded}{CLOSE}")
        }
    }
}

/// POST one message (with `headers` beside the session's); every message the hub answers with
/// goes to `sink` (none: discarded).
async fn post(
    http: &reqwest::Client,
    link: &HubLink,
    line: &str,
    headers: &[(&'static str, String)],
    sink: Option<&mpsc::UnboundedSender<String>>,
) -> Result<Posted, reqwest::Error> {
    let mut request = http
        .post(&link.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(line.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = authorized(request, link);
    let response = match request.send().await {
        Ok(r) => r,
        Err(err) if err.is_connect() => return Ok(Posted::HubGone),
        Err(err) => return Err(err),
    };
    if response.status() == reqwest::StatusCode::NOT_FOUND && link.session_id.is_some() {
        return Ok(Posted::HubGone);
    }
    let session_id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let mut protocol_version = None;
    let mut deliver = |data: String| {
        if protocol_version.is_none()
            && data.contains("\"protocolVersion\"")
            && let Ok(value) = serde_json::from_str::<Value>(&data)
        {
            protocol_version = value["result"]["protocolVersion"]
                .as_str()
                .map(str::to_owned);
        }
        if let Some(sink) = sink {
            let _ = sink.send(one_line(data));
        }
    };
    if is_sse {
        let mut events = crate::sse::Reader::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            for event in events.feed(&chunk?) {
                deliver(event.data);
            }
        }
    } else {
        let body = response.bytes().await?;
        if !body.is_empty() {
            deliver(String::from_utf8_lossy(&body).into_owned());
        }
    }
    Ok(Posted::Done {
        session_id,
        protocol_version,
    })
}

/// The GET stream for what the hub sends unprompted (`list_changed`, logs). It ends with its
/// session; after a reconnect a new one is opened for the new session.
fn open_stream(http: reqwest::Client, link: HubLink, out: mpsc::UnboundedSender<String>) {
    if link.session_id.is_none() || link.secret.is_none() {
        return;
    }
    tokio::spawn(async move {
        let request = authorized(http.get(&link.url), &link).header("accept", "text/event-stream");
        let Ok(response) = request.send().await else {
            return;
        };
        if !response.status().is_success() {
            return;
        }
        let mut events = std::pin::pin!(crate::sse::events(response.bytes_stream()));
        while let Some(Ok(event)) = events.next().await {
            let _ = out.send(one_line(event.data));
        }
    });
}

/// One message per line: compact a multi-line JSON text.
fn one_line(data: String) -> String {
    if !data.contains('\n') {
        return data;
    }
    serde_json::from_str::<Value>(&data)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| data.replace('\n', " "))
}

fn error_response(id: Value, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32603, "message": message }
    })
    .to_string()
}

fn parse_error(detail: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": format!("parse error: {detail}") }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_messages_carry_their_method_and_name_as_headers() {
        let call = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "a__echo", "arguments": {} } });
        assert_eq!(
            routing_headers(&call),
            [
                ("mcp-method", "tools/call".to_owned()),
                ("mcp-name", "a__echo".to_owned())
            ]
        );
        let read = serde_json::json!({ "id": 2, "method": "resources/read",
            "params": { "uri": "file:///café" } });
        assert_eq!(
            routing_headers(&read)[1],
            ("mcp-name", "=?base64?ZmlsZTovLy9jYWbDqQ==?=".to_owned()),
            "a value that is not printable ASCII goes in base64"
        );
        let discover = serde_json::json!({ "id": 3, "method": "server/discover", "params": {} });
        assert_eq!(
            routing_headers(&discover),
            [("mcp-method", "server/discover".to_owned())]
        );
        assert!(routing_headers(&serde_json::json!({ "id": 4, "result": {} })).is_empty());
        for odd in [" padded", "=?base64?x?=", "line\nbreak"] {
            assert!(header_value(odd).starts_with("=?base64?"), "{odd:?}");
        }
    }

    #[test]
    fn multi_line_json_is_sent_as_one_line() {
        assert_eq!(one_line("{\"b\":\n2}".to_owned()), "{\"b\":2}");
        assert_eq!(one_line("{\"a\":1}".to_owned()), "{\"a\":1}");
    }
}
