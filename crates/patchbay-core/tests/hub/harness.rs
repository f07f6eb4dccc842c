//! The hub under test, started in this process, and the clients that talk to it.
//!
//! A [`Home`] is one installation in a temporary directory: its `config.toml` and the event logs
//! of its test servers. [`Home::start`] runs the hub on it (`serve` on 127.0.0.1, port 0) and
//! returns once the hub published its discovery. Tests reach the hub only as a client would:
//! MCP over its Streamable HTTP endpoint ([`Hub::client`]), the control API and raw HTTP
//! ([`Hub::http`]), with the bearer secret from the file the discovery names.
//!
//! Every wait is bounded ([`eventually`], [`WAIT`]). [`Hub::stop`] cancels the hub, awaits
//! `serve`, and checks that no server process it ran is left; a hub dropped without it (a
//! failed test) is cancelled, and its children die with the test's runtime.
//!
//! This is the only file that names items of `patchbay_core`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_core::discovery::Discovery;
use patchbay_core::paths::Paths;
use patchbay_core::serve::{ServeOptions, serve};
use rmcp::model::*;
use rmcp::service::{
    NotificationContext, PeerRequestOptions, RequestContext, RequestHandle, RoleClient,
    RunningService, ServiceExt,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, Peer, ServiceError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The stdio MCP server the hub runs in these tests (`src/bin/patchbay-test-server.rs`).
pub const TEST_SERVER: &str = env!("CARGO_BIN_EXE_patchbay-test-server");

/// The bound of every wait for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Poll `probe` until it gives a value, at most `WAIT`; else fail the test saying `what`.
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {WAIT:?} in vain: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// `future`, or a test failure saying `what` once `WAIT` has passed.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("waited {WAIT:?} in vain: {what}"),
    }
}

/// Whether `pid` names a live process (a zombie counts as gone). Unix only: on Windows the
/// tests leave process lifetimes to the job object the hub puts each server in.
#[cfg(unix)]
pub fn alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X']))
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
    }
}

/// Wait until process `pid` has exited, saying `what` if it does not.
#[cfg(unix)]
pub async fn wait_gone(pid: u32, what: &str) {
    eventually(what, async || (!alive(pid)).then_some(())).await;
}

/// SIGKILL `pid`, as a crash would end it.
#[cfg(unix)]
pub fn kill(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL).expect("SIGKILL is delivered");
}

/// One installation in a temporary directory.
#[derive(Clone)]
pub struct Home {
    dir: Arc<tempfile::TempDir>,
}

impl Home {
    /// An installation with this `config.toml`.
    pub fn new(config: &str) -> Self {
        let home = Self {
            dir: Arc::new(tempfile::tempdir().expect("a temporary directory")),
        };
        home.write_config(config);
        home
    }

    fn paths(&self) -> Paths {
        Paths::under(self.dir.path())
    }

