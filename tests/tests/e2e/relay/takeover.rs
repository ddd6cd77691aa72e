//! Who may take over a peer id on a relay: a join with a peer id that
//! another connection holds replaces that connection only when it presents
//! the same token (a reconnect); anyone else gets `error` and the holder
//! keeps syncing (docs/protocol.md, "Peer ids").

use gapmap_proto::{Message, PeerId};

use super::harness::{Got, Relay, Replica, Until, PATIENCE};

const WRITER: &str = "takeover-writer-0123456789abcdef01234567";
const OTHER_WRITER: &str = "takeover-other-0123456789abcdef012345678";
const READER: &str = "takeover-reader-0123456789abcdef01234567";

fn relay() -> (tempfile::TempDir, Relay) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsecret = \"{WRITER}\"\naccess = \"write\"\n\n\
             [[token]]\nsecret = \"{OTHER_WRITER}\"\naccess = \"write\"\n\n\
             [[token]]\nsecret = \"{READER}\"\naccess = \"read\"\n"
        ),
    )
    .unwrap();
    let relay = Relay::start(dir.path(), &["--tokens", tokens.to_str().unwrap()]);
    (dir, relay)
}

/// Upgrades at `path` with `bearer` and sends `join` as `id`; the answer.
fn join_as(relay: &Relay, path: &str, bearer: Option<&str>, id: &str) -> (Got, super::harness::Ws) {
    let mut ws = relay.upgrade(path, bearer).expect("upgrade");
    let join = gapmap_proto::handshake::join(PeerId::from(id), Default::default());
    ws.send(tungstenite::Message::Binary(join.encode().into()))
        .unwrap();
    (super::harness::recv(&mut ws, PATIENCE), ws)
}

#[test]
fn a_read_only_token_cannot_take_over_a_writers_peer_id() {
    let (_dir, mut relay) = relay();
    let id = "gapmap-0123456789abcdef";
    let mut writer = relay.join(id, Some(WRITER));
    let mut doc = Replica::new(Replica::random_id(), "title", "Interview notes");
    doc.sync(&mut writer, Until::InSync, PATIENCE).unwrap();

    // A reader who saw the writer's peer id (it travels in presence
    // messages) joins under it, by header and by query: refused, each time.
    for (path, bearer) in [("/", Some(READER)), (&*format!("/?token={READER}"), None)] {
        let (answer, mut ws) = join_as(&relay, path, bearer, id);
        match answer {
            Got::Msg(Message::Error { message }) => {
                assert!(message.contains("other credentials"), "{message}")
            }
            other => panic!("expected error, got {other:?}"),
        }
        assert!(matches!(
            super::harness::recv(&mut ws, PATIENCE),
            Got::Closed
        ));
    }
    // Another write token is another credential too.
    let (answer, _ws) = join_as(&relay, "/", Some(OTHER_WRITER), id);
    assert!(
        matches!(answer, Got::Msg(Message::Error { .. })),
        "{answer:?}"
    );
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"peer_id_in_use\"}"),
        3.0
    );

    // The writer's connection was never closed and keeps syncing.
    doc.put("title", "Interview notes, round 2");
    doc.sync(&mut writer, Until::InSync, PATIENCE)
        .expect("the writer still syncs");
    let copy = Replica::fetch(&mut relay.join("check", Some(READER)), doc.id).unwrap();
    assert_eq!(
        copy.get("title").as_deref(),
        Some("Interview notes, round 2")
    );
    relay.assert_healthy();
}

#[test]
fn the_same_token_reconnecting_replaces_the_older_connection() {
    let (_dir, mut relay) = relay();
    let id = "gapmap-fedcba9876543210";
    let mut first = relay.join(id, Some(WRITER));
    let mut doc = Replica::new(Replica::random_id(), "title", "Trip");
    doc.sync(&mut first, Until::InSync, PATIENCE).unwrap();
    // The same token, this time in the query string (as a browser sends it).
    let mut second = relay.join_at(&format!("/?token={WRITER}"), id, None);
    first.expect_closed(PATIENCE);
    doc.reconnect();
    doc.put("title", "Trip, after the train");
    doc.sync(&mut second, Until::InSync, PATIENCE)
        .expect("the new connection syncs");
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"peer_id_in_use\"}"),
        0.0
    );
    relay.assert_healthy();
}

/// The peer id `gapmap serve` on `store` answers a `join` with.
fn peer_id_of_serve(store: &crate::util::Store) -> PeerId {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = store
        .command(&["serve", "--listen", &listen])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "gapmap serve said: {line}");
    let (mut ws, _) = tungstenite::connect(format!("ws://{listen}")).expect("connect to serve");
    let join = gapmap_proto::handshake::join(PeerId::from("probe"), Default::default());
    ws.send(tungstenite::Message::Binary(join.encode().into()))
        .unwrap();
    let id = loop {
        match ws.read().expect("an answer") {
            tungstenite::Message::Binary(frame) => match Message::decode(&frame).unwrap() {
                Message::Peer { sender_id, .. } => break sender_id,
                other => panic!("expected peer, got {other:?}"),
            },
            _ => continue,
        }
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    id
}

#[test]
fn gapmap_draws_a_new_peer_id_in_every_process() {
    // Presence carries the peer id to every reader of a canvas; one that
    // stayed with the store would follow the machine from session to session.
    let store = crate::util::Store::new("ana");
    let (first, second) = (peer_id_of_serve(&store), peer_id_of_serve(&store));
    assert!(first.as_str().starts_with("gapmap-"), "{first:?}");
    assert_ne!(first, second);
}
