//! Client sessions: the MCP server each client session talks to ([`HubService`]), which
//! serves the catalogue and forwards a session's requests to the upstream that owns the name.

use std::sync::Arc;

use rmcp::model::*;
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
    SubscriptionContext,
};
use rmcp::{ErrorData, ServerHandler, ServiceError};

use super::apps;
use super::catalog::Catalog;
use crate::events::CallRecord;

use super::calls::{CallGuard, Caller};
use super::rounds::{self, Call, Step};
use super::tasks;
use super::updates::Subscriber;
use super::{FIRST_START_WAIT, Hub};
use tokio_util::sync::CancellationToken;

/// Items per page of a merged list.
pub const PAGE_SIZE: usize = 500;

/// `_meta` keys that describe the client's own session with the hub; they are not forwarded.
const SESSION_META_PREFIX: &str = "io.modelcontextprotocol/";

/// How often a call waiting for a sign-in tells its client (when it asked for progress).
const SIGN_IN_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a request to a server failed.
enum Failed {
    /// The server did not serve it for want of a sign-in: it may go again after one.
    Unserved(ErrorData),
    /// Anything else.
    Other(ErrorData),
}

impl Failed {
    fn into_error(self) -> ErrorData {
        match self {
            Failed::Unserved(err) | Failed::Other(err) => err,
        }
    }
}

impl Hub {
    pub(super) fn live_sessions(&self) -> Vec<Peer<RoleServer>> {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        sessions.retain(|p| !p.is_transport_closed());
        sessions.clone()
    }

    pub(super) fn notify_sessions(&self, tools: bool, prompts: bool, resources: bool) {
        let listeners = self.inner.listeners.lock().expect("listeners lock").clone();
        for (_, sink) in listeners {
            let accepted = sink.accepted();
            let tools = tools && accepted.tools_list_changed == Some(true);
            let prompts = prompts && accepted.prompts_list_changed == Some(true);
            let resources = resources && accepted.resources_list_changed == Some(true);
            tokio::spawn(async move {
                if tools {
                    let _ = sink.notify_tool_list_changed().await;
                }
                if prompts {
                    let _ = sink.notify_prompt_list_changed().await;
                }
                if resources {
                    let _ = sink.notify_resource_list_changed().await;
                }
            });
        }
        for peer in self.live_sessions() {
            tokio::spawn(async move {
                if tools {
                    let _ = peer.notify_tool_list_changed().await;
                }
                if prompts {
                    let _ = peer.notify_prompt_list_changed().await;
                }
                if resources {
                    let _ = peer.notify_resource_list_changed().await;
                }
            });
        }
    }
}

/// The MCP server one client session talks to.
#[derive(Clone)]
pub struct HubService {
    hub: Hub,
    /// This session's number (a session's resource subscriptions are kept under it).
    number: u64,
    /// The profile this session is served (`/p/<profile>/mcp`); none: everything.
    profile: Option<String>,
}

impl HubService {
    /// A handler for one client session.
    pub fn new(hub: Hub) -> Self {
        Self::with_profile(hub, None)
    }

    /// A handler for one client session of `profile`.
    pub fn for_profile(hub: Hub, profile: String) -> Self {
        Self::with_profile(hub, Some(profile))
    }

    fn with_profile(hub: Hub, profile: Option<String>) -> Self {
        let number = hub.next_id();
        Self {
            hub,
            number,
            profile,
        }
    }

    /// What this session sees: the whole catalogue, or its profile's part.
    fn snapshot(&self) -> Arc<Catalog> {
        match &self.profile {
            Some(profile) => self.hub.profile_catalog(profile),
            None => self.hub.catalog(),
        }
    }

