//! OAuth 2.1 for remote MCP servers: signing in, and keeping the tokens working.
//!
//! - [`flow`]: one sign-in (MCP authorization spec, `shared/reference/mcp-auth.md`): discovery,
//!   registration, the browser, the loopback redirect, the code exchange, a check that the new
//!   token opens the server. rmcp's `auth` module does discovery, registration and the exchange;
//!   this module adds what it leaves to the caller: refusing servers without PKCE S256, the
//!   listener, the browser, persisting a registration with its secret.
//! - [`discovery`]: finding the authorization server: RFC 9728, RFC 8414 / OpenID, and only
//!   when those find nothing the 2025-03-26 fallbacks (metadata or default endpoints at the
//!   server's origin).
//! - [`client_credentials`]: the client credentials grant (a client that signs in on its own,
//!   with a secret or an RFC 7523 assertion from [`assertion`]), at sign-in and at each renewal.
//! - [`keeper`]: the hub's owner of one server's tokens: refresh ahead of expiry, one refresh
//!   at a time, the rotated refresh token stored before the new access token is used,
//!   "needs sign-in" on a definitive rejection, revocation (RFC 7009).
//! - [`http`]: rmcp's Streamable HTTP client with the keeper's credentials on every request.
//!
//! Tokens live only in the [`crate::vault`]; every type here that holds one redacts it.

pub mod assertion;
pub mod browser;
pub mod client_credentials;
pub mod connect;
pub mod discovery;
pub mod flow;
pub mod http;
pub mod keeper;
pub mod listener;
pub mod transport;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use flow::{SignInError, sign_in};
pub use keeper::{Keeper, KeeperError, TokenActions, TokenState, TokenStatus};

use crate::secret::Secret;
pub use crate::vault::Grant;

