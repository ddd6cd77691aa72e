//! What people attach to notes: links between notes, outcome ratings,
//! dot-votes and comments. Each lives in a map on the note keyed by the
//! other note, the person or a random id, so concurrent additions merge.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};

use super::interviews::non_empty;
use super::{excerpt, Canvas};
use crate::coverage::LinkKind;
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_map, put_text};
use crate::id;
use crate::note::NoteId;
use crate::section::Group;

/// The range of importance and satisfaction ratings.
pub const RATING_RANGE: std::ops::RangeInclusive<i64> = 1..=10;

impl Canvas {
    /// Links note `from` to note `to` (`from.links[to] = kind`), replacing
    /// any earlier kind of that link. Both must be live notes.
    pub fn link(&mut self, from: &NoteId, kind: LinkKind, to: &NoteId, now_ms: i64) -> Result<()> {
        if from == to {
            return Err(CanvasError::SelfLink);
        }
        self.live_note(from)?;
        self.live_note(to)?;
        let section = |id: &NoteId| self.note(id).map(|n| n.section);
        if let (Some(from), Some(to)) = (section(from), section(to)) {
            if !kind.allows(from, to) {
                return Err(CanvasError::LinkDirection { kind, from, to });
            }
        }
        if self
            .note(from)
            .and_then(|n| n.links.get(to.as_str()).cloned())
            .as_deref()
            == Some(kind.as_str())
        {
            return Ok(());
        }
        let note = self.note_obj(from)?;
        self.write(now_ms, |doc| {
            let links = ensure_map(doc, &note, "links")?;
            doc.put(&links, to.as_str(), kind.as_str())?;
            let message = format!("link note {} {kind} {}", from.short(), to.short());
            Ok(((), message))
        })
    }

    /// Removes the link from `from` to `to`; returns whether there was one.
    pub fn unlink(&mut self, from: &NoteId, to: &NoteId, now_ms: i64) -> Result<bool> {
        let note = self.note_obj(from)?;
        let Some(links) = get_map(&self.doc, &note, "links") else {
            return Ok(false);
        };
        if self.doc.get(&links, to.as_str())?.is_none() {
            return Ok(false);
        }
        self.write(now_ms, |doc| {
            doc.delete(&links, to.as_str())?;
            let message = format!("unlink note {} from {}", from.short(), to.short());
            Ok((true, message))
        })
    }

    /// Records `person`'s rating of a success outcome (goal, hazard,
    /// problem): importance and/or satisfaction, each 1–10. A part not given
    /// keeps its earlier value. Ratings are stored per person, so everyone's
    /// merge.
    pub fn rate(
        &mut self,
        id: &NoteId,
        person: &str,
        importance: Option<i64>,
        satisfaction: Option<i64>,
        now_ms: i64,
    ) -> Result<()> {
        let person = non_empty(person, "the rater's name")?;
        for (what, value) in [("importance", importance), ("satisfaction", satisfaction)] {
            if let Some(given) = value.filter(|v| !RATING_RANGE.contains(v)) {
                return Err(CanvasError::RatingOutOfRange { what, given });
            }
        }
        let note = self
            .note(id)
            .ok_or_else(|| CanvasError::UnknownNote(id.to_string()))?;
        if note.section.group() != Group::Outcomes {
            return Err(CanvasError::NotAnOutcome {
                id: id.to_string(),
                section: note.section.id(),
            });
        }
        self.live_note(id)?;
        if importance.is_none() && satisfaction.is_none() {
            return Ok(());
        }
        let obj = self.note_obj(id)?;
        self.write(now_ms, |doc| {
            let ratings = ensure_map(doc, &obj, "ratings")?;
            let mine = ensure_map(doc, &ratings, person)?;
            let mut parts = Vec::new();
            if let Some(i) = importance {
                doc.put(&mine, "importance", i)?;
                parts.push(format!("importance {i}"));
            }
            if let Some(s) = satisfaction {
                doc.put(&mine, "satisfaction", s)?;
                parts.push(format!("satisfaction {s}"));
            }
            let message = format!("rate note {} {}", id.short(), parts.join(", "));
            Ok(((), message))
        })
    }

    /// Adds `person`'s dot-vote to a note; returns whether it was new.
    pub fn vote(&mut self, id: &NoteId, person: &str, now_ms: i64) -> Result<bool> {
        let person = non_empty(person, "the voter's name")?.to_string();
        let note = self
            .note(id)
            .ok_or_else(|| CanvasError::UnknownNote(id.to_string()))?;
        if note.votes.contains(&person) {
            return Ok(false);
        }
        let obj = self.note_obj(id)?;
        self.write(now_ms, |doc| {
            let votes = ensure_map(doc, &obj, "votes")?;
            doc.put(&votes, person.as_str(), true)?;
            Ok((true, format!("vote for note {}", id.short())))
        })
    }

