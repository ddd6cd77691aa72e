//! CSV for spreadsheets: one row per live note, or one row per finding.
//!
//! RFC 4180: comma-separated, CRLF line ends, fields quoted when they hold
//! a comma, a quote or a line break. Free-text cells that a spreadsheet
//! would run as a formula (starting with `=`, `+`, `-`, `@`) get a leading
//! `'`, so opening an export never runs anything.

use std::collections::BTreeMap;

use super::live_by_section;
use crate::time::format_datetime;
use crate::{Canvas, Note, NoteId};

/// A text cell, quoted when needed and defused against formula injection.
fn text(cell: &str) -> String {
    let defused = match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    };
    quote(&defused)
}

/// A cell quoted when it needs to be.
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.1}")).unwrap_or_default()
}

fn time(ms: i64) -> String {
    if ms == 0 {
        String::new()
    } else {
        format_datetime(ms)
    }
}

fn row(cells: Vec<String>) -> String {
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

/// Every live note, in canvas order: `id,section,status,text,tags,author,
/// created,updated,votes,supports,contradicts,interviewees,importance,
/// satisfaction,opportunity,links`.
pub fn to_csv_notes(canvas: &Canvas) -> String {
    let evidence = canvas.evidence();
    let outcomes: BTreeMap<NoteId, crate::OutcomeScore> = canvas
        .outcomes()
        .into_iter()
        .map(|o| (o.note.id.clone(), o))
        .collect();
    let mut out = row([
        "id",
        "section",
        "status",
        "text",
        "tags",
        "author",
        "created",
        "updated",
        "votes",
        "supports",
        "contradicts",
        "interviewees",
        "importance",
        "satisfaction",
        "opportunity",
        "links",
    ]
    .map(String::from)
    .to_vec());
    let notes: Vec<Note> = live_by_section(canvas).into_values().flatten().collect();
    for note in notes {
        let e = evidence.get(&note.id).cloned().unwrap_or_default();
        let o = outcomes.get(&note.id);
        let links: Vec<String> = note
            .links
            .iter()
            .map(|(to, kind)| format!("{kind}:{to}"))
            .collect();
        out.push_str(&row(vec![
            quote(note.id.as_str()),
            note.section.id().to_string(),
            note.status.as_str().to_string(),
            text(&note.text),
            text(&note.tags.join(" ")),
            text(&note.author),
            time(note.created_at),
            time(note.updated_at),
            note.votes.len().to_string(),
            e.supports.to_string(),
            e.contradicts.to_string(),
            text(&e.interviewees.join("; ")),
            number(o.and_then(|o| o.importance)),
            number(o.and_then(|o| o.satisfaction)),
            number(o.and_then(|o| o.opportunity)),
            quote(&links.join(" ")),
        ]));
    }
    out
}

/// Every finding, by interview then time: `finding,interview,interviewee,
/// customer_type,date,effect,note,section,note_text,text,author,at`.
pub fn to_csv_findings(canvas: &Canvas) -> String {
    let mut out = row([
        "finding",
        "interview",
        "interviewee",
        "customer_type",
        "date",
        "effect",
        "note",
        "section",
        "note_text",
        "text",
        "author",
        "at",
    ]
    .map(String::from)
    .to_vec());
    for interview in canvas.interviews() {
        for f in &interview.findings {
            let note = f.note.as_ref().and_then(|n| canvas.note(n));
            out.push_str(&row(vec![
                quote(f.id.as_str()),
                quote(interview.id.as_str()),
                text(&interview.interviewee),
                text(&interview.customer_type),
                quote(&interview.date),
                f.effect.as_str().to_string(),
                quote(f.note.as_ref().map(|n| n.as_str()).unwrap_or("")),
                note.as_ref()
                    .map(|n| n.section.id())
                    .unwrap_or("")
                    .to_string(),
                text(note.as_ref().map(|n| n.text.as_str()).unwrap_or("")),
                text(&f.text),
                text(&f.author),
                time(f.at),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FindingTarget, Section};

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("a, b"), "\"a, b\"");
        assert_eq!(text("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(text("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(text("-1, or so"), "\"'-1, or so\"");
    }

    #[test]
    fn notes_and_findings_as_rows() {
        let mut c = Canvas::create("CSV", "ana", T0).unwrap();
        let n = c
            .add_note(Section::Now, "Uses a spreadsheet, badly", &[], "ana", T0)
            .unwrap();
        let g = c
            .add_note(Section::Goal, "Paid on time", &[], "ana", T0)
            .unwrap();
        c.rate(&g, "ana", Some(9), Some(3), T0).unwrap();
        let i = c
            .add_interview("Maria", "user", Some("2024-05-17"), "ana", T0)
            .unwrap();
        c.add_finding(
            &i,
            "Showed me \"the sheet\"",
            FindingTarget::Supports(n.clone()),
            "bo",
            T0,
        )
        .unwrap();
        c.add_finding(&i, "Has kids", FindingTarget::Unattached, "bo", T0 + 1)
            .unwrap();

        let notes = to_csv_notes(&c);
        let lines: Vec<&str> = notes.split("\r\n").collect();
        assert_eq!(lines.len(), 4, "header, two notes, empty end: {notes}");
        assert!(lines[0].starts_with("id,section,status,text,"));
        assert_eq!(
            lines[1],
            format!("{n},now,hypothesis,\"Uses a spreadsheet, badly\",,ana,2023-11-14 22:13,2023-11-14 22:13,0,1,0,Maria,,,,")
        );
        assert!(lines[2].ends_with(",9.0,3.0,15.0,"), "{}", lines[2]);

        let findings = to_csv_findings(&c);
        let lines: Vec<&str> = findings.split("\r\n").collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].contains(&format!(
            ",supports,{n},now,\"Uses a spreadsheet, badly\",\"Showed me \"\"the sheet\"\"\",bo,"
        )));
        assert!(lines[2].contains(",new,,,,Has kids,bo,"), "{}", lines[2]);
    }
}
