//! What a client sees of two servers behind the hub: their tools, prompts and resources under
//! the hub's names, each call answered by the server that offers it, errors that say what is
//! wrong, answers passed on whole, progress under the caller's own token, a cancellation
//! carried upstream, and servers' log messages marked with the server.

use std::collections::BTreeSet;

use rmcp::ServiceError;
use rmcp::model::*;
use serde_json::{Value, json};

use crate::harness::{Home, args, bounded, eventually, hub_with, text_of};

/// Every tool of the test server (`patchbay-test-server.rs`).
const TOOLS: [&str; 13] = [
    "echo",
    "add",
    "whoami",
    "slow",
    "crash",
    "add_tool",
    "sample",
    "elicit",
    "roots",
    "structured",
    "log",
    "image",
    "report",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_of_two_servers_are_listed_under_their_server_names() {
    let hub = hub_with(&["a", "b"]).await;
    let client = hub.client().await;
    let names = client.tool_names().await;
    let want: BTreeSet<String> = ["a", "b"]
        .iter()
        .flat_map(|s| TOOLS.iter().map(move |t| format!("{s}__{t}")))
        .collect();
    assert_eq!(
        names, want,
        "each server's tools, once, as `<server>__<tool>`"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_route_to_the_server_that_offers_the_tool() {
    let hub = hub_with(&["a", "b"]).await;
    let client = hub.client().await;
    assert_eq!(client.call_text("a__whoami", json!({})).await, "a");
    assert_eq!(client.call_text("b__whoami", json!({})).await, "b");
    assert_eq!(
        client.call_text("b__add", json!({ "a": 2, "b": 40 })).await,
        "42",
        "the arguments reach the server"
    );
    let text = "ünïcode ✓ and \"quotes\"";
    assert_eq!(
        client.call_text("a__echo", json!({ "text": text })).await,
        text
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_is_a_clear_error_and_the_session_stays_usable() {
    let hub = hub_with(&["a"]).await;
    let client = hub.client().await;
    for name in ["nosuch__tool", "a__nosuch", "echo"] {
        match client.call(name, json!({})).await {
            Err(ServiceError::McpError(error)) => assert!(
                error.message.contains(name),
                "the error names the unknown tool `{name}`: {error:?}"
            ),
            other => panic!("calling unknown `{name}` must be a JSON-RPC error: {other:?}"),
        }
    }
    assert_eq!(
        client
            .call_text("a__echo", json!({ "text": "still here" }))
            .await,
        "still here"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_content_passes_through_whole() {
    let hub = hub_with(&["a", "b"]).await;
    let client = hub.client().await;
    let result = client
        .call("b__structured", json!({}))
        .await
        .expect("the call succeeds");
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent is kept");
    assert_eq!(
        structured,
        json!({ "zeta": 1, "alpha": { "y": true, "b": null }, "from": "b" })
    );
    let order: Vec<&String> = structured.as_object().unwrap().keys().collect();
    assert_eq!(
        order,
        ["zeta", "alpha", "from"],
        "the server's member order is kept"
    );
    let mirrored: Value = serde_json::from_str(&text_of(&result)).expect("the text is JSON");
    assert_eq!(mirrored, structured, "the text content mirrors it");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_namespaced_and_rendered_by_their_server() {
    let hub = hub_with(&["a", "b"]).await;
    let client = hub.client().await;
    let prompts = bounded("prompts/list", client.list_all_prompts())
        .await
        .expect("prompts/list succeeds");
    let names: BTreeSet<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["a__greet", "b__greet"]));
    let params =
        GetPromptRequestParams::new("b__greet").with_arguments(args(json!({ "name": "Ada" })));
    let got = bounded("prompts/get", client.get_prompt(params))
        .await
        .expect("prompts/get succeeds");
    let messages = serde_json::to_value(&got.messages).unwrap();
    assert_eq!(messages[0]["content"]["text"], "Hello, Ada! (from b)");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_keep_their_uris_and_reads_route_to_their_server() {
    let hub = hub_with(&["a", "b"]).await;
    let client = hub.client().await;
    let resources = bounded("resources/list", client.list_all_resources())
        .await
        .expect("resources/list succeeds");
    let uris: BTreeSet<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, BTreeSet::from(["test://a/readme", "test://b/readme"]));
    let templates = bounded("templates/list", client.list_all_resource_templates())
        .await
        .expect("resources/templates/list succeeds");
    let templates: BTreeSet<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(
        templates,
        BTreeSet::from(["test://a/items/{id}", "test://b/items/{id}"])
    );
    for (uri, want) in [
        ("test://b/readme", "readme of b"),
        ("test://a/readme", "readme of a"),
        ("test://a/items/7", "item 7 of a"),
    ] {
        let read = bounded(
            "resources/read",
            client.read_resource(ReadResourceRequestParams::new(uri)),
        )
        .await
        .unwrap_or_else(|err| panic!("reading {uri} succeeds: {err}"));
        let contents = serde_json::to_value(&read.contents).unwrap();
        assert_eq!(contents[0]["text"], want, "{uri} is read from its server");
    }
    let unknown = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("test://c/readme")),
    )
    .await;
    assert!(
        matches!(&unknown, Err(ServiceError::McpError(e)) if e.message.contains("test://c/readme")),
        "a URI no server offers is an error naming it: {unknown:?}"
    );
    client.close().await;
    hub.stop().await;
}

/// Call `tool` with the handle's own progress token; that token and the result.
async fn call_with_progress(
    client: &crate::harness::Client,
    tool: &str,
    arguments: Value,
) -> (ProgressToken, CallToolResult) {
    let handle = client.start_call(tool, arguments).await;
    let token = handle.progress_token.clone();
    match bounded("the call's answer", handle.await_response()).await {
        Ok(ServerResult::CallToolResult(result)) => (token, result),
        other => panic!("`{tool}` answers a tool result: {other:?}"),
    }
}

/// The (progress, total) pairs under `token`, once there are `count` of them.
async fn progress_under(
    client: &crate::harness::Client,
    token: &ProgressToken,
    count: usize,
) -> Vec<(f64, Option<f64>)> {
    eventually(
        &format!("{count} progress notifications arrive"),
        async || {
            let seen = client.seen.progress();
            (seen.len() >= count).then_some(seen)
        },
    )
    .await
    .into_iter()
    .map(|p| {
        assert_eq!(
            &p.progress_token, token,
            "progress carries the caller's own token"
        );
        (p.progress, p.total)
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reaches_the_caller_under_its_own_token() {
    let hub = hub_with(&["a"]).await;
    let client = hub.client().await;
    let (token, result) =
        call_with_progress(&client, "a__slow", json!({ "ms": 200, "steps": 4 })).await;
    assert_eq!(text_of(&result), "slept 200 ms");
    let steps = progress_under(&client, &token, 4).await;
    let want: Vec<(f64, Option<f64>)> = (1..=4).map(|i| (f64::from(i), Some(4.0))).collect();
    assert_eq!(steps, want, "one notification per step, in order");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_of_concurrent_calls_on_two_servers_reaches_each_caller_only() {
    // Two identical servers see the same requests from the hub, so the hub's own progress
    // tokens on them coincide: only routing by (server, token) tells the calls apart.
    let hub = hub_with(&["a", "b"]).await;
    let (one, two) = (hub.client().await, hub.client().await);
    let slow = json!({ "ms": 400, "steps": 4 });
    let ((token_one, _), (token_two, _)) = tokio::join!(
        call_with_progress(&one, "a__slow", slow.clone()),
        call_with_progress(&two, "b__slow", slow.clone()),
    );
    let want: Vec<(f64, Option<f64>)> = (1..=4).map(|i| (f64::from(i), Some(4.0))).collect();
    assert_eq!(progress_under(&one, &token_one, 4).await, want);
    assert_eq!(progress_under(&two, &token_two, 4).await, want);
    one.close().await;
    two.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancellation_cancels_the_upstream_call() {
    let hub = hub_with(&["a"]).await;
    let client = hub.client().await;
    let handle = client
        .start_call("a__slow", json!({ "ms": 30000, "steps": 30 }))
        .await;
    eventually("the server started the slow call", async || {
        hub.home
            .events("a")
            .contains(&"started slow".to_owned())
            .then_some(())
    })
    .await;
    let cancel =
        CancelledNotificationParam::new(Some(handle.id.clone()), Some("test gives up".into()));
    bounded("sending the cancellation", client.notify_cancelled(cancel))
        .await
        .expect("the cancellation is sent");
    eventually("the server saw its call cancelled", async || {
        hub.home
            .events("a")
            .contains(&"cancelled slow".to_owned())
            .then_some(())
    })
    .await;
    drop(handle);
    assert_eq!(
        client
            .call_text("a__echo", json!({ "text": "after" }))
            .await,
        "after",
        "the server answers the next call"
    );
    assert!(
        !hub.home.events("a").contains(&"finished slow".to_owned()),
        "the cancelled call did not run to its end"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_right_after_hub_start_waits_for_the_starting_server() {
    // A client may call a tool it knows (from its own cache) the moment the hub answers: a
    // server still starting is not an unknown tool.
    let home = Home::new("");
    home.write_config(&home.server_with("a", &["--start-delay", "1500"], ""));
    let hub = home.start().await;
    let client = hub.client().await;
    assert_eq!(
        hub.status_of("a").await["state"],
        "starting",
        "the server is still starting"
    );
    assert_eq!(
        client
            .call_text("a__echo", json!({ "text": "early" }))
            .await,
        "early"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_reach_every_connected_client_marked_with_their_server() {
    let hub = hub_with(&["a", "b"]).await;
    let (caller, other) = (hub.client().await, hub.client().await);
    let logs = [
        json!({ "level": "warning", "logger": "db", "data": { "n": 1 } }),
        json!({ "level": "info", "data": "plain" }),
    ];
    caller.call_text("a__log", logs[0].clone()).await;
    caller.call_text("b__log", logs[1].clone()).await;
    // A logger of the server's own is kept under the server's name.
    let want = vec![
        json!({ "level": "warning", "logger": "a/db", "data": { "n": 1 } }),
        json!({ "level": "info", "logger": "b", "data": "plain" }),
    ];
    for (who, client) in [("the caller", &caller), ("another client", &other)] {
        let seen = eventually(&format!("{who} gets both log messages"), async || {
            let seen = client.seen.logs();
            (seen.len() >= want.len()).then_some(seen)
        })
        .await;
        assert_eq!(
            seen, want,
            "{who}: each message once, marked with its server"
        );
    }
    caller.close().await;
    other.close().await;
    hub.stop().await;
}
