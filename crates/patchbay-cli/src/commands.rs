//! What each command does, over the core.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use patchbay_core::api::{HubStatus, ToolEntry};
use patchbay_core::api::{ServerState, ServerStatus};
use patchbay_core::config::{self, Config, ConfigError, ServerConfig};
use patchbay_core::control::{self, ClientError};
use patchbay_core::discovery::{self, Discovery, DiscoveryError};
use patchbay_core::oauth::Grant;
use patchbay_core::oauth::connect::ConnectRequest;
use patchbay_core::paths::Paths;
use patchbay_core::remote;
use patchbay_core::serve::{ServeError, ServeOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::Command;
use crate::failure::{Failure, Kind};

type Result<T = ()> = std::result::Result<T, Failure>;

/// `println!` for data on stdout: a reader that went away (`patchbay list | head -1`) ends
/// the command quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::emit(format_args!($($arg)*))
    };
}
pub(crate) use out;

pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{args}").and_then(|()| stdout.flush())
        && err.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Run one command.
pub fn run(command: Command) -> Result {
    let paths = Paths::from_env().map_err(|e| Failure::from_error(Kind::General, &e))?;
    match command {
        Command::Serve { port } => serve(paths, port),
        Command::Bridge { profile } => bridge(paths, profile),
        Command::Add {
            mcpb: Some(file),
            name,
            local_name,
            disabled,
            yes,
            ..
        } => catalog::add_mcpb_file(&paths, &file, local_name.or(name), disabled, yes),
        Command::Add {
            from_registry: Some(registry_name),
            name,
            local_name,
            version,
            disabled,
            yes,
            ..
        } => catalog::add(
            &paths,
            catalog::Wanted::Registry {
                name: &registry_name,
                version: version.as_deref(),
            },
            local_name.or(name),
            disabled,
            yes,
        ),
        Command::Add {
            link: Some(link),
            name,
            local_name,
            disabled,
            yes,
            ..
        } => catalog::add(
            &paths,
            catalog::Wanted::Link(&link),
            local_name.or(name),
            disabled,
            yes,
        ),
        Command::Add {
            name,
            env,
            secret_env,
            cwd,
            disabled,
            yes,
            command,
            ..
        } => {
            let name = name.ok_or_else(|| {
                Failure::new(
                    Kind::General,
                    "a server name is needed: `patchbay add NAME -- COMMAND`",
                )
            })?;
            add(&paths, name, (env, secret_env), cwd, disabled, yes, command)
        }
        Command::Link { name, env_values } => catalog::link(&paths, &name, env_values),
        Command::Search { term, json } => catalog::search(&paths, &term, json),
        Command::Outdated { json } => catalog::outdated(&paths, json),
        Command::Update { name, yes } => catalog::update(&paths, &name, yes),
        Command::Show {
            name,
            version,
            json,
        } => catalog::show(&paths, &name, version.as_deref(), json),
        Command::Connect {
            url,
            name,
            disabled,
            client_id,
            client_secret,
            grant,
            private_key_file,
            signing_alg,
            client_metadata_url,
            scopes,
            header,
        } => {
            let client_secret = match client_secret.as_deref() {
                Some("-") => Some(
                    crate::secret_cmd::read_secret(
                        "Client secret (not shown): ",
                        "printf %s \"$SECRET\" | patchbay connect URL --grant client-credentials --client-id ID --client-secret -",
                    )?
                    .expose()
                    .to_owned(),
                ),
                _ => client_secret,
            };
            let private_key = match &private_key_file {
                Some(path) => Some(fs_err::read_to_string(path).map_err(|err| {
                    Failure::from_error(Kind::General, &err)
                        .hint("give the path of an unencrypted PEM private key")
                })?),
                None => None,
            };
            let header_value = match &header {
                Some(header) => {
                    let shown = name.clone().unwrap_or_else(|| remote::default_name(&url));
                    Some(
                        crate::secret_cmd::read_value(&shown, header)?
                            .expose()
                            .to_owned(),
                    )
                }
                None => None,
            };
            signin::run_connect(
                &paths,
                ConnectRequest {
                    url: Some(url),
                    name,
                    disabled,
                    client_id,
                    client_secret,
                    grant: Some(match grant {
                        crate::GrantArg::AuthorizationCode => Grant::AuthorizationCode,
                        crate::GrantArg::ClientCredentials => Grant::ClientCredentials,
                    }),
                    private_key,
                    signing_alg,
                    client_metadata_url,
                    scopes,
                    header_name: header,
                    header_value,
                    ..ConnectRequest::default()
                },
            )
        }
        Command::Login { name, scopes } => signin::run_connect(
            &paths,
            ConnectRequest {
                name: Some(name),
                login: true,
                scopes,
                ..ConnectRequest::default()
            },
        ),
        Command::Profile { command } => match command {
            crate::ProfileCommand::Create {
                name,
                servers,
                tools,
            } => profile::create(&paths, &name, servers, tools),
            crate::ProfileCommand::List { json } => profile::list(&paths, json),
            crate::ProfileCommand::Show { name, json } => profile::show(&paths, &name, json),
            crate::ProfileCommand::Rm { name } => profile::remove(&paths, &name),
        },
        Command::Tokens { command } => match command {
            crate::TokensCommand::List { json } => signin::list(&paths, json),
            crate::TokensCommand::Refresh { name } => signin::refresh(&paths, &name),
            crate::TokensCommand::Revoke { name } => signin::revoke(&paths, &name),
        },
        Command::Remove { name } => {
            let server = load_config(&paths)?.servers.get(&name).cloned();
            let secret_env = (server.as_ref()).map(|s| s.secret_env.clone());
            edit(&paths, &name, "removed", |p| {
                config::edit::remove_server(p, &name)
            })?;
            crate::secret_cmd::forget_server(&paths, &name, &secret_env.unwrap_or_default());
            if let Some(source) = server.and_then(|s| s.bundle) {
                match patchbay_core::bundle::remove(&paths, &source) {
                    Ok(()) => eprintln!("deleted the unpacked bundle {}", source.dir.display()),
                    Err(err) => eprintln!("warning: {}", patchbay_core::human::error_chain(&err)),
                }
            }
            Ok(())
        }
        Command::Secret { command } => crate::secret_cmd::run(&paths, command),
        Command::Enable { name } => edit(&paths, &name, "enabled", |p| {
            config::edit::set_enabled(p, &name, true)
        }),
        Command::Disable { name } => edit(&paths, &name, "disabled", |p| {
            config::edit::set_enabled(p, &name, false)
        }),
        Command::List { json } => list(&paths, json),
        Command::Status { json } => status(&paths, json),
        Command::Logs {
            name,
            lines,
            follow,
        } => logs(&paths, &name, lines, follow),
        Command::Tools {
            json,
            command: None,
        } => tools(&paths, json),
        Command::Tools {
            command: Some(crate::ToolsCommand::Changes { json }),
            ..
        } => review::changes(&paths, json),
        Command::Tools {
            command: Some(crate::ToolsCommand::Accept { server, tools }),
            ..
        } => review::accept(&paths, &server, &tools),
        Command::Reload => reload(&paths),
        Command::Doctor { json } => doctor(&paths, json),
        Command::Install {
            client,
            direct,
            profile,
        } => clients::install(&paths, &client, direct, profile),
        Command::Uninstall { client } => clients::uninstall(&paths, &client),
        Command::Restore {
            client,
            list,
            backup,
            json,
        } => clients::restore(&paths, &client, list, backup, json),
        Command::Clients { json } => clients::list(&paths, json),
        Command::Import { client, yes } => clients::import(&paths, &client, yes),
    }
}

