//! Client config writers: put one `patchbay` entry into an MCP client's own config file, take it
//! out again, put back a backup, and tell whether the client has since dropped or changed it.
//!
//! Invariants, for every client and every edit:
//! - Only the entry named [`ENTRY`] (and, for VS Code `--direct`, its `inputs` item) is ours;
//!   every other entry and key, and in JSONC/TOML every comment, is kept as written.
//! - A file that does not parse is never written: the error names file, line and column.
//! - An edit takes the client's lock (under Patchbay's state dir), writes a temp file in the same
//!   directory, fsyncs it and renames it over (the file's mode is kept; a symlink is followed).
//! - The first change to a file in a [`Session`] is preceded by a timestamped backup.
//! - An edit that would change nothing writes nothing.
//! - The bearer secret is never written: a direct entry names an environment variable or a
//!   prompt the client fills in.
//!
//! Words: a *client* is an app with an MCP config file ([`catalog`]); its *entry* is one server
//! in that file; *drift* is our entry gone or changed since we wrote it.

pub mod backup;
pub mod catalog;
pub mod document;
pub mod watch;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Config, ConfigError};
use crate::paths::Paths;
use crate::platform::Os;
use backup::Backup;
use catalog::{Base, Bearer, ClientSpec, Format, Location, Remote};
use document::Document;

/// The name of Patchbay's entry in every client's config.
pub const ENTRY: &str = "patchbay";

/// Overrides the user's home directory for every client path (tests, portable setups).
pub const CLIENT_HOME_ENV: &str = "PATCHBAY_CLIENT_HOME";

/// Keys of an entry that Patchbay owns, in the order it writes them; any other key in our entry
/// (a client's own `disabled`, `autoApprove`, ...) is kept on repair.
pub(crate) const OWNED_KEYS: &[&str] = &[
    "type",
    "command",
    "args",
    "env",
    "url",
    "serverUrl",
    "httpUrl",
    "headers",
    "bearer_token_env_var",
];

