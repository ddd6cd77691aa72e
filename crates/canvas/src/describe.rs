//! A canvas's index entry read from any Automerge document (the sync engine
//! holds `Automerge`, not `AutoCommit`), without building a [`Canvas`](crate::Canvas).

use automerge::{ReadDoc, ROOT};

use crate::field::{get_int, get_map, get_string};

/// The title and the number of live (not trashed) notes of a document; a
/// document that is not a canvas gives an empty title and 0.
pub fn describe<R: ReadDoc>(doc: &R) -> (String, usize) {
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
}
