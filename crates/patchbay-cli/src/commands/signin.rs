//! `connect`, `login` and `tokens`: remote servers' sign-ins and credentials.
//!
//! With a hub running, everything goes through its control API: the sign-in runs in the hub
//! (it is the only process that may use a refresh token) and this command prints the flow's
//! progress as it polls it. With no hub, the same core functions run here.

use std::time::{Duration, Instant};

use patchbay_core::control::{self, ClientError};
use patchbay_core::discovery;
use patchbay_core::oauth::connect::{ConnectError, ConnectRequest, Connected, connect};
use patchbay_core::oauth::keeper::Revoked;
use patchbay_core::oauth::{Keeper, KeeperError, Progress, Stage, TokenState, TokenStatus};
use patchbay_core::paths::Paths;
use patchbay_core::vault::Vault;
use tokio_util::sync::CancellationToken;

use super::{Result, config_failure, load_config, runtime};
use crate::failure::{Failure, Kind};

/// How often the CLI reads a running flow.
const POLL: Duration = Duration::from_millis(150);

fn show(progress: &Progress) {
    match (&progress.stage, &progress.url) {
        (Stage::WaitingForBrowser, Some(url)) => {
            eprintln!(
                "Opening your browser to sign in. If it does not open, visit:\n\n    {url}\n"
            );
            eprintln!("{} (Ctrl-C cancels) ...", progress.message);
        }
        (Stage::Done, _) => {}
        _ => eprintln!("{} ...", progress.message),
    }
}

fn api_failure(err: ClientError) -> Failure {
    match err {
        ClientError::Api {
            status: 404,
            message,
        } => Failure::new(Kind::NotFound, message),
        // The hub's 409: a sign-in is needed (the message says how), as without a hub.
        ClientError::Api {
            status: 409,
            message,
        } => Failure::new(Kind::General, message),
        other => Failure::from_error(Kind::Hub, &other),
    }
}

