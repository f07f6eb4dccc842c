//! The user's config file: one human-edited TOML document.
//!
//! ```toml
//! [hub]
//! port = 45450                 # loopback port of the hub; 0 picks a free one
//! allowed_origins = []         # browser origins allowed to call the hub (none by default)
//! default_start = "lazy"       # what `patchbay add` writes for a new server's `start`
//! idle_timeout = "10m"         # how long a lazy server may sit without calls before it stops
//! input_timeout = "5m"         # how long a stateless client's call waits for its answer to a
//!                              # server's question (input_required) before it is cancelled
//! sign_in_wait = "5m"          # how long a call to a remote server whose sign-in lapsed waits
//!                              # for the one sign-in the hub opens; "off": fail at once
//!
//! [catalog]
//! registries = ["https://registry.modelcontextprotocol.io"]  # MCP Registry APIs searched, in
//!                              # order (`patchbay search`); the first to list a name wins
//! refresh = "6h"               # how often the hub reads their listings again in the
//!                              # background (what search falls back to offline); "off"
//!
//! [servers.time]
//! command = "uvx"              # program to run (looked up on PATH)
//! args = ["mcp-server-time"]
//! env = { TZ = "UTC" }         # extra environment for the child
//! secret_env = ["API_KEY"]     # more environment, values kept in the OS keychain
//! cwd = "/home/me"             # working directory (default: the hub's)
//! enabled = true               # disabled servers stay in the file but do not run
//! start = "lazy"               # "lazy": started by the first call that needs it, stopped
//!                              # after `idle_timeout` without calls; "eager": with the hub
//! idle_timeout = "10m"         # lazy servers only (default: the hub's `idle_timeout`)
//! registry = { name = "io.github.acme/time", version = "1.0.0" }  # installed from the
//!                              # MCP Registry (`patchbay add --from-registry`): for updates
//! bundle = { name = "weather", version = "1.0.0", dir = "/home/me/.local/share/patchbay/bundles/weather" }
//!                              # unpacked from an `.mcpb` bundle (`patchbay add --mcpb`):
//!                              # `remove` deletes `dir`
//!
//! [servers.docs]
//! url = "https://mcp.example.com/mcp"   # a remote server (Streamable HTTP) instead of a command
//! ```
//!
//! `secret_env` names variables whose values live in the vault (`patchbay secret set time
//! API_KEY` stores one); the file holds only their names. A name may not be in both `env` and
//! `secret_env`. The hub reads the values when it starts the child, and a missing one keeps the
//! server from starting with a message saying how to set it.
//!
//! Reading never guesses: a file that does not parse is an error naming file, line and column,
//! and the running hub keeps its last good config. Edits made by the CLI go through
//! `toml_edit`, so the user's comments and layout survive, and land with an atomic replace.

pub mod profile;

use crate::names::valid_server_name;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The hub's default loopback port: stable, so a client config written once keeps working.
pub const DEFAULT_PORT: u16 = 45450;

/// The largest request body the endpoint accepts by default (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the hub itself.
    #[serde(default)]
    pub hub: HubSettings,
    /// Servers by name: stdio commands and remote endpoints.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// Named subsets served at `/p/<name>/mcp` (see [`crate::config::profile`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, crate::config::profile::Profile>,
    /// Where servers are found (`patchbay search`).
    #[serde(default)]
    pub catalog: CatalogSettings,
}

/// The official MCP Registry.
pub const OFFICIAL_REGISTRY: &str = "https://registry.modelcontextprotocol.io";

/// The `[catalog]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// MCP Registry API base URLs, searched in order; for a name in several, the first wins.
    #[serde(default = "official_registries")]
    pub registries: Vec<String>,
    /// How often the hub reads each registry's whole listing again in the background
    /// (humantime: `6h`), or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

/// The default interval of the background catalogue refresh.
pub const DEFAULT_CATALOG_REFRESH: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            registries: official_registries(),
            refresh: None,
        }
    }
}

fn official_registries() -> Vec<String> {
    vec![OFFICIAL_REGISTRY.to_owned()]
}

impl CatalogSettings {
    fn check(&self) -> Result<(), String> {
        for registry in &self.registries {
            check_remote_url(registry).map_err(|err| format!("registry {err}"))?;
        }
        match self.refresh.as_deref().map(str::trim) {
            None | Some("off") => Ok(()),
            Some(text) => parse_duration(text)
                .map(|_| ())
                .map_err(|e| format!("refresh: {e}")),
        }
    }

