//! The control API's routes (`/api/v1`); what each carries is in [`crate::api`].

use futures::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{
    BundlePlan, BundleRequest, CatalogEntry, CatalogKind, CatalogPlan, CatalogQuestion,
    CatalogRequest, CatalogSearch, ClientChange, HubStatus, InstallRequest, RegistryFailure,
    RestoreRequest, ServerAdded, ServerStatus, ToolEntry,
};
use crate::bundle::{self, Bundle, BundleError};
use crate::clients::{ClientStatus, FittingProfile};
use crate::config::profile::ProfileStatus;
use crate::hub::Hub;

/// The routes, to nest under `/api/v1`.
pub fn routes(hub: Hub) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/servers", get(servers).post(add_server))
        .route("/servers/{name}", delete(remove_server))
        .route("/servers/{name}/tools", get(server_tools))
        .route("/servers/{name}/logs", get(logs))
        .route("/servers/{name}/enable", post(enable))
        .route("/servers/{name}/disable", post(disable))
        .route("/servers/{name}/restart", post(restart))
        .route("/tools", get(tools))
        .route("/tool-changes", get(tool_changes))
        .route("/tool-changes/accept", post(accept_tool_changes))
        .route("/profiles", get(profiles))
        .route("/calls", get(calls))
        .route("/reload", post(reload))
        .route("/clients", get(clients))
        .route("/clients/{id}/install", post(install_client))
        .route("/clients/{id}/uninstall", post(uninstall_client))
        .route("/clients/{id}/restore", post(restore_client))
        .route("/catalog", get(catalog))
        .route("/catalog/preview", post(catalog_preview))
        .route("/catalog/add", post(catalog_add))
        .route("/catalog/link", post(catalog_link))
        .route("/catalog/bundle", post(catalog_bundle))
        .route("/events", get(events))
        .route("/shutdown", post(shutdown))
        .route("/sign-in", post(sign_in))
        .route("/sign-in/{flow}", get(flow))
        .route("/sign-in/{flow}/cancel", post(cancel_flow))
        .route("/tokens", get(tokens))
        .route("/tokens/{name}/refresh", post(refresh_tokens))
        .route("/tokens/{name}/revoke", post(revoke_tokens))
        .with_state(hub)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn config_error(err: crate::config::ConfigError) -> Response {
    use crate::config::ConfigError;
    let status = match &err {
        ConfigError::NotFound(_) => StatusCode::NOT_FOUND,
        ConfigError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, err.to_string())
}

/// A body that did not parse, answered like every other error (`{"error": ...}`).
fn bad_body(rejection: JsonRejection) -> Response {
    error(rejection.status(), rejection.body_text())
}

/// Run a blocking file or keychain job off the async workers.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

async fn status(State(hub): State<Hub>) -> Json<HubStatus> {
    Json(HubStatus {
        version: crate::VERSION.to_owned(),
        pid: std::process::id(),
        config_file: hub.paths().config_file.display().to_string(),
        servers: hub.statuses(),
        calls_waiting_for_input: hub.calls_waiting_for_input(),
    })
}

async fn servers(State(hub): State<Hub>) -> Json<Vec<ServerStatus>> {
    Json(hub.statuses())
}

#[derive(Deserialize)]
struct AddQuery {
    #[serde(default)]
    preview: bool,
}

async fn add_server(
    State(hub): State<Hub>,
    Query(q): Query<AddQuery>,
    body: Result<Json<crate::config::NewServer>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    let server = match request.server(hub.config().hub.default_start) {
        Ok(server) => server,
        Err(err) => return config_error(err),
    };
    let mut answer = ServerAdded {
        name: request.name.clone(),
        command_line: server.shown_command_line(),
        cwd: server.cwd.clone(),
        saved: false,
    };
    if q.preview {
        return Json(answer).into_response();
    }
    let path = hub.paths().config_file.clone();
    let name = request.name;
    match blocking(move || crate::config::edit::add_server(&path, &name, &server)).await {
        Ok(Ok(config)) => {
            hub.apply(config);
            answer.saved = true;
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Ok(Err(err)) => config_error(err),
        Err(response) => response,
    }
}

async fn remove_server(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    let secret_env = hub
        .config()
        .servers
        .get(&name)
        .map(|s| s.secret_env.clone())
        .unwrap_or_default();
    let path = hub.paths().config_file.clone();
    let removing = name.clone();
    match blocking(move || crate::config::edit::remove_server(&path, &removing)).await {
        Ok(Ok(config)) => hub.apply(config),
        Ok(Err(err)) => return config_error(err),
        Err(response) => return response,
    }
    // As `patchbay remove`: its keychain entries go too; a keychain that cannot be reached is
    // reported, not fatal (the server is gone from the config either way).
    let keychain = match hub.vault().forget_server(&name, &secret_env).await {
        Ok(deleted) => json!({ "deleted": deleted.len() }),
        Err(err) => json!({ "error": err.to_string() }),
    };
    Json(json!({ "removed": name, "keychain": keychain })).into_response()
}

async fn server_tools(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    if !hub.config().servers.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, format!("no server named `{name}`"));
    }
    let entries: Vec<ToolEntry> = tool_entries(&hub.catalog())
        .into_iter()
        .filter(|tool| tool.server == name)
        .collect();
    Json(entries).into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    lines: Option<usize>,
}

