//! Bad input (DESIGN §5, issue 3 "Bad input"): every refusal closes only
//! the offending connection, and the relay never panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gapmap_proto::Message;
use tungstenite::Message as Frame;

use super::harness::{self, Cbor, Got, Peer, Replica, Until, Why, PATIENCE};
use super::open_relay;

/// Frames that are not protocol messages, sent after a good handshake.
fn undecodable_frames() -> Vec<(&'static str, Frame)> {
    let mut random = [0u8; 300];
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    random[0] = 0xff; // a CBOR "break" where an item must start: never valid
    vec![
        ("random bytes", Frame::Binary(random.to_vec().into())),
        (
            "a text frame",
            Frame::text(r#"{"type":"join","senderId":"x"}"#),
        ),
        (
            "CBOR that is not a map",
            Frame::Binary(
                Cbor::Array(vec![Cbor::Uint(1), Cbor::text("sync")])
                    .encode()
                    .into(),
            ),
        ),
        (
            "a map without type",
            Frame::Binary(
                Cbor::Map(vec![("senderId", Cbor::text("x"))])
                    .encode()
                    .into(),
            ),
        ),
        ("an empty frame", Frame::Binary(Vec::new().into())),
    ]
}

/// Builds a frame for a peer (its ids go in the frame).
type MakeFrame = Box<dyn Fn(&Peer) -> Frame>;

/// A `sync`-shaped map with any document id and data.
fn sync_frame(peer: &Peer, document_id: &str, data: Vec<u8>) -> Frame {
    Frame::Binary(
        Cbor::Map(vec![
            ("type", Cbor::text("sync")),
            ("senderId", Cbor::text(peer.id.as_str())),
            ("targetId", Cbor::text(peer.relay.as_str())),
            ("documentId", Cbor::text(document_id)),
            ("data", Cbor::Bytes(data)),
        ])
        .encode()
        .into(),
    )
}

#[test]
fn bad_frames_close_only_their_connection() {
    let (_dir, mut relay) = open_relay(&[]);
    // Two honest peers sync one document throughout.
    let id = Replica::random_id();
    let mut alice = relay.join("alice", None);
    let mut doc_a = Replica::new(id, "round", "0");
    doc_a.sync(&mut alice, Until::InSync, PATIENCE).unwrap();
    let mut bob = relay.join("bob", None);
    let mut doc_b = Replica::fetch(&mut bob, id).unwrap();
    let mut round = 0;
    let mut honest_peers_still_sync = |what: &str| {
        round += 1;
        let key = format!("after {what}");
        doc_a.put(&key, "ok");
        doc_a
            .sync(&mut alice, Until::InSync, PATIENCE)
            .unwrap_or_else(|e| panic!("alice after {what}: {e:?}"));
        doc_b
            .sync(&mut bob, Until::Has(&key), PATIENCE)
            .unwrap_or_else(|e| panic!("bob after {what}: {e:?}"));
    };

    let expect_refused = |what: &str, send: &dyn Fn(&Peer) -> Frame, contains: &str| {
        let mut bad = relay.join(&format!("bad-{what}"), None);
        let frame = send(&bad);
        bad.send_frame(frame);
        let error = bad.expect_error_and_close();
        assert!(
            error.contains(contains),
            "{what}: error {error:?} should mention {contains:?}"
        );
    };
    for (what, frame) in undecodable_frames() {
        expect_refused(what, &|_| frame.clone(), "invalid message");
        honest_peers_still_sync(what);
    }
    let valid_id = Replica::random_id().to_string();
    let mut bad_checksum = valid_id.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'2' {
        b'3'
    } else {
        b'2'
    };
    let bad_checksum = String::from_utf8(bad_checksum).unwrap();
    let cases: Vec<(&str, MakeFrame, &str)> = vec![
        (
            "a document id with bad characters",
            Box::new(|p| sync_frame(p, "not-a-document-id!", vec![0x42])),
            "documentId",
        ),
        (
            "a document id with a bad checksum",
            Box::new(move |p| sync_frame(p, &bad_checksum, vec![0x42])),
            "documentId",
        ),
        (
            "data that is not a sync message",
            Box::new(move |p| sync_frame(p, &valid_id, b"\x42garbage".to_vec())),
            "invalid sync message",
        ),
        (
            // Automerge 0.12 panics on this bundle chunk (found by fuzzing).
            "a sync message whose change makes Automerge panic",
            Box::new(|p| {
                let chunk = include_bytes!("../../../../fuzz/regressions/canvas_load-6970efac.bin");
                let mut data = vec![0x42, 0, 0, 0, 1, 0x86, 0x01];
                data.extend_from_slice(chunk);
                sync_frame(p, &Replica::random_id().to_string(), data)
            }),
            "bundle chunks are not accepted",
        ),
        (
            "a second join",
            Box::new(|_| {
                Frame::Binary(
                    gapmap_proto::handshake::join("someone-else".into(), Default::default())
                        .encode()
                        .into(),
                )
            }),
            "unexpected join",
        ),
    ];
    for (what, send, contains) in cases {
        expect_refused(what, &*send, contains);
        honest_peers_still_sync(what);
    }
    assert!(relay.metric("gapmap_refusals_total{reason=\"malformed\"}") >= 9.0);
    relay.assert_healthy();
}

#[test]
fn handshake_rules() {
    let (_dir, mut relay) = open_relay(&[]);
    // A join without protocol "1": error, then close.
    for versions in [vec![Cbor::text("2")], vec![]] {
        let mut ws = relay.upgrade("/", None).unwrap();
        let join = Cbor::Map(vec![
            ("type", Cbor::text("join")),
            ("senderId", Cbor::text("from-the-future")),
            (
                "peerMetadata",
                Cbor::Map(vec![("isEphemeral", Cbor::Bool(true))]),
            ),
            ("supportedProtocolVersions", Cbor::Array(versions)),
        ]);
        ws.send(Frame::Binary(join.encode().into())).unwrap();
        let mut peer = Peer {
            ws,
            id: "from-the-future".into(),
            relay: "?".into(),
        };
        assert_eq!(
            peer.expect_error_and_close(),
            "unsupported protocol version"
        );
    }
    // Anything but join first: error, then close.
    let mut ws = relay.upgrade("/", None).unwrap();
    let request = Message::Request {
        sender_id: "eager".into(),
        target_id: "relay".into(),
        document_id: Replica::random_id(),
        data: vec![],
    };
    ws.send(Frame::Binary(request.encode().into())).unwrap();
    let mut peer = Peer {
        ws,
        id: "eager".into(),
        relay: "?".into(),
    };
    assert!(peer.expect_error_and_close().contains("join"));

    // Unknown message types are ignored: the connection carries on.
    let mut peer = relay.join("curious", None);
    for unknown in [
        Cbor::Map(vec![
            ("type", Cbor::text("remote-heads-changed")),
            ("senderId", Cbor::text("curious")),
        ]),
        Cbor::Map(vec![
            ("type", Cbor::text("from-protocol-9")),
            (
                "payload",
                Cbor::Array(vec![Cbor::Uint(1), Cbor::Bool(false)]),
            ),
        ]),
    ] {
        peer.send_frame(Frame::Binary(unknown.encode().into()));
    }
    assert!(
        peer.is_unavailable(Replica::random_id()),
        "the connection should still work"
    );

    // A second join with the same peer id: the older connection is closed.
    let id = Replica::random_id();
    let mut first = relay.join("twin", None);
    Replica::new(id, "k", "v")
        .sync(&mut first, Until::InSync, PATIENCE)
        .unwrap();
    let mut second = relay.join("twin", None);
    first.expect_closed(PATIENCE);
    assert_eq!(
        Replica::fetch(&mut second, id).unwrap().get("k").as_deref(),
        Some("v")
    );
    relay.assert_healthy();
}

#[test]
fn oversized_messages_are_refused_without_reading_them() {
    let (_dir, mut relay) = open_relay(&["--max-message", "65536"]);
    let id = Replica::random_id();
    let mut honest = relay.join("honest", None);
    let mut doc = Replica::new(id, "k", &"x".repeat(30_000));
    doc.sync(&mut honest, Until::InSync, PATIENCE).unwrap();

    // A whole message over the limit.
    let mut big = relay.join("big", None);
    big.send_frame(Frame::Binary(vec![0u8; 100_000].into()));
    big.expect_closed(PATIENCE);

    // A frame header claiming 1 GiB, followed by a little: the relay must
    // refuse it from the header alone, not wait for a gigabyte.
    let mut liar = relay.join("liar", None);
    let started = Instant::now();
    let stream = liar.ws.get_mut();
    let mut header = vec![0x82, 0xff];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // mask key
    header.extend_from_slice(&[0u8; 1024]);
    stream.write_all(&header).unwrap();
    stream.flush().unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break, // EOF, reset, or a timeout (caught below)
            Ok(_) => {}              // the close frame
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the relay waited for the rest of the frame"
    );
    assert!(relay.metric("gapmap_refusals_total{reason=\"oversized\"}") >= 2.0);

    // The honest peer is unaffected.
    doc.put("after", "ok");
    doc.sync(&mut honest, Until::InSync, PATIENCE).unwrap();
    relay.assert_healthy();
}

