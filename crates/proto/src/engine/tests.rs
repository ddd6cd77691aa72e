//! The engine's rules, each proven on the in-memory network.

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};

use crate::handshake::HandshakeError;
use crate::harness::{Harness, LinkId, PeerIdx};
use crate::{
    Access, CloseReason, Config, Credential, DocumentId, Limits, Message, Notice, PeerId,
    PeerMetadata, ProtocolError,
};

fn title(net: &Harness, peer: PeerIdx, doc: DocumentId) -> Option<String> {
    let d = net.stored(peer, doc)?;
    let (value, _) = d.get(ROOT, "title").unwrap()?;
    value.into_string().ok()
}

fn keys(net: &Harness, peer: PeerIdx, doc: DocumentId) -> Vec<String> {
    net.stored(peer, doc)
        .map(|d| d.keys(ROOT).collect())
        .unwrap_or_default()
}

/// alice and bob dial the relay with full access.
fn star() -> (Harness, PeerIdx, PeerIdx, PeerIdx, LinkId, LinkId) {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let bob = net.add_peer("bob");
    let a = net.connect(alice, relay, Access::full());
    let b = net.connect(bob, relay, Access::full());
    net.run_until_quiescent();
    (net, relay, alice, bob, a, b)
}

fn in_sync(net: &Harness, peer: PeerIdx, doc: DocumentId) -> bool {
    net.peer(peer)
        .notices
        .iter()
        .any(|n| matches!(n, Notice::InSync { document_id, .. } if *document_id == doc))
}

fn unavailable(net: &Harness, peer: PeerIdx, doc: DocumentId) -> bool {
    net.peer(peer)
        .notices
        .iter()
        .any(|n| matches!(n, Notice::Unavailable { document_id, .. } if *document_id == doc))
}

#[test]
fn handshake_completes_both_ways() {
    let (net, relay, alice, _, a, _) = star();
    let client_conn = net.conn(alice, a);
    assert_eq!(
        net.peer(alice).engine.peer(client_conn).unwrap().peer_id,
        PeerId::from("relay")
    );
    assert_eq!(
        net.peer(relay)
            .engine
            .peer(net.conn(relay, a))
            .unwrap()
            .peer_id,
        PeerId::from("alice")
    );
    assert!(matches!(net.peer(alice).sent[0].1, Message::Join { .. }));
    assert!(matches!(net.peer(relay).sent[0].1, Message::Peer { .. }));
}

#[test]
fn two_clients_and_a_relay_converge() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Onboarding").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, relay, doc).as_deref(), Some("Onboarding"));
    assert!(in_sync(&net, alice, doc));

    net.open(bob, b, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, bob, doc).as_deref(), Some("Onboarding"));
    assert!(in_sync(&net, bob, doc));

    // Concurrent edits on both sides reach everyone.
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "from_alice", 1).unwrap();
    });
    net.change_doc(bob, doc, |d| {
        d.put(ROOT, "from_bob", 2).unwrap();
    });
    net.run_until_quiescent();
    let heads = net.stored_heads(relay, doc);
    assert_eq!(heads.len(), 2);
    for peer in [alice, bob, relay] {
        assert_eq!(net.stored_heads(peer, doc), heads);
        assert_eq!(keys(&net, peer, doc), ["from_alice", "from_bob", "title"]);
    }
    let status = net
        .peer(alice)
        .engine
        .sync_status(net.conn(alice, a), &doc)
        .unwrap();
    assert!(status.in_sync);
    assert_eq!(status.theirs.as_deref(), Some(heads.as_slice()));
}

#[test]
fn a_relay_stores_and_serves_after_the_writer_left() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Kept").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    net.disconnect(a);
    net.run_until_quiescent();
    // Nobody syncs it: the relay keeps it on disk only...
    assert!(net.peer(relay).engine.document(&doc).is_none());
    // ...and loads it again for the next peer.
    net.open(bob, b, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, bob, doc).as_deref(), Some("Kept"));
    assert!(net.peer(relay).engine.document(&doc).is_some());
    assert_eq!(
        net.peer(relay)
            .engine
            .documents_of(net.conn(relay, b))
            .collect::<Vec<_>>(),
        [doc]
    );
    assert_eq!(title(&net, relay, doc).as_deref(), Some("Kept"));
}

