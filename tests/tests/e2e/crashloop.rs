//! kill -9 during syncs, on both sides (issue 7): a `gapmap sync` killed at
//! random moments while it sends and receives, and a relay killed during an
//! edit storm. The store always opens again, every edit a command
//! acknowledged is there, and every change whose heads the relay
//! advertised survives it.
//!
//! `GAPMAP_SYNC_KILLS` (default 40) and `GAPMAP_RELAY_KILLS` (default 10)
//! set the counts; `scripts/crashloop` runs 1,000 and 100.
//! `GAPMAP_CRASH_SEED` replays a schedule.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::relay::harness::{Relay, Replica, Until};
use crate::util::{count, note_ids, Rng, Store};

fn url(relay: &Relay) -> String {
    format!("ws://127.0.0.1:{}", relay.port)
}

/// Sends SIGKILL to a child process.
fn kill_9(pid: u32) {
    // SAFETY: kill(2) on a child process we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

#[test]
fn kill_9_during_sync_loses_no_acknowledged_edit() {
    let kills_wanted = count("GAPMAP_SYNC_KILLS", 40);
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = url(&relay);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Killed mid-sync"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["sync", &url]);
    ben.ok(&["clone", &id, "--from", &url]);
    // How long an undisturbed sync with changes both ways takes here.
    let typical = {
        let mut times = Vec::new();
        for i in 0..5 {
            ben.ok(&["add", "now", &format!("warm-up {i}")]);
            ben.ok(&["sync", &url]);
            ana.ok(&["add", "to-be", &format!("warm-up {i}")]);
            let t = Instant::now();
            ana.ok(&["sync", &url]);
            times.push(t.elapsed());
        }
        times.sort();
        times[2]
    };
    let mut rng = Rng::new("sync kill loop");
    // Notes whose `gapmap add` returned: Ana's must be in her store at once,
    // Ben's once a sync finishes.
    let mut ana_acked: BTreeSet<String> = note_ids(&ana.show()).into_iter().collect();
    let mut ben_acked = BTreeSet::new();
    let (mut kills, mut connected_kills, mut finished, mut rounds) = (0, 0, 0, 0);
    let started = Instant::now();
    while kills < kills_wanted {
        rounds += 1;
        // Ana edits (acknowledged), Ben pushes an edit to the relay, so the
        // killed sync both sends and receives.
        ana_acked.insert(ana.ok(&["add", "now", &format!("ana {rounds}")]));
        if rounds % 2 == 0 {
            ben_acked.insert(ben.ok(&["add", "gain", &format!("ben {rounds}")]));
            ben.ok(&["sync", &url]);
        }
        let connections_before = relay.metric("gapmap_connections_total");
        let mut child = ana
            .command(&["sync", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let delay = Duration::from_micros(rng.below(typical.as_micros() as u64 * 2 + 1));
        let deadline = Instant::now() + delay;
        let done = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            if Instant::now() >= deadline {
                kill_9(child.id());
                break false;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let out = child.wait_with_output().unwrap();
        if done || out.status.success() {
            assert!(
                out.status.success(),
                "gapmap sync failed after an earlier kill: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            finished += 1;
        } else {
            kills += 1;
            // Killed after its websocket reached the relay: mid-exchange.
            if relay.metric("gapmap_connections_total") > connections_before {
                connected_kills += 1;
            }
        }
        // The store opens and holds every acknowledged edit of Ana's.
        let present: BTreeSet<String> = note_ids(&ana.show()).into_iter().collect();
        let lost: Vec<_> = ana_acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {rounds}: acknowledged notes lost: {lost:?}"
        );
        assert!(
            rounds < 20 * kills_wanted,
            "could not kill gapmap sync mid-way: every sync finished first"
        );
    }
    // One undisturbed sync each way: everyone has everything.
    ana.ok(&["sync", &url]);
    ben.ok(&["sync", &url]);
    let (a, b) = (ana.show(), ben.show());
    assert_eq!(a, b);
    let present: BTreeSet<String> = note_ids(&a).into_iter().collect();
    let acked: BTreeSet<String> = ana_acked.union(&ben_acked).cloned().collect();
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged notes lost: {lost:?}");
    let doctor = ana.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
    relay.assert_no_panic();
    eprintln!(
        "sync kill loop: {rounds} syncs, {kills} killed ({connected_kills} after connecting to the relay; \
         typical sync {typical:.1?}), {finished} finished, \
         {} acknowledged notes all present, in {:.1?}",
        acked.len(),
        started.elapsed()
    );
}

#[test]
fn relay_kill_9_during_an_edit_storm_loses_no_advertised_change() {
    let rounds = count("GAPMAP_RELAY_KILLS", 10);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new("relay kill loop");
    // Every (document, key) whose change the relay advertised back.
    let acked: Arc<Mutex<Vec<(gapmap_proto::DocumentId, String)>>> = Arc::default();
    let docs = [Replica::random_id(), Replica::random_id()];
    let mut replicas: Vec<Replica> = docs
        .iter()
        .map(|&id| Replica::new(id, "start", "0"))
        .collect();
    let (mut writes, mut unacked) = (0usize, 0usize);
    let started = Instant::now();
    for round in 0..rounds {
        let relay = Relay::start(dir.path(), &["--open"]);
        // Two writers, each on its own document, edit and sync as fast as
        // they can; the relay dies under them.
        let dead = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (w, mut replica) in std::mem::take(&mut replicas).into_iter().enumerate() {
            let mut peer = relay.join(&format!("writer-{w}-{round}"), None);
            replica.reconnect();
            let (acked, dead) = (acked.clone(), dead.clone());
            threads.push(std::thread::spawn(move || {
                let (mut writes, mut unacked) = (0usize, 0usize);
                let mut i = 0;
                while !dead.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("r{round}-w{w}-{i}");
                    replica.put(&key, "v");
                    writes += 1;
                    match replica.sync(&mut peer, Until::InSync, Duration::from_secs(5)) {
                        Ok(()) => acked.lock().unwrap().push((replica.id, key)),
                        Err(_) => {
                            unacked += 1;
                            break;
                        }
                    }
                }
                (replica, writes, unacked)
            }));
        }
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        kill_9(relay.pid() as u32);
        dead.store(true, Ordering::Relaxed);
        for t in threads {
            let (replica, w, u) = t.join().unwrap();
            replicas.push(replica);
            writes += w;
            unacked += u;
        }
        drop(relay);
    }
    // A fresh relay on the same data holds every advertised change.
    let relay = Relay::start(dir.path(), &["--open"]);
    let mut reader = relay.join("reader", None);
    let acked = acked.lock().unwrap();
    for id in docs {
        let copy = Replica::fetch(&mut reader, id).unwrap();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|(d, key)| *d == id && copy.get(key).is_none())
            .map(|(_, key)| key)
            .collect();
        assert!(
            lost.is_empty(),
            "{} advertised changes lost: {lost:?}",
            lost.len()
        );
    }
    relay.assert_no_panic();
    eprintln!(
        "relay kill loop: {rounds} SIGKILLs during edit storms, {writes} edits sent, {} advertised by the relay and all \
         present after the restarts, {unacked} in flight at a kill, in {:.1?}",
        acked.len(),
        started.elapsed()
    );
    assert!(
        acked.len() > rounds,
        "the writers got almost nothing acknowledged"
    );
}
