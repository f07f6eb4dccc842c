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
//! | `GET /events` | SSE stream of state changes |
//! | `POST /shutdown` | stop the hub gracefully (the app's "Quit Patchbay and stop the hub") |

use serde::{Deserialize, Serialize};

use crate::config::ServerConfig;
use crate::oauth::Progress;
use crate::oauth::connect::Connected;

/// `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubStatus {
    /// Hub version.
    pub version: String,
    /// Hub pid.
    pub pid: u32,
    /// The config file it follows.
    pub config_file: String,
    /// Every server.
    pub servers: Vec<ServerStatus>,
}

/// One entry of `GET /tools`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The answer of `POST /servers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// Serve the client this profile only.
    #[serde(default)]
    pub profile: Option<String>,
    /// A URL entry to the hub instead of the bridge (clients that can take one).
    #[serde(default)]
    pub direct: bool,
}

/// The body of `POST /clients/{id}/restore`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The backup's file name (`restore --list`); the newest when absent.
    #[serde(default)]
    pub backup: Option<String>,
}

/// What an install, uninstall or restore did to a client's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

fn enabled_by_default() -> bool {
    true
}

/// How the hub reaches a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }
}

/// One flow as the control API shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<Connected>,
    /// On failure, said for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Cancelled by the user.
    #[serde(default)]
    pub cancelled: bool,
}