    /// Replace `config.toml` at once (write aside, then rename), as an editor saving it would.
    pub fn write_config(&self, text: &str) {
        let file = self.paths().config_file;
        let aside = file.with_extension("toml.new");
        std::fs::write(&aside, text).expect("the config is written");
        std::fs::rename(&aside, &file).expect("the config is replaced");
    }

    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.paths().config_file
    }

    /// Where bundles are unpacked (`bundles/`).
    pub fn bundle_dir(&self) -> PathBuf {
        self.paths().bundle_dir
    }

    /// Where test server `name` logs its events (`--log`).
    pub fn events_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.events"))
    }

    /// The events test server `name` logged so far, one a line.
    pub fn events(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.events_file(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A `[servers.NAME]` table running the test server as `--name NAME` with its event log,
    /// with more arguments and more TOML lines (`start = "lazy"`).
    pub fn server_with(&self, name: &str, args: &[&str], more: &str) -> String {
        let events = self.events_file(name).display().to_string();
        let mut argv = vec!["--name", name, "--log", &events];
        argv.extend(args);
        let args: Vec<String> = argv.iter().map(|a| toml_string(a)).collect();
        format!(
            "[servers.{name}]\ncommand = {}\nargs = [{}]\n{more}\n",
            toml_string(TEST_SERVER),
            args.join(", ")
        )
    }

    /// A `[servers.NAME]` table running the test server as `--name NAME` (eager).
    pub fn server(&self, name: &str) -> String {
        self.server_with(name, &[], "")
    }

    /// Run the hub on this installation until [`Hub::stop`].
    pub async fn start(&self) -> Hub {
        let shutdown = CancellationToken::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let options = ServeOptions { port: Some(0) };
        let ready = move |discovery: &Discovery| {
            let found = (
                discovery.url.clone(),
                discovery.port,
                discovery.secret_file.clone(),
            );
            let _ = ready_tx.send(found);
        };
        let served = serve(self.paths(), options, shutdown.clone(), ready);
        let task = tokio::spawn(async move { served.await.map_err(|err| err.to_string()) });
        let Ok(Ok((url, port, secret_file))) = tokio::time::timeout(WAIT, ready_rx).await else {
            shutdown.cancel();
            let outcome = tokio::time::timeout(WAIT, task).await;
            panic!("the hub did not come up within {WAIT:?}: {outcome:?}");
        };
        let secret = std::fs::read_to_string(&secret_file)
            .expect("the secret file the discovery names is readable")
            .trim()
            .to_owned();
        Hub {
            home: self.clone(),
            url,
            port,
            secret,
            http: reqwest::Client::builder()
                .timeout(WAIT)
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
            shutdown,
            task: Some(task),
        }
    }
}

/// A string as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A running hub.
pub struct Hub {
    /// Its installation.
    pub home: Home,
    /// Its MCP endpoint, as the discovery says.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// The bearer secret.
    pub secret: String,
    /// A plain HTTP client (no pooled connections: each request on its own).
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Hub {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A client session (2025-11-25 handshake) that records what the hub sends it.
    pub async fn client(&self) -> Client {
        self.client_with(Recorder::default()).await
    }

    /// A client session with this handler.
    pub async fn client_with(&self, recorder: Recorder) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.clone())
            .auth_header(self.secret.clone());
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        let seen = recorder.seen.clone();
        let service = bounded("the MCP handshake with the hub", recorder.serve(transport))
            .await
            .expect("the hub accepts an MCP session");
        Client { service, seen }
    }

    /// `GET /api/v1/PATH` with the bearer: the JSON answer.
    pub async fn api(&self, path: &str) -> Value {
        let response = self
            .http
            .get(self.at(&format!("/api/v1/{path}")))
            .bearer_auth(&self.secret)
            .send()
            .await
            .expect("the control API answers");
        assert_eq!(response.status(), 200, "GET /api/v1/{path}");
        response.json().await.expect("the control API answers JSON")
    }

    /// `POST /api/v1/PATH` with the bearer: the status and the JSON answer.
    pub async fn api_post(&self, path: &str) -> (u16, Value) {
        self.post_api(path, None).await
    }

    /// `POST /api/v1/PATH` with the bearer and a JSON `body`: the status and the JSON answer.
    pub async fn api_post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_api(path, Some(body)).await
    }

    async fn post_api(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request =
            (self.http.post(self.at(&format!("/api/v1/{path}")))).bearer_auth(&self.secret);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the control API answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.expect("the control API answers JSON"),
        )
    }

    /// Server `name`'s status (`state`, `pid`, `restarts`, `tools`, `last_error`, ...).
    pub async fn status_of(&self, name: &str) -> Value {
        let status = self.api("status").await;
        status["servers"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("server `{name}` is in the status: {status}"))
    }

    /// Wait until server `name`'s status passes `test`; that status.
    pub async fn wait_status(
        &self,
        name: &str,
        what: &str,
        test: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(&format!("server `{name}` {what}"), async || {
            let status = self.status_of(name).await;
            test(&status).then_some(status)
        })
        .await
    }

    /// Wait until every named server runs with its tools listed; their pids.
    pub async fn wait_running(&self, names: &[&str]) -> Vec<u32> {
        let mut pids = Vec::new();
        for name in names {
            let status = self
                .wait_status(name, "is running with tools", |s| {
                    s["state"] == "running" && s["tools"].as_u64() > Some(0)
                })
                .await;
            pids.push(pid_of(&status));
        }
        pids
    }

    /// Cancel the hub, await `serve` (bounded) and check that it ended cleanly and that none of
    /// the server processes it was running is left.
    pub async fn stop(mut self) {
        let status = self.api("status").await;
        let pids: Vec<u32> = status["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["pid"].as_u64())
            .map(|p| p as u32)
            .collect();
        self.shutdown.cancel();
        let task = self.task.take().expect("a hub is stopped once");
        let served = bounded("the hub stops", task).await;
        served
            .expect("the hub's task did not panic")
            .expect("serve ends without an error");
        #[cfg(unix)]
        for pid in pids {
            wait_gone(
                pid,
                &format!("server process {pid} of the stopped hub exits"),
            )
            .await;
        }
        #[cfg(not(unix))]
        let _ = pids;
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The pid in a server's status.
pub fn pid_of(status: &Value) -> u32 {
    status["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("a running server has a pid: {status}")) as u32
}

/// What a client was sent by the hub, and how it answers the hub's requests.
#[derive(Clone, Default)]
pub struct Recorder {
    /// What it saw.
    pub seen: Arc<Seen>,
    /// The text of its answer to `sampling/createMessage` (a sampling client when set).
    pub sampling_answer: Option<String>,
    /// The content it accepts an elicitation with (declines when unset).
    pub elicit_answer: Option<Value>,
    /// The URIs of its roots.
    pub roots: Vec<String>,
}

/// What a client saw.
#[derive(Default)]
pub struct Seen {
    /// Progress notifications, in arrival order.
    pub progress: Mutex<Vec<ProgressNotificationParam>>,
    /// `notifications/tools/list_changed` received.
    pub tools_changed: AtomicUsize,
    /// The prompts of sampling requests it was asked.
    pub sampled: Mutex<Vec<String>>,
    /// The messages of elicitation requests it was asked.
    pub elicited: Mutex<Vec<String>>,
    /// `roots/list` requests it answered.
    pub roots_asked: AtomicUsize,
    /// Log messages (`notifications/message`), as their params, in arrival order.
    pub logs: Mutex<Vec<Value>>,
    /// The URIs of `notifications/resources/updated`, in arrival order.
    pub updated: Mutex<Vec<String>>,
}

impl Seen {
    /// How many `tools/list_changed` arrived.
    pub fn tools_changed(&self) -> usize {
        self.tools_changed.load(Ordering::SeqCst)
    }

    /// The progress notifications so far.
    pub fn progress(&self) -> Vec<ProgressNotificationParam> {
        self.progress.lock().expect("progress lock").clone()
    }

    /// The log messages so far.
    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().expect("logs lock").clone()
    }
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid protocol value")
}

#[expect(
    deprecated,
    reason = "sampling, roots and logging are what 2025-11-25 servers send"
)]
impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(capabilities, Implementation::new("patchbay-hub-tests", "0"))
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let asked = serde_json::to_value(&params.messages).unwrap_or_default();
        let prompt = asked[0]["content"]["text"].as_str().unwrap_or_default();
        self.seen
            .sampled
            .lock()
            .expect("sampled lock")
            .push(prompt.to_owned());
        let Some(answer) = &self.sampling_answer else {
            return Err(ErrorData::method_not_found::<CreateMessageRequestMethod>());
        };
        Ok(from_json(json!({
            "role": "assistant",
            "content": { "type": "text", "text": answer },
            "model": "test-model",
        })))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let asked = serde_json::to_value(&request).unwrap_or_default();
        let message = asked["message"].as_str().unwrap_or_default().to_owned();
        self.seen
            .elicited
            .lock()
            .expect("elicited lock")
            .push(message);
        Ok(match &self.elicit_answer {
            Some(content) => from_json(json!({ "action": "accept", "content": content })),
            None => from_json(json!({ "action": "decline" })),
        })
    }

    async fn list_roots(
        &self,
        _: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        self.seen.roots_asked.fetch_add(1, Ordering::SeqCst);
        Ok(ListRootsResult::new(
            self.roots.iter().map(Root::new).collect(),
        ))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.seen
            .progress
            .lock()
            .expect("progress lock")
            .push(params);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let params = serde_json::to_value(params).unwrap_or_default();
        self.seen.logs.lock().expect("logs lock").push(params);
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.seen.tools_changed.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.seen
            .updated
            .lock()
            .expect("updated lock")
            .push(params.uri);
    }
}