    /// Takes back `person`'s vote; returns whether there was one.
    pub fn unvote(&mut self, id: &NoteId, person: &str, now_ms: i64) -> Result<bool> {
        let person = person.trim().to_string();
        let obj = self.note_obj(id)?;
        let Some(votes) = get_map(&self.doc, &obj, "votes") else {
            return Ok(false);
        };
        if self.doc.get(&votes, person.as_str())?.is_none() {
            return Ok(false);
        }
        self.write(now_ms, |doc| {
            doc.delete(&votes, person.as_str())?;
            Ok((true, format!("unvote note {}", id.short())))
        })
    }

    /// Adds a comment to a note and returns its id.
    pub fn add_comment(
        &mut self,
        id: &NoteId,
        text: &str,
        author: &str,
        now_ms: i64,
    ) -> Result<String> {
        let text = non_empty(text, "the comment")?;
        let obj = self.note_obj(id)?;
        let taken: Vec<String> = self
            .note(id)
            .map(|n| n.comments.into_iter().map(|c| c.id).collect())
            .unwrap_or_default();
        let mut key = id::random();
        while taken.contains(&key) {
            key = id::random();
        }
        self.write(now_ms, |doc| {
            let comments = ensure_map(doc, &obj, "comments")?;
            let c = doc.put_object(&comments, key.as_str(), ObjType::Map)?;
            doc.put(&c, "author", author.trim())?;
            doc.put(&c, "at", now_ms)?;
            put_text(doc, &c, "text", text)?;
            doc.put(&c, "resolved", false)?;
            let message = format!("comment on note {}: \"{}\"", id.short(), excerpt(text));
            Ok((key.clone(), message))
        })
    }

    /// Marks a comment resolved (the discussion is closed).
    pub fn resolve_comment(&mut self, note: &NoteId, comment: &str, now_ms: i64) -> Result<()> {
        self.set_resolved(note, comment, true, now_ms)
    }

    /// Opens a resolved comment again.
    pub fn reopen_comment(&mut self, note: &NoteId, comment: &str, now_ms: i64) -> Result<()> {
        self.set_resolved(note, comment, false, now_ms)
    }

