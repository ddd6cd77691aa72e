//! The report of `gapmap-bench relay`: a table for people, then one JSON
//! line with every run's figures, the summaries, the ratios gapmap /
//! reference and the targets.

use serde_json::{json, Map, Value};

use super::servers::Kind;
use super::{Case, Load, RelayReport};
use crate::stats::{median, ratio, round3};

/// Prints the table and the final JSON line to stdout.
pub fn print(report: &RelayReport) {
    let summary = summarise(report);
    println!("{}", table(report, &summary));
    println!("{}", to_json(report, &summary));
}

/// One row of the table: a figure for each server and their ratio.
struct Row {
    scenario: String,
    load: Load,
    figure: &'static str,
    gapmap: Option<f64>,
    reference: Option<f64>,
    /// gapmap / reference.
    ratio: Option<f64>,
    /// The target, in words, and whether it holds.
    target: Option<(String, Option<bool>)>,
}

fn runs(case: &Case, kind: Kind) -> &[Value] {
    case.runs
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, runs)| runs.as_slice())
}

/// The median over runs of one figure.
fn med(runs: &[Value], key: &str) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    median(&v)
}

/// The largest over runs of one figure.
fn most(runs: &[Value], key: &str) -> Option<f64> {
    runs.iter().filter_map(|r| r[key].as_f64()).reduce(f64::max)
}

/// A target in words, and the test of a ratio against it.
type Target = Option<(&'static str, fn(f64) -> bool)>;

/// A figure's rows of one case, in the order of the table.
struct Rows<'a> {
    case: &'a Case,
    label: String,
    rows: &'a mut Vec<Row>,
}

impl Rows<'_> {
    /// A row of `key` for both servers (medians over the runs, or `f`).
    fn add(
        &mut self,
        key: &str,
        figure: &'static str,
        f: fn(&[Value], &str) -> Option<f64>,
        target: Target,
    ) {
        let g = f(runs(self.case, Kind::Gapmap), key);
        let r = f(runs(self.case, Kind::Reference), key);
        let ra = g.zip(r).and_then(|(g, r)| ratio(g, r));
        self.rows.push(Row {
            scenario: self.label.clone(),
            load: self.case.load,
            figure,
            gapmap: g,
            reference: r,
            ratio: ra,
            target: target.map(|(words, holds)| (words.to_string(), ra.map(holds))),
        });
    }
}

