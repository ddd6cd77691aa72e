//! The JavaScript load generator: unmodified automerge-repo 2.5 clients in a
//! few node processes (`tests/js/bench-relay.mjs`), on the same documents
//! pattern as the Rust swarm (`swarm.rs`) — each document's clients all in
//! one process, so each process knows when an edit reached a document's
//! other clients and reports what it measured.
//!
//! The processes take their orders as JSON lines on stdin and answer on
//! stdout (the protocol is in the header of the script). Windows are sent as
//! milliseconds since the Unix epoch: node's `performance.timeOrigin +
//! performance.now()` and this process's clock are the same clock on one
//! machine.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::swarm::{Shape, SwarmStats};

/// The script, in the tests/js directory.
const SCRIPT: &str = "bench-relay.mjs";

/// How long a process may take to report after `stop`.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the node processes.
#[derive(Clone, Debug)]
pub struct JsLoad {
    /// The node binary.
    pub node: PathBuf,
    /// tests/js, holding the script and its node_modules.
    pub dir: PathBuf,
    /// Node processes; the documents are split evenly over them.
    pub processes: usize,
    /// The CPUs the processes run on, when pinned.
    pub cpus: Option<Vec<usize>>,
}

/// One node process of the load.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    /// Its stderr, kept for the error message if it fails.
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// A gathered JavaScript load: every client connected and in sync.
pub struct JsSwarm {
    procs: Vec<Proc>,
    /// How long starting the processes, connecting and the first sync took.
    pub gathered_in: Duration,
    /// Connections open, over every process.
    pub connections: usize,
    /// Finds retried because the server did not hold the document yet.
    pub find_retries: u64,
}

/// `at` as milliseconds since the Unix epoch.
fn epoch_ms(at: Instant) -> f64 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3;
    if at >= now {
        wall + (at - now).as_secs_f64() * 1e3
    } else {
        wall - (now - at).as_secs_f64() * 1e3
    }
}

/// Splits `docs` documents over at most `processes` processes: the first
/// index and the count of each, none empty.
fn split(docs: usize, processes: usize) -> Vec<(usize, usize)> {
    let n = processes.clamp(1, docs.max(1));
    let (base, extra) = (docs / n, docs % n);
    let mut first = 0;
    let mut parts = Vec::with_capacity(n);
    for p in 0..n {
        let count = base + usize::from(p < extra);
        if count > 0 {
            parts.push((first, count));
        }
        first += count;
    }
    parts
}

