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
//! directory, and runs under two loads:
//!
//! - **rust**: this process simulates the clients (`swarm.rs`) and shares
//!   the machine with the server, equally for both servers;
//! - **js**: unmodified automerge-repo `Repo`s in a few node processes
//!   (`jsload.rs`), pinned to other CPUs than the server's.
//!
//! Beside the clients' figures, the server's CPU time and memory over each
//! measured window come from /proc (`drive.rs`).

mod drive;
mod jsload;
mod report;
pub(crate) mod servers;
mod swarm;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::procfs::Pinning;
use servers::{Kind, Launch};

/// Options of `gapmap-bench relay`.
#[derive(clap::Args, Debug, Clone)]
pub struct RelayArgs {
    /// A smoke run (seconds): tiny swarms, one round, short windows.
    #[arg(long)]
    pub quick: bool,
    /// Scenarios to run [default: all]: throughput, latency, idle, scale.
    #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
    pub only: Vec<String>,
    /// Which clients load the servers: `rust` (simulated peers in this
    /// process), `js` (unmodified automerge-repo Repos in node processes)
    /// or `both` [default: both; rust with --no-js]. The scale scenario
    /// runs under the rust load only.
    #[arg(long, value_enum, value_name = "LOAD")]
    pub load: Option<LoadArg>,
    /// Node processes of the JS load [default: 4, --quick: 1].
    #[arg(long, value_name = "N")]
    pub js_processes: Option<usize>,
    /// Edits per second of the latency scenario under the JS load, below
    /// what the JS clients can make on their core [default: 20].
    #[arg(long, value_name = "N")]
    pub js_latency_rate: Option<f64>,
    /// Do not pin the server and the JS load to different CPUs.
    #[arg(long)]
    pub no_pin: bool,
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
    /// Leave out everything JavaScript: the reference server and the JS
    /// load.
    #[arg(long)]
    pub no_js: bool,
    /// Benchmark these already-running gapmap relays instead of starting
    /// one (repeat for several; clients spread round-robin over them; the
    /// JS load drives one). Memory and CPU are then not measured.
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
    /// The tests/js directory holding server.mjs, bench-relay.mjs and
    /// their node_modules.
    #[arg(long, value_name = "DIR")]
    pub js_dir: Option<PathBuf>,
    /// The node binary.
    #[arg(long, default_value = "node", value_name = "PATH")]
    pub node: String,
}

/// `--load`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadArg {
    /// The simulated peers of this process.
    Rust,
    /// automerge-repo Repos in node.
    Js,
    /// One, then the other, for every scenario.
    Both,
}

/// Which clients drive a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// This process's simulated peers (`swarm.rs`).
    Rust,
    /// automerge-repo Repos in node processes (`jsload.rs`).
    Js,
}

