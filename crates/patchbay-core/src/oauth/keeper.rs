//! The owner of one remote server's credentials inside the hub.
//!
//! Every request to the server asks the keeper for its credential. The keeper:
//! - loads the token set (or static header) from the vault once, and Patchbay's client
//!   registration at its authorization server once, at the first refresh, and keeps them: the
//!   hub is their only reader, so requests and refreshes never read the keychain again (on
//!   macOS every read may be a prompt); a sign-in, `reload` or a keychain that could not be
//!   read are the only reasons to read again;
//! - refreshes ahead of expiry ([`refresh_margin`]), one refresh at a time: the token set sits
//!   behind one async mutex, so concurrent requests wait for the refresh under way and then see
//!   its result, and a request that was rejected with a token already replaced just retries;
//! - stores a rotated refresh token in the vault before the new access token is handed out, and
//!   keeps the old refresh token when the response carries none;
//! - renews tokens of the client credentials grant, which come without a refresh token, by
//!   running the grant again with the client's secret or key from the vault
//!   ([`super::client_credentials::renew`]), on the same path and under the same lock;
//! - on a definitive rejection (`invalid_grant`, `invalid_client`, `unauthorized_client`)
//!   deletes the tokens and moves to [`TokenState::NeedsSignIn`], announced once; requests then
//!   fail at once with an error that says to sign in, instead of a loop of failing requests;
//! - retries a transient failure (network, `server_error`, 5xx) with backoff;
//! - revokes at the provider (RFC 7009) and deletes locally.
//!
//! The refresh request is oauth2's (the crate rmcp's `auth` module builds on), not rmcp's `AuthorizationManager::refresh_token`: that needs a manager rebuilt from the whole
//! authorization server metadata on every hub start, and it refreshes again for every caller
//! that waited (no expiry re-check under its guard), so 50 concurrent calls after expiry would
//! spend 50 refreshes of a rotating refresh token. The keeper's lock is the single flight.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use rmcp::model::RequestId;
use serde::{Deserialize, Serialize};

use super::SignInError;
use crate::secret::Secret;
use crate::vault::{
    ClientRegistration, Grant, StaticHeader, TokenSet, Vault, VaultError, unix_seconds,
};

/// Refresh attempts for a transient failure, 0.5 s apart and doubling.
pub const REFRESH_ATTEMPTS: u32 = 3;
/// How long one token endpoint request may take.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long before expiry a token is refreshed: a quarter of its lifetime, between 2 s and 60 s.
pub fn refresh_margin(tokens: &TokenSet) -> Duration {
    let lifetime = tokens
        .expires_at
        .map_or(0, |at| at.saturating_sub(tokens.obtained_at));
    Duration::from_secs((lifetime / 4).clamp(2, 60))
}

/// Where a server's credentials stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// No credentials stored (a server that needs none, or never signed in).
    None,
    /// A static header (bearer or API key) from the vault.
    Header,
    /// An access token with time left.
    Valid,
    /// Inside the refresh margin, or past expiry with a refresh to come.
    Expiring,
    /// A refresh is under way.
    Refreshing,
    /// The provider rejected the tokens, or there is nothing to refresh with: sign in again.
    NeedsSignIn,
    /// The user revoked them.
    Revoked,
}

impl TokenState {
    /// The word the CLI and the app show.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::None => "none",
            TokenState::Header => "header",
            TokenState::Valid => "valid",
            TokenState::Expiring => "expiring",
            TokenState::Refreshing => "refreshing",
            TokenState::NeedsSignIn => "needs_sign_in",
            TokenState::Revoked => "revoked",
        }
    }
}

/// What can be done with a server's credentials as they stand: the buttons the app's Tokens page
/// enables and the tray items it makes clickable, decided here once for both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TokenActions {
    /// Refresh: OAuth tokens are held that can be renewed (a refresh token, or the client
    /// credentials grant), and no refresh is under way.
    pub refresh: bool,
    /// Revoke: there is something to drop (tokens, or a static header).
    pub revoke: bool,
    /// Sign in again: any server that signs in with OAuth. A static header is replaced with
    /// `patchbay secret`, not a sign-in.
    pub sign_in: bool,
}

impl TokenActions {
    /// The actions for credentials in `state`, renewable without a person or not.
    pub fn of(state: TokenState, refresh_token: bool) -> Self {
        let oauth = state != TokenState::Header;
        let holds = !matches!(state, TokenState::None | TokenState::Revoked);
        Self {
            refresh: oauth && holds && refresh_token && state != TokenState::Refreshing,
            revoke: holds,
            sign_in: oauth,
        }
    }
}

/// One server's credentials, as `patchbay tokens list` shows them: never a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TokenStatus {
    /// Server name.
    pub server: String,
    /// The server's URL.
    pub url: String,
    /// State.
    pub state: TokenState,
    /// The authorization server.
    pub issuer: Option<String>,
    /// Patchbay's client id there.
    pub client_id: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the access token expires (Unix seconds).
    pub expires_at: Option<u64>,
    /// Seconds left.
    pub expires_in: Option<u64>,
    /// Whether a refresh token is held.
    pub refresh_token: bool,
    /// The static header's name, for [`TokenState::Header`].
    pub header: Option<String>,
    /// Why, for [`TokenState::NeedsSignIn`] or a failed refresh.
    pub message: Option<String>,
    /// What can be done now ([`TokenActions::of`]); none from a hub older than the field.
    #[serde(default)]
    pub actions: TokenActions,
    /// The grant the tokens came from (none without tokens, or from a hub older than the
    /// field).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub grant: Option<Grant>,
}

