//! Builds benchmark canvases the way a team would over months: notes added
//! by four people, and between additions the edits, moves, status marks,
//! tags and trash-and-restore that make up most of a canvas's history. The
//! history matters, not only the final notes: loading an Automerge document
//! costs in proportion to its operations, so 2,000 notes built by 20,000
//! changes is a very different load from 2,000 notes written in one go.
//!
//! Additions and moves are written here, in the DESIGN §3 schema exactly as
//! `Canvas::add_note` and `move_note` write them, rather than through those
//! calls: they read every note to place the new one, which makes building
//! 2,000 notes quadratic (tens of minutes). Ranks come from [`next_rank`],
//! keys of the same fractional-index format. Every other change goes
//! through the canvas API, and the tests read the result back through it.
//!
//! Deterministic for a seed (but for the note ids, which the canvas draws),
//! so every run benchmarks the same document.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use gapmap_canvas::{Canvas, NoteId, Section, Status};
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
    let mut ranks = Ranks::default();
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
        let rank = ranks.append(section);
        let id = add_note(&mut canvas, section, &text, &tags, &rank, author.name, now)?;
        notes.push(Known { id, section, text });

        // Spread the other changes evenly over the additions.
        let due = others_total * added / plan.notes;
        while others_done < due {
            now += rng.gen_range(1_000..120_000);
            others_done += other_change(
                &mut canvas,
                &mut rng,
                &mut notes,
                &mut ranks,
                due - others_done,
                now,
            )?;
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
    ranks: &mut Ranks,
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
            // To the end of a section, often its own (to the bottom).
            let section = if rng.gen_bool(0.3) {
                notes[i].section
            } else {
                vocab::section(rng)
            };
            let rank = ranks.append(section);
            move_note(canvas, &id, section, &rank, now)?;
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

/// The last rank given out in each section.
#[derive(Default)]
struct Ranks(HashMap<Section, String>);

impl Ranks {
    /// A rank after every other in `section`.
    fn append(&mut self, section: Section) -> String {
        let next = next_rank(self.0.get(&section).map(String::as_str));
        self.0.insert(section, next.clone());
        next
    }
}

/// The integer-only fractional-index key after `last` (`a0`, `a1` … `az`,
/// `b00` …), the keys gapmap-canvas itself gives when appending. `last` must
/// be such a key, as every key this builder makes is.
pub fn next_rank(last: Option<&str>) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let Some(last) = last else {
        return "a0".to_string();
    };
    let mut key = last.as_bytes().to_vec();
    for i in (1..key.len()).rev() {
        let d = DIGITS.iter().position(|&c| c == key[i]).unwrap_or(0);
        if d + 1 < DIGITS.len() {
            key[i] = DIGITS[d + 1];
            return String::from_utf8_lossy(&key).into_owned();
        }
        key[i] = DIGITS[0];
    }
    // Every digit overflowed: one more digit, announced by the next head.
    let mut longer = vec![key[0] + 1];
    longer.resize(key.len() + 1, DIGITS[0]);
    String::from_utf8_lossy(&longer).into_owned()
}

/// `Canvas::add_note`'s writes, with the rank given, as one commit.
fn add_note(
    canvas: &mut Canvas,
    section: Section,
    text: &str,
    tags: &[String],
    rank: &str,
    author: &str,
    now: i64,
) -> Result<NoteId> {
    let id = NoteId::random();
    let doc = canvas.doc_mut();
    let notes = match doc.get(&ROOT, "notes")? {
        Some((Value::Object(ObjType::Map), notes)) => notes,
        _ => doc.put_object(&ROOT, "notes", ObjType::Map)?,
    };
    let note = doc.put_object(&notes, id.as_str(), ObjType::Map)?;
    doc.put(&note, "section", section.id())?;
    let text_obj = doc.put_object(&note, "text", ObjType::Text)?;
    doc.update_text(&text_obj, text)?;
    doc.put(&note, "rank", rank)?;
    doc.put(&note, "status", Status::Hypothesis.as_str())?;
    let tag_map = doc.put_object(&note, "tags", ObjType::Map)?;
    for tag in tags {
        doc.put(&tag_map, tag.as_str(), true)?;
    }
    for key in ["links", "votes", "comments", "ratings"] {
        doc.put_object(&note, key, ObjType::Map)?;
    }
    doc.put(&note, "author", author)?;
    doc.put(&note, "created_at", now)?;
    doc.put(&note, "updated_at", now)?;
    doc.put(&note, "trashed_at", ScalarValue::Null)?;
    let excerpt: String = text.chars().take(39).collect();
    commit(
        doc,
        format!("add note {} to {section}: \"{excerpt}\"", id.short()),
        now,
    );
    Ok(id)
}

/// `Canvas::move_note`'s writes, with the rank given, as one commit.
fn move_note(
    canvas: &mut Canvas,
    id: &NoteId,
    section: Section,
    rank: &str,
    now: i64,
) -> Result<()> {
    let doc = canvas.doc_mut();
    let note = note_obj(doc, id).with_context(|| format!("note {id} vanished"))?;
    doc.put(&note, "section", section.id())?;
    doc.put(&note, "rank", rank)?;
    doc.put(&note, "updated_at", now)?;
    commit(doc, format!("move note {} to {section}", id.short()), now);
    Ok(())
}

fn note_obj(doc: &automerge::AutoCommit, id: &NoteId) -> Option<ObjId> {
    let Ok(Some((Value::Object(ObjType::Map), notes))) = doc.get(&ROOT, "notes") else {
        return None;
    };
    match doc.get(&notes, id.as_str()) {
        Ok(Some((Value::Object(ObjType::Map), note))) => Some(note),
        _ => None,
    }
}

/// Commits as the canvas does: a message for `gapmap log`, time in seconds.
fn commit(doc: &mut automerge::AutoCommit, message: String, now_ms: i64) {
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(now_ms.div_euclid(1000)),
    );
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
    fn ranks_append_in_order() {
        let mut last: Option<String> = None;
        let mut keys = Vec::new();
        for _ in 0..4_000 {
            let next = next_rank(last.as_deref());
            keys.push(next.clone());
            last = Some(next);
        }
        assert_eq!(&keys[..3], ["a0", "a1", "a2"]);
        assert_eq!(keys[61], "az");
        assert_eq!(keys[62], "b00");
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(next_rank(Some("bzz")), "c000");
    }

    #[test]
    fn notes_read_back_in_rank_order() {
        let built = build(Plan {
            notes: 300,
            changes_per_note: 10,
            seed: 3,
        })
        .unwrap();
        for section in Section::ALL {
            let ranks: Vec<String> = built
                .canvas
                .section_notes(section)
                .into_iter()
                .map(|n| n.rank)
                .collect();
            assert!(
                ranks.windows(2).all(|w| w[0] < w[1]),
                "{section}: {ranks:?}"
            );
        }
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
