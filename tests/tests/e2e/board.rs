//! The web board (`gapmap ui`) in real Chromium: Debian's `/usr/bin/chromium`
//! driven by playwright-core from tests/js/board.test.mjs. This side starts
//! the boards on temporary stores (and a relay), answers the script's
//! checkpoints by checking the stores with `gapmap show --json` (and the
//! JSON export, for votes and comments) or by making CLI changes, and
//! checks that the pages asked for nothing but their own server.
//!
//! Chromium, node and playwright-core must be there (scripts/test installs
//! them); a test without them fails with the install hint.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::relay::harness::Relay;
use crate::util::{texts, Store};
use gapmap_tests::free_port;

/// How long one browser scenario may take in all.
const SCENARIO: Duration = Duration::from_secs(75);

fn js_dir() -> PathBuf {
    gapmap_tests::js_dir()
}

/// `gapmap ui` on a store, stopped with SIGTERM when dropped.
pub(crate) struct Board {
    child: Child,
    pub(crate) url: String,
}

impl Board {
    pub(crate) fn start(store: &Store, extra: &[&str]) -> Board {
        let mut args = vec!["ui", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = store
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.contains("board on ") {
            line.clear();
        }
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("gapmap ui said: {line}"))
            .to_string();
        Board { child, url }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("gapmap ui did not stop within 10 s of SIGTERM");
    }
}

/// The browser script, checkpoint by checkpoint.
pub(crate) struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    deadline: Instant,
}

impl Script {
    pub(crate) fn start(scenario: &str, env: &[(&str, &str)]) -> Script {
        let mut cmd = Command::new("node");
        cmd.arg("board.test.mjs")
            .arg(scenario)
            .current_dir(js_dir())
            .env("CHROMIUM", gapmap_tests::require_chromium());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node");
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
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
        Script {
            child,
            stdin,
            lines,
            stderr,
            deadline: Instant::now() + SCENARIO,
        }
    }

    /// The next message: a checkpoint, or the end (`done`/`failed`).
    fn next(&mut self) -> Value {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("board.test.mjs printed ({e}): {line}")),
            Err(_) => {
                let _ = self.child.kill();
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "board.test.mjs: no answer within {SCENARIO:?}\n{}",
                    self.stderr.lock().unwrap()
                );
            }
        }
    }

    fn answer(&mut self, result: Result<(), String>) {
        let reply = match result {
            Ok(()) => json!({ "ok": true }),
            Err(why) => json!({ "ok": false, "why": why }),
        };
        writeln!(self.stdin, "{reply}").unwrap();
    }

    /// Runs the scenario to its end, answering each checkpoint with `on`.
    pub(crate) fn run(mut self, mut on: impl FnMut(&Value) -> Result<(), String>) -> Value {
        loop {
            let message = self.next();
            if message.get("checkpoint").is_some() {
                let result = on(&message);
                let failed = result.clone().err();
                self.answer(result);
                if let Some(why) = failed {
                    let _ = self.child.wait();
                    panic!(
                        "checkpoint {}: {why}\n{}",
                        message["checkpoint"],
                        self.stderr.lock().unwrap()
                    );
                }
                continue;
            }
            let status = self.child.wait().unwrap();
            thread::sleep(Duration::from_millis(50));
            assert!(
                message["done"] == true && status.success(),
                "board.test.mjs failed: {message}\n{}",
                self.stderr.lock().unwrap()
            );
            return message;
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The notes of a section in `show --json`: (id, text, status, tags).
fn section(show: &Value, id: &str) -> Vec<Value> {
    show["sections"][id].as_array().cloned().unwrap_or_default()
}

fn find<'a>(show: &'a Value, note: &str) -> Option<(&'a str, &'a Value)> {
    show["sections"].as_object()?.iter().find_map(|(s, notes)| {
        notes
            .as_array()?
            .iter()
            .find(|n| n["id"] == note)
            .map(|n| (s.as_str(), n))
    })
}

pub(crate) fn expect(condition: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(why())
    }
}

/// Every URL the pages asked for is on `origin` (http and ws).
pub(crate) fn only_local(requests: &Value, origins: &[&str]) {
    let requests = requests.as_array().expect("requests");
    assert!(!requests.is_empty());
    for url in requests {
        let url = url.as_str().unwrap();
        let ok = origins.iter().any(|o| {
            let host = o.trim_start_matches("http://").trim_end_matches('/');
            url.starts_with(&format!("http://{host}/")) || url.starts_with(&format!("ws://{host}/"))
        });
        assert!(
            ok,
            "a page asked for {url}, not its own server ({origins:?})"
        );
    }
}

