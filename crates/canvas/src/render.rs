//! Renderings of a canvas: JSON (`gapmap show --json`), Markdown, HTML,
//! SVG, and a board for the terminal; the full JSON export and CSV for
//! spreadsheets. Trashed notes are left out of all of them but the JSON
//! export, which keeps the trash.

mod csv;
mod export;
mod html;
mod json;
mod markdown;
mod metrics;
mod research;
mod styled;
mod svg;
mod terminal;
mod wrap;

use std::collections::BTreeMap;

pub use csv::{to_csv_findings, to_csv_notes};
pub use export::{to_export_json, EXPORT_SCHEMA};
pub use html::to_html;
pub use json::to_json;
pub use markdown::to_markdown;
pub use metrics::glyph_advance;
pub use svg::to_svg;
pub use terminal::to_terminal;

use crate::{Canvas, Note, Section};

/// The live notes of every section (empty sections included), each in rank
/// order, read once.
fn live_by_section(canvas: &Canvas) -> BTreeMap<Section, Vec<Note>> {
    let mut map: BTreeMap<Section, Vec<Note>> =
        Section::ALL.into_iter().map(|s| (s, Vec::new())).collect();
    // notes() is already ordered by (section, rank, id).
    for note in canvas.notes().into_iter().filter(|n| !n.is_trashed()) {
        map.entry(note.section).or_default().push(note);
    }
    map
}
