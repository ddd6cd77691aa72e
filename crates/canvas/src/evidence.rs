//! Evidence: what the findings of every interview say about each note, and
//! the review that turns it into suggestions (the person decides with
//! `mark`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::CanvasError;
use crate::interview::{Effect, FindingId, Interview, InterviewId};
use crate::note::{Note, NoteId};
use crate::status::Status;
use crate::Canvas;

/// One finding as evidence about one note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvidenceItem {
    /// The finding.
    pub finding: FindingId,
    /// Its interview.
    pub interview: InterviewId,
    /// Who said it, as the interview names them.
    pub interviewee: String,
    /// Their customer type.
    pub customer_type: String,
    /// `supports`, `contradicts`, or `new` for the note made from it.
    pub effect: &'static str,
    /// What was said, verbatim.
    pub quote: String,
    /// What the team makes of it ("" when nothing).
    pub interpretation: String,
    /// Who wrote it down.
    pub author: String,
    /// When (ms since the epoch).
    pub at: i64,
}

/// The findings about one note.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Findings that support the note — including the `new` finding a note
    /// was made from, since it was observed in that interview.
    pub supports: usize,
    /// Findings that contradict it.
    pub contradicts: usize,
    /// Distinct interviewees behind any of those findings, as first
    /// written, sorted.
    pub interviewees: Vec<String>,
    /// Distinct interviewees behind the supporting findings.
    pub supporting: Vec<String>,
    /// Distinct interviewees behind the contradicting findings.
    pub contradicting: Vec<String>,
    /// The findings themselves, oldest first.
    pub findings: Vec<EvidenceItem>,
}

impl Evidence {
    /// Whether no finding is about the note.
    pub fn is_empty(&self) -> bool {
        self.supports == 0 && self.contradicts == 0
    }

    /// `+2 −1 · 2 interviewees`, or `no evidence`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "no evidence".to_string();
        }
        let n = self.interviewees.len();
        let people = if n == 1 {
            "interviewee"
        } else {
            "interviewees"
        };
        format!("+{} −{} · {n} {people}", self.supports, self.contradicts)
    }
}

/// Which interviews count as evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only interviews with this customer type (any case; `None`: all).
    pub customer_type: Option<String>,
}

impl Scope {
    /// Every interview.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// Only interviews of this customer type (the customer segment).
    pub fn customer_type(kind: &str) -> Scope {
        Scope {
            customer_type: Some(kind.to_string()),
        }
    }

    /// Whether `interview` is in scope.
    pub fn includes(&self, interview: &Interview) -> bool {
        match &self.customer_type {
            None => true,
            Some(kind) => interview
                .customer_type
                .trim()
                .eq_ignore_ascii_case(kind.trim()),
        }
    }
}

/// Which notes an evidence listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceFilter {
    /// Every live note.
    #[default]
    All,
    /// Notes some finding supports or contradicts.
    HasEvidence,
    /// Notes at least one finding contradicts.
    Contradicted,
    /// Notes no finding is about yet.
    Untested,
}

impl EvidenceFilter {
    /// Every filter.
    pub const ALL: [EvidenceFilter; 4] = [
        EvidenceFilter::All,
        EvidenceFilter::HasEvidence,
        EvidenceFilter::Contradicted,
        EvidenceFilter::Untested,
    ];

    /// Its name on the command line and the board.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceFilter::All => "all",
            EvidenceFilter::HasEvidence => "has-evidence",
            EvidenceFilter::Contradicted => "contradicted",
            EvidenceFilter::Untested => "untested",
        }
    }

    /// Whether a note with `evidence` passes.
    pub fn keeps(self, evidence: &Evidence) -> bool {
        match self {
            EvidenceFilter::All => true,
            EvidenceFilter::HasEvidence => !evidence.is_empty(),
            EvidenceFilter::Contradicted => evidence.contradicts > 0,
            EvidenceFilter::Untested => evidence.is_empty(),
        }
    }
}

impl fmt::Display for EvidenceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvidenceFilter {
    type Err = CanvasError;
    fn from_str(s: &str) -> Result<EvidenceFilter, CanvasError> {
        EvidenceFilter::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| CanvasError::UnknownFilter(s.to_string()))
    }
}

/// One live note with its evidence: a row of the evidence listing, and
/// what the board's badge on the note shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteEvidence {
    /// The note's id.
    pub note: NoteId,
    /// Its section id.
    pub section: &'static str,
    /// Its text.
    pub text: String,
    /// Its status.
    pub status: &'static str,
    /// Supporting findings (0 when none).
    pub supports: usize,
    /// Contradicting findings (0 when none).
    pub contradicts: usize,
    /// How many distinct interviewees are behind them.
    pub interviewee_count: usize,
    /// Their names, sorted.
    pub interviewees: Vec<String>,
    /// The findings, oldest first.
    pub findings: Vec<EvidenceItem>,
}

