//! A canvas's identity inside its own document: the root `id` field (the
//! canvas's document id, so a file carried to another machine lands in the
//! same canvas there) and the origin (the changes its history starts from,
//! which tell whether two documents are copies of one canvas).
//!
//! The rules, also in `docs/export-format.md`:
//! - the id a store keeps a canvas under wins: [`Canvas::record_id`] writes
//!   it when the document records none, another one, or several (writers
//!   that concurrently recorded the same id leave equal values, which count
//!   as one);
//! - a document's recorded id is only a claim: an import merges into the
//!   canvas it names only when the two share history (an origin), so a
//!   copied or forged id never mixes two unrelated canvases.

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ReadDoc, ROOT};

use super::Canvas;
use crate::error::Result;
use crate::field::string_of;
use crate::DocId;

/// The root key holding the canvas's own document id.
const ID_KEY: &str = "id";

impl Canvas {
    /// The ids the document records for itself, without repeats: none for a
    /// document written before ids were recorded, one as a rule, several
    /// when copies recorded different ids concurrently. Values that are not
    /// document ids are left out.
    pub fn recorded_ids(&self) -> Vec<DocId> {
        let Ok(values) = self.doc.get_all(ROOT, ID_KEY) else {
            return Vec::new();
        };
        let mut ids: Vec<DocId> = Vec::new();
        for (value, obj) in values {
            let parsed = string_of(&self.doc, &value, &obj).and_then(|s| DocId::parse(&s).ok());
            if let Some(id) = parsed {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Records `id` as the canvas's own id, unless the document already
    /// records that one and no other (equal values written concurrently are
    /// one); returns whether it wrote a change.
    pub fn record_id(&mut self, id: &DocId, now_ms: i64) -> Result<bool> {
        if self.recorded_ids() == [*id] {
            return Ok(false);
        }
        self.write(now_ms, |doc| {
            doc.put(ROOT, ID_KEY, id.to_string())?;
            Ok((true, format!("record canvas id {id}")))
        })
    }

    /// The changes the document's history starts from (those with no
    /// dependencies), sorted: one for a canvas made by `Canvas::create`.
    /// Two documents sharing one are copies of the same canvas.
    pub fn origins(&mut self) -> Vec<ChangeHash> {
        origins(self.doc_mut())
    }

    /// Whether this canvas and `other` share history: one holds a change
    /// the other starts from.
    pub fn shares_history(&mut self, other: &mut Canvas) -> bool {
        let theirs = other.origins();
        let ours = self.origins();
        theirs
            .iter()
            .any(|h| self.doc.get_change_meta_by_hash(h).is_some())
            || ours
                .iter()
                .any(|h| other.doc.get_change_meta_by_hash(h).is_some())
    }
}

/// The root changes of a document (see [`Canvas::origins`]); reads change
/// metadata only, never the operations.
fn origins(doc: &mut automerge::AutoCommit) -> Vec<ChangeHash> {
    let mut roots: Vec<ChangeHash> = doc
        .get_changes_meta(&[])
        .into_iter()
        .filter(|c| c.deps.is_empty())
        .map(|c| c.hash)
        .collect();
    roots.sort();
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Section;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn a_canvas_records_its_id_once() {
        let mut c = Canvas::create("Ids", "ana", T0).unwrap();
        assert!(c.recorded_ids().is_empty(), "create records no id");
        let id = DocId::random();
        assert!(c.record_id(&id, T0).unwrap());
        assert!(!c.record_id(&id, T0).unwrap(), "already recorded");
        assert_eq!(c.recorded_ids(), [id]);
        assert!(c
            .history()
            .last()
            .unwrap()
            .message
            .contains("record canvas id"));
    }

    #[test]
    fn concurrent_equal_ids_are_one_and_different_ones_are_resolved() {
        let mut a = Canvas::create("Ids", "ana", T0).unwrap();
        let mut b = a.fork();
        let id = DocId::random();
        a.record_id(&id, T0).unwrap();
        b.record_id(&id, T0).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(a.recorded_ids(), [id]);
        assert!(!a.record_id(&id, T0).unwrap(), "equal values need no write");

        let mut c = a.fork();
        let other = DocId::random();
        c.record_id(&other, T0).unwrap();
        let mut d = a.fork();
        d.record_id(&DocId::random(), T0).unwrap();
        c.merge(&mut d).unwrap();
        assert_eq!(c.recorded_ids().len(), 2, "a conflict shows both");
        assert!(c.record_id(&other, T0).unwrap());
        assert_eq!(c.recorded_ids(), [other]);
    }

    #[test]
    fn copies_share_history_and_strangers_do_not() {
        let mut a = Canvas::create("One", "ana", T0).unwrap();
        let mut copy = a.fork();
        copy.add_note(Section::Now, "later", &[], "ana", T0)
            .unwrap();
        let mut stranger = Canvas::create("One", "ana", T0).unwrap();
        assert_eq!(a.origins().len(), 1);
        assert_eq!(a.origins(), copy.origins());
        assert!(a.shares_history(&mut copy));
        assert!(copy.shares_history(&mut a));
        assert!(!a.shares_history(&mut stranger));
    }
}