mod catalog;
mod clients;
mod profile;
mod review;
mod signin;

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds")
}

pub(crate) fn config_failure(err: ConfigError) -> Failure {
    let kind = match err {
        ConfigError::NotFound(_) => Kind::NotFound,
        ConfigError::Exists(_) => Kind::Conflict,
        _ => Kind::Config,
    };
    let hint = match &err {
        ConfigError::Parse { .. } => {
            Some("fix the file by hand; the running hub keeps its last good config")
        }
        ConfigError::NotFound(_) => Some("`patchbay list` shows the configured servers"),
        ConfigError::Exists(_) => Some("pick another name, or `patchbay remove` the old one first"),
        _ => None,
    };
    let failure = Failure::from_error(kind, &err);
    match hint {
        Some(h) => failure.hint(h),
        None => failure,
    }
}

fn client_failure(err: ClientError) -> Failure {
    match &err {
        ClientError::Api { status: 404, .. } => Failure::from_error(Kind::NotFound, &err),
        ClientError::Api { status: 422, .. } => Failure::from_error(Kind::Config, &err),
        _ => Failure::from_error(Kind::Hub, &err).hint("`patchbay doctor` checks the hub"),
    }
}

fn serve(paths: Paths, port: Option<u16>) -> Result {
    // One worker: a forwarded call is a chain of short hand-offs (HTTP task, session worker,
    // handler, the server's session), and with two workers each hand-off could wake the other
    // thread. One worker cut the hub's median `echo` by 12-17% and its CPU per call by about
    // a fifth in the benchmark, with the same throughput for 16 clients. Blocking work (the
    // keychain, client config scans) runs on the blocking pool, not on the worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime builds");
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        let result = patchbay_core::serve::serve(paths, ServeOptions { port }, shutdown, |d| {
            eprintln!("patchbay hub listening on {} (pid {})", d.url, d.pid);
        })
        .await;
        result.map_err(|err| match &err {
            ServeError::Discovery(DiscoveryError::AlreadyRunning(found)) => Failure::new(
                Kind::Conflict,
                format!(
                    "a hub is already running (pid {}) at {}",
                    found.pid, found.url
                ),
            )
            .hint("use it as it is; `patchbay status` shows it"),
            ServeError::Discovery(DiscoveryError::Starting) => {
                Failure::new(Kind::Conflict, "another hub is starting up")
                    .hint("wait a moment and run `patchbay status`")
            }
            ServeError::Bind { .. } => Failure::from_error(Kind::Conflict, &err).hint(
                "another program uses the port: pass `--port N` or set `hub.port` in the config",
            ),
            ServeError::Config(_) => Failure::from_error(Kind::Config, &err)
                .hint("fix the config file, then start again"),
            _ => Failure::from_error(Kind::General, &err),
        })
    });
    // A keychain call stuck at an unlock prompt nobody answers must not keep the hub alive.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn bridge(paths: Paths, profile: Option<String>) -> Result {
    let exe = std::env::current_exe()?;
    runtime()
        .block_on(patchbay_core::bridge::run(
            paths,
            patchbay_core::bridge::BridgeOptions::new(exe, profile),
        ))
        .map_err(|err| match err {
            patchbay_core::bridge::BridgeError::NoProfile(_) => Failure::new(Kind::NotFound, &err)
                .hint("`patchbay profile list` shows the profiles; `patchbay profile create` makes one"),
            err => Failure::from_error(Kind::Hub, &err).hint("`patchbay doctor` checks the hub"),
        })
}