#[test]
fn a_relay_loads_documents_from_its_store() {
    // A relay restarted: its store has a document its engine never saw.
    let mut old = Harness::new();
    let old_relay = old.add_peer("relay");
    let doc = old.create_doc(old_relay, |d| {
        d.put(ROOT, "title", "On disk").unwrap();
    });
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    net.peer_mut(relay).storage = old.peer(old_relay).storage.clone();
    let alice = net.add_peer("alice");
    let link = net.connect(alice, relay, Access::full());
    net.open(alice, link, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, alice, doc).as_deref(), Some("On disk"));
    assert_eq!(net.peer(relay).engine.durable_heads(&doc).unwrap().len(), 1);
}

#[test]
fn request_for_a_document_nobody_has_gets_doc_unavailable() {
    let (mut net, relay, alice, _, a, _) = star();
    let missing = DocumentId::from_bytes([9; 16]);
    net.open(alice, a, missing);
    net.run_until_quiescent();
    assert_eq!(net.sent_of_type(alice, "request").len(), 1);
    assert_eq!(net.sent_of_type(relay, "doc-unavailable").len(), 1);
    assert!(unavailable(&net, alice, missing));
    assert!(net.peer(relay).storage.is_empty());
    assert!(net.peer(alice).storage.is_empty());
    let status = net
        .peer(alice)
        .engine
        .sync_status(net.conn(alice, a), &missing)
        .unwrap();
    assert!(status.unavailable && !status.in_sync);
    // The relay forgets what it does not have once nobody waits for it.
    net.disconnect(a);
    net.run_until_quiescent();
    assert!(net.peer(relay).engine.document(&missing).is_none());
}

#[test]
fn a_document_created_later_reaches_those_who_asked() {
    let (mut net, _relay, alice, bob, a, b) = star();
    let doc = DocumentId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    net.open(bob, b, doc);
    net.run_until_quiescent();
    assert!(unavailable(&net, bob, doc));
    // alice creates that very document (the harness numbers ids from 1).
    let created = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Late").unwrap();
    });
    assert_eq!(created, doc);
    net.open(alice, a, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, bob, doc).as_deref(), Some("Late"));
}

#[test]
fn a_peer_asks_the_relay_it_dialed_for_a_document_it_lacks() {
    // carol -> lan peer -> relay (which has the document).
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let lan = net.add_peer("lan");
    let carol = net.add_peer("carol");
    net.connect(lan, relay, Access::full());
    let down = net.connect(carol, lan, Access::full());
    let doc = net.create_doc(relay, |d| {
        d.put(ROOT, "title", "Upstream").unwrap();
    });
    net.run_until_quiescent();
    net.open(carol, down, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, carol, doc).as_deref(), Some("Upstream"));
    assert_eq!(title(&net, lan, doc).as_deref(), Some("Upstream"));
    assert!(net.sent_of_type(lan, "request").len() == 1);
    assert!(net.sent_of_type(lan, "doc-unavailable").is_empty());
}

/// carol dials lan, lan dials upstream; returns (net, lan, carol, upstream, up, down).
fn chain() -> (Harness, PeerIdx, PeerIdx, PeerIdx, LinkId, LinkId) {
    let mut net = Harness::new();
    let upstream = net.add_peer("upstream");
    let lan = net.add_peer("lan");
    let carol = net.add_peer("carol");
    let up = net.connect(lan, upstream, Access::full());
    let down = net.connect(carol, lan, Access::full());
    net.run_until_quiescent();
    (net, lan, carol, upstream, up, down)
}