async fn logs(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    if !hub.config().servers.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, format!("no server named `{name}`"));
    }
    let lines = q.lines.unwrap_or(200).min(10_000);
    match crate::logs::tail(&hub.paths().server_log(&name), lines) {
        Ok(lines) => Json(json!({ "server": name, "lines": lines })).into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn set_enabled(hub: Hub, name: String, enabled: bool) -> Response {
    let path = hub.paths().config_file.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::config::edit::set_enabled(&path, &name, enabled)
    })
    .await;
    match result {
        Ok(Ok(config)) => {
            hub.apply(config);
            Json(json!({ "enabled": enabled })).into_response()
        }
        Ok(Err(err)) => config_error(err),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

async fn enable(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    set_enabled(hub, name, true).await
}

async fn disable(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    set_enabled(hub, name, false).await
}

async fn restart(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    if hub.restart(&name) {
        Json(json!({ "restarting": name })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("no running server named `{name}`"),
        )
    }
}

#[derive(Deserialize)]
struct ToolsQuery {
    profile: Option<String>,
}

async fn tools(State(hub): State<Hub>, Query(q): Query<ToolsQuery>) -> Response {
    let catalog = match &q.profile {
        Some(profile) if !hub.config().profiles.contains_key(profile) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no profile named `{profile}`"),
            );
        }
        Some(profile) => hub.profile_catalog(profile),
        None => hub.catalog(),
    };
    Json(tool_entries(&catalog)).into_response()
}

/// Every profile with what it serves now, in name order.
async fn profiles(State(hub): State<Hub>) -> Json<Vec<ProfileStatus>> {
    Json(hub.profiles())
}

fn tool_entries(catalog: &crate::hub::catalog::Catalog) -> Vec<ToolEntry> {
    catalog
        .tools
        .iter()
        .filter_map(|tool| {
            let route = catalog.tool(&tool.name)?;
            Some(ToolEntry {
                name: tool.name.to_string(),
                server: route.server.clone(),
                original: route.name.clone(),
                description: tool.description.as_ref().map(|d| d.to_string()),
            })
        })
        .collect()
}

async fn calls(State(hub): State<Hub>) -> Json<Vec<crate::events::CallRecord>> {
    Json(hub.recent_calls())
}

async fn reload(State(hub): State<Hub>) -> Response {
    match hub.reload() {
        Ok(()) => Json(json!({ "applied": true })).into_response(),
        Err(err) => config_error(err),
    }
}