/// A client config problem, said so the user can act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No client has this id.
    #[error("unknown client `{0}`")]
    Unknown(String),
    /// The client's file does not parse, or has a shape we cannot edit; it was left untouched.
    /// Always a [`ConfigError::Parse`]: file, line, column, message.
    #[error(transparent)]
    Unparseable(ConfigError),
    /// A file could not be read or written.
    #[error("cannot use {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--direct` for a client that cannot take a URL entry without the secret in it.
    #[error("{client} cannot take a direct entry: {reason}")]
    DirectRefused {
        /// The client's name.
        client: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `--direct` while the hub's port is 0.
    #[error("the hub's port is 0 (any free port), so there is no stable URL to write")]
    NoStableUrl,
    /// `--profile` naming a profile the config does not have.
    #[error("no profile named `{0}` in Patchbay's config")]
    UnknownProfile(String),
    /// `restore` with nothing to restore.
    #[error("no backups of {0}'s config")]
    NoBackups(&'static str),
    /// Patchbay's own config is needed (the hub's port) and is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Neither the override nor the platform knows a home directory.
    #[error("cannot find the home directory; set `{CLIENT_HOME_ENV}`")]
    NoHome,
}

fn unparseable(path: &Path, line: usize, column: usize, message: String) -> ClientError {
    ClientError::Unparseable(ConfigError::Parse {
        path: path.to_owned(),
        line,
        column,
        message,
    })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The directories client paths are relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Homes {
    /// The user's home.
    pub home: PathBuf,
    /// The platform config dir.
    pub config: PathBuf,
    /// Codex's home (`$CODEX_HOME`, else `~/.codex`).
    pub codex: PathBuf,
    /// The platform local data dir.
    pub local_data: PathBuf,
}

impl Homes {
    /// Every directory under `root` as the platform `os` lays them out below a home.
    pub fn under(root: &Path, os: Os) -> Self {
        let (config, local_data) = match os {
            Os::Linux => (root.join(".config"), root.join(".local/share")),
            Os::MacOs => (
                root.join("Library/Application Support"),
                root.join("Library/Application Support"),
            ),
            Os::Windows => (root.join("AppData/Roaming"), root.join("AppData/Local")),
        };
        Self {
            home: root.to_owned(),
            config,
            codex: root.join(".codex"),
            local_data,
        }
    }

    /// `PATCHBAY_CLIENT_HOME` when set (everything below it), else the platform's directories
    /// (which honour `HOME` and `XDG_CONFIG_HOME` on Linux) and `CODEX_HOME`.
    pub fn from_env() -> Result<Self, ClientError> {
        if let Some(root) = std::env::var_os(CLIENT_HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::under(Path::new(&root), Os::current()));
        }
        let dirs = directories::BaseDirs::new().ok_or(ClientError::NoHome)?;
        let home = dirs.home_dir().to_owned();
        let codex = std::env::var_os("CODEX_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".codex"));
        Ok(Self {
            config: dirs.config_dir().to_owned(),
            local_data: dirs.data_local_dir().to_owned(),
            codex,
            home,
        })
    }

    /// Where a location is.
    pub fn resolve(&self, location: Location) -> PathBuf {
        let base = match location.base {
            Base::Home => &self.home,
            Base::Config => &self.config,
            Base::CodexHome => &self.codex,
            Base::LocalData => &self.local_data,
        };
        location
            .path
            .split('/')
            .fold(base.clone(), |p, c| p.join(c))
    }
}

/// Everything the writers need to know about this installation.
#[derive(Debug, Clone)]
pub struct Context {
    /// Patchbay's own files (backups, locks, install records, hub port).
    pub paths: Paths,
    /// Where clients keep their files.
    pub homes: Homes,
    /// Which OS's paths to use.
    pub os: Os,
    /// The `patchbay` binary the bridge entry runs.
    pub exe: PathBuf,
    /// Environment a bridge entry carries so that the bridge finds this installation's files
    /// even when the client starts it with a stripped environment
    /// ([`crate::paths::locating_env`]); empty where the defaults are in use.
    pub bridge_env: BTreeMap<String, String>,
}

impl Context {
    /// This process's view: homes from the environment, the running binary, and what locates
    /// Patchbay's files.
    pub fn from_env(paths: Paths) -> Result<Self, ClientError> {
        let exe = std::env::current_exe().map_err(io_error(Path::new("patchbay")))?;
        let bridge_env =
            crate::paths::locating_env().map_err(io_error(Path::new(crate::paths::HOME_ENV)))?;
        Ok(Self {
            paths,
            homes: Homes::from_env()?,
            os: Os::current(),
            exe,
            bridge_env,
        })
    }

    /// The client's config file: the usual place, unless only another known place (another
    /// kind of install) has the file, or failing that, its directory.
    pub fn config_path(&self, spec: &ClientSpec) -> PathBuf {
        let usual = self.homes.resolve(spec.location(self.os));
        if usual.exists() {
            return usual;
        }
        let others: Vec<PathBuf> = spec
            .also
            .iter()
            .filter(|(os, _)| *os == self.os)
            .map(|(_, location)| self.homes.resolve(*location))
            .collect();
        let usual_dir = usual.parent().is_some_and(Path::exists);
        others
            .iter()
            .find(|p| p.exists())
            .or_else(|| {
                others
                    .iter()
                    .find(|p| !usual_dir && p.parent().is_some_and(Path::exists))
            })
            .cloned()
            .unwrap_or(usual)
    }

    fn direct_url(&self, profile: Option<&str>) -> Result<String, ClientError> {
        let port = Config::load(&self.paths.config_file)?.hub.port;
        if port == 0 {
            return Err(ClientError::NoStableUrl);
        }
        Ok(match profile {
            Some(profile) => format!("http://127.0.0.1:{port}/p/{profile}/mcp"),
            None => format!("http://127.0.0.1:{port}/mcp"),
        })
    }

    /// The entry `install` writes for `spec` in `mode`.
    pub fn expected_entry(
        &self,
        spec: &ClientSpec,
        mode: Mode,
        profile: Option<&str>,
    ) -> Result<Map<String, Value>, ClientError> {
        let mut entry = Map::new();
        match mode {
            Mode::Bridge => {
                if let Some(kind) = spec.stdio_type {
                    entry.insert("type".into(), kind.into());
                }
                entry.insert("command".into(), self.exe.to_string_lossy().into());
                let mut args = vec!["bridge"];
                if let Some(profile) = profile {
                    args.extend(["--profile", profile]);
                }
                entry.insert("args".into(), Value::from(args));
                if !self.bridge_env.is_empty() {
                    let env = self
                        .bridge_env
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                        .collect();
                    entry.insert("env".into(), Value::Object(env));
                }
            }
            Mode::Direct => {
                let shape = match spec.remote {
                    Remote::Supported(shape) => shape,
                    Remote::Refused(reason) => {
                        return Err(ClientError::DirectRefused {
                            client: spec.name,
                            reason,
                        });
                    }
                };
                if let Some(kind) = shape.type_value {
                    entry.insert("type".into(), kind.into());
                }
                entry.insert(shape.url_key.into(), self.direct_url(profile)?.into());
                let header = match shape.bearer {
                    Bearer::HeaderFromEnv(value) => Some(value.to_owned()),
                    Bearer::HeaderFromInput => {
                        Some(format!("Bearer ${{input:{}}}", catalog::BEARER_INPUT_ID))
                    }
                    Bearer::EnvVarKey(key) => {
                        entry.insert(key.into(), catalog::BEARER_ENV.into());
                        None
                    }
                };
                if let Some(header) = header {
                    let mut headers = Map::new();
                    headers.insert("Authorization".into(), header.into());
                    entry.insert("headers".into(), Value::Object(headers));
                }
            }
        }
        Ok(entry)
    }
}

/// What an entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `patchbay bridge` over stdio (the default).
    Bridge,
    /// A URL entry straight to the hub.
    Direct,
}

/// Options of `install`.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Write a URL entry instead of the bridge.
    pub direct: bool,
    /// Serve only this profile.
    pub profile: Option<String>,
}