    fn set_resolved(
        &mut self,
        note: &NoteId,
        comment: &str,
        resolved: bool,
        now_ms: i64,
    ) -> Result<()> {
        let obj = self.note_obj(note)?;
        let current = self
            .note(note)
            .and_then(|n| n.comments.into_iter().find(|c| c.id == comment));
        let Some(current) = current else {
            return Err(CanvasError::UnknownId {
                kind: "comment",
                given: comment.to_string(),
            });
        };
        if current.resolved == resolved {
            return Ok(());
        }
        let comments = get_map(&self.doc, &obj, "comments").expect("the comment was read from it");
        self.write(now_ms, |doc| {
            let c = ensure_map(doc, &comments, comment)?;
            doc.put(&c, "resolved", resolved)?;
            let verb = if resolved { "resolve" } else { "reopen" };
            Ok(((), format!("{verb} comment on note {}", note.short())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Section;

    const T0: i64 = 1_700_000_000_000;

    fn canvas() -> (Canvas, NoteId, NoteId) {
        let mut c = Canvas::create("Annotations", "ana", T0).unwrap();
        let a = c
            .add_note(Section::Design, "Auto reminders", &[], "ana", T0)
            .unwrap();
        let b = c
            .add_note(
                Section::Constraint,
                "Fears upsetting clients",
                &[],
                "ana",
                T0,
            )
            .unwrap();
        (c, a, b)
    }

    #[test]
    fn links_are_set_replaced_and_removed() {
        let (mut c, a, b) = canvas();
        c.link(&a, LinkKind::Relates, &b, T0).unwrap();
        c.link(&a, LinkKind::Addresses, &b, T0).unwrap();
        assert_eq!(c.note(&a).unwrap().links[b.as_str()], "addresses");
        let heads = c.doc_mut().get_heads();
        c.link(&a, LinkKind::Addresses, &b, T0).unwrap();
        assert_eq!(c.doc_mut().get_heads(), heads, "same link: no change");
        assert!(matches!(
            c.link(&a, LinkKind::Causes, &a, T0),
            Err(CanvasError::SelfLink)
        ));
        assert!(matches!(
            c.link(&a, LinkKind::Causes, &NoteId::from("nothere"), T0),
            Err(CanvasError::UnknownNote(_))
        ));
        assert!(c.unlink(&a, &b, T0).unwrap());
        assert!(!c.unlink(&a, &b, T0).unwrap());
        assert!(c.note(&a).unwrap().links.is_empty());
    }

    #[test]
    fn ratings_are_per_person_checked_and_partial() {
        let (mut c, a, _) = canvas();
        let goal = c
            .add_note(Section::Goal, "Paid within 30 days", &[], "ana", T0)
            .unwrap();
        c.rate(&goal, "ana", Some(9), Some(3), T0).unwrap();
        c.rate(&goal, "bo", Some(7), None, T0).unwrap();
        c.rate(&goal, "ana", None, Some(4), T0).unwrap();
        let ratings = c.note(&goal).unwrap().ratings;
        assert_eq!(
            (ratings["ana"].importance, ratings["ana"].satisfaction),
            (Some(9), Some(4))
        );
        assert_eq!(
            (ratings["bo"].importance, ratings["bo"].satisfaction),
            (Some(7), None)
        );

        let heads = c.doc_mut().get_heads();
        let err = c.rate(&goal, "ana", Some(11), None, T0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "importance must be a whole number from 1 to 10, got 11"
        );
        assert!(matches!(
            c.rate(&goal, "ana", Some(5), Some(0), T0),
            Err(CanvasError::RatingOutOfRange {
                what: "satisfaction",
                given: 0
            })
        ));
        assert!(matches!(
            c.rate(&a, "ana", Some(5), None, T0),
            Err(CanvasError::NotAnOutcome { .. })
        ));
        assert_eq!(c.doc_mut().get_heads(), heads);
    }

    #[test]
    fn votes_are_one_per_person() {
        let (mut c, a, _) = canvas();
        assert!(c.vote(&a, "ana", T0).unwrap());
        assert!(!c.vote(&a, "ana", T0).unwrap());
        assert!(c.vote(&a, "bo", T0).unwrap());
        assert_eq!(c.note(&a).unwrap().votes, ["ana", "bo"]);
        assert!(c.unvote(&a, "ana", T0).unwrap());
        assert!(!c.unvote(&a, "ana", T0).unwrap());
        assert_eq!(c.note(&a).unwrap().votes, ["bo"]);
        assert!(matches!(c.vote(&a, " ", T0), Err(CanvasError::Empty(_))));
        assert!(c.vote(&NoteId::from("nothere"), "ana", T0).is_err());
    }

    #[test]
    fn comments_are_added_resolved_and_reopened() {
        let (mut c, a, _) = canvas();
        let first = c.add_comment(&a, "Is this real?", "bo", T0).unwrap();
        let second = c.add_comment(&a, "Asked Maria", "ana", T0 + 1).unwrap();
        assert!(matches!(
            c.add_comment(&a, "", "ana", T0),
            Err(CanvasError::Empty(_))
        ));
        c.resolve_comment(&a, &first, T0 + 2).unwrap();
        let comments = c.note(&a).unwrap().comments;
        assert_eq!(comments.len(), 2);
        assert_eq!(
            (comments[0].id.as_str(), comments[0].resolved),
            (first.as_str(), true)
        );
        assert_eq!(comments[0].author, "bo");
        assert_eq!(
            (comments[1].id.as_str(), comments[1].resolved),
            (second.as_str(), false)
        );
        c.reopen_comment(&a, &first, T0 + 3).unwrap();
        assert!(!c.note(&a).unwrap().comments[0].resolved);
        assert!(matches!(
            c.resolve_comment(&a, "nothere", T0),
            Err(CanvasError::UnknownId {
                kind: "comment",
                ..
            })
        ));
    }

    #[test]
    fn concurrent_votes_comments_and_ratings_merge() {
        let (mut a, note, _) = canvas();
        let goal = a
            .add_note(Section::Goal, "Paid on time", &[], "ana", T0)
            .unwrap();
        let mut b = a.fork();
        a.vote(&note, "ana", T0).unwrap();
        b.vote(&note, "bo", T0).unwrap();
        a.add_comment(&note, "from ana", "ana", T0).unwrap();
        b.add_comment(&note, "from bo", "bo", T0).unwrap();
        a.rate(&goal, "ana", Some(8), Some(2), T0).unwrap();
        b.rate(&goal, "bo", Some(6), Some(5), T0).unwrap();
        a.merge(&mut b).unwrap();
        let n = a.note(&note).unwrap();
        assert_eq!(n.votes, ["ana", "bo"]);
        assert_eq!(n.comments.len(), 2);
        assert_eq!(a.note(&goal).unwrap().ratings.len(), 2);
    }
}
