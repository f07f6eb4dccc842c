//! The redirect listener of one sign-in: `http://127.0.0.1:<port>/callback` (RFC 8252: a
//! loopback IP literal, any port), for one flow, closed when the flow ends.
//!
//! It answers the browser at once with a small page, and hands the flow what the authorization
//! server sent. It does not judge `state`: the flow does, so that a mismatch ends the flow with
//! a clear error instead of leaving it waiting.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What arrived at `/callback`.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// `code`, on success.
    pub code: Option<String>,
    /// `state`, as sent back.
    pub state: Option<String>,
    /// `iss` (RFC 9207), when sent.
    pub iss: Option<String>,
    /// `error`, on failure (`access_denied`).
    pub error: Option<String>,
    /// `error_description`, when given.
    pub error_description: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("code", &self.code.as_ref().map(|_| "****"))
            .field("state", &self.state.as_ref().map(|_| "****"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish()
    }
}

/// A bound listener, serving until dropped.
pub struct Listener {
    redirect_uri: String,
    received: mpsc::Receiver<Callback>,
    stop: CancellationToken,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const PAGE_STYLE: &str = "body{font:16px system-ui,sans-serif;max-width:32em;margin:4em auto;\
padding:0 1em;color:#222;background:#fff}@media(prefers-color-scheme:dark){body{color:#eee;\
background:#1e1e1e}}h1{font-size:1.3em}";

fn page(title: &str, text: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Patchbay: {title}</title>\
         <style>{PAGE_STYLE}</style><h1>{title}</h1><p>{text}</p></html>"
    ))
}

async fn callback(
    State(sender): State<mpsc::Sender<Callback>>,
    Query(query): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let take = |key: &str| query.get(key).cloned();
    let received = Callback {
        code: take("code"),
        state: take("state"),
        iss: take("iss"),
        error: take("error"),
        error_description: take("error_description"),
    };
    let failed = received.error.is_some() || received.code.is_none();
    let _ = sender.try_send(received);
    if failed {
        page(
            "Sign-in did not complete",
            "Patchbay received the answer; its window or terminal says what happened. You can \
             close this tab.",
        )
    } else {
        page(
            "Signed in",
            "Patchbay received the sign-in. You can close this tab.",
        )
    }
}

impl Listener {
    /// Listen on `127.0.0.1` at `port` (0: any free port).
    pub async fn bind(port: u16) -> std::io::Result<Self> {
        let socket =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let port = socket.local_addr()?.port();
        let (sender, received) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/callback", get(callback))
            .with_state(sender);
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(socket, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
        });
        Ok(Self {
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            received,
            stop,
        })
    }

    /// The redirect URI to register and send.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The next callback.
    pub async fn next(&mut self) -> Option<Callback> {
        self.received.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_callback_reaches_the_flow_and_the_browser_gets_a_page() {
        let mut listener = Listener::bind(0).await.unwrap();
        let uri = listener.redirect_uri().to_owned();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"));
        let http = reqwest::Client::new();
        let page = http
            .get(format!(
                "{uri}?code=c0de&state=s1&iss=https%3A%2F%2Fas.example"
            ))
            .send()
            .await
            .unwrap();
        assert!(page.status().is_success());
        assert!(page.text().await.unwrap().contains("close this tab"));
        let got = listener.next().await.unwrap();
        assert_eq!(got.code.as_deref(), Some("c0de"));
        assert_eq!(got.state.as_deref(), Some("s1"));
        assert_eq!(got.iss.as_deref(), Some("https://as.example"));
        assert!(!format!("{got:?}").contains("c0de"));
    }

    #[tokio::test]
    async fn two_listeners_do_not_collide_and_a_dropped_one_closes() {
        let first = Listener::bind(0).await.unwrap();
        let second = Listener::bind(0).await.unwrap();
        assert_ne!(first.redirect_uri(), second.redirect_uri());
        let uri = first.redirect_uri().to_owned();
        drop(first);
        let http = reqwest::Client::new();
        let mut closed = false;
        for _ in 0..50 {
            if http.get(&uri).send().await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(closed, "listener still answering after drop");
    }
}
