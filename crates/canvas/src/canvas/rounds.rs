//! Rounds, and reading the canvas at a point in its history.

use std::collections::HashSet;

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjType, ReadDoc, ROOT};

use super::interviews::non_empty;
use super::{excerpt, Canvas};
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_map};
use crate::history::{self, HistoryEntry};
use crate::id;
use crate::round::{Point, Round, RoundId};
use crate::section::Section;
use crate::time;

impl Canvas {
    /// Starts a round labelled `label`: records the current heads, the time
    /// and who started it, and optionally the sections it is about. Labels
    /// are unique (ignoring case); `now` is reserved.
    pub fn start_round(
        &mut self,
        label: &str,
        focus: &[Section],
        author: &str,
        now_ms: i64,
    ) -> Result<RoundId> {
        let label = non_empty(label, "the round label")?.to_string();
        if label.eq_ignore_ascii_case("now") {
            return Err(CanvasError::ReservedLabel(label));
        }
        if self
            .rounds()
            .iter()
            .any(|r| r.label.trim().to_lowercase() == label.to_lowercase())
        {
            return Err(CanvasError::RoundExists(label));
        }
        self.commit_pending();
        let heads: Vec<String> = self.doc.get_heads().iter().map(|h| h.to_string()).collect();
        let taken: Vec<RoundId> = self.rounds().into_iter().map(|r| r.id).collect();
        let mut id = RoundId::random();
        while taken.contains(&id) {
            id = RoundId::random();
        }
        let mut focus = focus.to_vec();
        focus.sort();
        focus.dedup();
        self.write(now_ms, |doc| {
            let rounds = ensure_map(doc, &ROOT, "rounds")?;
            let obj = doc.put_object(&rounds, id.as_str(), ObjType::Map)?;
            doc.put(&obj, "label", label.as_str())?;
            doc.put(&obj, "at", now_ms)?;
            let list = doc.put_object(&obj, "heads", ObjType::List)?;
            for (i, h) in heads.iter().enumerate() {
                doc.insert(&list, i, h.as_str())?;
            }
            doc.put(&obj, "author", author.trim())?;
            let list = doc.put_object(&obj, "focus", ObjType::List)?;
            for (i, s) in focus.iter().enumerate() {
                doc.insert(&list, i, s.id())?;
            }
            Ok((id.clone(), format!("start round \"{}\"", excerpt(&label))))
        })
    }

    /// Every round, oldest first (by start time, then id).
    pub fn rounds(&self) -> Vec<Round> {
        let Some(map) = get_map(&self.doc, &ROOT, "rounds") else {
            return Vec::new();
        };
        let mut all: Vec<Round> = self
            .doc
            .keys(&map)
            .filter_map(|k| {
                let obj = get_map(&self.doc, &map, &k)?;
                Some(Round::read(&self.doc, &k, &obj))
            })
            .collect();
        all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        all
    }

    /// The round started last, if any.
    pub fn last_round(&self) -> Option<Round> {
        self.rounds().pop()
    }

    /// The round labelled `given` (exactly, else ignoring case; the
    /// earliest when two people started rounds with one label offline), or
    /// whose id starts with it.
    pub fn round(&self, given: &str) -> Result<Round> {
        let given = given.trim();
        let rounds = self.rounds();
        let by_label = rounds
            .iter()
            .find(|r| r.label == given)
            .or_else(|| rounds.iter().find(|r| r.label.eq_ignore_ascii_case(given)));
        if let Some(r) = by_label {
            return Ok(r.clone());
        }
        let key = id::resolve("round", given, rounds.iter().map(|r| r.id.to_string()))?;
        Ok(rounds
            .into_iter()
            .find(|r| r.id.as_str() == key)
            .expect("resolved"))
    }

    /// Reads a point: `now`, a round label or id, or a time
    /// (`YYYY-MM-DD[THH:MM[:SS]]`, UTC).
    pub fn point(&self, given: &str) -> Result<Point> {
        let trimmed = given.trim();
        if trimmed.eq_ignore_ascii_case("now") {
            return Ok(Point::Now);
        }
        if let Ok(round) = self.round(trimmed) {
            return Ok(Point::Round(round));
        }
        match time::parse_time(trimmed) {
            Some(ms) => Ok(Point::Time(ms)),
            None => Err(CanvasError::UnknownPoint(given.to_string())),
        }
    }

