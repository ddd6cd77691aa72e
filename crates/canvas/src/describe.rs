//! A canvas's index entry read from any Automerge document (the sync engine
//! holds `Automerge`, not `AutoCommit`), without building a [`Canvas`](crate::Canvas).

use automerge::{ReadDoc, ROOT};

use crate::field::{get_int, get_map, get_string};

/// Whether `doc` is a gapmap canvas (its root names the canvas schema); a
/// peer may push any Automerge document to a store, and only canvases are
/// listed as canvases.
pub fn is_canvas<R: ReadDoc>(doc: &R) -> bool {
    get_string(doc, &ROOT, "schema").is_some_and(|s| s == crate::SCHEMA)
}

/// The title and the number of live (not trashed) notes of a document; a
/// document that is not a canvas gives an empty title and 0 (whatever keys it
/// holds), which is how the store's index tells it apart from a canvas,
/// whose title is never empty.
pub fn describe<R: ReadDoc>(doc: &R) -> (String, usize) {
    if !is_canvas(doc) {
        return (String::new(), 0);
    }
    let title = get_string(doc, &ROOT, "title").unwrap_or_default();
    let Some(notes) = get_map(doc, &ROOT, "notes") else {
        return (title, 0);
    };
    let live = doc
        .map_range(&notes, ..)
        .filter(|item| get_int(doc, &item.id(), "trashed_at").is_none())
        .count();
    (title, live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Canvas, Section};

    #[test]
    fn counts_live_notes() {
        let mut c = Canvas::create("Described", "ana", 1).unwrap();
        let a = c.add_note(Section::Now, "a", &[], "ana", 2).unwrap();
        c.add_note(Section::Now, "b", &[], "ana", 3).unwrap();
        c.trash_note(&a, 4).unwrap();
        assert_eq!(describe(c.doc()), ("Described".to_string(), 1));
        assert_eq!(describe(&automerge::Automerge::new()), (String::new(), 0));
    }

    #[test]
    fn a_document_that_is_not_a_canvas_has_no_title_or_notes() {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(ROOT, "title", "Todo list").unwrap();
        let notes = doc
            .put_object(ROOT, "notes", automerge::ObjType::Map)
            .unwrap();
        doc.put_object(&notes, "n1", automerge::ObjType::Map)
            .unwrap();
        assert!(!is_canvas(&doc));
        assert_eq!(describe(&doc), (String::new(), 0));
        let c = Canvas::create("Real", "ana", 1).unwrap();
        assert!(is_canvas(c.doc()));
    }
}
