//! Findings as evidence: a verbatim quote and an optional interpretation,
//! linked to one or several notes (each link supports or contradicts), or
//! made into a new note.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ScalarValue, ROOT};

use super::interviews::non_empty;
use super::{excerpt, Canvas};
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_int, get_map, put_text};
use crate::interview::{Effect, FindingId, FindingLink, FindingTarget, InterviewId};
use crate::note::NoteId;
use crate::section::Section;

/// A finding to record with [`Canvas::record_finding`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewFinding {
    /// What was said, verbatim.
    pub quote: String,
    /// What the team makes of it (empty: none).
    pub interpretation: String,
    /// The notes it is evidence about, each `Supports` or `Contradicts`.
    pub links: Vec<(NoteId, Effect)>,
    /// Also make the quote a new hypothesis note in this section, linked
    /// to the finding (it counts as support: it was observed).
    pub new_note: Option<Section>,
}

impl NewFinding {
    /// A finding of `quote` and nothing else.
    pub fn quote(quote: &str) -> NewFinding {
        NewFinding {
            quote: quote.to_string(),
            ..NewFinding::default()
        }
    }

    /// The same finding, also supporting `note`.
    pub fn supports(mut self, note: NoteId) -> NewFinding {
        self.links.push((note, Effect::Supports));
        self
    }

    /// The same finding, also contradicting `note`.
    pub fn contradicts(mut self, note: NoteId) -> NewFinding {
        self.links.push((note, Effect::Contradicts));
        self
    }
}

impl Canvas {
    /// Records a finding of an interview (see [`Canvas::record_finding`]):
    /// one target, as the command line took it before findings had several
    /// links. Returns the finding's id and the note it is about (made or
    /// linked), if any.
    pub fn add_finding(
        &mut self,
        interview: &InterviewId,
        text: &str,
        target: FindingTarget,
        author: &str,
        now_ms: i64,
    ) -> Result<(FindingId, Option<NoteId>)> {
        let finding = NewFinding::quote(text);
        let finding = match target {
            FindingTarget::Unattached => finding,
            FindingTarget::Supports(n) => finding.supports(n),
            FindingTarget::Contradicts(n) => finding.contradicts(n),
            FindingTarget::NewNote(section) => NewFinding {
                new_note: Some(section),
                ..finding
            },
        };
        let first = finding.links.first().map(|(n, _)| n.clone());
        let (id, made) = self.record_finding(interview, &finding, author, now_ms)?;
        Ok((id, made.or(first)))
    }

    /// Records a finding of an interview as evidence, in one change: its
    /// quote, interpretation and links, and — with `new_note` — the note
    /// made from the quote, whose id is returned alongside the finding's.
    /// Every linked note must exist and not be in the trash; a note linked
    /// twice the same way counts once, both ways is refused.
    pub fn record_finding(
        &mut self,
        interview: &InterviewId,
        finding: &NewFinding,
        author: &str,
        now_ms: i64,
    ) -> Result<(FindingId, Option<NoteId>)> {
        let quote = non_empty(&finding.quote, "the finding's quote")?.to_string();
        let interpretation = finding.interpretation.trim().to_string();
        let obj = self.live_interview_obj(interview)?;
        if get_int(&self.doc, &obj, "purged_at").is_some() {
            return Err(CanvasError::InterviewPurged(interview.to_string()));
        }
        let links = self.checked_links(&finding.links)?;
        let new_note = match finding.new_note {
            Some(section) => Some(self.prepare_note(section, &quote, &[])?),
            None => None,
        };
        let taken: Vec<String> = self
            .all_interviews()
            .into_iter()
            .flat_map(|i| i.findings)
            .map(|f| f.id.to_string())
            .collect();
        let mut id = FindingId::random();
        while taken.iter().any(|t| t == id.as_str()) {
            id = FindingId::random();
        }
        self.write(now_ms, |doc| {
            let made = match &new_note {
                Some(new) => Some(new.insert(doc, author, now_ms)?),
                None => None,
            };
            let findings = ensure_map(doc, &obj, "findings")?;
            let f = doc.put_object(&findings, id.as_str(), ObjType::Map)?;
            put_text(doc, &f, "text", &quote)?;
            if !interpretation.is_empty() {
                put_text(doc, &f, "interpretation", &interpretation)?;
            }
            doc.put(&f, "author", author.trim())?;
            doc.put(&f, "at", now_ms)?;
            // The first link also goes in note/effect, where readers that
            // predate `links` look for it.
            let primary = match (&made, links.first()) {
                (Some(n), _) => Some((n.clone(), Effect::New)),
                (None, Some((n, e))) => Some((n.clone(), *e)),
                (None, None) => None,
            };
            match &primary {
                Some((n, e)) => {
                    doc.put(&f, "note", n.as_str())?;
                    doc.put(&f, "effect", e.as_str())?;
                }
                None => {
                    doc.put(&f, "note", ScalarValue::Null)?;
                    doc.put(&f, "effect", Effect::New.as_str())?;
                }
            }
            let map = doc.put_object(&f, "links", ObjType::Map)?;
            for (note, effect) in &links {
                doc.put(&map, note.as_str(), effect.as_str())?;
            }
            let mut about: Vec<String> = Vec::new();
            if let Some(n) = &made {
                about.push(format!("new note {}", n.short()));
            }
            about.extend(links.iter().map(|(n, e)| format!("{e} {}", n.short())));
            let about = match about.is_empty() {
                true => String::new(),
                false => format!(" ({})", about.join(", ")),
            };
            let message = format!(
                "add finding {} to interview {}{about}: \"{}\"",
                id.short(),
                interview.short(),
                excerpt(&quote)
            );
            Ok(((id.clone(), made), message))
        })
    }