#[test]
fn silent_connections_time_out_and_do_not_starve_honest_peers() {
    let (_dir, mut relay) = open_relay(&["--handshake-timeout", "2"]);
    let opened = Instant::now();
    // TCP connections that never send a byte, never finish their request
    // head, or upgrade and never join.
    let mut idle: Vec<TcpStream> = Vec::new();
    for i in 0..300 {
        let mut tcp = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
        if i % 2 == 1 {
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgr")
                .unwrap();
        }
        idle.push(tcp);
    }
    let mut silent_ws: Vec<_> = (0..5).map(|_| relay.upgrade("/", None).unwrap()).collect();

    // An honest peer is served at once.
    let started = Instant::now();
    let mut honest = relay.join("honest", None);
    Replica::new(Replica::random_id(), "k", "v")
        .sync(&mut honest, Until::InSync, PATIENCE)
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "an honest peer waited {took:?} behind idle connections"
    );

    // Every silent connection is closed after the handshake timeout.
    for (i, tcp) in idle.iter_mut().enumerate() {
        let left = (opened + Duration::from_secs(6)).saturating_duration_since(Instant::now());
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {} // an HTTP error response before the close is fine
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "idle connection #{i} still open after {:?}: {e}",
                    opened.elapsed()
                ),
            }
        }
    }
    for ws in &mut silent_ws {
        assert!(
            matches!(harness::recv(ws, Duration::from_secs(4)), Got::Closed),
            "an upgraded socket that never joined stayed open"
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(1900),
        "closed before the timeout"
    );
    assert!(relay.metric("gapmap_refusals_total{reason=\"timeout\"}") >= 5.0);
    // The honest peer, heard from within the timeout, is still connected.
    assert!(honest.is_unavailable(Replica::random_id()));
    relay.assert_healthy();
}

