//! Remote MCP servers: what `patchbay connect` finds out about a URL before it is saved.
//!
//! The probe speaks MCP the way the hub will: through rmcp's Streamable HTTP client (the one
//! the hub's upstreams use), with the same credential. It answers "does it speak MCP, and does
//! it want a sign-in (or a wider scope)?" with the handshake and `tools/list`, and names the
//! server after its host. The sign-in flow uses the same probe to check a new token.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::ClientInitializeError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::NeverRetry;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};

use crate::config::check_remote_url;

/// How long the probe waits for the server, per step.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It answered `initialize` and `tools/list` with the credentials given (or none).
    Open {
        /// The `serverInfo.name` it gave, when it gave one.
        server_name: Option<String>,
    },
    /// It answered 401: it wants an OAuth sign-in (or a static credential), or rejected the
    /// credentials given.
    NeedsAuth {
        /// Its `WWW-Authenticate` challenge, as sent.
        challenge: Option<String>,
    },
    /// It answered 403: the credentials lack a scope (`insufficient_scope`).
    Forbidden {
        /// Its `WWW-Authenticate` challenge, as sent.
        challenge: Option<String>,
    },
}

/// Why a probe failed, said for a person.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not one the hub will use.
    #[error("{0}")]
    BadUrl(String),
    /// Nothing answered.
    #[error("cannot reach {url}: {cause}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What the HTTP client said.
        cause: String,
    },
    /// Something answered, but not as an MCP server.
    #[error("{url} did not answer as an MCP server: {detail}")]
    NotMcp {
        /// The URL.
        url: String,
        /// What came back instead (rmcp's words, with the HTTP status where there was one).
        detail: String,
    },
}

/// Credentials a probe sends.
#[derive(Debug, Clone, Copy)]
pub enum ProbeAuth<'a> {
    /// None.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a crate::secret::Secret),
    /// A static header.
    Header(&'a crate::vault::StaticHeader),
}

/// The HTTP error a failed MCP exchange ended in, wherever rmcp wrapped it.
type HttpError = StreamableHttpError<reqwest::Error>;

/// Open a session with `url` (the handshake), list its tools, and say what came back: a server
/// may let the handshake through and want a token (or a wider scope) only for what follows.
/// The session is closed again (DELETE), so the probe leaves nothing behind.
pub async fn probe(url: &str, auth: ProbeAuth<'_>) -> Result<Probe, ProbeError> {
    check_remote_url(url).map_err(ProbeError::BadUrl)?;
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| ProbeError::Unreachable {
            url: url.to_owned(),
            cause: crate::human::error_chain(&err),
        })?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    // A probe reports what it saw once; it does not wait out reconnects.
    config.retry_config = Arc::new(NeverRetry::default());
    match auth {
        ProbeAuth::None => {}
        ProbeAuth::Bearer(token) => config.auth_header = Some(token.expose().to_owned()),
        ProbeAuth::Header(header) => {
            let bad = || ProbeError::BadUrl(format!("`{}` is not a usable header", header.name));
            let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| bad())?;
            let mut value = HeaderValue::from_str(header.value.expose()).map_err(|_| bad())?;
            value.set_sensitive(true);
            config.custom_headers.insert(name, value);
        }
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("patchbay", crate::VERSION),
    );
    let timed_out = |step: &str| ProbeError::Unreachable {
        url: url.to_owned(),
        cause: format!("no answer to {step} within {}s", PROBE_TIMEOUT.as_secs()),
    };
    let session = match tokio::time::timeout(PROBE_TIMEOUT, info.serve(transport)).await {
        Err(_) => return Err(timed_out("the MCP handshake")),
        Ok(Err(err)) => return judge(url, handshake_error(&err), &err),
        Ok(Ok(session)) => session,
    };
    let server_name = session
        .peer_info()
        .and_then(|info| info.server_info.as_ref().map(|server| server.name.clone()));
    let listed = tokio::time::timeout(PROBE_TIMEOUT, session.peer().list_tools(None)).await;
    // Best effort: a server that keeps the session until it times out is no harm.
    let _ = session.cancel().await;
    match listed {
        Err(_) => Err(timed_out("`tools/list`")),
        // A JSON-RPC answer, even an error, is MCP spoken.
        Ok(Ok(_) | Err(rmcp::ServiceError::McpError(_))) => Ok(Probe::Open { server_name }),
        Ok(Err(rmcp::ServiceError::TransportSend(err))) => {
            judge(url, find_http(Some(err.error.as_ref())), &err)
        }
        Ok(Err(err)) => judge(url, None, &err),
    }
}

