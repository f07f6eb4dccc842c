//! Servers coming and going behind a connected client: a server adding a tool, config edits
//! (good and broken), a child crashing or killed mid-call and restarted, lazy servers started
//! by a call and stopped when idle, and a hub stop that leaves no process behind.

use std::time::{Duration, Instant};

use rmcp::ServiceError;
use serde_json::json;

use crate::harness::{Home, eventually, hub_with, pid_of};
#[cfg(unix)]
use crate::harness::{alive, wait_gone};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_changed_reaches_clients_when_a_server_adds_a_tool() {
    let hub = hub_with(&["a"]).await;
    let client = hub.client().await;
    assert!(!client.tool_names().await.contains("a__fresh"));
    let before = client.seen.tools_changed();
    assert_eq!(
        client
            .call_text("a__add_tool", json!({ "name": "fresh" }))
            .await,
        "added fresh"
    );
    eventually("the client hears tools/list_changed", async || {
        (client.seen.tools_changed() > before).then_some(())
    })
    .await;
    assert!(
        client.tool_names().await.contains("a__fresh"),
        "the new tool is listed"
    );
    assert_eq!(
        client.call_text("a__fresh", json!({})).await,
        "fresh called"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_edit_adding_a_server_announces_tools_list_changed() {
    let hub = hub_with(&["a"]).await;
    let client = hub.client().await;
    assert!(!client.tool_names().await.contains("b__whoami"));
    let before = client.seen.tools_changed();
    let home = &hub.home;
    home.write_config(&(home.server("a") + &home.server("b")));
    eventually(
        "the client hears tools/list_changed after the edit",
        async || (client.seen.tools_changed() > before).then_some(()),
    )
    .await;
    let names = eventually("the new server's tools are listed", async || {
        let names = client.tool_names().await;
        names.contains("b__whoami").then_some(names)
    })
    .await;
    assert!(
        names.contains("a__whoami"),
        "the other server's tools stay: {names:?}"
    );
    assert_eq!(client.call_text("b__whoami", json!({})).await, "b");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_edit_removing_a_server_stops_it_and_withdraws_its_tools() {
    let hub = hub_with(&["a", "b"]).await;
    #[cfg(unix)]
    let b_pid = pid_of(&hub.status_of("b").await);
    let client = hub.client().await;
    let before = client.seen.tools_changed();
    hub.home.write_config(&hub.home.server("a"));
    eventually(
        "the client hears tools/list_changed after the edit",
        async || (client.seen.tools_changed() > before).then_some(()),
    )
    .await;
    let names = client.tool_names().await;
    assert!(
        names.contains("a__echo") && !names.iter().any(|n| n.starts_with("b__")),
        "only the remaining server's tools are listed: {names:?}"
    );
    #[cfg(unix)]
    wait_gone(b_pid, "the removed server's process ends").await;
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_keeps_the_running_servers_and_reload_says_where() {
    let hub = hub_with(&["a"]).await;
    let good = hub.home.server("a");
    let broken_line = good.lines().count() + 2;
    hub.home
        .write_config(&format!("{good}\n[servers.broken\ncommand = \"x\"\n"));
    let (status, answer) = hub.api_post("reload").await;
    assert_eq!(
        status, 422,
        "a config that does not parse is refused: {answer}"
    );
    let config = hub.home.config_file().display().to_string();
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("{config}:{broken_line}:")),
        "the error says file:line:col of the broken line ({broken_line}): {error}"
    );
    let client = hub.client().await;
    assert!(
        client.tool_names().await.contains("a__echo"),
        "the last good config stays"
    );
    assert_eq!(
        client.call_text("a__echo", json!({ "text": "kept" })).await,
        "kept"
    );
    client.close().await;
    hub.stop().await;
}

/// Wait until `name`, crashed, shows `restarting` (counted, and why) during its backoff.
async fn wait_restarting(hub: &crate::harness::Hub, name: &str) {
    let status = hub
        .wait_status(name, "shows `restarting` during its backoff", |s| {
            s["state"] == "restarting"
        })
        .await;
    assert!(
        status["restarts"].as_u64() >= Some(1) && status["last_error"].is_string(),
        "while restarting, the status counts the restart and says why: {status}"
    );
}

/// Wait until `name` runs again in a process other than `old_pid`; its new pid.
async fn wait_restarted(hub: &crate::harness::Hub, name: &str, old_pid: u32) -> u32 {
    let status = hub
        .wait_status(name, "runs again in a new process", |s| {
            s["state"] == "running" && s["pid"].as_u64() != Some(old_pid.into())
        })
        .await;
    assert!(
        status["restarts"].as_u64() >= Some(1),
        "the restart is counted: {status}"
    );
    pid_of(&status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_call_errors_the_call_promptly_and_the_server_restarts() {
    let hub = hub_with(&["a", "b"]).await;
    let old_pid = pid_of(&hub.status_of("a").await);
    let client = hub.client().await;
    let started = Instant::now();
    let crashed = client.call("a__crash", json!({})).await;
    let waited = started.elapsed();
    match &crashed {
        Err(ServiceError::McpError(error)) => assert!(
            error.message.contains("`a`"),
            "the error names the server that went away: {error:?}"
        ),
        other => panic!("a call whose server exits mid-call is an error: {other:?}"),
    }
    assert!(
        waited < Duration::from_secs(5),
        "the error came promptly: {waited:?}"
    );
    assert!(hub.home.events("a").contains(&"crash".to_owned()));
    wait_restarting(&hub, "a").await;
    assert_eq!(
        client.call_text("b__whoami", json!({})).await,
        "b",
        "the other server answers while this one is down"
    );
    let new_pid = wait_restarted(&hub, "a", old_pid).await;
    #[cfg(unix)]
    assert!(
        alive(new_pid) && !alive(old_pid),
        "a new process replaced the old one"
    );
    #[cfg(not(unix))]
    let _ = new_pid;
    assert_eq!(
        client.call_text("a__echo", json!({ "text": "back" })).await,
        "back"
    );
    client.close().await;
    hub.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_child_mid_call_errors_the_call_promptly_and_the_server_restarts() {
    let hub = hub_with(&["a"]).await;
    let old_pid = pid_of(&hub.status_of("a").await);
    let client = hub.client().await;
    let slow = client.call("a__slow", json!({ "ms": 30000, "steps": 30 }));
    let kill = async {
        eventually("the slow call reached the server", async || {
            hub.home
                .events("a")
                .contains(&"started slow".to_owned())
                .then_some(())
        })
        .await;
        crate::harness::kill(old_pid);
        Instant::now()
    };
    let (outcome, killed_at) = tokio::join!(slow, kill);
    let waited = killed_at.elapsed();
    assert!(
        matches!(&outcome, Err(ServiceError::McpError(e)) if e.message.contains("`a`")),
        "the call in flight gets an error naming the server: {outcome:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the error came promptly: {waited:?}"
    );
    let new_pid = wait_restarted(&hub, "a", old_pid).await;
    #[cfg(unix)]
    assert!(
        alive(new_pid) && !alive(old_pid),
        "a new process replaced the old one"
    );
    assert_eq!(
        client.call_text("a__echo", json!({ "text": "back" })).await,
        "back"
    );
    client.close().await;
    hub.stop().await;
}

const LAZY: &str = "start = \"lazy\"\nidle_timeout = \"1s\"";

/// A hub with one lazy server `a` (idle after 1 s), which it started once to learn its lists.
async fn lazy_hub() -> (crate::harness::Hub, u32) {
    let home = Home::new("");
    home.write_config(&home.server_with("a", &[], LAZY));
    let hub = home.start().await;
    let pid = hub.wait_running(&["a"]).await[0];
    (hub, pid)
}

async fn wait_idle(hub: &crate::harness::Hub) -> serde_json::Value {
    hub.wait_status("a", "goes idle", |s| s["state"] == "idle")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_server_stops_when_idle_and_its_tools_stay_listed() {
    let (hub, pid) = lazy_hub().await;
    let idle = wait_idle(&hub).await;
    assert!(
        idle["pid"].is_null(),
        "an idle server has no process: {idle}"
    );
    assert!(
        idle["tools"].as_u64() > Some(0),
        "its tools are still counted: {idle}"
    );
    #[cfg(unix)]
    wait_gone(pid, "the idle server's process exits").await;
    #[cfg(not(unix))]
    let _ = pid;
    let client = hub.client().await;
    assert!(
        client.tool_names().await.contains("a__echo"),
        "its tools are still listed"
    );
    assert_eq!(
        hub.status_of("a").await["state"],
        "idle",
        "listing does not start it"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_an_idle_lazy_server_starts_it() {
    let (hub, old_pid) = lazy_hub().await;
    wait_idle(&hub).await;
    let client = hub.client().await;
    assert_eq!(
        client.call_text("a__echo", json!({ "text": "wake" })).await,
        "wake"
    );
    let status = hub.status_of("a").await;
    assert_eq!(status["state"], "running", "the call started it: {status}");
    assert_ne!(pid_of(&status), old_pid, "in a new process");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_lists_are_served_without_starting_a_lazy_server() {
    let (first, _) = lazy_hub().await;
    let home = first.home.clone();
    first.stop().await;

    let hub = home.start().await;
    let status = hub
        .wait_status("a", "is reported", |s| s["state"] != "starting")
        .await;
    assert_eq!(
        status["state"], "idle",
        "not started with the hub: {status}"
    );
    assert!(status["pid"].is_null(), "{status}");
    let client = hub.client().await;
    assert!(
        client.tool_names().await.contains("a__echo"),
        "listed from the cache"
    );
    assert_eq!(
        hub.status_of("a").await["state"],
        "idle",
        "listing does not start it"
    );

    assert_eq!(
        client
            .call_text("a__echo", json!({ "text": "first" }))
            .await,
        "first"
    );
    eventually("the caller hears that the server is starting", async || {
        let progress = client.seen.progress();
        let messages = progress.iter().filter_map(|p| p.message.as_deref());
        messages
            .into_iter()
            .any(|m| m.contains("starting server `a`"))
            .then_some(())
    })
    .await;
    assert_eq!(hub.status_of("a").await["state"], "running");
    client.close().await;
    hub.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_stop_ends_every_server_process() {
    let hub = hub_with(&["a", "b"]).await;
    let pids: Vec<u32> = [hub.status_of("a").await, hub.status_of("b").await]
        .iter()
        .map(pid_of)
        .collect();
    assert!(pids.iter().all(|&p| alive(p)));
    hub.stop().await;
    for pid in pids {
        assert!(!alive(pid), "server process {pid} outlived the hub");
    }
}
