//! The control API's contract (`/api/v1`): every type a request or an answer carries, shared
//! by the hub's routes (`hub::routes`), the control client (`control`) and,
//! through the types generated from them, the window.
//!
//! Same listener, same guard as `/mcp`. JSON in, JSON out; errors are `{"error": "..."}` with a
//! status that says what to do (404 unknown server, 422 bad config). `GET /events` is an SSE
//! stream of [`crate::events::HubEvent`]s.
//!
//! | route | what |
//! |---|---|
//! | `GET /status` | hub version, pid, URL, config file, every server's status |
//! | `GET /servers` | every server's status |
//! | `POST /servers[?preview=true]` | add a stdio server ([`NewServer`]); answers the exact command line shown before saving; with `preview`, only that, nothing saved |
//! | `DELETE /servers/{name}` | remove a server from the config file, and its keychain entries |
//! | `GET /servers/{name}/tools` | the tools one server contributes |
//! | `GET /servers/{name}/logs?lines=N` | the tail of a server's log |
//! | `POST /servers/{name}/enable`, `/disable` | edit the config file and apply it |
//! | `POST /servers/{name}/restart` | restart one server |
//! | `GET /tools` | the merged tool list with where each tool comes from |
//! | `GET /profiles` | every profile: its servers and tool patterns, servers it names that are not configured, how many tools it serves, its endpoint path |
//! | `GET /calls` | the most recent tool calls: server, tool, client, duration, outcome |
//! | `POST /reload` | re-read the config file |
//! | `GET /clients` | every known MCP client: detected, config path, our entry's state (as `patchbay clients --json`), plus the tools its entry is served and, over its tool limit, the profile that fits |
//! | `POST /clients/{id}/install` | add or repair Patchbay's entry (`{"profile": P, "direct": false}`, both optional), as `patchbay install` |
//! | `POST /clients/{id}/uninstall` | remove only Patchbay's entry, as `patchbay uninstall` |
//! | `POST /clients/{id}/restore` | put back a backup (`{"backup": NAME}`, newest when absent), as `patchbay restore` |
//! | `POST /sign-in` | start signing in to a remote server (a URL, or a configured server's name); answers the flow's id |
//! | `GET /sign-in/{flow}` | the flow's progress ([`FlowView`]) |
//! | `POST /sign-in/{flow}/cancel` | cancel a flow |
//! | `GET /tokens` | every remote server's token state (no token values) |
//! | `POST /tokens/{name}/refresh`, `/revoke` | refresh now; revoke at the server and forget |
//! | `GET /catalog?q=TERM` | servers of the MCP Registry ([`CatalogSearch`]): how each runs, whether its runtime is here, what adding it asks |
//! | `POST /catalog/preview` | what adding a record would save ([`CatalogRequest`] in, [`CatalogPlan`] out), nothing saved; 400 with the reason when it is refused |
//! | `POST /catalog/add` | the same with `confirmed: true`: secrets to the keychain, the entry to the config file, applied |
//! | `POST /catalog/link` | the entry an install link adds ([`LinkRequest`] in, [`CatalogEntry`] out, its `registry` `link` for a described server); 400 with the link's refusal; preview and add then take the link in [`CatalogRequest`] |
//! | `POST /catalog/bundle` | the entry an `.mcpb` bundle adds, a file on this machine or a registry record's bundle (downloaded once, its `fileSha256` checked) ([`BundleRequest`] in, [`CatalogEntry`] out, kind `bundle`, registry `bundle` for a file); 400 naming why it is not a bundle it can add; preview and add then take the path (or the record's name) in [`CatalogRequest`]: the plan says its signature, what it needs and where it unpacks, and only add unpacks it |
//! | `GET /events` | SSE stream of state changes |
//! | `POST /shutdown` | stop the hub gracefully (the app's "Quit Patchbay and stop the hub") |

use serde::{Deserialize, Serialize};

use crate::config::ServerConfig;
use crate::oauth::Progress;
use crate::oauth::connect::Connected;

