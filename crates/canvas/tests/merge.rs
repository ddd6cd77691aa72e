//! Convergence under concurrent edits: random operations on 2–3 forks of a
//! canvas, then every fork merges every other.

use std::collections::{BTreeMap, BTreeSet};

use gapmap_canvas::{render, Canvas, DocId, NoteId, Position, Section, Status};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

/// Sections the operations use: a few, so notes collide in them.
const SECTIONS: [Section; 4] = [
    Section::Now,
    Section::ToBe,
    Section::Constraint,
    Section::Gain,
];

#[derive(Clone, Debug)]
enum Op {
    Add {
        section: usize,
        text: String,
    },
    Edit {
        note: usize,
        text: String,
    },
    Move {
        note: usize,
        section: usize,
        anchor: Option<(usize, bool)>,
    },
    Trash {
        note: usize,
    },
    Restore {
        note: usize,
    },
    Mark {
        note: usize,
        status: usize,
    },
    Tag {
        note: usize,
        tag: usize,
        add: bool,
    },
}

fn text() -> impl Strategy<Value = String> {
    "[a-zé👋]{1,5}( [a-zé👋]{1,5}){0,3}"
}

fn op() -> impl Strategy<Value = Op> {
    let note = 0usize..16;
    prop_oneof![
        (0..SECTIONS.len(), text()).prop_map(|(section, text)| Op::Add { section, text }),
        (note.clone(), text()).prop_map(|(note, text)| Op::Edit { note, text }),
        (
            note.clone(),
            0..SECTIONS.len(),
            prop::option::of((0usize..16, any::<bool>()))
        )
            .prop_map(|(note, section, anchor)| Op::Move {
                note,
                section,
                anchor
            }),
        note.clone().prop_map(|note| Op::Trash { note }),
        note.clone().prop_map(|note| Op::Restore { note }),
        (note.clone(), 0usize..3).prop_map(|(note, status)| Op::Mark { note, status }),
        (note, 0usize..3, any::<bool>()).prop_map(|(note, tag, add)| Op::Tag { note, tag, add }),
    ]
}

/// One fork and what it did.
struct Fork {
    canvas: Canvas,
    /// Notes this fork knows: the shared ones, then its own additions.
    known: Vec<NoteId>,
}

