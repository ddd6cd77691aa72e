//! What changed between two states of a canvas (`gapmap diff`): notes
//! added, edited (with a word diff), moved, trashed or restored, status
//! changes, and new interviews and evidence.

use std::collections::{BTreeMap, BTreeSet};

use crate::interview::{Finding, FindingLink, Interview};
use crate::job::Job;
use crate::note::{Note, NoteId};
use crate::section::Section;
use crate::status::Status;
use crate::Canvas;

/// One piece of a word diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// In both texts.
    Same(String),
    /// Only in the old text.
    Removed(String),
    /// Only in the new text.
    Added(String),
}

/// A note whose text changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The note before.
    pub before: Note,
    /// The note after.
    pub after: Note,
    /// The change, word by word.
    pub words: Vec<Word>,
}

/// A note that went to another section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// The note after the move.
    pub note: Note,
    /// Where it was.
    pub from: Section,
}

/// A note whose status changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The note after the change.
    pub note: Note,
    /// Its status before.
    pub from: Status,
}

/// Everything that changed between two states of a canvas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CanvasDiff {
    /// The title before and after, when it changed.
    pub title: Option<(String, String)>,
    /// The job statement before and after, when it changed.
    pub job: Option<(Job, Job)>,
    /// Live notes that did not exist before.
    pub added: Vec<Note>,
    /// Live notes (before and after) whose text changed.
    pub edited: Vec<Edit>,
    /// Live notes that changed section.
    pub moved: Vec<Move>,
    /// Notes that were live and are now in the trash (or purged: then the
    /// note as it was).
    pub trashed: Vec<Note>,
    /// Notes that were in the trash and are live again.
    pub restored: Vec<Note>,
    /// Live notes (before and after) whose status changed.
    pub status: Vec<StatusChange>,
    /// Interviews that did not exist before.
    pub interviews: Vec<Interview>,
    /// Findings that did not exist before, oldest first.
    pub findings: Vec<Finding>,
}

impl CanvasDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.job.is_none()
            && self.added.is_empty()
            && self.edited.is_empty()
            && self.moved.is_empty()
            && self.trashed.is_empty()
            && self.restored.is_empty()
            && self.status.is_empty()
            && self.interviews.is_empty()
            && self.findings.is_empty()
    }
}

/// What changed from `from` to `to` (two states of one canvas, e.g. from
/// [`Canvas::at`]). Notes keep canvas order in every list.
pub fn diff(from: &Canvas, to: &Canvas) -> CanvasDiff {
    let before: BTreeMap<NoteId, Note> = from
        .notes()
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();
    let mut d = CanvasDiff::default();
    if from.title() != to.title() {
        d.title = Some((from.title(), to.title()));
    }
    if from.job() != to.job() {
        d.job = Some((from.job(), to.job()));
    }
    let after = to.notes();
    let now_ids: BTreeSet<&NoteId> = after.iter().map(|n| &n.id).collect();
    for note in &after {
        let old = before.get(&note.id);
        match old {
            None if !note.is_trashed() => d.added.push(note.clone()),
            None => {}
            Some(old) => match (old.is_trashed(), note.is_trashed()) {
                (false, true) => d.trashed.push(note.clone()),
                (true, false) => d.restored.push(note.clone()),
                (true, true) => {}
                (false, false) => {
                    if old.text != note.text {
                        d.edited.push(Edit {
                            before: old.clone(),
                            after: note.clone(),
                            words: word_diff(&old.text, &note.text),
                        });
                    }
                    if old.section != note.section {
                        d.moved.push(Move {
                            note: note.clone(),
                            from: old.section,
                        });
                    }
                    if old.status != note.status {
                        d.status.push(StatusChange {
                            note: note.clone(),
                            from: old.status,
                        });
                    }
                }
            },
        }
    }
    // Purged from the trash after having been live.
    for old in from.notes() {
        if !now_ids.contains(&old.id) && !old.is_trashed() {
            d.trashed.push(old);
        }
    }
    let had_interviews: BTreeSet<String> = from
        .interviews()
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    d.interviews = to
        .interviews()
        .into_iter()
        .filter(|i| !had_interviews.contains(i.id.as_str()))
        .collect();
    // New evidence: findings that did not exist, and existing findings
    // linked to more notes (or the other way), with only those links.
    let had_findings: BTreeMap<String, Vec<FindingLink>> = from
        .findings()
        .into_iter()
        .map(|f| (f.id.to_string(), f.links))
        .collect();
    d.findings = to
        .findings()
        .into_iter()
        .filter_map(|mut f| match had_findings.get(f.id.as_str()) {
            None => Some(f),
            Some(had) => {
                f.links.retain(|l| !had.contains(l));
                let first = f.links.first()?.clone();
                f.note = Some(first.note);
                f.effect = first.effect;
                Some(f)
            }
        })
        .collect();
    d
}