/// Why the keeper could not give a credential.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeeperError {
    /// A new sign-in is needed.
    #[error("`{server}` needs a new sign-in ({reason}): run `patchbay login {server}`")]
    NeedsSignIn {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// The token endpoint failed in a way that may pass.
    #[error("refreshing the token of `{server}` failed: {cause}")]
    Transient {
        /// The server.
        server: String,
        /// What happened.
        cause: String,
    },
    /// The keychain failed.
    #[error("{0}")]
    Vault(String),
    /// Nothing to act on.
    #[error("`{0}` holds no OAuth tokens")]
    NoTokens(String),
}

impl From<VaultError> for KeeperError {
    fn from(err: VaultError) -> Self {
        let hint = err.hint().map(|h| format!(" ({h})")).unwrap_or_default();
        KeeperError::Vault(format!("{err}{hint}"))
    }
}

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Nothing (the server may need nothing; its 401 says otherwise).
    None,
    /// `Authorization: Bearer`.
    Bearer(Secret),
    /// A static header.
    Header(StaticHeader),
}

/// What revocation did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Revoked {
    /// The server.
    pub server: String,
    /// Revoked at the provider (`false`: it has no revocation endpoint, or it failed).
    pub at_provider: bool,
    /// Tokens were deleted from the keychain.
    pub deleted: bool,
    /// What the provider said when it failed, or why it was not asked.
    pub note: Option<String>,
}

/// Signs in again with wider scopes (the hub runs the flow, with its events and browser).
pub trait Reauthorize: Send + Sync {
    /// Sign `server` in again after `challenge` (a 403's `WWW-Authenticate`), asking for
    /// `scopes`; the new tokens are in the vault when this returns.
    fn reauthorize(
        &self,
        server: String,
        challenge: String,
        scopes: Vec<String>,
    ) -> BoxFuture<'static, Result<TokenSet, SignInError>>;
}

#[derive(Default)]
struct Held {
    loaded: bool,
    tokens: Option<TokenSet>,
    header: Option<StaticHeader>,
    /// The last token set, kept after a rejection so listings still say whose it was.
    last: Option<TokenSet>,
    /// Patchbay's client registration at an issuer, as read from the vault (`None` inside:
    /// there is none), read at the first refresh or revocation and kept.
    registration: Option<(String, Option<ClientRegistration>)>,
    /// The keychain could not be read: requests go without credentials (a server that needs
    /// none still works) and a 401 says why there were none.
    unreadable: Option<String>,
}

#[derive(Clone)]
struct Shown {
    state: TokenState,
    message: Option<String>,
}

/// Who hears a keeper's token state change: the hub, which announces it on its event stream.
/// The keeper reports through this, so it needs nothing of the hub.
pub trait TokenWatcher: Send + Sync {
    /// `server`'s tokens moved to `state`; `message` says why, for `NeedsSignIn`.
    fn token_state(&self, server: &str, state: TokenState, message: Option<String>);
}

/// The credential owner of one remote server. Cheap to share (`Arc`).
pub struct Keeper {
    server: String,
    url: String,
    vault: Vault,
    http: reqwest::Client,
    held: tokio::sync::Mutex<Held>,
    shown: Mutex<Shown>,
    changed: tokio::sync::watch::Sender<u64>,
    watcher: Option<Arc<dyn TokenWatcher>>,
    reauthorize: Option<Arc<dyn Reauthorize>>,
    step_up: tokio::sync::Mutex<u32>,
    /// The last request that failed for want of credentials or scope, and why.
    failure: Mutex<Option<(std::time::Instant, String)>>,
    /// Requests the server never served because the sign-in had lapsed (newest last).
    unserved: Mutex<std::collections::VecDeque<(std::time::Instant, RequestId)>>,
}

/// Unserved requests remembered ([`Keeper::note_unserved`]).
const UNSERVED_KEPT: usize = 64;

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("server", &self.server)
            .field("state", &self.state())
            .finish()
    }
}

pub(super) fn definitive(error: &BasicErrorResponseType) -> bool {
    matches!(
        error,
        BasicErrorResponseType::InvalidGrant
            | BasicErrorResponseType::InvalidClient
            | BasicErrorResponseType::UnauthorizedClient
    )
}

/// RFC 6749 section 2.3.1: client id and secret are form-urlencoded before HTTP Basic.
fn form_urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// oauth2's requests sent with reqwest (oauth2's own reqwest glue is for another reqwest major).
pub(super) async fn send(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await?;
    Ok(answer
        .body(body.to_vec())
        .expect("status and headers came from a response"))
}

/// Whether `tokens` can be renewed without a person: a refresh token is held, or the grant
/// can simply run again.
fn renewable(tokens: &TokenSet) -> bool {
    tokens.refresh_token.is_some() || tokens.grant == Grant::ClientCredentials
}

/// The token set a refresh `response` makes of `tokens`, refreshed with `refresh`.
fn refreshed(
    response: &oauth2::basic::BasicTokenResponse,
    tokens: &TokenSet,
    refresh: &Secret,
) -> TokenSet {
    // Rotation: the new one; none sent: the old one stays valid (RFC 6749 section 6).
    let kept =
        (response.refresh_token()).map_or_else(|| refresh.clone(), |t| Secret::new(t.secret()));
    from_response(response, tokens.clone(), Some(kept), &tokens.scopes)
}

/// The token set a token endpoint's `response` makes, the rest from `template`: with
/// `refresh_token`, and the scopes `asked` when the response names none.
pub(super) fn from_response(
    response: &oauth2::basic::BasicTokenResponse,
    template: TokenSet,
    refresh_token: Option<Secret>,
    asked: &[String],
) -> TokenSet {
    let now = SystemTime::now();
    TokenSet {
        access_token: Secret::new(response.access_token().secret()),
        token_type: "Bearer".into(),
        refresh_token,
        expires_at: response
            .expires_in()
            .map(|d| unix_seconds(now) + d.as_secs()),
        obtained_at: unix_seconds(now),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| asked.to_vec()),
        ..template
    }
}