fn add(
    paths: &Paths,
    name: String,
    (env, secret_env): (Vec<String>, Vec<String>),
    cwd: Option<std::path::PathBuf>,
    disabled: bool,
    yes: bool,
    command: Vec<String>,
) -> Result {
    let mut words = command.into_iter();
    let program = words
        .next()
        .ok_or_else(|| Failure::new(Kind::General, "no command given"))?;
    let mut server = ServerConfig::new(program, words.collect());
    server.start = match Config::load(&paths.config_file) {
        Ok(config) => config.hub.default_start,
        Err(_) => config::HubSettings::default().default_start,
    };
    for pair in env {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Failure::new(Kind::General, format!("`--env {pair}` is not KEY=VALUE"))
        })?;
        server.env.insert(key.to_owned(), value.to_owned());
    }
    server.secret_env = secret_env;
    server.cwd = cwd;
    server.enabled = !disabled;
    if !patchbay_core::names::valid_server_name(&name) {
        return Err(config_failure(ConfigError::InvalidName(name)));
    }

    if !approve_server(paths, &name, &server, yes)? {
        return Err(Failure::new(Kind::Declined, "not saved"));
    }
    config::edit::add_server(&paths.config_file, &name, &server).map_err(config_failure)?;
    eprintln!("added `{name}` to {}", paths.config_file.display());
    crate::secret_cmd::report_missing(paths, &name, &server.secret_env);
    nudge_hub(paths);
    Ok(())
}

