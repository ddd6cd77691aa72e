//! The board for the terminal: the progress canvas as three columns
//! (NOW | GAP | TO BE), design below, then the other frameworks.

use std::collections::BTreeMap;

use super::live_by_section;
use super::styled::{width as display_width, Line, Span, Style};
use super::wrap::{words, wrap};
use crate::evidence::Evidence;
use crate::NoteId;
use crate::{Canvas, Conflicts, DocId, Group, Note, Section, Status};

/// Below this width the progress canvas is stacked instead of in columns.
const COLUMNS_MIN_WIDTH: usize = 60;
/// Between columns.
const SEPARATOR: &str = " │ ";
/// Notes narrower than this leave out the short id.
const SHORT_ID_MIN_WIDTH: usize = 16;
/// Notes at least this wide indent continuation lines under the text.
const HANGING_MIN_WIDTH: usize = 30;

/// The board as text for a terminal `width` cells wide: a header (title,
/// id, job statement, customer), the progress canvas as three columns side
/// by side — NOW | GAP (constraints, then catalysts) | TO BE — or stacked
/// below 60 cells, design across the whole width, then the forces of
/// progress, success outcomes, jobs/pains/gains and the job map, showing
/// only the sections that hold notes.
///
/// Each note shows a status marker (`?` hypothesis, `✓` validated, `✗`
/// invalidated), the first six characters of its id, its text, its tags
/// and, when interviews found evidence about it, `[+2 −1 · 2 interviewees]`.
/// No line is wider than `width` display cells (for any `width` of 16 or
/// more). With `color` the markers, headings and tags use ANSI colours;
/// without it the output holds no escape codes at all (control characters
/// in note texts are replaced either way).
pub fn to_terminal(canvas: &Canvas, id: &DocId, width: usize, color: bool) -> String {
    let notes = live_by_section(canvas);
    let ev = Evidences {
        evidence: canvas.evidence(),
        conflicts: canvas.all_conflicts(),
    };
    let mut lines = header(canvas, id, width);
    lines.push(Line::blank());
    if width >= COLUMNS_MIN_WIDTH {
        lines.extend(progress_columns(&notes, &ev, width));
    } else {
        lines.extend(progress_stacked(&notes, &ev, width));
    }
    lines.push(Line::blank());
    lines.extend(heading(Section::Design.title().to_uppercase(), width));
    lines.extend(section_body(&notes[&Section::Design], &ev, width));
    for group in [
        Group::Forces,
        Group::Outcomes,
        Group::JobsPainsGains,
        Group::JobMap,
    ] {
        if group.sections().all(|s| notes[&s].is_empty()) {
            continue;
        }
        lines.push(Line::blank());
        lines.extend(heading(group.title().to_uppercase(), width));
        if group == Group::Forces && width >= COLUMNS_MIN_WIDTH {
            lines.extend(forces_grid(&notes, &ev, width));
        } else {
            lines.extend(section_list(group, &notes, &ev, width));
        }
    }
    let trashed = canvas.notes().iter().filter(|n| n.is_trashed()).count();
    if trashed > 0 {
        let plural = if trashed == 1 { "" } else { "s" };
        lines.push(Line::blank());
        lines.extend(paragraph(
            &format!("{trashed} note{plural} in the trash"),
            Style::Dim,
            width,
        ));
    }
    let mut out = String::new();
    for line in &lines {
        out.push_str(line.render(color).trim_end());
        out.push('\n');
    }
    out
}

fn header(canvas: &Canvas, id: &DocId, width: usize) -> Vec<Line> {
    let mut lines = paragraph(&canvas.title(), Style::Bold, width);
    lines.extend(paragraph(&id.url(), Style::Dim, width));
    match canvas.job().statement() {
        Some(statement) => lines.extend(labeled("Job:", &statement, width)),
        None => lines.extend(labeled("Job:", "(no job statement yet)", width)),
    }
    let customer = canvas.customer();
    if !customer.is_empty() {
        lines.extend(labeled("Customer:", &customer.summary(), width));
    }
    lines
}

/// A text wrapped to `width`, in one style.
fn paragraph(text: &str, style: Style, width: usize) -> Vec<Line> {
    wrap(&words(text, style), width, width)
        .into_iter()
        .map(Line::new)
        .collect()
}

