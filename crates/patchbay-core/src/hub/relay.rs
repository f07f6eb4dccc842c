//! What upstream servers send back: the client side of each upstream session
//! ([`UpstreamHandler`]) relays a server's requests (sampling, elicitation, roots) to the
//! calling client, its logs to every client, and its list changes to the catalogue.

use rmcp::model::*;
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData};

use super::calls::Caller;
use super::{Hub, rounds};

/// How long a client may take to list its roots for a server.
const ROOTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Hub {
    /// The sessions with every server that is serving now.
    pub(super) fn running_peers(&self) -> Vec<Peer<RoleClient>> {
        let upstreams = self.inner.upstreams.lock().expect("upstreams lock");
        upstreams.values().filter_map(|u| u.peer()).collect()
    }

    /// Tell every running server that supports roots that the clients' roots changed.
    pub(super) fn roots_changed(&self) {
        for peer in self.running_peers() {
            tokio::spawn(async move {
                let _ = peer.notify_roots_list_changed().await;
            });
        }
    }
}

/// The error a server gets for a question the calling client said it does not take.
fn not_taken(what: &str) -> ErrorData {
    ErrorData::invalid_request(
        format!("the calling client does not take {what} requests (not in its capabilities)"),
        None,
    )
}

/// The client side of one upstream session: routes what the server sends back.
#[derive(Clone)]
pub struct UpstreamHandler {
    pub(super) hub: Hub,
    pub(super) server: String,
}

impl UpstreamHandler {
    /// Who a question of the server (`context`) goes to, `what` it is naming it in the error.
    fn caller(
        &self,
        what: &str,
        context: &RequestContext<RoleClient>,
    ) -> Result<Caller, ErrorData> {
        let task = super::tasks::related(&context.meta);
        self.hub.caller_for(&self.server, task).ok_or_else(|| {
            ErrorData::internal_error(
                format!(
                    "server `{}` asked for {what} outside of a client call",
                    self.server
                ),
                None,
            )
        })
    }
}

/// What the hub takes as a client of its servers.
#[expect(deprecated, reason = "legacy revisions still use sampling and roots")]
pub(super) fn capabilities() -> ClientCapabilities {
    let mut capabilities = ClientCapabilities::builder()
        .enable_roots()
        .enable_sampling()
        .enable_elicitation()
        .build();
    capabilities.experimental = None;
    // One session upstream serves every client, so the hub speaks for all of them: it
    // passes apps on, and a client that shows none uses the tool's text as without a hub.
    capabilities.extensions = Some(
        [(
            super::apps::EXTENSION.to_owned(),
            super::apps::client_settings(),
        )]
        .into(),
    );
    capabilities
}

#[expect(
    deprecated,
    reason = "legacy revisions still use sampling, roots and logging"
)]
impl ClientHandler for UpstreamHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            capabilities(),
            Implementation::new("patchbay", crate::VERSION),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        match self.caller("sampling", &context)? {
            Caller::Session(peer) => peer
                .create_message(params)
                .await
                .map_err(rounds::client_error),
            Caller::Rounds(_, takes) if takes.sampling.is_none() => Err(not_taken("sampling")),
            Caller::Rounds(asks, _) => {
                let request = CreateMessageRequest::new(params);
                rounds::ask(&asks, InputRequest::CreateMessage(request)).await
            }
        }
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        match self.caller("elicitation", &context)? {
            Caller::Session(peer) => peer
                .create_elicitation(request)
                .await
                .map_err(rounds::client_error),
            Caller::Rounds(_, takes) if takes.elicitation.is_none() => {
                Err(not_taken("elicitation"))
            }
            Caller::Rounds(asks, _) => {
                let request = ElicitRequest::new(request);
                rounds::ask(&asks, InputRequest::Elicitation(request)).await
            }
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        // During a call the caller's roots are the answer. Outside one (servers often ask right
        // after their handshake, and cache it), a shared server works for every client, so it
        // gets the union of the roots of every connected client that has any.
        let task = super::tasks::related(&context.meta);
        let clients = match self.hub.caller_for(&self.server, task) {
            Some(Caller::Session(caller)) => vec![caller],
            // A stateless client that lists no roots: as outside a call.
            Some(Caller::Rounds(_, takes)) if takes.roots.is_none() => self.hub.live_sessions(),
            Some(Caller::Rounds(asks, _)) => {
                let request = ListRootsRequest {
                    method: Default::default(),
                    extensions: Default::default(),
                };
                return rounds::ask(&asks, InputRequest::ListRoots(request)).await;
            }
            None => self.hub.live_sessions(),
        };
        let mut roots: Vec<Root> = Vec::new();
        for peer in clients {
            let supports = peer
                .peer_info()
                .is_some_and(|info| info.capabilities.roots.is_some());
            if !supports {
                continue;
            }
            let asked = tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await;
            if let Ok(Ok(answer)) = asked {
                for root in answer.roots {
                    if !roots.iter().any(|r| r.uri == root.uri) {
                        roots.push(root);
                    }
                }
            }
        }
        Ok(ListRootsResult::new(roots))
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        params.logger = Some(match params.logger {
            Some(logger) => format!("{}/{logger}", self.server),
            None => self.server.clone(),
        });
        for peer in self.hub.live_sessions() {
            let _ = peer.notify_logging_message(params.clone()).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.hub.resource_updated(&self.server, &params.uri);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh().await;
    }
}

impl UpstreamHandler {
    pub(super) async fn refresh(&self) {
        let Some(up) = self.hub.upstream(&self.server) else {
            return;
        };
        // The handler runs on the session's loop; list in a task so the answers can arrive.
        let hub = self.hub.clone();
        tokio::spawn(async move {
            match up.refresh_catalog().await {
                Some(Ok(catalog)) => hub.set_catalog(up.name(), catalog),
                Some(Err(err)) => {
                    tracing::warn!(server = up.name(), "refreshing lists failed: {err}")
                }
                None => {}
            }
        });
    }
}
