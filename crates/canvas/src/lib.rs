//! The Customer Progress Canvas of gapmap, over an Automerge document.
//!
//! A canvas is one Automerge document with the schema of DESIGN §3: a title,
//! the customer, the job statement, and notes in sections (NOW, TO BE, the
//! GAP's constraints and catalysts, design, the forces of progress, success
//! outcomes, jobs/pains/gains, the universal job map). This crate reads and
//! writes that schema with types, and renders it; it does no IO and reads no
//! clock — writes take the time as `now_ms`.
//!
//! - [`Canvas`] wraps an [`automerge::AutoCommit`]: every write method is one
//!   commit with a human message (see [`Canvas::history`]); text edits are
//!   character edits, so concurrent edits merge; notes live in a map keyed
//!   by [`NoteId`], so concurrent moves never duplicate a note.
//! - Readers accept what any client writes: a `Text` or a scalar string for
//!   any string, any numeric type for numbers, defaults for missing fields.
//! - [`DocId`] is an automerge-repo document id (base58check of 16 bytes).
//! - [`render`] turns a canvas into JSON (`gapmap show --json`), Markdown,
//!   or a board for the terminal.
//!
//! ```
//! use gapmap_canvas::{render, Canvas, DocId, Position, Section, Status};
//!
//! let now = 1_700_000_000_000; // ms since the epoch, from the caller
//! let mut canvas = Canvas::create("Commuters", "ana", now)?;
//! canvas.set_job(
//!     Some("I commute by train"),
//!     Some("work on the way"),
//!     Some("get home earlier"),
//!     now,
//! )?;
//! let a = canvas.add_note(Section::Now, "Reads email on a phone", &[], "ana", now)?;
//! let b = canvas.add_note(Section::Now, "Carries a laptop", &["hardware".into()], "ana", now)?;
//! canvas.move_note(&b, Section::Now, Position::Before(a.clone()), now)?;
//! canvas.mark(&a, Status::Validated, now)?;
//!
//! let texts: Vec<String> = canvas.section_notes(Section::Now).into_iter().map(|n| n.text).collect();
//! assert_eq!(texts, ["Carries a laptop", "Reads email on a phone"]);
//! assert_eq!(canvas.resolve_note(&a.as_str()[..5])?, a);
//!
//! // Another device edits concurrently; merging keeps both changes.
//! let mut other = canvas.fork();
//! other.edit_note(&a, "Reads email on a phone, slowly", now + 1)?;
//! canvas.trash_note(&a, now + 1)?;
//! canvas.merge(&mut other)?;
//! let note = canvas.note(&a).unwrap();
//! assert!(note.is_trashed());
//! assert_eq!(note.text, "Reads email on a phone, slowly");
//!
//! let id = DocId::random();
//! let json = render::to_json(&canvas, &id);
//! assert_eq!(json["sections"]["now"][0]["text"], "Carries a laptop");
//! let board = render::to_terminal(&canvas, &id, 120, false);
//! assert!(board.contains("Carries a laptop"));
//! # Ok::<(), gapmap_canvas::CanvasError>(())
//! ```
#![deny(missing_docs)]

mod canvas;
mod coverage;
mod describe;
pub mod diff;
mod doc_id;
mod error;
mod evidence;
mod field;
pub mod guide;
mod history;
mod id;
mod interview;
mod job;
mod member;
mod note;
mod outcome;
mod rank;
pub mod render;
mod round;
mod section;
mod status;
pub mod time;

pub use canvas::{
    Canvas, Conflicts, NewFinding, Purged, RespondentRating, SurveyError, SurveyImport,
    RATING_RANGE, SURVEY_MAX_BYTES, SURVEY_MAX_ROWS,
};
pub use coverage::{Coverage, GapItem, LinkKind};
pub use describe::{describe, is_canvas};
pub use diff::{diff, CanvasDiff};
pub use doc_id::DocId;
pub use error::{CanvasError, Result};
pub use evidence::{
    Evidence, EvidenceFilter, EvidenceItem, NoteEvidence, ReviewItem, Scope, Suggestion,
};
pub use guide::{Guide, GuideItem};
pub use history::HistoryEntry;
pub use interview::{
    Effect, Finding, FindingId, FindingLink, FindingTarget, Interview, InterviewId,
};
pub use job::{Customer, Job};
pub use member::Member;
pub use note::{Comment, Note, NoteId, Position, Rating};
pub use outcome::{opportunity, OutcomeScore, TeamEstimate};
pub use render::{to_json, to_markdown, to_terminal};
pub use round::{Point, Round, RoundId};
pub use section::{Group, Section};
pub use status::Status;

/// The value of the root `schema` key of every canvas document.
pub const SCHEMA: &str = "gapmap/canvas/1";
