//! Tasks of the 2025-11-25 revision (SEP-1686) through the hub, for session clients.
//!
//! A task-augmented `tools/call` (one with `params.task`) goes to the tool's server with its
//! `task`; the task the server makes is shown as `SERVER/ID`, so that two servers' ids cannot
//! collide and the id alone says where `tasks/get`, `tasks/result` and `tasks/cancel` go.
//! `tasks/list` joins the lists of the servers that were given tasks through this hub. A server
//! holding a task the hub has not seen end (a terminal status, or its result fetched) is not
//! stopped for idleness, until the task's own time to live (at most [`MAX_HOLD`]).
//!
//! A 2026-07-28 client that declares the tasks extension (`io.modelcontextprotocol/tasks`,
//! SEP-2663) gets a task for a tool whose server requires one: the hub makes it a 2025-11-25
//! task upstream and follows it ([`Follow`]): it fetches the task's `tasks/result` at once, as a
//! call in rounds ([`super::rounds`]), so that a question the server asks during the task shows
//! in `tasks/get` as `input_required` with its `inputRequests`, `tasks/update` answers it, and
//! the result or error shows as the task's end.
//!
//! A 2026-07-28 server's own tasks pass as they are: the request of a client that takes tasks
//! reaches the server declaring the extension too ([`taking_tasks`]), the task it answers with
//! is shown as `SERVER/ID`, and `tasks/get`, `tasks/update` and `tasks/cancel` go to the server
//! the id names. A session client's task-augmented call to such a server is made a plain call
//! (the hub shows no `execution` for its tools, so a session client has no reason to ask).
//!
//! rmcp's model knows the 2026-07-28 tasks extension, not the 2025-11-25 methods: for a session's request the
//! endpoint moves `params.task` into `_meta` under [`TASK_KEY`] and gives `tasks/*` the method
//! names under [`LEGACY`] ([`for_rmcp`]); the hub sends them on as the methods rmcp does not
//! model, and their answers come back whole ([`crate::whole`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use memchr::memmem;
use rmcp::ErrorData;
use rmcp::model::{
    ClientRequest, DetailedTask, InitializeResult, InputRequests, InputResponses, JsonObject,
    RequestMetaObject, ServerResult, TASKS_EXTENSION_ID, Task, TaskPayload, TaskStatus,
};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::Hub;
use super::rounds::{Call, Step};
use super::upstream::InUse;

/// Where a session client's `params.task` rides in `_meta` from the endpoint to the hub.
pub(super) const TASK_KEY: &str = "dev.patchbay/task";

/// The prefix the endpoint gives a session client's `tasks/*` method names.
pub(super) const LEGACY: &str = "dev.patchbay/legacy/";

/// The 2025-11-25 task methods a client sends.
const METHODS: [&str; 4] = ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"];

/// The longest a task keeps its server from an idle stop.
pub(super) const MAX_HOLD: Duration = Duration::from_secs(24 * 60 * 60);

/// The `_meta` key that names the task a message belongs to.
const RELATED: &str = "io.modelcontextprotocol/related-task";

/// A session client's request as the hub's rmcp server can take it, when it has what rmcp's
/// model would drop: `params.task` on `tools/call`, or a 2025-11-25 `tasks/*` method (which
/// rmcp would take for the 2026-07-28 extension's). `None`: the body goes on as it is.
pub fn for_rmcp(body: &[u8]) -> Option<Vec<u8>> {
    memmem::find(body, b"task")?;
    let mut message: Value = serde_json::from_slice(body).ok()?;
    let method = message.get("method")?.as_str()?;
    if METHODS.contains(&method) {
        message["method"] = Value::String(format!("{LEGACY}{method}"));
    } else if method == "tools/call" {
        let params = message.get_mut("params")?.as_object_mut()?;
        let task = params.remove("task")?;
        let meta = params
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        meta.as_object_mut()?.insert(TASK_KEY.to_owned(), task);
    } else {
        return None;
    }
    serde_json::to_vec(&message).ok()
}

