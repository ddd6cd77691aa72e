//! A deterministic in-memory network of engines, for tests (like
//! samod-test-harness). Compiled for this crate's tests and, with the
//! `harness` feature, for other crates' tests.
//!
//! Each peer is an [`Engine`] with an in-memory store. Frames travel through
//! one FIFO queue, encoded and decoded for real; loads and stores are answered
//! through the same queue (or held back, to test durability). Time moves only
//! when [`Harness::advance`] says so. Everything iterates in a fixed order, so
//! a test runs the same way every time.
//!
//! The harness checks the durability rule on every message: a peer never
//! sends a sync message advertising heads its store does not hold.
//!
//! With [`Harness::control_delivery`], frames wait on their link instead,
//! and a test decides what the network does with them: deliver them in
//! order, delay them (other links go first), drop, duplicate or reorder
//! them, partition a link and heal it, or restart a peer from its store
//! (losing what its engine held in memory and the stores not yet done).
//! See [`faults`].
//!
//! ```
//! use gapmap_proto::harness::Harness;
//! use gapmap_proto::Access;
//! use automerge::{transaction::Transactable, ReadDoc};
//!
//! let mut net = Harness::new();
//! let relay = net.add_peer("relay");
//! let alice = net.add_peer("alice");
//! let bob = net.add_peer("bob");
//! let a = net.connect(alice, relay, Access::full());
//! let b = net.connect(bob, relay, Access::full());
//! let doc = net.create_doc(alice, |d| {
//!     d.put(automerge::ROOT, "title", "Onboarding").unwrap();
//! });
//! net.open(alice, a, doc);
//! net.run_until_quiescent();
//! net.open(bob, b, doc);
//! net.run_until_quiescent();
//! let copy = net.stored(bob, doc).unwrap();
//! assert_eq!(copy.get(automerge::ROOT, "title").unwrap().unwrap().0.as_str(), Some("Onboarding"));
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use automerge::{AutoCommit, Automerge, ChangeHash, ReadDoc};

use crate::{
    Access, CloseReason, Config, ConnId, Credential, DocumentId, Engine, Event, Message, Notice,
    Output, PeerId, Persist, Role, Timestamp,
};

pub mod faults;
pub use faults::FaultStats;

/// A peer's index in the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerIdx(pub usize);

/// A connection between two peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// One engine and what surrounds it.
pub struct Peer {
    /// The engine.
    pub engine: Engine,
    /// The store: per document, the concatenated Automerge chunks written.
    pub storage: BTreeMap<DocumentId, Vec<u8>>,
    /// When false, [`Output::store`] requests wait in `held` until
    /// [`Harness::flush_stores`].
    pub auto_persist: bool,
    /// Stores not yet carried out.
    pub held: Vec<Persist>,
    /// Every message this peer sent, in order.
    pub sent: Vec<(ConnId, Message)>,
    /// Every notice, in order.
    pub notices: Vec<Notice>,
    /// Every `changed` document, in order.
    pub changed: Vec<DocumentId>,
    /// Every connection the engine closed, with why.
    pub closed: Vec<(ConnId, CloseReason)>,
    /// When true, frames sent to this peer are lost (a peer that hung).
    pub muted: bool,
    /// Its configuration, to start a fresh engine on [`Harness::restart`].
    config: Config,
    /// Per document: how many bytes of `storage` are loaded, and the loaded
    /// document (loading the whole store on every message is too slow for
    /// long property tests). Rebuilt if `storage` shrank.
    cache: RefCell<BTreeMap<DocumentId, (usize, Automerge)>>,
}

/// What travels on a link when delivery is controlled.
enum InFlight {
    /// A frame.
    Frame(Vec<u8>),
    /// The sender closed the connection after the frames before this.
    Close,
}

struct Link {
    /// (peer, its conn id) of the dialing side and of the accepting side.
    ends: [(PeerIdx, ConnId); 2],
    open: bool,
    /// With controlled delivery: what is in flight to `ends[0]` and to
    /// `ends[1]`, in sending order.
    queues: [VecDeque<InFlight>; 2],
    /// With controlled delivery: nothing is delivered on this link (either
    /// way) until it heals.
    partitioned: bool,
}

/// The network. See the [module documentation](self).
pub struct Harness {
    now: Timestamp,
    peers: Vec<Peer>,
    links: Vec<Link>,
    queue: VecDeque<(PeerIdx, Event)>,
    next_conn: u64,
    next_doc: u64,
    /// Frames wait on their link (see [`Harness::control_delivery`]).
    controlled: bool,
    /// What the network did to frames and peers.
    faults: faults::FaultStats,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// An empty network at time 0.
    pub fn new() -> Harness {
        Harness {
            now: Timestamp::from_millis(0),
            peers: Vec::new(),
            links: Vec::new(),
            queue: VecDeque::new(),
            next_conn: 1,
            next_doc: 1,
            controlled: false,
            faults: faults::FaultStats::default(),
        }
    }

