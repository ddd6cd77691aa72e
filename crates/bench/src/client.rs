//! `gapmap-bench client`: what a person's own machine pays, beside the relay.
//!
//! - **owner-routed add**: `gapmap add` while `gapmap serve` owns the store,
//!   so the command is carried out by the owner over `owner.sock` against a
//!   document it keeps loaded; on an empty canvas and on the big one, beside
//!   the standalone `gapmap add` and the JavaScript stack (automerge-repo 2.5
//!   in node, load-change-flush) on the same canvases, alternating.
//! - **first clone** of the big canvas from a relay: bytes on the wire,
//!   counted by a TCP proxy between `gapmap clone` and `gapmap-relay`, against
//!   the size of the document's compressed `save()`.
//! - **catch-up** after k offline edits: the bytes `gapmap sync` sends
//!   through the same proxy against the size of those changes, and the round
//!   trips (a burst from the client answered by one from the relay).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use gapmap_canvas::{Canvas, DocId, Section};
use gapmap_store::{DocMeta, Store};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::add::{self, Prepared, AUTHOR, TEXT};
use crate::builder::Plan;
use crate::js::Js;
use crate::relay::servers::{self, Kind, Launch, Server};
use crate::stats::{ratio, round3, Samples};
use crate::{procs, Common};

/// Options of `gapmap-bench client`.
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// A smoke run: a 200-note canvas, 3 runs, 20 offline edits.
    #[arg(long)]
    pub quick: bool,
    /// Timed runs of each `add` [default: 10, --quick: 3].
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Live notes of the big canvas [default: 2000, --quick: 200].
    #[arg(long, value_name = "N")]
    pub notes: Option<usize>,
    /// Offline edits before the catch-up [default: 100, --quick: 20].
    #[arg(long, value_name = "K")]
    pub offline_edits: Option<usize>,
    /// Leave out the JavaScript side.
    #[arg(long)]
    pub no_js: bool,
    /// The tests/js directory [default: tests/js of this source tree].
    #[arg(long, value_name = "DIR")]
    pub js_dir: Option<PathBuf>,
    /// The node binary.
    #[arg(long, default_value = "node", value_name = "PATH")]
    pub node: String,
    /// The gapmap-relay binary [default: beside this program].
    #[arg(long, value_name = "PATH", env = "GAPMAP_BENCH_RELAY")]
    pub relay: Option<PathBuf>,
}

/// Runs the scenario and prints its report.
pub fn run(args: &ClientArgs, common: &Common) -> Result<()> {
    let report = measure(args, common)?;
    println!("{}", table(&report));
    println!("{report}");
    Ok(())
}

/// Measures everything; the JSON report.
pub fn measure(args: &ClientArgs, common: &Common) -> Result<Value> {
    let quick = args.quick;
    let runs = args.runs.unwrap_or(if quick { 3 } else { 10 }).max(1);
    let big = args.notes.unwrap_or(if quick { 200 } else { 2_000 });
    let k = args
        .offline_edits
        .unwrap_or(if quick { 20 } else { 100 })
        .max(1);
    let gapmap = procs::locate_gapmap(common.gapmap.as_deref())?;
    let relay = servers::locate_relay(args.relay.as_deref())?;
    let js = if args.no_js {
        None
    } else {
        let dir = args.js_dir.clone().unwrap_or_else(crate::js::default_dir);
        Some(Js::prepare(&dir, &args.node)?)
    };
    let work = common.workdir()?;
    let mut sizes = Vec::new();
    for notes in [0, big] {
        let plan = Plan {
            notes,
            changes_per_note: 10,
            seed: 1,
        };
        sizes.push(add::prepare(work.path(), &gapmap, js.as_ref(), plan)?);
    }

    let owner_routed = owner_routed_add(&gapmap, js.as_ref(), &mut sizes, runs)?;
    let sync = clone_and_catch_up(&gapmap, &relay, &sizes[1], work.path(), k)?;
    Ok(json!({
        "bench": "client",
        "quick": quick,
        "machine": crate::report::machine(),
        "gapmap": procs::run(&gapmap, ["--version"])?.stdout,
        "js": js.as_ref().map(|js| json!({ "node": js.node_version(), "automerge_repo": js.repo_version() })),
        "runs": runs,
        "add": owner_routed,
        "sync": sync,
    }))
}

