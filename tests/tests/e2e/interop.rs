//! Interop with unmodified automerge-repo JavaScript (issue 3, item 5): the
//! npm packages pinned in tests/js/package.json, as clients of
//! `gapmap-relay` and `gapmap serve`, and as the server `gapmap sync` and
//! `gapmap clone` talk to (tests/js/server.mjs). Real processes on loopback.
//!
//! The JavaScript side is tests/js/client.mjs: one command per process,
//! JSON lines on stdout. Node and tests/js/node_modules must be there
//! (scripts/test installs them); a test without them fails with the hint.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, texts, Store};
use gapmap_tests::free_port;

/// How long one JavaScript client may take before it gives up by itself.
const JS_TIMEOUT_MS: u64 = 20_000;
/// How long any one process may take before the test kills it and fails.
pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// How long a server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(15);

fn js_dir() -> PathBuf {
    gapmap_tests::js_dir()
}

/// A child process, killed when dropped; its stdout arrives line by line,
/// its stderr is kept for failure messages.
pub(crate) struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

/// How a process ended.
pub(crate) struct Done {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<String>,
    pub(crate) stderr: String,
}

impl Done {
    /// Every stdout line, as JSON.
    pub(crate) fn json(&self) -> Vec<Value> {
        self.stdout
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("not a JSON line ({e}): {l}\nstderr: {}", self.stderr)
                })
            })
            .collect()
    }
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            name: name.to_string(),
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, as JSON; fails the test after `within`.
    pub(crate) fn next_json(&mut self, within: Duration) -> Value {
        match self.lines.recv_timeout(within) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", self.name)),
            Err(_) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "{}: no output within {within:?} (exit: {status:?})\nstderr: {}",
                    self.name,
                    self.stderr()
                )
            }
        }
    }

    /// Waits for the process to exit (killing it after `within`) and
    /// collects what it printed.
    pub(crate) fn finish(mut self, within: Duration) -> Done {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not finish within {within:?}\nstderr: {}",
                    self.name,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, which follows the exit.
        let mut stdout = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            stdout.push(line);
        }
        // Give the stderr reader a moment to drain as well.
        thread::sleep(Duration::from_millis(20));
        Done {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.stderr(),
        }
    }

    /// SIGTERM, then SIGKILL (and a failure) if it has not exited within 15 s.
    fn terminate(self) -> Done {
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.finish(Duration::from_secs(15))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts connections on `port`, or `proc` exits.
fn wait_listening(proc: &mut Proc, port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if proc.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        thread::sleep(Duration::from_millis(30));
    }
    panic!(
        "{} is not listening on {port} after {STARTUP:?}\nstderr: {}",
        proc.name,
        proc.stderr()
    );
}

/// Starts a long-running `cmd … ADDR` on a free port (a few tries, in case
/// another test took the port meanwhile); returns it and its ws:// URL.
fn start_listening(name: &str, make: impl Fn(&str) -> Command) -> (Proc, String) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let mut proc = Proc::spawn(name, &mut make(&format!("127.0.0.1:{port}")));
        if wait_listening(&mut proc, port) {
            return (proc, format!("ws://127.0.0.1:{port}"));
        }
        last = proc.stderr();
    }
    panic!("{name} would not start:\n{last}");
}

/// A `gapmap-relay --open` over a data directory.
struct Relay {
    proc: Proc,
    url: String,
}

impl Relay {
    fn start(data: &Path) -> Relay {
        let (proc, url) = start_listening("gapmap-relay", |addr| {
            let mut cmd = Command::new(util::bin("gapmap-relay"));
            cmd.args(["--listen", addr, "--open", "--data"]).arg(data);
            cmd
        });
        Relay { proc, url }
    }

