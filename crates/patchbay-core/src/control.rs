//! The control API's client: what the CLI, the desktop app and the tests use to drive a
//! running hub. One typed call per route; the types are [`crate::api`]'s.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::{
    AcceptToolChanges, ClientChange, FlowView, HubStatus, InstallRequest, RestoreRequest,
    ServerAdded, ServerStatus, ToolChange, ToolEntry,
};
use crate::config::profile::ProfileStatus;
use crate::discovery::Discovery;
use crate::events::{CallRecord, HubEvent};
use crate::oauth::TokenStatus;
use crate::oauth::keeper::Revoked;
use crate::secret::Secret;

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

    // Typed calls, one per route, for the desktop app (and any other front end).

    /// `GET /status`.
    pub async fn status(&self) -> Result<HubStatus, ClientError> {
        self.get("/status").await
    }

    /// `GET /servers`.
    pub async fn servers(&self) -> Result<Vec<ServerStatus>, ClientError> {
        self.get("/servers").await
    }

    /// `POST /servers?preview=true`: the exact command line, nothing saved.
    pub async fn preview_server(
        &self,
        server: &crate::config::NewServer,
    ) -> Result<ServerAdded, ClientError> {
        self.post_json("/servers?preview=true", server).await
    }

    /// `POST /servers`.
    pub async fn add_server(
        &self,
        server: &crate::config::NewServer,
    ) -> Result<ServerAdded, ClientError> {
        self.post_json("/servers", server).await
    }

    /// `GET /catalog?q=TERM`: the MCP Registry's servers matching `term`.
    pub async fn search_catalog(
        &self,
        term: &str,
    ) -> Result<crate::api::CatalogSearch, ClientError> {
        let term: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
        self.get(&format!("/catalog?q={term}")).await
    }

    /// `POST /catalog/preview`: what adding a catalogue entry would save, nothing saved.
    pub async fn preview_catalog(
        &self,
        request: &crate::api::CatalogRequest,
    ) -> Result<crate::api::CatalogPlan, ClientError> {
        self.post_json("/catalog/preview", request).await
    }

    /// `POST /catalog/link`: the catalogue entry an install link adds, read by the hub's
    /// parser (a refusal is the error), nothing saved.
    pub async fn preview_link(&self, link: &str) -> Result<crate::api::CatalogEntry, ClientError> {
        let request = crate::api::LinkRequest {
            link: link.to_owned(),
        };
        self.post_json("/catalog/link", &request).await
    }

    /// `POST /catalog/bundle`: the catalogue entry an `.mcpb` bundle adds (a file by its
    /// absolute path, or a registry record's), read and checked by the hub (a refusal is the
    /// error), nothing unpacked or saved.
    pub async fn preview_bundle(
        &self,
        request: &crate::api::BundleRequest,
    ) -> Result<crate::api::CatalogEntry, ClientError> {
        self.post_json("/catalog/bundle", request).await
    }

    /// `GET /tool-changes`: the tools held back because their server changed them.
    pub async fn tool_changes(&self) -> Result<Vec<ToolChange>, ClientError> {
        self.get("/tool-changes").await
    }

    /// `POST /tool-changes/accept`: serve the named tools (all of the server's held ones when
    /// none are named) as they now are; answers how many were accepted.
    pub async fn accept_tool_changes(
        &self,
        request: &AcceptToolChanges,
    ) -> Result<usize, ClientError> {
        let answer: Value = self.post_json("/tool-changes/accept", request).await?;
        answer["accepted"]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| ClientError::Api {
                status: 502,
                message: "the hub did not say how many changes it accepted".into(),
            })
    }

    /// `POST /catalog/add`: add a catalogue entry the user said yes to.
    pub async fn add_from_catalog(
        &self,
        request: &crate::api::CatalogRequest,
    ) -> Result<crate::api::CatalogPlan, ClientError> {
        self.post_json("/catalog/add", request).await
    }

    /// `DELETE /servers/{name}`.
    pub async fn remove_server(&self, name: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/servers/{}", segment(name))).await
    }

    /// `POST /servers/{name}/enable` or `/disable`.
    pub async fn set_server_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<Value, ClientError> {
        let verb = if enabled { "enable" } else { "disable" };
        self.post(&format!("/servers/{}/{verb}", segment(name)))
            .await
    }

    /// `GET /servers/{name}/logs?lines=N`.
    pub async fn server_logs(&self, name: &str, lines: usize) -> Result<Value, ClientError> {
        self.get(&format!("/servers/{}/logs?lines={lines}", segment(name)))
            .await
    }

    /// `GET /servers/{name}/tools`.
    pub async fn server_tools(&self, name: &str) -> Result<Vec<ToolEntry>, ClientError> {
        self.get(&format!("/servers/{}/tools", segment(name))).await
    }

    /// `POST /sign-in`: starts a connect or login flow in the hub; returns its id.
    pub async fn start_sign_in(
        &self,
        request: &crate::oauth::connect::ConnectRequest,
    ) -> Result<String, ClientError> {
        let answer: Value = self.post_json("/sign-in", request).await?;
        answer["flow"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Api {
                status: 502,
                message: "the hub did not say which sign-in it started".into(),
            })
    }

    /// `GET /sign-in/{flow}`.
    pub async fn sign_in_flow(&self, flow: &str) -> Result<FlowView, ClientError> {
        self.get(&format!("/sign-in/{}", segment(flow))).await
    }

    /// `POST /sign-in/{flow}/cancel`.
    pub async fn cancel_sign_in(&self, flow: &str) -> Result<Value, ClientError> {
        self.post(&format!("/sign-in/{}/cancel", segment(flow)))
            .await
    }

    /// `GET /clients`.
    pub async fn clients(&self) -> Result<Value, ClientError> {
        self.get("/clients").await
    }

    /// `GET /profiles`.
    pub async fn profiles(&self) -> Result<Vec<ProfileStatus>, ClientError> {
        self.get("/profiles").await
    }

    /// `POST /clients/{id}/install`.
    pub async fn install_client(
        &self,
        id: &str,
        request: &InstallRequest,
    ) -> Result<ClientChange, ClientError> {
        self.post_json(&format!("/clients/{}/install", segment(id)), request)
            .await
    }

    /// `POST /clients/{id}/uninstall`.
    pub async fn uninstall_client(&self, id: &str) -> Result<ClientChange, ClientError> {
        self.post_json(&format!("/clients/{}/uninstall", segment(id)), &json!({}))
            .await
    }

    /// `POST /clients/{id}/restore`.
    pub async fn restore_client(
        &self,
        id: &str,
        request: &RestoreRequest,
    ) -> Result<ClientChange, ClientError> {
        self.post_json(&format!("/clients/{}/restore", segment(id)), request)
            .await
    }

    /// `GET /tokens`.
    pub async fn tokens(&self) -> Result<Vec<TokenStatus>, ClientError> {
        self.get("/tokens").await
    }

    /// `POST /tokens/{name}/refresh`: the credentials as they stand after the refresh.
    pub async fn refresh_token(&self, name: &str) -> Result<TokenStatus, ClientError> {
        self.send(
            self.http
                .post(format!("{}/tokens/{}/refresh", self.base, segment(name))),
        )
        .await
    }

    /// `POST /tokens/{name}/revoke`.
    pub async fn revoke_token(&self, name: &str) -> Result<Revoked, ClientError> {
        self.send(
            self.http
                .post(format!("{}/tokens/{}/revoke", self.base, segment(name))),
        )
        .await
    }

    /// `GET /calls`.
    pub async fn recent_calls(&self) -> Result<Vec<CallRecord>, ClientError> {
        self.get("/calls").await
    }

    /// `POST /shutdown`.
    pub async fn shutdown(&self) -> Result<Value, ClientError> {
        self.post("/shutdown").await
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

    /// DELETE and read the JSON answer.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// The event stream (`GET /events`), each event read back into the [`HubEvent`] the hub
    /// sent; a reader that fell behind gets [`HubEvent::Lagged`] and should re-read what it
    /// shows, and a kind this build does not know is [`HubEvent::Unknown`]. The stream ends
    /// when the hub stops or the connection drops.
    pub async fn events(
        &self,
    ) -> Result<
        impl futures::Stream<Item = Result<HubEvent, ClientError>> + Send + use<>,
        ClientError,
    > {
        // No overall time-out: the stream is meant to stay open. The hub sends a keep-alive
        // every 15 s, so a read that waits much longer than that means the hub is gone.
        let http = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([])
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(45))
            .build()
            .expect("a plain HTTP client builds");
        let response = self
            .send_raw(http.get(format!("{}/events", self.base)))
            .await?;
        let base = self.base.clone();
        Ok(
            crate::sse::events(response.bytes_stream()).filter_map(move |read| {
                let item = match read {
                    Ok(event) => hub_event(event).map(Ok),
                    Err(source) => Some(Err(ClientError::Unreachable {
                        url: base.clone(),
                        source,
                    })),
                };
                std::future::ready(item)
            }),
        )
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
        let response = self.send_raw(request).await?;
        response
            .json()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })
    }

    /// Send with the bearer; a non-success answer becomes [`ClientError::Api`].
    async fn send_raw(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
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
        Ok(response)
    }
}

