//! The board's research operations and what the page is sent about
//! interviews and evidence.
//!
//! Every change goes through the same canvas calls as the CLI's
//! `interview new`, `interview note` and `finding add` (crates/cli/src/research.rs),
//! and the evidence on each note is [`Canvas::evidence_report`], the figures
//! `gapmap evidence --json` prints, so the board and the terminal agree.

use std::collections::HashMap;

use anyhow::{bail, Result};
use gapmap_canvas::{Canvas, EvidenceFilter, NewFinding, Note, NoteEvidence, Scope, Suggestion};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ops::{MAX_SHORT, MAX_TEXT};

/// Most notes one finding may be linked to in one message.
const MAX_LINKS: usize = 32;

/// `{"op":"interview-new", "interviewee": …}`: a new interview.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInterview {
    interviewee: String,
    /// The customer type; the canvas's own when absent, as on the CLI.
    customer_type: Option<String>,
    /// `YYYY-MM-DD`; today when absent.
    date: Option<String>,
}

/// `{"op":"round-start", "label": …, "focus": [section…]}`: a new round.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundStart {
    label: String,
    #[serde(default)]
    focus: Vec<String>,
}

/// `{"op":"interview-note", "interview": …, "text": …}`: a transcript line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptLine {
    interview: String,
    text: String,
}

/// `{"op":"finding-add", "interview": …, "quote": …, "supports": [note…],
/// "contradicts": [note…]}`: a finding as evidence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingAdd {
    interview: String,
    quote: String,
    #[serde(default)]
    interpretation: String,
    #[serde(default)]
    supports: Vec<String>,
    #[serde(default)]
    contradicts: Vec<String>,
}

fn bounded(text: &str, max: usize, what: &str) -> Result<()> {
    let n = text.chars().count();
    if n > max {
        bail!("{what} is too long: {n} characters, at most {max}");
    }
    Ok(())
}

/// Carries out `interview-new`; the page is told the new interview's id.
pub fn new_interview(c: &mut Canvas, op: &NewInterview, author: &str, now: i64) -> Result<Value> {
    bounded(&op.interviewee, MAX_SHORT, "the interviewee's name")?;
    let kind = match &op.customer_type {
        Some(k) => {
            bounded(k, MAX_SHORT, "the customer type")?;
            k.clone()
        }
        None => c.customer().kind,
    };
    if let Some(d) = &op.date {
        bounded(d, MAX_SHORT, "the date")?;
    }
    let id = c.add_interview(&op.interviewee, &kind, op.date.as_deref(), author, now)?;
    Ok(json!({ "interview": id.as_str() }))
}

/// Carries out `interview-note`: one timestamped line at the transcript's end.
pub fn transcript_line(
    c: &mut Canvas,
    op: &TranscriptLine,
    author: &str,
    now: i64,
) -> Result<Value> {
    bounded(&op.interview, MAX_SHORT, "an interview id")?;
    bounded(&op.text, MAX_TEXT, "the transcript line")?;
    let id = c.resolve_interview(&op.interview)?;
    c.append_transcript(&id, &op.text, author, now)?;
    Ok(Value::Null)
}

/// Carries out `finding-add`; the page is told the new finding's id.
pub fn add_finding(c: &mut Canvas, op: &FindingAdd, author: &str, now: i64) -> Result<Value> {
    bounded(&op.interview, MAX_SHORT, "an interview id")?;
    bounded(&op.quote, MAX_TEXT, "the quote")?;
    bounded(&op.interpretation, MAX_TEXT, "the interpretation")?;
    if op.supports.len() + op.contradicts.len() > MAX_LINKS {
        bail!("a finding links to at most {MAX_LINKS} notes at once");
    }
    for n in op.supports.iter().chain(&op.contradicts) {
        bounded(n, MAX_SHORT, "a note id")?;
    }
    let interview = c.resolve_interview(&op.interview)?;
    let links = crate::research_model::links(c, &op.supports, &op.contradicts)?;
    let finding = NewFinding {
        quote: op.quote.clone(),
        interpretation: op.interpretation.clone(),
        links,
        new_note: None,
    };
    let (id, _) = c.record_finding(&interview, &finding, author, now)?;
    Ok(json!({ "finding": id.as_str() }))
}

/// Carries out `round-start`, as `gapmap round start LABEL --focus S…`;
/// the page is told the round as `round list --json` gives it.
pub fn start_round(c: &mut Canvas, op: &RoundStart, author: &str, now: i64) -> Result<Value> {
    bounded(&op.label, MAX_SHORT, "the round's label")?;
    if op.focus.len() > MAX_LINKS {
        bail!("a round focuses on at most {MAX_LINKS} sections");
    }
    let focus = op
        .focus
        .iter()
        .map(|s| {
            bounded(s, MAX_SHORT, "a section")?;
            crate::words::section(s)
        })
        .collect::<Result<Vec<_>>>()?;
    let id = c.start_round(&op.label, &focus, author, now)?;
    let round = c.rounds().into_iter().find(|r| r.id == id);
    Ok(round.map_or(Value::Null, |r| crate::research::round_json(&r)))
}

/// The evidence on every live note of `notes` (all the canvas's, as
/// [`Canvas::notes`] reads them), by note id, as `gapmap evidence --json`
/// gives it.
pub fn evidence(canvas: &Canvas, notes: &[Note]) -> HashMap<String, NoteEvidence> {
    canvas
        .evidence_report_of(notes.to_vec(), EvidenceFilter::All, &Scope::all())
        .into_iter()
        .map(|e| (e.note.to_string(), e))
        .collect()
}