/// The state of our entry in a client's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Present and as Patchbay would write it now.
    Intact,
    /// Present, but edited (by hand or by the client), or pointing at another binary.
    Changed,
    /// Installed, but the entry is gone from the file (the client rewrote it).
    Missing,
    /// Not installed.
    NotInstalled,
}

impl EntryState {
    /// As `patchbay clients` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Intact => "intact",
            EntryState::Changed => "changed",
            EntryState::Missing => "missing",
            EntryState::NotInstalled => "not installed",
        }
    }
}

/// One row of `patchbay clients`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientStatus {
    /// Client id.
    pub id: &'static str,
    /// Client name.
    pub name: &'static str,
    /// Its config file.
    pub path: PathBuf,
    /// Its config file's syntax.
    pub format: Format,
    /// The file or its directory exists.
    pub detected: bool,
    /// Patchbay's entry is in the file.
    pub installed: bool,
    /// The entry's state.
    pub entry: EntryState,
    /// Bridge or direct, when installed.
    pub mode: Option<Mode>,
    /// Whether `--direct` is possible for this client.
    pub direct: bool,
    /// The most tools the client uses, when known.
    pub tool_limit: Option<u32>,
    /// The profile its entry serves, when installed with one.
    pub profile: Option<String>,
    /// Why the file could not be read, when it could not.
    pub error: Option<String>,
    /// What the user does for the client to pick up a change to its file.
    pub reload: &'static str,
    /// How many tools the client's entry is served (its profile's when it has one), counted by
    /// the running hub; `None` where no hub counted them (the CLI's own listing) or the
    /// profile no longer exists.
    pub served_tools: Option<usize>,
    /// The profile to switch to when the entry is served more tools than the client takes
    /// ([`crate::config::profile::fitting`]), chosen by the running hub; `None` within the limit, when
    /// no profile fits, or where no hub counted (the CLI's own listing).
    pub fitting_profile: Option<FittingProfile>,
}

/// A profile suggested to a client over its tool limit, and how many tools it would serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FittingProfile {
    pub name: String,
    pub served_tools: usize,
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file was written (`created`: it did not exist).
    Written {
        /// The file.
        path: PathBuf,
        /// It was made from nothing.
        created: bool,
    },
    /// Nothing needed changing.
    Unchanged {
        /// The file.
        path: PathBuf,
    },
}

/// What Patchbay remembers about one install (in `state/clients.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The client's file.
    pub path: PathBuf,
    /// What the entry runs.
    pub mode: Option<Mode>,
    /// Install made the servers table, so uninstall removes it once empty.
    #[serde(default)]
    pub created_table: bool,
    /// Install made VS Code's `inputs` array.
    #[serde(default)]
    pub created_inputs: bool,
    /// The profile the entry serves, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// Every install Patchbay remembers, by client id.
pub fn installed(paths: &Paths) -> BTreeMap<String, Installed> {
    fs_err::read(paths.clients_file())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn update_installed(
    paths: &Paths,
    change: impl FnOnce(&mut BTreeMap<String, Installed>),
) -> Result<(), ClientError> {
    let file = paths.clients_file();
    let _lock =
        crate::files::lock_exclusive(&paths.client_lock("installed")).map_err(io_error(&file))?;
    let mut all = installed(paths);
    change(&mut all);
    let json = serde_json::to_vec_pretty(&all).expect("install records serialise");
    crate::files::write_atomically(&file, &json).map_err(io_error(&file))
}

/// The client with this id, or [`ClientError::Unknown`].
pub fn find(id: &str) -> Result<&'static ClientSpec, ClientError> {
    catalog::find(id).ok_or_else(|| ClientError::Unknown(id.to_owned()))
}

