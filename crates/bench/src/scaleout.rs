//! `gapmap-bench scaleout`: several gapmap-relay instances sharing one Redis
//! (`--backend redis://…`, docs/scaling.md) against one relay on its own
//! sled store, in one invocation, with the same workload.
//!
//! For each configuration — `sled` (one relay, no `--backend`), then 1, 2
//! and 3 relays on one `redis-server` — this starts fresh processes (a Redis
//! with its append-only file fsynced on every write, as docs/scaling.md asks
//! of production; relays with empty data directories), waits until every
//! relay answers `/healthz` and reports `gapmap_storage_up 1`, then runs the
//! `throughput` and `latency` scenarios of `gapmap-bench relay` against them
//! with `--relay-url` once per relay. The load generator spreads each
//! document's 4 clients round-robin over the relays, so with 2 or 3 relays a
//! document's clients sit on different relays and every delivered edit
//! crosses Redis. The load generator is that `relay` scenario itself, run
//! as a child process of this one (`gapmap-bench relay --no-js --only …`),
//! so the two benchmarks measure with the same code.
//!
//! Beside the figures of each run, the CPU time the relays and Redis spent
//! during it (from /proc) is recorded: the per-relay and per-Redis-node
//! costs the capacity model of docs/scaling.md extrapolates from.
//!
//! Everything runs on one machine, so adding relays adds no CPU: the point
//! is the curve and the overhead against sled, not absolute scaling.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use crate::relay::servers::locate_relay;
use crate::stats::{median, ratio, round3};

/// Options of `gapmap-bench scaleout`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScaleoutArgs {
    /// A smoke run (seconds): tiny swarms, one round, short windows.
    #[arg(long)]
    pub quick: bool,
    /// Relay counts to run on one Redis.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,3",
        value_name = "N,…"
    )]
    pub relays: Vec<usize>,
    /// Leave out the sled baseline.
    #[arg(long)]
    pub no_sled: bool,
    /// Rounds of every configuration, alternating the order
    /// [default: 2, --quick: 1].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Measured seconds of each throughput and latency window
    /// [default: 20, --quick: 0.75].
    #[arg(long, value_name = "SECONDS")]
    pub seconds: Option<f64>,
    /// The gapmap-relay binary [default: beside this program].
    #[arg(long, value_name = "PATH", env = "GAPMAP_BENCH_RELAY")]
    pub relay: Option<PathBuf>,
    /// The redis-server binary [default: on PATH, or /usr/bin].
    #[arg(long, value_name = "PATH")]
    pub redis_server: Option<PathBuf>,
}

/// One configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// One relay on its own sled store.
    Sled,
    /// This many relays on one Redis.
    Redis(usize),
}

impl Config {
    fn name(self) -> String {
        match self {
            Config::Sled => "sled".into(),
            Config::Redis(n) => format!("redis x{n}"),
        }
    }

    fn relays(self) -> usize {
        match self {
            Config::Sled => 1,
            Config::Redis(n) => n,
        }
    }
}

/// The two scenarios of `gapmap-bench relay` each configuration runs.
const SCENARIOS: [&str; 2] = ["throughput", "latency"];

