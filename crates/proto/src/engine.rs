//! The sync engine: one pure state machine per local repo (a relay, a peer,
//! or a client), speaking automerge-repo's protocol with every connection.
//!
//! # Driving it
//!
//! The engine does no IO, reads no clock and draws no random numbers. The
//! caller (gapmap-repo's tokio loop, or the `harness` module in tests)
//! owns the sockets and the store, and turns everything that happens into an
//! [`Event`] passed to [`Engine::handle`] with the current time. Each call
//! returns an [`Output`] listing what to do, which the caller carries out:
//!
//! | the caller sees | it calls `handle` with |
//! |---|---|
//! | a websocket accepted (we are the server) or dialed (we are the client) | [`Event::ConnectionOpened`] with a fresh [`ConnId`], the [`Role`], the peer's [`Access`] and its [`Credential`] |
//! | a binary frame | [`Event::Frame`] (the engine decodes it within [`Limits::decode`]) |
//! | the socket closed or failed | [`Event::ConnectionClosed`] |
//! | the application wants a document synced with a connection (`gapmap sync`, `clone`) | [`Event::Open`]; may be sent right after `ConnectionOpened` |
//! | the application changed a document **and made it durable** | [`Event::LocalChange`] with the new changes |
//! | the application sends presence | [`Event::Broadcast`] |
//! | an [`Output::load`] was read from storage | [`Event::Loaded`] |
//! | an [`Output::store`] is durable (group commits welcome) | [`Event::Persisted`] |
//! | an [`Output::apply`] ran ([`Apply::run`], on any thread) | [`Event::Applied`] |
//! | a timer (every second or at [`Engine::next_deadline`]) | [`Event::Tick`] |
//! | a token file was re-read | [`Event::AccessChanged`] |
//!
//! and with each [`Output`]: write `store`, read `load` and run `apply`
//! (answering later with events), then write each `send` message to its connection
//! ([`Message::encode`], one binary frame), then close each `close`
//! connection. `changed` and `notices` are for the application and metrics:
//! [`Notice::InSync`] says a connection now holds the same durable heads of a
//! document as we do (what `gapmap sync` waits for), [`Notice::Unavailable`]
//! that a peer lacks a document we asked for (what `gapmap clone` reports).
//!
//! # Rules it keeps
//!
//! - **Durability first.** Changes from peers are applied in memory and
//!   handed out in [`Output::store`]; no sync message for that document goes
//!   to anyone until [`Event::Persisted`] confirms them, so no peer is ever
//!   told of heads that a crash could lose. While one store is in flight,
//!   further changes accumulate into the next one (group commit). Local
//!   changes arrive durable already.
//! - **A full peer, not a forwarder.** One `automerge::sync::State` per
//!   (connection, document); changes from one peer reach every other peer
//!   syncing that document. A `sync` for a document we do not have, from a
//!   peer that may write it, creates it.
//! - **Missing documents.** A `request` (or a `sync` without heads) for a
//!   document we do not have is passed on, as a `request`, to the peers we
//!   dialed ([`Role::Client`]) that may write it; when none is left to ask,
//!   or all said `doc-unavailable` or stayed silent until
//!   [`Limits::request_timeout_ms`], the askers get `doc-unavailable`. A
//!   relay has no one to ask and answers at once, as automerge-repo's does.
//! - **Access.** A document outside a connection's [`Access`] is answered
//!   with `doc-unavailable`; a peer without write access gets a read-only
//!   sync state, so its changes are never applied, stored or passed on, while
//!   it still receives ours.
//! - **Untrusted changes.** A writer's changes are measured by the gate
//!   ([`gapmap_guard`]) exactly as Automerge will read them, within
//!   [`Limits::automerge`], before Automerge sees them; over budget or
//!   unreadable is `error` and a close. Cheap ones are applied at once;
//!   costly ones are lent out with their document ([`Apply`], module
//!   `apply`) so that one expensive message never stalls other documents
//!   or peers: the document waits, the rest goes on.
//! - **Ephemeral messages** go, unchanged but for `targetId`, to the other
//!   connections syncing that document; repeats of `(senderId, sessionId,
//!   count)` are dropped, which breaks forwarding loops.
//! - **Memory.** A document stays in memory while a peer syncs it or a
//!   store is in flight; after that it is dropped and loaded again
//!   ([`Output::load`]) when a peer next wants it.
//! - **Connections.** A second handshake of a peer id on an accepted
//!   connection closes the older accepted connection of that peer id
//!   ([`CloseReason::Replaced`]) when both present the same [`Credential`]
//!   (a reconnect); with another credential the newcomer gets `error` and is
//!   closed ([`HandshakeError::PeerIdInUse`](crate::handshake::HandshakeError::PeerIdInUse))
//!   and the older one stays. Among connections we dialed, a newer one
//!   replaces an older one to the same peer id. Invalid frames, invalid
//!   document ids and sync data that is not an Automerge sync message are
//!   answered with `error` and a close ([`ProtocolError`]). Unknown message
//!   types are ignored; `leave` closes. Messages whose `senderId` is not the
//!   connection's peer are ignored (except forwarded ephemeral messages
//!   arriving from a server we dialed), as automerge-repo's server does.
//!
//! # Example: a client and a relay
//!
//! ```
//! use automerge::{transaction::Transactable, AutoCommit, ReadDoc};
//! use gapmap_proto::{Access, Config, ConnId, Credential, DocumentId, Engine, Event, Role, Timestamp};
//!
//! let mut client = Engine::new(Config::new("client".into(), "session-1"));
//! let mut relay = Engine::new(Config::new("relay".into(), "session-2"));
//! let now = Timestamp::from_millis(0);
//!
//! // The client's store has a document; it opens a connection to the relay.
//! let id = DocumentId::from_bytes([42; 16]);
//! let mut doc = AutoCommit::new();
//! doc.put(automerge::ROOT, "title", "Onboarding")?;
//! let saved = doc.save();
//!
//! let conn = ConnId(1); // each side numbers its own connections
//! let mut to_relay = client
//!     .handle(now, Event::ConnectionOpened { conn, role: Role::Client, access: Access::full(), credential: Credential::OPEN })
//!     .send;
//! to_relay.extend(client.handle(now, Event::Open { conn, document_id: id }).send);
//! let _ = relay.handle(now, Event::ConnectionOpened { conn, role: Role::Server, access: Access::full(), credential: Credential::OPEN });
//!
//! // Shuttle frames both ways, answering loads and stores, until quiet.
//! let mut to_client = Vec::new();
//! while !to_relay.is_empty() || !to_client.is_empty() {
//!     for out in std::mem::take(&mut to_relay) {
//!         let frame = out.message.encode();
//!         let mut output = relay.handle(now, Event::Frame { conn, data: frame });
//!         while !output.load.is_empty() || !output.store.is_empty() || !output.apply.is_empty() {
//!             for work in std::mem::take(&mut output.apply) {
//!                 // A costly message: run it anywhere (a blocking thread).
//!                 let more = relay.handle(now, Event::Applied(work.run()));
//!                 output.send.extend(more.send);
//!                 output.store.extend(more.store);
//!             }
//!             for id in std::mem::take(&mut output.load) {
//!                 // The relay's storage is empty.
//!                 let more = relay.handle(now, Event::Loaded { document_id: id, document: None });
//!                 output.send.extend(more.send);
//!                 output.store.extend(more.store);
//!             }
//!             for p in std::mem::take(&mut output.store) {
//!                 // (write p.changes durably here)
//!                 let more = relay.handle(now, Event::Persisted { document_id: p.document_id, heads: p.heads });
//!                 output.send.extend(more.send);
//!             }
//!         }
//!         to_client.extend(output.send);
//!     }
//!     for out in std::mem::take(&mut to_client) {
//!         let mut output = client.handle(now, Event::Frame { conn, data: out.message.encode() });
//!         for id in std::mem::take(&mut output.load) {
//!             let loaded = automerge::Automerge::load(&saved)?;
//!             output.send.extend(client.handle(now, Event::Loaded { document_id: id, document: Some(Box::new(loaded)) }).send);
//!         }
//!         to_relay.extend(output.send);
//!     }
//! }
//! let copy = relay.document(&id).expect("the relay has the document now");
//! assert_eq!(copy.get(automerge::ROOT, "title")?.unwrap().0.as_str(), Some("Onboarding"));
//! assert!(client.sync_status(conn, &id).unwrap().in_sync);
//! # Ok::<(), automerge::AutomergeError>(())
//! ```

