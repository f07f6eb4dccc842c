//! MCP Apps behind the hub: two servers offering an app at the same `ui://` URI (as real app
//! servers do), each tool's app read from its own server, byte for byte, by a session client
//! and by a stateless 2026-07-28 one; the extension declared both ways.

use rmcp::ServiceError;
use rmcp::model::*;
use serde_json::{Value, json};

use crate::harness::{Home, Hub, bounded, text_of};
use crate::raw::Session;

const EXTENSION: &str = "io.modelcontextprotocol/ui";
const MIME_TYPE: &str = "text/html;profile=mcp-app";

/// Two copies of the test server with `--app`: both offer `ui://app/view.html`.
async fn two_apps() -> Hub {
    let home = Home::new("");
    let config = ["a", "b"]
        .map(|name| home.server_with(name, &["--app"], ""))
        .concat();
    home.write_config(&config);
    let hub = home.start().await;
    hub.wait_running(&["a", "b"]).await;
    hub
}

/// The HTML the test server's app holds (see `patchbay-test-server.rs`): its copy's name and
/// the URI the server was asked for.
fn html(server: &str, own_uri: &str) -> String {
    format!("<!doctype html><title>{server} {own_uri}</title>")
}

fn meta_of(tool: &Tool) -> Value {
    serde_json::to_value(&tool.meta).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tools_app_is_read_from_its_own_server_by_a_session_client() {
    let hub = two_apps().await;
    let client = hub.client().await;
    let tools = bounded("tools/list", client.list_all_tools())
        .await
        .expect("tools/list succeeds");
    for server in ["a", "b"] {
        let show = tools
            .iter()
            .find(|t| t.name == format!("{server}__show_app"))
            .expect("show_app is listed");
        let uri = meta_of(show)["ui"]["resourceUri"]
            .as_str()
            .expect("the tool names its app")
            .to_owned();
        assert_eq!(uri, format!("ui://{server}/app/view.html"));
        let read = bounded(
            "resources/read",
            client.read_resource(ReadResourceRequestParams::new(uri.clone())),
        )
        .await
        .unwrap_or_else(|err| panic!("reading {uri}: {err}"));
        let contents = serde_json::to_value(&read.contents).unwrap();
        assert_eq!(
            contents,
            json!([{
                "uri": uri,
                "mimeType": MIME_TYPE,
                "text": html(server, "ui://app/view.html"),
                "_meta": { "ui": {
                    "csp": { "connectDomains": [format!("https://{server}.example")] },
                    "prefersBorder": true,
                } },
            }]),
            "{server}'s own app, its CSP and content type kept"
        );
        let refresh = tools
            .iter()
            .find(|t| t.name == format!("{server}__app_refresh"))
            .expect("app-only tools are listed as the server lists them");
        assert_eq!(
            meta_of(refresh),
            json!({
                "ui": { "resourceUri": uri, "visibility": ["app"] },
                "ui/resourceUri": uri,
            }),
            "both spellings exposed, visibility kept"
        );
        let refreshed = client
            .call_text(&format!("{server}__app_refresh"), json!({}))
            .await;
        assert_eq!(
            refreshed,
            format!("refreshed {server}"),
            "an app's call routes"
        );
    }
    let resources = bounded("resources/list", client.list_all_resources())
        .await
        .expect("resources/list succeeds");
    let apps: Vec<(&str, Option<&str>)> = resources
        .iter()
        .filter(|r| r.uri.starts_with("ui://"))
        .map(|r| (r.uri.as_str(), r.mime_type.as_deref()))
        .collect();
    assert_eq!(
        apps,
        [
            ("ui://a/app/view.html", Some(MIME_TYPE)),
            ("ui://b/app/view.html", Some(MIME_TYPE)),
        ],
        "one app per server, none hidden by the other"
    );
    let unlisted = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("ui://b/app/unlisted.html")),
    )
    .await
    .expect("an app the server does not list is still read from it");
    let contents = serde_json::to_value(&unlisted.contents).unwrap();
    assert_eq!(contents[0]["text"], html("b", "ui://app/unlisted.html"));
    assert_eq!(contents[0]["uri"], "ui://b/app/unlisted.html");
    let bare = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("ui://app/view.html")),
    )
    .await;
    assert!(
        matches!(&bare, Err(ServiceError::McpError(e)) if e.message.contains("ui://SERVER/")),
        "a server's own app URI is not served as it is (it is two servers'), and the error says \
         how apps are named: {bare:?}"
    );
    client.close().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_result_names_its_app_under_the_server_and_servers_see_the_extension() {
    let hub = two_apps().await;
    let client = hub.client().await;
    let result = client
        .call("b__show_app", json!({}))
        .await
        .expect("show_app succeeds");
    assert_eq!(
        text_of(&result),
        format!("app of b; client shows [\"{MIME_TYPE}\"]"),
        "the server was told the hub passes MCP Apps on"
    );
    let result = serde_json::to_value(&result).unwrap();
    assert_eq!(result["_meta"]["ui"]["resourceUri"], "ui://b/app/view.html");
    assert_eq!(
        result["content"][1],
        json!({ "type": "resource_link", "uri": "ui://b/app/view.html", "name": "view" }),
        "a link in content to the app reads it from the same server"
    );
    let extensions = client
        .peer_info()
        .and_then(|info| info.capabilities.extensions.clone())
        .unwrap_or_default();
    assert!(
        extensions.contains_key(EXTENSION),
        "the hub declares MCP Apps when a server offers one: {extensions:?}"
    );
    client.close().await;
    hub.stop().await;

    let plain = crate::harness::hub_with(&["a"]).await;
    let client = plain.client().await;
    let extensions = client
        .peer_info()
        .and_then(|info| info.capabilities.extensions.clone())
        .unwrap_or_default();
    assert!(
        !extensions.contains_key(EXTENSION),
        "without an app behind it the hub declares none: {extensions:?}"
    );
    client.close().await;
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_reads_each_tools_app_from_its_own_server() {
    let hub = two_apps().await;
    let mut client = Session::stateless(&hub);
    let (id, listed) = client.request("tools/list", json!({})).await;
    let tools = listed.result(id);
    for server in ["a", "b"] {
        let name = format!("{server}__show_app");
        let tool = tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} is listed: {tools}"));
        let uri = tool["_meta"]["ui"]["resourceUri"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(uri, format!("ui://{server}/app/view.html"));
        let (id, read) = client
            .request("resources/read", json!({ "uri": uri }))
            .await;
        assert_eq!(read.status, 200, "{:?}", read.texts);
        let contents = &read.result(id)["contents"][0];
        assert_eq!(contents["text"], html(server, "ui://app/view.html"));
        assert_eq!(contents["uri"], uri.as_str());
        assert_eq!(contents["mimeType"], MIME_TYPE);
    }
    hub.stop().await;
}