/// Show the exact command a server will run, whole, and ask before it is saved (`yes` skips
/// the question; without a terminal to ask on, that is a failure, not a silent yes).
pub(super) fn approve_server(
    paths: &Paths,
    name: &str,
    server: &ServerConfig,
    yes: bool,
) -> Result<bool> {
    let shown = server.shown_command_line();
    eprintln!("Server `{name}` will run this command:\n\n    {shown}\n");
    if let Some(cwd) = &server.cwd {
        eprintln!("in directory {}\n", cwd.display());
    }
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            Kind::Declined,
            "approval needed but stdin is not a terminal",
        )
        .hint("pass `--yes` to approve from a script"));
    }
    eprint!("Save it to {}? [y/N] ", paths.config_file.display());
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn edit(
    paths: &Paths,
    name: &str,
    done: &str,
    change: impl FnOnce(&std::path::Path) -> std::result::Result<Config, ConfigError>,
) -> Result {
    change(&paths.config_file).map_err(config_failure)?;
    eprintln!("{done} `{name}`");
    nudge_hub(paths);
    Ok(())
}

/// Tell a running hub to apply the config now (it also watches the file; this makes the CLI's
/// change take effect before the command returns).
pub(crate) fn nudge_hub(paths: &Paths) {
    if let Some(found) = discovery::find_running(paths) {
        let result =
            runtime().block_on(async { control::Client::new(&found)?.post("/reload").await });
        if let Err(err) = result {
            eprintln!("warning: the running hub did not reload: {err}");
        }
    }
}

fn load_config(paths: &Paths) -> Result<Config> {
    Config::load(&paths.config_file).map_err(config_failure)
}

fn hub_status(found: &Discovery) -> Result<HubStatus> {
    runtime()
        .block_on(async {
            control::Client::new(found)?
                .get::<HubStatus>("/status")
                .await
        })
        .map_err(client_failure)
}

fn list(paths: &Paths, json: bool) -> Result {
    let config = load_config(paths)?;
    let live: BTreeMap<String, ServerStatus> = match discovery::find_running(paths) {
        Some(found) => hub_status(&found)?
            .servers
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect(),
        None => BTreeMap::new(),
    };
    if json {
        let rows: Vec<_> = config
            .servers
            .iter()
            .map(|(name, s)| {
                json!({
                    "name": name,
                    "enabled": s.enabled,
                    "command": (!s.command.is_empty()).then_some(&s.command),
                    "url": s.url,
                    "args": s.args,
                    "env": s.env.keys().collect::<Vec<_>>(),
                    "secret_env": s.secret_env,
                    "cwd": s.cwd,
                    "state": live.get(name).map(|l| l.state.as_str()),
                    "tools": live.get(name).map(|l| l.tools),
                })
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&rows).expect("json"));
        return Ok(());
    }
    if config.servers.is_empty() {
        out!("no servers configured; add one with `patchbay add NAME -- COMMAND ARGS...`");
        return Ok(());
    }
    for (name, s) in &config.servers {
        let state = match (s.enabled, live.get(name)) {
            (false, _) => "disabled".to_owned(),
            (true, Some(l)) => l.state.as_str().to_owned(),
            (true, None) => "hub not running".to_owned(),
        };
        out!("{name:<20} {state:<16} {}", s.command_line());
    }
    Ok(())
}

fn status(paths: &Paths, json: bool) -> Result {
    let found = discovery::find_running(paths);
    let (hub, servers) = match &found {
        Some(found) => {
            let status = hub_status(found)?;
            (Some((found, status.version)), status.servers)
        }
        None => {
            let config = load_config(paths)?;
            let servers = config
                .servers
                .iter()
                .map(|(name, s)| ServerStatus::not_running(name, s, Some("hub not running")))
                .collect();
            (None, servers)
        }
    };
    if json {
        let value = json!({
            "hub": hub.as_ref().map(|(d, v)| json!({"running": true, "pid": d.pid, "url": d.url, "port": d.port, "version": v}))
                .unwrap_or_else(|| json!({"running": false})),
            "config_file": paths.config_file,
            "servers": servers,
        });
        out!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(());
    }
    match &hub {
        Some((d, v)) => out!("hub: running, pid {}, {} (v{v})", d.pid, d.url),
        None => {
            out!("hub: not running (start it with `patchbay serve`; client bridges start it too)")
        }
    }
    out!("config: {}", paths.config_file.display());
    if servers.is_empty() {
        out!("no servers configured");
    }
    for s in &servers {
        let pid = s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        let uptime = s
            .uptime_secs
            .map(patchbay_core::human::span)
            .unwrap_or_else(|| "-".into());
        let mut line = format!(
            "{:<20} {:<11} pid {:<8} up {:<8} tools {:<4}",
            s.name,
            s.state.as_str(),
            pid,
            uptime,
            s.tools
        );
        if let Some(ms) = s.retry_in_ms {
            line.push_str(&format!(" retry in {:.1}s", ms as f64 / 1000.0));
        }
        if let Some(err) = &s.last_error {
            line.push_str(&format!(" last error: {err}"));
        }
        out!("{}", line.trim_end());
    }
    for s in servers
        .iter()
        .filter(|s| s.state == ServerState::NeedsSignIn)
    {
        eprintln!(
            "notice: `{0}` needs a new sign-in; run `patchbay login {0}`",
            s.name
        );
    }
    for s in servers.iter().filter(|s| s.tools_held > 0) {
        eprintln!(
            "notice: `{}` changed {} tool(s) since you accepted them; they are held back: \
             `patchbay tools changes` shows what changed",
            s.name, s.tools_held
        );
    }
    for s in &servers {
        if let Some(version) = &s.update {
            eprintln!(
                "notice: `{0}` {version} is in the registry; `patchbay update {0}`",
                s.name
            );
        }
    }
    Ok(())
}