/// Applies `op` to a fork; errors that a person could also cause (moving
/// next to a note that is not in the section) are part of the game.
fn apply(fork: &mut Fork, op: &Op, t: i64) {
    let pick = |i: usize| fork.known[i % fork.known.len()].clone();
    let c = &mut fork.canvas;
    match op {
        Op::Add { section, text } => {
            let id = c.add_note(SECTIONS[*section], text, &[], "p", t).unwrap();
            fork.known.push(id);
        }
        Op::Edit { note, text } => c.edit_note(&pick(*note), text, t).unwrap(),
        Op::Move {
            note,
            section,
            anchor,
        } => {
            let section = SECTIONS[*section];
            let at = match anchor {
                None => Position::End,
                Some((a, true)) => Position::Before(pick(*a)),
                Some((a, false)) => Position::After(pick(*a)),
            };
            let note = pick(*note);
            let expect_ok = match &at {
                Position::End => true,
                Position::Before(a) | Position::After(a) if *a == note => {
                    c.note(&note).is_some_and(|n| n.section == section)
                }
                Position::Before(a) | Position::After(a) => {
                    c.section_notes(section).iter().any(|n| n.id == *a)
                }
            };
            let result = c.move_note(&note, section, at, t);
            assert_eq!(result.is_ok(), expect_ok, "{result:?}");
        }
        Op::Trash { note } => c.trash_note(&pick(*note), t).unwrap(),
        Op::Restore { note } => c.restore_note(&pick(*note), t).unwrap(),
        Op::Mark { note, status } => c.mark(&pick(*note), Status::ALL[*status], t).unwrap(),
        Op::Tag { note, tag, add } => {
            let tag = vec![["red", "blue", "vert"][*tag].to_string()];
            if *add {
                c.tag(&pick(*note), &tag, &[], t).unwrap()
            } else {
                c.tag(&pick(*note), &[], &tag, t).unwrap()
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn forks_converge(
        forks in prop::collection::vec(prop::collection::vec(op(), 0..10), 2..=3),
        survivor_text in text(),
    ) {
        let mut base = Canvas::create("Merge", "base", T0).unwrap();
        // Note 0 is kept out of the random operations: fork 0 trashes it
        // while fork 1 edits it.
        let doomed = base.add_note(Section::Now, "doomed note", &[], "base", T0).unwrap();
        let shared: Vec<NoteId> = (0..4)
            .map(|i| base.add_note(SECTIONS[i % SECTIONS.len()], &format!("shared {i}"), &[], "base", T0).unwrap())
            .collect();

        let mut state: Vec<Fork> = forks
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let mut canvas = base.fork();
                canvas.set_actor(&[i as u8 + 1; 16]);
                Fork { canvas, known: shared.clone() }
            })
            .collect();
        state[0].canvas.trash_note(&doomed, T0).unwrap();
        state[1].canvas.edit_note(&doomed, &survivor_text, T0).unwrap();
        for (fork, ops) in state.iter_mut().zip(&forks) {
            for (t, op) in ops.iter().enumerate() {
                apply(fork, op, T0 + 1 + t as i64);
            }
        }
        let added: BTreeSet<NoteId> = state
            .iter()
            .flat_map(|f| f.known.iter().cloned())
            .chain([doomed.clone()])
            .collect();

        // Every fork merges every other.
        let n = state.len();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (a, b) = if i < j {
                        let (l, r) = state.split_at_mut(j);
                        (&mut l[i], &mut r[0])
                    } else {
                        let (l, r) = state.split_at_mut(i);
                        (&mut r[0], &mut l[j])
                    };
                    a.canvas.merge(&mut b.canvas).unwrap();
                }
            }
        }

        let id = DocId::from_bytes([7; 16]);
        let mut heads: Vec<_> = state.iter_mut().map(|f| {
            let mut h = f.canvas.doc_mut().get_heads();
            h.sort();
            h
        }).collect();
        let json: Vec<_> = state.iter().map(|f| render::to_json(&f.canvas, &id)).collect();
        for i in 1..n {
            prop_assert_eq!(&heads[i], &heads[0]);
            prop_assert_eq!(&json[i], &json[0]);
            prop_assert_eq!(state[i].canvas.notes(), state[0].canvas.notes());
        }
        heads.clear();

        let merged = &state[0].canvas;
        let notes: BTreeMap<NoteId, _> = merged.notes().into_iter().map(|n| (n.id.clone(), n)).collect();
        for id in &added {
            prop_assert!(notes.contains_key(id), "note {} lost", id);
        }
        prop_assert_eq!(notes.len(), added.len());

        // The edit made while another fork trashed the note survives.
        let survivor = &notes[&doomed];
        prop_assert!(survivor.is_trashed());
        prop_assert_eq!(&survivor.text, survivor_text.trim());

        // Every trashed note can come back, and does so in its section.
        let mut restored = state[0].canvas.clone();
        for note in notes.values().filter(|n| n.is_trashed()) {
            restored.restore_note(&note.id, T0 + 100).unwrap();
            let live = restored.section_notes(note.section);
            prop_assert!(live.iter().any(|n| n.id == note.id));
        }
        let live: usize = Section::ALL.iter().map(|s| restored.section_notes(*s).len()).sum();
        prop_assert_eq!(live, added.len());

        // Ordering still works on the merged state, even where concurrent
        // adds and moves left equal ranks: put each section's last note
        // right after its first one.
        for section in SECTIONS {
            let live = restored.section_notes(section);
            if live.len() >= 3 {
                let ids: Vec<NoteId> = live.iter().map(|n| n.id.clone()).collect();
                let last = ids[ids.len() - 1].clone();
                restored
                    .move_note(&last, section, Position::After(ids[0].clone()), T0 + 200)
                    .unwrap();
                let after: Vec<NoteId> =
                    restored.section_notes(section).into_iter().map(|n| n.id).collect();
                let mut expect = vec![ids[0].clone(), last];
                expect.extend_from_slice(&ids[1..ids.len() - 1]);
                prop_assert_eq!(after, expect);
            }
        }
    }
}