impl Proc {
    fn spawn(load: &JsLoad, config: &Value) -> Result<Proc> {
        let mut cmd = Command::new(&load.node);
        cmd.arg(load.dir.join(SCRIPT))
            .arg(config.to_string())
            .current_dir(&load.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cpus) = &load.cpus {
            crate::procfs::pin(&mut cmd, cpus);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut stderr = child.stderr.take().context("no stderr")?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Proc {
            child,
            stdin,
            lines,
            stderr: Some(stderr),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, command: &Value) {
        // A process that died cannot take orders; its missing report says so.
        let _ = writeln!(self.stdin, "{command}").and_then(|()| self.stdin.flush());
    }

    /// The next JSON line carrying `key`; an `error` line, an exit or the
    /// deadline is an error.
    async fn expect(&mut self, key: &str, deadline: tokio::time::Instant) -> Result<Value> {
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => bail!("no {key:?} from {SCRIPT} in time"),
                Ok(None) => {
                    let status = self.child.wait().ok();
                    bail!("{SCRIPT} ended ({status:?}) before its {key:?} line");
                }
                Ok(Some(line)) => line,
            };
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue; // a stray line from a library; not ours
            };
            if let Some(err) = value["error"].as_str() {
                bail!("{SCRIPT}: {err}");
            }
            if !value[key].is_null() {
                return Ok(value);
            }
        }
    }

    /// Kills it (if still running) and returns what it wrote on stderr.
    fn finish(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Proc {
    /// No node process outlives the scenario, whatever ended it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl JsSwarm {
    /// Starts the processes, each with its share of the documents, and
    /// waits until every one has every client in sync.
    pub async fn gather(shape: &Shape, load: &JsLoad) -> Result<JsSwarm> {
        let started = Instant::now();
        let url = shape
            .urls
            .first()
            .context("the JavaScript load needs a server URL")?;
        if shape.urls.len() > 1 {
            bail!(
                "the JavaScript load drives one server, not {}",
                shape.urls.len()
            );
        }
        let tag = format!("{:08x}", rand::random::<u32>());
        let mut procs = Vec::new();
        for (first, docs) in split(shape.docs, load.processes) {
            let config = json!({
                "url": url,
                "docs": docs,
                "first": first,
                "total": shape.docs,
                "clients": shape.clients_per_doc,
                "writers": shape.writers_per_doc.max(1),
                "tag": tag,
                "readyTimeoutMs": shape.ready_timeout.as_millis() as u64,
            });
            match Proc::spawn(load, &config) {
                Ok(p) => procs.push(p),
                Err(e) => return Err(e),
            }
        }
        let deadline = tokio::time::Instant::now() + shape.ready_timeout + Duration::from_secs(10);
        let mut connections = 0;
        let mut find_retries = 0;
        let mut failure = None;
        for (i, p) in procs.iter_mut().enumerate() {
            match p.expect("ready", deadline).await {
                Ok(ready) => {
                    connections += ready["connections"].as_u64().unwrap_or(0) as usize;
                    find_retries += ready["find_retries"].as_u64().unwrap_or(0);
                }
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        if let Some((i, e)) = failure {
            let mut stderr = String::new();
            for (k, p) in procs.iter_mut().enumerate() {
                let text = p.finish();
                if k == i {
                    stderr = text;
                }
            }
            let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            bail!("node process {i} of the JavaScript load: {e:#} (stderr: {tail})");
        }
        Ok(JsSwarm {
            procs,
            gathered_in: started.elapsed(),
            connections,
            find_retries,
        })
    }

    /// The node processes' ids, for their CPU and memory.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }

    fn broadcast(&mut self, command: &Value) {
        for p in &mut self.procs {
            p.send(command);
        }
    }

    /// Closed loop from now, measured from `from` to `until`; returns when
    /// done (new edits stop at `until`).
    pub async fn closed_loop(&mut self, from: Instant, until: Instant) {
        self.broadcast(&json!({
            "cmd": "closed",
            "from": epoch_ms(from),
            "until": epoch_ms(until),
        }));
        tokio::time::sleep_until((until + Duration::from_millis(50)).into()).await;
        self.broadcast(&json!({ "cmd": "hold" }));
    }

    /// Each document edits every `period` from `first` (staggered),
    /// measured from `from` to `until`, then `drain` for the last arrivals.
    pub async fn fixed_rate(
        &mut self,
        period: Duration,
        first: Instant,
        from: Instant,
        until: Instant,
        drain: Duration,
    ) {
        self.broadcast(&json!({
            "cmd": "rate",
            "first": epoch_ms(first),
            "period": period.as_secs_f64() * 1e3,
            "from": epoch_ms(from),
            "until": epoch_ms(until),
        }));
        tokio::time::sleep_until((until + drain).into()).await;
    }

    /// Stops every process and sums what they measured; a process that
    /// reports nothing is a problem in the figures.
    pub async fn stop(mut self) -> SwarmStats {
        self.broadcast(&json!({ "cmd": "stop" }));
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        let mut total = SwarmStats::default();
        for (i, p) in self.procs.iter_mut().enumerate() {
            match p.expect("stats", deadline).await {
                Ok(v) => merge(&mut total, &v["stats"]),
                Err(e) => {
                    total.problem_count += 1;
                    total.problems.push(format!("node process {i}: {e:#}"));
                }
            }
            p.finish();
        }
        total
    }
}

/// Adds one process's `stats` object to `total`.
fn merge(total: &mut SwarmStats, stats: &Value) {
    let n = |key: &str| stats[key].as_u64().unwrap_or(0);
    if let Some(l) = stats["latencies_ms"].as_array() {
        total
            .latencies_ms
            .extend(l.iter().filter_map(Value::as_f64));
    }
    total.edits_delivered += n("edits_delivered");
    total.deliveries += n("deliveries");
    total.edits_made += n("edits_made");
    total.lost += n("lost");
    total.messages_received += n("messages_received");
    total.bytes_received += n("bytes_received");
    total.problem_count += n("problem_count") as usize;
    for p in stats["problems"].as_array().into_iter().flatten() {
        if total.problems.len() < 5 {
            total
                .problems
                .push(p.as_str().unwrap_or_default().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_evenly_and_none_empty() {
        assert_eq!(split(100, 4), vec![(0, 25), (25, 25), (50, 25), (75, 25)]);
        assert_eq!(split(10, 4), vec![(0, 3), (3, 3), (6, 2), (8, 2)]);
        assert_eq!(split(2, 4), vec![(0, 1), (1, 1)]);
        assert_eq!(split(5, 0), vec![(0, 5)]);
    }

    #[test]
    fn process_reports_add_up() {
        let mut total = SwarmStats::default();
        for _ in 0..2 {
            merge(
                &mut total,
                &json!({"latencies_ms": [1.5, 2.0], "edits_delivered": 3, "deliveries": 9,
                        "edits_made": 4, "lost": 1, "messages_received": 5, "bytes_received": 700,
                        "problem_count": 1, "problems": ["x"]}),
            );
        }
        assert_eq!(total.latencies_ms, vec![1.5, 2.0, 1.5, 2.0]);
        assert_eq!((total.edits_delivered, total.deliveries), (6, 18));
        assert_eq!((total.edits_made, total.lost), (8, 2));
        assert_eq!((total.messages_received, total.bytes_received), (10, 1400));
        assert_eq!(total.problem_count, 2);
        assert_eq!(total.problems, vec!["x", "x"]);
    }

    #[test]
    fn epoch_milliseconds_move_with_instants() {
        let now = Instant::now();
        let later = epoch_ms(now + Duration::from_secs(2));
        let earlier = epoch_ms(now - Duration::from_secs(1));
        assert!(
            (later - earlier - 3_000.0).abs() < 50.0,
            "{later} {earlier}"
        );
    }
}
