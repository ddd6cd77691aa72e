//! Customers' own ratings of success outcomes: importance and satisfaction
//! per interviewee or survey respondent, kept apart from the team's
//! estimates (`ratings`), and imported from a survey's CSV file.
//!
//! ```text
//! Note (goal, hazard, problem)
//!   respondents { <person key>: { name, importance 1-10, satisfaction 1-10,
//!                                 source: "interview"|"survey", at } }
//! ```
//!
//! Keyed by the respondent's [person key](crate::Interview::person_key), so
//! "Maria Lopez" rated in an interview and in a survey is one respondent,
//! and two people entering ratings for different respondents merge.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use serde::Serialize;

use super::interviews::non_empty;
use super::Canvas;
use super::RATING_RANGE;
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_int, get_map, get_string};
use crate::interview::person_key;
use crate::note::{NoteId, Rating};
use crate::section::Group;

/// The largest survey file `import_ratings_csv` reads, in bytes: callers
/// check a file's size against it before reading it.
pub const SURVEY_MAX_BYTES: u64 = 1 << 20;
/// The most rating rows one survey file may hold.
pub const SURVEY_MAX_ROWS: usize = 10_000;

/// One respondent's rating of one outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RespondentRating {
    /// The respondent as first written.
    pub name: String,
    /// How much the outcome matters to them, 1–10.
    pub importance: Option<i64>,
    /// How well it is met for them today, 1–10.
    pub satisfaction: Option<i64>,
    /// `interview` or `survey`.
    pub source: String,
}

/// What [`Canvas::import_ratings_csv`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SurveyImport {
    /// Rating rows read.
    pub rows: usize,
    /// Distinct respondents.
    pub respondents: usize,
    /// Distinct outcomes rated.
    pub outcomes: usize,
}

/// A survey file that cannot be imported: where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if *line > 0 { format!("line {line}: ") } else { String::new() })]
pub struct SurveyError {
    /// The 1-based line of the file (0: the file as a whole).
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

fn bad(line: usize, message: impl Into<String>) -> SurveyError {
    SurveyError {
        line,
        message: message.into(),
    }
}

/// The fields of one CSV record (RFC 4180 quoting; no newlines inside
/// quotes: one record per line).
fn fields(line: &str, n: usize) -> std::result::Result<Vec<String>, SurveyError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(bad(n, "a quoted field is not closed"));
    }
    out.push(cur);
    Ok(out.into_iter().map(|f| f.trim().to_string()).collect())
}

impl Canvas {
    /// Every respondent's rating of a note, by person key.
    pub fn respondent_ratings(&self, id: &NoteId) -> BTreeMap<String, RespondentRating> {
        let Some(map) = self
            .note_obj(id)
            .ok()
            .and_then(|n| get_map(&self.doc, &n, "respondents"))
        else {
            return BTreeMap::new();
        };
        self.doc
            .keys(&map)
            .filter_map(|k| {
                let obj = get_map(&self.doc, &map, &k)?;
                let rating = RespondentRating {
                    name: get_string(&self.doc, &obj, "name").unwrap_or_else(|| k.clone()),
                    importance: get_int(&self.doc, &obj, "importance"),
                    satisfaction: get_int(&self.doc, &obj, "satisfaction"),
                    source: get_string(&self.doc, &obj, "source").unwrap_or_default(),
                };
                Some((k, rating))
            })
            .collect()
    }

    /// The same ratings as [`Rating`]s, for scoring.
    pub(crate) fn respondent_scores(&self, id: &NoteId) -> Vec<Rating> {
        self.respondent_ratings(id)
            .into_values()
            .map(|r| Rating {
                importance: r.importance,
                satisfaction: r.satisfaction,
            })
            .collect()
    }

    /// Records a customer's own rating of a success outcome — an
    /// interviewee's (`source` "interview") or a survey respondent's — apart
    /// from the team's estimates of [`Canvas::rate`]. A part not given keeps
    /// its earlier value.
    pub fn rate_as_respondent(
        &mut self,
        id: &NoteId,
        respondent: &str,
        importance: Option<i64>,
        satisfaction: Option<i64>,
        source: &str,
        now_ms: i64,
    ) -> Result<()> {
        let respondent = non_empty(respondent, "the respondent's name")?.to_string();
        self.check_rating(id, importance, satisfaction)?;
        if importance.is_none() && satisfaction.is_none() {
            return Ok(());
        }
        let obj = self.note_obj(id)?;
        let rows = [(obj, respondent, importance, satisfaction)];
        self.write(now_ms, |doc| {
            put_respondents(doc, &rows, source, now_ms)?;
            let message = format!(
                "rate note {} as respondent \"{}\"",
                id.short(),
                super::excerpt(&rows[0].1)
            );
            Ok(((), message))
        })
    }

