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
    Bridge,
    /// Add a stdio server: `patchbay add NAME -- COMMAND [ARGS...]`.
    Add {
        /// Server name: letters, digits, `-`, `_`; it prefixes every tool (`NAME__tool`).
        name: String,
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
        #[arg(last = true, required = true, num_args = 1.., value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Remove a server from the config, and its secrets from the keychain.
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
    /// List the tools the hub serves, with the server each comes from.
    Tools {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tell the running hub to re-read the config file now.
    Reload,
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