#[test]
fn when_the_asked_peer_lacks_it_too_the_asker_hears_doc_unavailable() {
    let (mut net, lan, carol, upstream, _, down) = chain();
    let missing = DocumentId::from_bytes([3; 16]);
    net.open(carol, down, missing);
    net.run_until_quiescent();
    assert!(unavailable(&net, carol, missing));
    assert_eq!(net.sent_of_type(lan, "request").len(), 1);
    assert_eq!(net.sent_of_type(upstream, "doc-unavailable").len(), 1);
    assert_eq!(net.sent_of_type(lan, "doc-unavailable").len(), 1);
}

#[test]
fn a_silent_asked_peer_times_out() {
    let (mut net, lan, carol, upstream, _, down) = chain();
    net.set_muted(upstream, true);
    let missing = DocumentId::from_bytes([4; 16]);
    net.open(carol, down, missing);
    net.run_until_quiescent();
    assert!(!unavailable(&net, carol, missing));
    let deadline = net.peer(lan).engine.next_deadline().unwrap();
    assert_eq!(deadline.as_millis(), 30_000);
    net.advance(29_999);
    net.run_until_quiescent();
    assert!(!unavailable(&net, carol, missing));
    net.advance(1);
    net.run_until_quiescent();
    assert!(unavailable(&net, lan, missing));
    assert!(unavailable(&net, carol, missing));
    assert_eq!(net.peer(lan).engine.next_deadline(), None);
}

#[test]
fn an_asked_peer_that_disconnects_counts_as_unavailable() {
    let (mut net, _lan, carol, upstream, up, down) = chain();
    net.set_muted(upstream, true);
    let missing = DocumentId::from_bytes([5; 16]);
    net.open(carol, down, missing);
    net.run_until_quiescent();
    net.disconnect(up);
    net.run_until_quiescent();
    assert!(unavailable(&net, carol, missing));
}

#[test]
fn read_only_peers_receive_but_their_changes_are_refused() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let viewer = net.add_peer("viewer");
    let a = net.connect(alice, relay, Access::full());
    let v = net.connect(viewer, relay, Access::read_only());
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Shared").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    net.open(viewer, v, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, viewer, doc).as_deref(), Some("Shared"));
    let before = net.stored_heads(relay, doc);

    // The viewer edits: the relay neither applies, stores nor forwards it.
    net.change_doc(viewer, doc, |d| {
        d.put(ROOT, "vandalism", true).unwrap();
    });
    net.run_until_quiescent();
    assert_eq!(net.stored_heads(relay, doc), before);
    assert_eq!(keys(&net, relay, doc), ["title"]);
    assert_eq!(keys(&net, alice, doc), ["title"]);
    // automerge's read-only flag told the viewer not to send its changes;
    // a peer that sends them anyway is refused, and that is reported (for
    // metrics), once per message with changes.
    let refused = |net: &Harness| {
        net.peer(relay)
            .notices
            .iter()
            .filter(
                |n| matches!(n, Notice::ReadOnlyChanges { document_id, .. } if *document_id == doc),
            )
            .count()
    };
    assert_eq!(refused(&net), 0);
    let mut forged = automerge::AutoCommit::new();
    forged.put(ROOT, "vandalism", "forced").unwrap();
    let message = automerge::sync::Message {
        heads: forged.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: forged.save().into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    for _ in 0..2 {
        net.inject(
            relay,
            v,
            &Message::Sync {
                sender_id: PeerId::from("viewer"),
                target_id: PeerId::from("relay"),
                document_id: doc,
                data: message.clone().encode(),
            },
        );
    }
    net.run_until_quiescent();
    assert_eq!(refused(&net), 2);
    assert_eq!(net.stored_heads(relay, doc), before);

    // It still receives alice's changes.
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "title", "Shared v2").unwrap();
    });
    net.run_until_quiescent();
    assert_eq!(title(&net, viewer, doc).as_deref(), Some("Shared v2"));
    assert_eq!(keys(&net, relay, doc), ["title"]);

    // A document the viewer made up is not created on the relay.
    let own = net.create_doc(viewer, |d| {
        d.put(ROOT, "title", "Mine").unwrap();
    });
    net.open(viewer, v, own);
    net.run_until_quiescent();
    assert!(net.stored(relay, own).is_none());
    assert!(unavailable(&net, viewer, own));
    assert_eq!(refused(&net), 2, "alice's changes are not refusals");
}

