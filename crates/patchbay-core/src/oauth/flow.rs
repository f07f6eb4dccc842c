//! One sign-in to a remote MCP server (authorization code grant with PKCE S256 through the
//! system browser and a loopback redirect).
//!
//! [`super::discovery`] finds the authorization server (rmcp's RFC 9728 and RFC 8414 / OpenID
//! discovery, then the 2025-03-26 fallbacks). rmcp's `AuthorizationManager` and
//! `AuthorizationSession` do Dynamic Client Registration, the authorization URL (PKCE, `state`,
//! `resource`) and the code exchange (with the RFC 9207 `iss` check). Around them this module:
//! - refuses an authorization server that does not advertise S256 (rmcp only warns when the
//!   field is missing), except at the 2025-03-26 default endpoints, which advertise nothing;
//! - registers through rmcp but keeps what comes back, secret included, in the vault (rmcp's
//!   session hides the secret), and reuses it on the next sign-in at the same issuer;
//! - refuses an authorization URL that is not http(s), opens the browser, runs the listener,
//!   checks `state` and `iss` itself so a mismatch ends the flow with a clear error;
//! - checks the new token against the server (`tools/list`), and on `403 insufficient_scope`
//!   authorizes again with the union of scopes, at most [`MAX_AUTHORIZATIONS`] times in all.

use std::time::{Duration, SystemTime};

use oauth2::TokenResponse;
use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationRequest, AuthorizationSession,
};
use tokio_util::sync::CancellationToken;

use super::listener::Listener;
use super::{ClientCredentials, Progress, SignInRequest, Stage, browser};
use crate::remote::{Probe, ProbeAuth, ProbeError};
use crate::secret::Secret;
use crate::vault::{
    ClientRegistration, Grant, RegistrationKind, TokenSet, Vault, VaultError, unix_seconds,
};

/// Authorizations one sign-in may run: the first, and two for wider scopes.
pub const MAX_AUTHORIZATIONS: u32 = 3;

/// The client name Patchbay registers under.
pub const CLIENT_NAME: &str = "Patchbay";

/// Why a sign-in failed, said for a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The server's URL is not usable, or it did not answer as an MCP server.
    #[error("{0}")]
    Server(String),
    /// Discovery of the authorization server failed.
    #[error("cannot find how to sign in to {url}: {cause}")]
    Discovery {
        /// The server's URL.
        url: String,
        /// What went wrong.
        cause: String,
    },
    /// The authorization server does not advertise PKCE with S256.
    #[error(
        "the authorization server {issuer} does not advertise PKCE with S256 (code_challenge_methods_supported); Patchbay will not sign in without it"
    )]
    NoPkce {
        /// Its issuer.
        issuer: String,
    },
    /// No way to get a client id.
    #[error(
        "the authorization server {issuer} offers no client registration (no registration_endpoint, no client ID metadata documents)"
    )]
    NoRegistration {
        /// Its issuer.
        issuer: String,
    },
    /// Registration failed.
    #[error("registering Patchbay at {issuer} failed: {cause}")]
    Registration {
        /// Its issuer.
        issuer: String,
        /// What the server said.
        cause: String,
    },
    /// The authorization URL is not http(s).
    #[error(transparent)]
    UnsafeUrl(#[from] browser::BrowserError),
    /// The loopback listener could not be opened.
    #[error("cannot listen for the sign-in redirect on 127.0.0.1: {0}")]
    Listener(std::io::Error),
    /// Nobody came back from the browser in time.
    #[error("no answer from the browser within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The user (or the app) cancelled.
    #[error("sign-in cancelled")]
    Cancelled,
    /// The authorization server answered with an error (the user declined, ...).
    #[error("the authorization server refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The OAuth error code.
        error: String,
        /// Its description, when given.
        description: Option<String>,
    },
    /// The redirect carried another `state` than this flow sent.
    #[error(
        "the sign-in redirect carried a `state` this sign-in did not send; it was ignored and nothing was stored"
    )]
    StateMismatch,
    /// The redirect's `iss` is not the authorization server's issuer (RFC 9207).
    #[error("the sign-in redirect came from issuer `{got}`, not `{expected}`; nothing was stored")]
    IssuerMismatch {
        /// The issuer of the metadata.
        expected: String,
        /// The `iss` received (or "(none)").
        got: String,
    },
    /// The code exchange failed.
    #[error("exchanging the authorization code failed: {0}")]
    Exchange(String),
    /// The server rejected the new token.
    #[error("{url} rejected the new token")]
    Rejected {
        /// The server's URL.
        url: String,
    },
    /// The server wants more scope than the user granted.
    #[error(
        "{url} still answers `insufficient_scope` after {MAX_AUTHORIZATIONS} sign-ins (asked for: {scopes})"
    )]
    InsufficientScope {
        /// The server's URL.
        url: String,
        /// The scopes last asked for.
        scopes: String,
    },
    /// The client credentials grant was asked for without a secret or key to use.
    #[error(
        "the client credentials grant at {issuer} needs a client id with its secret or private key"
    )]
    NoClientCredentials {
        /// Its issuer.
        issuer: String,
    },
    /// The authorization server does not offer the client credentials grant.
    #[error(
        "the authorization server {issuer} does not offer the client credentials grant (grant_types_supported)"
    )]
    GrantUnsupported {
        /// Its issuer.
        issuer: String,
    },
    /// The private key cannot sign client assertions.
    #[error(transparent)]
    Key(#[from] super::assertion::AssertionError),
    /// The keychain failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl SignInError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            SignInError::NoRegistration { .. } => Some(
                "register an app at the provider and pass its client id: patchbay connect URL --client-id ID [--client-secret SECRET]"
                    .into(),
            ),
            SignInError::TimedOut(_) => Some(
                "open the printed URL in a browser yourself, or set PATCHBAY_SIGNIN_TIMEOUT (seconds) for longer"
                    .into(),
            ),
            SignInError::Vault(err) => err.hint(),
            SignInError::Key(err) => err.hint(),
            SignInError::NoClientCredentials { .. } => Some(
                "patchbay connect URL --grant client-credentials --client-id ID --client-secret - (reads it from stdin), or --private-key-file KEY.pem"
                    .into(),
            ),
            SignInError::Denied { .. } | SignInError::Rejected { .. } => {
                Some("sign in again; check the account you chose".into())
            }
            _ => None,
        }
    }
}

