//! What placing a note and the index entry need from every note — section,
//! rank, trash mark — read once per document state and remembered.
//!
//! Reading those three fields from each of a big canvas's thousands of notes
//! is most of the cost of `gapmap add` on it (docs/benchmarks.md). A
//! process that keeps documents loaded (`gapmap serve`, `ui`) would pay it
//! on every command; instead, the summary of a state is remembered under the
//! document's heads — which name that state exactly, whatever document it
//! is — and `add_note` derives the next state's summary from it without
//! reading the notes again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ReadDoc, ROOT};

use crate::field::{get_int, get_map, get_string};
use crate::note::NoteId;
use crate::section::Section;

/// A note's place: what ranking needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    pub(super) id: NoteId,
    pub(super) rank: String,
}

/// The live notes' places per section, in board order, and how many live
/// notes the canvas has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) sections: HashMap<Section, Vec<Slot>>,
    pub(super) live: usize,
}

/// How many states are remembered (a few documents' latest ones).
const REMEMBERED: usize = 16;

static MEMO: Mutex<VecDeque<(Vec<ChangeHash>, Arc<Summary>)>> = Mutex::new(VecDeque::new());

/// The heads naming `doc`'s state, when it has no uncommitted operations.
pub(super) fn key(doc: &mut AutoCommit) -> Option<Vec<ChangeHash>> {
    (doc.pending_ops() == 0).then(|| doc.get_heads())
}

/// The summary of `doc`'s state: remembered, or read and remembered.
pub(super) fn of(doc: &mut AutoCommit) -> Arc<Summary> {
    let Some(heads) = key(doc) else {
        return Arc::new(read(&*doc));
    };
    if let Some(found) = recall(&heads) {
        return found;
    }
    let summary = Arc::new(read(&*doc));
    remember(heads, summary.clone());
    summary
}

fn recall(heads: &[ChangeHash]) -> Option<Arc<Summary>> {
    let memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    memo.iter()
        .find(|(h, _)| h.as_slice() == heads)
        .map(|(_, s)| s.clone())
}

/// Remembers `summary` as the state named by `heads`.
pub(super) fn remember(heads: Vec<ChangeHash>, summary: Arc<Summary>) {
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    memo.retain(|(h, _)| *h != heads);
    if memo.len() == REMEMBERED {
        memo.pop_front();
    }
    memo.push_back((heads, summary));
}

/// Reads every note's section, rank and trash mark.
pub(super) fn read<R: ReadDoc>(doc: &R) -> Summary {
    let mut summary = Summary::default();
    let Some(notes) = get_map(doc, &ROOT, "notes") else {
        return summary;
    };
    for item in doc.map_range(&notes, ..) {
        let obj = item.id();
        if get_int(doc, &obj, "trashed_at").is_some() {
            continue;
        }
        summary.live += 1;
        let Some(section) = get_string(doc, &obj, "section").and_then(|s| s.parse().ok()) else {
            continue;
        };
        summary.sections.entry(section).or_default().push(Slot {
            id: NoteId::from(item.key.as_ref()),
            rank: get_string(doc, &obj, "rank").unwrap_or_default(),
        });
    }
    for slots in summary.sections.values_mut() {
        sort(slots);
    }
    summary
}

/// Board order: rank, then id for equal ranks.
pub(super) fn sort(slots: &mut [Slot]) {
    slots.sort_by(|a, b| (&a.rank, &a.id).cmp(&(&b.rank, &b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Position;
    use crate::Canvas;
    use rand::{Rng, SeedableRng};

    /// What the notes say now, read afresh, against what is remembered.
    fn check(canvas: &mut Canvas, step: &str) {
        let fresh = read(canvas.doc());
        assert_eq!(*of(canvas.doc_mut()), fresh, "after {step}");
        assert_eq!(canvas.live_note_count(), crate::describe(canvas.doc()).1);
    }

    #[test]
    fn the_remembered_summary_is_always_what_a_fresh_read_gives() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut a = Canvas::create("Summary", "ana", 1).unwrap();
        let mut b = a.fork();
        let sections = [Section::Now, Section::ToBe, Section::Constraint];
        for step in 0..300 {
            let now = 10 + step;
            let canvas = if rng.gen_bool(0.5) { &mut a } else { &mut b };
            let section = sections[rng.gen_range(0..sections.len())];
            let ids: Vec<NoteId> = canvas.notes().into_iter().map(|n| n.id).collect();
            let what = match rng.gen_range(0..10) {
                0..=4 => {
                    canvas.add_note(section, "n", &[], "ana", now).unwrap();
                    "add"
                }
                5 | 6 if !ids.is_empty() => {
                    let id = &ids[rng.gen_range(0..ids.len())];
                    let anchor = ids[rng.gen_range(0..ids.len())].clone();
                    let at = if rng.gen_bool(0.5) {
                        Position::End
                    } else {
                        Position::Before(anchor)
                    };
                    let _ = canvas.move_note(id, section, at, now);
                    "move"
                }
                7 if !ids.is_empty() => {
                    let _ = canvas.trash_note(&ids[rng.gen_range(0..ids.len())], now);
                    "trash"
                }
                8 if !ids.is_empty() => {
                    let _ = canvas.restore_note(&ids[rng.gen_range(0..ids.len())], now);
                    "restore"
                }
                _ => {
                    let (x, y) = (&mut a, &mut b);
                    x.merge(y).unwrap();
                    y.merge(x).unwrap();
                    check(&mut b, "merge");
                    "merge"
                }
            };
            check(&mut a, what);
            check(&mut b, what);
        }
        assert!(read(a.doc()).live > 20);
    }
}
