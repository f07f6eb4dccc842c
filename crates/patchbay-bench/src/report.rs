//! What a run prints: one markdown table per figure, then the targets, each with its figure,
//! its limit and pass or miss. A target is reported, never asserted: the benchmark is not a test.

use std::time::Duration;

use crate::cpu::PerCall;
use crate::measure::Throughput;
use crate::stats::{Summary, ms};

/// Where a row's path stands in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client talks to the server itself: the baseline.
    Direct,
    /// Through Patchbay's hub over HTTP: the row the targets judge.
    Hub,
    /// Through another Patchbay path (the bridge).
    Patchbay,
    /// Through a peer proxy.
    Peer,
    /// Through another build's hub (`--baseline`): shown for comparison, not judged.
    Baseline,
    /// Through `patchbay-bench-floor`, the hop with nothing of a hub: the least any hub could
    /// cost here, shown for reference, not judged.
    Floor,
}

/// One path's round trips, or why it did not run.
pub struct LatencyRow {
    pub name: String,
    pub kind: Kind,
    pub result: Result<Summary, String>,
    /// CPU per call over the path's turns: the server's, and its carriers' (none for a path
    /// that made no call).
    pub cpu: Option<PerCall>,
}

/// One path's throughput window, or why it did not run.
pub struct ThroughputRow {
    pub name: String,
    pub result: Result<Throughput, String>,
}

/// `tools/list` through the hub with some servers configured.
pub struct ListingRow {
    /// What the hub runs, as printed.
    pub servers: String,
    /// How many copies of `patchbay-bench-server`, for the rows the target compares.
    pub bench_servers: Option<usize>,
    pub tools: usize,
    pub summary: Summary,
    /// The hub's RSS with these servers (none for the direct references).
    pub hub_rss_kib: Option<u64>,
}

/// A proxy's own memory and the processes behind it.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    pub rss_kib: u64,
    pub idle_processes: usize,
    pub processes_with_clients: usize,
}

pub struct FootprintRow {
    pub name: String,
    pub kind: Kind,
    pub result: Result<Footprint, String>,
}

/// Lazy servers after their idle time-out: the processes left under the hub.
#[derive(Debug, Clone, Copy)]
pub struct IdleChildren {
    pub servers: usize,
    pub timeout: Duration,
    /// Processes under the hub right after a call to each server.
    pub children_in_use: usize,
    /// From the last call until every server showed `idle`.
    pub to_idle: Duration,
    /// Processes under the hub once every server showed `idle`.
    pub children_after: usize,
}

/// Everything one run measured.
pub struct Report {
    /// `/proc/loadavg`'s 1-minute figure when the run began and ended: a busy machine shows.
    pub load: (String, String),
    pub calls: usize,
    pub rounds: usize,
    pub latency: Vec<LatencyRow>,
    pub hub_ping: Summary,
    pub bridge_start: Duration,
    pub bridge_starts: usize,
    pub throughput: Vec<ThroughputRow>,
    pub listing: Vec<ListingRow>,
    pub footprint: Vec<FootprintRow>,
    pub clients_at_once: usize,
    pub idle: Result<IdleChildren, String>,
}

/// The hub's idle RSS target: 30 MB (decimal).
const RSS_LIMIT_BYTES: u64 = 30_000_000;

pub fn print(report: &Report) {
    println!(
        "machine: {} cores; 1-minute load average {} at the start, {} at the end",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        report.load.0,
        report.load.1
    );
    println!();
    print_latency(report);
    print_throughput(report);
    print_listing(report);
    print_footprint(report);
    print_idle(report);
    print_targets(&targets(report));
}

