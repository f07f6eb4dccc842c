//! MCP Apps (`io.modelcontextprotocol/ui`, SEP-1865) through one hub.
//!
//! An app is a `ui://` resource that a tool names in its `_meta.ui.resourceUri` (or the older
//! flat `_meta["ui/resourceUri"]`); the host reads it with `resources/read` and shows it in a
//! sandbox. Servers pick their `ui://` URIs on their own, so two servers often pick the same
//! one (the ext-apps example servers all serve `ui://get-time/mcp-app.html`). Behind one hub
//! each server gets its own corner: `ui://REST` of server `S` is `ui://S/REST` everywhere a
//! client meets it (the resources and templates lists, a tool's `_meta`, a result's `_meta`,
//! content that embeds or links it, the contents `resources/read` answers), and a read of
//! `ui://S/REST` reaches `S` as `ui://REST`. URIs of other schemes are left alone.
//!
//! The rest of the extension passes as the server sent it: the resource's `mimeType`, its
//! content's `_meta.ui` (CSP, permissions, domain, border), a tool's `visibility`; a call an app
//! makes through its host routes like any other. The hub declares the extension to servers (one
//! upstream session serves every client, so it says yes for all of them) and to clients when a
//! server behind it offers an app.

use rmcp::model::{
    CallToolResult, ContentBlock, JsonObject, ReadResourceResult, Resource, ResourceContents,
    ResourceTemplate, Tool,
};
use serde_json::Value;

/// The extension's identifier in `capabilities.extensions`.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The content type of an app.
pub const MIME_TYPE: &str = "text/html;profile=mcp-app";
const SCHEME: &str = "ui://";
/// The flat key of the extension's drafts, still sent by servers built on them.
const LEGACY_KEY: &str = "ui/resourceUri";

/// What the hub says it supports, as a client of the servers behind it.
pub fn client_settings() -> JsonObject {
    let mut settings = JsonObject::new();
    settings.insert("mimeTypes".to_owned(), Value::from(vec![MIME_TYPE]));
    settings
}

/// `uri` as clients see it when `server` offers it: `ui://REST` becomes `ui://SERVER/REST`;
/// `None` for a URI of another scheme.
pub fn expose(server: &str, uri: &str) -> Option<String> {
    let rest = uri.strip_prefix(SCHEME)?;
    Some(format!("{SCHEME}{server}/{rest}"))
}

/// The server and its own URI behind an exposed `ui://SERVER/REST`; `None` for a URI of
/// another scheme or one without a server part.
pub fn resolve(uri: &str) -> Option<(&str, String)> {
    let (server, rest) = uri.strip_prefix(SCHEME)?.split_once('/')?;
    Some((server, format!("{SCHEME}{rest}")))
}

/// Whether `uri` is an app's (a `ui://` URI).
pub fn is_app_uri(uri: &str) -> bool {
    uri.starts_with(SCHEME)
}

fn expose_string(server: &str, uri: &mut String) {
    if let Some(exposed) = expose(server, uri) {
        *uri = exposed;
    }
}

fn expose_json_string(server: &str, value: Option<&mut Value>) {
    if let Some(Value::String(uri)) = value {
        expose_string(server, uri);
    }
}

/// The app URIs in a `_meta` object (of a tool or a result), exposed.
pub fn expose_meta(server: &str, meta: &mut JsonObject) {
    if let Some(Value::Object(ui)) = meta.get_mut("ui") {
        expose_json_string(server, ui.get_mut("resourceUri"));
    }
    expose_json_string(server, meta.get_mut(LEGACY_KEY));
}

/// Whether a `_meta` object names an app.
pub fn names_app(meta: &JsonObject) -> bool {
    let uri = meta
        .get("ui")
        .and_then(|ui| ui.get("resourceUri"))
        .or_else(|| meta.get(LEGACY_KEY));
    uri.and_then(Value::as_str).is_some_and(is_app_uri)
}

/// A tool of `server` as clients see it.
pub fn expose_tool(server: &str, tool: &mut Tool) {
    if let Some(meta) = &mut tool.meta {
        expose_meta(server, &mut meta.0);
    }
}

/// A resource of `server` as clients see it.
pub fn expose_resource(server: &str, resource: &mut Resource) {
    expose_string(server, &mut resource.uri);
}

/// A resource template of `server` as clients see it.
pub fn expose_template(server: &str, template: &mut ResourceTemplate) {
    expose_string(server, &mut template.uri_template);
}

fn expose_contents(server: &str, contents: &mut ResourceContents) {
    match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => expose_string(server, uri),
        // A kind of contents added after this was written: no URI rmcp's model shows.
        _ => {}
    }
}

/// A `tools/call` result of `server` as clients see it.
pub fn expose_call_result(server: &str, result: &mut CallToolResult) {
    if let Some(meta) = &mut result.meta {
        expose_meta(server, &mut meta.0);
    }
    for block in &mut result.content {
        match block {
            ContentBlock::Resource(embedded) => expose_contents(server, &mut embedded.resource),
            ContentBlock::ResourceLink(link) => expose_resource(server, link),
            _ => {}
        }
    }
}