mod access;
mod apply;
mod connections;
mod credential;
mod documents;
mod output;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use automerge::{Automerge, ChangeHash};

pub use access::Access;
pub use apply::{Applied, Apply};
pub use credential::Credential;
pub use output::{CloseReason, Notice, Outgoing, Output, Persist, ProtocolError};

use crate::handshake::Accepted;
use crate::{DecodeLimits, DocumentId, Message, PeerId, PeerMetadata};
use state::{Connection, Document, PeerStatus};

/// The caller's name for one connection. Unique among the connections an
/// engine has seen; never reused while the engine may still know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Which side of the websocket this repo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We accepted the connection: we wait for `join` and answer `peer`.
    Server,
    /// We dialed: we send `join` and wait for `peer`. Peers we dialed are the
    /// ones asked for documents we lack.
    Client,
}

/// A point in time, in milliseconds since any fixed origin the caller likes
/// (the Unix epoch, process start). Only differences matter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The time `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `ms` milliseconds later.
    pub const fn plus_millis(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// Bounds on what one peer can cost. A violation closes that connection only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Frame size and nesting bounds for decoding.
    pub decode: DecodeLimits,
    /// How many documents one connection may sync at once.
    pub max_documents_per_connection: usize,
    /// How many messages about one document may wait for it to load.
    pub max_pending_per_document: usize,
    /// How long a connection may take to complete the handshake.
    pub handshake_timeout_ms: u64,
    /// How long to wait for a peer we asked for a missing document.
    pub request_timeout_ms: u64,
    /// Close connections silent for this long (`None`: never). Websocket
    /// pings are the caller's business and do not reach the engine.
    pub idle_timeout_ms: Option<u64>,
    /// What Automerge may materialise from the changes of one peer's sync
    /// message ([`gapmap_guard::check_joined`]); a message over it is
    /// refused with `error` and a close.
    pub automerge: gapmap_guard::Budget,
    /// Changes the gate measures at or below this cost (bytes, as the
    /// [`Budget`](gapmap_guard::Budget) counts them) are applied inside
    /// [`Engine::handle`]; costlier ones are lent out as [`Output::apply`]
    /// work. 0 lends every message that carries changes.
    pub apply_inline_up_to: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            decode: DecodeLimits::default(),
            max_documents_per_connection: 10_000,
            max_pending_per_document: 1_000,
            handshake_timeout_ms: 30_000,
            request_timeout_ms: 30_000,
            idle_timeout_ms: None,
            automerge: gapmap_guard::Budget::DEFAULT,
            apply_inline_up_to: 1 << 20,
        }
    }
}

