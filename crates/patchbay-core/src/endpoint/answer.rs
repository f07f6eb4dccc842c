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

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

/// How long an answer may take and still come back as one JSON body: long enough for a tool
/// that answers from memory, short enough that any client's read time-out is far away.
pub const QUICK: Duration = Duration::from_millis(250);

/// What the start of an event stream holds so far.
#[derive(Debug, PartialEq, Eq)]
enum First {
    /// The first message is the answer: its JSON text.
    Answer(Bytes),
    /// The first message is something else; the stream must be passed on.
    Other,
    /// No message yet.
    Pending,
}

/// `response` as one JSON body if it is an event stream whose first message is the answer and
/// comes within `within`; else `response` itself, its body whole.
pub async fn quick_json(response: Response, within: Duration) -> Response {
    if response.status() != StatusCode::OK || !is_event_stream(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut stream = body.into_data_stream();
    let mut seen = BytesMut::new();
    let mut reader = EventReader::default();
    let deadline = tokio::time::sleep(within);
    tokio::pin!(deadline);
    let ended = loop {
        match reader.first_message(&mut seen) {
            First::Answer(json) => {
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                parts.headers.remove(header::CACHE_CONTROL);
                parts.headers.remove("x-accel-buffering");
                return Response::from_parts(parts, Body::from(json));
            }
            First::Other => break false,
            First::Pending => {}
        }
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(bytes)) => seen.extend_from_slice(&bytes),
                Some(Err(_)) | None => break true,
            },
            _ = &mut deadline => break false,
        }
    };
    let read = futures::stream::once(std::future::ready(Ok::<_, axum::Error>(seen.freeze())));
    let body = if ended {
        Body::from_stream(read)
    } else {
        Body::from_stream(read.chain(stream))
    };
    Response::from_parts(parts, body)
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Reads the lines of an event stream as they arrive, each byte once: an event ends with a
/// blank line, its data is its `data` lines joined by newlines (the SSE standard), and an event
/// without data (the priming event, a keep-alive comment) carries no message.
#[derive(Default)]
struct EventReader {
    /// Where the first line not yet read starts.
    line: usize,
    /// The current event's `data` values, as ranges of the text.
    data: Vec<std::ops::Range<usize>>,
}

impl EventReader {
    /// The first message among the events complete in `text` so far.
    fn first_message(&mut self, text: &mut BytesMut) -> First {
        loop {
            let Some(offset) = memchr::memchr2(b'\n', b'\r', &text[self.line..]) else {
                return First::Pending;
            };
            let brk = self.line + offset;
            let after = match (text[brk], text.get(brk + 1)) {
                (b'\r', Some(b'\n')) => brk + 2,
                // A CR at the end may be the first half of a CRLF.
                (b'\r', None) => return First::Pending,
                _ => brk + 1,
            };
            let line = self.line..brk;
            self.line = after;
            if line.is_empty() {
                match self.message(text) {
                    First::Pending => continue,
                    found => return found,
                }
            }
            let bytes = &text[line.clone()];
            if let Some(rest) = bytes.strip_prefix(b"data") {
                let skip = match rest {
                    [] => 0,
                    [b':', b' ', ..] => 2,
                    [b':', ..] => 1,
                    _ => continue,
                };
                self.data.push(line.start + 4 + skip..line.end);
            }
        }
    }

    /// The event just ended: no message when it has no data, else the answer or something
    /// else. An answer in one `data` line (rmcp writes one) is handed on without a copy.
    fn message(&mut self, text: &mut BytesMut) -> First {
        let data = std::mem::take(&mut self.data);
        if data.iter().all(|r| r.is_empty()) && data.len() < 2 {
            return First::Pending;
        }
        let mut joined = Vec::new();
        let json: &[u8] = match data.as_slice() {
            [one] => &text[one.clone()],
            many => {
                joined = many
                    .iter()
                    .map(|r| &text[r.clone()])
                    .collect::<Vec<_>>()
                    .join(&b'\n');
                &joined
            }
        };
        if !super::is_answer(json) {
            First::Other
        } else if let [one] = data.as_slice() {
            First::Answer(text.split_to(one.end).freeze().slice(one.start..))
        } else {
            First::Answer(Bytes::from(joined))
        }
    }
}

#[cfg(test)]
mod tests {
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

    /// The first message of `chunks` arriving one by one, as the reader sees them.
    fn first_message(chunks: &[&[u8]]) -> First {
        let mut reader = EventReader::default();
        let mut text = BytesMut::new();
        let mut first = First::Pending;
        for chunk in chunks {
            text.extend_from_slice(chunk);
            first = reader.first_message(&mut text);
            if first != First::Pending {
                break;
            }
        }
        first
    }

    #[test]
    fn events_split_on_any_blank_line_and_data_lines_join() {
        assert_eq!(
            first_message(&[b"data: \n\n: keep-alive\n\n"]),
            First::Pending
        );
        assert_eq!(
            first_message(&[b"data: {\"jsonrpc\":\"2.0\",\"id\":1,"]),
            First::Pending
        );
        assert_eq!(
            first_message(&[b"data: {\"jsonrpc\":\"2.0\",\r\ndata:\"id\":1,\"error\":{}}\r\n\r\n"]),
            First::Answer(Bytes::from_static(
                b"{\"jsonrpc\":\"2.0\",\n\"id\":1,\"error\":{}}"
            ))
        );
        assert_eq!(
            first_message(&[
                b"data: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"sampling/createMessage\"}\n\n"
            ]),
            First::Other
        );
        assert_eq!(
            first_message(&[b"datum: {}\n\n"]),
            First::Pending,
            "not a data line"
        );
    }

    #[test]
    fn events_split_across_chunks_anywhere() {
        let whole: &[u8] = b"data: \r\nid: 0\r\nretry: 3000\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n";
        let want = First::Answer(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        ));
        for cut in 0..whole.len() {
            assert_eq!(
                first_message(&[&whole[..cut], &whole[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        let bytewise: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(first_message(&bytewise), want);
    }
}
