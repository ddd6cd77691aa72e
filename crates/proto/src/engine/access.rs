//! What the peer at the other end of one connection may do.

use std::collections::BTreeSet;

use crate::DocumentId;

/// What the remote peer of a connection may do with this repo's documents.
///
/// The caller decides it when the connection opens (from a token, a LAN
/// policy, or "everything" for a relay one dials) and may change it later
/// with [`Event::AccessChanged`](crate::Event::AccessChanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// May the peer's changes be applied, stored and passed on? When false
    /// the peer still receives every change of the documents it may read;
    /// what it sends is dropped (automerge's read-only sync state).
    pub write: bool,
    /// The documents the peer may read (and, with `write`, write). `None`:
    /// all. A document outside the set is answered with `doc-unavailable`,
    /// as if this repo did not have it.
    pub docs: Option<BTreeSet<DocumentId>>,
}

impl Access {
    /// Read and write every document: a peer one trusts, or the relay one dials.
    pub fn full() -> Access {
        Access {
            write: true,
            docs: None,
        }
    }

    /// Read every document, write none.
    pub fn read_only() -> Access {
        Access {
            write: false,
            docs: None,
        }
    }

    /// The same access, limited to `docs`.
    pub fn only(self, docs: impl IntoIterator<Item = DocumentId>) -> Access {
        Access {
            docs: Some(docs.into_iter().collect()),
            ..self
        }
    }

    /// May the peer read (be sent) this document?
    pub fn may_read(&self, doc: &DocumentId) -> bool {
        self.docs.as_ref().is_none_or(|docs| docs.contains(doc))
    }

    /// May the peer's changes to this document be accepted?
    pub fn may_write(&self, doc: &DocumentId) -> bool {
        self.write && self.may_read(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let a = DocumentId::from_bytes([1; 16]);
        let b = DocumentId::from_bytes([2; 16]);
        assert!(Access::full().may_write(&a));
        assert!(Access::read_only().may_read(&a));
        assert!(!Access::read_only().may_write(&a));
        let only_a = Access::full().only([a]);
        assert!(only_a.may_write(&a));
        assert!(!only_a.may_read(&b));
        assert!(!only_a.may_write(&b));
    }
}
