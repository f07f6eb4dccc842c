//! `patchbay`: the command line over the core. Parsing lives here; behaviour in `commands`.

mod commands;
mod failure;
mod secret_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Patchbay: one local MCP hub for every client on this machine.
#[derive(Debug, Parser)]
#[command(name = "patchbay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub in the foreground (Streamable HTTP on 127.0.0.1).
    Serve {
        /// Port to listen on (default: the config's `hub.port`, else 45450; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Speak MCP on stdio and forward to the hub, starting it if none runs (for client configs).
    Bridge {
        /// Serve only this profile's servers and tools.
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
    },
    /// Add a stdio server: `patchbay add NAME -- COMMAND [ARGS...]`, one from the MCP
    /// Registry: `patchbay add --from-registry REGISTRY-NAME [--version V] [--name NAME]`, an
    /// MCP Bundle: `patchbay add --mcpb FILE.mcpb [--name NAME]`, or an install link:
    /// `patchbay add --link LINK [--name NAME]`.
    ///
    /// From the registry, the values the record asks for (required arguments and environment
    /// variables) are prompted for, or read from stdin one per line in the order `patchbay
    /// show` lists them; a bundle's `user_config` likewise, in its manifest's order; an install
    /// link (`patchbay link NAME` makes one) the values it leaves open. Secret ones go to the
    /// keychain.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["command", "from_registry", "mcpb", "link"])))]
    Add {
        /// Server name: letters, digits, `-`, `_`; it prefixes every tool (`NAME__tool`).
        /// From the registry: default the last part of the registry name, made unique.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// The MCP Registry name of the server to add (`io.github.acme/weather`).
        #[arg(long, value_name = "REGISTRY-NAME", conflicts_with_all = ["command", "env", "secret_env", "cwd"])]
        from_registry: Option<String>,
        /// An MCP Bundle file (`.mcpb`) to unpack and add.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["command", "env", "secret_env", "cwd", "from_registry"])]
        mcpb: Option<PathBuf>,
        /// With `--from-registry`: this version instead of the latest.
        #[arg(long, requires = "from_registry")]
        version: Option<String>,
        /// An install link (`patchbay://install?v=1&...`) naming the server to add.
        #[arg(long, value_name = "LINK", conflicts_with_all = ["command", "env", "secret_env", "cwd", "from_registry", "mcpb"])]
        link: Option<String>,
        /// With `--from-registry`, `--mcpb` or `--link`: the local server name (same as NAME).
        #[arg(
            long = "name",
            value_name = "NAME",
            conflicts_with_all = ["name", "command"]
        )]
        local_name: Option<String>,
        /// Environment variable for the server, `KEY=VALUE` (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Environment variable whose value is kept in the keychain (repeatable); store it with
        /// `patchbay secret set NAME VAR`.
        #[arg(long = "secret-env", value_name = "VAR")]
        secret_env: Vec<String>,
        /// Working directory for the server.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Save it disabled.
        #[arg(long)]
        disabled: bool,
        /// Do not ask for approval (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, num_args = 1.., value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Print an install link for a configured server, to share (`patchbay add --link` or a
    /// click adds it elsewhere). Never a secret: keychain variables go by name; plain `env`
    /// values too, asked of the recipient, unless `--env-values`.
    Link {
        /// Server name.
        name: String,
        /// Carry the plain `env` values (not the keychain ones) instead of asking for them.
        #[arg(long)]
        env_values: bool,
    },
    /// Search the MCP Registry (`[catalog] registries`; the shipped snapshot when offline).
    Search {
        /// Words in the name, title or description (nothing: every server).
        #[arg(default_value = "")]
        term: String,
        /// Print the registry records as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the servers installed from the MCP Registry that have a newer version there.
    Outdated {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a server installed from the MCP Registry to its latest version (shown, then asked).
    Update {
        /// Server name.
        name: String,
        /// Do not ask for approval (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Show a server of the MCP Registry: its packages, what adding it runs and asks.
    Show {
        /// Its registry name (`io.github.acme/weather`).
        name: String,
        /// This version instead of the latest.
        #[arg(long)]
        version: Option<String>,
        /// Print the registry record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a remote MCP server (Streamable HTTP) by its URL, signing in when it asks.
    ///
    /// A server that answers 401 gets the OAuth sign-in: your browser opens at its
    /// authorization server; the tokens go to the OS keychain. `--header` stores a static
    /// credential (API key) instead, read from stdin.
    Connect {
        /// The server's MCP endpoint, e.g. `https://mcp.example.com/mcp`.
        url: String,
        /// Server name (default: derived from the host, e.g. `linear` for mcp.linear.app).
        #[arg(long)]
        name: Option<String>,
        /// Save it disabled.
        #[arg(long)]
        disabled: bool,
        /// A client id you registered at the provider (else Patchbay registers itself).
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// That client's secret; `-` reads it from stdin (or set PATCHBAY_CLIENT_SECRET).
        #[arg(
            long,
            value_name = "SECRET",
            env = "PATCHBAY_CLIENT_SECRET",
            hide_env_values = true,
            requires = "client_id"
        )]
        client_secret: Option<String>,
        /// The OAuth grant: `authorization-code` (a person signs in in the browser) or
        /// `client-credentials` (the client signs in on its own, with --client-secret or
        /// --private-key-file; renewed without a browser).
        #[arg(long, value_enum, default_value_t = GrantArg::AuthorizationCode)]
        grant: GrantArg,
        /// The client's private key (PEM) for `private_key_jwt` (RFC 7523), with
        /// `--grant client-credentials`; it is kept in the keychain.
        #[arg(
            long,
            value_name = "PEM",
            requires = "client_id",
            conflicts_with = "client_secret"
        )]
        private_key_file: Option<std::path::PathBuf>,
        /// The algorithm the key signs with: ES256, ES384, RS256, PS256, EdDSA, ... (default:
        /// the key's usual one).
        #[arg(long, value_name = "ALG", requires = "private_key_file")]
        signing_alg: Option<String>,
        /// A Client ID Metadata Document URL to present where the provider accepts one (default:
        /// PATCHBAY_CLIENT_METADATA_URL, else Patchbay's own in a release build).
        #[arg(long, value_name = "URL")]
        client_metadata_url: Option<String>,
        /// Ask for this scope (repeatable; default: what the server asks for).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Send this header with a value read from stdin (an API key) instead of signing in.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["client_id", "client_metadata_url", "scopes", "private_key_file"])]
        header: Option<String>,
    },
    /// Sign in again to a remote server (after `needs_sign_in` or a revoke).
    Login {
        /// Server name.
        name: String,
        /// Ask for this scope (repeatable; default: what the server asks for).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Named subsets of servers and tools, served at /p/NAME/mcp and by `bridge --profile`.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Remote servers' OAuth tokens: list, refresh, revoke (never shows a token).
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Remove a server from the config, its secrets from the keychain and, for a bundle, its
    /// unpacked directory.
    Remove {
        /// Server name.
        name: String,
    },
    /// Enable a server.
    Enable {
        /// Server name.
        name: String,
    },
    /// Disable a server (it stays in the config).
    Disable {
        /// Server name.
        name: String,
    },
    /// List configured servers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the hub and every server's state, pid, uptime, tools and last error.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a server's log (its stderr and the hub's notes about it).
    Logs {
        /// Server name.
        name: String,
        /// How many lines.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
        /// Keep printing new lines.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// List the tools the hub serves, with the server each comes from; review and accept
    /// tools held back because their server changed them.
    Tools {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<ToolsCommand>,
    },
    /// Tell the running hub to re-read the config file now.
    Reload,
    /// Add Patchbay to an MCP client's config (runs the bridge; `--direct` writes the hub's URL).
    Install {
        /// Client id: claude-desktop, cursor, vscode, claude-code, windsurf, zed, codex,
        /// gemini-cli, cline, lm-studio (`patchbay clients` lists them).
        client: String,
        /// Write a URL entry to the hub instead of the bridge (clients that can read the bearer
        /// from the environment or a prompt; the secret is never written).
        #[arg(long)]
        direct: bool,
        /// Serve only this profile to the client (`patchbay profile list`).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
    },
    /// Remove Patchbay's entry from an MCP client's config (nothing else is touched).
    Uninstall {
        /// Client id.
        client: String,
    },
    /// Put back the newest backup of a client's config (or list the backups).
    Restore {
        /// Client id.
        client: String,
        /// List the backups instead of restoring.
        #[arg(long)]
        list: bool,
        /// Restore this backup (a name from `--list`) instead of the newest.
        #[arg(long, value_name = "NAME", conflicts_with = "list")]
        backup: Option<String>,
        /// Print JSON (with `--list`).
        #[arg(long, requires = "list")]
        json: bool,
    },
    /// List the MCP clients Patchbay knows: detected, config file, entry state, tool limit.
    Clients {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Offer the servers in a client's config for adding to Patchbay, one by one.
    Import {
        /// Client id.
        client: String,
        /// Add every stdio server without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Keep stdio servers' environment secrets in the OS keychain (set, list, rm).
    Secret {
        #[command(subcommand)]
        command: secret_cmd::SecretCommand,
    },
    /// Check the config, the hub, its port and secret, and the runtimes servers need.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Make (or replace) a profile.
    Create {
        /// Profile name.
        name: String,
        /// Servers it serves, comma-separated (default: all).
        #[arg(long, value_name = "A,B")]
        servers: Option<String>,
        /// Tool patterns, comma-separated; `*` wildcard, `!` excludes
        /// (e.g. 'github__*,!github__delete_*'; default: every tool of its servers).
        #[arg(long, value_name = "PATTERNS", allow_hyphen_values = true)]
        tools: Option<String>,
    },
    /// List the profiles.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a profile: its rules, the tools it serves (hub running), and client tool limits.
    Show {
        /// Profile name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a profile.
    Rm {
        /// Profile name.
        name: String,
    },
}

/// `connect --grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GrantArg {
    /// Through the browser.
    AuthorizationCode,
    /// The client on its own.
    ClientCredentials,
}

#[derive(Debug, Subcommand)]
enum ToolsCommand {
    /// The tools held back because their server changed their definitions since they were
    /// accepted, with what changed (description, schemas, ...).
    Changes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept SERVER's changed tools (all of its held ones, or those named): clients get them
    /// again, as they are now.
    Accept {
        /// The server.
        server: String,
        /// Tools by their names on the server; none: all of its held ones.
        tools: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Per remote server: state, grant, expiry, refresh token held, issuer, client id, scopes.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refresh a server's access token now.
    Refresh {
        /// Server name.
        name: String,
    },
    /// Revoke a server's tokens at the provider (RFC 7009) and delete them from the keychain.
    Revoke {
        /// Server name.
        name: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let verbose_default = matches!(cli.command, Command::Serve { .. });
    init_logging(verbose_default);
    match commands::run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            std::process::ExitCode::from(failure.code())
        }
    }
}

/// Logs go to stderr (stdout is for data, and for the bridge it is the protocol).
fn init_logging(serve: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serve { "info,rmcp=warn" } else { "warn" };
    let filter =
        EnvFilter::try_from_env("PATCHBAY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}