/// How long a sign-in waits for the browser to come back, unless `PATCHBAY_SIGNIN_TIMEOUT`
/// (seconds) says otherwise.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The sign-in time-out in force.
pub fn sign_in_timeout() -> Duration {
    std::env::var("PATCHBAY_SIGNIN_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(SIGN_IN_TIMEOUT, Duration::from_secs_f64)
}

/// The Client ID Metadata Document URL a release build presents by default: the document the
/// release workflow publishes (`resources/oauth/client-metadata.json`, filled in by
/// `scripts/client-metadata`), baked in at compile time. A build without
/// `PATCHBAY_CLIENT_METADATA_URL_DEFAULT` (dev builds, tests) has none.
pub const DEFAULT_CLIENT_METADATA_URL: Option<&str> =
    option_env!("PATCHBAY_CLIENT_METADATA_URL_DEFAULT");

/// The Client ID Metadata Document URL Patchbay presents to authorization servers that accept
/// one (`client_id_metadata_document_supported`) when `--client-metadata-url` gives none:
/// `PATCHBAY_CLIENT_METADATA_URL`, else the baked-in [`DEFAULT_CLIENT_METADATA_URL`]. The
/// variable set to an empty value turns the document off (Dynamic Client Registration).
pub fn client_metadata_url() -> Option<String> {
    metadata_url_in_force(
        std::env::var("PATCHBAY_CLIENT_METADATA_URL").ok(),
        DEFAULT_CLIENT_METADATA_URL,
    )
}

/// The rule of [`client_metadata_url`]: the runtime variable when set (empty: none), else the
/// baked-in default (empty: none).
fn metadata_url_in_force(runtime: Option<String>, baked: Option<&str>) -> Option<String> {
    runtime
        .or_else(|| baked.map(str::to_owned))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Why `url` cannot be a Client ID Metadata Document URL (the client id itself): it must be
/// https with a path, and no fragment, credentials or dot segments.
pub fn check_client_metadata_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{url}` cannot be a client metadata document URL: {why}"
        ))
    };
    let Ok(parsed) = url::Url::parse(url) else {
        return bad("not a URL");
    };
    if parsed.scheme() != "https" {
        return bad("not https");
    }
    if parsed.path() == "/" {
        return bad("it has no path");
    }
    if parsed.fragment().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("it has a fragment or credentials");
    }
    // `Url` resolves `.` and `..`; a URL that changed on parsing had them.
    if url.split(['?', '#']).next().is_some_and(|p| {
        p.split('/')
            .any(|segment| segment == "." || segment == "..")
    }) {
        return bad("it has `.` or `..` segments");
    }
    Ok(())
}

/// A client id (and secret, or private key) the user got from the provider for this server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The client id.
    pub id: String,
    /// The client secret, for a confidential client.
    pub secret: Option<Secret>,
    /// The private key (PEM) of a `private_key_jwt` client, for the client credentials grant.
    pub private_key: Option<Secret>,
    /// The JWS algorithm it signs with (`None`: the key's usual one).
    pub signing_alg: Option<String>,
}

/// What to sign in to, and how.
#[derive(Debug, Clone, Default)]
pub struct SignInRequest {
    /// The server's config name.
    pub server: String,
    /// Its MCP endpoint.
    pub url: String,
    /// The `WWW-Authenticate` challenge of its 401 or 403, when there was one.
    pub challenge: Option<String>,
    /// Scopes to ask for; empty: the challenge's, else the resource's `scopes_supported`, else
    /// none.
    pub scopes: Vec<String>,
    /// A client registration the user supplied.
    pub client: Option<ClientCredentials>,
    /// A Client ID Metadata Document URL to present where accepted.
    pub client_metadata_url: Option<String>,
    /// The grant to use; `None`: the one of the client configured at the issuer, else the
    /// authorization code grant.
    pub grant: Option<Grant>,
}

/// Where a sign-in is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Finding the authorization server.
    Discovering,
    /// Getting a client id.
    Registering,
    /// The browser is open; waiting for the user.
    WaitingForBrowser,
    /// Trading the code for tokens.
    Exchanging,
    /// Checking that the tokens open the server.
    Verifying,
    /// Signed in; tokens stored.
    Done,
    /// Ended with an error.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

/// One step of a sign-in, for the person watching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Progress {
    /// The stage reached.
    pub stage: Stage,
    /// What is happening, said for a person.
    pub message: String,
    /// The authorization URL, at [`Stage::WaitingForBrowser`] (no secret: it carries the PKCE
    /// challenge and `state`, never the verifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Progress {
    pub(crate) fn new(stage: Stage, message: impl Into<String>) -> Self {
        Self {
            stage,
            message: message.into(),
            url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_variable_overrides_the_baked_default() {
        let baked = Some("https://owner.github.io/patchbay/oauth/client-metadata.json");
        assert_eq!(
            metadata_url_in_force(Some("https://mine.test/c.json".into()), baked).as_deref(),
            Some("https://mine.test/c.json")
        );
        assert_eq!(metadata_url_in_force(None, baked).as_deref(), baked);
        assert_eq!(
            metadata_url_in_force(Some(" ".into()), baked),
            None,
            "an empty variable turns the document off, default included"
        );
        assert_eq!(
            metadata_url_in_force(None, None),
            None,
            "a dev build has no default"
        );
    }

    #[test]
    fn a_client_metadata_url_is_https_with_a_path() {
        assert!(
            check_client_metadata_url("https://owner.github.io/p/oauth/client-metadata.json")
                .is_ok()
        );
        for (url, why) in [
            ("http://owner.github.io/c.json", "not https"),
            ("https://owner.github.io", "no path"),
            ("https://owner.github.io/", "no path"),
            ("https://owner.github.io/c.json#x", "fragment"),
            ("https://u:p@owner.github.io/c.json", "credentials"),
            ("https://owner.github.io/a/../c.json", "segments"),
            ("client-metadata.json", "not a URL"),
        ] {
            let err = check_client_metadata_url(url).unwrap_err();
            assert!(err.contains(why) && err.contains(url), "{url}: {err}");
        }
    }
}