impl Load {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Load::Rust => "rust",
            Load::Js => "js",
        }
    }
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
    js_processes: usize,
    js_latency_rate: f64,
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
            js_processes: args.js_processes.unwrap_or(if q { 1 } else { 4 }).max(1),
            js_latency_rate: args.js_latency_rate.unwrap_or(20.0),
        }
    }

    fn ready_timeout(&self, connections: usize) -> Duration {
        Duration::from_secs(60 + (connections / 25) as u64)
    }

    /// Edits per second of the latency scenario under `load`.
    fn latency_rate(&self, load: Load) -> f64 {
        match load {
            Load::Rust => self.latency_rate,
            Load::Js => self.js_latency_rate,
        }
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

/// One scenario under one load: every server's runs.
struct Case {
    scenario: String,
    load: Load,
    runs: Vec<ServerRuns>,
}

/// Everything one invocation measured.
pub struct RelayReport {
    quick: bool,
    plan: Plan,
    versions: Value,
    fd_limit: u64,
    /// The loads that ran, and how the JS one was pinned.
    loads: Value,
    /// The load average when the first and after the last scenario ran.
    load_average: (Value, Value),
    results: Vec<Case>,
}

/// The loads `--load` and `--no-js` ask for.
fn loads(args: &RelayArgs) -> Result<Vec<Load>> {
    Ok(match (args.load, args.no_js) {
        (Some(LoadArg::Js | LoadArg::Both), true) => {
            bail!("--no-js leaves node out, and --load js needs it: drop one of them")
        }
        (Some(LoadArg::Rust), _) | (None, true) => vec![Load::Rust],
        (Some(LoadArg::Js), false) => vec![Load::Js],
        (Some(LoadArg::Both) | None, false) => vec![Load::Rust, Load::Js],
    })
}

/// node and tests/js with its packages, or what to do about them.
fn js_side(args: &RelayArgs) -> Result<(PathBuf, PathBuf)> {
    let dir = args.js_dir.clone().unwrap_or_else(crate::js::default_dir);
    let node = crate::procs::which(&args.node).with_context(|| {
        format!(
            "no `{}` on PATH: install Node.js 20+ (scripts/test installs it), or pass --no-js",
            args.node
        )
    })?;
    if !dir
        .join("node_modules/@automerge/automerge-repo/package.json")
        .is_file()
    {
        bail!(
            "{} has no node_modules: run `npm ci` there (scripts/test does), or pass --no-js",
            dir.display()
        );
    }
    if !dir.join("bench-relay.mjs").is_file() {
        bail!(
            "{} has no bench-relay.mjs: pass --js-dir (the tests/js directory of gapmap)",
            dir.display()
        );
    }
    Ok((node, dir))
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
    let loads = loads(args)?;
    let fd_limit = servers::raise_fd_limit()?;
    let relay = servers::locate_relay(args.relay.as_deref())?;
    let js = if args.no_js {
        None
    } else {
        Some(js_side(args)?)
    };
    let mut versions = versions(&relay, js.as_ref());
    versions["server_data"] = json!(args.server_data.as_ref().map_or_else(
        || std::env::temp_dir().display().to_string(),
        |d| d.display().to_string()
    ));
    let launch = Launch {
        relay,
        js: js.clone(),
        data_root: args.server_data.clone(),
    };
    // Pinning is for the JS load: its node processes are other processes
    // than this one, which the Rust load's simulated peers live in.
    let pinning = (!args.no_pin && loads.contains(&Load::Js)).then(Pinning::split);
    let js_load = js.map(|(node, dir)| jsload::JsLoad {
        node,
        dir,
        processes: plan.js_processes,
        cpus: pinning
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(|p| p.load.clone()),
    });
    let loads_json = json!({
        "kinds": loads.iter().map(|l| l.name()).collect::<Vec<_>>(),
        "js": loads.contains(&Load::Js).then(|| json!({
            "processes": plan.js_processes,
            "latency_edits_per_s": plan.js_latency_rate,
            "pinned": matches!(pinning, Some(Ok(_))),
            "server_cpus": pinning.as_ref().and_then(|p| p.as_ref().ok()).map(|p| &p.server),
            "load_cpus": pinning.as_ref().and_then(|p| p.as_ref().ok()).map(|p| &p.load),
            "not_pinned_because": match &pinning {
                None => Some("--no-pin".to_string()),
                Some(Err(why)) => Some(why.clone()),
                Some(Ok(_)) => None,
            },
        })),
        "rust": loads.contains(&Load::Rust).then(|| json!({ "pinned": false })),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut kinds = vec![Kind::Gapmap];
    if launch.js.is_some() {
        kinds.push(Kind::Reference);
    }
    let server_cpus = pinning
        .as_ref()
        .and_then(|p| p.as_ref().ok())
        .map(|p| p.server.clone());
    let ctx = drive::Ctx {
        plan: &plan,
        launch: &launch,
        external: &args.relay_urls,
        js: js_load.as_ref(),
        server_cpus: server_cpus.as_deref(),
    };

    let load_average_start = crate::procfs::load_average();
    let mut results = Vec::new();
    for scenario in selected {
        for &load in &loads {
            let (rounds, kinds_here): (usize, Vec<Kind>) = match (scenario, load) {
                ("scale", Load::Js) => {
                    eprintln!(
                        "scale: not under the JS load (one core of JS clients makes a few hundred edits/s, not {})",
                        plan.scale_rate
                    );
                    continue;
                }
                ("throughput" | "latency", _) => (plan.rounds, kinds.clone()),
                ("idle", _) => (1, kinds.clone()),
                _ => (1, vec![Kind::Gapmap]),
            };
            let mut runs: Vec<ServerRuns> = kinds_here.iter().map(|&k| (k, vec![])).collect();
            for round in 0..rounds {
                let mut order = kinds_here.clone();
                if round % 2 == 1 {
                    order.reverse();
                }
                for kind in order {
                    eprintln!(
                        "{scenario}, {} load: {} (round {})",
                        load.name(),
                        kind.name(),
                        round + 1
                    );
                    // A server that cannot finish a scenario is a result too:
                    // it is recorded, and the other scenarios still run.
                    let figures = runtime
                        .block_on(drive::run_case(scenario, load, kind, &ctx))
                        .with_context(|| {
                            format!("{scenario} against {} ({} load)", kind.name(), load.name())
                        })
                        .unwrap_or_else(|err| json!({ "error": format!("{err:#}") }));
                    eprintln!("  {figures}");
                    if let Some((_, list)) = runs.iter_mut().find(|(k, _)| *k == kind) {
                        list.push(figures);
                    }
                }
            }
            results.push(Case {
                scenario: scenario.to_string(),
                load,
                runs,
            });
        }
    }
    Ok(RelayReport {
        quick: plan.quick,
        plan,
        versions,
        fd_limit,
        loads: loads_json,
        load_average: (load_average_start, crate::procfs::load_average()),
        results,
    })
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
