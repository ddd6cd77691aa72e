//! Costly peer changes are lent out with their document; the gate refuses
//! what Automerge would blow up on, on the entries as Automerge joins them.

use automerge::sync;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};

use crate::handshake::join;
use crate::{
    Access, CloseReason, Config, ConnId, DocumentId, Engine, Event, Message, Output, PeerId,
    PeerMetadata, ProtocolError, Role, Timestamp,
};

const NOW: Timestamp = Timestamp::from_millis(0);
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);

/// A relay with alice and bob joined, both allowed to write.
fn relay() -> Engine {
    let mut relay = Engine::new(Config::new("relay".into(), "s"));
    for (conn, name) in [(ALICE, "alice"), (BOB, "bob")] {
        let _ = relay.handle(
            NOW,
            Event::ConnectionOpened {
                conn,
                role: Role::Server,
                access: Access::full(),
                credential: crate::Credential::OPEN,
            },
        );
        let out = relay.handle(
            NOW,
            Event::Message {
                conn,
                message: join(name.into(), PeerMetadata::default()),
            },
        );
        assert!(out.close.is_empty());
    }
    relay
}

fn sync_frame(conn: ConnId, doc: DocumentId, changes: Vec<Vec<u8>>) -> Event {
    let sender = if conn == ALICE { "alice" } else { "bob" };
    let message = sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    Event::Frame {
        conn,
        data: Message::Sync {
            sender_id: PeerId::from(sender),
            target_id: PeerId::from("relay"),
            document_id: doc,
            data: message.encode(),
        }
        .encode(),
    }
}

/// Hands the relay `event`, answering its loads (its store is empty) until
/// it asks no more.
fn settle(relay: &mut Engine, event: Event) -> Output {
    let mut out = relay.handle(NOW, event);
    let mut all = Output::default();
    loop {
        let loads = std::mem::take(&mut out.load);
        all.send.append(&mut out.send);
        all.store.append(&mut out.store);
        all.apply.append(&mut out.apply);
        all.close.append(&mut out.close);
        if loads.is_empty() {
            return all;
        }
        for id in loads {
            let more = relay.handle(
                NOW,
                Event::Loaded {
                    document_id: id,
                    document: None,
                },
            );
            out.send.extend(more.send);
            out.store.extend(more.store);
            out.apply.extend(more.apply);
            out.close.extend(more.close);
            out.load.extend(more.load);
        }
    }
}

/// One change with `ops` operations in about a hundred bytes (a list of
/// `true`s, which run-length encodes to almost nothing).
fn many_ops(ops: usize) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
    let trues = std::iter::repeat_n(automerge::ScalarValue::Boolean(true), ops);
    doc.splice(&list, 0, 0, trues).unwrap();
    doc.commit();
    doc.save_incremental()
}

fn small_change() -> Vec<u8> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "title", "Onboarding").unwrap();
    doc.save_incremental()
}

#[test]
fn costly_changes_are_lent_while_other_documents_flow() {
    let mut relay = relay();
    let (a, b) = (
        DocumentId::from_bytes([1; 16]),
        DocumentId::from_bytes([2; 16]),
    );
    // 5,000 operations: over the 1 MiB applied inline.
    let costly = many_ops(5_000);
    assert!(costly.len() < 200);
    let out = settle(&mut relay, sync_frame(ALICE, a, vec![costly]));
    assert_eq!(out.apply.len(), 1, "{out:?}");
    assert!(out.store.is_empty() && out.close.is_empty());
    let work = out.apply.into_iter().next().unwrap();
    assert_eq!((work.document_id(), work.conn()), (a, ALICE));

    // Another document goes on meanwhile: applied at once and stored.
    let out = settle(&mut relay, sync_frame(BOB, b, vec![small_change()]));
    assert!(out.apply.is_empty());
    assert_eq!(out.store.len(), 1);
    assert_eq!(out.store[0].document_id, b);

    // Bob's message about the lent document waits for it.
    let out = relay.handle(NOW, sync_frame(BOB, a, vec![small_change()]));
    assert!(out.is_empty(), "{out:?}");
    assert!(relay.document(&a).is_none(), "lent");
    assert_eq!(relay.durable_heads(&a), Some(&[][..]));

    // Back: alice's message applied, then bob's; advertised only once
    // durable.
    let mut out = relay.handle(NOW, Event::Applied(work.run()));
    assert!(out.apply.is_empty() && out.close.is_empty());
    assert_eq!(relay.document(&a).unwrap().get_heads().len(), 2);
    let mut told = Vec::new();
    while let Some(persist) = out.store.pop() {
        assert!(told.is_empty(), "nothing advertised before it is durable");
        out = relay.handle(
            NOW,
            Event::Persisted {
                document_id: a,
                heads: persist.heads,
            },
        );
        told.extend(out.send.iter().map(|o| o.conn));
    }
    assert!(told.contains(&ALICE) && told.contains(&BOB), "{told:?}");
}

