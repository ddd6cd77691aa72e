//! The one way changes enter a document: [`Store::append`]. Whoever writes —
//! a standalone command with the whole document ([`Store::save`]), or the
//! sync engine with the changes a peer or the application made
//! ([`Store::append`]) — the recorded heads are *merged* with what was
//! recorded before, never overwritten: two writers landing one after the
//! other leave both their heads recorded, as the stored changes have them.

use std::collections::HashSet;

use automerge::{AutoCommit, Change, ChangeHash};

use super::{parse_heads, Store};
use crate::error::Result;
use crate::journal::{self, Kind};
use crate::layout::{self, ChunkKind, DocState, IndexEntry};
use crate::DocMeta;

/// What the writer knows of the document its changes come from.
enum Source<'a> {
    /// The whole document (a standalone command's copy).
    Doc(&'a mut AutoCommit),
    /// Only the changes and the heads they lead to (the sync engine).
    Changes,
}

impl Store {
    /// Persists what `doc` holds that the store lacks, updates the index
    /// entry, and compacts when the chunks outgrow the snapshot. Returns only
    /// once the change is durable: appended to the journal (and fsynced, with
    /// [`Durability::PowerLoss`](crate::Durability::PowerLoss)) and flushed
    /// by sled.
    ///
    /// "What the store lacks" is computed from the heads the store recorded,
    /// not from `doc`'s own save cursor, so it does not matter where `doc`
    /// came from or whether it was saved elsewhere in between. Stored
    /// changes `doc` has not seen stay heads of the union.
    pub fn save(&self, id: &str, doc: &mut AutoCommit, meta: &DocMeta) -> Result<()> {
        layout::validate_id(id)?;
        self.note_origins(id, doc)?;
        let known = match self.state(id)? {
            Some(s) => parse_heads(&self.inner.dir, id, &s.heads)?,
            None => Vec::new(),
        };
        let changes = doc.save_after(&known);
        let heads = doc.get_heads();
        self.append_from(id, &changes, &heads, meta, Source::Doc(doc))
    }

    /// Persists `changes` of document `id` (anything
    /// `Automerge::load_incremental` accepts: changes, chunks or a whole
    /// save; they may repeat stored changes), `heads` being the heads of the
    /// writer's document once they are applied. The recorded heads become
    /// the union's: `heads` plus every head recorded before that these
    /// changes do not build on. Like [`Store::save`] it compacts when the
    /// chunks outgrow the snapshot and returns only once the write is
    /// durable.
    pub fn append(
        &self,
        id: &str,
        changes: &[u8],
        heads: &[ChangeHash],
        meta: &DocMeta,
    ) -> Result<()> {
        layout::validate_id(id)?;
        self.append_from(id, changes, heads, meta, Source::Changes)
    }

    fn append_from(
        &self,
        id: &str,
        changes: &[u8],
        heads: &[ChangeHash],
        meta: &DocMeta,
        source: Source<'_>,
    ) -> Result<()> {
        let mut w = self.write_lock();
        let state = self.state(id)?;
        let recorded: Vec<ChangeHash> = match &state {
            Some(s) => parse_heads(&self.inner.dir, id, &s.heads)?,
            None => Vec::new(),
        };
        let meta = DocMeta {
            id: id.to_string(),
            ..meta.clone()
        };
        // Recorded heads the writer's document lacks stay heads.
        let mut source = source;
        let not_covered: Vec<ChangeHash> = match &mut source {
            Source::Doc(doc) => recorded
                .iter()
                .filter(|h| doc.document().get_change_meta_by_hash(h).is_none())
                .copied()
                .collect(),
            Source::Changes => uncovered(&recorded, heads, changes),
        };
        let mut merged = heads.to_vec();
        merged.extend(not_covered.iter().filter(|h| !heads.contains(h)));
        let meta_json = IndexEntry::json(&meta, &merged);
        if changes.is_empty()
            && state.is_some()
            && self.inner.index.get(id)?.as_deref() == Some(&meta_json[..])
        {
            return Ok(());
        }
        let state = state.unwrap_or_default();
        let chunk_total = state.chunk_bytes + changes.len() as u64;
        if !changes.is_empty()
            && chunk_total > state.snapshot_bytes.max(self.inner.opts.compact_min_bytes)
        {
            // The whole union, read back: its heads are exact.
            let mut owned;
            let full = match source {
                Source::Doc(doc) if not_covered.is_empty() => doc,
                Source::Doc(doc) => {
                    owned = self.read_doc(id)?.unwrap_or_default();
                    owned.merge(doc)?;
                    &mut owned
                }
                Source::Changes => {
                    owned = self.read_doc(id)?.unwrap_or_default();
                    owned.load_incremental(changes).map_err(|e| {
                        self.corrupt(format!("changes for document {id} do not load: {e}"))
                    })?;
                    &mut owned
                }
            };
            // `save` keeps the changes held back for missing dependencies.
            let snapshot = full.save();
            let heads = full.get_heads();
            let meta_json = IndexEntry::json(&meta, &heads);
            return self.compact(&mut w, id, &snapshot, &heads, &meta_json);
        }

        let mut records = Vec::new();
        if !changes.is_empty() {
            journal::encode(Kind::Chunk, changes, &mut records);
        }
        journal::encode(Kind::Meta, &meta_json, &mut records);
        let (pos, pending_sync) = self.append_doc_journal(&mut w, id, &records)?;
        let mut new_state = DocState {
            heads: merged.iter().map(ToString::to_string).collect(),
            journal: Some(pos),
            ..state
        };
        let mut inserts = Vec::new();
        if !changes.is_empty() {
            new_state.chunk_bytes = chunk_total;
            new_state.chunks += 1;
            inserts.push((
                self.free_chunk_key(id, ChunkKind::Incremental, changes)?,
                changes,
            ));
        }
        self.write_doc(id, &[], &inserts, &new_state, &meta_json)?;
        drop(w);
        self.make_durable(pending_sync)
    }
}

