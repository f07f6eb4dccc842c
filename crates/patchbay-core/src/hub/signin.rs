//! Sign-ins run by the hub, and the keepers of remote servers' credentials.
//!
//! A flow is started through the control API (`POST /api/v1/sign-in`) and runs here, so the
//! CLI and the app share one implementation and the hub stays the only user of every refresh
//! token. Each step is announced on the event stream (`sign_in`) and kept in the flow's record,
//! which `GET /api/v1/sign-in/{flow}` returns (the CLI polls it). Finished flows are kept for
//! a while ([`FLOWS_KEPT`]) so a late reader still finds the outcome.
//!
//! One sign-in per server at a time: a `login` while one runs joins it, and calls to a server
//! whose sign-in has lapsed wait for one ([`Hub::signed_in`]), however many there are.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{Hub, Inner};
use crate::api::FlowView;
use crate::events::HubEvent;
use crate::oauth::connect::{ConnectRequest, Connected, connect};
use crate::oauth::keeper::Reauthorize;
use crate::oauth::{Keeper, Progress, SignInError, SignInRequest, Stage, TokenStatus, sign_in};
use crate::vault::TokenSet;

/// Finished flows remembered.
pub const FLOWS_KEPT: usize = 32;

/// After a sign-in to a server failed (declined, cancelled, timed out), how long calls to it
/// fail at once rather than open another: `patchbay login` (or the window's, the tray's) still
/// opens one at any time.
pub const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(600);

pub(super) struct Flow {
    view: Mutex<FlowView>,
    cancel: CancellationToken,
    /// Turns `true` when it has finished.
    done: tokio::sync::watch::Sender<bool>,
}

impl Flow {
    /// Until it has finished.
    async fn finished(&self) {
        let _ = self.done.subscribe().wait_for(|done| *done).await;
    }
}

/// The flows: running and recently finished.
#[derive(Default)]
pub(super) struct Flows {
    all: Mutex<VecDeque<Arc<Flow>>>,
    /// Held while a sign-in is looked for and, if none runs, started: one per server.
    opening: Mutex<()>,
    /// When a sign-in to a server last failed (until one succeeds): calls then open no other
    /// for a while.
    given_up: Mutex<BTreeMap<String, std::time::Instant>>,
}

fn flow_id() -> String {
    crate::secret::random_hex(8).unwrap_or_default()
}

struct Reauth(Weak<Inner>);

impl Reauthorize for Reauth {
    fn reauthorize(
        &self,
        server: String,
        challenge: String,
        scopes: Vec<String>,
    ) -> BoxFuture<'static, Result<TokenSet, SignInError>> {
        let inner = self.0.upgrade();
        Box::pin(async move {
            let hub = Hub {
                inner: inner.ok_or(SignInError::Cancelled)?,
            };
            let url = hub
                .config()
                .servers
                .get(&server)
                .and_then(|s| s.url.clone())
                .ok_or(SignInError::Cancelled)?;
            let request = SignInRequest {
                server: server.clone(),
                url,
                challenge: Some(challenge),
                scopes,
                client: None,
                client_metadata_url: crate::oauth::client_metadata_url(),
                grant: None,
            };
            let (flow, id) = hub.new_flow(&server);
            let report = hub.reporter(flow.clone(), id);
            let outcome = sign_in(request, hub.vault(), &report, &flow.cancel).await;
            hub.finish(
                &flow,
                outcome
                    .as_ref()
                    .map(|_| None)
                    .map_err(|e| (e.to_string(), e.hint())),
                matches!(outcome, Err(SignInError::Cancelled)),
            );
            outcome
        })
    }
}

impl Hub {
    /// The keeper of `server`'s credentials, made on first use.
    pub fn keeper(&self, server: &str, url: &str) -> Arc<Keeper> {
        let mut keepers = self.inner.keepers.lock().expect("keepers lock");
        if let Some(keeper) = keepers.get(server) {
            return keeper.clone();
        }
        let reauthorize: Arc<dyn Reauthorize> = Arc::new(Reauth(Arc::downgrade(&self.inner)));
        let keeper = Keeper::new(
            server,
            url,
            self.vault().clone(),
            Some(Arc::new(self.events().clone())),
            Some(reauthorize),
        );
        keepers.insert(server.to_owned(), keeper.clone());
        keeper
    }