/// Splits a text into words and the whitespace after each.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(&text[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// The longest texts compared word by word; longer ones are shown as
/// replaced whole (the table grows with the product of the lengths).
const MAX_WORDS: usize = 2_000;

/// A word-level diff of two texts (longest common subsequence of words;
/// whitespace differences are ignored).
pub fn word_diff(old: &str, new: &str) -> Vec<Word> {
    let (a, b) = (tokens(old), tokens(new));
    if a.len() > MAX_WORDS || b.len() > MAX_WORDS {
        return merge_runs(
            a.iter()
                .map(|w| Word::Removed(w.to_string()))
                .chain(b.iter().map(|w| Word::Added(w.to_string())))
                .collect(),
        );
    }
    // lcs[i][j]: the LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Word::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(Word::Added(b[j].to_string()));
            j += 1;
        } else {
            out.push(Word::Removed(a[i].to_string()));
            i += 1;
        }
    }
    merge_runs(out)
}

/// Joins neighbouring words of one kind: `[-a b-]` rather than `[-a-] [-b-]`.
/// Removals come before additions within a changed stretch.
fn merge_runs(words: Vec<Word>) -> Vec<Word> {
    let mut out: Vec<Word> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<Word>, removed: &mut Vec<String>, added: &mut Vec<String>| {
        if !removed.is_empty() {
            out.push(Word::Removed(removed.join(" ")));
            removed.clear();
        }
        if !added.is_empty() {
            out.push(Word::Added(added.join(" ")));
            added.clear();
        }
    };
    for w in words {
        match w {
            Word::Removed(s) => removed.push(s),
            Word::Added(s) => added.push(s),
            Word::Same(s) => {
                flush(&mut out, &mut removed, &mut added);
                match out.last_mut() {
                    Some(Word::Same(prev)) => {
                        prev.push(' ');
                        prev.push_str(&s);
                    }
                    _ => out.push(Word::Same(s)),
                }
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
    out
}

/// A word diff as one line, git style: `kept [-removed-] {+added+}`.
pub fn format_word_diff(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| match w {
            Word::Same(s) => s.clone(),
            Word::Removed(s) => format!("[-{s}-]"),
            Word::Added(s) => format!("{{+{s}+}}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FindingTarget, Point, Position};

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn word_diffs_read_like_git() {
        let w = word_diff(
            "Chases late invoices by email",
            "Chases  invoices by phone every Friday",
        );
        assert_eq!(
            format_word_diff(&w),
            "Chases [-late-] invoices by [-email-] {+phone every Friday+}"
        );
        assert_eq!(format_word_diff(&word_diff("", "new text")), "{+new text+}");
        assert_eq!(format_word_diff(&word_diff("same", "same")), "same");
        let long = "w ".repeat(MAX_WORDS + 1);
        assert_eq!(word_diff(&long, "x").len(), 2);
    }

    #[test]
    fn diff_lists_every_kind_of_change() {
        let mut c = Canvas::create("Diff", "ana", T0).unwrap();
        let edited = c
            .add_note(Section::Now, "Chases late invoices", &[], "ana", T0)
            .unwrap();
        let moved = c
            .add_note(Section::Now, "Wants to be paid", &[], "ana", T0)
            .unwrap();
        let trashed = c
            .add_note(Section::Now, "Uses fax", &[], "ana", T0)
            .unwrap();
        let purged = c.add_note(Section::Now, "Purged", &[], "ana", T0).unwrap();
        let restored = c
            .add_note(Section::Now, "Back again", &[], "ana", T0)
            .unwrap();
        let marked = c
            .add_note(Section::Now, "Works alone", &[], "ana", T0)
            .unwrap();
        c.trash_note(&restored, T0).unwrap();
        let interview = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        c.add_finding(
            &interview,
            "old finding",
            FindingTarget::Supports(marked.clone()),
            "ana",
            T0,
        )
        .unwrap();
        c.start_round("r1", &[], "ana", T0).unwrap();

        c.edit_note(&edited, "Chases invoices by phone", T0 + 1)
            .unwrap();
        c.move_note(&moved, Section::ToBe, Position::End, T0 + 1)
            .unwrap();
        c.trash_note(&trashed, T0 + 1).unwrap();
        c.restore_note(&restored, T0 + 1).unwrap();
        c.trash_note(&purged, T0 + 1).unwrap();
        c.empty_trash(T0 + 1).unwrap();
        c.mark(&marked, Status::Validated, T0 + 1).unwrap();
        let added = c
            .add_note(Section::Constraint, "Fears clients", &[], "ana", T0 + 1)
            .unwrap();
        let gone = c
            .add_note(Section::Constraint, "Added and trashed", &[], "ana", T0 + 1)
            .unwrap();
        c.trash_note(&gone, T0 + 1).unwrap();
        let second = c.add_interview("Tom", "buyer", None, "bo", T0 + 1).unwrap();
        c.add_finding(
            &second,
            "new finding",
            FindingTarget::Contradicts(marked.clone()),
            "bo",
            T0 + 1,
        )
        .unwrap();
        c.set_job(Some("a project ends"), None, None, T0 + 1)
            .unwrap();

        let r1 = c.point("r1").unwrap();
        let then = c.at(&r1).unwrap();
        let d = diff(&then, &c);
        let ids = |notes: &[Note]| notes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.added), [added]);
        assert_eq!(d.edited.len(), 1);
        assert_eq!(d.edited[0].after.id, edited);
        assert_eq!(
            format_word_diff(&d.edited[0].words),
            "Chases [-late-] invoices {+by phone+}"
        );
        assert_eq!(d.moved.len(), 1);
        assert_eq!(
            (d.moved[0].note.id.clone(), d.moved[0].from),
            (moved, Section::Now)
        );
        assert_eq!(d.moved[0].note.section, Section::ToBe);
        let mut trashed_ids = ids(&d.trashed);
        trashed_ids.sort();
        let mut expect = vec![trashed, purged];
        expect.sort();
        assert_eq!(trashed_ids, expect);
        assert_eq!(ids(&d.restored), [restored]);
        assert_eq!(d.status.len(), 1);
        assert_eq!(
            (d.status[0].from, d.status[0].note.status),
            (Status::Hypothesis, Status::Validated)
        );
        assert_eq!(d.interviews.len(), 1);
        assert_eq!(d.interviews[0].id, second);
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].text, "new finding");
        assert!(d.job.is_some() && d.title.is_none());
        assert!(!d.is_empty());
        assert!(diff(&c, &c.at(&Point::Now).unwrap()).is_empty());
    }

    #[test]
    fn links_added_to_old_findings_are_new_evidence() {
        let mut c = Canvas::create("Diff", "ana", T0).unwrap();
        let a = c.add_note(Section::Now, "a", &[], "ana", T0).unwrap();
        let b = c.add_note(Section::Now, "b", &[], "ana", T0).unwrap();
        let i = c.add_interview("Maria", "user", None, "ana", T0).unwrap();
        let (f, _) = c
            .add_finding(
                &i,
                "quote",
                crate::FindingTarget::Supports(a.clone()),
                "ana",
                T0,
            )
            .unwrap();
        let before = c.clone();
        c.link_finding(&f, &b, crate::Effect::Contradicts, T0)
            .unwrap();
        let d = diff(&before, &c);
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].links.len(), 1, "only the new link");
        assert_eq!(d.findings[0].note, Some(b));
        assert!(diff(&c, &c).findings.is_empty());
    }
}