    /// How often the hub refreshes the catalogue; `None`: never.
    pub fn refresh(&self) -> Option<std::time::Duration> {
        match self.refresh.as_deref().map(str::trim) {
            Some("off") => None,
            Some(text) => Some(parse_duration(text).unwrap_or(DEFAULT_CATALOG_REFRESH)),
            None => Some(DEFAULT_CATALOG_REFRESH),
        }
    }
}

/// The `[hub]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSettings {
    /// Loopback port; 0 asks the OS for a free one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Browser origins allowed to reach the hub (exact `scheme://host[:port]`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The `start` mode `patchbay add` gives a new server.
    #[serde(default = "default_start")]
    pub default_start: StartMode,
    /// How long a lazy server may go without calls before it is stopped (humantime: `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// How long a stateless client's call whose server asked a question waits for the client
    /// to come back with the answer before it is cancelled (humantime: `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_timeout: Option<String>,
    /// How long a call to a remote server whose sign-in has lapsed waits for a new one
    /// (humantime: `5m`), or `off`: such a call fails at once with the `patchbay login` hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_wait: Option<String>,
}

/// The default wait of a call for a lapsed sign-in.
pub const DEFAULT_SIGN_IN_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The default wait for a stateless client's answer to a server's question.
pub const DEFAULT_INPUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The default idle time-out of lazy servers.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn default_start() -> StartMode {
    StartMode::Lazy
}

/// A humantime duration (`90s`, `10m`), said clearly when it is not one.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|err| format!("`{text}` is not a duration such as `90s` or `10m`: {err}"))
        .and_then(|d| {
            if d.is_zero() {
                Err("a time-out of zero would end it at once".to_owned())
            } else {
                Ok(d)
            }
        })
}

impl HubSettings {
    /// The hub-wide idle time-out of lazy servers.
    pub fn idle_timeout(&self) -> std::time::Duration {
        self.idle_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_IDLE_TIMEOUT)
    }

    /// How long a call waits for a stateless client's answer (see [`Self::input_timeout`]).
    pub fn input_timeout(&self) -> std::time::Duration {
        self.input_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_INPUT_TIMEOUT)
    }

    /// How long a call waits for a lapsed sign-in; `None`: it does not wait.
    pub fn sign_in_wait(&self) -> Option<std::time::Duration> {
        match self.sign_in_wait.as_deref().map(str::trim) {
            Some("off") => None,
            Some(text) => Some(parse_duration(text).unwrap_or(DEFAULT_SIGN_IN_WAIT)),
            None => Some(DEFAULT_SIGN_IN_WAIT),
        }
    }

    /// The rules serde cannot say: durations are durations.
    fn check(&self) -> Result<(), String> {
        let sign_in_wait = self.sign_in_wait.as_ref().filter(|t| t.trim() != "off");
        for (key, value) in [
            ("idle_timeout", &self.idle_timeout),
            ("input_timeout", &self.input_timeout),
            ("sign_in_wait", &sign_in_wait.cloned()),
        ] {
            if let Some(text) = value {
                parse_duration(text).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        Ok(())
    }
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

impl Default for HubSettings {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            allowed_origins: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_start: StartMode::Lazy,
            idle_timeout: None,
            input_timeout: None,
            sign_in_wait: None,
        }
    }
}

/// When a server's process is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum StartMode {
    /// With the hub, and restarted when it crashes.
    #[default]
    Eager,
    /// On the first call that needs it; stopped after its idle time-out. Its last lists are
    /// cached on disk, so listing never waits for it (a server with no cache yet is started
    /// once to learn them).
    Lazy,
}

/// One `[servers.NAME]` table: a stdio MCP server (`command`) or a remote one (`url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The program to run (stdio servers; empty for remote ones).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    /// The Streamable HTTP endpoint of a remote server, instead of a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its arguments, passed as they are (no shell).
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are in the vault (`server/<name>/env/<VAR>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
    /// Working directory of the child.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Whether the hub runs it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When it is started.
    #[serde(default)]
    pub start: StartMode,
    /// For a lazy server: how long without calls before it is stopped (humantime: `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// Where it was installed from, when from the MCP Registry (for updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySource>,
    /// The `.mcpb` bundle it was unpacked from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleSource>,
}

/// The registry record a server was installed from: `registry = { name = "...", version = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySource {
    /// The record's name (`io.github.acme/weather`).
    pub name: String,
    /// The version installed.
    pub version: String,
}

