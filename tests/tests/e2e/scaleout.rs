//! Several relays over one Redis (issue 8, docs/scaling.md): real
//! `redis-server`, `gapmap-relay --backend redis://…` and `gapmap`
//! processes on loopback. Needs Debian's `redis-server` (scripts/test
//! installs it); without it these tests fail with a message saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::relay::harness::Relay;
use crate::util::{note_ids, texts, Store};

pub use gapmap_tests::Redis;

/// The options every relay of these tests runs with: compaction early and
/// often (20 entries), entries kept 2 s after a compaction covered them.
fn relay_args(redis: &Redis) -> Vec<String> {
    [
        "--open",
        "--backend",
        &redis.url(),
        "--redis-compact-after",
        "20",
        "--redis-grace-ms",
        "2000",
    ]
    .map(String::from)
    .to_vec()
}

/// `n` relays on `redis`, each with its own directory under `dir`.
pub fn relays(dir: &Path, redis: &Redis, n: usize) -> Vec<Relay> {
    let args = relay_args(redis);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (0..n)
        .map(|i| {
            let own = dir.join(format!("relay{i}"));
            std::fs::create_dir_all(&own).unwrap();
            Relay::start(&own, &args)
        })
        .collect()
}

pub fn ws(relay: &Relay) -> String {
    format!("ws://127.0.0.1:{}", relay.port)
}

/// Polls `check` every 20 ms until it holds; false after `within`.
fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `gapmap sync --watch TARGET` owning a store; SIGTERM when dropped.
struct Watch {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    fn start(store: &Store, target: &str) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("watch.log");
        let child = store
            .command(&["sync", "--watch", target])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("watch.err")).unwrap())
            .spawn()
            .expect("spawn gapmap sync --watch");
        let watch = Watch {
            child,
            log,
            _dir: dir,
        };
        assert!(
            eventually(Duration::from_secs(10), || std::fs::read_to_string(
                &watch.log
            )
            .is_ok_and(|s| s.contains("watching"))),
            "gapmap sync --watch did not start"
        );
        watch
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !eventually(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A new canvas in `store`, pushed through `url`; its id.
fn new_canvas(store: &Store, title: &str, url: &str) -> String {
    let id = store.json(&["new", title])["id"]
        .as_str()
        .unwrap()
        .to_string();
    store.ok(&["sync", url]);
    id
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn missing(acked: &[String], present: &[String]) -> Vec<String> {
    acked
        .iter()
        .filter(|n| !present.contains(n))
        .cloned()
        .collect()
}

#[test]
fn clients_spread_over_three_relays_on_one_redis_converge() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let relays = relays(dir.path(), &redis, 3);
    let urls: Vec<String> = relays.iter().map(ws).collect();
    let names = ["ana", "ben", "cara", "dev", "eli", "fay"];
    let stores: Vec<Store> = names.iter().map(|n| Store::new(n)).collect();
    // Store i works with relay i % 3.
    let id = new_canvas(&stores[0], "Spread", &urls[0]);
    for (i, store) in stores.iter().enumerate().skip(1) {
        assert_eq!(store.ok(&["clone", &id, "--from", &urls[i % 3]]), id);
    }
    for (i, store) in stores.iter().enumerate() {
        for k in 0..3 {
            store.ok(&["add", "now", &format!("{} note {k}", names[i])]);
        }
        store.ok(&["sync", &urls[i % 3]]);
    }
    // Everything is in Redis now: one more sync each brings it all.
    for (i, store) in stores.iter().enumerate() {
        store.ok(&["sync", &urls[i % 3]]);
    }
    let want: Vec<String> = sorted(
        names
            .iter()
            .flat_map(|n| (0..3).map(move |k| format!("{n} note {k}")))
            .collect(),
    );
    for (i, store) in stores.iter().enumerate() {
        assert_eq!(
            sorted(texts(&store.show(), "now")),
            want,
            "{} (on relay {}) differs",
            names[i],
            i % 3
        );
    }
    for mut relay in relays {
        relay.assert_healthy();
    }
}

#[test]
fn an_edit_made_on_relay_3_reaches_a_client_of_relay_1_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let relays = relays(dir.path(), &redis, 3);
    let (one, three) = (ws(&relays[0]), ws(&relays[2]));
    let ana = Store::new("ana");
    let ben = Store::new("ben");
    let id = new_canvas(&ana, "Latency", &one);
    assert_eq!(ben.ok(&["clone", &id, "--from", &three]), id);
    // Ana stays connected to relay 1; her store is then served by the
    // watching process (owner socket).
    let _watch = Watch::start(&ana, &one);
    let has = |store: &Store, text: &str| texts(&store.show(), "now").iter().any(|t| t == text);
    // A first edit warms up the path (ana's connection has opened the
    // document on relay 1).
    ben.ok(&["add", "now", "warm-up from relay 3"]);
    ben.ok(&["sync", &three]);
    assert!(
        eventually(Duration::from_secs(10), || has(
            &ana,
            "warm-up from relay 3"
        )),
        "the warm-up edit never reached relay 1's client"
    );
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let text = format!("timed edit {round} from relay 3");
        ben.ok(&["add", "now", &text]);
        ben.ok(&["sync", &three]);
        let acked = Instant::now();
        assert!(
            eventually(Duration::from_secs(5), || has(&ana, &text)),
            "{text:?} never reached relay 1's client"
        );
        slowest = slowest.max(acked.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "an edit acknowledged by relay 3 took {slowest:?} to show on relay 1's client"
    );
}