/// Incompressible bytes (xorshift), so a document of them is as large on
/// the wire as in memory.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn peers_that_never_read_are_closed() {
    let (_dir, mut relay) = open_relay(&[]);
    let id = Replica::random_id();
    let mut alice = relay.join("alice", None);
    // Larger than the kernel's socket buffers on both ends together.
    let mut doc = Replica::new(id, "title", "Big");
    doc.put("attachment", noise(7 * 1024 * 1024));
    doc.sync(&mut alice, Until::InSync, PATIENCE).unwrap();

    // A peer asks for the document and then never reads: the relay's write
    // blocks, and what it queues for the peer piles up.
    let mut sloth = relay.join("sloth", None);
    Replica::empty(id)
        .sync(&mut sloth, Until::InSync, Duration::from_millis(1))
        .ok();
    for count in 1..=400 {
        alice.send(&Message::Ephemeral {
            sender_id: alice.id.clone(),
            target_id: alice.relay.clone(),
            document_id: id,
            data: Cbor::Map(vec![("cursor", Cbor::Uint(count))]).encode(),
            count,
            session_id: "alice-session".into(),
        });
    }
    // The relay closes the sloth's connection (its slot and memory are freed)
    // and carries on with alice.
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay.metric("gapmap_connections_open") > 1.0 {
        assert!(
            Instant::now() < deadline,
            "a peer that never reads is still connected: {} open, {} slow_reader refusals",
            relay.metric("gapmap_connections_open"),
            relay.metric("gapmap_refusals_total{reason=\"slow_reader\"}")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(relay.metric("gapmap_refusals_total{reason=\"slow_reader\"}") >= 1.0);
    doc.put("after", "ok");
    doc.sync(&mut alice, Until::InSync, PATIENCE).unwrap();
    relay.assert_healthy();
    let (status, took) = relay.terminate();
    assert!(
        status.success() && took < Duration::from_secs(5),
        "{status} after {took:?}"
    );
    drop(sloth);
}

#[test]
fn too_many_documents_on_one_connection() {
    let (_dir, mut relay) = open_relay(&["--max-docs-per-connection", "2"]);
    let mut greedy = relay.join("greedy", None);
    for key in ["one", "two"] {
        Replica::new(Replica::random_id(), key, "v")
            .sync(&mut greedy, Until::InSync, PATIENCE)
            .unwrap();
    }
    let mut third = Replica::new(Replica::random_id(), "three", "v");
    let refused = third.sync(&mut greedy, Until::InSync, PATIENCE);
    let limit = "too many documents on one connection (limit 2)";
    assert_eq!(refused, Err(Why::Error(limit.into())));
    greedy.expect_closed(PATIENCE);
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"too_many_documents\"}"),
        1.0
    );
    // The limit is per connection.
    let mut next = relay.join("next", None);
    third.reconnect();
    third.sync(&mut next, Until::InSync, PATIENCE).unwrap();
    relay.assert_healthy();
}

#[test]
fn idle_connections_are_closed() {
    let (_dir, mut relay) = open_relay(&["--idle-timeout", "1"]);
    let mut quiet = relay.join("quiet", None);
    let started = Instant::now();
    quiet.expect_closed(Duration::from_secs(5));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"timeout\"}"),
        1.0
    );
    relay.assert_healthy();
}
