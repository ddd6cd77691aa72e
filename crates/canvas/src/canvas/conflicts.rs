//! Concurrent values: when two people set one field of a note at the same
//! time (its status, its section), Automerge keeps both and reads show one.
//! Nothing is dropped silently: the board, `gapmap show` and its JSON show
//! every value until someone sets the field again.

use std::collections::BTreeMap;

use automerge::{ReadDoc, ROOT};

use super::Canvas;
use crate::field::{get_map, string_of};
use crate::{NoteId, Section, Status};

/// The fields whose concurrent values are shown, by name.
const FIELDS: [&str; 2] = ["status", "section"];

/// A note's fields holding concurrent values: field name → every value
/// (the one reads show first), for fields with more than one.
pub type Conflicts = BTreeMap<String, Vec<String>>;

impl Canvas {
    /// The concurrent values of note `id`'s status and section; empty when
    /// it has none. Values that do not parse are left out.
    pub fn conflicts(&self, id: &NoteId) -> Conflicts {
        let mut out = Conflicts::new();
        let Some(note) = get_map(&self.doc, &ROOT, "notes")
            .and_then(|notes| get_map(&self.doc, &notes, id.as_str()))
        else {
            return out;
        };
        for field in FIELDS {
            let Ok(values) = self.doc.get_all(&note, field) else {
                continue;
            };
            let mut seen: Vec<String> = Vec::new();
            for (value, obj) in values {
                let valid = string_of(&self.doc, &value, &obj).filter(|t| match field {
                    "status" => t.parse::<Status>().is_ok(),
                    _ => t.parse::<Section>().is_ok(),
                });
                if let Some(t) = valid {
                    if !seen.contains(&t) {
                        seen.push(t);
                    }
                }
            }
            if seen.len() > 1 {
                // Reads show the last of get_all's values; list it first.
                seen.reverse();
                out.insert(field.to_string(), seen);
            }
        }
        out
    }

    /// [`Canvas::conflicts`] of every note that has some.
    pub fn all_conflicts(&self) -> BTreeMap<NoteId, Conflicts> {
        self.notes()
            .into_iter()
            .map(|n| {
                let c = self.conflicts(&n.id);
                (n.id, c)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_marks_show_both_values_until_resolved() {
        let mut a = Canvas::create("Conflicts", "ana", 1).unwrap();
        let id = a.add_note(Section::Now, "x", &[], "ana", 1).unwrap();
        let mut b = a.fork();
        a.mark(&id, Status::Validated, 2).unwrap();
        b.mark(&id, Status::Invalidated, 2).unwrap();
        a.merge(&mut b).unwrap();
        let shown = a.note(&id).unwrap().status.as_str().to_string();
        let c = a.conflicts(&id);
        let mut values = c["status"].clone();
        assert_eq!(values[0], shown, "the value reads show comes first");
        values.sort();
        assert_eq!(values, ["invalidated", "validated"]);
        assert_eq!(a.all_conflicts().len(), 1);
        a.mark(&id, Status::Validated, 3).unwrap();
        assert!(a.conflicts(&id).is_empty());
    }
}
