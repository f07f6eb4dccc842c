//! Finding a remote server's authorization server.
//!
//! First what current revisions of the MCP authorization spec ask for, done by rmcp: RFC 9728
//! protected resource metadata (from the challenge's `resource_metadata`, then the well-known
//! paths), then RFC 8414 / OpenID metadata with the issuer check. Only when that finds nothing,
//! the 2025-03-26 revision's two fallbacks, where the MCP server's origin is the authorization
//! server:
//! - its metadata at `<authorization base>/.well-known/oauth-authorization-server`, accepted
//!   with an issuer other than the base only when that issuer is on the server's own origin
//!   (the origin that serves both vouches for both; an issuer on another origin would let a
//!   server borrow another provider's stored client registration);
//! - no metadata at all: the default endpoints `/authorize`, `/token` and `/register` at the
//!   authorization base.
//!
//! Words: the *authorization base* is the MCP server's URL with its path, query and fragment
//! discarded (2025-03-26, "Server Metadata Discovery").

use rmcp::transport::auth::{AuthError, AuthorizationManager, AuthorizationMetadata};

use super::transport::Transport;

/// The metadata path of RFC 8414, which 2025-03-26 servers publish at their origin.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The protocol revision the 2025-03-26 metadata request names (`MCP-Protocol-Version`).
pub const LEGACY_REVISION: &str = "2025-03-26";

/// How the authorization server was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// RFC 9728 protected resource metadata named it.
    ProtectedResource,
    /// RFC 8414 / OpenID metadata at the server's base URL, issuer checked.
    ServerMetadata,
    /// 2025-03-26: metadata at the authorization base, issuer on the server's origin.
    LegacyMetadata,
    /// 2025-03-26: nothing published; the default endpoints at the authorization base.
    LegacyDefaultEndpoints,
}

impl Source {
    /// Whether the authorization server published its metadata (else the endpoints are the
    /// 2025-03-26 defaults, and nothing is advertised: PKCE S256 is used without the promise).
    pub fn published(self) -> bool {
        self != Source::LegacyDefaultEndpoints
    }
}

/// What discovery found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The metadata (for the default endpoints: the three endpoints only).
    pub metadata: AuthorizationMetadata,
    /// How.
    pub source: Source,
    /// The issuer identifier Patchbay keys its client registration by: the metadata's, else
    /// the authorization base.
    pub issuer: String,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// rmcp's discovery failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The 2025-03-26 metadata could not be read.
    #[error("cannot read `{url}`: {cause}")]
    Fetch {
        /// The metadata URL.
        url: String,
        /// What happened.
        cause: String,
    },
    /// The 2025-03-26 metadata names an issuer on another origin.
    #[error("the metadata at `{url}` names issuer `{issuer}`, which is not on the server's origin")]
    ForeignIssuer {
        /// The metadata URL.
        url: String,
        /// The issuer it named.
        issuer: String,
    },
}

/// The authorization base of `server`: its origin, path, query and fragment discarded.
pub fn authorization_base(server: &url::Url) -> url::Url {
    let mut base = server.clone();
    base.set_path("");
    base.set_query(None);
    base.set_fragment(None);
    base
}

