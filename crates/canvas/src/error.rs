//! The one error type of this crate.

use automerge::AutomergeError;

/// Everything that can go wrong reading or changing a canvas.
///
/// Every message is a single line a command-line tool can print as it is: it
/// says what was wrong and, where there is one, what would be right.
#[derive(Debug, thiserror::Error)]
pub enum CanvasError {
    /// A section id that is not one of [`Section::ALL`](crate::Section::ALL).
    #[error("unknown section {given:?}; valid sections: {}", valid.join(", "))]
    UnknownSection {
        /// What was asked for.
        given: String,
        /// Every valid section id, in canvas order.
        valid: Vec<&'static str>,
    },
    /// A validation status other than hypothesis, validated or invalidated.
    #[error("unknown status {given:?}; valid statuses: hypothesis, validated, invalidated")]
    UnknownStatus {
        /// What was asked for.
        given: String,
    },
    /// A note's text was empty or only whitespace.
    #[error("note text is empty")]
    EmptyText,
    /// A canvas title was empty or only whitespace.
    #[error("canvas title is empty")]
    EmptyTitle,
    /// A tag was empty or held whitespace.
    #[error("invalid tag {0:?}: a tag is one word without spaces (use a dash)")]
    InvalidTag(String),
    /// No note id matches (or starts with) the given string.
    #[error("no note id starts with {0:?}")]
    UnknownNote(String),
    /// Several note ids start with the given prefix.
    #[error("note prefix {prefix:?} is ambiguous: {}", matches.join(", "))]
    AmbiguousNote {
        /// The prefix that was given.
        prefix: String,
        /// Every matching note id, sorted.
        matches: Vec<String>,
    },
    /// A note prefix shorter than four characters.
    #[error("note prefix is too short: give at least 4 characters of the note id")]
    PrefixTooShort,
    /// A note given as a position (`--before`/`--after`) is not a live note of
    /// the target section.
    #[error("cannot place a note next to {anchor}: it is not a live note in section {section}")]
    AnchorNotInSection {
        /// The note id given as the position.
        anchor: String,
        /// The section the note is being moved to.
        section: String,
    },
    /// A member key that is not a hex actor id.
    #[error("invalid actor id {0:?}: expected lowercase hex")]
    InvalidActor(String),
    /// The document is an Automerge document but not a gapmap canvas; holds
    /// the schema found (empty when there is none).
    #[error("not a gapmap canvas (schema {0:?}, expected \"gapmap/canvas/1\")")]
    NotACanvas(String),
    /// The bytes are not an Automerge document (or are truncated).
    #[error("not a readable Automerge file: {0}")]
    Load(String),
    /// A string that is neither a document id nor an `automerge:` URL.
    #[error("invalid document id {0:?}: expected a base58check id or an automerge:<id> URL")]
    InvalidDocId(String),
    /// An error from Automerge itself while changing the document.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
}

/// The result type of this crate.
pub type Result<T, E = CanvasError> = std::result::Result<T, E>;