    /// Forget the keepers of servers no longer configured as remote (a re-added server reads
    /// the vault afresh).
    pub(super) fn prune_keepers(&self, config: &crate::config::Config) {
        self.inner
            .keepers
            .lock()
            .expect("keepers lock")
            .retain(|name, _| config.servers.get(name).is_some_and(|s| s.url.is_some()));
    }

    /// Every remote server's credentials, in name order.
    pub async fn token_statuses(&self) -> Vec<TokenStatus> {
        let remote: BTreeMap<String, String> = self
            .config()
            .servers
            .iter()
            .filter_map(|(name, s)| s.url.clone().map(|url| (name.clone(), url)))
            .collect();
        let mut statuses = Vec::new();
        for (name, url) in remote {
            statuses.push(self.keeper(&name, &url).status().await);
        }
        statuses
    }

    fn new_flow(&self, server: &str) -> (Arc<Flow>, String) {
        let id = flow_id();
        let flow = Arc::new(Flow {
            view: Mutex::new(FlowView {
                flow: id.clone(),
                server: server.to_owned(),
                progress: Vec::new(),
                finished: false,
                connected: None,
                error: None,
                hint: None,
                cancelled: false,
            }),
            cancel: self.inner.shutdown.child_token(),
            done: tokio::sync::watch::channel(false).0,
        });
        let mut all = self.inner.flows.all.lock().expect("flows lock");
        all.push_back(flow.clone());
        while all.len() > FLOWS_KEPT {
            let oldest_finished = all
                .iter()
                .position(|f| f.view.lock().expect("flow lock").finished);
            match oldest_finished {
                Some(i) => {
                    all.remove(i);
                }
                None => break,
            }
        }
        (flow, id)
    }

    fn reporter(&self, flow: Arc<Flow>, id: String) -> impl Fn(Progress) + Send + Sync + use<> {
        let events = self.events().clone();
        move |progress: Progress| {
            let server = {
                let mut view = flow.view.lock().expect("flow lock");
                view.progress.push(progress.clone());
                view.server.clone()
            };
            let _ = events.send(HubEvent::SignIn {
                flow: id.clone(),
                server,
                progress,
            });
        }
    }

    fn finish(
        &self,
        flow: &Flow,
        outcome: Result<Option<Connected>, (String, Option<String>)>,
        cancelled: bool,
    ) {
        let (id, server, last) = {
            let mut view = flow.view.lock().expect("flow lock");
            view.finished = true;
            view.cancelled = cancelled;
            let last = match outcome {
                Ok(connected) => {
                    view.connected = connected;
                    None
                }
                Err((error, hint)) => {
                    view.error = Some(error.clone());
                    view.hint = hint;
                    Some(Progress::new(
                        if cancelled {
                            Stage::Cancelled
                        } else {
                            Stage::Failed
                        },
                        error,
                    ))
                }
            };
            if let Some(last) = &last {
                view.progress.push(last.clone());
            }
            (view.flow.clone(), view.server.clone(), last)
        };
        flow.done.send_replace(true);
        if let Some(progress) = last {
            let _ = self.events().send(HubEvent::SignIn {
                flow: id,
                server,
                progress,
            });
        }
    }

    /// Start `connect` (or `login`) as a flow; returns its id at once. A `login` to a server
    /// whose sign-in is already under way gets that flow: one browser tab per server.
    pub fn start_connect(&self, request: ConnectRequest) -> String {
        let server = request
            .name
            .clone()
            .or_else(|| request.url.as_deref().map(crate::remote::default_name))
            .unwrap_or_default();
        let _one = self.inner.flows.opening.lock().expect("opening lock");
        let flow = match self.running_flow(&server) {
            Some(running) if request.login => running,
            _ => self.spawn_connect(&server, request),
        };
        flow.view.lock().expect("flow lock").flow.clone()
    }

    /// The running flow for `server`, when one runs.
    fn running_flow(&self, server: &str) -> Option<Arc<Flow>> {
        let all = self.inner.flows.all.lock().expect("flows lock");
        all.iter()
            .rev()
            .find(|f| {
                let view = f.view.lock().expect("flow lock");
                view.server == server && !view.finished
            })
            .cloned()
    }

