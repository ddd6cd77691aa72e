//! The report of `gapmap-bench add`: tables for people, then one JSON line
//! with every figure for scripts and for docs/benchmarks.md.

use serde_json::{json, Map, Value};

use crate::add::{AddReport, SizeReport};
use crate::phases;

/// The canvas size the target is about.
const TARGET_NOTES: usize = 2_000;
use crate::stats::{ratio, round3, Samples};

/// Prints the tables and the final JSON line to stdout.
pub fn print(report: &AddReport) {
    println!("{}", tables(report));
    println!("{}", to_json(report));
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{r:.2}×"))
}

fn fmt_ms(s: &Samples) -> String {
    if s.ms.is_empty() {
        "–".to_string()
    } else {
        format!("{:.1}", s.median())
    }
}

/// The smallest size, which the growth ratios are relative to.
fn base(report: &AddReport) -> Option<&SizeReport> {
    report.sizes.first()
}

/// The human-readable tables.
pub fn tables(report: &AddReport) -> String {
    let mut out = String::new();
    let js = match &report.js_versions {
        Some((node, repo)) => format!("automerge-repo {repo} + nodefs storage (node {node})"),
        None => "no JS side (--no-js)".to_string(),
    };
    out += &format!(
        "\n`gapmap add` vs the same load-change-save with {js}\n\
         whole processes, {} runs each after a warm-up, alternating; times in ms\n\n",
        report.runs
    );
    out += &format!(
        "{:>6} {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>9} | {:>12} {:>8}\n",
        "notes",
        "changes",
        "doc KiB",
        "gapmap",
        "p90",
        "JS",
        "p90",
        "JS/gapmap",
        "gapmap/base",
        "JS/base"
    );
    let base = base(report);
    for s in &report.sizes {
        let (gb, jb) = base.map_or((0.0, 0.0), |b| (b.gapmap.median(), b.js.median()));
        out += &format!(
            "{:>6} {:>8} {:>8} | {:>8} {:>8.1} | {:>8} {:>8} | {:>9} | {:>12} {:>8}\n",
            s.notes,
            s.changes,
            s.doc_bytes / 1024,
            fmt_ms(&s.gapmap),
            s.gapmap.p90(),
            fmt_ms(&s.js),
            if s.js.ms.is_empty() {
                "–".into()
            } else {
                format!("{:.1}", s.js.p90())
            },
            fmt_ratio(ratio(s.js.median(), s.gapmap.median())),
            fmt_ratio(ratio(s.gapmap.median(), gb)),
            fmt_ratio(ratio(s.js.median(), jb)),
        );
    }

    out += &format!(
        "\nprocess start alone: `gapmap --version` {} ms; `node -e 0` {} ms; node + loading automerge-repo {} ms\n",
        fmt_ms(&report.gapmap_start),
        fmt_ms(&report.node_start),
        fmt_ms(&report.node_imports),
    );

    out += &format!(
        "\nwhere `gapmap add`'s time goes: median ms of each phase, replayed with the CLI's\n\
         library calls in a fresh process per run (alongside the runs above); then that\n\
         process's wall time beside the CLI's, and {} in-process reference runs\n",
        report.reference_runs
    );
    out += &format!("{:>6}", "notes");
    for (name, _) in report
        .sizes
        .first()
        .map_or(&[][..], |s| &s.gapmap_phases[..])
    {
        out += &format!(" {:>8}", name);
    }
    out += &format!(" | {:>7} {:>7} |", "replay", "CLI");
    for name in phases::REFERENCES {
        out += &format!(" {:>14}", name);
    }
    out += "\n";
    for s in &report.sizes {
        out += &format!("{:>6}", s.notes);
        for (_, samples) in &s.gapmap_phases {
            out += &format!(" {:>8.2}", samples.median());
        }
        out += &format!(
            " | {:>7} {:>7} |",
            fmt_ms(&s.phases_wall),
            fmt_ms(&s.gapmap)
        );
        for (_, samples) in &s.references {
            out += &format!(" {:>14.2}", samples.median());
        }
        out += "\n";
    }
    for (name, meaning) in phases::MEANING {
        out += &format!("  {name:<15} {meaning}\n");
    }
    out += &format!(
        "  (process start alone, `gapmap --version`: {} ms)\n",
        fmt_ms(&report.gapmap_start)
    );

    if report.js_versions.is_some() {
        out += "\nwhere the JS time goes: median ms between marks inside the node process\n";
        out += &format!("{:>6}", "notes");
        for name in crate::add::JS_MARKS.iter().chain(&["exit"]) {
            out += &format!(" {:>8}", name);
        }
        out += &format!(" | {:>7}\n", "wall");
        for s in &report.sizes {
            out += &format!("{:>6}", s.notes);
            for (_, samples) in &s.js_phases {
                out += &format!(" {:>8.1}", samples.median());
            }
            out += &format!(" | {:>7}\n", fmt_ms(&s.js));
        }
        out += "  boot = node start until the script runs; imports = loading automerge-repo (wasm);\n  \
                repo = new Repo; find = storage read + Automerge load; change = the note;\n  \
                flush = save to disk; exit = after the last mark until the process is gone\n";
    }

    if let Some(verdict) = verdict(report) {
        out += &format!("\n{verdict}\n");
    }
    out
}