#[test]
fn documents_outside_the_access_list_are_unavailable() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let eve = net.add_peer("eve");
    let a = net.connect(alice, relay, Access::full());
    let secret = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Secret").unwrap();
    });
    let public = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Public").unwrap();
    });
    let e = net.connect(eve, relay, Access::full().only([public]));
    net.open(alice, a, secret);
    net.open(alice, a, public);
    net.run_until_quiescent();
    net.open(eve, e, secret);
    net.open(eve, e, public);
    net.broadcast(alice, secret, b"cursor");
    net.run_until_quiescent();
    assert!(net.stored(eve, secret).is_none());
    assert!(unavailable(&net, eve, secret));
    assert_eq!(title(&net, eve, public).as_deref(), Some("Public"));
    assert!(!net
        .peer(eve)
        .notices
        .iter()
        .any(|n| matches!(n, Notice::Ephemeral { .. })));
}

#[test]
fn ephemeral_messages_are_forwarded_with_the_target_rewritten() {
    let (mut net, relay, alice, bob, a, b) = star();
    let carol = net.add_peer("carol");
    let c = net.connect(carol, relay, Access::full());
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Live").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    net.open(bob, b, doc);
    net.run_until_quiescent();
    // carol is connected (c) but does not have the document open.
    assert!(net
        .peer(relay)
        .engine
        .sync_status(net.conn(relay, c), &doc)
        .is_none());

    net.broadcast(alice, doc, b"\xa1dnote\x01");
    net.run_until_quiescent();
    let got: Vec<_> = net
        .peer(bob)
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Ephemeral {
                sender_id, data, ..
            } => Some((sender_id.clone(), data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(PeerId::from("alice"), b"\xa1dnote\x01".to_vec())]);
    let forwarded = net.sent_of_type(relay, "ephemeral");
    assert_eq!(forwarded.len(), 1);
    let Message::Ephemeral {
        sender_id,
        target_id,
        count,
        session_id,
        ..
    } = forwarded[0]
    else {
        unreachable!()
    };
    assert_eq!(sender_id.as_str(), "alice");
    assert_eq!(target_id.as_str(), "bob");
    assert_eq!((*count, session_id.as_str()), (1, "alice-session"));
    assert!(!net
        .peer(carol)
        .notices
        .iter()
        .any(|n| matches!(n, Notice::Ephemeral { .. })));

    // A repeat (same sender, session, count) is dropped, like bob echoing it.
    let echo = Message::Ephemeral {
        sender_id: PeerId::from("alice"),
        target_id: PeerId::from("relay"),
        document_id: doc,
        data: b"x".to_vec(),
        count: 1,
        session_id: "alice-session".into(),
    };
    net.inject(relay, a, &echo);
    net.run_until_quiescent();
    assert_eq!(net.sent_of_type(relay, "ephemeral").len(), 1);
}

#[test]
fn a_server_ignores_ephemeral_messages_spoofing_another_sender() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "x").unwrap();
    });
    net.open(alice, a, doc);
    net.open(bob, b, doc);
    net.run_until_quiescent();
    let spoof = Message::Ephemeral {
        sender_id: PeerId::from("mallory"),
        target_id: PeerId::from("relay"),
        document_id: doc,
        data: b"x".to_vec(),
        count: 7,
        session_id: "s".into(),
    };
    net.inject(relay, a, &spoof);
    net.run_until_quiescent();
    assert!(net.sent_of_type(relay, "ephemeral").is_empty());
}

