//! Builds benchmark canvases the way a team would over months: notes added
//! by four people, and between additions the edits, moves, status marks,
//! tags and trash-and-restore that make up most of a canvas's history. The
//! history matters, not only the final notes: loading an Automerge document
//! costs in proportion to its operations, so 2,000 notes built by 20,000
//! changes is a very different load from 2,000 notes written in one go.
//!
//! Deterministic for a seed, so every run benchmarks the same document.

use anyhow::{Context as _, Result};
use gapmap_canvas::{Canvas, NoteId, Position, Section, Status};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::vocab;

/// 2025-03-03 09:00 UTC: when the team started the canvas.
const START_MS: i64 = 1_741_000_000_000;

/// What to build.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Live notes at the end.
    pub notes: usize,
    /// Note-level changes per note, counting the `add_note` itself: 10 makes
    /// 2,000 notes out of 20,000 changes.
    pub changes_per_note: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

/// A built canvas and what went into it.
pub struct Built {
    /// The canvas.
    pub canvas: Canvas,
    /// Changes in its history (`get_changes(&[])`), setup ones included.
    pub changes: usize,
    /// Live (untrashed) notes.
    pub live_notes: usize,
}

/// One of the team, with the Automerge actor their changes carry.
struct Person {
    name: &'static str,
    actor: [u8; 16],
}

/// A note the builder knows about, mirrored so it can pick targets without
/// reading the document back.
struct Known {
    id: NoteId,
    section: Section,
    text: String,
}

/// Builds the canvas of `plan`.
pub fn build(plan: Plan) -> Result<Built> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let team: Vec<Person> = vocab::AUTHORS
        .iter()
        .map(|&name| Person {
            name,
            actor: rng.gen(),
        })
        .collect();
    let mut now = START_MS;

    let mut canvas =
        Canvas::create(vocab::TITLE, team[0].name, now).context("creating the canvas")?;
    canvas.set_actor(&team[0].actor);
    let (situation, motivation, outcome) = vocab::JOB;
    canvas.set_job(Some(situation), Some(motivation), Some(outcome), now)?;
    canvas.set_customer(Some(vocab::CUSTOMER.0), Some(vocab::CUSTOMER.1), now)?;
    for person in &team {
        canvas.set_actor(&person.actor);
        canvas.set_member(&hex::encode(person.actor), person.name, "#4363d8", now)?;
    }

    let others_total = plan.notes * plan.changes_per_note.saturating_sub(1);
    let mut others_done = 0;
    let mut notes: Vec<Known> = Vec::with_capacity(plan.notes);
    let mut author = &team[0];
    for added in 1..=plan.notes {
        // People work in sessions: the same person makes a run of changes.
        if rng.gen_ratio(1, 40) {
            author = team.choose(&mut rng).unwrap_or(&team[0]);
            canvas.set_actor(&author.actor);
        }
        now += rng.gen_range(1_000..600_000);
        let section = vocab::section(&mut rng);
        let text = vocab::note_text(&mut rng, section);
        let tags = if rng.gen_ratio(1, 3) {
            vec![vocab::tag(&mut rng)]
        } else {
            Vec::new()
        };
        let id = canvas.add_note(section, &text, &tags, author.name, now)?;
        notes.push(Known { id, section, text });

        // Spread the other changes evenly over the additions.
        let due = others_total * added / plan.notes;
        while others_done < due {
            now += rng.gen_range(1_000..120_000);
            others_done += other_change(&mut canvas, &mut rng, &mut notes, due - others_done, now)?;
        }
    }

    let changes = canvas.doc_mut().get_changes(&[]).len();
    let live_notes = canvas
        .notes()
        .iter()
        .filter(|n| n.trashed_at.is_none())
        .count();
    Ok(Built {
        canvas,
        changes,
        live_notes,
    })
}

/// One change that is not an addition (or two for a trash and its undo,
/// when `room` allows); returns how many changes it made.
fn other_change(
    canvas: &mut Canvas,
    rng: &mut StdRng,
    notes: &mut [Known],
    room: usize,
    now: i64,
) -> Result<usize> {
    let i = rng.gen_range(0..notes.len());
    let id = notes[i].id.clone();
    match rng.gen_range(0..100) {
        0..=39 => {
            let text = vocab::edited_text(rng, &notes[i].text, notes[i].section);
            canvas.edit_note(&id, &text, now)?;
            notes[i].text = text;
        }
        40..=54 => {
            // Half the moves go next to another note (reordering inside or
            // across sections), half to the end of a section.
            let j = rng.gen_range(0..notes.len());
            let (section, at) = if j != i && rng.gen_bool(0.5) {
                let other = notes[j].id.clone();
                let at = if rng.gen_bool(0.5) {
                    Position::Before(other)
                } else {
                    Position::After(other)
                };
                (notes[j].section, at)
            } else {
                (vocab::section(rng), Position::End)
            };
            canvas.move_note(&id, section, at, now)?;
            notes[i].section = section;
        }
        55..=74 => {
            let status = *[Status::Validated, Status::Invalidated, Status::Hypothesis]
                .choose(rng)
                .unwrap_or(&Status::Validated);
            canvas.mark(&id, status, now)?;
        }
        75..=94 => {
            let add = vec![vocab::tag(rng)];
            let remove = if rng.gen_ratio(1, 4) {
                vec![vocab::tag(rng)]
            } else {
                Vec::new()
            };
            canvas.tag(&id, &add, &remove, now)?;
        }
        _ if room >= 2 => {
            canvas.trash_note(&id, now)?;
            canvas.restore_note(&id, now + 4_000)?;
            return Ok(2);
        }
        _ => {
            canvas.mark(&id, Status::Validated, now)?;
        }
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thousand_notes_from_twenty_thousand_changes() {
        let built = build(Plan {
            notes: 2_000,
            changes_per_note: 10,
            seed: 1,
        })
        .unwrap();
        assert_eq!(built.live_notes, 2_000);
        assert_eq!(built.canvas.notes().len(), 2_000);
        assert!(built.changes >= 20_000, "{} changes", built.changes);
    }

    #[test]
    fn an_empty_canvas_still_has_its_setup() {
        let built = build(Plan {
            notes: 0,
            changes_per_note: 10,
            seed: 1,
        })
        .unwrap();
        assert_eq!(built.live_notes, 0);
        assert_eq!(built.canvas.title(), vocab::TITLE);
        assert!(built.changes >= 3);
    }

    #[test]
    fn the_same_seed_builds_the_same_canvas() {
        // Note ids are random (the canvas draws them), the rest is the seed's.
        let plan = Plan {
            notes: 50,
            changes_per_note: 10,
            seed: 9,
        };
        let texts = |built: &Built| {
            let mut texts: Vec<_> = built
                .canvas
                .notes()
                .into_iter()
                .map(|n| (n.section, n.text))
                .collect();
            texts.sort();
            texts
        };
        let (a, b) = (build(plan).unwrap(), build(plan).unwrap());
        assert_eq!(a.changes, b.changes);
        assert_eq!(texts(&a), texts(&b));
    }
}