/// Declare 2025-11-25 tasks (`tools/call` as a task, `tasks/list`, `tasks/cancel`) in `info`:
/// rmcp's capabilities have no member for them, so the whole `capabilities` rides in `_meta`.
pub(super) fn declare(info: &mut InitializeResult) {
    let Ok(Value::Object(mut capabilities)) = serde_json::to_value(&info.capabilities) else {
        return;
    };
    let tasks = serde_json::json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}});
    capabilities.insert("tasks".to_owned(), tasks);
    let members = Map::from_iter([("capabilities".to_owned(), Value::Object(capabilities))]);
    crate::whole::stash_members(&mut info.meta, members);
}

/// The `_meta` of a request to a 2026-07-28 server from a client that takes tasks: the hub's
/// capabilities as a client (`clientCapabilities`), with the tasks extension, so that the
/// server may answer with a task.
pub(super) fn taking_tasks() -> RequestMetaObject {
    let mut capabilities = super::relay::capabilities();
    let extensions = capabilities.extensions.get_or_insert_default();
    extensions.insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
    let mut meta = RequestMetaObject::default();
    meta.set_client_capabilities(capabilities);
    meta
}

/// The server's own id of the task a message of it belongs to (its `_meta`'s related task).
pub(super) fn related(meta: &Map<String, Value>) -> Option<&str> {
    meta.get(RELATED)?.get("taskId")?.as_str()
}

/// The server's own id of the task `request` is about: a `tasks/result` (2025-11-25), whose
/// questions the server marks with that task.
pub(super) fn about(request: &ClientRequest) -> Option<String> {
    let ClientRequest::CustomRequest(request) = request else {
        return None;
    };
    if request.method != "tasks/result" {
        return None;
    }
    let id = request.params.as_ref()?.get("taskId")?.as_str()?;
    Some(id.to_owned())
}

/// A task's id as clients see it.
pub(super) fn exposed_id(server: &str, id: &str) -> String {
    format!("{server}/{id}")
}

/// The server and its own id behind an exposed task id.
pub(super) fn split_id(exposed: &str) -> Option<(&str, &str)> {
    exposed.split_once('/').filter(|(server, id)| {
        !server.is_empty() && !id.is_empty() && crate::names::valid_server_name(server)
    })
}

/// An upstream answer as JSON, whatever rmcp made of it (kept whole for a stdio server).
pub(super) fn raw(result: ServerResult) -> Value {
    match result {
        ServerResult::CustomResult(value) => value.0,
        other => serde_json::to_value(other).unwrap_or_default(),
    }
}

/// Task ids in an answer of `server` as clients see them: a created task's (`task.taskId`), a
/// task's own (`taskId`), a list's (`tasks[].taskId`), and a result's related task (`_meta`).
pub(super) fn expose(server: &str, answer: &mut Value) {
    let rename = |holder: Option<&mut Value>| {
        if let Some(Value::String(id)) = holder.and_then(|h| h.get_mut("taskId")) {
            *id = exposed_id(server, id);
        }
    };
    rename(answer.get_mut("task"));
    rename(Some(answer));
    rename(
        answer
            .get_mut("_meta")
            .and_then(|meta| meta.get_mut(RELATED)),
    );
    if let Some(Value::Array(tasks)) = answer.get_mut("tasks") {
        for task in tasks {
            rename(Some(task));
        }
    }
}

/// Whether a task (its `status`) has ended.
pub(super) fn ended(task: &Value) -> bool {
    matches!(
        task.get("status").and_then(Value::as_str),
        Some("completed" | "failed" | "cancelled")
    )
}

/// A 2025-11-25 task (an answer's `task`, ids exposed) as the 2026-07-28 extension shows it.
pub(super) fn modern(task: &Value) -> Option<Task> {
    let text = |key: &str| task.get(key).and_then(Value::as_str);
    let status = serde_json::from_value::<TaskStatus>(task.get("status")?.clone()).ok()?;
    let mut modern = Task::new(
        text("taskId")?,
        status,
        text("createdAt").unwrap_or_default(),
        text("lastUpdatedAt")
            .or(text("createdAt"))
            .unwrap_or_default(),
    );
    modern.status_message = text("statusMessage").map(str::to_owned);
    modern.ttl_ms = task.get("ttl").and_then(Value::as_u64);
    modern.poll_interval_ms = task.get("pollInterval").and_then(Value::as_u64);
    Some(modern)
}