    /// The heads of the document at `point`: for a time, every change made
    /// at or before it together with what those changes depend on.
    pub fn heads_at(&self, point: &Point) -> Result<Vec<ChangeHash>> {
        let mut doc = self.doc.clone();
        match point {
            Point::Now => Ok(doc.get_heads()),
            Point::Round(round) => {
                if round.heads.is_empty()
                    || round
                        .heads
                        .iter()
                        .any(|h| doc.get_change_by_hash(h).is_none())
                {
                    return Err(CanvasError::RoundWithoutHistory(round.label.clone()));
                }
                Ok(round.heads.clone())
            }
            Point::Time(ms) => {
                let changes = doc.get_changes(&[]);
                let mut kept: HashSet<ChangeHash> = changes
                    .iter()
                    .filter(|c| c.timestamp().saturating_mul(1000) <= *ms)
                    .map(|c| c.hash())
                    .collect();
                // get_changes is in causal order: walking backwards, a kept
                // change's dependencies come after it.
                for change in changes.iter().rev() {
                    if kept.contains(&change.hash()) {
                        kept.extend(change.deps().iter().copied());
                    }
                }
                let depended: HashSet<ChangeHash> = changes
                    .iter()
                    .filter(|c| kept.contains(&c.hash()))
                    .flat_map(|c| c.deps().to_vec())
                    .collect();
                let mut heads: Vec<ChangeHash> = kept.difference(&depended).copied().collect();
                heads.sort();
                if heads.is_empty() {
                    return Err(self.before_canvas(point));
                }
                Ok(heads)
            }
        }
    }

    /// The canvas as it was at `point`: a read-only view from Automerge
    /// history (writing to it changes nothing stored).
    pub fn at(&self, point: &Point) -> Result<Canvas> {
        if *point == Point::Now {
            return Ok(self.clone());
        }
        let heads = self.heads_at(point)?;
        let mut doc = self.doc.clone();
        let past = doc.fork_at(&heads)?;
        let mut past = Canvas::from_doc(past).map_err(|_| self.before_canvas(point))?;
        // An interview erased since then stays erased in every view of the
        // past gapmap shows or exports (its history still holds the text).
        for erased in self.all_interviews().into_iter().filter(|i| i.is_purged()) {
            if let (Ok(obj), Some(at)) = (past.interview_obj(&erased.id), erased.purged_at) {
                past.write(at, |doc| {
                    doc.put(&obj, "purged_at", at)?;
                    Ok(((), "erased since".to_string()))
                })?;
            }
        }
        Ok(past)
    }

    /// The history after `point`, oldest first (everything the document
    /// holds that the state at `point` did not).
    pub fn history_since(&self, point: &Point) -> Result<Vec<HistoryEntry>> {
        let heads = match point {
            Point::Time(_) => match self.heads_at(point) {
                Ok(heads) => heads,
                // Before the canvas existed: all of it came after.
                Err(CanvasError::BeforeCanvas { .. }) => Vec::new(),
                Err(e) => return Err(e),
            },
            other => self.heads_at(other)?,
        };
        let mut doc = self.doc.clone();
        Ok(history::entries(&doc.get_changes(&heads), &self.members()))
    }

    /// When the first change of the document was made (ms since the epoch).
    pub fn created_at(&self) -> i64 {
        let mut doc = self.doc.clone();
        doc.get_changes(&[])
            .iter()
            .map(|c| c.timestamp().saturating_mul(1000))
            .min()
            .unwrap_or(0)
    }

