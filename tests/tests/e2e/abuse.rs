//! Abuse of a real `gapmap-relay` (issue 7): floods of tiny messages, piles
//! of connections that never join, join storms with one peer id, requests
//! for thousands of random document ids, and a read-only token trying to
//! write with every message type. Each must be bounded (a limit, a timeout,
//! a rate), counted in `/metrics`, and leave an honest peer served: its
//! round-trip latency is measured before and during every attack and
//! printed (`--nocapture`); the only timed assertions are generous sanity
//! bounds.
//!
//! `GAPMAP_ABUSE_CONNECTIONS` sets how many never-joining connections to
//! open (default 1,000; `scripts/crashloop` runs 10,000), in
//! `GAPMAP_ABUSE_WAVES` waves (default 2: memory after the second shows
//! whether the first was reused or leaked).

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::ROOT;
use gapmap_proto::{Message, PeerId};

use crate::relay::harness::{self, Cbor, Got, Peer, Relay, Replica, Until, PATIENCE};

/// An honest peer syncing one small edit after another in a thread, timing
/// each round trip (edit sent → the relay advertises it back), until stopped.
pub(crate) struct Honest {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Duration>>,
}

impl Honest {
    pub(crate) fn start(relay: &Relay, name: &str) -> Honest {
        let mut peer = relay.join(name, None);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut doc = Replica::new(Replica::random_id(), "n", "0");
            doc.sync(&mut peer, Until::InSync, PATIENCE)
                .expect("first sync");
            let mut samples = Vec::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                i += 1;
                doc.put("n", i.to_string());
                let t = Instant::now();
                doc.sync(&mut peer, Until::InSync, Duration::from_secs(30))
                    .unwrap_or_else(|e| panic!("the honest peer's sync #{i} failed: {e:?}"));
                samples.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(5));
            }
            samples
        });
        Honest { stop, thread }
    }

    /// Stops and summarises: (round trips, median, p99, max).
    pub(crate) fn finish(self) -> Latency {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self.thread.join().expect("the honest peer's thread");
        samples.sort();
        assert!(
            !samples.is_empty(),
            "the honest peer never completed a round trip"
        );
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Latency {
            n: samples.len(),
            median: at(0.5),
            p99: at(0.99),
            max: *samples.last().unwrap(),
        }
    }
}

pub(crate) struct Latency {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} round trips, median {:.1?}, p99 {:.1?}, max {:.1?}",
            self.n, self.median, self.p99, self.max
        )
    }
}

/// The honest peer's latency while nothing else happens.
pub(crate) fn baseline(relay: &Relay) -> Latency {
    let honest = Honest::start(relay, "baseline");
    std::thread::sleep(Duration::from_millis(500));
    honest.finish()
}

/// Generous: an honest round trip under attack stays below 2 s.
pub(crate) fn assert_served(during: &Latency, attack: &str) {
    assert!(
        during.max < Duration::from_secs(2),
        "{attack}: an honest peer waited {:?}",
        during.max
    );
}

/// The relay's resident memory, from /proc.
pub(crate) fn rss_kib(relay: &Relay) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", relay.pid())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open_relay(args: &[&str]) -> (tempfile::TempDir, Relay) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["--open"];
    all.extend_from_slice(args);
    let relay = Relay::start(dir.path(), &all);
    (dir, relay)
}

pub(crate) fn refusals(relay: &Relay, reason: &str) -> f64 {
    relay.metric(&format!("gapmap_refusals_total{{reason=\"{reason}\"}}"))
}

// ---- floods ----------------------------------------------------------------