    /// Starts it again on the same address (clients reconnect to it) after
    /// [`Relay::stop`].
    fn restart(data: &Path, url: &str) -> Relay {
        let addr = url.strip_prefix("ws://").expect("a ws:// URL");
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let mut cmd = Command::new(util::bin("gapmap-relay"));
        cmd.args(["--listen", addr, "--open", "--data"]).arg(data);
        let mut proc = Proc::spawn("gapmap-relay", &mut cmd);
        assert!(
            wait_listening(&mut proc, port),
            "gapmap-relay would not start again on {addr}:\n{}",
            proc.stderr()
        );
        Relay {
            proc,
            url: url.to_string(),
        }
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    fn stop(self) {
        let done = self.proc.terminate();
        assert_eq!(
            done.code, 0,
            "gapmap-relay did not stop cleanly:\n{}",
            done.stderr
        );
    }
}

/// The JavaScript reference server (tests/js/server.mjs) over a directory.
fn js_server(data: &Path) -> (Proc, String) {
    let mut cmd = Command::new("node");
    cmd.current_dir(js_dir())
        .arg("server.mjs")
        .arg("0")
        .arg(data);
    let proc = Proc::spawn("node server.mjs", &mut cmd);
    let line = match proc.lines.recv_timeout(STARTUP) {
        Ok(line) => line,
        Err(_) => panic!("server.mjs did not start\nstderr: {}", proc.stderr()),
    };
    let port = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("server.mjs printed {line:?}"))
        .trim()
        .to_string();
    (proc, format!("ws://127.0.0.1:{port}"))
}

/// Starts `node client.mjs ARGS`.
pub(crate) fn js_spawn(args: &[&str]) -> Proc {
    let mut cmd = Command::new("node");
    cmd.current_dir(js_dir())
        .env("GAPMAP_JS_TIMEOUT_MS", JS_TIMEOUT_MS.to_string())
        .env_remove("DEBUG")
        .arg("client.mjs")
        .args(args);
    Proc::spawn(&format!("node client.mjs {}", args.join(" ")), &mut cmd)
}

/// Runs `node client.mjs ARGS` and insists it succeeds; its last JSON line.
pub(crate) fn js(args: &[&str]) -> Value {
    let done = js_spawn(args).finish(WAIT);
    assert_eq!(
        done.code, 0,
        "node client.mjs {args:?} failed ({}):\nstdout: {:?}\nstderr: {}",
        done.code, done.stdout, done.stderr
    );
    done.json()
        .pop()
        .unwrap_or_else(|| panic!("node client.mjs {args:?} printed nothing"))
}

