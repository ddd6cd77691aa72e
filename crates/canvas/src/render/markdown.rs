//! Markdown, for sharing a canvas outside gapmap.

use std::fmt::Write;

use super::live_by_section;
use super::research;
use crate::evidence::Evidence;
use crate::{Canvas, DocId, Group, Note, Section};

/// The canvas as a Markdown document: the title, the document URL, the job
/// statement, the customer, then each framework with its sections and notes
/// as list items (`- [validated] text #tag`, then the note's evidence when
/// interviews found some: `_(+2 −1 · 2 interviewees)_`). Progress canvas
/// sections are always listed (an empty one says so); the other frameworks
/// show only the sections that hold notes, and are left out when they hold
/// none. Then, when there is something to show: the interviews with their
/// findings, the rounds, the gap-coverage checklist and the outcome
/// opportunities.
pub fn to_markdown(canvas: &Canvas, id: &DocId) -> String {
    let notes = live_by_section(canvas);
    let evidence = canvas.evidence();
    let mut out = String::new();
    let title = one_line(&canvas.title());
    let _ = writeln!(
        out,
        "# {}\n",
        if title.is_empty() {
            "Untitled canvas"
        } else {
            &title
        }
    );
    let _ = writeln!(out, "`{}`\n", id.url());
    if let Some(statement) = canvas.job().statement() {
        let _ = writeln!(out, "**Job:** {}\n", one_line(&statement));
    }
    let customer = canvas.customer();
    if !customer.is_empty() {
        let kind = one_line(&customer.kind);
        let description = one_line(&customer.description);
        let text = match (kind.as_str(), description.as_str()) {
            (kind, "") => kind.to_string(),
            ("", description) => description.to_string(),
            (kind, description) => format!("{kind} — {description}"),
        };
        let _ = writeln!(out, "**Customer:** {text}\n");
    }
    for group in Group::ALL {
        let progress = group == Group::Progress;
        if !progress && group.sections().all(|s| notes[&s].is_empty()) {
            continue;
        }
        let _ = writeln!(out, "## {}\n", group.title());
        for (i, section) in group.sections().enumerate() {
            let list = &notes[&section];
            if list.is_empty() && !progress {
                continue;
            }
            let title = match section {
                Section::Constraint | Section::Catalyst => format!("GAP: {}", section.title()),
                s if group == Group::JobMap => format!("{}. {}", i + 1, s.title()),
                s => s.title().to_string(),
            };
            let _ = writeln!(out, "### {title}\n");
            if list.is_empty() {
                out.push_str("_(empty)_\n\n");
                continue;
            }
            for note in list {
                out.push_str(&note_item(note, evidence.get(&note.id)));
            }
            out.push('\n');
        }
    }
    out.push_str(&research::markdown(canvas));
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `- [status] text  #tag #tag`; later lines of a multi-line text are
/// indented to stay inside the list item.
fn note_item(note: &Note, evidence: Option<&Evidence>) -> String {
    let mut lines = note
        .text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut item = format!("- [{}] {first}", note.status);
    for line in lines {
        let _ = write!(item, "  \n  {line}");
    }
    if !note.tags.is_empty() {
        let tags: Vec<String> = note.tags.iter().map(|t| format!("#{t}")).collect();
        let _ = write!(item, "  {}", tags.join(" "));
    }
    item.push_str(&research::md_evidence(evidence));
    item.push('\n');
    item
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn reads_as_a_document() {
        let mut c = Canvas::create("Commuters", "ana", 0).unwrap();
        c.set_job(
            Some("I commute by train"),
            Some("work on the way"),
            Some("get home earlier"),
            0,
        )
        .unwrap();
        c.set_customer(Some("user"), Some("daily commuter"), 0)
            .unwrap();
        let a = c
            .add_note(
                Section::Now,
                "Reads email\non a phone",
                &["mobile".into()],
                "ana",
                0,
            )
            .unwrap();
        c.mark(&a, Status::Validated, 0).unwrap();
        c.add_note(Section::Catalyst, "Quiet carriages", &[], "ana", 0)
            .unwrap();
        c.add_note(Section::Execute, "Writes on the laptop", &[], "ana", 0)
            .unwrap();
        let gone = c.add_note(Section::Pain, "trashed", &[], "ana", 0).unwrap();
        c.trash_note(&gone, 0).unwrap();
        let id = DocId::random();
        let md = to_markdown(&c, &id);
        let expected = format!(
            "# Commuters\n\n\
             `{}`\n\n\
             **Job:** When I commute by train, I want to work on the way, so I can get home earlier.\n\n\
             **Customer:** user — daily commuter\n\n\
             ## Customer progress canvas\n\n\
             ### NOW\n\n\
             - [validated] Reads email  \n  on a phone  #mobile\n\n\
             ### TO BE\n\n_(empty)_\n\n\
             ### GAP: Constraints\n\n_(empty)_\n\n\
             ### GAP: Catalysts\n\n\
             - [hypothesis] Quiet carriages\n\n\
             ### Design\n\n_(empty)_\n\n\
             ## Universal job map\n\n\
             ### 5. Execute\n\n\
             - [hypothesis] Writes on the laptop\n\n\
             ## Gap coverage\n\n\
             _What can you design that fills the gap better than anything else?_\n\n\
             - [ ] Catalyst: Quiet carriages\n",
            id.url()
        );
        assert_eq!(md, expected);
    }

    #[test]
    fn bare_canvas_has_no_job_or_customer_lines() {
        let c = Canvas::create("Bare", "", 0).unwrap();
        let md = to_markdown(&c, &DocId::random());
        assert!(!md.contains("**Job:**"));
        assert!(!md.contains("**Customer:**"));
        assert!(!md.contains("## Forces of progress"));
        assert!(md.ends_with("### Design\n\n_(empty)_\n"));
    }
}
