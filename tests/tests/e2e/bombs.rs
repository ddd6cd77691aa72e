//! Automerge bombs — a few bytes that make Automerge 0.12 allocate or walk
//! gigabytes — sent as a peer would, against every process that takes
//! Automerge bytes from outside: a relay open to anyone, a relay where the
//! attacker holds a write token scoped to one document, `gapmap serve`, and
//! `gapmap import` of the same bytes as a file.
//!
//! Each bomb must be refused by the gate (`gapmap_guard`) before Automerge
//! sees it: the process stays up, the attacker gets `error` or a close
//! within 5 s, the process's peak memory grows by at most 256 MiB, and an
//! honest peer syncing another document meanwhile, and a clone started
//! right after, are served. Figures (peak growth, the honest round trips)
//! are printed for docs/reliability.md; only those bounds are asserted.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use automerge::sync;
use gapmap_proto::{DocumentId, Message};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

use crate::relay::harness::{Got, Peer, Relay, Replica, Stream, Until, Ws, PATIENCE};
use crate::sync::Serving;
use crate::util::Store;

const MIB: u64 = 1 << 20;
/// Peak memory growth allowed under one attack.
const MAX_GROWTH: u64 = 256 * MIB;
/// The attacker hears `error` or a close within this.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// A clone started right after the attack completes within this.
const CLONE_WITHIN: Duration = Duration::from_secs(3);

/// One bomb: the change entries of a sync message (a file, joined).
struct Bomb {
    name: &'static str,
    entries: Vec<Vec<u8>>,
}

fn uleb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut c = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, kind];
    uleb(body.len() as u64, &mut c);
    c.extend_from_slice(body);
    c
}

/// `prefix` then `zeros` zero bytes, deflated.
fn deflated(prefix: &[u8], zeros: u64) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(prefix).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        e.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    e.finish().unwrap()
}

/// The four bombs, made once per test process (deflating 2 GiB of zeros
/// takes a few seconds).
fn bombs() -> &'static [Bomb] {
    static BOMBS: OnceLock<Vec<Bomb>> = OnceLock::new();
    BOMBS.get_or_init(|| {
        let regressions = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions");
        let bundle = std::fs::read(format!("{regressions}/canvas_load-timeout-babf1ce7.bin"))
            .expect("the bundle regression");
        // A document chunk whose one column (raw values) is 1 GiB of
        // zeros, deflated to about 1 MiB: Automerge inflates it whole.
        let data = deflated(&[], 1 << 30);
        let mut body = vec![0, 0, 0, 1];
        uleb((9 << 4) | 0b1111, &mut body); // column 9, raw, deflated
        uleb(data.len() as u64, &mut body);
        body.extend_from_slice(&data);
        let document = chunk(0, &body);
        // A compressed change: a change's fields, then 1 GiB of extra
        // bytes, deflated; split in two entries like the bundle.
        let fields = [0, 1, 0xaa, 1, 1, 0, 0, 0, 0];
        let compressed = chunk(2, &deflated(&fields, 1 << 30));
        let half = compressed.len() / 2;
        // One honest-looking change of 115 bytes declaring 4 million
        // operations (a list of `true`s run-length encodes to nothing).
        let rows = std::fs::read(format!("{regressions}/canvas_load-rows-4m.bin"))
            .expect("the row regression");
        vec![
            Bomb {
                name: "split bundle (5 + 26 bytes)",
                entries: vec![bundle[..5].to_vec(), bundle[5..].to_vec()],
            },
            Bomb {
                name: "document-chunk deflate bomb (1 GiB inflated)",
                entries: vec![document],
            },
            Bomb {
                name: "split compressed-change bomb (1 GiB inflated)",
                entries: vec![compressed[..half].to_vec(), compressed[half..].to_vec()],
            },
            Bomb {
                name: "row bomb (4 million operations in 115 bytes)",
                entries: vec![rows],
            },
        ]
    })
}

/// A process's memory figure from /proc (`VmHWM`, `VmRSS`), in bytes.
fn proc_kb(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("a memory figure")
        * 1024
}

/// Resets the process's peak memory to its current size; returns that.
fn reset_peak(pid: i32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");
    proc_kb(pid, "VmRSS:")
}

/// A raw protocol peer on `port`.
fn join(port: u16, id: &str, bearer: Option<&str>) -> Peer {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let stream: Box<dyn Stream + Send> = Box::new(tcp);
    let mut request = format!("ws://localhost:{port}/")
        .into_client_request()
        .unwrap();
    if let Some(token) = bearer {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        request.headers_mut().insert("authorization", value);
    }
    let (ws, _): (Ws, _) = tungstenite::client::client(request, stream).expect("upgrade");
    Peer::handshake(ws, id)
}

/// Sends `bomb` as one sync message about `doc`; how long until the
/// attacker heard `error` or a close.
fn attack(peer: &mut Peer, doc: DocumentId, bomb: &Bomb) -> Duration {
    let message = sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: bomb.entries.clone().into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    let started = Instant::now();
    peer.send(&Message::Sync {
        sender_id: peer.id.clone(),
        target_id: peer.relay.clone(),
        document_id: doc,
        data: message.encode(),
    });
    loop {
        match peer.recv(Duration::from_secs(30)) {
            Got::Msg(Message::Error { .. }) | Got::Closed => return started.elapsed(),
            Got::Msg(_) => {}
            Got::Nothing => panic!("{}: no answer within 30 s", bomb.name),
        }
    }
}

