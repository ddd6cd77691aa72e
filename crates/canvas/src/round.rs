//! Rounds of research (DESIGN §3 `rounds`) and points in a canvas's
//! history: a round, a time, or now.
//!
//! ```text
//! rounds { <round-id>: { label, at, heads: [hex], author, focus: [section id] } }
//! ```
//!
//! A round records the document's heads when it starts, so the canvas as
//! it was then can be read back from Automerge history (`show --at`), and
//! two rounds can be compared (`diff`).

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, Value};

use crate::field::{get_int, get_string, string_of};
use crate::id::string_id;
use crate::section::Section;

string_id!(
    /// The id of a round: its key in the document's `rounds` map.
    RoundId
);

/// A round of research, from when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    /// Its id.
    pub id: RoundId,
    /// Its label, e.g. "r2" or "GAP interviews".
    pub label: String,
    /// When it started (ms since the epoch).
    pub at: i64,
    /// The document's heads when it started.
    pub heads: Vec<ChangeHash>,
    /// Who started it.
    pub author: String,
    /// The sections this round is about (empty: not said).
    pub focus: Vec<Section>,
}

impl Round {
    pub(crate) fn read<R: ReadDoc>(doc: &R, id: &str, obj: &ObjId) -> Round {
        let strings = |key: &str| -> Vec<String> {
            match doc.get(obj, key) {
                Ok(Some((Value::Object(ObjType::List), list))) => (0..doc.length(&list))
                    .filter_map(|i| {
                        let (value, id) = doc.get(&list, i).ok()??;
                        string_of(doc, &value, &id)
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        Round {
            id: RoundId::from(id),
            label: get_string(doc, obj, "label").unwrap_or_default(),
            at: get_int(doc, obj, "at").unwrap_or(0),
            heads: strings("heads")
                .iter()
                .filter_map(|h| h.parse().ok())
                .collect(),
            author: get_string(doc, obj, "author").unwrap_or_default(),
            focus: strings("focus")
                .iter()
                .filter_map(|s| Section::from_id(s))
                .collect(),
        }
    }
}

/// A point in a canvas's history, as `show --at`, `diff` and `log --since`
/// take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Point {
    /// The present state.
    Now,
    /// When a round started.
    Round(Round),
    /// A time (ms since the epoch): every change made at or before it.
    Time(i64),
}

impl Point {
    /// How the point reads in listings: `now`, the round label, or the time.
    pub fn label(&self) -> String {
        match self {
            Point::Now => "now".to_string(),
            Point::Round(r) => r.label.clone(),
            Point::Time(ms) => crate::time::format_datetime(*ms),
        }
    }
}
