//! Markdown, for sharing a canvas outside gapmap.

use std::fmt::Write;

use super::live_by_section;
use super::research;
use crate::evidence::Evidence;
use crate::{Canvas, DocId, Group, Note, Section};

/// The canvas as a Markdown document for people (the `automerge:` URL is
/// left to the JSON export): the title, the job statement, the customer, then each framework with its sections and notes
/// as list items (`- [validated] text #tag`, then the note's evidence when
/// interviews found some: `_(+2 −1 · 2 interviewees)_`). Progress canvas
/// sections are always listed (an empty one says so); the other frameworks
/// show only the sections that hold notes, and are left out when they hold
/// none. Then, when there is something to show: the interviews with their
/// findings, the rounds, the gap-coverage checklist and the outcome
/// opportunities. Every user text goes through [`md_text`], so no note can
/// carry live HTML or a `javascript:` link into a rendered page.
pub fn to_markdown(canvas: &Canvas, _id: &DocId) -> String {
    let notes = live_by_section(canvas);
    let evidence = canvas.evidence();
    let mut out = String::new();
    let title = md_line(&canvas.title());
    let _ = writeln!(
        out,
        "# {}\n",
        if title.is_empty() {
            "Untitled canvas"
        } else {
            &title
        }
    );
    if let Some(statement) = canvas.job().statement() {
        let _ = writeln!(out, "**Job:** {}\n", md_line(&statement));
    }
    let customer = canvas.customer();
    if !customer.is_empty() {
        let _ = writeln!(out, "**Customer:** {}\n", md_line(&customer.summary()));
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
    let text = md_text(&note.text);
    let mut lines = text.lines().map(str::trim_end).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut item = format!("- [{}] {first}", note.status);
    for line in lines {
        let _ = write!(item, "  \n  {line}");
    }
    if !note.tags.is_empty() {
        let tags: Vec<String> = note
            .tags
            .iter()
            .map(|t| format!("#{}", md_text(t)))
            .collect();
        let _ = write!(item, "  {}", tags.join(" "));
    }
    item.push_str(&research::md_evidence(evidence));
    item.push('\n');
    item
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Schemes a link must not carry out of a canvas: a Markdown renderer
/// turns `[x](javascript:…)` into a live link, and browsers run it.
const UNSAFE_SCHEMES: [&str; 3] = ["javascript:", "vbscript:", "data:"];

/// User text made inert for Markdown: `&`, `<` and `>` become entities, so
/// no raw HTML, autolink or entity (which could spell a scheme) survives;
/// in a text that mentions an unsafe scheme, however disguised by case,
/// spaces or backslashes, `[` and `]` are escaped too, so it forms no link,
/// image or link definition. Other Markdown (emphasis, plain links) stays.
pub(super) fn md_text(text: &str) -> String {
    let bare: String = text
        .chars()
        .filter(|c| *c != '\\' && !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    let unsafe_link = UNSAFE_SCHEMES.iter().any(|s| bare.contains(s));
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '[' | ']' if unsafe_link => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// [`md_text`] of a text on one line.
pub(super) fn md_line(text: &str) -> String {
    md_text(&one_line(text))
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
        let expected = "# Commuters\n\n\
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
             - [ ] Catalyst: Quiet carriages\n";
        assert_eq!(md, expected);
    }

    /// The export rendered by a real CommonMark renderer (with GitHub's
    /// tables and task lists), which, like many, passes raw HTML through and
    /// does not vet link schemes: what a reader's browser would get.
    fn rendered(md: &str) -> String {
        use pulldown_cmark::{html, Options, Parser};
        let mut out = String::new();
        html::push_html(
            &mut out,
            Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS),
        );
        out
    }

    #[test]
    fn no_user_text_becomes_live_html_or_a_script_link() {
        let mut c = Canvas::create("<img src=x onerror=alert(1)> & co", "ana", 0).unwrap();
        c.set_job(Some("<script>alert('job')</script>"), None, None, 0)
            .unwrap();
        c.set_customer(Some("<b>user</b>"), Some("<iframe src=x>"), 0)
            .unwrap();
        let attacks = [
            "<script>alert(1)</script>",
            "[click me](javascript:alert(1))",
            "[tab](JaVa\\Script:alert(1)) and ![img](data:text/html;base64,PHNjcmlwdD4=)",
            "see below\n[ref]: vbscript:msgbox(1)",
            "a [ref] to the definition elsewhere",
            "&#106;avascript: [spelled](&#106;avascript:alert(1))",
            "<javascript:alert(1)> <!-- comment -->",
        ];
        for text in attacks {
            c.add_note(Section::Now, text, &["<x>".into()], "ana", 0)
                .unwrap();
        }
        let fine = c
            .add_note(
                Section::Design,
                "see [the site](https://example.org)",
                &[],
                "ana",
                0,
            )
            .unwrap();
        let i = c
            .add_interview(
                "<svg onload=alert(1)>",
                "user",
                Some("2024-01-02"),
                "ana",
                0,
            )
            .unwrap();
        c.add_finding(
            &i,
            "<script>finding</script>",
            crate::FindingTarget::Supports(fine),
            "ana",
            0,
        )
        .unwrap();
        let md = to_markdown(&c, &DocId::random());
        let html = rendered(&md);
        let lower = html.to_lowercase();
        for bad in ["<script", "<img", "<iframe", "<svg", "<b>", "<!--", "<x>"] {
            assert!(
                !lower.contains(bad),
                "{bad} is live in:\n{html}\nfrom:\n{md}"
            );
        }
        for scheme in ["javascript:", "vbscript:", "data:"] {
            assert!(
                !lower.contains(&format!("href=\"{scheme}"))
                    && !lower.contains(&format!("src=\"{scheme}")),
                "{scheme} link in:\n{html}"
            );
        }
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://example.org\">the site</a>"),
            "{html}"
        );
        assert!(!md.contains("automerge:"), "no document URL for people");
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
