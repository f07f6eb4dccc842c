//! Answers kept whole: a client gets what a server sent, equal as JSON, member order kept,
//! even where rmcp's typed model of the protocol would lose part of it.
//!
//! Two halves, both here:
//!
//! - [`child`]: a stdio server's answers are read through a tap that keeps a copy of each
//!   answer to a `tools/call`, `prompts/get` or `resources/read`; when rmcp's reading of it,
//!   written out again, differs from the copy, the copy is handed on as a bare JSON value
//!   (`CustomResult`), as rmcp does itself for an answer it cannot read at all.
//! - This module: rmcp's server side sends back only typed results, so the hub answers with a
//!   placeholder of the right type whose `_meta` carries the server's value under [`KEY`]
//!   ([`carry`]); the endpoint, which sees every message rmcp sends to a client, puts the value
//!   back in the placeholder's place ([`restore`], [`restore_events`]).
//!
//! A server that writes [`KEY`] into its own result's `_meta` gets its result replaced by the
//! value it wrote there: what it could have sent as its result in the first place, so nothing
//! is gained by it.
//!
//! A leaf: it imports nothing of the hub (only the event-stream reader, [`crate::sse`]).

pub mod child;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use memchr::memmem;
use rmcp::model::{JsonObject, MetaObject};
use serde_json::Value;

/// The `_meta` member that carries a server's answer in a placeholder result.
pub const KEY: &str = "dev.patchbay/passthrough";

/// The `_meta` of a placeholder result that stands for `value`.
pub fn carry(value: Value) -> MetaObject {
    let mut meta = JsonObject::new();
    meta.insert(KEY.to_owned(), value);
    MetaObject(meta)
}

/// `message` (one JSON-RPC message) with the answer its placeholder carries put in the
/// placeholder's place; `None` when it carries none. The placeholder's `resultType`, which the
/// hub adds for the clients that require it, is kept when the server's answer has none.
pub fn restore(message: &[u8]) -> Option<Vec<u8>> {
    memmem::find(message, KEY.as_bytes())?;
    let mut message: Value = serde_json::from_slice(message).ok()?;
    let placeholder = message.get_mut("result")?.as_object_mut()?;
    let mut answer = placeholder.get_mut("_meta")?.as_object_mut()?.remove(KEY)?;
    if let (Some(kind), Some(fields)) = (placeholder.remove("resultType"), answer.as_object_mut()) {
        fields.entry("resultType").or_insert(kind);
    }
    message["result"] = answer;
    serde_json::to_vec(&message).ok()
}

/// An event stream with [`restore`] applied to the data of each event. Events pass in whole
/// (rmcp writes each in one piece, ending in a blank line); a piece of an event waits for the
/// rest, so a [`KEY`] cut in two is still found.
pub fn restore_events<S, E>(stream: S) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: Send,
{
    futures::stream::unfold(
        (stream, BytesMut::new()),
        |(mut stream, mut pending)| async move {
            loop {
                match stream.next().await {
                    Some(Ok(chunk)) => {
                        pending.extend_from_slice(&chunk);
                        let Some(end) = crate::sse::whole_len(&pending) else {
                            continue;
                        };
                        let whole = pending.split_to(end).freeze();
                        return Some((Ok(restore_whole(whole)), (stream, pending)));
                    }
                    Some(Err(err)) => return Some((Err(err), (stream, pending))),
                    None if pending.is_empty() => return None,
                    // An unfinished last event: passed on as it is (a client drops it).
                    None => {
                        let rest = pending.split().freeze();
                        return Some((Ok(rest), (stream, pending)));
                    }
                }
            }
        },
    )
}

/// Whole events, each with its data line restored where it carries an answer.
fn restore_whole(events: Bytes) -> Bytes {
    if memmem::find(&events, KEY.as_bytes()).is_none() {
        return events;
    }
    Bytes::from(crate::sse::map_data(&events, restore))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A placeholder as rmcp writes it, carrying `answer`.
    fn placeholder(answer: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"result":{{"resultType":"complete","content":[],"_meta":{{"{KEY}":{answer}}}}}}}"#
        )
    }

    #[test]
    fn a_carried_answer_takes_the_placeholders_place_in_order() {
        let answer =
            r#"{"content":[{"type":"hologram","z":1,"a":2}],"zeta":true,"_meta":{"b":1,"a":2}}"#;
        let restored = restore(placeholder(answer).as_bytes()).expect("it carries an answer");
        assert_eq!(
            String::from_utf8(restored).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"hologram","z":1,"a":2}],"zeta":true,"_meta":{"b":1,"a":2},"resultType":"complete"}}"#
        );
    }

    #[test]
    fn the_servers_own_result_type_wins_and_a_non_object_answer_passes_too() {
        let own = restore(placeholder(r#"{"resultType":"input_required"}"#).as_bytes()).unwrap();
        assert!(
            String::from_utf8(own)
                .unwrap()
                .contains(r#""result":{"resultType":"input_required"}}"#)
        );
        let text = restore(placeholder(r#""just text""#).as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":"just text"}"#
        );
    }

    #[test]
    fn messages_without_a_carried_answer_are_left_alone() {
        for message in [
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#.to_owned(),
            // The key in a tool's own `_meta` inside a listing is not a placeholder.
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"_meta":{{"{KEY}":1}}}}]}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{KEY}"}}}}"#
            ),
            "not json".to_owned(),
        ] {
            assert_eq!(restore(message.as_bytes()), None, "{message}");
        }
    }

    async fn through_stream(chunks: Vec<Vec<u8>>) -> String {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::from(c))),
        );
        let out: Vec<Bytes> = restore_events(stream).map(|c| c.unwrap()).collect().await;
        String::from_utf8(out.concat()).unwrap()
    }

    #[tokio::test]
    async fn an_event_stream_is_restored_event_by_event_wherever_it_is_cut() {
        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;
        let stream = format!(
            "data: \nid: 0\nretry: 3000\n\ndata: {progress}\nid: 1\n\ndata: {}\nid: 2\n\n",
            placeholder(r#"{"content":[{"type":"hologram"}]}"#)
        );
        let want = format!(
            "data: \nid: 0\nretry: 3000\n\ndata: {progress}\nid: 1\n\ndata: {}\nid: 2\n\n",
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"hologram"}],"resultType":"complete"}}"#
        );
        let bytes = stream.into_bytes();
        assert_eq!(
            through_stream(vec![bytes.clone()]).await,
            want,
            "in one piece"
        );
        for cut in 1..bytes.len() {
            let pieces = vec![bytes[..cut].to_vec(), bytes[cut..].to_vec()];
            assert_eq!(through_stream(pieces).await, want, "cut at byte {cut}");
        }
    }

    #[tokio::test]
    async fn a_stream_without_carried_answers_passes_unchanged_and_an_unfinished_tail_too() {
        let stream = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 1\n\n: keep-alive\n\ndata: {\"unfinished";
        let pieces = vec![
            stream.as_bytes()[..20].to_vec(),
            stream.as_bytes()[20..].to_vec(),
        ];
        assert_eq!(through_stream(pieces).await, stream);
    }
}
