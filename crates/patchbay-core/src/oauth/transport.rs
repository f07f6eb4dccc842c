//! The HTTP client of the OAuth flow (discovery, registration, code exchange), given to rmcp's
//! `AuthorizationManager` through `new_with_oauth_http_client`.
//!
//! rmcp's own client is kept in every respect that matters (per-request redirect policy,
//! 30 s time-out, bounded bodies, addresses filtered by what the server's URL is) but one: it
//! pools connections with no idle limit, and a sign-in leaves the authorization server's
//! connection idle while the user is in the browser. Servers close idle connections (Node's
//! default after 5 s), and a token request sent on the connection just as it closes fails
//! before reaching the server ("Request failed"), losing a sign-in the user completed. Here an
//! idle connection is dropped after [`POOL_IDLE`], well inside any server's keep-alive.
//!
//! Address policy, as rmcp's: discovered hosts may resolve to loopback or private addresses
//! only when the server's own URL is loopback or private; link-local (cloud metadata),
//! unspecified, multicast and broadcast addresses are always refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::auth::{
    OAuthHttpClient, OAuthHttpClientError, OAuthHttpClientFuture, OAuthHttpRedirectPolicy,
    OAuthHttpRequest,
};

/// Longest an OAuth request may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle connection is kept.
pub const POOL_IDLE: Duration = Duration::from_secs(1);
/// Largest response body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// Redirects followed where following is allowed.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("OAuth request to `{0}` refused: that address is not allowed for this server")]
    Address(String),
    #[error("OAuth response body over {MAX_BODY} bytes")]
    TooLarge,
}

/// Which addresses discovered URLs may reach.
#[derive(Clone, Copy)]
struct Policy {
    private_ok: bool,
}

impl Policy {
    fn for_server(url: &url::Url) -> Self {
        let private_ok = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => Self::is_private(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Self::is_private(IpAddr::V6(ip)),
            None => false,
        };
        Self { private_ok }
    }

    fn is_private(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
            IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        }
    }

    fn allows(self, ip: IpAddr) -> bool {
        let never = match ip {
            IpAddr::V4(v4) => {
                v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified() || v6.is_multicast()
            }
        };
        !never && (self.private_ok || !Self::is_private(ip))
    }

    fn allows_url(self, url: &url::Url) -> bool {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.allows(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.allows(IpAddr::V6(ip)),
            _ => true,
        }
    }
}

impl reqwest::dns::Resolve for Policy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = *self;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    Box::new(Refused::Address(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Patchbay's OAuth HTTP client for the server at `server_url`.
pub struct Transport {
    follow: reqwest::Client,
    stop: reqwest::Client,
    policy: Policy,
}

impl Transport {
    /// A client whose address policy follows `server_url`.
    pub fn for_server(server_url: &url::Url) -> Arc<Self> {
        let policy = Policy::for_server(server_url);
        let build = |redirect: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .pool_idle_timeout(POOL_IDLE)
                .redirect(redirect)
                .dns_resolver(Arc::new(policy))
                .build()
                .expect("an HTTP client builds")
        };
        let follow = reqwest::redirect::Policy::custom(move |attempt| {
            if !policy.allows_url(attempt.url()) {
                let refused = Refused::Address(attempt.url().to_string());
                attempt.error(refused)
            } else if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        Arc::new(Self {
            follow: build(follow),
            stop: build(reqwest::redirect::Policy::none()),
            policy,
        })
    }
}

impl Transport {
    /// GET `url` with `headers`, following allowed redirects: the body of a 200, `None` for any
    /// other status. For what rmcp's manager does not fetch (the 2025-03-26 metadata).
    pub async fn get(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
    ) -> Result<Option<Vec<u8>>, OAuthHttpClientError> {
        let mut request = http::Request::get(url.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Vec::new())
            .map_err(|e| Box::new(e) as OAuthHttpClientError)?;
        let response = self.send(&self.follow, request).await?;
        Ok((response.status() == http::StatusCode::OK).then(|| response.into_body()))
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OAuthHttpClientError> {
        let request =
            reqwest::Request::try_from(request).map_err(|e| Box::new(e) as OAuthHttpClientError)?;
        if !self.policy.allows_url(request.url()) {
            return Err(
                Box::new(Refused::Address(request.url().to_string())) as OAuthHttpClientError
            );
        }
        let response = client
            .execute(request)
            .await
            .map_err(|e| Box::new(e) as OAuthHttpClientError)?;
        let mut answer = http::Response::builder()
            .status(response.status())
            .version(response.version());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let body = crate::body::read(response, MAX_BODY)
            .await
            .map_err(|err| match err {
                crate::body::BodyError::TooLarge(_) => {
                    Box::new(Refused::TooLarge) as OAuthHttpClientError
                }
                crate::body::BodyError::Read(e) => Box::new(e) as OAuthHttpClientError,
            })?;
        answer
            .body(body)
            .map_err(|e| Box::new(e) as OAuthHttpClientError)
    }
}

impl OAuthHttpClient for Transport {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        Box::pin(async move {
            let client = match request.redirect_policy {
                OAuthHttpRedirectPolicy::Stop => &self.stop,
                _ => &self.follow,
            };
            self.send(client, request.request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(url: &str) -> Policy {
        Policy::for_server(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn a_public_server_cannot_send_the_flow_to_private_or_metadata_addresses() {
        let public = policy("https://mcp.example.com/mcp");
        assert!(public.allows("93.184.216.34".parse().unwrap()));
        for bad in [
            "127.0.0.1",
            "10.0.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(!public.allows(bad.parse().unwrap()), "{bad}");
        }
        assert!(!public.allows_url(&url::Url::parse("http://169.254.169.254/latest").unwrap()));
    }

    #[test]
    fn a_local_server_may_use_local_addresses_but_never_link_local() {
        for url in [
            "http://localhost:8080/mcp",
            "http://127.0.0.1:9/mcp",
            "http://10.1.2.3/mcp",
        ] {
            let local = policy(url);
            assert!(local.allows("127.0.0.1".parse().unwrap()), "{url}");
            assert!(local.allows("::1".parse().unwrap()), "{url}");
            assert!(!local.allows("169.254.169.254".parse().unwrap()), "{url}");
        }
    }
}
