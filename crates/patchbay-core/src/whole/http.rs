//! A remote server's answers, kept whole (and its tools' definitions).
//!
//! rmcp's Streamable HTTP client reads a JSON answer straight into its typed model, so the
//! hub would never see what the model drops (a 2025-11-25 tool's `execution`, a task created
//! by a call, a server's own members). [`WholeHttp`] is the client under rmcp's transport:
//! for a request whose answer may hold more ([`super::watch::watched`]) it makes the POST
//! itself and offers each message it reads, the JSON body or each event of the stream, to the
//! watch that [`Kept`] compares rmcp's reading with. Every other request, the GET stream and
//! the DELETE go through rmcp's own client unchanged.
//!
//! The POST keeps what rmcp's does with an answer: a challenge (`401`, `403` with
//! `WWW-Authenticate`) for [`crate::oauth`]'s client to act on, `202` as accepted, `404` on a
//! session as the session expired, a JSON-RPC error in an error status as that error, and the
//! same bound on the size of one event.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse,
};
use sse_stream::{Sse, SseStream};

use super::watch::{Kept, Watch, watched};

/// The largest JSON answer read (rmcp's own bound for a line from a child is the same).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How much of an error answer's body an error message shows.
const SHOWN_BODY: usize = 512;

/// The one event size bound when the transport names none (rmcp's default).
const DEFAULT_MAX_EVENT: usize = 16 * 1024 * 1024;

type Headers = HashMap<HeaderName, HeaderValue>;
type Error = StreamableHttpError<reqwest::Error>;

/// rmcp's Streamable HTTP client on `reqwest`, with the answers to watched requests offered
/// to a [`Watch`] before rmcp reads them.
#[derive(Clone)]
pub struct WholeHttp {
    client: reqwest::Client,
    watch: Arc<Watch>,
}

impl WholeHttp {
    /// Requests go out through `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            watch: Arc::default(),
        }
    }

    /// `transport` (rmcp's, over this client) with its answers kept whole.
    pub fn kept<T>(&self, transport: T) -> Kept<T> {
        Kept::new(transport, self.watch.clone())
    }

    async fn post_whole(
        &self,
        uri: &str,
        message: &ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        headers: Headers,
        max_event: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let accept = format!("{EVENT_STREAM_MIME_TYPE}, {JSON_MIME_TYPE}");
        let mut request = self.client.post(uri).header(ACCEPT, accept);
        if let Some(token) = auth_token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let with_session = session_id.is_some();
        if let Some(id) = session_id {
            request = request.header(HEADER_SESSION_ID, id.as_ref());
        }
        let response = request.json(message).send().await?;
        let status = response.status();
        let header = |name| {
            let value = response.headers().get(name)?;
            value.to_str().ok().map(str::to_owned)
        };
        let (challenge, session, content_type) = (
            header(WWW_AUTHENTICATE.as_str()),
            header(HEADER_SESSION_ID),
            header(CONTENT_TYPE.as_str()).unwrap_or_default(),
        );
        match (status, challenge) {
            (StatusCode::UNAUTHORIZED, Some(challenge)) => {
                return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                    challenge,
                )));
            }
            (StatusCode::FORBIDDEN, Some(challenge)) => {
                let challenge = InsufficientScopeError::new(challenge, None);
                return Err(StreamableHttpError::InsufficientScope(challenge));
            }
            (StatusCode::ACCEPTED | StatusCode::NO_CONTENT, _) => {
                return Ok(StreamableHttpPostResponse::Accepted);
            }
            (StatusCode::NOT_FOUND, _) if with_session => {
                return Err(StreamableHttpError::SessionExpired);
            }
            _ => {}
        }
        if status.is_success() && content_type.starts_with(EVENT_STREAM_MIME_TYPE) {
            let watch = self.watch.clone();
            let events = SseStream::from_bytes_stream(bounded(response.bytes_stream(), max_event))
                .inspect(move |event| {
                    if let Ok(Sse {
                        data: Some(data), ..
                    }) = event
                    {
                        watch.offer(data.as_bytes());
                    }
                });
            return Ok(StreamableHttpPostResponse::Sse(events.boxed(), session));
        }
        let json = content_type.starts_with(JSON_MIME_TYPE);
        if status.is_success() && !json {
            return Err(StreamableHttpError::UnexpectedContentType(Some(
                content_type,
            )));
        }
        let body = read_bounded(response).await?;
        if status.is_success() {
            self.watch.offer(&body);
            let answer = serde_json::from_slice::<ServerJsonRpcMessage>(&body)?;
            return Ok(StreamableHttpPostResponse::Json(answer, session));
        }
        match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
            Ok(error @ JsonRpcMessage::Error(_)) if json => {
                Ok(StreamableHttpPostResponse::Json(error, session))
            }
            _ => {
                let text = String::from_utf8_lossy(&body);
                let shown: String = text.chars().take(SHOWN_BODY).collect();
                Err(StreamableHttpError::UnexpectedServerResponse(
                    format!("HTTP {status}: {shown}").into(),
                ))
            }
        }
    }
}

