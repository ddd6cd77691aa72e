//! The research parts of the Markdown and HTML exports: evidence per note,
//! interviews with their findings, the round history, the gap-coverage
//! checklist and outcome opportunities. Each part is left out when there
//! is nothing to show.

use std::fmt::Write;

use super::html::escape;
use super::markdown::{md_line, md_text};
use crate::evidence::Evidence;
use crate::time::format_datetime;
use crate::{Canvas, Effect, Interview};

/// ` _(+2 −1 · 2 interviewees)_` after a Markdown note, or nothing.
pub(super) fn md_evidence(evidence: Option<&Evidence>) -> String {
    match evidence {
        Some(e) if !e.is_empty() => format!("  _({})_", e.summary()),
        _ => String::new(),
    }
}

/// The evidence badge of an HTML note, or nothing.
pub(super) fn html_evidence(evidence: Option<&Evidence>) -> String {
    match evidence {
        Some(e) if !e.is_empty() => format!(
            " <span class=\"evidence\" title=\"{}\">{}</span>",
            escape(&e.interviewees.join(", ")),
            escape(&e.summary())
        ),
        _ => String::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn interview_title(i: &Interview) -> String {
    let mut title = format!("{} — {}", i.date, one_line(&i.interviewee));
    if !i.customer_type.trim().is_empty() {
        let _ = write!(title, " ({})", one_line(&i.customer_type));
    }
    title
}

/// What a finding says about each note it is linked to, for a list item:
/// `supports “note text” (now); contradicts “…” (to-be)`.
fn finding_links(canvas: &Canvas, f: &crate::Finding) -> String {
    if f.links.is_empty() {
        return Effect::New.to_string();
    }
    let parts: Vec<String> = f
        .links
        .iter()
        .map(|l| finding_about(canvas, l.effect, Some(&l.note)))
        .collect();
    parts.join("; ")
}

/// A finding's quote and interpretation: `“quote” — interpretation`.
fn finding_words(f: &crate::Finding) -> String {
    let quote = match one_line(&f.text) {
        q if q.is_empty() => "(erased)".to_string(),
        q => format!("\u{201c}{q}\u{201d}"),
    };
    match one_line(&f.interpretation) {
        i if i.is_empty() => quote,
        i => format!("{quote} — {i}"),
    }
}

/// What a finding is about, for a list item: `supports “note text”`.
fn finding_about(canvas: &Canvas, effect: Effect, note: Option<&crate::NoteId>) -> String {
    match note.and_then(|n| canvas.note(n)) {
        Some(n) => format!(
            "{effect} \u{201c}{}\u{201d} ({})",
            one_line(&n.text),
            n.section
        ),
        None => effect.to_string(),
    }
}

/// The Markdown sections after the canvas.
pub(super) fn markdown(canvas: &Canvas) -> String {
    let mut out = String::new();
    let interviews = canvas.interviews();
    if !interviews.is_empty() {
        out.push_str("## Interviews\n\n");
        if canvas.is_anonymised() {
            out.push_str("_Interviewees are pseudonymised._\n\n");
        }
        for i in &interviews {
            let _ = writeln!(out, "### {}\n", md_text(&interview_title(i)));
            let n = i.findings.len();
            let plural = if n == 1 { "" } else { "s" };
            let _ = writeln!(
                out,
                "_by {} · {} question{} · {n} finding{plural}_\n",
                md_line(&i.author),
                i.questions.len(),
                if i.questions.len() == 1 { "" } else { "s" }
            );
            for f in &i.findings {
                let _ = writeln!(
                    out,
                    "- {}: {}",
                    md_text(&finding_links(canvas, f)),
                    md_line(&finding_words(f))
                );
            }
            if n > 0 {
                out.push('\n');
            }
            // Transcripts are the interviewee's own words: an anonymised
            // export leaves them out rather than trust name scrubbing.
            if !canvas.is_anonymised() && !i.transcript.trim().is_empty() {
                out.push_str("Transcript:\n\n");
                for line in i.transcript.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(out, "> {}  ", md_line(line));
                }
                out.push('\n');
            }
        }
    }
    let rounds = canvas.rounds();
    if !rounds.is_empty() {
        out.push_str("## Rounds\n\n| round | started | by | about |\n|---|---|---|---|\n");
        for r in &rounds {
            let focus: Vec<&str> = r.focus.iter().map(|s| s.id()).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_line(&r.label).replace('|', "\\|"),
                format_datetime(r.at),
                md_line(&r.author).replace('|', "\\|"),
                focus.join(", ")
            );
        }
        out.push('\n');
    }
    let coverage = canvas.coverage();
    if !coverage.constraints.is_empty() || !coverage.catalysts.is_empty() {
        out.push_str("## Gap coverage\n\n_What can you design that fills the gap better than anything else?_\n\n");
        for (kind, items) in [
            ("Constraint", &coverage.constraints),
            ("Catalyst", &coverage.catalysts),
        ] {
            for item in items {
                let check = if item.is_covered() { "x" } else { " " };
                let _ = write!(out, "- [{check}] {kind}: {}", md_line(&item.note.text));
                if item.is_covered() {
                    let by: Vec<String> = item
                        .by
                        .iter()
                        .map(|d| format!("\u{201c}{}\u{201d}", md_line(&d.text)))
                        .collect();
                    let _ = write!(out, " — addressed by {}", by.join(", "));
                }
                out.push('\n');
            }
        }
        out.push('\n');
    }
    let outcomes = canvas.outcomes();
    if outcomes.iter().any(|o| o.raters > 0) {
        out.push_str("## Outcome opportunities\n\n| # | outcome | importance | satisfaction | opportunity | raters |\n|---|---|---|---|---|---|\n");
        let num = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
        for (rank, o) in outcomes.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} | {} | {} | {} |",
                rank + 1,
                md_line(&o.note.text).replace('|', "\\|"),
                o.note.section,
                num(o.importance),
                num(o.satisfaction),
                num(o.opportunity),
                o.raters
            );
        }
        out.push('\n');
    }
    out
}

