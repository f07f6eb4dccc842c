//! A remote server: an MCP session over rmcp's Streamable HTTP client, with a keeper's
//! credential on every request when it signs in, and a ping while it is quiet so a server
//! that went away is noticed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::{Peer, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::logs::RotatingLog;
use crate::oauth::http::Authorized;
use crate::whole::http::WholeHttp;

use super::{Link, Upstream};

/// How long a remote server may take to accept a connection.
pub const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a quiet remote server is pinged to see that it is still there.
pub const REMOTE_PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may take before the server counts as gone.
pub const REMOTE_PING_TIMEOUT: Duration = Duration::from_secs(10);

impl Upstream {
    /// A remote server over Streamable HTTP. A lost session is recreated by the transport
    /// (`reinit_on_expired_session`); a server that cannot be reached ends the session, and the
    /// same backoff as a crashed child applies.
    pub(super) async fn run_remote<L: Link>(
        &self,
        url: &str,
        link: &Arc<L>,
        log: &Arc<Mutex<RotatingLog>>,
    ) -> Result<(), String> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(url);
        config.reinit_on_expired_session = true;
        let http = reqwest::Client::builder()
            .connect_timeout(REMOTE_CONNECT_TIMEOUT)
            .build()
            .map_err(|err| format!("cannot set up an HTTP client: {err}"))?;
        // Answers kept whole ([`crate::whole::http`]), under the keeper's credential.
        let http = WholeHttp::new(http);
        match &self.keeper {
            Some(keeper) => {
                let client = Authorized::new(http.clone(), keeper.clone());
                let transport = StreamableHttpClientTransport::with_client(client, config);
                self.serve(link, http.kept(transport), None, log).await
            }
            None => {
                let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
                self.serve(link, http.kept(transport), None, log).await
            }
        }
    }

    /// For a remote server: resolves, with what went wrong, once it stops answering pings.
    /// Pending forever for a stdio server, whose exit is seen directly.
    pub(super) async fn keepalive(&self, peer: &Peer<RoleClient>) -> String {
        if self.config.url.is_none() {
            return std::future::pending().await;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REMOTE_PING_INTERVAL) => {}
                _ = self.check_now.notified() => {}
            }
            let ping = ClientRequest::PingRequest(PingRequest::default());
            match tokio::time::timeout(REMOTE_PING_TIMEOUT, peer.send_request(ping)).await {
                // An error answer is still an answer (2026-07-28 servers have no `ping`).
                Ok(Ok(_) | Err(rmcp::ServiceError::McpError(_))) => {}
                Ok(Err(rmcp::ServiceError::TransportSend(err))) => {
                    return format!(
                        "the server stopped answering: {}",
                        crate::human::error_chain(&*err.error)
                    );
                }
                Ok(Err(err)) => {
                    return format!(
                        "the server stopped answering: {}",
                        crate::human::error_chain(&err)
                    );
                }
                Err(_) => {
                    return format!(
                        "the server did not answer a ping within {REMOTE_PING_TIMEOUT:?}"
                    );
                }
            }
        }
    }
}
