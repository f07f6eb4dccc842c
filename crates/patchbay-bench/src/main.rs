//! `patchbay-bench`: the figures the README quotes, measured the same way every run.
//!
//! One Rust client on rmcp drives every row, so only the path between client and server
//! differs. A run prints one table per figure:
//! - `tools/call` round trips (server-everything's `echo`, N sequential calls per path, the
//!   paths taking turns in rounds): directly over stdio, through the hub over HTTP, through
//!   `patchbay bridge` (stdio -> hub), through the peer proxies (see `peers`), and through
//!   `patchbay-bench-floor` (the HTTP hop alone, nothing of a hub: a reference, not judged),
//!   each with the CPU time per call of the server and of what carries the call (see `cpu`);
//! - throughput: concurrent clients calling `echo` back to back for a window, per proxy;
//! - `tools/list` through the hub with 1, 10 and 50 copies of `patchbay-bench-server` (20
//!   tools each) and with server-everything;
//! - footprint: each proxy's idle RSS (its own process) and its processes with clients on;
//! - the targets, each with pass or miss (reported, never asserted).
//!
//! Every process it starts it stops by pid; every server listens on 127.0.0.1. Progress goes
//! to stderr, the tables to stdout.

mod cpu;
mod hub;
mod loopback;
mod measure;
mod peers;
mod process;
mod report;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::hub::{Hub, Server};
use crate::measure::{Client, Endpoint};
use crate::report::{
    Footprint, FootprintRow, IdleChildren, Kind, LatencyRow, ListingRow, Report, ThroughputRow,
};
use crate::stats::Summary;

