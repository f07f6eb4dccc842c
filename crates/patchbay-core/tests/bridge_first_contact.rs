//! The bridge's first contact with a hub that is not answering yet: another process holds the
//! hub lock (a hub coming up) while the discovery file still names a port nobody listens on
//! (left by the last hub). The bridge keeps looking and resending `initialize` until the real
//! hub serves, and gives up with an error saying why once its bound has passed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use patchbay_core::bridge::{self, BridgeOptions};
use patchbay_core::discovery::{Discovery, HubLock};
use patchbay_core::paths::Paths;
use patchbay_core::serve::{self, ServeOptions};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"first-contact-test","version":"0"}}}"#;

/// A loopback port nobody listens on (bound once, then released).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An installation where a hub is "starting": its lock held by the returned guard, and a
/// discovery file and secret left by the hub before it.
fn starting_hub(root: &std::path::Path) -> (Paths, HubLock) {
    let paths = Paths::under(root);
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(&paths.config_file, "[hub]\nport = 0\n").unwrap();
    let lock = HubLock::acquire(&paths).unwrap();
    patchbay_core::secret::load_or_create(&paths.secret_file()).unwrap();
    let port = dead_port();
    lock.publish(&Discovery {
        pid: std::process::id(),
        port,
        url: format!("http://127.0.0.1:{port}/mcp"),
        secret_file: paths.secret_file(),
        version: "old".into(),
    })
    .unwrap();
    (paths, lock)
}

/// The bridge on in-memory pipes: (what the client writes, the lines the client reads).
fn bridge_on(
    paths: Paths,
    first_contact: Duration,
) -> (
    tokio::io::DuplexStream,
    tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
) {
    let (client_out, bridge_in) = tokio::io::duplex(64 * 1024);
    let (bridge_out, client_in) = tokio::io::duplex(64 * 1024);
    let options = BridgeOptions {
        // Never started here: the lock is held, or the test starts the hub itself.
        exe: PathBuf::from("/nonexistent/patchbay"),
        profile: None,
        first_contact,
    };
    tokio::spawn(bridge::run_on(paths, options, bridge_in, bridge_out));
    (client_out, BufReader::new(client_in).lines())
}

async fn answer(lines: &mut tokio::io::Lines<BufReader<tokio::io::DuplexStream>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the bridge answers within 30 s")
        .unwrap()
        .expect("the bridge is still running");
    serde_json::from_str(&line).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_waits_for_a_hub_that_comes_up_late() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, lock) = starting_hub(dir.path());
    let (mut client, mut lines) = bridge_on(paths.clone(), Duration::from_secs(20));
    let sent = Instant::now();
    client
        .write_all(format!("{INITIALIZE}\n").as_bytes())
        .await
        .unwrap();

    // The hub "starting" takes a while, then gives way to the real one.
    tokio::time::sleep(Duration::from_millis(800)).await;
    drop(lock);
    let shutdown = CancellationToken::new();
    let hub = tokio::spawn(serve::serve(
        paths.clone(),
        ServeOptions::default(),
        shutdown.clone(),
        |_: &Discovery| {},
    ));

    let first = answer(&mut lines).await;
    assert!(
        first["result"]["protocolVersion"].is_string(),
        "initialize is answered by the hub that came up, not with an error: {first}"
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(800),
        "it was answered only once the hub served"
    );
    client
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n")
        .await
        .unwrap();
    let listed = answer(&mut lines).await;
    assert_eq!(listed["id"], 2, "{listed}");
    assert!(listed["result"]["tools"].is_array(), "{listed}");

    drop(client);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), hub)
        .await
        .expect("the hub stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_never_answers_gets_a_clear_error_once_the_bound_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _lock) = starting_hub(dir.path());
    let bound = Duration::from_millis(1500);
    let (mut client, mut lines) = bridge_on(paths.clone(), bound);
    let sent = Instant::now();
    client
        .write_all(format!("{INITIALIZE}\n").as_bytes())
        .await
        .unwrap();
    let failed = answer(&mut lines).await;
    let waited = sent.elapsed();
    assert_eq!(failed["id"], 1, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not reachable")
            && message.contains("within 1.5s")
            && message.contains("patchbay status")
            && message.contains(&paths.hub_log().display().to_string()),
        "the error says what failed, for how long, and where to look: {message}"
    );
    assert!(
        waited >= bound,
        "the bridge kept trying for its whole bound: {waited:?}"
    );
    assert!(
        waited < bound + Duration::from_secs(3),
        "and not much longer: {waited:?}"
    );
}
