//! Local and peer edits landing together on one document: the owner process
//! (`gapmap ui`, connected to a relay) takes routed CLI commands and the
//! board's page socket while another store's edits arrive through the
//! relay. Afterwards every head of the document is among the heads the
//! store recorded (and nothing recorded is missing), and every note is there.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::relay::harness::Relay;
use crate::util::{texts, Store};

/// `gapmap ui` on a store, connected to `url`, until dropped.
struct Owner {
    child: Child,
    /// The board's page socket for the canvas.
    ws: String,
}

impl Owner {
    fn start(store: &Store, url: &str, canvas: &str) -> Owner {
        let mut child = store
            .command(&["ui", "--listen", "127.0.0.1:0", "--sync", url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.contains("board on ") {
            line.clear();
        }
        let board = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("gapmap ui said: {line}"))
            .to_string();
        let ws = format!(
            "{}api/ws?canvas={canvas}",
            board.replace("http://", "ws://")
        );
        Owner { child, ws }
    }

    /// Stops it as a user would (SIGTERM) and waits.
    fn stop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Owner {
    /// A test that failed half-way leaves no owner running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `op` on the page socket and waits for its answer.
fn page_op(
    page: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    reference: u64,
    op: Value,
) {
    let mut op = op;
    op["ref"] = json!(reference);
    page.send(tungstenite::Message::text(op.to_string()))
        .unwrap();
    loop {
        let message = page.read().unwrap();
        let Ok(text) = message.to_text() else {
            continue;
        };
        let Ok(reply) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if reply["ref"] == json!(reference) {
            assert_eq!(reply["type"], "ack", "{reply}");
            return;
        }
    }
}

#[test]
fn local_and_peer_edits_together_leave_every_head_recorded() {
    const EACH: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = format!("ws://127.0.0.1:{}", relay.port);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Together"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["add", "now", "seed"]);
    ana.ok(&["sync", &url]);
    assert_eq!(ben.ok(&["clone", &id, "--from", &url]), id);

    let mut owner = Owner::start(&ana, &url, &id);
    std::thread::scope(|s| {
        // Routed CLI commands.
        s.spawn(|| {
            for i in 0..EACH {
                ana.ok(&["add", "now", &format!("cli {i}")]);
            }
        });
        // The board's page.
        s.spawn(|| {
            let (mut page, _) = tungstenite::connect(owner.ws.as_str()).expect("page socket");
            for i in 0..EACH {
                page_op(
                    &mut page,
                    i as u64 + 1,
                    json!({ "op": "add", "section": "to-be", "text": format!("page {i}") }),
                );
            }
        });
        // A peer: another store, syncing through the relay.
        s.spawn(|| {
            for i in 0..EACH {
                ben.ok(&["add", "constraint", &format!("peer {i}")]);
                ben.ok(&["sync", &url]);
            }
        });
    });
    // Let the owner take in the peer's last changes, then stop it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        ben.ok(&["sync", &url]);
        let shown = ana.show();
        if texts(&shown, "constraint").len() == EACH || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    owner.stop();

    let shown = ana.show();
    let mut want: Vec<String> = (0..EACH).map(|i| format!("cli {i}")).collect();
    want.insert(0, "seed".into());
    let mut now = texts(&shown, "now");
    now.sort();
    want.sort();
    assert_eq!(now, want);
    assert_eq!(texts(&shown, "to-be").len(), EACH);
    assert_eq!(texts(&shown, "constraint").len(), EACH);
    let store = gapmap_store::Store::open(&ana.home).unwrap();
    let mut doc = store.load(&id).unwrap().unwrap();
    let heads: BTreeSet<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    let recorded: BTreeSet<String> = store
        .recorded_heads(&id)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    // Every head of the document is recorded (an overwrite dropped one),
    // and every recorded head is in the document (`load` checks that too).
    // A recorded change the document built on may remain recorded beside
    // the heads until the next compaction: harmless, as it is stored.
    assert!(
        heads.is_subset(&recorded),
        "the store lost track of heads: recorded {recorded:?}, the document has {heads:?}"
    );
    for hash in &recorded {
        let hash: automerge::ChangeHash = hash.parse().unwrap();
        assert!(
            doc.get_change_meta_by_hash(&hash).is_some(),
            "{hash} recorded, not stored"
        );
    }
    drop(store);
    // (After the heads are read: doctor may rewrite what it finds.)
    let doctor = ana.json(&["doctor"]);
    assert_eq!(doctor["healthy"], true, "{doctor}");
}
