//! Interviews: creating them, their questions, transcript and findings.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, Value, ROOT};

use super::{excerpt, Canvas};
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_int, get_map, get_string, put_text};
use crate::id;
use crate::interview::{Finding, FindingId, Interview, InterviewId};
use crate::note::NoteId;
use crate::time;

impl Canvas {
    /// Adds an interview with `interviewee` and returns its id. `date` is
    /// `YYYY-MM-DD` (default: the UTC day of `now_ms`); `customer_type` may
    /// be empty.
    pub fn add_interview(
        &mut self,
        interviewee: &str,
        customer_type: &str,
        date: Option<&str>,
        author: &str,
        now_ms: i64,
    ) -> Result<InterviewId> {
        let interviewee = non_empty(interviewee, "the interviewee's name")?;
        let date = match date.map(str::trim) {
            Some(d) => {
                time::parse_date(d).ok_or_else(|| CanvasError::InvalidDate(d.to_string()))?;
                d.to_string()
            }
            None => time::format_date(now_ms),
        };
        let mut id = InterviewId::random();
        while self.interview_obj(&id).is_ok() {
            id = InterviewId::random();
        }
        self.write(now_ms, |doc| {
            let interviews = ensure_map(doc, &ROOT, "interviews")?;
            let obj = doc.put_object(&interviews, id.as_str(), ObjType::Map)?;
            put_text(doc, &obj, "interviewee", interviewee)?;
            doc.put(&obj, "customer_type", customer_type.trim())?;
            doc.put(&obj, "date", date.as_str())?;
            doc.put_object(&obj, "questions", ObjType::List)?;
            put_text(doc, &obj, "transcript", "")?;
            doc.put_object(&obj, "findings", ObjType::Map)?;
            doc.put(&obj, "author", author.trim())?;
            doc.put(&obj, "created_at", now_ms)?;
            let message = format!("add interview {} on {date}", id.short());
            Ok((id.clone(), message))
        })
    }

    /// Every interview not in the trash, by date, then creation time, then
    /// id. Evidence, review, guides and exports see only these.
    pub fn interviews(&self) -> Vec<Interview> {
        let mut all = self.all_interviews();
        all.retain(|i| !i.is_trashed());
        all
    }

    /// Every interview, those in the trash too.
    pub fn all_interviews(&self) -> Vec<Interview> {
        let Some(map) = get_map(&self.doc, &ROOT, "interviews") else {
            return Vec::new();
        };
        let mut all: Vec<Interview> = self
            .doc
            .keys(&map)
            .filter_map(|k| {
                let obj = get_map(&self.doc, &map, &k)?;
                Some(Interview::read(&self.doc, &k, &obj))
            })
            .collect();
        all.sort_by(|a, b| (&a.date, a.created_at, &a.id).cmp(&(&b.date, b.created_at, &b.id)));
        all
    }

    /// The interview with this exact id (in the trash or not).
    pub fn interview(&self, id: &InterviewId) -> Option<Interview> {
        let obj = self.interview_obj(id).ok()?;
        Some(Interview::read(&self.doc, id.as_str(), &obj))
    }

    /// The id of the interview whose id is, or starts with, `prefix` (4+
    /// characters).
    pub fn resolve_interview(&self, prefix: &str) -> Result<InterviewId> {
        let keys = get_map(&self.doc, &ROOT, "interviews")
            .map(|m| self.doc.keys(&m).collect::<Vec<_>>())
            .unwrap_or_default();
        id::resolve("interview", prefix, keys).map(InterviewId::from)
    }

    /// Appends a question to an interview's list of questions.
    pub fn ask(&mut self, id: &InterviewId, question: &str, now_ms: i64) -> Result<()> {
        let question = non_empty(question, "the question")?.to_string();
        let obj = self.live_interview_obj(id)?;
        self.write(now_ms, |doc| {
            let list = ensure_list(doc, &obj, "questions")?;
            let end = doc.length(&list);
            let item = doc.insert_object(&list, end, ObjType::Text)?;
            doc.splice_text(&item, 0, 0, &question)?;
            let message = format!(
                "ask in interview {}: \"{}\"",
                id.short(),
                excerpt(&question)
            );
            Ok(((), message))
        })
    }

