//! The known MCP clients, as data: where each keeps its config per OS, the key holding its
//! servers, the shape of a stdio and a remote entry, and what it is known to limit.
//!
//! Source: `reference/clients.md`. Adding a client is adding one [`ClientSpec`] here; the writer
//! code never branches on a client's id.

use crate::platform::Os;

/// The syntax of a client's config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain JSON: no comments, no trailing commas (what the client's own parser accepts).
    Json,
    /// JSON with comments and trailing commas (VS Code, Zed); both are kept on edit.
    Jsonc,
    /// JSON with `//` and `/* */` comments but otherwise strict (Gemini CLI strips the comments,
    /// then parses JSON: a trailing comma breaks its settings); comments are kept on edit.
    #[serde(rename = "jsonc")]
    // Said `jsonc` too: one word in the TypeScript union is enough.
    #[cfg_attr(feature = "ts", ts(skip))]
    JsonComments,
    /// TOML (Codex); comments and layout are kept on edit.
    Toml,
}

/// The directory a client's path is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The user's home directory.
    Home,
    /// The platform config dir: `~/.config` (XDG) on Linux, `~/Library/Application Support` on
    /// macOS, `%APPDATA%` on Windows.
    Config,
    /// `$CODEX_HOME`, else `~/.codex`.
    CodexHome,
    /// The platform local data dir: `~/.local/share` on Linux, `~/Library/Application Support`
    /// on macOS, `%LOCALAPPDATA%` on Windows.
    LocalData,
}

/// A path relative to a [`Base`], with `/` separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// What it is relative to.
    pub base: Base,
    /// The relative path.
    pub path: &'static str,
}

const fn at(base: Base, path: &'static str) -> Location {
    Location { base, path }
}

/// How a remote (`--direct`) entry gets the hub's bearer without the secret being in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    /// An `Authorization` header whose value the client expands from an environment variable;
    /// the string is the header value, with the variable written the client's way.
    HeaderFromEnv(&'static str),
    /// VS Code: an `Authorization` header from a `${input:ID}` the client prompts for once and
    /// keeps in its secret storage; the `inputs` entry is written beside the server.
    HeaderFromInput,
    /// A key naming the environment variable that holds the bearer (Codex's
    /// `bearer_token_env_var`).
    EnvVarKey(&'static str),
}

/// The shape of a remote entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteShape {
    /// The key holding the URL (`url`, `serverUrl`, `httpUrl`).
    pub url_key: &'static str,
    /// A `type` value the client needs for Streamable HTTP, if any.
    pub type_value: Option<&'static str>,
    /// How the bearer reaches the client.
    pub bearer: Bearer,
}

/// Whether a client takes a remote entry Patchbay can write without the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// It does, in this shape.
    Supported(RemoteShape),
    /// It does not; the reason is told to the user.
    Refused(&'static str),
}

/// One MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSpec {
    /// The id used on the command line (`claude-desktop`).
    pub id: &'static str,
    /// The name shown to people.
    pub name: &'static str,
    /// The config file's syntax.
    pub format: Format,
    /// The top-level key holding the servers.
    pub servers_key: &'static str,
    /// A `type` value a stdio entry needs, if any.
    pub stdio_type: Option<&'static str>,
    /// The remote entry.
    pub remote: Remote,
    /// The config file on macOS.
    pub macos: Location,
    /// The config file on Windows.
    pub windows: Location,
    /// The config file on Linux.
    pub linux: Location,
    /// Other places the file is known to live on one OS (another install kind), tried in order
    /// when the usual file does not exist.
    pub also: &'static [(Os, Location)],
    /// The most tools the client is known to use, if it has a limit.
    pub tool_limit: Option<u32>,
    /// What the user does for the client to pick up the change.
    pub reload: &'static str,
}

impl ClientSpec {
    /// The config file's location on `os`.
    pub fn location(&self, os: Os) -> Location {
        match os {
            Os::MacOs => self.macos,
            Os::Windows => self.windows,
            Os::Linux => self.linux,
        }
    }
}

/// The environment variable a `--direct` entry reads the hub's bearer from.
pub const BEARER_ENV: &str = "PATCHBAY_BEARER";

/// The VS Code input id a `--direct` entry prompts for.
pub const BEARER_INPUT_ID: &str = "patchbay-bearer";

const NO_SECRETLESS_REMOTE: &str = "its config has no way to read the bearer from the environment or a prompt, and Patchbay never writes the secret into a client's file";

const CLINE_CLI: Location = at(Base::Home, ".cline/data/settings/cline_mcp_settings.json");

