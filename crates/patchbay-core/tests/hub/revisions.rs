//! The protocol revisions clients speak, each served: 2025-06-18 and 2025-11-25 through the
//! `initialize` handshake (with a session), 2026-07-28 statelessly (`server/discover`, then
//! requests that carry the revision, the method and the name in headers and `_meta`), whose
//! headers must agree with the body, and `subscriptions/listen`; behind the hub, a server that
//! speaks only 2026-07-28 beside a 2025 one, each reached by both kinds of client. Raw HTTP, so that each revision is spoken exactly.

use serde_json::{Value, json};

use crate::harness::{Home, Hub, Recorder, bounded, hub_with};
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

#[tokio::test]
async fn mcp_name_header_missing_or_not_matching_the_body_is_refused_with_400_and_32020() {
    let hub = hub_with(&["a"]).await;
    let mut client = Session::stateless(&hub);
    for (header, why) in [
        (vec![("mcp-name", "a__other")], "names another tool"),
        (vec![("mcp-name", "")], "is empty"),
    ] {
        let (id, refused) = client.request_with("tools/call", echo("x"), &header).await;
        assert_eq!(
            refused.status, 400,
            "a header that {why}: {:?}",
            refused.texts
        );
        let answer = refused.answer(id);
        assert_eq!(
            answer["error"]["code"], -32020,
            "a header that {why}: {answer}"
        );
    }
    hub.stop().await;
}