#[test]
fn nothing_is_advertised_before_it_is_durable() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "v1").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    net.open(bob, b, doc);
    net.run_until_quiescent();

    net.peer_mut(relay).auto_persist = false;
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "title", "v2").unwrap();
    });
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "more", 1).unwrap();
    });
    net.run_until_quiescent();
    // The relay holds the change in memory, stores nothing yet, tells no one.
    assert_eq!(net.peer(relay).held.len(), 1);
    assert_eq!(title(&net, bob, doc).as_deref(), Some("v1"));
    assert_eq!(title(&net, relay, doc).as_deref(), Some("v1"));
    let relay_doc = net.peer(relay).engine.document(&doc).unwrap();
    assert_eq!(
        relay_doc.get(ROOT, "title").unwrap().unwrap().0.as_str(),
        Some("v2")
    );
    // (The harness asserts on every message that advertised heads are stored.)
    // Group commit: the second change waits for the first store.
    net.flush_stores(relay);
    net.run_until_quiescent();
    net.flush_stores(relay);
    net.run_until_quiescent();
    assert!(net.peer(relay).held.is_empty());
    assert_eq!(title(&net, bob, doc).as_deref(), Some("v2"));
    assert_eq!(keys(&net, bob, doc), ["more", "title"]);
    assert_eq!(net.peer(relay).changed.last(), Some(&doc));
}

#[test]
fn reconnecting_after_offline_edits_converges() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Trip").unwrap();
    });
    net.open(alice, a, doc);
    net.open(bob, b, doc);
    net.run_until_quiescent();
    net.disconnect(a);
    net.disconnect(b);
    net.run_until_quiescent();
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "train", "notes").unwrap();
    });
    net.change_doc(bob, doc, |d| {
        d.put(ROOT, "office", "notes").unwrap();
    });
    let a2 = net.connect(alice, relay, Access::full());
    let b2 = net.connect(bob, relay, Access::full());
    net.open(alice, a2, doc);
    net.open(bob, b2, doc);
    net.run_until_quiescent();
    for peer in [alice, bob, relay] {
        assert_eq!(keys(&net, peer, doc), ["office", "title", "train"]);
    }
}

#[test]
fn a_second_join_of_the_same_peer_replaces_the_older_connection() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let first = net.connect(alice, relay, Access::full());
    net.run_until_quiescent();
    let second = net.connect(alice, relay, Access::full());
    net.run_until_quiescent();
    assert_eq!(
        net.peer(relay).closed,
        [(net.conn(relay, first), CloseReason::Replaced)]
    );
    let conns: Vec<_> = net.peer(relay).engine.connections().collect();
    assert_eq!(conns, [net.conn(relay, second)]);
}

#[test]
fn a_join_with_a_peer_id_held_under_other_credentials_is_refused() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let writer = net.add_peer("alice");
    // A reader who learnt alice's peer id joins under it with its own token.
    let spy = net.add_peer("alice");
    let (write_token, read_token) = (
        Credential::from_fingerprint([1; 32]),
        Credential::from_fingerprint([2; 32]),
    );
    let doc = net.create_doc(writer, |d| {
        d.put(ROOT, "title", "Interview notes").unwrap();
    });
    let first = net.connect_with(writer, relay, Access::full(), write_token);
    net.open(writer, first, doc);
    net.run_until_quiescent();
    let second = net.connect_with(spy, relay, Access::read_only(), read_token);
    net.run_until_quiescent();
    let taken = HandshakeError::PeerIdInUse(PeerId::from("alice"));
    assert_eq!(
        net.peer(relay).closed,
        [(
            net.conn(relay, second),
            CloseReason::Handshake(taken.clone())
        )]
    );
    assert_eq!(
        net.sent_of_type(relay, "error"),
        [&Message::Error {
            message: taken.to_string()
        }]
    );
    // The writer's connection stays and keeps syncing.
    let conns: Vec<_> = net.peer(relay).engine.connections().collect();
    assert_eq!(conns, [net.conn(relay, first)]);
    net.change_doc(writer, doc, |d| {
        d.put(ROOT, "title", "Interview notes, round 2").unwrap();
    });
    net.run_until_quiescent();
    assert_eq!(
        title(&net, relay, doc).as_deref(),
        Some("Interview notes, round 2")
    );
    // The writer reconnecting with its own token still replaces itself.
    let third = net.connect_with(writer, relay, Access::full(), write_token);
    net.run_until_quiescent();
    assert_eq!(
        net.peer(relay).closed.last(),
        Some(&(net.conn(relay, first), CloseReason::Replaced))
    );
    let conns: Vec<_> = net.peer(relay).engine.connections().collect();
    assert_eq!(conns, [net.conn(relay, third)]);
}