/// `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HubStatus {
    /// Hub version.
    pub version: String,
    /// Hub pid.
    pub pid: u32,
    /// The config file it follows.
    pub config_file: String,
    /// Every server.
    pub servers: Vec<ServerStatus>,
    /// Stateless clients' calls waiting for the client to answer a server's question
    /// (`input_required`), each dropped after the hub's `input_timeout`.
    #[serde(default)]
    pub calls_waiting_for_input: usize,
}

/// One entry of `GET /tools`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolEntry {
    /// Exposed name.
    pub name: String,
    /// Owning server.
    pub server: String,
    /// Name on that server.
    pub original: String,
    /// Description, if any.
    pub description: Option<String>,
}

/// A tool whose definition changed since it was accepted, held back from clients
/// (`GET /tool-changes`; see `hub::review`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ToolChange {
    /// The server.
    pub server: String,
    /// The tool's name on that server.
    pub tool: String,
    /// What changed, field by field, in the order `title`, `description`, `inputSchema`, `outputSchema`, `annotations`.
    pub fields: Vec<FieldChange>,
}

/// One field of a tool's definition, as accepted and as the server now says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldChange {
    /// `title`, `description`, `inputSchema`, `outputSchema` or `annotations`.
    pub field: String,
    /// As accepted (none: it had none).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub before: Option<serde_json::Value>,
    /// As the server now lists it (none: it has none).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub after: Option<serde_json::Value>,
}

/// The body of `POST /tool-changes/accept`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AcceptToolChanges {
    /// The server.
    pub server: String,
    /// The tools whose changes are accepted, by their names on the server; none: all of its.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// The answer of `POST /servers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServerAdded {
    /// The server.
    pub name: String,
    /// Exactly what it will run, untruncated, as `patchbay add` shows it.
    pub command_line: String,
    /// Its working directory, when one is set.
    pub cwd: Option<std::path::PathBuf>,
    /// Whether it was saved (false for a preview).
    pub saved: bool,
}

/// The body of `POST /clients/{id}/install`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// Serve the client this profile only.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub profile: Option<String>,
    /// A URL entry to the hub instead of the bridge (clients that can take one).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub direct: bool,
}

/// The body of `POST /clients/{id}/restore`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The backup's file name (`restore --list`); the newest when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub backup: Option<String>,
}

/// What an install, uninstall or restore did to a client's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientChange {
    /// Client id.
    pub client: String,
    /// The client's config file.
    pub path: std::path::PathBuf,
    /// Whether the file changed.
    pub changed: bool,
    /// Patchbay's entry was missing or changed and is repaired (install only).
    #[serde(default)]
    pub repaired: bool,
    /// What the user does next for the client to see it (restart it, reload its servers).
    pub next: String,
    /// The hub serves more tools than the client is known to use (install only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Spawned, handshake under way.
    Starting,
    /// Serving calls.
    Running,
    /// Exited or failed to start; a restart is scheduled.
    Restarting,
    /// Stopped on purpose (disabled, removed, hub shutting down).
    Stopped,
    /// A remote server whose credentials are gone or rejected: it waits for `patchbay login`.
    NeedsSignIn,
    /// A lazy server with no process: its cached lists are served, and a call starts it.
    Idle,
}

impl ServerState {
    /// The word `patchbay status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Starting => "starting",
            ServerState::Running => "running",
            ServerState::Restarting => "restarting",
            ServerState::Stopped => "stopped",
            ServerState::NeedsSignIn => "needs_sign_in",
            ServerState::Idle => "idle",
        }
    }
}

