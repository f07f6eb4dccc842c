//! Calls in flight and the call log: who called which server (so a server's request during a
//! call goes back to that client), where each call's progress goes, and the record of each
//! finished tool call.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::ProgressToken;
use rmcp::service::{Peer, RoleServer};

use crate::events::{CallRecord, HubEvent};

use super::Hub;

/// Tool calls kept in the in-memory call log.
pub const CALL_LOG_SIZE: usize = 500;

/// Calls in flight per server, oldest first.
type Callers = HashMap<String, Vec<InFlight>>;

/// A call in flight: its id, the server's own id of the task it is about (a `tasks/result`),
/// and who made it.
struct InFlight {
    id: u64,
    task: Option<String>,
    caller: Caller,
}

/// Who made a call: where a server's question during it (sampling, elicitation, roots) goes.
#[derive(Clone)]
pub(super) enum Caller {
    /// A client session, asked directly.
    Session(Peer<RoleServer>),
    /// A stateless client's call, asked through an `input_required` result ([`super::rounds`]),
    /// only what its request says it takes (`clientCapabilities`).
    Rounds(
        tokio::sync::mpsc::Sender<super::rounds::Ask>,
        Arc<rmcp::model::ClientCapabilities>,
    ),
}

/// Progress routes: (server, rmcp's token on the upstream request) to the calling session and
/// the client's own token.
type ProgressRoutes = HashMap<(String, ProgressToken), (Peer<RoleServer>, ProgressToken)>;

/// The hub's record of calls: in flight (callers and progress routes) and finished (the log).
#[derive(Default)]
pub(super) struct Calls {
    progress: Mutex<ProgressRoutes>,
    callers: Mutex<Callers>,
    log: Mutex<VecDeque<CallRecord>>,
    next_id: AtomicU64,
}

impl Hub {
    /// Where progress `server` reports under `upstream` (the token rmcp put on the request)
    /// goes: the calling session and the client's own token.
    pub(super) fn progress_route(
        &self,
        server: &str,
        upstream: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken)> {
        let routes = self.inner.calls.progress.lock().expect("progress lock");
        routes.get(&(server.to_owned(), upstream.clone())).cloned()
    }

    /// The most recent tool calls, oldest first.
    pub fn recent_calls(&self) -> Vec<CallRecord> {
        self.inner
            .calls
            .log
            .lock()
            .expect("calls lock")
            .iter()
            .cloned()
            .collect()
    }

    pub(super) fn record_call(&self, record: CallRecord) {
        tracing::debug!(server = %record.server, tool = %record.tool, ms = record.duration_ms, outcome = %record.outcome, "tool call");
        let mut calls = self.inner.calls.log.lock().expect("calls lock");
        if calls.len() == CALL_LOG_SIZE {
            calls.pop_front();
        }
        calls.push_back(record.clone());
        drop(calls);
        let _ = self.inner.events.send(HubEvent::ToolCall(record));
    }

    pub(super) fn next_id(&self) -> u64 {
        self.inner.calls.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Who a question of `server` goes to: the caller of the most recent call still in flight
    /// about `task` (the server's own id of the task the question says it belongs to), or
    /// else of the most recent call to it.
    pub(super) fn caller_for(&self, server: &str, task: Option<&str>) -> Option<Caller> {
        let callers = self.inner.calls.callers.lock().expect("callers lock");
        pick(callers.get(server)?, task).map(|call| call.caller.clone())
    }
}

/// Of `calls` (oldest first), the most recent about `task`, or else the most recent.
fn pick<'a>(calls: &'a [InFlight], task: Option<&str>) -> Option<&'a InFlight> {
    let about = |task| calls.iter().rev().find(|c| c.task.as_deref() == Some(task));
    task.and_then(about).or(calls.last())
}

/// Bookkeeping for one forwarded request: registers the caller (for server-to-client requests)
/// and the progress route, and removes both when dropped (completion, error or cancellation).
pub(super) struct CallGuard {
    hub: Hub,
    server: String,
    id: u64,
    progress: Option<(String, ProgressToken)>,
}

impl CallGuard {
    /// A call to `server` by `caller`, about the server's task `task` (its own id) if any.
    pub(super) fn new(hub: &Hub, server: &str, caller: Caller, task: Option<String>) -> Self {
        let id = hub.next_id();
        hub.inner
            .calls
            .callers
            .lock()
            .expect("callers lock")
            .entry(server.to_owned())
            .or_default()
            .push(InFlight { id, task, caller });
        Self {
            hub: hub.clone(),
            server: server.to_owned(),
            id,
            progress: None,
        }
    }

    /// Send progress for `upstream` (the token rmcp put on the request) to `caller` as `token`.
    pub(super) fn route_progress(
        &mut self,
        upstream: ProgressToken,
        caller: Peer<RoleServer>,
        token: ProgressToken,
    ) {
        let key = (self.server.clone(), upstream);
        self.hub
            .inner
            .calls
            .progress
            .lock()
            .expect("progress lock")
            .insert(key.clone(), (caller, token));
        self.progress = Some(key);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.progress {
            self.hub
                .inner
                .calls
                .progress
                .lock()
                .expect("progress lock")
                .remove(token);
        }
        let mut callers = self.hub.inner.calls.callers.lock().expect("callers lock");
        if let Some(list) = callers.get_mut(&self.server) {
            list.retain(|call| call.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: u64, task: Option<&str>) -> InFlight {
        let (asks, _) = tokio::sync::mpsc::channel(1);
        let caller = Caller::Rounds(asks, Arc::default());
        let task = task.map(str::to_owned);
        InFlight { id, task, caller }
    }

    #[test]
    fn a_question_goes_to_the_call_about_its_task_else_to_the_latest() {
        let calls = [call(1, Some("t1")), call(2, Some("t2")), call(3, None)];
        let picked = |task| pick(&calls, task).map(|c| c.id);
        assert_eq!(picked(Some("t1")), Some(1), "the fetch of t1's result");
        assert_eq!(picked(Some("t2")), Some(2));
        assert_eq!(
            picked(Some("gone")),
            Some(3),
            "no call about it: the latest"
        );
        assert_eq!(picked(None), Some(3), "a question of no task: the latest");
        assert!(pick(&[], Some("t1")).is_none());
    }
}