    /// The cache hints of a list (2026-07-28; earlier revisions have none): what is true of
    /// the catalogue this session sees ([`Catalog::ttl_ms`], [`Catalog::cache_scope`]).
    fn cache_hints(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> (Option<u64>, Option<CacheScope>) {
        if !stateless(context) {
            return (None, None);
        }
        let catalog = self.snapshot();
        (Some(catalog.ttl_ms()), Some(catalog.cache_scope()))
    }

    /// The error for a name this session cannot see: outside its profile, or unknown.
    fn not_here(&self, what: &str, name: &str, exists: impl Fn(&Catalog) -> bool) -> ErrorData {
        match &self.profile {
            Some(profile) if exists(&self.hub.catalog()) => ErrorData::invalid_params(
                format!("{what} `{name}` is not in profile `{profile}`"),
                None,
            ),
            _ => ErrorData::invalid_params(format!("unknown {what} `{name}`"), None),
        }
    }

    /// One page of a merged list, once servers on their first start have listed theirs.
    async fn page_of<T: Clone>(
        &self,
        request: Option<&PaginatedRequestParams>,
        items: impl Fn(&Catalog) -> &Vec<T>,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        self.hub.first_start_done(FIRST_START_WAIT).await;
        page(items(&self.snapshot()), request)
    }

    /// The catalogue, once servers on their first start have listed (bounded wait): a call
    /// made right after the hub started must find tools that are about to appear.
    async fn catalog_with(&self, found: impl Fn(&Catalog) -> bool) -> Arc<Catalog> {
        let catalog = self.snapshot();
        if found(&catalog) {
            return catalog;
        }
        self.hub.first_start_done(FIRST_START_WAIT).await;
        self.snapshot()
    }

    /// The session with `server` for a call, and the mark that keeps a lazy server from being
    /// stopped for idleness meanwhile. An idle lazy server is started first, and a call to a
    /// server still starting (its tools listed from the cache) waits for it; a client that
    /// asked for progress hears that it is starting.
    async fn ready_peer(
        &self,
        server: &str,
        progress: Option<&ProgressToken>,
        caller: &Peer<RoleServer>,
    ) -> Result<(Peer<RoleClient>, Option<crate::hub::upstream::InUse>), ErrorData> {
        let Some(up) = self.hub.upstream(server) else {
            return self.running_peer(server).map(|p| (p, None));
        };
        let in_use = up.begin_use();
        if let Some(peer) = up.peer() {
            return Ok((peer, Some(in_use)));
        }
        if matches!(
            up.status().state,
            crate::api::ServerState::Idle | crate::api::ServerState::Starting
        ) {
            if let Some(token) = progress {
                let note = ProgressNotificationParam::new(token.clone(), 0.0)
                    .with_message(format!("starting server `{server}`"));
                let _ = caller.notify_progress(note).await;
            }
            if let Some(peer) = up.ready(crate::hub::upstream::START_TIMEOUT).await {
                return Ok((peer, Some(in_use)));
            }
        }
        self.running_peer(server).map(|p| (p, Some(in_use)))
    }

    fn running_peer(&self, server: &str) -> Result<Peer<RoleClient>, ErrorData> {
        let up = self.hub.upstream(server).ok_or_else(|| {
            ErrorData::internal_error(format!("server `{server}` is not running"), None)
        })?;
        up.peer().ok_or_else(|| {
            if let Some(reason) = up.sign_in_needed() {
                return ErrorData::internal_error(reason, None);
            }
            let status = up.status();
            let mut message = format!("server `{server}` is {}", status.state.as_str());
            if let Some(ms) = status.retry_in_ms {
                message.push_str(&format!(" (next attempt in {} ms)", ms));
            }
            if let Some(err) = status.last_error {
                message.push_str(&format!(": {err}"));
            }
            ErrorData::internal_error(message, None)
        })
    }

    /// Forward one request to `server`. The client's session keys (`io.modelcontextprotocol/*`)
    /// are dropped from `_meta` (the hub has its own session upstream); rmcp puts its own
    /// progress token on every request, and the client's token is mapped to it. A client
    /// cancellation sends `notifications/cancelled` upstream and ends the request at once.
    async fn forward(
        &self,
        server: &str,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let caller = Caller::Session(context.peer.clone());
        self.forward_as(server, request, context, caller, context.ct.clone())
            .await
    }

    /// [`Self::forward`] for `caller`, ended by `cancel`. A request a remote server did not
    /// serve because its sign-in had lapsed waits for a new sign-in (`[hub] sign_in_wait`),
    /// then goes again, once: only such a request, so nothing runs twice.
    async fn forward_as(
        &self,
        server: &str,
        mut request: ClientRequest,
        context: &RequestContext<RoleServer>,
        caller: Caller,
        cancel: CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        let meta = request.get_meta_mut();
        meta.retain(|key, _| !key.starts_with(SESSION_META_PREFIX));
        // rmcp moves the client's `_meta` into the request context.
        let client_token = meta
            .get_progress_token()
            .or_else(|| context.meta.get_progress_token());
        let token = client_token.as_ref();
        let wait = (self.hub.upstream(server).is_some_and(|u| u.signs_in()))
            .then(|| self.hub.config().hub.sign_in_wait())
            .flatten();
        let again = wait.map(|_| request.clone());
        let first = self
            .send(server, request, context, caller.clone(), &cancel, token)
            .await;
        match (first, wait, again) {
            (Err(Failed::Unserved(_)), Some(limit), Some(request)) => {
                self.wait_for_sign_in(server, limit, token, &context.peer, &cancel)
                    .await?;
                self.send(server, request, context, caller, &cancel, token)
                    .await
                    .map_err(Failed::into_error)
            }
            (first, _, _) => first.map_err(Failed::into_error),
        }
    }

    /// Send `request` to `server` once.
    async fn send(
        &self,
        server: &str,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
        caller: Caller,
        cancel: &CancellationToken,
        client_token: Option<&ProgressToken>,
    ) -> Result<ServerResult, Failed> {
        let started = std::time::Instant::now();
        let (peer, _in_use) = self
            .ready_peer(server, client_token, &context.peer)
            .await
            .map_err(|err| {
                // Not sent at all: no session while the sign-in is wanted.
                match self
                    .hub
                    .upstream(server)
                    .is_some_and(|u| u.sign_in_lapsed())
                {
                    true => Failed::Unserved(err),
                    false => Failed::Other(err),
                }
            })?;
        let mut options = PeerRequestOptions::no_options();
        if self.takes_tasks_from(server, &request, context) {
            options = options.with_meta(tasks::taking_tasks());
        }
        let task = tasks::about(&request);
        let mut guard = CallGuard::new(&self.hub, server, caller, task);
        let handle = peer
            .send_request_with_option(request, options)
            .await
            .map_err(|err| Failed::Other(upstream_error(server, err)))?;
        if let Some(token) = client_token {
            guard.route_progress(
                handle.progress_token.clone(),
                context.peer.clone(),
                token.clone(),
            );
        }
        let id = handle.id.clone();
        tokio::select! {
            result = handle.await_response() => result.map_err(|err| {
                if !matches!(err, ServiceError::McpError(_))
                    && let Some(up) = self.hub.upstream(server)
                {
                    if let Some(reason) = up
                        .auth_failure_since(started)
                        .or_else(|| up.sign_in_needed())
                    {
                        let error = ErrorData::internal_error(reason, None);
                        return match up.unserved_since(&id, started) {
                            true => Failed::Unserved(error),
                            false => Failed::Other(error),
                        };
                    }
                    up.check_health();
                }
                Failed::Other(upstream_error(server, err))
            }),
            _ = cancel.cancelled() => {
                let reason = Some("cancelled by the client".to_owned());
                let _ = peer.notify_cancelled(CancelledNotificationParam::new(Some(id), reason)).await;
                Err(Failed::Other(ErrorData::internal_error("request cancelled by the client", None)))
            }
        }
    }

    /// Wait, at most `limit`, for a new sign-in to `server` (the hub opens one, or joins the one
    /// under way), telling a client that asked for progress what it waits for; then for the
    /// server to serve again.
    async fn wait_for_sign_in(
        &self,
        server: &str,
        limit: std::time::Duration,
        client_token: Option<&ProgressToken>,
        caller: &Peer<RoleServer>,
        cancel: &CancellationToken,
    ) -> Result<(), ErrorData> {
        let started = std::time::Instant::now();
        let signed_in = self.hub.signed_in(server, limit);
        tokio::pin!(signed_in);
        let mut beat = tokio::time::interval(SIGN_IN_PROGRESS_EVERY);
        loop {
            tokio::select! {
                outcome = &mut signed_in => {
                    outcome.map_err(|why| ErrorData::internal_error(why, None))?;
                    break;
                }
                _ = beat.tick() => {
                    if let Some(token) = client_token {
                        let note = ProgressNotificationParam::new(
                            token.clone(),
                            started.elapsed().as_secs_f64(),
                        )
                        .with_total(limit.as_secs_f64())
                        .with_message(format!("sign in to `{server}`: a browser window is open"));
                        let _ = caller.notify_progress(note).await;
                    }
                }
                _ = cancel.cancelled() => {
                    return Err(ErrorData::internal_error("request cancelled by the client", None));
                }
            }
        }
        if let Some(up) = self.hub.upstream(server) {
            up.ready(crate::hub::upstream::START_TIMEOUT).await;
        }
        Ok(())
    }

    /// [`Self::forward`] for a request during which the server may ask the client something
    /// (`tools/call`, `prompts/get`, `resources/read`): a session is asked directly, a stateless
    /// client in rounds ([`super::rounds`]); `what` (method and exposed name) names what was
    /// called, for its retries.
    async fn forward_asking(
        &self,
        server: &str,
        what: (&str, &str),
        mut request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        if !stateless(context) {
            // Only a 2026-07-28 server answers with rounds of its own (and only then is the
            // request kept for a retry).
            let speaks_2026 = self.hub.upstream(server).is_some_and(|u| u.speaks_2026());
            return match speaks_2026 {
                true => self.forward_answering(server, request, context).await,
                false => self.forward(server, request, context).await,
            };
        }
        let what = format!("{} {}", what.0, what.1);
        let (responses, state) = take_round(&mut request);
        let mut call = match state {
            Some(state) => {
                let mut call = self.hub.resume(&state, &what)?;
                call.answer(responses.unwrap_or_default());
                call
            }
            None => {
                let (service, server, context) = (self.clone(), server.to_owned(), context.clone());
                let takes = Arc::new(context.meta.client_capabilities().unwrap_or_default());
                Call::start(what, move |asks, cancel| async move {
                    let caller = Caller::Rounds(asks, takes);
                    service
                        .forward_as(&server, request, &context, caller, cancel)
                        .await
                })
            }
        };
        let step = tokio::select! {
            step = call.next() => step,
            // Dropping the call cancels it upstream.
            _ = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("request cancelled by the client", None));
            }
        };
        match step {
            Step::Done(result) => *result,
            Step::Asked(questions) => {
                let state = self.hub.park(call)?;
                let asked = InputRequiredResult::new(Some(questions), Some(state));
                Ok(ServerResult::InputRequiredResult(asked))
            }
        }
    }

    /// [`Self::forward`] for a session client, answering a 2026-07-28 server's own
    /// `input_required` rounds by asking the client directly and retrying (bounded).
    async fn forward_answering(
        &self,
        server: &str,
        mut request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        for _ in 0..MAX_ROUNDS {
            let asked = match self.forward(server, request.clone(), context).await? {
                ServerResult::InputRequiredResult(asked) => asked,
                done => return Ok(done),
            };
            let questions = asked.input_requests.unwrap_or_default();
            let answers = rounds::answer_here(&context.peer, questions).await?;
            put_round(&mut request, answers, asked.request_state);
        }
        Err(ErrorData::internal_error(
            format!("server `{server}` still asked for input after {MAX_ROUNDS} rounds"),
            None,
        ))
    }
}

