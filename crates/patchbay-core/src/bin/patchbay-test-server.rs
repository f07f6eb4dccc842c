//! `patchbay-test-server`: a small stdio MCP server the hub's integration tests run behind the
//! hub (`tests/hub`), so that they need neither Node nor Python.
//!
//! Flags:
//! - `--name NAME`: who this copy is (default `test`): `whoami` answers it, the prompt says it,
//!   and its resources live under `test://NAME/`, so two copies are told apart.
//! - `--log FILE` (or `PATCHBAY_TEST_LOG`): append one line per event the tests check from the
//!   outside (`started slow`, `cancelled slow`, `finished slow`, `crash`).
//! - `--start-delay MS`: sleep before answering anything, as a slow server starts.
//! - `--modern-only`: speak only 2026-07-28: refuse `initialize` (answer `server/discover`), and
//!   ask `elicit`'s question through an `input_required` result, as a modern server must; and
//!   declare the tasks extension (`io.modelcontextprotocol/tasks`): `report` makes a task for a
//!   request that declares it too.
//! - `--ttl MS`, `--private`: its lists carry these cache hints (`ttlMs`,
//!   `cacheScope`: public unless `--private`).
//! - `--app`: also offer an MCP App at `ui://app/view.html`, the same URI in every copy, as
//!   real app servers do: the tool `show_app` names it in its `_meta.ui` (and answers with a
//!   link to it, the same `_meta`, and the client's MCP Apps `mimeTypes`), the app-only tool
//!   `app_refresh` names it in both spellings; the app (listed) names this copy, with a CSP of
//!   its own, and `ui://app/unlisted.html` is readable but not listed.
//! - `--raw`: speak plain JSON-RPC lines instead, without the SDK (see [`raw`]): answers no
//!   revision of the protocol defines, which an SDK would refuse to send (`--name` and `--log`
//!   are taken and unused there).
//! - `--print-answer KIND`: print one answer this server sends and exit, so that a test compares
//!   what a client gets with what the server wrote, from one source: `image` (the `image` tool),
//!   or a raw-mode answer: `tool`, `extras`, `prompt`, `resource`, `tools` (its `tools/list`).
//!
//! Tools: `echo {text}` answers `text`; `add {a, b}` the sum; `whoami` the name; `slow {ms,
//! steps}` sleeps `ms` in `steps` steps with a progress notification after each when the call
//! has a progress token, and logs `cancelled slow` when the call is cancelled; `crash` exits the
//! process mid-call; `add_tool {name}` adds a tool (which answers `NAME called`) and sends
//! `notifications/tools/list_changed` (to a session, and on each `subscriptions/listen` stream); `sample {prompt}` asks the client `sampling/createMessage`
//! and answers the reply's text; `elicit {message}` asks `elicitation/create` and answers
//! `ACTION CONTENT`; `roots` asks `roots/list` and answers the URIs, one a line (each of the three logs `TOOL
//! failed` when the client's answer is an error); `structured`
//! answers structured content (members deliberately unsorted) and its text mirror; `log {level,
//! logger, data}` sends `notifications/message` with those (`logger` when given); `image`
//! answers image content with annotations, and a text; `report {topic}` answers `report on
//! TOPIC`, or (`--modern-only`, the request declaring tasks) makes a task `report-N` (logged
//! `made task report-N`) that soon asks `which` (an elicitation, seen in `tasks/get`) and ends,
//! after `tasks/update` answers it, with `report on TOPIC: CONTENT`; `tasks/cancel` ends it
//! (logged `cancelled task report-N`).
//! Prompt: `greet {name}`. Resources: `test://NAME/readme` and the template
//! `test://NAME/items/{id}`; a subscription (`resources/subscribe`, logged `subscribed to URI`,
//! or a `subscriptions/listen` naming it, logged `listened to URI`) gets three updates of it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer, ServiceExt};
use rmcp::{ErrorData, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The app every `--app` copy offers, and one it does not list.
const APP: &str = "ui://app/view.html";
const UNLISTED_APP: &str = "ui://app/unlisted.html";
/// MCP Apps' extension and content type.
const APPS: &str = "io.modelcontextprotocol/ui";
const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";

struct TestServer {
    name: String,
    /// Whether this copy offers an app (`--app`).
    app: bool,
    /// Whether it speaks only 2026-07-28 (`--modern-only`).
    modern_only: bool,
    /// Cache hints on its lists (`--ttl MS`, `--private`).
    ttl_ms: Option<u64>,
    private: bool,
    /// Its clients' `subscriptions/listen` streams (2026-07-28).
    listeners: Arc<Mutex<Vec<rmcp::service::SubscriptionSink>>>,
    log: Option<std::path::PathBuf>,
    /// Tools added at run time by `add_tool`.
    added: Arc<Mutex<Vec<String>>>,
    /// The tasks `report` made (2026-07-28 tasks extension), by id, with their topics.
    tasks: Arc<Mutex<HashMap<String, Made>>>,
}

/// A task `report` made: where it stands, and its topic.
#[derive(Clone)]
struct Made {
    task: Task,
    payload: TaskPayload,
    topic: String,
}

/// When every task here was made and changed: the tests read order, not time.
const TASK_TIME: &str = "2026-12-07T00:00:00Z";

/// A protocol value from its JSON form: the wire shape is the stable part of the model.
fn from_json<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid protocol value")
}

