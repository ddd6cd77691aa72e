//! `gapmap-bench relay --quick` end to end: every scenario runs against the
//! gapmap-relay built next to the bench (target/debug in CI) and the
//! JavaScript reference server, under both loads (the Rust swarm and
//! automerge-repo Repos in node), and the last line is a complete JSON
//! report. Nothing here looks at how fast anything was: the machines are
//! shared and noisy.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// node and the pinned packages, or the reason this test cannot run: a
/// missing JavaScript side fails the test rather than hiding half of it.
fn require_js() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    let has_node = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("node").is_file()));
    assert!(
        has_node,
        "no `node` on PATH: the relay bench's JavaScript load and reference server need \
         Node.js 20+ (scripts/test installs them)"
    );
    assert!(
        dir.join("node_modules/@automerge/automerge-repo/package.json")
            .is_file(),
        "{} has no node_modules: run `npm ci` there (scripts/test installs them)",
        dir.display()
    );
}

/// Every run of `scenario` on `server` in `scenarios`: present, clean, and
/// carrying each of `keys` as a number.
fn check_runs(scenarios: &Value, scenario: &str, server: &str, keys: &[&str]) -> Vec<Value> {
    let runs = scenarios[scenario][server]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no {scenario} runs for {server}: {scenarios}"));
    assert!(!runs.is_empty(), "{scenario}/{server}");
    for run in runs {
        assert_eq!(run["problems"], 0, "{scenario}/{server}: {run}");
        assert!(run["connections"].as_u64().unwrap() > 0, "{run}");
        for key in keys {
            assert!(
                run[key].is_number(),
                "{scenario}/{server}: no {key} in {run}"
            );
        }
    }
    runs.clone()
}

/// The figures each scenario reports, under either load.
fn keys(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "idle" => &[
            "rss_before_kib",
            "rss_after_kib",
            "rss_hwm_kib",
            "rss_per_connection_kib",
            "load_rss_kib",
        ],
        "throughput" => &[
            "edits_per_s",
            "deliveries_per_s",
            "p50_ms",
            "p99_ms",
            "delivered_edits",
            "server_cpu_s",
            "server_cpu_percent",
            "server_cpu_ms_per_edit",
            "server_rss_kib",
            "server_hwm_kib",
            "load_cpu_percent",
            "load_cpu_ms_per_edit",
            "messages_per_edit",
            "bytes_per_edit",
        ],
        _ => &[
            "edits_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "lost",
            "delivered_edits",
            "server_cpu_s",
            "server_cpu_ms_per_edit",
            "server_rss_kib",
        ],
    }
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
    require_js();
    let out = Command::new(&bench)
        .args(["relay", "--quick"])
        .env_remove("GAPMAP_BENCH_RELAY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gapmap-bench relay --quick failed: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["bench"], "relay");
    assert_eq!(json["quick"], true);
    assert!(
        json["load_average"]["start"].is_array(),
        "{}",
        json["load_average"]
    );

    for scenario in ["throughput", "latency", "idle"] {
        for server in ["gapmap", "reference"] {
            check_runs(&json["scenarios"], scenario, server, keys(scenario));
            let runs = check_runs(&json["scenarios_js"], scenario, server, keys(scenario));
            // Each of the JS load's runs says where the server and the
            // clients ran; pinned, never on the same CPUs.
            for run in &runs {
                let (s, l) = (&run["server_cpus"], &run["load_cpus"]);
                assert!(s.is_string() && l.is_string(), "{run}");
                if json["loads"]["js"]["pinned"] == true {
                    assert_ne!(s, l, "{run}");
                }
            }
        }
    }
    let js = &json["loads"]["js"];
    assert!(js["pinned"].is_boolean(), "{js}");
    assert!(js["processes"].as_u64().unwrap() >= 1, "{js}");
    let scale = &json["scenarios"]["scale"]["gapmap"]["runs"][0];
    for key in ["p50_ms", "p99_ms", "max_ms", "lost", "connections"] {
        assert!(scale[key].is_number(), "scale: no {key} in {scale}");
    }
    assert_eq!(scale["problems"], 0, "{scale}");
    assert!(
        json["scenarios_js"]["scale"].is_null(),
        "scale runs under the rust load only"
    );

    // Every figure of the summary table is in the JSON, with its ratio when
    // both servers ran; the headline figures are there for both loads.
    let summary = json["summary"].as_array().unwrap();
    for row in summary {
        assert!(row["gapmap"].is_number(), "{row}");
        if row["reference"].is_number() {
            assert!(
                row["ratio_gapmap_over_reference"].is_number()
                    || row["figure"] == "arrivals not in 3 s after the window",
                "{row}"
            );
        }
    }
    for load in ["rust", "js"] {
        for figure in [
            "delivered edits/s",
            "p99 ms",
            "server CPU ms / edit",
            "RSS KiB / connection",
        ] {
            assert!(
                summary.iter().any(|r| r["load"] == load
                    && r["figure"] == figure
                    && r["ratio_gapmap_over_reference"].is_number()),
                "no {figure} row with a ratio under the {load} load: {summary:?}"
            );
        }
    }
    let cpu_target = summary
        .iter()
        .find(|r| {
            r["load"] == "js" && r["figure"] == "server CPU ms / edit" && r["target"].is_string()
        })
        .unwrap_or_else(|| panic!("no CPU-per-edit target row: {summary:?}"));
    assert!(
        cpu_target["met"].is_null(),
        "--quick judges no target: {cpu_target}"
    );
    assert!(stdout.contains("gapmap/ref"));
}
