//! `patchbay-bench`: the figures the README quotes, measured the same way every run.
//!
//! One Rust client on rmcp drives every row, so only the path differs:
//! - `tools/call` round trips (server-everything's `echo`, N sequential calls): directly over
//!   stdio, through the hub over HTTP, and through `patchbay bridge` (stdio -> hub);
//! - the bridge's start-to-first-answer: spawn `patchbay bridge`, send `initialize`, time the
//!   first line back (hub already running), median of several starts;
//! - the hub's idle RSS with both servers running (its own process, children not counted).
//!
//! Usage: `patchbay-bench --patchbay PATH --everything PATH_TO_index.js --time PATH [--calls N]`

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rmcp::model::{CallToolRequestParams, ClientRequest, PingRequest};
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

struct Args {
    patchbay: PathBuf,
    everything: PathBuf,
    time: PathBuf,
    calls: usize,
}

fn parse_args() -> Result<Args> {
    let mut patchbay = None;
    let mut everything = None;
    let mut time = None;
    let mut calls = 500;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--patchbay" => patchbay = Some(PathBuf::from(value)),
            "--everything" => everything = Some(PathBuf::from(value)),
            "--time" => time = Some(PathBuf::from(value)),
            "--calls" => calls = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        patchbay: patchbay.context("--patchbay PATH is required")?,
        everything: everything.context("--everything PATH is required")?,
        time: time.context("--time PATH is required")?,
        calls,
    })
}

/// The one client routine every row uses: `calls` sequential `echo` calls, each timed.
async fn round_trips(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    calls: usize,
) -> Result<Vec<Duration>> {
    let mut args = serde_json::Map::new();
    args.insert("message".into(), "hello".into());
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let result = client.call_tool(params.clone()).await?;
        samples.push(start.elapsed());
        if result.is_error == Some(true) {
            bail!("{tool} returned an error: {result:?}");
        }
    }
    Ok(samples)
}

/// `calls` sequential `ping`s, which the hub answers itself: the cost of the HTTP hop and the
/// session layer alone, with no server behind them.
async fn pings(client: &RunningService<RoleClient, ()>, calls: usize) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        client
            .send_request(ClientRequest::PingRequest(PingRequest::default()))
            .await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

struct Row {
    name: &'static str,
    median: Duration,
    p99: Duration,
}