fn tool(name: &str, description: &str, properties: Value) -> Tool {
    from_json(json!({
        "name": name,
        "description": description,
        "inputSchema": { "type": "object", "properties": properties },
    }))
}

fn text(answer: impl Into<String>) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(answer)]).into())
}

impl TestServer {
    /// The `cacheScope` its lists carry with a `ttlMs`.
    fn cache_scope(&self) -> Option<CacheScope> {
        self.ttl_ms.map(|_| match self.private {
            true => CacheScope::Private,
            false => CacheScope::Public,
        })
    }

    fn note(&self, line: &str) {
        if let Some(path) = &self.log {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the log file opens");
            writeln!(file, "{line}").expect("the log file takes a line");
        }
    }

    fn tools(&self) -> Vec<Tool> {
        let s = json!({ "type": "string" });
        let n = json!({ "type": "number" });
        let mut tools = vec![
            tool("echo", "Answers its text", json!({ "text": s })),
            tool("add", "Answers a + b", json!({ "a": n, "b": n })),
            tool("whoami", "Answers this server's --name", json!({})),
            tool(
                "slow",
                "Sleeps ms in steps, with progress",
                json!({ "ms": n, "steps": n }),
            ),
            tool("crash", "Exits the process mid-call", json!({})),
            tool("add_tool", "Adds a tool named `name`", json!({ "name": s })),
            tool(
                "sample",
                "Asks the client to sample",
                json!({ "prompt": s }),
            ),
            tool(
                "elicit",
                "Asks the client for input",
                json!({ "message": s }),
            ),
            tool("roots", "Asks the client for its roots", json!({})),
            tool("structured", "Answers structured content", json!({})),
            tool(
                "log",
                "Sends a log message",
                json!({ "level": s, "logger": s, "data": {} }),
            ),
            tool("image", "Answers an image with annotations", json!({})),
            tool(
                "report",
                "Writes a report; a task where the client takes one",
                json!({ "topic": s }),
            ),
        ];
        if self.app {
            tools.push(from_json(json!({
                "name": "show_app",
                "description": "Shows this server's app",
                "inputSchema": { "type": "object" },
                "_meta": { "ui": { "resourceUri": APP } },
            })));
            tools.push(from_json(json!({
                "name": "app_refresh",
                "description": "Called by the app only",
                "inputSchema": { "type": "object" },
                "_meta": { "ui": { "resourceUri": APP, "visibility": ["app"] }, "ui/resourceUri": APP },
            })));
        }
        for name in self.added.lock().expect("added lock").iter() {
            tools.push(tool(name, "Added at run time", json!({})));
        }
        tools
    }

