//! `search`, `show`, `add --from-registry`, `outdated` and `update`: servers from the MCP
//! Registry; `add --link` and `link`: install links, through the same consent; `add --mcpb`:
//! an MCP Bundle file, the same way as a registry record's bundle.
//!
//! Nothing is saved, unpacked or started before the user says yes to the exact command
//! (`--yes` from a script); secret values go to the keychain, never the config file or the
//! command line.

use std::io::{IsTerminal, Read, Write};
use std::time::SystemTime;

use patchbay_core::vault::unix_seconds;

use patchbay_core::bundle::{self, Bundle, BundleError};
use patchbay_core::config::{Config, ConfigError, RegistrySource, ServerConfig};
use patchbay_core::oauth::connect::ConnectRequest;
use patchbay_core::paths::Paths;
use patchbay_core::registry::link::{self, Link, LinkError};
use patchbay_core::registry::plan::{self, AddingError, PlanError, Question, Way};
use patchbay_core::registry::{Found, Registries, RegistryError};

use super::{Result, approve_server, config_failure, load_config, nudge_hub, runtime, which};
use crate::failure::{Failure, Kind};

/// Longest description a search line shows.
const SHOWN_DESCRIPTION: usize = 60;

fn registry_failure(err: RegistryError) -> Failure {
    match err {
        RegistryError::NotFound(_) => {
            Failure::new(Kind::NotFound, &err).hint("`patchbay search TERM` finds servers by name")
        }
        RegistryError::Unreachable(_) => Failure::new(Kind::General, &err)
            .hint("check the network, or `[catalog] registries` in the config"),
    }
}

fn plan_failure(err: PlanError) -> Failure {
    Failure::new(Kind::General, format!("cannot add it: {err}"))
}

fn bundle_failure(err: BundleError) -> Failure {
    match err {
        BundleError::Name(err) => config_failure(err),
        err => Failure::from_error(Kind::General, &err).hint("nothing was added"),
    }
}

/// How a way of running a server shows: its kind, and the program it needs (with whether this
/// machine has it).
fn runs(way: std::result::Result<Way<'_>, PlanError>) -> (String, String) {
    let needs = |program: &str| match which(program) {
        Some(_) => program.to_owned(),
        None => format!("{program} (missing)"),
    };
    match way {
        Ok(way @ Way::Package(package)) => {
            let program = plan::runtime(way).unwrap_or_default();
            (package.registry_type.clone(), needs(program))
        }
        Ok(Way::Remote(_)) => ("remote".into(), "-".into()),
        Ok(way @ Way::Command(_)) => (
            "command".into(),
            needs(plan::runtime(way).unwrap_or_default()),
        ),
        Ok(Way::Bundle(_)) => ("mcpb".into(), "(its manifest)".into()),
        Err(_) => ("-".into(), "cannot run here".into()),
    }
}

/// `patchbay search TERM`.
pub(super) fn search(paths: &Paths, term: &str, json: bool) -> Result {
    let config = load_config(paths)?;
    let found = runtime().block_on(Registries::of(&config, paths).search(term));
    for (registry, why) in &found.failed {
        eprintln!("warning: registry {registry} could not be asked: {why}");
    }
    for (registry, checked_at) in &found.from_listing {
        eprintln!(
            "showing {registry}'s listing as the hub last read it, {} ago: it could not be asked now",
            patchbay_core::human::span(unix_seconds(SystemTime::now()).saturating_sub(*checked_at))
        );
    }
    if found.from_snapshot {
        eprintln!("showing the snapshot shipped with Patchbay: no registry could be reached");
    }
    if json {
        let records: Vec<_> = found.found.iter().map(|f| &f.record).collect();
        out!("{}", serde_json::to_string_pretty(&records).expect("json"));
        return Ok(());
    }
    if found.found.is_empty() {
        eprintln!("no server matches `{term}`");
        return Ok(());
    }
    for Found { record, .. } in &found.found {
        let server = &record.server;
        let (kind, needs) = runs(plan::choose(server));
        let mut description: String = server.description.chars().take(SHOWN_DESCRIPTION).collect();
        if server.description.chars().count() > SHOWN_DESCRIPTION {
            description.push_str("...");
        }
        let status = match record.status() {
            Some("deprecated") => " [deprecated]",
            _ => "",
        };
        out!(
            "{:<48} {:<12} {kind:<7} {needs:<16} {description}{status}",
            server.name,
            server.version
        );
    }
    Ok(())
}