/// Our entry merged into what is there: the keys we own replaced, the client's own kept. In
/// `env`, only the variables that locate Patchbay's files are ours; others the user added to a
/// bridge entry (`PATCHBAY_LOG`, ...) stay.
fn merge(existing: Option<&Value>, expected: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = match existing {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let mut env = match merged.get("env") {
        Some(Value::Object(env)) if expected.contains_key("command") => env.clone(),
        _ => Map::new(),
    };
    env.retain(|k, _| !crate::paths::LOCATING_VARS.contains(&k.as_str()));
    if let Some(Value::Object(ours)) = expected.get("env") {
        env.extend(ours.clone());
    }
    merged.retain(|k, _| !OWNED_KEYS.contains(&k.as_str()));
    merged.extend(expected.clone());
    if env.is_empty() {
        merged.remove("env");
    } else {
        merged.insert("env".into(), Value::Object(env));
    }
    merged
}

fn infer_mode(spec: &ClientSpec, entry: &Value) -> Mode {
    match spec.remote {
        Remote::Supported(shape) if entry.get(shape.url_key).is_some() => Mode::Direct,
        _ => Mode::Bridge,
    }
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, ClientError> {
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(path)(err)),
    }
}

fn parse(spec: &ClientSpec, path: &Path, bytes: Option<&[u8]>) -> Result<Document, ClientError> {
    let problem = |p: document::Problem| unparseable(path, p.line, p.column, p.message);
    let text = match bytes {
        None => "",
        Some(bytes) => std::str::from_utf8(bytes).map_err(|err| {
            let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
            let (line, column) = crate::config::line_column(valid, valid.len());
            unparseable(path, line, column, "the file is not valid UTF-8".into())
        })?,
    };
    Document::parse(spec.format, text).map_err(problem)
}

fn servers_table(
    spec: &ClientSpec,
    path: &Path,
    doc: &Document,
) -> Result<Option<Map<String, Value>>, ClientError> {
    doc.table(spec.servers_key)
        .map_err(|message| unparseable(path, 1, 1, message))
}

/// How one client stands, read without a lock (a listing, not an edit).
pub fn status(ctx: &Context, spec: &'static ClientSpec) -> ClientStatus {
    let path = ctx.config_path(spec);
    let record = installed(&ctx.paths).remove(spec.id);
    // The file, or the client's own directory (not the bare home, where `~/.claude.json` lives).
    let detected = path.exists()
        || path
            .parent()
            .is_some_and(|dir| dir != ctx.homes.home && dir.exists());
    let mut row = ClientStatus {
        id: spec.id,
        name: spec.name,
        path: path.clone(),
        format: spec.format,
        detected,
        installed: false,
        entry: EntryState::NotInstalled,
        mode: None,
        direct: matches!(spec.remote, Remote::Supported(_)),
        tool_limit: spec.tool_limit,
        profile: record.as_ref().and_then(|r| r.profile.clone()),
        error: None,
        reload: spec.reload,
        served_tools: None,
        fitting_profile: None,
    };
    let read = read_file(&path)
        .and_then(|bytes| parse(spec, &path, bytes.as_deref()))
        .and_then(|doc| servers_table(spec, &path, &doc));
    let table = match read {
        Ok(table) => table,
        Err(err) => {
            row.error = Some(err.to_string());
            if record.is_some() {
                row.entry = EntryState::Changed;
            }
            return row;
        }
    };
    let entry = table.and_then(|mut t| t.remove(ENTRY));
    row.entry = match &entry {
        None if record.is_some() => EntryState::Missing,
        None => EntryState::NotInstalled,
        Some(entry) => {
            let mode = record
                .as_ref()
                .and_then(|r| r.mode)
                .unwrap_or_else(|| infer_mode(spec, entry));
            row.installed = true;
            row.mode = Some(mode);
            let profile = record.as_ref().and_then(|r| r.profile.as_deref());
            match ctx.expected_entry(spec, mode, profile) {
                Ok(expected) if Value::Object(merge(Some(entry), &expected)) == *entry => {
                    EntryState::Intact
                }
                Ok(_) => EntryState::Changed,
                Err(err) => {
                    row.error = Some(err.to_string());
                    EntryState::Changed
                }
            }
        }
    };
    row
}

/// Every known client's status, in catalogue order.
pub fn listing(ctx: &Context) -> Vec<ClientStatus> {
    catalog::CLIENTS
        .iter()
        .map(|spec| status(ctx, spec))
        .collect()
}

/// A server found in a client's config, offered for import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForeignServer {
    /// Its name in the client's file.
    pub name: String,
    /// The program, for a stdio server.
    pub command: Option<String>,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment.
    pub env: BTreeMap<String, String>,
    /// Its working directory.
    pub cwd: Option<String>,
    /// The URL, for a remote server.
    pub url: Option<String>,
}