#[test]
fn a_peer_we_dialed_and_one_that_dialed_us_may_share_a_peer_id() {
    // alice dials the relay and the relay dials alice: at the relay, one
    // accepted and one dialed connection of peer "alice". Neither replaces
    // the other (and so they cannot take turns closing each other).
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let inbound = net.connect(alice, relay, Access::full());
    let outbound = net.connect(relay, alice, Access::full());
    net.run_until_quiescent();
    assert!(net.peer(relay).closed.is_empty());
    assert!(net.peer(alice).closed.is_empty());
    let conns: Vec<_> = net.peer(relay).engine.connections().collect();
    assert_eq!(conns, [net.conn(relay, inbound), net.conn(relay, outbound)]);
}

#[test]
fn a_join_without_version_1_is_refused() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let client = net.add_peer("client");
    let link = net.connect(client, relay, Access::full());
    // Replace the client's join by one offering only version 2: deliver it
    // before the real one by running the server side only.
    net.inject(
        relay,
        link,
        &Message::Join {
            sender_id: PeerId::from("old"),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: Some(vec!["2".into()]),
        },
    );
    net.run_until_quiescent();
    let closed = &net.peer(relay).closed;
    assert!(matches!(
        closed.as_slice(),
        [(_, CloseReason::Handshake(crate::handshake::HandshakeError::UnsupportedVersions(v)))] if v == &["2"]
    ));
    assert_eq!(
        net.sent_of_type(relay, "error"),
        [&Message::Error {
            message: "unsupported protocol version".into()
        }]
    );
}

fn protocol_error_of(net: &Harness, peer: PeerIdx) -> ProtocolError {
    match net.peer(peer).closed.as_slice() {
        [(_, CloseReason::Protocol(e))] => e.clone(),
        other => panic!("expected one protocol close, got {other:?}"),
    }
}

#[test]
fn invalid_frames_get_an_error_and_a_close() {
    type Check = fn(&ProtocolError) -> bool;
    let cases: Vec<(Vec<u8>, Check)> = vec![
        (vec![0x01], |e| {
            matches!(e, ProtocolError::Decode(crate::DecodeError::NotAMap))
        }),
        (
            // A doc-unavailable whose documentId is not a document id.
            {
                let mut f = Message::DocUnavailable {
                    sender_id: PeerId::from("alice"),
                    target_id: PeerId::from("relay"),
                    document_id: DocumentId::from_bytes([1; 16]),
                }
                .encode();
                let id = DocumentId::from_bytes([1; 16]).to_string();
                let at = f
                    .windows(id.len())
                    .position(|w| w == id.as_bytes())
                    .unwrap();
                f[at] = if f[at] == b'2' { b'3' } else { b'2' };
                f
            },
            |e| {
                matches!(
                    e,
                    ProtocolError::Decode(crate::DecodeError::InvalidDocumentId(_))
                )
            },
        ),
        (
            Message::Sync {
                sender_id: PeerId::from("alice"),
                target_id: PeerId::from("relay"),
                document_id: DocumentId::from_bytes([1; 16]),
                data: b"not a sync message".to_vec(),
            }
            .encode(),
            |e| matches!(e, ProtocolError::InvalidSyncMessage { .. }),
        ),
        (
            // A well-formed sync message whose one chunk, a bundle, makes
            // Automerge 0.12 panic (found by the canvas_load fuzz target).
            Message::Sync {
                sender_id: PeerId::from("alice"),
                target_id: PeerId::from("relay"),
                document_id: DocumentId::from_bytes([1; 16]),
                data: {
                    let chunk =
                        include_bytes!("../../../../fuzz/regressions/canvas_load-6970efac.bin");
                    let mut data = vec![0x42, 0, 0, 0, 1, 0x86, 0x01];
                    assert_eq!(chunk.len(), 0x86);
                    data.extend_from_slice(chunk);
                    data
                },
            }
            .encode(),
            |e| matches!(e, ProtocolError::InvalidSyncMessage { reason, .. } if reason.contains("bundle")),
        ),
        (
            Message::Peer {
                sender_id: PeerId::from("alice"),
                target_id: PeerId::from("relay"),
                peer_metadata: PeerMetadata::default(),
                selected_protocol_version: "1".into(),
            }
            .encode(),
            |e| matches!(e, ProtocolError::Unexpected { .. }),
        ),
    ];
    for (frame, check) in cases {
        let mut net = Harness::new();
        let relay = net.add_peer("relay");
        let alice = net.add_peer("alice");
        let link = net.connect(alice, relay, Access::full());
        net.run_until_quiescent();
        net.inject_frame(relay, link, frame);
        net.run_until_quiescent();
        let error = protocol_error_of(&net, relay);
        assert!(check(&error), "{error:?}");
        let Some((_, Message::Error { message })) = net.peer(relay).sent.last() else {
            panic!("no error sent")
        };
        assert_eq!(message, &error.to_string());
        assert_eq!(net.peer(relay).engine.connections().count(), 0);
    }
}

