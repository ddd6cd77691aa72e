//! The handshake and the per-peer state machine: arbitrary sequences of
//! frames and events fed into one `Engine` over two connections. It must
//! never panic, whatever a peer sends and in whatever order storage and
//! time answer.
//!
//! The input is read as a small program (so the fuzzer can reach deep
//! states): the first byte sets the engine's role, the peers' access and
//! whether handshakes are done for them; then each op byte picks one of:
//!
//! | op % 8 | event |
//! |---|---|
//! | 0 | a raw frame: a 2-byte little-endian length, then that many bytes |
//! | 1 | a `sync` for one of 4 documents carrying a real Automerge sync message from a remote copy the program edits |
//! | 2 | a `request` (or `sync` without heads) for one of 4 documents, with raw data |
//! | 3 | time passes (a byte × 1 s) and a `Tick`; lent documents come back (their `Apply` work runs) |
//! | 4 | every pending load is answered (missing, or with a stored copy) |
//! | 5 | every pending store is confirmed |
//! | 6 | the connection closes and a new one opens |
//! | 7 | the application: opens a document on a connection, changes one, or broadcasts |
//!
//! Bit 3 of the op byte picks which of the two connections it is about.
//! Bit 3 of the first byte makes the engine lend every change out
//! (`Output::apply`), so that events meet documents that are away.
#![no_main]

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use gapmap_proto::{
    Access, Apply, Config, ConnId, DocumentId, Engine, Event, Message, Output, PeerId,
    PeerMetadata, Role, Timestamp,
};
use libfuzzer_sys::fuzz_target;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A 2-byte little-endian length, then that many bytes.
    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte().unwrap_or(0)) | usize::from(self.byte().unwrap_or(0)) << 8;
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken.to_vec()
    }
}

struct World {
    engine: Engine,
    role: Role,
    access: Access,
    now: Timestamp,
    conns: [ConnId; 2],
    next_conn: u64,
    loads: Vec<DocumentId>,
    /// Lent documents, with the work to run before they come back.
    applies: Vec<Apply>,
    stores: Vec<(DocumentId, Vec<automerge::ChangeHash>)>,
    /// The remote peer's copy of each document, and its sync state.
    remote: Vec<(AutoCommit, sync::State)>,
    /// What "storage" holds: the engine's stores, applied.
    stored: Vec<Option<Automerge>>,
}

fn doc_id(i: u8) -> DocumentId {
    DocumentId::from_bytes([i % 4 + 1; 16])
}

/// Which of the 4 slots a document id (perhaps from a raw frame) uses.
fn slot_of(id: &DocumentId) -> usize {
    (usize::from(id.as_bytes()[0]) + 3) % 4
}

impl World {
    fn handle(&mut self, event: Event) {
        let out: Output = self.engine.handle(self.now, event);
        self.loads.extend(out.load);
        self.applies.extend(out.apply);
        for p in out.store {
            let slot = &mut self.stored[slot_of(&p.document_id)];
            let doc = slot.get_or_insert_with(Automerge::new);
            let _ = doc.load_incremental(&p.changes);
            self.stores.push((p.document_id, p.heads));
        }
        // Messages to the remote peers are decoded as a peer would.
        for sent in out.send {
            let frame = sent.message.encode();
            let back = Message::decode(&frame).expect("the engine sends what it can decode");
            if let Message::Sync { document_id, data, .. } | Message::Request { document_id, data, .. } = back {
                if let Ok(m) = sync::Message::decode(&data) {
                    let (doc, state) = &mut self.remote[slot_of(&document_id)];
                    let _ = doc.sync().receive_sync_message(state, m);
                }
            }
        }
    }

