//! Extras against the reference server `@modelcontextprotocol/server-everything`, when the npm
//! peers are installed (`scripts/deps.sh`, in `$PATCHBAY_PEERS` or `<repo>/.cache/peers`) and
//! Node is on PATH; otherwise each says `skipped: ...` on stderr and passes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::harness::{Home, Hub, repo_root, text_of};

/// server-everything's entry point, or why these tests cannot run.
fn everything_entry() -> Result<PathBuf, String> {
    let peers = std::env::var_os("PATCHBAY_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/peers"));
    let entry = peers.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !entry.is_file() {
        return Err(format!(
            "no server-everything at {} (run scripts/deps.sh)",
            entry.display()
        ));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Err("no `node` on PATH".into());
    }
    Ok(entry)
}

/// A hub serving server-everything as `everything`, up; `None` (said on stderr) without it.
async fn everything_hub(test: &str) -> Option<Hub> {
    let entry = match everything_entry() {
        Ok(entry) => entry,
        Err(why) => {
            // Straight to stderr, past the test harness's capture, so the skip is always seen.
            let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
            return None;
        }
    };
    let entry = toml::Value::String(entry.display().to_string());
    let home = Home::new(&format!(
        "[servers.everything]\ncommand = \"node\"\nargs = [{entry}, \"stdio\"]\n"
    ));
    let hub = home.start().await;
    hub.wait_running(&["everything"]).await;
    Some(hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_tools_are_listed_and_echo_answers_through_the_hub() {
    let Some(hub) =
        everything_hub("everything_tools_are_listed_and_echo_answers_through_the_hub").await
    else {
        return;
    };
    let client = hub.client().await;
    let names = client.tool_names().await;
    for tool in ["echo", "get-sum", "get-structured-content"] {
        assert!(
            names.contains(&format!("everything__{tool}")),
            "{tool}: {names:?}"
        );
    }
    let echoed = client
        .call_text("everything__echo", json!({ "message": "via the hub" }))
        .await;
    assert_eq!(echoed, "Echo: via the hub");
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_structured_content_passes_through() {
    let Some(hub) = everything_hub("everything_structured_content_passes_through").await else {
        return;
    };
    let client = hub.client().await;
    let result = client
        .call(
            "everything__get-structured-content",
            json!({ "location": "New York" }),
        )
        .await
        .expect("the call succeeds");
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent is kept");
    let keys: BTreeSet<&str> = structured
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["conditions", "humidity", "temperature"])
    );
    let mirrored: serde_json::Value =
        serde_json::from_str(&text_of(&result)).expect("the text is JSON");
    assert_eq!(
        mirrored, structured,
        "the text mirrors the structured content"
    );
    client.close().await;
    hub.stop().await;
}
