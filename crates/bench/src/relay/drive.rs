//! One scenario against one fresh server under one load, and the figures of
//! the run: the clients' (edits delivered, latencies) and the server's own
//! over the measured window (CPU seconds, resident memory, from /proc).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::jsload::{JsLoad, JsSwarm};
use super::servers::{Kind, Launch, Server};
use super::swarm::{Shape, Swarm, SwarmStats};
use super::{Load, Plan};
use crate::procfs;
use crate::stats::{quantile, round3};

/// What every run needs.
pub(super) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub launch: &'a Launch,
    /// Already-running relays to drive instead of starting gapmap-relay.
    pub external: &'a [String],
    /// The JS load, when node is there.
    pub js: Option<&'a JsLoad>,
    /// The server's CPUs under the JS load, when pinned.
    pub server_cpus: Option<&'a [usize]>,
}

/// One scenario against one fresh server.
pub(super) async fn run_case(
    scenario: &str,
    load: Load,
    kind: Kind,
    ctx: &Ctx<'_>,
) -> Result<Value> {
    let server = if kind == Kind::Gapmap && !ctx.external.is_empty() {
        None
    } else {
        let launch = ctx.launch.clone();
        let cpus = ctx
            .server_cpus
            .filter(|_| load == Load::Js)
            .map(<[usize]>::to_vec);
        Some(
            tokio::task::spawn_blocking(move || Server::start_on(kind, &launch, cpus.as_deref()))
                .await??,
        )
    };
    let urls = match &server {
        Some(s) => vec![s.url.clone()],
        None => ctx.external.to_vec(),
    };
    let result = drive(scenario, load, ctx, urls, server.as_ref()).await;
    if let Some(server) = server {
        tokio::task::spawn_blocking(move || server.stop()).await?;
    }
    result
}

/// A gathered load of either kind.
enum Gathered {
    Rust(Swarm),
    Js(JsSwarm),
}

impl Gathered {
    async fn gather(load: Load, shape: &Shape, js: Option<&JsLoad>) -> Result<Gathered> {
        Ok(match load {
            Load::Rust => Gathered::Rust(Swarm::gather(shape).await?),
            Load::Js => {
                let Some(js) = js else {
                    bail!("the JS load needs node and tests/js (not --no-js)");
                };
                Gathered::Js(JsSwarm::gather(shape, js).await?)
            }
        })
    }

    fn connections(&self) -> usize {
        match self {
            Gathered::Rust(s) => s.connections,
            Gathered::Js(s) => s.connections,
        }
    }

    fn gathered_in(&self) -> Duration {
        match self {
            Gathered::Rust(s) => s.gathered_in,
            Gathered::Js(s) => s.gathered_in,
        }
    }

    /// The processes the load runs in: this one, or the node processes.
    fn pids(&self) -> Vec<u32> {
        match self {
            Gathered::Rust(_) => vec![std::process::id()],
            Gathered::Js(s) => s.pids(),
        }
    }

    async fn closed_loop(&mut self, from: Instant, until: Instant) {
        match self {
            Gathered::Rust(s) => s.closed_loop(from, until).await,
            Gathered::Js(s) => s.closed_loop(from, until).await,
        }
    }

    async fn fixed_rate(
        &mut self,
        period: Duration,
        first: Instant,
        from: Instant,
        until: Instant,
        drain: Duration,
    ) {
        match self {
            Gathered::Rust(s) => s.fixed_rate(period, first, from, until, drain).await,
            Gathered::Js(s) => s.fixed_rate(period, first, from, until, drain).await,
        }
    }

    async fn stop(self) -> SwarmStats {
        match self {
            Gathered::Rust(s) => s.stop().await,
            Gathered::Js(s) => s.stop().await,
        }
    }
}

/// What the server and the load used over a measured window.
#[derive(Debug, Default)]
struct Usage {
    server_cpu_s: Option<f64>,
    load_cpu_s: Option<f64>,
    server_memory: Option<procfs::Memory>,
}

/// Samples CPU times at `from` and `until`, memory at `until`.
fn sample_window(
    server: Option<u32>,
    load: Vec<u32>,
    from: Instant,
    until: Instant,
) -> tokio::task::JoinHandle<Usage> {
    let load_cpu =
        move |pids: &[u32]| -> Option<f64> { pids.iter().map(|&p| procfs::cpu_seconds(p)).sum() };
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let server0 = server.and_then(procfs::cpu_seconds);
        let load0 = load_cpu(&load);
        tokio::time::sleep_until(until.into()).await;
        let server1 = server.and_then(procfs::cpu_seconds);
        let load1 = load_cpu(&load);
        Usage {
            server_cpu_s: server1.zip(server0).map(|(b, a)| b - a),
            load_cpu_s: load1.zip(load0).map(|(b, a)| b - a),
            server_memory: server.and_then(procfs::memory),
        }
    })
}

