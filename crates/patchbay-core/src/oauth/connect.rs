//! `connect` and `login`: what `patchbay connect URL` and the app's Connect button do, in the
//! hub (through the control API) or, with no hub running, in the CLI. One function each, so
//! both places run the same steps: probe the server; sign in when it asks (or store the static
//! header given); save it to the config. Nothing is saved unless every step succeeded.

use tokio_util::sync::CancellationToken;

use super::{ClientCredentials, Progress, SignInError, SignInRequest, Stage, sign_in};
use crate::config::{Config, ConfigError, ServerConfig};
use crate::paths::Paths;
use crate::remote::{Probe, ProbeAuth, ProbeError};
use crate::vault::{StaticHeader, TokenSet, Vault, VaultError};

/// What to connect, as the CLI and the control API take it. Its `Debug` hides the client
/// secret and the header value.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConnectRequest {
    /// The MCP endpoint (for `login`: taken from the config when absent).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub url: Option<String>,
    /// The server name (for `connect`: derived from the host when absent).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub name: Option<String>,
    /// `login`: sign in again to a configured server instead of adding one.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub login: bool,
    /// Save it disabled.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub disabled: bool,
    /// A client id from the provider.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub client_id: Option<String>,
    /// Its secret.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub client_secret: Option<String>,
    /// The grant: the authorization code grant through the browser (default), or the client
    /// credentials grant with `client_secret` or `private_key`.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub grant: Option<super::Grant>,
    /// The client's private key (PEM) for `private_key_jwt` (client credentials grant).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub private_key: Option<String>,
    /// The JWS algorithm the key signs with (default: the key's usual one).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub signing_alg: Option<String>,
    /// A Client ID Metadata Document URL.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for instead of the server's.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub scopes: Vec<String>,
    /// A static header name (with `header_value`): no OAuth.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub header_name: Option<String>,
    /// The static header's value.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub header_value: Option<String>,
}

impl std::fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "****");
        f.debug_struct("ConnectRequest")
            .field("url", &self.url)
            .field("name", &self.name)
            .field("login", &self.login)
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("grant", &self.grant)
            .field("private_key", &hidden(&self.private_key))
            .field("signing_alg", &self.signing_alg)
            .field("header_name", &self.header_name)
            .field("header_value", &hidden(&self.header_value))
            .finish_non_exhaustive()
    }
}

/// What a connect or login did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Connected {
    /// Server name.
    pub server: String,
    /// Its URL.
    pub url: String,
    /// `none`, `oauth` or `header`.
    pub auth: String,
    /// Scopes granted (OAuth).
    pub scopes: Vec<String>,
    /// The authorization server (OAuth).
    pub issuer: Option<String>,
    /// Whether it was added to the config (`false` for `login`).
    pub added: bool,
}

/// Why a connect or login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The probe failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The sign-in failed.
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// The config could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keychain failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The request does not make sense.
    #[error("{0}")]
    Invalid(String),
    /// The server rejected the static header.
    #[error("{url} rejected the `{header}` header")]
    HeaderRejected {
        /// The URL.
        url: String,
        /// The header name.
        header: String,
    },
}

impl ConnectError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConnectError::Probe(ProbeError::Unreachable { .. }) => {
                Some("check the URL and that the server is up".into())
            }
            ConnectError::Probe(ProbeError::NotMcp { .. }) => {
                Some("the URL must be the server's MCP endpoint (often ending in /mcp)".into())
            }
            ConnectError::SignIn(err) => err.hint(),
            ConnectError::Vault(err) => err.hint(),
            ConnectError::Config(ConfigError::Exists(name)) => Some(format!(
                "pick another --name, or sign in again with `patchbay login {name}`"
            )),
            _ => None,
        }
    }

    /// Whether the user cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self, ConnectError::SignIn(SignInError::Cancelled))
    }
}

/// What a successful connect leaves for the caller: the tokens to hand to a running hub's
/// keeper, and the config to apply.
pub struct Outcome {
    /// What happened.
    pub connected: Connected,
    /// New OAuth tokens (already in the vault).
    pub tokens: Option<TokenSet>,
    /// The config after the change (when one was written).
    pub config: Option<Config>,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConfigError> + Send + 'static,
) -> Result<T, ConfigError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConfigError::Io(std::io::Error::other(e.to_string())))?
}

/// The client credentials grant needs a client id and exactly one of a secret and a private
/// key; a private key or a signing algorithm is for that grant only.
fn check_grant(request: &ConnectRequest) -> Result<(), ConnectError> {
    let invalid = |m: &str| Err(ConnectError::Invalid(m.into()));
    if request.grant == Some(super::Grant::ClientCredentials) {
        if request.client_id.is_none() {
            return invalid("the client credentials grant needs --client-id");
        }
        match (&request.client_secret, &request.private_key) {
            (None, None) => {
                return invalid(
                    "the client credentials grant needs --client-secret or --private-key-file",
                );
            }
            (Some(_), Some(_)) => {
                return invalid("give --client-secret or --private-key-file, not both");
            }
            _ => {}
        }
    } else if request.private_key.is_some() || request.signing_alg.is_some() {
        return invalid(
            "--private-key-file and --signing-alg are for --grant client-credentials (private_key_jwt)",
        );
    }
    if request.signing_alg.is_some() && request.private_key.is_none() {
        return invalid("--signing-alg goes with --private-key-file");
    }
    Ok(())
}

