//! The vault: the one place Patchbay keeps secrets, in the OS keychain.
//!
//! Nothing secret is ever written to a plain file. When no keychain is reachable every call
//! fails with [`VaultError::Unavailable`] and its [`VaultError::hint`] says what to start or
//! install; there is no fallback.
//!
//! # Entry layout
//!
//! Every entry is a keychain item with a *service* and an *account* (Secret Service attributes
//! `service` and `username`; the Windows target `account.service`; a macOS generic password).
//!
//! The service is `patchbay` for the user's installation. An installation moved with
//! `PATCHBAY_HOME` (tests, portable installs) uses `patchbay@<16 hex>`, a hash of that
//! directory, so two installations never read each other's secrets.
//!
//! | account | value | written by |
//! |---|---|---|
//! | `server/<name>/oauth` | [`TokenSet`] as JSON: access and refresh token, expiry, scopes, issuer, client id, resource, token and revocation endpoints | the OAuth flow, each refresh |
//! | `server/<name>/header` | [`StaticHeader`] as JSON: a header name and its value (static bearer or API key) | `connect` with a static credential |
//! | `server/<name>/env/<VAR>` | the value itself, verbatim | `patchbay secret set NAME VAR` |
//! | `client/<issuer hash>` | [`ClientRegistration`] as JSON: client id and secret (or, for `private_key_jwt`, the private key) for one authorization server | Dynamic Client Registration, or a configured client |
//!
//! `<name>` is a server name (the config's alphabet: no `/` or `#`), `<VAR>` an environment
//! variable name, `<issuer hash>` 16 hex digits of FNV-1a 64 over the issuer URL exactly as
//! its metadata states it; the record repeats the issuer and a load checks it.
//!
//! Each record is one keychain item, rewritten in place when it changes: a refresh updates the
//! token set's item, it does not delete it and add another (on macOS a new item is a new access
//! list, and with it a new prompt). Only on Windows, which refuses blobs over 2,560 bytes, is a
//! value over 2,048 bytes split into chunk entries `<account>#<generation>.<i>` behind a
//! one-line head at `<account>`: see [`chunk`]. Either way a write replaces the record in one
//! step, so a rotated refresh token is either fully stored or not at all.
//!
//! # Use
//!
//! [`Vault`] is cheap to clone; its methods are async and run the blocking keychain calls on
//! tokio's blocking pool, bounded by [`keychain_timeout`] (a locked keychain may be waiting
//! for the user to type a password, or, with no display, for a prompt nobody can see).
//!
//! The vault reads an entry only when asked for its value: it remembers the layout it last read
//! or wrote at each account (plain, or which chunks), so a write after a read (a refresh after
//! the hub loaded the tokens) does not read the keychain again. Callers that read a record
//! often keep the value (the hub's token keeper reads each token set once).

pub mod chunk;
pub mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::names::valid_env_var;
use crate::paths::Paths;
use crate::platform::Os;
use crate::secret::Secret;
use chunk::Head;
use store::Backend;

