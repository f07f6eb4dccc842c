//! The loopback listener: `/mcp` (Streamable HTTP, through rmcp), `/p/<profile>/mcp` (the same
//! for one profile's part of the hub) and `/api/v1` (control API).
//!
//! Every request passes [`guard`] first, in this order:
//! 1. `Host` must name the loopback interface (`127.0.0.1`, `localhost`, `[::1]`) at our port,
//!    else 421: a DNS-rebinding page reaches us with its own host name.
//! 2. A present `Origin` must be in `hub.allowed_origins`, else 403: browsers send it, native
//!    clients do not.
//! 3. `Authorization: Bearer <secret>` must match the per-install secret, else 401.
//! 4. A declared body over `hub.max_body_bytes` gets 413 (rmcp also enforces the cap while
//!    reading bodies without a length).
//!
//! A POST to an MCP endpoint must then be one JSON-RPC message (else a JSON-RPC error), and a
//! request's answer that is ready at once goes back as one JSON body (`answer`).
//!
//! The listener binds 127.0.0.1 only and sets `TCP_NODELAY` on every accepted connection: MCP
//! messages are small, and Nagle plus delayed ACKs would add tens of milliseconds per call.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::config::HubSettings;
use crate::hub::{Hub, HubService};
use crate::secret::Secret;

mod answer;

/// Bind the loopback listener; port 0 asks the OS for one.
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

#[derive(Clone)]
struct Guard {
    port: u16,
    secret: Arc<Secret>,
    allowed_origins: Arc<Vec<String>>,
    max_body: usize,
}

/// Serve `/mcp` and `/api/v1` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    hub: Hub,
    listener: tokio::net::TcpListener,
    secret: Secret,
    settings: HubSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let mut config =
        StreamableHttpServerConfig::default().with_allowed_hosts(["127.0.0.1", "localhost", "::1"]);
    config.cancellation_token = shutdown.child_token();
    config.max_request_body_bytes = settings.max_body_bytes;
    let mcp_hub = hub.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(HubService::new(mcp_hub.clone())),
        Arc::new(LocalSessionManager::default()),
        config.clone(),
    );
    let profiles = Profiles {
        hub: hub.clone(),
        config,
        services: Arc::default(),
    };
    let guard = Guard {
        port,
        secret: Arc::new(secret),
        allowed_origins: Arc::new(settings.allowed_origins.clone()),
        max_body: settings.max_body_bytes,
    };
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .route(
            "/p/{profile}/mcp",
            axum::routing::any(profile_endpoint).with_state(profiles),
        )
        .nest("/api/v1", crate::hub::routes::routes(hub))
        .layer(axum::middleware::from_fn_with_state(guard, guard_layer));
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!("failed to set TCP_NODELAY: {err}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

type ProfileService = StreamableHttpService<HubService, LocalSessionManager>;

/// One rmcp Streamable HTTP service per profile, made on its first request (profiles come and
/// go with the config; sessions of one profile stay with its service).
#[derive(Clone)]
struct Profiles {
    hub: Hub,
    config: StreamableHttpServerConfig,
    services: Arc<std::sync::Mutex<std::collections::HashMap<String, ProfileService>>>,
}

async fn profile_endpoint(
    State(profiles): State<Profiles>,
    axum::extract::Path(profile): axum::extract::Path<String>,
    request: Request,
) -> Response {
    use tower::ServiceExt;
    if !profiles.hub.config().profiles.contains_key(&profile) {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": format!("no profile named `{profile}`; `patchbay profile list` shows them")
            })),
        )
            .into_response();
    }
    let service = {
        let mut services = profiles.services.lock().expect("profiles lock");
        services
            .entry(profile.clone())
            .or_insert_with(|| {
                let hub = profiles.hub.clone();
                StreamableHttpService::new(
                    move || Ok(HubService::for_profile(hub.clone(), profile.clone())),
                    Arc::new(LocalSessionManager::default()),
                    profiles.config.clone(),
                )
            })
            .clone()
    };
    match service.oneshot(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

async fn guard_layer(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if let Err(refusal) = check(&guard, request.headers()) {
        return refusal.into_response();
    }
    let path = request.uri().path();
    let mcp = path.starts_with("/mcp") || (path.starts_with("/p/") && path.ends_with("/mcp"));
    if !mcp {
        return next.run(request).await;
    }
    if request.method() != axum::http::Method::POST {
        // A GET stream replays a request's stream after a reconnect, answers included.
        return answer::restored(next.run(request).await);
    }
    // Read the body here (bounded) so that text that is not JSON gets a JSON-RPC parse error,
    // as the protocol asks, rather than the transport's plain-text refusal.
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, guard.max_body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Refusal(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                .into_response();
        }
    };
    let request = match check_jsonrpc(&bytes) {
        Ok(kind) => kind == Kind::Request,
        Err(answer) => return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response(),
    };
    // A session's (2025-era) task requests carry what rmcp's model would drop.
    let bytes = match parts.headers.contains_key("mcp-session-id") && request {
        true => super::tasks::for_rmcp(&bytes).map_or(bytes, axum::body::Bytes::from),
        false => bytes,
    };
    let response = next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await;
    if request {
        answer::quick_json(response, answer::QUICK).await
    } else {
        response
    }
}