/// `Label: text`, continuation lines indented under the text when there is
/// room for it.
fn labeled(label: &str, text: &str, width: usize) -> Vec<Line> {
    let label_w = display_width(label) + 1;
    let indent = if width >= label_w + 20 { label_w } else { 0 };
    let mut tokens = vec![Some(Span::new(label, Style::Bold))];
    tokens.extend(words(text, Style::Plain));
    wrap(&tokens, width, width - indent)
        .into_iter()
        .enumerate()
        .map(|(i, spans)| indented(if i == 0 { 0 } else { indent }, spans))
        .collect()
}

fn indented(indent: usize, spans: Vec<Span>) -> Line {
    let mut line = Line::plain(" ".repeat(indent));
    line.extend(Line::new(spans));
    line
}

/// A heading and a rule under it.
fn heading(title: String, width: usize) -> Vec<Line> {
    let rule = "─".repeat(display_width(&title).min(width).max(1));
    let mut lines = paragraph(&title, Style::Bold, width);
    lines.push(Line::styled(rule, Style::Dim));
    lines
}

fn marker(status: Status) -> Span {
    match status {
        Status::Hypothesis => Span::new("?", Style::Hypothesis),
        Status::Validated => Span::new("✓", Style::Validated),
        Status::Invalidated => Span::new("✗", Style::Invalidated),
    }
}

/// A note wrapped to `width`: `? abc123 text #tag`, then its concurrent
/// values when it has some: `⚠ status: validated | invalidated`.
fn note_lines(note: &Note, ev: &Evidences, width: usize) -> Vec<Line> {
    let evidence = ev.evidence.get(&note.id);
    let mut prefix = Line::new(vec![marker(note.status), Span::plain(" ")]);
    if width >= SHORT_ID_MIN_WIDTH {
        prefix.extend(Line::new(vec![
            Span::new(note.id.short(), Style::Dim),
            Span::plain(" "),
        ]));
    }
    let prefix_w = prefix.width();
    let indent = if width >= HANGING_MIN_WIDTH {
        prefix_w
    } else {
        2
    };
    let mut tokens = words(&note.text, Style::Plain);
    tokens.extend(
        note.tags
            .iter()
            .flat_map(|t| words(&format!("#{t}"), Style::Tag)),
    );
    if let Some(e) = evidence.filter(|e| !e.is_empty()) {
        tokens.extend(words(&format!("[{}]", e.summary()), Style::Dim));
    }
    let wrapped = wrap(
        &tokens,
        width.saturating_sub(prefix_w),
        width.saturating_sub(indent),
    );
    let mut lines: Vec<Line> = wrapped
        .into_iter()
        .enumerate()
        .map(|(i, spans)| {
            if i == 0 {
                let mut line = prefix.clone();
                line.extend(Line::new(spans));
                line
            } else {
                indented(indent, spans)
            }
        })
        .collect();
    for (field, values) in ev.conflicts.get(&note.id).into_iter().flatten() {
        let text = format!("⚠ {field}: {}", values.join(" | "));
        let tokens = words(&text, Style::Invalidated);
        let avail = width.saturating_sub(indent);
        lines.extend(
            wrap(&tokens, avail, avail)
                .into_iter()
                .map(|spans| indented(indent, spans)),
        );
    }
    lines
}

/// The notes of a section, or "(empty)".
fn section_body(notes: &[Note], ev: &Evidences, width: usize) -> Vec<Line> {
    if notes.is_empty() {
        return vec![Line::styled("(empty)", Style::Dim)];
    }
    notes
        .iter()
        .flat_map(|n| note_lines(n, ev, width))
        .collect()
}

/// Columns side by side, each cell padded to its column's width.
fn side_by_side(columns: &[Vec<Line>], widths: &[usize]) -> Vec<Line> {
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    (0..rows)
        .map(|row| {
            let mut line = Line::blank();
            for (i, (column, &w)) in columns.iter().zip(widths).enumerate() {
                if i > 0 {
                    line.extend(Line::styled(SEPARATOR, Style::Dim));
                }
                let mut cell = column.get(row).cloned().unwrap_or_default();
                if i + 1 < columns.len() {
                    cell.pad(w);
                }
                line.extend(cell);
            }
            line
        })
        .collect()
}