/// A client session with the hub.
pub struct Client {
    service: RunningService<RoleClient, Recorder>,
    /// What it saw.
    pub seen: Arc<Seen>,
}

impl std::ops::Deref for Client {
    type Target = Peer<RoleClient>;

    fn deref(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }
}

/// `{"k": v}` arguments as the object a call takes.
pub fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("arguments are an object")
}

/// The text of a result's text content, joined.
pub fn text_of(result: &CallToolResult) -> String {
    let content = serde_json::to_value(&result.content).unwrap_or_default();
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect()
}

impl Client {
    /// `tools/call` of `tool` with `arguments` (bounded).
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments));
        bounded(&format!("an answer to `{tool}`"), self.call_tool(params)).await
    }

    /// Send a `tools/call` and return at once with its handle (its id and progress token); the
    /// answer is `handle.await_response()`.
    pub async fn start_call(&self, tool: &str, arguments: Value) -> RequestHandle<RoleClient> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments));
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let options = PeerRequestOptions::no_options();
        bounded(
            "sending a request",
            self.send_request_with_option(request, options),
        )
        .await
        .expect("the request is sent")
    }

    /// The text answer of a call that must succeed.
    pub async fn call_text(&self, tool: &str, arguments: Value) -> String {
        let result = self
            .call(tool, arguments)
            .await
            .unwrap_or_else(|err| panic!("`{tool}` failed: {err}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "`{tool}` answered an error: {result:?}"
        );
        text_of(&result)
    }

    /// The exposed names of every tool listed.
    pub async fn tool_names(&self) -> BTreeSet<String> {
        let tools = bounded("tools/list", self.list_all_tools())
            .await
            .expect("tools/list succeeds");
        tools.into_iter().map(|t| t.name.to_string()).collect()
    }

    /// End the session (bounded).
    pub async fn close(self) {
        let _ = bounded("the client session closes", self.service.cancel()).await;
    }
}

/// The repository's root, two levels above this crate.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the crate is two levels below the repository")
}

/// A hub running the test server once per name (eager), each one up with its tools listed.
pub async fn hub_with(names: &[&str]) -> Hub {
    let home = Home::new("");
    let config: String = names.iter().map(|n| home.server(n)).collect();
    home.write_config(&config);
    let hub = home.start().await;
    hub.wait_running(names).await;
    hub
}
