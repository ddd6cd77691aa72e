//! The README's tour, run as a script: every ```sh block from "A 5-minute
//! tour" on, in a fresh directory and store, the built binaries on PATH and
//! a real relay for the "together" part. The only edits: free ports for the
//! relay (the README says 8080) and the board (7777), and `cargo` stubbed
//! out (the binaries are built already).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{bin, bin_dir, texts};
use gapmap_tests::free_port;

/// The ```sh blocks of `readme` after the heading `from`, in order.
fn sh_blocks(readme: &str, from: &str) -> Vec<String> {
    let start = readme.find(from).expect("the tour heading");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme[start..].lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// `gapmap --json ARGS` on the store at `home`.
fn gapmap_json(home: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin("gapmap"))
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .env_remove("GAPMAP_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme, "## A 5-minute tour");
    assert!(blocks.len() >= 6, "found {} sh blocks", blocks.len());
    let tour = blocks.join("\n");
    assert!(tour.contains("127.0.0.1:8080") && tour.contains("gapmap ui &"));
    let relay = format!("127.0.0.1:{}", free_port());
    let tour = tour
        .replace("127.0.0.1:8080", &relay)
        .replace("gapmap ui &", "gapmap ui --listen 127.0.0.1:0 &");
    let script = format!("set -euo pipefail\ncargo() {{ :; }}\n{tour}");

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("ana-store");
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    bin("gapmap-relay");
    let log = dir.path().join("tour.log");
    // Its own process group, so whatever the tour left running (the relay,
    // the board) is stopped with it.
    let mut child = Command::new("bash")
        .process_group(0)
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("GAPMAP_HOME", &home)
        .env_remove("GAPMAP_NAME")
        .env_remove("XDG_DATA_HOME")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .env("GAPMAP_MDNS_INTERFACE", "lo")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("tour.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signalling the process group of our own child.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
    let _ = child.wait();
    let status = status.expect("the tour finished within 180 s");
    let said = std::fs::read_to_string(&log).unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("tour.err")).unwrap();
    assert!(
        status.success(),
        "the tour failed ({status}):\n--- stdout\n{said}\n--- stderr\n{stderr}\n--- script\n{script}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Ana and Ben hold one canvas with both people's notes.
    let ana = gapmap_json(&home, &["show"]);
    let ben = gapmap_json(&dir.path().join("ben"), &["show"]);
    assert_eq!(ana["id"], ben["id"]);
    for show in [&ana, &ben] {
        assert!(texts(show, "constraint")
            .contains(&"Clients pay through a procurement portal".to_string()));
        assert!(texts(show, "design")
            .contains(&"Reminders written in the designer's own voice".to_string()));
    }
    // The NOW holds observations only: nothing of it moved into the GAP.
    assert_eq!(
        texts(&ana, "now"),
        [
            "Sends invoices by hand from a spreadsheet",
            "Chases late payments by email every Friday afternoon"
        ]
    );
    assert!(said.contains("merged into canvas"), "{said}");
    assert!(
        std::fs::metadata(dir.path().join("canvas.png"))
            .unwrap()
            .len()
            > 10_000
    );
    assert!(std::fs::read_to_string(dir.path().join("canvas.md"))
        .unwrap()
        .contains("# Freelance designers getting paid"));
}