#[test]
fn a_relay_killed_mid_storm_its_clients_fail_over_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let mut relays = relays(dir.path(), &redis, 3);
    let urls: Vec<String> = relays.iter().map(ws).collect();
    let ana = Store::new("ana");
    let ben = Store::new("ben");
    let dan = Store::new("dan");
    let id = new_canvas(&ana, "Storm", &urls[0]);
    // Ana's remote lists all three relays, relay 1 first.
    ana.ok(&["remote", "add", "team", &urls[0], &urls[1], &urls[2]]);
    assert_eq!(ben.ok(&["clone", &id, "--from", &urls[2]]), id);
    assert_eq!(dan.ok(&["clone", &id, "--from", &urls[1]]), id);
    // Ben stays connected through relay 1, with relay 3 to fail over to.
    let _watch = Watch::start(&ben, &format!("{},{}", urls[0], urls[2]));
    std::thread::sleep(Duration::from_millis(300));

    // Dan edits through relay 2 the whole time.
    let dan_acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storm = {
        let (acked, stop, url) = (dan_acked.clone(), stop.clone(), urls[1].clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let note = dan.ok(&["add", "now", &format!("dan {i}")]);
                i += 1;
                if dan.run(&["sync", &url]).code == 0 {
                    acked.lock().unwrap().push(note);
                }
            }
            dan
        })
    };
    let killed_at = Instant::now() + Duration::from_millis(600);
    let killer = {
        let pid = relays[0].pid();
        std::thread::spawn(move || {
            std::thread::sleep(killed_at.saturating_duration_since(Instant::now()));
            // SAFETY: signalling the relay process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    let mut acked = Vec::new();
    let mut acked_after_kill = 0;
    let started = Instant::now();
    // At least 2.5 s of storm, and on until a few syncs went through after
    // the kill (a loaded machine may be slow to get there).
    while started.elapsed() < Duration::from_millis(2500)
        || (acked_after_kill < 3 && started.elapsed() < Duration::from_secs(20))
    {
        let note = ana.ok(&["add", "now", &format!("ana {}", acked.len())]);
        let run = ana.run(&["sync", "team"]);
        if run.code == 0 {
            acked.push(note);
            if Instant::now() > killed_at {
                acked_after_kill += 1;
            }
        }
    }
    killer.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let dan: Store = storm.join().unwrap();
    assert!(
        acked_after_kill >= 2,
        "ana's syncs did not fail over to relay 2 after relay 1 died ({acked_after_kill} acknowledged after the kill)"
    );
    let mut acked_all = acked.clone();
    acked_all.extend(dan_acked.lock().unwrap().iter().cloned());
    assert!(
        dan_acked.lock().unwrap().len() >= 2,
        "dan's storm made no progress"
    );
    // Enough writes in all for the stream to reach the compaction threshold
    // (20 entries; each acknowledged sync appended at least one), however
    // slow the machine was.
    for i in acked_all.len()..20 {
        acked_all.push(dan.ok(&["add", "now", &format!("dan top-up {i}")]));
        dan.ok(&["sync", &urls[1]]);
    }

    // A fresh client of relay 3 has every acknowledged note.
    let carl = Store::new("carl");
    assert_eq!(carl.ok(&["clone", &id, "--from", &urls[2]]), id);
    let lost = missing(&acked_all, &note_ids(&carl.show()));
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged notes lost: {lost:?}",
        lost.len(),
        acked_all.len()
    );
    // Ben's watch moved to relay 3 and received them all live.
    let mut ben_lost = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            ben_lost = missing(&acked_all, &note_ids(&ben.show()));
            ben_lost.is_empty()
        }),
        "ben's watch (failing over to relay 3) lacks {} acknowledged notes",
        ben_lost.len()
    );
    // The stream was compacted on the way (20 entries), under the lease.
    assert!(
        eventually(Duration::from_secs(5), || redis
            .command(&format!("EXISTS gapmap:{{{id}}}:snap"))
            == ":1"),
        "no snapshot was written"
    );
    for relay in relays.iter_mut().skip(1) {
        relay.assert_healthy();
    }
}