/// `patchbay show NAME`.
pub(super) fn show(paths: &Paths, name: &str, version: Option<&str>, json: bool) -> Result {
    let config = load_config(paths)?;
    let found = runtime()
        .block_on(Registries::of(&config, paths).get(name, version))
        .map_err(registry_failure)?;
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&found.record).expect("json")
        );
        return Ok(());
    }
    let server = &found.record.server;
    let title = server
        .title
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    out!("{} {}{title}", server.name, server.version);
    out!("  {}", server.description);
    out!("  from: {}", found.registry);
    for package in &server.packages {
        let version = package.version.as_deref().unwrap_or("?");
        out!(
            "  package: {} {}@{version} ({})",
            package.registry_type,
            package.identifier,
            package.transport.kind
        );
    }
    for remote in &server.remotes {
        out!("  remote: {} ({})", remote.url, remote.kind);
    }
    let way = match plan::choose(server) {
        Ok(way) => way,
        Err(err) => {
            out!("  adding it: not possible here: {err}");
            return Ok(());
        }
    };
    let questions = plan::questions(way);
    match way {
        Way::Remote(remote) => out!(
            "  adding it connects to {} (signing in if it asks)",
            remote.url
        ),
        Way::Bundle(package) => out!(
            "  adding it downloads the bundle {} (its SHA-256 checked), then shows what its manifest runs and asks",
            package.identifier
        ),
        Way::Package(_) | Way::Command(_) => {
            // The command with each asked value shown as its default, or its name.
            let placeholders: Vec<String> = (questions.iter())
                .map(|q| {
                    (q.default.clone())
                        .or_else(|| q.choices.first().cloned())
                        .unwrap_or_else(|| format!("{{{}}}", q.name))
                })
                .collect();
            let docker = which("docker").is_some();
            match plan::plan(server, way, &placeholders, docker) {
                Ok(planned) => out!("  adding it runs: {}", planned.server.shown_command_line()),
                Err(err) => out!("  adding it: not possible here: {err}"),
            }
        }
    }
    for (n, question) in questions.iter().enumerate() {
        out!("  asks {}. {}", n + 1, described(question));
    }
    Ok(())
}

/// A question as `show` and the prompts say it.
fn described(question: &Question) -> String {
    let mut said = question.name.clone();
    if let Some(description) = &question.description {
        said.push_str(&format!(": {description}"));
    }
    if question.secret {
        said.push_str(" (secret: kept in the keychain)");
    }
    if !question.choices.is_empty() {
        said.push_str(&format!(" (one of: {})", question.choices.join(", ")));
    }
    if let Some(default) = &question.default {
        said.push_str(&format!(" [default: {default}]"));
    }
    said
}

/// What `add` adds: a registry record, or what an install link names.
pub(super) enum Wanted<'a> {
    /// `--from-registry NAME [--version V]`.
    Registry {
        /// The registry name.
        name: &'a str,
        /// The version; the latest when none.
        version: Option<&'a str>,
    },
    /// `--link LINK`.
    Link(&'a str),
}

fn link_failure(err: LinkError) -> Failure {
    Failure::new(Kind::General, format!("nothing was added: {err}"))
}