/// Every known client, in the order they are listed.
pub const CLIENTS: &[ClientSpec] = &[
    ClientSpec {
        id: "claude-desktop",
        name: "Claude Desktop",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Refused(
            "Claude Desktop's config file only accepts stdio servers; the bridge is the way in",
        ),
        macos: at(Base::Config, "Claude/claude_desktop_config.json"),
        windows: at(Base::Config, "Claude/claude_desktop_config.json"),
        linux: at(Base::Config, "Claude/claude_desktop_config.json"),
        // The Microsoft Store (MSIX) build keeps its roaming data in its package's cache.
        also: &[(
            Os::Windows,
            at(
                Base::LocalData,
                "Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json",
            ),
        )],
        tool_limit: None,
        reload: "quit Claude Desktop completely and start it again",
    },
    ClientSpec {
        id: "cursor",
        name: "Cursor",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Supported(RemoteShape {
            url_key: "url",
            type_value: None,
            bearer: Bearer::HeaderFromEnv("Bearer ${env:PATCHBAY_BEARER}"),
        }),
        macos: at(Base::Home, ".cursor/mcp.json"),
        windows: at(Base::Home, ".cursor/mcp.json"),
        linux: at(Base::Home, ".cursor/mcp.json"),
        also: &[],
        tool_limit: Some(40),
        reload: "refresh the MCP servers in Cursor's settings",
    },
    ClientSpec {
        id: "vscode",
        name: "VS Code",
        format: Format::Jsonc,
        servers_key: "servers",
        stdio_type: Some("stdio"),
        remote: Remote::Supported(RemoteShape {
            url_key: "url",
            type_value: Some("http"),
            bearer: Bearer::HeaderFromInput,
        }),
        macos: at(Base::Config, "Code/User/mcp.json"),
        windows: at(Base::Config, "Code/User/mcp.json"),
        linux: at(Base::Config, "Code/User/mcp.json"),
        also: &[],
        tool_limit: Some(128),
        reload: "start or restart `patchbay` from VS Code's MCP servers view",
    },
    ClientSpec {
        id: "claude-code",
        name: "Claude Code",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: Some("stdio"),
        remote: Remote::Supported(RemoteShape {
            url_key: "url",
            type_value: Some("http"),
            bearer: Bearer::HeaderFromEnv("Bearer ${PATCHBAY_BEARER}"),
        }),
        macos: at(Base::Home, ".claude.json"),
        windows: at(Base::Home, ".claude.json"),
        linux: at(Base::Home, ".claude.json"),
        also: &[],
        tool_limit: None,
        reload: "start a new Claude Code session (or run `/mcp`)",
    },
    ClientSpec {
        id: "windsurf",
        name: "Windsurf",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Refused(NO_SECRETLESS_REMOTE),
        macos: at(Base::Home, ".codeium/windsurf/mcp_config.json"),
        windows: at(Base::Home, ".codeium/windsurf/mcp_config.json"),
        linux: at(Base::Home, ".codeium/windsurf/mcp_config.json"),
        also: &[],
        tool_limit: None,
        reload: "press refresh in Windsurf's MCP panel",
    },
    ClientSpec {
        id: "zed",
        name: "Zed",
        format: Format::Jsonc,
        servers_key: "context_servers",
        stdio_type: None,
        remote: Remote::Refused(NO_SECRETLESS_REMOTE),
        macos: at(Base::Home, ".config/zed/settings.json"),
        windows: at(Base::Config, "Zed/settings.json"),
        linux: at(Base::Config, "zed/settings.json"),
        also: &[],
        tool_limit: None,
        reload: "nothing: Zed applies its settings live",
    },
    ClientSpec {
        id: "codex",
        name: "Codex CLI",
        format: Format::Toml,
        servers_key: "mcp_servers",
        stdio_type: None,
        remote: Remote::Supported(RemoteShape {
            url_key: "url",
            type_value: None,
            bearer: Bearer::EnvVarKey("bearer_token_env_var"),
        }),
        macos: at(Base::CodexHome, "config.toml"),
        windows: at(Base::CodexHome, "config.toml"),
        linux: at(Base::CodexHome, "config.toml"),
        also: &[],
        tool_limit: Some(128),
        reload: "start Codex again",
    },
    ClientSpec {
        id: "gemini-cli",
        name: "Gemini CLI",
        format: Format::JsonComments,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Supported(RemoteShape {
            url_key: "httpUrl",
            type_value: None,
            bearer: Bearer::HeaderFromEnv("Bearer ${PATCHBAY_BEARER}"),
        }),
        macos: at(Base::Home, ".gemini/settings.json"),
        windows: at(Base::Home, ".gemini/settings.json"),
        linux: at(Base::Home, ".gemini/settings.json"),
        also: &[],
        tool_limit: None,
        reload: "start Gemini CLI again",
    },
    ClientSpec {
        id: "cline",
        name: "Cline",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Refused(NO_SECRETLESS_REMOTE),
        macos: at(
            Base::Config,
            "Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        ),
        windows: at(
            Base::Config,
            "Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        ),
        linux: at(
            Base::Config,
            "Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        ),
        // The Cline CLI, when the VS Code extension is not there.
        also: &[
            (Os::MacOs, CLINE_CLI),
            (Os::Windows, CLINE_CLI),
            (Os::Linux, CLINE_CLI),
        ],
        tool_limit: None,
        reload: "nothing: Cline watches its settings file",
    },
    ClientSpec {
        id: "lm-studio",
        name: "LM Studio",
        format: Format::Json,
        servers_key: "mcpServers",
        stdio_type: None,
        remote: Remote::Refused(NO_SECRETLESS_REMOTE),
        macos: at(Base::Home, ".lmstudio/mcp.json"),
        windows: at(Base::Home, ".lmstudio/mcp.json"),
        linux: at(Base::Home, ".lmstudio/mcp.json"),
        also: &[],
        tool_limit: None,
        reload: "restart LM Studio",
    },
];

/// The client with this id.
pub fn find(id: &str) -> Option<&'static ClientSpec> {
    CLIENTS.iter().find(|c| c.id == id)
}

/// Every id, comma-separated, for hints.
pub fn ids() -> String {
    CLIENTS.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_path_is_relative() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CLIENTS {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            for os in [Os::MacOs, Os::Windows, Os::Linux] {
                let loc = c.location(os);
                assert!(!loc.path.starts_with('/'), "{} {os:?}", c.id);
                let toml = loc.path.ends_with(".toml");
                assert_eq!(toml, c.format == Format::Toml, "{} format/path", c.id);
            }
        }
        assert_eq!(CLIENTS.len(), 10);
    }
}