impl HubService {
    /// Whether `request` goes to `server` as from a client that takes tasks: a call or a task
    /// method of a 2026-07-28 client that declares the tasks extension, to a 2026-07-28 server.
    fn takes_tasks_from(
        &self,
        server: &str,
        request: &ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> bool {
        matches!(
            request,
            ClientRequest::CallToolRequest(_)
                | ClientRequest::GetTaskRequest(_)
                | ClientRequest::UpdateTaskRequest(_)
                | ClientRequest::CancelTaskRequest(_)
        ) && stateless(context)
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks())
            && self.hub.upstream(server).is_some_and(|up| up.speaks_2026())
    }

    /// The server and its own id behind the exposed task id `exposed`, if this session can
    /// see that server.
    fn task_here<'a>(&self, exposed: &'a str) -> Result<(&'a str, &'a str), ErrorData> {
        tasks::split_id(exposed)
            .filter(|(server, _)| self.snapshot().has_server(server))
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown task `{exposed}`"), None))
    }

    /// A task method (tasks extension) for the 2026-07-28 server whose task `exposed` names,
    /// `request` made from the server's own id.
    async fn to_task_server(
        &self,
        exposed: &str,
        request: impl FnOnce(&str) -> ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<(String, ServerResult), ErrorData> {
        let (server, id) = self.task_here(exposed)?;
        if !self.hub.upstream(server).is_some_and(|up| up.speaks_2026()) {
            return Err(ErrorData::invalid_params(
                format!("unknown task `{exposed}`"),
                None,
            ));
        }
        let answer = self.forward(server, request(id), context).await?;
        Ok((server.to_owned(), answer))
    }

    /// Follow `task` (made for a 2026-07-28 client, ids exposed) by fetching its result at once,
    /// in rounds: the server's questions during it reach the client through `tasks/get`.
    fn follow_task(&self, server: &str, task: &Task, context: &RequestContext<RoleServer>) {
        let Some((_, id)) = tasks::split_id(&task.task_id) else {
            return;
        };
        let params = serde_json::json!({ "taskId": id });
        let request =
            ClientRequest::CustomRequest(CustomRequest::new("tasks/result", Some(params)));
        let (service, at, context) = (self.clone(), server.to_owned(), context.clone());
        let takes = Arc::new(context.meta.client_capabilities().unwrap_or_default());
        let fetch = Call::start("tasks/result".to_owned(), move |asks, cancel| async move {
            let caller = Caller::Rounds(asks, takes);
            service
                .forward_as(&at, request, &context, caller, cancel)
                .await
        });
        let follow = tasks::Follow::start(server, id, task.clone(), fetch);
        self.hub.follow(&task.task_id, follow);
    }

    /// The task `id` (exposed) the hub follows, if this session can see its server.
    fn followed_here(&self, id: &str) -> Result<Arc<tasks::Follow>, ErrorData> {
        self.hub
            .followed(id)
            .filter(|follow| self.snapshot().has_server(&follow.server))
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown task `{id}`"), None))
    }

    /// `tasks/list` (2025-11-25): the lists of the servers given tasks through the hub, that
    /// this session can see, joined (a server that cannot list them is left out).
    async fn list_tasks(&self, context: &RequestContext<RoleServer>) -> serde_json::Value {
        let catalog = self.snapshot();
        let mut all = Vec::new();
        for server in self.hub.task_servers() {
            if !catalog.has_server(&server) {
                continue;
            }
            let request = ClientRequest::CustomRequest(CustomRequest::new("tasks/list", None));
            let Ok(answer) = self.forward(&server, request, context).await else {
                continue;
            };
            let mut answer = tasks::raw(answer);
            tasks::expose(&server, &mut answer);
            if let Some(serde_json::Value::Array(list)) = answer.get_mut("tasks") {
                all.append(list);
            }
        }
        serde_json::json!({ "tasks": all })
    }
}