/// `patchbay add --from-registry NAME` and `patchbay add --link LINK`.
pub(super) fn add(
    paths: &Paths,
    wanted: Wanted<'_>,
    local: Option<String>,
    disabled: bool,
    yes: bool,
) -> Result {
    // A link is read first: a hostile one is refused for what it is, terminal or not.
    let wanted = match wanted {
        Wanted::Link(text) => link::parse(text).map_err(link_failure)?,
        Wanted::Registry { name, version } => Link::Registry {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        },
    };
    let asking = asking(yes)?;
    let config = load_config(paths)?;
    let found = runtime()
        .block_on(wanted.resolve(&Registries::of(&config, paths)))
        .map_err(registry_failure)?;
    let detail = &found.record.server;
    let way = plan::choose(detail).map_err(plan_failure)?;
    if let Way::Bundle(package) = way {
        let (url, sha256) = plan::bundle_file(package).map_err(plan_failure)?;
        eprintln!("downloading {url}");
        let bytes =
            (runtime().block_on(bundle::fetch(paths, url, sha256))).map_err(bundle_failure)?;
        let source = RegistrySource {
            name: detail.name.clone(),
            version: detail.version.clone(),
        };
        let from = format!(
            "the MCP Registry ({}): `{}` {}",
            found.registry, detail.name, detail.version
        );
        return add_bundle(paths, bytes, &from, Some(source), local, disabled, yes);
    }
    if let Way::Remote(remote) = way {
        plan::plan(detail, way, &[], false).map_err(plan_failure)?;
        eprintln!(
            "`{}` {} runs remotely at {}",
            detail.name, detail.version, remote.url
        );
        return super::signin::run_connect(
            paths,
            ConnectRequest {
                url: Some(remote.url.clone()),
                name: local,
                disabled,
                ..ConnectRequest::default()
            },
        );
    }
    let questions = plan::questions(way);
    let answers = answers(&detail.name, &questions, asking)?;
    let docker = which("docker").is_some();
    let plan::Adding { name, planned } =
        plan::adding(&config, detail, way, &answers, local, docker).map_err(|err| match err {
            AddingError::Plan(err) => plan_failure(err),
            AddingError::Name(err) => config_failure(err),
        })?;
    let mut server = planned.server;
    server.enabled = !disabled;
    match found.registry.as_str() {
        link::FROM_LINK => eprintln!("From an install link: `{}`", detail.name),
        registry => eprintln!(
            "From the MCP Registry ({registry}): `{}` {}",
            detail.name, detail.version
        ),
    }
    save(paths, &name, &server, &planned.secrets, yes, |_| Ok(()))
}

/// Whether values can be asked on a terminal; without one, `--yes` is needed (checked before
/// anything is fetched or asked).
fn asking(yes: bool) -> Result<bool> {
    let asking = std::io::stdin().is_terminal();
    if !yes && !asking {
        return Err(Failure::new(
            Kind::Declined,
            "approval needed but stdin is not a terminal; nothing was added",
        )
        .hint("pass `--yes` to approve from a script (values the server asks for are read from stdin)"));
    }
    Ok(asking)
}

/// Tell what `server` runs with beyond its command line (its environment's names, the
/// keychain's, the rights it has), ask, then `unpack` (a bundle's files), store its secrets and
/// save it; whatever was done is undone when a later step fails.
fn save(
    paths: &Paths,
    name: &str,
    server: &ServerConfig,
    secrets: &std::collections::BTreeMap<String, String>,
    yes: bool,
    unpack: impl FnOnce(&ServerConfig) -> Result,
) -> Result {
    if !server.env.is_empty() {
        let names: Vec<&str> = server.env.keys().map(String::as_str).collect();
        eprintln!("Environment: {}", names.join(", "));
    }
    if !server.secret_env.is_empty() {
        eprintln!("Kept in the keychain: {}", server.secret_env.join(", "));
    }
    eprintln!("It will run with your user's rights: it can read and change what you can.");
    // A bundle's own program is not there before it is unpacked.
    if !bundle::carries_command(server) && which(&server.command).is_none() {
        eprintln!(
            "warning: `{}` is not installed (not on PATH); the server cannot start until it is",
            server.command
        );
    }
    if !approve_server(paths, name, server, yes)? {
        return Err(Failure::new(Kind::Declined, "not saved"));
    }
    unpack(server)?;
    let unpacked = || {
        if let Some(source) = &server.bundle {
            let _ = bundle::remove(paths, source);
        }
    };
    if let Err(err) = crate::secret_cmd::store_all(paths, name, secrets) {
        unpacked();
        return Err(err);
    }
    if let Err(err) = patchbay_core::config::edit::add_server(&paths.config_file, name, server) {
        crate::secret_cmd::forget_server(paths, name, &server.secret_env);
        unpacked();
        return Err(config_failure(err));
    }
    eprintln!("added `{name}` to {}", paths.config_file.display());
    nudge_hub(paths);
    Ok(())
}