/// How long one keychain operation may take when a person can answer an unlock prompt.
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one keychain operation may take when no prompt can be shown (Linux without a
/// display): D-Bus calls take milliseconds, so a longer wait is a prompt nobody will answer.
pub const HEADLESS_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The bound on one keychain operation here: [`KEYCHAIN_TIMEOUT`], or on a Linux session
/// without `DISPLAY` or `WAYLAND_DISPLAY`, [`HEADLESS_KEYCHAIN_TIMEOUT`].
pub fn keychain_timeout() -> Duration {
    let linux = cfg!(all(
        unix,
        not(any(
            target_os = "macos",
            target_os = "ios",
            target_os = "android"
        ))
    ));
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if linux && !display {
        HEADLESS_KEYCHAIN_TIMEOUT
    } else {
        KEYCHAIN_TIMEOUT
    }
}

/// A keychain account name; see the module docs for the layout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(String);

impl Account {
    /// `server/<name>/oauth`: a remote server's OAuth token set.
    pub fn tokens(server: &str) -> Result<Self, VaultError> {
        Ok(Self(format!("server/{}/oauth", checked_server(server)?)))
    }

    /// `server/<name>/header`: a remote server's static credential header.
    pub fn header(server: &str) -> Result<Self, VaultError> {
        Ok(Self(format!("server/{}/header", checked_server(server)?)))
    }

    /// `server/<name>/env/<VAR>`: one environment variable of a stdio server.
    pub fn env(server: &str, var: &str) -> Result<Self, VaultError> {
        if !valid_env_var(var) {
            return Err(VaultError::InvalidName {
                what: "environment variable",
                name: var.to_owned(),
            });
        }
        Ok(Self(format!(
            "server/{}/env/{var}",
            checked_server(server)?
        )))
    }

    /// `client/<issuer hash>`: Patchbay's client registration at one authorization server.
    pub fn client(issuer: &str) -> Self {
        Self(format!(
            "client/{:016x}",
            crate::names::fnv1a64(issuer.as_bytes())
        ))
    }

    /// The account name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server this account belongs to, for `server/...` accounts.
    pub fn server(&self) -> Option<&str> {
        self.0.strip_prefix("server/")?.split('/').next()
    }

    /// The variable name, for `server/<name>/env/<VAR>` accounts.
    pub fn env_var(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("server/")?;
        let (_, var) = rest.split_once("/env/")?;
        Some(var)
    }

    /// A stored account name read back from the keychain; chunk entries are not records.
    fn parse(name: &str) -> Option<Self> {
        let known =
            !name.contains('#') && (name.starts_with("server/") || name.starts_with("client/"));
        known.then(|| Self(name.to_owned()))
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn checked_server(server: &str) -> Result<&str, VaultError> {
    if crate::names::valid_server_name(server) {
        Ok(server)
    } else {
        Err(VaultError::InvalidName {
            what: "server name",
            name: server.to_owned(),
        })
    }
}

/// A string carried as an error source.
#[derive(Debug)]
pub struct Cause(pub String);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

/// A vault failure, by what the caller does next. Never contains a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No keychain is reachable: the user must start or install one ([`VaultError::hint`]).
    #[error("{}", unavailable_message())]
    Unavailable {
        /// What the platform said.
        #[source]
        cause: Cause,
    },
    /// The keychain is there but locked, or refused access: unlock it and retry.
    #[error("the keychain is locked or refused access")]
    Locked {
        /// What the platform said.
        #[source]
        cause: Cause,
    },
    /// One keychain operation failed.
    #[error("the keychain failed on entry `{account}`")]
    Keychain {
        /// The entry.
        account: String,
        /// What the platform said.
        #[source]
        cause: Cause,
    },
    /// An entry is there but does not hold what we wrote: store it again (sign in again).
    #[error("the keychain entry `{account}` is damaged: {reason}")]
    Damaged {
        /// The entry.
        account: String,
        /// What is wrong (never the value).
        reason: String,
    },
    /// A name that cannot be part of an account.
    #[error("invalid {what} `{name}`")]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The keychain did not answer in time (a locked keychain waiting for its password?).
    #[error("the keychain did not answer within {secs} s")]
    Timeout {
        /// The bound that passed.
        secs: u64,
    },
}

impl VaultError {
    pub(crate) fn unavailable(cause: String) -> Self {
        Self::Unavailable {
            cause: Cause(cause),
        }
    }

    /// What the user can do about it, when we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            VaultError::Unavailable { .. } => Some(unavailable_hint()),
            VaultError::Locked { .. } => Some(
                "unlock your keychain (on Linux: the \"login\" collection of GNOME Keyring or KeePassXC), then try again"
                    .to_owned(),
            ),
            VaultError::Timeout { .. } => Some(
                "the keychain is probably locked and waiting at an unlock prompt (none can be shown without a display); \
                 unlock it first, e.g. `printf %s \"$PASSWORD\" | gnome-keyring-daemon --unlock`, or on a headless machine use \
                 the repository's `scripts/keyring-session`"
                    .to_owned(),
            ),
            VaultError::Damaged { .. } => {
                Some("store the secret again (or sign in again); the damaged entry is replaced".to_owned())
            }
            VaultError::InvalidName { what: "environment variable", .. } => Some(
                "environment variable names are letters, digits and `_`, not starting with a digit"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn unavailable_message() -> &'static str {
    "no keychain reachable: no Secret Service on the D-Bus session bus"
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn unavailable_hint() -> String {
    let bus = match std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        Some(addr) if !addr.is_empty() => String::new(),
        _ => " (DBUS_SESSION_BUS_ADDRESS is not set: there is no session bus)".to_owned(),
    };
    format!(
        "start a Secret Service{bus}: GNOME Keyring (`gnome-keyring-daemon --start --components=secrets`) \
         or KeePassXC with Secret Service integration; on a headless machine run Patchbay under \
         `dbus-run-session` with an unlocked gnome-keyring (the repository's `scripts/keyring-session`). \
         Patchbay never stores secrets in a plain file"
    )
}

#[cfg(target_os = "macos")]
fn unavailable_message() -> &'static str {
    "no keychain reachable: the macOS login keychain could not be opened"
}

#[cfg(target_os = "macos")]
fn unavailable_hint() -> String {
    "run Patchbay in your logged-in user session, and check the login keychain in Keychain Access. \
     Patchbay never stores secrets in a plain file"
        .to_owned()
}

#[cfg(target_os = "windows")]
fn unavailable_message() -> &'static str {
    "no keychain reachable: Windows Credential Manager could not be opened"
}

#[cfg(target_os = "windows")]
fn unavailable_hint() -> String {
    "run Patchbay as your own user in an interactive session (Credential Manager is per user). \
     Patchbay never stores secrets in a plain file"
        .to_owned()
}

#[cfg(not(any(unix, windows)))]
fn unavailable_message() -> &'static str {
    "no keychain reachable: this platform has no supported keychain"
}

#[cfg(not(any(unix, windows)))]
fn unavailable_hint() -> String {
    "Patchbay stores secrets only in an OS keychain (macOS, Windows, Secret Service), never in a \
     plain file"
        .to_owned()
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The OAuth grant a token set came from, which says how it is renewed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// A person signed in through the browser; renewed with the refresh token, if any.
    #[default]
    AuthorizationCode,
    /// A client authenticated on its own (a secret or a private key in the keychain); renewed
    /// by running the grant again.
    ClientCredentials,
}

impl Grant {
    /// The word the CLI shows (the OAuth grant type).
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// An OAuth token set for one remote server, with what a refresh needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token sent as `Authorization: Bearer`.
    pub access_token: Secret,
    /// Usually `Bearer`.
    pub token_type: String,
    /// The refresh token, when the provider issued one.
    pub refresh_token: Option<Secret>,
    /// When the access token expires (Unix seconds), when the provider said.
    pub expires_at: Option<u64>,
    /// When these tokens were received (Unix seconds).
    pub obtained_at: u64,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// The canonical MCP server URI, sent as `resource` on every refresh (RFC 8707).
    pub resource: String,
    /// Where to refresh.
    pub token_endpoint: String,
    /// Where to revoke (RFC 7009), when advertised.
    pub revocation_endpoint: Option<String>,
    /// The grant they came from.
    pub grant: Grant,
}