fn logs(paths: &Paths, name: &str, lines: usize, follow: bool) -> Result {
    let config = load_config(paths)?;
    if !config.servers.contains_key(name) {
        return Err(config_failure(ConfigError::NotFound(name.to_owned())));
    }
    let path = paths.server_log(name);
    let shown = match discovery::find_running(paths) {
        Some(found) => runtime()
            .block_on(async {
                control::Client::new(&found)?
                    .get::<serde_json::Value>(&format!("/servers/{name}/logs?lines={lines}"))
                    .await
            })
            .map_err(client_failure)?["lines"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        None => patchbay_core::logs::tail(&path, lines)?,
    };
    if shown.is_empty() && !follow {
        eprintln!("no log yet for `{name}` ({})", path.display());
    }
    for line in &shown {
        out!("{line}");
    }
    if follow {
        follow_file(&path)?;
    }
    Ok(())
}

/// Print what is appended to `path`, polling; survives rotation by reopening.
fn follow_file(path: &std::path::Path) -> Result {
    use std::io::{Read, Seek, SeekFrom};
    let mut offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let Ok(mut file) = std::fs::File::open(path) else {
            continue;
        };
        let len = file.metadata()?.len();
        if len < offset {
            offset = 0; // rotated
        }
        if len > offset {
            file.seek(SeekFrom::Start(offset))?;
            let mut text = Vec::new();
            file.read_to_end(&mut text)?;
            offset += text.len() as u64;
            let written = std::io::stdout()
                .write_all(&text)
                .and_then(|()| std::io::stdout().flush());
            match written {
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
    }
}

/// The running hub, or the failure saying to start one.
fn running_hub(paths: &Paths) -> Result<Discovery> {
    discovery::find_running(paths).ok_or_else(|| {
        Failure::new(Kind::Hub, "the hub is not running").hint("start it with `patchbay serve`")
    })
}

fn tools(paths: &Paths, json: bool) -> Result {
    let found = running_hub(paths)?;
    let entries: Vec<ToolEntry> = runtime()
        .block_on(async { control::Client::new(&found)?.get("/tools").await })
        .map_err(client_failure)?;
    if json {
        out!("{}", serde_json::to_string_pretty(&entries).expect("json"));
    } else {
        for e in &entries {
            out!(
                "{:<48} {}",
                e.name,
                e.description
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    Ok(())
}

fn reload(paths: &Paths) -> Result {
    let found = running_hub(paths)?;
    runtime()
        .block_on(async { control::Client::new(&found)?.post("/reload").await })
        .map_err(client_failure)?;
    eprintln!("config applied");
    Ok(())
}

pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) hint: Option<String>,
}

fn doctor(paths: &Paths, json: bool) -> Result {
    let mut checks = Vec::new();
    let config = Config::load(&paths.config_file);
    checks.push(match &config {
        Ok(c) => Check {
            name: "config",
            ok: true,
            detail: format!(
                "{} ({} servers)",
                paths.config_file.display(),
                c.servers.len()
            ),
            hint: None,
        },
        Err(err) => Check {
            name: "config",
            ok: false,
            detail: err.to_string(),
            hint: Some("fix the file; the hub keeps its last good config".into()),
        },
    });
    let found = discovery::find_running(paths);
    match &found {
        Some(d) => {
            let answered = hub_status(d);
            checks.push(Check {
                name: "hub",
                ok: answered.is_ok(),
                detail: match &answered {
                    Ok(s) => format!("running, pid {}, {} (v{})", d.pid, d.url, s.version),
                    Err(_) => format!("pid {} holds the lock but {} does not answer", d.pid, d.url),
                },
                hint: answered
                    .is_err()
                    .then(|| "stop that process and run `patchbay serve`".into()),
            });
        }
        None => {
            let port = config
                .as_ref()
                .map(|c| c.hub.port)
                .unwrap_or(config::DEFAULT_PORT);
            let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
            checks.push(Check {
                name: "hub",
                ok: true,
                detail: "not running (a client's bridge starts it)".into(),
                hint: None,
            });
            checks.push(Check {
                name: "port",
                ok: free,
                detail: format!(
                    "127.0.0.1:{port} {}",
                    if free {
                        "is free"
                    } else {
                        "is taken by another program"
                    }
                ),
                hint: (!free).then(|| "set `hub.port` in the config to a free port".into()),
            });
        }
    }
    let secret = paths.secret_file();
    checks.push(match std::fs::metadata(&secret) {
        Ok(meta) => {
            #[cfg(unix)]
            let private = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o077 == 0
            };
            #[cfg(not(unix))]
            let private = {
                let _ = meta;
                true
            };
            Check {
                name: "secret",
                ok: private,
                detail: format!(
                    "{} {}",
                    secret.display(),
                    if private {
                        "(user-only)"
                    } else {
                        "is readable by others"
                    }
                ),
                hint: (!private).then(|| format!("chmod 600 {}", secret.display())),
            }
        }
        Err(_) => Check {
            name: "secret",
            ok: true,
            detail: "not made yet (made on the hub's first start)".into(),
            hint: None,
        },
    });
    checks.push(crate::secret_cmd::keychain_check(
        paths,
        config.as_ref().ok(),
    ));
    let commands: Vec<String> = config
        .as_ref()
        .map(|c| {
            c.servers
                .values()
                .filter(|s| s.enabled)
                .map(|s| s.command.clone())
                .collect()
        })
        .unwrap_or_default();
    for (tool, used_by) in [
        ("node", "npx"),
        ("npx", "npx"),
        ("uvx", "uvx"),
        ("python3", "python3"),
    ] {
        let found_at = which(tool);
        let needed = commands.iter().any(|c| c == tool || c == used_by);
        checks.push(Check {
            name: tool,
            ok: found_at.is_some() || !needed,
            detail: match &found_at {
                Some(p) => p.display().to_string(),
                None if needed => "not found, and a configured server runs it".into(),
                None => "not found (no configured server needs it)".into(),
            },
            hint: (found_at.is_none() && needed)
                .then(|| format!("install {tool} or change the servers that use it")),
        });
    }
    for (name, s) in config
        .as_ref()
        .map(|c| c.servers.iter().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if s.url.is_some() {
            continue; // reachability of a remote server is what `patchbay status` shows
        }
        let lookup = patchbay_core::exec::Lookup::native(
            s.env
                .get("PATH")
                .map(std::ffi::OsString::from)
                .or_else(|| std::env::var_os("PATH"))
                .as_deref(),
            std::env::var_os("PATHEXT").as_deref(),
        );
        let runnable = lookup.find(&s.command).is_some();
        checks.push(Check {
            name: "server",
            ok: runnable || !s.enabled,
            detail: format!(
                "`{name}`: {} {}",
                s.command,
                if runnable {
                    "found"
                } else {
                    "not found on PATH"
                }
            ),
            hint: (!runnable && s.enabled)
                .then(|| format!("install `{}` or fix `servers.{name}.command`", s.command)),
        });
    }
    let all_ok = checks.iter().all(|c| c.ok);
    if json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail, "hint": c.hint}))
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": all_ok, "checks": rows})).expect("json")
        );
    } else {
        for c in &checks {
            out!(
                "{} {:<8} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
            if let Some(h) = &c.hint {
                out!("              hint: {h}");
            }
        }
    }
    if all_ok {
        Ok(())
    } else {
        Err(Failure::new(Kind::General, "some checks failed"))
    }
}

/// Where `program` is found the way the hub will find it (PATHEXT on Windows, `exec`).
pub(super) fn which(program: &str) -> Option<std::path::PathBuf> {
    patchbay_core::exec::Lookup::from_env().find(program)
}