/// The HTTP error under a failed handshake (rmcp keeps it beside the source chain, and tries
/// the legacy handshake after a failed `server/discover`: the legacy one's error is the one
/// that counts).
fn handshake_error(err: &ClientInitializeError) -> Option<&HttpError> {
    match err {
        ClientInitializeError::TransportError { error, .. } => {
            find_http(Some(error.error.as_ref()))
        }
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => handshake_error(fallback),
        other => find_http(Some(other)),
    }
}

fn find_http<'a>(
    err: Option<&'a (dyn std::error::Error + Send + Sync + 'static)>,
) -> Option<&'a HttpError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = err.map(|e| e as _);
    while let Some(err) = current {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return Some(http);
        }
        current = err.source();
    }
    None
}

/// What a failed exchange says about the server.
fn judge(
    url: &str,
    http: Option<&HttpError>,
    err: &(dyn std::error::Error + 'static),
) -> Result<Probe, ProbeError> {
    let not_mcp = |detail: String| ProbeError::NotMcp {
        url: url.to_owned(),
        detail: detail.chars().take(300).collect(),
    };
    match http {
        Some(StreamableHttpError::AuthRequired(denied)) => Ok(Probe::NeedsAuth {
            challenge: Some(denied.www_authenticate_header.clone()),
        }),
        Some(StreamableHttpError::InsufficientScope(denied)) => Ok(Probe::Forbidden {
            challenge: Some(denied.www_authenticate_header.clone()),
        }),
        Some(StreamableHttpError::Client(cause)) => Err(ProbeError::Unreachable {
            url: url.to_owned(),
            cause: crate::human::error_chain(cause),
        }),
        Some(StreamableHttpError::Io(cause)) => Err(ProbeError::Unreachable {
            url: url.to_owned(),
            cause: crate::human::error_chain(cause),
        }),
        // A 401 or 403 without a challenge: rmcp says it as `HTTP <status>: <body>`.
        Some(StreamableHttpError::UnexpectedServerResponse(said)) => match refused(said) {
            Some(401) => Ok(Probe::NeedsAuth { challenge: None }),
            Some(403) => Ok(Probe::Forbidden { challenge: None }),
            _ => Err(not_mcp(said.to_string())),
        },
        Some(other) => Err(not_mcp(other.to_string())),
        None => Err(not_mcp(crate::human::error_chain(err))),
    }
}

/// The status of rmcp's `HTTP <status>: <body>` report of an answer that was no MCP message.
fn refused(said: &str) -> Option<u16> {
    said.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// A server name derived from the URL's host: `https://mcp.linear.app/mcp` → `linear`,
/// `http://127.0.0.1:8123/mcp` → `local-8123`. Always a valid server name.
pub fn default_name(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "remote".to_owned();
    };
    let name = match parsed.host() {
        Some(url::Host::Domain(host)) if !host.eq_ignore_ascii_case("localhost") => {
            let labels: Vec<&str> = host.split('.').collect();
            // Drop the top-level domain, then generic labels such as `mcp` or `api`.
            let meaningful: Vec<&str> = labels[..labels.len().saturating_sub(1).max(1)]
                .iter()
                .copied()
                .filter(|l| !matches!(*l, "mcp" | "api" | "www" | "server" | "servers"))
                .collect();
            meaningful.last().copied().unwrap_or(labels[0]).to_owned()
        }
        Some(_) => match parsed.port() {
            Some(port) => format!("local-{port}"),
            None => "local".to_owned(),
        },
        None => "remote".to_owned(),
    };
    crate::names::server_name_like(&name).unwrap_or_else(|| "remote".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_meaningful_part_of_the_host() {
        assert_eq!(default_name("https://mcp.linear.app/mcp"), "linear");
        assert_eq!(
            default_name("https://api.githubcopilot.com/mcp/"),
            "githubcopilot"
        );
        assert_eq!(default_name("https://docs.example.co/x"), "example");
        assert_eq!(default_name("https://example.com/mcp"), "example");
        assert_eq!(default_name("http://127.0.0.1:8123/mcp"), "local-8123");
        assert_eq!(default_name("http://localhost:9/mcp"), "local-9");
        assert_eq!(default_name("http://[::1]/mcp"), "local");
        assert_eq!(default_name("https://mcp.example/mcp"), "mcp");
        assert_eq!(default_name("not a url"), "remote");
    }

    use crate::test_http::{answering, serve};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use rmcp::ServerHandler;
    use rmcp::model::{ServerCapabilities, ServerConfig};
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };

    /// A real MCP server (rmcp's), named `probe-me`, with tools.
    #[derive(Clone)]
    struct Named;

    impl ServerHandler for Named {
        fn get_info(&self) -> ServerConfig {
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new("probe-me", "1"))
        }
    }

    fn mcp_server() -> axum::Router {
        let config =
            StreamableHttpServerConfig::default().with_allowed_hosts(["127.0.0.1", "localhost"]);
        let service = StreamableHttpService::new(
            || Ok(Named),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        axum::Router::new().nest_service("/mcp", service)
    }

    const CHALLENGE: &str =
        r#"Bearer resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource""#;

    #[tokio::test]
    async fn a_real_mcp_server_is_open_and_named() {
        let (url, task) = serve(mcp_server()).await;
        let probed = probe(&url, ProbeAuth::None).await;
        task.abort();
        assert_eq!(
            probed.unwrap(),
            Probe::Open {
                server_name: Some("probe-me".into())
            }
        );
    }

    #[tokio::test]
    async fn a_401_with_a_challenge_wants_a_sign_in_and_keeps_the_challenge() {
        let app = answering(
            StatusCode::UNAUTHORIZED,
            vec![(header::WWW_AUTHENTICATE, CHALLENGE)],
            "",
        );
        let (url, task) = serve(app).await;
        let probed = probe(&url, ProbeAuth::None).await;
        task.abort();
        assert_eq!(
            probed.unwrap(),
            Probe::NeedsAuth {
                challenge: Some(CHALLENGE.into())
            }
        );
    }

    #[tokio::test]
    async fn a_401_without_a_challenge_wants_a_sign_in_too() {
        let (url, task) = serve(answering(StatusCode::UNAUTHORIZED, vec![], "no")).await;
        let probed = probe(&url, ProbeAuth::None).await;
        task.abort();
        assert_eq!(probed.unwrap(), Probe::NeedsAuth { challenge: None });
    }

    #[tokio::test]
    async fn a_403_insufficient_scope_is_forbidden_with_its_challenge() {
        let challenge = r#"Bearer error="insufficient_scope", scope="files:write""#;
        let app = answering(
            StatusCode::FORBIDDEN,
            vec![(header::WWW_AUTHENTICATE, challenge)],
            "",
        );
        let (url, task) = serve(app).await;
        let probed = probe(&url, ProbeAuth::None).await;
        task.abort();
        assert_eq!(
            probed.unwrap(),
            Probe::Forbidden {
                challenge: Some(challenge.into())
            }
        );
    }

    #[tokio::test]
    async fn a_server_that_wants_a_token_only_after_the_handshake_is_found_out() {
        // The handshake passes; `tools/list` without a token is refused.
        let gate = axum::middleware::from_fn(
            |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let authorized = parts.headers.contains_key(header::AUTHORIZATION);
                if memchr::memmem::find(&bytes, b"tools/list").is_some() && !authorized {
                    let mut refused = StatusCode::UNAUTHORIZED.into_response();
                    refused.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(CHALLENGE),
                    );
                    return refused;
                }
                let request =
                    axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                next.run(request).await
            },
        );
        let (url, task) = serve(mcp_server().layer(gate)).await;
        let without = probe(&url, ProbeAuth::None).await;
        let token = crate::secret::Secret::new("t0ken");
        let with = probe(&url, ProbeAuth::Bearer(&token)).await;
        task.abort();
        assert_eq!(
            without.unwrap(),
            Probe::NeedsAuth {
                challenge: Some(CHALLENGE.into())
            }
        );
        assert!(
            matches!(with.unwrap(), Probe::Open { .. }),
            "the token is sent"
        );
    }

    #[tokio::test]
    async fn a_web_page_is_not_an_mcp_server() {
        let app = answering(
            StatusCode::OK,
            vec![(header::CONTENT_TYPE, "text/html")],
            "<html>hello</html>",
        );
        let (url, task) = serve(app).await;
        let probed = probe(&url, ProbeAuth::None).await;
        task.abort();
        let err = probed.unwrap_err();
        assert!(matches!(err, ProbeError::NotMcp { .. }), "{err}");
        assert!(
            err.to_string().contains("did not answer as an MCP server"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/mcp");
        let err = probe(&url, ProbeAuth::None).await.unwrap_err();
        assert!(matches!(err, ProbeError::Unreachable { .. }), "{err}");
    }

    #[test]
    fn refusals_are_read_from_rmcps_report() {
        assert_eq!(refused("HTTP 401 Unauthorized: no"), Some(401));
        assert_eq!(refused("HTTP 403 Forbidden: "), Some(403));
        assert_eq!(refused("unexpected content type"), None);
    }
}
