//! Editing, removing and erasing interviews. Interviewees are personal
//! data: an interview goes to the trash (restorable) and can be erased,
//! which removes its personal text from the current document for good
//! (docs/research-workflow.md says what Automerge history still holds).

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};

use super::interviews::non_empty;
use super::Canvas;
use crate::error::{CanvasError, Result};
use crate::field::{get_int, get_map, put_text};
use crate::interview::InterviewId;
use crate::time;

/// What [`Canvas::purge_interview`] erased.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    /// The interview.
    pub interview: String,
    /// Transcript lines erased.
    pub transcript_lines: usize,
    /// Findings whose quote (and interpretation) were erased; their links
    /// stay, as evidence from an interviewee nobody can name.
    pub quotes: usize,
}

impl Canvas {
    /// Changes an interview's interviewee, customer type or date (`None`
    /// leaves a field as it is). Returns false when nothing changed.
    pub fn edit_interview(
        &mut self,
        id: &InterviewId,
        interviewee: Option<&str>,
        customer_type: Option<&str>,
        date: Option<&str>,
        now_ms: i64,
    ) -> Result<bool> {
        let obj = self.live_interview_obj(id)?;
        let current = self.interview(id).expect("a live interview");
        let interviewee = match interviewee {
            Some(_) if current.is_purged() => {
                return Err(CanvasError::InterviewPurged(id.to_string()))
            }
            Some(name) => Some(non_empty(name, "the interviewee's name")?),
            None => None,
        };
        let date = match date.map(str::trim) {
            Some(d) => {
                time::parse_date(d).ok_or_else(|| CanvasError::InvalidDate(d.to_string()))?;
                Some(d)
            }
            None => None,
        };
        let customer_type = customer_type.map(str::trim);
        let changed = interviewee.is_some_and(|n| n != current.interviewee.trim())
            || customer_type.is_some_and(|t| t != current.customer_type)
            || date.is_some_and(|d| d != current.date);
        if !changed {
            return Ok(false);
        }
        self.write(now_ms, |doc| {
            if let Some(name) = interviewee {
                put_text(doc, &obj, "interviewee", name)?;
            }
            if let Some(t) = customer_type {
                doc.put(&obj, "customer_type", t)?;
            }
            if let Some(d) = date {
                doc.put(&obj, "date", d)?;
            }
            Ok((true, format!("edit interview {}", id.short())))
        })
    }

    /// Moves an interview to the trash: its findings stop counting as
    /// evidence and exports leave it out, until it is restored. Already in
    /// the trash: nothing changes.
    pub fn trash_interview(&mut self, id: &InterviewId, now_ms: i64) -> Result<()> {
        let obj = self.interview_obj(id)?;
        if get_int(&self.doc, &obj, "trashed_at").is_some() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            doc.put(&obj, "trashed_at", now_ms)?;
            Ok(((), format!("trash interview {}", id.short())))
        })
    }

    /// Takes an interview out of the trash.
    pub fn restore_interview(&mut self, id: &InterviewId, now_ms: i64) -> Result<()> {
        let obj = self.interview_obj(id)?;
        if get_int(&self.doc, &obj, "trashed_at").is_none() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            doc.put(&obj, "trashed_at", automerge::ScalarValue::Null)?;
            Ok(((), format!("restore interview {}", id.short())))
        })
    }

    /// Erases an interview's personal text — the interviewee's name, the
    /// transcript, and the quotes and interpretations of its findings — from
    /// the current document, and marks it erased so that nothing merged
    /// into it later (from a note-taker who had not seen the erasure) is
    /// read or exported. The interview's date, customer type, questions and
    /// its findings' links stay: the evidence still counts, from an
    /// interviewee nobody can name. The change cannot be undone.
    pub fn purge_interview(&mut self, id: &InterviewId, now_ms: i64) -> Result<Purged> {
        let obj = self.interview_obj(id)?;
        let before = self.interview(id).expect("an interview");
        let raw = self.raw_personal_text(id);
        let purged = Purged {
            interview: id.to_string(),
            transcript_lines: raw.0,
            quotes: raw.1,
        };
        if before.is_purged() && raw == (0, 0, false) {
            return Ok(purged);
        }
        let findings: Vec<String> = get_map(&self.doc, &obj, "findings")
            .map(|m| self.doc.keys(&m).collect())
            .unwrap_or_default();
        self.write(now_ms, |doc| {
            // Fresh objects rather than emptied ones: characters a peer
            // inserts concurrently into the old Text stay out of the
            // current document.
            doc.put_object(&obj, "interviewee", ObjType::Text)?;
            doc.put_object(&obj, "transcript", ObjType::Text)?;
            if let Some(map) = get_map(doc, &obj, "findings") {
                for key in &findings {
                    if let Some(f) = get_map(doc, &map, key) {
                        doc.put_object(&f, "text", ObjType::Text)?;
                        if doc.get(&f, "interpretation")?.is_some() {
                            doc.put_object(&f, "interpretation", ObjType::Text)?;
                        }
                    }
                }
            }
            if get_int(doc, &obj, "purged_at").is_none() {
                doc.put(&obj, "purged_at", now_ms)?;
            }
            Ok(((), format!("erase interview {}", id.short())))
        })?;
        Ok(purged)
    }

    /// (transcript lines, quotes or interpretations, whether a name is
    /// left) as the document holds them, whatever the erased flag says.
    fn raw_personal_text(&self, id: &InterviewId) -> (usize, usize, bool) {
        use crate::field::get_string;
        let Ok(obj) = self.interview_obj(id) else {
            return (0, 0, false);
        };
        let doc = &self.doc;
        let lines = get_string(doc, &obj, "transcript")
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
            .unwrap_or(0);
        let quotes = get_map(doc, &obj, "findings")
            .map(|m| {
                doc.keys(&m)
                    .filter_map(|k| get_map(doc, &m, &k))
                    .filter(|f| {
                        ["text", "interpretation"]
                            .iter()
                            .any(|k| get_string(doc, f, k).is_some_and(|t| !t.trim().is_empty()))
                    })
                    .count()
            })
            .unwrap_or(0);
        let named = get_string(doc, &obj, "interviewee").is_some_and(|n| !n.trim().is_empty());
        (lines, quotes, named)
    }
}