/// Waits until the relay reports the storage as up (`1`) or down (`0`).
fn wait_storage(relay: &Relay, up: bool) {
    let want = if up { 1.0 } else { 0.0 };
    assert!(
        eventually(Duration::from_secs(10), || relay
            .metric("gapmap_storage_up")
            == want),
        "relay did not report gapmap_storage_up {want}:\n{}",
        relay.stderr()
    );
}

#[test]
fn a_redis_restart_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Redis::start(&dir.path().join("redis"));
    let relays = relays(dir.path(), &redis, 2);
    let (one, two) = (ws(&relays[0]), ws(&relays[1]));
    let ana = Store::new("ana");
    let id = new_canvas(&ana, "Restart", &one);
    // Dan stays connected through relay 2 across the restart: its reader
    // must find Redis again and pass on what relay 1 accepts after it.
    let dan = Store::new("dan");
    assert_eq!(dan.ok(&["clone", &id, "--from", &two]), id);
    let _watch = Watch::start(&dan, &two);
    let mut acked = Vec::new();
    // Acknowledged writes before the crash…
    for i in 0..15 {
        let note = ana.ok(&["add", "now", &format!("before {i}")]);
        ana.ok(&["sync", &one]);
        acked.push(note);
    }
    // …Redis dies with kill -9 (only its fsynced append-only file is left)…
    redis.kill();
    wait_storage(&relays[0], false);
    redis.restart();
    wait_storage(&relays[0], true);
    wait_storage(&relays[1], true);
    // …and after the restart, writes are taken again.
    for i in 0..5 {
        let note = ana.ok(&["add", "now", &format!("after {i}")]);
        ana.ok(&["sync", &one]);
        acked.push(note);
    }
    let ben = Store::new("ben");
    assert_eq!(ben.ok(&["clone", &id, "--from", &two]), id);
    let lost = missing(&acked, &note_ids(&ben.show()));
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged notes lost across the Redis restart: {lost:?}",
        lost.len(),
        acked.len()
    );
    let mut dan_lacks = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            dan_lacks = missing(&acked, &note_ids(&dan.show()));
            dan_lacks.is_empty()
        }),
        "dan, connected through relay 2 across the restart, lacks {} notes",
        dan_lacks.len()
    );
}

#[test]
fn with_redis_down_writes_are_refused_clearly_and_reads_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Redis::start(&dir.path().join("redis"));
    let relays = relays(dir.path(), &redis, 1);
    let relay = &relays[0];
    let url = ws(relay);
    let ana = Store::new("ana");
    let id = new_canvas(&ana, "Outage", &url);
    ana.ok(&["add", "now", "written before the outage"]);
    ana.ok(&["sync", &url]);
    // Carl keeps the document open on the relay: that is what it holds.
    let carl = Store::new("carl");
    assert_eq!(carl.ok(&["clone", &id, "--from", &url]), id);
    let _watch = Watch::start(&carl, &url);
    std::thread::sleep(Duration::from_millis(300));

    redis.kill();
    wait_storage(relay, false);
    // Reads: a new client fetches what the relay holds.
    let ben = Store::new("ben");
    assert_eq!(ben.ok(&["clone", &id, "--from", &url]), id);
    assert_eq!(texts(&ben.show(), "now"), ["written before the outage"]);
    // Writes: refused, with a message that says why.
    for attempt in 0..2 {
        ana.ok(&[
            "add",
            "now",
            &format!("written during the outage {attempt}"),
        ]);
        let line = ana.fails(&["sync", &url]);
        assert!(
            line.contains("storage is unreachable") && line.contains("try again later"),
            "unclear refusal: {line}\n{}\n{:?}",
            relay.stderr(),
            relay
                .metrics()
                .iter()
                .filter(|(n, _)| n.contains("refus") || n.contains("storage"))
                .collect::<Vec<_>>()
        );
    }
    assert!(relay.metric("gapmap_refusals_total{reason=\"storage_unavailable\"}") >= 2.0);
    let outage_lines = relay
        .stderr()
        .lines()
        .filter(|l| l.contains("the document storage is unreachable"))
        .count();
    assert_eq!(
        outage_lines,
        1,
        "the outage should be logged once:\n{}",
        relay.stderr()
    );

    // Redis is back: the same writes go through and reach the others.
    redis.restart();
    wait_storage(relay, true);
    ana.ok(&["sync", &url]);
    ben.ok(&["sync", &url]);
    assert_eq!(
        sorted(texts(&ben.show(), "now")),
        [
            "written before the outage",
            "written during the outage 0",
            "written during the outage 1"
        ]
    );
    assert!(
        eventually(Duration::from_secs(5), || texts(&carl.show(), "now").len()
            == 3),
        "carl's live connection did not receive the writes after the outage"
    );
}