/// An honest peer editing its own document as fast as round trips allow,
/// until stopped; returns each round trip.
fn honest(
    port: u16,
    bearer: Option<String>,
    doc: DocumentId,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Duration>> {
    let mut peer = join(port, "honest-peer", bearer.as_deref());
    let mut replica = Replica::new(doc, "title", "Onboarding interviews");
    replica
        .sync(&mut peer, Until::InSync, PATIENCE)
        .expect("the honest document syncs");
    std::thread::spawn(move || {
        let mut trips = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            replica.put("edit", i as i64);
            let started = Instant::now();
            replica
                .sync(&mut peer, Until::InSync, PATIENCE)
                .expect("an honest round trip during the attack");
            trips.push(started.elapsed());
        }
        trips
    })
}

fn p99(trips: &mut [Duration]) -> Duration {
    trips.sort();
    let at = (trips.len() * 99 / 100).min(trips.len().saturating_sub(1));
    trips.get(at).copied().unwrap_or_default()
}

/// Who attacks what: the attacker's token and document (a fresh one each
/// time when `None`), and the token of the honest peers.
struct Setup<'a> {
    honest: Option<&'a str>,
    attacker: Option<&'a str>,
    target: Option<DocumentId>,
}

/// Every bomb against the process `pid` listening on `port`.
fn bombard(what: &str, pid: i32, port: u16, setup: Setup) {
    let honest_doc = Replica::random_id();
    for (n, bomb) in bombs().iter().enumerate() {
        let stop = Arc::new(AtomicBool::new(false));
        let before = reset_peak(pid);
        let worker = honest(
            port,
            setup.honest.map(str::to_string),
            honest_doc,
            stop.clone(),
        );
        std::thread::sleep(Duration::from_millis(200));
        let mut attacker = join(port, &format!("attacker-{n}"), setup.attacker);
        let doc = setup.target.unwrap_or_else(Replica::random_id);
        let answered = attack(&mut attacker, doc, bomb);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let mut trips = worker.join().expect("the honest peer");
        let growth = proc_kb(pid, "VmHWM:").saturating_sub(before);
        let started = Instant::now();
        let mut cloner = join(port, &format!("cloner-{n}"), setup.honest);
        let clone = Replica::fetch(&mut cloner, honest_doc);
        let cloned = started.elapsed();
        eprintln!(
            "{what}: {}: answered in {answered:.2?}; peak memory +{} MiB; honest round trips: {}, p99 {:.1?}, max {:.1?}; clone after: {cloned:.2?}",
            bomb.name,
            growth / MIB,
            trips.len(),
            p99(&mut trips),
            trips.last().copied().unwrap_or_default(),
        );
        assert!(
            answered <= ANSWER_WITHIN,
            "{what}, {}: answered after {answered:?}",
            bomb.name
        );
        assert!(
            growth <= MAX_GROWTH,
            "{what}, {}: grew by {} MiB",
            bomb.name,
            growth / MIB
        );
        let clone =
            clone.unwrap_or_else(|why| panic!("{what}, {}: clone failed: {why:?}", bomb.name));
        assert!(clone.get("title").is_some());
        assert!(
            cloned <= CLONE_WITHIN,
            "{what}, {}: clone took {cloned:?}",
            bomb.name
        );
    }
}

const OPEN: Setup = Setup {
    honest: None,
    attacker: None,
    target: None,
};

#[test]
fn bombs_are_refused_by_an_open_relay() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path(), &["--open"]);
    bombard("open relay", relay.pid(), relay.port, OPEN);
    relay.assert_healthy();
}

#[test]
fn bombs_are_refused_from_a_write_token_scoped_to_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let scoped = Replica::random_id();
    let (writer, attacker) = ("w".repeat(64), "a".repeat(64));
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsecret = \"{writer}\"\naccess = \"write\"\n\n[[token]]\nsecret = \"{attacker}\"\naccess = \"write\"\ndocs = [\"{scoped}\"]\n"
        ),
    )
    .unwrap();
    let mut relay = Relay::start(dir.path(), &["--tokens", tokens.to_str().unwrap()]);
    // The honest peer and the cloner use the writer's token; the bombs
    // come with the attacker's, on its one document.
    let setup = Setup {
        honest: Some(&writer),
        attacker: Some(&attacker),
        target: Some(scoped),
    };
    bombard("relay, scoped write token", relay.pid(), relay.port, setup);
    relay.assert_healthy();
}

#[test]
fn bombs_are_refused_by_gapmap_serve() {
    let store = Store::new("ana");
    store.ok(&["new", "Onboarding"]);
    let serving = Serving::start(&store, &[]);
    let port: u16 = serving.url.rsplit(':').next().unwrap().parse().unwrap();
    let pid = serving.child.id() as i32;
    bombard("gapmap serve", pid, port, OPEN);
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "gapmap serve exited"
    );
}

#[test]
fn bombs_are_refused_by_gapmap_import() {
    let store = Store::new("ana");
    let dir = tempfile::tempdir().unwrap();
    for (n, bomb) in bombs().iter().enumerate() {
        let file = dir.path().join(format!("bomb-{n}.automerge"));
        std::fs::write(&file, bomb.entries.concat()).unwrap();
        let started = Instant::now();
        // Reaped by wait4 below, which also tells its peak memory.
        #[allow(clippy::zombie_processes)]
        let child = store
            .command(&["import", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // wait4: the exit status and the child's peak memory.
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(rc, pid);
        let took = started.elapsed();
        let peak = usage.ru_maxrss as u64 * 1024;
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.unwrap(), &mut stderr).unwrap();
        eprintln!(
            "gapmap import: {}: exit {} in {took:.2?}, peak memory {} MiB: {}",
            bomb.name,
            libc::WEXITSTATUS(status),
            peak / MIB,
            stderr.trim()
        );
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
            "{}: {stderr}",
            bomb.name
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(took <= ANSWER_WITHIN, "{}: {took:?}", bomb.name);
        assert!(peak <= MAX_GROWTH, "{}: {} MiB", bomb.name, peak / MIB);
    }
}