#[test]
fn messages_before_the_handshake_are_refused() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let link = net.connect(alice, relay, Access::full());
    net.inject(
        relay,
        link,
        &Message::Leave {
            sender_id: PeerId::from("alice"),
        },
    );
    net.run_until_quiescent();
    assert!(matches!(
        net.peer(relay).closed.as_slice(),
        [(_, CloseReason::Handshake(_))]
    ));
}

#[test]
fn unknown_types_are_ignored_and_leave_closes() {
    let (mut net, relay, _alice, _, a, _) = star();
    net.inject(
        relay,
        a,
        &Message::Unknown {
            type_name: "remote-subscription-change".into(),
        },
    );
    net.run_until_quiescent();
    assert!(net.peer(relay).closed.is_empty());
    // A leave claiming another sender is ignored; the peer's own closes.
    net.inject(
        relay,
        a,
        &Message::Leave {
            sender_id: PeerId::from("someone-else"),
        },
    );
    net.run_until_quiescent();
    assert!(net.peer(relay).closed.is_empty());
    net.inject(
        relay,
        a,
        &Message::Leave {
            sender_id: PeerId::from("alice"),
        },
    );
    net.run_until_quiescent();
    assert_eq!(
        net.peer(relay).closed,
        [(net.conn(relay, a), CloseReason::PeerLeft)]
    );
}

#[test]
fn handshake_and_idle_timeouts() {
    let mut config = Config::new(PeerId::from("relay"), "s");
    config.limits.idle_timeout_ms = Some(60_000);
    let mut net = Harness::new();
    let relay = net.add_peer_with(config);
    let alice = net.add_peer("alice");
    let link = net.connect(alice, relay, Access::full());
    net.run_until_quiescent();
    net.advance(59_000);
    net.run_until_quiescent();
    assert!(net.peer(relay).closed.is_empty());
    net.advance(1_000);
    net.run_until_quiescent();
    assert_eq!(
        net.peer(relay).closed,
        [(net.conn(relay, link), CloseReason::IdleTimeout)]
    );

    // A client that never joins.
    let mut engine = crate::Engine::new(Config::new(PeerId::from("relay"), "s"));
    let t0 = crate::Timestamp::from_millis(0);
    let _ = engine.handle(
        t0,
        crate::Event::ConnectionOpened {
            conn: crate::ConnId(1),
            role: crate::Role::Server,
            access: Access::full(),
            credential: crate::Credential::OPEN,
        },
    );
    assert_eq!(engine.next_deadline(), Some(t0.plus_millis(30_000)));
    let out = engine.handle(t0.plus_millis(30_000), crate::Event::Tick);
    assert_eq!(
        out.close,
        [(crate::ConnId(1), CloseReason::HandshakeTimeout)]
    );
}

