//! Running the programs under test as whole processes, the way a user or a
//! script runs them, and timing them from outside.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// A finished run: its output and how long the process lived.
pub struct Run {
    /// Wall time from spawn to exit, pipes drained.
    pub elapsed: Duration,
    /// Standard output, trimmed.
    pub stdout: String,
}

/// Runs `program args…` to completion; an exit other than 0 is an error
/// carrying its stderr, so a broken build never passes for a fast one.
pub fn run<I, S>(program: &Path, args: I) -> Result<Run>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    // The caller's own gapmap settings must not leak into a measured run
    // (another author name would create an actor and a member every time).
    for var in ["GAPMAP_HOME", "GAPMAP_NAME", "RUST_LOG"] {
        cmd.env_remove(var);
    }
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!(
            "{shown} failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    Ok(Run {
        elapsed,
        stdout: String::from_utf8_lossy(&stdout).trim().to_string(),
    })
}

/// The `gapmap` binary: `explicit` if given, else the one built next to this
/// benchmark (`target/release/gapmap` beside `target/release/gapmap-bench`).
pub fn locate_gapmap(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--gapmap {}: no such file", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let beside = exe
        .parent()
        .map(|dir| dir.join(format!("gapmap{}", std::env::consts::EXE_SUFFIX)));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "no gapmap binary beside {}: build both first with \
             `cargo build --release -p gapmap -p gapmap-bench`, or pass --gapmap PATH",
            exe.display()
        ),
    }
}

/// Finds `name` on `PATH` (or takes it as a path when it has a slash).
pub fn which(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.components().count() > 1 {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Copies the directory tree `from` to `to`, replacing whatever `to` held:
/// each timed run starts from the same pristine store.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("cannot clear {}", to.display()))?;
    }
    copy_into(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

fn copy_into(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_into(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_replaces_the_target() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
        std::fs::create_dir_all(from.join("db/sub")).unwrap();
        std::fs::write(from.join("db/sub/conf"), "a").unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(to.join("stale"), "b").unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("db/sub/conf")).unwrap(),
            "a"
        );
        assert!(!to.join("stale").exists());
    }
}
