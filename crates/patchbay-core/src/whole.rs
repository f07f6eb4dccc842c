//! Answers kept whole: a client gets what a server sent, equal as JSON, member order kept,
//! even where rmcp's typed model of the protocol would lose part of it.
//!
//! Two halves, both here:
//!
//! - Upstream: a server's answers are read through a tap that keeps a copy of each answer to a
//!   `tools/call`, `prompts/get`, `resources/read` or a method rmcp does not model (and of each
//!   `tools/list`, see `watch`): [`child`]'s for a stdio server, [`http`]'s for a remote one.
//!   When rmcp's reading of it, written out again, differs from the copy, the copy is handed on
//!   as a bare JSON value (`CustomResult`), as rmcp does itself for an answer it cannot read at
//!   all ([`Kept`]).
//! - This module: rmcp's server side sends back only typed results, so the hub answers with a
//!   placeholder of the right type whose `_meta` carries the server's value under [`KEY`]
//!   ([`carry`]); the endpoint, which sees every message rmcp sends to a client, puts the value
//!   back in the placeholder's place ([`restore`], [`restore_events`]).
//!
//! The same holds for members of an object inside an answer (a tool's `execution` in a list):
//! they ride in the object's `_meta` under [`MEMBERS`] ([`stash_members`]) and are put back
//! beside it.
//!
//! A server that writes [`KEY`] into its own result's `_meta` gets its result replaced by the
//! value it wrote there, and one that writes [`MEMBERS`] gets those members: what it could have
//! sent in the first place, so nothing is gained by it.
//!
//! A leaf: it imports nothing of the hub (only the event-stream reader, [`crate::sse`]).

pub mod child;
pub mod http;
mod watch;

pub use watch::Kept;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use memchr::memmem;
use rmcp::model::{JsonObject, MetaObject};
use serde_json::Value;

/// The `_meta` member that carries a server's answer in a placeholder result.
pub const KEY: &str = "dev.patchbay/passthrough";

/// The `_meta` member that carries members of the object it is in that rmcp's model has no
/// field for; they are put back beside `_meta`, replacing any of the same name.
pub const MEMBERS: &str = "dev.patchbay/members";

/// Keep `members` in `meta` for the endpoint to put back beside it (merged with any kept there).
pub fn stash_members(meta: &mut Option<MetaObject>, members: JsonObject) {
    if members.is_empty() {
        return;
    }
    let meta = meta.get_or_insert_with(MetaObject::default);
    match meta.0.get_mut(MEMBERS) {
        Some(Value::Object(kept)) => kept.extend(members),
        _ => {
            meta.0.insert(MEMBERS.to_owned(), Value::Object(members));
        }
    }
}

/// The members kept in `meta` by [`stash_members`].
pub fn stashed(meta: Option<&MetaObject>) -> Option<&JsonObject> {
    meta?.0.get(MEMBERS)?.as_object()
}

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
    let carried = memmem::find(message, KEY.as_bytes()).is_some();
    let members = memmem::find(message, MEMBERS.as_bytes()).is_some();
    if !carried && !members {
        return None;
    }
    let mut message: Value = serde_json::from_slice(message).ok()?;
    let mut changed = false;
    if members {
        changed |= hoist(&mut message);
    }
    if carried && let Some(answer) = carried_answer(&mut message) {
        message["result"] = answer;
        changed = true;
    }
    changed.then(|| serde_json::to_vec(&message).ok()).flatten()
}

/// The answer a placeholder result carries, taken out of it.
fn carried_answer(message: &mut Value) -> Option<Value> {
    let placeholder = message.get_mut("result")?.as_object_mut()?;
    let mut answer = placeholder.get_mut("_meta")?.as_object_mut()?.remove(KEY)?;
    if let (Some(kind), Some(fields)) = (placeholder.remove("resultType"), answer.as_object_mut()) {
        fields.entry("resultType").or_insert(kind);
    }
    Some(answer)
}

/// Put the members kept under [`MEMBERS`] back beside each `_meta` in `value` (a `_meta` left
/// empty goes); whether any were found.
fn hoist(value: &mut Value) -> bool {
    match value {
        Value::Object(object) => {
            let mut found = false;
            let kept = match object.get_mut("_meta") {
                Some(Value::Object(meta)) => {
                    let kept = meta.remove(MEMBERS);
                    if meta.is_empty() {
                        object.remove("_meta");
                    }
                    kept
                }
                _ => None,
            };
            for child in object.values_mut() {
                found |= hoist(child);
            }
            if let Some(Value::Object(kept)) = kept {
                object.extend(kept);
                found = true;
            }
            found
        }
        Value::Array(items) => {
            let mut found = false;
            for item in items {
                found |= hoist(item);
            }
            found
        }
        _ => false,
    }
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
    if memmem::find(&events, KEY.as_bytes()).is_none()
        && memmem::find(&events, MEMBERS.as_bytes()).is_none()
    {
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
    fn stashed_members_go_back_beside_their_meta_wherever_they_are() {
        let mut tool = None;
        let mut execution = JsonObject::new();
        execution.insert(
            "execution".into(),
            serde_json::json!({"taskSupport": "required"}),
        );
        stash_members(&mut tool, execution);
        let mut own = Some(MetaObject(JsonObject::from_iter([("a".into(), 1.into())])));
        stash_members(&mut own, JsonObject::from_iter([("x".into(), 2.into())]));
        let message = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
            {"name": "t", "_meta": tool}, {"name": "u", "_meta": own}, {"name": "v"}]}});
        let restored = restore(message.to_string().as_bytes()).expect("members to put back");
        let restored: Value = serde_json::from_slice(&restored).unwrap();
        assert_eq!(
            restored["result"]["tools"],
            serde_json::json!([
                {"name": "t", "execution": {"taskSupport": "required"}},
                {"name": "u", "_meta": {"a": 1}, "x": 2},
                {"name": "v"},
            ])
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