/// The servers in a client's config other than Patchbay's own.
pub fn foreign_servers(
    ctx: &Context,
    spec: &'static ClientSpec,
) -> Result<Vec<ForeignServer>, ClientError> {
    let path = ctx.config_path(spec);
    let bytes = read_file(&path)?;
    let doc = parse(spec, &path, bytes.as_deref())?;
    let table = servers_table(spec, &path, &doc)?.unwrap_or_default();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(table
        .iter()
        .filter(|(name, _)| name.as_str() != ENTRY)
        .map(|(name, entry)| ForeignServer {
            name: name.clone(),
            command: entry.get("command").and_then(text),
            args: entry
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(text).collect())
                .unwrap_or_default(),
            env: entry
                .get("env")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                        .collect()
                })
                .unwrap_or_default(),
            cwd: entry.get("cwd").and_then(text),
            url: ["url", "serverUrl", "httpUrl"]
                .iter()
                .find_map(|k| entry.get(*k).and_then(text)),
        })
        .collect())
}

/// The backups of a client's file, newest first.
pub fn backups(ctx: &Context, spec: &'static ClientSpec) -> Result<Vec<Backup>, ClientError> {
    let dir = ctx.paths.client_backups(spec.id);
    backup::list(&dir).map_err(io_error(&dir))
}

/// A run of edits: each file is backed up before its first change in the session.
#[derive(Debug)]
pub struct Session {
    ctx: Context,
    backed_up: HashSet<PathBuf>,
}