/// A task the hub follows for a 2026-07-28 client: the fetch of its result (a call in rounds),
/// where it stands, and where the client's answers go.
pub(super) struct Follow {
    /// The task's server and its own id there.
    pub(super) server: String,
    pub(super) id: String,
    /// The task as last seen upstream (ids exposed).
    seen: Mutex<Task>,
    stands: Mutex<Stands>,
    answers: mpsc::Sender<InputResponses>,
}

/// Where a followed task stands, as far as the fetch of its result tells.
enum Stands {
    Working,
    Asked(InputRequests),
    Ended(Result<Value, ErrorData>),
}

impl Follow {
    /// Follow `task` of `server` (its own id `id`) by `fetch`, the call that fetches its result.
    pub(super) fn start(
        server: &str,
        id: &str,
        task: Task,
        mut fetch: Call,
    ) -> std::sync::Arc<Self> {
        let (answers, mut answered) = mpsc::channel(1);
        let follow = std::sync::Arc::new(Self {
            server: server.to_owned(),
            id: id.to_owned(),
            seen: Mutex::new(task),
            stands: Mutex::new(Stands::Working),
            answers,
        });
        let weak = std::sync::Arc::downgrade(&follow);
        tokio::spawn(async move {
            loop {
                let step = fetch.next().await;
                let Some(follow) = weak.upgrade() else {
                    return;
                };
                let set = |stands| *follow.stands.lock().expect("follow lock") = stands;
                match step {
                    Step::Done(result) => return set(Stands::Ended(result.map(raw))),
                    Step::Asked(questions) => set(Stands::Asked(questions)),
                }
                drop(follow);
                // Bounded: a task nobody answers is forgotten at its time to live, which drops
                // the sender (and the fetch with this loop).
                let Some(responses) = answered.recv().await else {
                    return;
                };
                fetch.answer(responses);
                if let Some(follow) = weak.upgrade() {
                    *follow.stands.lock().expect("follow lock") = Stands::Working;
                }
            }
        });
        follow
    }

    /// The task as it stands: `upstream` is the server's `tasks/get` answer now, if it gave
    /// one; the fetch's questions, result or error say the rest.
    pub(super) fn detailed(&self, server: &str, upstream: Option<Value>) -> DetailedTask {
        let mut seen = self.seen.lock().expect("follow lock");
        if let Some(task) = upstream.as_ref().and_then(modern) {
            *seen = task;
        }
        let payload = match &*self.stands.lock().expect("follow lock") {
            Stands::Asked(questions) => TaskPayload::InputRequired {
                input_requests: questions.clone(),
            },
            Stands::Ended(Ok(result)) => {
                let mut result = result.clone();
                expose(server, &mut result);
                super::apps::expose_value(server, &mut result);
                TaskPayload::Completed {
                    result: match result {
                        Value::Object(result) => result,
                        _ => Map::new(),
                    },
                }
            }
            Stands::Ended(Err(error)) => TaskPayload::Failed {
                error: match serde_json::to_value(error) {
                    Ok(Value::Object(error)) => error,
                    _ => Map::new(),
                },
            },
            Stands::Working if seen.status == TaskStatus::Cancelled => TaskPayload::Cancelled,
            Stands::Working => TaskPayload::Working,
        };
        DetailedTask::new(seen.clone(), payload)
    }

    /// Hand the client's answers to the questions the server asked.
    pub(super) fn answer(&self, responses: InputResponses) -> Result<(), ErrorData> {
        let mut stands = self.stands.lock().expect("follow lock");
        if !matches!(*stands, Stands::Asked(_)) {
            return Err(ErrorData::invalid_params(
                "the task is not waiting for input (tasks/get says when it is)",
                None,
            ));
        }
        self.answers.try_send(responses).map_err(|_| {
            ErrorData::invalid_params("the task's questions were answered already", None)
        })?;
        // A second update before the server asks again is refused, not kept for its next
        // question.
        *stands = Stands::Working;
        Ok(())
    }
}