/// A server's status as the control API and the CLI show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServerStatus {
    /// Config name.
    pub name: String,
    /// Current state.
    pub state: ServerState,
    /// Child pid while one runs.
    pub pid: Option<u32>,
    /// Seconds since it reached `running`.
    pub uptime_secs: Option<u64>,
    /// Tools it offers (from its last good list).
    pub tools: usize,
    /// Restarts since the hub started.
    pub restarts: u32,
    /// Milliseconds until the next restart attempt, while `restarting`.
    pub retry_in_ms: Option<u64>,
    /// The last failure, said for a person.
    pub last_error: Option<String>,
    /// The exact command line, or a remote server's URL.
    pub command: String,
    /// A stdio server (a child process) or a remote one (a URL).
    #[serde(default)]
    pub kind: ServerKind,
    /// Enabled in the config; a disabled server is `stopped` with the error `disabled`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Its tools whose definitions changed and are held back until accepted
    /// (`GET /api/v1/tool-changes`).
    #[serde(default)]
    pub tools_held: usize,
    /// Installed from the MCP Registry, and a newer version is listed there (as the hub's last
    /// catalogue refresh saw it): that version (`patchbay update NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub update: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// How the hub reaches a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ServerKind {
    /// A child process spoken to over stdio.
    #[default]
    Stdio,
    /// A Streamable HTTP server at a URL.
    Remote,
}

impl ServerKind {
    /// The kind of `config`.
    pub fn of(config: &ServerConfig) -> Self {
        if config.url.is_some() {
            ServerKind::Remote
        } else {
            ServerKind::Stdio
        }
    }
}

impl ServerStatus {
    /// The status of a configured server the hub does not run. Its last error is `disabled` when
    /// the config disables it, else `why` (the CLI's "hub not running"; none from the hub).
    pub fn not_running(name: &str, config: &ServerConfig, why: Option<&str>) -> Self {
        ServerStatus {
            name: name.to_owned(),
            state: ServerState::Stopped,
            pid: None,
            uptime_secs: None,
            tools: 0,
            restarts: 0,
            retry_in_ms: None,
            last_error: if config.enabled {
                why
            } else {
                Some("disabled")
            }
            .map(str::to_owned),
            command: config.command_line(),
            kind: ServerKind::of(config),
            enabled: config.enabled,
            tools_held: 0,
            update: None,
        }
    }
}

/// One flow as the control API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FlowView {
    /// Its id.
    pub flow: String,
    /// The server.
    pub server: String,
    /// Every step so far, oldest first.
    pub progress: Vec<Progress>,
    /// Whether it has ended.
    pub finished: bool,
    /// On success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<Connected>,
    /// On failure, said for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Cancelled by the user.
    #[serde(default)]
    pub cancelled: bool,
}

/// The answer of `GET /catalog?q=TERM`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CatalogSearch {
    /// The latest version of each server found, registries in order.
    pub entries: Vec<CatalogEntry>,
    /// Whether they come from the snapshot shipped with Patchbay (no registry answered).
    pub from_snapshot: bool,
    /// Registries that could not be asked, with why.
    pub failed: Vec<RegistryFailure>,
}

/// A registry that could not be asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RegistryFailure {
    /// Its base URL.
    pub registry: String,
    /// Why, said for a person.
    pub error: String,
}

/// One server of the catalogue, as the window lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CatalogEntry {
    /// The registry name (`io.github.acme/weather`).
    pub name: String,
    /// Its display title, when the record has one.
    pub title: Option<String>,
    /// What it does.
    pub description: String,
    /// The latest version.
    pub version: String,
    /// The first icon's URL, when the record lists one.
    pub icon: Option<String>,
    /// How it would run here.
    pub kind: CatalogKind,
    /// The program it needs (`npx`, `uvx`, `docker`); none for a remote one.
    pub runtime: Option<String>,
    /// Whether that program is on this machine's `PATH` (true when none is needed).
    pub runtime_present: bool,
    /// What adding it asks, in order.
    pub questions: Vec<CatalogQuestion>,
    /// Why it cannot be added here, when it cannot.
    pub problem: Option<String>,
    /// Marked deprecated by its publisher.
    pub deprecated: bool,
    /// The registry it came from (`snapshot` for the shipped one).
    pub registry: String,
    /// A remote entry's endpoint, which adding it connects to (signing in when it asks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub url: Option<String>,
}