/// Who this repo is and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our peer id on the wire.
    pub peer_id: PeerId,
    /// Our storage id and ephemerality, sent in `join` / `peer`.
    pub peer_metadata: PeerMetadata,
    /// The session id of our ephemeral messages: random, new each start
    /// (randomness is the caller's).
    pub session_id: String,
    /// Bounds per connection.
    pub limits: Limits,
}

impl Config {
    /// A non-ephemeral repo without a storage id, with default limits.
    pub fn new(peer_id: PeerId, session_id: impl Into<String>) -> Config {
        Config {
            peer_id,
            peer_metadata: PeerMetadata::default(),
            session_id: session_id.into(),
            limits: Limits::default(),
        }
    }
}

/// Everything that can happen to an engine.
#[derive(Debug)]
pub enum Event {
    /// A websocket connection opened. As [`Role::Client`] the engine sends
    /// `join` at once.
    ConnectionOpened {
        /// A new id for it.
        conn: ConnId,
        /// Which side we are.
        role: Role,
        /// What the peer may do.
        access: Access,
        /// What the peer presented to be let in (for [`Role::Server`];
        /// ignored for connections we dialed): decides whether it may take
        /// over a peer id that another connection holds.
        credential: Credential,
    },
    /// A binary frame arrived on a connection.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame's bytes.
        data: Vec<u8>,
    },
    /// An already decoded message arrived on a connection (for callers that
    /// decode themselves; [`Event::Frame`] is the usual way).
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        message: Message,
    },
    /// A connection closed (either side, or it failed).
    ConnectionClosed {
        /// The connection.
        conn: ConnId,
    },
    /// The peer's access changed (a token file was re-read).
    AccessChanged {
        /// The connection.
        conn: ConnId,
        /// The new access.
        access: Access,
    },
    /// Sync this document with the peer on this connection: we send `sync`
    /// if we have the document, `request` if we do not.
    Open {
        /// The connection.
        conn: ConnId,
        /// The document.
        document_id: DocumentId,
    },
    /// Resume syncing a document on this connection from a sync state saved
    /// from an earlier connection to the same remote
    /// ([`Notice::InSync::sync_state`]). Send before [`Event::Open`]; a state
    /// that does not decode is ignored (the sync starts afresh).
    ResumeSync {
        /// The connection.
        conn: ConnId,
        /// The document.
        document_id: DocumentId,
        /// The encoded `automerge::sync::State`.
        state: Vec<u8>,
    },
    /// The answer to an [`Output::load`].
    Loaded {
        /// The document.
        document_id: DocumentId,
        /// Its stored state, or `None` if storage does not have it. (Boxed:
        /// an `Automerge` is a few kilobytes; events are moved around.)
        document: Option<Box<Automerge>>,
    },
    /// The answer to an [`Output::apply`]: the lent document is back.
    Applied(Applied),
    /// The answer to an [`Output::store`]: those changes are durable.
    Persisted {
        /// The document.
        document_id: DocumentId,
        /// The [`Persist::heads`] that were stored.
        heads: Vec<ChangeHash>,
    },
    /// The application changed a document and has already made the change
    /// durable. `changes` is anything `Automerge::load_incremental` accepts
    /// (`save_after` of the old heads, `save_incremental`, or a whole save).
    /// The engine passes the change on to the peers syncing the document; if
    /// none does, it has nothing to do (the document is loaded from storage
    /// when one opens it). Works for a new document too.
    LocalChange {
        /// The document.
        document_id: DocumentId,
        /// The changes.
        changes: Vec<u8>,
    },
    /// Send an ephemeral message about a document to every peer syncing it.
    Broadcast {
        /// The document.
        document_id: DocumentId,
        /// The content (automerge-repo clients expect CBOR).
        data: Vec<u8>,
    },
    /// Time passed: timeouts are checked.
    Tick,
}