/// `patchbay add --mcpb FILE`.
pub(super) fn add_mcpb_file(
    paths: &Paths,
    file: &std::path::Path,
    local: Option<String>,
    disabled: bool,
    yes: bool,
) -> Result {
    asking(yes)?;
    let file = std::path::absolute(file).map_err(|err| Failure::from_error(Kind::General, &err))?;
    let bytes = bundle::read(&file).map_err(bundle_failure)?;
    let from = format!("the bundle {}", file.display());
    add_bundle(paths, bytes, &from, None, local, disabled, yes)
}

/// A bundle's `bytes` (from a file or a registry record, said by `from`) checked, its values
/// asked, shown whole, then unpacked and saved on a yes.
fn add_bundle(
    paths: &Paths,
    bytes: Vec<u8>,
    from: &str,
    registry: Option<RegistrySource>,
    local: Option<String>,
    disabled: bool,
    yes: bool,
) -> Result {
    let asking = asking(yes)?;
    let config = load_config(paths)?;
    let mut opened = Bundle::open(bytes).map_err(bundle_failure)?;
    let facts =
        bundle::render::Facts::current().ok_or_else(|| bundle_failure(BundleError::NoHome))?;
    let manifest = &opened.manifest;
    let questions = bundle::questions(manifest, &facts);
    let answers = answers(&manifest.name, &questions, asking)?;
    let (plan::Adding { name, planned }, needs) =
        bundle::adding(&config, paths, &opened, &facts, &answers, local).map_err(bundle_failure)?;
    let mut server = planned.server;
    server.enabled = !disabled;
    server.registry = registry;
    eprintln!(
        "From {from}: `{}` {} by {}, {}",
        manifest.name,
        manifest.version,
        manifest.author,
        opened.signature()
    );
    let dir = (server.bundle.as_ref().map(|b| b.dir.clone()))
        .expect("a bundle's entry names its directory");
    for needs in needs {
        eprintln!("Needs: {needs}");
    }
    // The command is checked in `save`; a runtime it does not name directly is checked here.
    if let Some(runtime) = manifest.server.kind.runtime()
        && server.command != runtime
        && which(runtime).is_none()
    {
        eprintln!("warning: the bundle is a {runtime} server and `{runtime}` is not on PATH");
    }
    eprintln!("Unpacks to: {}", dir.display());
    save(paths, &name, &server, &planned.secrets, yes, |_| {
        bundle::install(paths, &mut opened, &dir).map_err(bundle_failure)
    })
}