#[test]
fn the_board_in_chromium_changes_the_store() {
    gapmap_tests::require_chromium();
    let ana = Store::new("ana");
    let canvas = ana.json(&["new", "Board test"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["add", "now", "Sends invoices by hand"]);
    ana.ok(&["add", "constraint", "Fears upsetting a good client"]);
    ana.ok(&["add", "to-be", "Gets paid on time"]);
    let board = Board::start(&ana, &[]);
    let script = Script::start("single", &[("BOARD_URL", &board.url), ("CANVAS", &canvas)]);
    let export = |store: &Store| -> Value {
        serde_json::from_str(&store.ok(&["export", "--format", "json"])).unwrap()
    };
    let exported_note = |note: &str| -> Value {
        let all = export(&ana);
        let found = all["sections"].as_object().and_then(|sections| {
            sections
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .find(|n| n["id"] == note)
                .cloned()
        });
        found.unwrap_or_else(|| panic!("note {note} not in the export: {all}"))
    };
    let done = script.run(|step| {
        let name = step["checkpoint"].as_str().unwrap();
        let id = step["id"].as_str().unwrap_or_default();
        let show = ana.show();
        match name {
            "added" | "edited" | "moved" | "restored" => {
                let (section, note) =
                    find(&show, id).ok_or_else(|| format!("{id} is not on the board: {show}"))?;
                if let Some(want) = step["section"].as_str() {
                    expect(section == want, || {
                        format!("{id} is in {section}, not {want}")
                    })?;
                }
                if let Some(want) = step["text"].as_str() {
                    expect(note["text"] == want, || {
                        format!("{id} says {}", note["text"])
                    })?;
                }
                Ok(())
            }
            "reordered" => {
                let first = section(&show, "to-be").first().map(|n| n["id"].clone());
                expect(first == Some(json!(id)), || {
                    format!("to-be starts with {first:?}, not {id}")
                })
            }
            "marked" => expect(
                find(&show, id).is_some_and(|(_, n)| n["status"] == "validated"),
                || format!("{show}"),
            ),
            "tagged" => expect(
                find(&show, id)
                    .is_some_and(|(_, n)| n["tags"].as_array().unwrap().contains(&json!("urgent"))),
                || format!("{show}"),
            ),
            "voted" => {
                let note = exported_note(id);
                expect(note["votes"].to_string().contains("ana"), || {
                    format!("no vote by ana: {note}")
                })
            }
            "commented" => {
                let note = exported_note(id);
                let comments = note["comments"].to_string();
                expect(
                    comments.contains("Did three people say so?")
                        && comments.contains("\"resolved\":true"),
                    || format!("comment missing or open: {comments}"),
                )
            }
            "trashed" => {
                expect(find(&show, id).is_none(), || {
                    format!("{id} is still on the board")
                })?;
                let trash = ana.json(&["trash"]);
                expect(trash.to_string().contains(id), || {
                    format!("{id} not in the trash: {trash}")
                })
            }
            "keyboard" => {
                let here = texts(&show, step["section"].as_str().unwrap());
                expect(here.iter().any(|t| t == "Added with the keyboard"), || {
                    format!("{here:?}")
                })?;
                expect(!show.to_string().contains("Never saved"), || {
                    "a cancelled note was saved".into()
                })
            }
            "cli-add" | "cli-script" => {
                ana.ok(&[
                    "add",
                    step["section"].as_str().unwrap(),
                    step["text"].as_str().unwrap(),
                ]);
                Ok(())
            }
            "merged" => expect(
                find(&show, id).is_some_and(|(_, n)| n["text"] == step["text"]),
                || format!("{show}"),
            ),
            "cli-edit" | "cli-concurrent" => {
                ana.ok(&["edit", id, step["text"].as_str().unwrap()]);
                Ok(())
            }
            "job" => {
                let job = ana.json(&["job"]);
                expect(job["situation"] == step["situation"], || format!("{job}"))
            }
            "title" => expect(show["title"] == step["title"], || {
                format!("title {}", show["title"])
            }),
            "long-refused" => expect(!show.to_string().contains(&"x".repeat(100)), || {
                "the long note was saved".into()
            }),
            "malformed" => {
                let live: usize = show["sections"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_array().unwrap().len())
                    .sum();
                expect(find(&show, id).is_some(), || {
                    "the note did not come back from the trash".into()
                })?;
                expect(!show.to_string().contains("edited while trashed"), || {
                    "a trashed note was edited".into()
                })?;
                expect(live == 8, || {
                    format!("{live} notes after bad input: {show}")
                })
            }
            other => Err(format!("unknown checkpoint {other}")),
        }
    });
    only_local(&done["requests"], &[&board.url]);
    eprintln!("board timings: {}", done["timings"]);
}

#[test]
fn two_boards_through_a_relay_edit_together_with_presence() {
    gapmap_tests::require_chromium();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = format!("ws://127.0.0.1:{}", relay.port);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let canvas = ana.json(&["new", "Together"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let disputed = ana.ok(&["add", "now", "Chases payments every Friday"]);
    ana.ok(&["sync", &url]);
    ben.ok(&["clone", &canvas, "--from", &url]);
    // Offline, both set the same note's status: a conflict.
    ana.ok(&["mark", &disputed, "validated"]);
    ben.ok(&["mark", &disputed, "invalidated"]);
    for store in [&ana, &ben, &ana] {
        store.ok(&["sync", &url]);
    }
    ana.ok(&["remote", "add", "team", &url]);
    // Ana's board syncs with her configured remote, Ben's with --sync.
    let board_a = Board::start(&ana, &[]);
    let board_b = Board::start(&ben, &["--sync", &url]);
    let script = Script::start(
        "pair",
        &[
            ("BOARD_A", &board_a.url),
            ("BOARD_B", &board_b.url),
            ("CANVAS", &canvas),
            ("CONFLICT", &disputed),
        ],
    );
    let done = script.run(|step| {
        let id = step["id"].as_str().unwrap();
        // Both stores, read through their boards' processes, agree.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (a, b) = (ana.show(), ben.show());
            let same = a == b
                && find(&a, id).is_some_and(|(s, n)| {
                    s == step["section"]
                        && n["text"] == step["text"]
                        && n["status"] == step["status"]
                });
            if same {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the stores differ:\nana: {a}\nben: {b}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    only_local(&done["requests"], &[&board_a.url, &board_b.url]);
    eprintln!("board pair timings: {}", done["timings"]);
    drop(relay);
}

#[test]
fn the_boards_form_works_in_chromium_and_other_origins_are_refused() {
    gapmap_tests::require_chromium();
    let ana = Store::new("ana");
    ana.ok(&["new", "Already here"]);
    let board = Board::start(&ana, &[]);
    let script = Script::start("forms", &[("BOARD_URL", &board.url)]);
    let titles = |s: &Store| -> Vec<String> {
        s.json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_string())
            .collect()
    };
    script.run(|step| match step["checkpoint"].as_str().unwrap() {
        "created" => {
            let id = step["id"].as_str().unwrap();
            let listed = titles(&ana);
            expect(listed.iter().any(|t| t == "Made in a browser form"), || {
                format!("the form made no canvas: {listed:?}")
            })?;
            let show = ana.json(&["-c", id, "show"]);
            expect(show["title"] == "Made in a browser form", || {
                format!("{show}")
            })?;
            expect(
                section(&show, "now")
                    .iter()
                    .any(|n| n["text"] == "Added on the new canvas"),
                || format!("the note is not on the new canvas: {show}"),
            )
        }
        "refused" => {
            let listed = titles(&ana);
            expect(!listed.iter().any(|t| t == "From another origin"), || {
                format!("another origin made a canvas: {listed:?}")
            })
        }
        other => Err(format!("unexpected checkpoint {other}")),
    });
}

#[test]
fn the_board_refuses_other_sites_and_bad_addresses() {
    let ana = Store::new("ana");
    ana.ok(&["new", "Guarded"]);
    // Binding beyond loopback needs --public.
    let port = free_port();
    let open = format!("0.0.0.0:{port}");
    assert!(ana.fails(&["ui", "--listen", &open]).contains("--public"));
    let board = Board::start(&ana, &[]);
    let addr = board
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let request = |head: &str| -> String {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let get = |host: &str, extra: &str| {
        request(&format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
        ))
    };
    assert!(get(&addr, "").starts_with("HTTP/1.1 200"));
    // DNS rebinding: another host name is refused.
    assert!(get("evil.example:7777", "").starts_with("HTTP/1.1 403"));
    // Another web site's page cannot open the board's socket.
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let canvas = ana.json(&["list"])[0]["id"].as_str().unwrap().to_string();
    let ws = |origin: &str| {
        request(&format!("GET /api/ws?canvas={canvas} HTTP/1.1\r\nHost: {addr}\r\n{upgrade}Origin: {origin}\r\n\r\n"))
    };
    assert!(ws("http://evil.example").starts_with("HTTP/1.1 403"));
    assert!(ws(&format!("http://{addr}")).starts_with("HTTP/1.1 101"));
    // The new-canvas form: only from the board's own origin. Its pages ask
    // browsers to send that origin (a "no-referrer" policy made them send
    // `Origin: null`, which the board refuses like any other origin).
    let post = |origin: &str| {
        let body = "title=Posted";
        request(&format!(
            "POST /canvases HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    assert!(post("http://evil.example").starts_with("HTTP/1.1 403"));
    assert!(post("null").starts_with("HTTP/1.1 403"));
    assert!(post(&format!("http://{addr}")).starts_with("HTTP/1.1 303"));
    assert!(get(&addr, "")
        .to_ascii_lowercase()
        .contains("referrer-policy: same-origin"));
    // A second `gapmap ui` on the store is told where the board is.
    let second = ana.ok(&["ui"]);
    assert!(second.contains(&board.url), "{second}");
    // Exports from the CLI: PNG too.
    let png = ana
        .command(&["export", "--format", "png"])
        .output()
        .unwrap();
    assert!(png.status.success() && png.stdout.starts_with(b"\x89PNG\r\n\x1a\n"));
}

/// The board's presence is automerge-repo ephemeral data: an unmodified
/// JavaScript automerge-repo client on the relay reads it, and presence it
/// sends shows on the board.
#[test]
fn presence_reaches_and_comes_from_javascript_automerge_repo_clients() {
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = format!("ws://127.0.0.1:{}", relay.port);
    let ana = Store::new("ana");
    let canvas = ana.json(&["new", "Presence"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["sync", &url]);
    let board = Board::start(&ana, &["--sync", &url]);
    let doc_url = format!("automerge:{canvas}");

    let mut listen = Command::new("node")
        .args(["client.mjs", "ephemeral-listen", &url, &doc_url])
        .current_dir(js_dir())
        .env("GAPMAP_JS_TIMEOUT_MS", "20000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listen.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains("ready"), "{ready}");

    // A page opens the board: the JS client hears about it.
    let ws_url = format!(
        "{}api/ws?canvas={canvas}",
        board.url.replace("http://", "ws://")
    );
    let (mut page, _) = tungstenite::connect(ws_url.as_str()).expect("page socket");
    let heard: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(listen.wait().unwrap().success());
    let message = &heard["message"];
    assert_eq!(message["type"], "gapmap-presence", "{heard}");
    assert_eq!(message["name"], "ana");
    assert_eq!(message["state"], "here");
    assert!(message["color"].as_str().unwrap().starts_with('#'));

    // A JS client's presence shows on the page.
    let sent = json!({ "type": "gapmap-presence", "session": "js-1", "name": "Jay", "color": "#123456", "editing": null, "state": "here" });
    let send = Command::new("node")
        .args([
            "client.mjs",
            "ephemeral-send",
            &url,
            &doc_url,
            &sent.to_string(),
        ])
        .current_dir(js_dir())
        .output()
        .unwrap();
    assert!(
        send.status.success(),
        "{}",
        String::from_utf8_lossy(&send.stderr)
    );
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = page.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "Jay never showed on the board");
        let frame = page.read().expect("page socket read");
        let Ok(text) = frame.to_text() else { continue };
        let message: Value = serde_json::from_str(text).unwrap();
        if message["type"] == "presence" && message["people"].to_string().contains("\"Jay\"") {
            let jay = message["people"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "Jay")
                .unwrap()
                .clone();
            assert_eq!(jay["color"], "#123456");
            assert_eq!(jay["here"], false);
            break;
        }
    }
    drop(page);
    drop(board);
    drop(relay);
}