/// A name as one path segment: server and client names are `[A-Za-z0-9_-]`, flow ids hex, but
/// a name typed into a front end may be anything, and must not walk to another route.
fn segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// One event of `/events` as a [`HubEvent`], its `kind` taken from the event's type when the
/// data lacks one (`lagged` comes as `{}`); `None` for an event without a type (a keep-alive:
/// the hub names every event). A known kind whose data does not fit is [`HubEvent::Unknown`]
/// too, said in the log: one odd event does not end the stream.
fn hub_event(read: crate::sse::Event) -> Option<HubEvent> {
    let kind = read.event?;
    let mut event: Value = serde_json::from_str(&read.data).unwrap_or_else(|_| json!({}));
    if let Some(object) = event.as_object_mut() {
        object
            .entry("kind")
            .or_insert_with(|| Value::String(kind.clone()));
    }
    match serde_json::from_value(event) {
        Ok(event) => Some(event),
        Err(err) => {
            tracing::warn!("the hub's `{kind}` event does not read: {err}");
            Some(HubEvent::Unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::oauth::{Progress, Stage, TokenState};

    fn read(block: &str) -> Option<HubEvent> {
        crate::sse::parse(block.as_bytes())
            .pop()
            .and_then(hub_event)
    }

    /// An event as the hub's route sends it: `event:` its kind, `data:` its JSON.
    fn sent(event: &HubEvent) -> String {
        let data = serde_json::to_string(event).expect("events serialise");
        format!("event: {}\ndata: {data}\n\n", event.kind())
    }

    #[test]
    fn events_read_back_as_sent() {
        let events = [
            HubEvent::ServerState {
                server: "a".into(),
                state: "restarting".into(),
                error: Some("exited with status 1".into()),
            },
            HubEvent::ServerState {
                server: "a".into(),
                state: "running".into(),
                error: None,
            },
            HubEvent::CatalogChanged,
            HubEvent::ConfigApplied,
            HubEvent::ConfigError {
                message: "config.toml:3:1: expected `=`".into(),
            },
            HubEvent::ToolCall(CallRecord {
                started_ms: 1,
                server: "a".into(),
                tool: "echo".into(),
                client: None,
                duration_ms: 2,
                outcome: "ok".into(),
            }),
            HubEvent::ClientDrift {
                client: "cursor".into(),
                path: "/home/u/.cursor/mcp.json".into(),
                entry: "missing".into(),
            },
            HubEvent::SignIn {
                flow: "f1".into(),
                server: "notes".into(),
                progress: Progress {
                    stage: Stage::WaitingForBrowser,
                    message: "waiting".into(),
                    url: Some("https://auth.example/authorize".into()),
                },
            },
            HubEvent::TokenState {
                server: "notes".into(),
                state: TokenState::NeedsSignIn,
                message: Some("invalid_grant".into()),
            },
        ];
        for event in events {
            assert_eq!(read(&sent(&event)), Some(event));
        }
    }

    #[test]
    fn the_wire_shape_is_kept() {
        // What the window receives is this JSON, byte for byte.
        let event = HubEvent::SignIn {
            flow: "f1".into(),
            server: "notes".into(),
            progress: Progress {
                stage: Stage::Done,
                message: "signed in".into(),
                url: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"sign_in","flow":"f1","server":"notes","stage":"done","message":"signed in"}"#
        );
        let event = read("event: token_state\ndata: {\"kind\":\"token_state\",\"server\":\"n\",\"state\":\"valid\"}\n\n")
            .unwrap();
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"token_state","server":"n","state":"valid"}"#
        );
    }

    #[test]
    fn lagged_unknown_and_keep_alives() {
        assert_eq!(
            read("event: lagged\ndata: {}\n\n"),
            Some(HubEvent::Lagged),
            "a lagged reader is told so"
        );
        assert_eq!(
            serde_json::to_value(HubEvent::Lagged).unwrap(),
            json!({"kind": "lagged"})
        );
        assert_eq!(
            read("event: tea_time\ndata: {\"kind\":\"tea_time\",\"cups\":2}\n\n"),
            Some(HubEvent::Unknown),
            "a newer hub's event does not end the stream"
        );
        assert_eq!(
            read("event: server_state\ndata: {\"kind\":\"server_state\",\"server\":7}\n\n"),
            Some(HubEvent::Unknown),
            "nor does one that does not fit its kind"
        );
        assert_eq!(read(":\n\n"), None, "keep-alives are not events");
    }
}
