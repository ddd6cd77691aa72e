//! Who is at the other end: peer ids and the metadata exchanged in the handshake.

use std::fmt;

/// The id a repo calls itself on the wire (`senderId` / `targetId`).
///
/// automerge-repo treats it as an opaque string; so does gapmap.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(String);

impl PeerId {
    /// A peer id from any string.
    pub fn new(id: impl Into<String>) -> PeerId {
        PeerId(id.into())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({:?})", self.0)
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> PeerId {
        PeerId(s.to_owned())
    }
}

impl From<String> for PeerId {
    fn from(s: String) -> PeerId {
        PeerId(s)
    }
}

/// What a peer says about itself in `join` and `peer` (`peerMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    /// The id of the peer's storage, if it has one. A peer that keeps the
    /// same storage across connections keeps the same storage id.
    pub storage_id: Option<String>,
    /// True when the peer will not come back with the same storage (no
    /// storage at all, e.g. a browser tab without IndexedDB).
    pub is_ephemeral: bool,
}