/// The recorded heads that `changes` (leading to `heads`) do not show to be
/// in the writer's document: neither one of `heads`, nor one of the changes,
/// nor a dependency of one. A writer whose changes build on a recorded head
/// names it as a dependency of its first change after it (the changes are
/// everything after what the writer had stored), so a head that none of
/// them names is one the writer never saw. When the changes cannot be read
/// change by change (a whole-document save), every recorded head not among
/// `heads` is kept: a head recorded twice over is harmless (it is still in
/// the stored changes), one forgotten is not.
fn uncovered(recorded: &[ChangeHash], heads: &[ChangeHash], changes: &[u8]) -> Vec<ChangeHash> {
    let rest: Vec<ChangeHash> = recorded
        .iter()
        .filter(|h| !heads.contains(h))
        .copied()
        .collect();
    if rest.is_empty() {
        return rest;
    }
    let Some(seen) = hashes_and_deps(changes) else {
        return rest;
    };
    rest.into_iter().filter(|h| !seen.contains(h)).collect()
}

/// The hashes of the changes in `bytes`, and of their dependencies, when
/// `bytes` is a run of change chunks; `None` otherwise (a document chunk, or
/// bytes that do not parse).
fn hashes_and_deps(bytes: &[u8]) -> Option<HashSet<ChangeHash>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut seen = HashSet::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        // magic, checksum (4), chunk type (1), length (uleb128), data.
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let kind = rest[8];
        if kind != 1 && kind != 2 {
            return None;
        }
        let (len, used) = uleb128(&rest[9..])?;
        let end = 9usize.checked_add(used)?.checked_add(len)?;
        if end > rest.len() {
            return None;
        }
        let change = Change::try_from(&rest[..end]).ok()?;
        seen.insert(change.hash());
        seen.extend(change.deps().iter().copied());
        rest = &rest[end..];
    }
    Some(seen)
}

/// An unsigned LEB128 number and how many bytes it took.
fn uleb128(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ReadDoc, ROOT};

    use crate::store::tests::meta;
    use crate::Store;

    fn put(doc: &mut AutoCommit, key: &str) {
        doc.put(ROOT, key, 1_i64).unwrap();
        doc.commit();
    }

    /// A local save and a peer's append landing one after the other: both
    /// heads stay recorded, as the stored changes have them.
    #[test]
    fn a_local_save_and_a_peer_append_both_stay_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut base = AutoCommit::new();
        put(&mut base, "base");
        store.save("a", &mut base, &meta("a", "A")).unwrap();

        let mut local = base.fork();
        put(&mut local, "local");
        let mut peer = base.fork();
        put(&mut peer, "peer");

        store.save("a", &mut local, &meta("a", "A")).unwrap();
        let changes = peer.save_after(&base.get_heads());
        store
            .append("a", &changes, &peer.get_heads(), &meta("a", "A"))
            .unwrap();

        let mut union = local.clone();
        union.merge(&mut peer).unwrap();
        let mut want = union.get_heads();
        want.sort();
        let mut recorded = store.recorded_heads("a").unwrap();
        recorded.sort();
        assert_eq!(recorded, want);
        let mut loaded = store.load("a").unwrap().unwrap();
        assert_eq!(loaded.get_heads(), union.get_heads());
        assert!(loaded.get(ROOT, "local").unwrap().is_some());
        assert!(loaded.get(ROOT, "peer").unwrap().is_some());
    }

    /// Appends that build on each other do not pile up heads.
    #[test]
    fn appends_in_a_line_record_one_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut doc = AutoCommit::new();
        let mut stored = Vec::new();
        for i in 0..5 {
            put(&mut doc, &format!("k{i}"));
            let changes = doc.save_after(&stored);
            stored = doc.get_heads();
            store
                .append("a", &changes, &stored, &meta("a", "A"))
                .unwrap();
            assert_eq!(store.recorded_heads("a").unwrap(), stored);
        }
    }

    /// The changes' own hashes, and what they depend on, are read from the
    /// bytes `save_after` makes; a whole save is not read change by change.
    #[test]
    fn change_chunks_are_read_a_document_chunk_is_not() {
        let mut doc = AutoCommit::new();
        put(&mut doc, "x");
        let first = doc.get_heads();
        put(&mut doc, "y");
        put(&mut doc, "z");
        let seen = super::hashes_and_deps(&doc.save_after(&first)).unwrap();
        assert!(seen.contains(&first[0]));
        assert!(seen.contains(&doc.get_heads()[0]));
        assert!(super::hashes_and_deps(&doc.save()).is_none());
        assert!(super::hashes_and_deps(b"not automerge").is_none());
    }
}