    /// Appends the questions the interview does not already hold (a guide
    /// stored twice adds nothing); returns how many were added. Nothing to
    /// add: nothing changes.
    pub fn add_questions(
        &mut self,
        id: &InterviewId,
        questions: &[String],
        now_ms: i64,
    ) -> Result<usize> {
        let obj = self.live_interview_obj(id)?;
        let mut have = self.interview(id).map(|i| i.questions).unwrap_or_default();
        let mut new = Vec::new();
        for q in questions.iter().map(|q| q.trim()).filter(|q| !q.is_empty()) {
            if !have.iter().any(|h| h.trim() == q) {
                have.push(q.to_string());
                new.push(q.to_string());
            }
        }
        if new.is_empty() {
            return Ok(0);
        }
        self.write(now_ms, |doc| {
            let list = ensure_list(doc, &obj, "questions")?;
            for q in &new {
                let end = doc.length(&list);
                let item = doc.insert_object(&list, end, ObjType::Text)?;
                doc.splice_text(&item, 0, 0, q)?;
            }
            let n = new.len();
            let plural = if n == 1 { "" } else { "s" };
            let message = format!("add {n} guide question{plural} to interview {}", id.short());
            Ok((n, message))
        })
    }

    /// Appends a line to the interview's transcript, as
    /// `[HH:MM author] text`. The text is spliced in at the end, so two
    /// note-takers appending at once both keep their lines, each whole.
    pub fn append_transcript(
        &mut self,
        id: &InterviewId,
        text: &str,
        author: &str,
        now_ms: i64,
    ) -> Result<()> {
        let text = non_empty(text, "the transcript note")?;
        let obj = self.live_interview_obj(id)?;
        if get_int(&self.doc, &obj, "purged_at").is_some() {
            return Err(CanvasError::InterviewPurged(id.to_string()));
        }
        let author = author.trim();
        let stamp = match author {
            "" => format!("[{}]", time::format_clock(now_ms)),
            a => format!("[{} {a}]", time::format_clock(now_ms)),
        };
        self.write(now_ms, |doc| {
            let transcript = match doc.get(&obj, "transcript")? {
                Some((Value::Object(ObjType::Text), t)) => t,
                _ => {
                    // A scalar string from another writer becomes a Text.
                    let old = get_string(doc, &obj, "transcript").unwrap_or_default();
                    let t = doc.put_object(&obj, "transcript", ObjType::Text)?;
                    doc.splice_text(&t, 0, 0, &old)?;
                    t
                }
            };
            let current = doc.text(&transcript)?;
            let sep = if current.is_empty() || current.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            let end = doc.length(&transcript);
            doc.splice_text(&transcript, end, 0, &format!("{sep}{stamp} {text}\n"))?;
            let message = format!("note in interview {}: \"{}\"", id.short(), excerpt(text));
            Ok(((), message))
        })
    }

    /// Every finding of every interview not in the trash, oldest first
    /// (then by id).
    pub fn findings(&self) -> Vec<Finding> {
        let mut all: Vec<Finding> = self
            .interviews()
            .into_iter()
            .flat_map(|i| i.findings)
            .collect();
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        all
    }

    /// The id of the finding whose id is, or starts with, `prefix`.
    pub fn resolve_finding(&self, prefix: &str) -> Result<FindingId> {
        let keys = self.findings().into_iter().map(|f| f.id.to_string());
        id::resolve("finding", prefix, keys).map(FindingId::from)
    }

    /// The map object of an interview.
    pub(super) fn interview_obj(&self, id: &InterviewId) -> Result<ObjId> {
        get_map(&self.doc, &ROOT, "interviews")
            .and_then(|m| get_map(&self.doc, &m, id.as_str()))
            .ok_or_else(|| CanvasError::UnknownId {
                kind: "interview",
                given: id.to_string(),
            })
    }

    /// The map object of an interview that is not in the trash.
    pub(super) fn live_interview_obj(&self, id: &InterviewId) -> Result<ObjId> {
        let obj = self.interview_obj(id)?;
        if get_int(&self.doc, &obj, "trashed_at").is_some() {
            return Err(CanvasError::InterviewTrashed(id.to_string()));
        }
        Ok(obj)
    }

