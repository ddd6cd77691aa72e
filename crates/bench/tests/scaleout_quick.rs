//! `gapmap-bench scaleout --quick` end to end: a real redis-server, one to
//! three gapmap-relay instances on it and one on sled, all built next to the
//! bench (target/debug in CI), and the last line is a complete JSON report.
//! Nothing here looks at how fast anything was: the machines are shared and
//! noisy.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn scaleout_quick_reports_every_configuration() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_gapmap-bench"));
    // `cargo test -p gapmap-bench` alone does not build the relay: fail,
    // with the hint, rather than pass without running.
    gapmap_tests::bin("gapmap-relay");
    gapmap_tests::require_redis_server();
    let out = Command::new(&bench)
        .args(["scaleout", "--quick"])
        .env_remove("GAPMAP_BENCH_RELAY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gapmap-bench scaleout --quick failed: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["bench"], "scaleout");
    assert_eq!(json["quick"], true);
    assert!(json["versions"]["redis_server"].is_string(), "{json}");

    let summary = json["summary"].as_array().unwrap();
    let names: Vec<&str> = summary
        .iter()
        .map(|r| r["configuration"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sled", "redis x1", "redis x2", "redis x3"]);
    for row in summary {
        assert_eq!(row["problems"], 0, "{row}");
        for key in [
            "edits_per_s",
            "throughput_p99_ms",
            "latency_edits_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "lost",
            "edits_per_s_over_sled",
            "p99_over_sled",
            "relays_cpu_ms_per_edit",
            "relays_cores_at_latency_rate",
        ] {
            assert!(row[key].is_number(), "no {key} in {row}");
        }
        if row["backend"] == "redis" {
            for key in ["redis_cpu_ms_per_edit", "redis_cores_at_latency_rate"] {
                assert!(row[key].is_number(), "no {key} in {row}");
            }
        }
    }
    // Every run of every configuration is kept, with the relays it used.
    let configurations = json["configurations"].as_array().unwrap();
    assert_eq!(configurations.len(), 4);
    for c in configurations {
        for scenario in ["throughput", "latency"] {
            let runs = c[scenario].as_array().unwrap();
            assert_eq!(runs.len(), 1, "{c}");
            assert_eq!(runs[0]["relays"], c["relays"], "{c}");
            assert!(runs[0]["connections"].as_u64().unwrap() > 0, "{c}");
        }
    }
    assert!(stdout.contains("x sled"));
}
