//! Running the real binaries against temporary stores.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub use gapmap_tests::{bin, bin_dir};

/// One user's store: a temporary `GAPMAP_HOME` and a name.
pub struct Store {
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
    /// The store directory.
    pub home: PathBuf,
    /// The author name passed as `--as`.
    pub name: String,
}

/// What a command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Store {
    pub fn new(name: &str) -> Store {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("store");
        Store {
            _dir: dir,
            home,
            name: name.to_string(),
        }
    }

    /// A `gapmap` command on this store, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("gapmap"));
        cmd.env_remove("GAPMAP_HOME")
            .env_remove("GAPMAP_NAME")
            .env_remove("GAPMAP_TOKEN")
            .env_remove("GAPMAP_SERVE_TOKEN")
            .env_remove("GAPMAP_REMOTE_TOKEN")
            .env("NO_COLOR", "1")
            // mDNS stays on this machine in tests.
            .env("GAPMAP_MDNS_INTERFACE", "lo")
            .env("COLUMNS", "120")
            .arg("--home")
            .arg(&self.home)
            .arg("--as")
            .arg(&self.name)
            .args(args);
        cmd
    }

    /// Runs `gapmap ARGS`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("spawn gapmap"))
    }

    /// Runs `gapmap ARGS` and insists it succeeds; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "gapmap {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            run.code, run.stdout, run.stderr
        );
        run.stdout.trim().to_string()
    }

    /// Runs `gapmap --json ARGS` and parses the output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("gapmap {args:?}: bad JSON ({e}): {out}"))
    }

    /// Runs `gapmap ARGS` and insists it fails as a user error (exit 1, one
    /// line on stderr); returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 1,
            "gapmap {args:?} should fail with exit 1:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "want one line on stderr, got: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        lines[0].to_string()
    }

    /// `show --json`.
    pub fn show(&self) -> Value {
        self.json(&["show"])
    }
}

/// The texts of a section in `show --json` output, in order.
pub fn texts(show: &Value, section: &str) -> Vec<String> {
    show["sections"][section]
        .as_array()
        .unwrap_or_else(|| panic!("no section {section} in {show}"))
        .iter()
        .map(|n| n["text"].as_str().unwrap().to_string())
        .collect()
}

/// Every note id in `show --json` output.
pub fn note_ids(show: &Value) -> Vec<String> {
    show["sections"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|notes| notes.as_array().unwrap().iter())
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

/// A small xorshift, seeded from the clock unless `GAPMAP_CRASH_SEED` is
/// set; the seed is printed so that a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(what: &str) -> Rng {
        let seed = std::env::var("GAPMAP_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{what}: GAPMAP_CRASH_SEED={seed}");
        Rng(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A count from the environment variable `var`, else `default`: the long
/// forms of the crash and fault loops (`scripts/crashloop`) raise them.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