/// The security checks, apart from axum so they read as a list.
fn check(guard: &Guard, headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !loopback_host(host, guard.port) {
        return Err(Refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "host not allowed: the hub only answers to loopback names",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| guard.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return Err(Refusal(StatusCode::FORBIDDEN, "origin not allowed"));
        }
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|token| guard.secret.matches(token.as_bytes())) {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: use the secret named in the hub's discovery file",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > guard.max_body) {
        return Err(Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ));
    }
    Ok(())
}

/// A body must be one JSON-RPC 2.0 message: text that is not JSON gets -32700 (parse error),
/// JSON that is no message gets -32600 (invalid request), each with the id when one is known.
///
/// Every POST passes here before rmcp parses it again, so a valid message is recognised from
/// its envelope alone, without building a tree of its params; only a body that fails that is
/// parsed whole, to say exactly what is wrong.
fn check_jsonrpc(body: &[u8]) -> Result<Kind, serde_json::Value> {
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(envelope) if envelope.is_message() => Ok(envelope.kind()),
        _ => explain_invalid(body),
    }
}

/// What a valid body holds, as far as the endpoint cares.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A request: it gets an answer.
    Request,
    /// A notification or the client's answer to a server's request.
    Other,
}

/// Whether `json` is a JSON-RPC answer (a response or an error), judged by its envelope.
fn is_answer(json: &[u8]) -> bool {
    serde_json::from_slice::<Envelope<'_>>(json)
        .is_ok_and(|e| e.is_message() && e.method.is_none() && e.answers())
}

/// The fields that make a JSON-RPC message, read without its params.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    id: Present,
    #[serde(default)]
    result: Present,
    #[serde(default)]
    error: Present,
}

impl Envelope<'_> {
    fn is_message(&self) -> bool {
        self.jsonrpc.as_deref() == Some("2.0") && (self.method.is_some() || self.answers())
    }

    /// An id with a result or an error: what an answer carries.
    fn answers(&self) -> bool {
        self.id.0 && (self.result.0 || self.error.0)
    }

    fn kind(&self) -> Kind {
        if self.method.is_some() && self.id.0 {
            Kind::Request
        } else {
            Kind::Other
        }
    }
}

