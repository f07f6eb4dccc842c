//! `patchbay-test-server`: a small stdio MCP server the hub's integration tests run behind the
//! hub (`tests/hub`), so that they need neither Node nor Python.
//!
//! Flags:
//! - `--name NAME`: who this copy is (default `test`): `whoami` answers it, the prompt says it,
//!   and its resources live under `test://NAME/`, so two copies are told apart.
//! - `--log FILE` (or `PATCHBAY_TEST_LOG`): append one line per event the tests check from the
//!   outside (`started slow`, `cancelled slow`, `finished slow`, `crash`).
//! - `--start-delay MS`: sleep before answering anything, as a slow server starts.
//!
//! Tools: `echo {text}` answers `text`; `add {a, b}` the sum; `whoami` the name; `slow {ms,
//! steps}` sleeps `ms` in `steps` steps with a progress notification after each when the call
//! has a progress token, and logs `cancelled slow` when the call is cancelled; `crash` exits the
//! process mid-call; `add_tool {name}` adds a tool (which answers `NAME called`) and sends
//! `notifications/tools/list_changed`; `sample {prompt}` asks the client `sampling/createMessage`
//! and answers the reply's text; `elicit {message}` asks `elicitation/create` and answers
//! `ACTION CONTENT`; `roots` asks `roots/list` and answers the URIs, one a line; `structured`
//! answers structured content (members deliberately unsorted) and its text mirror.
//! Prompt: `greet {name}`. Resources: `test://NAME/readme` and the template
//! `test://NAME/items/{id}`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer, ServiceExt};
use rmcp::{ErrorData, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

struct TestServer {
    name: String,
    log: Option<std::path::PathBuf>,
    /// Tools added at run time by `add_tool`.
    added: Arc<Mutex<Vec<String>>>,
}

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
        ];
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

impl ServerHandler for TestServer {
    fn get_info(&self) -> InitializeResult {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_resources()
            .build();
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
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
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
                let _ = context.peer.notify_tool_list_changed().await;
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
        Ok(ListPromptsResult::with_all_items(vec![greet]))
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

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let readme =
            from_json(json!({ "uri": format!("test://{}/readme", self.name), "name": "readme" }));
        Ok(ListResourcesResult::with_all_items(vec![readme]))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let items = from_json(
            json!({ "uriTemplate": format!("test://{}/items/{{id}}", self.name), "name": "item" }),
        );
        Ok(ListResourceTemplatesResult::with_all_items(vec![items]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut name = "test".to_owned();
    let mut log = std::env::var_os("PATCHBAY_TEST_LOG").map(Into::into);
    let mut delay = 0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--name" => name = value,
            "--log" => log = Some(value.into()),
            "--start-delay" => delay = value.parse().unwrap_or_else(|_| usage(&flag)),
            _ => usage(&flag),
        }
    }
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let server = TestServer {
        name,
        log,
        added: Arc::default(),
    };
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
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "patchbay-test-server: bad flag `{flag}`; usage: [--name NAME] [--log FILE] [--start-delay MS]"
    );
    std::process::exit(2)
}
