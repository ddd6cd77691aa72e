//! Interviews and the findings they produce (DESIGN §3 `interviews`).
//!
//! ```text
//! Interview
//!   interviewee Text, customer_type, date "YYYY-MM-DD", questions [Text],
//!   transcript Text, author, created_at,
//!   trashed_at null|ms            soft removal: restorable
//!   purged_at  null|ms            personal text erased (see Canvas::purge_interview)
//!   findings { <finding-id>: { text: Text (the verbatim quote), author, at,
//!                              interpretation: Text (optional),
//!                              note: <note-id>|null,
//!                              effect: "supports"|"contradicts"|"new",
//!                              links: { <note-id>: "supports"|"contradicts" } } }
//! ```
//!
//! `note`/`effect` are the finding's first link, as documents before
//! `links` existed hold it (and as older readers still read it); `links`
//! holds every link, so one quote can back one note and go against
//! another. A reader takes the union: `note`/`effect` first, then the other
//! keys of `links` (docs/export-format.md).
//!
//! Everything people add to an interview merges: findings live in a map
//! keyed by random ids, questions in a list (concurrent additions both
//! stay), and the transcript is a `Text` that note-takers append to, so two
//! people writing down the same conversation keep both their lines.

use std::fmt;
use std::str::FromStr;

use automerge::{ObjId, ObjType, ReadDoc, Value};

use crate::error::CanvasError;
use crate::field::{get_int, get_map, get_string, string_of};
use crate::id::string_id;
use crate::note::NoteId;

string_id!(
    /// The id of an interview: its key in the document's `interviews` map.
    InterviewId
);

string_id!(
    /// The id of a finding: its key in its interview's `findings` map.
    /// Unique across the canvas, so a finding is named without its interview.
    FindingId
);

/// What a finding says about a note.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// The interview backs the note up.
    Supports,
    /// The interview goes against the note.
    Contradicts,
    /// Something not on the canvas yet (with a note when one was made from it).
    #[default]
    New,
}

impl Effect {
    /// Every effect.
    pub const ALL: [Effect; 3] = [Effect::Supports, Effect::Contradicts, Effect::New];

    /// The string stored in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Supports => "supports",
            Effect::Contradicts => "contradicts",
            Effect::New => "new",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = CanvasError;
    fn from_str(s: &str) -> Result<Effect, CanvasError> {
        Effect::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| CanvasError::NotAnExport(format!("unknown finding effect {s:?}")))
    }
}

/// What a new finding is evidence for (see [`Canvas::add_finding`](crate::Canvas::add_finding)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingTarget {
    /// An observation not tied to a note yet (effect `new`, no note).
    Unattached,
    /// Backs up this note.
    Supports(NoteId),
    /// Goes against this note.
    Contradicts(NoteId),
    /// Becomes a new hypothesis note in this section, linked to the finding
    /// (effect `new`).
    NewNote(crate::Section),
}

/// One note a finding is evidence about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FindingLink {
    /// The note.
    pub note: NoteId,
    /// `Supports`, `Contradicts`, or `New` for the note made from the
    /// finding (which counts as support: it was observed).
    pub effect: Effect,
}

/// One finding: something learnt in an interview, as evidence for or
/// against notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Its id.
    pub id: FindingId,
    /// The interview it came from.
    pub interview: InterviewId,
    /// What was said, verbatim (for findings written before quotes and
    /// interpretations were told apart: what was learnt).
    pub text: String,
    /// What the team makes of it (empty when none was given).
    pub interpretation: String,
    /// Every note it is evidence about: the first link (`note`, `effect`)
    /// first, then the others by note id.
    pub links: Vec<FindingLink>,
    /// Who wrote it down.
    pub author: String,
    /// When (ms since the epoch; 0 when unknown).
    pub at: i64,
    /// The first note it is evidence about, if any (`links[0]`).
    pub note: Option<NoteId>,
    /// What it says about that note (`New` when there is none).
    pub effect: Effect,
}

impl Finding {
    /// What the finding says about `note`, if it is linked to it.
    pub fn effect_on(&self, note: &NoteId) -> Option<Effect> {
        self.links
            .iter()
            .find(|l| l.note == *note)
            .map(|l| l.effect)
    }
}

