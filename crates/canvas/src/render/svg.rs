//! An SVG picture of the canvas for reports and slides: the title, the job
//! statement and the customer on top; the Customer Progress Canvas as it is
//! drawn — NOW → GAP (constraints over catalysts) → TO BE — with the design
//! that fills the gap beneath; the four forces of progress as a 2×2 grid
//! when they hold notes; a legend. Notes are cards coloured by status,
//! with their tags and evidence badge. Text is wrapped to each card with
//! the metrics of the embedded font (`metrics.rs`); the `automerge:` URL
//! is left to the JSON export.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::html::escape;
use super::live_by_section;
use super::metrics::{text_width, wrap_px};
use crate::evidence::Evidence;
use crate::{Canvas, DocId, Note, NoteId, Section, Status};

/// The whole picture's width.
const WIDTH: f32 = 1200.0;
/// Outer margin.
const MARGIN: f32 = 24.0;
/// Between the three progress columns (room for the arrows).
const ARROW_GAP: f32 = 36.0;
/// Between boxes otherwise.
const GAP: f32 = 16.0;
/// Inside a section box, around its cards.
const PAD: f32 = 12.0;
/// Inside a card, around its text.
const CARD_PAD: f32 = 10.0;
/// Note text size and line height.
const TEXT: f32 = 13.0;
const LINE: f32 = 17.0;
/// Tags, badges and subtitles.
const SMALL: f32 = 11.0;
const SMALL_LINE: f32 = 15.0;
/// A section box's title and subtitle.
const HEADER_H: f32 = 46.0;
/// The font the PNG rendering embeds, then what a viewer likely has.
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

/// Fill and border of a card by status.
fn colors(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Hypothesis => ("#fff7b3", "#e0cf5a"),
        Status::Validated => ("#c9f2c7", "#6cbf67"),
        Status::Invalidated => ("#f6c4c4", "#d77b7b"),
    }
}

/// The status marker of a card and its colour (dark enough to read).
fn marker(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Hypothesis => ("?", "#8a7600"),
        Status::Validated => ("✓", "#2e7d32"),
        Status::Invalidated => ("✗", "#b23b3b"),
    }
}

/// What a section box says under its name, from the canvas's own texts
/// (docs/user-guide.md).
pub(super) fn subtitle(section: Section) -> &'static str {
    match section {
        Section::Now => "the customer's observable state today",
        Section::ToBe => "the more desired state they want to reach",
        Section::Constraint => "what stops them from moving forward",
        Section::Catalyst => "what would make the progress smooth",
        Section::Design => "what fills the gap better than anything else",
        Section::Push => "struggles pushing away from today",
        Section::Pull => "the attraction of a new way",
        Section::Anxiety => "worries about the new way",
        Section::Inertia => "habits holding on to today",
        _ => "",
    }
}

pub(super) fn heading(section: Section) -> String {
    match section {
        Section::Constraint | Section::Catalyst => {
            format!("GAP · {}", section.title().to_uppercase())
        }
        s => s.title().to_uppercase(),
    }
}

/// One note card, laid out for a width.
struct Card<'a> {
    note: &'a Note,
    lines: Vec<String>,
    tags: Vec<String>,
    badge: Option<String>,
    width: f32,
}

impl<'a> Card<'a> {
    fn new(note: &'a Note, evidence: Option<&Evidence>, width: f32) -> Card<'a> {
        // Room on the first line's right for the status marker.
        let text_w = width - 2.0 * CARD_PAD - 14.0;
        let tag_text = note
            .tags
            .iter()
            .map(|t| format!("#{t}"))
            .collect::<Vec<_>>()
            .join(" ");
        let tags = if tag_text.is_empty() {
            Vec::new()
        } else {
            wrap_px(&tag_text, SMALL, false, width - 2.0 * CARD_PAD)
        };
        Card {
            note,
            lines: wrap_px(&note.text, TEXT, false, text_w),
            tags,
            badge: evidence.filter(|e| !e.is_empty()).map(Evidence::summary),
            width,
        }
    }

    fn height(&self) -> f32 {
        let small = self.tags.len() + usize::from(self.badge.is_some());
        2.0 * CARD_PAD - 4.0 + self.lines.len() as f32 * LINE + small as f32 * SMALL_LINE
    }

    fn draw(&self, out: &mut String, x: f32, y: f32) {
        let (fill, stroke) = colors(self.note.status);
        let h = self.height();
        let _ = writeln!(
            out,
            "<g data-note-id=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
            escape(self.note.id.as_str()),
            w = self.width,
        );
        let (mark, mark_color) = marker(self.note.status);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"{mark_color}\" text-anchor=\"end\">{mark}</text>",
            x + self.width - 8.0,
            y + CARD_PAD + 10.0,
        );
        let mut cursor = y + CARD_PAD + TEXT - 1.0;
        for line in &self.lines {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{cursor}\" font-size=\"{TEXT}\" fill=\"#222\">{}</text>",
                x + CARD_PAD,
                escape(line)
            );
            cursor += LINE;
        }
        cursor += SMALL_LINE - LINE;
        for line in &self.tags {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{cursor}\" font-size=\"{SMALL}\" fill=\"#5a5a8c\">{}</text>",
                x + CARD_PAD,
                escape(line)
            );
            cursor += SMALL_LINE;
        }
        if let Some(badge) = &self.badge {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{cursor}\" font-size=\"{SMALL}\" font-weight=\"bold\" fill=\"#2a6f4e\">{}</text>",
                x + CARD_PAD,
                escape(badge)
            );
        }
        out.push_str("</g>\n");
    }
}