fn connect_failure(err: &ConnectError) -> Failure {
    let failure = match err {
        ConnectError::Config(config) => return config_failure_ref(config, err),
        ConnectError::Vault(_) => Failure::new(Kind::Vault, err),
        ConnectError::Probe(patchbay_core::remote::ProbeError::BadUrl(_)) => {
            Failure::new(Kind::Config, err)
        }
        ConnectError::SignIn(patchbay_core::oauth::SignInError::Vault(_)) => {
            Failure::new(Kind::Vault, err)
        }
        _ => Failure::new(Kind::General, err),
    };
    match err.hint() {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

fn config_failure_ref(config: &patchbay_core::config::ConfigError, err: &ConnectError) -> Failure {
    use patchbay_core::config::ConfigError;
    let kind = match config {
        ConfigError::NotFound(_) => Kind::NotFound,
        ConfigError::Exists(_) => Kind::Conflict,
        _ => Kind::Config,
    };
    let failure = Failure::new(kind, err);
    match err.hint() {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}

fn said(connected: &Connected, paths: &Paths) {
    match connected.auth.as_str() {
        "oauth" => {
            let scopes = if connected.scopes.is_empty() {
                "no particular scope".to_owned()
            } else {
                connected.scopes.join(" ")
            };
            eprintln!(
                "Signed in to `{}` at {} ({scopes}); tokens are in the OS keychain",
                connected.server,
                connected
                    .issuer
                    .as_deref()
                    .unwrap_or("its authorization server")
            );
        }
        "header" => eprintln!(
            "`{}` accepted the header; its value is in the OS keychain",
            connected.server
        ),
        _ => eprintln!("{} answers without sign-in", connected.url),
    }
    if connected.added {
        eprintln!(
            "added `{0}` to {1}; its tools appear as `{0}__<tool>`",
            connected.server,
            paths.config_file.display()
        );
    }
}

/// `patchbay connect` and `patchbay login`.
pub(crate) fn run_connect(paths: &Paths, request: ConnectRequest) -> Result {
    let rt = runtime();
    match discovery::find_running(paths) {
        Some(found) => {
            let client = control::Client::new(&found).map_err(api_failure)?;
            rt.block_on(in_hub(&client, paths, request))
        }
        None => rt.block_on(here(paths, request)),
    }
}

async fn here(paths: &Paths, request: ConnectRequest) -> Result {
    let vault = Vault::for_paths(paths);
    let cancel = CancellationToken::new();
    let report = |progress: Progress| show(&progress);
    let outcome = tokio::select! {
        outcome = connect(paths, &vault, request, &report, &cancel) => outcome,
        _ = tokio::signal::ctrl_c() => {
            return Err(Failure::new(Kind::Declined, "sign-in cancelled; nothing was saved"));
        }
    };
    match outcome {
        Ok(done) => {
            said(&done.connected, paths);
            Ok(())
        }
        Err(err) => Err(connect_failure(&err)),
    }
}

async fn in_hub(client: &control::Client, paths: &Paths, request: ConnectRequest) -> Result {
    let started: serde_json::Value = client
        .post_json("/sign-in", &request)
        .await
        .map_err(api_failure)?;
    let flow = started["flow"]
        .as_str()
        .ok_or_else(|| Failure::new(Kind::Hub, "the hub did not say which sign-in it started"))?
        .to_owned();
    let deadline =
        Instant::now() + patchbay_core::oauth::sign_in_timeout() + Duration::from_secs(120);
    let mut shown = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let view: patchbay_core::api::FlowView = client
            .get(&format!("/sign-in/{flow}"))
            .await
            .map_err(api_failure)?;
        for progress in view.progress.iter().skip(shown) {
            if !matches!(progress.stage, Stage::Failed | Stage::Cancelled) {
                show(progress);
            }
        }
        shown = view.progress.len();
        if view.finished {
            if let Some(connected) = &view.connected {
                said(connected, paths);
                return Ok(());
            }
            let kind = if view.cancelled {
                Kind::Declined
            } else {
                Kind::General
            };
            let failure = Failure::new(kind, view.error.unwrap_or_else(|| "sign-in failed".into()));
            return Err(match view.hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            });
        }
        if Instant::now() >= deadline {
            let _ = client.post(&format!("/sign-in/{flow}/cancel")).await;
            return Err(Failure::new(
                Kind::General,
                "the sign-in did not finish in time",
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut ctrl_c => {
                let _ = client.post(&format!("/sign-in/{flow}/cancel")).await;
                return Err(Failure::new(Kind::Declined, "sign-in cancelled; nothing was saved"));
            }
        }
    }
}

/// What `tokens` acts on: every remote server, or one.
fn remote_servers(paths: &Paths, only: Option<&str>) -> Result<Vec<(String, String)>> {
    let config = load_config(paths)?;
    if let Some(name) = only {
        return match config.servers.get(name) {
            Some(server) => match &server.url {
                Some(url) => Ok(vec![(name.to_owned(), url.clone())]),
                None => Err(Failure::new(
                    Kind::General,
                    format!("`{name}` is a stdio server; it has no tokens"),
                )),
            },
            None => Err(config_failure(
                patchbay_core::config::ConfigError::NotFound(name.to_owned()),
            )),
        };
    }
    Ok(config
        .servers
        .iter()
        .filter_map(|(n, s)| s.url.clone().map(|u| (n.clone(), u)))
        .collect())
}

fn keeper_failure(err: KeeperError) -> Failure {
    match &err {
        KeeperError::NeedsSignIn { server, .. } => {
            Failure::new(Kind::General, &err).hint(format!("run `patchbay login {server}`"))
        }
        KeeperError::Vault(_) => Failure::new(Kind::Vault, &err),
        KeeperError::NoTokens(server) => Failure::new(Kind::NotFound, &err)
            .hint(format!("sign in with `patchbay login {server}`")),
        KeeperError::Transient { .. } => Failure::new(Kind::General, &err),
        _ => Failure::new(Kind::General, &err),
    }
}

fn when(status: &TokenStatus) -> String {
    match status.expires_in {
        Some(0) => "expired".into(),
        Some(secs) => format!("in {}", patchbay_core::human::span(secs)),
        None => "-".into(),
    }
}

/// `patchbay tokens list`.
pub(crate) fn list(paths: &Paths, json: bool) -> Result {
    let statuses = match discovery::find_running(paths) {
        Some(found) => {
            let client = control::Client::new(&found).map_err(api_failure)?;
            runtime()
                .block_on(client.get::<Vec<TokenStatus>>("/tokens"))
                .map_err(api_failure)?
        }
        None => {
            let vault = Vault::for_paths(paths);
            let servers = remote_servers(paths, None)?;
            runtime().block_on(async {
                let mut statuses = Vec::new();
                for (name, url) in servers {
                    statuses.push(
                        Keeper::new(name, url, vault.clone(), None, None)
                            .status()
                            .await,
                    );
                }
                statuses
            })
        }
    };
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&statuses).expect("statuses serialize")
        );
        return Ok(());
    }
    if statuses.is_empty() {
        eprintln!("no remote servers; add one with `patchbay connect URL`");
        return Ok(());
    }
    out!(
        "{:<20} {:<14} {:<19} {:<12} {:<8} {:<30} SCOPES",
        "SERVER",
        "STATE",
        "GRANT",
        "EXPIRES",
        "REFRESH",
        "ISSUER"
    );
    for s in &statuses {
        out!(
            "{:<20} {:<14} {:<19} {:<12} {:<8} {:<30} {}",
            s.server,
            s.state.as_str(),
            s.grant.map_or("-", |g| g.as_str()),
            when(s),
            if s.refresh_token { "yes" } else { "no" },
            s.issuer.as_deref().or(s.header.as_deref()).unwrap_or("-"),
            s.scopes.join(" ")
        );
        if let Some(message) = s
            .message
            .as_deref()
            .filter(|_| s.state == TokenState::NeedsSignIn)
        {
            out!("    {message}");
        }
    }
    Ok(())
}