    /// Adds a peer with default limits and a store.
    pub fn add_peer(&mut self, name: &str) -> PeerIdx {
        self.add_peer_with(Config::new(PeerId::from(name), format!("{name}-session")))
    }

    /// Adds a peer with this configuration.
    pub fn add_peer_with(&mut self, config: Config) -> PeerIdx {
        self.peers.push(Peer {
            engine: Engine::new(config.clone()),
            config,
            cache: RefCell::new(BTreeMap::new()),
            storage: BTreeMap::new(),
            auto_persist: true,
            held: Vec::new(),
            sent: Vec::new(),
            notices: Vec::new(),
            changed: Vec::new(),
            closed: Vec::new(),
            muted: false,
        });
        PeerIdx(self.peers.len() - 1)
    }

    /// A peer.
    pub fn peer(&self, peer: PeerIdx) -> &Peer {
        &self.peers[peer.0]
    }

    /// A peer, mutably (e.g. to turn `auto_persist` off).
    pub fn peer_mut(&mut self, peer: PeerIdx) -> &mut Peer {
        &mut self.peers[peer.0]
    }

    /// Makes `peer` drop (or again receive) every frame sent to it.
    pub fn set_muted(&mut self, peer: PeerIdx, muted: bool) {
        self.peers[peer.0].muted = muted;
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// `client` dials `server`, which grants it `access`; the client grants
    /// the server full access. Run the network to complete the handshake.
    pub fn connect(&mut self, client: PeerIdx, server: PeerIdx, access: Access) -> LinkId {
        self.connect_with(client, server, access, Credential::OPEN)
    }

    /// [`Harness::connect`], the client presenting `credential`.
    pub fn connect_with(
        &mut self,
        client: PeerIdx,
        server: PeerIdx,
        access: Access,
        credential: Credential,
    ) -> LinkId {
        let (c, s) = (ConnId(self.next_conn), ConnId(self.next_conn + 1));
        self.next_conn += 2;
        self.links.push(Link {
            ends: [(client, c), (server, s)],
            open: true,
            queues: Default::default(),
            partitioned: false,
        });
        // The server side exists before the client's join can arrive.
        self.queue.push_back((
            server,
            Event::ConnectionOpened {
                conn: s,
                role: Role::Server,
                access,
                credential,
            },
        ));
        self.queue.push_back((
            client,
            Event::ConnectionOpened {
                conn: c,
                role: Role::Client,
                access: Access::full(),
                credential: Credential::OPEN,
            },
        ));
        LinkId(self.links.len() - 1)
    }

    /// The connection id `peer` uses for `link`.
    pub fn conn(&self, peer: PeerIdx, link: LinkId) -> ConnId {
        let ends = self.links[link.0].ends;
        ends.iter()
            .find(|(p, _)| *p == peer)
            .map(|&(_, c)| c)
            .expect("peer is not on this link")
    }

    /// Cuts a link: both sides see their connection close. Frames still in
    /// flight on it (with controlled delivery) are lost, as with a reset.
    pub fn disconnect(&mut self, link: LinkId) {
        let l = &mut self.links[link.0];
        if l.open {
            l.open = false;
            for q in &mut l.queues {
                self.faults.lost_in_cuts += q.len();
                q.clear();
            }
            for (peer, conn) in l.ends {
                self.queue
                    .push_back((peer, Event::ConnectionClosed { conn }));
            }
        }
    }

    /// Creates a document in `peer`'s store (durably) and tells its engine.
    pub fn create_doc(&mut self, peer: PeerIdx, f: impl FnOnce(&mut AutoCommit)) -> DocumentId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_doc.to_be_bytes());
        self.next_doc += 1;
        let id = DocumentId::from_bytes(bytes);
        let mut doc = AutoCommit::new();
        f(&mut doc);
        let changes = doc.save();
        self.peers[peer.0].storage.insert(id, changes.clone());
        self.queue.push_back((
            peer,
            Event::LocalChange {
                document_id: id,
                changes,
            },
        ));
        id
    }

    /// Changes a document `peer` holds, durably, and tells its engine.
    pub fn change_doc(&mut self, peer: PeerIdx, id: DocumentId, f: impl FnOnce(&mut AutoCommit)) {
        let bytes = self.peers[peer.0]
            .storage
            .get(&id)
            .expect("the peer has no such document");
        let mut doc = AutoCommit::load(bytes).expect("stored document loads");
        let before = doc.get_heads();
        f(&mut doc);
        let changes = doc.save_after(&before);
        self.peers[peer.0]
            .storage
            .get_mut(&id)
            .expect("stored")
            .extend_from_slice(&changes);
        self.queue.push_back((
            peer,
            Event::LocalChange {
                document_id: id,
                changes,
            },
        ));
    }

    /// Records changes the application made to a document `peer` holds
    /// (anything `load_incremental` reads): stores them durably, then tells
    /// the engine. For tests that keep their own copy of the document.
    pub fn commit(&mut self, peer: PeerIdx, id: DocumentId, changes: Vec<u8>) {
        self.peers[peer.0]
            .storage
            .entry(id)
            .or_default()
            .extend_from_slice(&changes);
        self.queue.push_back((
            peer,
            Event::LocalChange {
                document_id: id,
                changes,
            },
        ));
    }

    /// `peer` starts syncing `doc` over `link`.
    pub fn open(&mut self, peer: PeerIdx, link: LinkId, doc: DocumentId) {
        let conn = self.conn(peer, link);
        self.queue.push_back((
            peer,
            Event::Open {
                conn,
                document_id: doc,
            },
        ));
    }

    /// `peer` broadcasts an ephemeral message about `doc`.
    pub fn broadcast(&mut self, peer: PeerIdx, doc: DocumentId, data: &[u8]) {
        self.queue.push_back((
            peer,
            Event::Broadcast {
                document_id: doc,
                data: data.to_vec(),
            },
        ));
    }

    /// Delivers `message` to `peer` on `link` as if the other end sent it.
    pub fn inject(&mut self, peer: PeerIdx, link: LinkId, message: &Message) {
        self.inject_frame(peer, link, message.encode());
    }

    /// Delivers raw bytes to `peer` on `link` as if the other end sent them.
    pub fn inject_frame(&mut self, peer: PeerIdx, link: LinkId, data: Vec<u8>) {
        let conn = self.conn(peer, link);
        self.queue.push_back((peer, Event::Frame { conn, data }));
    }

    /// Moves time forward and lets every engine check its timeouts.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
        for i in 0..self.peers.len() {
            self.queue.push_back((PeerIdx(i), Event::Tick));
        }
    }

    /// Carries out the stores `peer` held back, then lets it react.
    pub fn flush_stores(&mut self, peer: PeerIdx) {
        let held = std::mem::take(&mut self.peers[peer.0].held);
        for persist in held {
            self.store(peer, persist);
        }
    }

    /// Processes one queued event; false if there was none. With
    /// controlled delivery, when no event is queued, the first frame in
    /// flight on the lowest-numbered link that is not partitioned is
    /// delivered.
    pub fn step(&mut self) -> bool {
        let Some((peer, event)) = self.queue.pop_front().or_else(|| self.next_in_flight()) else {
            return false;
        };
        let output = self.peers[peer.0].engine.handle(self.now, event);
        self.carry_out(peer, output);
        true
    }

    /// Processes events until nothing is left to do (frames on partitioned
    /// links stay in flight). Panics after a million events: a livelock is a
    /// bug.
    pub fn run_until_quiescent(&mut self) {
        let mut steps = 0u32;
        while self.step() {
            steps += 1;
            assert!(steps < 1_000_000, "the network does not settle");
        }
    }

    /// Processes at most `events` events; true if the network went quiet
    /// (a test's livelock check that fails rather than panics).
    pub fn run_at_most(&mut self, events: usize) -> bool {
        for _ in 0..events {
            if !self.step() {
                return true;
            }
        }
        false
    }

    /// The document as `peer`'s store holds it.
    pub fn stored(&self, peer: PeerIdx, id: DocumentId) -> Option<Automerge> {
        self.with_stored(peer, id, |doc| doc.clone())
    }

    /// Reads the document as `peer`'s store holds it, without a copy.
    pub fn with_stored<R>(
        &self,
        peer: PeerIdx,
        id: DocumentId,
        f: impl FnOnce(&Automerge) -> R,
    ) -> Option<R> {
        let p = &self.peers[peer.0];
        let bytes = p.storage.get(&id)?;
        let mut cache = p.cache.borrow_mut();
        let (loaded, doc) = cache.entry(id).or_insert_with(|| (0, Automerge::new()));
        if bytes.len() < *loaded {
            // Replaced by the test: start again.
            (*loaded, *doc) = (0, Automerge::new());
        }
        if bytes.len() > *loaded {
            doc.load_incremental(&bytes[*loaded..])
                .expect("stored chunks load");
            *loaded = bytes.len();
        }
        Some(f(doc))
    }

    /// The heads of the document in `peer`'s store (empty if it has none).
    pub fn stored_heads(&self, peer: PeerIdx, id: DocumentId) -> Vec<ChangeHash> {
        self.with_stored(peer, id, |d| d.get_heads())
            .unwrap_or_default()
    }

    /// The messages `peer` sent of a type (`"sync"`, `"doc-unavailable"`…).
    pub fn sent_of_type(&self, peer: PeerIdx, type_name: &str) -> Vec<&Message> {
        self.peers[peer.0]
            .sent
            .iter()
            .filter(|(_, m)| m.type_name() == type_name)
            .map(|(_, m)| m)
            .collect()
    }

    fn carry_out(&mut self, peer: PeerIdx, output: Output) {
        let Output {
            send,
            store,
            load,
            apply,
            changed,
            close,
            notices,
        } = output;
        // Lent documents come back as events of their own, so that what
        // arrives meanwhile finds the document busy, as in a real loop.
        for work in apply {
            self.queue.push_back((peer, Event::Applied(work.run())));
        }
        for id in load {
            let document = self.stored(peer, id).map(Box::new);
            self.queue.push_back((
                peer,
                Event::Loaded {
                    document_id: id,
                    document,
                },
            ));
        }
        for persist in store {
            if self.peers[peer.0].auto_persist {
                self.store(peer, persist);
            } else {
                self.peers[peer.0].held.push(persist);
            }
        }
        for out in send {
            self.check_durable(peer, &out.message);
            let frame = out.message.encode();
            self.peers[peer.0].sent.push((out.conn, out.message));
            if let Some((to, conn)) = self.other_end(peer, out.conn) {
                if self.peers[to.0].muted {
                    continue;
                }
                if self.controlled {
                    self.enqueue(peer, out.conn, InFlight::Frame(frame));
                } else {
                    self.queue
                        .push_back((to, Event::Frame { conn, data: frame }));
                }
            }
        }
        for (conn, reason) in close {
            self.peers[peer.0].closed.push((conn, reason));
            if let Some(link) = self.link_of(peer, conn) {
                if self.links[link].open {
                    if self.controlled {
                        // The other end reads what was sent, then the close.
                        self.enqueue(peer, conn, InFlight::Close);
                        self.links[link].open = false;
                        continue;
                    }
                    let l = &mut self.links[link];
                    l.open = false;
                    if let Some((to, their)) = l.ends.iter().copied().find(|&e| e != (peer, conn)) {
                        self.queue
                            .push_back((to, Event::ConnectionClosed { conn: their }));
                    }
                }
            }
        }
        let p = &mut self.peers[peer.0];
        p.changed.extend(changed);
        p.notices.extend(notices);
    }

    fn store(&mut self, peer: PeerIdx, persist: Persist) {
        self.peers[peer.0]
            .storage
            .entry(persist.document_id)
            .or_default()
            .extend_from_slice(&persist.changes);
        self.queue.push_back((
            peer,
            Event::Persisted {
                document_id: persist.document_id,
                heads: persist.heads,
            },
        ));
    }

    /// The durability rule: every head a sync message advertises is stored.
    fn check_durable(&self, peer: PeerIdx, message: &Message) {
        let (Message::Sync {
            document_id, data, ..
        }
        | Message::Request {
            document_id, data, ..
        }) = message
        else {
            return;
        };
        let sync = automerge::sync::Message::decode(data).expect("engines send valid sync data");
        if sync.heads.is_empty() {
            return;
        }
        let missing = self
            .with_stored(peer, *document_id, |stored| {
                sync.heads
                    .iter()
                    .find(|head| stored.get_change_by_hash(head).is_none())
                    .copied()
            })
            .unwrap_or_else(|| {
                panic!(
                    "peer {} advertised heads of a document it has not stored",
                    peer.0
                )
            });
        if let Some(head) = missing {
            panic!("peer {} advertised head {head} before storing it", peer.0);
        }
    }

    fn link_of(&self, peer: PeerIdx, conn: ConnId) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.ends.contains(&(peer, conn)))
    }

    fn other_end(&self, peer: PeerIdx, conn: ConnId) -> Option<(PeerIdx, ConnId)> {
        let link = &self.links[self.link_of(peer, conn)?];
        if !link.open {
            return None;
        }
        link.ends.iter().copied().find(|&e| e != (peer, conn))
    }
}