    async fn slow(
        &self,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(1000);
        let steps = args
            .get("steps")
            .and_then(Value::as_u64)
            .unwrap_or(4)
            .max(1);
        let token = context.meta.get_progress_token();
        self.note("started slow");
        for step in 1..=steps {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms / steps)) => {}
                _ = context.ct.cancelled() => {
                    self.note("cancelled slow");
                    return Err(ErrorData::internal_error("cancelled", None));
                }
            }
            if let Some(token) = &token {
                let note = ProgressNotificationParam::new(token.clone(), step as f64)
                    .with_total(steps as f64);
                let _ = context.peer.notify_progress(note).await;
            }
        }
        self.note("finished slow");
        text(format!("slept {ms} ms"))
    }

    /// `report`: a task when this server and the request both take one (see the module doc).
    fn report(
        &self,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let topic = args
            .get("topic")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let takes = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if !(self.modern_only && takes) {
            return text(format!("report on {topic}"));
        }
        let mut tasks = self.tasks.lock().expect("tasks lock");
        let id = format!("report-{}", tasks.len() + 1);
        let task = Task::new(&id, TaskStatus::Working, TASK_TIME, TASK_TIME)
            .with_ttl_ms(60_000)
            .with_poll_interval_ms(50);
        let made = Made {
            task: task.clone(),
            payload: TaskPayload::Working,
            topic: topic.to_owned(),
        };
        tasks.insert(id.clone(), made);
        self.note(&format!("made task {id}"));
        // The question comes a moment later, as from work under way.
        let (tasks, at) = (self.tasks.clone(), id);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut tasks = tasks.lock().expect("tasks lock");
            let Some(made) = tasks.get_mut(&at) else {
                return;
            };
            if made.task.status == TaskStatus::Working {
                let question = from_json(json!({
                    "method": "elicitation/create",
                    "params": {
                        "mode": "form",
                        "message": format!("Which {}?", made.topic),
                        "requestedSchema": { "type": "object", "properties": { "which": { "type": "string" } } },
                    },
                }));
                made.task.status = TaskStatus::InputRequired;
                made.payload = TaskPayload::InputRequired {
                    input_requests: InputRequests::from([("which".to_owned(), question)]),
                };
            }
        });
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    /// A task `report` made, changed by `change` (an error for an unknown id).
    fn change_task(
        &self,
        id: &str,
        change: impl FnOnce(&mut Made) -> Result<(), ErrorData>,
    ) -> Result<Made, ErrorData> {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        let made = tasks
            .get_mut(id)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown task `{id}`"), None))?;
        change(made)?;
        Ok(made.clone())
    }

    #[expect(
        deprecated,
        reason = "sampling and roots are what 2025-11-25 clients speak"
    )]
    async fn ask_client(
        &self,
        tool: &str,
        args: &JsonObject,
        peer: &rmcp::Peer<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arg = |key: &str| {
            args.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let failed = |err: rmcp::ServiceError| {
            self.note(&format!("{tool} failed"));
            ErrorData::internal_error(format!("the client failed: {err}"), None)
        };
        match tool {
            "sample" => {
                let params = from_json(json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": arg("prompt") } }],
                    "maxTokens": 16,
                }));
                let answer = peer.create_message(params).await.map_err(failed)?;
                let answer = serde_json::to_value(&answer.message.content).unwrap_or_default();
                text(answer["text"].as_str().unwrap_or_default())
            }
            "elicit" => {
                let params = from_json(json!({
                    "mode": "form",
                    "message": arg("message"),
                    "requestedSchema": { "type": "object", "properties": { "color": { "type": "string" } } },
                }));
                let answer = peer.create_elicitation(params).await.map_err(failed)?;
                let action = serde_json::to_value(&answer.action).unwrap_or_default();
                let content = answer.content.map(|c| c.to_string()).unwrap_or_default();
                text(format!("{} {content}", action.as_str().unwrap_or_default()))
            }
            _ => {
                let roots = peer.list_roots().await.map_err(failed)?;
                let uris: Vec<String> = roots.roots.into_iter().map(|r| r.uri).collect();
                text(uris.join("\n"))
            }
        }
    }
}

/// `elicit` as a 2026-07-28 server asks: the question in an `input_required` result first, the
/// answer (`ACTION CONTENT`) when the retry brings it with this server's own `requestState`.
fn modern_elicit(request: &CallToolRequestParams) -> CallToolResponse {
    const STATE: &str = "test-server-asked";
    let answer = request
        .input_responses
        .as_ref()
        .and_then(|responses| responses.get("color"))
        .filter(|_| request.request_state.as_deref() == Some(STATE));
    if let Some(answer) = answer {
        let action = answer["action"].as_str().unwrap_or_default();
        let content = answer
            .get("content")
            .map(Value::to_string)
            .unwrap_or_default();
        return CallToolResult::success(vec![ContentBlock::text(format!("{action} {content}"))])
            .into();
    }
    let message = request
        .arguments
        .as_ref()
        .and_then(|a| a.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let question = from_json(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": { "type": "object", "properties": { "color": { "type": "string" } } },
        },
    }));
    let questions = InputRequests::from([("color".to_owned(), question)]);
    InputRequiredResult::new(Some(questions), Some(STATE.to_owned())).into()
}

