//! The client side: one rmcp client routine per figure, the same for every path, so only the
//! proxy between client and server differs from row to row.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rmcp::model::{CallToolRequestParams, ClientRequest, PingRequest};
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};

pub type Client = RunningService<RoleClient, ()>;

/// How a client reaches a server: a stdio command of its own, or an HTTP endpoint.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Stdio {
        program: OsString,
        args: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
    },
    Http {
        url: String,
        auth: Option<String>,
    },
}

impl Endpoint {
    /// A new client session (stdio: a new process) through this endpoint, initialized.
    pub async fn connect(&self) -> Result<Client> {
        match self {
            Self::Stdio { program, args, env } => {
                let mut command = tokio::process::Command::new(program);
                command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
                let (transport, _) = TokioChildProcess::builder(command)
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("failed to start `{}`", program.to_string_lossy()))?;
                Ok(().serve(transport).await?)
            }
            Self::Http { url, auth } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
                if let Some(secret) = auth {
                    config = config.auth_header(secret.clone());
                }
                let transport = StreamableHttpClientTransport::from_config(config);
                Ok(()
                    .serve(transport)
                    .await
                    .with_context(|| format!("failed to initialize a session at {url}"))?)
            }
        }
    }
}

fn echo(tool: &str) -> CallToolRequestParams {
    let mut args = serde_json::Map::new();
    args.insert("message".into(), "hello".into());
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args)
}

/// `calls` sequential `echo` calls, each timed.
pub async fn round_trips(client: &Client, tool: &str, calls: usize) -> Result<Vec<Duration>> {
    let params = echo(tool);
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
pub async fn pings(client: &Client, calls: usize) -> Result<Vec<Duration>> {
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

/// `samples` timed full `tools/list` listings (every page), and the number of tools listed.
pub async fn listings(client: &Client, samples: usize) -> Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(samples);
    let mut count = 0;
    for _ in 0..samples {
        let start = Instant::now();
        count = client.list_all_tools().await?.len();
        times.push(start.elapsed());
    }
    Ok((times, count))
}

/// What `clients` concurrent sessions got done in a timed window.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub clients: usize,
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` sessions through `endpoint`, each calling `tool` back to back until `duration` has
/// passed. Sessions are opened and warmed (one call each) before the clock starts; the window
/// ends when the last call in flight at the deadline has returned.
pub async fn throughput(
    endpoint: &Endpoint,
    tool: &str,
    clients: usize,
    duration: Duration,
) -> Result<Throughput> {
    let sessions = open_sessions(endpoint, tool, clients).await?;
    let params = echo(tool);
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for client in sessions {
        let params = params.clone();
        workers.spawn(async move {
            let (mut calls, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                match client.call_tool(params.clone()).await {
                    Ok(result) if result.is_error != Some(true) => calls += 1,
                    _ => errors += 1,
                }
            }
            (client, calls, errors)
        });
    }
    let mut total = Throughput {
        clients,
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    let mut done = Vec::with_capacity(clients);
    while let Some(joined) = workers.join_next().await {
        let (client, calls, errors) = joined?;
        total.calls += calls;
        total.errors += errors;
        done.push(client);
    }
    total.elapsed = start.elapsed();
    close(done).await;
    Ok(total)
}

/// Open `clients` sessions through `endpoint` at once, one call each, and hand them back
/// still open (for counting the processes behind them).
pub async fn open_sessions(endpoint: &Endpoint, tool: &str, clients: usize) -> Result<Vec<Client>> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        let client = endpoint.connect().await?;
        round_trips(&client, tool, 1).await?;
        sessions.push(client);
    }
    Ok(sessions)
}

/// Close sessions, ignoring a peer that already went away.
pub async fn close(sessions: Vec<Client>) {
    for client in sessions {
        let _ = client.cancel().await;
    }
}