/// Connect (or log in to) a remote server. `report` hears progress.
pub async fn connect(
    paths: &Paths,
    vault: &Vault,
    request: ConnectRequest,
    report: &(dyn Fn(Progress) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<Outcome, ConnectError> {
    let config_file = paths.config_file.clone();
    let config = blocking(move || match Config::load(&config_file) {
        Err(ConfigError::NotFound(_)) => Ok(Config::default()),
        other => other,
    })
    .await?;
    let (name, url) = if request.login {
        let name = request
            .name
            .clone()
            .ok_or_else(|| ConnectError::Invalid("login needs a server name".into()))?;
        let server = config
            .servers
            .get(&name)
            .ok_or_else(|| ConfigError::NotFound(name.clone()))?;
        let url = server.url.clone().ok_or_else(|| {
            ConnectError::Invalid(format!(
                "`{name}` is a stdio server; only remote servers sign in"
            ))
        })?;
        (name, url)
    } else {
        let url = request
            .url
            .clone()
            .ok_or_else(|| ConnectError::Invalid("connect needs a URL".into()))?;
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| crate::remote::default_name(&url));
        if !crate::names::valid_server_name(&name) {
            return Err(ConfigError::InvalidName(name).into());
        }
        if config.servers.contains_key(&name) {
            return Err(ConfigError::Exists(name).into());
        }
        (name, url)
    };
    crate::config::check_remote_url(&url).map_err(ProbeError::BadUrl)?;
    check_grant(&request)?;
    let client_metadata_url = request
        .client_metadata_url
        .clone()
        .or_else(super::client_metadata_url);
    if let Some(cimd) = &client_metadata_url {
        super::check_client_metadata_url(cimd).map_err(ConnectError::Invalid)?;
    }

    let mut connected = Connected {
        server: name.clone(),
        url: url.clone(),
        auth: "none".into(),
        scopes: Vec::new(),
        issuer: None,
        added: !request.login,
    };
    let mut tokens = None;
    if let (Some(header), Some(value)) = (&request.header_name, &request.header_value) {
        let header = StaticHeader {
            name: header.clone(),
            value: crate::secret::Secret::new(value.clone()),
        };
        if http::HeaderName::from_bytes(header.name.as_bytes()).is_err()
            || http::HeaderValue::from_str(header.value.expose()).is_err()
        {
            return Err(ConnectError::Invalid(format!(
                "`{}` is not a valid header name, or its value has characters a header cannot carry",
                header.name
            )));
        }
        report(Progress::new(
            Stage::Verifying,
            format!("Checking {url} with the `{}` header", header.name),
        ));
        match crate::remote::probe(&url, ProbeAuth::Header(&header)).await? {
            Probe::Open { .. } => {}
            Probe::NeedsAuth { .. } | Probe::Forbidden { .. } => {
                return Err(ConnectError::HeaderRejected {
                    url,
                    header: header.name,
                });
            }
        }
        vault.delete_tokens(&name).await?;
        vault.store_header(&name, &header).await?;
        connected.auth = "header".into();
    } else {
        report(Progress::new(
            Stage::Discovering,
            format!("Connecting to {url}"),
        ));
        match crate::remote::probe(&url, ProbeAuth::None).await? {
            Probe::Open { .. } if request.login => {
                return Err(ConnectError::Invalid(format!(
                    "{url} answers without a sign-in; there is nothing to log in to"
                )));
            }
            Probe::Open { .. } => {
                report(Progress::new(
                    Stage::Verifying,
                    format!("{url} answers without a sign-in"),
                ));
            }
            Probe::NeedsAuth { challenge } | Probe::Forbidden { challenge } => {
                let signed_in = sign_in(
                    SignInRequest {
                        server: name.clone(),
                        url: url.clone(),
                        challenge,
                        scopes: request.scopes.clone(),
                        client: request.client_id.clone().map(|id| ClientCredentials {
                            id,
                            secret: request
                                .client_secret
                                .clone()
                                .map(crate::secret::Secret::new),
                            private_key: request
                                .private_key
                                .clone()
                                .map(crate::secret::Secret::new),
                            signing_alg: request.signing_alg.clone(),
                        }),
                        grant: request.grant,
                        client_metadata_url: client_metadata_url.clone(),
                    },
                    vault,
                    report,
                    cancel,
                )
                .await?;
                vault.delete_header(&name).await?;
                connected.auth = "oauth".into();
                connected.scopes = signed_in.scopes.clone();
                connected.issuer = Some(signed_in.issuer.clone());
                tokens = Some(signed_in);
            }
        }
    }
    let mut written = None;
    if !request.login {
        let mut server = ServerConfig::remote(&url);
        server.enabled = !request.disabled;
        let (file, name) = (paths.config_file.clone(), name.clone());
        let added = blocking(move || crate::config::edit::add_server(&file, &name, &server)).await;
        match added {
            Ok(config) => written = Some(config),
            Err(err) => {
                // Nothing half-done: the credentials go with the entry that was not written.
                let _ = vault.delete_tokens(&connected.server).await;
                let _ = vault.delete_header(&connected.server).await;
                return Err(err.into());
            }
        }
    }
    Ok(Outcome {
        connected,
        tokens,
        config: written,
    })
}