/// Tasks made through the hub: the servers that were given any, the marks that keep the
/// servers of unfinished ones from an idle stop, and the tasks followed for 2026-07-28 clients.
#[derive(Default)]
pub(super) struct Tasks {
    servers: Mutex<BTreeSet<String>>,
    held: Mutex<HashMap<String, InUse>>,
    followed: Mutex<HashMap<String, std::sync::Arc<Follow>>>,
}

impl Hub {
    /// `server` made the task `task` (its answer, ids exposed): keep the server from an idle
    /// stop until the task ends or its time to live (`ttl`, or the extension's `ttlMs`) is over.
    pub(super) fn task_made(&self, server: &str, task: &Value) {
        let tasks = &self.inner.tasks;
        tasks
            .servers
            .lock()
            .expect("tasks lock")
            .insert(server.to_owned());
        let Some(id) = task.get("taskId").and_then(Value::as_str) else {
            return;
        };
        if ended(task) {
            return;
        }
        let Some(up) = self.upstream(server) else {
            return;
        };
        tasks
            .held
            .lock()
            .expect("tasks lock")
            .insert(id.to_owned(), up.begin_use());
        let id = id.to_owned();
        let ttl = (task.get("ttl").or_else(|| task.get("ttlMs"))).and_then(Value::as_u64);
        self.at_expiry(ttl, move |hub| hub.task_ended(&id));
    }

