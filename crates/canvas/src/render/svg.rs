//! An SVG picture of the Customer Progress Canvas: NOW | GAP (constraints,
//! catalysts) | TO BE, with design beneath, notes as sticky notes coloured
//! by status. For slides and documents; the other frameworks are in the
//! Markdown and HTML renderings.

use std::fmt::Write;

use super::html::escape;
use super::live_by_section;
use crate::{Canvas, DocId, Note, Section, Status};

const COL_W: usize = 300;
const GAP_X: usize = 20;
const NOTE_H_LINE: usize = 16;
const CHARS_PER_LINE: usize = 36;

/// The progress canvas as a standalone SVG document.
pub fn to_svg(canvas: &Canvas, id: &DocId) -> String {
    let notes = live_by_section(canvas);
    let width = 3 * COL_W + 4 * GAP_X;
    let mut body = String::new();
    let top = 70;
    let (now_h, _) = column(
        &mut body,
        "NOW",
        &notes[&Section::Now],
        GAP_X,
        top,
        Section::Now,
    );
    let (c_h, _) = column(
        &mut body,
        "GAP: constraints",
        &notes[&Section::Constraint],
        2 * GAP_X + COL_W,
        top,
        Section::Constraint,
    );
    let (k_h, _) = column(
        &mut body,
        "GAP: catalysts",
        &notes[&Section::Catalyst],
        2 * GAP_X + COL_W,
        top + c_h + GAP_X,
        Section::Catalyst,
    );
    let (tb_h, _) = column(
        &mut body,
        "TO BE",
        &notes[&Section::ToBe],
        3 * GAP_X + 2 * COL_W,
        top,
        Section::ToBe,
    );
    let row_h = now_h.max(c_h + GAP_X + k_h).max(tb_h);
    let design_top = top + row_h + GAP_X;
    let (d_h, _) = column(
        &mut body,
        "DESIGN",
        &notes[&Section::Design],
        GAP_X,
        design_top,
        Section::Design,
    );
    let height = design_top + d_h + GAP_X;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n\
         <text x=\"{GAP_X}\" y=\"36\" font-size=\"22\" font-weight=\"bold\">{}</text>\n\
         <text x=\"{GAP_X}\" y=\"56\" font-size=\"11\" fill=\"#777\">{}</text>\n{body}</svg>\n",
        escape(&canvas.title()),
        escape(&id.url()),
    );
    out
}

/// Draws one section box at (x, y); returns its height.
fn column(
    out: &mut String,
    title: &str,
    notes: &[Note],
    x: usize,
    y: usize,
    section: Section,
) -> (usize, ()) {
    let w = if section == Section::Design {
        3 * COL_W + 2 * GAP_X
    } else {
        COL_W
    };
    let mut inner = String::new();
    let mut cursor = y + 34;
    for note in notes {
        let lines = wrap(
            &note.text,
            if section == Section::Design {
                CHARS_PER_LINE * 3
            } else {
                CHARS_PER_LINE
            },
        );
        let h = lines.len() * NOTE_H_LINE + 12;
        let fill = match note.status {
            Status::Hypothesis => "#fff7b3",
            Status::Validated => "#c9f2c7",
            Status::Invalidated => "#f6c4c4",
        };
        let _ = writeln!(
            inner,
            "<g data-note-id=\"{}\"><rect x=\"{}\" y=\"{cursor}\" width=\"{}\" height=\"{h}\" rx=\"4\" fill=\"{fill}\"/>",
            escape(note.id.as_str()),
            x + 10,
            w - 20
        );
        for (i, line) in lines.iter().enumerate() {
            let _ = writeln!(
                inner,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
                x + 18,
                cursor + 18 + i * NOTE_H_LINE,
                escape(line)
            );
        }
        inner.push_str("</g>\n");
        cursor += h + 8;
    }
    let height = (cursor - y + 4).max(80);
    let _ = writeln!(
        out,
        "<g data-section=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{height}\" rx=\"8\" fill=\"#fff\" stroke=\"#ccc\"/>\n<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>\n{inner}</g>",
        section.id(),
        x + 10,
        y + 22,
        escape(title)
    );
    (height, ())
}

/// Greedy word wrap by characters (SVG has no text flow).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_progress_sections() {
        let mut c = Canvas::create("Svg & co", "ana", 1).unwrap();
        c.add_note(
            Section::Constraint,
            "A rather long constraint that needs wrapping over several lines of the box",
            &[],
            "ana",
            2,
        )
        .unwrap();
        let svg = to_svg(&c, &DocId::random());
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Svg &amp; co"));
        for s in ["now", "to-be", "constraint", "catalyst", "design"] {
            assert!(svg.contains(&format!("data-section=\"{s}\"")), "{s}");
        }
        assert!(wrap("a b c", 3) == vec!["a b", "c"]);
    }
}