async fn drive(
    scenario: &str,
    load: Load,
    ctx: &Ctx<'_>,
    urls: Vec<String>,
    server: Option<&Server>,
) -> Result<Value> {
    let plan = ctx.plan;
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
    let load_average = procfs::load_average();
    // A moment for the server to finish starting before its baseline.
    tokio::time::sleep(Duration::from_millis(if plan.quick { 200 } else { 1_000 })).await;
    let server_pid = server.map(Server::pid);
    let rss_before = server_pid.and_then(procfs::memory).map(|m| m.rss_kib);
    let mut swarm = Gathered::gather(load, &shape, ctx.js).await?;
    let connections = swarm.connections();
    let secs = plan.window.as_secs_f64();
    let mut figures = json!({
        "documents": docs,
        "clients_per_document": clients,
        "connections": connections,
        "gather_s": round3(swarm.gathered_in().as_secs_f64()),
        "load_average": load_average,
        "server_cpus": server_pid.and_then(procfs::cpus_allowed),
        "load_cpus": swarm.pids().first().and_then(|&p| procfs::cpus_allowed(p)),
    });
    if let Gathered::Js(js) = &swarm {
        figures["find_retries"] = json!(js.find_retries);
    }
    match scenario {
        "throughput" => {
            let from = Instant::now() + plan.warmup;
            let until = from + plan.window;
            let usage = sample_window(server_pid, swarm.pids(), from, until);
            swarm.closed_loop(from, until).await;
            let usage = usage.await?;
            let stats = swarm.stop().await;
            figures["seconds"] = json!(secs);
            figures["edits_per_s"] = json!(round3(stats.edits_delivered as f64 / secs));
            figures["deliveries_per_s"] = json!(round3(stats.deliveries as f64 / secs));
            add_latency(&mut figures, &stats);
            // A closed loop stops with edits in flight: not lost, just cut off.
            if let Some(map) = figures.as_object_mut() {
                map.remove("lost");
            }
            add_usage(&mut figures, &usage, secs, &stats);
            add_problems(&mut figures, &stats);
        }
        "latency" | "scale" => {
            let rate = if scenario == "scale" {
                plan.scale_rate
            } else {
                plan.latency_rate(load)
            };
            let period = Duration::from_secs_f64(docs as f64 / rate.max(1e-3));
            let first = Instant::now() + Duration::from_millis(10);
            let from = first + plan.warmup;
            let until = from + plan.window;
            let usage = sample_window(server_pid, swarm.pids(), from, until);
            swarm
                .fixed_rate(period, first, from, until, plan.drain)
                .await;
            let usage = usage.await?;
            let stats = swarm.stop().await;
            figures["seconds"] = json!(secs);
            figures["target_edits_per_s"] = json!(rate);
            figures["edits_per_s"] = json!(round3(stats.edits_made as f64 / secs));
            add_latency(&mut figures, &stats);
            add_usage(&mut figures, &usage, secs, &stats);
            add_problems(&mut figures, &stats);
        }
        "idle" => {
            tokio::time::sleep(plan.idle_settle).await;
            let after = server_pid.and_then(procfs::memory);
            let load_rss: Option<u64> = swarm
                .pids()
                .iter()
                .map(|&p| procfs::memory(p).map(|m| m.rss_kib))
                .sum();
            let stats = swarm.stop().await;
            let rss_after = after.map(|m| m.rss_kib);
            figures["rss_before_kib"] = json!(rss_before);
            figures["rss_after_kib"] = json!(rss_after);
            figures["rss_hwm_kib"] = json!(after.map(|m| m.hwm_kib));
            figures["rss_per_connection_kib"] = match (rss_before, rss_after) {
                (Some(b), Some(a)) => {
                    json!(round3(
                        a.saturating_sub(b) as f64 / connections.max(1) as f64
                    ))
                }
                _ => Value::Null,
            };
            figures["load_rss_kib"] = json!(load_rss);
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

/// The server's CPU over the window — in all, as a share of one core, per
/// edit delivered to every other client inside it — its memory at the end,
/// the load generator's CPU, and the sync messages the clients received
/// per delivered edit.
fn add_usage(figures: &mut Value, usage: &Usage, secs: f64, stats: &SwarmStats) {
    let cpu = usage.server_cpu_s;
    let delivered = stats.edits_delivered;
    let per_edit = |n: u64| (delivered > 0).then(|| round3(n as f64 / delivered as f64));
    figures["delivered_edits"] = json!(delivered);
    figures["messages_received"] = json!(stats.messages_received);
    figures["messages_per_edit"] = json!(per_edit(stats.messages_received));
    figures["bytes_per_edit"] = json!(per_edit(stats.bytes_received));
    figures["server_cpu_s"] = json!(cpu.map(round3));
    figures["server_cpu_percent"] = json!(cpu.map(|c| round3(c / secs * 100.0)));
    figures["server_cpu_ms_per_edit"] = json!(cpu
        .filter(|_| delivered > 0)
        .map(|c| round3(c * 1e3 / delivered as f64)));
    figures["server_rss_kib"] = json!(usage.server_memory.map(|m| m.rss_kib));
    figures["server_hwm_kib"] = json!(usage.server_memory.map(|m| m.hwm_kib));
    figures["load_cpu_percent"] = json!(usage.load_cpu_s.map(|c| round3(c / secs * 100.0)));
    // What the clients paid for each edit: with the JS load, whose core is
    // the bottleneck, this decides how many edits/s a server gets.
    figures["load_cpu_ms_per_edit"] = json!(usage
        .load_cpu_s
        .filter(|_| delivered > 0)
        .map(|c| round3(c * 1e3 / delivered as f64)));
}

fn add_problems(figures: &mut Value, stats: &SwarmStats) {
    figures["problems"] = json!(stats.problem_count);
    if !stats.problems.is_empty() {
        figures["first_problems"] = json!(stats.problems);
    }
}