    /// Imports a survey's ratings from CSV text: a header line naming the
    /// columns `respondent`, `outcome`, `importance`, `satisfaction` (any
    /// order, any case; other columns ignored), then one rating per line.
    /// `outcome` is a goal, hazard or problem note's id (or a unique prefix
    /// of 4+ characters) or its exact text (any case). All or nothing: any
    /// bad line and nothing changes; the error names the line.
    pub fn import_ratings_csv(
        &mut self,
        csv: &str,
        now_ms: i64,
    ) -> std::result::Result<SurveyImport, SurveyError> {
        let mut lines = csv
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
            .filter(|(_, l)| !l.trim().is_empty());
        let (header_line, header) = lines.next().ok_or_else(|| bad(0, "the file is empty"))?;
        let header: Vec<String> = fields(header, header_line)?
            .into_iter()
            .map(|h| h.to_lowercase())
            .collect();
        let column = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                bad(
                    header_line,
                    format!("no {name:?} column: the header must name respondent, outcome, importance, satisfaction"),
                )
            })
        };
        let (who, what, imp, sat) = (
            column("respondent")?,
            column("outcome")?,
            column("importance")?,
            column("satisfaction")?,
        );
        let outcomes: Vec<crate::Note> = self
            .notes()
            .into_iter()
            .filter(|n| !n.is_trashed() && n.section.group() == Group::Outcomes)
            .collect();
        let mut seen: BTreeMap<(String, NoteId), usize> = BTreeMap::new();
        let mut rows = Vec::new();
        for (n, line) in lines {
            if rows.len() == SURVEY_MAX_ROWS {
                return Err(bad(
                    n,
                    format!("more than {SURVEY_MAX_ROWS} ratings: split the file"),
                ));
            }
            let f = fields(line, n)?;
            let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
            let respondent = get(who);
            if respondent.is_empty() {
                return Err(bad(n, "the respondent is empty"));
            }
            let outcome = get(what);
            let note = self
                .resolve_note(outcome)
                .ok()
                .filter(|id| outcomes.iter().any(|o| o.id == *id))
                .or_else(|| {
                    let want = outcome.to_lowercase();
                    let mut by_text = outcomes.iter().filter(|o| o.text.trim().to_lowercase() == want);
                    match (by_text.next(), by_text.next()) {
                        (Some(o), None) => Some(o.id.clone()),
                        _ => None,
                    }
                })
                .ok_or_else(|| {
                    bad(
                        n,
                        format!("{outcome:?} is not a goal, hazard or problem of this canvas (give its id or exact text)"),
                    )
                })?;
            let score = |i: usize, what: &str| -> std::result::Result<Option<i64>, SurveyError> {
                match get(i) {
                    "" => Ok(None),
                    v => match v.parse::<i64>() {
                        Ok(x) if RATING_RANGE.contains(&x) => Ok(Some(x)),
                        _ => Err(bad(
                            n,
                            format!("{what} must be a whole number from 1 to 10, got {v:?}"),
                        )),
                    },
                }
            };
            let (importance, satisfaction) =
                (score(imp, "importance")?, score(sat, "satisfaction")?);
            if importance.is_none() && satisfaction.is_none() {
                return Err(bad(n, "neither importance nor satisfaction is given"));
            }
            if let Some(first) = seen.insert((person_key(respondent), note.clone()), n) {
                return Err(bad(
                    n,
                    format!("{respondent:?} already rated this outcome on line {first}"),
                ));
            }
            let obj = self.note_obj(&note).map_err(|e| bad(n, e.to_string()))?;
            rows.push((obj, respondent.to_string(), importance, satisfaction));
        }
        if rows.is_empty() {
            return Err(bad(0, "no ratings after the header"));
        }
        let report = SurveyImport {
            rows: rows.len(),
            respondents: {
                let mut v: Vec<String> = seen.keys().map(|(p, _)| p.clone()).collect();
                v.dedup();
                v.sort();
                v.dedup();
                v.len()
            },
            outcomes: {
                let mut v: Vec<&NoteId> = seen.keys().map(|(_, o)| o).collect();
                v.sort();
                v.dedup();
                v.len()
            },
        };
        self.write(now_ms, |doc| {
            put_respondents(doc, &rows, "survey", now_ms)?;
            let message = format!(
                "import {} survey ratings from {} respondents",
                report.rows, report.respondents
            );
            Ok(((), message))
        })
        .map_err(|e| bad(0, e.to_string()))?;
        Ok(report)
    }

    fn check_rating(
        &self,
        id: &NoteId,
        importance: Option<i64>,
        satisfaction: Option<i64>,
    ) -> Result<()> {
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
        Ok(())
    }
}

type Row = (automerge::ObjId, String, Option<i64>, Option<i64>);

fn put_respondents(
    doc: &mut automerge::AutoCommit,
    rows: &[Row],
    source: &str,
    now_ms: i64,
) -> Result<()> {
    for (obj, name, importance, satisfaction) in rows {
        let map = ensure_map(doc, obj, "respondents")?;
        let theirs = ensure_map(doc, &map, &person_key(name))?;
        if get_string(doc, &theirs, "name").is_none() {
            doc.put(&theirs, "name", name.trim())?;
        }
        if let Some(i) = importance {
            doc.put(&theirs, "importance", *i)?;
        }
        if let Some(s) = satisfaction {
            doc.put(&theirs, "satisfaction", *s)?;
        }
        doc.put(&theirs, "source", source)?;
        doc.put(&theirs, "at", now_ms)?;
    }
    Ok(())
}
