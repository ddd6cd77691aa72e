//! A gapmap engine in the JavaScript server's place: fed the frames real
//! automerge-repo 2.5.6 clients sent (fixtures/), it answers with the very
//! bytes the JavaScript server sent where the protocol fixes them, and ends
//! up with the same document.

use std::path::PathBuf;

use automerge::sync::{self, SyncDoc};
use automerge::Automerge;
use gapmap_proto::{
    Access, Config, ConnId, DocumentId, Engine, Event, Message, Output, PeerId, Role, Timestamp,
};

fn fixture(prefix: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no fixture {prefix}"));
    std::fs::read(path).unwrap()
}

/// The relay under test with an empty store that persists at once.
struct Relay {
    engine: Engine,
}

impl Relay {
    fn handle(&mut self, event: Event) -> Output {
        let now = Timestamp::from_millis(0);
        let mut out = self.engine.handle(now, event);
        // Answer loads (empty store) and stores (durable at once) until done.
        loop {
            let loads = std::mem::take(&mut out.load);
            let stores = std::mem::take(&mut out.store);
            if loads.is_empty() && stores.is_empty() {
                return out;
            }
            for id in loads {
                let more = self.engine.handle(
                    now,
                    Event::Loaded {
                        document_id: id,
                        document: None,
                    },
                );
                merge(&mut out, more);
            }
            for p in stores {
                let more = self.engine.handle(
                    now,
                    Event::Persisted {
                        document_id: p.document_id,
                        heads: p.heads,
                    },
                );
                merge(&mut out, more);
            }
        }
    }

    fn frame(&mut self, conn: ConnId, prefix: &str) -> Output {
        self.handle(Event::Frame {
            conn,
            data: fixture(prefix),
        })
    }
}

fn merge(into: &mut Output, more: Output) {
    into.send.extend(more.send);
    into.store.extend(more.store);
    into.load.extend(more.load);
    into.changed.extend(more.changed);
    into.close.extend(more.close);
    into.notices.extend(more.notices);
}

#[test]
fn a_gapmap_relay_answers_real_automerge_repo_clients_like_the_js_server() {
    // Take the JS server's identity from its own `peer` frame.
    let Message::Peer { peer_metadata, .. } = Message::decode(&fixture("02-peer")).unwrap() else {
        panic!()
    };
    let mut config = Config::new(PeerId::from("capture-server"), "relay-session");
    config.peer_metadata = peer_metadata;
    let mut relay = Relay {
        engine: Engine::new(config),
    };
    let (alice, bob, raw) = (ConnId(1), ConnId(2), ConnId(3));
    for conn in [alice, bob, raw] {
        let _ = relay.handle(Event::ConnectionOpened {
            conn,
            role: Role::Server,
            access: Access::full(),
            credential: gapmap_proto::Credential::OPEN,
        });
    }

    // Handshake: byte-identical `peer`.
    let out = relay.frame(alice, "01-join");
    assert_eq!(out.send.len(), 1);
    assert_eq!(out.send[0].message.encode(), fixture("02-peer"));

    // alice announces her document and sends its changes.
    for frame in ["03-sync", "05-sync", "07-remote", "08-sync"] {
        let out = relay.frame(alice, frame);
        assert!(out.close.is_empty(), "{frame}: {:?}", out.close);
    }
    let Message::Sync {
        document_id, data, ..
    } = Message::decode(&fixture("08-sync")).unwrap()
    else {
        panic!()
    };
    let alice_heads = sync::Message::decode(&data).unwrap().heads;
    let relay_doc = relay.engine.document(&document_id).expect("relay has it");
    assert_eq!(relay_doc.get_heads(), alice_heads);

    // A document the relay lacks: byte-identical `doc-unavailable`.
    let out = relay.frame(alice, "10-request");
    assert_eq!(out.send.len(), 1);
    assert_eq!(out.send[0].message.encode(), fixture("11-doc-unavailable"));

    // bob joins (byte-identical `peer`) and requests the document: the
    // relay's answer carries the whole document.
    let out = relay.frame(bob, "13-join");
    assert_eq!(out.send[0].message.encode(), fixture("14-peer"));
    let out = relay.frame(bob, "15-request");
    let Some(Message::Sync { data, .. }) = out.send.first().map(|o| &o.message) else {
        panic!("expected a sync for bob, got {:?}", out.send)
    };
    let mut bobs = Automerge::new();
    bobs.receive_sync_message(
        &mut sync::State::new(),
        sync::Message::decode(data).unwrap(),
    )
    .unwrap();
    assert_eq!(bobs.get_heads(), alice_heads);

    // alice's ephemeral message reaches bob byte-identical to the JS
    // server's forward; bob's echo of it goes nowhere.
    let out = relay.frame(alice, "19-ephemeral");
    assert_eq!(out.send.len(), 1);
    assert_eq!(out.send[0].conn, bob);
    assert_eq!(out.send[0].message.encode(), fixture("20-ephemeral"));
    assert!(relay.frame(bob, "21-ephemeral").send.is_empty());

    // A join offering only version 2: the same error text, then a close.
    let out = relay.frame(raw, "22-join");
    let Message::Error { message: expected } = Message::decode(&fixture("23-error")).unwrap()
    else {
        panic!()
    };
    assert_eq!(out.send[0].message, Message::Error { message: expected });
    assert_eq!(out.close.len(), 1);
    assert_eq!(out.close[0].0, raw);

    let _ = DocumentId::parse(&document_id.to_string()).unwrap();
}

