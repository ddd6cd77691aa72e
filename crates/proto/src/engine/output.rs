//! What the engine asks its caller to do, as data.

use automerge::ChangeHash;

use super::ConnId;
use crate::handshake::{Accepted, HandshakeError};
use crate::{DecodeError, DocumentId, Message, PeerId};

/// The effects of one [`Engine::handle`](crate::Engine::handle) call.
///
/// Carry them out in this order: `store` and `load` in any order (the engine
/// never waits on them inside one call), then `send` in order, then `close`.
/// Every message in `send` must reach its connection before that connection
/// is closed; when a connection's outgoing queue is full, close it rather
/// than drop a message (the sync protocol assumes every message arrives).
#[derive(Debug, Default)]
#[must_use = "the engine's effects must be carried out"]
pub struct Output {
    /// Messages to write to connections, in order. Encode with
    /// [`Message::encode`] and send as one binary websocket frame each.
    pub send: Vec<Outgoing>,
    /// Changes to make durable. Answer each with
    /// [`Event::Persisted`](crate::Event::Persisted) once it is on disk;
    /// until then the engine does not advertise those heads to anyone.
    pub store: Vec<Persist>,
    /// Peers' changes to measure and apply, each to a document the engine
    /// lends for it: call [`Apply::run`](crate::Apply::run) (on another
    /// thread if you like: it may take a while) and answer with
    /// [`Event::Applied`](crate::Event::Applied). Meanwhile the document
    /// is busy and what concerns it waits; everything else goes on.
    pub apply: Vec<super::Apply>,
    /// Documents to read from storage. Answer each with
    /// [`Event::Loaded`](crate::Event::Loaded) (with `None` if storage has no
    /// such document).
    pub load: Vec<DocumentId>,
    /// Documents whose content changed because of remote changes that are
    /// now durable (a UI shows them again).
    pub changed: Vec<DocumentId>,
    /// Connections to close, after their messages in `send` went out. The
    /// engine has already forgotten them; a later
    /// [`Event::ConnectionClosed`](crate::Event::ConnectionClosed) for them is
    /// harmless.
    pub close: Vec<(ConnId, CloseReason)>,
    /// Things that happened, for the application, logs and metrics.
    pub notices: Vec<Notice>,
}

impl Output {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.send.is_empty()
            && self.store.is_empty()
            && self.load.is_empty()
            && self.apply.is_empty()
            && self.changed.is_empty()
            && self.close.is_empty()
            && self.notices.is_empty()
    }

    pub(super) fn send(&mut self, conn: ConnId, message: Message) {
        self.send.push(Outgoing { conn, message });
    }
}

/// One message for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The connection to write to.
    pub conn: ConnId,
    /// The message.
    pub message: Message,
}

/// A request to make changes durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persist {
    /// The document.
    pub document_id: DocumentId,
    /// Automerge changes (`Automerge::save_after` of the last durable heads):
    /// append them to what storage holds; `Automerge::load_incremental`
    /// reads them. For a document storage did not have, these are all its
    /// changes. They may repeat changes storage already has.
    pub changes: Vec<u8>,
    /// The heads the document has once these changes are stored; echo them
    /// back in [`Event::Persisted`](crate::Event::Persisted).
    pub heads: Vec<ChangeHash>,
}

/// Something the application, a log or a metric may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The handshake on a connection completed.
    PeerConnected {
        /// The connection.
        conn: ConnId,
        /// Who is at the other end.
        peer: Accepted,
    },
    /// This repo and the peer on `conn` hold the same heads of the document,
    /// and they are durable here (and, for a peer that follows the same rule,
    /// there). Sent again each time that becomes true for new heads.
    InSync {
        /// The connection.
        conn: ConnId,
        /// The document.
        document_id: DocumentId,
        /// The common heads.
        heads: Vec<ChangeHash>,
        /// Our sync state with this peer for the document, encoded: saved
        /// and given back with [`Event::ResumeSync`](super::Event::ResumeSync)
        /// on a later connection, the next sync sends only what changed.
        sync_state: Vec<u8>,
    },
    /// The peer on `conn` does not have the document this repo asked it for
    /// (it said `doc-unavailable`, or did not answer in time).
    Unavailable {
        /// The connection.
        conn: ConnId,
        /// The document.
        document_id: DocumentId,
    },
    /// An ephemeral message arrived (and was passed on to the document's
    /// other peers).
    Ephemeral {
        /// The connection it came in on.
        conn: ConnId,
        /// The document it is about.
        document_id: DocumentId,
        /// The repo that first sent it.
        sender_id: PeerId,
        /// Its content (automerge-repo clients put CBOR here).
        data: Vec<u8>,
    },
    /// A peer without write access to the document sent changes in a
    /// `sync` or `request`; they were dropped (not applied, stored or passed
    /// on) and the connection stays open. One notice per such message.
    ReadOnlyChanges {
        /// The connection.
        conn: ConnId,
        /// The document.
        document_id: DocumentId,
    },
    /// [`Event::LocalChange`](crate::Event::LocalChange) carried bytes
    /// Automerge could not load; the document is unchanged.
    InvalidLocalChange {
        /// The document.
        document_id: DocumentId,
        /// Automerge's error.
        error: String,
    },
}

/// Why the engine closes a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// The peer broke the protocol; an `error` message saying this was sent.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The handshake failed (for a server, an `error` was sent).
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer sent `error`.
    #[error("peer reported an error: {0}")]
    PeerError(String),
    /// The peer sent `leave`.
    #[error("peer left")]
    PeerLeft,
    /// The same peer id completed a handshake on another connection; the
    /// older connection is closed (as automerge-repo's server does), since a
    /// reconnecting client's old socket is usually already dead.
    #[error("replaced by a newer connection of the same peer")]
    Replaced,
    /// No handshake within [`Limits::handshake_timeout_ms`](crate::Limits).
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// Nothing received within [`Limits::idle_timeout_ms`](crate::Limits).
    #[error("idle timeout")]
    IdleTimeout,
}

/// A protocol violation by the peer; its text is sent in an `error` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is not a valid message.
    #[error("invalid message: {0}")]
    Decode(#[from] DecodeError),
    /// A handshake message after the handshake, or from the wrong side.
    #[error("unexpected {got} message")]
    Unexpected {
        /// The message's type.
        got: String,
    },
    /// `data` of a `sync`/`request` is not an Automerge sync message, or its
    /// changes do not apply.
    #[error("invalid sync message for {document_id}: {reason}")]
    InvalidSyncMessage {
        /// The document.
        document_id: DocumentId,
        /// Automerge's error.
        reason: String,
    },
    /// The peer opened more documents than
    /// [`Limits::max_documents_per_connection`](crate::Limits).
    #[error("too many documents on one connection (limit {limit})")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
    },
    /// The peer sent more messages about a document still loading than
    /// [`Limits::max_pending_per_document`](crate::Limits).
    #[error("too many messages waiting for document {document_id} to load")]
    Backlog {
        /// The document.
        document_id: DocumentId,
    },
}
