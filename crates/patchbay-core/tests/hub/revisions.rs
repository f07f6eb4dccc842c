//! The protocol revisions clients speak, each served: 2025-06-18 and 2025-11-25 through the
//! `initialize` handshake (with a session), 2026-07-28 statelessly (`server/discover`, then
//! requests that carry the revision, the method and the name in headers and `_meta`), whose
//! headers must agree with the body, and `subscriptions/listen`. Raw HTTP, so that each revision is spoken exactly.

use serde_json::{Value, json};

use crate::harness::{bounded, hub_with};
use crate::raw::{STATELESS, Session, post_mcp};

/// The text of a tool result's content, joined.
fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect()
}

fn echo(text: &str) -> Value {
    json!({ "name": "a__echo", "arguments": { "text": text } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_at_2025_06_18_and_2025_11_25_is_negotiated_and_a_call_served() {
    let hub = hub_with(&["a"]).await;
    for revision in ["2025-06-18", "2025-11-25"] {
        let (mut session, init) = Session::initialize(&hub, revision).await;
        assert_eq!(
            init["protocolVersion"], revision,
            "the hub speaks {revision} when asked: {init}"
        );
        let result = session.result("tools/call", echo(revision)).await;
        assert_eq!(text_of(&result), revision, "{revision}: {result}");
        assert_eq!(
            result.get("resultType"),
            None,
            "{revision} results carry no resultType: {result}"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_2026_07_28_client_discovers_and_gets_a_call_answered() {
    let hub = hub_with(&["a"]).await;
    let mut client = Session::stateless(&hub);
    let (id, discovered) = client.request("server/discover", json!({})).await;
    assert_eq!(discovered.status, 200, "{:?}", discovered.texts);
    let found = discovered.result(id);
    let versions = found["supportedVersions"].as_array();
    assert!(
        versions.is_some_and(|v| v.contains(&json!(STATELESS))),
        "the hub offers {STATELESS}: {found}"
    );
    let (id, reply) = client.request("tools/call", echo("no session")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.texts);
    assert_eq!(reply.session, None, "a stateless call makes no session");
    let result = reply.result(id);
    assert_eq!(text_of(&result), "no session", "{result}");
    assert_eq!(
        result["resultType"], "complete",
        "{STATELESS} results say they are complete: {result}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_method_header_not_matching_the_body_is_refused_with_400_and_32020() {
    let hub = hub_with(&["a"]).await;
    let mut client = Session::stateless(&hub);
    let (id, refused) = client
        .request_with(
            "tools/call",
            echo("mismatch"),
            &[("mcp-method", "tools/list")],
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.texts);
    let answer = refused.answer(id);
    assert_eq!(
        answer["error"]["code"], -32020,
        "a header mismatch: {answer}"
    );
    let (id, served) = client.request("tools/call", echo("match")).await;
    assert_eq!(
        text_of(&served.result(id)),
        "match",
        "the same request with its own method in the header is served"
    );
    hub.stop().await;
}

/// Read `response`'s stream into `seen` until it holds `what` (bounded).
async fn read_until(response: &mut reqwest::Response, seen: &mut String, what: &str) {
    bounded(&format!("`{what}` on the listen stream"), async {
        while !seen.contains(what) {
            let chunk = response.chunk().await.expect("the stream reads");
            let chunk = chunk.unwrap_or_else(|| panic!("the stream ended before `{what}`: {seen}"));
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_listen_hears_tools_list_changed_after_a_config_edit_adds_a_server() {
    let hub = hub_with(&["a"]).await;
    let listen = json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "subscriptions/listen",
        "params": {
            "notifications": { "toolsListChanged": true },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": STATELESS,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "raw", "version": "1" },
            },
        },
    });
    let headers = [
        ("mcp-protocol-version", STATELESS),
        ("mcp-method", "subscriptions/listen"),
    ];
    let mut stream = post_mcp(&hub, listen.to_string(), &headers).await;
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "acknowledged").await;
    assert!(
        seen.contains(r#""toolsListChanged":true"#),
        "the hub accepts the tools list: {seen}"
    );
    assert!(
        !seen.contains("list_changed"),
        "nothing changed yet: {seen}"
    );
    let home = &hub.home;
    home.write_config(&(home.server("a") + &home.server("b")));
    read_until(&mut stream, &mut seen, "notifications/tools/list_changed").await;
    assert!(
        !seen.contains("notifications/prompts/list_changed"),
        "only what the client asked for: {seen}"
    );
    let mut client = Session::stateless(&hub);
    let tools = client.result("tools/list", json!({})).await;
    assert!(
        tools.to_string().contains("b__whoami"),
        "the list it was told of holds the new server's tools: {tools}"
    );
    drop(stream);
    hub.stop().await;
}