/// Whether a member is there at all, whatever its value (`null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The error answer for a body that is not one JSON-RPC message.
fn explain_invalid(body: &[u8]) -> Result<Kind, serde_json::Value> {
    let error = |id: serde_json::Value, code: i32, message: String| serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| {
        error(
            serde_json::Value::Null,
            -32700,
            format!("parse error: {err}"),
        )
    })?;
    let id = value
        .get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned()
        .unwrap_or_default();
    let valid = value.get("jsonrpc").and_then(|v| v.as_str()) == Some("2.0")
        && (value.get("method").is_some_and(|m| m.is_string())
            || (value.get("id").is_some()
                && (value.get("result").is_some() || value.get("error").is_some())));
    if !valid {
        Err(error(
            id,
            -32600,
            "invalid request: expected one JSON-RPC 2.0 message".to_owned(),
        ))
    } else if value.get("method").is_some() && value.get("id").is_some() {
        Ok(Kind::Request)
    } else {
        Ok(Kind::Other)
    }
}

/// Whether a `Host` header names this listener on loopback.
fn loopback_host(host: &str, port: u16) -> bool {
    let (name, host_port) = match host.rsplit_once(':') {
        Some((name, p)) if !name.ends_with(':') && !p.contains(']') => (name, Some(p)),
        _ => (host, None),
    };
    let name_ok = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    let port_ok = host_port.is_none_or(|p| p.parse::<u16>().ok() == Some(port));
    name_ok && port_ok
}

/// A refused request: its status and a message for whoever reads the body.
#[derive(Debug)]
struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, message) = self;
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        // Refused before its body was read: the connection cannot be reused safely.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"patchbay\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_jsonrpc_messages() {
        let code = |body: &str| {
            check_jsonrpc(body.as_bytes())
                .err()
                .map(|e| e["error"]["code"].as_i64().unwrap())
        };
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), None);
        assert_eq!(code("{not json"), Some(-32700));
        assert_eq!(code("42"), Some(-32600));
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1}}"#),
            None
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2\u002e0","id":1,"method":"a\nb"}"#),
            None
        );
        let kind = |body: &str| check_jsonrpc(body.as_bytes()).unwrap();
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Kind::Request
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2\u002e0","id":1,"method":"ping"}"#),
            Kind::Request
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/x"}"#),
            Kind::Other
        );
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), Kind::Other);
        assert!(is_answer(br#"{"jsonrpc":"2.0","id":1,"error":{"code":1}}"#));
        assert!(!is_answer(
            br#"{"jsonrpc":"2.0","id":1,"method":"roots/list"}"#
        ));
        assert!(!is_answer(b"{not json"));
        let err = check_jsonrpc(br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#).unwrap_err();
        assert_eq!(err["id"], 7, "the id is echoed when known");
    }

    #[test]
    fn only_loopback_hosts_at_our_port_pass() {
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "[::1]:8000",
            "localhost",
        ] {
            assert!(loopback_host(ok, 8000), "{ok}");
        }
        for bad in [
            "evil.example:8000",
            "127.0.0.1:8001",
            "127.0.0.2:8000",
            "",
            "[::2]:8000",
        ] {
            assert!(!loopback_host(bad, 8000), "{bad}");
        }
    }

    fn guard() -> Guard {
        Guard {
            port: 1,
            secret: Arc::new(Secret::new("s3cret")),
            allowed_origins: Arc::new(vec!["tauri://localhost".into()]),
            max_body: 10,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn checks_refuse_in_order() {
        let status = |pairs: &[(&'static str, &str)]| {
            check(&guard(), &headers(pairs)).err().map(|r| r.0.as_u16())
        };
        let ok: &[(&'static str, &str)] =
            &[("host", "127.0.0.1:1"), ("authorization", "Bearer s3cret")];
        assert_eq!(status(ok), None);
        assert_eq!(status(&[("host", "evil:1"), ok[1]]), Some(421));
        assert_eq!(
            status(&[ok[0], ok[1], ("origin", "https://evil.example")]),
            Some(403)
        );
        assert_eq!(
            status(&[ok[0], ok[1], ("origin", "tauri://localhost")]),
            None
        );
        assert_eq!(status(&[ok[0]]), Some(401));
        assert_eq!(
            status(&[ok[0], ("authorization", "Bearer wrong!")]),
            Some(401)
        );
        assert_eq!(status(&[ok[0], ok[1], ("content-length", "11")]), Some(413));
    }
}
