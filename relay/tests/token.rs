//! The relay binary's own small commands. (This test also makes `cargo test`
//! build the `gapmap-relay` binary that gapmap-tests drives.)

use std::process::Command;

#[test]
fn token_new_prints_a_fresh_secret() {
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_gapmap-relay"))
            .args(["token", "new"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn running_without_a_choice_of_access_is_a_one_line_error() {
    let dir = std::env::temp_dir().join(format!("gapmap-relay-usage-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_gapmap-relay"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--tokens") && err.contains("--open"), "{err}");
}
