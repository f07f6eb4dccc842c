//! A request's answer as one JSON body when it is quick, as rmcp's SSE stream when it is not.
//!
//! The protocol lets a server answer each POSTed request either way, and clients must take
//! both. rmcp answers every request of a session with an event stream: headers and a priming
//! event at once, then the answer, then the end. That is the right shape for a call that
//! reports progress or asks the client something while it runs, and for a long call (the
//! stream's keep-alives hold the connection open). For the common call that just answers, it
//! costs a write, a chunked body and an event parser on each side for nothing.
//!
//! So the hub reads the stream rmcp made for a request for a short while: if its first message
//! is the answer (a JSON-RPC response or error) and it comes within [`QUICK`], the client gets
//! that message as `application/json`; if the first message is anything else (progress, a
//! server-to-client request, a log line), or nothing has come by then, the client gets the
//! stream as rmcp made it, with what was read put back in front. Nothing is lost either way.
//! Either way an answer the hub could only carry in a placeholder is put back in its place
//! ([`crate::whole`]).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;
use futures::StreamExt;

use crate::sse;

/// How long an answer may take and still come back as one JSON body: long enough for a tool
/// that answers from memory, short enough that any client's read time-out is far away.
pub const QUICK: Duration = Duration::from_millis(250);

/// `response` as one JSON body if it is an event stream whose first message is the answer and
/// comes within `within`; else `response` itself, its body whole.
pub async fn quick_json(response: Response, within: Duration) -> Response {
    if response.status() != StatusCode::OK || !is_event_stream(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut stream = body.into_data_stream();
    let mut seen = BytesMut::new();
    let mut events = sse::Reader::default();
    let deadline = tokio::time::sleep(within);
    tokio::pin!(deadline);
    let ended = loop {
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(bytes)) => {
                    seen.extend_from_slice(&bytes);
                    let Some(first) = events.feed(&bytes).into_iter().next() else {
                        continue;
                    };
                    let first = first.data;
                    if !super::is_answer(first.as_bytes()) {
                        break false;
                    }
                    parts.headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    parts.headers.remove(header::CACHE_CONTROL);
                    parts.headers.remove("x-accel-buffering");
                    let body = match crate::whole::restore(first.as_bytes()) {
                        Some(restored) => Body::from(restored),
                        None => Body::from(first),
                    };
                    return Response::from_parts(parts, body);
                }
                Some(Err(_)) | None => break true,
            },
            _ = &mut deadline => break false,
        }
    };
    let read = futures::stream::once(std::future::ready(Ok::<_, axum::Error>(seen.freeze())));
    let body = if ended {
        Body::from_stream(crate::whole::restore_events(read))
    } else {
        Body::from_stream(crate::whole::restore_events(read.chain(stream)))
    };
    Response::from_parts(parts, body)
}

/// `response` with [`crate::whole::restore_events`] over its body when it is an event
/// stream.
pub fn restored(response: Response) -> Response {
    if !is_event_stream(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let events = crate::whole::restore_events(body.into_data_stream());
    Response::from_parts(parts, Body::from_stream(events))
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn sse(body: &'static str) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header("mcp-session-id", "s1")
            .body(Body::from(body))
            .unwrap()
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn content_type(response: &Response) -> &str {
        response.headers()[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[tokio::test]
    async fn a_first_answer_comes_back_as_json_with_the_other_headers() {
        let body = "data: \nid: 0/1\nretry: 3000\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 1/1\n\n";
        let response = quick_json(sse(body), QUICK).await;
        assert_eq!(content_type(&response), "application/json");
        assert_eq!(response.headers()["mcp-session-id"], "s1");
        assert_eq!(
            text(response).await,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        );
    }

    #[tokio::test]
    async fn a_first_notification_keeps_the_whole_stream() {
        let body = "data: \n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        let response = quick_json(sse(body), QUICK).await;
        assert_eq!(content_type(&response), "text/event-stream");
        assert_eq!(
            text(response).await,
            body,
            "nothing lost, nothing reordered"
        );
    }

    #[tokio::test]
    async fn a_slow_answer_stays_a_stream_and_arrives_whole() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let response = Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(tokio_stream(rx)))
            .unwrap();
        tx.send(Ok(Bytes::from_static(b"data: \n\n")))
            .await
            .unwrap();
        let response = quick_json(response, Duration::from_millis(20)).await;
        assert_eq!(content_type(&response), "text/event-stream");
        tx.send(Ok(Bytes::from_static(
            b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
        )))
        .await
        .unwrap();
        drop(tx);
        assert_eq!(
            text(response).await,
            "data: \n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
        );
    }

    fn tokio_stream(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[tokio::test]
    async fn an_answer_in_several_data_lines_is_joined_and_a_first_request_keeps_the_stream() {
        let body = "data: {\"jsonrpc\":\"2.0\",\r\ndata:\"id\":1,\"error\":{}}\r\n\r\n";
        let response = quick_json(sse(body), QUICK).await;
        assert_eq!(content_type(&response), "application/json");
        assert_eq!(
            text(response).await,
            "{\"jsonrpc\":\"2.0\",\n\"id\":1,\"error\":{}}"
        );
        let body = "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"sampling/createMessage\"}\n\n";
        let response = quick_json(sse(body), QUICK).await;
        assert_eq!(content_type(&response), "text/event-stream");
        assert_eq!(text(response).await, body);
    }

    #[tokio::test]
    async fn other_answers_pass_untouched() {
        let json = Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(
            content_type(&quick_json(json, QUICK).await),
            "application/json"
        );
        let mut refused = sse("data: x\n\n");
        *refused.status_mut() = StatusCode::NOT_FOUND;
        let refused = quick_json(refused, QUICK).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND);
        assert_eq!(text(refused).await, "data: x\n\n");
    }
}