/// Everything the picture needs from the canvas, read once.
struct Board {
    notes: BTreeMap<Section, Vec<Note>>,
    evidence: BTreeMap<NoteId, Evidence>,
}

impl Board {
    /// The cards of `section` for boxes `width` wide, `columns` side by side.
    fn cards(&self, section: Section, width: f32, columns: usize) -> Vec<Card<'_>> {
        let card_w = (width - 2.0 * PAD - (columns - 1) as f32 * GAP) / columns as f32;
        self.notes[&section]
            .iter()
            .map(|n| Card::new(n, self.evidence.get(&n.id), card_w))
            .collect()
    }

    /// The height a section box needs at `width` with `columns` of cards.
    fn box_height(&self, section: Section, width: f32, columns: usize) -> f32 {
        let cards = self.cards(section, width, columns);
        if cards.is_empty() {
            return HEADER_H + 30.0;
        }
        let rows: f32 = cards
            .chunks(columns)
            .map(|row| row.iter().map(Card::height).fold(0.0, f32::max) + 8.0)
            .sum();
        HEADER_H + rows + PAD - 8.0
    }

    /// Draws the box of `section` at (x, y), `height` tall (at least what
    /// its cards need).
    fn draw_box(
        &self,
        out: &mut String,
        section: Section,
        (x, y): (f32, f32),
        width: f32,
        height: f32,
        columns: usize,
    ) {
        let _ = writeln!(
            out,
            "<g data-section=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" rx=\"8\" fill=\"#fff\" stroke=\"#cfcfcf\"/>",
            section.id()
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">{}</text>",
            x + PAD,
            y + 22.0,
            escape(&heading(section))
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{SMALL}\" fill=\"#777\">{}</text>",
            x + PAD,
            y + 37.0,
            escape(subtitle(section))
        );
        let cards = self.cards(section, width, columns);
        if cards.is_empty() {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\" font-style=\"italic\" fill=\"#999\">no notes yet</text>",
                x + PAD,
                y + HEADER_H + 14.0
            );
        }
        let mut cursor = y + HEADER_H;
        for row in cards.chunks(columns) {
            let mut cx = x + PAD;
            for card in row {
                card.draw(out, cx, cursor);
                cx += card.width + GAP;
            }
            cursor += row.iter().map(Card::height).fold(0.0, f32::max) + 8.0;
        }
        out.push_str("</g>\n");
    }
}

/// An arrow from left to right, centred on (x, y).
fn arrow(out: &mut String, x: f32, y: f32) {
    let _ = writeln!(
        out,
        "<path d=\"M{} {y} H{} M{} {} L{} {y} L{} {}\" stroke=\"#9a9a9a\" stroke-width=\"3\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
        x - 12.0,
        x + 11.0,
        x + 4.0,
        y - 7.0,
        x + 11.0,
        x + 4.0,
        y + 7.0
    );
}

/// Lines of `text` at `size` across the picture, returning the next y.
fn paragraph(out: &mut String, text: &str, y: f32, size: f32, fill: &str) -> f32 {
    let mut y = y;
    for line in wrap_px(text, size, false, WIDTH - 2.0 * MARGIN) {
        let _ = writeln!(
            out,
            "<text x=\"{MARGIN}\" y=\"{y}\" font-size=\"{size}\" fill=\"{fill}\">{}</text>",
            escape(&line)
        );
        y += size * 1.4;
    }
    y
}