/// The state of syncing one document with one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// Our heads of the document.
    pub ours: Vec<ChangeHash>,
    /// The heads the peer last told us, if it did.
    pub theirs: Option<Vec<ChangeHash>>,
    /// Both sides hold the same heads, and ours are durable.
    pub in_sync: bool,
    /// The peer does not have the document and neither do we.
    pub unavailable: bool,
}

/// How many `(sender, session)` pairs of ephemeral messages to remember;
/// past that the memory is cleared (a repeat may then slip through once).
const EPHEMERAL_SESSIONS: usize = 10_000;

/// The sync engine. See the [module documentation](self).
pub struct Engine {
    config: Config,
    /// The latest time the caller gave us.
    now: Timestamp,
    connections: BTreeMap<ConnId, Connection>,
    documents: BTreeMap<DocumentId, Document>,
    /// The highest ephemeral `count` seen per `(senderId, sessionId)`.
    ephemeral_seen: HashMap<(PeerId, String), u64>,
    /// The `count` of our last ephemeral message.
    ephemeral_count: u64,
    /// The number of the last document lending ([`Output::apply`]); it
    /// starts from the session id, so that work lent by an earlier engine
    /// (another session) is not taken for this one's.
    next_lease: u64,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("peer_id", &self.config.peer_id)
            .field("connections", &self.connections.len())
            .field("documents", &self.documents.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no connections and no documents in memory.
    pub fn new(config: Config) -> Engine {
        Engine {
            next_lease: session_number(&config.session_id),
            config,
            now: Timestamp::default(),
            connections: BTreeMap::new(),
            documents: BTreeMap::new(),
            ephemeral_seen: HashMap::new(),
            ephemeral_count: 0,
        }
    }

    /// Our peer id.
    pub fn peer_id(&self) -> &PeerId {
        &self.config.peer_id
    }

    /// Handles one event at time `now`, returning what to do about it.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Output {
        self.now = self.now.max(now);
        let mut out = Output::default();
        match event {
            Event::ConnectionOpened {
                conn,
                role,
                access,
                credential,
            } => self.connection_opened(conn, role, access, credential, &mut out),
            Event::Frame { conn, data } => {
                if self.touch(conn) {
                    match Message::decode_with(&data, &self.config.limits.decode) {
                        Ok(message) => self.receive(conn, message, &mut out),
                        Err(e) => self.fail(conn, ProtocolError::Decode(e), &mut out),
                    }
                }
            }
            Event::Message { conn, message } => {
                if self.touch(conn) {
                    self.receive(conn, message, &mut out)
                }
            }
            Event::ConnectionClosed { conn } => self.forget_connection(conn, &mut out),
            Event::AccessChanged { conn, access } => self.access_changed(conn, access, &mut out),
            Event::Open { conn, document_id } => self.open(conn, document_id, &mut out),
            Event::ResumeSync {
                conn,
                document_id,
                state,
            } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.resume.insert(document_id, state);
                }
            }
            Event::Loaded {
                document_id,
                document,
            } => self.loaded(document_id, document, &mut out),
            Event::Applied(applied) => self.applied(applied, &mut out),
            Event::Persisted { document_id, heads } => self.persisted(document_id, heads, &mut out),
            Event::LocalChange {
                document_id,
                changes,
            } => self.local_change(document_id, changes, &mut out),
            Event::Broadcast { document_id, data } => self.broadcast(document_id, data, &mut out),
            Event::Tick => self.check_deadlines(&mut out),
        }
        out
    }

    /// The document as this engine holds it, if it is in memory and exists
    /// here (storage or a peer gave us at least one change). It may hold
    /// changes not yet durable. Documents no peer syncs are not kept in
    /// memory: read those from storage.
    pub fn document(&self, id: &DocumentId) -> Option<&Automerge> {
        self.documents
            .get(id)
            .filter(|d| d.is_ready() && d.exists())
            .map(|d| &d.doc)
    }

    /// The heads of the document known to be durable, if it is in memory.
    pub fn durable_heads(&self, id: &DocumentId) -> Option<&[ChangeHash]> {
        self.documents
            .get(id)
            .filter(|d| d.is_loaded())
            .map(|d| d.durable.as_slice())
    }

    /// How syncing `id` with the peer on `conn` stands, if they sync it.
    pub fn sync_status(&self, conn: ConnId, id: &DocumentId) -> Option<SyncStatus> {
        let doc = self.documents.get(id)?;
        let peer = doc.peers.get(&conn)?;
        let ours = doc.heads();
        let theirs = peer.sync.their_heads.clone();
        Some(SyncStatus {
            in_sync: doc.exists() && !doc.is_dirty() && same_heads(theirs.as_deref(), &ours),
            unavailable: !doc.exists() && peer.status == PeerStatus::Unavailable,
            ours,
            theirs,
        })
    }

    /// How many documents the engine holds in memory (loading ones too);
    /// documents no peer syncs are dropped once stored.
    pub fn documents_in_memory(&self) -> usize {
        self.documents.len()
    }

    /// The documents the peer on `conn` syncs with us, in id order.
    pub fn documents_of(&self, conn: ConnId) -> impl Iterator<Item = DocumentId> + '_ {
        self.connections
            .get(&conn)
            .into_iter()
            .flat_map(|c| c.docs.iter().copied())
    }

    /// The peer at the other end of `conn`, once its handshake completed.
    pub fn peer(&self, conn: ConnId) -> Option<&Accepted> {
        self.connections.get(&conn)?.peer.as_ref()
    }

    /// The connections the engine knows, in id order.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.connections.keys().copied()
    }

    /// The earliest time a [`Event::Tick`] would change something, if any.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let limits = &self.config.limits;
        let connections = self.connections.values().filter_map(|c| match c.peer {
            None => Some(c.opened_at.plus_millis(limits.handshake_timeout_ms)),
            Some(_) => limits
                .idle_timeout_ms
                .map(|ms| c.last_heard.plus_millis(ms)),
        });
        let requests = self.documents.values().flat_map(|d| {
            d.peers.values().filter_map(|p| match p.status {
                PeerStatus::Asked { deadline } => Some(deadline),
                _ => None,
            })
        });
        connections.chain(requests).min()
    }
}

/// A number from a session id (FNV-1a), in the upper half of a `u64`.
fn session_number(session_id: &str) -> u64 {
    let hash = session_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash << 32
}

/// Heads equal as sets (both sides send them sorted, but do not rely on it).
fn same_heads(theirs: Option<&[ChangeHash]>, ours: &[ChangeHash]) -> bool {
    theirs.is_some_and(|theirs| {
        theirs.len() == ours.len() && {
            let mut a = theirs.to_vec();
            let mut b = ours.to_vec();
            a.sort();
            b.sort();
            a == b
        }
    })
}