/// What the review suggests doing with a note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suggestion {
    /// Enough distinct interviewees support it and few contradict it.
    Validate,
    /// Enough distinct interviewees contradict it and few support it.
    Invalidate,
    /// It is marked one way but the evidence now points the other way.
    Reconsider,
    /// Evidence both ways: ask more, or split the note.
    Mixed,
    /// Some evidence, from too few interviewees to decide.
    Thin,
    /// No finding is about it: ask about it in the next round.
    NoEvidence,
    /// Its mark agrees with the evidence: nothing to do.
    Settled,
}

impl Suggestion {
    /// A short word for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Suggestion::Validate => "validate",
            Suggestion::Invalidate => "invalidate",
            Suggestion::Reconsider => "reconsider",
            Suggestion::Mixed => "mixed",
            Suggestion::Thin => "thin",
            Suggestion::NoEvidence => "no-evidence",
            Suggestion::Settled => "settled",
        }
    }
}

/// One note in a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewItem {
    /// The note.
    pub note: Note,
    /// Its evidence.
    pub evidence: Evidence,
    /// What to do about it.
    pub suggestion: Suggestion,
    /// Why, in one line (e.g. "supported by 3 interviewees, contradicted by none").
    pub reason: String,
}

/// What the evidence alone points to, with `min` distinct interviewees
/// needed to decide: validate when at least `min` support it and they are
/// at least twice as many as those who contradict it; invalidate the other
/// way round.
fn lean(evidence: &Evidence, min: usize) -> Suggestion {
    let (s, c) = (evidence.supporting.len(), evidence.contradicting.len());
    if s == 0 && c == 0 {
        Suggestion::NoEvidence
    } else if s >= min && s >= 2 * c {
        Suggestion::Validate
    } else if c >= min && c >= 2 * s {
        Suggestion::Invalidate
    } else if s > 0 && c > 0 {
        Suggestion::Mixed
    } else {
        Suggestion::Thin
    }
}

fn people(n: usize) -> String {
    match n {
        0 => "none".to_string(),
        1 => "1 interviewee".to_string(),
        n => format!("{n} interviewees"),
    }
}

impl Canvas {
    /// The evidence about every note some finding points to, by note id.
    /// Findings about notes that no longer exist are left out, and so are
    /// interviews in the trash.
    pub fn evidence(&self) -> BTreeMap<NoteId, Evidence> {
        self.evidence_in(&Scope::all())
    }

    /// [`Canvas::evidence`] from the interviews in `scope` only.
    pub fn evidence_in(&self, scope: &Scope) -> BTreeMap<NoteId, Evidence> {
        let notes = self.notes();
        self.evidence_among(scope, &notes)
    }

