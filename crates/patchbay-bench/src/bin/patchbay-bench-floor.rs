//! `patchbay-bench-floor`: the least any HTTP-to-stdio hop can cost here, as a reference row.
//!
//! `patchbay-bench-floor PORT COMMAND [ARGS...]` starts one stdio MCP server and serves it on
//! `http://127.0.0.1:PORT/mcp` (the benchmark picks the port and waits for it, as for a peer). It is
//! built from the parts the hub stands on (tokio with one worker, hyper through axum,
//! `TCP_NODELAY`) and does nothing a hub must do: no session layer, no namespacing, no bearer
//! or Origin check, no id mapping, one message at a time. A POSTed message is written to the
//! server as one line; a request's answer is the first line the server writes with the
//! request's id, sent back as `application/json`, and everything else the server writes is
//! dropped. So it carries one client's plain calls, and nothing more: what it measures is the
//! hop itself (the HTTP exchange, the two extra wake-ups, the third process on the CPUs), which
//! no hub can go below on the same machine with the same client.

use std::process::Stdio;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::Mutex;

/// The server's stdio, used by one exchange at a time.
struct Server {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
}

/// What the floor reads of a message: its id and whether it has a method.
#[derive(serde::Deserialize)]
struct Envelope {
    id: Option<Value>,
    method: Option<serde::de::IgnoredAny>,
}

impl Envelope {
    /// The id of a request (a message with both a method and an id).
    fn request_id(body: &[u8]) -> Result<Option<Value>, serde_json::Error> {
        let envelope: Envelope = serde_json::from_slice(body)?;
        Ok(envelope.id.filter(|_| envelope.method.is_some()))
    }

    /// Whether `line` is the answer (no method) to the request with `id`.
    fn answers(line: &str, id: &Value) -> bool {
        serde_json::from_str::<Envelope>(line)
            .is_ok_and(|e| e.method.is_none() && e.id.as_ref() == Some(id))
    }
}

async fn exchange(State(server): State<Arc<Mutex<Server>>>, body: Bytes) -> Response {
    let id = match Envelope::request_id(&body) {
        Ok(id) => id,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("not JSON: {err}")).into_response(),
    };
    let mut server = server.lock().await;
    let server = &mut *server;
    let written = async {
        server.stdin.write_all(&body).await?;
        server.stdin.write_all(b"\n").await?;
        server.stdin.flush().await
    };
    if let Err(err) = written.await {
        gone(&err.to_string());
    }
    let Some(id) = id else {
        return StatusCode::ACCEPTED.into_response();
    };
    loop {
        server.line.clear();
        match server.stdout.read_line(&mut server.line).await {
            Ok(0) => gone("the server closed its stdout"),
            Ok(_) if Envelope::answers(&server.line, &id) => break,
            Ok(_) => {}
            Err(err) => gone(&err.to_string()),
        }
    }
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("mcp-session-id"), "floor"),
        ],
        server.line.trim_end().to_owned(),
    )
        .into_response()
}

/// The server went away: this process has nothing left to carry.
fn gone(why: &str) -> ! {
    eprintln!("patchbay-bench-floor: {why}; exiting");
    std::process::exit(1);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: patchbay-bench-floor PORT COMMAND [ARGS...]";
    let port: u16 = args
        .next()
        .and_then(|p| p.to_str()?.parse().ok())
        .ok_or(usage)?;
    let program = args.next().ok_or(usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut child = tokio::process::Command::new(&program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("failed to start {}: {err}", program.to_string_lossy()))?;
        let server = Server {
            stdin: child.stdin.take().ok_or("no stdin")?,
            stdout: BufReader::new(child.stdout.take().ok_or("no stdout")?),
            line: String::new(),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let app = axum::Router::new()
            .route(
                "/mcp",
                axum::routing::post(exchange)
                    .delete(|| async { StatusCode::NO_CONTENT })
                    // No stream for server-initiated messages: the floor drops them.
                    .get(|| async { StatusCode::METHOD_NOT_ALLOWED }),
            )
            .with_state(Arc::new(Mutex::new(server)));
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_wait_for_an_answer_and_only_their_own() {
        let id = |body: &str| Envelope::request_id(body.as_bytes()).unwrap();
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call"}"#),
            Some(Value::from(3))
        );
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(id(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#), None);
        assert!(Envelope::request_id(b"{nope").is_err());

        let three = Value::from(3);
        assert!(Envelope::answers(
            r#"{"result":{},"jsonrpc":"2.0","id":3}"#,
            &three
        ));
        assert!(!Envelope::answers(
            r#"{"jsonrpc":"2.0","id":4,"result":{}}"#,
            &three
        ));
        assert!(!Envelope::answers(
            r#"{"jsonrpc":"2.0","id":"3","result":{}}"#,
            &three
        ));
        assert!(
            !Envelope::answers(
                r#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage"}"#,
                &three
            ),
            "a server's own request with the same id is not the answer"
        );
        assert!(!Envelope::answers(
            r#"{"jsonrpc":"2.0","method":"notifications/message"}"#,
            &three
        ));
    }
}