/// The `image` tool's answer: a PNG of one pixel with annotations, and a text.
fn image_answer() -> Value {
    json!({
        "content": [
            {
                "type": "image",
                "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
                "mimeType": "image/png",
                "annotations": { "audience": ["user", "assistant"], "priority": 0.5 },
            },
            { "type": "text", "text": "one pixel", "annotations": { "priority": 1.0 } },
        ],
        "isError": false,
    })
}

#[expect(deprecated, reason = "logging is what 2025-11-25 servers send")]
impl ServerHandler for TestServer {
    fn get_info(&self) -> InitializeResult {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        if self.modern_only {
            let extensions = capabilities.extensions.get_or_insert_default();
            extensions.insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
        }
        InitializeResult::new(capabilities).with_server_info(Implementation::new(
            "patchbay-test-server",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut result = ListToolsResult::with_all_items(self.tools());
        (result.ttl_ms, result.cache_scope) = (self.ttl_ms, self.cache_scope());
        Ok(result)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let made = self.change_task(&request.task_id, |_| Ok(()))?;
        Ok(GetTaskResult::new(DetailedTask::new(
            made.task,
            made.payload,
        )))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = request.task_id.clone();
        self.change_task(&request.task_id, |made| {
            let answer = request.input_responses.get("which");
            let (TaskPayload::InputRequired { .. }, Some(answer)) = (&made.payload, answer) else {
                return Err(ErrorData::invalid_params(
                    "no question waits for `which`",
                    None,
                ));
            };
            let content = answer
                .get("content")
                .map(Value::to_string)
                .unwrap_or_default();
            let done = format!("report on {}: {content}", made.topic);
            let result = CallToolResult::success(vec![ContentBlock::text(done)]);
            let Ok(Value::Object(result)) = serde_json::to_value(result) else {
                return Err(ErrorData::internal_error("a result is an object", None));
            };
            made.task.status = TaskStatus::Completed;
            made.payload = TaskPayload::Completed { result };
            Ok(())
        })?;
        self.note(&format!("updated task {id}"));
        Ok(())
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.change_task(&request.task_id, |made| {
            made.task.status = TaskStatus::Cancelled;
            made.payload = TaskPayload::Cancelled;
            Ok(())
        })?;
        self.note(&format!("cancelled task {}", request.task_id));
        Ok(())
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        match self.modern_only {
            true => std::borrow::Cow::Owned(vec![ProtocolVersion::V_2026_07_28]),
            false => std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
        }
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris = requested.resource_subscriptions.clone().unwrap_or_default();
        let accepted = SubscriptionFilter::builder().tools_list_changed();
        Some(accepted.resource_subscriptions(uris).build())
    }

    /// A listen stream: list changes, and (as `subscribe` does for a session) three updates of
    /// each resource it names, logged `listened to URI` when it opens.
    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        let sink = context.sink().clone();
        self.listeners
            .lock()
            .expect("listeners lock")
            .push(sink.clone());
        let uris = (context.accepted().resource_subscriptions.clone()).unwrap_or_default();
        for uri in &uris {
            self.note(&format!("listened to {uri}"));
        }
        let updates = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                for uri in &uris {
                    let _ = sink.notify_resource_updated(uri.clone()).await;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = context.cancelled() => {}
            _ = updates => {}
        }
        Ok(())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        if self.modern_only {
            self.note("refused initialize");
            return Err(ErrorData::invalid_request(
                "this server speaks only 2026-07-28: use server/discover",
                None,
            ));
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.modern_only && request.name == "elicit" {
            return Ok(modern_elicit(&request));
        }
        let args = request.arguments.clone().unwrap_or_default();
        let number = |key: &str| args.get(key).and_then(Value::as_f64).unwrap_or_default();
        match request.name.as_ref() {
            "echo" => text(args.get("text").and_then(Value::as_str).unwrap_or_default()),
            "add" => text((number("a") + number("b")).to_string()),
            "whoami" => text(self.name.clone()),
            "slow" => self.slow(&args, &context).await,
            "crash" => {
                self.note("crash");
                std::process::exit(3)
            }
            "add_tool" => {
                let name = args
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("added")
                    .to_owned();
                self.added.lock().expect("added lock").push(name.clone());
                // A 2026-07-28 server tells of changes only on its listen streams.
                if !self.modern_only {
                    let _ = context.peer.notify_tool_list_changed().await;
                }
                let listeners = self.listeners.lock().expect("listeners lock").clone();
                for sink in listeners {
                    let _ = sink.notify_tool_list_changed().await;
                }
                text(format!("added {name}"))
            }
            tool @ ("sample" | "elicit" | "roots") => {
                self.ask_client(tool, &args, &context.peer).await
            }
            "structured" => {
                let value =
                    json!({ "zeta": 1, "alpha": { "y": true, "b": null }, "from": self.name });
                Ok(CallToolResult::structured(value).into())
            }
            "log" => {
                let mut message = json!({
                    "level": args.get("level").cloned().unwrap_or_else(|| json!("info")),
                    "data": args.get("data").cloned().unwrap_or_default(),
                });
                if let Some(logger) = args.get("logger") {
                    message["logger"] = logger.clone();
                }
                let _ = context
                    .peer
                    .notify_logging_message(from_json(message))
                    .await;
                text("logged")
            }
            "image" => Ok(from_json::<CallToolResult>(image_answer()).into()),
            "report" => self.report(&args, &context),
            "show_app" if self.app => {
                let accepts = context
                    .peer
                    .peer_info()
                    .and_then(|info| info.capabilities.extensions.clone())
                    .and_then(|extensions| extensions.get(APPS).cloned())
                    .and_then(|settings| settings.get("mimeTypes").cloned())
                    .unwrap_or_default();
                Ok(from_json::<CallToolResult>(json!({
                    "content": [
                        { "type": "text", "text": format!("app of {}; client shows {accepts}", self.name) },
                        { "type": "resource_link", "uri": APP, "name": "view" },
                    ],
                    "_meta": { "ui": { "resourceUri": APP } },
                }))
                .into())
            }
            "app_refresh" if self.app => text(format!("refreshed {}", self.name)),
            name if self
                .added
                .lock()
                .expect("added lock")
                .iter()
                .any(|a| a == name) =>
            {
                text(format!("{name} called"))
            }
            name => Err(ErrorData::invalid_params(format!("no tool `{name}`"), None)),
        }
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let greet = from_json(json!({
            "name": "greet",
            "description": "Greets someone",
            "arguments": [{ "name": "name", "required": true }],
        }));
        let mut result = ListPromptsResult::with_all_items(vec![greet]);
        (result.ttl_ms, result.cache_scope) = (self.ttl_ms, self.cache_scope());
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("no prompt `{}`", request.name),
                None,
            ));
        }
        let who = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let result: GetPromptResult = from_json(json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": format!("Hello, {who}! (from {})", self.name) } }],
        }));
        Ok(result.into())
    }

    /// A subscribed resource is said to change three times, 100 ms apart.
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.note(&format!("subscribed to {}", request.uri));
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let update = ResourceUpdatedNotificationParam::new(request.uri.clone());
                let _ = context.peer.notify_resource_updated(update).await;
            }
        });
        Ok(())
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let readme =
            from_json(json!({ "uri": format!("test://{}/readme", self.name), "name": "readme" }));
        let mut resources = vec![readme];
        if self.app {
            resources.push(from_json(
                json!({ "uri": APP, "name": "view", "mimeType": APP_MIME_TYPE }),
            ));
        }
        let mut result = ListResourcesResult::with_all_items(resources);
        (result.ttl_ms, result.cache_scope) = (self.ttl_ms, self.cache_scope());
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let items = from_json(
            json!({ "uriTemplate": format!("test://{}/items/{{id}}", self.name), "name": "item" }),
        );
        let mut result = ListResourceTemplatesResult::with_all_items(vec![items]);
        (result.ttl_ms, result.cache_scope) = (self.ttl_ms, self.cache_scope());
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if self.app && (request.uri == APP || request.uri == UNLISTED_APP) {
            let html = format!(
                "<!doctype html><title>{} {}</title>",
                self.name, request.uri
            );
            let csp = format!("https://{}.example", self.name);
            return Ok(from_json::<ReadResourceResult>(json!({ "contents": [{
                "uri": request.uri,
                "mimeType": APP_MIME_TYPE,
                "text": html,
                "_meta": { "ui": { "csp": { "connectDomains": [csp] }, "prefersBorder": true } },
            }] }))
            .into());
        }
        let base = format!("test://{}/", self.name);
        let answer = match request.uri.strip_prefix(&base) {
            Some("readme") => format!("readme of {}", self.name),
            Some(rest) if rest.starts_with("items/") => {
                format!("item {} of {}", &rest[6..], self.name)
            }
            _ => {
                return Err(ErrorData::resource_not_found(
                    format!("no resource `{}`", request.uri),
                    None,
                ));
            }
        };
        Ok(ReadResourceResult::new(vec![ResourceContents::text(answer, request.uri)]).into())
    }
}