    /// `id` when it names a note that is not in the trash.
    pub(super) fn live_note(&self, id: &NoteId) -> Result<NoteId> {
        match self.note(id) {
            None => Err(CanvasError::UnknownNote(id.to_string())),
            Some(n) if n.is_trashed() => Err(CanvasError::NoteTrashed(id.to_string())),
            Some(_) => Ok(id.clone()),
        }
    }
}

/// `text` trimmed, or [`CanvasError::Empty`] naming `what`.
pub(super) fn non_empty<'a>(text: &'a str, what: &'static str) -> Result<&'a str> {
    let text = text.trim();
    if text.is_empty() {
        Err(CanvasError::Empty(what))
    } else {
        Ok(text)
    }
}

fn ensure_list(doc: &mut automerge::AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => Ok(doc.put_object(obj, key, ObjType::List)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interview::{Effect, FindingTarget};
    use crate::Section;

    const T0: i64 = 1_700_000_000_000;

    fn canvas() -> Canvas {
        Canvas::create("Research", "ana", T0).unwrap()
    }

    #[test]
    fn interviews_are_added_listed_and_resolved() {
        let mut c = canvas();
        let a = c
            .add_interview(" Maria Lopez ", "user", Some("2024-05-17"), "ana", T0)
            .unwrap();
        let b = c.add_interview("Tom", "", None, "bo", T0 + 1).unwrap();
        let all = c.interviews();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].id, a, "ordered by date");
        assert_eq!(all[1].interviewee, "Maria Lopez");
        assert_eq!(all[1].customer_type, "user");
        assert_eq!(all[1].author, "ana");
        assert_eq!(all[0].date, "2023-11-14", "default date is the day of now");
        assert_eq!(c.resolve_interview(&b.as_str()[..5]).unwrap(), b);
        assert!(matches!(
            c.resolve_interview("zzzzzz"),
            Err(CanvasError::UnknownId {
                kind: "interview",
                ..
            })
        ));
        assert!(c
            .history()
            .last()
            .unwrap()
            .message
            .starts_with("add interview"));
    }

    #[test]
    fn bad_interviews_change_nothing() {
        let mut c = canvas();
        let heads = c.doc_mut().get_heads();
        assert!(matches!(
            c.add_interview("  ", "user", None, "ana", T0),
            Err(CanvasError::Empty(_))
        ));
        assert!(matches!(
            c.add_interview("Maria", "user", Some("2024-02-30"), "ana", T0),
            Err(CanvasError::InvalidDate(_))
        ));
        assert_eq!(c.doc_mut().get_heads(), heads);
    }

    #[test]
    fn questions_append_and_guides_do_not_repeat() {
        let mut c = canvas();
        let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        c.ask(&i, "What did you try before?", T0).unwrap();
        assert!(matches!(c.ask(&i, " ", T0), Err(CanvasError::Empty(_))));
        let guide = vec!["What did you try before?".to_string(), "Why?".into()];
        assert_eq!(c.add_questions(&i, &guide, T0).unwrap(), 1);
        let heads = c.doc_mut().get_heads();
        assert_eq!(c.add_questions(&i, &guide, T0).unwrap(), 0);
        assert_eq!(c.doc_mut().get_heads(), heads, "no change, no commit");
        assert_eq!(
            c.interview(&i).unwrap().questions,
            ["What did you try before?", "Why?"]
        );
    }

    #[test]
    fn transcript_lines_are_stamped_and_appended() {
        let mut c = canvas();
        let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        c.append_transcript(&i, "Uses a spreadsheet", "ana", T0)
            .unwrap();
        c.append_transcript(&i, "Hates Fridays", "", T0 + 60_000)
            .unwrap();
        assert_eq!(
            c.interview(&i).unwrap().transcript,
            "[22:13 ana] Uses a spreadsheet\n[22:14] Hates Fridays\n"
        );
    }

    #[test]
    fn findings_support_contradict_or_make_notes() {
        let mut c = canvas();
        let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        let n = c
            .add_note(Section::Now, "Uses a spreadsheet", &[], "ana", T0)
            .unwrap();
        let (f1, note) = c
            .add_finding(
                &i,
                "Showed me the sheet",
                FindingTarget::Supports(n.clone()),
                "ana",
                T0 + 1,
            )
            .unwrap();
        assert_eq!(note, Some(n.clone()));
        let (f2, _) = c
            .add_finding(
                &i,
                "Switched to an app",
                FindingTarget::Contradicts(n.clone()),
                "bo",
                T0 + 2,
            )
            .unwrap();
        let (f3, made) = c
            .add_finding(
                &i,
                "Fears losing data",
                FindingTarget::NewNote(Section::Anxiety),
                "ana",
                T0 + 3,
            )
            .unwrap();
        let (f4, none) = c
            .add_finding(&i, "Has two kids", FindingTarget::Unattached, "ana", T0 + 4)
            .unwrap();
        assert_eq!(none, None);
        let made = made.unwrap();
        let note = c.note(&made).unwrap();
        assert_eq!(
            (note.section, note.text.as_str()),
            (Section::Anxiety, "Fears losing data")
        );
        assert_eq!(note.status, crate::Status::Hypothesis);

        let findings = c.findings();
        let ids: Vec<&FindingId> = findings.iter().map(|f| &f.id).collect();
        assert_eq!(ids, [&f1, &f2, &f3, &f4]);
        let effects: Vec<Effect> = findings.iter().map(|f| f.effect).collect();
        assert_eq!(
            effects,
            [
                Effect::Supports,
                Effect::Contradicts,
                Effect::New,
                Effect::New
            ]
        );
        assert_eq!(findings[2].note, Some(made));
        assert_eq!(findings[3].note, None);
        assert_eq!(findings[1].author, "bo");
        assert_eq!(c.resolve_finding(&f2.as_str()[..6]).unwrap(), f2);

        c.remove_finding(&f2, T0 + 5).unwrap();
        assert_eq!(c.findings().len(), 3);
    }

    #[test]
    fn findings_refuse_unknown_or_trashed_notes_and_change_nothing() {
        let mut c = canvas();
        let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        let n = c.add_note(Section::Now, "Gone", &[], "ana", T0).unwrap();
        c.trash_note(&n, T0).unwrap();
        let heads = c.doc_mut().get_heads();
        let unknown = NoteId::from("nothere");
        assert!(matches!(
            c.add_finding(&i, "x", FindingTarget::Supports(unknown), "ana", T0),
            Err(CanvasError::UnknownNote(_))
        ));
        assert!(matches!(
            c.add_finding(&i, "x", FindingTarget::Contradicts(n), "ana", T0),
            Err(CanvasError::NoteTrashed(_))
        ));
        assert!(matches!(
            c.add_finding(
                &InterviewId::from("nope"),
                "x",
                FindingTarget::Unattached,
                "ana",
                T0
            ),
            Err(CanvasError::UnknownId {
                kind: "interview",
                ..
            })
        ));
        assert!(matches!(
            c.add_finding(&i, " ", FindingTarget::NewNote(Section::Now), "ana", T0),
            Err(CanvasError::Empty(_))
        ));
        assert_eq!(c.doc_mut().get_heads(), heads);
    }

    #[test]
    fn two_note_takers_keep_both_lines() {
        let mut a = canvas();
        let i = a.add_interview("Maria", "user", None, "ana", T0).unwrap();
        a.append_transcript(&i, "Intro", "ana", T0).unwrap();
        let mut b = a.fork();
        a.append_transcript(&i, "She pays on Fridays", "ana", T0 + 1)
            .unwrap();
        b.append_transcript(&i, "Mentions a shoebox of receipts", "bo", T0 + 1)
            .unwrap();
        a.merge(&mut b).unwrap();
        let t = a.interview(&i).unwrap().transcript;
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert_eq!(lines[0], "[22:13 ana] Intro");
        assert!(lines.contains(&"[22:13 ana] She pays on Fridays"), "{t}");
        assert!(
            lines.contains(&"[22:13 bo] Mentions a shoebox of receipts"),
            "{t}"
        );
    }
}
