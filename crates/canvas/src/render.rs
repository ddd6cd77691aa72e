//! Renderings of a canvas: JSON, Markdown and a terminal board.

use crate::{Canvas, DocId};

/// The `gapmap show --json` document (DESIGN §4).
pub fn to_json(_canvas: &Canvas, _id: &DocId) -> serde_json::Value {
    serde_json::Value::Null
}

/// Markdown.
pub fn to_markdown(_canvas: &Canvas, _id: &DocId) -> String {
    String::new()
}

/// Terminal.
pub fn to_terminal(_canvas: &Canvas, _id: &DocId, _width: usize, _color: bool) -> String {
    String::new()
}