/// How a catalogue entry runs: the package type run locally, a remote endpoint, or nothing
/// this hub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    /// An npm package, run with `npx`.
    Npm,
    /// A PyPI package, run with `uvx`.
    Pypi,
    /// An OCI image, run with `docker`.
    Oci,
    /// A Streamable HTTP endpoint.
    Remote,
    /// A command given whole by an install link.
    Command,
    /// An `.mcpb` bundle file, run as its manifest says once unpacked.
    Bundle,
    /// Nothing Patchbay runs.
    None,
}

/// A value adding an entry asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CatalogQuestion {
    /// The environment variable or argument it fills.
    pub name: String,
    /// What the record says of it.
    pub description: Option<String>,
    /// A secret: asked without echo, kept in the keychain.
    pub secret: bool,
    /// Taken when the answer is empty.
    pub default: Option<String>,
    /// The values allowed, when the record lists them.
    pub choices: Vec<String>,
}

/// The body of `POST /catalog/preview` and `POST /catalog/add`. No `Debug`: the answers may
/// hold secrets.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct CatalogRequest {
    /// The registry name (ignored with `link` or `bundle`).
    #[serde(default)]
    pub name: String,
    /// The version; the latest when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub version: Option<String>,
    /// The answers to the entry's questions, in order (empty: the default).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub answers: Vec<String>,
    /// The server's name in the config; made from the registry name when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub local_name: Option<String>,
    /// Saved disabled (`patchbay add --disabled`): nothing starts until it is enabled.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub disabled: bool,
    /// The user said yes to the exact command (`POST /catalog/add` refuses without it).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub confirmed: bool,
    /// An install link (`patchbay://install?...`) naming the server, in place of `name` and
    /// `version`.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub link: Option<String>,
    /// The absolute path of an `.mcpb` bundle file on this machine, in place of `name`,
    /// `version` and `link`.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub bundle: Option<String>,
}

/// The body of `POST /catalog/link`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The install link, as opened.
    pub link: String,
}

/// The body of `POST /catalog/bundle`: `path` or `name`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct BundleRequest {
    /// A bundle file's absolute path (a relative one is refused: the hub's folder is not the
    /// user's).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub path: Option<String>,
    /// Or a registry record whose package is an `.mcpb` bundle: downloaded (once; its
    /// `fileSha256` checked) for its questions.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub name: Option<String>,
    /// With `name`: the record's version; the latest when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub version: Option<String>,
}

/// What a bundle's consent says beyond the command: who made it, its signature, the runtime
/// versions it needs and found, and where it is unpacked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BundlePlan {
    /// The bundle file.
    pub file: String,
    /// Its manifest's author.
    pub author: String,
    /// `unsigned`, or whether its signature was checked.
    pub signature: String,
    /// The runtime versions it needs, each with the version found here (`node >=18 (found
    /// 20.11.1)`); a bundle whose runtime does not fit is refused before this is shown.
    pub requirements: Vec<String>,
    /// The directory it is unpacked to (its server's working directory).
    pub dir: String,
}

/// What adding a catalogue entry saves (or saved): never a secret's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CatalogPlan {
    /// The server's name in the config.
    pub name: String,
    /// The registry name.
    pub registry_name: String,
    /// The version pinned.
    pub version: String,
    /// The registry it came from (`snapshot` for the shipped one).
    pub registry: String,
    /// Exactly what it will run, untruncated.
    pub command_line: String,
    /// The environment variables set in the config file.
    pub env: Vec<String>,
    /// The environment variables kept in the keychain.
    pub secret_env: Vec<String>,
    /// Whether the program it runs is on this machine's `PATH`.
    pub runtime_present: bool,
    /// Whether it was saved (false for a preview).
    pub saved: bool,
    /// An `.mcpb` bundle's facts (a bundle file's, in [`CatalogRequest::bundle`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub bundle: Option<BundlePlan>,
}