impl TokenSet {
    /// Time left before the access token expires at `now`; `None` when no expiry is known,
    /// zero when it has passed.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        let at = self.expires_at?;
        Some(Duration::from_secs(at.saturating_sub(unix_seconds(now))))
    }
}

/// The stored form of a [`TokenSet`]; secrets appear only here, in memory, on their way into
/// the keychain.
#[derive(Serialize, Deserialize)]
struct TokenSetRecord {
    v: u32,
    access_token: String,
    token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_at: Option<u64>,
    obtained_at: u64,
    #[serde(default)]
    scopes: Vec<String>,
    issuer: String,
    client_id: String,
    resource: String,
    token_endpoint: String,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    #[serde(default)]
    grant: Grant,
}

impl From<&TokenSet> for TokenSetRecord {
    fn from(t: &TokenSet) -> Self {
        Self {
            v: 1,
            access_token: t.access_token.expose().to_owned(),
            token_type: t.token_type.clone(),
            refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_owned()),
            expires_at: t.expires_at,
            obtained_at: t.obtained_at,
            scopes: t.scopes.clone(),
            issuer: t.issuer.clone(),
            client_id: t.client_id.clone(),
            resource: t.resource.clone(),
            token_endpoint: t.token_endpoint.clone(),
            revocation_endpoint: t.revocation_endpoint.clone(),
            grant: t.grant,
        }
    }
}

impl From<TokenSetRecord> for TokenSet {
    fn from(r: TokenSetRecord) -> Self {
        Self {
            access_token: Secret::new(r.access_token),
            token_type: r.token_type,
            refresh_token: r.refresh_token.map(Secret::new),
            expires_at: r.expires_at,
            obtained_at: r.obtained_at,
            scopes: r.scopes,
            issuer: r.issuer,
            client_id: r.client_id,
            resource: r.resource,
            token_endpoint: r.token_endpoint,
            revocation_endpoint: r.revocation_endpoint,
            grant: r.grant,
        }
    }
}

/// How Patchbay came to hold a client registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    /// Dynamic Client Registration (RFC 7591).
    Dynamic,
    /// A client id (and secret) the user configured.
    Configured,
}

/// Patchbay's client registration at one authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// How it was obtained.
    pub kind: RegistrationKind,
    /// The client id.
    pub client_id: String,
    /// The client secret, for confidential registrations.
    pub client_secret: Option<Secret>,
    /// When the client secret expires (Unix seconds; RFC 7591 `0` = never is stored as `None`).
    pub client_secret_expires_at: Option<u64>,
    /// The registration access token (RFC 7592), when given.
    pub registration_access_token: Option<Secret>,
    /// The registration's management URI (RFC 7592), when given.
    pub registration_client_uri: Option<String>,
    /// Redirect URIs registered.
    pub redirect_uris: Vec<String>,
    /// Token endpoint authentication method registered (`none`, `client_secret_basic`, ...).
    pub token_endpoint_auth_method: Option<String>,
    /// When it was registered (Unix seconds).
    pub registered_at: u64,
    /// The grant it is used for; `Grant::ClientCredentials` for a client that signs in on its
    /// own (`connect --grant client-credentials`).
    pub grant: Grant,
    /// The private key (PEM) of a `private_key_jwt` client (RFC 7523).
    pub private_key: Option<Secret>,
    /// The JWS algorithm that key signs with (`ES256`, `RS256`, ...).
    pub signing_alg: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ClientRegistrationRecord {
    v: u32,
    issuer: String,
    kind: RegistrationKind,
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_access_token: Option<String>,
    #[serde(default)]
    registration_client_uri: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    registered_at: u64,
    #[serde(default)]
    grant: Grant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_alg: Option<String>,
}

impl From<&ClientRegistration> for ClientRegistrationRecord {
    fn from(c: &ClientRegistration) -> Self {
        Self {
            v: 1,
            issuer: c.issuer.clone(),
            kind: c.kind,
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.as_ref().map(|s| s.expose().to_owned()),
            client_secret_expires_at: c.client_secret_expires_at,
            registration_access_token: c
                .registration_access_token
                .as_ref()
                .map(|s| s.expose().to_owned()),
            registration_client_uri: c.registration_client_uri.clone(),
            redirect_uris: c.redirect_uris.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
            registered_at: c.registered_at,
            grant: c.grant,
            private_key: c.private_key.as_ref().map(|s| s.expose().to_owned()),
            signing_alg: c.signing_alg.clone(),
        }
    }
}

impl From<ClientRegistrationRecord> for ClientRegistration {
    fn from(r: ClientRegistrationRecord) -> Self {
        Self {
            issuer: r.issuer,
            kind: r.kind,
            client_id: r.client_id,
            client_secret: r.client_secret.map(Secret::new),
            client_secret_expires_at: r.client_secret_expires_at,
            registration_access_token: r.registration_access_token.map(Secret::new),
            registration_client_uri: r.registration_client_uri,
            redirect_uris: r.redirect_uris,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            registered_at: r.registered_at,
            grant: r.grant,
            private_key: r.private_key.map(Secret::new),
            signing_alg: r.signing_alg,
        }
    }
}

/// A static credential header for a remote server (`Authorization: Bearer ...`, `X-API-Key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticHeader {
    /// The header name.
    pub name: String,
    /// Its value.
    pub value: Secret,
}

