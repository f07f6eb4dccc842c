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

/// Calls in flight per server: call id and who made it, oldest first.
type Callers = HashMap<String, Vec<(u64, Caller)>>;

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

    /// Who made the most recent call to `server` still in flight.
    pub(super) fn caller_for(&self, server: &str) -> Option<Caller> {
        let callers = self.inner.calls.callers.lock().expect("callers lock");
        callers.get(server)?.last().map(|(_, p)| p.clone())
    }
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
    pub(super) fn new(hub: &Hub, server: &str, caller: Caller) -> Self {
        let id = hub.next_id();
        hub.inner
            .calls
            .callers
            .lock()
            .expect("callers lock")
            .entry(server.to_owned())
            .or_default()
            .push((id, caller));
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
            list.retain(|(id, _)| *id != self.id);
        }
    }
}