/// How a token endpoint request failed.
pub(super) enum Failure {
    /// The provider refused the grant or the client: retrying cannot help.
    Definitive(String),
    /// Network, 5xx, `server_error`: it may pass.
    Transient(String),
}

impl Failure {
    /// What happened, whichever kind.
    pub(super) fn into_message(self) -> String {
        match self {
            Failure::Definitive(m) | Failure::Transient(m) => m,
        }
    }
}

/// A token endpoint error as a [`Failure`]: a refused grant or client is definitive.
pub(super) fn classify<E: std::error::Error + 'static>(
    err: &RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> Failure {
    match err {
        RequestTokenError::ServerResponse(response) if definitive(response.error()) => {
            Failure::Definitive(response.to_string())
        }
        RequestTokenError::ServerResponse(response) => Failure::Transient(response.to_string()),
        other => Failure::Transient(crate::human::error_chain(other)),
    }
}

/// The HTTP client of token endpoint requests: bounded, no redirects, no long-idle connections.
pub(super) fn token_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TOKEN_REQUEST_TIMEOUT)
        // See `oauth::transport`: a refresh after a quiet spell must not meet a
        // connection the server is closing.
        .pool_idle_timeout(super::transport::POOL_IDLE)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a default HTTP client builds")
}

impl Keeper {
    /// A keeper for `server` at `url`. `watcher` hears its state changes; `reauthorize` runs a
    /// step-up sign-in on `403 insufficient_scope` (none: the server needs a new sign-in).
    pub fn new(
        server: impl Into<String>,
        url: impl Into<String>,
        vault: Vault,
        watcher: Option<Arc<dyn TokenWatcher>>,
        reauthorize: Option<Arc<dyn Reauthorize>>,
    ) -> Arc<Self> {
        let http = token_http();
        Arc::new(Self {
            server: server.into(),
            url: url.into(),
            vault,
            http,
            held: tokio::sync::Mutex::new(Held::default()),
            shown: Mutex::new(Shown {
                state: TokenState::None,
                message: None,
            }),
            changed: tokio::sync::watch::channel(0).0,
            watcher,
            reauthorize,
            step_up: tokio::sync::Mutex::new(0),
            failure: Mutex::new(None),
            unserved: Mutex::default(),
        })
    }

    /// The server's name.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The state as last shown.
    pub fn state(&self) -> TokenState {
        self.shown.lock().expect("shown lock").state
    }

    /// Whether requests wait for a sign-in (needs sign-in, or revoked).
    pub fn blocked(&self) -> bool {
        matches!(self.state(), TokenState::NeedsSignIn | TokenState::Revoked)
    }

    /// Why it is in its state, for `needs_sign_in` and a failed refresh.
    pub fn message(&self) -> Option<String> {
        let shown = self.shown.lock().expect("shown lock").clone();
        shown.message.map(|reason| match shown.state {
            TokenState::NeedsSignIn | TokenState::Revoked => format!(
                "`{}` needs a new sign-in ({reason}): run `patchbay login {}`",
                self.server, self.server
            ),
            _ => reason,
        })
    }

