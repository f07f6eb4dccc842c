//! The control API (`/api/v1`) and its client.
//!
//! Same listener, same guard as `/mcp`. JSON in, JSON out; errors are `{"error": "..."}` with a
//! status that says what to do (404 unknown server, 422 bad config). `GET /events` is an SSE
//! stream of [`HubEvent`]s. Later areas (tokens, login flows, clients, profiles) add routes here.
//!
//! | route | what |
//! |---|---|
//! | `GET /status` | hub version, pid, URL, config file, every server's status |
//! | `GET /servers` | every server's status |
//! | `GET /servers/{name}/logs?lines=N` | the tail of a server's log |
//! | `POST /servers/{name}/enable`, `/disable` | edit the config file and apply it |
//! | `POST /servers/{name}/restart` | restart one server |
//! | `GET /tools` | the merged tool list with where each tool comes from |
//! | `GET /calls` | the most recent tool calls: server, tool, client, duration, outcome |
//! | `POST /reload` | re-read the config file |
//! | `GET /clients` | every known MCP client: detected, config path, our entry's state (as `patchbay clients --json`) |
//! | `GET /events` | SSE stream of state changes |

use futures::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::discovery::Discovery;
use crate::hub::Hub;
use crate::secret::Secret;
use crate::supervisor::ServerStatus;

/// `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubStatus {
    /// Hub version.
    pub version: String,
    /// Hub pid.
    pub pid: u32,
    /// The config file it follows.
    pub config_file: String,
    /// Every server.
    pub servers: Vec<ServerStatus>,
}

/// One entry of `GET /tools`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolEntry {
    /// Exposed name.
    pub name: String,
    /// Owning server.
    pub server: String,
    /// Name on that server.
    pub original: String,
    /// Description, if any.
    pub description: Option<String>,
}

/// The routes, to nest under `/api/v1`.
pub fn routes(hub: Hub) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/servers", get(servers))
        .route("/servers/{name}/logs", get(logs))
        .route("/servers/{name}/enable", post(enable))
        .route("/servers/{name}/disable", post(disable))
        .route("/servers/{name}/restart", post(restart))
        .route("/tools", get(tools))
        .route("/calls", get(calls))
        .route("/reload", post(reload))
        .route("/clients", get(clients))
        .route("/events", get(events))
        .route("/sign-in", post(sign_in))
        .route("/sign-in/{flow}", get(flow))
        .route("/sign-in/{flow}/cancel", post(cancel_flow))
        .route("/tokens", get(tokens))
        .route("/tokens/{name}/refresh", post(refresh_tokens))
        .route("/tokens/{name}/revoke", post(revoke_tokens))
        .with_state(hub)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn config_error(err: crate::config::ConfigError) -> Response {
    use crate::config::ConfigError;
    let status = match &err {
        ConfigError::NotFound(_) => StatusCode::NOT_FOUND,
        ConfigError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, err.to_string())
}

async fn status(State(hub): State<Hub>) -> Json<HubStatus> {
    Json(HubStatus {
        version: crate::VERSION.to_owned(),
        pid: std::process::id(),
        config_file: hub.paths().config_file.display().to_string(),
        servers: hub.statuses(),
    })
}

async fn servers(State(hub): State<Hub>) -> Json<Vec<ServerStatus>> {
    Json(hub.statuses())
}

#[derive(Deserialize)]
struct LogQuery {
    lines: Option<usize>,
}

async fn logs(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    if !hub.config().servers.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, format!("no server named `{name}`"));
    }
    let lines = q.lines.unwrap_or(200).min(10_000);
    match crate::logs::tail(&hub.paths().server_log(&name), lines) {
        Ok(lines) => Json(json!({ "server": name, "lines": lines })).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn set_enabled(hub: Hub, name: String, enabled: bool) -> Response {
    let path = hub.paths().config_file.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::config::edit::set_enabled(&path, &name, enabled)
    })
    .await;
    match result {
        Ok(Ok(config)) => {
            hub.apply(config);
            Json(json!({ "enabled": enabled })).into_response()
        }
        Ok(Err(err)) => config_error(err),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn enable(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    set_enabled(hub, name, true).await
}

async fn disable(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    set_enabled(hub, name, false).await
}

async fn restart(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    if hub.restart(&name) {
        Json(json!({ "restarting": name })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("no running server named `{name}`"),
        )
    }
}

#[derive(Deserialize)]
struct ToolsQuery {
    profile: Option<String>,
}

async fn tools(State(hub): State<Hub>, Query(q): Query<ToolsQuery>) -> Response {
    let catalog = match &q.profile {
        Some(profile) if !hub.config().profiles.contains_key(profile) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no profile named `{profile}`"),
            );
        }
        Some(profile) => hub.profile_catalog(profile),
        None => hub.catalog(),
    };
    let entries: Vec<ToolEntry> = catalog
        .tools
        .iter()
        .filter_map(|tool| {
            let route = catalog.tool(&tool.name)?;
            Some(ToolEntry {
                name: tool.name.to_string(),
                server: route.server.clone(),
                original: route.name.clone(),
                description: tool.description.as_ref().map(|d| d.to_string()),
            })
        })
        .collect();
    Json(entries).into_response()
}