/// The answers to `questions`: asked on the terminal (secrets without echo), or read from
/// stdin, one line each, in order.
fn answers(name: &str, questions: &[Question], asking: bool) -> Result<Vec<String>> {
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    if !asking {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() < questions.len() {
            let names: Vec<&str> = questions.iter().map(|q| q.name.as_str()).collect();
            return Err(Failure::new(
                Kind::General,
                format!(
                    "`{}` asks for {} values ({}), one per line on stdin; {} given; nothing was added",
                    name,
                    questions.len(),
                    names.join(", "),
                    lines.len()
                ),
            ));
        }
        return Ok(lines.into_iter().take(questions.len()).collect());
    }
    eprintln!("`{name}` asks for {} values:", questions.len());
    let mut answers = Vec::new();
    for question in questions {
        let prompt = format!("{}: ", described(question));
        let answer = match question.secret {
            true => rpassword::prompt_password(prompt)?,
            false => {
                eprint!("{prompt}");
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            }
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// `patchbay link NAME`: the install link of a configured server.
pub(super) fn link(paths: &Paths, name: &str, env_values: bool) -> Result {
    let config = load_config(paths)?;
    let server = (config.servers.get(name))
        .ok_or_else(|| config_failure(ConfigError::NotFound(name.to_owned())))?;
    if server.cwd.is_some() {
        eprintln!("note: its working directory is not in the link (it is this machine's)");
    }
    out!("{}", link::for_server(name, server, env_values));
    Ok(())
}

/// A server installed from the registry, and the latest version there.
struct Behind {
    server: String,
    record: String,
    installed: String,
    latest: String,
}

/// The servers of `config` installed from the registry whose latest version differs, and
/// those whose record could not be read (with why).
fn behind(config: &Config, paths: &Paths) -> (Vec<Behind>, Vec<(String, String)>) {
    let registries = Registries::of(config, paths);
    let (mut late, mut unknown) = (Vec::new(), Vec::new());
    for (name, server) in &config.servers {
        let Some(source) = &server.registry else {
            continue;
        };
        match runtime().block_on(registries.get(&source.name, None)) {
            Ok(found) if found.record.server.version != source.version => late.push(Behind {
                server: name.clone(),
                record: source.name.clone(),
                installed: source.version.clone(),
                latest: found.record.server.version,
            }),
            Ok(_) => {}
            Err(err) => unknown.push((name.clone(), err.to_string())),
        }
    }
    (late, unknown)
}

/// `patchbay outdated`.
pub(super) fn outdated(paths: &Paths, json: bool) -> Result {
    let config = load_config(paths)?;
    let (late, unknown) = behind(&config, paths);
    for (name, why) in &unknown {
        eprintln!("warning: `{name}`: {why}");
    }
    if json {
        let rows: Vec<_> = (late.iter())
            .map(|b| {
                serde_json::json!({"name": b.server, "registry_name": b.record,
                    "installed": b.installed, "latest": b.latest})
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&rows).expect("json"));
        return Ok(());
    }
    if late.is_empty() {
        eprintln!("every server installed from the registry is at its latest version");
    }
    for b in &late {
        out!(
            "{:<20} {:<12} -> {:<12} {}",
            b.server,
            b.installed,
            b.latest,
            b.record
        );
    }
    Ok(())
}

/// `patchbay update NAME`.
pub(super) fn update(paths: &Paths, name: &str, yes: bool) -> Result {
    let config = load_config(paths)?;
    let server = (config.servers.get(name))
        .ok_or_else(|| config_failure(ConfigError::NotFound(name.to_owned())))?;
    let source = server.registry.clone().ok_or_else(|| {
        Failure::new(
            Kind::General,
            format!("`{name}` was not installed from the registry"),
        )
        .hint("only servers added with `patchbay add --from-registry` can be updated")
    })?;
    let registries = Registries::of(&config, paths);
    let latest = runtime()
        .block_on(registries.get(&source.name, None))
        .map_err(registry_failure)?;
    if latest.record.server.version == source.version {
        eprintln!("`{name}` is at the latest version ({})", source.version);
        return Ok(());
    }
    let installed = runtime()
        .block_on(registries.get(&source.name, Some(&source.version)))
        .map_err(registry_failure)?;
    let moved = plan::repin(server, &installed.record.server, &latest.record.server)
        .map_err(|err| Failure::new(Kind::General, format!("cannot update `{name}`: {err}")))?;
    eprintln!(
        "`{name}`: {} -> {} ({})",
        source.version, latest.record.server.version, source.name
    );
    if !approve_server(paths, name, &moved, yes)? {
        return Err(Failure::new(Kind::Declined, "not updated"));
    }
    let to = moved
        .registry
        .as_ref()
        .expect("a repinned entry names its source");
    patchbay_core::config::edit::set_pinned(&paths.config_file, name, &moved.args, to)
        .map_err(config_failure)?;
    eprintln!("updated `{name}` in {}", paths.config_file.display());
    nudge_hub(paths);
    Ok(())
}
