//! Requests a server sends in the middle of a call (sampling, elicitation, roots), through the
//! hub: each reaches the client session that made the call, and its answer reaches the server.
//! A session client (2025-11-25) is asked directly; a stateless 2026-07-28 client gets the
//! question in an `input_required` result and answers it in its retry.

use serde_json::{Value, json};

use crate::harness::{Home, Recorder, eventually, hub_with};
use crate::raw::Session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_request_reaches_the_calling_client_and_its_answer_the_server() {
    let hub = hub_with(&["a"]).await;
    let client = hub
        .client_with(Recorder {
            sampling_answer: Some("sampled!".into()),
            ..Recorder::default()
        })
        .await;
    let answer = client
        .call_text("a__sample", json!({ "prompt": "ping" }))
        .await;
    assert_eq!(answer, "sampled!", "the server got the client's answer");
    assert_eq!(
        *client.seen.sampled.lock().unwrap(),
        ["ping"],
        "the client was asked the server's prompt"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_goes_to_the_caller_not_to_another_connected_client() {
    let hub = hub_with(&["a"]).await;
    let sampler = |answer: &str| Recorder {
        sampling_answer: Some(answer.into()),
        ..Recorder::default()
    };
    let bystander = hub.client_with(sampler("wrong")).await;
    let caller = hub.client_with(sampler("right")).await;
    bystander.tool_names().await;
    let answer = caller
        .call_text("a__sample", json!({ "prompt": "who" }))
        .await;
    assert_eq!(answer, "right", "the answer came from the calling client");
    assert!(
        bystander.seen.sampled.lock().unwrap().is_empty(),
        "the other client was not asked"
    );
    caller.close().await;
    bystander.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elicitation_reaches_the_calling_client_and_its_answer_the_server() {
    let hub = hub_with(&["a"]).await;
    let client = hub
        .client_with(Recorder {
            elicit_answer: Some(json!({ "color": "blue" })),
            ..Recorder::default()
        })
        .await;
    let answer = client
        .call_text("a__elicit", json!({ "message": "favourite colour?" }))
        .await;
    assert_eq!(
        answer, r#"accept {"color":"blue"}"#,
        "the server got the client's answer"
    );
    assert_eq!(*client.seen.elicited.lock().unwrap(), ["favourite colour?"]);
    client.close().await;

    let decliner = hub.client().await;
    let answer = decliner
        .call_text("a__elicit", json!({ "message": "again?" }))
        .await;
    assert_eq!(answer, "decline ", "a decline reaches the server too");
    decliner.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roots_of_the_calling_client_reach_the_server() {
    let hub = hub_with(&["a"]).await;
    let with_roots = |roots: &[&str]| Recorder {
        roots: roots.iter().map(|r| r.to_string()).collect(),
        ..Recorder::default()
    };
    let bystander = hub.client_with(with_roots(&["file:///elsewhere"])).await;
    let caller = hub
        .client_with(with_roots(&[
            "file:///work/project-a",
            "file:///work/project-b",
        ]))
        .await;
    let answer = caller.call_text("a__roots", json!({})).await;
    assert_eq!(
        answer, "file:///work/project-a\nfile:///work/project-b",
        "during a call the server sees the caller's roots, and only them"
    );
    caller.close().await;
    bystander.close().await;
    hub.stop().await;
}

/// Where a stateless request says what its client takes.
const TAKES: &str = "io.modelcontextprotocol/clientCapabilities";

/// A stateless client's `tools/call` of `tool` (a client that takes sampling, elicitation and
/// roots), and the hub's answer.
async fn stateless_call(client: &mut Session<'_>, tool: &str, extra: Value) -> Value {
    let mut params = json!({
        "name": tool,
        "arguments": { "prompt": "ping", "message": "color?" },
        "_meta": { TAKES: { "sampling": {}, "elicitation": {}, "roots": {} } },
    });
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    client.result("tools/call", params).await
}

/// The one question of an `input_required` result: its key and request.
fn the_question(result: &Value) -> (String, Value) {
    assert_eq!(result["resultType"], "input_required", "{result}");
    let questions = result["inputRequests"].as_object().expect("questions");
    assert_eq!(questions.len(), 1, "{result}");
    let (key, request) = questions.iter().next().unwrap();
    (key.clone(), request.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_answers_a_servers_questions_through_input_required() {
    let hub = hub_with(&["a"]).await;
    let mut client = Session::stateless(&hub);
    for (tool, method, answer, want) in [
        (
            "a__elicit",
            "elicitation/create",
            json!({ "action": "accept", "content": { "color": "teal" } }),
            r#"accept {"color":"teal"}"#,
        ),
        (
            "a__sample",
            "sampling/createMessage",
            json!({ "role": "assistant", "content": { "type": "text", "text": "sampled!" }, "model": "m" }),
            "sampled!",
        ),
        (
            "a__roots",
            "roots/list",
            json!({ "roots": [{ "uri": "file:///work", "name": "work" }] }),
            "file:///work",
        ),
    ] {
        let first = stateless_call(&mut client, tool, json!({})).await;
        let (key, request) = the_question(&first);
        assert_eq!(
            request["method"], method,
            "{tool} asks its question: {first}"
        );
        let state = first["requestState"]
            .as_str()
            .expect("a requestState")
            .to_owned();
        let retry = json!({ "inputResponses": { key.clone(): answer }, "requestState": state });
        let done = stateless_call(&mut client, tool, retry).await;
        assert_eq!(done["resultType"], "complete", "{tool}: {done}");
        assert_eq!(
            done["content"][0]["text"], want,
            "{tool}: the server got the answer"
        );
        let again = json!({ "inputResponses": { key: answer }, "requestState": state });
        let params = json!({ "name": tool, "arguments": {} });
        let mut params = params.as_object().unwrap().clone();
        params.extend(again.as_object().unwrap().clone());
        let (id, reply) = client.request("tools/call", Value::Object(params)).await;
        let error = &reply.answer(id)["error"];
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("names no call")),
            "a used requestState is spent: {error}"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_never_comes_cancels_the_call_after_input_timeout() {
    let home = Home::new("");
    home.write_config(&format!(
        "[hub]\ninput_timeout = \"1s\"\n{}",
        home.server("a")
    ));
    let hub = home.start().await;
    hub.wait_running(&["a"]).await;
    let mut client = Session::stateless(&hub);
    let first = stateless_call(&mut client, "a__elicit", json!({})).await;
    let (key, _) = the_question(&first);
    let state = first["requestState"].as_str().unwrap().to_owned();
    assert_eq!(
        hub.api("status").await["calls_waiting_for_input"],
        1,
        "the call waits for its client"
    );
    eventually(
        "the server's question is answered with an error",
        async || {
            hub.home
                .events("a")
                .iter()
                .any(|l| l == "elicit failed")
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        hub.api("status").await["calls_waiting_for_input"],
        0,
        "no call waits once input_timeout has passed"
    );
    let params = json!({
        "name": "a__elicit",
        "arguments": {},
        "inputResponses": { key: { "action": "decline" } },
        "requestState": state,
    });
    let (id, reply) = client.request("tools/call", params).await;
    let error = &reply.answer(id)["error"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("input_timeout")),
        "the late retry is told the call is gone, and why: {error}"
    );
    let echo = json!({ "name": "a__echo", "arguments": { "text": "still here" } });
    let served = client.result("tools/call", echo).await;
    assert_eq!(served["content"][0]["text"], "still here");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_is_not_asked_what_it_does_not_take() {
    let hub = hub_with(&["a"]).await;
    let mut client = Session::stateless(&hub);
    let params = json!({ "name": "a__elicit", "arguments": { "message": "color?" } });
    let (id, reply) = client.request("tools/call", params).await;
    let answer = reply.answer(id);
    assert_ne!(
        answer["result"]["resultType"], "input_required",
        "a client without elicitation in its capabilities gets no question: {answer}"
    );
    assert!(
        hub.home.events("a").iter().any(|l| l == "elicit failed"),
        "the server was told the client does not take it"
    );
    let params = json!({ "name": "a__roots", "arguments": {} });
    let (id, reply) = client.request("tools/call", params).await;
    let answer = reply.answer(id);
    assert_eq!(
        answer["result"]["resultType"], "complete",
        "roots/list is answered as outside a call (no session here: no roots): {answer}"
    );
    hub.stop().await;
}