fn print_idle(report: &Report) {
    println!("### Lazy servers after their idle time-out");
    println!();
    match &report.idle {
        Ok(idle) => println!(
            "{} lazy `patchbay-bench-server`s, `idle_timeout` {} s: {} processes under the hub after a call to each; all `idle` {:.1} s after the last call; then {} processes under the hub",
            idle.servers,
            idle.timeout.as_secs(),
            idle.children_in_use,
            idle.to_idle.as_secs_f64(),
            idle.children_after
        ),
        Err(why) => println!("not measured: {why}"),
    }
    println!();
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_latency(report: &Report) {
    println!(
        "### `tools/call` round trips: {} sequential `echo` calls to server-everything per path, in {} interleaved rounds",
        report.calls, report.rounds
    );
    println!();
    println!(
        "| path | median ms | p99 ms | median / direct | added over direct ms | server CPU ms/call | carrier CPU ms/call |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let direct = direct_median(report);
    for row in &report.latency {
        let cpu = match row.cpu {
            Some(c) => format!("{:.3} | {:.3}", c.server_ms, c.carrier_ms),
            None => "- | -".to_owned(),
        };
        match (&row.result, direct) {
            (Ok(s), Some(direct)) => println!(
                "| {} | {:.3} | {:.3} | {:.1}x | {:.3} | {cpu} |",
                row.name,
                ms(s.median),
                ms(s.p99),
                s.median.as_secs_f64() / direct.as_secs_f64(),
                ms(s.median) - ms(direct)
            ),
            (Ok(s), None) => println!(
                "| {} | {:.3} | {:.3} | - | - | {cpu} |",
                row.name,
                ms(s.median),
                ms(s.p99)
            ),
            (Err(reason), _) => println!("| {} | not run: {reason} | | | | | |", row.name),
        }
    }
    println!();
    println!(
        "CPU per call: of server-everything's process (server), and of every other process the benchmark started (carrier: the proxy and the bridge; for direct stdio, the idle processes of the other paths), over each path's turns"
    );
    println!();
    println!(
        "the hub answering `ping` itself (HTTP hop + session layer, no server behind): median {:.3} ms, p99 {:.3} ms",
        ms(report.hub_ping.median),
        ms(report.hub_ping.p99)
    );
    if let Some(line) = floor_line(report) {
        println!();
        println!("{line}");
        println!();
    }
    println!(
        "bridge start to first answer (hub running, median of {}): {:.1} ms",
        report.bridge_starts,
        ms(report.bridge_start)
    );
    println!();
}

/// The hub against the floor, when the floor ran: how much of the hub's cost is the hop's.
fn floor_line(report: &Report) -> Option<String> {
    let floor = median_of(report, Kind::Floor)?;
    let hub = median_of(report, Kind::Hub)?;
    let direct = direct_median(report)?;
    Some(format!(
        "the floor (`patchbay-bench-floor`: the same HTTP hop and client, nothing of a hub behind it): median {:.3} ms, {:.2}x direct; the hub's median is {:.2}x the floor's, {:.3} ms above it",
        ms(floor),
        floor.as_secs_f64() / direct.as_secs_f64(),
        hub.as_secs_f64() / floor.as_secs_f64(),
        ms(hub) - ms(floor)
    ))
}

fn print_throughput(report: &Report) {
    let window = report
        .throughput
        .iter()
        .find_map(|r| r.result.as_ref().ok())
        .map(|t| (t.clients, t.elapsed));
    match window {
        Some((clients, elapsed)) => println!(
            "### Throughput: {clients} concurrent clients calling `echo` back to back for {:.0} s",
            elapsed.as_secs_f64()
        ),
        None => println!("### Throughput"),
    }
    println!();
    println!("| path | calls/s | calls | errors |");
    println!("|---|---:|---:|---:|");
    for row in &report.throughput {
        match &row.result {
            Ok(t) => println!(
                "| {} | {:.0} | {} | {} |",
                row.name,
                t.per_second(),
                t.calls,
                t.errors
            ),
            Err(reason) => println!("| {} | not run: {reason} | | |", row.name),
        }
    }
    println!();
}

fn print_listing(report: &Report) {
    println!(
        "### `tools/list` (every page; the hub pages by 500), by servers configured; direct stdio rows for reference"
    );
    println!();
    println!("| servers | tools | p50 ms | p99 ms | hub RSS MiB |");
    println!("|---|---:|---:|---:|---:|");
    for row in &report.listing {
        let rss = row
            .hub_rss_kib
            .map_or_else(|| "-".to_owned(), |kib| format!("{:.1}", mib(kib)));
        println!(
            "| {} | {} | {:.3} | {:.3} | {rss} |",
            row.servers,
            row.tools,
            ms(row.summary.median),
            ms(row.summary.p99),
        );
    }
    println!();
}

fn print_footprint(report: &Report) {
    println!(
        "### Footprint, server-everything behind each proxy: idle RSS of the proxy's own process (children not counted); processes = proxy + children"
    );
    println!();
    println!(
        "| proxy | idle RSS MiB | processes idle | processes with {} clients |",
        report.clients_at_once
    );
    println!("|---|---:|---:|---:|");
    for row in &report.footprint {
        match &row.result {
            Ok(f) => println!(
                "| {} | {:.1} | {} | {} |",
                row.name,
                mib(f.rss_kib),
                f.idle_processes,
                f.processes_with_clients
            ),
            Err(reason) => println!("| {} | not run: {reason} | | |", row.name),
        }
    }
    println!();
}

/// A target's verdict: met, missed, or not judged (a figure it needs is missing).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    Miss,
    NotEvaluated(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub figure: String,
    pub limit: &'static str,
    pub verdict: Verdict,
}

fn direct_median(report: &Report) -> Option<Duration> {
    median_of(report, Kind::Direct)
}

fn median_of(report: &Report, kind: Kind) -> Option<Duration> {
    report
        .latency
        .iter()
        .filter(|r| r.kind == kind)
        .find_map(|r| r.result.as_ref().ok())
        .map(|s| s.median)
}

fn verdict(pass: bool) -> Verdict {
    if pass { Verdict::Pass } else { Verdict::Miss }
}

/// Judge the run against the targets of issue 5, then issue 2's (the hop vs direct stdio, the
/// bridge's start).
pub fn targets(report: &Report) -> Vec<Target> {
    let direct = direct_median(report);
    let best_peer = report
        .latency
        .iter()
        .filter(|r| r.kind == Kind::Peer)
        .filter_map(|r| Some((r.name.as_str(), r.result.as_ref().ok()?.median)))
        .min_by_key(|(_, median)| *median);
    let mut out = Vec::new();

    // The hub over HTTP is the row the targets are about; the bridge is judged alongside.
    let ours = report
        .latency
        .iter()
        .filter(|r| matches!(r.kind, Kind::Hub | Kind::Patchbay));
    for row in ours {
        let name = &row.name;
        let median = row.result.as_ref().ok().map(|s| s.median);
        out.push(match (median, best_peer) {
            (Some(median), Some((peer, best))) => {
                let ratio = median.as_secs_f64() / best.as_secs_f64();
                Target {
                    name: format!("{name}: median vs best peer's"),
                    figure: format!(
                        "{:.3} ms vs {:.3} ms ({peer}): {ratio:.3}x",
                        ms(median),
                        ms(best)
                    ),
                    limit: "<= 0.333x (one third)",
                    verdict: verdict(ratio <= 1.0 / 3.0),
                }
            }
            _ => not_evaluated(
                format!("{name}: median vs best peer's"),
                "<= 0.333x (one third)",
            ),
        });
        out.push(match (median, best_peer, direct) {
            (Some(median), Some((peer, best)), Some(direct)) => {
                let added = median.as_secs_f64() - direct.as_secs_f64();
                let theirs = best.as_secs_f64() - direct.as_secs_f64();
                Target {
                    name: format!("{name}: added latency over direct vs best peer's"),
                    figure: format!(
                        "{:.3} ms vs {:.3} ms ({peer}): {:.3}x",
                        added * 1000.0,
                        theirs * 1000.0,
                        added / theirs
                    ),
                    limit: "<= 0.250x (one quarter)",
                    verdict: verdict(added <= theirs / 4.0),
                }
            }
            _ => not_evaluated(
                format!("{name}: added latency over direct vs best peer's"),
                "<= 0.250x (one quarter)",
            ),
        });
    }

    let listing = |servers: usize| {
        report
            .listing
            .iter()
            .find(|r| r.bench_servers == Some(servers))
            .map(|r| r.summary.median)
    };
    out.push(match (listing(1), listing(50)) {
        (Some(one), Some(fifty)) => {
            let ratio = fifty.as_secs_f64() / one.as_secs_f64();
            Target {
                name: "`tools/list` p50, 50 servers vs 1".into(),
                figure: format!("{:.3} ms vs {:.3} ms: {ratio:.1}x", ms(fifty), ms(one)),
                limit: "<= 2x",
                verdict: verdict(ratio <= 2.0),
            }
        }
        _ => not_evaluated("`tools/list` p50, 50 servers vs 1".into(), "<= 2x"),
    });

    let hub_rss = report
        .footprint
        .iter()
        .filter(|r| r.kind == Kind::Hub)
        .find_map(|r| r.result.as_ref().ok())
        .map(|f| f.rss_kib);
    out.push(match hub_rss {
        Some(kib) => Target {
            name: "hub idle RSS".into(),
            figure: format!("{:.1} MiB ({:.1} MB)", mib(kib), kib as f64 * 1024.0 / 1e6),
            limit: "<= 30 MB",
            verdict: verdict(kib * 1024 <= RSS_LIMIT_BYTES),
        },
        None => not_evaluated("hub idle RSS".into(), "<= 30 MB"),
    });

    out.push(match &report.idle {
        Ok(idle) => Target {
            name: "children after the idle time-out".into(),
            figure: format!(
                "{} (of {} started by calls)",
                idle.children_after, idle.children_in_use
            ),
            limit: "0",
            verdict: verdict(idle.children_after == 0 && idle.children_in_use == idle.servers),
        },
        Err(_) => not_evaluated("children after the idle time-out".into(), "0"),
    });

    // Issue 2's own targets: the hop's cost against no hop at all, and the bridge's start.
    let hub = median_of(report, Kind::Hub);
    out.push(match (hub, direct) {
        (Some(hub), Some(direct)) => {
            let ratio = hub.as_secs_f64() / direct.as_secs_f64();
            Target {
                name: "hub median vs direct stdio".into(),
                figure: format!("{:.3} ms vs {:.3} ms: {ratio:.2}x", ms(hub), ms(direct)),
                limit: "<= 3x",
                verdict: verdict(hub <= direct * 3),
            }
        }
        _ => not_evaluated("hub median vs direct stdio".into(), "<= 3x"),
    });
    out.push(Target {
        name: "bridge start to first answer".into(),
        figure: format!(
            "{:.1} ms (median of {})",
            ms(report.bridge_start),
            report.bridge_starts
        ),
        limit: "<= 25 ms",
        verdict: verdict(report.bridge_start <= BRIDGE_START_LIMIT),
    });
    out
}

/// The bridge's start-to-first-answer target (issue 2).
const BRIDGE_START_LIMIT: Duration = Duration::from_millis(25);

fn not_evaluated(name: String, limit: &'static str) -> Target {
    Target {
        name,
        figure: "-".to_owned(),
        limit,
        verdict: Verdict::NotEvaluated("a figure it needs was not measured".to_owned()),
    }
}

fn print_targets(targets: &[Target]) {
    println!("### Targets (reported, not asserted)");
    println!();
    println!("| target | figure | limit | result |");
    println!("|---|---|---|---|");
    for t in targets {
        let result = match &t.verdict {
            Verdict::Pass => "pass".to_owned(),
            Verdict::Miss => "MISS".to_owned(),
            Verdict::NotEvaluated(why) => format!("not evaluated: {why}"),
        };
        println!("| {} | {} | {} | {result} |", t.name, t.figure, t.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(median_us: u64) -> Result<Summary, String> {
        Ok(Summary {
            median: Duration::from_micros(median_us),
            p99: Duration::from_micros(median_us * 2),
        })
    }

    fn row(name: &str, kind: Kind, result: Result<Summary, String>) -> LatencyRow {
        LatencyRow {
            name: name.to_owned(),
            kind,
            result,
            cpu: None,
        }
    }

    fn listing(count: usize, median_us: u64) -> ListingRow {
        ListingRow {
            servers: format!("{count}"),
            bench_servers: Some(count),
            tools: count * 20,
            summary: summary(median_us).expect("a summary"),
            hub_rss_kib: Some(0),
        }
    }

    fn report(latency: Vec<LatencyRow>, hub_rss_kib: u64) -> Report {
        Report {
            load: (String::new(), String::new()),
            calls: 1,
            rounds: 1,
            latency,
            hub_ping: summary(1).expect("a summary"),
            bridge_start: Duration::ZERO,
            bridge_starts: 1,
            throughput: Vec::new(),
            listing: vec![listing(1, 400), listing(50, 900)],
            footprint: vec![FootprintRow {
                name: "patchbay hub".to_owned(),
                kind: Kind::Hub,
                result: Ok(Footprint {
                    rss_kib: hub_rss_kib,
                    idle_processes: 2,
                    processes_with_clients: 2,
                }),
            }],
            clients_at_once: 3,
            idle: Ok(IdleChildren {
                servers: 10,
                timeout: Duration::from_secs(2),
                children_in_use: 10,
                to_idle: Duration::from_secs(3),
                children_after: 0,
            }),
        }
    }

    fn idle_verdict(r: &Report) -> Verdict {
        targets(r)
            .into_iter()
            .find(|t| t.name == "children after the idle time-out")
            .map(|t| t.verdict)
            .expect("the idle target is judged")
    }

    #[test]
    fn idle_children_pass_only_when_all_started_and_none_are_left() {
        let mut r = report(Vec::new(), 1);
        assert!(matches!(idle_verdict(&r), Verdict::Pass));
        if let Ok(idle) = &mut r.idle {
            idle.children_after = 1;
        }
        assert!(matches!(idle_verdict(&r), Verdict::Miss));
        if let Ok(idle) = &mut r.idle {
            idle.children_after = 0;
            idle.children_in_use = 3;
        }
        assert!(
            matches!(idle_verdict(&r), Verdict::Miss),
            "servers that never started prove nothing about stopping"
        );
    }

    #[test]
    fn the_floor_line_compares_the_hub_with_the_floor_and_is_absent_without_one() {
        let mut r = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(600)),
            ],
            1024,
        );
        assert_eq!(floor_line(&r), None, "no floor row, no line");
        r.latency.push(row("floor", Kind::Floor, summary(500)));
        let line = floor_line(&r).expect("a floor row gives a line");
        assert!(line.contains("median 0.500 ms, 2.50x direct"), "{line}");
        assert!(
            line.contains("1.20x the floor's, 0.100 ms above it"),
            "{line}"
        );
        let t = targets(&r);
        assert!(
            t.iter().all(|t| !t.figure.contains("0.500 ms")),
            "the floor is never judged: {t:?}"
        );
    }

    #[test]
    fn the_best_peer_is_the_fastest_that_ran() {
        let r = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(500)),
                row("slow", Kind::Peer, summary(3000)),
                row("fast", Kind::Peer, summary(1600)),
                row("absent", Kind::Peer, Err("not installed".to_owned())),
            ],
            14 * 1024,
        );
        let t = targets(&r);
        // 500 / 1600 = 0.31 <= 1/3; added 300 vs 1400 = 0.21 <= 1/4.
        assert_eq!(t[0].verdict, Verdict::Pass, "{:?}", t[0]);
        assert!(
            t[0].figure.contains("(fast)"),
            "compared with the fastest peer: {:?}",
            t[0]
        );
        assert_eq!(t[1].verdict, Verdict::Pass, "{:?}", t[1]);
        assert_eq!(
            t[2].verdict,
            Verdict::Miss,
            "900 us is 2.25x 400 us: {:?}",
            t[2]
        );
        assert_eq!(t[3].verdict, Verdict::Pass, "14 MiB is under 30 MB");
    }

    #[test]
    fn the_bridge_is_judged_beside_the_hub() {
        let r = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(700)),
                row("bridge", Kind::Patchbay, summary(400)),
                row("peer", Kind::Peer, summary(1500)),
            ],
            1024,
        );
        let t = targets(&r);
        assert_eq!(
            t.len(),
            9,
            "two latency targets per Patchbay path, then list, RSS, idle children, the hub vs \
             direct and the bridge's start"
        );
        assert!(t[2].name.starts_with("bridge"), "{:?}", t[2]);
        assert_eq!(t[2].verdict, Verdict::Pass, "400 / 1500 = 0.27: {:?}", t[2]);
        assert_eq!(
            t[3].verdict,
            Verdict::Pass,
            "200 vs 1300 = 0.15: {:?}",
            t[3]
        );
    }

    #[test]
    fn a_slow_hub_misses_and_no_peer_means_not_evaluated() {
        let slow = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(700)),
                row("peer", Kind::Peer, summary(1500)),
            ],
            29 * 1024,
        );
        let t = targets(&slow);
        assert_eq!(t[0].verdict, Verdict::Miss, "700 / 1500 = 0.47: {:?}", t[0]);
        assert_eq!(
            t[1].verdict,
            Verdict::Miss,
            "500 vs 1300 = 0.38: {:?}",
            t[1]
        );
        assert_eq!(t[3].verdict, Verdict::Miss, "29 MiB is 30.4 MB, over 30 MB");

        let alone = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(700)),
                row("peer", Kind::Peer, Err("not installed".to_owned())),
            ],
            1024,
        );
        let t = targets(&alone);
        assert!(
            matches!(t[0].verdict, Verdict::NotEvaluated(_)),
            "{:?}",
            t[0]
        );
        assert!(
            matches!(t[1].verdict, Verdict::NotEvaluated(_)),
            "{:?}",
            t[1]
        );
    }

    fn named(t: &[Target], name: &str) -> Verdict {
        t.iter()
            .find(|t| t.name == name)
            .map(|t| t.verdict.clone())
            .unwrap_or_else(|| panic!("no target named {name}"))
    }

    #[test]
    fn the_hub_is_judged_against_direct_stdio_and_the_bridge_by_its_start() {
        let mut r = report(
            vec![
                row("direct", Kind::Direct, summary(200)),
                row("hub", Kind::Hub, summary(600)),
            ],
            1024,
        );
        r.bridge_start = Duration::from_millis(25);
        let t = targets(&r);
        assert_eq!(
            named(&t, "hub median vs direct stdio"),
            Verdict::Pass,
            "3.0x"
        );
        assert_eq!(named(&t, "bridge start to first answer"), Verdict::Pass);

        r.latency[1] = row("hub", Kind::Hub, summary(601));
        r.bridge_start = Duration::from_micros(25_001);
        let t = targets(&r);
        assert_eq!(
            named(&t, "hub median vs direct stdio"),
            Verdict::Miss,
            "3.005x"
        );
        assert_eq!(named(&t, "bridge start to first answer"), Verdict::Miss);

        r.latency.remove(0);
        assert!(matches!(
            named(&targets(&r), "hub median vs direct stdio"),
            Verdict::NotEvaluated(_)
        ));
    }
}
