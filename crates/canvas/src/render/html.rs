//! A standalone HTML page of the canvas: no scripts, no external assets,
//! printable. Sections carry `data-section`, notes `data-note-id`, as on the
//! web board.

use std::fmt::Write;

use super::live_by_section;
use super::research;
use super::svg::{heading, subtitle};
use crate::evidence::Evidence;
use crate::{Canvas, DocId, Group, Note, Section, Status};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:15px/1.4 system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{margin:0 0 .25rem}
.job,.customer{margin:.5rem 0}
.progress{display:grid;grid-template-columns:1fr 2rem 1fr 2rem 1fr;gap:0;margin:1.5rem 0 1rem}
.arrow{align-self:start;text-align:center;font-size:1.6rem;color:#999;padding-top:.4rem}
.gap{display:flex;flex-direction:column;gap:1rem}
.forces{display:grid;grid-template-columns:1fr 1fr;gap:1rem;margin-bottom:1.5rem}
.sub{display:block;font-size:.75rem;color:#777;text-transform:none;letter-spacing:0;font-weight:normal}
.tag{color:#5a5a8c}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.25rem;align-items:center;font-size:.85rem;color:#444;margin:1.5rem 0}
.legend .note{display:inline-block;margin:0;padding:.1rem .5rem}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.75rem}
section h3{margin:0 0 .5rem;font-size:1rem;text-transform:uppercase;letter-spacing:.03em}
.group{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:1rem;margin-bottom:1.5rem}
.note{border-radius:4px;padding:.4rem .5rem;margin:.35rem 0;background:#fff7b3;white-space:pre-wrap}
.note.validated{background:#c9f2c7}.note.invalidated{background:#f6c4c4;text-decoration:line-through}
.meta{display:block;font-size:.75rem;color:#555;margin-top:.2rem}
.empty{color:#999;font-style:italic}
.evidence{font-weight:600;color:#2a6f4e}
.interview{margin:.75rem 0}.finding.contradicts strong{color:#a33}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
.coverage{list-style:none;padding:0}.coverage .open{color:#a33}
";

/// The canvas as one self-contained HTML document, laid out as the SVG
/// picture is: job and customer on top, NOW → GAP → TO BE, the design, the
/// forces 2×2, then a legend (the `automerge:` URL is left to the JSON
/// export).
///
/// After the canvas, when there is something to show: interviews with their
/// findings, rounds, the gap-coverage checklist and outcome opportunities;
/// notes with evidence carry a `+2 −1 · 2 interviewees` badge.
pub fn to_html(canvas: &Canvas, _id: &DocId) -> String {
    let notes = live_by_section(canvas);
    let evidence = canvas.evidence();
    let title = canvas.title();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = escape(&title),
    );
    if let Some(statement) = canvas.job().statement() {
        let _ = writeln!(
            out,
            "<p class=\"job\"><strong>Job:</strong> {}</p>",
            escape(&statement)
        );
    }
    let customer = canvas.customer();
    if !customer.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"customer\"><strong>Customer:</strong> {}</p>",
            escape(&customer.summary())
        );
    }
    let section_html = |section: Section| {
        let sub = match subtitle(section) {
            "" => String::new(),
            text => format!("<span class=\"sub\">{text}</span>"),
        };
        let mut s = format!(
            "<section data-section=\"{}\"><h3>{}{sub}</h3>\n",
            section.id(),
            escape(&heading(section))
        );
        let list = &notes[&section];
        if list.is_empty() {
            s.push_str("<p class=\"empty\">(empty)</p>\n");
        }
        for note in list {
            s.push_str(&note_html(note, evidence.get(&note.id)));
        }
        s.push_str("</section>\n");
        s
    };
    out.push_str("<h2>Customer Progress Canvas</h2>\n<div class=\"progress\">\n");
    out.push_str(&section_html(Section::Now));
    out.push_str("<div class=\"arrow\" aria-hidden=\"true\">→</div>\n<div class=\"gap\">\n");
    out.push_str(&section_html(Section::Constraint));
    out.push_str(&section_html(Section::Catalyst));
    out.push_str("</div>\n<div class=\"arrow\" aria-hidden=\"true\">→</div>\n");
    out.push_str(&section_html(Section::ToBe));
    out.push_str("</div>\n");
    out.push_str(&section_html(Section::Design));
    for group in Group::ALL.into_iter().filter(|g| *g != Group::Progress) {
        if group.sections().all(|s| notes[&s].is_empty()) {
            continue;
        }
        let class = if group == Group::Forces {
            "forces"
        } else {
            "group"
        };
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<div class=\"{class}\">",
            escape(group.title())
        );
        for section in group.sections() {
            out.push_str(&section_html(section));
        }
        out.push_str("</div>\n");
    }
    out.push_str(LEGEND);
    out.push_str(&research::html(canvas));
    out.push_str("</body>\n</html>\n");
    out
}

/// What the colours and marks of the notes mean.
const LEGEND: &str = "<div class=\"legend\" data-legend><strong>Legend</strong>\
<span class=\"note hypothesis\">hypothesis</span><span class=\"note validated\">validated</span>\
<span class=\"note invalidated\">invalidated</span><span><span class=\"tag\">#tag</span> tags</span>\
<span><span class=\"evidence\">+2 −1 · 2 interviewees</span> findings for and against the note, and from how many people</span></div>\n";

fn note_html(note: &Note, evidence: Option<&Evidence>) -> String {
    let status = match note.status {
        Status::Hypothesis => "hypothesis",
        Status::Validated => "validated",
        Status::Invalidated => "invalidated",
    };
    let tags: String = note
        .tags
        .iter()
        .map(|t| format!(" <span class=\"tag\">#{}</span>", escape(t)))
        .collect();
    format!(
        "<div class=\"note {status}\" data-note-id=\"{id}\">{text}<span class=\"meta\">{status} · {author}{tags}{evidence}</span></div>\n",
        id = escape(note.id.as_str()),
        text = escape(&note.text),
        author = escape(&note.author),
        evidence = research::html_evidence(evidence),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_marks_sections_and_notes() {
        let mut c = Canvas::create("A <b> & co", "ana", 1).unwrap();
        let id = c
            .add_note(Section::Now, "uses \"<script>\"", &[], "ana", 2)
            .unwrap();
        let html = to_html(&c, &DocId::random());
        assert!(html.contains("A &lt;b&gt; &amp; co"));
        assert!(html.contains("uses &quot;&lt;script&gt;&quot;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains(&format!("data-note-id=\"{id}\"")));
        assert!(html.contains("data-legend"));
        assert!(!html.contains("automerge:"), "no document URL for people");
        for s in ["now", "to-be", "constraint", "catalyst", "design"] {
            assert!(html.contains(&format!("data-section=\"{s}\"")), "{s}");
        }
    }
}