/// The target's outcome on the canvas of `TARGET_NOTES`, when measured.
fn verdict(report: &AddReport) -> Option<String> {
    let Some(big) = report.sizes.iter().find(|s| s.notes == TARGET_NOTES) else {
        return Some(format!(
            "target not evaluated: no {TARGET_NOTES}-note canvas in this run"
        ));
    };
    let r = ratio(big.js.median(), big.gapmap.median())?;
    let met = if r >= report.target { "MET" } else { "NOT MET" };
    Some(format!(
        "target (gapmap ≥{:.0}× faster than JS on the {TARGET_NOTES}-note canvas): {met} — {r:.2}×",
        report.target
    ))
}

fn phases_json(phases: &[(&'static str, Samples)]) -> Value {
    let mut map = Map::new();
    for (name, samples) in phases {
        map.insert((*name).to_string(), samples.to_json());
    }
    Value::Object(map)
}

/// The JSON line with every figure.
pub fn to_json(report: &AddReport) -> Value {
    let base = base(report);
    let sizes: Vec<Value> = report
        .sizes
        .iter()
        .map(|s| {
            json!({
                "notes": s.notes,
                "changes": s.changes,
                "doc_bytes": s.doc_bytes,
                "build_ms": round3(s.build_ms),
                "gapmap": s.gapmap.to_json(),
                "js": if s.js.ms.is_empty() { Value::Null } else { s.js.to_json() },
                "ratio_js_over_gapmap": ratio(s.js.median(), s.gapmap.median()).map(round3),
                "ratio_over_base": {
                    "base_notes": base.map(|b| b.notes),
                    "gapmap": base.and_then(|b| ratio(s.gapmap.median(), b.gapmap.median())).map(round3),
                    "js": base.and_then(|b| ratio(s.js.median(), b.js.median())).map(round3),
                },
                "gapmap_phases": phases_json(&s.gapmap_phases),
                "gapmap_phases_wall": s.phases_wall.to_json(),
                "references": phases_json(&s.references),
                "js_phases": if s.js.ms.is_empty() { Value::Null } else { phases_json(&s.js_phases) },
            })
        })
        .collect();
    let target = report
        .sizes
        .iter()
        .find(|s| s.notes == TARGET_NOTES)
        .map(|big| {
            let r = ratio(big.js.median(), big.gapmap.median());
            json!({
                "notes": big.notes,
                "min_ratio": report.target,
                "ratio": r.map(round3),
                "met": r.map(|r| r >= report.target),
            })
        });
    json!({
        "bench": "add",
        "quick": report.quick,
        "runs": report.runs,
        "reference_runs": report.reference_runs,
        "machine": machine(),
        "gapmap": { "binary": report.gapmap.0, "version": report.gapmap.1 },
        "js": report.js_versions.as_ref().map(|(node, repo)| json!({ "node": node, "automerge_repo": repo })),
        "process_start": {
            "gapmap_version": report.gapmap_start.to_json(),
            "node_bare": if report.node_start.ms.is_empty() { Value::Null } else { report.node_start.to_json() },
            "node_imports": if report.node_imports.ms.is_empty() { Value::Null } else { report.node_imports.to_json() },
        },
        "sizes": sizes,
        "target": target,
    })
}

/// What the figures were measured on.
pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
    json!({ "cpus": cpus, "cpu": model, "os": std::env::consts::OS, "arch": std::env::consts::ARCH })
}