/// The window's copy of this contract: TypeScript declarations generated with ts-rs (feature
/// `ts`) from these types and the ones they carry into `ui/src/generated/`, one file per type
/// and an `index.ts`. This test regenerates them and fails when the committed files differ;
/// `scripts/gen-types` (`PATCHBAY_WRITE_TYPES=1`) writes them instead.
///
/// ts-rs reads the serde attributes (`rename_all`, `tag`, `flatten`, `skip_serializing_if` with
/// `default`). A request field the hub defaults (`serde(default)`) is marked
/// `ts(optional = nullable)` where it is declared, so the window may leave it out.
#[cfg(all(test, feature = "ts"))]
mod generated_types {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ts_rs::TS;

    /// The variable that makes the test write the files instead of checking them.
    const WRITE_ENV: &str = "PATCHBAY_WRITE_TYPES";

    fn committed_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated")
    }

    /// Every type the shell hands the window (a command's argument or answer, or a `hub-event`),
    /// with everything it carries.
    fn export_all(config: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
        super::HubStatus::export_all(config)?;
        super::ToolEntry::export_all(config)?;
        super::ServerAdded::export_all(config)?;
        super::InstallRequest::export_all(config)?;
        super::RestoreRequest::export_all(config)?;
        super::ClientChange::export_all(config)?;
        super::FlowView::export_all(config)?;
        super::CatalogSearch::export_all(config)?;
        super::CatalogRequest::export_all(config)?;
        super::BundleRequest::export_all(config)?;
        super::CatalogPlan::export_all(config)?;
        super::AcceptToolChanges::export_all(config)?;
        super::ToolChange::export_all(config)?;
        crate::events::HubEvent::export_all(config)?;
        crate::config::NewServer::export_all(config)?;
        crate::config::profile::ProfileStatus::export_all(config)?;
        crate::clients::ClientStatus::export_all(config)?;
        crate::oauth::connect::ConnectRequest::export_all(config)?;
        crate::oauth::TokenStatus::export_all(config)?;
        crate::oauth::keeper::Revoked::export_all(config)?;
        Ok(())
    }

    /// The files as generated: file name to contents.
    fn generate() -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        // JSON numbers: a `u64` is a `number` in JavaScript, not a `bigint`.
        let config = ts_rs::Config::new()
            .with_large_int("number")
            .with_out_dir(dir.path());
        export_all(&config).expect("the contract types export");
        let mut files = read_dir(dir.path());
        let mut index = String::from(
            "// Generated from the Rust types of the control API's contract \
             (crates/patchbay-core/src/api.rs).\n// Do not edit: run scripts/gen-types.\n\n",
        );
        for name in files.keys() {
            let module = name.trim_end_matches(".ts");
            index.push_str(&format!("export type {{ {module} }} from './{module}';\n"));
        }
        files.insert("index.ts".into(), index);
        files
    }

    /// The `.ts` files in `dir`.
    fn read_dir(dir: &Path) -> BTreeMap<String, String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return BTreeMap::new();
        };
        entries
            .map(|entry| entry.expect("a readable directory").path())
            .filter(|path| path.extension().is_some_and(|e| e == "ts"))
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).expect("a readable file");
                (name, text)
            })
            .collect()
    }

    #[test]
    fn generated_types_are_committed() {
        let generated = generate();
        let dir = committed_dir();
        if std::env::var_os(WRITE_ENV).is_some_and(|v| v == "1") {
            std::fs::create_dir_all(&dir).expect("ui/src/generated can be made");
            for stale in read_dir(&dir).keys() {
                std::fs::remove_file(dir.join(stale)).expect("a stale file can be removed");
            }
            for (name, text) in &generated {
                std::fs::write(dir.join(name), text).expect("ui/src/generated is writable");
            }
            return;
        }
        let committed = read_dir(&dir);
        let differ: Vec<&str> = generated
            .keys()
            .chain(committed.keys())
            .filter(|name| generated.get(*name) != committed.get(*name))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(
            differ.is_empty(),
            "ui/src/generated/ is not what the Rust types generate ({}): run scripts/gen-types \
             and commit the result",
            differ.join(", ")
        );
    }
}