/// The token endpoint authentication method rmcp's client will use (its `configure_client`
/// rule), recorded so that a refresh authenticates the same way.
pub(super) fn auth_method(
    metadata: &rmcp::transport::auth::AuthorizationMetadata,
    has_secret: bool,
) -> &'static str {
    if !has_secret {
        return "none";
    }
    let supported = metadata
        .additional_fields
        .get("token_endpoint_auth_methods_supported")
        .and_then(|v| v.as_array());
    let has = |m: &str| supported.is_some_and(|a| a.iter().any(|v| v.as_str() == Some(m)));
    if has("client_secret_post") && !has("client_secret_basic") {
        "client_secret_post"
    } else {
        "client_secret_basic"
    }
}

fn query_param(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether the server took a new token (`probed`, at `url`, asked with `scopes`): the sign-in's
/// error when it did not.
pub(super) fn token_taken(
    probed: Result<Probe, ProbeError>,
    url: String,
    scopes: &[String],
) -> Result<(), SignInError> {
    match probed {
        Ok(Probe::Open { .. }) => Ok(()),
        Ok(Probe::Forbidden { .. }) => Err(SignInError::InsufficientScope {
            url,
            scopes: scopes.join(" "),
        }),
        Ok(Probe::NeedsAuth { .. }) => Err(SignInError::Rejected { url }),
        Err(ProbeError::Unreachable { url, cause }) => {
            Err(SignInError::Server(format!("cannot reach {url}: {cause}")))
        }
        Err(err) => Err(SignInError::Server(err.to_string())),
    }
}

/// The scopes of a `WWW-Authenticate` challenge.
pub fn challenge_scopes(challenge: Option<&str>) -> Vec<String> {
    let Some(challenge) = challenge else {
        return Vec::new();
    };
    let base = url::Url::parse("http://localhost/").expect("static URL");
    rmcp::transport::auth::WWWAuthenticateParams::parse(challenge, &base)
        .scope
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn union(mut scopes: Vec<String>, more: Vec<String>) -> Vec<String> {
    for scope in more {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// Run one sign-in and store the tokens in `vault` under `request.server`. `report` hears each
/// stage; `cancel` ends the flow (the listener closes, nothing is stored).
pub async fn sign_in(
    request: SignInRequest,
    vault: &Vault,
    report: &(dyn Fn(Progress) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<TokenSet, SignInError> {
    let url = request.url.clone();
    crate::config::check_remote_url(&url).map_err(SignInError::Server)?;
    report(Progress::new(
        Stage::Discovering,
        format!("Finding the authorization server of {url}"),
    ));
    let discovery = |cause: String| SignInError::Discovery {
        url: url.clone(),
        cause,
    };
    let parsed = url::Url::parse(&url).map_err(|e| SignInError::Server(e.to_string()))?;
    let transport = super::transport::Transport::for_server(&parsed);
    let mut manager =
        AuthorizationManager::new_with_oauth_http_client(url.as_str(), transport.clone())
            .await
            .map_err(|e| discovery(e.to_string()))?;
    let found =
        super::discovery::discover(&manager, &transport, &parsed, request.challenge.as_deref())
            .await
            .map_err(|e| discovery(crate::human::error_chain(&e)))?;
    let metadata = found.metadata.clone();
    let issuer = found.issuer.clone();
    let registered = vault.load_client_registration(&issuer).await?;
    // A client configured for the client credentials grant signs in with it again (`login`,
    // a step-up), unless the request names a grant or another client.
    let grant = request
        .grant
        .unwrap_or(match (&request.client, &registered) {
            (None, Some(r))
                if r.kind == RegistrationKind::Configured
                    && r.grant == Grant::ClientCredentials =>
            {
                Grant::ClientCredentials
            }
            _ => Grant::AuthorizationCode,
        });
    if grant == Grant::ClientCredentials {
        return super::client_credentials::sign_in(&request, vault, report, &found, registered)
            .await;
    }
    // The 2025-03-26 default endpoints advertise nothing; PKCE S256 is used all the same.
    let s256 = metadata
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| m == "S256"));
    if found.source.published() && !s256 {
        return Err(SignInError::NoPkce { issuer });
    }
    let cimd_supported = metadata
        .additional_fields
        .get("client_id_metadata_document_supported")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let iss_required = metadata
        .additional_fields
        .get("authorization_response_iss_parameter_supported")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    manager.set_metadata(metadata.clone());

    report(Progress::new(
        Stage::Registering,
        format!("Getting a client id at {issuer}"),
    ));
    let choice = choose_client(
        &issuer,
        request.client.clone(),
        registered,
        request.client_metadata_url.clone(),
        cimd_supported,
        metadata.registration_endpoint.is_some(),
        unix_seconds(SystemTime::now()),
    )
    .ok_or_else(|| SignInError::NoRegistration {
        issuer: issuer.clone(),
    })?;
    // A stored registration names a redirect port; listening there again keeps its exact URI.
    // When that port is taken, a new registration names the one found instead.
    let stored_port = match &choice {
        ClientChoice::Stored(r) => r
            .redirect_uris
            .first()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.port()),
        _ => None,
    };
    let (mut listener, choice) = match stored_port.map(Listener::bind) {
        Some(bound) => match bound.await {
            Ok(listener) => (listener, choice),
            Err(_) => (
                Listener::bind(0).await.map_err(SignInError::Listener)?,
                ClientChoice::Register,
            ),
        },
        None => (
            Listener::bind(0).await.map_err(SignInError::Listener)?,
            choice,
        ),
    };
    let redirect_uri = listener.redirect_uri().to_owned();

    let mut client_metadata_url = None;
    let (client_id, client_secret, kind) = match choice {
        ClientChoice::Configured(client) => {
            (client.id, client.secret, Some(RegistrationKind::Configured))
        }
        ClientChoice::MetadataDocument(cimd) => {
            client_metadata_url = Some(cimd.clone());
            (cimd, None, None)
        }
        ClientChoice::Stored(registration) => {
            (registration.client_id, registration.client_secret, None)
        }
        ClientChoice::Register => {
            let scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
            // rmcp sends `application_type: "native"` (its default) with the loopback URI.
            let registered = manager
                .register_client(CLIENT_NAME, &redirect_uri, &scopes)
                .await
                .map_err(|e| SignInError::Registration {
                    issuer: issuer.clone(),
                    cause: e.to_string(),
                })?;
            let secret = registered.client_secret.clone().map(Secret::new);
            let registration = ClientRegistration {
                issuer: issuer.clone(),
                kind: RegistrationKind::Dynamic,
                client_id: registered.client_id.clone(),
                client_secret: secret.clone(),
                client_secret_expires_at: None,
                registration_access_token: None,
                registration_client_uri: None,
                redirect_uris: vec![redirect_uri.clone()],
                token_endpoint_auth_method: Some(
                    auth_method(&metadata, secret.is_some()).to_owned(),
                ),
                registered_at: unix_seconds(SystemTime::now()),
                grant: Grant::AuthorizationCode,
                private_key: None,
                signing_alg: None,
            };
            vault.store_client_registration(&registration).await?;
            (registered.client_id, secret, None)
        }
    };

    let mut scopes = request.scopes.clone();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut authorization =
            AuthorizationRequest::new(redirect_uri.clone()).with_client_name(CLIENT_NAME);
        authorization = match &client_metadata_url {
            Some(cimd) => authorization.with_client_metadata_url(cimd.clone()),
            None => authorization.with_preregistered_client(client_id.clone()),
        };
        if let Some(secret) = &client_secret {
            authorization = authorization.with_client_secret(secret.expose());
        }
        authorization = if scopes.is_empty() {
            authorization.with_initial_scope_selection()
        } else {
            authorization.with_scopes(scopes.clone())
        };
        let session = AuthorizationSession::new(manager, authorization)
            .await
            .map_err(|(_, e)| match e {
                AuthError::PkceUnsupported => SignInError::NoPkce {
                    issuer: issuer.clone(),
                },
                other => SignInError::Registration {
                    issuer: issuer.clone(),
                    cause: other.to_string(),
                },
            })?;
        let auth_url = browser::check_url(&session.auth_url)?;
        let state = query_param(&auth_url, "state").unwrap_or_default();
        let resource = query_param(&auth_url, "resource").unwrap_or_else(|| url.clone());
        let asked = query_param(&auth_url, "scope").unwrap_or_default();

        let mut waiting = Progress::new(
            Stage::WaitingForBrowser,
            "Waiting for you to sign in in your browser",
        );
        waiting.url = Some(auth_url.to_string());
        report(waiting);
        if let Err(err) = browser::open(auth_url.as_str()).await {
            report(Progress::new(
                Stage::WaitingForBrowser,
                format!("{err}; open the URL above in your browser yourself"),
            ));
        }
        let timeout = super::sign_in_timeout();
        let callback = tokio::select! {
            c = listener.next() => c.ok_or(SignInError::Cancelled)?,
            _ = tokio::time::sleep(timeout) => return Err(SignInError::TimedOut(timeout)),
            _ = cancel.cancelled() => return Err(SignInError::Cancelled),
        };
        if callback.state.as_deref() != Some(state.as_str()) {
            return Err(SignInError::StateMismatch);
        }
        if let Some(error) = callback.error {
            return Err(SignInError::Denied {
                error,
                description: callback.error_description,
            });
        }
        match (&callback.iss, &metadata.issuer) {
            (Some(got), Some(expected)) if got != expected => {
                return Err(SignInError::IssuerMismatch {
                    expected: expected.clone(),
                    got: got.clone(),
                });
            }
            (None, Some(expected)) if iss_required => {
                return Err(SignInError::IssuerMismatch {
                    expected: expected.clone(),
                    got: "(none)".into(),
                });
            }
            _ => {}
        }
        let Some(code) = callback.code else {
            return Err(SignInError::Denied {
                error: "no code in the redirect".into(),
                description: None,
            });
        };

        report(Progress::new(Stage::Exchanging, "Fetching the tokens"));
        let response = session
            .handle_callback_with_issuer(&code, &state, callback.iss.as_deref())
            .await
            .map_err(|e| SignInError::Exchange(crate::human::error_chain(&e)))?;
        manager = session.auth_manager;
        let granted = manager.get_current_scopes().await;
        let now = SystemTime::now();
        let tokens = TokenSet {
            access_token: Secret::new(response.access_token().secret()),
            token_type: "Bearer".into(),
            refresh_token: response.refresh_token().map(|t| Secret::new(t.secret())),
            expires_at: response
                .expires_in()
                .map(|d| unix_seconds(now) + d.as_secs()),
            obtained_at: unix_seconds(now),
            scopes: if granted.is_empty() {
                asked.split_whitespace().map(str::to_owned).collect()
            } else {
                granted
            },
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            resource,
            token_endpoint: metadata.token_endpoint.clone(),
            revocation_endpoint: metadata
                .additional_fields
                .get("revocation_endpoint")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            grant: Grant::AuthorizationCode,
        };

        report(Progress::new(
            Stage::Verifying,
            format!("Checking the new token with {url}"),
        ));
        let probed = crate::remote::probe(&url, ProbeAuth::Bearer(&tokens.access_token)).await;
        match probed {
            Ok(Probe::Open { .. }) => {}
            Ok(Probe::Forbidden { challenge }) if attempts < MAX_AUTHORIZATIONS => {
                let wanted = challenge_scopes(challenge.as_deref());
                scopes = union(union(scopes, tokens.scopes.clone()), wanted);
                report(Progress::new(
                    Stage::Discovering,
                    format!(
                        "{url} needs more access ({}); signing in again",
                        scopes.join(" ")
                    ),
                ));
                continue;
            }
            other => token_taken(other, url.clone(), &scopes)?,
        }
        if let Some(kind @ RegistrationKind::Configured) = kind {
            vault
                .store_client_registration(&ClientRegistration {
                    issuer: issuer.clone(),
                    kind,
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    client_secret_expires_at: None,
                    registration_access_token: None,
                    registration_client_uri: None,
                    redirect_uris: vec![redirect_uri.clone()],
                    token_endpoint_auth_method: Some(
                        auth_method(&metadata, client_secret.is_some()).to_owned(),
                    ),
                    registered_at: unix_seconds(now),
                    grant: Grant::AuthorizationCode,
                    private_key: None,
                    signing_alg: None,
                })
                .await?;
        }
        vault.store_tokens(&request.server, &tokens).await?;
        report(Progress::new(
            Stage::Done,
            format!("Signed in to {}", request.server),
        ));
        return Ok(tokens);
    }
}

/// The client a sign-in presents at an authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ClientChoice {
    /// A client id the user configured, now or at an earlier sign-in at this issuer.
    Configured(ClientCredentials),
    /// Patchbay's Client ID Metadata Document: its URL is the client id.
    MetadataDocument(String),
    /// A registration made earlier at this same issuer (Dynamic Client Registration).
    Stored(ClientRegistration),
    /// A new Dynamic Client Registration.
    Register,
}

/// Which client to present at `issuer`, in the spec's order: a configured client (the
/// request's, else one configured earlier at this issuer); the metadata document, where the
/// server advertises `client_id_metadata_document_supported`; the registration stored for this
/// issuer (never one made at another, nor one whose secret expired at `now`); a new
/// registration where the server has a `registration_endpoint`. `None`: no way to get one.
pub(super) fn choose_client(
    issuer: &str,
    requested: Option<ClientCredentials>,
    registered: Option<ClientRegistration>,
    metadata_url: Option<String>,
    cimd_supported: bool,
    can_register: bool,
    now: u64,
) -> Option<ClientChoice> {
    if let Some(client) = requested {
        return Some(ClientChoice::Configured(client));
    }
    let registered = registered
        .filter(|r| r.issuer == issuer && r.client_secret_expires_at.is_none_or(|at| at > now));
    if let Some(r) = registered
        .as_ref()
        .filter(|r| r.kind == RegistrationKind::Configured)
    {
        return Some(ClientChoice::Configured(ClientCredentials {
            id: r.client_id.clone(),
            secret: r.client_secret.clone(),
            ..ClientCredentials::default()
        }));
    }
    if let Some(url) = metadata_url.filter(|_| cimd_supported) {
        return Some(ClientChoice::MetadataDocument(url));
    }
    if let Some(r) = registered.filter(|r| r.kind == RegistrationKind::Dynamic) {
        return Some(ClientChoice::Stored(r));
    }
    can_register.then_some(ClientChoice::Register)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_scopes_are_read_from_the_header() {
        assert_eq!(
            challenge_scopes(Some(
                r#"Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="https://x/.well-known/oauth-protected-resource""#
            )),
            ["mcp:basic", "mcp:write"]
        );
        assert!(challenge_scopes(Some("Bearer")).is_empty());
        assert!(challenge_scopes(None).is_empty());
    }

    #[test]
    fn scope_union_keeps_order_and_drops_repeats() {
        let got = union(vec!["a".into(), "b".into()], vec!["b".into(), "c".into()]);
        assert_eq!(got, ["a", "b", "c"]);
    }

    #[test]
    fn the_auth_method_follows_what_the_server_supports() {
        let mut metadata = rmcp::transport::auth::AuthorizationMetadata::default();
        assert_eq!(auth_method(&metadata, false), "none");
        assert_eq!(auth_method(&metadata, true), "client_secret_basic");
        metadata.additional_fields.insert(
            "token_endpoint_auth_methods_supported".into(),
            serde_json::json!(["client_secret_post"]),
        );
        assert_eq!(auth_method(&metadata, true), "client_secret_post");
    }

    const ISSUER: &str = "https://auth.example.test";
    const CIMD: &str = "https://owner.github.io/patchbay/oauth/client-metadata.json";

    fn registration(issuer: &str, kind: RegistrationKind, id: &str) -> ClientRegistration {
        ClientRegistration {
            issuer: issuer.into(),
            kind,
            client_id: id.into(),
            client_secret: None,
            client_secret_expires_at: None,
            registration_access_token: None,
            registration_client_uri: None,
            redirect_uris: vec!["http://127.0.0.1:50000/callback".into()],
            token_endpoint_auth_method: Some("none".into()),
            registered_at: 1,
            grant: Grant::AuthorizationCode,
            private_key: None,
            signing_alg: None,
        }
    }

    fn flag(id: &str) -> ClientCredentials {
        ClientCredentials {
            id: id.into(),
            ..ClientCredentials::default()
        }
    }

    #[test]
    fn a_configured_client_comes_before_everything() {
        let stored = registration(ISSUER, RegistrationKind::Dynamic, "dcr-1");
        let got = choose_client(
            ISSUER,
            Some(flag("mine")),
            Some(stored),
            Some(CIMD.into()),
            true,
            true,
            10,
        );
        assert_eq!(got, Some(ClientChoice::Configured(flag("mine"))));
        let earlier = registration(ISSUER, RegistrationKind::Configured, "mine-before");
        let got = choose_client(
            ISSUER,
            None,
            Some(earlier),
            Some(CIMD.into()),
            true,
            true,
            10,
        );
        assert_eq!(
            got,
            Some(ClientChoice::Configured(flag("mine-before"))),
            "a client configured at an earlier connect counts as configured"
        );
    }

    #[test]
    fn the_metadata_document_comes_before_a_registration_where_supported() {
        let stored = registration(ISSUER, RegistrationKind::Dynamic, "dcr-1");
        let got = choose_client(
            ISSUER,
            None,
            Some(stored.clone()),
            Some(CIMD.into()),
            true,
            true,
            10,
        );
        assert_eq!(got, Some(ClientChoice::MetadataDocument(CIMD.into())));
        let got = choose_client(
            ISSUER,
            None,
            Some(stored.clone()),
            Some(CIMD.into()),
            false,
            true,
            10,
        );
        assert_eq!(
            got,
            Some(ClientChoice::Stored(stored)),
            "a server that does not advertise client_id_metadata_document_supported gets no URL"
        );
        let got = choose_client(ISSUER, None, None, None, true, true, 10);
        assert_eq!(
            got,
            Some(ClientChoice::Register),
            "no URL (a dev build): registration"
        );
    }

    #[test]
    fn a_stored_registration_is_reused_only_at_its_issuer() {
        let stored = registration(ISSUER, RegistrationKind::Dynamic, "dcr-1");
        let got = choose_client(ISSUER, None, Some(stored.clone()), None, false, true, 10);
        assert_eq!(got, Some(ClientChoice::Stored(stored.clone())));
        let got = choose_client(
            "https://other.example.test",
            None,
            Some(stored),
            None,
            false,
            true,
            10,
        );
        assert_eq!(
            got,
            Some(ClientChoice::Register),
            "another issuer's client id is never presented"
        );
        let elsewhere = registration(
            "https://other.example.test",
            RegistrationKind::Configured,
            "x",
        );
        let got = choose_client(ISSUER, None, Some(elsewhere), None, false, false, 10);
        assert_eq!(got, None, "nor another issuer's configured client");
    }

    #[test]
    fn a_registration_whose_secret_expired_is_replaced() {
        let mut stored = registration(ISSUER, RegistrationKind::Dynamic, "dcr-1");
        stored.client_secret = Some(Secret::new("registered-secret"));
        stored.client_secret_expires_at = Some(10);
        let got = choose_client(ISSUER, None, Some(stored.clone()), None, false, true, 9);
        assert_eq!(got, Some(ClientChoice::Stored(stored.clone())));
        let got = choose_client(ISSUER, None, Some(stored), None, false, true, 10);
        assert_eq!(got, Some(ClientChoice::Register));
    }

    #[test]
    fn without_registration_endpoint_or_document_there_is_no_client() {
        assert_eq!(
            choose_client(ISSUER, None, None, Some(CIMD.into()), false, false, 10),
            None
        );
        assert_eq!(
            choose_client(ISSUER, None, None, Some(CIMD.into()), true, false, 10),
            Some(ClientChoice::MetadataDocument(CIMD.into())),
            "a server with documents and no registration endpoint still signs in"
        );
    }
}
