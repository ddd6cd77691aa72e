//! Connections cut mid-message (issue 7): a small TCP proxy between a
//! `gapmap sync` (one-shot, or `--watch`) and a relay drops connections at
//! random byte offsets, in either direction. Both ends recover on the next
//! connection and converge; a one-shot sync that was cut fails with one
//! clear line and leaves the store whole.
//!
//! `GAPMAP_NET_CUTS` sets the cuts of the one-shot test (default 30;
//! `scripts/crashloop` runs 300).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::relay::harness::Relay;
use crate::util::{count, note_ids, Rng, Store};

/// What the proxy did.
#[derive(Default)]
pub struct ProxyStats {
    pub connections: AtomicUsize,
    /// Connections cut at their planned offset.
    pub cuts: AtomicUsize,
    /// Bytes passed on, both ways.
    pub bytes: AtomicU64,
}

/// A TCP proxy to `upstream` on 127.0.0.1. While `cuts_left` is above zero,
/// each new connection gets a planned cut: after a random number of bytes
/// (below `max_offset`) in a random direction, both sockets are shut down,
/// mid-frame as often as not. Stops when dropped.
pub struct Proxy {
    pub port: u16,
    pub stats: Arc<ProxyStats>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, cuts: usize, max_offset: u64, rng: Rng) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stats = Arc::new(ProxyStats::default());
        let cuts_left = Arc::new(AtomicUsize::new(cuts));
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(rng));
        {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let client = match listener.accept() {
                        Ok((c, _)) => c,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        continue;
                    };
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    // Plan this connection's cut, if any are left.
                    let plan = cuts_left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .ok()
                        .map(|_| {
                            let mut rng = rng.lock().unwrap();
                            let offset = 1 + rng.below(max_offset);
                            (rng.below(2) == 0, offset)
                        });
                    let cut = Arc::new(AtomicBool::new(false));
                    for upward in [true, false] {
                        let (mut from, mut to) = if upward {
                            (client.try_clone().unwrap(), server.try_clone().unwrap())
                        } else {
                            (server.try_clone().unwrap(), client.try_clone().unwrap())
                        };
                        let limit = plan.filter(|(up, _)| *up == upward).map(|(_, at)| at);
                        let (stats, cut, cuts_left) =
                            (stats.clone(), cut.clone(), cuts_left.clone());
                        std::thread::spawn(move || {
                            let mut passed = 0u64;
                            let mut buf = [0u8; 4096];
                            loop {
                                let n = match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                let allowed = limit
                                    .map_or(n as u64, |at| (at - passed).min(n as u64))
                                    as usize;
                                if to.write_all(&buf[..allowed]).is_err() {
                                    break;
                                }
                                passed += allowed as u64;
                                stats.bytes.fetch_add(allowed as u64, Ordering::Relaxed);
                                if limit == Some(passed) {
                                    cut.store(true, Ordering::Relaxed);
                                    stats.cuts.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                            let _ = from.shutdown(Shutdown::Both);
                            let _ = to.shutdown(Shutdown::Both);
                            // A planned cut that never happened (the
                            // connection ended first) goes back to the pool.
                            if limit.is_some() && !cut.load(Ordering::Relaxed) {
                                cuts_left.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                }
            });
        }
        Proxy { port, stats, stop }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn cuts(&self) -> usize {
        self.stats.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn one_shot_syncs_cut_mid_message_fail_cleanly_and_converge() {
    let cuts_wanted = count("GAPMAP_NET_CUTS", 30);
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let direct = format!("ws://127.0.0.1:{}", relay.port);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Cut cables"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["sync", &direct]);
    ben.ok(&["clone", &id, "--from", &direct]);
    // How many bytes a sync with a change each way moves: cuts land below.
    let probe = Proxy::start(relay.port, 0, 1, Rng::new("probe"));
    ben.ok(&["add", "now", "probe"]);
    ben.ok(&["sync", &direct]);
    ana.ok(&["add", "now", "probe"]);
    ana.ok(&["sync", &probe.url()]);
    let typical = probe.stats.bytes.load(Ordering::Relaxed);
    drop(probe);

    let proxy = Proxy::start(relay.port, cuts_wanted, typical, Rng::new("one-shot cuts"));
    let (mut ana_acked, mut ben_acked) = (BTreeSet::new(), BTreeSet::new());
    let (mut failures, mut successes, mut rounds) = (0usize, 0usize, 0usize);
    let mut messages = BTreeSet::new();
    let started = Instant::now();
    while proxy.cuts() < cuts_wanted {
        rounds += 1;
        ana_acked.insert(ana.ok(&["add", "now", &format!("ana {rounds}")]));
        if rounds % 2 == 0 {
            ben_acked.insert(ben.ok(&["add", "pain", &format!("ben {rounds}")]));
            ben.ok(&["sync", &direct]);
        }
        let run = ana.run(&["sync", &proxy.url()]);
        if run.code == 0 {
            successes += 1;
        } else {
            failures += 1;
            assert_eq!(run.code, 1, "{}", run.stderr);
            let lines: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            assert_eq!(lines.len(), 1, "want one line, got: {}", run.stderr);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            // The kinds of message, without the variable parts.
            let url = proxy.url();
            let line = lines[0].replace(&url, "URL").replace(&id, "ID");
            messages.insert(
                line.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>(),
            );
        }
        // The store is whole after every attempt.
        let present: BTreeSet<String> = note_ids(&ana.show()).into_iter().collect();
        let lost: Vec<_> = ana_acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {rounds}: acknowledged notes lost: {lost:?}"
        );
        assert!(
            rounds < 20 * cuts_wanted + 20,
            "the proxy does not manage to cut"
        );
    }
    // Once the cable holds, everyone converges.
    ana.ok(&["sync", &proxy.url()]);
    ben.ok(&["sync", &direct]);
    let (a, b) = (ana.show(), ben.show());
    assert_eq!(a, b);
    let present: BTreeSet<String> = note_ids(&a).into_iter().collect();
    let acked: BTreeSet<String> = ana_acked.union(&ben_acked).cloned().collect();
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged notes lost: {lost:?}");
    assert_eq!(ana.json(&["doctor"])["ok"], true);
    relay.assert_no_panic();
    eprintln!(
        "one-shot sync through a cutting proxy: {rounds} syncs, {} connections, {} cut at random offsets below {typical} bytes; \
         {failures} failed with one line ({messages:?}), {successes} succeeded; {} acknowledged notes all present; {:.1?}",
        proxy.stats.connections.load(Ordering::Relaxed),
        proxy.cuts(),
        acked.len(),
        started.elapsed()
    );
}

/// `gapmap sync --watch URL` on a store, until dropped.
struct Watching {
    child: Child,
}

impl Watching {
    fn start(store: &Store, url: &str) -> Watching {
        let mut child = store
            .command(&["sync", "--watch", url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("watching"),
            "gapmap sync --watch said: {line}"
        );
        Watching { child }
    }
}

impl Drop for Watching {
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
        let _ = self.child.wait();
    }
}

#[test]
fn sync_watch_reconnects_through_cuts_and_converges() {
    let cuts_wanted = 4; // each costs the watcher its reconnect backoff
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let direct = format!("ws://127.0.0.1:{}", relay.port);
    let (ana, ben) = (Store::new("ana"), Store::new("ben"));
    let id = ana.json(&["new", "Watched"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["sync", &direct]);
    ben.ok(&["clone", &id, "--from", &direct]);
    let proxy = Proxy::start(relay.port, cuts_wanted, 3_000, Rng::new("watch cuts"));
    let watching = Watching::start(&ana, &proxy.url());
    let started = Instant::now();
    let mut acked = BTreeSet::new();
    let mut i = 0;
    // Both keep editing until the proxy has cut the watcher's connection
    // `cuts_wanted` times (Ana's edits go through the watching process).
    while proxy.cuts() < cuts_wanted {
        i += 1;
        acked.insert(ana.ok(&["add", "now", &format!("ana {i}")]));
        acked.insert(ben.ok(&["add", "gain", &format!("ben {i}")]));
        ben.ok(&["sync", &direct]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} cuts",
            proxy.cuts()
        );
    }
    let cut_phase = started.elapsed();
    // Now the cable holds: both sides converge without anyone restarting.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        ben.ok(&["sync", &direct]);
        let (a, b) = (ana.show(), ben.show());
        let present: BTreeSet<String> = note_ids(&a).into_iter().collect();
        if a == b && acked.is_subset(&present) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence a minute after the last cut: ana has {} notes, ben {}",
            note_ids(&a).len(),
            note_ids(&b).len()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "sync --watch through a cutting proxy: {} connections, {} cut (within 3,000 bytes) in {cut_phase:.1?}, \
         {} acknowledged notes on both sides {:.1?} later",
        proxy.stats.connections.load(Ordering::Relaxed),
        proxy.cuts(),
        acked.len(),
        started.elapsed() - cut_phase
    );
    drop(watching);
    assert_eq!(ana.json(&["doctor"])["ok"], true);
    relay.assert_no_panic();
}
