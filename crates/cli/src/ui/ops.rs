//! What a page may ask for over its websocket, checked before anything is
//! written: one JSON object per message, `{"op": …, "ref": n, …}`.
//!
//! Changes are carried out with the canvas API, so they are the same
//! changes the CLI makes (one commit each, with a history message).

use anyhow::{bail, Context as _, Result};
use gapmap_canvas::{Canvas, NoteId, Position, Section, Status};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{merge, research};

/// Longest note text, comment, or job statement part, in characters.
pub const MAX_TEXT: usize = 4000;
/// Longest title, name, tag or id, in characters.
pub const MAX_SHORT: usize = 200;
/// Most tags changed by one message.
const MAX_TAGS: usize = 32;

/// One request from a page.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Op {
    /// Who is at this page (shown to others, recorded as the author).
    Hello {
        name: String,
    },
    /// Which note this page is editing, if any.
    Presence {
        editing: Option<String>,
    },
    /// A new note.
    Add {
        section: String,
        text: String,
        #[serde(default)]
        tags: Vec<String>,
        before: Option<String>,
        after: Option<String>,
    },
    /// A note's new text; `base` is the text the edit started from.
    Edit {
        note: String,
        text: String,
        base: Option<String>,
    },
    /// A note to another section or place.
    Move {
        note: String,
        section: String,
        before: Option<String>,
        after: Option<String>,
    },
    /// A note to the trash.
    Trash {
        note: String,
    },
    /// A note out of the trash.
    Restore {
        note: String,
    },
    /// A note's validation status.
    Mark {
        note: String,
        status: String,
    },
    /// Tags added and removed.
    Tag {
        note: String,
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// This person's dot-vote on (`on`) or off.
    Vote {
        note: String,
        on: bool,
    },
    /// A new comment on a note.
    Comment {
        note: String,
        text: String,
    },
    /// A comment thread closed (`resolved`) or opened again.
    Resolve {
        note: String,
        comment: String,
        resolved: bool,
    },
    /// Parts of the job statement.
    Job {
        situation: Option<String>,
        motivation: Option<String>,
        outcome: Option<String>,
    },
    /// The customer type and description.
    Customer {
        #[serde(rename = "type")]
        kind: Option<String>,
        description: Option<String>,
    },
    /// The canvas title.
    Title {
        title: String,
    },
    /// The list of changes and rounds.
    History,
    /// The board after `count` changes, or at a round.
    At {
        count: Option<usize>,
        round: Option<String>,
    },
    /// Interviews and findings (crates/cli/src/ui/research.rs).
    InterviewNew(research::NewInterview),
    InterviewNote(research::TranscriptLine),
    FindingAdd(research::FindingAdd),
    RoundStart(research::RoundStart),
    /// The review's suggestions (asked for by the Review view only: they
    /// cost a pass over every note).
    Review,
}

/// A message from a page: its `ref` (echoed in the answer) and the op.
pub fn parse(text: &str) -> (Option<u64>, Result<Op>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (None, Err(anyhow::anyhow!("not a JSON message: {e}"))),
    };
    let Value::Object(mut map) = value else {
        return (
            None,
            Err(anyhow::anyhow!("a message is a JSON object with an \"op\"")),
        );
    };
    let reference = map.remove("ref").and_then(|r| r.as_u64());
    let op = serde_json::from_value::<Op>(Value::Object(map))
        .map_err(|e| anyhow::anyhow!("bad message: {e}"));
    (reference, op)
}

fn bounded<'a>(text: &'a str, max: usize, what: &str) -> Result<&'a str> {
    let n = text.chars().count();
    if n > max {
        bail!("{what} is too long: {n} characters, at most {max}");
    }
    Ok(text)
}

/// A live note of the canvas by its full id.
fn live_note(canvas: &Canvas, id: &str) -> Result<NoteId> {
    let id = NoteId::from(bounded(id, MAX_SHORT, "a note id")?);
    match canvas.note(&id) {
        None => bail!("there is no note {id} on this canvas"),
        Some(n) if n.is_trashed() => bail!("note {} is in the trash: restore it first", id.short()),
        Some(_) => Ok(id),
    }
}

fn any_note(canvas: &Canvas, id: &str) -> Result<NoteId> {
    let id = NoteId::from(bounded(id, MAX_SHORT, "a note id")?);
    canvas
        .note(&id)
        .with_context(|| format!("there is no note {id} on this canvas"))?;
    Ok(id)
}