/// The authorization base as an issuer-like string, without the root's trailing slash.
fn base_identifier(server: &url::Url) -> String {
    authorization_base(server)
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

/// The 2025-03-26 default endpoints of `server`: `/authorize`, `/token` and `/register` at its
/// authorization base.
pub fn default_endpoints(server: &url::Url) -> AuthorizationMetadata {
    let at = |path: &str| {
        let mut url = authorization_base(server);
        url.set_path(path);
        url.to_string()
    };
    let mut metadata = AuthorizationMetadata::default();
    metadata.authorization_endpoint = at("/authorize");
    metadata.token_endpoint = at("/token");
    metadata.registration_endpoint = Some(at("/register"));
    metadata
}

/// Whether `issuer` is on the origin of `server` (scheme, host and port).
pub fn same_origin(issuer: &str, server: &url::Url) -> bool {
    url::Url::parse(issuer).is_ok_and(|i| i.origin() == server.origin())
}

/// Find the authorization server of `server`, whose 401 or 403 carried `challenge`.
pub async fn discover(
    manager: &AuthorizationManager,
    transport: &Transport,
    server: &url::Url,
    challenge: Option<&str>,
) -> Result<Found, DiscoveryError> {
    let issuer_or_base = |metadata: &AuthorizationMetadata| {
        metadata
            .issuer
            .clone()
            .unwrap_or_else(|| base_identifier(server))
    };
    match manager.resolve_metadata_from_challenge(challenge).await {
        Ok(resolution) if resolution.source.is_discovered() => {
            let source = match resolution.source {
                rmcp::transport::auth::AuthorizationMetadataSource::ProtectedResourceMetadata => {
                    Source::ProtectedResource
                }
                _ => Source::ServerMetadata,
            };
            Ok(Found {
                issuer: issuer_or_base(&resolution.metadata),
                metadata: resolution.metadata,
                source,
            })
        }
        // Nothing answered at any metadata location, the authorization base's included.
        Ok(_) => {
            tracing::info!(server = %server, "no authorization server metadata; using the 2025-03-26 default endpoints");
            Ok(Found {
                metadata: default_endpoints(server),
                source: Source::LegacyDefaultEndpoints,
                issuer: base_identifier(server),
            })
        }
        // The base's metadata answered with an issuer other than the base: a 2025-03-26 server
        // whose authorization server lives under a path of its own origin.
        Err(AuthError::AuthorizationServerMismatch {
            expected_issuer, ..
        }) if expected_issuer.trim_end_matches('/') == base_identifier(server) => {
            let metadata = legacy_metadata(transport, server).await?;
            tracing::info!(server = %server, "authorization server metadata at the server's origin (2025-03-26)");
            Ok(Found {
                issuer: issuer_or_base(&metadata),
                metadata,
                source: Source::LegacyMetadata,
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// The 2025-03-26 metadata at the authorization base of `server`, its issuer checked to be on
/// the server's origin.
async fn legacy_metadata(
    transport: &Transport,
    server: &url::Url,
) -> Result<AuthorizationMetadata, DiscoveryError> {
    let mut url = authorization_base(server);
    url.set_path(METADATA_PATH);
    let fetch = |cause: String| DiscoveryError::Fetch {
        url: url.to_string(),
        cause,
    };
    let body = transport
        .get(&url, &[("mcp-protocol-version", LEGACY_REVISION)])
        .await
        .map_err(|e| fetch(crate::human::error_chain(e.as_ref())))?
        .ok_or_else(|| fetch("no metadata there".into()))?;
    let metadata: AuthorizationMetadata =
        serde_json::from_slice(&body).map_err(|e| fetch(e.to_string()))?;
    if let Some(issuer) = &metadata.issuer
        && !same_origin(issuer, server)
    {
        return Err(DiscoveryError::ForeignIssuer {
            url: url.to_string(),
            issuer: issuer.clone(),
        });
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn the_authorization_base_discards_path_query_and_fragment() {
        assert_eq!(
            authorization_base(&url("https://api.example.com:8443/v1/mcp?x=1#f")).as_str(),
            "https://api.example.com:8443/"
        );
        assert_eq!(
            base_identifier(&url("http://localhost:3000/mcp")),
            "http://localhost:3000"
        );
    }

    #[test]
    fn default_endpoints_sit_at_the_authorization_base() {
        let metadata = default_endpoints(&url("https://api.example.com/v1/mcp?x=1"));
        assert_eq!(
            metadata.authorization_endpoint,
            "https://api.example.com/authorize"
        );
        assert_eq!(metadata.token_endpoint, "https://api.example.com/token");
        assert_eq!(
            metadata.registration_endpoint.as_deref(),
            Some("https://api.example.com/register")
        );
        assert!(
            metadata.issuer.is_none() && metadata.code_challenge_methods_supported.is_none(),
            "the defaults advertise nothing"
        );
        assert!(!Source::LegacyDefaultEndpoints.published());
    }

    #[test]
    fn only_an_issuer_on_the_servers_origin_is_accepted_from_legacy_metadata() {
        let server = url("http://localhost:3000/mcp");
        assert!(same_origin("http://localhost:3000/oauth", &server));
        assert!(same_origin("http://localhost:3000", &server));
        assert!(!same_origin("http://localhost:3001/oauth", &server), "port");
        assert!(
            !same_origin("https://localhost:3000/oauth", &server),
            "scheme"
        );
        assert!(!same_origin("https://accounts.example.com", &server));
        assert!(!same_origin("not a url", &server));
    }
}