/// Widths of `n` columns sharing `width` with separators between them.
fn column_widths(width: usize, n: usize) -> Vec<usize> {
    let avail = width.saturating_sub(display_width(SEPARATOR) * (n - 1));
    let each = avail / n;
    let mut widths = vec![each; n];
    widths[n - 1] = avail - each * (n - 1);
    widths
}

/// What a note shows beside its own fields, read once per board.
struct Evidences {
    /// What interviews found, by note.
    evidence: BTreeMap<NoteId, Evidence>,
    /// Concurrent values, by note.
    conflicts: BTreeMap<NoteId, Conflicts>,
}

fn progress_columns(
    notes: &BTreeMap<Section, Vec<Note>>,
    ev: &Evidences,
    width: usize,
) -> Vec<Line> {
    let widths = column_widths(width, 3);
    let titles = ["NOW", "GAP", Section::ToBe.title()];
    let head: Vec<Vec<Line>> = titles
        .iter()
        .zip(&widths)
        .map(|(t, &w)| paragraph(t, Style::Bold, w))
        .collect();
    let mut lines = side_by_side(&head, &widths);
    let rule: Vec<String> = widths.iter().map(|&w| "─".repeat(w)).collect();
    lines.push(Line::styled(rule.join("─┼─"), Style::Dim));

    let now = section_body(&notes[&Section::Now], ev, widths[0]);
    let mut gap = Vec::new();
    for (i, section) in [Section::Constraint, Section::Catalyst]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            gap.push(Line::blank());
        }
        gap.extend(paragraph(section.title(), Style::Bold, widths[1]));
        gap.extend(section_body(&notes[&section], ev, widths[1]));
    }
    let to_be = section_body(&notes[&Section::ToBe], ev, widths[2]);
    lines.extend(side_by_side(&[now, gap, to_be], &widths));
    lines
}

fn progress_stacked(
    notes: &BTreeMap<Section, Vec<Note>>,
    ev: &Evidences,
    width: usize,
) -> Vec<Line> {
    let mut lines = Vec::new();
    for (i, section) in [
        Section::Now,
        Section::Constraint,
        Section::Catalyst,
        Section::ToBe,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            lines.push(Line::blank());
        }
        let title = match section {
            Section::Constraint | Section::Catalyst => format!("GAP · {}", section.title()),
            other => other.title().to_string(),
        };
        lines.extend(heading(title, width));
        lines.extend(section_body(&notes[&section], ev, width));
    }
    lines
}

/// Push | Pull over Anxiety | Inertia; a row with no notes is left out.
fn forces_grid(notes: &BTreeMap<Section, Vec<Note>>, ev: &Evidences, width: usize) -> Vec<Line> {
    let widths = column_widths(width, 2);
    let mut lines = Vec::new();
    for row in [
        [Section::Push, Section::Pull],
        [Section::Anxiety, Section::Inertia],
    ] {
        if row.iter().all(|s| notes[s].is_empty()) {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::blank());
        }
        let cells: Vec<Vec<Line>> = row
            .iter()
            .zip(&widths)
            .map(|(s, &w)| {
                let mut cell = paragraph(s.title(), Style::Bold, w);
                cell.extend(section_body(&notes[s], ev, w));
                cell
            })
            .collect();
        lines.extend(side_by_side(&cells, &widths));
    }
    lines
}

/// The non-empty sections of a group, one after the other.
fn section_list(
    group: Group,
    notes: &BTreeMap<Section, Vec<Note>>,
    ev: &Evidences,
    width: usize,
) -> Vec<Line> {
    let mut lines = Vec::new();
    for (i, section) in group.sections().enumerate() {
        let list = &notes[&section];
        if list.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::blank());
        }
        let title = if group == Group::JobMap {
            format!("{}. {}", i + 1, section.title())
        } else {
            section.title().to_string()
        };
        lines.extend(paragraph(&title, Style::Bold, width));
        lines.extend(section_body(list, ev, width));
    }
    lines
}

#[cfg(test)]
mod tests;
