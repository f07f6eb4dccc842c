//! `install`, `uninstall`, `restore`, `clients`, `import`: the client config writers of the core,
//! with what the user must do next (restart the client, set the bearer variable).

use std::path::Path;

use patchbay_core::api::ToolEntry;
use patchbay_core::clients::catalog::{self, Bearer, ClientSpec, Remote};
use patchbay_core::clients::{
    self, ClientError, Context, EntryState, InstallOptions, Outcome, Session,
};
use patchbay_core::config::profile::{ProfileStatus, Served, limit_warning};
use patchbay_core::config::{self, ServerConfig};
use patchbay_core::control;
use patchbay_core::discovery;
use patchbay_core::paths::Paths;

use super::{Result, approve_server, config_failure, nudge_hub, runtime};
use crate::failure::{Failure, Kind};

fn client_failure(err: ClientError) -> Failure {
    let failure = |kind| Failure::from_error(kind, &err);
    match &err {
        ClientError::Unknown(_) => failure(Kind::NotFound)
            .hint(format!("known clients: {}", catalog::ids())),
        ClientError::Unparseable(_) => failure(Kind::Config).hint(
            "fix the file by hand (or `patchbay restore CLIENT` to put back a backup), then run this again; the file was left untouched",
        ),
        ClientError::DirectRefused { .. } => failure(Kind::General)
            .hint("install without `--direct`: the bridge works with every client"),
        ClientError::NoStableUrl => failure(Kind::Config)
            .hint("set `hub.port` in Patchbay's config to a fixed port, or install without `--direct`"),
        ClientError::UnknownProfile(name) => failure(Kind::NotFound).hint(format!(
            "make it first: patchbay profile create {name} --servers A,B [--tools 'A__*,!A__delete_*']"
        )),
        ClientError::NoBackups(_) => failure(Kind::NotFound)
            .hint("backups are taken when Patchbay changes a client's file"),
        ClientError::NoHome => failure(Kind::General),
        _ => failure(Kind::General),
    }
}

fn context(paths: &Paths) -> Result<Context> {
    Context::from_env(paths.clone()).map_err(client_failure)
}

fn spec(id: &str) -> Result<&'static ClientSpec> {
    clients::find(id).map_err(client_failure)
}

pub(super) fn install(
    paths: &Paths,
    client: &str,
    direct: bool,
    profile: Option<String>,
) -> Result {
    let spec = spec(client)?;
    let ctx = context(paths)?;
    let was = clients::status(&ctx, spec).entry;
    let options = InstallOptions { direct, profile };
    let outcome = Session::new(ctx)
        .install(spec, &options)
        .map_err(client_failure)?;
    match (&outcome, was) {
        (Outcome::Unchanged { path }, _) => {
            eprintln!(
                "{} already has Patchbay's entry in {}; nothing changed",
                spec.name,
                path.display()
            );
            return Ok(());
        }
        (Outcome::Written { path, .. }, EntryState::Missing | EntryState::Changed) => eprintln!(
            "repaired Patchbay's entry in {} ({})",
            spec.name,
            path.display()
        ),
        (Outcome::Written { path, .. }, _) => {
            eprintln!("installed Patchbay into {} ({})", spec.name, path.display())
        }
    }
    if direct && let Remote::Supported(shape) = spec.remote {
        let secret = paths.secret_file();
        match shape.bearer {
            Bearer::HeaderFromInput => eprintln!(
                "{} asks for the hub's bearer the first time it connects: paste the content of {} (it keeps it in its secret storage)",
                spec.name,
                secret.display()
            ),
            Bearer::HeaderFromEnv(_) | Bearer::EnvVarKey(_) => eprintln!(
                "{} reads the hub's bearer from `{}`: set it where {} starts, e.g. export {}=\"$(cat {})\"",
                spec.name,
                catalog::BEARER_ENV,
                spec.name,
                catalog::BEARER_ENV,
                secret.display()
            ),
        }
    }
    eprintln!("next: {}", spec.reload);
    if spec.tool_limit.is_some()
        && let Some(hub) = HubServes::read(paths)
    {
        hub.warn_tool_limit(spec, options.profile.as_deref());
    }
    Ok(())
}

