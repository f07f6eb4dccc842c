//! The catalogue over the control API, offline: `[catalog] registries` names a registry that
//! cannot answer (port 1), so search and records come from the snapshot shipped with Patchbay.
//! Nothing is started: the entries added are saved disabled.

use serde_json::{Value, json};

use crate::harness::{Home, eventually};

/// The registry no test can reach.
const OFFLINE: &str = "[catalog]\nregistries = [\"http://127.0.0.1:1\"]\n";

/// The snapshot's record asking one argument (the directory it may read).
const FILESYSTEM: &str = "io.github.modelcontextprotocol/server-filesystem";

/// The snapshot's record asking nothing.
const TIME: &str = "io.github.modelcontextprotocol/mcp-server-time";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_falls_back_to_the_snapshot_when_no_registry_answers() {
    let hub = Home::new(OFFLINE).start().await;
    let found = hub.api("catalog?q=filesystem").await;
    assert_eq!(
        found["from_snapshot"], true,
        "no registry answered: {found}"
    );
    assert_eq!(
        found["failed"][0]["registry"], "http://127.0.0.1:1",
        "the registry that failed is named: {found}"
    );
    let entries = found["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "only the matching record: {found}");
    let entry = &entries[0];
    assert_eq!(entry["name"], FILESYSTEM);
    assert_eq!(entry["kind"], "npm");
    assert_eq!(entry["runtime"], "npx", "an npm package runs with npx");
    assert!(entry["runtime_present"].is_boolean());
    assert_eq!(
        entry["questions"][0]["secret"], false,
        "the directory is asked, not secret: {entry}"
    );
    let all = hub.api("catalog").await;
    assert!(
        all["entries"].as_array().unwrap().len() >= 3,
        "an empty term lists the whole snapshot: {all}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_the_exact_command_and_saves_nothing() {
    let home = Home::new(OFFLINE);
    let hub = home.start().await;
    let (status, plan) = hub
        .api_post_json(
            "catalog/preview",
            &json!({ "name": FILESYSTEM, "answers": ["/tmp/shared"] }),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let line = plan["command_line"].as_str().expect("a command line");
    assert!(
        line.starts_with("npx -y @modelcontextprotocol/server-filesystem@")
            && line.ends_with("/tmp/shared"),
        "the pinned package and the answer, exactly: {line}"
    );
    assert_eq!(plan["name"], "server-filesystem", "named after the record");
    assert_eq!(plan["saved"], false);
    assert!(
        !std::fs::read_to_string(home.config_file())
            .unwrap()
            .contains("server-filesystem"),
        "a preview writes nothing"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_refuses_without_confirmation_and_adds_once_confirmed() {
    let home = Home::new(OFFLINE);
    let hub = home.start().await;
    let request = json!({ "name": TIME, "disabled": true });
    let (status, refused) = hub.api_post_json("catalog/add", &request).await;
    assert_eq!(status, 400, "no yes, no add: {refused}");
    assert!(
        !std::fs::read_to_string(home.config_file())
            .unwrap()
            .contains("mcp-server-time"),
        "nothing saved without `confirmed`"
    );
    let mut confirmed = request.clone();
    confirmed["confirmed"] = Value::Bool(true);
    let (status, added) = hub.api_post_json("catalog/add", &confirmed).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["saved"], true);
    assert_eq!(added["name"], "mcp-server-time");
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        config.contains("[servers.mcp-server-time]") && config.contains("registry = {"),
        "the entry and where it came from are in the config file:\n{config}"
    );
    eventually("the hub applies the new entry", async || {
        let servers = hub.api("servers").await;
        (servers.as_array().unwrap().iter())
            .any(|s| s["name"] == "mcp-server-time" && s["enabled"] == false)
            .then_some(())
    })
    .await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_answer_is_refused_and_nothing_is_saved() {
    let home = Home::new(OFFLINE);
    let hub = home.start().await;
    for path in ["catalog/preview", "catalog/add"] {
        let (status, refused) = hub
            .api_post_json(
                path,
                &json!({ "name": FILESYSTEM, "answers": ["/tmp; rm -rf ~"], "confirmed": true }),
            )
            .await;
        assert_eq!(
            status, 400,
            "{path}: a shell metacharacter is refused: {refused}"
        );
        assert!(
            refused["error"].as_str().unwrap().contains("metacharacter"),
            "{path}: the reason is said: {refused}"
        );
    }
    let (status, unknown) = hub
        .api_post_json("catalog/preview", &json!({ "name": "io.example/none" }))
        .await;
    assert_eq!(
        status, 502,
        "not in the snapshot, and the registry could not say: {unknown}"
    );
    assert!(
        !std::fs::read_to_string(home.config_file())
            .unwrap()
            .contains("server-filesystem"),
        "nothing saved"
    );
    hub.stop().await;
}

/// An install link describing a server whole: `command`, `args`, an env value to ask.
fn described_link(description: Value) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&description).unwrap());
    format!("patchbay://install?v=1&name=shared&server={encoded}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_link_takes_the_catalogue_path_and_a_hostile_one_is_refused() {
    let home = Home::new(OFFLINE);
    let hub = home.start().await;
    let link = described_link(
        json!({"command": "uvx", "args": ["mcp-server-time==2026.10.19"], "ask_env": ["TZ"]}),
    );
    let (status, entry) = hub
        .api_post_json("catalog/link", &json!({ "link": link }))
        .await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["kind"], "command", "{entry}");
    assert_eq!(entry["registry"], "link", "where it came from: {entry}");
    assert_eq!(
        entry["questions"][0]["name"], "TZ",
        "the value asked: {entry}"
    );

    let request = json!({ "link": link, "answers": ["UTC"], "disabled": true });
    let (status, plan) = hub.api_post_json("catalog/preview", &request).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan["command_line"],
        "TZ=UTC uvx mcp-server-time==2026.10.19"
    );
    assert_eq!(plan["name"], "shared");
    let mut confirmed = request.clone();
    confirmed["confirmed"] = Value::Bool(true);
    let (status, added) = hub.api_post_json("catalog/add", &confirmed).await;
    assert_eq!(status, 201, "{added}");
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        config.contains("[servers.shared]") && !config.contains("registry = {"),
        "a described server is not from a registry:\n{config}"
    );

    let (status, entry) = hub
        .api_post_json(
            "catalog/link",
            &json!({ "link": format!("patchbay://install?v=1&name={}", TIME.replace('/', "%2F")) }),
        )
        .await;
    assert_eq!(
        status, 200,
        "a registry name resolves (here from the snapshot): {entry}"
    );
    assert_eq!(entry["name"], TIME);

    let hostile = described_link(json!({"command": "sh", "args": ["-c", "id; touch x"]}));
    for (path, body) in [
        ("catalog/link", json!({ "link": hostile })),
        ("catalog/add", json!({ "link": hostile, "confirmed": true })),
        (
            "catalog/link",
            json!({ "link": "patchbay://install?v=7&name=a" }),
        ),
    ] {
        let (status, refused) = hub.api_post_json(path, &body).await;
        assert_eq!(status, 400, "{path}: {refused}");
        assert!(
            refused["error"].as_str().unwrap().starts_with("the link"),
            "{path}: the link's refusal is said: {refused}"
        );
    }
    assert!(
        !std::fs::read_to_string(home.config_file())
            .unwrap()
            .contains("[servers.shared-"),
        "nothing more saved"
    );
    hub.stop().await;
}