/// An interview with a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interview {
    /// Its id.
    pub id: InterviewId,
    /// Who was interviewed (personal data: see `export --anonymise`).
    pub interviewee: String,
    /// Their customer type: "user", "buyer", "support" or free text.
    pub customer_type: String,
    /// The day of the interview, `YYYY-MM-DD`.
    pub date: String,
    /// The questions prepared for it, in order.
    pub questions: Vec<String>,
    /// The notes taken during it.
    pub transcript: String,
    /// Who created the interview.
    pub author: String,
    /// When it was created (ms since the epoch; 0 when unknown).
    pub created_at: i64,
    /// Its findings, oldest first.
    pub findings: Vec<Finding>,
    /// When it was moved to the trash (soft removal), if it is there.
    pub trashed_at: Option<i64>,
    /// When its personal text was erased, if it was.
    pub purged_at: Option<i64>,
}

impl Interview {
    /// Reads the interview stored in map `obj` under `id`.
    pub(crate) fn read<R: ReadDoc>(doc: &R, id: &str, obj: &ObjId) -> Interview {
        let interview = InterviewId::from(id);
        let read = Interview {
            interviewee: get_string(doc, obj, "interviewee").unwrap_or_default(),
            customer_type: get_string(doc, obj, "customer_type").unwrap_or_default(),
            date: get_string(doc, obj, "date").unwrap_or_default(),
            questions: read_list(doc, obj, "questions"),
            transcript: get_string(doc, obj, "transcript").unwrap_or_default(),
            author: get_string(doc, obj, "author").unwrap_or_default(),
            created_at: get_int(doc, obj, "created_at").unwrap_or(0),
            findings: read_findings(doc, obj, &interview),
            trashed_at: get_int(doc, obj, "trashed_at"),
            purged_at: get_int(doc, obj, "purged_at"),
            id: interview,
        };
        read.erased()
    }

    /// Once erased, an interview reads without its personal text whatever
    /// the document holds: a note-taker who had not seen the erasure may
    /// still merge a line or a quote into it.
    fn erased(mut self) -> Interview {
        if self.is_purged() {
            self.interviewee.clear();
            self.transcript.clear();
            for f in &mut self.findings {
                f.text.clear();
                f.interpretation.clear();
            }
        }
        self
    }

    /// Whether it is in the trash.
    pub fn is_trashed(&self) -> bool {
        self.trashed_at.is_some()
    }

    /// Whether its personal text was erased.
    pub fn is_purged(&self) -> bool {
        self.purged_at.is_some()
    }

    /// Who the findings of this interview count as, when distinct
    /// interviewees are counted: the [person key](Interview::person_key),
    /// or — for an erased or nameless interview — the interview itself.
    pub(crate) fn evidence_key(&self) -> String {
        match self.person_key() {
            k if k.is_empty() => format!("#{}", self.id),
            k => k,
        }
    }

    /// The interviewee's name as shown beside evidence.
    pub fn display_name(&self) -> String {
        match self.interviewee.trim() {
            "" if self.is_purged() => format!("(erased interviewee {})", self.id.short()),
            "" => format!("(unnamed interviewee {})", self.id.short()),
            name => name.to_string(),
        }
    }

    /// A normalised form of the interviewee's name, so "Maria  Lopez" and
    /// "maria lopez" count as one person.
    pub fn person_key(&self) -> String {
        person_key(&self.interviewee)
    }
}

/// Lowercase, whitespace collapsed: the key distinct interviewees are
/// counted by.
pub(crate) fn person_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The strings of a list of `Text`s (or scalar strings).
fn read_list<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Vec<String> {
    let list = match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::List), id))) => id,
        _ => return Vec::new(),
    };
    (0..doc.length(&list))
        .filter_map(|i| {
            let (value, id) = doc.get(&list, i).ok()??;
            string_of(doc, &value, &id)
        })
        .collect()
}