fn summarize(name: &'static str, mut samples: Vec<Duration>) -> Row {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Row {
        name,
        median: at(0.5),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Hub {
    child: Child,
    url: String,
    secret: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // SIGTERM, bounded wait, then kill.
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(args: &Args, home: &Path) -> Result<Hub> {
    let add = |name: &str, command: &[&str]| -> Result<()> {
        let status = Command::new(&args.patchbay)
            .env("PATCHBAY_HOME", home)
            .args(["add", name, "--yes", "--"])
            .args(command)
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("patchbay add {name} failed");
        }
        Ok(())
    };
    add(
        "everything",
        &["node", &args.everything.to_string_lossy(), "stdio"],
    )?;
    add("time", &[&args.time.to_string_lossy()])?;
    let child = Command::new(&args.patchbay)
        .env("PATCHBAY_HOME", home)
        .env("PATCHBAY_LOG", "warn")
        .args(["serve", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let discovery = home.join("state/hub.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hub = Hub {
        child,
        url: String::new(),
        secret: String::new(),
    };
    loop {
        if let Ok(text) = std::fs::read_to_string(&discovery) {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            hub.url = value["url"].as_str().unwrap_or_default().to_owned();
            let secret_file = value["secret_file"].as_str().unwrap_or_default();
            hub.secret = std::fs::read_to_string(secret_file)?.trim().to_owned();
            break;
        }
        if Instant::now() > deadline {
            bail!("the hub did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wait until both servers run (status over the control API would need a client; the CLI has one).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(&args.patchbay)
            .env("PATCHBAY_HOME", home)
            .args(["status", "--json"])
            .output()?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let running = status["servers"]
            .as_array()
            .is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["state"] == "running"));
        if running {
            return Ok(hub);
        }
        if Instant::now() > deadline {
            bail!("servers did not reach `running`: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?)
}

/// Spawn the bridge, send `initialize`, time the first answer line.
fn bridge_first_answer(args: &Args, home: &Path) -> Result<Duration> {
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;
    let start = Instant::now();
    let mut child = Command::new(&args.patchbay)
        .env("PATCHBAY_HOME", home)
        .arg("bridge")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    writeln!(stdin, "{init}")?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let elapsed = start.elapsed();
    drop(stdin);
    let _ = child.wait();
    if !line.contains("\"result\"") {
        bail!("bridge answered {line}");
    }
    Ok(elapsed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let home = std::env::temp_dir().join(format!("patchbay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;

    // All three clients stay connected and take turns in rounds, so a slow spell of this
    // machine lands on every row alike instead of on whichever ran during it.
    let mut command = tokio::process::Command::new("node");
    command.arg(&args.everything).arg("stdio");
    let direct = ().serve(TokioChildProcess::new(command)?).await?;
    let hub = start_hub(&args, &home)?;
    let config = StreamableHttpClientTransportConfig::with_uri(hub.url.clone())
        .auth_header(hub.secret.clone());
    let http = ().serve(StreamableHttpClientTransport::from_config(config)).await?;
    let mut command = tokio::process::Command::new(&args.patchbay);
    command.env("PATCHBAY_HOME", &home).arg("bridge");
    let bridge = ().serve(TokioChildProcess::new(command)?).await?;
    let paths: [(&'static str, &RunningService<RoleClient, ()>, &str); 3] = [
        ("direct stdio", &direct, "echo"),
        ("patchbay hub (HTTP)", &http, "everything__echo"),
        ("patchbay bridge (stdio->hub)", &bridge, "everything__echo"),
    ];
    for (_, client, tool) in &paths {
        round_trips(client, tool, 50).await?; // warm-up
    }
    const ROUNDS: usize = 10;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
    for _ in 0..ROUNDS {
        for (i, (_, client, tool)) in paths.iter().enumerate() {
            samples[i].extend(round_trips(client, tool, args.calls.div_ceil(ROUNDS)).await?);
        }
    }
    let hub_alone = summarize("hub ping", pings(&http, args.calls).await?);
    let rows: Vec<Row> = paths
        .iter()
        .zip(samples)
        .map(|((name, _, _), s)| summarize(name, s))
        .collect();
    direct.cancel().await?;
    http.cancel().await?;
    bridge.cancel().await?;
    let mut starts: Vec<Duration> = (0..15)
        .map(|_| bridge_first_answer(&args, &home))
        .collect::<Result<_>>()?;
    starts.sort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = rss_kib(hub.child.id())?;
    drop(hub);
    let _ = std::fs::remove_dir_all(&home);

    let direct = rows[0].median;
    println!(
        "patchbay benchmark: {} sequential `echo` calls to server-everything per path, in {ROUNDS} interleaved rounds",
        args.calls.div_ceil(ROUNDS) * ROUNDS
    );
    println!();
    println!("| path | median ms | p99 ms | median / direct |");
    println!("|---|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {:.3} | {:.3} | {:.1}x |",
            row.name,
            ms(row.median),
            ms(row.p99),
            row.median.as_secs_f64() / direct.as_secs_f64()
        );
    }
    println!();
    println!(
        "the hub answering `ping` itself (HTTP hop + session layer, no server behind): median {:.3} ms, p99 {:.3} ms",
        ms(hub_alone.median),
        ms(hub_alone.p99)
    );
    println!(
        "bridge start to first answer (hub running, median of {}): {:.1} ms",
        starts.len(),
        ms(starts[starts.len() / 2])
    );
    println!(
        "hub idle RSS with 2 servers (children not counted): {:.1} MiB",
        rss as f64 / 1024.0
    );
    Ok(())
}