async fn calls(State(hub): State<Hub>) -> Json<Vec<crate::events::CallRecord>> {
    Json(hub.recent_calls())
}

async fn reload(State(hub): State<Hub>) -> Response {
    match hub.reload() {
        Ok(()) => Json(json!({ "applied": true })).into_response(),
        Err(err) => config_error(err),
    }
}

async fn clients(State(hub): State<Hub>) -> Response {
    let paths = hub.paths().clone();
    let listed = tokio::task::spawn_blocking(move || {
        crate::clients::Context::from_env(paths).map(|ctx| crate::clients::listing(&ctx))
    })
    .await;
    match listed {
        Ok(Ok(rows)) => Json(rows).into_response(),
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn sign_in(
    State(hub): State<Hub>,
    Json(request): Json<crate::oauth::connect::ConnectRequest>,
) -> Response {
    let flow = hub.start_connect(request);
    (StatusCode::ACCEPTED, Json(json!({ "flow": flow }))).into_response()
}

async fn flow(State(hub): State<Hub>, Path(flow): Path<String>) -> Response {
    match hub.flow(&flow) {
        Some(view) => Json(view).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no sign-in `{flow}`")),
    }
}

async fn cancel_flow(State(hub): State<Hub>, Path(flow): Path<String>) -> Response {
    if hub.cancel_flow(&flow) {
        Json(json!({ "cancelled": flow })).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no sign-in `{flow}`"))
    }
}

async fn tokens(State(hub): State<Hub>) -> Json<Vec<crate::oauth::TokenStatus>> {
    Json(hub.token_statuses().await)
}

/// The keeper of a configured remote server, or the answer saying why there is none.
fn remote_keeper(
    hub: &Hub,
    name: &str,
) -> Result<std::sync::Arc<crate::oauth::Keeper>, (StatusCode, String)> {
    match hub.config().servers.get(name).map(|s| s.url.clone()) {
        Some(Some(url)) => Ok(hub.keeper(name, &url)),
        Some(None) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{name}` is a stdio server; it has no tokens"),
        )),
        None => Err((StatusCode::NOT_FOUND, format!("no server named `{name}`"))),
    }
}

fn keeper_error(err: crate::oauth::KeeperError) -> Response {
    use crate::oauth::KeeperError;
    let status = match &err {
        KeeperError::NeedsSignIn { .. } | KeeperError::NoTokens(_) => StatusCode::CONFLICT,
        KeeperError::Transient { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, err.to_string())
}

async fn refresh_tokens(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    let keeper = match remote_keeper(&hub, &name) {
        Ok(keeper) => keeper,
        Err((status, message)) => return error(status, message),
    };
    match keeper.refresh_now().await {
        Ok(status) => Json(status).into_response(),
        Err(err) => keeper_error(err),
    }
}

async fn revoke_tokens(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    let keeper = match remote_keeper(&hub, &name) {
        Ok(keeper) => keeper,
        Err((status, message)) => return error(status, message),
    };
    match keeper.revoke().await {
        Ok(revoked) => Json(revoked).into_response(),
        Err(err) => keeper_error(err),
    }
}

async fn events(
    State(hub): State<Hub>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let receiver = hub.events().subscribe();
    // The stream ends with the hub: an open stream would hold its graceful shutdown until the
    // next keep-alive found the reader gone.
    let stopping = hub.stopping();
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(event) => Event::default()
                .event(event.kind())
                .json_data(&event)
                .unwrap_or_default(),
            // A slow reader missed some events; it re-reads status on `lagged`.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Event::default().event("lagged").data("{}")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    })
    .take_until(stopping.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Failure of a control API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The hub could not be reached.
    #[error("cannot reach the hub at {url}")]
    Unreachable {
        /// Where we tried.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The hub answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The hub's message.
        message: String,
    },
    /// The secret file named by the discovery file could not be read.
    #[error("cannot read the hub's secret")]
    Secret(#[source] std::io::Error),
}

/// A client of a running hub's control API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    secret: Secret,
    http: reqwest::Client,
}

impl Client {
    /// A client for the hub a discovery file describes.
    pub fn new(discovery: &Discovery) -> Result<Self, ClientError> {
        let secret = crate::secret::read(&discovery.secret_file).map_err(ClientError::Secret)?;
        Ok(Self {
            base: format!("{}/api/v1", discovery.base_url()),
            secret,
            http: reqwest::Client::builder()
                .no_proxy()
                // Loopback HTTP only: no TLS roots to load (the platform's take milliseconds).
                .tls_certs_only([])
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a plain HTTP client builds"),
        })
    }

    /// GET a JSON document.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// POST with no body and read the JSON answer.
    pub async fn post(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    /// POST a JSON body and read the JSON answer.
    pub async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = request
            .bearer_auth(self.secret.expose())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or_default();
            let message = body["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the hub answered {status}"));
            return Err(ClientError::Api {
                status: status.as_u16(),
                message,
            });
        }
        response.json().await.map_err(unreachable)
    }
}