#[test]
fn a_gapmap_client_talks_to_the_js_server_like_a_js_client() {
    // Play bob: no storage (ephemeral), talking to the JS server's frames.
    let mut config = Config::new(PeerId::from("capture-bob"), "bob-session");
    config.peer_metadata.is_ephemeral = true;
    let mut client = Relay {
        engine: Engine::new(config),
    };
    let server = ConnId(1);
    let out = client.handle(Event::ConnectionOpened {
        conn: server,
        role: Role::Client,
        access: Access::full(),
        credential: gapmap_proto::Credential::OPEN,
    });
    // Byte-identical to the JS client's join.
    assert_eq!(out.send.len(), 1);
    assert_eq!(out.send[0].message.encode(), fixture("13-join"));

    // Open alice's document before the handshake completes: it waits.
    let Message::Request {
        document_id,
        data: js_request,
        ..
    } = Message::decode(&fixture("15-request")).unwrap()
    else {
        panic!()
    };
    let out = client.handle(Event::Open {
        conn: server,
        document_id,
    });
    assert!(out.send.is_empty());
    let out = client.frame(server, "14-peer");
    let Some(Message::Request { data, .. }) = out.send.first().map(|o| &o.message) else {
        panic!("expected a request, got {:?}", out.send)
    };
    // The very request automerge-repo sends, down to the sync message.
    assert_eq!(data, &js_request);
    assert_eq!(out.send[0].message.encode(), fixture("15-request"));

    // The server's answer carries the document; it becomes durable here.
    let out = client.frame(server, "16-sync");
    assert_eq!(out.changed, [document_id]);
    let Message::Sync { data, .. } = Message::decode(&fixture("08-sync")).unwrap() else {
        panic!()
    };
    let alice_heads = sync::Message::decode(&data).unwrap().heads;
    assert_eq!(
        client.engine.document(&document_id).unwrap().get_heads(),
        alice_heads
    );
    // The server's confirmation makes both sides agree.
    let out = client.frame(server, "18-sync");
    assert!(out.close.is_empty());
    assert!(
        client
            .engine
            .sync_status(server, &document_id)
            .unwrap()
            .in_sync
    );

    // An unavailable document is reported.
    let Message::DocUnavailable {
        document_id: missing,
        ..
    } = Message::decode(&fixture("11-doc-unavailable")).unwrap()
    else {
        panic!()
    };
    let _ = client.handle(Event::Open {
        conn: server,
        document_id: missing,
    });
    // (11 was addressed to alice; the engine does not check targetId.)
    let out = client.frame(server, "11-doc-unavailable");
    assert!(out.notices.iter().any(|n| matches!(
        n,
        gapmap_proto::Notice::Unavailable { document_id, .. } if *document_id == missing
    )));
    assert!(
        client
            .engine
            .sync_status(server, &missing)
            .unwrap()
            .unavailable
    );

    // An ephemeral message the server forwarded from alice arrives.
    let out = client.frame(server, "20-ephemeral");
    assert!(out.notices.iter().any(|n| matches!(
        n,
        gapmap_proto::Notice::Ephemeral { sender_id, .. } if sender_id.as_str() == "capture-alice"
    )));
}