/// The body of `response`, refused past [`MAX_BODY`].
async fn read_bounded(response: reqwest::Response) -> Result<Vec<u8>, Error> {
    crate::body::read(response, MAX_BODY)
        .await
        .map_err(|err| match err {
            crate::body::BodyError::Read(e) => StreamableHttpError::Client(e),
            too_large => {
                StreamableHttpError::UnexpectedServerResponse(too_large.to_string().into())
            }
        })
}

/// `stream` of an event stream's bytes, ended with an error once one event grows past `max`
/// bytes (a server must not make the hub buffer without bound).
fn bounded<S>(stream: S, max: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    let mut size = EventSize::default();
    stream.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        match size.add(&chunk) <= max {
            true => Ok(chunk),
            false => Err(std::io::Error::other(format!(
                "an event of the server's stream is larger than {max} bytes"
            ))),
        }
    })
}

/// The size of the event under way in an event stream read in chunks: bytes since the last
/// blank line (`\r` not counted, so `\r\n` line ends count as `\n`).
#[derive(Debug, Default)]
struct EventSize {
    event: usize,
    line: usize,
}

impl EventSize {
    /// Read `chunk`; the size of the event under way after it.
    fn add(&mut self, chunk: &[u8]) -> usize {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            self.line += text_len(&chunk[start..end]);
            self.event = match self.line {
                0 => 0,
                line => self.event + line + 1,
            };
            self.line = 0;
            start = end + 1;
        }
        self.line += text_len(&chunk[start..]);
        self.event + self.line
    }
}

fn text_len(bytes: &[u8]) -> usize {
    bytes.len() - memchr::memchr_iter(b'\r', bytes).count()
}