/// One token action on `name`: through the running hub, the only process that may use a
/// refresh token, else with a keeper of this process's own.
fn token_action<T, Fut>(
    paths: &Paths,
    name: &str,
    action: &str,
    here: impl FnOnce(std::sync::Arc<Keeper>) -> Fut,
) -> Result<T>
where
    T: serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = std::result::Result<T, KeeperError>>,
{
    let servers = remote_servers(paths, Some(name))?;
    match discovery::find_running(paths) {
        Some(found) => {
            let client = control::Client::new(&found).map_err(api_failure)?;
            runtime()
                .block_on(
                    client.post_json::<_, T>(
                        &format!("/tokens/{name}/{action}"),
                        &serde_json::json!({}),
                    ),
                )
                .map_err(api_failure)
        }
        None => {
            let (name, url) = servers.into_iter().next().expect("one server");
            let keeper = Keeper::new(name, url, Vault::for_paths(paths), None, None);
            runtime().block_on(here(keeper)).map_err(keeper_failure)
        }
    }
}

/// `patchbay tokens refresh NAME`.
pub(crate) fn refresh(paths: &Paths, name: &str) -> Result {
    let status: TokenStatus =
        token_action(
            paths,
            name,
            "refresh",
            |k| async move { k.refresh_now().await },
        )?;
    eprintln!(
        "refreshed the tokens of `{name}`; the access token expires {}",
        when(&status)
    );
    Ok(())
}

/// `patchbay tokens revoke NAME`.
pub(crate) fn revoke(paths: &Paths, name: &str) -> Result {
    let revoked: Revoked =
        token_action(paths, name, "revoke", |k| async move { k.revoke().await })?;
    match (revoked.at_provider, &revoked.note) {
        (true, _) => eprintln!("revoked the tokens of `{name}` at the provider"),
        (false, Some(note)) => eprintln!("not revoked at the provider: {note}"),
        (false, None) => eprintln!("`{name}` held no OAuth tokens to revoke at a provider"),
    }
    if revoked.deleted {
        eprintln!(
            "deleted the credentials of `{name}` from the keychain; sign in again with `patchbay login {name}`"
        );
    } else {
        eprintln!("the keychain held no credentials for `{name}`");
    }
    Ok(())
}
