//! `gapmap sync`, `clone`, `serve` and `status` between real processes on
//! loopback: stores converge through a relay and peer to peer, acknowledged
//! changes survive a relay killed with SIGKILL, and network mistakes give one
//! clear line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::relay::harness::Relay;
use crate::util::{texts, Store};
use gapmap_tests::free_port;

fn url(relay: &Relay) -> String {
    format!("ws://127.0.0.1:{}", relay.port)
}

/// `gapmap serve` on a store, until dropped.
pub struct Serving {
    pub child: Child,
    pub url: String,
}

impl Serving {
    pub fn start(store: &Store, extra: &[&str]) -> Serving {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let mut child = store
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("serving"), "gapmap serve said: {line}");
        Serving {
            child,
            url: format!("ws://{listen}"),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}

#[test]
fn three_stores_converge_through_a_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = url(&relay);
    let (ana, ben, cy) = (Store::new("ana"), Store::new("ben"), Store::new("cy"));
    let id = ana.json(&["new", "Field research"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shared = ana.ok(&["add", "now", "Keeps receipts in a shoebox"]);
    ana.ok(&["remote", "add", "team", &url]);
    assert!(ana.ok(&["sync"]).contains("1 canvas in sync"));
    assert_eq!(ben.ok(&["clone", &id, "--from", &url]), id);
    assert_eq!(
        cy.ok(&["clone", &format!("automerge:{id}"), "--from", &url]),
        id
    );

    // Offline: all three edit, two of them the same note's text.
    ana.ok(&["edit", &shared, "Keeps every paper receipt in a shoebox"]);
    ben.ok(&[
        "edit",
        &shared,
        "Keeps receipts in a shoebox under the desk",
    ]);
    ana.ok(&["add", "to-be", "Finds any receipt in seconds"]);
    ben.ok(&["add", "constraint", "Distrusts cloud storage"]);
    cy.ok(&["add", "catalyst", "An accountant who asks for scans"]);
    cy.ok(&["mark", &shared, "validated"]);

    for s in [&ana, &ben, &cy, &ana, &ben] {
        s.ok(&["sync", &url]);
    }
    let (a, b, c) = (ana.show(), ben.show(), cy.show());
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(
        texts(&a, "now"),
        ["Keeps every paper receipt in a shoebox under the desk"]
    );
    assert_eq!(a["sections"]["now"][0]["status"], "validated");
    for section in ["to-be", "constraint", "catalyst"] {
        assert_eq!(texts(&a, section).len(), 1, "{section}");
    }
    let status = ana.ok(&["status"]);
    assert!(status.contains("up to date"), "{status}");
    ana.ok(&["add", "design", "Snap a receipt, filed by date"]);
    assert!(ana
        .ok(&["status"])
        .contains("1 local change not yet synced"));
}

#[test]
fn peers_sync_directly_while_the_owner_keeps_working() {
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Direct"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["add", "now", "before serving"]);
    let serving = Serving::start(&ana, &[]);

    // Ana's own commands go through the serving process.
    let during = ana.ok(&["add", "now", "while serving"]);
    assert_eq!(ben.ok(&["clone", &id, "--from", &serving.url]), id);
    assert_eq!(
        texts(&ben.show(), "now"),
        ["before serving", "while serving"]
    );

    ben.ok(&["edit", &during, "while serving, edited by ben"]);
    ben.ok(&["sync", &serving.url]);
    assert_eq!(
        texts(&ana.show(), "now"),
        ["before serving", "while serving, edited by ben"]
    );
    // Routed commands keep their exit codes and one-line errors.
    assert!(ana
        .fails(&["add", "nowhere", "x"])
        .contains("unknown section"));
    assert!(ana
        .fails(&["serve", "--listen", "127.0.0.1:0"])
        .contains("already owns"));
    drop(serving);
    // After the owner stops, the store opens directly again.
    assert_eq!(texts(&ana.show(), "now").len(), 2);
}

#[test]
fn a_token_protects_serve() {
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Guarded"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let serving = Serving::start(&ana, &["--token", "s3cret-s3cret-s3cret"]);
    assert!(ben
        .fails(&["clone", &id, "--from", &serving.url])
        .contains("401"));
    assert_eq!(
        ben.ok(&[
            "clone",
            &id,
            "--from",
            &serving.url,
            "--token",
            "s3cret-s3cret-s3cret"
        ]),
        id
    );
}

#[test]
fn acknowledged_changes_survive_a_relay_killed_mid_storm() {
    let dir = tempfile::tempdir().unwrap();
    let ana = Store::new("ana");
    let id = ana.json(&["new", "Storm"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut acked = Vec::new();
    for round in 0..4 {
        let relay = Relay::start(dir.path(), &["--open"]);
        let url = url(&relay);
        let mut i = 0;
        let started = Instant::now();
        // Edit and sync until the relay dies under us.
        let killer = {
            let pid = relay.pid();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150 + 100 * round));
                // SAFETY: signalling the relay process we started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            })
        };
        loop {
            let note = ana.ok(&["add", "now", &format!("round {round} edit {i}")]);
            i += 1;
            if ana.run(&["sync", &url]).code == 0 {
                acked.push(note);
            } else {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the relay never died"
            );
        }
        killer.join().unwrap();
    }
    // A fresh relay process on the same data has every acknowledged note.
    let relay = Relay::start(dir.path(), &["--open"]);
    let ben = Store::new("ben");
    assert_eq!(ben.ok(&["clone", &id, "--from", &url(&relay)]), id);
    let present = crate::util::note_ids(&ben.show());
    let lost: Vec<_> = acked.iter().filter(|n| !present.contains(n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged notes lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    assert!(!acked.is_empty());
}

#[test]
fn network_mistakes_give_one_clear_line() {
    let s = Store::new("dee");
    let id = s.json(&["new", "Mistakes"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let port = free_port();
    assert!(s
        .fails(&["sync", &format!("ws://127.0.0.1:{port}")])
        .contains("cannot reach"));
    assert!(s.fails(&["sync", "http://example.org"]).contains("ws://"));
    assert!(s.fails(&["sync"]).contains("no remote"));
    assert!(s
        .fails(&["sync", "nosuchremote"])
        .contains("unknown remote"));
    assert!(s
        .fails(&["remote", "add", "x", "not-a-url"])
        .contains("ws://"));
    assert!(s
        .fails(&["clone", "not-an-id", "--from", "ws://127.0.0.1:1"])
        .contains("invalid document id"));

    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[token]]\nsecret = \"reader-reader-reader\"\naccess = \"read\"\n\n[[token]]\nsecret = \"writer-writer-writer\"\naccess = \"write\"\n",
    )
    .unwrap();
    let relay = Relay::start(dir.path(), &["--tokens", tokens.to_str().unwrap()]);
    let url = url(&relay);
    assert!(s.fails(&["sync", &url]).contains("401"));
    // (A failing command must say one line: tokens from files, not argv,
    // which would add the warning that argv is visible to others.)
    let file = |name: &str, secret: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, secret).unwrap();
        std::fs::set_permissions(
            &path,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let (wrong, reader) = (
        file("wrong", "wrong-wrong-wrong-wrong"),
        file("reader", "reader-reader-reader"),
    );
    assert!(s
        .fails(&["sync", &url, "--token-file", &wrong])
        .contains("401"));
    let line = s.fails(&["sync", &url, "--token-file", &reader]);
    assert!(line.contains("read-only"), "{line}");
    s.ok(&["sync", &url, "--token", "writer-writer-writer"]);
    let other = Store::new("eli");
    let missing = gapmap_canvas::DocId::random().to_string();
    let line = other.fails(&["clone", &missing, "--from", &url, "--token-file", &reader]);
    assert!(line.contains("does not have"), "{line}");
    assert_eq!(
        other.ok(&[
            "clone",
            &id,
            "--from",
            &url,
            "--token",
            "reader-reader-reader"
        ]),
        id
    );
}

#[test]
fn peers_find_each_other_on_the_lan() {
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "On the LAN"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let serving = Serving::start(&ana, &["--announce"]);
    let peers = ben.json(&["peers", "--wait", "3"]);
    let urls: Vec<&str> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&serving.url.as_str()),
        "{peers} lacks {}",
        serving.url
    );
    ben.ok(&["clone", &id, "--from", &serving.url]);
    ben.ok(&["add", "now", "added by ben"]);
    assert!(ben.ok(&["sync", "--lan"]).contains("1 canvas in sync"));
    assert_eq!(texts(&ana.show(), "now"), ["added by ben"]);
}