impl Session {
    /// A new session.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            backed_up: HashSet::new(),
        }
    }

    /// The installation it works on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Add or repair our entry.
    pub fn install(
        &mut self,
        spec: &'static ClientSpec,
        options: &InstallOptions,
    ) -> Result<Outcome, ClientError> {
        if let Some(profile) = &options.profile {
            let known = Config::load(&self.ctx.paths.config_file)
                .is_ok_and(|c| c.profiles.contains_key(profile));
            if !known {
                return Err(ClientError::UnknownProfile(profile.clone()));
            }
        }
        let mode = if options.direct {
            Mode::Direct
        } else {
            Mode::Bridge
        };
        let expected = self
            .ctx
            .expected_entry(spec, mode, options.profile.as_deref())?;
        let input = (mode == Mode::Direct
            && matches!(
                spec.remote,
                Remote::Supported(s) if s.bearer == Bearer::HeaderFromInput
            ))
        .then(bearer_input);
        let record = installed(&self.ctx.paths)
            .remove(spec.id)
            .unwrap_or_default();
        let mut created_table = false;
        let mut created_inputs = false;
        let outcome = self.edit(spec, |doc, path| {
            let table = servers_table(spec, path, doc)?;
            created_table = table.is_none();
            let existing = table.and_then(|mut t| t.remove(ENTRY));
            let merged = merge(existing.as_ref(), &expected);
            let mut changed = existing.as_ref() != Some(&Value::Object(merged.clone()));
            if changed {
                doc.set_entry(spec.servers_key, ENTRY, &merged);
            }
            let inputs = doc.value().get("inputs").cloned();
            created_inputs = inputs.is_none();
            let has_input = |item: &Value| {
                inputs
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.contains(item))
            };
            match input.as_ref() {
                Some(item) if !has_input(item) => {
                    doc.upsert_item("inputs", "id", catalog::BEARER_INPUT_ID, item)
                        .map_err(|message| unparseable(path, 1, 1, message))?;
                    changed = true;
                }
                Some(_) => {}
                // From direct back to the bridge: the prompt is not needed any more.
                None => changed |= drop_bearer_input(doc, record.created_inputs),
            }
            Ok(changed)
        })?;
        let path = self.ctx.config_path(spec);
        update_installed(&self.ctx.paths, |all| {
            all.insert(
                spec.id.to_owned(),
                Installed {
                    path,
                    mode: Some(mode),
                    created_table: record.created_table || created_table,
                    created_inputs: input.is_some() && (record.created_inputs || created_inputs),
                    profile: options.profile.clone(),
                },
            );
        })?;
        Ok(outcome)
    }

    /// Remove our entry (and what install made for it); `Unchanged` when it was not there.
    pub fn uninstall(&mut self, spec: &'static ClientSpec) -> Result<Outcome, ClientError> {
        let record = installed(&self.ctx.paths)
            .remove(spec.id)
            .unwrap_or_default();
        let outcome = self.edit(spec, |doc, path| {
            servers_table(spec, path, doc)?;
            let removed = doc.remove_entry(spec.servers_key, ENTRY);
            if removed && record.created_table {
                doc.remove_if_empty(spec.servers_key);
            }
            let removed_input = drop_bearer_input(doc, record.created_inputs);
            Ok(removed || removed_input)
        })?;
        update_installed(&self.ctx.paths, |all| {
            all.remove(spec.id);
        })?;
        Ok(outcome)
    }

    /// Put back a backup (the newest when `which` is `None`); the current file is backed up
    /// first, so a restore can itself be undone.
    pub fn restore(
        &mut self,
        spec: &'static ClientSpec,
        which: Option<&Path>,
    ) -> Result<Backup, ClientError> {
        let all = backups(&self.ctx, spec)?;
        let chosen = match which {
            Some(path) => all
                .into_iter()
                .find(|b| b.path == path || b.path.file_name() == Some(path.as_os_str())),
            None => all.into_iter().next(),
        }
        .ok_or(ClientError::NoBackups(spec.name))?;
        let content = chosen.content().map_err(io_error(&chosen.path))?;
        let path = self.target(spec);
        let _lock = self.lock(spec)?;
        let current = read_file(&path)?;
        if current == content {
            return Ok(chosen);
        }
        self.backup(spec, &path, current.as_deref())?;
        match content {
            Some(bytes) => {
                write_file(&path, &bytes)?;
            }
            None => fs_err::remove_file(&path).map_err(io_error(&path))?,
        }
        Ok(chosen)
    }

    fn target(&self, spec: &ClientSpec) -> PathBuf {
        let path = self.ctx.config_path(spec);
        // A symlinked config (dotfile managers) is edited where it points, not replaced; on
        // Windows without the `\\?\` verbatim prefix, so paths shown to users read `C:\...`.
        dunce::canonicalize(&path).unwrap_or(path)
    }

    fn backup(
        &mut self,
        spec: &ClientSpec,
        path: &Path,
        original: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        if self.backed_up.contains(path) {
            return Ok(());
        }
        let dir = self.ctx.paths.client_backups(spec.id);
        let extension = match spec.format {
            Format::Toml => "toml",
            Format::Json | Format::Jsonc | Format::JsonComments => "json",
        };
        backup::take(&dir, original, extension).map_err(io_error(&dir))?;
        self.backed_up.insert(path.to_owned());
        Ok(())
    }

    /// Take the client's lock, and with it held, remove temp files a killed writer of this
    /// client left beside its config (no other writer of ours uses that directory).
    fn lock(&self, spec: &ClientSpec) -> Result<fs_err::File, ClientError> {
        let lock_path = self.ctx.paths.client_lock(spec.id);
        let lock = crate::files::lock_exclusive(&lock_path).map_err(io_error(&lock_path))?;
        let file = self.target(spec);
        let leftovers = file
            .parent()
            .and_then(|dir| fs_err::read_dir(dir).ok())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(crate::files::TEMP_PREFIX)
            });
        for entry in leftovers {
            let _ = fs_err::remove_file(entry.path());
        }
        Ok(lock)
    }

    /// Lock, read, parse, change, check, back up, write atomically.
    fn edit(
        &mut self,
        spec: &'static ClientSpec,
        change: impl FnOnce(&mut Document, &Path) -> Result<bool, ClientError>,
    ) -> Result<Outcome, ClientError> {
        let path = self.target(spec);
        let _lock = self.lock(spec)?;
        let original = read_file(&path)?;
        let mut doc = parse(spec, &path, original.as_deref())?;
        if !change(&mut doc, &path)? {
            return Ok(Outcome::Unchanged { path });
        }
        let mut text = doc.render();
        let blank = original
            .as_deref()
            .is_none_or(|b| b.iter().all(u8::is_ascii_whitespace));
        if blank && !text.ends_with('\n') {
            text.push('\n');
        }
        // What we write must read back; a failure here is a bug, and the file stays as it was.
        parse(spec, &path, Some(text.as_bytes()))?;
        self.backup(spec, &path, original.as_deref())?;
        write_file(&path, text.as_bytes())?;
        Ok(Outcome::Written {
            path,
            created: original.is_none(),
        })
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir).map_err(io_error(dir))?;
    }
    crate::files::write_atomically(path, bytes).map_err(io_error(path))
}

/// Remove our VS Code bearer prompt, and the `inputs` array too when install made it and it is
/// now empty; whether the prompt was there.
fn drop_bearer_input(doc: &mut Document, created_inputs: bool) -> bool {
    let removed = doc.remove_item("inputs", "id", catalog::BEARER_INPUT_ID);
    if removed && created_inputs {
        doc.remove_if_empty("inputs");
    }
    removed
}

