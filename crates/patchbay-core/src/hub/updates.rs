//! Resource updates: clients' subscriptions to resources (a session's `resources/subscribe`, a
//! stateless client's `subscriptions/listen` with `resourceSubscriptions`), one upstream
//! subscription per resource however many clients share it, and a server's
//! `notifications/resources/updated` sent on to the clients subscribed, under the URI they know
//! (an app's `ui://SERVER/...`).
//!
//! Upstream, a 2025 server gets `resources/subscribe` and `resources/unsubscribe`; a 2026-07-28
//! one has its listen stream opened again with the URIs wanted of it
//! ([`super::upstream::Upstream::listen_again`]). A server that restarts is subscribed again to
//! what clients still want ([`Hub::subscribed_at`]).

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::ErrorData;
use rmcp::model::{
    ResourceUpdatedNotificationParam, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{Peer, RoleServer};

use super::Hub;
use super::catalog::Route;

/// A client subscribed to a resource.
#[derive(Clone)]
pub(super) enum Subscriber {
    /// A session (its number, see `HubService`), told on its own stream.
    Session(u64, Peer<RoleServer>),
    /// A stateless client's `subscriptions/listen` stream (its number in the hub's listeners).
    Listener(u64),
}

impl Subscriber {
    fn key(&self) -> (bool, u64) {
        match self {
            Self::Session(number, _) => (true, *number),
            Self::Listener(number) => (false, *number),
        }
    }
}

/// One resource subscribed upstream: where it lives, and who wants its updates.
struct Subscribed {
    route: Route,
    subscribers: Vec<Subscriber>,
}

/// The resources subscribed to, by the URI clients know.
#[derive(Default)]
pub(super) struct Updates {
    by_uri: Mutex<HashMap<String, Subscribed>>,
}

#[expect(
    deprecated,
    reason = "servers of the 2025 revisions subscribe this way"
)]
impl Hub {
    /// `who` wants updates of `uri` (exposed), which `route` names upstream: the first to want
    /// it subscribes upstream, and a server that refuses refuses the client.
    pub(super) async fn subscribe(
        &self,
        uri: &str,
        route: Route,
        who: Subscriber,
    ) -> Result<(), ErrorData> {
        let first = {
            let mut by_uri = self.inner.updates.by_uri.lock().expect("updates lock");
            match by_uri.get_mut(uri) {
                Some(subscribed) => {
                    subscribed.subscribers.retain(|s| s.key() != who.key());
                    subscribed.subscribers.push(who.clone());
                    false
                }
                None => {
                    let subscribers = vec![who.clone()];
                    by_uri.insert(
                        uri.to_owned(),
                        Subscribed {
                            route: route.clone(),
                            subscribers,
                        },
                    );
                    true
                }
            }
        };
        if !first {
            return Ok(());
        }
        // A 2026-07-28 server is told on its listen stream, opened again with this URI.
        if let Some(up) = self.upstream(&route.server).filter(|up| up.speaks_2026()) {
            let info = up.peer().and_then(|peer| peer.peer_info());
            let takes = info.map(|info| info.capabilities.resources.as_ref()?.subscribe);
            let refused = match takes {
                Some(Some(true)) => {
                    up.listen_again();
                    return Ok(());
                }
                Some(_) => "takes no resource subscriptions",
                None => "is not running",
            };
            self.unsubscribe_quietly(uri, &who);
            let message = format!("server `{}` {refused}", route.server);
            return Err(ErrorData::internal_error(message, None));
        }
        let peer = self
            .upstream(&route.server)
            .and_then(|up| up.peer())
            .ok_or_else(|| {
                ErrorData::internal_error(format!("server `{}` is not running", route.server), None)
            });
        let subscribed = match peer {
            Ok(peer) => peer
                .subscribe(SubscribeRequestParams::new(route.name.clone()))
                .await
                .map_err(|err| {
                    ErrorData::internal_error(format!("server `{}`: {err}", route.server), None)
                }),
            Err(err) => Err(err),
        };
        if subscribed.is_err() {
            self.unsubscribe_quietly(uri, &who);
        }
        subscribed
    }

    /// `who` no longer wants updates of `uri`; the last to go unsubscribes upstream.
    pub(super) fn unsubscribe(&self, uri: &str, who: &Subscriber) {
        let Some(route) = self.unsubscribe_quietly(uri, who) else {
            return;
        };
        if let Some(up) = self.upstream(&route.server).filter(|up| up.speaks_2026()) {
            return up.listen_again();
        }
        if let Some(peer) = self.upstream(&route.server).and_then(|up| up.peer()) {
            tokio::spawn(async move {
                let _ = peer
                    .unsubscribe(UnsubscribeRequestParams::new(route.name))
                    .await;
            });
        }
    }

    /// Take `who` off `uri`'s list: the route, when nobody is left on it.
    fn unsubscribe_quietly(&self, uri: &str, who: &Subscriber) -> Option<Route> {
        let mut by_uri = self.inner.updates.by_uri.lock().expect("updates lock");
        let subscribed = by_uri.get_mut(uri)?;
        subscribed.subscribers.retain(|s| s.key() != who.key());
        if !subscribed.subscribers.is_empty() {
            return None;
        }
        by_uri.remove(uri).map(|s| s.route)
    }

    /// The resources of `server` (its own URIs) that clients want updates of.
    pub(super) fn subscribed_at(&self, server: &str) -> Vec<String> {
        let by_uri = self.inner.updates.by_uri.lock().expect("updates lock");
        let routes = by_uri.values().map(|subscribed| &subscribed.route);
        (routes.filter(|route| route.server == server))
            .map(|route| route.name.clone())
            .collect()
    }

    /// `server` says its resource `uri` (its own URI) changed: tell the clients subscribed.
    pub(super) fn resource_updated(&self, server: &str, uri: &str) {
        let exposed = super::apps::expose(server, uri).unwrap_or_else(|| uri.to_owned());
        let subscribers = {
            let by_uri = self.inner.updates.by_uri.lock().expect("updates lock");
            match by_uri.get(&exposed) {
                Some(s) if s.route.server == server => s.subscribers.clone(),
                _ => return,
            }
        };
        let listeners = self.inner.listeners.lock().expect("listeners lock").clone();
        for who in subscribers {
            let update = ResourceUpdatedNotificationParam::new(exposed.clone());
            match &who {
                Subscriber::Session(_, peer) if peer.is_transport_closed() => {
                    self.unsubscribe(&exposed, &who);
                }
                Subscriber::Session(_, peer) => {
                    let peer = peer.clone();
                    tokio::spawn(async move {
                        let _ = peer.notify_resource_updated(update).await;
                    });
                }
                Subscriber::Listener(number) => {
                    let Some((_, sink)) = listeners.iter().find(|(n, _)| n == number) else {
                        continue;
                    };
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        let _ = sink.notify_resource_updated(update.uri).await;
                    });
                }
            }
        }
    }
}