#[derive(Serialize, Deserialize)]
struct StaticHeaderRecord {
    v: u32,
    name: String,
    value: String,
}

/// Secrets kept in the OS keychain. Cheap to clone; clones share what the vault has seen.
#[derive(Clone)]
pub struct Vault {
    service: Arc<str>,
    records: Arc<Records>,
}

/// The keychain with the layout of its OS and what the vault has seen there.
struct Records {
    backend: Arc<dyn Backend>,
    /// [`chunk::entry_limit`] of the keychain's OS.
    limit: Option<usize>,
    /// The chunk head last read or written at each account (`None`: a plain value, or nothing),
    /// so a write or delete knows the old chunks without reading the keychain again. Another
    /// process rewriting a record between our read and our write can at worst leave its chunks
    /// behind (never lose the record: generations are random, a head switches in one write).
    heads: std::sync::Mutex<std::collections::HashMap<String, Option<Head>>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// The OS keychain, entries under `service`. Nothing is opened until first use.
    pub fn keychain(service: impl Into<String>) -> Self {
        let service = service.into();
        let backend = Arc::new(store::Keychain::new(service.clone()));
        Self::with_backend(service, backend)
    }

    /// The OS keychain for the installation at `paths`.
    pub fn for_paths(paths: &Paths) -> Self {
        Self::keychain(paths.vault_service.clone())
    }

    /// A vault over any backend, laid out for this OS's keychain (the layout's unit tests use
    /// an in-memory one).
    pub fn with_backend(service: impl Into<String>, backend: Arc<dyn Backend>) -> Self {
        Self::laid_out_for(service, backend, Os::current())
    }

    /// A vault over any backend, laid out as on `os` ([`chunk::entry_limit`]).
    pub fn laid_out_for(service: impl Into<String>, backend: Arc<dyn Backend>, os: Os) -> Self {
        Self {
            service: service.into().into(),
            records: Arc::new(Records {
                backend,
                limit: chunk::entry_limit(os),
                heads: Default::default(),
            }),
        }
    }