/// Rounds of questions a session client answers for one request before the hub gives up.
const MAX_ROUNDS: usize = 10;

/// Whether the request comes from a stateless (2026-07-28) client: no session to ask.
fn stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .meta
        .protocol_version()
        .is_some_and(|version| !version.has_initialize())
}

/// Where a request that may go in rounds keeps them: its `inputResponses` and `requestState`.
fn round_fields(
    request: &mut ClientRequest,
) -> Option<(&mut Option<InputResponses>, &mut Option<String>)> {
    match request {
        ClientRequest::CallToolRequest(r) => {
            Some((&mut r.params.input_responses, &mut r.params.request_state))
        }
        ClientRequest::GetPromptRequest(r) => {
            Some((&mut r.params.input_responses, &mut r.params.request_state))
        }
        ClientRequest::ReadResourceRequest(r) => {
            Some((&mut r.params.input_responses, &mut r.params.request_state))
        }
        _ => None,
    }
}

/// The round fields of a retry, taken out of `request`: the client's answers, and the
/// `requestState` when it is the hub's own (a server's own state goes on to it untouched).
fn take_round(request: &mut ClientRequest) -> (Option<InputResponses>, Option<String>) {
    match round_fields(request) {
        Some((responses, state)) if state.as_deref().is_some_and(rounds::is_ours) => {
            (responses.take(), state.take())
        }
        _ => (None, None),
    }
}