impl StreamableHttpClient for WholeHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        headers: Headers,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_token,
            headers,
            DEFAULT_MAX_EVENT,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        match &message {
            JsonRpcMessage::Request(request) if watched(&request.request) => {
                let (uri, max) = (uri.as_ref(), max_sse_event_size);
                self.post_whole(uri, &message, session_id, auth_token, headers, max)
                    .await
            }
            _ => {
                self.client
                    .post_message_with_max_sse_event_size(
                        uri,
                        message,
                        session_id,
                        auth_token,
                        headers,
                        max_sse_event_size,
                    )
                    .await
            }
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_token: Option<String>,
        headers: Headers,
    ) -> Result<(), Error> {
        self.client
            .delete_session(uri, session_id, auth_token, headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        headers: Headers,
    ) -> Result<BoxStream<'static, Result<Sse, sse_stream::Error>>, Error> {
        self.client
            .get_stream(uri, session_id, last_event_id, auth_token, headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, sse_stream::Error>>, Error> {
        self.client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_token,
                headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_http::{answering, serve};
    use rmcp::model::{
        CallToolRequest, CallToolRequestParams, ClientRequest, NumberOrString, RequestId,
        ServerResult,
    };

    const ANSWER: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"mine":1}}"#;

    fn call(id: i64) -> ClientJsonRpcMessage {
        let request =
            ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("t")));
        ClientJsonRpcMessage::request(request, NumberOrString::Number(id))
    }

    async fn post(
        app: axum::Router,
        session: Option<&str>,
    ) -> (WholeHttp, Result<StreamableHttpPostResponse, Error>) {
        let (url, task) = serve(app).await;
        let client = WholeHttp::new(reqwest::Client::new());
        client.watch.expect(&RequestId::Number(7));
        let session = session.map(Arc::from);
        let posted = client
            .post_message(url.into(), call(7), session, None, Headers::new())
            .await;
        task.abort();
        (client, posted)
    }

    #[tokio::test]
    async fn a_json_answer_is_copied_before_rmcp_reads_it() {
        let json = vec![(CONTENT_TYPE, JSON_MIME_TYPE)];
        let (client, posted) = post(answering(StatusCode::OK, json, ANSWER), None).await;
        let Ok(StreamableHttpPostResponse::Json(JsonRpcMessage::Response(read), _)) = posted else {
            panic!("a JSON answer: {posted:?}");
        };
        assert!(
            matches!(read.result, ServerResult::CallToolResult(_)),
            "rmcp's reading"
        );
        let copy = client.watch.take(&RequestId::Number(7));
        assert_eq!(copy, Some(serde_json::json!({"content": [], "mine": 1})));
    }

    #[tokio::test]
    async fn each_event_of_a_stream_is_copied_as_it_is_read() {
        let body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"mine\":1}}\n\n";
        let sse = vec![(CONTENT_TYPE, EVENT_STREAM_MIME_TYPE)];
        let (client, posted) = post(answering(StatusCode::OK, sse, body), None).await;
        let Ok(StreamableHttpPostResponse::Sse(events, _)) = posted else {
            panic!("an event stream: {posted:?}");
        };
        assert_eq!(
            client.watch.take(&RequestId::Number(7)),
            None,
            "nothing read yet"
        );
        client.watch.expect(&RequestId::Number(7));
        let events: Vec<_> = events.collect().await;
        assert_eq!(events.len(), 2);
        let copy = client.watch.take(&RequestId::Number(7));
        assert_eq!(copy, Some(serde_json::json!({"content": [], "mine": 1})));
    }

    #[tokio::test]
    async fn refusals_come_back_as_rmcps_client_says_them() {
        const CHALLENGE: &str = r#"Bearer error="insufficient_scope", scope="files:write""#;
        let with = |status| answering(status, vec![(WWW_AUTHENTICATE, CHALLENGE)], "");
        let (_, posted) = post(with(StatusCode::UNAUTHORIZED), None).await;
        assert!(
            matches!(&posted, Err(StreamableHttpError::AuthRequired(c)) if c.www_authenticate_header == CHALLENGE),
            "{posted:?}"
        );
        let (_, posted) = post(with(StatusCode::FORBIDDEN), None).await;
        assert!(
            matches!(&posted, Err(StreamableHttpError::InsufficientScope(_))),
            "{posted:?}"
        );
        let gone = answering(StatusCode::NOT_FOUND, vec![], "");
        let (_, posted) = post(gone, Some("s1")).await;
        assert!(
            matches!(posted, Err(StreamableHttpError::SessionExpired)),
            "{posted:?}"
        );
        let accepted = answering(StatusCode::ACCEPTED, vec![], "");
        let (_, posted) = post(accepted, None).await;
        assert!(
            matches!(posted, Ok(StreamableHttpPostResponse::Accepted)),
            "{posted:?}"
        );

        let error = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no such tool"}}"#;
        let json = vec![(CONTENT_TYPE, JSON_MIME_TYPE)];
        let (_, posted) = post(answering(StatusCode::BAD_REQUEST, json, error), None).await;
        assert!(
            matches!(&posted, Ok(StreamableHttpPostResponse::Json(JsonRpcMessage::Error(e), _)) if e.error.message == "no such tool"),
            "{posted:?}"
        );
        let (_, posted) = post(
            answering(StatusCode::BAD_GATEWAY, vec![], "upstream down"),
            None,
        )
        .await;
        let Err(StreamableHttpError::UnexpectedServerResponse(said)) = posted else {
            panic!("{posted:?}");
        };
        assert_eq!(said, "HTTP 502 Bad Gateway: upstream down");
    }

    #[test]
    fn an_events_size_counts_from_the_last_blank_line_across_chunks() {
        let mut size = EventSize::default();
        assert_eq!(size.add(b"data: abc\n"), 10);
        assert_eq!(size.add(b"data: d"), 17);
        assert_eq!(size.add(b"\n"), 18);
        assert_eq!(size.add(b"\n"), 0, "a blank line ends the event");
        assert_eq!(
            size.add(b"data: x\r\n\r\ndata: yz"),
            8,
            "CRLF line ends too"
        );
        assert_eq!(size.add(b"\n\ndata: 1\n\n"), 0);
    }
}