/// The `.mcpb` bundle a server was unpacked from:
/// `bundle = { name = "...", version = "...", dir = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSource {
    /// The manifest's `name`.
    pub name: String,
    /// The manifest's `version`.
    pub version: String,
    /// Where it is unpacked (deleted with the server).
    pub dir: PathBuf,
}

fn yes() -> bool {
    true
}

impl ServerConfig {
    /// A new enabled server running `command` with `args`.
    pub fn new(command: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            command: command.into(),
            url: None,
            args,
            env: BTreeMap::new(),
            secret_env: Vec::new(),
            cwd: None,
            enabled: true,
            start: StartMode::Eager,
            idle_timeout: None,
            registry: None,
            bundle: None,
        }
    }

    /// A new enabled remote server at `url`.
    pub fn remote(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::new(String::new(), Vec::new())
        }
    }

    /// What the hub runs, untruncated: the exact command line, each word quoted only where a
    /// shell would need it, or a remote server's URL.
    pub fn command_line(&self) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        std::iter::once(&self.command)
            .chain(&self.args)
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What a person is shown before the server is saved: its env values, its keychain
    /// variables, then [`Self::command_line`], untruncated (`patchbay add` and the app show this).
    pub fn shown_command_line(&self) -> String {
        let mut shown = String::new();
        for (key, value) in &self.env {
            shown.push_str(&format!("{}={} ", key, shell_quote(value)));
        }
        for var in &self.secret_env {
            shown.push_str(&format!("{var}=<from the keychain> "));
        }
        shown.push_str(&self.command_line());
        shown
    }

    /// The rules serde cannot say: a server is a command or a URL, and a URL is http(s).
    fn check(&self) -> Result<(), String> {
        if let Some(timeout) = &self.idle_timeout {
            parse_duration(timeout).map_err(|e| format!("idle_timeout: {e}"))?;
        }
        match (&self.url, self.command.is_empty()) {
            (None, true) => Err("set `command` (a stdio server) or `url` (a remote one)".into()),
            (Some(_), false) => Err("set `command` or `url`, not both".into()),
            (Some(_), true) if self.start == StartMode::Lazy => Err(
                "`start = \"lazy\"` is for stdio servers; a remote server has no process to stop"
                    .into(),
            ),
            (Some(url), true) => check_remote_url(url),
            (None, false) => Ok(()),
        }
    }

    /// Whether it is started lazily.
    pub fn lazy(&self) -> bool {
        self.start == StartMode::Lazy && self.url.is_none()
    }

    /// Its idle time-out, given the hub's.
    pub fn idle_timeout_or(&self, hub: std::time::Duration) -> std::time::Duration {
        self.idle_timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(hub)
    }
}

/// A remote server's URL must be an absolute http or https URL; plain http only to loopback,
/// where nothing crosses the network.
pub fn check_remote_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("`{url}` is not a URL: {err}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "`{url}` is plain http to another machine; use https (plain http is allowed only to localhost)"
        )),
        other => Err(format!(
            "`{url}` uses `{other}`; a remote server's URL is https"
        )),
    }
}

/// A stdio server to add, as the control API takes it (`POST /api/v1/servers`); the same fields
/// `patchbay add` takes on its command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// Its name: the prefix of its tools.
    pub name: String,
    /// The program to run.
    pub command: String,
    /// Its arguments, passed as they are (no shell).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub args: Vec<String>,
    /// Extra environment variables (values land in the config file).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are kept in the keychain (`patchbay secret set`).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub secret_env: Vec<String>,
    /// Working directory.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub cwd: Option<PathBuf>,
    /// When it is started; the hub's `default_start` when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub start: Option<StartMode>,
    /// Save it enabled (the default) or disabled.
    #[serde(default = "yes")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enabled: bool,
}

impl NewServer {
    /// The `[servers.NAME]` entry it makes, or what is wrong with it.
    pub fn server(&self, default_start: StartMode) -> Result<ServerConfig, ConfigError> {
        if !valid_server_name(&self.name) {
            return Err(ConfigError::InvalidName(self.name.clone()));
        }
        let invalid = |message: String| ConfigError::Invalid {
            name: self.name.clone(),
            message,
        };
        if self.command.trim().is_empty() {
            return Err(invalid("no command given".into()));
        }
        let bad_var = |var: &str| var.is_empty() || var.contains(['=', '\0']);
        if let Some(var) = self.env.keys().chain(&self.secret_env).find(|v| bad_var(v)) {
            return Err(invalid(format!(
                "`{var}` is not an environment variable name"
            )));
        }
        if let Some(cwd) = &self.cwd
            && !cwd.is_absolute()
        {
            return Err(invalid(format!(
                "the working directory `{}` is not an absolute path",
                cwd.display()
            )));
        }
        let mut server = ServerConfig::new(self.command.clone(), self.args.clone());
        server.env = self.env.clone();
        server.secret_env = self.secret_env.clone();
        server.cwd = self.cwd.clone();
        server.start = self.start.unwrap_or(default_start);
        server.enabled = self.enabled;
        Ok(server)
    }
}