fn summarise(report: &RelayReport) -> Vec<Row> {
    let mut rows = Vec::new();
    let p = &report.plan;
    for case in &report.results {
        let (rust, js) = (case.load == Load::Rust, case.load == Load::Js);
        let label = match case.scenario.as_str() {
            "throughput" => format!("throughput {}×{}", p.docs, p.clients),
            "latency" => format!("latency {}/s", p.latency_rate(case.load)),
            "idle" => format!("idle {} conns", p.idle_docs * p.idle_clients),
            "scale" => {
                let conns = most(runs(case, Kind::Gapmap), "connections").unwrap_or(0.0);
                format!("scale {conns:.0} conns")
            }
            _ => continue,
        };
        let mut r = Rows {
            case,
            label,
            rows: &mut rows,
        };
        match case.scenario.as_str() {
            "throughput" => {
                let ten_x: Target = rust.then_some(("≥10× ref", |x| x >= 10.0));
                r.add("edits_per_s", "delivered edits/s", med, ten_x);
                r.add("deliveries_per_s", "edit arrivals/s", med, None);
                r.add("p50_ms", "p50 ms (loaded)", med, None);
                r.add("p99_ms", "p99 ms (loaded)", med, None);
                let tenth: Target = js.then_some(("≤0.1× ref", |x| x <= 0.1));
                r.add("server_cpu_ms_per_edit", "server CPU ms / edit", med, tenth);
                r.add("server_cpu_percent", "server CPU % of a core", med, None);
                r.add("server_rss_kib", "server RSS KiB", med, None);
                r.add(
                    "messages_per_edit",
                    "sync msgs to clients / edit",
                    med,
                    None,
                );
                r.add("bytes_per_edit", "sync bytes to clients / edit", med, None);
                r.add("load_cpu_percent", "load CPU % of a core", med, None);
                r.add("load_cpu_ms_per_edit", "load CPU ms / edit", med, None);
            }
            "latency" => {
                let fifth: Target = rust.then_some(("≤0.2× ref", |x| x <= 0.2));
                r.add("p50_ms", "p50 ms", med, None);
                r.add("p99_ms", "p99 ms", med, fifth);
                r.add("max_ms", "max ms", most, None);
                r.add("lost", "arrivals not in 3 s after the window", most, None);
                r.add("server_cpu_ms_per_edit", "server CPU ms / edit", med, None);
                r.add("server_cpu_percent", "server CPU % of a core", med, None);
                r.add(
                    "messages_per_edit",
                    "sync msgs to clients / edit",
                    med,
                    None,
                );
            }
            "idle" => {
                r.add(
                    "rss_per_connection_kib",
                    "RSS KiB / connection",
                    med,
                    Some(("≤0.1× ref", |x| x <= 0.1)),
                );
                r.add("rss_after_kib", "RSS KiB, all held", med, None);
                r.add("rss_hwm_kib", "RSS high-water KiB", med, None);
            }
            "scale" => {
                let g = runs(case, Kind::Gapmap);
                let conns = most(g, "connections").unwrap_or(0.0);
                let p99 = med(g, "p99_ms");
                let lost = most(g, "lost").unwrap_or(0.0);
                let label = r.label.clone();
                let only = |figure, gapmap, target| Row {
                    scenario: label.clone(),
                    load: case.load,
                    figure,
                    gapmap,
                    reference: None,
                    ratio: None,
                    target,
                };
                r.rows.push(only(
                    "p99 ms",
                    p99,
                    Some((
                        "<50 ms".into(),
                        p99.map(|p| p < 50.0 && lost == 0.0 && conns >= 10_000.0),
                    )),
                ));
                r.rows.push(only("p50 ms", med(g, "p50_ms"), None));
                r.rows
                    .push(only("edits/s made", med(g, "edits_per_s"), None));
                r.rows.push(only(
                    "arrivals not in 3 s after the window",
                    Some(lost),
                    None,
                ));
                r.rows.push(only(
                    "server CPU ms / edit",
                    med(g, "server_cpu_ms_per_edit"),
                    None,
                ));
            }
            _ => {}
        }
    }
    rows
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn table(report: &RelayReport, rows: &[Row]) -> String {
    let mut out = format!(
        "\nsync server under load: gapmap-relay vs automerge-repo {} (node {}){}\n",
        report.versions["automerge_repo"].as_str().unwrap_or("–"),
        report.versions["node"].as_str().unwrap_or("–"),
        if report.quick {
            " — QUICK smoke run, not the real sizes"
        } else {
            ""
        },
    );
    out += &format!(
        "load average {} at the start, {} at the end\n",
        report.load_average.0, report.load_average.1
    );
    let js = &report.loads["js"];
    if js.is_object() {
        out += &format!(
            "js load: {} node process{} of automerge-repo Repos; {}\n",
            js["processes"],
            if js["processes"] == 1 { "" } else { "es" },
            if js["pinned"] == true {
                format!(
                    "pinned to CPUs {}, the server to CPUs {}",
                    js["load_cpus"], js["server_cpus"]
                )
            } else {
                format!(
                    "not pinned ({})",
                    js["not_pinned_because"].as_str().unwrap_or("?")
                )
            }
        );
    }
    out += "rust load: this process's simulated peers, not pinned\n\n";
    out += &format!(
        "{:<22} {:<5} {:<28} {:>10} {:>10} {:>10}  {:<10} {}\n",
        "scenario", "load", "figure", "gapmap", "reference", "gapmap/ref", "target", "met"
    );
    for r in rows {
        let (target, met) = match &r.target {
            Some((t, m)) => (
                t.as_str(),
                match m {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "–",
                },
            ),
            None => ("", ""),
        };
        out += &format!(
            "{:<22} {:<5} {:<28} {:>10} {:>10} {:>10}  {:<10} {}\n",
            r.scenario,
            r.load.name(),
            r.figure,
            num(r.gapmap),
            num(r.reference),
            r.ratio.map_or("–".into(), |x| format!("{x:.3}")),
            target,
            met
        );
    }
    for case in &report.results {
        for (kind, runs) in &case.runs {
            for run in runs {
                if let Some(err) = run["error"].as_str() {
                    out += &format!(
                        "\n{} against {} ({} load): did not finish: {err}\n",
                        case.scenario,
                        kind.name(),
                        case.load.name()
                    );
                }
            }
        }
    }
    if report.quick {
        out += "\n(--quick: targets are judged on the full sizes only; the figures here prove the harness works)\n";
    }
    out
}

/// `{scenario: {server: {"runs": [...]}}}` of one load.
fn scenarios_of(report: &RelayReport, load: Load) -> Value {
    let mut scenarios = Map::new();
    for case in report.results.iter().filter(|c| c.load == load) {
        let mut entry = Map::new();
        for (kind, runs) in &case.runs {
            entry.insert(kind.name().into(), json!({ "runs": runs }));
        }
        scenarios.insert(case.scenario.clone(), Value::Object(entry));
    }
    Value::Object(scenarios)
}

fn to_json(report: &RelayReport, rows: &[Row]) -> Value {
    let summary: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "scenario": r.scenario,
                "load": r.load.name(),
                "figure": r.figure,
                "gapmap": r.gapmap.map(round3),
                "reference": r.reference.map(round3),
                "ratio_gapmap_over_reference": r.ratio.map(round3),
                "target": r.target.as_ref().map(|(t, _)| t),
                "met": r.target.as_ref().and_then(|(_, m)| *m).filter(|_| !report.quick),
            })
        })
        .collect();
    let p = &report.plan;
    json!({
        "bench": "relay",
        "quick": report.quick,
        "machine": crate::report::machine(),
        "load_average": { "start": report.load_average.0, "end": report.load_average.1 },
        "versions": report.versions,
        "fd_limit": report.fd_limit,
        "loads": report.loads,
        "plan": {
            "rounds": p.rounds,
            "window_s": p.window.as_secs_f64(),
            "warmup_s": p.warmup.as_secs_f64(),
            "drain_s": p.drain.as_secs_f64(),
            "throughput": { "documents": p.docs, "clients_per_document": p.clients },
            "latency": { "documents": p.docs, "clients_per_document": p.clients, "edits_per_s": p.latency_rate, "js_edits_per_s": p.js_latency_rate },
            "idle": { "documents": p.idle_docs, "clients_per_document": p.idle_clients, "settle_s": p.idle_settle.as_secs_f64() },
            "scale": { "documents": p.scale_docs, "clients_per_document": p.scale_clients, "edits_per_s": p.scale_rate },
            "js_processes": p.js_processes,
        },
        // The Rust load's runs; the JS load's, of the same shape, beside.
        "scenarios": scenarios_of(report, Load::Rust),
        "scenarios_js": scenarios_of(report, Load::Js),
        "summary": summary,
    })
}