#[test]
fn js_clients_on_different_relays_see_each_others_edits() {
    use crate::interop::{js, js_note_texts, js_spawn, WAIT};
    gapmap_tests::require_node();
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(&dir.path().join("redis"));
    let relays = relays(dir.path(), &redis, 3);
    let urls: Vec<String> = relays.iter().map(ws).collect();
    // A creates a canvas through relay 1.
    let created = js(&["create", &urls[0], "Made in JS, spread out"]);
    let doc = created["url"].as_str().unwrap().to_string();
    // B, on relay 2, waits for A's next note, which A adds through relay 3.
    let mut b = js_spawn(&["find", &urls[1], &doc, "--until", "added through relay 3"]);
    assert_eq!(
        b.next_json(WAIT)["ready"],
        true,
        "B did not find the document on relay 2"
    );
    js(&["add", &urls[2], &doc, "gain", "added through relay 3"]);
    let seen = b.finish(WAIT);
    assert_eq!(seen.code, 0, "B never saw the note:\n{}", seen.stderr);
    let seen = seen.json().pop().unwrap();
    assert_eq!(
        js_note_texts(&seen["doc"], "gain"),
        ["added through relay 3"]
    );
    // And a gapmap client of relay 2 sees both clients' notes.
    let id = created["id"].as_str().unwrap();
    let ana = Store::new("ana");
    assert_eq!(ana.ok(&["clone", id, "--from", &urls[1]]), id);
    assert_eq!(texts(&ana.show(), "gain"), ["added through relay 3"]);
}

/// A loopback URL nobody listens on.
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("ws://127.0.0.1:{port}")
}

#[test]
fn a_remote_with_several_urls_fails_over_to_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path(), &["--open"]);
    let (dead, live) = (dead_url(), ws(&relay));
    let ana = Store::new("ana");
    let id = ana.json(&["new", "Failover"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["add", "now", "through the second URL"]);
    // `remote add NAME URL [URL…]`: DESIGN's form with more URLs after it.
    ana.ok(&["remote", "add", "team", &dead, &live]);
    let listed = ana.json(&["remote", "list"]);
    assert_eq!(listed[0]["url"], dead.as_str());
    assert_eq!(listed[0]["urls"], serde_json::json!([dead, live]));
    assert_eq!(
        ana.ok(&["sync", "team"]),
        format!("{live}: 1 canvas in sync")
    );
    // A comma list works wherever a URL goes.
    let ben = Store::new("ben");
    assert_eq!(
        ben.ok(&["clone", &id, "--from", &format!("{dead},{live}")]),
        id
    );
    assert_eq!(texts(&ben.show(), "now"), ["through the second URL"]);
    // None answering: one line naming what each said.
    let other = dead_url();
    let line = ana.fails(&["sync", &format!("{dead},{other}")]);
    assert!(
        line.contains(&dead)
            && line.contains(&other)
            && line.contains("none of the remote's 2 URLs"),
        "{line}"
    );
}

#[test]
fn a_relay_without_its_redis_stops_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: &str| {
        std::process::Command::new(crate::util::bin("gapmap-relay"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--open",
                "--backend",
                backend,
                "--data",
            ])
            .arg(dir.path().join("data"))
            .output()
            .expect("run gapmap-relay")
    };
    let dead = dead_url().replace("ws://", "redis://");
    for (backend, says) in [
        (dead.as_str(), "cannot reach Redis at"),
        ("mysql://localhost", "bad --backend mysql://localhost"),
    ] {
        let out = run(backend);
        assert_eq!(out.status.code(), Some(1), "{backend}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("gapmap-relay:"))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(says), "{stderr}");
    }
}
