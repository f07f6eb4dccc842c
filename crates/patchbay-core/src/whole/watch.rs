//! The copies of a server's answers, and rmcp's readings of them made whole.
//!
//! A tap beside rmcp's reading of a server (a stdio line reader, [`super::child`]; an HTTP
//! client, [`super::http`]) offers each message it sees to a [`Watch`]; the watch keeps the
//! `result` of an answer to a request [`Kept`] marked as expected when it was sent. When
//! rmcp's typed message for that answer comes out of the transport, [`Kept`] compares the two
//! and, where rmcp's reading lost or changed anything, puts the copy in its place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{ClientRequest, CustomResult, JsonRpcMessage, RequestId, ServerResult};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;

/// Calls in flight at once past which the table is emptied (a server that never answers some
/// calls must not grow it without bound; the calls then in flight get rmcp's reading).
const MAX_WATCHED: usize = 4096;

/// Whether the answer to `request` may hold what rmcp's model drops: a call, a prompt, a
/// resource, a tool list, or a method rmcp does not model.
pub(super) fn watched(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::CallToolRequest(_)
            | ClientRequest::GetPromptRequest(_)
            | ClientRequest::ReadResourceRequest(_)
            | ClientRequest::ListToolsRequest(_)
            | ClientRequest::CustomRequest(_)
    )
}

/// A transport whose answers to [`watched`] requests are kept whole from `watch`'s copies.
pub struct Kept<T> {
    inner: T,
    watch: Arc<Watch>,
}

impl<T> Kept<T> {
    /// `inner`, whose tap offers what it reads to `watch`.
    pub(super) fn new(inner: T, watch: Arc<Watch>) -> Self {
        Self { inner, watch }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Kept<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(request) = &item
            && watched(&request.request)
        {
            self.watch.expect(&request.id);
        }
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let mut message = self.inner.receive().await?;
        match &mut message {
            JsonRpcMessage::Response(response) => {
                if let Some(copy) = self.watch.take(&response.id) {
                    keep_whole(&mut response.result, copy);
                }
            }
            JsonRpcMessage::Error(error) => {
                if let Some(id) = &error.id {
                    self.watch.take(id);
                }
            }
            _ => {}
        }
        Some(message)
    }

    fn close(&mut self) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// `read` is rmcp's reading of an answer, `copy` the answer as the server wrote it: when the
/// reading lost or changed anything, the answer goes on as written.
fn keep_whole(read: &mut ServerResult, copy: Value) {
    if let ServerResult::ListToolsResult(list) = read {
        return keep_tools_whole(&mut list.tools, copy);
    }
    if matches!(read, ServerResult::CustomResult(_)) {
        return;
    }
    let same = serde_json::to_value(&*read).is_ok_and(|written| written == copy);
    if !same {
        tracing::debug!("an answer has what rmcp's model does not; passing it on as written");
        *read = ServerResult::CustomResult(CustomResult::new(copy));
    }
}

/// A list of tools stays rmcp's reading (the hub reads it), each tool with the members the
/// reading lost (a 2025-11-25 tool's `execution`, a server's own) kept in its `_meta`
/// ([`crate::whole::stash_members`]).
fn keep_tools_whole(read: &mut [rmcp::model::Tool], mut copy: Value) {
    let Some(Value::Array(written)) = copy.get_mut("tools").map(Value::take) else {
        return;
    };
    if written.len() != read.len() {
        return;
    }
    for (tool, wrote) in read.iter_mut().zip(written) {
        let (Value::Object(mut wrote), Ok(Value::Object(known))) =
            (wrote, serde_json::to_value(&*tool))
        else {
            continue;
        };
        wrote.retain(|name, _| !known.contains_key(name) && name != "_meta");
        crate::whole::stash_members(&mut tool.meta, wrote);
    }
}

/// The answers expected, by request id, and the copies of those that have come.
#[derive(Debug, Default)]
pub(super) struct Watch {
    answers: Mutex<HashMap<String, Option<Value>>>,
}

impl Watch {
    pub(super) fn key(id: &RequestId) -> String {
        serde_json::to_string(id).unwrap_or_default()
    }

    pub(super) fn expect(&self, id: &RequestId) {
        let mut answers = self.answers.lock().expect("watch lock");
        if answers.len() >= MAX_WATCHED {
            answers.clear();
        }
        answers.insert(Self::key(id), None);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.answers.lock().expect("watch lock").is_empty()
    }

    /// A line the server wrote: keep its `result` if it answers an expected request.
    pub(super) fn offer(&self, line: &[u8]) {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let Some(key) = message.get("id").map(Value::to_string) else {
            return;
        };
        if let Some(slot) = self.answers.lock().expect("watch lock").get_mut(&key) {
            *slot = message.remove("result");
        }
    }

    pub(super) fn take(&self, id: &RequestId) -> Option<Value> {
        self.answers
            .lock()
            .expect("watch lock")
            .remove(&Self::key(id))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolResult, ContentBlock};

    #[test]
    fn an_answer_read_in_full_stays_rmcps_and_one_read_in_part_goes_on_as_written() {
        let plain = CallToolResult::success(vec![ContentBlock::text("hi")]);
        let copy = serde_json::to_value(&plain).unwrap();
        let mut read = ServerResult::CallToolResult(plain.clone());
        keep_whole(&mut read, copy.clone());
        assert!(matches!(read, ServerResult::CallToolResult(_)));

        let mut more = copy;
        more["content"][0]["lang"] = "en".into();
        more["execution"] = serde_json::json!({"taskSupport": "optional"});
        // What this module is for: rmcp reads such an answer, and drops what it does not know.
        let mut read: ServerResult = serde_json::from_value(more.clone()).unwrap();
        assert!(matches!(read, ServerResult::CallToolResult(_)), "{read:?}");
        assert_ne!(serde_json::to_value(&read).unwrap(), more);
        keep_whole(&mut read, more.clone());
        match read {
            ServerResult::CustomResult(kept) => assert_eq!(kept.0, more),
            other => panic!("expected the answer as written, got {other:?}"),
        }
    }

    #[test]
    fn a_tool_list_stays_rmcps_with_each_tools_lost_members_in_its_meta() {
        let copy = serde_json::json!({"tools": [
            {"name": "plain", "inputSchema": {"type": "object"}},
            {"name": "task", "inputSchema": {"type": "object"},
             "execution": {"taskSupport": "required"}, "_meta": {"own": 1}},
        ]});
        let mut read: ServerResult = serde_json::from_value(copy.clone()).unwrap();
        keep_whole(&mut read, copy);
        let ServerResult::ListToolsResult(list) = read else {
            panic!("a list stays rmcp's reading: {read:?}");
        };
        assert_eq!(crate::whole::stashed(list.tools[0].meta.as_ref()), None);
        let meta = list.tools[1].meta.as_ref();
        let kept = crate::whole::stashed(meta).expect("members kept");
        assert_eq!(
            kept.get("execution"),
            Some(&serde_json::json!({"taskSupport": "required"}))
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(
            meta.unwrap().0.get("own"),
            Some(&1.into()),
            "the tool's own _meta stays"
        );
    }
}