fn main() {
    let mut name = "test".to_owned();
    let mut log = std::env::var_os("PATCHBAY_TEST_LOG").map(Into::into);
    let mut delay = 0;
    let mut raw = false;
    let mut app = false;
    let mut modern_only = false;
    let mut ttl_ms = None;
    let mut private = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--raw" {
            raw = true;
            continue;
        }
        if flag == "--app" {
            app = true;
            continue;
        }
        if flag == "--modern-only" {
            modern_only = true;
            continue;
        }
        if flag == "--private" {
            private = true;
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--name" => name = value,
            "--log" => log = Some(value.into()),
            "--start-delay" => delay = value.parse().unwrap_or_else(|_| usage(&flag)),
            "--ttl" => ttl_ms = Some(value.parse().unwrap_or_else(|_| usage(&flag))),
            "--print-answer" => {
                let answer = match value.as_str() {
                    "image" => image_answer(),
                    kind => raw::answer(kind).unwrap_or_else(|| usage(&flag)),
                };
                println!("{answer}");
                return;
            }
            _ => usage(&flag),
        }
    }
    std::thread::sleep(Duration::from_millis(delay));
    if raw {
        raw::serve();
        return;
    }
    let server = TestServer {
        name,
        app,
        modern_only,
        ttl_ms,
        private,
        listeners: Arc::default(),
        log,
        added: Arc::default(),
        tasks: Arc::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        match server
            .serve((tokio::io::stdin(), tokio::io::stdout()))
            .await
        {
            Ok(service) => {
                let _ = service.waiting().await;
            }
            Err(err) => {
                eprintln!("patchbay-test-server: {err}");
                std::process::exit(1);
            }
        }
    });
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "patchbay-test-server: bad flag `{flag}`; usage: [--name NAME] [--log FILE] \
         [--start-delay MS] [--ttl MS [--private]] [--app] [--modern-only] [--raw] [--print-answer image|tool|extras|prompt|resource|tools]"
    );
    std::process::exit(2)
}