    /// Links a finding to one more note (or changes how it bears on a note
    /// it is linked to). Returns false, changing nothing, when it already
    /// says exactly that.
    pub fn link_finding(
        &mut self,
        id: &FindingId,
        note: &NoteId,
        effect: Effect,
        now_ms: i64,
    ) -> Result<bool> {
        let links = self.checked_links(&[(note.clone(), effect)])?;
        let (note, effect) = links.into_iter().next().expect("one link checked");
        let (finding, obj) = self.finding_obj(id)?;
        if finding.effect_on(&note) == Some(effect) {
            return Ok(false);
        }
        self.write(now_ms, |doc| {
            let map = ensure_map(doc, &obj, "links")?;
            doc.put(&map, note.as_str(), effect.as_str())?;
            if finding.note.is_none() || finding.note.as_ref() == Some(&note) {
                doc.put(&obj, "note", note.as_str())?;
                doc.put(&obj, "effect", effect.as_str())?;
            }
            let message = format!("finding {} {effect} {}", id.short(), note.short());
            Ok((true, message))
        })
    }

    /// Unlinks a finding from a note (the finding and the note stay).
    /// Returns false when they were not linked.
    pub fn unlink_finding(&mut self, id: &FindingId, note: &NoteId, now_ms: i64) -> Result<bool> {
        let (finding, obj) = self.finding_obj(id)?;
        if finding.effect_on(note).is_none() {
            return Ok(false);
        }
        let next: Option<FindingLink> = finding.links.iter().find(|l| l.note != *note).cloned();
        self.write(now_ms, |doc| {
            if let Some(map) = get_map(doc, &obj, "links") {
                doc.delete(&map, note.as_str())?;
            }
            if finding.note.as_ref() == Some(note) {
                match &next {
                    Some(l) => {
                        doc.put(&obj, "note", l.note.as_str())?;
                        doc.put(&obj, "effect", l.effect.as_str())?;
                    }
                    None => {
                        doc.put(&obj, "note", ScalarValue::Null)?;
                        doc.put(&obj, "effect", Effect::New.as_str())?;
                    }
                }
            }
            let message = format!("finding {} no longer about {}", id.short(), note.short());
            Ok((true, message))
        })
    }

    /// Sets (or, with empty text, clears) a finding's interpretation.
    pub fn interpret_finding(&mut self, id: &FindingId, text: &str, now_ms: i64) -> Result<()> {
        let (finding, obj) = self.finding_obj(id)?;
        let interview = self
            .interview(&finding.interview)
            .expect("the finding's interview");
        if interview.is_purged() {
            return Err(CanvasError::InterviewPurged(interview.id.to_string()));
        }
        let text = text.trim().to_string();
        self.write(now_ms, |doc| {
            put_text(doc, &obj, "interpretation", &text)?;
            Ok(((), format!("interpret finding {}", id.short())))
        })
    }

    /// Deletes a finding (a mistake); a note made from it stays.
    pub fn remove_finding(&mut self, id: &FindingId, now_ms: i64) -> Result<()> {
        let (finding, _) = self.finding_obj(id)?;
        let obj = self.interview_obj(&finding.interview)?;
        self.write(now_ms, |doc| {
            if let Some(findings) = get_map(doc, &obj, "findings") {
                doc.delete(&findings, id.as_str())?;
            }
            Ok(((), format!("remove finding {}", id.short())))
        })
    }

    /// A finding of a live interview and its map object.
    fn finding_obj(&self, id: &FindingId) -> Result<(crate::Finding, ObjId)> {
        let unknown = || CanvasError::UnknownId {
            kind: "finding",
            given: id.to_string(),
        };
        let finding = self
            .findings()
            .into_iter()
            .find(|f| f.id == *id)
            .ok_or_else(unknown)?;
        let obj = get_map(&self.doc, &ROOT, "interviews")
            .and_then(|m| get_map(&self.doc, &m, finding.interview.as_str()))
            .and_then(|i| get_map(&self.doc, &i, "findings"))
            .and_then(|f| get_map(&self.doc, &f, id.as_str()))
            .ok_or_else(unknown)?;
        Ok((finding, obj))
    }

    /// Links checked: live notes, supports or contradicts, each note once.
    fn checked_links(&self, links: &[(NoteId, Effect)]) -> Result<Vec<(NoteId, Effect)>> {
        let mut out: Vec<(NoteId, Effect)> = Vec::new();
        for (note, effect) in links {
            if !matches!(effect, Effect::Supports | Effect::Contradicts) {
                return Err(CanvasError::BadLinkEffect(effect.to_string()));
            }
            let note = self.live_note(note)?;
            match out.iter().find(|(n, _)| *n == note) {
                Some((_, e)) if e == effect => {}
                Some(_) => return Err(CanvasError::ConflictingLink(note.to_string())),
                None => out.push((note, *effect)),
            }
        }
        Ok(out)
    }
}
