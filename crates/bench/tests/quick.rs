//! `gapmap-bench relay --quick` end to end: every scenario runs against the
//! gapmap-relay built next to the bench (target/debug in CI) and, when node
//! and tests/js/node_modules are there, against the JavaScript reference
//! server, and the last line is a complete JSON report. Nothing here looks
//! at how fast anything was: the machines are shared and noisy.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn js_ready() -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    let has_node = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("node").is_file()));
    has_node
        && dir
            .join("node_modules/@automerge/automerge-repo/package.json")
            .is_file()
}

#[test]
fn relay_quick_reports_every_scenario() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_gapmap-bench"));
    let relay = bench.with_file_name(format!("gapmap-relay{}", std::env::consts::EXE_SUFFIX));
    if !relay.is_file() {
        // `cargo test -p gapmap-bench` alone does not build the relay;
        // CI builds every binary first.
        eprintln!("skipped: no gapmap-relay at {}", relay.display());
        return;
    }
    let js = js_ready();
    let mut cmd = Command::new(&bench);
    cmd.args(["relay", "--quick"])
        .env_remove("GAPMAP_BENCH_RELAY")
        .env_remove("RUST_LOG");
    if !js {
        eprintln!("no node or tests/js/node_modules: gapmap side only");
        cmd.arg("--no-js");
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gapmap-bench relay --quick failed: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["bench"], "relay");
    assert_eq!(json["quick"], true);

    let scenarios = &json["scenarios"];
    let servers: &[&str] = if js {
        &["gapmap", "reference"]
    } else {
        &["gapmap"]
    };
    for scenario in ["throughput", "latency", "idle"] {
        for server in servers {
            let runs = scenarios[scenario][server]["runs"]
                .as_array()
                .unwrap_or_else(|| panic!("no {scenario} runs for {server}: {json}"));
            assert!(!runs.is_empty(), "{scenario}/{server}");
            for run in runs {
                assert_eq!(run["problems"], 0, "{scenario}/{server}: {run}");
                assert!(run["connections"].as_u64().unwrap() > 0, "{run}");
                let keys: &[&str] = match scenario {
                    "idle" => &["rss_before_kib", "rss_after_kib", "rss_per_connection_kib"],
                    "throughput" => &["edits_per_s", "deliveries_per_s", "p50_ms", "p99_ms"],
                    _ => &["edits_per_s", "p50_ms", "p99_ms", "max_ms", "lost"],
                };
                for key in keys {
                    assert!(
                        run[key].is_number(),
                        "{scenario}/{server}: no {key} in {run}"
                    );
                }
            }
        }
    }
    let scale = &scenarios["scale"]["gapmap"]["runs"][0];
    for key in ["p50_ms", "p99_ms", "max_ms", "lost", "connections"] {
        assert!(scale[key].is_number(), "scale: no {key} in {scale}");
    }
    assert_eq!(scale["problems"], 0, "{scale}");

    // Every figure of the summary table is in the JSON, with its ratio when
    // both servers ran.
    let summary = json["summary"].as_array().unwrap();
    assert!(summary.len() >= 10, "{summary:?}");
    for row in summary {
        assert!(row["gapmap"].is_number(), "{row}");
        if js && row["reference"].is_number() {
            assert!(
                row["ratio_gapmap_over_reference"].is_number()
                    || row["figure"] == "arrivals not in 3 s after the window",
                "{row}"
            );
        }
    }
    assert!(stdout.contains("gapmap/ref"));
}
