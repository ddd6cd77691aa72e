//! `gapmap-bench relay`: the sync server under load, gapmap-relay against
//! the JavaScript reference server (automerge-repo 2.5 in node, its
//! defaults), in one invocation, alternating, with the same workload.
//!
//! - **throughput**: documents × clients, closed loop (each client edits
//!   again as soon as its previous edit reached the document's other
//!   clients); edits delivered to every other client per second.
//! - **latency**: a fixed rate of edits over the same clients; edit-to-peer
//!   propagation p50 / p99 / max.
//! - **idle memory**: many connections, each on one of fewer documents,
//!   synced then idle; the server's RSS growth per connection.
//! - **scale** (gapmap only): many more connections at a fixed rate; p99.
//!
//! Every scenario starts a fresh server process with an empty data
//! directory. The load generator is this process (`swarm.rs`); it shares the
//! machine with the server, equally for both servers.

mod report;
pub(crate) mod servers;
mod swarm;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::stats::quantile;
use servers::{Kind, Launch, Server};
use swarm::{Shape, Swarm, SwarmStats};

/// Options of `gapmap-bench relay`.
#[derive(clap::Args, Debug, Clone)]
pub struct RelayArgs {
    /// A smoke run (seconds): tiny swarms, one round, short windows.
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run [default: all]: throughput, latency, idle, scale.
    #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
    pub only: Vec<String>,
    /// Rounds of throughput and latency per server, alternating which
    /// server goes first [default: 2, --quick: 1].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Measured seconds of the throughput, latency and scale windows
    /// [default: 20, --quick: 1.5].
    #[arg(long, value_name = "SECONDS")]
    pub seconds: Option<f64>,
    /// Edits per second of the scale scenario [default: 1000, --quick: 200].
    #[arg(long, value_name = "N")]
    pub scale_rate: Option<f64>,
    /// Documents of the scale scenario, 4 connections each
    /// [default: 2500, --quick: 100].
    #[arg(long, value_name = "N")]
    pub scale_docs: Option<usize>,
    /// Leave out the JavaScript reference server.
    #[arg(long)]
    pub no_js: bool,
    /// Benchmark these already-running gapmap relays instead of starting
    /// one (repeat for several; clients spread round-robin over them).
    /// Memory is then not measured.
    #[arg(long = "relay-url", value_name = "URL")]
    pub relay_urls: Vec<String>,
    /// Where both servers keep their data [default: the temporary
    /// directory]. Both get the same file system: gapmap-relay fsyncs every
    /// change before it forwards it, the reference server never fsyncs.
    #[arg(long, value_name = "DIR")]
    pub server_data: Option<PathBuf>,
    /// The gapmap-relay binary [default: beside this program].
    #[arg(long, value_name = "PATH", env = "GAPMAP_BENCH_RELAY")]
    pub relay: Option<PathBuf>,
    /// The tests/js directory holding server.mjs and its node_modules.
    #[arg(long, value_name = "DIR")]
    pub js_dir: Option<PathBuf>,
    /// The node binary.
    #[arg(long, default_value = "node", value_name = "PATH")]
    pub node: String,
}

/// The sizes of every scenario.
#[derive(Clone, Debug)]
struct Plan {
    quick: bool,
    rounds: usize,
    window: Duration,
    warmup: Duration,
    drain: Duration,
    /// Throughput and latency: documents × clients.
    docs: usize,
    clients: usize,
    latency_rate: f64,
    idle_docs: usize,
    idle_clients: usize,
    idle_settle: Duration,
    scale_docs: usize,
    scale_clients: usize,
    scale_rate: f64,
}

impl Plan {
    fn new(args: &RelayArgs) -> Plan {
        let q = args.quick;
        let window = Duration::from_secs_f64(args.seconds.unwrap_or(if q { 1.5 } else { 20.0 }));
        Plan {
            quick: q,
            rounds: args.rounds.unwrap_or(if q { 1 } else { 2 }).max(1),
            window,
            warmup: Duration::from_millis(if q { 300 } else { 2_000 }),
            drain: Duration::from_millis(if q { 1_000 } else { 3_000 }),
            docs: if q { 10 } else { 100 },
            clients: 4,
            latency_rate: if q { 40.0 } else { 200.0 },
            idle_docs: if q { 20 } else { 500 },
            idle_clients: 10,
            idle_settle: Duration::from_millis(if q { 500 } else { 3_000 }),
            scale_docs: args.scale_docs.unwrap_or(if q { 100 } else { 2_500 }),
            scale_clients: 4,
            scale_rate: args.scale_rate.unwrap_or(if q { 200.0 } else { 1_000.0 }),
        }
    }