/// A note's badge: its counts, interviewees and findings (zeros when none).
pub fn badge(evidence: Option<&NoteEvidence>) -> Value {
    match evidence {
        None => json!({ "supports": 0, "contradicts": 0, "interviewees": [], "findings": [] }),
        Some(e) => json!({
            "supports": e.supports,
            "contradicts": e.contradicts,
            "interviewees": e.interviewees,
            "findings": e.findings,
        }),
    }
}

/// What the review suggests for each note it has something to say about
/// (settled notes left out), as `gapmap review --json` gives each, with the
/// status its one action applies (`apply`, null when it suggests none).
pub fn review(canvas: &Canvas) -> Value {
    canvas
        .review(crate::research::REVIEW_MIN)
        .iter()
        .filter(|i| i.suggestion != Suggestion::Settled)
        .map(|i| {
            let mut row = crate::research::review_json(i);
            row["apply"] = json!(crate::research::suggested_status(i));
            row
        })
        .collect()
}

/// The interviews not in the trash, as `gapmap interview show --json`
/// gives each.
pub fn interviews(canvas: &Canvas) -> Value {
    canvas
        .interviews()
        .iter()
        .map(crate::research::interview_json)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::ops::{apply, parse};
    use super::*;
    use gapmap_canvas::Section;

    const NOW: i64 = 1_700_000_000_000;

    fn run(c: &mut Canvas, msg: &str) -> Result<Value> {
        let (_, op) = parse(msg);
        apply(c, &op?, "ana", NOW)
    }

    #[test]
    fn an_interview_its_lines_and_findings_are_evidence_on_the_notes() {
        let mut c = Canvas::create("Research", "ana", NOW).unwrap();
        let a = c
            .add_note(Section::Now, "pays by hand", &[], "ana", NOW)
            .unwrap();
        let b = c
            .add_note(Section::ToBe, "paid on time", &[], "ana", NOW)
            .unwrap();
        let made = run(&mut c, r#"{"op":"interview-new","interviewee":"Maria"}"#).unwrap();
        let interview = made["interview"].as_str().unwrap().to_string();
        run(
            &mut c,
            &format!(
                r#"{{"op":"interview-note","interview":"{interview}","text":"I pay on Fridays"}}"#
            ),
        )
        .unwrap();
        assert!(c.interviews()[0]
            .transcript
            .contains("ana] I pay on Fridays"));
        run(
            &mut c,
            &format!(
                r#"{{"op":"finding-add","interview":"{interview}","quote":"I pay on Fridays","supports":["{a}"],"contradicts":["{b}"]}}"#
            ),
        )
        .unwrap();
        let ev = evidence(&c, &c.notes());
        let badge_a = badge(ev.get(a.as_str()));
        assert_eq!(
            (
                badge_a["supports"].as_u64(),
                badge_a["contradicts"].as_u64()
            ),
            (Some(1), Some(0))
        );
        assert_eq!(badge_a["interviewees"][0], "Maria");
        assert_eq!(badge_a["findings"][0]["quote"], "I pay on Fridays");
        let badge_b = badge(ev.get(b.as_str()));
        assert_eq!(
            (
                badge_b["supports"].as_u64(),
                badge_b["contradicts"].as_u64()
            ),
            (Some(0), Some(1))
        );
        assert_eq!(badge(None)["supports"], 0);
        assert_eq!(interviews(&c)[0]["findings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn bad_research_input_changes_nothing() {
        let mut c = Canvas::create("Research", "ana", NOW).unwrap();
        let a = c
            .add_note(Section::Now, "pays by hand", &[], "ana", NOW)
            .unwrap();
        let id = c.add_interview("Maria", "", None, "ana", NOW).unwrap();
        let heads = c.doc_mut().get_heads();
        let long = "x".repeat(MAX_TEXT + 1);
        for bad in [
            r#"{"op":"interview-new","interviewee":"  "}"#.to_string(),
            r#"{"op":"interview-new","interviewee":"Maria","date":"yesterday"}"#.to_string(),
            r#"{"op":"interview-new","interviewee":"Maria","extra":1}"#.to_string(),
            format!(r#"{{"op":"interview-note","interview":"{id}","text":"{long}"}}"#),
            r#"{"op":"interview-note","interview":"nosuch","text":"x"}"#.to_string(),
            format!(r#"{{"op":"finding-add","interview":"{id}","quote":"  ","supports":["{a}"]}}"#),
            format!(
                r#"{{"op":"finding-add","interview":"{id}","quote":"q","supports":["nosuchnote"]}}"#
            ),
            format!(
                r#"{{"op":"finding-add","interview":"{id}","quote":"q","supports":["{a}"],"contradicts":["{a}"]}}"#
            ),
            r#"{"op":"round-start","label":"r2","focus":["nowhere"]}"#.to_string(),
            r#"{"op":"round-start","label":"now"}"#.to_string(),
        ] {
            assert!(run(&mut c, &bad).is_err(), "{bad}");
        }
        assert_eq!(c.doc_mut().get_heads(), heads);
        let round = run(
            &mut c,
            r#"{"op":"round-start","label":"r2","focus":["constraint"]}"#,
        )
        .unwrap();
        assert_eq!(
            (round["label"].as_str(), round["focus"][0].as_str()),
            (Some("r2"), Some("constraint"))
        );
        assert!(
            run(&mut c, r#"{"op":"round-start","label":"r2"}"#).is_err(),
            "labels are unique"
        );
    }
}
