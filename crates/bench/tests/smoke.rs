//! The `add` scenario end to end on tiny canvases, so a change in the CLI it
//! drives (`config`, `import --json`, `use`, `add`) shows up in CI rather
//! than on the next benchmark run. Nothing here looks at the times.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn add_scenario_runs_and_reports_every_figure() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_gapmap-bench"));
    // `cargo test -p gapmap-bench` alone does not build the CLI: fail, with
    // the hint, rather than pass without running.
    gapmap_tests::bin("gapmap");
    let out = Command::new(&bench)
        .args(["add", "--no-js", "--sizes", "0,20", "--runs", "1"])
        .env_remove("GAPMAP_BENCH_GAPMAP")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gapmap-bench add failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let sizes = json["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[1]["notes"], 20);
    assert!(sizes[1]["changes"].as_u64().unwrap() >= 200);
    for size in sizes {
        assert!(size["gapmap"]["median_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(
            size["gapmap_phases"]["load"]["runs_ms"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(size["js"].is_null());
    }
    assert!(stdout.contains("where `gapmap add`'s time goes"));
}