/// Quote one word the way a POSIX shell would need it, so a shown command can be pasted back.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A config problem, said so the user can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is not valid TOML or does not match the schema.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// A server name outside the allowed alphabet.
    #[error(
        "invalid server name `{0}`: use 1-32 letters, digits, `-` or `_`, starting with a letter or digit, without `__`"
    )]
    InvalidName(String),
    /// `add` of a name that is taken.
    #[error("a server named `{0}` already exists")]
    Exists(String),
    /// A server entry that cannot run as given.
    #[error("server `{name}`: {message}")]
    Invalid {
        /// The server.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An edit naming a server that is not there.
    #[error("no server named `{0}`")]
    NotFound(String),
}

impl Config {
    /// Parse config text; `path` is only used to name the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let (line, column) = err
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: err.message().trim_end().to_owned(),
            }
        })?;
        // Problems serde cannot see, each pointed at where it is in the text.
        let at = |offset: usize, message: String| {
            let (line, column) = line_column(text, offset);
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        if let Err(message) = config.hub.check() {
            let offset = text.find("[hub]").unwrap_or(0);
            return Err(at(offset, format!("[hub] {message}")));
        }
        if let Err(message) = config.catalog.check() {
            let offset = text.find("[catalog]").unwrap_or(0);
            return Err(at(offset, format!("[catalog] {message}")));
        }
        for (name, server) in &config.servers {
            if let Err(message) = server.check() {
                let offset = text.find(&format!("servers.{name}]")).unwrap_or(0);
                return Err(at(offset, format!("server `{name}`: {message}")));
            }
        }
        for (name, profile) in &config.profiles {
            let offset = text.find(&format!("profiles.{name}]")).unwrap_or(0);
            if !valid_server_name(name) {
                return Err(at(
                    offset,
                    format!("invalid profile name `{name}`: use 1-32 letters, digits, `-` or `_`"),
                ));
            }
            if let Some(problem) = profile.problem() {
                return Err(at(offset, format!("profile `{name}`: {problem}")));
            }
        }
        if let Some(bad) = config.servers.keys().find(|n| !valid_server_name(n)) {
            let offset = text.find(bad.as_str()).unwrap_or(0);
            return Err(at(
                offset,
                ConfigError::InvalidName(bad.clone()).to_string(),
            ));
        }
        for (name, server) in &config.servers {
            if let Some(problem) = server.secret_env_problem() {
                let offset = secret_env_offset(text, name);
                return Err(at(offset, format!("server `{name}`: {problem}")));
            }
        }
        Ok(config)
    }

    /// Load the file; a missing file is the empty config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err.into()),
        }
    }

    /// The servers the hub should run.
    pub fn enabled_servers(&self) -> impl Iterator<Item = (&String, &ServerConfig)> {
        self.servers.iter().filter(|(_, server)| server.enabled)
    }
}

impl ServerConfig {
    /// What is wrong with `secret_env`, if anything.
    fn secret_env_problem(&self) -> Option<String> {
        let mut seen = std::collections::BTreeSet::new();
        for var in &self.secret_env {
            if !crate::names::valid_env_var(var) {
                return Some(format!(
                    "`secret_env` entry `{var}` is not an environment variable name"
                ));
            }
            if !seen.insert(var) {
                return Some(format!("`secret_env` lists `{var}` twice"));
            }
            if self.env.contains_key(var) {
                return Some(format!(
                    "`{var}` is in both `env` and `secret_env`; keep it in one"
                ));
            }
        }
        None
    }
}

