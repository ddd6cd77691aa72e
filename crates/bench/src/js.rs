//! The JavaScript stack gapmap is compared with: automerge-repo 2.5 and its
//! Node filesystem storage, driven by `tests/js/bench-add.mjs` as whole node
//! processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::procs;

/// The script, relative to the JS package directory.
const SCRIPT: &str = "bench-add.mjs";

/// `tests/js` of the source tree this benchmark was built from.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// A ready JavaScript side: node found, packages installed.
pub struct Js {
    /// The node binary.
    node: PathBuf,
    /// `bench-add.mjs`.
    script: PathBuf,
}

/// One finished run of the script.
pub struct JsRun {
    /// Wall time of the whole node process.
    pub elapsed: Duration,
    /// The script's JSON line.
    pub output: Value,
}

impl JsRun {
    /// The script's own marks, ms since process start, by name.
    pub fn phases(&self) -> BTreeMap<String, f64> {
        self.output["phases"]
            .as_object()
            .map(|marks| {
                marks
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Js {
    /// Finds node and the script in `dir`; runs `npm ci` there when the
    /// packages (pinned by its package-lock.json) are not installed yet.
    pub fn prepare(dir: &Path, node: &str) -> Result<Js> {
        let node = procs::which(node).with_context(|| {
            format!("no `{node}` on PATH: install Node.js 20+ (apt-get install nodejs npm), or pass --no-js")
        })?;
        let script = dir.join(SCRIPT);
        if !script.is_file() {
            bail!(
                "{} not found: pass --js-dir (the tests/js directory of gapmap)",
                script.display()
            );
        }
        if !dir.join("package.json").is_file() {
            bail!(
                "{} has no package.json yet: it pins @automerge/automerge-repo 2.5; wait for it or pass --no-js",
                dir.display()
            );
        }
        let installed =
            dir.join("node_modules/@automerge/automerge-repo-storage-nodefs/package.json");
        if !installed.is_file() {
            eprintln!(
                "installing the pinned JavaScript packages: npm ci in {}",
                dir.display()
            );
            let npm = procs::which("npm")
                .context("no `npm` on PATH: install it, or run `npm ci` in tests/js yourself")?;
            let status = std::process::Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir)
                .status()
                .context("cannot run npm ci")?;
            if !status.success() {
                bail!("npm ci in {} failed ({status})", dir.display());
            }
        }
        Ok(Js { node, script })
    }

    /// The installed automerge-repo version, for the record.
    pub fn repo_version(&self) -> Option<String> {
        let manifest = self
            .script
            .parent()?
            .join("node_modules/@automerge/automerge-repo/package.json");
        let json: Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
        Some(json["version"].as_str()?.to_string())
    }

    /// The node version, for the record.
    pub fn node_version(&self) -> Option<String> {
        Some(procs::run(&self.node, ["--version"]).ok()?.stdout)
    }

    fn script(&self, args: &[&Path]) -> Result<JsRun> {
        let mut argv = vec![self.script.as_os_str()];
        argv.extend(args.iter().map(|a| a.as_os_str()));
        let run = procs::run(&self.node, argv)?;
        let line = run.stdout.lines().last().unwrap_or_default();
        let output = serde_json::from_str(line)
            .with_context(|| format!("{SCRIPT} printed {:?}", run.stdout))?;
        Ok(JsRun {
            elapsed: run.elapsed,
            output,
        })
    }

    /// Imports `file` into a fresh repo storage at `dir`; returns the URL.
    pub fn setup(&self, dir: &Path, file: &Path) -> Result<String> {
        let run = self.script(&[Path::new("setup"), dir, file])?;
        match run.output["url"].as_str() {
            Some(url) => Ok(url.to_string()),
            None => bail!("{SCRIPT} setup printed no url: {}", run.output),
        }
    }

    /// One load-change-save of `url` in `dir`.
    pub fn add(&self, dir: &Path, url: &str) -> Result<JsRun> {
        self.script(&[Path::new("add"), dir, Path::new(url)])
    }

    /// Node start plus loading the automerge-repo modules, nothing else.
    pub fn noop(&self) -> Result<JsRun> {
        self.script(&[Path::new("noop")])
    }

    /// `node -e 0`: the bare interpreter's start and exit.
    pub fn bare_start(&self) -> Result<Duration> {
        Ok(procs::run(&self.node, ["-e", "0"])?.elapsed)
    }
}