fn tags(list: &[String]) -> Result<()> {
    if list.len() > MAX_TAGS {
        bail!("too many tags at once: at most {MAX_TAGS}");
    }
    for t in list {
        bounded(t, MAX_SHORT, "a tag")?;
    }
    Ok(())
}

fn position(canvas: &Canvas, before: Option<&str>, after: Option<&str>) -> Result<Position> {
    Ok(match (before, after) {
        (Some(_), Some(_)) => bail!("give before or after, not both"),
        (Some(b), None) => Position::Before(live_note(canvas, b)?),
        (None, Some(a)) => Position::After(live_note(canvas, a)?),
        (None, None) => Position::End,
    })
}

/// Carries out a writing op on `canvas` as `author` at `now`; returns what
/// the page is told besides "done" (the id of a new note or comment).
pub fn apply(canvas: &mut Canvas, op: &Op, author: &str, now: i64) -> Result<Value> {
    match op {
        Op::Add {
            section,
            text,
            tags: t,
            before,
            after,
        } => {
            let section: Section = section.parse()?;
            bounded(text, MAX_TEXT, "the note")?;
            tags(t)?;
            let at = position(canvas, before.as_deref(), after.as_deref())?;
            let id = canvas.add_note(section, text, t, author, now)?;
            if at != Position::End {
                canvas.move_note(&id, section, at, now)?;
            }
            Ok(json!({ "note": id.to_string() }))
        }
        Op::Edit { note, text, base } => {
            bounded(text, MAX_TEXT, "the note")?;
            let id = live_note(canvas, note)?;
            let current = canvas.note(&id).map(|n| n.text).unwrap_or_default();
            let text = match base {
                Some(base) => merge::rebase(
                    bounded(base, MAX_TEXT * 2, "the base text")?,
                    text,
                    &current,
                ),
                None => text.clone(),
            };
            if text.trim() != current {
                canvas.edit_note(&id, &text, now)?;
            }
            Ok(Value::Null)
        }
        Op::Move {
            note,
            section,
            before,
            after,
        } => {
            let id = live_note(canvas, note)?;
            let section: Section = section.parse()?;
            let at = position(canvas, before.as_deref(), after.as_deref())?;
            canvas.move_note(&id, section, at, now)?;
            Ok(Value::Null)
        }
        Op::Trash { note } => {
            let id = any_note(canvas, note)?;
            canvas.trash_note(&id, now)?;
            Ok(Value::Null)
        }
        Op::Restore { note } => {
            let id = any_note(canvas, note)?;
            canvas.restore_note(&id, now)?;
            Ok(Value::Null)
        }
        Op::Mark { note, status } => {
            let id = live_note(canvas, note)?;
            let status: Status = status.parse()?;
            canvas.mark(&id, status, now)?;
            Ok(Value::Null)
        }
        Op::Tag { note, add, remove } => {
            let id = live_note(canvas, note)?;
            tags(add)?;
            tags(remove)?;
            canvas.tag(&id, add, remove, now)?;
            Ok(Value::Null)
        }
        Op::Vote { note, on } => {
            let id = live_note(canvas, note)?;
            if *on {
                canvas.vote(&id, author, now)?;
            } else {
                canvas.unvote(&id, author, now)?;
            }
            Ok(Value::Null)
        }
        Op::Comment { note, text } => {
            let id = live_note(canvas, note)?;
            bounded(text, MAX_TEXT, "the comment")?;
            let comment = canvas.add_comment(&id, text, author, now)?;
            Ok(json!({ "comment": comment }))
        }
        Op::Resolve {
            note,
            comment,
            resolved,
        } => {
            let id = live_note(canvas, note)?;
            bounded(comment, MAX_SHORT, "a comment id")?;
            if *resolved {
                canvas.resolve_comment(&id, comment, now)?;
            } else {
                canvas.reopen_comment(&id, comment, now)?;
            }
            Ok(Value::Null)
        }
        Op::Job {
            situation,
            motivation,
            outcome,
        } => {
            for part in [situation, motivation, outcome].into_iter().flatten() {
                bounded(part, MAX_TEXT, "the job statement")?;
            }
            canvas.set_job(
                situation.as_deref(),
                motivation.as_deref(),
                outcome.as_deref(),
                now,
            )?;
            Ok(Value::Null)
        }
        Op::Customer { kind, description } => {
            if let Some(k) = kind {
                bounded(k, MAX_SHORT, "the customer type")?;
            }
            if let Some(d) = description {
                bounded(d, MAX_TEXT, "the customer description")?;
            }
            canvas.set_customer(kind.as_deref(), description.as_deref(), now)?;
            Ok(Value::Null)
        }
        Op::Title { title } => {
            bounded(title, MAX_SHORT, "the title")?;
            canvas.set_title(title, now)?;
            Ok(Value::Null)
        }
        Op::InterviewNew(o) => research::new_interview(canvas, o, author, now),
        Op::InterviewNote(o) => research::transcript_line(canvas, o, author, now),
        Op::FindingAdd(o) => research::add_finding(canvas, o, author, now),
        Op::RoundStart(o) => research::start_round(canvas, o, author, now),
        Op::Hello { .. } | Op::Presence { .. } | Op::History | Op::At { .. } | Op::Review => {
            bail!("internal: not a change")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn canvas() -> (Canvas, NoteId) {
        let mut c = Canvas::create("Ops", "ana", NOW).unwrap();
        let n = c.add_note(Section::Now, "first", &[], "ana", NOW).unwrap();
        (c, n)
    }

    fn run(c: &mut Canvas, msg: &str) -> Result<Value> {
        let (_, op) = parse(msg);
        apply(c, &op?, "ana", NOW)
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            "",
            "nope",
            "[]",
            "42",
            "{}",
            r#"{"op":"explode"}"#,
            r#"{"op":"add"}"#,
            r#"{"op":"add","section":"now","text":"x","extra":1}"#,
            r#"{"op":"mark","note":7,"status":"validated"}"#,
        ] {
            assert!(parse(bad).1.is_err(), "{bad}");
        }
        let (reference, op) = parse(r#"{"op":"history","ref":9}"#);
        assert_eq!(reference, Some(9));
        assert!(matches!(op.unwrap(), Op::History));
    }

    #[test]
    fn changes_go_through_the_canvas_api() {
        let (mut c, n) = canvas();
        let added = run(
            &mut c,
            r#"{"op":"add","section":"to-be","text":"second","tags":["x"]}"#,
        )
        .unwrap();
        let second = NoteId::from(added["note"].as_str().unwrap());
        run(
            &mut c,
            &format!(r#"{{"op":"move","note":"{n}","section":"to-be","before":"{second}"}}"#),
        )
        .unwrap();
        let texts: Vec<String> = c
            .section_notes(Section::ToBe)
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts, ["first", "second"]);
        run(
            &mut c,
            &format!(r#"{{"op":"mark","note":"{n}","status":"validated"}}"#),
        )
        .unwrap();
        run(
            &mut c,
            &format!(r#"{{"op":"vote","note":"{n}","on":true}}"#),
        )
        .unwrap();
        assert_eq!(c.note(&n).unwrap().votes, ["ana"]);
        run(
            &mut c,
            &format!(r#"{{"op":"edit","note":"{n}","text":"first edit","base":"first"}}"#),
        )
        .unwrap();
        assert_eq!(c.note(&n).unwrap().text, "first edit");
        run(&mut c, &format!(r#"{{"op":"trash","note":"{n}"}}"#)).unwrap();
        let err = run(
            &mut c,
            &format!(r#"{{"op":"edit","note":"{n}","text":"x"}}"#),
        )
        .unwrap_err();
        assert!(err.to_string().contains("in the trash"), "{err}");
        run(&mut c, &format!(r#"{{"op":"restore","note":"{n}"}}"#)).unwrap();
        assert!(!c.note(&n).unwrap().is_trashed());
    }

    #[test]
    fn bad_input_changes_nothing() {
        let (mut c, n) = canvas();
        let heads = c.doc_mut().get_heads();
        let long = "x".repeat(MAX_TEXT + 1);
        let err = run(
            &mut c,
            &format!(r#"{{"op":"add","section":"now","text":"{long}"}}"#),
        )
        .unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
        assert!(run(&mut c, r#"{"op":"edit","note":"nosuchnote","text":"x"}"#).is_err());
        assert!(run(&mut c, r#"{"op":"add","section":"nowhere","text":"x"}"#).is_err());
        assert!(run(
            &mut c,
            &format!(r#"{{"op":"mark","note":"{n}","status":"maybe"}}"#)
        )
        .is_err());
        assert!(run(&mut c, r#"{"op":"add","section":"now","text":"   "}"#).is_err());
        assert_eq!(c.doc_mut().get_heads(), heads);
    }
}