/// Where a server's `secret_env` is written, roughly: its table, then the key.
fn secret_env_offset(text: &str, server: &str) -> usize {
    let table = text.find(&format!("servers.{server}")).unwrap_or(0);
    text[table..]
        .find("secret_env")
        .map_or(table, |at| table + at)
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Edits of the config file that keep the user's comments and layout.
pub mod edit {
    use super::*;
    use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

    const HEADER: &str = "# Patchbay config: every field is described in the README.\n\n";

    /// Add a server; refuses a taken or invalid name. Returns the new config.
    pub fn add_server(
        path: &Path,
        name: &str,
        server: &ServerConfig,
    ) -> Result<Config, ConfigError> {
        if !valid_server_name(name) {
            return Err(ConfigError::InvalidName(name.to_owned()));
        }
        modify(path, |doc, config| {
            if config.servers.contains_key(name) {
                return Err(ConfigError::Exists(name.to_owned()));
            }
            let servers = doc
                .entry("servers")
                .or_insert_with(|| {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                })
                .as_table_mut()
                .ok_or_else(|| parse_error(path, "`servers` is not a table"))?;
            servers.insert(name, Item::Table(server_table(server)));
            Ok(())
        })
    }

    /// Remove a server by name.
    pub fn remove_server(path: &Path, name: &str) -> Result<Config, ConfigError> {
        modify(path, |doc, config| {
            if !config.servers.contains_key(name) {
                return Err(ConfigError::NotFound(name.to_owned()));
            }
            if let Some(servers) = doc.get_mut("servers").and_then(Item::as_table_like_mut) {
                servers.remove(name);
            }
            Ok(())
        })
    }

    /// Enable or disable a server by name.
    pub fn set_enabled(path: &Path, name: &str, enabled: bool) -> Result<Config, ConfigError> {
        modify_server(path, name, |server, _| {
            server.insert("enabled", value(enabled));
        })
    }

    /// Point server `name` at another version of what it runs: its `args` and its `registry`
    /// source replaced, the rest of its table (and every comment) kept.
    pub fn set_pinned(
        path: &Path,
        name: &str,
        args: &[String],
        source: &RegistrySource,
    ) -> Result<Config, ConfigError> {
        modify_server(path, name, |server, _| {
            let mut words = Array::new();
            for arg in args {
                words.push(arg.as_str());
            }
            server.insert("args", value(words));
            server.insert("registry", registry_item(source));
        })
    }

    /// Make `var` one of the server's `secret_env` names; a plain `env` value of the same name
    /// is removed from the file. Returns the new config and whether a plain value was removed.
    pub fn add_secret_env(
        path: &Path,
        name: &str,
        var: &str,
    ) -> Result<(Config, bool), ConfigError> {
        let mut removed_plain = false;
        let config = modify_server(path, name, |server, current| {
            if current.env.contains_key(var)
                && let Some(env) = server.get_mut("env").and_then(Item::as_table_like_mut)
            {
                env.remove(var);
                removed_plain = true;
            }
            if !current.secret_env.iter().any(|v| v == var) {
                match server.get_mut("secret_env").and_then(Item::as_array_mut) {
                    Some(vars) => vars.push(var),
                    None => {
                        let mut vars = Array::new();
                        vars.push(var);
                        server.insert("secret_env", value(vars));
                    }
                }
            }
        })?;
        Ok((config, removed_plain))
    }

    /// [`modify`] the table of the configured server `name` (`change` sees it and the server
    /// as read); a name not configured is [`ConfigError::NotFound`].
    fn modify_server(
        path: &Path,
        name: &str,
        change: impl FnOnce(&mut dyn toml_edit::TableLike, &ServerConfig),
    ) -> Result<Config, ConfigError> {
        modify(path, |doc, config| {
            let Some(current) = config.servers.get(name) else {
                return Err(ConfigError::NotFound(name.to_owned()));
            };
            let server = doc["servers"][name]
                .as_table_like_mut()
                .ok_or_else(|| parse_error(path, "server entry is not a table"))?;
            change(server, current);
            Ok(())
        })
    }

    fn parse_error(path: &Path, message: &str) -> ConfigError {
        ConfigError::Parse {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: message.to_owned(),
        }
    }

    fn server_table(server: &ServerConfig) -> Table {
        let mut table = Table::new();
        if let Some(url) = &server.url {
            table.insert("url", value(url));
            if !server.enabled {
                table.insert("enabled", value(false));
            }
            insert_registry(&mut table, server);
            return table;
        }
        table.insert("command", value(&server.command));
        let mut args = Array::new();
        for arg in &server.args {
            args.push(arg.as_str());
        }
        table.insert("args", value(args));
        if !server.env.is_empty() {
            let mut env = InlineTable::new();
            for (key, val) in &server.env {
                env.insert(key, val.as_str().into());
            }
            table.insert("env", value(env));
        }
        if !server.secret_env.is_empty() {
            let mut vars = Array::new();
            for var in &server.secret_env {
                vars.push(var.as_str());
            }
            table.insert("secret_env", value(vars));
        }
        if let Some(cwd) = &server.cwd {
            table.insert("cwd", value(cwd.to_string_lossy().as_ref()));
        }
        table.insert("enabled", value(server.enabled));
        if server.start == StartMode::Lazy {
            table.insert("start", value("lazy"));
        }
        if let Some(timeout) = &server.idle_timeout {
            table.insert("idle_timeout", value(timeout));
        }
        insert_registry(&mut table, server);
        if let Some(bundle) = &server.bundle {
            let mut from = InlineTable::new();
            from.insert("name", bundle.name.as_str().into());
            from.insert("version", bundle.version.as_str().into());
            from.insert("dir", bundle.dir.to_string_lossy().as_ref().into());
            table.insert("bundle", value(from));
        }
        table
    }

    fn insert_registry(table: &mut Table, server: &ServerConfig) {
        if let Some(source) = &server.registry {
            table.insert("registry", registry_item(source));
        }
    }

    /// `registry = { name = "...", version = "..." }`.
    fn registry_item(source: &RegistrySource) -> Item {
        let mut from = InlineTable::new();
        from.insert("name", source.name.as_str().into());
        from.insert("version", source.version.as_str().into());
        value(from)
    }

    /// Add or replace profile `name`. Returns the new config.
    pub fn set_profile(
        path: &Path,
        name: &str,
        profile: &crate::config::profile::Profile,
    ) -> Result<Config, ConfigError> {
        if !valid_server_name(name) {
            return Err(ConfigError::InvalidName(name.to_owned()));
        }
        modify(path, |doc, _| {
            let profiles = doc
                .entry("profiles")
                .or_insert_with(|| {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                })
                .as_table_mut()
                .ok_or_else(|| parse_error(path, "`profiles` is not a table"))?;
            let mut table = Table::new();
            for (key, list) in [("servers", &profile.servers), ("tools", &profile.tools)] {
                if !list.is_empty() {
                    let mut array = Array::new();
                    for item in list {
                        array.push(item.as_str());
                    }
                    table.insert(key, value(array));
                }
            }
            profiles.insert(name, Item::Table(table));
            Ok(())
        })
    }

    /// Remove profile `name`.
    pub fn remove_profile(path: &Path, name: &str) -> Result<Config, ConfigError> {
        modify(path, |doc, config| {
            if !config.profiles.contains_key(name) {
                return Err(ConfigError::NotFound(name.to_owned()));
            }
            if let Some(profiles) = doc.get_mut("profiles").and_then(Item::as_table_like_mut) {
                profiles.remove(name);
            }
            Ok(())
        })
    }

    /// Read, check, change, re-check and atomically write the file under an exclusive lock.
    fn modify(
        path: &Path,
        change: impl FnOnce(&mut DocumentMut, &Config) -> Result<(), ConfigError>,
    ) -> Result<Config, ConfigError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let _lock = crate::files::lock_exclusive(&dir.join(".config.lock"))?;
        let (text, new_file) = match fs_err::read_to_string(path) {
            Ok(text) => (text, false),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (String::new(), true),
            Err(err) => return Err(err.into()),
        };
        let config = Config::parse(&text, path)?;
        let mut doc: DocumentMut = text
            .parse()
            .map_err(|_| parse_error(path, "the file is not valid TOML"))?;
        change(&mut doc, &config)?;
        let mut new_text = doc.to_string();
        if new_file {
            new_text.insert_str(0, HEADER);
        }
        let new_config = Config::parse(&new_text, path)?;
        crate::files::write_atomically(path, new_text.as_bytes())?;
        Ok(new_config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_server_is_checked_like_add_and_shown_whole() {
        let request = NewServer {
            name: "time".into(),
            command: "uvx".into(),
            args: vec!["mcp-server-time".into(), "a b".into()],
            env: [("TZ".to_owned(), "Europe/Paris".to_owned())].into(),
            secret_env: vec!["TOKEN".into()],
            cwd: None,
            start: None,
            enabled: true,
        };
        let server = request.server(StartMode::Lazy).unwrap();
        assert_eq!(
            server.start,
            StartMode::Lazy,
            "the hub's default start applies"
        );
        assert_eq!(
            server.shown_command_line(),
            "TZ=Europe/Paris TOKEN=<from the keychain> uvx mcp-server-time 'a b'"
        );
        let refused = |change: fn(&mut NewServer)| {
            let mut bad = request.clone();
            change(&mut bad);
            bad.server(StartMode::Eager).unwrap_err().to_string()
        };
        assert!(refused(|r| r.name = "a__b".into()).contains("invalid server name"));
        assert!(refused(|r| r.command = " ".into()).contains("no command given"));
        assert!(refused(|r| r.secret_env = vec!["A=B".into()]).contains("`A=B`"));
        assert!(refused(|r| r.cwd = Some("rel".into())).contains("absolute"));
    }

    #[test]
    fn a_server_is_a_command_or_an_https_url() {
        let ok = "[servers.a]\nurl = \"https://mcp.example.com/mcp\"\n\n[servers.b]\nurl = \"http://127.0.0.1:9/mcp\"\n";
        let config = Config::parse(ok, Path::new("c.toml")).expect("remote servers parse");
        assert_eq!(
            config.servers["a"].command_line(),
            "https://mcp.example.com/mcp"
        );
        for (text, said) in [
            ("[servers.a]\nenabled = true\n", "set `command`"),
            (
                "[servers.a]\ncommand = \"x\"\nurl = \"https://e.com/mcp\"\n",
                "not both",
            ),
            ("\n[servers.a]\nurl = \"http://e.com/mcp\"\n", "use https"),
            ("[servers.a]\nurl = \"ftp://e.com/mcp\"\n", "uses `ftp`"),
            ("[servers.a]\nurl = \"e.com\"\n", "not a URL"),
        ] {
            let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
            let ConfigError::Parse { line, message, .. } = &err else {
                panic!("expected a parse error, got {err:?}");
            };
            assert!(message.contains(said), "{text:?}: {err}");
            assert_eq!(
                *line,
                1 + usize::from(text.starts_with('\n')),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn parse_error_names_line_and_column() {
        let text = "[servers.a]\ncommand = \"x\"\nargs = [\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        let ConfigError::Parse { line, message, .. } = &err else {
            panic!("expected a parse error, got {err:?}");
        };
        assert_eq!(*line, 3, "the error points at the unclosed array: {err}");
        assert!(message.contains("unclosed array"), "{err}");
        assert!(err.to_string().starts_with("c.toml:3:"), "{err}");
    }

    #[test]
    fn unknown_field_is_an_error_not_ignored() {
        let err = Config::parse("[servers.a]\ncommand = \"x\"\ncomand = 1\n", Path::new("c"))
            .unwrap_err();
        assert!(err.to_string().contains(":3:1:"), "{err}");
    }

    #[test]
    fn catalog_refresh_is_a_duration_or_off() {
        let every = |text: &str| Config::parse(text, Path::new("c")).map(|c| c.catalog.refresh());
        assert_eq!(every("").unwrap(), Some(DEFAULT_CATALOG_REFRESH));
        assert_eq!(
            every("[catalog]\nrefresh = \"1h\"\n").unwrap(),
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(every("[catalog]\nrefresh = \"off\"\n").unwrap(), None);
        let err = every("[catalog]\nrefresh = \"daily\"\n").unwrap_err();
        assert!(err.to_string().contains("[catalog] refresh"), "{err}");
    }

    #[test]
    fn sign_in_wait_is_a_duration_or_off() {
        let wait = |text: &str| Config::parse(text, Path::new("c")).map(|c| c.hub.sign_in_wait());
        assert_eq!(wait("").unwrap(), Some(DEFAULT_SIGN_IN_WAIT));
        assert_eq!(
            wait("[hub]\nsign_in_wait = \"90s\"\n").unwrap(),
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(wait("[hub]\nsign_in_wait = \"off\"\n").unwrap(), None);
        let err = wait("[hub]\nsign_in_wait = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("sign_in_wait"), "{err}");
    }

    #[test]
    fn defaults_fill_in() {
        let c = Config::parse("[servers.a]\ncommand = \"x\"\n", Path::new("c")).unwrap();
        let a = &c.servers["a"];
        assert!(a.enabled && a.args.is_empty() && a.start == StartMode::Eager);
        assert_eq!(c.hub.port, DEFAULT_PORT);
    }

    #[test]
    fn lazy_start_takes_an_idle_timeout_and_only_stdio_servers() {
        let c = Config::parse(
            "[hub]\nidle_timeout = \"2m\"\n[servers.a]\ncommand = \"x\"\nstart = \"lazy\"\nidle_timeout = \"3s\"\n[servers.b]\ncommand = \"y\"\nstart = \"lazy\"\n",
            Path::new("c"),
        )
        .unwrap();
        let hub = c.hub.idle_timeout();
        assert_eq!(hub, std::time::Duration::from_secs(120));
        assert!(c.servers["a"].lazy());
        assert_eq!(
            c.servers["a"].idle_timeout_or(hub),
            std::time::Duration::from_secs(3)
        );
        assert_eq!(c.servers["b"].idle_timeout_or(hub), hub);
        let bad = Config::parse(
            "[servers.a]\ncommand = \"x\"\nidle_timeout = \"soon\"\n",
            Path::new("c"),
        )
        .unwrap_err();
        assert!(bad.to_string().contains("idle_timeout"), "{bad}");
        let remote = Config::parse(
            "[servers.r]\nurl = \"https://example.com/mcp\"\nstart = \"lazy\"\n",
            Path::new("c"),
        )
        .unwrap_err();
        assert!(remote.to_string().contains("stdio"), "{remote}");
    }

    #[test]
    fn server_names_are_checked() {
        for good in ["time", "a", "my-server_2", "GitHub"] {
            assert!(valid_server_name(good), "{good}");
        }
        for bad in ["", "-x", "a__b", "a.b", "a b", "ünï", &"x".repeat(33)] {
            assert!(!valid_server_name(bad), "{bad}");
        }
        let err =
            Config::parse("[servers.\"a b\"]\ncommand = \"x\"\n", Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("invalid server name"), "{err}");
    }

    #[test]
    fn command_line_quotes_only_what_needs_it() {
        let s = ServerConfig::new("npx", vec!["-y".into(), "a b".into(), "it's".into()]);
        assert_eq!(s.command_line(), r"npx -y 'a b' 'it'\''s'");
    }

    #[test]
    fn edits_keep_comments_and_other_servers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original =
            "# my notes\n[hub]\nport = 1234 # keep\n\n[servers.old]\ncommand = \"old\"\n";
        fs_err::write(&path, original).unwrap();
        let mut s = ServerConfig::new("uvx", vec!["mcp-server-time".into()]);
        s.env.insert("TZ".into(), "UTC".into());
        let config = edit::add_server(&path, "time", &s).unwrap();
        assert_eq!(config.servers["time"], s);
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(original),
            "existing text kept verbatim:\n{text}"
        );
        assert!(matches!(
            edit::add_server(&path, "time", &s),
            Err(ConfigError::Exists(_))
        ));
        edit::set_enabled(&path, "time", false).unwrap();
        assert!(!Config::load(&path).unwrap().servers["time"].enabled);
        edit::remove_server(&path, "time").unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(original) && !text.contains("time"),
            "{text}"
        );
    }

    #[test]
    fn secret_env_is_names_only_and_checked() {
        let c = Config::parse(
            "[servers.a]\ncommand = \"x\"\nsecret_env = [\"API_KEY\"]\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(c.servers["a"].secret_env, ["API_KEY"]);
        for (bad, says) in [
            ("secret_env = [\"1X\"]", "not an environment variable name"),
            ("secret_env = [\"A\", \"A\"]", "twice"),
            ("secret_env = [\"A\"]\nenv = { A = \"v\" }", "both"),
            ("secret_env = { A = \"v\" }", "invalid type"),
        ] {
            let text = format!("[servers.a]\ncommand = \"x\"\n{bad}\n");
            let err = Config::parse(&text, Path::new("c.toml")).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
            assert!(err.to_string().starts_with("c.toml:3:"), "{bad}: {err}");
        }
    }

    #[test]
    fn add_secret_env_moves_a_plain_value_out_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut s = ServerConfig::new("x", vec![]);
        s.env.insert("TOKEN".into(), "plain-value".into());
        s.env.insert("TZ".into(), "UTC".into());
        edit::add_server(&path, "a", &s).unwrap();
        let (config, moved) = edit::add_secret_env(&path, "a", "TOKEN").unwrap();
        assert!(moved);
        assert_eq!(config.servers["a"].secret_env, ["TOKEN"]);
        assert_eq!(config.servers["a"].env.keys().collect::<Vec<_>>(), ["TZ"]);
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(!text.contains("plain-value"), "{text}");
        let (again, moved) = edit::add_secret_env(&path, "a", "TOKEN").unwrap();
        assert!(!moved && again == config, "idempotent");
        assert!(matches!(
            edit::add_secret_env(&path, "nope", "TOKEN"),
            Err(ConfigError::NotFound(_))
        ));
    }

    #[test]
    fn edit_of_a_broken_file_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs_err::write(&path, "[servers\n").unwrap();
        let err = edit::add_server(&path, "x", &ServerConfig::new("x", vec![])).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "[servers\n");
    }
}