    /// Run `then` once a task's time to live (`ttl_ms`; none: [`MAX_HOLD`], and never longer)
    /// is over, or when the hub stops.
    fn at_expiry(&self, ttl_ms: Option<u64>, then: impl FnOnce(&Hub) + Send + 'static) {
        let hold = ttl_ms.map_or(MAX_HOLD, Duration::from_millis).min(MAX_HOLD);
        let (hub, stopping) = (self.clone(), self.stopping());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(hold) => {}
                _ = stopping.cancelled() => {}
            }
            then(&hub);
        });
    }

    /// Follow the task `id` (exposed) for a 2026-07-28 client, until its time to live (at most
    /// [`MAX_HOLD`]).
    pub(super) fn follow(&self, id: &str, follow: std::sync::Arc<Follow>) {
        let ttl = follow.seen.lock().expect("follow lock").ttl_ms;
        let followed = &self.inner.tasks.followed;
        followed
            .lock()
            .expect("tasks lock")
            .insert(id.to_owned(), follow);
        let id = id.to_owned();
        self.at_expiry(ttl, move |hub| {
            let followed = &hub.inner.tasks.followed;
            followed.lock().expect("tasks lock").remove(&id);
        });
    }

    /// The followed task `id` (exposed).
    pub(super) fn followed(&self, id: &str) -> Option<std::sync::Arc<Follow>> {
        let followed = self.inner.tasks.followed.lock().expect("tasks lock");
        followed.get(id).cloned()
    }

    /// The task `id` (exposed) ended, or its result was fetched.
    pub(super) fn task_ended(&self, id: &str) {
        self.inner.tasks.held.lock().expect("tasks lock").remove(id);
    }

    /// The servers given tasks through the hub.
    pub(super) fn task_servers(&self) -> Vec<String> {
        let servers = self.inner.tasks.servers.lock().expect("tasks lock");
        servers.iter().cloned().collect()
    }

    /// Unfinished tasks made through the hub.
    pub fn tasks_running(&self) -> usize {
        self.inner.tasks.held.lock().expect("tasks lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rewritten(body: Value) -> Option<Value> {
        let out = for_rmcp(body.to_string().as_bytes())?;
        Some(serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn a_task_augmented_call_carries_its_task_in_meta_and_task_methods_are_renamed() {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "s__t", "arguments": {"a": 1}, "task": {"ttl": 60000},
                "_meta": {"progressToken": 7}}});
        let out = rewritten(call).unwrap();
        assert_eq!(out["params"].get("task"), None);
        assert_eq!(out["params"]["_meta"][TASK_KEY], json!({"ttl": 60000}));
        assert_eq!(out["params"]["_meta"]["progressToken"], 7);
        assert_eq!(out["params"]["arguments"], json!({"a": 1}));

        for method in METHODS {
            let request = json!({"jsonrpc": "2.0", "id": 2, "method": method,
                "params": {"taskId": "s/1"}});
            let out = rewritten(request).unwrap();
            assert_eq!(out["method"], format!("{LEGACY}{method}"));
            assert_eq!(out["params"]["taskId"], "s/1");
        }
    }

    #[test]
    fn other_requests_pass_as_they_are() {
        let plain = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "task", "arguments": {"task": "x"}}});
        assert_eq!(rewritten(plain), None, "`task` only in the arguments");
        let update = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/update",
            "params": {"taskId": "s/1"}});
        assert_eq!(rewritten(update), None, "not a 2025-11-25 method");
        assert_eq!(for_rmcp(b"{\"task\": "), None, "not JSON");
    }

    #[test]
    fn a_question_names_its_task_and_a_result_fetch_is_about_one() {
        let meta = json!({RELATED: {"taskId": "t-9"}, "progressToken": 1});
        assert_eq!(related(meta.as_object().unwrap()), Some("t-9"));
        assert_eq!(related(json!({"x": 1}).as_object().unwrap()), None);

        let fetch = rmcp::model::CustomRequest::new("tasks/result", Some(json!({"taskId": "t-9"})));
        assert_eq!(
            about(&ClientRequest::CustomRequest(fetch)).as_deref(),
            Some("t-9")
        );
        let get = rmcp::model::CustomRequest::new("tasks/get", Some(json!({"taskId": "t-9"})));
        assert_eq!(
            about(&ClientRequest::CustomRequest(get)),
            None,
            "only a fetch waits on questions"
        );
    }

    #[test]
    fn ids_name_their_server_and_split_back() {
        let id = exposed_id("everything", "4f1c/9");
        assert_eq!(id, "everything/4f1c/9");
        assert_eq!(split_id(&id), Some(("everything", "4f1c/9")));
        assert_eq!(split_id("no-slash"), None);
        assert_eq!(split_id("/x"), None);
        assert_eq!(split_id("bad name/x"), None);
    }

    #[test]
    fn every_task_id_in_an_answer_is_exposed() {
        let mut created = json!({"task": {"taskId": "a", "status": "working"}});
        expose("s", &mut created);
        assert_eq!(created["task"]["taskId"], "s/a");

        let mut got = json!({"taskId": "a", "status": "completed"});
        expose("s", &mut got);
        assert_eq!(got["taskId"], "s/a");
        assert!(ended(&got));

        let mut result = json!({"content": [], "_meta": {RELATED: {"taskId": "a"}}});
        expose("s", &mut result);
        assert_eq!(result["_meta"][RELATED]["taskId"], "s/a");

        let mut list = json!({"tasks": [{"taskId": "a"}, {"taskId": "b"}]});
        expose("s", &mut list);
        assert_eq!(list["tasks"][1]["taskId"], "s/b");
        assert!(!ended(&json!({"status": "working"})));
    }

    #[test]
    fn a_2025_task_reads_as_the_extensions_task() {
        let legacy = json!({"taskId": "s/a", "status": "input_required", "statusMessage": "asking",
            "createdAt": "2026-12-07T10:00:00Z", "lastUpdatedAt": "2026-12-07T10:00:01Z",
            "ttl": 300000, "pollInterval": 1000});
        let task = modern(&legacy).unwrap();
        assert_eq!(task.task_id, "s/a");
        assert_eq!(task.status, TaskStatus::InputRequired);
        assert_eq!(task.status_message.as_deref(), Some("asking"));
        assert_eq!(
            (task.ttl_ms, task.poll_interval_ms),
            (Some(300000), Some(1000))
        );
        assert_eq!(task.last_updated_at, "2026-12-07T10:00:01Z");
        assert_eq!(
            modern(&json!({"taskId": "s/a", "status": "dreaming"})),
            None
        );
        assert_eq!(modern(&json!({"status": "working"})), None);
    }
}
