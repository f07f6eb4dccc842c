//! The loopback endpoint with raw HTTP requests: Host, Origin and bearer checks, the body cap,
//! malformed JSON, and a listener bound to 127.0.0.1 only.

use serde_json::{Value, json};

use crate::harness::{Home, Hub, bounded};
use crate::raw::{messages, post_mcp};

const FOUR_MIB: usize = 4 * 1024 * 1024;

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "raw", "version": "1" },
        },
    })
}

/// `initialize` through this response succeeded: the hub served the request.
async fn assert_initialized(response: reqwest::Response) {
    assert_eq!(response.status(), 200, "a proper request is served");
    let answers = messages(response).await;
    let answer = answers
        .iter()
        .find(|m| m["id"] == 1)
        .expect("the answer to initialize");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "patchbay",
        "{answer}"
    );
}

async fn bare_hub(config: &str) -> Hub {
    Home::new(config).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_refused_with_403_on_mcp_and_the_control_api() {
    let hub = bare_hub("").await;
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost:1",
        "https://127.0.0.1",
    ] {
        let mcp = post_mcp(&hub, initialize().to_string(), &[("origin", origin)]).await;
        assert_eq!(mcp.status(), 403, "Origin `{origin}` on /mcp");
        let api = hub
            .http
            .get(hub.at("/api/v1/status"))
            .bearer_auth(&hub.secret)
            .header("origin", origin)
            .send()
            .await
            .expect("the hub answers");
        assert_eq!(api.status(), 403, "Origin `{origin}` on the control API");
    }
    assert_initialized(post_mcp(&hub, initialize().to_string(), &[]).await).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_allowed_in_the_config_is_served() {
    let hub = bare_hub("[hub]\nallowed_origins = [\"http://localhost:5173\"]\n").await;
    let allowed = post_mcp(
        &hub,
        initialize().to_string(),
        &[("origin", "http://localhost:5173")],
    )
    .await;
    assert_initialized(allowed).await;
    let other = post_mcp(
        &hub,
        initialize().to_string(),
        &[("origin", "http://localhost:5174")],
    )
    .await;
    assert_eq!(other.status(), 403, "only the listed origin passes");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_bearer_is_refused_with_401() {
    let hub = bare_hub("").await;
    let secret = hub.secret.clone();
    let near: Vec<String> = vec![
        String::new(),
        "Bearer wrong".into(),
        "Bearer".into(),
        "Basic dXNlcjpwYXNz".into(),
        secret.clone(),
        format!("Bearer {}", &secret[..secret.len() - 1]),
        format!("Bearer {secret}x"),
        format!("bearer{secret}"),
    ];
    for authorization in &near {
        let response = post_mcp(
            &hub,
            initialize().to_string(),
            &[("authorization", authorization)],
        )
        .await;
        assert_eq!(response.status(), 401, "Authorization `{authorization}`");
        let scheme = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes().to_vec());
        assert!(
            scheme.is_some_and(|v| v.starts_with(b"Bearer")),
            "a 401 names the scheme it wants"
        );
        let body = response.text().await.unwrap();
        assert!(
            !body.contains(&secret),
            "the refusal never echoes the secret"
        );
        let mut api = hub.http.get(hub.at("/api/v1/status"));
        if !authorization.is_empty() {
            api = api.header("authorization", authorization);
        }
        let api = api.send().await.expect("the hub answers");
        assert_eq!(api.status(), 401, "the control API with `{authorization}`");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_is_refused_with_421() {
    let hub = bare_hub("").await;
    let port = hub.port;
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
        format!("192.0.2.1:{port}"),
        format!("127.0.0.2:{port}"),
    ] {
        let response = post_mcp(&hub, initialize().to_string(), &[("host", &host)]).await;
        assert_eq!(
            response.status(),
            421,
            "Host `{host}` (DNS rebinding) is refused"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_host_names_are_served() {
    let hub = bare_hub("").await;
    for host in [
        format!("localhost:{}", hub.port),
        format!("127.0.0.1:{}", hub.port),
    ] {
        assert_initialized(post_mcp(&hub, initialize().to_string(), &[("host", &host)]).await)
            .await;
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_4_mib_is_refused_with_413() {
    // On a raw socket, the head alone: the hub refuses from the declared length without reading
    // the body and closes, so a client still writing 4 MiB may lose the answer to a reset.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = bare_hub("").await;
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", hub.port));
    let mut socket = bounded("connecting", connect)
        .await
        .expect("the hub accepts a connection");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n",
        hub.port,
        hub.secret,
        FOUR_MIB + 1
    );
    bounded("sending the head", socket.write_all(head.as_bytes()))
        .await
        .expect("the head is sent");
    let mut answer = Vec::new();
    bounded("the hub answers the head", socket.read_to_end(&mut answer))
        .await
        .expect("the answer is read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 "),
        "a declared length over 4 MiB is refused with 413: {answer}"
    );
    assert_initialized(post_mcp(&hub, initialize().to_string(), &[]).await).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_4_mib_is_refused_while_it_is_read() {
    let hub = bare_hub("").await;
    let chunks = (0..5).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024 * 1024]));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = hub
        .http
        .post(hub.at("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&hub.secret)
        .body(body)
        .send()
        .await;
    // The hub may also close the connection while the body still streams in: refused too.
    if let Ok(response) = response {
        assert_eq!(
            response.status(),
            413,
            "a body without a length is capped as it is read"
        );
    }
    assert_initialized(post_mcp(&hub, initialize().to_string(), &[]).await).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_just_under_4_mib_is_served() {
    let hub = bare_hub("").await;
    let mut message = initialize();
    message["params"]["_meta"] = json!({ "pad": "" });
    let overhead = message.to_string().len();
    message["params"]["_meta"]["pad"] = json!("a".repeat(FOUR_MIB - overhead - 16));
    let body = message.to_string();
    assert!(body.len() < FOUR_MIB);
    assert_initialized(post_mcp(&hub, body, &[]).await).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_gets_a_jsonrpc_parse_error_and_the_hub_keeps_serving() {
    let hub = bare_hub("").await;
    for body in [
        "{not json",
        "[1, 2",
        r#"{"jsonrpc": "2.0", "id": 1, "method": "#,
    ] {
        let response = post_mcp(&hub, body, &[]).await;
        assert_eq!(response.status(), 400, "`{body}` is a bad request");
        let answer: Value = response
            .json()
            .await
            .expect("the refusal is a JSON-RPC error object");
        assert_eq!(
            answer.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["jsonrpc", "id", "error"],
            "a JSON-RPC error response and nothing else: {answer}"
        );
        assert_eq!(answer["id"], Value::Null, "a parse error has id null");
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
        assert_initialized(post_mcp(&hub, initialize().to_string(), &[]).await).await;
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_is_no_jsonrpc_message_gets_an_invalid_request_error() {
    let hub = bare_hub("").await;
    for body in [r#"{"foo": 1}"#, r#"{"jsonrpc": "2.0", "id": 1}"#, "42"] {
        let response = post_mcp(&hub, body, &[]).await;
        assert_eq!(response.status(), 400, "`{body}` is a bad request");
        let answer: Value = response.json().await.expect("a JSON-RPC error object");
        assert_eq!(answer["jsonrpc"], "2.0");
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
    }
    assert_initialized(post_mcp(&hub, initialize().to_string(), &[]).await).await;
    hub.stop().await;
}

/// Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on `port`.
#[cfg(target_os = "linux")]
fn listening_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some((address, port_hex)) = fields[1].rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(port_hex, 16) == Ok(port) && fields[3] == "0A" {
                found.push(address.to_owned());
            }
        }
    }
    found
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_is_bound_to_127_0_0_1_only() {
    let hub = bare_hub("").await;
    assert!(
        hub.url.starts_with("http://127.0.0.1:"),
        "the discovery names loopback: {}",
        hub.url
    );
    assert_eq!(
        listening_on(hub.port),
        ["0100007F"],
        "the hub's only listening socket is 127.0.0.1:{}",
        hub.port
    );
    hub.stop().await;
}