/// The legend: status colours, tags, evidence badges.
fn legend(out: &mut String, y: f32) -> f32 {
    let _ = writeln!(
        out,
        "<g data-legend=\"\"><text x=\"{MARGIN}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"#444\">Legend</text>",
        y + 13.0
    );
    let base = y + 13.0;
    let mut x = MARGIN + text_width("Legend", 12.0, true) + 20.0;
    // A run of text in the legend, moving x past it.
    let item = |out: &mut String, x: &mut f32, text: &str, fill: &str, bold: bool, after: f32| {
        let weight = if bold { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{base}\" font-size=\"12\" fill=\"{fill}\"{weight}>{}</text>",
            escape(text)
        );
        *x += text_width(text, 12.0, bold) + after;
    };
    for status in [Status::Hypothesis, Status::Validated, Status::Invalidated] {
        let (fill, stroke) = colors(status);
        let (mark, color) = marker(status);
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{y}\" width=\"18\" height=\"16\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
            x
        );
        x += 24.0;
        item(out, &mut x, mark, color, true, 4.0);
        item(out, &mut x, status.as_str(), "#444", false, 22.0);
    }
    item(out, &mut x, "#tag", "#5a5a8c", false, 6.0);
    item(out, &mut x, "tags", "#444", false, 22.0);
    item(out, &mut x, "+2 −1 · 2 interviewees", "#2a6f4e", true, 6.0);
    item(
        out,
        &mut x,
        "findings for and against the note, and from how many people",
        "#444",
        false,
        0.0,
    );
    out.push_str("</g>\n");
    y + 24.0
}

/// The canvas as a standalone SVG document (see the module's description).
pub fn to_svg(canvas: &Canvas, _id: &DocId) -> String {
    let board = Board {
        notes: live_by_section(canvas),
        evidence: canvas.evidence(),
    };
    let mut body = String::new();
    let title = canvas.title();
    let title = if title.trim().is_empty() {
        "Untitled canvas".to_string()
    } else {
        title
    };
    let mut y = MARGIN + 22.0;
    for line in wrap_px(&title, 24.0, true, WIDTH - 2.0 * MARGIN) {
        let _ = writeln!(
            body,
            "<text x=\"{MARGIN}\" y=\"{y}\" font-size=\"24\" font-weight=\"bold\" fill=\"#111\">{}</text>",
            escape(&line)
        );
        y += 30.0;
    }
    y += 2.0;
    let job = canvas
        .job()
        .statement()
        .unwrap_or_else(|| "No job statement yet.".to_string());
    y = paragraph(&mut body, &format!("Job: {job}"), y, 14.0, "#333");
    let customer = canvas.customer();
    if !customer.is_empty() {
        let who = customer.summary();
        y = paragraph(&mut body, &format!("Customer: {who}"), y, 14.0, "#333");
    }
    y += 10.0;

    // NOW → GAP → TO BE, one row as tall as its tallest column.
    let col_w = (WIDTH - 2.0 * MARGIN - 2.0 * ARROW_GAP) / 3.0;
    let xs = [
        MARGIN,
        MARGIN + col_w + ARROW_GAP,
        MARGIN + 2.0 * (col_w + ARROW_GAP),
    ];
    let constraints_h = board.box_height(Section::Constraint, col_w, 1);
    let catalysts_h = board.box_height(Section::Catalyst, col_w, 1);
    let row_h = board
        .box_height(Section::Now, col_w, 1)
        .max(board.box_height(Section::ToBe, col_w, 1))
        .max(constraints_h + GAP + catalysts_h);
    board.draw_box(&mut body, Section::Now, (xs[0], y), col_w, row_h, 1);
    board.draw_box(
        &mut body,
        Section::Constraint,
        (xs[1], y),
        col_w,
        constraints_h,
        1,
    );
    board.draw_box(
        &mut body,
        Section::Catalyst,
        (xs[1], y + constraints_h + GAP),
        col_w,
        row_h - constraints_h - GAP,
        1,
    );
    board.draw_box(&mut body, Section::ToBe, (xs[2], y), col_w, row_h, 1);
    for x in [xs[1], xs[2]] {
        arrow(&mut body, x - ARROW_GAP / 2.0, y + 23.0);
    }
    y += row_h + GAP;

    let full = WIDTH - 2.0 * MARGIN;
    let design_h = board.box_height(Section::Design, full, 3);
    board.draw_box(&mut body, Section::Design, (MARGIN, y), full, design_h, 3);
    y += design_h + GAP;

    let forces = [
        [Section::Push, Section::Pull],
        [Section::Anxiety, Section::Inertia],
    ];
    if forces.iter().flatten().any(|s| !board.notes[s].is_empty()) {
        let _ = writeln!(
            body,
            "<text x=\"{MARGIN}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">Forces of progress</text>",
            y + 16.0
        );
        y += 28.0;
        let half = (full - GAP) / 2.0;
        for pair in forces {
            let h = board
                .box_height(pair[0], half, 1)
                .max(board.box_height(pair[1], half, 1));
            board.draw_box(&mut body, pair[0], (MARGIN, y), half, h, 1);
            board.draw_box(&mut body, pair[1], (MARGIN + half + GAP, y), half, h, 1);
            y += h + GAP;
        }
    }
    y = legend(&mut body, y + 4.0);
    let height = (y + MARGIN - 8.0).ceil();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"{FONT}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#f6f6f3\"/>\n{body}</svg>\n"
    )
}

#[cfg(test)]
mod tests;