/// What the running hub serves, read once for a command's tool-limit warnings.
struct HubServes {
    /// Tools of the whole hub (an entry without a profile).
    all: usize,
    profiles: Vec<ProfileStatus>,
}

impl HubServes {
    /// `None` when no hub runs or it does not answer.
    fn read(paths: &Paths) -> Option<Self> {
        let found = discovery::find_running(paths)?;
        runtime()
            .block_on(async {
                let hub = control::Client::new(&found)?;
                let all = hub.get::<Vec<ToolEntry>>("/tools").await?.len();
                let profiles = hub.profiles().await?;
                Ok::<_, control::ClientError>(Self { all, profiles })
            })
            .ok()
    }

    /// How many tools an entry serving `profile` gets; `None` for a profile that is gone.
    fn tools(&self, profile: Option<&str>) -> Option<usize> {
        match profile {
            None => Some(self.all),
            Some(name) => self
                .profiles
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.served_tools),
        }
    }

    /// When the client's entry is served more tools than the client is known to use, say so,
    /// and name the profile to switch to when one fits.
    fn warn_tool_limit(&self, spec: &ClientSpec, profile: Option<&str>) {
        let (Some(limit), Some(tools)) = (spec.tool_limit, self.tools(profile)) else {
            return;
        };
        let served = Served {
            id: spec.id,
            name: spec.name,
            limit: limit as usize,
            tools,
            profile,
        };
        if let Some(warning) = limit_warning(served, &self.profiles) {
            eprintln!("warning: {warning}");
        }
    }
}

pub(super) fn uninstall(paths: &Paths, client: &str) -> Result {
    let spec = spec(client)?;
    let outcome = Session::new(context(paths)?)
        .uninstall(spec)
        .map_err(client_failure)?;
    match outcome {
        Outcome::Written { path, .. } => {
            eprintln!("removed Patchbay from {} ({})", spec.name, path.display());
            eprintln!("next: {}", spec.reload);
        }
        Outcome::Unchanged { path } => eprintln!(
            "{} has no Patchbay entry in {}; nothing changed",
            spec.name,
            path.display()
        ),
    }
    Ok(())
}

pub(super) fn restore(
    paths: &Paths,
    client: &str,
    list: bool,
    backup: Option<String>,
    json: bool,
) -> Result {
    let spec = spec(client)?;
    let ctx = context(paths)?;
    if list {
        let all = clients::backups(&ctx, spec).map_err(client_failure)?;
        if json {
            out!("{}", serde_json::to_string_pretty(&all).expect("json"));
        } else if all.is_empty() {
            out!("no backups of {}'s config yet", spec.name);
        } else {
            for b in &all {
                let what = if b.absent {
                    "(the file did not exist)".to_owned()
                } else {
                    std::fs::metadata(&b.path)
                        .map(|m| format!("{} bytes", m.len()))
                        .unwrap_or_default()
                };
                let name = b.path.file_name().unwrap_or_default().to_string_lossy();
                out!("{:<32} {:<36} {what}", b.taken, name);
            }
        }
        return Ok(());
    }
    let path = ctx.config_path(spec);
    let restored = Session::new(ctx)
        .restore(spec, backup.as_deref().map(Path::new))
        .map_err(client_failure)?;
    if restored.absent {
        eprintln!(
            "restored {}'s config to its state of {}: it did not exist, so {} was removed",
            spec.name,
            restored.taken,
            path.display()
        );
    } else {
        eprintln!(
            "restored {} from the backup of {}",
            path.display(),
            restored.taken
        );
    }
    eprintln!("next: {}", spec.reload);
    Ok(())
}

