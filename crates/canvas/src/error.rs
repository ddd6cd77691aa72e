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
    /// No interview, finding, round or comment id matches (or starts with)
    /// the given string.
    #[error("no {kind} id starts with {given:?}")]
    UnknownId {
        /// What kind of thing: "interview", "finding", "comment", "round".
        kind: &'static str,
        /// What was given.
        given: String,
    },
    /// Several ids of one kind start with the given prefix.
    #[error("{kind} prefix {prefix:?} is ambiguous: {}", matches.join(", "))]
    AmbiguousId {
        /// What kind of thing.
        kind: &'static str,
        /// The prefix that was given.
        prefix: String,
        /// Every matching id, sorted.
        matches: Vec<String>,
    },
    /// An id prefix shorter than four characters.
    #[error("{kind} prefix is too short: give at least 4 characters of the {kind} id")]
    IdTooShort {
        /// What kind of thing.
        kind: &'static str,
    },
    /// A required piece of text (an interviewee's name, a question, a
    /// finding, a transcript line, a comment, a round label) was empty.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// A date that is not a real `YYYY-MM-DD` calendar date.
    #[error("invalid date {0:?}: expected YYYY-MM-DD, e.g. 2024-05-17")]
    InvalidDate(String),
    /// A note given as evidence, a link end or a rating target is in the trash.
    #[error("note {0} is in the trash: restore it first (gapmap restore {0})")]
    NoteTrashed(String),
    /// A link kind other than addresses, causes or relates.
    #[error("unknown link kind {0:?}; valid kinds: addresses, causes, relates")]
    UnknownLinkKind(String),
    /// A note linked to itself.
    #[error("a note cannot be linked to itself")]
    SelfLink,
    /// A link whose kind does not go between notes of these sections
    /// (see [`LinkKind::allows`](crate::LinkKind::allows)).
    #[error("{}", crate::coverage::why_not(*kind, *from, *to))]
    LinkDirection {
        /// The kind asked for.
        kind: crate::LinkKind,
        /// The section of the note the link starts from.
        from: crate::Section,
        /// The section of the note it points to.
        to: crate::Section,
    },
    /// A rating outside 1–10.
    #[error("{what} must be a whole number from 1 to 10, got {given}")]
    RatingOutOfRange {
        /// "importance" or "satisfaction".
        what: &'static str,
        /// What was given.
        given: i64,
    },
    /// A rating for a note that is not a success outcome.
    #[error("note {id} is in section {section}: only success outcomes (goal, hazard, problem) take ratings")]
    NotAnOutcome {
        /// The note id.
        id: String,
        /// Its section id.
        section: &'static str,
    },
    /// A round label already used by another round.
    #[error("a round labelled {0:?} already exists: pick another label (see gapmap round list)")]
    RoundExists(String),
    /// A round label that is reserved for a point in time.
    #[error("{0:?} cannot be a round label: it means the present state")]
    ReservedLabel(String),
    /// A point in history that is neither `now`, a round, nor a date.
    #[error("unknown point {0:?}: give a round label or id (see gapmap round list), a date YYYY-MM-DD[THH:MM], or now")]
    UnknownPoint(String),
    /// A point in time before the first change of the canvas.
    #[error("the canvas did not exist yet at {given} (it was created {created})")]
    BeforeCanvas {
        /// The point as given.
        given: String,
        /// When the canvas was created, `YYYY-MM-DD HH:MM` UTC.
        created: String,
    },
    /// A round whose recorded heads are not in this document (e.g. one
    /// re-imported from a JSON export, which carries no history).
    #[error("round {0:?} has no history in this canvas (it came from a JSON import)")]
    RoundWithoutHistory(String),
    /// JSON that is not a gapmap export (see docs/export-format.md).
    #[error("not a gapmap JSON export: {0}")]
    NotAnExport(String),
    /// An evidence filter that does not exist.
    #[error(
        "unknown evidence filter {0:?}; valid filters: all, has-evidence, contradicted, untested"
    )]
    UnknownFilter(String),

    /// A finding was to both support and contradict one note.
    #[error("a finding cannot both support and contradict note {0}")]
    ConflictingLink(String),

    /// A finding link other than supports or contradicts.
    #[error("a finding links to a note with supports or contradicts, not {0:?}")]
    BadLinkEffect(String),

    /// An interview in the trash was to be changed.
    #[error("interview {0} is in the trash: restore it first (gapmap interview restore {0})")]
    InterviewTrashed(String),

    /// An erased interview was to take personal text again.
    #[error("interview {0} was erased: its personal text cannot be written again (record a new interview)")]
    InterviewPurged(String),

    /// An error from Automerge itself while changing the document.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
}

/// The result type of this crate.
pub type Result<T, E = CanvasError> = std::result::Result<T, E>;