/// The HTML sections after the canvas.
pub(super) fn html(canvas: &Canvas) -> String {
    let mut out = String::new();
    let interviews = canvas.interviews();
    if !interviews.is_empty() {
        out.push_str("<h2>Interviews</h2>\n");
        if canvas.is_anonymised() {
            out.push_str("<p class=\"empty\">Interviewees are pseudonymised.</p>\n");
        }
        for i in &interviews {
            let _ = writeln!(
                out,
                "<section class=\"interview\" data-interview-id=\"{}\"><h3>{}</h3>\n<p class=\"meta\">by {} · {} finding{}</p>",
                escape(i.id.as_str()),
                escape(&interview_title(i)),
                escape(&i.author),
                i.findings.len(),
                if i.findings.len() == 1 { "" } else { "s" }
            );
            if !i.findings.is_empty() {
                out.push_str("<ul>\n");
                for f in &i.findings {
                    let _ = writeln!(
                        out,
                        "<li class=\"finding {}\" data-finding-id=\"{}\"><strong>{}</strong>: {}</li>",
                        f.effect,
                        escape(f.id.as_str()),
                        escape(&finding_links(canvas, f)),
                        escape(&finding_words(f))
                    );
                }
                out.push_str("</ul>\n");
            }
            if !canvas.is_anonymised() && !i.transcript.trim().is_empty() {
                out.push_str("<pre class=\"transcript\">");
                out.push_str(&escape(i.transcript.trim_end()));
                out.push_str("</pre>\n");
            }
            out.push_str("</section>\n");
        }
    }
    let rounds = canvas.rounds();
    if !rounds.is_empty() {
        out.push_str("<h2>Rounds</h2>\n<table class=\"rounds\"><tr><th>round</th><th>started</th><th>by</th><th>about</th></tr>\n");
        for r in &rounds {
            let focus: Vec<&str> = r.focus.iter().map(|s| s.id()).collect();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.label),
                format_datetime(r.at),
                escape(&r.author),
                focus.join(", ")
            );
        }
        out.push_str("</table>\n");
    }
    let coverage = canvas.coverage();
    if !coverage.constraints.is_empty() || !coverage.catalysts.is_empty() {
        out.push_str("<h2>Gap coverage</h2>\n<p><em>What can you design that fills the gap better than anything else?</em></p>\n<ul class=\"coverage\">\n");
        for (kind, items) in [
            ("Constraint", &coverage.constraints),
            ("Catalyst", &coverage.catalysts),
        ] {
            for item in items {
                let (class, mark) = if item.is_covered() {
                    ("covered", "☑")
                } else {
                    ("open", "☐")
                };
                let by: Vec<String> = item.by.iter().map(|d| escape(&d.text)).collect();
                let by = if by.is_empty() {
                    String::new()
                } else {
                    format!(" — addressed by {}", by.join(", "))
                };
                let _ = writeln!(
                    out,
                    "<li class=\"{class}\" data-note-ref=\"{}\">{mark} {kind}: {}{by}</li>",
                    escape(item.note.id.as_str()),
                    escape(&item.note.text)
                );
            }
        }
        out.push_str("</ul>\n");
    }
    let outcomes = canvas.outcomes();
    if outcomes.iter().any(|o| o.raters > 0) {
        out.push_str("<h2>Outcome opportunities</h2>\n<table class=\"outcomes\"><tr><th>#</th><th>outcome</th><th>importance</th><th>satisfaction</th><th>opportunity</th><th>raters</th></tr>\n");
        let num = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
        for (rank, o) in outcomes.iter().enumerate() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                rank + 1,
                escape(&o.note.text),
                o.note.section,
                num(o.importance),
                num(o.satisfaction),
                num(o.opportunity),
                o.raters
            );
        }
        out.push_str("</table>\n");
    }
    out
}