/// Raw mode: plain JSON-RPC lines on stdin and stdout, no SDK, answering what no revision of
/// the protocol defines (as `tests/e2e/servers/odd_server.py` does).
///
/// Tools: `hologram` answers at once with a content type no revision defines, a result member
/// of its own, and `structuredContent` and `_meta` in member orders that are not sorted;
/// `slow_hologram` answers the same after 600 ms, first reporting progress when the call has a
/// progress token; `extras` answers what the model reads (text content) with what it does not
/// (a member of the text content, `execution`, a result member of its own). Prompt `hologram`:
/// a message of that content type. Resource `odd://hologram`: contents neither text nor blob.
/// Its tool definitions have schemas and `_meta` in unsorted member order.
mod raw {
    use std::io::{BufRead, Write};
    use std::time::Duration;

    use serde_json::{Value, json};

    /// How long `slow_hologram` takes: past the hub's wait for a quick JSON answer.
    const SLOW: Duration = Duration::from_millis(600);

    /// The answer of `kind` (see `--print-answer`), each in the member order it is sent in.
    pub fn answer(kind: &str) -> Option<Value> {
        Some(match kind {
            "tool" => json!({
                "content": [{ "type": "hologram", "frames": [3, 1, 2], "annotations": { "audience": ["user"] } }],
                "structuredContent": { "zeta": 1, "alpha": { "y": true, "b": null } },
                "isError": false,
                "_meta": { "z.example/trace": "t-1", "a.example/cost": 0.25 },
                "hologramVersion": "7",
            }),
            "extras" => json!({
                "content": [{ "type": "text", "text": "plain words", "lang": "en" }],
                "isError": false,
                "execution": { "taskSupport": "optional" },
                "hologramVersion": "7",
            }),
            "prompt" => json!({
                "description": "a prompt of a kind no client knows yet",
                "messages": [{ "role": "user", "content": { "type": "hologram", "frames": [1] } }],
            }),
            "resource" => json!({
                "contents": [{ "uri": "odd://hologram", "hologram": { "frames": [2, 1] }, "mimeType": "model/hologram" }],
            }),
            "tools" => json!({ "tools": [
                {
                    "name": "hologram",
                    "title": "Hologram",
                    "description": "answers at once",
                    "inputSchema": {
                        "type": "object",
                        "properties": {
                            "zoom": { "type": "number", "minimum": 1 },
                            "angle": { "type": "string", "enum": ["top", "side"] },
                            "frames": { "type": "array", "items": { "type": "integer" } },
                        },
                        "required": ["zoom"],
                    },
                    "outputSchema": {
                        "type": "object",
                        "properties": { "zeta": { "type": "integer" }, "alpha": { "type": "object" } },
                    },
                    "annotations": { "readOnlyHint": true, "title": "A hologram" },
                    "_meta": { "z.example/rank": 2, "a.example/tier": "gold" },
                },
                {
                    "name": "slow_hologram",
                    "description": "answers after 600 ms",
                    "inputSchema": { "type": "object", "properties": {} },
                },
                {
                    "name": "extras",
                    "description": "text, and fields of its own",
                    "inputSchema": { "type": "object", "properties": {} },
                },
            ]}),
            _ => return None,
        })
    }