/// The texts of every note of a document as a JS client printed it.
pub(crate) fn js_note_texts(doc: &Value, section: &str) -> Vec<String> {
    let mut notes: Vec<(String, String)> = doc["notes"]
        .as_object()
        .unwrap_or_else(|| panic!("no notes in {doc}"))
        .values()
        .filter(|n| n["section"] == section)
        .map(|n| {
            (
                n["rank"].as_str().unwrap_or("").to_string(),
                n["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    notes.sort();
    notes.into_iter().map(|(_, text)| text).collect()
}

/// Runs a `gapmap` command that talks to the network, bounded.
fn gapmap(store: &Store, args: &[&str]) -> Done {
    Proc::spawn(
        &format!("gapmap {}", args.join(" ")),
        &mut store.command(args),
    )
    .finish(WAIT)
}

/// Like [`gapmap`], insisting on success.
fn gapmap_ok(store: &Store, args: &[&str]) -> String {
    let done = gapmap(store, args);
    assert_eq!(
        done.code, 0,
        "gapmap {args:?} failed ({}):\nstdout: {:?}\nstderr: {}",
        done.code, done.stdout, done.stderr
    );
    done.stdout.join("\n")
}

// ---------------------------------------------------------------------------
// JavaScript clients on gapmap-relay

#[test]
fn js_clients_create_find_and_edit_documents_on_the_relay() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let relay = Relay::start(&data);

    // Client A creates a canvas; it returns once a fresh connection to the
    // relay can fetch it.
    let created = js(&["create", &relay.url, "Invoices, made in JS"]);
    let url = created["url"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(url, format!("automerge:{id}"));

    // Client B finds it and stays connected, waiting for A's next note.
    let mut b = js_spawn(&["find", &relay.url, &url, "--until", "added by A"]);
    assert_eq!(
        b.next_json(WAIT)["ready"],
        true,
        "B did not find the document"
    );
    js(&["add", &relay.url, &url, "now", "added by A while B watches"]);
    let seen = b.finish(WAIT).json().pop().unwrap();
    assert_eq!(
        js_note_texts(&seen["doc"], "now"),
        [
            "Owner re-types invoices every Friday",
            "added by A while B watches"
        ]
    );
    assert_eq!(seen["doc"]["title"], "Invoices, made in JS");

    // B edits A's note character by character; another client sees it.
    let first = created["notes"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, section)| *section == "now")
        .map(|(id, _)| id.clone())
        .unwrap();
    let spliced = js(&["splice", &relay.url, &url, &first, "0", "5", "The owner"]);
    assert_eq!(spliced["text"], "The owner re-types invoices every Friday");
    let found = js(&["find", &relay.url, &url]);
    assert_eq!(
        js_note_texts(&found["doc"], "now"),
        [
            "The owner re-types invoices every Friday",
            "added by A while B watches"
        ]
    );
    let heads = found["heads"].clone();

    // The relay stored it durably: restart it, a fresh client still finds
    // it. A client connected across the restart reconnects by itself and
    // receives what is written afterwards.
    let mut c = js_spawn(&["find", &relay.url, &url, "--until", "after the restart"]);
    assert_eq!(
        c.next_json(WAIT)["ready"],
        true,
        "C did not find the document"
    );
    let relay_url = relay.url.clone();
    relay.stop();
    let store = gapmap_store::Store::open(&data).expect("open the relay's store");
    assert!(store.contains(&id).unwrap(), "the relay's store lacks {id}");
    drop(store);
    let relay = Relay::restart(&data, &relay_url);
    let again = js(&["find", &relay.url, &url]);
    assert_eq!(again["heads"], heads);
    assert_eq!(again["doc"], found["doc"]);
    js(&["add", &relay.url, &url, "gain", "written after the restart"]);
    let seen = c.finish(WAIT);
    assert_eq!(seen.code, 0, "C never saw the new note:\n{}", seen.stderr);
    let seen = seen.json().pop().unwrap();
    assert_eq!(
        js_note_texts(&seen["doc"], "gain"),
        ["written after the restart"]
    );
    relay.stop();
}

#[test]
fn js_find_of_a_document_the_relay_lacks_is_unavailable_at_once() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(&dir.path().join("relay"));
    let started = Instant::now();
    let done = js_spawn(&["find", &relay.url, "random"]).finish(WAIT);
    let took = started.elapsed();
    assert_eq!(
        done.code, 4,
        "want the document unavailable (exit 4):\nstdout: {:?}\nstderr: {}",
        done.stdout, done.stderr
    );
    assert!(done.stderr.contains("is unavailable"), "{}", done.stderr);
    // Node starts in well under a second; a hang would hit the 20 s limit.
    assert!(took < Duration::from_secs(8), "unavailable took {took:?}");

    // The relay is unharmed: a document created now is found.
    let created = js(&["create", &relay.url, "After a miss"]);
    let found = js(&["find", &relay.url, created["url"].as_str().unwrap()]);
    assert_eq!(found["doc"]["title"], "After a miss");
    relay.stop();
}

#[test]
fn ephemeral_messages_cross_the_relay_between_js_clients() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(&dir.path().join("relay"));
    let created = js(&["create", &relay.url, "Presence"]);
    let url = created["url"].as_str().unwrap();

    let mut listener = js_spawn(&["ephemeral-listen", &relay.url, url]);
    assert_eq!(listener.next_json(WAIT)["ready"], true);
    let message = r#"{"cursor":{"note":"n1","offset":5},"name":"alice"}"#;
    js(&["ephemeral-send", &relay.url, url, message]);
    let got = listener.finish(WAIT);
    assert_eq!(got.code, 0, "no ephemeral message arrived:\n{}", got.stderr);
    let got = got.json().pop().unwrap();
    assert_eq!(
        got["message"],
        serde_json::from_str::<Value>(message).unwrap()
    );
    assert!(
        got["senderId"].as_str().unwrap().starts_with("js-send-"),
        "the relay must forward the sender's id unchanged: {got}"
    );
    relay.stop();
}

// ---------------------------------------------------------------------------
// The gapmap CLI against JavaScript peers

#[test]
fn gapmap_clones_a_canvas_a_js_client_made_on_the_relay() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(&dir.path().join("relay"));
    let created = js(&["create", &relay.url, "Made in JavaScript"]);
    let (url, id) = (
        created["url"].as_str().unwrap(),
        created["id"].as_str().unwrap(),
    );

    // Every string of that canvas is a Text, as JS Automerge 3 writes them.
    let ana = Store::new("ana");
    gapmap_ok(&ana, &["clone", url, "--from", &relay.url]);
    let show = ana.json(&["-c", id, "show"]);
    assert_eq!(show["id"], id);
    assert_eq!(show["title"], "Made in JavaScript");
    assert_eq!(
        show["job"]["situation"],
        "when the supplier invoices arrive"
    );
    assert_eq!(show["customer"]["type"], "user");
    assert_eq!(show["customer"]["description"], "a café owner");
    assert_eq!(
        texts(&show, "now"),
        ["Owner re-types invoices every Friday"]
    );
    assert_eq!(
        texts(&show, "to-be"),
        ["Invoices flow into the books untouched"]
    );

    // And back: a note added in gapmap reaches a JS client through the relay.
    ana.ok(&["-c", id, "add", "constraint", "The accountant wants paper"]);
    gapmap_ok(&ana, &["sync", &relay.url]);
    let found = js(&["find", &relay.url, url]);
    assert_eq!(
        js_note_texts(&found["doc"], "constraint"),
        ["The accountant wants paper"]
    );

    // A canvas the relay never saw: a clear error, promptly.
    let ben = Store::new("ben");
    let elsewhere = ben.json(&["new", "Never synced"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    let done = gapmap(&ana, &["clone", &elsewhere, "--from", &relay.url]);
    assert_eq!(
        done.code, 1,
        "cloning a missing canvas must fail:\n{}",
        done.stderr
    );
    assert_eq!(
        done.stderr.trim().lines().count(),
        1,
        "one line: {}",
        done.stderr
    );
    relay.stop();
}

#[test]
fn gapmap_syncs_and_clones_through_the_js_reference_server() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let (server, server_url) = js_server(&dir.path().join("js-server"));

    let ana = Store::new("ana");
    let created = ana.json(&["new", "Made in gapmap"]);
    let (id, url) = (
        created["id"].as_str().unwrap(),
        created["url"].as_str().unwrap(),
    );
    let owner = ana.ok(&["add", "now", "Owner re-types invoices"]);
    ana.ok(&["add", "to-be", "Books fill themselves"]);
    gapmap_ok(&ana, &["sync", &server_url]);

    // A JS client finds it on the JS server: the notes, their Text.
    let found = js(&["find", &server_url, url]);
    assert_eq!(found["doc"]["schema"], "gapmap/canvas/1");
    assert_eq!(found["doc"]["title"], "Made in gapmap");
    assert_eq!(
        js_note_texts(&found["doc"], "now"),
        ["Owner re-types invoices"]
    );
    assert_eq!(
        js_note_texts(&found["doc"], "to-be"),
        ["Books fill themselves"]
    );

    // A JS client edits; the next sync brings the edits to gapmap.
    js(&[
        "add",
        &server_url,
        url,
        "constraint",
        "The accountant wants paper",
    ]);
    js(&["splice", &server_url, url, &owner, "0", "5", "The owner"]);
    gapmap_ok(&ana, &["sync", &server_url]);
    let show = ana.show();
    assert_eq!(texts(&show, "now"), ["The owner re-types invoices"]);
    assert_eq!(texts(&show, "constraint"), ["The accountant wants paper"]);

    // The same note edited on both sides at once merges character by
    // character, and both sides end with the same text.
    js(&["splice", &server_url, url, &owner, "19", "0", "supplier "]);
    ana.ok(&["edit", &owner, "The owner re-types invoices every Friday"]);
    gapmap_ok(&ana, &["sync", &server_url]);
    let merged = "The owner re-types supplier invoices every Friday";
    assert_eq!(texts(&ana.show(), "now"), [merged]);
    let found = js(&["find", &server_url, url]);
    assert_eq!(js_note_texts(&found["doc"], "now"), [merged]);

    // A second person clones it from the JS server: the same canvas.
    let ben = Store::new("ben");
    gapmap_ok(&ben, &["clone", url, "--from", &server_url]);
    let cloned = ben.json(&["-c", id, "show"]);
    assert_eq!(cloned["sections"], ana.show()["sections"]);
    assert_eq!(cloned["title"], "Made in gapmap");

    // A canvas the JS server never saw: one clear line, exit 1.
    let elsewhere = ben.json(&["new", "Never synced"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    let done = gapmap(&ana, &["clone", &elsewhere, "--from", &server_url]);
    assert_eq!(
        done.code, 1,
        "cloning a missing canvas must fail:\n{}",
        done.stderr
    );
    assert_eq!(
        done.stderr.trim().lines().count(),
        1,
        "one line: {}",
        done.stderr
    );
    drop(server);
}

#[test]
fn gapmap_sync_watch_applies_js_edits_live() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let (server, server_url) = js_server(&dir.path().join("js-server"));
    let ana = Store::new("ana");
    let url = ana.json(&["new", "Watched"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    gapmap_ok(&ana, &["sync", &server_url]);

    // `sync --watch` owns the store and stays connected; a JS client's note
    // arrives without another sync, and the CLI (routed to the owner) sees it.
    let watch = Proc::spawn(
        "gapmap sync --watch",
        &mut ana.command(&["sync", &server_url, "--watch"]),
    );
    js(&[
        "add",
        &server_url,
        &url,
        "push",
        "The bank changed its export format",
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let show = ana.show();
        if texts(&show, "push") == ["The bank changed its export format"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the JS note never arrived through sync --watch: {show}\nwatch stderr: {}",
            watch.stderr()
        );
        thread::sleep(Duration::from_millis(200));
    }

    // And the other way: a note added now reaches the JS server live.
    ana.ok(&["add", "pull", "Books that fill themselves"]);
    let found = js(&["find", &server_url, &url, "--until", "fill themselves"]);
    assert_eq!(
        js_note_texts(&found["doc"], "pull"),
        ["Books that fill themselves"]
    );
    let done = watch.terminate();
    assert_eq!(
        done.code, 0,
        "sync --watch did not stop cleanly:\n{}",
        done.stderr
    );
    drop(server);
}

#[test]
fn js_clients_use_gapmap_serve_as_a_peer() {
    gapmap_tests::require_node();
    let ana = Store::new("ana");
    let created = ana.json(&["new", "Served by gapmap"]);
    let url = created["url"].as_str().unwrap().to_string();
    ana.ok(&["add", "now", "Owner re-types invoices"]);
    let (serve, serve_url) = start_listening("gapmap serve", |addr| {
        ana.command(&["serve", "--listen", addr])
    });

    // A JS client fetches the canvas from the gapmap peer and adds a note;
    // the CLI (carried out by the serving process) sees it.
    let found = js(&["find", &serve_url, &url]);
    assert_eq!(found["doc"]["title"], "Served by gapmap");
    assert_eq!(
        js_note_texts(&found["doc"], "now"),
        ["Owner re-types invoices"]
    );
    js(&["add", &serve_url, &url, "pull", "Free Friday nights"]);
    assert_eq!(texts(&ana.show(), "pull"), ["Free Friday nights"]);

    // A document the peer lacks: unavailable, not a hang.
    let done = js_spawn(&["find", &serve_url, "random"]).finish(WAIT);
    assert_eq!(done.code, 4, "want unavailable (exit 4):\n{}", done.stderr);

    // Presence crosses the gapmap peer between two JS clients.
    let mut listener = js_spawn(&["ephemeral-listen", &serve_url, &url]);
    assert_eq!(listener.next_json(WAIT)["ready"], true);
    js(&[
        "ephemeral-send",
        &serve_url,
        &url,
        r#"{"name":"ana","note":"x"}"#,
    ]);
    let got = listener.finish(WAIT);
    assert_eq!(
        got.code, 0,
        "no ephemeral message arrived through gapmap serve:\n{}",
        got.stderr
    );
    assert_eq!(got.json().pop().unwrap()["message"]["name"], "ana");

    // A document that is not a canvas, pushed by a peer: kept, counted
    // apart by `list`, and never in the way of a canvas command.
    let other = js(&["create-other", &serve_url]);
    let other_id = other["id"].as_str().unwrap().to_string();

    let done = serve.terminate();
    assert_eq!(
        done.code, 0,
        "gapmap serve did not stop cleanly:\n{}",
        done.stderr
    );
    let listed = ana.json(&["list"]);
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "list --json names canvases only: {listed}");
    assert_eq!(rows[0]["title"], "Served by gapmap");
    let text = gapmap_ok(&ana, &["list"]);
    assert!(
        text.contains("and 1 other document (not canvases"),
        "list does not count the other document apart:\n{text}"
    );
    assert!(!text.contains(&other_id), "{text}");
    let done = gapmap(&ana, &["use", &other_id]);
    assert_ne!(done.code, 0, "use of a document that is not a canvas");
    assert!(
        done.stderr.contains("is not a canvas"),
        "unclear error: {}",
        done.stderr
    );
    assert_eq!(texts(&ana.show(), "now"), ["Owner re-types invoices"]);
    let prefix = &other_id[..4];
    let done = gapmap(&ana, &["show", "--canvas", prefix]);
    assert!(
        !done.stderr.contains("ambiguous"),
        "the other document made a prefix ambiguous: {}",
        done.stderr
    );
}
