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
//!   for. The hub restarted (connection refused, or 404 for an unknown session): the bridge
//!   finds or starts the hub again, replays `initialize` and `initialized`, and retries once.
//!   A request that still fails is answered with a JSON-RPC error, so the client never hangs.
//! - stdin closed: the session is deleted and the bridge exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

use crate::discovery::{self, Discovery};
use crate::paths::Paths;
use crate::secret::Secret;

/// How long to wait for a hub the bridge started.
pub const HUB_START_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// The secret could not be read.
    #[error("cannot read the hub's secret at {}", .0.display())]
    Secret(PathBuf, #[source] std::io::Error),
    /// Reading stdin or writing stdout failed.
    #[error("stdio failed")]
    Io(#[from] std::io::Error),
}

/// Where to find or how to start the hub.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The `patchbay` executable used to start a hub (normally the current one).
    pub exe: PathBuf,
}

/// Find the running hub, or start one in the background and wait for it.
pub async fn ensure_hub(paths: &Paths, exe: &std::path::Path) -> Result<Discovery, BridgeError> {
    if let Some(found) = discovery::find_running(paths) {
        return Ok(found);
    }
    spawn_hub(paths, exe)?;
    let deadline = Instant::now() + HUB_START_TIMEOUT;
    let mut delay = Duration::from_millis(5);
    loop {
        if let Some(found) = discovery::find_running(paths) {
            return Ok(found);
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
fn spawn_hub(paths: &Paths, exe: &std::path::Path) -> Result<(), BridgeError> {
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
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    // The child is reaped by init once we exit; we never wait for it.
    command.spawn().map(drop).map_err(spawn_error)
}

/// The session with the hub, shared by the per-message tasks.
struct Session {
    paths: Paths,
    exe: PathBuf,
    http: reqwest::Client,
    hub: Mutex<HubLink>,
    out: mpsc::UnboundedSender<String>,
}

#[derive(Clone, Default)]
struct HubLink {
    url: String,
    secret: Option<Arc<Secret>>,
    session_id: Option<String>,
    protocol_version: Option<String>,
    initialize: Option<String>,
    initialized: bool,
    generation: u64,
}

/// Run the bridge until stdin closes.
pub async fn run(paths: Paths, options: BridgeOptions) -> Result<(), BridgeError> {
    let found = ensure_hub(&paths, &options.exe).await?;
    let secret = crate::secret::read(&found.secret_file)
        .map_err(|err| BridgeError::Secret(found.secret_file.clone(), err))?;
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
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
            .tcp_nodelay(true)
            .build()
            .expect("a plain HTTP client builds"),
        hub: Mutex::new(HubLink {
            url: found.url,
            secret: Some(Arc::new(secret)),
            ..Default::default()
        }),
        out,
    });

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
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
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if method == "initialize" {
            // Answered before anything else is sent; the client waits for it anyway.
            session.hub.lock().await.initialize = Some(line.clone());
            session.clone().forward(line, message).await;
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

enum Sent {
    Done,
    HubGone,
}

impl Session {
    /// Send one message, reconnecting once if the hub went away.
    async fn forward(self: Arc<Self>, line: String, message: Value) {
        let id = message.get("id").cloned();
        let is_request = id.is_some() && message.get("method").is_some();
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for attempt in 0..2 {
            let generation = self.hub.lock().await.generation;
            match self.post(&line, method).await {
                Ok(Sent::Done) => {
                    if method == "notifications/initialized" {
                        self.clone().open_stream(generation);
                    }
                    return;
                }
                Ok(Sent::HubGone) | Err(_) if attempt == 0 && method != "initialize" => {
                    if let Err(err) = self.reconnect(generation).await {
                        tracing::warn!("reconnecting to the hub failed: {err}");
                        break;
                    }
                }
                Ok(Sent::HubGone) | Err(_) => break,
            }
        }
        if is_request {
            let _ = self.out.send(error_response(
                id.unwrap_or(Value::Null),
                "the Patchbay hub is not reachable; run `patchbay status` for details",
            ));
        }
    }

    async fn post(&self, line: &str, method: &str) -> Result<Sent, reqwest::Error> {
        let link = self.hub.lock().await.clone();
        let mut request = self
            .http
            .post(&link.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(line.to_owned());
        if let Some(secret) = &link.secret {
            request = request.bearer_auth(secret.expose());
        }
        if let Some(id) = &link.session_id {
            request = request.header("mcp-session-id", id);
        }
        if let Some(version) = &link.protocol_version {
            request = request.header("mcp-protocol-version", version);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(err) if err.is_connect() => return Ok(Sent::HubGone),
            Err(err) => return Err(err),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND && link.session_id.is_some() {
            return Ok(Sent::HubGone);
        }
        if method == "initialize" {
            let mut hub = self.hub.lock().await;
            hub.session_id = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if is_sse {
            let mut events = SseParser::default();
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                for data in events.feed(&chunk?) {
                    self.deliver(method, data).await;
                }
            }
        } else {
            let body = response.bytes().await?;
            if !body.is_empty() {
                self.deliver(method, String::from_utf8_lossy(&body).into_owned())
                    .await;
            }
        }
        Ok(Sent::Done)
    }

    /// Write one message to the client, noting the negotiated version on `initialize`.
    async fn deliver(&self, method: &str, data: String) {
        if method == "initialize"
            && let Ok(value) = serde_json::from_str::<Value>(&data)
            && let Some(v) = value["result"]["protocolVersion"].as_str()
        {
            self.hub.lock().await.protocol_version = Some(v.to_owned());
        }
        let _ = self.out.send(one_line(data));
    }

    /// The GET stream for messages the hub sends unprompted. Ends with its session.
    fn open_stream(self: Arc<Self>, generation: u64) {
        tokio::spawn(async move {
            let link = self.hub.lock().await.clone();
            let (Some(session_id), Some(secret)) = (link.session_id, link.secret) else {
                return;
            };
            let mut request = self
                .http
                .get(&link.url)
                .header("accept", "text/event-stream")
                .header("mcp-session-id", session_id)
                .bearer_auth(secret.expose());
            if let Some(version) = &link.protocol_version {
                request = request.header("mcp-protocol-version", version);
            }
            let Ok(response) = request.send().await else {
                return;
            };
            if !response.status().is_success() {
                return;
            }
            self.hub.lock().await.initialized = true;
            let mut events = SseParser::default();
            let mut body = response.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                for data in events.feed(&chunk) {
                    let _ = self.out.send(one_line(data));
                }
            }
            // The stream ended: if the session is still current, the hub went away; the next
            // message reconnects. Nothing to do here.
            let _ = generation;
        });
    }

    /// Find or start the hub again and replay the handshake. Only one task reconnects per
    /// generation; the others see the new generation and just retry.
    async fn reconnect(&self, seen_generation: u64) -> Result<(), BridgeError> {
        let mut hub = self.hub.lock().await;
        if hub.generation != seen_generation {
            return Ok(());
        }
        let found = ensure_hub(&self.paths, &self.exe).await?;
        let secret = crate::secret::read(&found.secret_file)
            .map_err(|err| BridgeError::Secret(found.secret_file.clone(), err))?;
        hub.url = found.url;
        hub.secret = Some(Arc::new(secret));
        hub.session_id = None;
        hub.generation += 1;
        let initialize = hub.initialize.clone();
        let was_initialized = hub.initialized;
        let generation = hub.generation;
        drop(hub);
        if let Some(init) = initialize {
            // Replay the client's own initialize; its answer is for us, not the client.
            let replay = Session {
                paths: self.paths.clone(),
                exe: self.exe.clone(),
                http: self.http.clone(),
                hub: Mutex::new(self.hub.lock().await.clone()),
                out: mpsc::unbounded_channel().0,
            };
            let _ = replay.post(&init, "initialize").await;
            let fresh = replay.hub.into_inner();
            let mut hub = self.hub.lock().await;
            hub.session_id = fresh.session_id;
            hub.protocol_version = fresh.protocol_version.or(hub.protocol_version.take());
            drop(hub);
            if was_initialized {
                let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
                let _ = self.post(note, "notifications/initialized").await;
                // Re-open the unprompted stream on the new session.
                let this = Arc::new(Session {
                    paths: self.paths.clone(),
                    exe: self.exe.clone(),
                    http: self.http.clone(),
                    hub: Mutex::new(self.hub.lock().await.clone()),
                    out: self.out.clone(),
                });
                this.open_stream(generation);
            }
        }
        Ok(())
    }

    /// End the session at the hub (best effort).
    async fn delete(&self) {
        let link = self.hub.lock().await.clone();
        if let (Some(id), Some(secret)) = (link.session_id, link.secret) {
            let _ = self
                .http
                .delete(&link.url)
                .header("mcp-session-id", id)
                .bearer_auth(secret.expose())
                .timeout(Duration::from_secs(1))
                .send()
                .await;
        }
    }
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

/// An incremental `text/event-stream` parser yielding each event's data. Events with empty
/// data (resumption primers) are skipped; `id:`, `event:`, `retry:` and comments are ignored.
#[derive(Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    /// Feed bytes; returns the data of every event completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(chunk);
        let mut done = Vec::new();
        while let Some(pos) = self.buffer.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.buffer.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let data = self.data.join("\n");
                    self.data.clear();
                    if !data.is_empty() {
                        done.push(data);
                    }
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks_primers_and_multiline_data() {
        let mut p = SseParser::default();
        let mut out = p.feed(b"id: 1\ndata:\n\nevent: message\ndata: {\"a\":");
        out.extend(p.feed(b"1}\n\n: comment\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\n"));
        assert_eq!(out, ["{\"a\":1}", "{\"b\":\n2}"]);
        assert_eq!(one_line(out[1].clone()), "{\"b\":2}");
    }
}