#[test]
fn a_flood_of_tiny_messages_is_slowed_to_the_rate_limit() {
    let (_dir, mut relay) = open_relay(&[]);
    let before = baseline(&relay);
    let mut flooder = relay.join("flooder", None);
    let in_before = relay.metric("gapmap_messages_in_total");
    let doc = Replica::random_id();
    // Tiny, valid, cheap to send: ephemeral messages about a document the
    // flooder does not even sync, and messages of an unknown type.
    let frames: Vec<Vec<u8>> = (1..=2u64)
        .map(|count| {
            Message::Ephemeral {
                sender_id: flooder.id.clone(),
                target_id: flooder.relay.clone(),
                document_id: doc,
                data: vec![0xa0],
                count,
                session_id: "s".into(),
            }
            .encode()
        })
        .chain([Cbor::Map(vec![("type", Cbor::text("noise"))]).encode()])
        .collect();
    let honest = Honest::start(&relay, "honest");
    let sent = Arc::new(AtomicU64::new(0));
    let flood_for = Duration::from_secs(3);
    let started = Instant::now();
    {
        // Writes block once the relay stops reading and the socket buffers
        // are full: keep trying until the time is up.
        let _ = flooder
            .ws
            .get_ref()
            .tcp()
            .set_write_timeout(Some(Duration::from_millis(50)));
        let mut i = 0usize;
        while started.elapsed() < flood_for {
            let frame = tungstenite::Message::Binary(frames[i % frames.len()].clone().into());
            i += 1;
            let mut result = flooder.ws.send(frame);
            while result.is_err() && started.elapsed() < flood_for {
                result = flooder.ws.flush();
            }
            if result.is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let during = honest.finish();
    let flooded = sent.load(Ordering::Relaxed);
    let received = relay.metric("gapmap_messages_in_total") - in_before;
    let limited = refusals(&relay, "rate_limited");
    eprintln!(
        "tiny-message flood: {flooded} frames written in {:.1?}, {received} messages read by the relay, \
         {limited} pauses (rate_limited); honest peer before: {before}; during: {during}",
        started.elapsed()
    );
    assert!(limited >= 1.0, "the flood was never paused");
    // Default limit: 500/s after a burst of 5,000.
    assert!(
        received < 5_000.0 + 500.0 * 6.0 + 4.0 * during.n as f64 + 100.0,
        "the relay read {received} messages in ~3 s"
    );
    assert_served(&during, "tiny-message flood");
    relay.assert_healthy();
}

// ---- connections that never join -----------------------------------------

fn never_joining_count() -> usize {
    std::env::var("GAPMAP_ABUSE_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

#[test]
fn thousands_of_connections_that_never_join_time_out() {
    let n = never_joining_count();
    let (_dir, mut relay) = open_relay(&["--handshake-timeout", "3"]);
    let before = baseline(&relay);
    let rss_before = rss_kib(&relay);
    let honest = Honest::start(&relay, "honest");
    // Two waves: the second shows whether the memory of the first was
    // reused (the allocator keeps it) or leaked (it would grow again).
    let mut waves = Vec::new();
    let rounds = std::env::var("GAPMAP_ABUSE_WAVES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for _ in 0..rounds {
        waves.push(never_joining_wave(&relay, n));
    }
    let during = honest.finish();
    let upgraded = n / 3;
    eprintln!(
        "{n} never-joining connections ({upgraded} upgraded), {rounds} waves: {}; relay RSS {rss_before} KiB before; \
         honest peer before: {before}; during: {during}",
        waves.join("; then ")
    );
    assert!(refusals(&relay, "timeout") >= (rounds * upgraded) as f64);
    assert_served(&during, "never-joining connections");
    relay.assert_healthy();
}

/// Opens `n` connections that never join — a third never send a byte, a
/// third stop inside the request head, a third upgrade to a websocket and
/// never send `join` — and waits until the relay has closed them all (its
/// timeout is 3 s for the request head and for the join). Says how it went.
fn never_joining_wave(relay: &Relay, n: usize) -> String {
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = Vec::with_capacity(n);
    let mut upgraded = Vec::new();
    for i in 0..n {
        match i % 3 {
            0 => idle.push(TcpStream::connect(("127.0.0.1", relay.port)).unwrap()),
            1 => {
                let mut tcp = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
                tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgr")
                    .unwrap();
                idle.push(tcp);
            }
            _ => upgraded.push(relay.upgrade("/", None).expect("upgrade")),
        }
    }
    let took_to_open = opened.elapsed();
    let rss_during = rss_kib(relay);
    let open_now = relay.metric("gapmap_connections_open");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let upgraded_open = relay.metric("gapmap_connections_open") - 1.0; // the honest peer
        if upgraded_open <= 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{upgraded_open} upgraded connections still open"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for ws in &mut upgraded {
        assert!(matches!(
            harness::recv(ws, Duration::from_secs(5)),
            Got::Closed
        ));
    }
    for tcp in &mut idle {
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        loop {
            match std::io::Read::read(tcp, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    let all_closed = opened.elapsed();
    format!(
        "opened in {took_to_open:.1?}, {open_now} websockets open at the peak, all closed after {all_closed:.1?}, \
         relay RSS {rss_during} KiB with them open and {} KiB after",
        rss_kib(relay)
    )
}

// ---- join storms ---------------------------------------------------------------

#[test]
fn a_join_storm_with_one_peer_id_keeps_one_connection() {
    let (_dir, mut relay) = open_relay(&[]);
    let before = baseline(&relay);
    let honest = Honest::start(&relay, "honest");
    let started = Instant::now();
    // 300 connections join as the same peer: each replaces the one before.
    let mut storm: Vec<Peer> = (0..300).map(|_| relay.join("mallory", None)).collect();
    let joined = started.elapsed();
    // Every connection but the last is closed by the relay.
    let last = storm.pop().unwrap();
    for (i, peer) in storm.iter_mut().enumerate() {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match peer.recv(deadline.saturating_duration_since(Instant::now())) {
                Got::Closed => break,
                Got::Msg(_) => {}
                Got::Nothing => panic!("connection #{i} of the storm is still open"),
            }
        }
    }
    let deadline = Instant::now() + PATIENCE;
    while relay.metric("gapmap_connections_open") > 2.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let open = relay.metric("gapmap_connections_open");
    let during = honest.finish();
    eprintln!(
        "join storm: 300 joins as one peer id in {joined:.1?}, {open} connections open after (the last and the honest peer); \
         honest peer before: {before}; during: {during}"
    );
    assert_eq!(open, 2.0);
    drop(last);
    assert_served(&during, "join storm");
    relay.assert_healthy();
}

// ---- random document ids ---------------------------------------------------------

#[test]
fn requests_for_thousands_of_random_documents_are_bounded_per_connection() {
    let (_dir, mut relay) = open_relay(&["--max-docs-per-connection", "1000"]);
    let before = baseline(&relay);
    let honest = Honest::start(&relay, "honest");
    let rss_before = rss_kib(&relay);
    let started = Instant::now();
    let mut unavailable = 0usize;
    let mut closed_over_limit = 0usize;
    for round in 0..4 {
        let mut peer = relay.join(&format!("curious-{round}"), None);
        // Ask for 1,200 ids the relay cannot have, 100 at a time (reading
        // the answers in between: a client that never reads is closed as
        // a slow reader first, see bad_input.rs).
        let mut closed = false;
        for _ in 0..12 {
            for _ in 0..100 {
                let request = automerge::sync::Message {
                    heads: Vec::new(),
                    need: Vec::new(),
                    have: Vec::new(),
                    changes: Vec::<Vec<u8>>::new().into(),
                    flags: None,
                    version: automerge::sync::MessageVersion::V1,
                };
                let frame = Message::Request {
                    sender_id: peer.id.clone(),
                    target_id: peer.relay.clone(),
                    document_id: Replica::random_id(),
                    data: request.encode(),
                };
                // The relay may close the connection before the last ones.
                let _ = peer
                    .ws
                    .send(tungstenite::Message::Binary(frame.encode().into()));
            }
            let mut answered = 0;
            while answered < 100 && !closed {
                match peer.recv(PATIENCE) {
                    Got::Msg(Message::DocUnavailable { .. }) => {
                        unavailable += 1;
                        answered += 1;
                    }
                    Got::Msg(Message::Error { message }) => {
                        assert!(message.contains("too many documents"), "{message}");
                    }
                    Got::Msg(other) => panic!("unexpected {other:?}"),
                    Got::Closed => closed = true,
                    Got::Nothing => panic!("the relay neither answered nor closed"),
                }
            }
            if closed {
                closed_over_limit += 1;
                break;
            }
        }
    }
    let took = started.elapsed();
    let rss_peak = rss_kib(&relay);
    // Closed connections take their empty documents with them.
    let deadline = Instant::now() + PATIENCE;
    while relay.metric("gapmap_documents_loaded") > 1.0 {
        assert!(
            Instant::now() < deadline,
            "documents left in memory: {}",
            relay.metric("gapmap_documents_loaded")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = honest.finish();
    eprintln!(
        "4,800 requests for random ids on 4 connections: {unavailable} doc-unavailable, {closed_over_limit} connections closed at \
         the 1,000-document limit, in {took:.1?}; relay RSS {rss_before} KiB before, {rss_peak} KiB after; \
         honest peer before: {before}; during: {during}"
    );
    // Every request up to the limit is answered, then the connection closes.
    assert_eq!(unavailable, 4_000);
    assert_eq!(closed_over_limit, 4);
    assert_eq!(refusals(&relay, "too_many_documents"), 4.0);
    assert_served(&during, "random document ids");
    relay.assert_healthy();
}

// ---- a read-only token ---------------------------------------------------------

const WRITER: &str = "writer-abuse-0123456789abcdef0123456789";
const READER: &str = "reader-abuse-0123456789abcdef0123456789";

/// A sync message carrying `doc`'s whole history as changes, whatever the
/// relay said it has: what a client ignoring the read-only flag sends.
fn forced_changes(doc: &mut automerge::AutoCommit) -> Vec<u8> {
    automerge::sync::Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: doc.save().into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode()
}

#[test]
fn a_read_only_token_cannot_write_with_any_message_type() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!("[[token]]\nsecret = \"{WRITER}\"\naccess = \"write\"\n\n[[token]]\nsecret = \"{READER}\"\naccess = \"read\"\n"),
    )
    .unwrap();
    let mut relay = Relay::start(dir.path(), &["--tokens", tokens.to_str().unwrap()]);
    let shared = Replica::random_id();
    let mut writer = relay.join("writer", Some(WRITER));
    let mut original = Replica::new(shared, "title", "Interview notes");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    let heads_before = {
        let copy = Replica::fetch(&mut relay.join("check-0", Some(WRITER)), shared).unwrap();
        copy.doc.get_heads()
    };

    let mut vandal = automerge::AutoCommit::new();
    vandal.put(ROOT, "title", "Vandalised").unwrap();
    let (new_a, new_b) = (Replica::random_id(), Replica::random_id());
    let mut reader = relay.join("reader", Some(READER));
    Replica::fetch(&mut reader, shared).unwrap();
    let sender_id = reader.id.clone();
    let target_id = reader.relay.clone();
    let change_bearing = [
        // Changes to a document it may read.
        Message::Sync {
            sender_id: sender_id.clone(),
            target_id: target_id.clone(),
            document_id: shared,
            data: forced_changes(&mut vandal),
        },
        // A request that carries changes, for a document the relay lacks.
        Message::Request {
            sender_id: sender_id.clone(),
            target_id: target_id.clone(),
            document_id: new_a,
            data: forced_changes(&mut vandal),
        },
        // A sync creating a document.
        Message::Sync {
            sender_id: sender_id.clone(),
            target_id: target_id.clone(),
            document_id: new_b,
            data: forced_changes(&mut vandal),
        },
    ];
    for message in &change_bearing {
        reader.send(message);
    }
    // Messages that carry no changes: they change nothing either (an
    // ephemeral message is passed on, as anyone's presence is).
    let harmless = [
        Message::DocUnavailable {
            sender_id: sender_id.clone(),
            target_id: target_id.clone(),
            document_id: shared,
        },
        Message::Ephemeral {
            sender_id: sender_id.clone(),
            target_id: target_id.clone(),
            document_id: shared,
            data: Cbor::Map(vec![("cursor", Cbor::Uint(1))]).encode(),
            count: 1,
            session_id: "reader-session".into(),
        },
        Message::Unknown {
            type_name: "write-anyway".into(),
        },
        gapmap_proto::handshake::join(sender_id.clone(), Default::default()),
    ];
    for message in &harmless {
        reader.send(message);
    }
    // The writer sees the reader's presence, nothing else.
    let deadline = Instant::now() + PATIENCE;
    let mut saw_presence = false;
    while !saw_presence && Instant::now() < deadline {
        if let Got::Msg(Message::Ephemeral { sender_id, .. }) =
            writer.recv(Duration::from_millis(200))
        {
            saw_presence = sender_id == PeerId::from("reader");
        }
    }
    assert!(saw_presence, "the reader's presence was not passed on");
    // The messages that end a connection, each on its own connection.
    for (i, closing) in [
        Message::Leave {
            sender_id: PeerId::from("reader-1"),
        },
        Message::Error {
            message: "write anyway".into(),
        },
        Message::Peer {
            sender_id: PeerId::from("reader-3"),
            target_id: target_id.clone(),
            peer_metadata: Default::default(),
            selected_protocol_version: "1".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let mut peer = relay.join(&format!("reader-{}", i + 1), Some(READER));
        peer.send(&closing);
        peer.expect_closed(PATIENCE);
    }

    // Nothing was written: the document's heads, and no new documents.
    let mut check = relay.join("check-1", Some(WRITER));
    let copy = Replica::fetch(&mut check, shared).unwrap();
    assert_eq!(copy.get("title").as_deref(), Some("Interview notes"));
    assert_eq!(copy.doc.get_heads(), heads_before);
    for id in [new_a, new_b] {
        assert!(
            check.is_unavailable(id),
            "{id} was created by a read-only token"
        );
    }
    let read_only = refusals(&relay, "read_only");
    eprintln!(
        "read-only token: {} change-bearing messages refused (read_only = {read_only}), {} other message types changed nothing, \
         3 connection-ending types closed only their connection",
        change_bearing.len(),
        harmless.len()
    );
    assert_eq!(read_only, change_bearing.len() as f64);
    // The reader's connection is still open: refused changes do not close it.
    assert!(reader.is_unavailable(Replica::random_id()));
    relay.assert_healthy();
}