    fn open(&mut self, slot: usize) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns[slot] = conn;
        let (role, access) = (self.role, self.access.clone());
        self.handle(Event::ConnectionOpened {
            conn,
            role,
            access,
            credential: gapmap_proto::Credential::OPEN,
        });
    }

    fn peer_id(slot: usize) -> PeerId {
        PeerId::from(if slot == 0 { "alice" } else { "bob" })
    }

    fn handshake(&mut self, slot: usize) {
        let conn = self.conns[slot];
        let message = match self.role {
            Role::Server => gapmap_proto::handshake::join(World::peer_id(slot), PeerMetadata::default()),
            Role::Client => Message::Peer {
                sender_id: World::peer_id(slot),
                target_id: PeerId::from("engine"),
                peer_metadata: PeerMetadata::default(),
                selected_protocol_version: "1".into(),
            },
        };
        self.handle(Event::Frame { conn, data: message.encode() });
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(flags) = input.byte() else { return };
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let access = if flags & 2 == 0 { Access::full() } else { Access::read_only() };
    let mut config = Config::new(PeerId::from("engine"), "fuzz-session");
    config.limits.max_documents_per_connection = 3;
    config.limits.max_pending_per_document = 8;
    // Small budgets keep each run fast; a bomb past the gate would still
    // show as a timeout or libFuzzer's memory limit.
    config.limits.automerge = gapmap_guard::Budget { per_input_byte: 256, floor: 1 << 20, max: 16 << 20 };
    if flags & 8 != 0 {
        config.limits.apply_inline_up_to = 0;
    }
    let mut world = World {
        engine: Engine::new(config),
        role,
        access,
        now: Timestamp::from_millis(0),
        conns: [ConnId(0); 2],
        next_conn: 1,
        loads: Vec::new(),
        applies: Vec::new(),
        stores: Vec::new(),
        remote: (0..4).map(|_| (AutoCommit::new(), sync::State::new())).collect(),
        stored: vec![None; 4],
    };
    for slot in 0..2 {
        world.open(slot);
        if flags & 4 == 0 {
            world.handshake(slot);
        }
    }
    let mut steps = 0;
    while let Some(op) = input.byte() {
        steps += 1;
        if steps > 200 {
            break;
        }
        let slot = usize::from(op & 8 != 0);
        let conn = world.conns[slot];
        match op % 8 {
            0 => {
                let data = input.bytes();
                world.handle(Event::Frame { conn, data });
            }
            1 => {
                let which = input.byte().unwrap_or(0);
                let key = input.byte().unwrap_or(0);
                let (doc, state) = &mut world.remote[usize::from(which % 4)];
                if key & 1 == 1 {
                    let _ = doc.put(ROOT, format!("k{}", key >> 1), i64::from(key));
                    doc.commit();
                }
                if key & 2 == 2 {
                    *state = sync::State::new();
                }
                let Some(message) = doc.sync().generate_sync_message(state) else { continue };
                let frame = Message::Sync {
                    sender_id: World::peer_id(slot),
                    target_id: PeerId::from("engine"),
                    document_id: doc_id(which),
                    data: message.encode(),
                };
                world.handle(Event::Frame { conn, data: frame.encode() });
            }
            2 => {
                let which = input.byte().unwrap_or(0);
                let data = input.bytes();
                let frame = if which & 4 == 0 {
                    Message::Request {
                        sender_id: World::peer_id(slot),
                        target_id: PeerId::from("engine"),
                        document_id: doc_id(which),
                        data,
                    }
                } else {
                    Message::Sync {
                        sender_id: World::peer_id(slot),
                        target_id: PeerId::from("engine"),
                        document_id: doc_id(which),
                        data,
                    }
                };
                world.handle(Event::Frame { conn, data: frame.encode() });
            }
            3 => {
                let secs = input.byte().unwrap_or(1);
                world.now = world.now.plus_millis(u64::from(secs) * 1_000);
                world.handle(Event::Tick);
                for work in std::mem::take(&mut world.applies) {
                    world.handle(Event::Applied(work.run()));
                }
            }
            4 => {
                let with_copy = input.byte().unwrap_or(0) & 1 == 1;
                for id in std::mem::take(&mut world.loads) {
                    let i = slot_of(&id);
                    let document = with_copy
                        .then(|| world.stored[i].clone())
                        .flatten()
                        .map(Box::new);
                    world.handle(Event::Loaded { document_id: id, document });
                }
            }
            5 => {
                for (document_id, heads) in std::mem::take(&mut world.stores) {
                    world.handle(Event::Persisted { document_id, heads });
                }
            }
            6 => {
                world.handle(Event::ConnectionClosed { conn });
                world.open(slot);
                if input.byte().unwrap_or(0) & 1 == 0 {
                    world.handshake(slot);
                }
            }
            _ => {
                let what = input.byte().unwrap_or(0);
                let id = doc_id(what >> 2);
                match what % 4 {
                    0 => world.handle(Event::Open { conn, document_id: id }),
                    1 => {
                        let mut doc = AutoCommit::new();
                        let _ = doc.put(ROOT, "local", i64::from(what));
                        world.handle(Event::LocalChange { document_id: id, changes: doc.save() });
                    }
                    2 => world.handle(Event::Broadcast { document_id: id, data: vec![what] }),
                    _ => {
                        let access = if what & 16 == 0 { Access::full() } else { Access::read_only().only([id]) };
                        world.handle(Event::AccessChanged { conn, access });
                    }
                }
            }
        }
    }
});