pub(super) fn list(paths: &Paths, json: bool) -> Result {
    let rows = clients::listing(&context(paths)?);
    if json {
        out!("{}", serde_json::to_string_pretty(&rows).expect("json"));
        return Ok(());
    }
    out!(
        "{:<15} {:<9} {:<14} {:<7} {:<6} {}",
        "CLIENT",
        "DETECTED",
        "ENTRY",
        "MODE",
        "TOOLS",
        "CONFIG"
    );
    for row in &rows {
        let mode = match row.mode {
            Some(clients::Mode::Bridge) => "bridge",
            Some(clients::Mode::Direct) => "direct",
            None => "-",
        };
        let limit = row
            .tool_limit
            .map(|l| l.to_string())
            .unwrap_or_else(|| "-".into());
        out!(
            "{:<15} {:<9} {:<14} {:<7} {:<6} {}",
            row.id,
            if row.detected { "yes" } else { "no" },
            row.entry.as_str(),
            mode,
            limit,
            row.path.display()
        );
        if let Some(err) = &row.error {
            out!("                error: {err}");
        }
    }
    let drifted: Vec<_> = rows
        .iter()
        .filter(|r| matches!(r.entry, EntryState::Missing | EntryState::Changed))
        .map(|r| r.id)
        .collect();
    for id in drifted {
        eprintln!(
            "hint: Patchbay's entry in {id} was dropped or changed; `patchbay install {id}` repairs it"
        );
    }
    // Tool limits: what each limited client would see, counted by the running hub (read once).
    let limited: Vec<_> = rows
        .iter()
        .filter(|r| r.tool_limit.is_some() && (r.installed || r.detected))
        .collect();
    if !limited.is_empty()
        && let Some(hub) = HubServes::read(paths)
    {
        for row in limited {
            hub.warn_tool_limit(spec(row.id)?, row.profile.as_deref());
        }
    }
    Ok(())
}

pub(super) fn import(paths: &Paths, client: &str, yes: bool) -> Result {
    let spec = spec(client)?;
    let ctx = context(paths)?;
    let found = clients::foreign_servers(&ctx, spec).map_err(client_failure)?;
    if found.is_empty() {
        eprintln!(
            "{} has no servers to import ({})",
            spec.name,
            ctx.config_path(spec).display()
        );
        return Ok(());
    }
    let existing = config::Config::load(&paths.config_file).map_err(config_failure)?;
    let mut added = Vec::new();
    for server in found {
        let name = &server.name;
        let Some(command) = server.command.clone() else {
            let what = server.url.as_deref().unwrap_or("no command");
            eprintln!("skipping `{name}` ({what}): only stdio servers can be imported for now");
            continue;
        };
        if !patchbay_core::names::valid_server_name(name) {
            eprintln!(
                "skipping `{name}`: not a valid Patchbay server name (letters, digits, `-`, `_`); add it by hand with `patchbay add NEWNAME -- {command} ...`"
            );
            continue;
        }
        if existing.servers.contains_key(name) {
            eprintln!("skipping `{name}`: Patchbay already has a server by that name");
            continue;
        }
        let mut candidate = ServerConfig::new(command, server.args.clone());
        candidate.start = existing.hub.default_start;
        candidate.env = server.env.clone();
        candidate.cwd = server.cwd.as_ref().map(Into::into);
        if !approve_server(paths, name, &candidate, yes)? {
            eprintln!("not adding `{name}`");
            continue;
        }
        config::edit::add_server(&paths.config_file, name, &candidate).map_err(config_failure)?;
        eprintln!("added `{name}` to {}", paths.config_file.display());
        added.push(name.clone());
    }
    if !added.is_empty() {
        nudge_hub(paths);
        eprintln!(
            "next: remove {} from {}'s own config and `patchbay install {}`, so it reaches them through the hub",
            added
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            spec.name,
            spec.id
        );
    }
    Ok(())
}