    /// The keychain service name its entries are under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Run blocking keychain work off the async runtime, bounded by [`KEYCHAIN_TIMEOUT`].
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Records) -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, VaultError> {
        let records = self.records.clone();
        let task = tokio::task::spawn_blocking(move || work(&records));
        let limit = keychain_timeout();
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(VaultError::Keychain {
                account: "*".to_owned(),
                cause: Cause(format!("the keychain task failed: {join}")),
            }),
            Err(_) => Err(VaultError::Timeout {
                secs: limit.as_secs(),
            }),
        }
    }

    /// Whether the keychain answers: a read of an entry nobody writes.
    pub async fn check(&self) -> Result<(), VaultError> {
        self.blocking(|r| r.backend.get("probe").map(drop)).await
    }

    /// The value at `account`, `None` when absent.
    pub async fn get(&self, account: &Account) -> Result<Option<Secret>, VaultError> {
        let name = account.0.clone();
        let bytes = self.blocking(move |r| r.read(&name)).await?;
        bytes
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map(Secret::new)
                    .map_err(|_| damaged(account, "the value is not UTF-8"))
            })
            .transpose()
    }

    /// Store `value` at `account`, replacing what was there.
    pub async fn put(&self, account: &Account, value: &Secret) -> Result<(), VaultError> {
        let name = account.0.clone();
        let bytes = value.expose().as_bytes().to_vec();
        self.blocking(move |r| r.write(&name, &bytes)).await
    }

    /// Delete `account` and its chunks; `false` when nothing was there.
    pub async fn delete(&self, account: &Account) -> Result<bool, VaultError> {
        let name = account.0.clone();
        self.blocking(move |r| r.delete(&name)).await
    }

    async fn get_json<R: serde::de::DeserializeOwned>(
        &self,
        account: &Account,
    ) -> Result<Option<R>, VaultError> {
        let Some(text) = self.get(account).await? else {
            return Ok(None);
        };
        // serde's message could quote a piece of the value: keep only where it failed.
        serde_json::from_str(text.expose()).map(Some).map_err(|e| {
            damaged(
                account,
                &format!(
                    "not a record of this Patchbay version (at column {})",
                    e.column()
                ),
            )
        })
    }

    async fn put_json(&self, account: &Account, record: &impl Serialize) -> Result<(), VaultError> {
        let text = serde_json::to_string(record).expect("records serialize");
        self.put(account, &Secret::new(text)).await
    }

    /// Store a server's token set (one write: a rotated refresh token is stored whole or not).
    pub async fn store_tokens(&self, server: &str, tokens: &TokenSet) -> Result<(), VaultError> {
        self.put_json(&Account::tokens(server)?, &TokenSetRecord::from(tokens))
            .await
    }

    /// A server's token set, `None` when it has none.
    pub async fn load_tokens(&self, server: &str) -> Result<Option<TokenSet>, VaultError> {
        let record: Option<TokenSetRecord> = self.get_json(&Account::tokens(server)?).await?;
        Ok(record.map(TokenSet::from))
    }

    /// Delete a server's token set; `false` when it had none.
    pub async fn delete_tokens(&self, server: &str) -> Result<bool, VaultError> {
        self.delete(&Account::tokens(server)?).await
    }

    /// Store the client registration for `registration.issuer`.
    pub async fn store_client_registration(
        &self,
        registration: &ClientRegistration,
    ) -> Result<(), VaultError> {
        self.put_json(
            &Account::client(&registration.issuer),
            &ClientRegistrationRecord::from(registration),
        )
        .await
    }

    /// The client registration at `issuer`, `None` when there is none.
    pub async fn load_client_registration(
        &self,
        issuer: &str,
    ) -> Result<Option<ClientRegistration>, VaultError> {
        let account = Account::client(issuer);
        let record: Option<ClientRegistrationRecord> = self.get_json(&account).await?;
        match record {
            Some(r) if r.issuer == issuer => Ok(Some(r.into())),
            // Another issuer with the same 64-bit hash: not ours, so none.
            Some(_) => Ok(None),
            None => Ok(None),
        }
    }

    /// Delete the client registration at `issuer`; `false` when there was none.
    pub async fn delete_client_registration(&self, issuer: &str) -> Result<bool, VaultError> {
        if self.load_client_registration(issuer).await?.is_none() {
            return Ok(false);
        }
        self.delete(&Account::client(issuer)).await
    }

    /// Store a server's static credential header.
    pub async fn store_header(
        &self,
        server: &str,
        header: &StaticHeader,
    ) -> Result<(), VaultError> {
        let record = StaticHeaderRecord {
            v: 1,
            name: header.name.clone(),
            value: header.value.expose().to_owned(),
        };
        self.put_json(&Account::header(server)?, &record).await
    }

    /// A server's static credential header, `None` when it has none.
    pub async fn load_header(&self, server: &str) -> Result<Option<StaticHeader>, VaultError> {
        let record: Option<StaticHeaderRecord> = self.get_json(&Account::header(server)?).await?;
        Ok(record.map(|r| StaticHeader {
            name: r.name,
            value: Secret::new(r.value),
        }))
    }

    /// Delete a server's static credential header; `false` when it had none.
    pub async fn delete_header(&self, server: &str) -> Result<bool, VaultError> {
        self.delete(&Account::header(server)?).await
    }

    /// Store one environment variable's value for a stdio server.
    pub async fn set_env(&self, server: &str, var: &str, value: &Secret) -> Result<(), VaultError> {
        self.put(&Account::env(server, var)?, value).await
    }

    /// One environment variable's value, `None` when it is not stored.
    pub async fn env(&self, server: &str, var: &str) -> Result<Option<Secret>, VaultError> {
        self.get(&Account::env(server, var)?).await
    }

    /// Delete one environment variable's value; `false` when it was not stored.
    pub async fn delete_env(&self, server: &str, var: &str) -> Result<bool, VaultError> {
        self.delete(&Account::env(server, var)?).await
    }

    /// The values of `vars` for `server`, all read in one blocking task. The second list names
    /// the variables that are not stored.
    pub async fn env_values(
        &self,
        server: &str,
        vars: &[String],
    ) -> Result<(BTreeMap<String, Secret>, Vec<String>), VaultError> {
        let accounts = vars
            .iter()
            .map(|var| Ok((var.clone(), Account::env(server, var)?)))
            .collect::<Result<Vec<_>, VaultError>>()?;
        let read = self
            .blocking(move |r| {
                accounts
                    .into_iter()
                    .map(|(var, account)| Ok((var, account.clone(), r.read(&account.0)?)))
                    .collect::<Result<Vec<_>, VaultError>>()
            })
            .await?;
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        for (var, account, bytes) in read {
            match bytes {
                Some(bytes) => {
                    let value = String::from_utf8(bytes)
                        .map_err(|_| damaged(&account, "the value is not UTF-8"))?;
                    found.insert(var, Secret::new(value));
                }
                None => missing.push(var),
            }
        }
        Ok((found, missing))
    }

    /// Every record this installation holds, when the keychain can enumerate (Secret Service
    /// can; elsewhere `None`, and callers work from the config's references).
    pub async fn accounts(&self) -> Result<Option<Vec<Account>>, VaultError> {
        let names = self.blocking(|r| r.backend.accounts()).await?;
        Ok(names.map(|names| names.iter().filter_map(|n| Account::parse(n)).collect()))
    }

    /// Delete everything stored for `server`: its tokens, header, the given env variables and
    /// any other `server/<name>/...` record the keychain can enumerate. Returns what was deleted.
    pub async fn forget_server(
        &self,
        server: &str,
        env_vars: &[String],
    ) -> Result<Vec<Account>, VaultError> {
        let mut accounts = vec![Account::tokens(server)?, Account::header(server)?];
        for var in env_vars {
            accounts.push(Account::env(server, var)?);
        }
        if let Some(listed) = self.accounts().await? {
            accounts.extend(listed.into_iter().filter(|a| a.server() == Some(server)));
        }
        accounts.sort();
        accounts.dedup();
        self.blocking(move |r| {
            let mut deleted = Vec::new();
            for account in accounts {
                if r.delete(&account.0)? {
                    deleted.push(account);
                }
            }
            Ok(deleted)
        })
        .await
    }
}

fn damaged(account: &Account, reason: &str) -> VaultError {
    VaultError::Damaged {
        account: account.0.clone(),
        reason: reason.to_owned(),
    }
}

/// A record's bytes, with its head when it is chunked.
type Found = (Vec<u8>, Option<Head>);

impl Records {
    /// Read a record, joining its chunks. A reader that raced a writer reads the head again once.
    fn read(&self, account: &str) -> Result<Option<Vec<u8>>, VaultError> {
        match self.read_from_keychain(account) {
            Ok(found) => {
                let head = found.as_ref().and_then(|(_, head)| head.clone());
                self.remember(account, Some(head));
                Ok(found.map(|(bytes, _)| bytes))
            }
            Err(err) => {
                self.remember(account, None);
                Err(err)
            }
        }
    }