    fn ready_timeout(&self, connections: usize) -> Duration {
        Duration::from_secs(60 + (connections / 25) as u64)
    }
}

/// The scenarios, in the order they run.
pub const SCENARIOS: [&str; 4] = ["throughput", "latency", "idle", "scale"];

/// Runs the selected scenarios and prints the report.
pub fn run(args: &RelayArgs) -> Result<()> {
    let report = measure(args)?;
    report::print(&report);
    Ok(())
}

/// One server's runs of one scenario.
type ServerRuns = (Kind, Vec<Value>);

/// Everything one invocation measured.
pub struct RelayReport {
    quick: bool,
    plan: Plan,
    versions: Value,
    fd_limit: u64,
    /// Per scenario, per server, the figures of each run.
    results: Vec<(String, Vec<ServerRuns>)>,
}

fn measure(args: &RelayArgs) -> Result<RelayReport> {
    let plan = Plan::new(args);
    for name in &args.only {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!("--only {name}: the scenarios are {}", SCENARIOS.join(", "));
        }
    }
    let selected: Vec<&str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s))
        .collect();
    let fd_limit = servers::raise_fd_limit()?;
    let relay = servers::locate_relay(args.relay.as_deref())?;
    let js = if args.no_js {
        None
    } else {
        let dir = args.js_dir.clone().unwrap_or_else(crate::js::default_dir);
        let node = crate::procs::which(&args.node).with_context(|| {
            format!(
                "no `{}` on PATH: install Node.js 20+, or pass --no-js",
                args.node
            )
        })?;
        if !dir
            .join("node_modules/@automerge/automerge-repo/package.json")
            .is_file()
        {
            bail!(
                "{} has no node_modules: run `npm ci` there, or pass --no-js",
                dir.display()
            );
        }
        Some((node, dir))
    };
    let mut versions = versions(&relay, js.as_ref());
    versions["server_data"] = json!(args.server_data.as_ref().map_or_else(
        || std::env::temp_dir().display().to_string(),
        |d| d.display().to_string()
    ));
    let launch = Launch {
        relay,
        js,
        data_root: args.server_data.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut kinds = vec![Kind::Gapmap];
    if launch.js.is_some() {
        kinds.push(Kind::Reference);
    }

    let mut results = Vec::new();
    for scenario in selected {
        let (rounds, kinds_here): (usize, Vec<Kind>) = match scenario {
            "throughput" | "latency" => (plan.rounds, kinds.clone()),
            "idle" => (1, kinds.clone()),
            _ => (1, vec![Kind::Gapmap]),
        };
        let mut runs: Vec<ServerRuns> = kinds_here.iter().map(|&k| (k, vec![])).collect();
        for round in 0..rounds {
            let mut order = kinds_here.clone();
            if round % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                eprintln!("{scenario}: {} (round {})", kind.name(), round + 1);
                // A server that cannot finish a scenario is a result too: it
                // is recorded, and the other scenarios still run.
                let figures = runtime
                    .block_on(run_case(scenario, kind, &plan, &launch, &args.relay_urls))
                    .with_context(|| format!("{scenario} against {}", kind.name()))
                    .unwrap_or_else(|err| json!({ "error": format!("{err:#}") }));
                eprintln!("  {figures}");
                if let Some((_, list)) = runs.iter_mut().find(|(k, _)| *k == kind) {
                    list.push(figures);
                }
            }
        }
        results.push((scenario.to_string(), runs));
    }
    Ok(RelayReport {
        quick: plan.quick,
        plan,
        versions,
        fd_limit,
        results,
    })
}

/// One scenario against one fresh server.
async fn run_case(
    scenario: &str,
    kind: Kind,
    plan: &Plan,
    launch: &Launch,
    external: &[String],
) -> Result<Value> {
    let server = if kind == Kind::Gapmap && !external.is_empty() {
        None
    } else {
        let launch = launch.clone();
        Some(tokio::task::spawn_blocking(move || Server::start(kind, &launch)).await??)
    };
    let urls = match &server {
        Some(s) => vec![s.url.clone()],
        None => external.to_vec(),
    };
    let result = drive(scenario, plan, urls, server.as_ref()).await;
    if let Some(server) = server {
        tokio::task::spawn_blocking(move || server.stop()).await?;
    }
    result
}

