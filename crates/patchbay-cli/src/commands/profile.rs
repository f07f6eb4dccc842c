//! `patchbay profile`: named subsets of the hub for clients that should see fewer tools.

use patchbay_core::api::ToolEntry;
use patchbay_core::clients::catalog;
use patchbay_core::config::profile::Profile;
use patchbay_core::config::{self, ConfigError};
use patchbay_core::control;
use patchbay_core::discovery;
use patchbay_core::paths::Paths;

use super::{Result, client_failure, config_failure, load_config, nudge_hub, runtime};
use crate::failure::{Failure, Kind};

fn split(list: Option<String>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn missing(name: &str) -> Failure {
    Failure::new(Kind::NotFound, format!("no profile named `{name}`"))
        .hint("`patchbay profile list` shows them")
}

/// `profile create NAME [--servers A,B] [--tools PATTERNS]` (replaces one of that name).
pub(crate) fn create(
    paths: &Paths,
    name: &str,
    servers: Option<String>,
    tools: Option<String>,
) -> Result {
    let profile = Profile {
        servers: split(servers),
        tools: split(tools),
    };
    if let Some(problem) = profile.problem() {
        return Err(Failure::new(
            Kind::Config,
            format!("profile `{name}`: {problem}"),
        ));
    }
    let config = match config::Config::load(&paths.config_file) {
        Ok(config) => config,
        Err(ConfigError::NotFound(_)) => config::Config::default(),
        Err(err) => return Err(config_failure(err)),
    };
    let unknown = profile.unknown_servers(&config.servers);
    config::edit::set_profile(&paths.config_file, name, &profile).map_err(config_failure)?;
    eprintln!("saved profile `{name}` to {}", paths.config_file.display());
    for server in unknown {
        eprintln!(
            "warning: no server named `{server}` is configured; the profile ignores it until one is"
        );
    }
    eprintln!(
        "clients reach it with `patchbay bridge --profile {name}` (`patchbay install CLIENT --profile {name}`)"
    );
    nudge_hub(paths);
    Ok(())
}

/// `profile rm NAME`.
pub(crate) fn remove(paths: &Paths, name: &str) -> Result {
    if !load_config(paths)?.profiles.contains_key(name) {
        return Err(missing(name));
    }
    config::edit::remove_profile(&paths.config_file, name).map_err(config_failure)?;
    eprintln!("removed profile `{name}`");
    nudge_hub(paths);
    Ok(())
}

/// `profile list [--json]`.
pub(crate) fn list(paths: &Paths, json: bool) -> Result {
    let config = load_config(paths)?;
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&config.profiles).expect("json")
        );
        return Ok(());
    }
    if config.profiles.is_empty() {
        eprintln!("no profiles; make one with `patchbay profile create NAME --servers A,B`");
    }
    for (name, p) in &config.profiles {
        let servers = if p.servers.is_empty() {
            "all servers".to_owned()
        } else {
            p.servers.join(",")
        };
        let tools = if p.tools.is_empty() {
            "all tools".to_owned()
        } else {
            p.tools.join(",")
        };
        out!("{name:<20} {servers:<30} {tools}");
    }
    Ok(())
}

/// The tools a running hub serves to `profile` (all when `None`), when a hub runs.
pub(crate) fn served_tools(paths: &Paths, profile: Option<&str>) -> Result<Option<Vec<ToolEntry>>> {
    let Some(found) = discovery::find_running(paths) else {
        return Ok(None);
    };
    let path = match profile {
        Some(p) => format!("/tools?profile={p}"),
        None => "/tools".to_owned(),
    };
    runtime()
        .block_on(async {
            control::Client::new(&found)?
                .get::<Vec<ToolEntry>>(&path)
                .await
        })
        .map(Some)
        .map_err(client_failure)
}

/// Clients whose known tool limit `count` tools exceed, as warning lines.
pub(crate) fn over_limits(count: usize) -> Vec<String> {
    catalog::CLIENTS
        .iter()
        .filter_map(|c| c.tool_limit.map(|limit| (c, limit)))
        .filter(|(_, limit)| count > *limit as usize)
        .map(|(c, limit)| format!("{} shows at most {limit} tools; this is {count}", c.name))
        .collect()
}

/// `profile show NAME [--json]`.
pub(crate) fn show(paths: &Paths, name: &str, json: bool) -> Result {
    let config = load_config(paths)?;
    let profile = config.profiles.get(name).ok_or_else(|| missing(name))?;
    let unknown = profile.unknown_servers(&config.servers);
    let tools = served_tools(paths, Some(name))?;
    let warnings = tools
        .as_ref()
        .map(|t| over_limits(t.len()))
        .unwrap_or_default();
    if json {
        let value = serde_json::json!({
            "name": name,
            "servers": profile.servers,
            "tools": profile.tools,
            "unknown_servers": unknown,
            "served_tools": tools.as_ref().map(|t| t.iter().map(|e| &e.name).collect::<Vec<_>>()),
            "limit_warnings": warnings,
        });
        out!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(());
    }
    out!("profile: {name}");
    out!(
        "servers: {}",
        if profile.servers.is_empty() {
            "all".to_owned()
        } else {
            profile.servers.join(", ")
        }
    );
    out!(
        "tools:   {}",
        if profile.tools.is_empty() {
            "all".to_owned()
        } else {
            profile.tools.join(", ")
        }
    );
    for server in unknown {
        eprintln!("warning: no server named `{server}` is configured");
    }
    match &tools {
        Some(tools) => {
            out!("serves {} tools:", tools.len());
            for t in tools {
                out!("  {}", t.name);
            }
        }
        None => eprintln!("start the hub (`patchbay serve`) to see the tools it serves"),
    }
    for warning in warnings {
        eprintln!("warning: {warning}; narrow the profile with --tools");
    }
    Ok(())
}