/// The round fields of a retry the hub makes for its client: its answers and the server's state.
fn put_round(request: &mut ClientRequest, answers: InputResponses, state: Option<String>) {
    if let Some((responses, request_state)) = round_fields(request) {
        *responses = Some(answers);
        *request_state = state;
    }
}

/// A task-augmented `tools/call` (2025-11-25) for the tool's server: rmcp's model has no
/// `task`, so it goes as a method rmcp does not model, with the same params.
fn task_call(params: CallToolRequestParams, task: serde_json::Value) -> ClientRequest {
    let mut body = serde_json::Map::new();
    body.insert("name".to_owned(), params.name.into_owned().into());
    if let Some(arguments) = params.arguments {
        body.insert("arguments".to_owned(), arguments.into());
    }
    body.insert("task".to_owned(), task);
    ClientRequest::CustomRequest(CustomRequest::new("tools/call", Some(body.into())))
}

/// The `_meta` of a placeholder for an answer rmcp's model could not read: the endpoint puts
/// the answer back in the placeholder's place on its way to the client.
fn carry(unread: CustomResult) -> MetaObject {
    crate::whole::carry(unread.0)
}

fn no_server_offers(uri: &str) -> ErrorData {
    let hint = if apps::is_app_uri(uri) {
        " (behind the hub an app's URI names its server first: ui://SERVER/...; \
         tools/list and resources/list show them)"
    } else {
        ""
    };
    ErrorData::resource_not_found(format!("no server offers `{uri}`{hint}"), None)
}

fn unexpected(server: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("server `{server}` sent an answer of the wrong kind"),
        None,
    )
}

/// Stateless (2026-07-28) clients require `resultType`; servers speaking an earlier revision
/// do not send it, and absent means complete. rmcp drops it again for older clients.
fn mark_complete(result_type: &mut Option<ResultType>) {
    result_type.get_or_insert(ResultType::COMPLETE);
}

/// A failed upstream request as the client sees it: the server's own JSON-RPC error passes
/// through unchanged; the rest are said plainly.
fn upstream_error(server: &str, err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(data) => data,
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            ErrorData::internal_error(
                format!("server `{server}` went away during the call (it is being restarted)"),
                None,
            )
        }
        other => ErrorData::internal_error(format!("server `{server}`: {other}"), None),
    }
}