    /// [`Canvas::evidence_in`] about `notes` (every note of the canvas, as
    /// [`Canvas::notes`] reads them): reading a big canvas's notes is the
    /// costly part, so callers that have them already pass them.
    fn evidence_among(&self, scope: &Scope, notes: &[Note]) -> BTreeMap<NoteId, Evidence> {
        // name key → name as first written, for supporters and contradictors
        type People = BTreeMap<String, String>;
        #[derive(Default)]
        struct Acc {
            supports: usize,
            contradicts: usize,
            sup: People,
            con: People,
            items: Vec<EvidenceItem>,
        }
        let mut acc: BTreeMap<NoteId, Acc> = BTreeMap::new();
        for interview in self.interviews().into_iter().filter(|i| scope.includes(i)) {
            let key = interview.evidence_key();
            let name = interview.display_name();
            for finding in &interview.findings {
                for link in &finding.links {
                    let entry = acc.entry(link.note.clone()).or_default();
                    match link.effect {
                        Effect::Supports | Effect::New => {
                            entry.supports += 1;
                            entry.sup.entry(key.clone()).or_insert_with(|| name.clone());
                        }
                        Effect::Contradicts => {
                            entry.contradicts += 1;
                            entry.con.entry(key.clone()).or_insert_with(|| name.clone());
                        }
                    }
                    entry.items.push(EvidenceItem {
                        finding: finding.id.clone(),
                        interview: interview.id.clone(),
                        interviewee: name.clone(),
                        customer_type: interview.customer_type.clone(),
                        effect: link.effect.as_str(),
                        quote: finding.text.clone(),
                        interpretation: finding.interpretation.clone(),
                        author: finding.author.clone(),
                        at: finding.at,
                    });
                }
            }
        }
        let known: HashSet<&NoteId> = notes.iter().map(|n| &n.id).collect();
        acc.into_iter()
            .filter(|(id, _)| known.contains(id))
            .map(|(id, a)| {
                let mut all: People = a.sup.clone();
                for (k, v) in &a.con {
                    all.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let names = |m: People| {
                    let mut v: Vec<String> = m.into_values().collect();
                    v.sort();
                    v
                };
                let mut items = a.items;
                items.sort_by(|x, y| (x.at, &x.finding).cmp(&(y.at, &y.finding)));
                let evidence = Evidence {
                    supports: a.supports,
                    contradicts: a.contradicts,
                    interviewees: names(all),
                    supporting: names(a.sup),
                    contradicting: names(a.con),
                    findings: items,
                };
                (id, evidence)
            })
            .collect()
    }

    /// The evidence about one note (empty when there is none).
    pub fn note_evidence(&self, id: &NoteId) -> Evidence {
        self.evidence().remove(id).unwrap_or_default()
    }

    /// Every live note with its evidence from the interviews in `scope`, in
    /// canvas order, those `filter` keeps: what the command line's
    /// `evidence` lists and the board's badges show.
    pub fn evidence_report(&self, filter: EvidenceFilter, scope: &Scope) -> Vec<NoteEvidence> {
        self.evidence_report_of(self.notes(), filter, scope)
    }

    /// [`Canvas::evidence_report`] given every note of the canvas as
    /// [`Canvas::notes`] read them (the board has them already: reading a
    /// big canvas's notes twice per update is what this saves).
    pub fn evidence_report_of(
        &self,
        notes: Vec<Note>,
        filter: EvidenceFilter,
        scope: &Scope,
    ) -> Vec<NoteEvidence> {
        let mut evidence = self.evidence_among(scope, &notes);
        notes
            .into_iter()
            .filter(|n| !n.is_trashed())
            .filter_map(|note| {
                let e = evidence.remove(&note.id).unwrap_or_default();
                filter.keeps(&e).then(|| NoteEvidence {
                    section: note.section.id(),
                    text: note.text,
                    status: note.status.as_str(),
                    supports: e.supports,
                    contradicts: e.contradicts,
                    interviewee_count: e.interviewees.len(),
                    interviewees: e.interviewees,
                    findings: e.findings,
                    note: note.id,
                })
            })
            .collect()
    }

    /// Reviews every live note against its evidence, `min` distinct
    /// interviewees being enough to decide (at least 1).
    ///
    /// Hypotheses get `Validate`, `Invalidate`, `Mixed`, `Thin` or
    /// `NoEvidence`; validated or invalidated notes get `Reconsider` when
    /// the evidence now points the other way, `Settled` otherwise. Sorted by
    /// suggestion (the ones to act on first), then in canvas order.
    pub fn review(&self, min: usize) -> Vec<ReviewItem> {
        self.review_in(min, &Scope::all())
    }

    /// [`Canvas::review`] on the evidence from the interviews in `scope`
    /// only (one customer segment).
    pub fn review_in(&self, min: usize, scope: &Scope) -> Vec<ReviewItem> {
        let min = min.max(1);
        let notes = self.notes();
        let mut evidence = self.evidence_among(scope, &notes);
        let mut items: Vec<ReviewItem> = notes
            .into_iter()
            .filter(|n| !n.is_trashed())
            .map(|note| {
                let evidence = evidence.remove(&note.id).unwrap_or_default();
                let leaning = lean(&evidence, min);
                let suggestion = match (note.status, leaning) {
                    (Status::Hypothesis, s) => s,
                    (Status::Validated, Suggestion::Invalidate)
                    | (Status::Invalidated, Suggestion::Validate) => Suggestion::Reconsider,
                    _ => Suggestion::Settled,
                };
                let (s, c) = (evidence.supporting.len(), evidence.contradicting.len());
                let reason = match suggestion {
                    Suggestion::NoEvidence => "no finding yet: ask about it".to_string(),
                    Suggestion::Thin => format!(
                        "only {} so far; {min} needed to decide",
                        people(evidence.interviewees.len())
                    ),
                    _ => format!("supported by {}, contradicted by {}", people(s), people(c)),
                };
                ReviewItem {
                    note,
                    evidence,
                    suggestion,
                    reason,
                }
            })
            .collect();
        // notes() is in canvas order; a stable sort keeps it within a kind.
        items.sort_by_key(|i| i.suggestion);
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FindingTarget, Section};

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn evidence_counts_findings_and_distinct_interviewees() {
        let mut c = Canvas::create("Evidence", "ana", T0).unwrap();
        let n = c
            .add_note(Section::Now, "Uses a spreadsheet", &[], "ana", T0)
            .unwrap();
        let maria = c
            .add_interview("Maria Lopez", "user", None, "ana", T0)
            .unwrap();
        let again = c
            .add_interview("maria  lopez", "user", None, "bo", T0 + 1)
            .unwrap();
        let tom = c.add_interview("Tom", "user", None, "bo", T0 + 2).unwrap();
        c.add_finding(&maria, "a", FindingTarget::Supports(n.clone()), "ana", T0)
            .unwrap();
        c.add_finding(&again, "b", FindingTarget::Supports(n.clone()), "bo", T0)
            .unwrap();
        c.add_finding(&tom, "c", FindingTarget::Contradicts(n.clone()), "bo", T0)
            .unwrap();
        c.add_finding(&tom, "d", FindingTarget::Unattached, "bo", T0)
            .unwrap();
        let (_, made) = c
            .add_finding(&tom, "e", FindingTarget::NewNote(Section::Pain), "bo", T0)
            .unwrap();

        let all = c.evidence();
        assert_eq!(all.len(), 2);
        let e = &all[&n];
        assert_eq!((e.supports, e.contradicts), (2, 1));
        assert_eq!(e.interviewees, ["Maria Lopez", "Tom"]);
        assert_eq!(e.supporting, ["Maria Lopez"]);
        assert_eq!(e.contradicting, ["Tom"]);
        assert_eq!(e.summary(), "+2 −1 · 2 interviewees");
        let made = &all[&made.unwrap()];
        assert_eq!((made.supports, made.contradicts), (1, 0));
        assert_eq!(Evidence::default().summary(), "no evidence");
    }

    #[test]
    fn review_suggests_by_distinct_interviewees() {
        let mut c = Canvas::create("Review", "ana", T0).unwrap();
        let strong = c.add_note(Section::Now, "strong", &[], "ana", T0).unwrap();
        let refuted = c.add_note(Section::Now, "refuted", &[], "ana", T0).unwrap();
        let mixed = c.add_note(Section::Now, "mixed", &[], "ana", T0).unwrap();
        let thin = c.add_note(Section::Now, "thin", &[], "ana", T0).unwrap();
        let none = c.add_note(Section::Now, "none", &[], "ana", T0).unwrap();
        let marked = c.add_note(Section::Now, "marked", &[], "ana", T0).unwrap();
        let settled = c.add_note(Section::Now, "settled", &[], "ana", T0).unwrap();
        c.mark(&marked, Status::Validated, T0).unwrap();
        c.mark(&settled, Status::Validated, T0).unwrap();
        let who: Vec<_> = ["A", "B", "C"]
            .iter()
            .map(|p| c.add_interview(p, "user", None, "ana", T0).unwrap())
            .collect();
        let mut f = |i: usize, target: FindingTarget| {
            c.add_finding(&who[i], "x", target, "ana", T0).unwrap();
        };
        for i in 0..2 {
            f(i, FindingTarget::Supports(strong.clone()));
            f(i, FindingTarget::Contradicts(refuted.clone()));
            f(i, FindingTarget::Contradicts(marked.clone()));
            f(i, FindingTarget::Supports(settled.clone()));
        }
        f(0, FindingTarget::Supports(mixed.clone()));
        f(1, FindingTarget::Contradicts(mixed.clone()));
        f(2, FindingTarget::Supports(thin.clone()));
        f(2, FindingTarget::Supports(thin.clone()));

        let review = c.review(2);
        let got: Vec<(&str, Suggestion)> = review
            .iter()
            .map(|i| (i.note.text.as_str(), i.suggestion))
            .collect();
        assert_eq!(
            got,
            [
                ("strong", Suggestion::Validate),
                ("refuted", Suggestion::Invalidate),
                ("marked", Suggestion::Reconsider),
                ("mixed", Suggestion::Mixed),
                ("thin", Suggestion::Thin),
                ("none", Suggestion::NoEvidence),
                ("settled", Suggestion::Settled),
            ]
        );
        assert_eq!(
            review[0].reason,
            "supported by 2 interviewees, contradicted by none"
        );
        assert_eq!(
            review[4].reason,
            "only 1 interviewee so far; 2 needed to decide"
        );
        // With a lower bar one interviewee decides.
        let thin_now = c.review(1).into_iter().find(|i| i.note.id == thin).unwrap();
        assert_eq!(thin_now.suggestion, Suggestion::Validate);
        let _ = none;
    }
}