    fn spawn_connect(&self, server: &str, request: ConnectRequest) -> Arc<Flow> {
        let (flow, id) = self.new_flow(server);
        let hub = self.clone();
        let running = flow.clone();
        let server = server.to_owned();
        tokio::spawn(async move {
            let report = hub.reporter(flow.clone(), id);
            let outcome = connect(hub.paths(), hub.vault(), request, &report, &flow.cancel).await;
            match outcome {
                Ok(done) => {
                    let name = done.connected.server.clone();
                    let url = done.connected.url.clone();
                    // Credentials first, then the entry that uses them.
                    let keeper = hub.keeper(&name, &url);
                    match done.tokens {
                        Some(tokens) => keeper.install(tokens).await,
                        None => keeper.reload().await,
                    }
                    if let Some(config) = done.config {
                        hub.apply(config);
                    }
                    hub.inner
                        .flows
                        .given_up
                        .lock()
                        .expect("given-up lock")
                        .remove(&name);
                    hub.finish(&flow, Ok(Some(done.connected)), false);
                }
                Err(err) => {
                    let cancelled = err.cancelled();
                    hub.inner
                        .flows
                        .given_up
                        .lock()
                        .expect("given-up lock")
                        .insert(server, std::time::Instant::now());
                    hub.finish(&flow, Err((err.to_string(), err.hint())), cancelled);
                }
            }
        });
        running
    }

    /// A new sign-in to `server` for a call that waits for one: the one under way, joined, or
    /// a `login` started now. `Ok` once new credentials are in; otherwise why not, ending with
    /// the `patchbay login` hint: it failed, was cancelled or did not finish within `limit`, or
    /// one failed less than [`QUIET_AFTER_FAILURE`] ago (no new tab for every call after the
    /// user declined one). A sign-in outlives the calls that gave up on it (it has its own
    /// time-out), so finishing it late still counts.
    pub(super) async fn signed_in(&self, server: &str, limit: Duration) -> Result<(), String> {
        let hint = |why: String| {
            format!("`{server}` needs a new sign-in and {why}: run `patchbay login {server}`")
        };
        let flow = {
            let _one = self.inner.flows.opening.lock().expect("opening lock");
            match self.running_flow(server) {
                Some(running) => running,
                None => {
                    let given_up = self.inner.flows.given_up.lock().expect("given-up lock");
                    if let Some(at) = given_up.get(server)
                        && at.elapsed() < QUIET_AFTER_FAILURE
                    {
                        return Err(hint(format!(
                            "the last one, {} s ago, did not succeed",
                            at.elapsed().as_secs()
                        )));
                    }
                    drop(given_up);
                    let login = ConnectRequest {
                        name: Some(server.to_owned()),
                        login: true,
                        ..ConnectRequest::default()
                    };
                    self.spawn_connect(server, login)
                }
            }
        };
        let in_time = tokio::time::timeout(limit, flow.finished()).await.is_ok();
        let view = flow.view.lock().expect("flow lock").clone();
        let why = match (in_time, view.error) {
            (true, None) => return Ok(()),
            (false, _) => format!(
                "no sign-in finished within {}",
                humantime::format_duration(limit)
            ),
            (true, Some(_)) if view.cancelled => "the sign-in was cancelled".to_owned(),
            (true, Some(error)) => format!("the sign-in failed: {error}"),
        };
        Err(hint(why))
    }

    /// A flow's record.
    pub fn flow(&self, id: &str) -> Option<FlowView> {
        self.inner
            .flows
            .all
            .lock()
            .expect("flows lock")
            .iter()
            .map(|f| f.view.lock().expect("flow lock").clone())
            .find(|v| v.flow == id)
    }

    /// Cancel a running flow; `false` when there is no such flow.
    pub fn cancel_flow(&self, id: &str) -> bool {
        let all = self.inner.flows.all.lock().expect("flows lock");
        match all
            .iter()
            .find(|f| f.view.lock().expect("flow lock").flow == id)
        {
            Some(flow) => {
                flow.cancel.cancel();
                true
            }
            None => false,
        }
    }
}