    fn send(message: &Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{message}");
        let _ = out.flush();
    }

    fn result(id: &Value, result: Value) {
        send(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
    }

    /// Answer requests, one a line, until stdin ends.
    pub fn serve() {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let (Some(method), Some(id)) = (message["method"].as_str(), message.get("id")) else {
                continue;
            };
            let params = &message["params"];
            let answer = match method {
                "initialize" => json!({
                    "protocolVersion": params["protocolVersion"],
                    "capabilities": { "tools": {}, "prompts": {}, "resources": {} },
                    "serverInfo": { "name": "patchbay-test-server-raw", "version": "1" },
                }),
                "ping" => json!({}),
                "tools/list" => answer("tools").expect("tools"),
                "prompts/list" => {
                    json!({ "prompts": [{ "name": "hologram", "description": "odd" }] })
                }
                "resources/list" => {
                    json!({ "resources": [{ "uri": "odd://hologram", "name": "hologram" }] })
                }
                "resources/templates/list" => json!({ "resourceTemplates": [] }),
                "tools/call" => match params["name"].as_str() {
                    Some("hologram") => answer("tool").expect("tool"),
                    Some("extras") => answer("extras").expect("extras"),
                    Some("slow_hologram") => {
                        if let Some(token) = params["_meta"].get("progressToken") {
                            send(&json!({
                                "jsonrpc": "2.0",
                                "method": "notifications/progress",
                                "params": { "progressToken": token, "progress": 1, "total": 2 },
                            }));
                        }
                        std::thread::sleep(SLOW);
                        answer("tool").expect("tool")
                    }
                    _ => {
                        json!({ "content": [{ "type": "text", "text": "no such tool" }], "isError": true })
                    }
                },
                "prompts/get" => answer("prompt").expect("prompt"),
                "resources/read" => answer("resource").expect("resource"),
                _ => {
                    let error =
                        json!({ "code": -32601, "message": format!("no method `{method}`") });
                    send(&json!({ "jsonrpc": "2.0", "id": id, "error": error }));
                    continue;
                }
            };
            result(id, answer);
        }
    }
}