    /// Wakes on every change of the credentials (a sign-in, a refresh, a rejection).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn show(&self, state: TokenState, message: Option<String>) {
        let previous = {
            let mut shown = self.shown.lock().expect("shown lock");
            let previous = shown.state;
            *shown = Shown {
                state,
                message: message.clone(),
            };
            previous
        };
        if previous != state {
            if let Some(watcher) = &self.watcher {
                watcher.token_state(&self.server, state, message);
            }
            if state == TokenState::NeedsSignIn {
                tracing::warn!(server = %self.server, "remote server needs a new sign-in");
            }
        }
    }

    fn needs_sign_in(&self, reason: &str) -> KeeperError {
        self.show(TokenState::NeedsSignIn, Some(reason.to_owned()));
        self.changed.send_modify(|n| *n += 1);
        KeeperError::NeedsSignIn {
            server: self.server.clone(),
            reason: reason.to_owned(),
        }
    }

    fn state_of(tokens: &TokenSet) -> TokenState {
        match tokens.expires_in(SystemTime::now()) {
            Some(left) if left <= refresh_margin(tokens) => TokenState::Expiring,
            _ => TokenState::Valid,
        }
    }

    async fn load(&self, held: &mut Held) -> Result<(), KeeperError> {
        if held.loaded {
            return Ok(());
        }
        let loaded = async {
            let tokens = self.vault.load_tokens(&self.server).await?;
            let header = match tokens {
                None => self.vault.load_header(&self.server).await?,
                Some(_) => None,
            };
            Ok::<_, VaultError>((tokens, header))
        }
        .await;
        held.loaded = true;
        match loaded {
            Ok((tokens, header)) => {
                held.tokens = tokens;
                held.header = header;
                held.unreadable = None;
            }
            Err(err) => {
                let err = KeeperError::from(err);
                tracing::warn!(server = %self.server, error = %err, "credentials not readable; connecting without");
                held.unreadable = Some(err.to_string());
            }
        }
        let state = match (&held.tokens, &held.header) {
            (Some(tokens), _) => Self::state_of(tokens),
            (None, Some(_)) => TokenState::Header,
            (None, None) => TokenState::None,
        };
        if !self.blocked() {
            self.show(state, None);
        }
        Ok(())
    }

    /// The credential for the next request, refreshed first when it is about to expire.
    pub async fn credential(&self) -> Result<Credential, KeeperError> {
        let mut held = self.held.lock().await;
        self.load(&mut held).await?;
        if let Some(header) = &held.header {
            return Ok(Credential::Header(header.clone()));
        }
        let Some(tokens) = &held.tokens else {
            return match self.state() {
                TokenState::NeedsSignIn | TokenState::Revoked => Err(KeeperError::NeedsSignIn {
                    server: self.server.clone(),
                    reason: self
                        .shown
                        .lock()
                        .expect("shown lock")
                        .message
                        .clone()
                        .unwrap_or_else(|| "signed out".into()),
                }),
                _ => Ok(Credential::None),
            };
        };
        let due = tokens
            .expires_in(SystemTime::now())
            .is_some_and(|left| left <= refresh_margin(tokens));
        if due {
            if renewable(tokens) {
                self.refresh_held(&mut held).await?;
            } else if tokens.expires_in(SystemTime::now()) == Some(Duration::ZERO) {
                let last = held.tokens.take();
                held.last = last;
                return Err(
                    self.needs_sign_in("the access token expired and no refresh token is held")
                );
            }
        }
        Ok(held.tokens.as_ref().map_or(Credential::None, |t| {
            Credential::Bearer(t.access_token.clone())
        }))
    }

    /// The server answered 401 to a request that carried `sent`. Returns a token to retry with
    /// (a newer one, or a fresh refresh), or an error when a sign-in is needed.
    pub async fn rejected(&self, sent: Option<&Secret>) -> Result<Secret, KeeperError> {
        let mut held = self.held.lock().await;
        self.load(&mut held).await?;
        let current = held.tokens.as_ref().map(|t| t.access_token.clone());
        match (current, sent) {
            // Someone refreshed while this request was out.
            (Some(current), Some(sent)) if &current != sent => Ok(current),
            (Some(_), _) if held.tokens.as_ref().is_some_and(renewable) => {
                self.refresh_held(&mut held).await?;
                Ok(held
                    .tokens
                    .as_ref()
                    .map(|t| t.access_token.clone())
                    .expect("a refresh leaves tokens"))
            }
            (Some(_), _) => {
                let last = held.tokens.take();
                held.last = last;
                Err(self.needs_sign_in(
                    "the server rejected the access token and no refresh token is held",
                ))
            }
            (None, _) if held.header.is_some() => {
                Err(self.needs_sign_in("the server rejected the stored header"))
            }
            (None, _) if held.unreadable.is_some() => {
                // Not a sign-in: the keychain may be back at the next attempt (read again then).
                held.loaded = false;
                Err(KeeperError::Vault(format!(
                    "the server asks for credentials, and the keychain could not be read: {}",
                    held.unreadable.as_deref().unwrap_or_default()
                )))
            }
            (None, _) => Err(self.needs_sign_in("the server asks for a sign-in")),
        }
    }

    /// Refresh now (`patchbay tokens refresh`).
    pub async fn refresh_now(&self) -> Result<TokenStatus, KeeperError> {
        {
            let mut held = self.held.lock().await;
            self.load(&mut held).await?;
            if held.tokens.is_none() {
                return Err(KeeperError::NoTokens(self.server.clone()));
            }
            self.refresh_held(&mut held).await?;
        }
        Ok(self.status().await)
    }

    /// New tokens from a sign-in (already in the vault).
    pub async fn install(&self, tokens: TokenSet) {
        let mut held = self.held.lock().await;
        let state = Self::state_of(&tokens);
        held.tokens = Some(tokens);
        held.header = None;
        held.loaded = true;
        held.last = None;
        // The sign-in may have registered Patchbay anew.
        held.registration = None;
        *self.step_up.lock().await = 0;
        self.show(state, None);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Forget what is held and read the vault again on the next request (after a sign-in by
    /// another process, or `connect --header`).
    pub async fn reload(&self) {
        let mut held = self.held.lock().await;
        *held = Held::default();
        self.show(TokenState::None, None);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Refresh the held tokens; the lock is the caller's, so this is the only refresh running.
    async fn refresh_held(&self, held: &mut Held) -> Result<(), KeeperError> {
        let Some(tokens) = held.tokens.clone() else {
            return Err(KeeperError::NoTokens(self.server.clone()));
        };
        if !renewable(&tokens) {
            held.last = held.tokens.take();
            return Err(self.needs_sign_in("no refresh token is held"));
        }
        let refresh = tokens.refresh_token.clone();
        self.show(TokenState::Refreshing, None);
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        let renewed = loop {
            let answer = match (self.registration(held, &tokens).await, &refresh) {
                // No refresh token in this grant: run it again with the stored credentials.
                (Ok(registration), _) if tokens.grant == Grant::ClientCredentials => {
                    super::client_credentials::renew(&self.http, &tokens, registration.as_ref())
                        .await
                }
                (Ok(registration), Some(refresh)) => self
                    .exchange(&tokens, registration.as_ref(), refresh)
                    .await
                    .map(|response| refreshed(&response, &tokens, refresh)),
                (Ok(_), None) => Err(Failure::Definitive("no refresh token is held".into())),
                (Err(err), _) => Err(Failure::Transient(err.to_string())),
            };
            match answer {
                Ok(renewed) => break renewed,
                Err(Failure::Definitive(reason)) => {
                    // The refresh token (or the client's credentials) is dead: keep nothing
                    // that would be tried again.
                    let deleted = self.vault.delete_tokens(&self.server).await;
                    held.last = held.tokens.take();
                    if let Err(err) = deleted {
                        tracing::warn!(server = %self.server, error = %err, "could not delete rejected tokens");
                    }
                    let what = match tokens.grant {
                        Grant::ClientCredentials => "the client's credentials",
                        Grant::AuthorizationCode => "the refresh token",
                    };
                    return Err(
                        self.needs_sign_in(&format!("the provider rejected {what}: {reason}"))
                    );
                }
                Err(Failure::Transient(cause)) if attempt < REFRESH_ATTEMPTS => {
                    tracing::info!(server = %self.server, %cause, attempt, "token refresh failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(Failure::Transient(cause)) => {
                    self.show(Self::state_of(&tokens), Some(cause.clone()));
                    return Err(KeeperError::Transient {
                        server: self.server.clone(),
                        cause,
                    });
                }
            }
        };
        // Stored before anyone uses the new access token: a rotated refresh token that only
        // lived in memory would be lost with the hub.
        if let Err(err) = self.vault.store_tokens(&self.server, &renewed).await {
            tracing::error!(server = %self.server, error = %err, "could not store refreshed tokens");
            self.show(
                Self::state_of(&renewed),
                Some(format!("refreshed, but not stored: {err}")),
            );
        } else {
            self.show(Self::state_of(&renewed), None);
        }
        held.tokens = Some(renewed);
        self.changed.send_modify(|n| *n += 1);
        tracing::info!(server = %self.server, "token refreshed");
        Ok(())
    }

    /// Patchbay's registration for `tokens`' client at their issuer: from the vault the first
    /// time, then as kept.
    async fn registration(
        &self,
        held: &mut Held,
        tokens: &TokenSet,
    ) -> Result<Option<ClientRegistration>, VaultError> {
        let kept = match &held.registration {
            Some((issuer, kept)) if *issuer == tokens.issuer => kept.clone(),
            _ => {
                let read = self.vault.load_client_registration(&tokens.issuer).await?;
                held.registration = Some((tokens.issuer.clone(), read.clone()));
                read
            }
        };
        Ok(kept.filter(|r| r.client_id == tokens.client_id))
    }

    /// The oauth2 client for `tokens`' authorization server, authenticating as `registration`.
    fn client(
        tokens: &TokenSet,
        registration: Option<&ClientRegistration>,
    ) -> Result<
        oauth2::basic::BasicClient<
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        Failure,
    > {
        let token_url = TokenUrl::new(tokens.token_endpoint.clone())
            .map_err(|e| Failure::Definitive(format!("bad token endpoint: {e}")))?;
        let mut client =
            BasicClient::new(ClientId::new(tokens.client_id.clone())).set_token_uri(token_url);
        if let Some(registration) = registration {
            if let Some(secret) = &registration.client_secret {
                client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
            }
            if registration.token_endpoint_auth_method.as_deref() == Some("client_secret_post") {
                client = client.set_auth_type(AuthType::RequestBody);
            }
        }
        Ok(client)
    }

    async fn exchange(
        &self,
        tokens: &TokenSet,
        registration: Option<&ClientRegistration>,
        refresh: &Secret,
    ) -> Result<oauth2::basic::BasicTokenResponse, Failure> {
        let client = Self::client(tokens, registration)?;
        let http = self.http.clone();
        let sender = move |request| send(http.clone(), request);
        let refresh = RefreshToken::new(refresh.expose().to_owned());
        client
            .exchange_refresh_token(&refresh)
            .add_extra_param("resource", tokens.resource.clone())
            .request_async(&sender)
            .await
            .map_err(|err| classify(&err))
    }

    /// Revoke at the provider when it has a revocation endpoint (refresh token first, then the
    /// access token), then delete locally either way.
    pub async fn revoke(&self) -> Result<Revoked, KeeperError> {
        let mut held = self.held.lock().await;
        self.load(&mut held).await?;
        let registration = match held.tokens.clone() {
            Some(tokens) => self.registration(&mut held, &tokens).await,
            None => Ok(None),
        };
        let tokens = held.tokens.take();
        let header = held.header.take();
        let mut outcome = Revoked {
            server: self.server.clone(),
            at_provider: false,
            deleted: false,
            note: None,
        };
        if let Some(tokens) = &tokens {
            match (&tokens.revocation_endpoint, registration) {
                (Some(_), Err(err)) => outcome.note = Some(err.to_string()),
                (Some(endpoint), Ok(registration)) => match self
                    .revoke_at(tokens, registration.as_ref(), endpoint)
                    .await
                {
                    Ok(()) => outcome.at_provider = true,
                    Err(note) => outcome.note = Some(note),
                },
                (None, _) => {
                    outcome.note = Some(format!("{} has no revocation endpoint", tokens.issuer))
                }
            }
        }
        let deleted_tokens = self.vault.delete_tokens(&self.server).await?;
        let deleted_header = match header {
            Some(_) => self.vault.delete_header(&self.server).await?,
            None => false,
        };
        outcome.deleted = deleted_tokens || deleted_header;
        held.last = tokens;
        held.loaded = true;
        self.show(TokenState::Revoked, Some("revoked by the user".into()));
        self.changed.send_modify(|n| *n += 1);
        Ok(outcome)
    }

    /// RFC 7009 by hand: oauth2's `revoke_token` refuses any endpoint that is not https, a
    /// loopback authorization server's included, and the request is one form POST.
    async fn revoke_at(
        &self,
        tokens: &TokenSet,
        registration: Option<&ClientRegistration>,
        endpoint: &str,
    ) -> Result<(), String> {
        let secret = registration.and_then(|r| r.client_secret.clone());
        let post_secret = registration.and_then(|r| r.token_endpoint_auth_method.as_deref())
            == Some("client_secret_post");
        let mut revocable = Vec::new();
        if let Some(refresh) = &tokens.refresh_token {
            revocable.push((refresh, "refresh_token"));
        }
        revocable.push((&tokens.access_token, "access_token"));
        for (token, hint) in revocable {
            let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
            let mut request = self.http.post(endpoint);
            match &secret {
                Some(secret) if !post_secret => {
                    request = request.basic_auth(
                        form_urlencode(&tokens.client_id),
                        Some(form_urlencode(secret.expose())),
                    );
                }
                Some(secret) => {
                    form.push(("client_id", &tokens.client_id));
                    form.push(("client_secret", secret.expose()));
                }
                None => form.push(("client_id", &tokens.client_id)),
            }
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let response = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    format!("cannot reach {endpoint}: {}", crate::human::error_chain(&e))
                })?;
            if !response.status().is_success() {
                let status = response.status();
                let said = response.text().await.unwrap_or_default();
                return Err(format!(
                    "the provider refused the revocation ({status}): {}",
                    said.chars().take(200).collect::<String>()
                ));
            }
        }
        Ok(())
    }

    /// A `403 insufficient_scope` answered a request that carried `sent`: sign in again with
    /// the union of the granted and the challenged scopes, at most twice per server until a
    /// sign-in succeeds without another 403. Concurrent 403s share one re-authorization.
    pub async fn step_up(
        &self,
        sent: Option<&Secret>,
        challenge: &str,
    ) -> Result<Secret, KeeperError> {
        let mut attempts = self.step_up.lock().await;
        let (current, scopes) = {
            let held = self.held.lock().await;
            (
                held.tokens.as_ref().map(|t| t.access_token.clone()),
                held.tokens
                    .as_ref()
                    .map(|t| t.scopes.clone())
                    .unwrap_or_default(),
            )
        };
        if let (Some(current), Some(sent)) = (&current, sent)
            && current != sent
        {
            return Ok(current.clone());
        }
        let Some(reauthorize) = &self.reauthorize else {
            return Err(self.needs_sign_in("the server needs a wider scope"));
        };
        if *attempts >= super::flow::MAX_AUTHORIZATIONS - 1 {
            return Err(KeeperError::NeedsSignIn {
                server: self.server.clone(),
                reason: format!(
                    "the server still answers insufficient_scope after {} sign-ins with wider scopes",
                    *attempts
                ),
            });
        }
        *attempts += 1;
        let mut wanted = scopes;
        for scope in super::flow::challenge_scopes(Some(challenge)) {
            if !wanted.contains(&scope) {
                wanted.push(scope);
            }
        }
        match reauthorize
            .reauthorize(self.server.clone(), challenge.to_owned(), wanted)
            .await
        {
            Ok(tokens) => {
                let access = tokens.access_token.clone();
                let mut held = self.held.lock().await;
                let state = Self::state_of(&tokens);
                held.tokens = Some(tokens);
                held.loaded = true;
                held.registration = None;
                self.show(state, None);
                self.changed.send_modify(|n| *n += 1);
                Ok(access)
            }
            Err(err) => Err(KeeperError::NeedsSignIn {
                server: self.server.clone(),
                reason: format!("signing in with a wider scope failed: {err}"),
            }),
        }
    }

    /// A request failed for want of credentials or scope: remember why, for the error the
    /// client gets (the transport only says the request failed).
    pub fn note_failure(&self, reason: String) {
        *self.failure.lock().expect("failure lock") = Some((std::time::Instant::now(), reason));
    }

    /// Request `id` was not served for want of a sign-in (refused with 401, or never sent):
    /// sending it again after a new sign-in cannot run it twice.
    pub fn note_unserved(&self, id: RequestId) {
        let mut unserved = self.unserved.lock().expect("unserved lock");
        unserved.push_back((std::time::Instant::now(), id));
        while unserved.len() > UNSERVED_KEPT {
            unserved.pop_front();
        }
    }

    /// Whether request `id`, sent at `since` or later, went unserved for want of a sign-in.
    pub fn unserved_since(&self, id: &RequestId, since: std::time::Instant) -> bool {
        let unserved = self.unserved.lock().expect("unserved lock");
        unserved.iter().any(|(at, seen)| *at >= since && seen == id)
    }

    /// Why a request failed, when one failed for want of credentials or scope after `since`.
    pub fn failure_since(&self, since: std::time::Instant) -> Option<String> {
        self.failure
            .lock()
            .expect("failure lock")
            .as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, reason)| reason.clone())
    }

    /// A request succeeded: the step-up budget is whole again.
    pub fn succeeded(&self) {
        if let Ok(mut attempts) = self.step_up.try_lock() {
            *attempts = 0;
        }
    }

    /// What `patchbay tokens list` shows.
    pub async fn status(&self) -> TokenStatus {
        let mut held = self.held.lock().await;
        let load_error = self
            .load(&mut held)
            .await
            .err()
            .map(|e| e.to_string())
            .or_else(|| held.unreadable.clone());
        let shown = self.shown.lock().expect("shown lock").clone();
        let tokens = held.tokens.as_ref().or(held.last.as_ref());
        let live = held.tokens.as_ref();
        let state = match (live, &held.header) {
            _ if matches!(
                shown.state,
                TokenState::NeedsSignIn | TokenState::Revoked | TokenState::Refreshing
            ) =>
            {
                shown.state
            }
            (Some(t), _) => Self::state_of(t),
            (None, Some(_)) => TokenState::Header,
            (None, None) => TokenState::None,
        };
        let refresh_token = live.is_some_and(|t| t.refresh_token.is_some());
        let can_renew = live.is_some_and(renewable);
        TokenStatus {
            server: self.server.clone(),
            url: self.url.clone(),
            state,
            issuer: tokens.map(|t| t.issuer.clone()),
            client_id: tokens.map(|t| t.client_id.clone()),
            scopes: tokens.map(|t| t.scopes.clone()).unwrap_or_default(),
            expires_at: live.and_then(|t| t.expires_at),
            expires_in: live
                .and_then(|t| t.expires_in(SystemTime::now()))
                .map(|d| d.as_secs()),
            refresh_token,
            header: held.header.as_ref().map(|h| h.name.clone()),
            message: load_error.or(shown.message),
            actions: TokenActions::of(state, can_renew),
            grant: tokens.map(|t| t.grant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(obtained_at: u64, expires_at: Option<u64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("a"),
            token_type: "Bearer".into(),
            refresh_token: None,
            expires_at,
            obtained_at,
            scopes: vec![],
            issuer: "https://as".into(),
            client_id: "c".into(),
            resource: "https://rs/mcp".into(),
            token_endpoint: "https://as/token".into(),
            revocation_endpoint: None,
            grant: Grant::AuthorizationCode,
        }
    }

    #[test]
    fn token_actions_are_offered_only_where_they_can_act() {
        let of = TokenActions::of;
        let all = TokenActions {
            refresh: true,
            revoke: true,
            sign_in: true,
        };
        assert_eq!(of(TokenState::Valid, true), all);
        assert_eq!(of(TokenState::Expiring, true), all);
        // A provider that rejected the tokens may still take a refresh token later.
        assert_eq!(of(TokenState::NeedsSignIn, true), all);
        let no_refresh = of(TokenState::Valid, false);
        assert!(!no_refresh.refresh && no_refresh.revoke && no_refresh.sign_in);
        let busy = of(TokenState::Refreshing, true);
        assert!(!busy.refresh && busy.revoke && busy.sign_in);
        let only_sign_in = TokenActions {
            refresh: false,
            revoke: false,
            sign_in: true,
        };
        assert_eq!(of(TokenState::Revoked, false), only_sign_in);
        assert_eq!(of(TokenState::None, false), only_sign_in);
        let header = of(TokenState::Header, false);
        assert!(!header.refresh && header.revoke && !header.sign_in);
    }

    #[test]
    fn the_margin_is_a_quarter_of_the_lifetime_within_bounds() {
        assert_eq!(
            refresh_margin(&tokens(0, Some(3600))),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(&tokens(0, Some(100))),
            Duration::from_secs(25)
        );
        assert_eq!(refresh_margin(&tokens(0, Some(4))), Duration::from_secs(2));
        assert_eq!(refresh_margin(&tokens(0, None)), Duration::from_secs(2));
    }

    #[test]
    fn only_grant_and_client_errors_end_a_session() {
        assert!(definitive(&BasicErrorResponseType::InvalidGrant));
        assert!(definitive(&BasicErrorResponseType::InvalidClient));
        assert!(!definitive(&BasicErrorResponseType::Extension(
            "server_error".into()
        )));
        assert!(!definitive(&BasicErrorResponseType::InvalidRequest));
    }

    /// A token endpoint on loopback that hands out a new access and refresh token each time.
    async fn token_endpoint() -> String {
        let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move || {
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                async move {
                    axum::Json(serde_json::json!({
                        "access_token": format!("access-{n}"),
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "refresh_token": format!("refresh-{n}"),
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/token")
    }

    async fn bearer(keeper: &Keeper) -> Secret {
        match keeper.credential().await.unwrap() {
            Credential::Bearer(token) => token,
            other => panic!("expected a bearer token, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn requests_and_refreshes_read_the_keychain_once() {
        use crate::platform::Os;
        use crate::vault::RegistrationKind;
        use crate::vault::store::Memory;

        let endpoint = token_endpoint().await;
        let now = unix_seconds(SystemTime::now());
        for os in [Os::Windows, Os::MacOs, Os::Linux] {
            let memory = Arc::new(Memory::like(os));
            let earlier = Vault::laid_out_for("patchbay-test", memory.clone(), os);
            let mut stored = tokens(now, Some(now + 3600));
            // Large enough to be chunked where the keychain needs it (more reads per load).
            stored.access_token = Secret::new("a".repeat(5000));
            stored.refresh_token = Some(Secret::new("refresh-0"));
            stored.token_endpoint = endpoint.clone();
            earlier.store_tokens("remote", &stored).await.unwrap();
            earlier
                .store_client_registration(&ClientRegistration {
                    issuer: stored.issuer.clone(),
                    kind: RegistrationKind::Dynamic,
                    client_id: stored.client_id.clone(),
                    client_secret: Some(Secret::new("client-secret")),
                    client_secret_expires_at: None,
                    registration_access_token: None,
                    registration_client_uri: None,
                    redirect_uris: vec![],
                    token_endpoint_auth_method: Some("client_secret_basic".into()),
                    registered_at: now,
                    grant: Grant::AuthorizationCode,
                    private_key: None,
                    signing_alg: None,
                })
                .await
                .unwrap();
            memory.take_changes();

            // The hub, started afresh: its own vault, nothing known yet.
            let vault = Vault::laid_out_for("patchbay-test", memory.clone(), os);
            let keeper = Keeper::new("remote", "https://rs/mcp", vault, None, None);
            let before = memory.reads();
            assert_eq!(bearer(&keeper).await, stored.access_token);
            let loaded = memory.reads();
            assert!(
                loaded > before,
                "{os:?}: the first request reads the token set"
            );
            for _ in 0..20 {
                bearer(&keeper).await;
            }
            assert_eq!(
                memory.reads(),
                loaded,
                "{os:?}: requests use the kept tokens"
            );

            keeper.refresh_now().await.unwrap();
            assert_eq!(
                memory.reads(),
                loaded + 1,
                "{os:?}: the first refresh reads the client registration, once"
            );
            for _ in 0..3 {
                keeper.refresh_now().await.unwrap();
                bearer(&keeper).await;
            }
            let sent = bearer(&keeper).await;
            let retried = keeper.rejected(Some(&sent)).await.unwrap();
            assert_ne!(retried, sent, "{os:?}: a 401 refreshes");
            keeper.status().await;
            assert_eq!(
                memory.reads(),
                loaded + 1,
                "{os:?}: refreshes, 401s and listings read nothing more"
            );

            let changes = memory.take_changes();
            if os != Os::Windows {
                assert_eq!(
                    changes, ["set server/remote/oauth"; 5],
                    "{os:?}: each refresh rewrote the one item in place"
                );
            }
            let reread = Vault::laid_out_for("patchbay-test", memory.clone(), os);
            let kept = reread.load_tokens("remote").await.unwrap().unwrap();
            assert_eq!(
                kept.access_token, retried,
                "{os:?}: the vault holds the latest"
            );
        }
    }

    /// A token endpoint for the client credentials grant: records each request's
    /// `Authorization` header and form, answers `access-<n>` without a refresh token, or
    /// `invalid_client` once `refuse` is set.
    async fn client_credentials_endpoint() -> (
        String,
        Arc<Mutex<Vec<(Option<String>, String)>>>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, refused) = (seen.clone(), refuse.clone());
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move |headers: http::HeaderMap, body: String| {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push((auth, body));
                    log.len()
                };
                let refuse = refused.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if refuse {
                        return (
                            http::StatusCode::UNAUTHORIZED,
                            axum::Json(serde_json::json!({"error": "invalid_client"})),
                        );
                    }
                    (
                        http::StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "access_token": format!("access-{n}"),
                            "token_type": "Bearer",
                            "expires_in": 3600,
                        })),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/token"), seen, refuse)
    }

    fn form(body: &str) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[tokio::test]
    async fn client_credentials_tokens_renew_by_running_the_grant_again() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

        use crate::platform::Os;
        use crate::vault::RegistrationKind;
        use crate::vault::store::Memory;

        let (endpoint, seen, refuse) = client_credentials_endpoint().await;
        let now = unix_seconds(SystemTime::now());
        let key = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(key.as_ref())
        );
        for with_key in [false, true] {
            seen.lock().unwrap().clear();
            let vault = Vault::laid_out_for(
                "patchbay-test",
                Arc::new(Memory::like(Os::Linux)),
                Os::Linux,
            );
            // Expired, and no refresh token: the grant itself is what renews.
            let mut stored = tokens(now - 3600, Some(now));
            stored.grant = Grant::ClientCredentials;
            stored.token_endpoint = endpoint.clone();
            vault.store_tokens("robot", &stored).await.unwrap();
            vault
                .store_client_registration(&ClientRegistration {
                    issuer: stored.issuer.clone(),
                    kind: RegistrationKind::Configured,
                    client_id: stored.client_id.clone(),
                    client_secret: (!with_key).then(|| Secret::new("s3cret")),
                    client_secret_expires_at: None,
                    registration_access_token: None,
                    registration_client_uri: None,
                    redirect_uris: vec![],
                    token_endpoint_auth_method: Some(
                        if with_key {
                            "private_key_jwt"
                        } else {
                            "client_secret_basic"
                        }
                        .into(),
                    ),
                    registered_at: now,
                    grant: Grant::ClientCredentials,
                    private_key: with_key.then(|| Secret::new(pem.clone())),
                    signing_alg: None,
                })
                .await
                .unwrap();
            let keeper = Keeper::new("robot", "https://rs/mcp", vault.clone(), None, None);
            let status = keeper.status().await;
            assert_eq!(status.grant, Some(Grant::ClientCredentials));
            assert!(
                status.actions.refresh && !status.refresh_token,
                "renewable without a refresh token: {status:?}"
            );

            assert_eq!(
                bearer(&keeper).await.expose(),
                "access-1",
                "an expired token is renewed before the request"
            );
            let (auth, body) = seen.lock().unwrap()[0].clone();
            let sent = form(&body);
            assert_eq!(sent["grant_type"], "client_credentials");
            assert_eq!(sent["resource"], stored.resource, "RFC 8707 on renewal too");
            if with_key {
                assert!(auth.is_none(), "no Basic header with a key");
                assert_eq!(
                    sent["client_assertion_type"],
                    super::super::assertion::ASSERTION_TYPE
                );
                let claims = sent["client_assertion"].split('.').nth(1).unwrap();
                let claims: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
                assert_eq!(claims["iss"], stored.client_id);
                assert_eq!(
                    claims["aud"], stored.issuer,
                    "the assertion is for the issuer"
                );
            } else {
                assert_eq!(
                    auth.as_deref(),
                    Some(format!("Basic {}", STANDARD.encode("c:s3cret")).as_str()),
                    "client_secret_basic"
                );
            }
            let kept = vault.load_tokens("robot").await.unwrap().unwrap();
            assert_eq!(
                kept.access_token.expose(),
                "access-1",
                "the renewal is stored"
            );
            assert_eq!(kept.grant, Grant::ClientCredentials, "and stays renewable");

            let retried = keeper.rejected(Some(&kept.access_token)).await.unwrap();
            assert_eq!(retried.expose(), "access-2", "a 401 runs the grant again");

            refuse.store(true, std::sync::atomic::Ordering::SeqCst);
            let refused = keeper.refresh_now().await.unwrap_err();
            assert!(
                matches!(&refused, KeeperError::NeedsSignIn { reason, .. } if reason.contains("the client's credentials")),
                "a refused client needs a new sign-in: {refused}"
            );
            refuse.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn states_have_the_words_the_cli_shows() {
        assert_eq!(TokenState::NeedsSignIn.as_str(), "needs_sign_in");
        assert_eq!(
            serde_json::to_value(TokenState::NeedsSignIn).unwrap(),
            "needs_sign_in"
        );
    }
}