/// Open a stateless `subscriptions/listen` stream (request `id`) asking for `notifications`;
/// the stream, and what it said up to its acknowledgement.
async fn listen(hub: &Hub, id: u64, notifications: Value) -> (reqwest::Response, String) {
    let listen = json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "subscriptions/listen",
        "params": {
            "notifications": notifications,
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
    let mut stream = post_mcp(hub, listen.to_string(), &headers).await;
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "acknowledged").await;
    (stream, seen)
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
    let (mut stream, mut seen) = listen(&hub, 7, json!({ "toolsListChanged": true })).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_listen_hears_updates_of_the_resources_it_names() {
    let hub = hub_with(&["a", "b"]).await;
    let (mut stream, mut seen) = listen(
        &hub,
        8,
        json!({ "resourceSubscriptions": ["test://b/readme", "test://nowhere/x"] }),
    )
    .await;
    assert!(
        seen.contains(r#""resourceSubscriptions":["test://b/readme"]"#),
        "the hub takes the resource its server offers, not the one nobody offers: {seen}"
    );
    read_until(&mut stream, &mut seen, "notifications/resources/updated").await;
    assert!(
        seen.contains(r#""uri":"test://b/readme""#),
        "the update names the resource: {seen}"
    );
    drop(stream);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_cache_hints_are_the_shortest_any_server_gave_and_none_for_sessions() {
    let home = Home::new("");
    let long = home.server_with("a", &["--ttl", "60000"], "");
    let short = home.server_with("b", &["--ttl", "30000"], "");
    home.write_config(&(long.clone() + &short));
    let hub = home.start().await;
    hub.wait_running(&["a", "b"]).await;
    let mut client = Session::stateless(&hub);
    let tools = client.result("tools/list", json!({})).await;
    assert_eq!(
        (&tools["ttlMs"], &tools["cacheScope"]),
        (&json!(30000), &json!("public")),
        "the shortest time to live, the same for every caller: {tools}"
    );
    let (mut session, _) = Session::initialize(&hub, "2025-11-25").await;
    let listed = session.result("tools/list", json!({})).await;
    assert!(
        listed.get("ttlMs").is_none() && listed.get("cacheScope").is_none(),
        "2025 revisions have no cache hints: {listed}"
    );

    // A server that promises nothing (no hint) makes the catalogue's time to live 0, and a
    // private list makes it private.
    let private = home.server_with("c", &["--ttl", "90000", "--private"], "");
    home.write_config(&(long + &short + &private + &home.server("d")));
    let tools = bounded("the new lists", async {
        loop {
            let tools = client.result("tools/list", json!({})).await;
            let text = tools.to_string();
            if text.contains("c__whoami") && text.contains("d__whoami") {
                return tools;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        (&tools["ttlMs"], &tools["cacheScope"]),
        (&json!(0), &json!("private")),
        "{tools}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_only_server_and_a_2025_one_serve_both_kinds_of_client() {
    let home = Home::new("");
    let modern = home.server_with("modern", &["--modern-only"], "");
    home.write_config(&(modern + &home.server("classic")));
    let hub = home.start().await;
    hub.wait_running(&["modern", "classic"]).await;
    assert!(
        home.events("modern")
            .iter()
            .any(|l| l == "refused initialize"),
        "the hub tried `initialize` first: {:?}",
        home.events("modern")
    );
    let session = hub
        .client_with(Recorder {
            elicit_answer: Some(json!({ "color": "teal" })),
            ..Recorder::default()
        })
        .await;
    let mut stateless = Session::stateless(&hub);
    for server in ["modern", "classic"] {
        let tool = format!("{server}__whoami");
        assert_eq!(session.call_text(&tool, json!({})).await, server, "session");
        let called = stateless
            .result("tools/call", json!({ "name": tool, "arguments": {} }))
            .await;
        assert_eq!(text_of(&called), server, "stateless: {called}");
        let uri = format!("test://{server}/readme");
        let read = stateless
            .result("resources/read", json!({ "uri": uri }))
            .await;
        assert_eq!(read["contents"][0]["text"], format!("readme of {server}"));
    }
    // The 2026-only server asks in an input_required result of its own.
    let asked = session
        .call_text("modern__elicit", json!({ "message": "colour?" }))
        .await;
    assert_eq!(
        asked, r#"accept {"color":"teal"}"#,
        "a session client is asked directly and the hub retries for it"
    );
    assert_eq!(*session.seen.elicited.lock().unwrap(), ["colour?"]);
    let elicit = json!({ "name": "modern__elicit", "arguments": { "message": "colour?" } });
    let first = stateless.result("tools/call", elicit.clone()).await;
    assert_eq!(first["resultType"], "input_required", "{first}");
    assert_eq!(
        first["requestState"], "test-server-asked",
        "a stateless client gets the server's own round as it is: {first}"
    );
    let mut retry = elicit;
    retry["inputResponses"] = json!({ "color": { "action": "decline" } });
    retry["requestState"] = first["requestState"].clone();
    let done = stateless.result("tools/call", retry).await;
    assert_eq!(text_of(&done), "decline ", "{done}");
    session.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_only_servers_list_change_reaches_session_clients() {
    let home = Home::new("");
    home.write_config(&home.server_with("modern", &["--modern-only"], ""));
    let hub = home.start().await;
    hub.wait_running(&["modern"]).await;
    let client = hub.client().await;
    let before = client.seen.tools_changed();
    let added = client
        .call_text("modern__add_tool", json!({ "name": "fresh" }))
        .await;
    assert_eq!(added, "added fresh");
    crate::harness::eventually(
        "the session hears tools/list_changed from a 2026-only server",
        async || (client.seen.tools_changed() > before).then_some(()),
    )
    .await;
    assert!(client.tool_names().await.contains("modern__fresh"));
    assert_eq!(
        client.call_text("modern__fresh", json!({})).await,
        "fresh called"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_only_server_is_asked_initialize_once_not_at_every_hub_start() {
    let home = Home::new("");
    home.write_config(&home.server_with("modern", &["--modern-only"], ""));
    let refusals = || {
        let events = home.events("modern");
        events.iter().filter(|l| *l == "refused initialize").count()
    };
    for start in 1..=2 {
        let hub = home.start().await;
        hub.wait_running(&["modern"]).await;
        let client = hub.client().await;
        assert_eq!(
            client.call_text("modern__whoami", json!({})).await,
            "modern"
        );
        client.close().await;
        hub.stop().await;
        assert_eq!(
            refusals(),
            1,
            "after start {start}: the era is kept with the lists"
        );
    }
}

/// The tasks extension's id.
const TASKS: &str = "io.modelcontextprotocol/tasks";

/// `params` of a request from a client that declares the tasks extension.
fn taking_tasks(mut params: Value) -> Value {
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        json!({ "extensions": { TASKS: {} } });
    params
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_only_servers_own_tasks_reach_stateless_clients_by_ids_naming_it() {
    let home = Home::new("");
    home.write_config(&home.server_with("modern", &["--modern-only"], ""));
    let hub = home.start().await;
    hub.wait_running(&["modern"]).await;
    let mut client = Session::stateless(&hub);
    let found = client.result("server/discover", json!({})).await;
    assert!(
        found["capabilities"]["extensions"].get(TASKS).is_some(),
        "the hub declares tasks for a server that makes them: {found}"
    );
    let report = |topic: &str| json!({ "name": "modern__report", "arguments": { "topic": topic } });
    let plain = client.result("tools/call", report("tides")).await;
    assert_eq!(
        text_of(&plain),
        "report on tides",
        "a client that takes no tasks gets none: {plain}"
    );

    let made = client
        .result("tools/call", taking_tasks(report("tides")))
        .await;
    assert_eq!(
        (&made["resultType"], &made["taskId"], &made["status"]),
        (&json!("task"), &json!("modern/report-1"), &json!("working")),
        "the server's own task, its id naming the server: {made}"
    );
    assert!(home.events("modern").contains(&"made task report-1".into()));
    let get = taking_tasks(json!({ "taskId": "modern/report-1" }));
    let asked = crate::harness::eventually("the task asks its question", async || {
        let got = client.result("tasks/get", get.clone()).await;
        (got["status"] == "input_required").then_some(got)
    })
    .await;
    assert_eq!(asked["taskId"], "modern/report-1", "{asked}");
    assert_eq!(
        asked["inputRequests"]["which"]["params"]["message"], "Which tides?",
        "{asked}"
    );
    let answer = json!({ "which": { "action": "accept", "content": { "which": "spring" } } });
    let update = json!({ "taskId": "modern/report-1", "inputResponses": answer });
    client.result("tasks/update", taking_tasks(update)).await;
    let done = client.result("tasks/get", get.clone()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        text_of(&done["result"]),
        r#"report on tides: {"which":"spring"}"#,
        "{done}"
    );

    // Cancelled at the server the id names; an id naming no server here is refused.
    let second = client
        .result("tools/call", taking_tasks(report("reefs")))
        .await;
    assert_eq!(second["taskId"], "modern/report-2", "{second}");
    let cancel = taking_tasks(json!({ "taskId": "modern/report-2" }));
    client.result("tasks/cancel", cancel).await;
    assert!(
        home.events("modern")
            .contains(&"cancelled task report-2".into())
    );
    let (id, unknown) = client
        .request(
            "tasks/get",
            taking_tasks(json!({ "taskId": "nosuch/report-1" })),
        )
        .await;
    let error = unknown.answer(id)["error"].clone();
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown task"),
        "{error}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_only_servers_resource_updates_reach_a_listening_client() {
    let home = Home::new("");
    home.write_config(&home.server_with("modern", &["--modern-only"], ""));
    let hub = home.start().await;
    hub.wait_running(&["modern"]).await;
    let wanted = json!({ "resourceSubscriptions": ["test://modern/readme"] });
    let (mut stream, mut seen) = listen(&hub, 9, wanted).await;
    assert!(
        seen.contains(r#""resourceSubscriptions":["test://modern/readme"]"#),
        "{seen}"
    );
    read_until(&mut stream, &mut seen, "notifications/resources/updated").await;
    assert!(seen.contains(r#""uri":"test://modern/readme""#), "{seen}");
    assert!(
        (home.events("modern").iter()).any(|l| l == "listened to test://modern/readme"),
        "the hub listens to the server for it: {:?}",
        home.events("modern")
    );
    drop(stream);
    hub.stop().await;
}

#[expect(deprecated, reason = "2025-11-25 clients subscribe this way")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_holds_across_a_restart_of_its_server_of_either_era() {
    let home = Home::new("");
    let modern = home.server_with("modern", &["--modern-only"], "");
    home.write_config(&(modern + &home.server("classic")));
    let hub = home.start().await;
    hub.wait_running(&["modern", "classic"]).await;
    let client = hub.client().await;
    for (server, asked) in [("classic", "subscribed to"), ("modern", "listened to")] {
        let uri = format!("test://{server}/readme");
        let asked = format!("{asked} {uri}");
        let times = || home.events(server).iter().filter(|l| **l == asked).count();
        let updates = || {
            let updated = client.seen.updated.lock().unwrap();
            updated.iter().filter(|u| **u == uri).count()
        };
        let params = rmcp::model::SubscribeRequestParams::new(uri.clone());
        client.subscribe(params).await.expect("subscribed");
        crate::harness::eventually(&format!("{server}: updates"), async || {
            (updates() >= 3 && times() == 1).then_some(())
        })
        .await;
        let _ = client.call(&format!("{server}__crash"), json!({})).await;
        crate::harness::eventually(
            &format!("{server}: asked again after its restart"),
            async || (times() == 2).then_some(()),
        )
        .await;
        crate::harness::eventually(
            &format!("{server}: updates after its restart"),
            async || (updates() >= 6).then_some(()),
        )
        .await;
    }
    client.close().await;
    hub.stop().await;
}