#[test]
fn too_many_documents_on_one_connection() {
    let mut config = Config::new(PeerId::from("relay"), "s");
    config.limits = Limits {
        max_documents_per_connection: 2,
        ..Limits::default()
    };
    let mut net = Harness::new();
    let relay = net.add_peer_with(config);
    let alice = net.add_peer("alice");
    let a = net.connect(alice, relay, Access::full());
    for _ in 0..3 {
        let doc = net.create_doc(alice, |d| {
            d.put(ROOT, "title", "x").unwrap();
        });
        net.open(alice, a, doc);
    }
    net.run_until_quiescent();
    assert_eq!(
        protocol_error_of(&net, relay),
        ProtocolError::TooManyDocuments { limit: 2 }
    );
}

#[test]
fn access_can_be_revoked_and_granted() {
    let (mut net, relay, alice, _bob, a, _) = star();
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "x").unwrap();
    });
    net.open(alice, a, doc);
    net.run_until_quiescent();
    let conn = net.conn(relay, a);
    let out = net.peer_mut(relay).engine.handle(
        crate::Timestamp::from_millis(0),
        crate::Event::AccessChanged {
            conn,
            access: Access::read_only(),
        },
    );
    assert!(out.close.is_empty());
    net.change_doc(alice, doc, |d| {
        d.put(ROOT, "title", "y").unwrap();
    });
    net.run_until_quiescent();
    assert_eq!(title(&net, relay, doc).as_deref(), Some("x"));
}

#[test]
fn opening_before_the_handshake_waits_for_it() {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "early").unwrap();
    });
    let a = net.connect(alice, relay, Access::full());
    net.open(alice, a, doc); // queued before the peer message arrives
    net.run_until_quiescent();
    assert_eq!(title(&net, relay, doc).as_deref(), Some("early"));
    assert!(in_sync(&net, alice, doc));
}

#[test]
fn a_retried_request_asks_again() {
    let (mut net, relay, alice, bob, a, b) = star();
    let doc = DocumentId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    net.open(bob, b, doc);
    net.run_until_quiescent();
    assert!(unavailable(&net, bob, doc));
    // Meanwhile alice pushes it to the relay without bob having it open.
    let created = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Now there").unwrap();
    });
    assert_eq!(created, doc);
    net.disconnect(b); // bob is gone while alice uploads
    net.run_until_quiescent();
    net.open(alice, a, doc);
    net.run_until_quiescent();
    let b2 = net.connect(bob, relay, Access::full());
    net.open(bob, b2, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, bob, doc).as_deref(), Some("Now there"));

    // Retrying on the same connection after an unavailable answer.
    let later = DocumentId::from_bytes([8; 16]);
    let requests = net.sent_of_type(bob, "request").len();
    net.open(bob, b2, later);
    net.run_until_quiescent();
    assert_eq!(net.sent_of_type(bob, "request").len(), requests + 1);
    net.open(bob, b2, later);
    net.run_until_quiescent();
    assert_eq!(net.sent_of_type(bob, "request").len(), requests + 2);
}

#[test]
fn a_dialed_peer_that_lacked_a_document_is_asked_again_on_a_new_request() {
    let (mut net, lan, carol, upstream, _, down) = chain();
    let doc = DocumentId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    net.open(carol, down, doc);
    net.run_until_quiescent();
    assert!(unavailable(&net, carol, doc));
    // upstream gets the document (the harness numbers ids from 1).
    assert_eq!(
        net.create_doc(upstream, |d| {
            d.put(ROOT, "title", "Arrived").unwrap();
        }),
        doc
    );
    net.run_until_quiescent();
    net.open(carol, down, doc);
    net.run_until_quiescent();
    assert_eq!(title(&net, carol, doc).as_deref(), Some("Arrived"));
    assert_eq!(title(&net, lan, doc).as_deref(), Some("Arrived"));
}

mod lend;