#[test]
fn a_bundle_split_over_two_entries_is_refused_before_automerge() {
    // The 31 bytes that made Automerge allocate 4 GiB and abort, split as
    // an attacker did (5 + 26 bytes): each entry alone is no bundle.
    let bundle = include_bytes!("../../../../../fuzz/regressions/canvas_load-timeout-babf1ce7.bin");
    let mut relay = relay();
    let doc = DocumentId::from_bytes([3; 16]);
    let entries = vec![bundle[..5].to_vec(), bundle[5..].to_vec()];
    let out = settle(&mut relay, sync_frame(ALICE, doc, entries));
    assert!(out.apply.is_empty());
    match out.close.as_slice() {
        [(ALICE, CloseReason::Protocol(ProtocolError::InvalidSyncMessage { reason, .. }))] => {
            assert!(reason.contains("bundle"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        out.send.last().map(|o| &o.message),
        Some(Message::Error { .. })
    ));
    // Bob is untouched.
    assert!(relay.peer(BOB).is_some());
}

#[test]
fn an_over_budget_message_is_refused_when_the_work_comes_back() {
    let mut config = Config::new("relay".into(), "s");
    config.limits.automerge = gapmap_guard::Budget {
        per_input_byte: 0,
        floor: 4 << 20,
        max: 4 << 20,
    };
    let mut relay = Engine::new(config);
    for (conn, name) in [(ALICE, "alice"), (BOB, "bob")] {
        let _ = relay.handle(
            NOW,
            Event::ConnectionOpened {
                conn,
                role: Role::Server,
                access: Access::full(),
                credential: crate::Credential::OPEN,
            },
        );
        let _ = relay.handle(
            NOW,
            Event::Message {
                conn,
                message: join(name.into(), PeerMetadata::default()),
            },
        );
    }
    let doc = DocumentId::from_bytes([4; 16]);
    // 10,000 operations: 5 MiB as the gate counts them, over 4 MiB.
    let out = settle(&mut relay, sync_frame(ALICE, doc, vec![many_ops(10_000)]));
    let work = out.apply.into_iter().next().expect("lent");
    let queued = relay.handle(NOW, sync_frame(BOB, doc, vec![small_change()]));
    assert!(queued.is_empty());
    let out = settle(&mut relay, Event::Applied(work.run()));
    assert!(
        matches!(
            out.close.as_slice(),
            [(ALICE, CloseReason::Protocol(ProtocolError::InvalidSyncMessage { reason, .. }))]
                if reason.contains("budget")
        ),
        "{out:?}"
    );
    // Nothing of alice's applied; bob's waiting message did.
    assert_eq!(out.store.len(), 1);
    let stored = AutoCommit::load(&out.store[0].changes).unwrap();
    assert!(stored.get(ROOT, "l").unwrap().is_none());
    assert!(stored.get(ROOT, "title").unwrap().is_some());
    // An answer for a lending that is over is ignored.
    assert!(relay.peer(BOB).is_some());
}

#[test]
fn stray_answers_leave_a_lent_document_alone() {
    let mut relay = relay();
    let doc = DocumentId::from_bytes([5; 16]);
    let out = settle(&mut relay, sync_frame(ALICE, doc, vec![many_ops(5_000)]));
    let work = out.apply.into_iter().next().expect("lent");
    // A repeated load answer, and an answer to a lending that is not this
    // one, change nothing.
    let stray = relay.handle(
        NOW,
        Event::Loaded {
            document_id: doc,
            document: None,
        },
    );
    assert!(stray.is_empty());
    let mut other = Engine::new(Config::new("other".into(), "another session"));
    let _ = other.handle(
        NOW,
        Event::ConnectionOpened {
            conn: ALICE,
            role: Role::Server,
            access: Access::full(),
            credential: crate::Credential::OPEN,
        },
    );
    let _ = other.handle(
        NOW,
        Event::Message {
            conn: ALICE,
            message: join("alice".into(), PeerMetadata::default()),
        },
    );
    let out = settle(&mut other, sync_frame(ALICE, doc, vec![many_ops(5_000)]));
    let foreign = out
        .apply
        .into_iter()
        .next()
        .expect("lent by the other engine");
    assert!(relay.handle(NOW, Event::Applied(foreign.run())).is_empty());
    // The real answer still lands.
    let out = relay.handle(NOW, Event::Applied(work.run()));
    assert_eq!(out.store.len(), 1);
}
