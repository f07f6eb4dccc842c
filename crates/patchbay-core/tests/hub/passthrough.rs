//! Answers pass through whole: what a server answers reaches the client equal as JSON with its
//! members in the order the server wrote them, even where it is outside the protocol model the
//! hub is built on (a content type no revision defines, members of the server's own), whether
//! the hub answers with one JSON body or with an event stream; tool definitions too, but for
//! their namespaced names.
//!
//! The server is the test server in raw mode (`--raw`: plain JSON-RPC, no SDK, which would
//! refuse to send such answers), and what it sends is what it prints with `--print-answer`, so
//! the expected value has one source. Answers are read as plain HTTP ([`crate::raw`]).

use serde_json::{Value, json};

use crate::harness::{Home, Hub, TEST_SERVER, bounded, hub_with};
use crate::raw::{Session, in_order, parse};

/// The revision of the sessions here (the handshake, with a session).
const REVISION: &str = "2025-11-25";

/// What the test server sends as its answer `kind` (`--print-answer`), in its member order.
async fn printed(kind: &str) -> Value {
    let run = tokio::process::Command::new(TEST_SERVER)
        .args(["--print-answer", kind])
        .output();
    let out = bounded("the test server prints an answer", run)
        .await
        .expect("the test server runs");
    assert!(out.status.success(), "--print-answer {kind}: {out:?}");
    parse(&String::from_utf8(out.stdout).expect("UTF-8"))
}

/// A hub with the raw test server as `odd`, running with its tools listed.
async fn odd_hub() -> Hub {
    let home = Home::new("");
    home.write_config(&home.server_with("odd", &["--raw"], ""));
    let hub = home.start().await;
    hub.wait_running(&["odd"]).await;
    hub
}

/// `got` is `want`: equal as JSON, and its members in the same order.
fn assert_whole(got: &Value, want: &Value, what: &str) {
    assert_eq!(got, want, "{what}: the client gets what the server sent");
    assert_eq!(
        in_order(got),
        in_order(want),
        "{what}: in the server's member order"
    );
}

fn call(tool: &str) -> Value {
    json!({ "name": tool, "arguments": {} })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_outside_the_model_come_whole_in_one_json_body() {
    let hub = odd_hub().await;
    let (mut session, _) = Session::initialize(&hub, REVISION).await;
    // `hologram`: a content type no revision defines, a result member of its own, unsorted
    // structured content and `_meta`; `extras`: text content the model reads, with a member
    // of the content and result members (`execution`, its own) that it does not.
    for (tool, kind) in [("odd__hologram", "tool"), ("odd__extras", "extras")] {
        let (id, reply) = session.request("tools/call", call(tool)).await;
        assert_eq!(reply.status, 200, "{tool}: {:?}", reply.texts);
        assert_eq!(
            reply.content_type, "application/json",
            "{tool}: a quick answer is one JSON body"
        );
        assert_whole(&reply.result(id), &printed(kind).await, tool);
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_outside_the_model_come_whole_in_an_event_stream() {
    let hub = odd_hub().await;
    let (mut session, _) = Session::initialize(&hub, REVISION).await;
    let want = printed("tool").await;
    // Slow (past the hub's wait for a quick answer), then slow with progress first.
    for meta in [None, Some(json!({ "progressToken": "p1" }))] {
        let mut params = call("odd__slow_hologram");
        if let Some(meta) = &meta {
            params["_meta"] = meta.clone();
        }
        let (id, reply) = session.request("tools/call", params).await;
        assert_eq!(reply.status, 200, "{:?}", reply.texts);
        assert!(
            reply.content_type.starts_with("text/event-stream"),
            "a slow answer (progress: {meta:?}) comes as a stream: {}",
            reply.content_type
        );
        assert_whole(
            &reply.result(id),
            &want,
            &format!("the streamed answer (progress: {meta:?})"),
        );
        if meta.is_some() {
            let messages = reply.messages();
            let progress: Vec<&Value> = messages
                .iter()
                .filter(|m| m["method"] == "notifications/progress")
                .collect();
            assert_eq!(
                progress.len(),
                1,
                "the server's progress reaches the client: {:?}",
                reply.texts
            );
            assert_eq!(progress[0]["params"]["progressToken"], "p1");
            assert_eq!(
                messages.last().map(|m| &m["id"]),
                Some(&json!(id)),
                "the answer ends the stream, after the progress"
            );
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_and_resource_outside_the_model_come_whole() {
    let hub = odd_hub().await;
    let (mut session, _) = Session::initialize(&hub, REVISION).await;
    let prompt = session
        .result("prompts/get", json!({ "name": "odd__hologram" }))
        .await;
    assert_whole(&prompt, &printed("prompt").await, "prompts/get");
    let resource = session
        .result("resources/read", json!({ "uri": "odd://hologram" }))
        .await;
    assert_whole(&resource, &printed("resource").await, "resources/read");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_definitions_pass_through_whole_but_for_the_namespaced_name() {
    let hub = odd_hub().await;
    let (mut session, _) = Session::initialize(&hub, REVISION).await;
    let listed = session.result("tools/list", json!({})).await;
    let served = listed["tools"].as_array().expect("a list of tools");
    let upstream = printed("tools").await;
    let upstream = upstream["tools"].as_array().expect("the server's tools");
    assert_eq!(served.len(), upstream.len(), "every tool once: {listed}");
    for tool in upstream {
        let name = tool["name"].as_str().expect("a name");
        let exposed = format!("odd__{name}");
        let mut got = served
            .iter()
            .find(|t| t["name"] == exposed.as_str())
            .unwrap_or_else(|| panic!("`{exposed}` is listed: {listed}"))
            .clone();
        let mut want = tool.clone();
        got.as_object_mut().unwrap().shift_remove("name");
        want.as_object_mut().unwrap().shift_remove("name");
        assert_eq!(got, want, "`{name}`'s definition passes whole");
        // The server's own objects keep their order: a client shows parameters in it.
        for member in ["inputSchema", "outputSchema", "_meta"] {
            if let Some(own) = want.get(member) {
                assert_eq!(
                    in_order(&got[member]),
                    in_order(own),
                    "`{name}`'s {member} in the server's member order"
                );
            }
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_gets_an_answer_outside_the_model_whole_and_marked_complete() {
    let hub = odd_hub().await;
    let mut session = Session::stateless(&hub);
    let (id, reply) = session.request("tools/call", call("odd__hologram")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.texts);
    assert_eq!(reply.session, None, "no session is made");
    // 2026-07-28 requires `resultType`: the hub adds it after the server's members, and
    // nothing else.
    let mut want = printed("tool").await;
    want["resultType"] = json!("complete");
    assert_whole(&reply.result(id), &want, "the stateless answer");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_content_with_annotations_passes_through() {
    let hub = hub_with(&["a"]).await;
    let (mut session, _) = Session::initialize(&hub, REVISION).await;
    let want = printed("image").await;
    let image = &want["content"][0];
    assert!(
        image["type"] == "image" && image["annotations"].is_object(),
        "the server's answer has annotated image content: {want}"
    );
    let got = session.result("tools/call", call("a__image")).await;
    assert_eq!(
        got["content"], want["content"],
        "the image, its annotations and the text arrive as the server sent them"
    );
    assert_eq!(got["isError"], false);
    hub.stop().await;
}