    fn before_canvas(&self, point: &Point) -> CanvasError {
        CanvasError::BeforeCanvas {
            given: point.label(),
            created: time::format_datetime(self.created_at()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const T0: i64 = 1_700_000_000_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn rounds_record_heads_and_refuse_duplicate_labels() {
        let mut c = Canvas::create("Rounds", "ana", T0).unwrap();
        let a = c.add_note(Section::Now, "first", &[], "ana", T0).unwrap();
        c.start_round(
            "r1",
            &[Section::ToBe, Section::Now, Section::Now],
            "ana",
            T0 + HOUR,
        )
        .unwrap();
        c.edit_note(&a, "first, edited", T0 + 2 * HOUR).unwrap();
        c.add_note(Section::Now, "second", &[], "ana", T0 + 2 * HOUR)
            .unwrap();
        let heads = c.doc_mut().get_heads();
        for bad in ["r1", "R1 ", "now", " "] {
            assert!(c.start_round(bad, &[], "ana", T0).is_err(), "{bad}");
        }
        assert_eq!(c.doc_mut().get_heads(), heads, "refusals change nothing");
        assert!(matches!(
            c.start_round("R1", &[], "ana", T0),
            Err(CanvasError::RoundExists(l)) if l == "R1"
        ));

        let r1 = c.round("r1").unwrap();
        assert_eq!(r1.focus, [Section::Now, Section::ToBe]);
        assert_eq!(r1.author, "ana");
        assert_eq!(c.round(&r1.id.as_str()[..5]).unwrap(), r1);
        assert_eq!(c.last_round().unwrap(), r1);

        let then = c.at(&Point::Round(r1.clone())).unwrap();
        let texts: Vec<String> = then
            .section_notes(Section::Now)
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts, ["first"]);
        assert!(
            then.rounds().is_empty(),
            "the round itself came after its heads"
        );
        // The live canvas is untouched.
        assert_eq!(c.section_notes(Section::Now).len(), 2);

        let since = c.history_since(&Point::Round(r1)).unwrap();
        let messages: Vec<&str> = since.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("start round"));
    }

    #[test]
    fn points_are_rounds_times_or_now() {
        let mut c = Canvas::create("Points", "ana", T0).unwrap();
        c.add_note(Section::Now, "early", &[], "ana", T0 + HOUR)
            .unwrap();
        let late = c
            .add_note(Section::Now, "late", &[], "ana", T0 + 30 * HOUR)
            .unwrap();
        c.mark(&late, Status::Validated, T0 + 31 * HOUR).unwrap();
        c.start_round("2023-11-20", &[], "ana", T0 + 40 * HOUR)
            .unwrap();

        assert_eq!(c.point(" NOW ").unwrap(), Point::Now);
        assert!(
            matches!(c.point("2023-11-20").unwrap(), Point::Round(_)),
            "labels win"
        );
        let day = c.point("2023-11-15").unwrap();
        assert_eq!(day, Point::Time(time::parse_date("2023-11-15").unwrap()));
        let then = c.at(&day).unwrap();
        let texts: Vec<String> = then
            .section_notes(Section::Now)
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts, ["early"]);
        let at_time = c.at(&c.point("2023-11-16T04:14").unwrap()).unwrap();
        assert_eq!(at_time.note(&late).unwrap().status, Status::Hypothesis);

        assert!(matches!(c.point("r9"), Err(CanvasError::UnknownPoint(_))));
        let err = c.at(&c.point("2020-01-01").unwrap()).unwrap_err();
        assert!(matches!(err, CanvasError::BeforeCanvas { .. }));
        assert_eq!(
            err.to_string(),
            "the canvas did not exist yet at 2020-01-01 00:00 (it was created 2023-11-14 22:13)"
        );
        assert_eq!(
            c.history_since(&Point::Time(0)).unwrap().len(),
            c.history().len()
        );
    }

    #[test]
    fn a_round_without_history_says_so() {
        let mut c = Canvas::create("Imported", "ana", T0).unwrap();
        let round = Round {
            id: RoundId::from("abcd"),
            label: "old".into(),
            at: T0,
            heads: vec![],
            author: String::new(),
            focus: vec![],
        };
        assert!(matches!(
            c.at(&Point::Round(round)),
            Err(CanvasError::RoundWithoutHistory(_))
        ));
        let _ = c.save();
    }
}
