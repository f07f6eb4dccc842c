//! Requests a server sends in the middle of a call (sampling, elicitation, roots), through the
//! hub: each reaches the client session that made the call, and its answer reaches the server.
//! They need a session to carry them, so the clients here use the 2025-11-25 handshake.

use serde_json::json;

use crate::harness::{Recorder, hub_with};

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