/// A `resources/read` result of `server` as clients see it.
pub fn expose_read_result(server: &str, result: &mut ReadResourceResult) {
    for contents in &mut result.contents {
        expose_contents(server, contents);
    }
}

/// A result of `server` that the hub passes on as JSON (one rmcp's model could not read
/// whole): the same places as [`expose_call_result`] and [`expose_read_result`].
pub fn expose_value(server: &str, result: &mut Value) {
    if let Some(Value::Object(meta)) = result.get_mut("_meta") {
        expose_meta(server, meta);
    }
    if let Some(Value::Array(blocks)) = result.get_mut("content") {
        for block in blocks {
            match block.get("type").and_then(Value::as_str) {
                Some("resource") => {
                    let contents = block.get_mut("resource");
                    expose_json_string(server, contents.and_then(|c| c.get_mut("uri")));
                }
                Some("resource_link") => expose_json_string(server, block.get_mut("uri")),
                _ => {}
            }
        }
    }
    if let Some(Value::Array(contents)) = result.get_mut("contents") {
        for contents in contents {
            expose_json_string(server, contents.get_mut("uri"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn app_uris_get_the_server_as_first_segment_and_resolve_back() {
        for (server, uri, exposed) in [
            (
                "vanilla",
                "ui://get-time/mcp-app.html",
                "ui://vanilla/get-time/mcp-app.html",
            ),
            ("a", "ui://dashboard", "ui://a/dashboard"),
            ("a", "ui://", "ui://a/"),
            ("b-2", "ui://x/y/z?q=1#f", "ui://b-2/x/y/z?q=1#f"),
        ] {
            assert_eq!(expose(server, uri).as_deref(), Some(exposed));
            assert_eq!(resolve(exposed), Some((server, uri.to_owned())));
        }
        for other in [
            "file:///ui://x",
            "test://a/readme",
            "UI-ish://a/b",
            "https://a/b",
        ] {
            assert_eq!(expose("a", other), None, "{other} is left alone");
            assert_eq!(resolve(other), None, "{other} names no app");
        }
        assert_eq!(resolve("ui://no-server-part"), None);
    }

    #[test]
    fn tool_meta_in_both_spellings_is_exposed_and_the_rest_kept() {
        let mut tool: Tool = from_json(json!({
            "name": "t",
            "inputSchema": { "type": "object" },
            "_meta": {
                "ui": { "resourceUri": "ui://view", "visibility": ["app"] },
                "ui/resourceUri": "ui://view",
                "other": "ui://not-a-link",
            },
        }));
        assert!(names_app(&tool.meta.as_ref().unwrap().0));
        expose_tool("s", &mut tool);
        assert_eq!(
            serde_json::to_value(&tool.meta).unwrap(),
            json!({
                "ui": { "resourceUri": "ui://s/view", "visibility": ["app"] },
                "ui/resourceUri": "ui://s/view",
                "other": "ui://not-a-link",
            })
        );
        let plain: Tool = from_json(json!({ "name": "t", "inputSchema": {}, "_meta": { "x": 1 } }));
        assert!(!names_app(&plain.meta.unwrap().0));
    }

    #[test]
    fn results_typed_and_as_json_expose_the_same_places() {
        let result = json!({
            "content": [
                { "type": "text", "text": "ui://in-text-is-not-a-link" },
                { "type": "resource_link", "uri": "ui://view", "name": "v" },
                { "type": "resource", "resource": { "uri": "ui://view", "text": "<html>", "mimeType": MIME_TYPE } },
                { "type": "resource_link", "uri": "test://x", "name": "other" },
            ],
            "_meta": { "ui": { "resourceUri": "ui://view" } },
        });
        let want = json!({
            "content": [
                { "type": "text", "text": "ui://in-text-is-not-a-link" },
                { "type": "resource_link", "uri": "ui://s/view", "name": "v" },
                { "type": "resource", "resource": { "uri": "ui://s/view", "text": "<html>", "mimeType": MIME_TYPE } },
                { "type": "resource_link", "uri": "test://x", "name": "other" },
            ],
            "_meta": { "ui": { "resourceUri": "ui://s/view" } },
        });
        let mut typed: CallToolResult = from_json(result.clone());
        expose_call_result("s", &mut typed);
        assert_eq!(serde_json::to_value(&typed).unwrap(), want);
        let mut value = result;
        expose_value("s", &mut value);
        assert_eq!(value, want);

        let read = json!({ "contents": [{
            "uri": "ui://view", "mimeType": MIME_TYPE, "text": "<html>",
            "_meta": { "ui": { "csp": { "connectDomains": ["https://api.example"] }, "prefersBorder": true } },
        }] });
        let mut typed: ReadResourceResult = from_json(read.clone());
        expose_read_result("s", &mut typed);
        let mut value = read;
        expose_value("s", &mut value);
        for got in [serde_json::to_value(&typed).unwrap(), value] {
            assert_eq!(got["contents"][0]["uri"], "ui://s/view");
            assert_eq!(got["contents"][0]["mimeType"], MIME_TYPE);
            assert_eq!(
                got["contents"][0]["_meta"]["ui"]["csp"]["connectDomains"][0],
                "https://api.example"
            );
        }
    }
}