    /// The record at `account`, with its head when it is chunked.
    fn read_from_keychain(&self, account: &str) -> Result<Option<Found>, VaultError> {
        let backend = &*self.backend;
        let mut last_problem = String::new();
        for _ in 0..2 {
            let Some(head_bytes) = backend.get(account)? else {
                return Ok(None);
            };
            let head = match Head::parse(&head_bytes) {
                None => return Ok(Some((head_bytes, None))),
                Some(Ok(head)) => head,
                Some(Err(problem)) => {
                    last_problem = problem;
                    continue;
                }
            };
            let mut chunks = Vec::with_capacity(head.count);
            for chunk_account in head.chunk_accounts(account) {
                match backend.get(&chunk_account)? {
                    Some(bytes) => chunks.push(bytes),
                    None => {
                        last_problem = format!("chunk `{chunk_account}` is missing");
                        break;
                    }
                }
            }
            if chunks.len() == head.count {
                match head.join(chunks) {
                    Ok(bytes) => return Ok(Some((bytes, Some(head)))),
                    Err(problem) => last_problem = problem,
                }
            }
        }
        Err(VaultError::Damaged {
            account: account.to_owned(),
            reason: last_problem,
        })
    }

    /// Remember the layout at `account` (`Some(None)`: plain or nothing); `None` forgets it.
    fn remember(&self, account: &str, seen: Option<Option<Head>>) {
        let mut heads = self.heads.lock().expect("vault heads lock");
        match seen {
            Some(head) => heads.insert(account.to_owned(), head),
            None => heads.remove(account),
        };
    }

    /// The head at `account` when the record there is chunked: as last seen, else read.
    fn current_head(&self, account: &str) -> Result<Option<Head>, VaultError> {
        if let Some(seen) = self.heads.lock().expect("vault heads lock").get(account) {
            return Ok(seen.clone());
        }
        Ok(self
            .backend
            .get(account)?
            .and_then(|bytes| Head::parse(&bytes))
            .and_then(Result::ok))
    }

    /// Write a record in place; on a keychain with an entry limit a large one as new chunks,
    /// then the head, then the old generation's chunks deleted (also those of a record chunked
    /// by an older Patchbay, now stored whole).
    fn write(&self, account: &str, bytes: &[u8]) -> Result<(), VaultError> {
        let old = self.current_head(account)?;
        // Until the write is through, what is at `account` is not known.
        self.remember(account, None);
        let new = if chunk::needs_chunks(bytes, self.limit) {
            let head = Head::describe(bytes, chunk::new_generation());
            for (i, piece) in chunk::split(bytes).into_iter().enumerate() {
                self.backend
                    .set(&head.chunk_account(account, i + 1), piece)?;
            }
            self.backend.set(account, &head.encode())?;
            Some(head)
        } else {
            self.backend.set(account, bytes)?;
            None
        };
        if let Some(old) = old {
            for chunk_account in old.chunk_accounts(account) {
                self.backend.delete(&chunk_account)?;
            }
        }
        self.remember(account, Some(new));
        Ok(())
    }

