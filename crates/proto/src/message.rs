//! The messages of the automerge-repo websocket protocol, version "1", and
//! their CBOR codec.
//!
//! One binary websocket frame carries one message: a CBOR map with a `type`
//! key. [`Message::encode`] writes exactly the bytes automerge-repo 2.5
//! writes (cbor-x: every map with a 16-bit length header, keys in the order
//! automerge-repo sets them, a missing storage id as `undefined`), so frames
//! are byte-for-byte what a JavaScript peer would send. [`Message::decode`]
//! is tolerant of anything another encoder may produce — any key order,
//! non-minimal lengths, indefinite-length items, tags, integers sent as
//! floats, `null`/`undefined` for absent values, unknown keys — and bounded:
//! see [`DecodeLimits`].

mod decode;
mod encode;

pub use decode::{DecodeError, DecodeLimits};

use crate::{DocumentId, PeerId, PeerMetadata};

/// The only protocol version there is, and the one gapmap speaks.
pub const PROTOCOL_V1: &str = "1";

/// One message of the protocol.
///
/// `sender_id` is the id of the repo that created the message (for a
/// forwarded ephemeral message, the original sender, not the forwarder);
/// `target_id` the repo it is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `join`: a client's first message.
    Join {
        /// The client's peer id.
        sender_id: PeerId,
        /// The client's storage id and ephemerality.
        peer_metadata: PeerMetadata,
        /// The protocol versions the client speaks. automerge-repo servers
        /// treat a missing list (`None`) as `["1"]`.
        supported_protocol_versions: Option<Vec<String>>,
    },
    /// `peer`: the server's answer to an acceptable `join`.
    Peer {
        /// The server's peer id.
        sender_id: PeerId,
        /// The client's peer id, from its `join`.
        target_id: PeerId,
        /// The server's storage id and ephemerality.
        peer_metadata: PeerMetadata,
        /// The version the server chose; always `"1"`.
        selected_protocol_version: String,
    },
    /// `error`: the sender is about to close the connection because of this.
    Error {
        /// What went wrong, for a human.
        message: String,
    },
    /// `leave`: the sender is going away (advisory).
    Leave {
        /// The departing peer.
        sender_id: PeerId,
    },
    /// `sync`: an Automerge sync message about one document.
    Sync {
        /// The sending peer.
        sender_id: PeerId,
        /// The receiving peer.
        target_id: PeerId,
        /// The document the sync message is about.
        document_id: DocumentId,
        /// An encoded `automerge::sync::Message`.
        data: Vec<u8>,
    },
    /// `request`: like `sync`, sent by a peer that has no copy of the
    /// document and asks the receiver for it.
    Request {
        /// The sending peer.
        sender_id: PeerId,
        /// The receiving peer.
        target_id: PeerId,
        /// The document asked for.
        document_id: DocumentId,
        /// An encoded `automerge::sync::Message` (from an empty document).
        data: Vec<u8>,
    },
    /// `doc-unavailable`: the sender has no copy of the document and nobody
    /// it could ask has one either (or it will not share it).
    DocUnavailable {
        /// The sending peer.
        sender_id: PeerId,
        /// The peer that asked.
        target_id: PeerId,
        /// The document in question.
        document_id: DocumentId,
    },
    /// `ephemeral`: application data about a document that is not stored
    /// (cursors, presence), gossiped to every peer that has the document open.
    Ephemeral {
        /// The repo that first sent the message (kept when forwarded).
        sender_id: PeerId,
        /// The receiving peer (rewritten at each hop).
        target_id: PeerId,
        /// The document the message is about.
        document_id: DocumentId,
        /// Opaque to the protocol (automerge-repo puts CBOR here).
        data: Vec<u8>,
        /// Increases with each message of one session; `(sender_id,
        /// session_id, count)` identifies a message, so repeats are dropped.
        count: u64,
        /// Chosen at random by the original sender when it starts.
        session_id: String,
    },
    /// Any other `type` (`remote-subscription-change`,
    /// `remote-heads-changed`, future types). Ignored by the engine.
    Unknown {
        /// The message's `type`.
        type_name: String,
    },
}

impl Message {
    /// Decodes one frame with the default [`DecodeLimits`].
    pub fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
        decode::decode(frame, &DecodeLimits::default())
    }

    /// Decodes one frame within `limits`.
    pub fn decode_with(frame: &[u8], limits: &DecodeLimits) -> Result<Message, DecodeError> {
        decode::decode(frame, limits)
    }

    /// Encodes the message as one frame, byte-for-byte as automerge-repo 2.5
    /// would. `Unknown` encodes as `{type}` alone.
    pub fn encode(&self) -> Vec<u8> {
        encode::encode(self)
    }

    /// The wire name of the message's type (`"sync"`, `"doc-unavailable"`, …).
    pub fn type_name(&self) -> &str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Error { .. } => "error",
            Message::Leave { .. } => "leave",
            Message::Sync { .. } => "sync",
            Message::Request { .. } => "request",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::Unknown { type_name } => type_name,
        }
    }

    /// The sender's peer id, for the types that carry one.
    pub fn sender_id(&self) -> Option<&PeerId> {
        match self {
            Message::Join { sender_id, .. }
            | Message::Peer { sender_id, .. }
            | Message::Leave { sender_id }
            | Message::Sync { sender_id, .. }
            | Message::Request { sender_id, .. }
            | Message::DocUnavailable { sender_id, .. }
            | Message::Ephemeral { sender_id, .. } => Some(sender_id),
            Message::Error { .. } | Message::Unknown { .. } => None,
        }
    }

    /// The document the message is about, for the types that name one.
    pub fn document_id(&self) -> Option<DocumentId> {
        match self {
            Message::Sync { document_id, .. }
            | Message::Request { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. } => Some(*document_id),
            _ => None,
        }
    }
}
