//! MCP as plain HTTP requests: what the hub sends back, as text, with no MCP client's reading
//! of it in between (which would drop what its model does not hold, and forget member order).
//!
//! [`post_mcp`] sends one body; a [`Session`] is a client of one revision made by hand: the
//! `initialize` handshake with a session ([`Session::initialize`]) or none at all, stateless
//! (2026-07-28, [`Session::stateless`]), which names its revision, its method and the name it
//! calls in headers and in each request's `_meta`, as the Python SDK does.
//!
//! Objects parsed here keep their member order (serde_json's `preserve_order`, which the
//! workspace turns on; [`parse`] checks that it is on), so [`in_order`] of a value is the text
//! of it in the order it came in.

use serde_json::{Value, json};

use crate::harness::Hub;

/// What a client accepts back from `/mcp`: one JSON body or an event stream.
const ACCEPT: &str = "application/json, text/event-stream";

/// The stateless revision.
pub const STATELESS: &str = "2026-07-28";

/// POST `body` to `/mcp` with the MCP headers, the bearer unless `headers` name an
/// `authorization` (an empty value: none at all), and `headers`.
pub async fn post_mcp(
    hub: &Hub,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = hub
        .http
        .post(hub.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(body);
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        request = request.bearer_auth(&hub.secret);
    }
    for (name, value) in headers.iter().filter(|(_, v)| !v.is_empty()) {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the hub answers")
}

/// A response read whole: its status, content type, and the text of each JSON-RPC message in
/// it (the body of a JSON answer, the data of each event of a stream).
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    /// The `Mcp-Session-Id`, when the hub made a session.
    pub session: Option<String>,
    /// Each message, as text.
    pub texts: Vec<String>,
}

impl Reply {
    /// Read `response` whole.
    pub async fn read(response: reqwest::Response) -> Self {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type").unwrap_or_default();
        let session = header("mcp-session-id");
        let text = response.text().await.expect("a body");
        let texts = if content_type.starts_with("text/event-stream") {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            vec![text]
        };
        Self {
            status,
            content_type,
            session,
            texts,
        }
    }

    /// Every message, parsed (member order kept).
    pub fn messages(&self) -> Vec<Value> {
        self.texts.iter().map(|t| parse(t)).collect()
    }

    /// The one answer to request `id` in it.
    pub fn answer(&self, id: u64) -> Value {
        let answers: Vec<Value> = self
            .messages()
            .into_iter()
            .filter(|m| m["id"] == id && m.get("method").is_none())
            .collect();
        match <[Value; 1]>::try_from(answers) {
            Ok([answer]) => answer,
            Err(answers) => panic!(
                "one answer to request {id}, not {}: {:?}",
                answers.len(),
                self.texts
            ),
        }
    }

    /// The `result` of the answer to request `id`, which must succeed.
    pub fn result(&self, id: u64) -> Value {
        let answer = self.answer(id);
        answer
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("request {id} succeeds: {answer}"))
    }
}

/// The JSON-RPC messages of a response, plain JSON or an SSE stream.
pub async fn messages(response: reqwest::Response) -> Vec<Value> {
    Reply::read(response).await.messages()
}

/// `text` as JSON, objects in the order their members come in.
pub fn parse(text: &str) -> Value {
    let probe: Value = serde_json::from_str(r#"{"b":0,"a":0}"#).expect("JSON");
    assert_eq!(
        probe.to_string(),
        r#"{"b":0,"a":0}"#,
        "serde_json keeps member order (its `preserve_order` feature); else order is not seen"
    );
    serde_json::from_str(text).unwrap_or_else(|err| panic!("JSON ({err}): {text}"))
}

/// `value` as compact text, its members in the order they came in: two values give the same
/// text when they are equal as JSON and their members come in the same order.
pub fn in_order(value: &Value) -> String {
    value.to_string()
}

/// A client's requests to the hub, made by hand.
pub struct Session<'h> {
    hub: &'h Hub,
    /// The revision it speaks.
    pub revision: &'static str,
    /// Its session id; none when stateless.
    pub id: Option<String>,
    next_id: u64,
}

impl<'h> Session<'h> {
    /// The `initialize` handshake at `revision` (and `notifications/initialized`): the session
    /// and the hub's `initialize` result.
    pub async fn initialize(hub: &'h Hub, revision: &'static str) -> (Self, Value) {
        let init = json!({
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": revision,
                "capabilities": {},
                "clientInfo": { "name": "raw", "version": "1" },
            },
        });
        let reply = Reply::read(post_mcp(hub, init.to_string(), &[]).await).await;
        assert_eq!(
            reply.status, 200,
            "initialize at {revision}: {:?}",
            reply.texts
        );
        let result = reply.result(0);
        let session = Self {
            hub,
            revision,
            id: Some(reply.session.expect("the hub makes a session")),
            next_id: 1,
        };
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let sent = session.post(&initialized, &[]).await;
        assert_eq!(sent.status, 202, "notifications/initialized is accepted");
        (session, result)
    }

    /// A stateless (2026-07-28) client: no handshake, no session.
    pub fn stateless(hub: &'h Hub) -> Self {
        Self {
            hub,
            revision: STATELESS,
            id: None,
            next_id: 1,
        }
    }

    /// POST `message` with this session's headers (and the stateless ones: `Mcp-Method`,
    /// `Mcp-Name`), then `headers`, which win over them.
    pub async fn post(&self, message: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("mcp-protocol-version", self.revision)];
        if let Some(id) = &self.id {
            all.push(("mcp-session-id", id));
        }
        let method = message["method"].as_str().unwrap_or_default();
        let name = match method {
            "tools/call" | "prompts/get" => message["params"]["name"].as_str(),
            "resources/read" => message["params"]["uri"].as_str(),
            "tasks/get" | "tasks/update" | "tasks/cancel" => message["params"]["taskId"].as_str(),
            _ => None,
        };
        if self.id.is_none() && message.get("id").is_some() {
            all.push(("mcp-method", method));
            if let Some(name) = name {
                all.push(("mcp-name", name));
            }
        }
        all.retain(|(k, _)| !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)));
        all.extend_from_slice(headers);
        Reply::read(post_mcp(self.hub, message.to_string(), &all).await).await
    }

    /// Request `method` with `params` (a stateless client's `_meta` added): its id and the reply.
    pub async fn request(&mut self, method: &str, params: Value) -> (u64, Reply) {
        self.request_with(method, params, &[]).await
    }

    /// [`Session::request`] with more `headers`.
    pub async fn request_with(
        &mut self,
        method: &str,
        mut params: Value,
        headers: &[(&str, &str)],
    ) -> (u64, Reply) {
        let id = self.next_id;
        self.next_id += 1;
        if self.id.is_none() {
            let meta = &mut params["_meta"];
            meta["io.modelcontextprotocol/protocolVersion"] = json!(self.revision);
            // What the caller gave wins (a client that takes sampling, say).
            let takes = &mut meta["io.modelcontextprotocol/clientCapabilities"];
            if takes.is_null() {
                *takes = json!({});
            }
            meta["io.modelcontextprotocol/clientInfo"] = json!({ "name": "raw", "version": "1" });
        }
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        (id, self.post(&message, headers).await)
    }

    /// The `result` of `method`, which must succeed.
    pub async fn result(&mut self, method: &str, params: Value) -> Value {
        let (id, reply) = self.request(method, params).await;
        assert_eq!(reply.status, 200, "{method}: {:?}", reply.texts);
        reply.result(id)
    }
}