async fn drive(
    scenario: &str,
    plan: &Plan,
    urls: Vec<String>,
    server: Option<&Server>,
) -> Result<Value> {
    let (docs, clients) = match scenario {
        "idle" => (plan.idle_docs, plan.idle_clients),
        "scale" => (plan.scale_docs, plan.scale_clients),
        _ => (plan.docs, plan.clients),
    };
    // Idle connections only open a document someone wrote: one writer per
    // document while gathering. The other loads have every client edit.
    let writers = if scenario == "idle" { 1 } else { clients };
    let shape = Shape {
        urls,
        docs,
        clients_per_doc: clients,
        writers_per_doc: writers,
        ready_timeout: plan.ready_timeout(docs * clients),
    };
    // A moment for the server to finish starting before its baseline.
    tokio::time::sleep(Duration::from_millis(if plan.quick { 200 } else { 1_000 })).await;
    let rss_before = server.and_then(|s| s.rss_kib().ok());
    let swarm = Swarm::gather(&shape).await?;
    let connections = swarm.connections;
    let gathered_s = swarm.gathered_in.as_secs_f64();
    let secs = plan.window.as_secs_f64();
    let mut figures = json!({
        "documents": docs,
        "clients_per_document": clients,
        "connections": connections,
        "gather_s": round3(gathered_s),
    });
    match scenario {
        "throughput" => {
            swarm.closed_loop(plan.warmup, plan.window).await;
            let stats = swarm.stop().await;
            figures["seconds"] = json!(secs);
            figures["edits_per_s"] = json!(round3(stats.edits_delivered as f64 / secs));
            figures["deliveries_per_s"] = json!(round3(stats.deliveries as f64 / secs));
            add_latency(&mut figures, &stats);
            // A closed loop stops with edits in flight: not lost, just cut off.
            if let Some(map) = figures.as_object_mut() {
                map.remove("lost");
            }
            add_problems(&mut figures, &stats);
        }
        "latency" | "scale" => {
            let rate = if scenario == "scale" {
                plan.scale_rate
            } else {
                plan.latency_rate
            };
            swarm
                .fixed_rate(rate, plan.warmup, plan.window, plan.drain)
                .await;
            let stats = swarm.stop().await;
            figures["seconds"] = json!(secs);
            figures["target_edits_per_s"] = json!(rate);
            figures["edits_per_s"] = json!(round3(stats.edits_made as f64 / secs));
            add_latency(&mut figures, &stats);
            add_problems(&mut figures, &stats);
        }
        "idle" => {
            tokio::time::sleep(plan.idle_settle).await;
            let rss_after = server.and_then(|s| s.rss_kib().ok());
            let stats = swarm.stop().await;
            figures["rss_before_kib"] = json!(rss_before);
            figures["rss_after_kib"] = json!(rss_after);
            figures["rss_per_connection_kib"] = match (rss_before, rss_after) {
                (Some(b), Some(a)) => {
                    json!(round3(
                        a.saturating_sub(b) as f64 / connections.max(1) as f64
                    ))
                }
                _ => Value::Null,
            };
            add_problems(&mut figures, &stats);
        }
        other => bail!("unknown scenario {other}"),
    }
    Ok(figures)
}

fn add_latency(figures: &mut Value, stats: &SwarmStats) {
    let l = &stats.latencies_ms;
    let q = |p: f64| quantile(l, p).map(round3);
    figures["samples"] = json!(l.len());
    figures["p50_ms"] = json!(q(0.5));
    figures["p99_ms"] = json!(q(0.99));
    figures["max_ms"] = json!(q(1.0));
    figures["lost"] = json!(stats.lost);
}

fn add_problems(figures: &mut Value, stats: &SwarmStats) {
    figures["problems"] = json!(stats.problem_count);
    if !stats.problems.is_empty() {
        figures["first_problems"] = json!(stats.problems);
    }
}

fn round3(v: f64) -> f64 {
    crate::stats::round3(v)
}

fn versions(relay: &std::path::Path, js: Option<&(PathBuf, PathBuf)>) -> Value {
    let relay_version = crate::procs::run(relay, ["--version"])
        .map(|r| r.stdout)
        .ok();
    let (node, repo) = match js {
        Some((node, dir)) => {
            let node_v = crate::procs::run(node, ["--version"])
                .map(|r| r.stdout)
                .ok();
            let manifest = dir.join("node_modules/@automerge/automerge-repo/package.json");
            let repo_v = std::fs::read(manifest)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v["version"].as_str().map(str::to_string));
            (node_v, repo_v)
        }
        None => (None, None),
    };
    json!({
        "gapmap_relay": relay_version,
        "node": node,
        "automerge_repo": repo,
    })
}