/// Benchmark Patchbay's hub against direct stdio and peer proxies.
#[derive(Parser)]
struct Args {
    /// The `patchbay` binary under test.
    #[arg(long)]
    patchbay: PathBuf,
    /// Where scripts/deps.sh installed the peers (node_modules/, venv-mcp-proxy/).
    #[arg(long, env = "PATCHBAY_PEERS")]
    peers: PathBuf,
    /// The 20-tool stdio server for the `tools/list` rows [default: next to this binary].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Sequential `echo` calls per path [default: 500, 100 with --quick].
    #[arg(long)]
    calls: Option<usize>,
    /// Seconds of each throughput window [default: 10, 2 with --quick].
    #[arg(long)]
    duration: Option<f64>,
    /// Concurrent clients in each throughput window.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// A quick run: fewer calls, short throughput windows, fewer samples.
    #[arg(long)]
    quick: bool,
    /// Another `patchbay` binary (an earlier build, say) whose hub runs beside the one under
    /// test, in the same rounds, so a change is measured against what it changes. Its rows are
    /// shown and not judged.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

/// How much of everything a run does.
struct Plan {
    calls: usize,
    rounds: usize,
    warm_up: usize,
    duration: Duration,
    clients: usize,
    listings: usize,
    bridge_starts: usize,
    server_counts: [usize; 3],
    clients_at_once: usize,
}

impl Plan {
    fn from(args: &Args) -> Result<Self> {
        let duration = args.duration.unwrap_or(if args.quick { 2.0 } else { 10.0 });
        if !(duration > 0.0 && duration.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
        Ok(Self {
            calls: args.calls.unwrap_or(if args.quick { 100 } else { 500 }),
            rounds: 10,
            warm_up: if args.quick { 10 } else { 50 },
            duration: Duration::from_secs_f64(duration),
            clients: args.clients.max(1),
            listings: if args.quick { 50 } else { 200 },
            bridge_starts: if args.quick { 5 } else { 15 },
            server_counts: [1, 10, 50],
            clients_at_once: 3,
        })
    }
}

/// Paths to what the benchmark runs.
struct Binaries {
    patchbay: PathBuf,
    baseline: Option<PathBuf>,
    server: PathBuf,
    floor: PathBuf,
    everything: PathBuf,
    peers: PathBuf,
}

/// One path of the comparison: how to reach server-everything through it.
struct PathUnderTest {
    name: String,
    kind: Kind,
    endpoint: Endpoint,
    tool: &'static str,
    /// The proxy's own process, for its footprint (none for direct stdio and the bridge).
    pid: Option<u32>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let plan = Plan::from(&args)?;
    let absolute = |path: &Path| {
        dunce::canonicalize(path).with_context(|| {
            format!(
                "`{}` not found (scripts/bench builds and installs everything)",
                path.display()
            )
        })
    };
    let peers = absolute(&args.peers)?;
    let binaries = Binaries {
        server: absolute(&match &args.server {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("patchbay-bench-server"),
        })?,
        floor: absolute(&std::env::current_exe()?.with_file_name("patchbay-bench-floor"))?,
        everything: absolute(
            &peers.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        )?,
        patchbay: absolute(&args.patchbay)?,
        baseline: args.baseline.as_deref().map(absolute).transpose()?,
        peers,
    };
    let scratch = std::env::temp_dir().join(format!("patchbay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let result = run(&plan, &binaries, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    report::print(&result?);
    Ok(())
}

/// Start `patchbay-bench-floor` with server-everything behind it; stopped when dropped.
fn start_floor(
    floor: &Path,
    everything: &Path,
    scratch: &Path,
) -> Result<(process::Owned, Endpoint)> {
    let port = loopback::free_port()?;
    let mut command = std::process::Command::new(floor);
    command
        .arg(port.to_string())
        .arg("node")
        .arg(everything)
        .arg("stdio");
    let mut process =
        process::Owned::spawn("patchbay-bench-floor", command, &scratch.join("floor.log"))?;
    loopback::wait_listening(&mut process, port, Duration::from_secs(30))?;
    let endpoint = Endpoint::Http {
        url: format!("http://127.0.0.1:{port}/mcp"),
        auth: None,
    };
    Ok((process, endpoint))
}

/// Every measurement, in an order that keeps them apart: latency first (all paths connected
/// and taking turns), then footprint while idle, then throughput, then the `tools/list` hubs.
async fn run(plan: &Plan, bin: &Binaries, scratch: &Path) -> Result<Report> {
    let load_before = load_average();
    let everything = Server {
        name: "everything".into(),
        command: "node".into(),
        args: vec![
            bin.everything.to_string_lossy().into_owned(),
            "stdio".into(),
        ],
        idle_timeout: None,
    };
    eprintln!("bench: starting the hub with server-everything");
    let hub = Hub::start(
        &bin.patchbay,
        &scratch.join("hub"),
        std::slice::from_ref(&everything),
    )?;
    let baseline = match &bin.baseline {
        Some(patchbay) => {
            eprintln!("bench: starting the baseline hub ({})", patchbay.display());
            Some(Hub::start(
                patchbay,
                &scratch.join("baseline"),
                &[everything],
            )?)
        }
        None => None,
    };
    let candidates = peers::Installed {
        peers: &bin.peers,
        everything: &bin.everything,
        scratch,
    }
    .start_all();

    let mut paths = vec![
        PathUnderTest {
            name: "direct stdio".into(),
            kind: Kind::Direct,
            endpoint: Endpoint::Stdio {
                program: "node".into(),
                args: vec![bin.everything.clone().into(), "stdio".into()],
                env: Vec::new(),
            },
            tool: "echo",
            pid: None,
        },
        PathUnderTest {
            name: "patchbay hub (HTTP)".into(),
            kind: Kind::Hub,
            endpoint: hub.http(),
            tool: "everything__echo",
            pid: Some(hub.pid()),
        },
        PathUnderTest {
            name: "patchbay bridge (stdio->hub)".into(),
            kind: Kind::Patchbay,
            endpoint: hub.bridge(&bin.patchbay),
            tool: "everything__echo",
            pid: None,
        },
    ];
    if let Some(baseline) = &baseline {
        paths.push(PathUnderTest {
            name: "baseline hub (HTTP, --baseline)".into(),
            kind: Kind::Baseline,
            endpoint: baseline.http(),
            tool: "everything__echo",
            pid: Some(baseline.pid()),
        });
    }
    eprintln!("bench: starting the floor (patchbay-bench-floor)");
    let floor = start_floor(&bin.floor, &bin.everything, scratch)?;
    paths.push(PathUnderTest {
        name: "floor: the hop alone (reference)".into(),
        kind: Kind::Floor,
        endpoint: floor.1.clone(),
        tool: "echo",
        // It carries one client at a time: it has no footprint or throughput row.
        pid: None,
    });
    let mut not_run = Vec::new();
    let mut running_peers = Vec::new();
    for candidate in candidates {
        match candidate.started {
            Ok(peer) => {
                paths.push(PathUnderTest {
                    name: candidate.name.into(),
                    kind: Kind::Peer,
                    endpoint: peer.endpoint.clone(),
                    tool: "echo",
                    pid: Some(peer.process.pid()),
                });
                running_peers.push(peer);
            }
            Err(reason) => {
                eprintln!("bench: {} not run: {reason}", candidate.name);
                not_run.push((candidate.name.to_owned(), reason));
            }
        }
    }

    // Round trips: every path connected at once, taking turns in rounds, so a slow spell of
    // this machine lands on every row alike instead of on whichever ran during it.
    eprintln!("bench: round trips");
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut failed: Vec<Option<String>> = Vec::new();
    for path in &paths {
        let connected = async {
            let client = path.endpoint.connect().await?;
            measure::round_trips(&client, path.tool, plan.warm_up).await?;
            anyhow::Ok(client)
        }
        .await;
        match connected {
            Ok(client) => {
                clients.push(Some(client));
                failed.push(None);
            }
            Err(e) if path.kind == Kind::Peer => {
                eprintln!("bench: {} failed: {e:#}", path.name);
                clients.push(None);
                failed.push(Some(format!("{e:#}")));
            }
            Err(e) => return Err(e.context(format!("path `{}`", path.name))),
        }
    }
    let per_round = plan.calls.div_ceil(plan.rounds);
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
    let mut cpu = vec![cpu::Split::default(); paths.len()];
    // Each round starts one path further on, so no path always follows the same other path
    // (a path's first calls after another's turn pay for waking its processes up).
    for round in 0..plan.rounds {
        for i in (0..paths.len()).map(|k| (round + k) % paths.len()) {
            if let Some(client) = &clients[i] {
                let before = cpu::Split::now(&bin.everything);
                samples[i].extend(measure::round_trips(client, paths[i].tool, per_round).await?);
                cpu[i].add(cpu::Split::now(&bin.everything).since(before));
            }
        }
    }
    let mut latency: Vec<LatencyRow> = paths
        .iter()
        .zip(samples)
        .zip(cpu)
        .zip(failed)
        .map(|(((path, samples), cpu), failed)| LatencyRow {
            name: path.name.clone(),
            kind: path.kind,
            cpu: cpu::PerCall::of(cpu, samples.len()),
            result: match failed {
                Some(reason) => Err(reason),
                None => Summary::of(samples)
                    .context("no samples")
                    .map_err(|e| e.to_string()),
            },
        })
        .collect();
    latency.extend(not_run.iter().map(|(name, reason)| LatencyRow {
        name: name.clone(),
        kind: Kind::Peer,
        cpu: None,
        result: Err(reason.clone()),
    }));

    let hub_client = clients[1].as_ref().context("the hub's client")?;
    let hub_ping =
        Summary::of(measure::pings(hub_client, plan.calls).await?).context("no ping samples")?;
    let (list_samples, everything_tools) = measure::listings(hub_client, plan.listings).await?;
    let everything_listing = ListingRow {
        servers: "1 (server-everything)".into(),
        bench_servers: None,
        tools: everything_tools,
        summary: Summary::of(list_samples).context("no listing samples")?,
        hub_rss_kib: Some(process::rss_kib(hub.pid())?),
    };
    measure::close(clients.into_iter().flatten().collect()).await;

    let mut starts: Vec<Duration> = (0..plan.bridge_starts)
        .map(|_| hub.bridge_first_answer(&bin.patchbay))
        .collect::<Result<_>>()?;
    starts.sort();
    let bridge_start = starts[starts.len() / 2];

    // Footprint: idle first, then with clients connected at once.
    eprintln!("bench: footprint");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut footprint = Vec::new();
    for path in paths.iter().filter(|p| p.pid.is_some()) {
        let pid = path.pid.unwrap_or_default();
        let result = async {
            let rss_kib = process::rss_kib(pid)?;
            let idle_processes = process::tree(pid).len();
            let sessions =
                measure::open_sessions(&path.endpoint, path.tool, plan.clients_at_once).await?;
            let processes_with_clients = process::tree(pid).len();
            measure::close(sessions).await;
            anyhow::Ok(Footprint {
                rss_kib,
                idle_processes,
                processes_with_clients,
            })
        }
        .await;
        footprint.push(FootprintRow {
            name: path.name.clone(),
            kind: path.kind,
            result: result.map_err(|e| format!("{e:#}")),
        });
    }
    footprint.extend(not_run.iter().map(|(name, reason)| FootprintRow {
        name: name.clone(),
        kind: Kind::Peer,
        result: Err(reason.clone()),
    }));

    // Throughput: one path at a time, the others idle.
    let mut throughput = Vec::new();
    for path in paths
        .iter()
        .filter(|p| !matches!(p.kind, Kind::Direct | Kind::Floor))
    {
        eprintln!(
            "bench: throughput, {} clients for {:.0} s: {}",
            plan.clients,
            plan.duration.as_secs_f64(),
            path.name
        );
        let result =
            measure::throughput(&path.endpoint, path.tool, plan.clients, plan.duration).await;
        throughput.push(ThroughputRow {
            name: path.name.clone(),
            result: result.map_err(|e| format!("{e:#}")),
        });
    }
    throughput.extend(not_run.iter().map(|(name, reason)| ThroughputRow {
        name: name.clone(),
        result: Err(reason.clone()),
    }));
    drop(running_peers);
    drop(hub);
    drop(baseline);
    drop(floor);

    let mut listing = Vec::new();
    for &count in &plan.server_counts {
        eprintln!("bench: tools/list with {count} servers");
        listing.push(listing_with(plan, bin, scratch, count).await?);
    }
    listing.push(everything_listing);
    for tools in [20, plan.server_counts[2] * 20] {
        eprintln!("bench: tools/list direct, {tools} tools");
        listing.push(listing_direct(plan, bin, tools).await?);
    }
    eprintln!("bench: lazy servers going idle");
    let idle = idle_children(bin, scratch)
        .await
        .map_err(|e| format!("{e:#}"));

    Ok(Report {
        load: (load_before, load_average()),
        calls: per_round * plan.rounds,
        rounds: plan.rounds,
        latency,
        hub_ping,
        bridge_start,
        bridge_starts: starts.len(),
        throughput,
        listing,
        footprint,
        clients_at_once: plan.clients_at_once,
        idle,
    })
}

/// Lazy servers in the idle-children check, and their idle time-out.
const IDLE_SERVERS: usize = 10;
const IDLE_TIMEOUT_SECS: u64 = 2;

/// A hub with lazy servers: one call to each starts them all; then, once the time-out has
/// passed without calls, how many processes the hub still has under it.
async fn idle_children(bin: &Binaries, scratch: &Path) -> Result<IdleChildren> {
    let servers: Vec<Server> = (0..IDLE_SERVERS)
        .map(|i| Server {
            name: format!("lazy{i:02}"),
            command: bin.server.clone(),
            args: Vec::new(),
            idle_timeout: Some(format!("{IDLE_TIMEOUT_SECS}s")),
        })
        .collect();
    let hub = Hub::start(&bin.patchbay, &scratch.join("hub-idle"), &servers)?;
    let client = hub.http().connect().await?;
    for server in &servers {
        measure::round_trips(&client, &format!("{}__tool_00", server.name), 1).await?;
    }
    let children_in_use = process::tree(hub.pid()).len() - 1;
    let started = std::time::Instant::now();
    let limit = Duration::from_secs(IDLE_TIMEOUT_SECS * 10);
    hub.wait_states(&bin.patchbay, IDLE_SERVERS, &["idle"], limit)?;
    let to_idle = started.elapsed();
    let children_after = process::tree(hub.pid()).len() - 1;
    measure::close(vec![client]).await;
    Ok(IdleChildren {
        servers: IDLE_SERVERS,
        timeout: Duration::from_secs(IDLE_TIMEOUT_SECS),
        children_in_use,
        to_idle,
        children_after,
    })
}

/// The 1-minute load average, as `/proc/loadavg` prints it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A hub with `count` copies of `patchbay-bench-server`: full `tools/list` listings timed.
async fn listing_with(
    plan: &Plan,
    bin: &Binaries,
    scratch: &Path,
    count: usize,
) -> Result<ListingRow> {
    let servers: Vec<Server> = (0..count)
        .map(|i| Server {
            name: format!("bench{i:02}"),
            command: bin.server.clone(),
            args: Vec::new(),
            idle_timeout: None,
        })
        .collect();
    let hub = Hub::start(
        &bin.patchbay,
        &scratch.join(format!("hub-{count}")),
        &servers,
    )?;
    let client = hub.http().connect().await?;
    // `running` in the status can come a moment before a server's tools are in the catalogue.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, listed) = measure::listings(&client, 1).await?;
        if listed == count * 20 {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("the hub listed {listed} tools from {count} servers of 20 each");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    measure::listings(&client, plan.warm_up.min(20)).await?;
    let (samples, tools) = measure::listings(&client, plan.listings).await?;
    if tools != count * 20 {
        bail!("the hub listed {tools} tools from {count} servers of 20 each");
    }
    let hub_rss_kib = process::rss_kib(hub.pid())?;
    measure::close(vec![client]).await;
    Ok(ListingRow {
        servers: format!("{count} x patchbay-bench-server"),
        bench_servers: Some(count),
        tools,
        summary: Summary::of(samples).context("no listing samples")?,
        hub_rss_kib: Some(hub_rss_kib),
    })
}

/// The reference without a hub: one `patchbay-bench-server --tools N` over stdio, so the cost of
/// a listing that size in the client and the server shows apart from the hub's.
async fn listing_direct(plan: &Plan, bin: &Binaries, tools: usize) -> Result<ListingRow> {
    let endpoint = Endpoint::Stdio {
        program: bin.server.clone().into(),
        args: vec!["--tools".into(), tools.to_string().into()],
        env: Vec::new(),
    };
    let client = endpoint.connect().await?;
    measure::listings(&client, plan.warm_up.min(20)).await?;
    let (samples, listed) = measure::listings(&client, plan.listings).await?;
    measure::close(vec![client]).await;
    if listed != tools {
        bail!("the server listed {listed} tools, not {tools}");
    }
    Ok(ListingRow {
        servers: format!("direct stdio, 1 server with {tools} tools (no hub)"),
        bench_servers: None,
        tools,
        summary: Summary::of(samples).context("no listing samples")?,
        hub_rss_kib: None,
    })
}