/// How long a relay or Redis may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs every configuration and prints the table, then the JSON line.
pub fn run(args: &ScaleoutArgs) -> Result<()> {
    let relay = locate_relay(args.relay.as_deref())?;
    let redis = locate_redis(args.redis_server.as_deref())?;
    let bench = std::env::current_exe().context("cannot find this program's own path")?;
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 2 }).max(1);
    let seconds = args.seconds.unwrap_or(if args.quick { 0.75 } else { 20.0 });
    let mut configs = Vec::new();
    if !args.no_sled {
        configs.push(Config::Sled);
    }
    for &n in &args.relays {
        if n == 0 {
            bail!("--relays: a configuration needs at least one relay");
        }
        configs.push(Config::Redis(n));
    }
    if configs.is_empty() {
        bail!("nothing to run: --no-sled and no --relays");
    }
    let load_start = load_average();
    let started = Instant::now();
    // Per configuration, per scenario, the figures of each round.
    let mut runs: Vec<Vec<Vec<Value>>> = vec![vec![Vec::new(); SCENARIOS.len()]; configs.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..configs.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let config = configs[i];
            eprintln!("scaleout: {} (round {})", config.name(), round + 1);
            let figures = run_config(config, &relay, &redis, &bench, args.quick, seconds)
                .with_context(|| format!("scaleout: {}", config.name()))?;
            for (s, f) in figures.into_iter().enumerate() {
                eprintln!("  {}: {f}", SCENARIOS[s]);
                runs[i][s].push(f);
            }
        }
    }
    let report = Report {
        quick: args.quick,
        rounds,
        seconds,
        configs,
        runs,
        versions: json!({
            "gapmap_relay": version(&relay, "--version"),
            "redis_server": version(&redis, "--version"),
        }),
        load_start,
        load_end: load_average(),
        wall_s: started.elapsed().as_secs_f64(),
    };
    let rows = report.rows();
    println!("{}", report.table(&rows));
    println!("{}", report.to_json(&rows));
    Ok(())
}

/// Starts the configuration's processes afresh for each scenario, runs it,
/// stops them; the figures of each scenario, in `SCENARIOS` order.
fn run_config(
    config: Config,
    relay: &Path,
    redis: &Path,
    bench: &Path,
    quick: bool,
    seconds: f64,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for scenario in SCENARIOS {
        let dir = tempfile::Builder::new()
            .prefix("gapmap-bench-scaleout-")
            .tempdir()
            .context("cannot create a scratch directory")?;
        let redis_proc = match config {
            Config::Sled => None,
            Config::Redis(_) => Some(Proc::redis(redis, &dir.path().join("redis"))?),
        };
        let backend = redis_proc
            .as_ref()
            .map(|r| format!("redis://127.0.0.1:{}", r.port));
        let mut relays = Vec::new();
        for i in 0..config.relays() {
            relays.push(Proc::relay(
                relay,
                &dir.path().join(format!("relay{i}")),
                backend.as_deref(),
            )?);
        }
        let result = drive(
            scenario,
            &relays,
            redis_proc.as_ref(),
            bench,
            relay,
            quick,
            seconds,
        );
        for p in relays.into_iter().chain(redis_proc) {
            p.stop();
        }
        let mut figures = result?;
        figures["configuration"] = json!(config.name());
        figures["relays"] = json!(config.relays());
        out.push(figures);
    }
    Ok(out)
}

/// One `gapmap-bench relay --only SCENARIO` against the running relays,
/// timing the CPU the servers spend meanwhile.
fn drive(
    scenario: &str,
    relays: &[Proc],
    redis: Option<&Proc>,
    bench: &Path,
    relay: &Path,
    quick: bool,
    seconds: f64,
) -> Result<Value> {
    let mut cmd = Command::new(bench);
    cmd.args(["relay", "--no-js", "--rounds", "1", "--only", scenario])
        .arg("--seconds")
        .arg(seconds.to_string())
        .arg("--relay")
        .arg(relay)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if quick {
        cmd.arg("--quick");
    }
    for r in relays {
        cmd.arg("--relay-url")
            .arg(format!("ws://127.0.0.1:{}", r.port));
    }
    let relays_cpu0: f64 = relays.iter().map(|p| cpu_seconds(p.pid())).sum();
    let relays_rss0 = rss_sum(relays);
    let redis_mem0 = redis.and_then(|p| redis_used_memory(p.port));
    let redis_cpu0 = redis.map(|p| cpu_seconds(p.pid()));
    let start = Instant::now();
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let wall = start.elapsed().as_secs_f64();
    let relays_cpu = relays.iter().map(|p| cpu_seconds(p.pid())).sum::<f64>() - relays_cpu0;
    // Memory once the clients are gone: what holding the documents costs.
    let relays_rss = rss_sum(relays);
    let redis_mem = redis.and_then(|p| redis_used_memory(p.port));
    let redis_cpu = redis.map(|p| cpu_seconds(p.pid())).zip(redis_cpu0);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(line)
        .with_context(|| format!("the relay bench's last line is not JSON: {line}"))?;
    let mut figures = report["scenarios"][scenario]["gapmap"]["runs"][0].clone();
    if !figures.is_object() {
        bail!("the relay bench reported no {scenario} run: {line}");
    }
    if let Some(err) = figures["error"].as_str() {
        bail!("{scenario} did not finish: {err}");
    }
    figures["wall_s"] = json!(round3(wall));
    figures["relays_cpu_s"] = json!(round3(relays_cpu));
    figures["redis_cpu_s"] = json!(redis_cpu.map(|(after, before)| round3(after - before)));
    figures["warmup_s"] = report["plan"]["warmup_s"].clone();
    figures["relays_rss_before_kib"] = json!(relays_rss0);
    figures["relays_rss_after_kib"] = json!(relays_rss);
    figures["redis_used_memory_before"] = json!(redis_mem0);
    figures["redis_used_memory_after"] = json!(redis_mem);
    Ok(figures)
}

