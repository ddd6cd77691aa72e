//! The servers under test, as child processes: `gapmap-relay --open` and the
//! JavaScript reference server (`tests/js/server.mjs`: an unmodified
//! automerge-repo Repo + WebSocketServerAdapter + NodeFSStorageAdapter with
//! its defaults). Each run gets a fresh process and an empty data directory.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `gapmap-relay`.
    Gapmap,
    /// automerge-repo 2.5 in node.
    Reference,
}

impl Kind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gapmap => "gapmap",
            Kind::Reference => "reference",
        }
    }
}

/// How to start each server.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The gapmap-relay binary.
    pub relay: PathBuf,
    /// node and the tests/js directory, when the reference side runs.
    pub js: Option<(PathBuf, PathBuf)>,
    /// Where the servers' data directories go [default: the system's
    /// temporary directory].
    pub data_root: Option<PathBuf>,
}

/// A running server.
pub struct Server {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    /// Its data directory, removed with it.
    _data: tempfile::TempDir,
}

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Server {
    /// Starts `kind` on a free loopback port with an empty data directory.
    pub fn start(kind: Kind, launch: &Launch) -> Result<Server> {
        Server::start_on(kind, launch, None)
    }

    /// Like [`Server::start`], running only on `cpus` when given.
    pub fn start_on(kind: Kind, launch: &Launch, cpus: Option<&[usize]>) -> Result<Server> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("gapmap-bench-server-");
            b
        };
        let data = match &launch.data_root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .context("cannot create a data directory")?;
        let (mut cmd, from_stderr) = match kind {
            Kind::Gapmap => {
                let mut cmd = Command::new(&launch.relay);
                cmd.args(["--listen", "127.0.0.1:0", "--open", "--data"])
                    .arg(data.path());
                // Its default logging (info), but no colours to parse around.
                cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
                (cmd, true)
            }
            Kind::Reference => {
                let (node, dir) = launch
                    .js
                    .as_ref()
                    .context("the reference server needs node and tests/js")?;
                let mut cmd = Command::new(node);
                cmd.arg(dir.join("server.mjs"))
                    .arg("0")
                    .arg(data.path())
                    .current_dir(dir);
                (cmd, false)
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpus) = cpus {
            crate::procfs::pin(&mut cmd, cpus);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (watched, other): (Box<dyn Read + Send>, Box<dyn Read + Send>) = if from_stderr {
            (Box::new(stderr), Box::new(stdout))
        } else {
            (Box::new(stdout), Box::new(stderr))
        };
        // Both pipes are drained for the server's whole life, so its logging
        // never blocks it; the first line announcing the port is passed on.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(watched).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(port) = listening_port(&line) {
                        let _ = tx.send(Ok(port));
                        sent = true;
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err(()));
            }
        });
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut BufReader::new(other), &mut std::io::sink());
        });
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(port)) => port,
            _ => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!(
                    "{} did not start listening within {START_TIMEOUT:?} ({status:?})",
                    kind.name()
                );
            }
        };
        Ok(Server {
            url: format!("ws://127.0.0.1:{port}"),
            child,
            _data: data,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL if it is still there after a few seconds.
    pub fn stop(mut self) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: signalling our own child, whose pid we hold and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in a server's "listening" line: the relay logs
/// `… gapmap-relay listening (ws://) address=127.0.0.1:PORT`, server.mjs
/// prints `listening PORT`.
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("listening") {
        return None;
    }
    if let Some(rest) = line.split("address=").nth(1) {
        let addr = rest.split_whitespace().next()?;
        return addr.rsplit(':').next()?.parse().ok();
    }
    line.trim().strip_prefix("listening ")?.trim().parse().ok()
}

/// VmRSS of `pid`, KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    crate::procfs::memory(pid)
        .map(|m| m.rss_kib)
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// The `gapmap-relay` beside this program, or `explicit`.
pub fn locate_relay(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--relay {}: no such file", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let beside = exe
        .parent()
        .map(|dir| dir.join(format!("gapmap-relay{}", std::env::consts::EXE_SUFFIX)));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "no gapmap-relay beside {}: build it first with \
             `cargo build --release -p gapmap-relay -p gapmap-bench`, or pass --relay PATH",
            exe.display()
        ),
    }
}

/// Raises this process's open-file limit to its hard limit (children
/// inherit it): 10,000 connections need 10,000 descriptors on each side.
pub fn raise_fd_limit() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_in_either_servers_line() {
        assert_eq!(
            listening_port(
                "2026-11-23T15:00:00Z  INFO gapmap_relay: gapmap-relay listening (ws://) address=127.0.0.1:40123"
            ),
            Some(40123)
        );
        assert_eq!(listening_port("listening 5678"), Some(5678));
        assert_eq!(listening_port("draining connections"), None);
    }
}
