//! The history of a canvas: who changed what, when.

use std::collections::BTreeMap;

use automerge::Change;

use crate::member::Member;

/// One change of the document, as `gapmap log` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The change hash, hex.
    pub hash: String,
    /// The actor that made the change, hex.
    pub actor: String,
    /// The member name of that actor, or the first 8 hex digits of its id.
    pub author: String,
    /// When (ms since the epoch; Automerge keeps whole seconds).
    pub time_ms: i64,
    /// What was done, e.g. `add note k3xq2a to now: "first words"`.
    pub message: String,
}

/// Entries for `changes` (in the order given), naming actors by `members`.
pub(crate) fn entries(changes: &[Change], members: &BTreeMap<String, Member>) -> Vec<HistoryEntry> {
    changes
        .iter()
        .map(|change| {
            let actor = change.actor_id().to_hex_string();
            let author = members
                .get(&actor)
                .map(|m| m.name.trim())
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| actor.chars().take(8).collect());
            HistoryEntry {
                hash: change.hash().to_string(),
                author,
                time_ms: change.timestamp().saturating_mul(1000),
                message: change.message().map(str::to_string).unwrap_or_default(),
                actor,
            }
        })
        .collect()
}