/// VS Code's prompt for the bearer: asked once, kept in its secret storage, never in the file.
fn bearer_input() -> Value {
    serde_json::json!({
        "type": "promptString",
        "id": catalog::BEARER_INPUT_ID,
        "description": "Patchbay hub bearer secret (the content of Patchbay's `state/secret` file)",
        "password": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every client's file on every OS, under a home `/u`, as its own docs and source place it
    /// (`reference/clients.md`): the usual place first, then the other install kinds in order.
    const EVERY_PATH: &[(&str, Os, &[&str])] = &[
        (
            "claude-desktop",
            Os::Linux,
            &["/u/.config/Claude/claude_desktop_config.json"],
        ),
        (
            "claude-desktop",
            Os::MacOs,
            &["/u/Library/Application Support/Claude/claude_desktop_config.json"],
        ),
        (
            "claude-desktop",
            Os::Windows,
            &[
                // The classic installer (%APPDATA%), then the Microsoft Store (MSIX) package,
                // whose roaming data Windows redirects into the package's LocalCache.
                "/u/AppData/Roaming/Claude/claude_desktop_config.json",
                "/u/AppData/Local/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json",
            ],
        ),
        ("cursor", Os::Linux, &["/u/.cursor/mcp.json"]),
        ("cursor", Os::MacOs, &["/u/.cursor/mcp.json"]),
        ("cursor", Os::Windows, &["/u/.cursor/mcp.json"]),
        ("vscode", Os::Linux, &["/u/.config/Code/User/mcp.json"]),
        (
            "vscode",
            Os::MacOs,
            &["/u/Library/Application Support/Code/User/mcp.json"],
        ),
        (
            "vscode",
            Os::Windows,
            &["/u/AppData/Roaming/Code/User/mcp.json"],
        ),
        ("claude-code", Os::Linux, &["/u/.claude.json"]),
        ("claude-code", Os::MacOs, &["/u/.claude.json"]),
        ("claude-code", Os::Windows, &["/u/.claude.json"]),
        (
            "windsurf",
            Os::Linux,
            &["/u/.codeium/windsurf/mcp_config.json"],
        ),
        (
            "windsurf",
            Os::MacOs,
            &["/u/.codeium/windsurf/mcp_config.json"],
        ),
        (
            "windsurf",
            Os::Windows,
            &["/u/.codeium/windsurf/mcp_config.json"],
        ),
        ("zed", Os::Linux, &["/u/.config/zed/settings.json"]),
        // Zed keeps `~/.config/zed` on macOS too, not Application Support.
        ("zed", Os::MacOs, &["/u/.config/zed/settings.json"]),
        (
            "zed",
            Os::Windows,
            &["/u/AppData/Roaming/Zed/settings.json"],
        ),
        ("codex", Os::Linux, &["/u/.codex/config.toml"]),
        ("codex", Os::MacOs, &["/u/.codex/config.toml"]),
        ("codex", Os::Windows, &["/u/.codex/config.toml"]),
        ("gemini-cli", Os::Linux, &["/u/.gemini/settings.json"]),
        ("gemini-cli", Os::MacOs, &["/u/.gemini/settings.json"]),
        ("gemini-cli", Os::Windows, &["/u/.gemini/settings.json"]),
        (
            "cline",
            Os::Linux,
            &[
                "/u/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
                "/u/.cline/data/settings/cline_mcp_settings.json",
            ],
        ),
        (
            "cline",
            Os::MacOs,
            &[
                "/u/Library/Application Support/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
                "/u/.cline/data/settings/cline_mcp_settings.json",
            ],
        ),
        (
            "cline",
            Os::Windows,
            &[
                "/u/AppData/Roaming/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
                "/u/.cline/data/settings/cline_mcp_settings.json",
            ],
        ),
        ("lm-studio", Os::Linux, &["/u/.lmstudio/mcp.json"]),
        ("lm-studio", Os::MacOs, &["/u/.lmstudio/mcp.json"]),
        ("lm-studio", Os::Windows, &["/u/.lmstudio/mcp.json"]),
    ];

    #[test]
    fn every_clients_paths_on_every_os() {
        let root = Path::new("/u");
        for spec in catalog::CLIENTS {
            for os in [Os::Linux, Os::MacOs, Os::Windows] {
                let homes = Homes::under(root, os);
                let actual: Vec<PathBuf> = std::iter::once(spec.location(os))
                    .chain(
                        spec.also
                            .iter()
                            .filter(|(o, _)| *o == os)
                            .map(|(_, location)| *location),
                    )
                    .map(|location| homes.resolve(location))
                    .collect();
                let expected: Vec<PathBuf> = EVERY_PATH
                    .iter()
                    .find(|(id, o, _)| *id == spec.id && *o == os)
                    .unwrap_or_else(|| panic!("no expected paths for {} on {os:?}", spec.id))
                    .2
                    .iter()
                    .map(|p| p.split('/').fold(PathBuf::from("/"), |acc, c| acc.join(c)))
                    .collect();
                assert_eq!(actual, expected, "{} on {os:?}", spec.id);
            }
        }
        assert_eq!(
            EVERY_PATH.len(),
            catalog::CLIENTS.len() * 3,
            "one row per client and OS, no row for a client the catalogue lacks"
        );
    }

    #[test]
    fn another_install_kind_is_found_where_it_keeps_its_file() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Context {
            paths: Paths::under(&root.path().join("pb")),
            homes: Homes::under(root.path(), Os::Windows),
            os: Os::Windows,
            exe: PathBuf::from("/p"),
            bridge_env: BTreeMap::new(),
        };
        let claude = find("claude-desktop").unwrap();
        let usual = root
            .path()
            .join("AppData/Roaming/Claude/claude_desktop_config.json");
        assert_eq!(
            ctx.config_path(claude),
            usual,
            "nothing there: the usual place"
        );
        let msix = root.path().join(
            "AppData/Local/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json",
        );
        fs_err::create_dir_all(msix.parent().unwrap()).unwrap();
        assert_eq!(
            ctx.config_path(claude),
            msix,
            "only the MSIX build's directory exists"
        );
        fs_err::create_dir_all(usual.parent().unwrap()).unwrap();
        fs_err::write(&usual, "{}").unwrap();
        assert_eq!(
            ctx.config_path(claude),
            usual,
            "the usual file wins when it exists"
        );
    }

    #[test]
    fn an_entry_carries_what_locates_patchbay_and_old_entries_are_repaired() {
        let root = tempfile::tempdir().unwrap();
        let mut ctx = Context {
            paths: Paths::under(&root.path().join("pb")),
            homes: Homes::under(&root.path().join("home"), Os::Linux),
            os: Os::Linux,
            exe: PathBuf::from("/p"),
            bridge_env: BTreeMap::new(),
        };
        let codex = find("codex").unwrap();
        let file = ctx.config_path(codex);
        let entry = |file: &Path| {
            let text = fs_err::read_to_string(file).unwrap();
            Document::parse(Format::Toml, &text).unwrap().value()["mcp_servers"][ENTRY].clone()
        };
        // Installed while the defaults were in use: no env at all.
        Session::new(ctx.clone())
            .install(codex, &InstallOptions::default())
            .unwrap();
        assert_eq!(
            entry(&file),
            serde_json::json!({"command": "/p", "args": ["bridge"]})
        );
        // The user adds a variable of their own to the entry.
        let text = fs_err::read_to_string(&file).unwrap();
        fs_err::write(
            &file,
            text.replace("args = [", "env = { PATCHBAY_LOG = \"debug\" }\nargs = ["),
        )
        .unwrap();
        assert_eq!(
            status(&ctx, codex).entry,
            EntryState::Intact,
            "their env is theirs"
        );

        // Patchbay's state moved (XDG_STATE_HOME): the old entry would find no hub from a
        // stripped environment, so it no longer counts as intact, and install repairs it.
        ctx.bridge_env = BTreeMap::from([("XDG_STATE_HOME".into(), "/srv/state".into())]);
        assert_eq!(status(&ctx, codex).entry, EntryState::Changed);
        let repaired = Session::new(ctx.clone())
            .install(codex, &InstallOptions::default())
            .unwrap();
        assert!(matches!(repaired, Outcome::Written { .. }), "{repaired:?}");
        assert_eq!(
            entry(&file),
            serde_json::json!({
                "command": "/p", "args": ["bridge"],
                "env": {"PATCHBAY_LOG": "debug", "XDG_STATE_HOME": "/srv/state"}
            })
        );
        assert_eq!(status(&ctx, codex).entry, EntryState::Intact);

        // Back to the defaults: our variable goes, theirs stays.
        ctx.bridge_env.clear();
        assert_eq!(status(&ctx, codex).entry, EntryState::Changed);
        Session::new(ctx.clone())
            .install(codex, &InstallOptions::default())
            .unwrap();
        assert_eq!(
            entry(&file),
            serde_json::json!({"command": "/p", "args": ["bridge"], "env": {"PATCHBAY_LOG": "debug"}})
        );
    }

    #[test]
    fn repair_keeps_the_clients_own_keys_and_drops_stale_owned_ones() {
        let expected: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"command": "/p", "args": ["bridge"]}))
                .unwrap();
        let existing = serde_json::json!({
            "url": "http://old", "command": "/old", "disabled": false, "autoApprove": []
        });
        let merged = merge(Some(&existing), &expected);
        assert_eq!(
            Value::Object(merged),
            serde_json::json!({
                "command": "/p", "args": ["bridge"], "disabled": false, "autoApprove": []
            })
        );
    }
}
