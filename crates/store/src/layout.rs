//! Names of things on disk: directories, sled trees, keys, and the per-document
//! state record.
//!
//! Tree `docs` holds, for each document, keys that start with `<id>\0`:
//!
//! ```text
//! <id>\0s\0<fnv64 hex>   a snapshot (AutoCommit::save), at most one
//! <id>\0i\0<fnv64 hex>   an incremental chunk (AutoCommit::save_after)
//! <id>\0t                DocState as JSON
//! ```
//!
//! Ids never contain `\0`, so a prefix scan of `<id>\0` sees exactly one
//! document. Tree `index` maps `<id>` to [`DocMeta`](crate::DocMeta) JSON,
//! tree `settings` maps keys to values, tree `store` holds the store's own
//! bookkeeping (the settings journal position), and tree `origins` which
//! documents start from which change (`origins.rs`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::journal::Fnv64;
use crate::DocMeta;

/// The sled database, inside the store directory.
pub(crate) const DB_DIR: &str = "db";
/// The journal files, inside the store directory.
pub(crate) const JOURNAL_DIR: &str = "journal";
/// Extension of a document's journal file.
pub(crate) const DOC_JOURNAL_EXT: &str = "log";
/// The settings journal, inside `journal/`.
pub(crate) const SETTINGS_JOURNAL: &str = "settings.kv";

pub(crate) const DOCS_TREE: &str = "docs";
pub(crate) const INDEX_TREE: &str = "index";
pub(crate) const SETTINGS_TREE: &str = "settings";
pub(crate) const STORE_TREE: &str = "store";
/// Which documents start from which change: see `origins.rs`.
pub(crate) const ORIGINS_TREE: &str = "origins";
/// Key in the `store` tree: the settings journal position as JSON.
pub(crate) const SETTINGS_POS_KEY: &[u8] = b"settings-journal";

/// Checks that `id` can be a key prefix and a file name.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidId(id.to_string()))
    }
}

/// The two kinds of stored bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkKind {
    Snapshot,
    Incremental,
}

impl ChunkKind {
    fn byte(self) -> u8 {
        match self {
            ChunkKind::Snapshot => b's',
            ChunkKind::Incremental => b'i',
        }
    }
}

/// What a key under a document's prefix names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DocKey {
    Chunk(ChunkKind),
    State,
}

/// `<id>\0`
pub(crate) fn doc_prefix(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 1);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// `<id>\0t`
pub(crate) fn state_key(id: &str) -> Vec<u8> {
    let mut k = doc_prefix(id);
    k.push(b't');
    k
}

/// `<id>\0<s|i>\0<fnv64 hex of bytes><suffix>`; `attempt` > 0 adds a suffix
/// for the (unlikely) case of two different chunks with one hash.
pub(crate) fn chunk_key(id: &str, kind: ChunkKind, bytes: &[u8], attempt: u32) -> Vec<u8> {
    let mut h = Fnv64::new();
    h.update(bytes);
    let mut k = doc_prefix(id);
    k.push(kind.byte());
    k.push(0);
    k.extend_from_slice(format!("{:016x}", h.finish()).as_bytes());
    if attempt > 0 {
        k.extend_from_slice(format!("-{attempt}").as_bytes());
    }
    k
}

/// Classifies a key found under `doc_prefix(id)`.
pub(crate) fn parse_doc_key(id: &str, key: &[u8]) -> Option<DocKey> {
    let rest = key.get(id.len() + 1..)?;
    match rest {
        [b't'] => Some(DocKey::State),
        [b's', 0, ..] => Some(DocKey::Chunk(ChunkKind::Snapshot)),
        [b'i', 0, ..] => Some(DocKey::Chunk(ChunkKind::Incremental)),
        _ => None,
    }
}

/// Where a journal file stood when sled last recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalPos {
    pub(crate) generation: u64,
    pub(crate) len: u64,
}

/// Bookkeeping for one document, written in the same transaction as its chunks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DocState {
    /// Heads (hex) whose ancestors are exactly the changes stored: a save
    /// writes what the document holds beyond them.
    pub(crate) heads: Vec<String>,
    /// Size of the snapshot, 0 when there is none.
    pub(crate) snapshot_bytes: u64,
    /// Total size of the incremental chunks.
    pub(crate) chunk_bytes: u64,
    /// Number of incremental chunks.
    pub(crate) chunks: u64,
    /// The document's journal as of this state.
    pub(crate) journal: Option<JournalPos>,
    /// This copy was rebuilt from a damaged journal when sled had no good
    /// copy of its own: it does not vouch for the journal's damaged bytes
    /// (what they held may be lost), so `gapmap doctor` must not treat it
    /// as a second copy of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) from_damaged_journal: bool,
}

/// An index entry as stored: the caller's [`DocMeta`] plus the heads of the
/// document it was computed from. When the store rebuilds a document (from
/// the journal) into another state than the one the entry describes, the
/// heads differ and [`Store::stale_index`](crate::Store::stale_index) says
/// so: the entry's counts may not match what loads. Readers of plain
/// `DocMeta` ignore the extra field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    #[serde(flatten)]
    pub(crate) meta: DocMeta,
    /// Absent in entries written before heads were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) heads: Option<Vec<String>>,
}

impl IndexEntry {
    /// The JSON stored for `meta` describing the document at `heads`.
    pub(crate) fn json(meta: &DocMeta, heads: &[automerge::ChangeHash]) -> Vec<u8> {
        let mut heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
        heads.sort();
        let entry = IndexEntry {
            meta: meta.clone(),
            heads: Some(heads),
        };
        serde_json::to_vec(&entry).expect("IndexEntry serializes")
    }

    /// Whether this entry was computed from a document with exactly `heads`
    /// (an entry without heads is taken on trust).
    pub(crate) fn describes(&self, heads: &[String]) -> bool {
        self.heads.as_ref().is_none_or(|mine| {
            let mut theirs = heads.to_vec();
            theirs.sort();
            *mine == theirs
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("2p8ZnBQkYh6k3ZuQ6KqvYt8cZp9").is_ok());
        assert!(validate_id("a-b_c").is_ok());
        for bad in ["", "a/b", "..", "a\0b", "é", &"x".repeat(129)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_parse_back() {
        let k = chunk_key("abc", ChunkKind::Snapshot, b"x", 0);
        assert_eq!(
            parse_doc_key("abc", &k),
            Some(DocKey::Chunk(ChunkKind::Snapshot))
        );
        let k = chunk_key("abc", ChunkKind::Incremental, b"x", 2);
        assert!(k.ends_with(b"-2"));
        assert_eq!(
            parse_doc_key("abc", &k),
            Some(DocKey::Chunk(ChunkKind::Incremental))
        );
        assert_eq!(parse_doc_key("abc", &state_key("abc")), Some(DocKey::State));
    }
}
