//! The people who edit a canvas.

/// A person editing the canvas, recorded under their Automerge actor id so
/// the history can show names instead of hex.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    /// The name shown in the history and on the board.
    pub name: String,
    /// A display colour, e.g. `#e07a5f`.
    pub color: String,
}

/// Colours handed out to members, picked by actor so a person keeps theirs.
const PALETTE: [&str; 8] = [
    "#e07a5f", "#3d405b", "#81b29a", "#f2cc8f", "#6d597a", "#b56576", "#355070", "#2a9d8f",
];

/// A stable colour for an actor id.
pub(crate) fn color_for(actor_hex: &str) -> &'static str {
    let sum = actor_hex
        .bytes()
        .fold(0usize, |acc, b| acc.wrapping_add(b as usize));
    PALETTE[sum % PALETTE.len()]
}
