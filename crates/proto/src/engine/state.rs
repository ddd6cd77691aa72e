//! The engine's bookkeeping: connections, documents, and each
//! (connection, document) pair.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{sync, Automerge, ChangeHash};

use super::{Access, ConnId, Credential, Role, Timestamp};
use crate::handshake::Accepted;
use crate::DocumentId;

/// One connection.
pub(super) struct Connection {
    /// Which side of the handshake we are.
    pub role: Role,
    /// What the peer may do.
    pub access: Access,
    /// What the peer presented to be let in: whether it may take over a
    /// peer id another connection holds.
    pub credential: Credential,
    /// `None` until the handshake completes.
    pub peer: Option<Accepted>,
    /// When the connection opened, for the handshake timeout.
    pub opened_at: Timestamp,
    /// When a frame last arrived, for the idle timeout.
    pub last_heard: Timestamp,
    /// Documents this connection takes part in, to bound them and to clean
    /// up when it closes.
    pub docs: BTreeSet<DocumentId>,
    /// Documents the application opened on this connection before the
    /// handshake completed; opened once it does.
    pub queued_opens: Vec<DocumentId>,
    /// Sync states saved from an earlier connection to the same remote
    /// ([`Event::ResumeSync`](super::Event::ResumeSync)), used when the
    /// document is attached: the first exchange then covers only what
    /// changed since.
    pub resume: std::collections::HashMap<DocumentId, Vec<u8>>,
}

/// One document the engine knows about.
pub(super) struct Document {
    /// Whether storage has answered yet.
    pub load: Load,
    /// The document. Empty (no heads) when neither storage nor any peer has
    /// given us a change: then it "does not exist" here.
    pub doc: Automerge,
    /// Heads whose changes (and all their ancestors) are durable.
    pub durable: Vec<ChangeHash>,
    /// The heads of the [`Persist`](super::Persist) in flight, if any.
    pub persisting: Option<Vec<ChangeHash>>,
    /// Peers this document is being synced with.
    pub peers: BTreeMap<ConnId, PeerDoc>,
}

impl Document {
    pub fn loading() -> Document {
        Document {
            load: Load::Loading(Vec::new()),
            doc: Automerge::new(),
            durable: Vec::new(),
            persisting: None,
            peers: BTreeMap::new(),
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.load, Load::Ready)
    }

    /// Loaded: in memory here, or lent out (and coming back).
    pub fn is_loaded(&self) -> bool {
        !matches!(self.load, Load::Loading(_))
    }

    /// The document's heads; while it is lent, those it had when lent.
    pub fn heads(&self) -> Vec<ChangeHash> {
        match &self.load {
            Load::Lent { context, .. } => context.before.clone(),
            _ => self.doc.get_heads(),
        }
    }

    /// Some peer or storage gave us at least one change.
    pub fn exists(&self) -> bool {
        !self.heads().is_empty()
    }

    /// Holds changes that are not durable yet: nothing may be advertised.
    pub fn is_dirty(&self) -> bool {
        self.persisting.is_some() || self.heads() != self.durable
    }
}

/// Whether a document came back from storage yet.
pub(super) enum Load {
    /// Waiting for [`Event::Loaded`](super::Event::Loaded); what arrived in
    /// the meantime is replayed, in order, once it does.
    Loading(Vec<Pending>),
    /// In memory.
    Ready,
    /// Lent out with a peer's message ([`Apply`](super::Apply)); `doc`
    /// is an empty stand-in until [`Event::Applied`](super::Event::Applied)
    /// brings it back. What arrives meanwhile waits, as while loading.
    Lent {
        /// The lending's number.
        lease: u64,
        /// The connection whose message it is.
        conn: ConnId,
        /// The document before the message, and what the message said.
        context: super::apply::Context,
        /// A store was confirmed while it was out: its heads are to be
        /// advertised once it is back.
        persisted: bool,
        /// What waits for it.
        queue: Vec<Pending>,
    },
}

/// Something that needs the document in memory.
pub(super) enum Pending {
    /// A `sync` or `request` from a connection (its data already decoded).
    Sync {
        /// The connection.
        conn: ConnId,
        /// The Automerge sync message.
        message: sync::Message,
    },
    /// A `doc-unavailable` from a connection.
    Unavailable(ConnId),
    /// The application opened the document on a connection.
    Open(ConnId),
    /// The application changed the document.
    Local(Vec<u8>),
}

/// One peer's view of one document.
pub(super) struct PeerDoc {
    /// Automerge's per-peer sync state; read-only when the peer may not write.
    pub sync: sync::State,
    /// Where the peer stands on a document this repo may not have.
    pub status: PeerStatus,
    /// The heads of the last [`Notice::InSync`](super::Notice::InSync) sent,
    /// so each agreement is reported once.
    pub reported_in_sync: Option<Vec<ChangeHash>>,
}

impl PeerDoc {
    pub fn new(may_write: bool, status: PeerStatus) -> PeerDoc {
        PeerDoc::resumed(may_write, status, None)
    }

    /// Like [`PeerDoc::new`], starting from a saved sync state when one is
    /// given and decodes (a read-only peer always starts afresh).
    pub fn resumed(may_write: bool, status: PeerStatus, saved: Option<&[u8]>) -> PeerDoc {
        let sync = match saved.filter(|_| may_write).map(sync::State::decode) {
            Some(Ok(state)) => state,
            _ if may_write => sync::State::new(),
            _ => sync::State::new_read_only(),
        };
        PeerDoc {
            sync,
            status,
            reported_in_sync: None,
        }
    }
}

/// automerge-repo's per-peer document status, reduced to what decides
/// between asking around and answering `doc-unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerStatus {
    /// Syncing normally (the document exists on at least one side).
    Active,
    /// Asked us for a document we do not have; waiting for an answer.
    Wants,
    /// We asked it for a document we do not have; waiting until the
    /// deadline for its answer.
    Asked {
        /// When silence counts as "unavailable".
        deadline: Timestamp,
    },
    /// Does not have the document (it said so, or we told it we do not).
    Unavailable,
}