    /// Delete a record and its chunks; `false` when there was no record.
    fn delete(&self, account: &str) -> Result<bool, VaultError> {
        let head = self.current_head(account)?;
        self.remember(account, None);
        let existed = self.backend.delete(account)?;
        if let Some(head) = head {
            for chunk_account in head.chunk_accounts(account) {
                self.backend.delete(&chunk_account)?;
            }
        }
        self.remember(account, Some(None));
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunk::{CHUNK_BYTES, WINDOWS_BLOB_LIMIT};

    const EVERY_OS: [Os; 3] = [Os::Windows, Os::MacOs, Os::Linux];

    /// A vault laid out as on `os`, over an in-memory keychain with `os`'s blob limit.
    fn memory_vault(os: Os) -> (Vault, Arc<store::Memory>) {
        let memory = Arc::new(store::Memory::like(os));
        (
            Vault::laid_out_for("patchbay-test", memory.clone(), os),
            memory,
        )
    }

    /// A token set the size real providers issue at the top end: two long JWT-like tokens.
    pub(crate) fn large_token_set() -> TokenSet {
        let jwt = |seed: char, n: usize| -> String {
            (0..n)
                .map(|i| char::from(b'A' + ((i * 7 + seed as usize) % 26) as u8))
                .collect()
        };
        TokenSet {
            access_token: Secret::new(format!("eyJ{}", jwt('a', 4200))),
            token_type: "Bearer".into(),
            refresh_token: Some(Secret::new(format!("rt-{}", jwt('r', 3100)))),
            expires_at: Some(1_900_000_000),
            obtained_at: 1_899_996_400,
            scopes: vec!["mcp:tools".into(), "offline_access".into()],
            issuer: "https://auth.example.test/t1".into(),
            client_id: "client-123".into(),
            resource: "https://mcp.example.test/mcp".into(),
            token_endpoint: "https://auth.example.test/t1/token".into(),
            revocation_endpoint: Some("https://auth.example.test/t1/revoke".into()),
            grant: Grant::AuthorizationCode,
        }
    }

    #[test]
    fn layout_names_are_the_documented_ones() {
        assert_eq!(
            Account::tokens("github").unwrap().as_str(),
            "server/github/oauth"
        );
        assert_eq!(
            Account::header("github").unwrap().as_str(),
            "server/github/header"
        );
        let env = Account::env("time", "API_KEY").unwrap();
        assert_eq!(env.as_str(), "server/time/env/API_KEY");
        assert_eq!(
            (env.server(), env.env_var()),
            (Some("time"), Some("API_KEY"))
        );
        let client = Account::client("https://auth.example.test/t1");
        assert!(client.as_str().starts_with("client/") && client.as_str().len() == 7 + 16);
        assert_ne!(client, Account::client("https://auth.example.test/t2"));
        for bad in ["a/b", "a#b", "", "a__b"] {
            assert!(Account::tokens(bad).is_err(), "server `{bad}` refused");
        }
        for bad in ["1X", "A-B", "A/B", "A#1", ""] {
            assert!(Account::env("x", bad).is_err(), "var `{bad}` refused");
        }
        assert_eq!(
            Account::parse("server/x/oauth#ab.1"),
            None,
            "chunks are not records"
        );
    }

    #[tokio::test]
    async fn a_large_token_set_fits_the_windows_limit_and_round_trips() {
        let (vault, memory) = memory_vault(Os::Windows);
        let tokens = large_token_set();
        vault.store_tokens("remote", &tokens).await.unwrap();
        {
            let entries = memory.entries.lock().unwrap();
            assert!(
                entries.len() >= 5,
                "a 7 KB set is chunked: {:?}",
                entries.keys()
            );
            for (account, blob) in entries.iter() {
                assert!(
                    blob.len() <= WINDOWS_BLOB_LIMIT,
                    "{account}: {} bytes",
                    blob.len()
                );
            }
            let head = std::str::from_utf8(&entries["server/remote/oauth"]).unwrap();
            assert!(head.starts_with(chunk::HEAD_PREFIX), "{head}");
        }
        assert_eq!(
            vault.load_tokens("remote").await.unwrap(),
            Some(tokens.clone())
        );

        // A rotation to a smaller set leaves no chunk of the old generation behind.
        let mut small = tokens.clone();
        small.access_token = Secret::new("short-access");
        small.refresh_token = Some(Secret::new("short-refresh"));
        vault.store_tokens("remote", &small).await.unwrap();
        let left: Vec<String> = memory.entries.lock().unwrap().keys().cloned().collect();
        assert_eq!(left, ["server/remote/oauth"], "old chunks deleted");
        assert_eq!(vault.load_tokens("remote").await.unwrap(), Some(small));

        // And back to a large one, then delete: nothing remains.
        vault.store_tokens("remote", &tokens).await.unwrap();
        assert!(vault.delete_tokens("remote").await.unwrap());
        assert!(memory.entries.lock().unwrap().is_empty());
        assert!(!vault.delete_tokens("remote").await.unwrap());
        assert_eq!(vault.load_tokens("remote").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_missing_chunk_is_reported_as_damage_not_guessed() {
        let (vault, memory) = memory_vault(Os::Windows);
        vault
            .store_tokens("remote", &large_token_set())
            .await
            .unwrap();
        let chunk = memory
            .entries
            .lock()
            .unwrap()
            .keys()
            .find(|k| k.contains('#'))
            .cloned()
            .unwrap();
        memory.entries.lock().unwrap().remove(&chunk);
        let err = vault.load_tokens("remote").await.unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(err.hint().is_some());
    }

    #[tokio::test]
    async fn env_values_are_stored_verbatim_and_head_lookalikes_survive() {
        for os in EVERY_OS {
            env_values_round_trip_on(os).await;
        }
    }

    async fn env_values_round_trip_on(os: Os) {
        let (vault, memory) = memory_vault(os);
        vault
            .set_env("x", "API_KEY", &Secret::new("sk-123"))
            .await
            .unwrap();
        assert_eq!(
            memory.entries.lock().unwrap()["server/x/env/API_KEY"],
            b"sk-123",
            "a short env secret is the entry's value, so other tools can read it"
        );
        let trick = Secret::new(format!("{}x:1:1:00", chunk::HEAD_PREFIX));
        vault.set_env("x", "TRICK", &trick).await.unwrap();
        assert_eq!(vault.env("x", "TRICK").await.unwrap(), Some(trick));
        let big = Secret::new("k".repeat(CHUNK_BYTES * 3));
        vault.set_env("x", "BIG", &big).await.unwrap();
        let (found, missing) = vault
            .env_values("x", &["API_KEY".into(), "BIG".into(), "NOPE".into()])
            .await
            .unwrap();
        assert_eq!(found["API_KEY"].expose(), "sk-123");
        assert_eq!(found["BIG"], big);
        assert_eq!(missing, ["NOPE"]);

        let deleted = vault.forget_server("x", &[]).await.unwrap();
        assert_eq!(deleted.len(), 3, "{os:?}: {deleted:?}");
        assert!(
            memory.entries.lock().unwrap().is_empty(),
            "{os:?}: chunks go too"
        );
    }

    #[tokio::test]
    async fn on_macos_and_linux_a_token_set_is_one_item_rewritten_in_place() {
        for os in [Os::MacOs, Os::Linux] {
            let (vault, memory) = memory_vault(os);
            let tokens = large_token_set();
            vault.store_tokens("remote", &tokens).await.unwrap();
            for turn in 0..3 {
                let mut rotated = tokens.clone();
                rotated.refresh_token =
                    Some(Secret::new(format!("rt-{turn}-{}", "r".repeat(3000))));
                vault.store_tokens("remote", &rotated).await.unwrap();
                assert_eq!(vault.load_tokens("remote").await.unwrap(), Some(rotated));
            }
            let entries = memory.entries.lock().unwrap().clone();
            assert_eq!(
                entries.keys().collect::<Vec<_>>(),
                ["server/remote/oauth"],
                "{os:?}: a 7 KB token set is one item"
            );
            assert!(
                entries["server/remote/oauth"].starts_with(b"{"),
                "{os:?}: the item holds the record itself, not a head"
            );
            assert_eq!(
                memory.take_changes(),
                ["set server/remote/oauth"; 4],
                "{os:?}: every write rewrites the one item; nothing is deleted or added"
            );
        }
    }

    #[tokio::test]
    async fn a_record_chunked_by_an_older_version_is_read_then_stored_whole() {
        for os in [Os::MacOs, Os::Linux] {
            for read_first in [true, false] {
                let memory = Arc::new(store::Memory::like(os));
                // Patchbay 0.1 chunked large records on every OS.
                let older = Vault::laid_out_for("patchbay-test", memory.clone(), Os::Windows);
                let tokens = large_token_set();
                older.store_tokens("remote", &tokens).await.unwrap();
                let chunks = memory.entries.lock().unwrap().len() - 1;
                assert!(chunks >= 3, "{os:?}: the old record is chunked");
                memory.take_changes();

                let vault = Vault::laid_out_for("patchbay-test", memory.clone(), os);
                if read_first {
                    assert_eq!(
                        vault.load_tokens("remote").await.unwrap(),
                        Some(tokens.clone()),
                        "{os:?}: the chunked record is read"
                    );
                }
                let mut rotated = tokens.clone();
                rotated.access_token = Secret::new("a".repeat(5000));
                vault.store_tokens("remote", &rotated).await.unwrap();
                let changes = memory.take_changes();
                assert_eq!(
                    changes[0], "set server/remote/oauth",
                    "{os:?}: the head's item now holds the record"
                );
                assert_eq!(changes.len(), 1 + chunks, "{os:?}: {changes:?}");
                assert!(
                    changes[1..]
                        .iter()
                        .all(|c| c.starts_with("delete server/remote/oauth#")),
                    "{os:?}: only the old chunks are deleted: {changes:?}"
                );
                assert_eq!(
                    memory.entries.lock().unwrap().keys().collect::<Vec<_>>(),
                    ["server/remote/oauth"],
                    "{os:?}: no chunk is left"
                );
                let fresh = Vault::laid_out_for("patchbay-test", memory.clone(), os);
                assert_eq!(fresh.load_tokens("remote").await.unwrap(), Some(rotated));
            }
        }
    }

    #[tokio::test]
    async fn a_write_after_a_read_does_not_read_the_keychain_again() {
        for os in EVERY_OS {
            let (vault, memory) = memory_vault(os);
            let tokens = large_token_set();
            vault.store_tokens("remote", &tokens).await.unwrap();
            assert_eq!(
                memory.reads(),
                1,
                "{os:?}: a first write looks for old chunks once"
            );
            for _ in 0..5 {
                vault.store_tokens("remote", &tokens).await.unwrap();
            }
            assert_eq!(memory.reads(), 1, "{os:?}: later writes know the layout");

            let other = Vault::laid_out_for("patchbay-test", memory.clone(), os);
            assert_eq!(
                other.load_tokens("remote").await.unwrap(),
                Some(tokens.clone())
            );
            let after_load = memory.reads();
            other.store_tokens("remote", &tokens).await.unwrap();
            assert!(other.delete_tokens("remote").await.unwrap());
            assert_eq!(
                memory.reads(),
                after_load,
                "{os:?}: a write and a delete after a read read nothing"
            );
            assert!(memory.entries.lock().unwrap().is_empty(), "{os:?}");
        }
    }

    #[tokio::test]
    async fn client_registrations_are_keyed_by_issuer_and_checked() {
        let (vault, _) = memory_vault(Os::current());
        let reg = ClientRegistration {
            issuer: "https://auth.example.test".into(),
            kind: RegistrationKind::Dynamic,
            client_id: "abc".into(),
            client_secret: Some(Secret::new("client-secret-value")),
            client_secret_expires_at: None,
            registration_access_token: None,
            registration_client_uri: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            registered_at: 1,
            grant: Grant::AuthorizationCode,
            private_key: None,
            signing_alg: None,
        };
        vault.store_client_registration(&reg).await.unwrap();
        assert_eq!(
            vault.load_client_registration(&reg.issuer).await.unwrap(),
            Some(reg.clone())
        );
        assert_eq!(
            vault
                .load_client_registration("https://other.test")
                .await
                .unwrap(),
            None
        );
        assert!(vault.delete_client_registration(&reg.issuer).await.unwrap());
    }

    #[test]
    fn debug_of_records_redacts_every_secret() {
        let tokens = large_token_set();
        let header = StaticHeader {
            name: "X-API-Key".into(),
            value: Secret::new("header-secret"),
        };
        let shown = format!("{tokens:?} {header:?}");
        assert!(!shown.contains("eyJ") && !shown.contains("rt-"), "{shown}");
        assert!(!shown.contains("header-secret"), "{shown}");
        assert!(shown.contains("Secret(****)") && shown.contains("auth.example.test"));
    }

    #[tokio::test]
    async fn a_damaged_record_error_does_not_quote_the_value() {
        let (vault, _) = memory_vault(Os::current());
        let account = Account::tokens("x").unwrap();
        vault
            .put(
                &account,
                &Secret::new("{\"v\":1,\"access_token\":\"leaky-token\""),
            )
            .await
            .unwrap();
        let err = vault.load_tokens("x").await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("leaky-token"), "{shown}");
    }

    #[test]
    fn unavailable_says_what_to_do() {
        let err = VaultError::unavailable("connection refused".into());
        let hint = err.hint().unwrap();
        assert!(
            err.to_string().starts_with("no keychain reachable"),
            "{err}"
        );
        assert!(hint.contains("plain file"), "{hint}");
    }
}
