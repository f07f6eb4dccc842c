//! rmcp's Streamable HTTP client with a [`Keeper`]'s credential on every request.
//!
//! Like rmcp's `AuthClient`, but the credential comes from the keeper, which owns refresh and
//! sign-in state for the whole hub: a 401 asks the keeper once for a newer token (it may
//! already have one from a concurrent refresh) and retries; a `403 insufficient_scope` asks it
//! to sign in again with wider scopes and retries. A static header (API key) is sent as a
//! custom header instead.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, RequestId};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};

use super::keeper::{Credential, Keeper, KeeperError};
use crate::secret::Secret;

/// A Streamable HTTP client whose requests carry `keeper`'s credential.
#[derive(Clone)]
pub struct Authorized<C> {
    inner: C,
    keeper: Arc<Keeper>,
}

impl<C> Authorized<C> {
    /// Wrap `inner`.
    pub fn new(inner: C, keeper: Arc<Keeper>) -> Self {
        Self { inner, keeper }
    }
}

type Headers = HashMap<HeaderName, HeaderValue>;

/// The id of a request message.
fn request_id(message: &ClientJsonRpcMessage) -> Option<&RequestId> {
    match message {
        ClientJsonRpcMessage::Request(request) => Some(&request.id),
        _ => None,
    }
}

fn refused<E: std::error::Error + Send + Sync + 'static>(
    err: KeeperError,
) -> StreamableHttpError<E> {
    match err {
        // The transport treats AuthRequired as final (no reconnect loop against a server
        // that will keep saying 401).
        KeeperError::NeedsSignIn { .. } => {
            StreamableHttpError::AuthRequired(AuthRequiredError::new(err.to_string()))
        }
        other => StreamableHttpError::UnexpectedServerResponse(other.to_string().into()),
    }
}

impl<C> Authorized<C>
where
    C: StreamableHttpClient + Sync,
{
    async fn credential(
        &self,
        headers: &Headers,
    ) -> Result<(Option<Secret>, Headers), KeeperError> {
        let mut headers = headers.clone();
        let token = match self.keeper.credential().await? {
            Credential::None => None,
            Credential::Bearer(token) => Some(token),
            Credential::Header(header) => {
                if let (Ok(name), Ok(mut value)) = (
                    HeaderName::from_bytes(header.name.as_bytes()),
                    HeaderValue::from_str(header.value.expose()),
                ) {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                None
            }
        };
        Ok((token, headers))
    }

    /// Run `call` with the credential; `request` is the id of the request it posts, noted
    /// with the keeper when the server does not serve it for want of a sign-in.
    async fn call<T, F, Fut>(
        &self,
        headers: Headers,
        request: Option<&RequestId>,
        call: F,
    ) -> Result<T, StreamableHttpError<C::Error>>
    where
        F: Fn(Option<String>, Headers) -> Fut,
        Fut: Future<Output = Result<T, StreamableHttpError<C::Error>>>,
    {
        let unserved = || {
            if let Some(id) = request {
                self.keeper.note_unserved(id.clone());
            }
        };
        let (mut token, headers) = match self.credential(&headers).await {
            Ok(credential) => credential,
            Err(err) => {
                if matches!(err, KeeperError::NeedsSignIn { .. }) {
                    unserved();
                }
                return Err(refused(err));
            }
        };
        let mut rejected_once = false;
        loop {
            let sent = token.as_ref().map(|t| t.expose().to_owned());
            match call(sent, headers.clone()).await {
                Err(StreamableHttpError::AuthRequired(challenge)) if !rejected_once => {
                    rejected_once = true;
                    match self.keeper.rejected(token.as_ref()).await {
                        Ok(fresh) => token = Some(fresh),
                        Err(err @ KeeperError::NeedsSignIn { .. }) => {
                            self.keeper.note_failure(err.to_string());
                            unserved();
                            return Err(StreamableHttpError::AuthRequired(challenge));
                        }
                        Err(other) => return Err(refused(other)),
                    }
                }
                Err(StreamableHttpError::InsufficientScope(challenge)) => {
                    match self
                        .keeper
                        .step_up(token.as_ref(), &challenge.www_authenticate_header)
                        .await
                    {
                        Ok(fresh) => token = Some(fresh),
                        Err(err) => {
                            tracing::warn!(server = %self.keeper.server(), error = %err, "step-up failed");
                            let named = super::flow::challenge_scopes(Some(
                                &challenge.www_authenticate_header,
                            ));
                            let wanted = (challenge.required_scope.clone())
                                .or_else(|| (!named.is_empty()).then(|| named.join(" ")))
                                .unwrap_or_else(|| "a wider scope".into());
                            self.keeper.note_failure(format!(
                                "server `{}` needs scope `{wanted}`, which the sign-in did not grant: {err}",
                                self.keeper.server()
                            ));
                            return Err(StreamableHttpError::InsufficientScope(challenge));
                        }
                    }
                }
                Ok(value) => {
                    self.keeper.succeeded();
                    return Ok(value);
                }
                Err(other) => return Err(other),
            }
        }
    }
}

impl<C> StreamableHttpClient for Authorized<C>
where
    C: StreamableHttpClient + Sync,
{
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.call(headers, request_id(&message), |token, headers| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers,
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.call(headers, request_id(&message), |token, headers| {
            self.inner.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers,
                max_sse_event_size,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.call(headers, None, |token, headers| {
            self.inner
                .delete_session(uri.clone(), session_id.clone(), token, headers)
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<
        BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<Self::Error>,
    > {
        self.call(headers, None, |token, headers| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers,
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<
        BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<Self::Error>,
    > {
        self.call(headers, None, |token, headers| {
            self.inner.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers,
                max_sse_event_size,
            )
        })
        .await
    }
}
