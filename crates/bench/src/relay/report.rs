//! The report of `gapmap-bench relay`: a table for people, then one JSON
//! line with every run's figures, the summaries, the ratios gapmap /
//! reference and the targets.

use serde_json::{json, Map, Value};

use super::servers::Kind;
use super::RelayReport;
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
    figure: &'static str,
    gapmap: Option<f64>,
    reference: Option<f64>,
    /// gapmap / reference.
    ratio: Option<f64>,
    /// The target, in words, and whether it holds.
    target: Option<(String, Option<bool>)>,
}

fn runs<'a>(report: &'a RelayReport, scenario: &str, kind: Kind) -> &'a [Value] {
    report
        .results
        .iter()
        .find(|(s, _)| s == scenario)
        .and_then(|(_, by)| by.iter().find(|(k, _)| *k == kind))
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

fn summarise(report: &RelayReport) -> Vec<Row> {
    let mut rows = Vec::new();
    let both = |s: &str, key: &str, f: fn(&[Value], &str) -> Option<f64>| {
        (
            f(runs(report, s, Kind::Gapmap), key),
            f(runs(report, s, Kind::Reference), key),
        )
    };
    let div = |g: Option<f64>, r: Option<f64>| ratio(g?, r?);
    for (scenario, _) in &report.results {
        match scenario.as_str() {
            "throughput" => {
                let label = format!("throughput {}×{}", report.plan.docs, report.plan.clients);
                let (g, r) = both(scenario, "edits_per_s", med);
                let ra = div(g, r);
                rows.push(Row {
                    scenario: label.clone(),
                    figure: "delivered edits/s",
                    gapmap: g,
                    reference: r,
                    ratio: ra,
                    target: Some(("≥10× ref".into(), ra.map(|x| x >= 10.0))),
                });
                let (g, r) = both(scenario, "deliveries_per_s", med);
                rows.push(Row {
                    scenario: label.clone(),
                    figure: "edit arrivals/s",
                    gapmap: g,
                    reference: r,
                    ratio: div(g, r),
                    target: None,
                });
                let (g, r) = both(scenario, "p50_ms", med);
                rows.push(Row {
                    scenario: label,
                    figure: "p50 ms (loaded)",
                    gapmap: g,
                    reference: r,
                    ratio: div(g, r),
                    target: None,
                });
            }
            "latency" => {
                let label = format!("latency {}/s", report.plan.latency_rate);
                for (key, figure) in [("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")] {
                    let (g, r) = both(scenario, key, med);
                    let ra = div(g, r);
                    rows.push(Row {
                        scenario: label.clone(),
                        figure,
                        gapmap: g,
                        reference: r,
                        ratio: ra,
                        target: (key == "p99_ms")
                            .then(|| ("≤0.2× ref".into(), ra.map(|x| x <= 0.2))),
                    });
                }
                let (g, r) = both(scenario, "max_ms", most);
                rows.push(Row {
                    scenario: label.clone(),
                    figure: "max ms",
                    gapmap: g,
                    reference: r,
                    ratio: div(g, r),
                    target: None,
                });
                let (g, r) = both(scenario, "lost", most);
                rows.push(Row {
                    scenario: label,
                    figure: "arrivals not in 3 s after the window",
                    gapmap: g,
                    reference: r,
                    ratio: None,
                    target: None,
                });
            }
            "idle" => {
                let label = format!(
                    "idle {} conns",
                    report.plan.idle_docs * report.plan.idle_clients
                );
                let (g, r) = both(scenario, "rss_per_connection_kib", med);
                let ra = div(g, r);
                rows.push(Row {
                    scenario: label.clone(),
                    figure: "RSS KiB / connection",
                    gapmap: g,
                    reference: r,
                    ratio: ra,
                    target: Some(("≤0.1× ref".into(), ra.map(|x| x <= 0.1))),
                });
                let (g, r) = both(scenario, "rss_after_kib", med);
                rows.push(Row {
                    scenario: label,
                    figure: "RSS KiB, all held",
                    gapmap: g,
                    reference: r,
                    ratio: div(g, r),
                    target: None,
                });
            }
            "scale" => {
                let g = runs(report, scenario, Kind::Gapmap);
                let conns = most(g, "connections").unwrap_or(0.0);
                let label = format!("scale {conns:.0} conns");
                let p99 = med(g, "p99_ms");
                let lost = most(g, "lost").unwrap_or(0.0);
                rows.push(Row {
                    scenario: label.clone(),
                    figure: "p99 ms",
                    gapmap: p99,
                    reference: None,
                    ratio: None,
                    target: Some((
                        "<50 ms".into(),
                        p99.map(|p| p < 50.0 && lost == 0.0 && conns >= 10_000.0),
                    )),
                });
                for (key, figure) in [("p50_ms", "p50 ms"), ("edits_per_s", "edits/s made")] {
                    rows.push(Row {
                        scenario: label.clone(),
                        figure,
                        gapmap: med(g, key),
                        reference: None,
                        ratio: None,
                        target: None,
                    });
                }
                rows.push(Row {
                    scenario: label,
                    figure: "arrivals not in 3 s after the window",
                    gapmap: Some(lost),
                    reference: None,
                    ratio: None,
                    target: None,
                });
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
        "\nsync server under load: gapmap-relay vs automerge-repo {} (node {}){}\n\n",
        report.versions["automerge_repo"].as_str().unwrap_or("–"),
        report.versions["node"].as_str().unwrap_or("–"),
        if report.quick {
            " — QUICK smoke run, not the real sizes"
        } else {
            ""
        },
    );
    out += &format!(
        "{:<22} {:<22} {:>10} {:>10} {:>10}  {:<10} {}\n",
        "scenario", "figure", "gapmap", "reference", "gapmap/ref", "target", "met"
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
            "{:<22} {:<22} {:>10} {:>10} {:>10}  {:<10} {}\n",
            r.scenario,
            r.figure,
            num(r.gapmap),
            num(r.reference),
            r.ratio.map_or("–".into(), |x| format!("{x:.3}")),
            target,
            met
        );
    }
    for (scenario, by) in &report.results {
        for (kind, runs) in by {
            for run in runs {
                if let Some(err) = run["error"].as_str() {
                    out += &format!(
                        "\n{scenario} against {}: did not finish: {err}\n",
                        kind.name()
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

fn to_json(report: &RelayReport, rows: &[Row]) -> Value {
    let mut scenarios = Map::new();
    for (scenario, by) in &report.results {
        let mut entry = Map::new();
        for (kind, runs) in by {
            entry.insert(kind.name().into(), json!({ "runs": runs }));
        }
        scenarios.insert(scenario.clone(), Value::Object(entry));
    }
    let summary: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "scenario": r.scenario,
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
        "versions": report.versions,
        "fd_limit": report.fd_limit,
        "plan": {
            "rounds": p.rounds,
            "window_s": p.window.as_secs_f64(),
            "warmup_s": p.warmup.as_secs_f64(),
            "drain_s": p.drain.as_secs_f64(),
            "throughput": { "documents": p.docs, "clients_per_document": p.clients },
            "latency": { "documents": p.docs, "clients_per_document": p.clients, "edits_per_s": p.latency_rate },
            "idle": { "documents": p.idle_docs, "clients_per_document": p.idle_clients, "settle_s": p.idle_settle.as_secs_f64() },
            "scale": { "documents": p.scale_docs, "clients_per_document": p.scale_clients, "edits_per_s": p.scale_rate },
        },
        "scenarios": scenarios,
        "summary": summary,
    })
}