/// A `gapmap serve` owning a store.
struct Owner {
    child: Child,
}

impl Owner {
    fn start(gapmap: &Path, home: &Path) -> Result<Owner> {
        let mut child = Command::new(gapmap)
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("GAPMAP_HOME")
            .env_remove("GAPMAP_NAME")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start gapmap serve")?;
        // Ready once a command is routed to it: `list` answers through the
        // owner socket once the owner listens there.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if home.join("owner.sock").exists()
                && procs::run(
                    gapmap,
                    [OsStr::new("--home"), home.as_os_str(), OsStr::new("list")],
                )
                .is_ok()
            {
                return Ok(Owner { child });
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("gapmap serve exited early ({status})");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("gapmap serve did not open owner.sock within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
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

/// `gapmap add` through an owner, standalone, and the JS stack, on each
/// size, alternating.
fn owner_routed_add(
    gapmap: &Path,
    js: Option<&Js>,
    sizes: &mut [Prepared],
    runs: usize,
) -> Result<Value> {
    let mut owners = Vec::new();
    let mut routed: Vec<Samples> = vec![Samples::default(); sizes.len()];
    for size in sizes.iter() {
        let home = size.gapmap_run.with_file_name("owner-run");
        procs::copy_tree(&size.gapmap_template, &home)?;
        owners.push((Owner::start(gapmap, &home)?, home));
    }
    eprintln!("timing {runs} runs (+1 warm-up) of routed, standalone and JS `add` per size…");
    let result = (|| -> Result<()> {
        for i in 0..=runs {
            let record = i > 0;
            for (s, size) in sizes.iter_mut().enumerate() {
                let home = &owners[s].1;
                let routed_first = (i + s) % 2 == 0;
                let time_routed = |samples: &mut Samples| -> Result<()> {
                    let run = procs::run(
                        gapmap,
                        [
                            OsStr::new("--home"),
                            home.as_os_str(),
                            OsStr::new("add"),
                            OsStr::new("now"),
                            OsStr::new(TEXT),
                        ],
                    )?;
                    if run.stdout.is_empty() {
                        bail!("routed gapmap add printed no note id");
                    }
                    if record {
                        samples.push(run.elapsed);
                    }
                    Ok(())
                };
                if routed_first {
                    time_routed(&mut routed[s])?;
                }
                add::time_gapmap(gapmap, size, record)?;
                if let Some(js) = js {
                    add::time_js(js, size, record)?;
                }
                if !routed_first {
                    time_routed(&mut routed[s])?;
                }
            }
            if record {
                eprintln!("  run {i}/{runs}");
            }
        }
        Ok(())
    })();
    for (owner, _) in owners {
        owner.stop();
    }
    result?;

    let empty = routed[0].median();
    let js_big = sizes[1].report.js.median();
    let rows: Vec<Value> = sizes
        .iter()
        .zip(&routed)
        .map(|(size, routed)| {
            json!({
                "notes": size.report.notes,
                "changes": size.report.changes,
                "doc_bytes": size.report.doc_bytes,
                "routed": routed.to_json(),
                "standalone": size.report.gapmap.to_json(),
                "js": if size.report.js.ms.is_empty() { Value::Null } else { size.report.js.to_json() },
                "routed_over_empty": ratio(routed.median(), empty).map(round3),
                "js_over_routed": ratio(size.report.js.median(), routed.median()).map(round3),
                "standalone_over_routed": ratio(size.report.gapmap.median(), routed.median()).map(round3),
            })
        })
        .collect();
    let big_routed = routed[1].median();
    let growth = ratio(big_routed, empty);
    let vs_js = ratio(js_big, big_routed);
    Ok(json!({
        "sizes": rows,
        "targets": [
            { "name": "routed add, big canvas / empty canvas", "value": growth.map(round3), "goal": "<= 1.5", "met": growth.map(|g| g <= 1.5) },
            { "name": "JS stack / routed add, big canvas", "value": vs_js.map(round3), "goal": ">= 10", "met": vs_js.map(|r| r >= 10.0) },
        ],
    }))
}

/// Byte counts of a TCP proxy, reset between measurements.
#[derive(Default)]
struct Wire {
    /// Client to server.
    up: AtomicU64,
    /// Server to client.
    down: AtomicU64,
    /// Times the relay answered after the client spoke.
    round_trips: AtomicU64,
    /// 1: the client spoke last; 2: the server did.
    last: AtomicU8,
}

impl Wire {
    fn reset(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
        self.round_trips.store(0, Ordering::SeqCst);
        self.last.store(0, Ordering::SeqCst);
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
            self.round_trips.load(Ordering::SeqCst),
        )
    }

    fn count(&self, up: bool, n: usize) {
        let (counter, me) = if up { (&self.up, 1) } else { (&self.down, 2) };
        counter.fetch_add(n as u64, Ordering::SeqCst);
        let before = self.last.swap(me, Ordering::SeqCst);
        if !up && before == 1 {
            self.round_trips.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Starts a counting proxy to `target` on a thread of its own; its address.
fn start_proxy(target: String, wire: Arc<Wire>) -> Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the proxy");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, wire.clone(), true));
                tokio::spawn(pump(sr, cw, wire.clone(), false));
            }
        });
    });
    Ok(addr)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    wire: Arc<Wire>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                wire.count(up, n);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// The first clone of the big canvas through the proxy, then k offline
/// edits on the clone and the `gapmap sync` that catches the relay up.
fn clone_and_catch_up(
    gapmap: &Path,
    relay: &Path,
    big: &Prepared,
    work: &Path,
    k: usize,
) -> Result<Value> {
    let server = Server::start(
        Kind::Gapmap,
        &Launch {
            relay: relay.to_path_buf(),
            js: None,
            data_root: None,
        },
    )?;
    let result = (|| -> Result<Value> {
        let gm = |home: &Path, args: &[&str]| -> Result<String> {
            let mut argv = vec![OsStr::new("--home"), home.as_os_str()];
            argv.extend(args.iter().map(OsStr::new));
            Ok(procs::run(gapmap, argv)?.stdout)
        };
        // The relay gets the canvas from a copy of the template, directly.
        let pusher = work.join("sync-pusher");
        procs::copy_tree(&big.gapmap_template, &pusher)?;
        gm(&pusher, &["sync", &server.url])?;
        let id = Store::open(&pusher)?
            .setting("current")?
            .context("the template has no current canvas")?;

        let wire = Arc::new(Wire::default());
        let proxy = format!(
            "ws://{}",
            start_proxy(server.url.replace("ws://", ""), wire.clone())?
        );

        // First clone, through the proxy.
        let home = work.join("sync-clone");
        wire.reset();
        let started = Instant::now();
        gm(&home, &["clone", &id, "--from", &proxy])?;
        let clone_ms = started.elapsed().as_secs_f64() * 1e3;
        let (clone_up, clone_down, clone_rt) = wire.snapshot();
        let saved = {
            let store = Store::open(&home)?;
            let mut doc = store.load(&id)?.context("the clone is not in the store")?;
            doc.save().len() as u64
        };

        // k offline edits, then the catch-up.
        let (change_bytes, chunk_bytes) = offline_edits(&home, &id, k)?;
        wire.reset();
        let started = Instant::now();
        gm(&home, &["sync", &proxy])?;
        let sync_ms = started.elapsed().as_secs_f64() * 1e3;
        let (sync_up, sync_down, sync_rt) = wire.snapshot();

        let clone_ratio = ratio(clone_down as f64, saved as f64);
        let catch_up_ratio = ratio(sync_up as f64, change_bytes as f64);
        Ok(json!({
            "notes": big.report.notes,
            "clone": {
                "ms": round3(clone_ms),
                "bytes_down": clone_down,
                "bytes_up": clone_up,
                "round_trips": clone_rt,
                "compressed_save_bytes": saved,
                "down_over_save": clone_ratio.map(round3),
            },
            "catch_up": {
                "offline_edits": k,
                "change_bytes": change_bytes,
                "save_after_bytes": chunk_bytes,
                "ms": round3(sync_ms),
                "bytes_up": sync_up,
                "bytes_down": sync_down,
                "round_trips": sync_rt,
                "up_over_changes": catch_up_ratio.map(round3),
            },
            "targets": [
                { "name": "clone bytes / compressed save()", "value": clone_ratio.map(round3), "goal": "<= 1.2", "met": clone_ratio.map(|r| r <= 1.2) },
                { "name": "catch-up bytes sent / the changes' size", "value": catch_up_ratio.map(round3), "goal": "<= 1.5", "met": catch_up_ratio.map(|r| r <= 1.5) },
            ],
        }))
    })();
    server.stop();
    result
}

/// `k` edits made offline on the canvas `id` in the store at `home`, the way
/// the CLI makes them (an actor of its own, one commit and one durable save
/// each): every other one adds a note, the others reword the note just
/// added. The encoded size of those changes, and of `save_after` them.
fn offline_edits(home: &Path, id: &str, k: usize) -> Result<(u64, u64)> {
    let store = Store::open(home)?;
    let doc = store.load(id)?.context("the clone is not in the store")?;
    let mut canvas = Canvas::from_doc(doc)?;
    canvas.set_actor(&rand::random::<[u8; 16]>());
    let before = canvas.doc_mut().get_heads();
    let mut last = None;
    for i in 0..k {
        let now = now_ms();
        match (&last, i % 2) {
            (Some(note), 1) => canvas.edit_note(note, &format!("{TEXT} (reworded {i})"), now)?,
            _ => last = Some(canvas.add_note(Section::Now, TEXT, &[], AUTHOR, now)?),
        }
        let (title, notes) = gapmap_canvas::describe(canvas.doc());
        let meta = DocMeta {
            id: id.to_string(),
            title,
            notes,
            updated_ms: now,
        };
        store.save(id, canvas.doc_mut(), &meta)?;
    }
    let doc = canvas.doc_mut();
    let changes: u64 = doc
        .get_changes(&before)
        .iter()
        .map(|c| c.raw_bytes().len() as u64)
        .sum();
    let chunk = doc.save_after(&before).len() as u64;
    let _ = DocId::parse(id)?;
    Ok((changes, chunk))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn fmt(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "–".into(),
    }
}

/// The human table.
pub fn table(report: &Value) -> String {
    let mut out = String::from(
        "\n`gapmap add` through an owner process (`gapmap serve` holds the store), standalone, and the JS stack; median ms\n\n",
    );
    out += &format!(
        "{:>6} {:>8} {:>8} | {:>8} {:>10} {:>8} | {:>12} {:>10}\n",
        "notes", "changes", "doc KiB", "routed", "standalone", "JS", "routed/empty", "JS/routed"
    );
    for s in report["add"]["sizes"].as_array().into_iter().flatten() {
        out += &format!(
            "{:>6} {:>8} {:>8} | {:>8} {:>10} {:>8} | {:>12} {:>10}\n",
            s["notes"].to_string(),
            s["changes"].to_string(),
            s["doc_bytes"].as_u64().unwrap_or(0) / 1024,
            fmt(&s["routed"]["median_ms"]),
            fmt(&s["standalone"]["median_ms"]),
            fmt(&s["js"]["median_ms"]),
            fmt(&s["routed_over_empty"]),
            fmt(&s["js_over_routed"]),
        );
    }
    let sync = &report["sync"];
    let c = &sync["clone"];
    let u = &sync["catch_up"];
    out += &format!(
        "\nfirst clone of the {}-note canvas: {} bytes from the relay ({} to it, {} round trips) vs compressed save() {} bytes: {}×\n",
        sync["notes"], c["bytes_down"], c["bytes_up"], c["round_trips"], c["compressed_save_bytes"], fmt(&c["down_over_save"])
    );
    out += &format!(
        "catch-up after {} offline edits: {} bytes sent ({} received, {} round trips) vs the changes' {} bytes (save_after: {}): {}×\n",
        u["offline_edits"], u["bytes_up"], u["bytes_down"], u["round_trips"], u["change_bytes"], u["save_after_bytes"], fmt(&u["up_over_changes"])
    );
    out += "\ntargets:\n";
    for t in report["add"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(sync["targets"].as_array().into_iter().flatten())
    {
        let met = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "–",
        };
        out += &format!(
            "  {:<42} {:>8} (goal {}): {met}\n",
            t["name"].as_str().unwrap_or(""),
            fmt(&t["value"]),
            t["goal"].as_str().unwrap_or("")
        );
    }
    out
}
