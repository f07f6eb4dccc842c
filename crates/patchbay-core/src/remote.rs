//! Remote MCP servers: what `patchbay connect` finds out about a URL before it is saved.
//!
//! The hub talks to a remote server through rmcp's Streamable HTTP client (in its
//! upstreams); this module only answers "does it speak MCP, and does it want a
//! sign-in (or a wider scope)?" with `initialize` and `tools/list`, and names the server after
//! its host. The sign-in flow uses the same probe to check a new token.

use std::time::Duration;

use crate::config::check_remote_url;
use crate::names::valid_server_name;

/// How long the probe waits for the server.
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
    #[error("{url} answered {status}, not as an MCP server: {body}")]
    NotMcp {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        body: String,
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

impl ProbeAuth<'_> {
    /// `request` with these credentials on it.
    fn apply(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            ProbeAuth::None => request,
            ProbeAuth::Bearer(token) => request.bearer_auth(token.expose()),
            ProbeAuth::Header(header) => request.header(&header.name, header.value.expose()),
        }
    }
}

/// Send `initialize`, then `tools/list`, to `url` and say what came back: a server may let
/// `initialize` through and want a token (or a wider scope) only for what follows. A session the
/// server opened for it is closed again (DELETE), so the probe leaves nothing behind.
pub async fn probe(url: &str, auth: ProbeAuth<'_>) -> Result<Probe, ProbeError> {
    check_remote_url(url).map_err(ProbeError::BadUrl)?;
    let unreachable = |err: reqwest::Error| ProbeError::Unreachable {
        url: url.to_owned(),
        cause: crate::human::error_chain(&err),
    };
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unreachable)?;
    let post = |body: serde_json::Value, session: Option<&str>, version: Option<&str>| {
        let mut request = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        request = auth.apply(request);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        request.send()
    };
    let initialize = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "patchbay", "version": crate::VERSION},
        },
    });
    let response = post(initialize, None, None).await.map_err(unreachable)?;
    if let Some(denied) = denial(&response) {
        return Ok(denied);
    }
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.map_err(unreachable)?;
    let result = status
        .is_success()
        .then(|| answer(&body, 1))
        .flatten()
        .and_then(|message| message.get("result").cloned());
    let Some(result) = result else {
        return Err(ProbeError::NotMcp {
            url: url.to_owned(),
            status: status.as_u16(),
            body: body.chars().take(200).collect(),
        });
    };
    let version = result
        .get("protocolVersion")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let (session, version) = (session.as_deref(), version.as_deref());
    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let listed = match post(initialized, session, version).await {
        Ok(response) if denial(&response).is_some() => Ok(response),
        Ok(_) => {
            let list = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
            post(list, session, version).await
        }
        Err(err) => Err(err),
    };
    let outcome = match listed {
        Ok(response) => match denial(&response) {
            Some(denied) => Ok(denied),
            None => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                match answer(&body, 2) {
                    Some(_) => Ok(()),
                    None => Err(ProbeError::NotMcp {
                        url: url.to_owned(),
                        status: status.as_u16(),
                        body: body.chars().take(200).collect(),
                    }),
                }
                .map(|()| Probe::Open {
                    server_name: result
                        .pointer("/serverInfo/name")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                })
            }
        },
        Err(err) => Err(unreachable(err)),
    };
    if let Some(session) = session {
        // Best effort: a server that keeps the session until it times out is no harm.
        let delete = http.delete(url).header("mcp-session-id", session);
        let _ = auth.apply(delete).send().await;
    }
    outcome
}

/// A 401 or 403 answer, with its challenge.
fn denial(response: &reqwest::Response) -> Option<Probe> {
    let challenge = || {
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match response.status() {
        reqwest::StatusCode::UNAUTHORIZED => Some(Probe::NeedsAuth {
            challenge: challenge(),
        }),
        reqwest::StatusCode::FORBIDDEN => Some(Probe::Forbidden {
            challenge: challenge(),
        }),
        _ => None,
    }
}

/// The JSON-RPC answer with `id`, from a JSON body or an SSE stream.
fn answer(body: &str, id: u32) -> Option<serde_json::Value> {
    let is_answer = |message: &serde_json::Value| message.get("id") == Some(&id.into());
    let events = crate::sse::parse(body.as_bytes());
    std::iter::once(body)
        .chain(events.iter().map(|event| event.data.as_str()))
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .find(is_answer)
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
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(32)
        .collect();
    if valid_server_name(&cleaned) {
        cleaned
    } else {
        "remote".to_owned()
    }
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

    #[test]
    fn the_answer_is_found_in_json_and_in_sse() {
        let json = r#"{"jsonrpc":"2.0","id":1,"result":{"serverInfo":{"name":"a"}}}"#;
        assert_eq!(
            answer(json, 1).unwrap()["result"]["serverInfo"]["name"],
            "a"
        );
        let sse = format!("event: message\ndata: {json}\n\n");
        assert_eq!(
            answer(&sse, 1).unwrap()["result"]["serverInfo"]["name"],
            "a"
        );
        assert!(answer("<html>hello</html>", 1).is_none());
        assert!(answer(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#, 1).is_none());
    }
}