fn page<T: Clone>(
    items: &[T],
    params: Option<&PaginatedRequestParams>,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match params.and_then(|p| p.cursor.as_deref()) {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor `{cursor}`"), None))?,
    };
    let end = (start + PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

// Logging, sampling and roots are deprecated by the 2026-07-28 revision but still what every
// server speaking the earlier ones uses; a hub must forward them.
#[expect(deprecated, reason = "legacy revisions still use logging")]
impl ServerHandler for HubService {
    fn get_info(&self) -> InitializeResult {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .build();
        let catalog = self.snapshot();
        if catalog.offers_apps() {
            let extensions = capabilities.extensions.get_or_insert_default();
            extensions.insert(apps::EXTENSION.to_owned(), JsonObject::new());
        }
        if catalog.offers_task_extension() {
            let extensions = capabilities.extensions.get_or_insert_default();
            extensions.insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
        }
        let mut info = InitializeResult::new(capabilities)
            .with_server_info(Implementation::new("patchbay", crate::VERSION).with_title("Patchbay hub"))
            .with_instructions(
                "Patchbay hub: tools and prompts of every connected server, named <server>__<name>.",
            );
        if catalog.offers_tasks() {
            tasks::declare(&mut info);
        }
        info
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let has_roots = context
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.roots.is_some());
        self.hub
            .inner
            .sessions
            .lock()
            .expect("sessions lock")
            .push(context.peer);
        if has_roots {
            // The union of roots the servers see just grew.
            self.hub.roots_changed();
        }
    }

    /// A stateless client's `subscriptions/listen`: the catalogue's list changes (whatever
    /// caused them: a config edit, a lazy start, a server's own notification), and updates of
    /// the resources it names whose servers take subscriptions.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let catalog = self.snapshot();
        let takes = |uri: &&String| {
            catalog.resource(uri).is_some_and(|route| {
                let peer = self.hub.upstream(&route.server).and_then(|up| up.peer());
                let info = peer.as_ref().and_then(|peer| peer.peer_info());
                info.and_then(|info| info.capabilities.resources.as_ref()?.subscribe) == Some(true)
            })
        };
        let uris: Vec<String> = (requested.resource_subscriptions.iter().flatten())
            .filter(takes)
            .cloned()
            .collect();
        let mut accepted = SubscriptionFilter::builder()
            .tools_list_changed()
            .prompts_list_changed()
            .resources_list_changed()
            .build();
        accepted.resource_subscriptions = (!uris.is_empty()).then_some(uris);
        Some(accepted)
    }

    /// Keep the stream until the client ends it or the hub stops.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let listeners = &self.hub.inner.listeners;
        let sink = context.sink().clone();
        let uris = sink
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        listeners
            .lock()
            .expect("listeners lock")
            .push((number, sink));
        let who = Subscriber::Listener(number);
        let catalog = self.snapshot();
        for uri in &uris {
            if let Some(route) = catalog.resource(uri)
                && let Err(err) = self.hub.subscribe(uri, route, who.clone()).await
            {
                tracing::warn!(%uri, "subscribing for a listen stream failed: {}", err.message);
            }
        }
        let stopping = self.hub.stopping();
        tokio::select! {
            _ = context.cancelled() => {}
            _ = stopping.cancelled() => {}
        }
        for uri in &uris {
            self.hub.unsubscribe(uri, &who);
        }
        listeners
            .lock()
            .expect("listeners lock")
            .retain(|(n, _)| *n != number);
        Ok(())
    }

    /// A session's `resources/subscribe`: kept for this session, subscribed upstream once.
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let route = self
            .snapshot()
            .resource(&request.uri)
            .ok_or_else(|| no_server_offers(&request.uri))?;
        let who = Subscriber::Session(self.number, context.peer);
        self.hub.subscribe(&request.uri, route, who).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let who = Subscriber::Session(self.number, context.peer);
        self.hub.unsubscribe(&request.uri, &who);
        Ok(())
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        self.hub.roots_changed();
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (tools, next) = self.page_of(request.as_ref(), |c| &c.tools).await?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(&context);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let catalog = self.catalog_with(|c| c.tool(&request.name).is_some()).await;
        let route = catalog.tool(&request.name).cloned().ok_or_else(|| {
            match self.hub.held_tool(&request.name) {
                Some(held) => ErrorData::invalid_params(held, None),
                None => self.not_here("tool", &request.name, |c| c.tool(&request.name).is_some()),
            }
        })?;
        let started = std::time::Instant::now();
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let cancelled = context.ct.clone();
        // Stateless (2026-07-28) requests name their client per request; sessions once.
        let client = context
            .meta
            .client_info()
            .map(|info| info.name)
            .or_else(|| {
                context
                    .peer
                    .peer_info()
                    .map(|info| info.client_info.name.clone())
            });
        let tool = route.name.clone();
        let tool_name = request.name.clone();
        let mut upstream = request;
        upstream.name = route.name.into();
        // A 2026-07-28 server's tasks are its own (see `tasks`).
        let modern = self
            .hub
            .upstream(&route.server)
            .is_some_and(|up| up.speaks_2026());
        let mut task = (context.meta.0.get(tasks::TASK_KEY).cloned()).filter(|_| !modern);
        // A 2026-07-28 client that takes tasks gets one where the server requires it.
        let follow = task.is_none()
            && !modern
            && stateless(&context)
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks())
            && catalog.task_support(&tool_name) == Some("required");
        if follow {
            task = Some(serde_json::Value::Object(Default::default()));
        }
        let tasked = task.is_some();
        let request = match task {
            Some(task) => task_call(upstream, task),
            None => ClientRequest::CallToolRequest(CallToolRequest::new(upstream)),
        };
        let what = ("tools/call", tool_name.as_ref());
        let result = match self
            .forward_asking(&route.server, what, request, &context)
            .await
        {
            Ok(ServerResult::CallToolResult(mut r)) => {
                mark_complete(&mut r.result_type);
                apps::expose_call_result(&route.server, &mut r);
                Ok(CallToolResponse::Complete(r))
            }
            Ok(ServerResult::InputRequiredResult(r)) => Ok(CallToolResponse::InputRequired(r)),
            Ok(ServerResult::CreateTaskResult(mut r)) => {
                r.task.task_id = tasks::exposed_id(&route.server, &r.task.task_id);
                let made = serde_json::to_value(&r.task).unwrap_or_default();
                self.hub.task_made(&route.server, &made);
                Ok(CallToolResponse::Task(r))
            }
            Ok(ServerResult::CustomResult(mut unread)) => {
                apps::expose_value(&route.server, &mut unread.0);
                // A task handle of the extension read whole (its server wrote more than rmcp
                // models): its id is at the top.
                let handle = unread
                    .0
                    .get("resultType")
                    .and_then(serde_json::Value::as_str)
                    == Some("task");
                if tasked || handle {
                    tasks::expose(&route.server, &mut unread.0);
                }
                let made = match handle {
                    true => Some(&unread.0),
                    false => unread.0.get("task").filter(|_| tasked),
                };
                if let Some(task) = made {
                    self.hub.task_made(&route.server, task);
                }
                match unread.0.get("task").and_then(tasks::modern) {
                    Some(task) if follow => {
                        self.follow_task(&route.server, &task, &context);
                        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
                    }
                    _ => {
                        let mut r = CallToolResult::success(Vec::new());
                        r.is_error = unread.0.get("isError").and_then(serde_json::Value::as_bool);
                        r.meta = Some(carry(unread));
                        Ok(CallToolResponse::Complete(r))
                    }
                }
            }
            Ok(_) => Err(unexpected(&route.server)),
            Err(err) => Err(err),
        };
        let outcome = match &result {
            _ if cancelled.is_cancelled() => "cancelled",
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "error",
        };
        self.hub.record_call(CallRecord {
            started_ms,
            server: route.server,
            tool,
            client,
            duration_ms: started.elapsed().as_millis() as u64,
            outcome: outcome.to_owned(),
        });
        result
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let (prompts, next) = self.page_of(request.as_ref(), |c| &c.prompts).await?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(&context);
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let route = self
            .catalog_with(|c| c.prompt(&request.name).is_some())
            .await
            .prompt(&request.name)
            .cloned()
            .ok_or_else(|| {
                self.not_here("prompt", &request.name, |c| {
                    c.prompt(&request.name).is_some()
                })
            })?;
        let prompt_name = request.name.clone();
        let mut upstream = request;
        upstream.name = route.name;
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(upstream));
        let what = ("prompts/get", prompt_name.as_str());
        match self
            .forward_asking(&route.server, what, request, &context)
            .await?
        {
            ServerResult::GetPromptResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(GetPromptResponse::Complete(r))
            }
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            ServerResult::CustomResult(unread) => {
                let mut r = GetPromptResult::new(Vec::new());
                r.meta = Some(carry(unread));
                Ok(GetPromptResponse::Complete(r))
            }
            _ => Err(unexpected(&route.server)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (resources, next) = self.page_of(request.as_ref(), |c| &c.resources).await?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(&context);
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (templates, next) = self.page_of(request.as_ref(), |c| &c.templates).await?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        (result.ttl_ms, result.cache_scope) = self.cache_hints(&context);
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let route = self
            .catalog_with(|c| c.resource(&request.uri).is_some())
            .await
            .resource(&request.uri)
            .ok_or_else(|| no_server_offers(&request.uri))?;
        let server = route.server;
        let exposed_uri = request.uri.clone();
        let mut upstream = request;
        upstream.uri = route.name;
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(upstream));
        let what = ("resources/read", exposed_uri.as_str());
        match self
            .forward_asking(&server, what, request, &context)
            .await?
        {
            ServerResult::ReadResourceResult(mut r) => {
                mark_complete(&mut r.result_type);
                apps::expose_read_result(&server, &mut r);
                Ok(ReadResourceResponse::Complete(r))
            }
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            ServerResult::CustomResult(mut unread) => {
                apps::expose_value(&server, &mut unread.0);
                let mut r = ReadResourceResult::new(Vec::new());
                r.meta = Some(carry(unread));
                Ok(ReadResourceResponse::Complete(r))
            }
            _ => Err(unexpected(&server)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let catalog = self.snapshot();
        let mut upstream = request;
        let server = match &mut upstream.r#ref {
            Reference::Prompt(prompt) => {
                let route = catalog.prompt(&prompt.name).cloned().ok_or_else(|| {
                    ErrorData::invalid_params(format!("unknown prompt `{}`", prompt.name), None)
                })?;
                prompt.name = route.name;
                route.server
            }
            Reference::Resource(resource) => {
                let route = catalog.resource(&resource.uri).ok_or_else(|| {
                    ErrorData::invalid_params(format!("no server offers `{}`", resource.uri), None)
                })?;
                resource.uri = route.name;
                route.server
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(upstream));
        match self.forward(&server, request, &context).await? {
            ServerResult::CompleteResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(r)
            }
            _ => Err(unexpected(&server)),
        }
    }

    /// A session client's 2025-11-25 `tasks/*` (renamed by the endpoint, see [`tasks`]); any
    /// other method the hub does not know.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let Some(method) = request.method.strip_prefix(tasks::LEGACY) else {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("method not found: {}", request.method),
                None,
            ));
        };
        if method == "tasks/list" {
            return Ok(CustomResult::new(self.list_tasks(&context).await));
        }
        let mut params = request.params.unwrap_or_default();
        let exposed = params
            .get("taskId")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ErrorData::invalid_params(format!("{method} needs a taskId"), None))?;
        let (server, id) = tasks::split_id(&exposed)
            .filter(|(server, _)| self.snapshot().has_server(server))
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown task `{exposed}`"), None))?;
        params["taskId"] = id.into();
        let upstream = CustomRequest::new(method, Some(params));
        let answer = self
            .forward(server, ClientRequest::CustomRequest(upstream), &context)
            .await;
        let mut answer = tasks::raw(answer?);
        tasks::expose(server, &mut answer);
        if method == "tasks/result" {
            apps::expose_value(server, &mut answer);
        }
        if method == "tasks/result" || tasks::ended(&answer) {
            self.hub.task_ended(&exposed);
        }
        Ok(CustomResult::new(answer))
    }

    /// `tasks/get` (tasks extension): the followed task as its server and its fetch say.
    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let Ok(follow) = self.followed_here(&request.task_id) else {
            let ask = |id: &str| {
                ClientRequest::GetTaskRequest(GetTaskRequest::new(GetTaskParams::new(id)))
            };
            let exposed = &request.task_id;
            let (server, answer) = self.to_task_server(exposed, ask, &context).await?;
            let ServerResult::GetTaskResult(mut got) = answer else {
                return Err(unexpected(&server));
            };
            got.task.task.task_id.clone_from(exposed);
            if let TaskPayload::Completed { result } = &mut got.task.payload {
                let mut value = serde_json::Value::Object(std::mem::take(result));
                tasks::expose(&server, &mut value);
                apps::expose_value(&server, &mut value);
                if let serde_json::Value::Object(exposed) = value {
                    *result = exposed;
                }
            }
            if got.task.status().is_terminal() {
                self.hub.task_ended(exposed);
            }
            return Ok(got);
        };
        let params = serde_json::json!({ "taskId": follow.id });
        let upstream = ClientRequest::CustomRequest(CustomRequest::new("tasks/get", Some(params)));
        // A server that cannot say (it restarted) leaves the task as last seen.
        let now = self.forward(&follow.server, upstream, &context).await.ok();
        let now = now.map(|answer| {
            let mut answer = tasks::raw(answer);
            tasks::expose(&follow.server, &mut answer);
            answer
        });
        let detailed = follow.detailed(&follow.server, now);
        if detailed.status().is_terminal() {
            self.hub.task_ended(&request.task_id);
        }
        Ok(GetTaskResult::new(detailed))
    }

    /// `tasks/update` (tasks extension): the client's answers to the server's questions.
    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(follow) = self.followed_here(&request.task_id) {
            return follow.answer(request.input_responses);
        }
        let responses = request.input_responses;
        let update = |id: &str| {
            let params = UpdateTaskParams::new(id, responses);
            ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(params))
        };
        self.to_task_server(&request.task_id, update, &context)
            .await?;
        Ok(())
    }

    /// `tasks/cancel` (tasks extension): passed to the task's server.
    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let Ok(follow) = self.followed_here(&request.task_id) else {
            let cancel = |id: &str| {
                ClientRequest::CancelTaskRequest(CancelTaskRequest::new(CancelTaskParams::new(id)))
            };
            self.to_task_server(&request.task_id, cancel, &context)
                .await?;
            return Ok(());
        };
        let params = serde_json::json!({ "taskId": follow.id });
        let upstream =
            ClientRequest::CustomRequest(CustomRequest::new("tasks/cancel", Some(params)));
        self.forward(&follow.server, upstream, &context).await?;
        Ok(())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        for peer in self.hub.running_peers() {
            let supports = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.logging.is_some());
            if supports {
                let _ = peer.set_level(request.clone()).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_with_cursor(cursor: &str) -> PaginatedRequestParams {
        serde_json::from_value(serde_json::json!({ "cursor": cursor })).unwrap()
    }

    #[test]
    fn pages_cover_the_list_once() {
        let items: Vec<usize> = (0..1234).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let params = cursor.map(|c: String| params_with_cursor(&c));
            let (chunk, next) = page(&items, params.as_ref()).unwrap();
            seen.extend(chunk);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let bad = params_with_cursor("x");
        assert!(page(&items, Some(&bad)).is_err());
    }
}