/// A server process of a run: a relay or Redis, its output in a log file.
struct Proc {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proc {
    /// `redis-server` over `dir` on a free loopback port, once it answers PING.
    fn redis(binary: &Path, dir: &Path) -> Result<Proc> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut last = None;
        // A port found free can be taken before the server binds it: retry.
        for attempt in 0..5 {
            let port = free_port()?;
            let log = dir.join(format!("redis-{attempt}.log"));
            let mut cmd = Command::new(binary);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(dir)
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--save", "", "--protected-mode", "no", "--daemonize", "no"]);
            let mut p = Proc::spawn(cmd, port, log)?;
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                if redis_ping(port) {
                    return Ok(p);
                }
                if p.child.try_wait()?.is_some() || Instant::now() > deadline {
                    last = Some(p.log_tail());
                    p.stop();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        bail!(
            "redis-server would not start on a free port after 5 tries: {}",
            last.unwrap_or_default()
        )
    }

    /// `gapmap-relay --open` over `data`, on `backend` when given, once
    /// `/healthz` answers and `/metrics` shows `gapmap_storage_up 1`.
    fn relay(binary: &Path, data: &Path, backend: Option<&str>) -> Result<Proc> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create {}", data.display()))?;
        let mut last = String::new();
        for attempt in 0..5 {
            let port = free_port()?;
            let log = data.with_extension(format!("{attempt}.log"));
            let mut cmd = Command::new(binary);
            cmd.arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data")
                .arg(data)
                .arg("--open")
                .env_remove("RUST_LOG")
                .env("NO_COLOR", "1");
            if let Some(url) = backend {
                cmd.arg("--backend").arg(url);
            }
            let mut p = Proc::spawn(cmd, port, log)?;
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                let healthy = http_get(port, "/healthz").is_some_and(|b| b.starts_with("ok"));
                if healthy
                    && http_get(port, "/metrics")
                        .is_some_and(|m| m.lines().any(|l| l == "gapmap_storage_up 1"))
                {
                    return Ok(p);
                }
                if p.child.try_wait()?.is_some() {
                    last = p.log_tail();
                    p.stop();
                    break;
                }
                if Instant::now() > deadline {
                    let tail = p.log_tail();
                    p.stop();
                    bail!(
                        "gapmap-relay on port {port} was not ready (healthz, storage up) \
                         within {READY_TIMEOUT:?}: {tail}"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        bail!("gapmap-relay would not start on a free port after 5 tries: {last}")
    }

    fn spawn(mut cmd: Command, port: u16, log: PathBuf) -> Result<Proc> {
        let file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        Ok(Proc { child, port, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of what it logged, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// SIGTERM, then SIGKILL if it is still there after a few seconds.
    fn stop(mut self) {
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

impl Drop for Proc {
    /// A process left running by an error on the way is killed.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `redis-server`: `explicit`, else on PATH, else in the usual directories.
fn locate_redis(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--redis-server {}: no such file", path.display());
        }
        return Ok(path.to_path_buf());
    }
    if let Some(path) = crate::procs::which("redis-server") {
        return Ok(path);
    }
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join("redis-server");
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "redis-server is not installed: `gapmap-bench scaleout` starts its own Redis on \
         loopback. Install Debian's package (apt-get install redis-server), as scripts/test does, \
         or pass --redis-server PATH"
    )
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free loopback port")?
        .port())
}

/// Whether Redis on `port` answers PING with PONG (not while loading).
fn redis_ping(port: u16) -> bool {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    if tcp.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(tcp.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// The body of `GET path` on 127.0.0.1:`port` when it answers 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    tcp.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The resident memory of every relay together, KiB.
fn rss_sum(relays: &[Proc]) -> Option<u64> {
    relays
        .iter()
        .map(|p| crate::relay::servers::rss_kib(p.pid()).ok())
        .sum()
}

/// `used_memory` of `INFO memory` of the Redis on `port`, bytes.
fn redis_used_memory(port: u16) -> Option<u64> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    tcp.write_all(b"INFO memory\r\n").ok()?;
    // A bulk string: `$LEN\r\n` then LEN bytes; read until it is all there.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((len, rest)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
            if rest.len() >= len.parse::<usize>().ok()? {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

/// User + system CPU seconds `pid` has used so far (/proc/PID/stat).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name in parentheses; utime and stime are
    // fields 14 and 15 of the whole line, 12 and 13 after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks / if hz > 0 { hz as f64 } else { 100.0 }
}

fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    json!(v)
}

fn version(binary: &Path, flag: &str) -> Option<String> {
    crate::procs::run(binary, [flag]).ok().map(|r| r.stdout)
}

/// Everything one invocation measured.
struct Report {
    quick: bool,
    rounds: usize,
    seconds: f64,
    configs: Vec<Config>,
    runs: Vec<Vec<Vec<Value>>>,
    versions: Value,
    load_start: Value,
    load_end: Value,
    wall_s: f64,
}

/// One configuration's figures, medians over its rounds.
struct Row {
    name: String,
    relays: usize,
    edits_per_s: Option<f64>,
    throughput_p99_ms: Option<f64>,
    latency_edits_per_s: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    lost: u64,
    problems: u64,
    /// Per edit delivered in the throughput window: CPU ms of all relays
    /// and of Redis over that whole run (setup and warm-up included).
    relays_cpu_ms_per_edit: Option<f64>,
    redis_cpu_ms_per_edit: Option<f64>,
    /// Latency run (fixed rate): CPU share of one core, relays and Redis.
    relays_cores_at_rate: Option<f64>,
    redis_cores_at_rate: Option<f64>,
    /// Throughput run: growth of the relays' RSS and of Redis's
    /// `used_memory` per document, KiB, and the edits each document got.
    relays_rss_kib_per_doc: Option<f64>,
    redis_kib_per_doc: Option<f64>,
    edits_per_doc: Option<f64>,
}

fn med(runs: &[Value], f: impl Fn(&Value) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(f).collect();
    median(&v)
}

impl Report {
    fn rows(&self) -> Vec<Row> {
        self.configs
            .iter()
            .zip(&self.runs)
            .map(|(config, by)| {
                let (tp, lat) = (&by[0], &by[1]);
                let num = |key: &'static str| move |r: &Value| r[key].as_f64();
                // The throughput run lasts warm-up + window at about the
                // window's rate; CPU over the whole child run is charged to
                // the edits of warm-up + window (an overestimate: setup too).
                let per_edit = |cpu: &'static str| {
                    move |r: &Value| {
                        let edits = r["edits_per_s"].as_f64()?
                            * (r["seconds"].as_f64()? + r["warmup_s"].as_f64()?);
                        ratio(r[cpu].as_f64()? * 1e3, edits)
                    }
                };
                let cores = |cpu: &'static str| {
                    move |r: &Value| ratio(r[cpu].as_f64()?, r["wall_s"].as_f64()?)
                };
                let growth = |before: &'static str, after: &'static str, unit: f64| {
                    move |r: &Value| {
                        let grown = r[after].as_f64()? - r[before].as_f64()?;
                        ratio(grown / unit, r["documents"].as_f64()?)
                    }
                };
                let edits_per_doc = |r: &Value| {
                    let edits = r["edits_per_s"].as_f64()?
                        * (r["seconds"].as_f64()? + r["warmup_s"].as_f64()?);
                    ratio(edits, r["documents"].as_f64()?)
                };
                let sum = |key: &str| -> u64 {
                    tp.iter().chain(lat).filter_map(|r| r[key].as_u64()).sum()
                };
                Row {
                    name: config.name(),
                    relays: config.relays(),
                    edits_per_s: med(tp, num("edits_per_s")),
                    throughput_p99_ms: med(tp, num("p99_ms")),
                    latency_edits_per_s: med(lat, num("edits_per_s")),
                    p50_ms: med(lat, num("p50_ms")),
                    p99_ms: med(lat, num("p99_ms")),
                    max_ms: med(lat, num("max_ms")),
                    lost: sum("lost"),
                    problems: sum("problems"),
                    relays_cpu_ms_per_edit: med(tp, per_edit("relays_cpu_s")),
                    redis_cpu_ms_per_edit: med(tp, per_edit("redis_cpu_s")),
                    relays_cores_at_rate: med(lat, cores("relays_cpu_s")),
                    redis_cores_at_rate: med(lat, cores("redis_cpu_s")),
                    relays_rss_kib_per_doc: med(
                        tp,
                        growth("relays_rss_before_kib", "relays_rss_after_kib", 1.0),
                    ),
                    redis_kib_per_doc: med(
                        tp,
                        growth(
                            "redis_used_memory_before",
                            "redis_used_memory_after",
                            1024.0,
                        ),
                    ),
                    edits_per_doc: med(tp, edits_per_doc),
                }
            })
            .collect()
    }

    fn baseline<'a>(&self, rows: &'a [Row]) -> Option<&'a Row> {
        rows.iter().find(|r| r.name == "sled")
    }

    fn table(&self, rows: &[Row]) -> String {
        let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        let base = self.baseline(rows);
        let mut out = format!(
            "scaleout: {} s windows, {} round(s), medians; throughput = closed loop, \
             latency = fixed rate, edit-to-peer ms\n\n",
            self.seconds, self.rounds
        );
        out += &format!(
            "{:<10} {:>10} {:>7} {:>8} | {:>8} {:>8} {:>8} {:>8} {:>7} | {:>5} {:>8}\n",
            "config",
            "edits/s",
            "x sled",
            "tp p99",
            "p50",
            "p99",
            "max",
            "p99 x",
            "lat e/s",
            "lost",
            "problems"
        );
        for r in rows {
            let x_tp = base.and_then(|b| ratio(r.edits_per_s?, b.edits_per_s?));
            let x_p99 = base.and_then(|b| ratio(r.p99_ms?, b.p99_ms?));
            out += &format!(
                "{:<10} {:>10} {:>7} {:>8} | {:>8} {:>8} {:>8} {:>8} {:>7} | {:>5} {:>8}\n",
                r.name,
                f(r.edits_per_s, 1),
                f(x_tp, 2),
                f(r.throughput_p99_ms, 1),
                f(r.p50_ms, 1),
                f(r.p99_ms, 1),
                f(r.max_ms, 1),
                f(x_p99, 2),
                f(r.latency_edits_per_s, 1),
                r.lost,
                r.problems,
            );
        }
        out += &format!(
            "\n{:<10} {:>11} {:>11} {:>12} {:>12} {:>13} {:>13} {:>9}\n",
            "config",
            "relay ms/ed",
            "redis ms/ed",
            "relay cores",
            "redis cores",
            "relay KiB/doc",
            "redis KiB/doc",
            "edits/doc"
        );
        for r in rows {
            out += &format!(
                "{:<10} {:>11} {:>11} {:>12} {:>12} {:>13} {:>13} {:>9}\n",
                r.name,
                f(r.relays_cpu_ms_per_edit, 3),
                f(r.redis_cpu_ms_per_edit, 3),
                f(r.relays_cores_at_rate, 3),
                f(r.redis_cores_at_rate, 3),
                f(r.relays_rss_kib_per_doc, 1),
                f(r.redis_kib_per_doc, 1),
                f(r.edits_per_doc, 0),
            );
        }
        out += "\nx sled: this configuration over the sled baseline (edits/s: higher is better; p99: lower is better).\n";
        out += "tp p99: edit-to-peer p99 of the closed loop; p50/p99/max: of the fixed-rate latency run.\n";
        out += "ms/ed: CPU ms per edit over the whole throughput run, setup included (all relays together; Redis).\n";
        out += "cores: CPU share of one core during the latency run (fixed rate). KiB/doc: memory growth over\n";
        out += "the throughput run per document (relays' RSS; Redis used_memory), each document having had edits/doc edits.\n";
        out += "One machine for every process: more relays add no CPU, so read the curve and the overhead.\n";
        if self.quick {
            out += "(--quick: the figures here prove the harness works, nothing more)\n";
        }
        out
    }

    fn to_json(&self, rows: &[Row]) -> Value {
        let base = self.baseline(rows);
        let r3 = |v: Option<f64>| v.map(round3);
        let summary: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "configuration": r.name,
                    "relays": r.relays,
                    "backend": if r.name == "sled" { "sled" } else { "redis" },
                    "edits_per_s": r3(r.edits_per_s),
                    "throughput_p99_ms": r3(r.throughput_p99_ms),
                    "latency_edits_per_s": r3(r.latency_edits_per_s),
                    "p50_ms": r3(r.p50_ms),
                    "p99_ms": r3(r.p99_ms),
                    "max_ms": r3(r.max_ms),
                    "lost": r.lost,
                    "problems": r.problems,
                    "edits_per_s_over_sled": r3(base.and_then(|b| ratio(r.edits_per_s?, b.edits_per_s?))),
                    "p99_over_sled": r3(base.and_then(|b| ratio(r.p99_ms?, b.p99_ms?))),
                    "relays_cpu_ms_per_edit": r3(r.relays_cpu_ms_per_edit),
                    "redis_cpu_ms_per_edit": r3(r.redis_cpu_ms_per_edit),
                    "relays_cores_at_latency_rate": r3(r.relays_cores_at_rate),
                    "redis_cores_at_latency_rate": r3(r.redis_cores_at_rate),
                    "relays_rss_kib_per_document": r3(r.relays_rss_kib_per_doc),
                    "redis_kib_per_document": r3(r.redis_kib_per_doc),
                    "edits_per_document": r3(r.edits_per_doc),
                })
            })
            .collect();
        let configurations: Vec<Value> = self
            .configs
            .iter()
            .zip(&self.runs)
            .map(|(c, by)| {
                json!({
                    "configuration": c.name(),
                    "relays": c.relays(),
                    "throughput": by[0],
                    "latency": by[1],
                })
            })
            .collect();
        json!({
            "bench": "scaleout",
            "quick": self.quick,
            "machine": crate::report::machine(),
            "load_average_start": self.load_start,
            "load_average_end": self.load_end,
            "versions": self.versions,
            "plan": {
                "rounds": self.rounds,
                "window_s": self.seconds,
                "scenarios": SCENARIOS,
                "redis": "one redis-server, appendonly yes, appendfsync always",
            },
            "wall_s": round3(self.wall_s),
            "configurations": configurations,
            "summary": summary,
        })
    }
}