fn read_findings<R: ReadDoc>(doc: &R, interview: &ObjId, id: &InterviewId) -> Vec<Finding> {
    let Some(map) = get_map(doc, interview, "findings") else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = doc
        .keys(&map)
        .filter_map(|k| {
            let obj = get_map(doc, &map, &k)?;
            let note = get_string(doc, &obj, "note")
                .filter(|n| !n.is_empty())
                .map(NoteId::from);
            let effect = get_string(doc, &obj, "effect")
                .and_then(|e| e.parse().ok())
                .unwrap_or_default();
            let mut links: Vec<FindingLink> = note
                .iter()
                .map(|n| FindingLink {
                    note: n.clone(),
                    effect,
                })
                .collect();
            if let Some(more) = get_map(doc, &obj, "links") {
                for key in doc.keys(&more) {
                    let stance = get_string(doc, &more, &key).and_then(|e| e.parse().ok());
                    // Only supports/contradicts belong in `links`; a note
                    // made from the finding is its `note` with effect new.
                    let Some(effect @ (Effect::Supports | Effect::Contradicts)) = stance else {
                        continue;
                    };
                    if key.is_empty() || note.as_ref().map(NoteId::as_str) == Some(key.as_str()) {
                        continue;
                    }
                    links.push(FindingLink {
                        note: NoteId::from(key),
                        effect,
                    });
                }
            }
            let (note, effect) = match links.first() {
                Some(l) => (Some(l.note.clone()), l.effect),
                None => (None, Effect::New),
            };
            Some(Finding {
                interview: id.clone(),
                text: get_string(doc, &obj, "text").unwrap_or_default(),
                interpretation: get_string(doc, &obj, "interpretation").unwrap_or_default(),
                links,
                author: get_string(doc, &obj, "author").unwrap_or_default(),
                at: get_int(doc, &obj, "at").unwrap_or(0),
                note,
                effect,
                id: FindingId::from(k),
            })
        })
        .collect();
    findings.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ScalarValue, ROOT};

    /// An interview as another client may write it: scalar strings, F64
    /// times, a text question, unknown effects and fields.
    #[test]
    fn reads_a_hand_written_interview() {
        let mut doc = AutoCommit::new();
        let i = doc.put_object(&ROOT, "i", ObjType::Map).unwrap();
        doc.put(&i, "interviewee", "Maria Lopez").unwrap();
        doc.put(&i, "date", "2024-05-17").unwrap();
        doc.put(&i, "created_at", ScalarValue::F64(5.0)).unwrap();
        let q = doc.put_object(&i, "questions", ObjType::List).unwrap();
        doc.insert(&q, 0, "plain?").unwrap();
        let t = doc.insert_object(&q, 1, ObjType::Text).unwrap();
        doc.splice_text(&t, 0, 0, "text?").unwrap();
        let f = doc.put_object(&i, "findings", ObjType::Map).unwrap();
        let a = doc.put_object(&f, "f2", ObjType::Map).unwrap();
        doc.put(&a, "text", "second").unwrap();
        doc.put(&a, "at", 2).unwrap();
        doc.put(&a, "note", ScalarValue::Null).unwrap();
        doc.put(&a, "effect", "someday").unwrap();
        let b = doc.put_object(&f, "f1", ObjType::Map).unwrap();
        doc.put(&b, "text", "first").unwrap();
        doc.put(&b, "at", 1).unwrap();
        doc.put(&b, "note", "n1").unwrap();
        doc.put(&b, "effect", "contradicts").unwrap();

        let interview = Interview::read(&doc, "i", &i);
        assert_eq!(interview.interviewee, "Maria Lopez");
        assert_eq!(interview.person_key(), "maria lopez");
        assert_eq!(interview.created_at, 5);
        assert_eq!(interview.questions, ["plain?", "text?"]);
        assert_eq!(interview.transcript, "");
        let texts: Vec<&str> = interview.findings.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["first", "second"]);
        assert_eq!(interview.findings[0].note, Some(NoteId::from("n1")));
        assert_eq!(interview.findings[0].effect, Effect::Contradicts);
        assert_eq!(interview.findings[1].note, None);
        assert_eq!(interview.findings[1].effect, Effect::New);
        assert_eq!(interview.findings[1].interview, InterviewId::from("i"));
    }

    #[test]
    fn person_keys_ignore_case_and_spacing() {
        assert_eq!(person_key("  Maria\tLOPEZ "), "maria lopez");
        assert_eq!("supports".parse::<Effect>().unwrap(), Effect::Supports);
        assert!("maybe".parse::<Effect>().is_err());
    }
}