async fn clients(State(hub): State<Hub>) -> Response {
    let paths = hub.paths().clone();
    let listed = tokio::task::spawn_blocking(move || {
        crate::clients::Context::from_env(paths).map(|ctx| crate::clients::listing(&ctx))
    })
    .await;
    match listed {
        Ok(Ok(mut rows)) => {
            let profiles = hub.profiles();
            for row in &mut rows {
                row.served_tools = hub.served_tools(row.profile.as_deref());
                row.fitting_profile = fitting_profile(row, &profiles);
            }
            Json(rows).into_response()
        }
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// The profile to suggest to a client whose entry is served more tools than it takes; `None`
/// within its limit, without a known limit or count, or when no profile fits.
fn fitting_profile(row: &ClientStatus, profiles: &[ProfileStatus]) -> Option<FittingProfile> {
    let limit = usize::try_from(row.tool_limit?).ok()?;
    if row.served_tools? <= limit {
        return None;
    }
    crate::config::profile::fitting(profiles, limit, row.profile.as_deref()).map(|p| {
        FittingProfile {
            name: p.name.clone(),
            served_tools: p.served_tools,
        }
    })
}

fn client_error(err: crate::clients::ClientError) -> Response {
    use crate::clients::ClientError;
    let status = match &err {
        ClientError::Unknown(_) | ClientError::UnknownProfile(_) | ClientError::NoBackups(_) => {
            StatusCode::NOT_FOUND
        }
        ClientError::Unparseable(_)
        | ClientError::DirectRefused { .. }
        | ClientError::NoStableUrl
        | ClientError::Config(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, crate::human::error_chain(&err))
}

/// One client edit, the same [`crate::clients::Session`] call the CLI makes, off the workers.
async fn client_edit(
    hub: &Hub,
    id: String,
    edit: impl FnOnce(
        &mut crate::clients::Session,
        &'static crate::clients::catalog::ClientSpec,
    ) -> Result<ClientChange, crate::clients::ClientError>
    + Send
    + 'static,
) -> Response {
    let paths = hub.paths().clone();
    let result = blocking(move || {
        let spec = crate::clients::find(&id)?;
        let ctx = crate::clients::Context::from_env(paths)?;
        edit(&mut crate::clients::Session::new(ctx), spec)
    })
    .await;
    match result {
        Ok(Ok(change)) => Json(change).into_response(),
        Ok(Err(err)) => client_error(err),
        Err(response) => response,
    }
}

async fn install_client(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    body: Result<Json<InstallRequest>, JsonRejection>,
) -> Response {
    use crate::clients::{EntryState, InstallOptions, Outcome};
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    // An unknown profile serves nothing (the install itself refuses it).
    let tools = hub.served_tools(request.profile.as_deref()).unwrap_or(0);
    let profiles = hub.profiles();
    client_edit(&hub, id, move |session, spec| {
        let was = crate::clients::status(session.context(), spec).entry;
        let options = InstallOptions {
            direct: request.direct,
            profile: request.profile,
        };
        let outcome = session.install(spec, &options)?;
        let (path, changed) = match outcome {
            Outcome::Written { path, .. } => (path, true),
            Outcome::Unchanged { path } => (path, false),
        };
        let warning = spec.tool_limit.and_then(|limit| {
            let served = crate::config::profile::Served {
                id: spec.id,
                name: spec.name,
                limit: limit as usize,
                tools,
                profile: options.profile.as_deref(),
            };
            crate::config::profile::limit_warning(served, &profiles)
        });
        Ok(ClientChange {
            client: spec.id.to_owned(),
            path,
            changed,
            repaired: changed && matches!(was, EntryState::Missing | EntryState::Changed),
            next: spec.reload.to_owned(),
            warning,
        })
    })
    .await
}

async fn uninstall_client(State(hub): State<Hub>, Path(id): Path<String>) -> Response {
    use crate::clients::Outcome;
    client_edit(&hub, id, |session, spec| {
        let (path, changed) = match session.uninstall(spec)? {
            Outcome::Written { path, .. } => (path, true),
            Outcome::Unchanged { path } => (path, false),
        };
        Ok(ClientChange {
            client: spec.id.to_owned(),
            path,
            changed,
            repaired: false,
            next: spec.reload.to_owned(),
            warning: None,
        })
    })
    .await
}

async fn restore_client(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    body: Result<Json<RestoreRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    client_edit(&hub, id, move |session, spec| {
        let path = session.context().config_path(spec);
        let which = request.backup.as_deref().map(std::path::Path::new);
        session.restore(spec, which)?;
        Ok(ClientChange {
            client: spec.id.to_owned(),
            path,
            changed: true,
            repaired: false,
            next: spec.reload.to_owned(),
            warning: None,
        })
    })
    .await
}

fn registries(hub: &Hub) -> crate::registry::Registries {
    crate::registry::Registries::of(&hub.config(), hub.paths())
}

#[derive(Deserialize)]
struct CatalogQuery {
    #[serde(default)]
    q: String,
}

/// The catalogue's servers matching `q`. The registries are asked over async HTTP, bounded by
/// the registry client's timeouts; MCP requests are served meanwhile.
async fn catalog(State(hub): State<Hub>, Query(q): Query<CatalogQuery>) -> Json<CatalogSearch> {
    let found = registries(&hub).search(q.q.trim()).await;
    let lookup = crate::exec::Lookup::from_env();
    let mut present = std::collections::BTreeMap::new();
    let mut here = |program: &str| {
        *present
            .entry(program.to_owned())
            .or_insert_with(|| lookup.find(program).is_some())
    };
    let entries = (found.found.iter())
        .map(|f| catalog_entry(f, &mut here))
        .collect();
    Json(CatalogSearch {
        entries,
        from_snapshot: found.from_snapshot,
        failed: (found.failed.into_iter())
            .map(|(registry, error)| RegistryFailure { registry, error })
            .collect(),
    })
}

fn catalog_entry(
    found: &crate::registry::Found,
    here: &mut impl FnMut(&str) -> bool,
) -> CatalogEntry {
    use crate::registry::plan::{self, Way};
    let server = &found.record.server;
    let (kind, runtime, questions, problem) = match plan::choose(server) {
        Ok(way) => {
            let kind = match way {
                Way::Package(package) => match package.registry_type.as_str() {
                    "npm" => CatalogKind::Npm,
                    "pypi" => CatalogKind::Pypi,
                    _ => CatalogKind::Oci,
                },
                Way::Remote(remote) => {
                    // The checks `patchbay add --from-registry` makes before it connects.
                    let (kind, url, problem) = match plan::plan(server, way, &[], false) {
                        Ok(_) => (CatalogKind::Remote, Some(remote.url.clone()), None),
                        Err(err) => (CatalogKind::None, None, Some(err.to_string())),
                    };
                    let mut entry =
                        catalog_entry_with(found, kind, None, Vec::new(), problem, here);
                    entry.url = url;
                    return entry;
                }
                Way::Command(_) => CatalogKind::Command,
                // Its questions and runtime are in its manifest: the window asks for the
                // entry of the downloaded bundle (`/catalog/bundle` by name) before consent.
                Way::Bundle(_) => CatalogKind::Bundle,
            };
            let questions = plan::questions(way).into_iter().map(asked).collect();
            (kind, plan::runtime(way), questions, None)
        }
        Err(err) => (CatalogKind::None, None, Vec::new(), Some(err.to_string())),
    };
    catalog_entry_with(found, kind, runtime, questions, problem, here)
}

/// A question as the window asks it.
fn asked(q: crate::registry::plan::Question) -> CatalogQuestion {
    CatalogQuestion {
        name: q.name,
        description: q.description,
        secret: q.secret,
        default: q.default,
        choices: q.choices,
    }
}

fn catalog_entry_with(
    found: &crate::registry::Found,
    kind: CatalogKind,
    runtime: Option<&str>,
    questions: Vec<CatalogQuestion>,
    problem: Option<String>,
    here: &mut impl FnMut(&str) -> bool,
) -> CatalogEntry {
    let server = &found.record.server;
    CatalogEntry {
        name: server.name.clone(),
        title: server.title.clone(),
        description: server.description.clone(),
        version: server.version.clone(),
        icon: server.icons.first().map(|icon| icon.src.clone()),
        kind,
        runtime: runtime.map(str::to_owned),
        runtime_present: match runtime {
            Some(program) => here(program),
            None => kind != CatalogKind::None,
        },
        questions,
        problem,
        deprecated: found.record.status() == Some("deprecated"),
        registry: found.registry.clone(),
        url: None,
    }
}

/// What a catalogue request would add: the entry planned, as shown, and a bundle's files to
/// unpack once the user says yes.
struct Proposal {
    adding: crate::registry::plan::Adding,
    shown: CatalogPlan,
    bundle: Option<Bundle>,
}

/// The entry a catalogue request would add, through the same [`crate::registry::plan::adding`]
/// as `patchbay add --from-registry` (or [`bundle::adding`] as `patchbay add --mcpb`); a
/// refusal is the answer to send.
async fn catalog_plan(hub: &Hub, request: &CatalogRequest) -> Result<Proposal, Response> {
    use crate::registry::plan::{self, AddingError, Way};
    if let Some(path) = &request.bundle {
        return bundle_plan(hub, path, request).await;
    }
    let found = match &request.link {
        Some(link) => linked(hub, link).await?,
        None => (registries(hub)
            .get(&request.name, request.version.as_deref())
            .await)
            .map_err(registry_error)?,
    };
    let detail = &found.record.server;
    let refused =
        |err: plan::PlanError| error(StatusCode::BAD_REQUEST, format!("cannot add it: {err}"));
    let way = plan::choose(detail).map_err(refused)?;
    if let Way::Bundle(package) = way {
        let (opened, url) = registry_bundle(hub, package).await?;
        let source = crate::config::RegistrySource {
            name: detail.name.clone(),
            version: detail.version.clone(),
        };
        let from = From {
            file: url,
            registry: found.registry.clone(),
            source: Some(source),
        };
        return bundle_proposal(hub, opened, from, request).await;
    }
    if let Way::Remote(remote) = way {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` runs remotely at {}: connect to it instead (the window's Add does)",
                detail.name, remote.url
            ),
        ));
    }
    let lookup = crate::exec::Lookup::from_env();
    let docker = lookup.find("docker").is_some();
    let adding = plan::adding(
        &hub.config(),
        detail,
        way,
        &request.answers,
        local_name(request),
        docker,
    )
    .map_err(|err| match err {
        AddingError::Plan(err) => refused(err),
        AddingError::Name(err) => config_error(err),
    })?;
    let server = &adding.planned.server;
    let shown = CatalogPlan {
        name: adding.name.clone(),
        registry_name: detail.name.clone(),
        version: detail.version.clone(),
        registry: found.registry.clone(),
        command_line: server.shown_command_line(),
        env: server.env.keys().cloned().collect(),
        secret_env: server.secret_env.clone(),
        runtime_present: lookup.find(&server.command).is_some(),
        saved: false,
        bundle: None,
    };
    Ok(Proposal {
        adding,
        shown,
        bundle: None,
    })
}

/// The name the request asks for; none when blank (one is made).
fn local_name(request: &CatalogRequest) -> Option<String> {
    request.local_name.clone().filter(|n| !n.trim().is_empty())
}

/// Where a catalogue entry from a bundle file says it came from.
const FROM_BUNDLE: &str = "bundle";

/// A refused bundle as the answer says it: the cause, whole, with nothing added.
fn bundle_error(status: StatusCode, err: BundleError) -> Response {
    match err {
        BundleError::Name(err) => config_error(err),
        err => error(
            status,
            format!("nothing was added: {}", crate::human::error_chain(&err)),
        ),
    }
}

/// The bundle file at `path` (absolute), read and checked off the async threads; nothing is
/// unpacked.
async fn opened_bundle(path: &str) -> Result<Bundle, Response> {
    let path = std::path::PathBuf::from(path);
    blocking(move || bundle::read(&path).and_then(Bundle::open))
        .await?
        .map_err(|err| bundle_error(StatusCode::BAD_REQUEST, err))
}

/// This machine's folders, as a bundle's manifest names them; read off the async threads (the
/// desktop's folders are in a file).
async fn facts() -> Result<bundle::render::Facts, Response> {
    (blocking(bundle::render::Facts::current).await?)
        .ok_or(BundleError::NoHome)
        .map_err(|err| bundle_error(StatusCode::INTERNAL_SERVER_ERROR, err))
}

/// Whether what the bundle's entry runs is here: its runtime (`node`, `python3`, `uv`), and
/// its command unless the bundle carries it (that is not there before it is unpacked).
fn bundle_runs_here(opened: &Bundle, server: &crate::config::ServerConfig) -> bool {
    let lookup = crate::exec::Lookup::from_env();
    let runtime = opened.manifest.server.kind.runtime();
    let command = (!bundle::carries_command(server)).then_some(server.command.as_str());
    runtime
        .into_iter()
        .chain(command)
        .all(|program| lookup.find(program).is_some())
}

/// The entry the bundle file at `path` adds, through the same [`bundle::adding`] as
/// `patchbay add --mcpb`.
async fn bundle_plan(
    hub: &Hub,
    path: &str,
    request: &CatalogRequest,
) -> Result<Proposal, Response> {
    let opened = opened_bundle(path).await?;
    let from = From {
        file: path.to_owned(),
        registry: FROM_BUNDLE.to_owned(),
        source: None,
    };
    bundle_proposal(hub, opened, from, request).await
}

/// Where a bundle came from: its file (a path, or the URL it was downloaded from), the
/// registry that listed it, and the record to keep in its entry (for updates).
struct From {
    file: String,
    registry: String,
    source: Option<crate::config::RegistrySource>,
}

/// The registry record's bundle `package`, downloaded (or taken from the downloads kept, its
/// `fileSha256` checked either way) and opened; with its URL.
async fn registry_bundle(
    hub: &Hub,
    package: &crate::registry::record::Package,
) -> Result<(Bundle, String), Response> {
    let (url, sha256) = crate::registry::plan::bundle_file(package)
        .map_err(|err| error(StatusCode::BAD_REQUEST, format!("cannot add it: {err}")))?;
    let bytes = bundle::fetch(hub.paths(), url, sha256)
        .await
        .map_err(|err| bundle_error(StatusCode::BAD_REQUEST, err))?;
    let opened = (blocking(move || Bundle::open(bytes)).await?)
        .map_err(|err| bundle_error(StatusCode::BAD_REQUEST, err))?;
    Ok((opened, url.to_owned()))
}

/// What adding the bundle `opened` would do, through the same [`bundle::adding`] as
/// `patchbay add --mcpb`.
async fn bundle_proposal(
    hub: &Hub,
    opened: Bundle,
    from: From,
    request: &CatalogRequest,
) -> Result<Proposal, Response> {
    let facts = facts().await?;
    let (config, paths) = (hub.config(), hub.paths().clone());
    let (answers, local) = (request.answers.clone(), local_name(request));
    // Off the async threads: the runtimes' `--version` are run and waited for.
    let (opened, added) = blocking(move || {
        let added = bundle::adding(&config, &paths, &opened, &facts, &answers, local);
        (opened, added)
    })
    .await?;
    let (mut adding, needs) = added.map_err(|err| bundle_error(StatusCode::BAD_REQUEST, err))?;
    adding.planned.server.registry = from.source;
    let server = &adding.planned.server;
    let manifest = &opened.manifest;
    let dir = (server.bundle.as_ref())
        .map(|b| b.dir.display().to_string())
        .unwrap_or_default();
    let shown = CatalogPlan {
        name: adding.name.clone(),
        registry_name: (server.registry.as_ref()).map_or(manifest.name.clone(), |r| r.name.clone()),
        version: manifest.version.clone(),
        registry: from.registry,
        command_line: server.shown_command_line(),
        env: server.env.keys().cloned().collect(),
        secret_env: server.secret_env.clone(),
        runtime_present: bundle_runs_here(&opened, server),
        saved: false,
        bundle: Some(BundlePlan {
            file: from.file,
            author: manifest.author.clone(),
            signature: opened.signature().to_string(),
            requirements: needs.iter().map(ToString::to_string).collect(),
            dir,
        }),
    };
    Ok(Proposal {
        adding,
        shown,
        bundle: Some(opened),
    })
}

/// The catalogue entry a bundle adds (a file's, or a registry record's, downloaded), as search
/// shows one (its questions, its runtime), for the consent view; nothing unpacked or saved.
async fn catalog_bundle(
    State(hub): State<Hub>,
    body: Result<Json<BundleRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    let (opened, name, version, registry) = match (&request.path, &request.name) {
        (Some(path), None) => match opened_bundle(path).await {
            Ok(opened) => {
                let (name, version) = (
                    opened.manifest.name.clone(),
                    opened.manifest.version.clone(),
                );
                (opened, name, version, FROM_BUNDLE.to_owned())
            }
            Err(response) => return response,
        },
        (None, Some(name)) => {
            match registry_bundle_entry(&hub, name, request.version.as_deref()).await {
                Ok(found) => found,
                Err(response) => return response,
            }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "name either a bundle file (`path`) or a registry record (`name`)",
            );
        }
    };
    let facts = match facts().await {
        Ok(facts) => facts,
        Err(response) => return response,
    };
    let manifest = &opened.manifest;
    let runtime = manifest.server.kind.runtime();
    let lookup = crate::exec::Lookup::from_env();
    Json(CatalogEntry {
        name,
        title: None,
        description: manifest.description.clone(),
        version,
        icon: None,
        kind: CatalogKind::Bundle,
        runtime: runtime.map(str::to_owned),
        runtime_present: runtime.is_none_or(|program| lookup.find(program).is_some()),
        questions: (bundle::questions(manifest, &facts).into_iter())
            .map(asked)
            .collect(),
        problem: None,
        deprecated: false,
        registry,
        url: None,
    })
    .into_response()
}

/// The registry record `name` (at `version`, else the latest) whose package is a bundle: the
/// bundle downloaded and opened, the record's name and version, the registry.
async fn registry_bundle_entry(
    hub: &Hub,
    name: &str,
    version: Option<&str>,
) -> Result<(Bundle, String, String, String), Response> {
    use crate::registry::plan::{self, Way};
    let found = (registries(hub).get(name, version).await).map_err(registry_error)?;
    let detail = &found.record.server;
    let refused =
        |err: plan::PlanError| error(StatusCode::BAD_REQUEST, format!("cannot add it: {err}"));
    let Way::Bundle(package) = plan::choose(detail).map_err(refused)? else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("`{name}` is not an .mcpb bundle: add it by its name"),
        ));
    };
    let (opened, _) = registry_bundle(hub, package).await?;
    Ok((
        opened,
        detail.name.clone(),
        detail.version.clone(),
        found.registry.clone(),
    ))
}

fn registry_error(err: crate::registry::RegistryError) -> Response {
    use crate::registry::RegistryError;
    match err {
        RegistryError::NotFound(_) => error(StatusCode::NOT_FOUND, err.to_string()),
        RegistryError::Unreachable(_) => error(StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

/// The record install link `link` adds, through the core parser; its refusal is the answer.
async fn linked(hub: &Hub, link: &str) -> Result<crate::registry::Found, Response> {
    let link = crate::registry::link::parse(link)
        .map_err(|err| error(StatusCode::BAD_REQUEST, err.to_string()))?;
    link.resolve(&registries(hub)).await.map_err(registry_error)
}

/// The catalogue entry an install link adds, as search shows one (questions, runtime), for
/// the consent view; nothing saved.
async fn catalog_link(
    State(hub): State<Hub>,
    body: Result<Json<crate::api::LinkRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    let found = match linked(&hub, &request.link).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let lookup = crate::exec::Lookup::from_env();
    Json(catalog_entry(&found, &mut |program| {
        lookup.find(program).is_some()
    }))
    .into_response()
}

async fn catalog_preview(
    State(hub): State<Hub>,
    body: Result<Json<CatalogRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    match catalog_plan(&hub, &request).await {
        Ok(proposal) => Json(proposal.shown).into_response(),
        Err(response) => response,
    }
}

/// Add a catalogue entry the user said yes to: its secrets to the keychain first, then the
/// entry to the config file (the secrets deleted again if that fails), then applied.
async fn catalog_add(
    State(hub): State<Hub>,
    body: Result<Json<CatalogRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    if !request.confirmed {
        return error(
            StatusCode::BAD_REQUEST,
            "nothing was added: the server runs with the user's rights, so adding it needs \
             `confirmed: true` once the user said yes to the command shown",
        );
    }
    let Proposal {
        adding,
        mut shown,
        bundle: opened,
    } = match catalog_plan(&hub, &request).await {
        Ok(proposal) => proposal,
        Err(response) => return response,
    };
    let crate::registry::plan::Adding { name, planned } = adding;
    // A bundle's files first, as `patchbay add --mcpb` does: undone if a later step fails.
    let unpacked = match (opened, planned.server.bundle.clone()) {
        (Some(mut opened), Some(source)) => {
            let paths = hub.paths().clone();
            let dir = source.dir.clone();
            match blocking(move || bundle::install(&paths, &mut opened, &dir)).await {
                Ok(Ok(())) => Some(source),
                Ok(Err(err)) => return bundle_error(StatusCode::INTERNAL_SERVER_ERROR, err),
                Err(response) => return response,
            }
        }
        _ => None,
    };
    let undo_unpacking = || {
        if let Some(source) = &unpacked {
            let _ = bundle::remove(hub.paths(), source);
        }
    };
    let vault = hub.vault();
    let mut stored = Vec::new();
    for (var, value) in &planned.secrets {
        let value = crate::secret::Secret::new(value.clone());
        if let Err(err) = vault.set_env(&name, var, &value).await {
            let _ = vault.forget_server(&name, &stored).await;
            undo_unpacking();
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("nothing was added: the keychain did not keep `{var}`: {err}"),
            );
        }
        stored.push(var.clone());
    }
    let path = hub.paths().config_file.clone();
    let mut server = planned.server;
    server.enabled = !request.disabled;
    let adding_name = name.clone();
    let failed =
        match blocking(move || crate::config::edit::add_server(&path, &adding_name, &server)).await
        {
            Ok(Ok(config)) => {
                hub.apply(config);
                shown.saved = true;
                return (StatusCode::CREATED, Json(shown)).into_response();
            }
            Ok(Err(err)) => config_error(err),
            Err(response) => response,
        };
    if !stored.is_empty() {
        let _ = vault.forget_server(&name, &stored).await;
    }
    undo_unpacking();
    failed
}

async fn sign_in(
    State(hub): State<Hub>,
    Json(request): Json<crate::oauth::connect::ConnectRequest>,
) -> Response {
    let flow = hub.start_connect(request);
    (StatusCode::ACCEPTED, Json(json!({ "flow": flow }))).into_response()
}

async fn flow(State(hub): State<Hub>, Path(flow): Path<String>) -> Response {
    match hub.flow(&flow) {
        Some(view) => Json(view).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no sign-in `{flow}`")),
    }
}

async fn cancel_flow(State(hub): State<Hub>, Path(flow): Path<String>) -> Response {
    if hub.cancel_flow(&flow) {
        Json(json!({ "cancelled": flow })).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no sign-in `{flow}`"))
    }
}

async fn tool_changes(State(hub): State<Hub>) -> Json<Vec<crate::hub::review::ToolChange>> {
    Json(hub.tool_changes())
}

async fn accept_tool_changes(
    State(hub): State<Hub>,
    request: Result<Json<crate::api::AcceptToolChanges>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return bad_body(rejection),
    };
    match hub.accept_tool_changes(&request.server, &request.tools) {
        Ok(accepted) => Json(json!({ "accepted": accepted })).into_response(),
        Err(why) => error(StatusCode::CONFLICT, why),
    }
}

async fn tokens(State(hub): State<Hub>) -> Json<Vec<crate::oauth::TokenStatus>> {
    Json(hub.token_statuses().await)
}

/// The keeper of a configured remote server, or the answer saying why there is none.
fn remote_keeper(
    hub: &Hub,
    name: &str,
) -> Result<std::sync::Arc<crate::oauth::Keeper>, (StatusCode, String)> {
    match hub.config().servers.get(name).map(|s| s.url.clone()) {
        Some(Some(url)) => Ok(hub.keeper(name, &url)),
        Some(None) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{name}` is a stdio server; it has no tokens"),
        )),
        None => Err((StatusCode::NOT_FOUND, format!("no server named `{name}`"))),
    }
}

fn keeper_error(err: crate::oauth::KeeperError) -> Response {
    use crate::oauth::KeeperError;
    let status = match &err {
        KeeperError::NeedsSignIn { .. } | KeeperError::NoTokens(_) => StatusCode::CONFLICT,
        KeeperError::Transient { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, err.to_string())
}

async fn refresh_tokens(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    let keeper = match remote_keeper(&hub, &name) {
        Ok(keeper) => keeper,
        Err((status, message)) => return error(status, message),
    };
    match keeper.refresh_now().await {
        Ok(status) => Json(status).into_response(),
        Err(err) => keeper_error(err),
    }
}

async fn revoke_tokens(State(hub): State<Hub>, Path(name): Path<String>) -> Response {
    let keeper = match remote_keeper(&hub, &name) {
        Ok(keeper) => keeper,
        Err((status, message)) => return error(status, message),
    };
    match keeper.revoke().await {
        Ok(revoked) => Json(revoked).into_response(),
        Err(err) => keeper_error(err),
    }
}

async fn shutdown(State(hub): State<Hub>) -> Json<Value> {
    // The answer goes out before the listener drains: graceful shutdown finishes this request.
    hub.stopping().cancel();
    Json(json!({ "stopping": true }))
}

async fn events(
    State(hub): State<Hub>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let receiver = hub.events().subscribe();
    // The stream ends with the hub: an open stream would hold its graceful shutdown until the
    // next keep-alive found the reader gone.
    let stopping = hub.stopping();
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(event) => event,
            // A slow reader missed some events; it re-reads status on `lagged`.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                crate::events::HubEvent::Lagged
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        let event = Event::default()
            .event(event.kind())
            .json_data(&event)
            .unwrap_or_default();
        Some((Ok(event), receiver))
    })
    .take_until(stopping.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(served_tools: Option<usize>, profile: Option<&str>) -> ClientStatus {
        ClientStatus {
            id: "cursor",
            name: "Cursor",
            path: "/home/u/.cursor/mcp.json".into(),
            format: crate::clients::catalog::Format::Json,
            detected: true,
            installed: true,
            entry: crate::clients::EntryState::Intact,
            mode: None,
            direct: true,
            tool_limit: Some(40),
            profile: profile.map(str::to_owned),
            error: None,
            reload: "",
            served_tools,
            fitting_profile: None,
        }
    }

    fn profile(name: &str, served_tools: usize) -> ProfileStatus {
        ProfileStatus {
            name: name.to_owned(),
            servers: Vec::new(),
            tools: Vec::new(),
            unknown_servers: Vec::new(),
            served_tools,
            path: format!("/p/{name}/mcp"),
            problem: None,
        }
    }

    #[test]
    fn a_client_over_its_tool_limit_is_offered_the_profile_that_fits() {
        let profiles = [
            profile("all", 50),
            profile("most", 30),
            profile("small", 10),
        ];
        assert_eq!(
            fitting_profile(&cursor(Some(50), None), &profiles),
            Some(FittingProfile {
                name: "most".into(),
                served_tools: 30
            }),
            "the fitting profile serving the most tools"
        );
        assert_eq!(
            serde_json::to_value(fitting_profile(&cursor(Some(50), Some("all")), &profiles))
                .unwrap(),
            json!({"name": "most", "served_tools": 30}),
            "served as an object with its name and tool count"
        );
        assert_eq!(
            fitting_profile(&cursor(Some(30), Some("most")), &profiles),
            None,
            "within its limit there is nothing to suggest"
        );
        assert_eq!(
            fitting_profile(&cursor(None, Some("gone")), &profiles),
            None,
            "no count, no suggestion"
        );
        let no_limit = ClientStatus {
            tool_limit: None,
            ..cursor(Some(50), None)
        };
        assert_eq!(
            fitting_profile(&no_limit, &profiles),
            None,
            "no limit known"
        );
        assert_eq!(
            fitting_profile(&cursor(Some(50), None), &[profile("all", 50)]),
            None,
            "no profile fits"
        );
    }
}
