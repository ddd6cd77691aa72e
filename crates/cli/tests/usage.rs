//! Usage errors exit 2 before touching any store. (This test also makes
//! `cargo test` build the `gapmap` binary that gapmap-tests drives.)

use std::process::Command;

#[test]
fn bad_usage_exits_2() {
    let home = std::env::temp_dir().join("gapmap-usage-never-created");
    let out = Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["--home", home.to_str().unwrap(), "add"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!home.exists(), "usage errors must not create a store");
}

#[test]
fn completions_print_a_script() {
    let out = Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("gapmap"));
}
