//! Notes: adding, editing, moving, trashing, marking, tagging and finding.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ROOT};

use super::summary::{self, Slot, Summary};
use super::{excerpt, null, Canvas};
use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_int, get_map, put_text};
use crate::note::{Note, NoteId, Position};
use crate::rank;
use crate::section::Section;
use crate::status::Status;

/// The shortest prefix [`Canvas::resolve_note`] accepts.
const MIN_PREFIX: usize = 4;

impl Canvas {
    /// Adds a note at the end of `section` and returns its id.
    pub fn add_note(
        &mut self,
        section: Section,
        text: &str,
        tags: &[String],
        author: &str,
        now_ms: i64,
    ) -> Result<NoteId> {
        self.commit_pending();
        let before = summary::of(&mut self.doc);
        let new = self.prepare_note(section, text, tags)?;
        let id = self.write(now_ms, |doc| {
            let id = new.insert(doc, author, now_ms)?;
            let message = format!(
                "add note {} to {section}: \"{}\"",
                id.short(),
                excerpt(&new.text)
            );
            Ok((id, message))
        })?;
        // The next state's summary, without reading the notes again: the
        // new note in its place, and the ranks of any notes it re-ranked.
        if let Some(after) = summary::key(&mut self.doc) {
            let mut next = Summary::clone(&before);
            let slots = next.sections.entry(section).or_default();
            for (renamed, rank) in &new.renamed {
                if let Some(slot) = slots.iter_mut().find(|s| s.id == *renamed) {
                    slot.rank = rank.clone();
                }
            }
            slots.push(Slot {
                id: id.clone(),
                rank: new.rank.clone(),
            });
            summary::sort(slots);
            next.live += 1;
            summary::remember(after, std::sync::Arc::new(next));
        }
        Ok(id)
    }

    /// The number of live (not trashed) notes, as [`crate::describe`]
    /// counts them, remembered per document state.
    pub fn live_note_count(&mut self) -> usize {
        summary::of(&mut self.doc).live
    }

    /// Checks a note about to be added and picks its id and rank, so it can
    /// be written inside another change (a finding that makes a note).
    pub(super) fn prepare_note(
        &mut self,
        section: Section,
        text: &str,
        tags: &[String],
    ) -> Result<NewNote> {
        let text = note_text(text)?.to_string();
        let tags = normalize_tags(tags)?;
        let mut id = NoteId::random();
        while self.note_obj(&id).is_ok() {
            id = NoteId::random();
        }
        let neighbours = self.section_slots(section);
        let (rank, renamed) = place(&neighbours, neighbours.len());
        Ok(NewNote {
            id,
            section,
            text,
            tags,
            rank,
            renamed,
        })
    }

    /// Replaces a note's text; the change is stored as character edits, so a
    /// concurrent edit elsewhere merges with it.
    pub fn edit_note(&mut self, id: &NoteId, text: &str, now_ms: i64) -> Result<()> {
        let text = note_text(text)?;
        let note = self.note_obj(id)?;
        self.write(now_ms, |doc| {
            put_text(doc, &note, "text", text)?;
            doc.put(&note, "updated_at", now_ms)?;
            let message = format!("edit note {}: \"{}\"", id.short(), excerpt(text));
            Ok(((), message))
        })
    }

    /// Moves a note to `section` at `at`. The note stays one map entry, so
    /// concurrent moves never duplicate it: one section and rank win.
    pub fn move_note(
        &mut self,
        id: &NoteId,
        section: Section,
        at: Position,
        now_ms: i64,
    ) -> Result<()> {
        let note = self.note_obj(id)?;
        let neighbours: Vec<Slot> = self
            .section_slots(section)
            .into_iter()
            .filter(|n| n.id != *id)
            .collect();
        let (index, where_) = match &at {
            Position::End => (neighbours.len(), String::new()),
            Position::Before(anchor) | Position::After(anchor) => {
                if anchor == id {
                    // Next to itself: where it already is, if it is there.
                    if self.note(id).is_some_and(|n| n.section == section) {
                        return Ok(());
                    }
                    return Err(anchor_error(anchor, section));
                }
                let i = neighbours
                    .iter()
                    .position(|n| n.id == *anchor)
                    .ok_or_else(|| anchor_error(anchor, section))?;
                match at {
                    Position::Before(_) => (i, format!(" before {}", anchor.short())),
                    _ => (i + 1, format!(" after {}", anchor.short())),
                }
            }
        };
        let (rank, renamed) = place(&neighbours, index);
        let notes = get_map(&self.doc, &ROOT, "notes").ok_or_else(|| unknown(id))?;
        self.write(now_ms, |doc| {
            doc.put(&note, "section", section.id())?;
            doc.put(&note, "rank", rank.as_str())?;
            doc.put(&note, "updated_at", now_ms)?;
            rerank(doc, &notes, &renamed)?;
            Ok(((), format!("move note {} to {section}{where_}", id.short())))
        })
    }

    /// Puts a note in the trash (it stays in the document, restorable).
    /// A note already in the trash stays as it is.
    pub fn trash_note(&mut self, id: &NoteId, now_ms: i64) -> Result<()> {
        let note = self.note_obj(id)?;
        if get_int(&self.doc, &note, "trashed_at").is_some() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            doc.put(&note, "trashed_at", now_ms)?;
            Ok(((), format!("trash note {}", id.short())))
        })
    }

    /// Takes a note out of the trash. A live note stays as it is.
    pub fn restore_note(&mut self, id: &NoteId, now_ms: i64) -> Result<()> {
        let note = self.note_obj(id)?;
        if get_int(&self.doc, &note, "trashed_at").is_none() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            doc.put(&note, "trashed_at", null())?;
            Ok(((), format!("restore note {}", id.short())))
        })
    }

    /// Deletes every note in the trash for good and returns how many.
    pub fn empty_trash(&mut self, now_ms: i64) -> Result<usize> {
        let trashed: Vec<NoteId> = self
            .notes()
            .into_iter()
            .filter(Note::is_trashed)
            .map(|n| n.id)
            .collect();
        if trashed.is_empty() {
            return Ok(0);
        }
        let notes = get_map(&self.doc, &ROOT, "notes").ok_or_else(|| unknown(&trashed[0]))?;
        self.write(now_ms, |doc| {
            for id in &trashed {
                doc.delete(&notes, id.as_str())?;
            }
            let n = trashed.len();
            let plural = if n == 1 { "" } else { "s" };
            Ok((n, format!("empty trash: purge {n} note{plural}")))
        })
    }

    /// Sets a note's validation status.
    pub fn mark(&mut self, id: &NoteId, status: Status, now_ms: i64) -> Result<()> {
        let note = self.note_obj(id)?;
        self.write(now_ms, |doc| {
            doc.put(&note, "status", status.as_str())?;
            doc.put(&note, "updated_at", now_ms)?;
            Ok(((), format!("mark note {} {status}", id.short())))
        })
    }

    /// Adds and removes tags (a leading `#` is dropped). Nothing to do:
    /// nothing changes.
    pub fn tag(
        &mut self,
        id: &NoteId,
        add: &[String],
        remove: &[String],
        now_ms: i64,
    ) -> Result<()> {
        let add = normalize_tags(add)?;
        let remove = normalize_tags(remove)?;
        let note = self.note_obj(id)?;
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            let tags = ensure_map(doc, &note, "tags")?;
            for tag in &add {
                doc.put(&tags, tag.as_str(), true)?;
            }
            for tag in &remove {
                if doc.get(&tags, tag.as_str())?.is_some() {
                    doc.delete(&tags, tag.as_str())?;
                }
            }
            doc.put(&note, "updated_at", now_ms)?;
            let changes: Vec<String> = add
                .iter()
                .map(|t| format!("+{t}"))
                .chain(remove.iter().map(|t| format!("-{t}")))
                .collect();
            Ok(((), format!("tag note {} {}", id.short(), changes.join(" "))))
        })
    }

    /// The note with this exact id, trashed or not.
    pub fn note(&self, id: &NoteId) -> Option<Note> {
        let obj = self.note_obj(id).ok()?;
        Note::read(&self.doc, id.as_str(), &obj)
    }

    /// Every note, trashed ones too, in canvas order (section, then rank).
    pub fn notes(&self) -> Vec<Note> {
        let Some(notes) = get_map(&self.doc, &ROOT, "notes") else {
            return Vec::new();
        };
        let mut all: Vec<Note> = self
            .doc
            .keys(&notes)
            .filter_map(|id| {
                let obj = get_map(&self.doc, &notes, &id)?;
                Note::read(&self.doc, &id, &obj)
            })
            .collect();
        all.sort_by(|a, b| (a.section, &a.rank, &a.id).cmp(&(b.section, &b.rank, &b.id)));
        all
    }

    /// Id and rank of the live notes of a section, in board order: what
    /// placing a note needs, remembered per document state (a big canvas has
    /// thousands of notes; see [`summary`]).
    fn section_slots(&mut self, section: Section) -> Vec<Slot> {
        summary::of(&mut self.doc)
            .sections
            .get(&section)
            .cloned()
            .unwrap_or_default()
    }

    /// The live (not trashed) notes of a section, ordered by rank; equal
    /// ranks (left by concurrent writes) are ordered by id, so every replica
    /// shows the same order.
    pub fn section_notes(&self, section: Section) -> Vec<Note> {
        self.notes()
            .into_iter()
            .filter(|n| n.section == section && !n.is_trashed())
            .collect()
    }

    /// The id of the note whose id is, or starts with, `prefix` (at least
    /// four characters, any case). Trashed notes count, so they can be
    /// restored by prefix.
    pub fn resolve_note(&self, prefix: &str) -> Result<NoteId> {
        let given = prefix.trim();
        if given.chars().count() < MIN_PREFIX {
            return Err(CanvasError::PrefixTooShort);
        }
        let Some(notes) = get_map(&self.doc, &ROOT, "notes") else {
            return Err(CanvasError::UnknownNote(given.to_string()));
        };
        // An id written by another client may not be lowercase.
        if get_map(&self.doc, &notes, given).is_some() {
            return Ok(NoteId::from(given));
        }
        let prefix = given.to_lowercase();
        let mut matches: Vec<String> = Vec::new();
        for id in self.doc.keys(&notes) {
            if id == prefix {
                return Ok(NoteId::from(id));
            }
            if id.starts_with(&prefix) {
                matches.push(id);
            }
        }
        matches.sort();
        match matches.len() {
            0 => Err(CanvasError::UnknownNote(prefix)),
            1 => Ok(NoteId::from(matches.remove(0))),
            _ => Err(CanvasError::AmbiguousNote { prefix, matches }),
        }
    }

    /// The map object of a note.
    pub(super) fn note_obj(&self, id: &NoteId) -> Result<ObjId> {
        get_map(&self.doc, &ROOT, "notes")
            .and_then(|notes| get_map(&self.doc, &notes, id.as_str()))
            .ok_or_else(|| unknown(id))
    }
}

/// A note checked and placed by [`Canvas::prepare_note`], not written yet.
pub(super) struct NewNote {
    id: NoteId,
    section: Section,
    text: String,
    tags: Vec<String>,
    rank: String,
    renamed: Vec<(NoteId, String)>,
}

impl NewNote {
    /// Writes the note (inside the caller's change) and returns its id.
    pub(super) fn insert(&self, doc: &mut AutoCommit, author: &str, now_ms: i64) -> Result<NoteId> {
        let notes = ensure_map(doc, &ROOT, "notes")?;
        let note = doc.put_object(&notes, self.id.as_str(), ObjType::Map)?;
        doc.put(&note, "section", self.section.id())?;
        put_text(doc, &note, "text", &self.text)?;
        doc.put(&note, "rank", self.rank.as_str())?;
        doc.put(&note, "status", Status::Hypothesis.as_str())?;
        let tag_map = doc.put_object(&note, "tags", ObjType::Map)?;
        for tag in &self.tags {
            doc.put(&tag_map, tag.as_str(), true)?;
        }
        for key in ["links", "votes", "comments", "ratings"] {
            doc.put_object(&note, key, ObjType::Map)?;
        }
        doc.put(&note, "author", author.trim())?;
        doc.put(&note, "created_at", now_ms)?;
        doc.put(&note, "updated_at", now_ms)?;
        doc.put(&note, "trashed_at", null())?;
        rerank(doc, &notes, &self.renamed)?;
        Ok(self.id.clone())
    }
}

pub(super) fn unknown(id: &NoteId) -> CanvasError {
    CanvasError::UnknownNote(id.to_string())
}

fn anchor_error(anchor: &NoteId, section: Section) -> CanvasError {
    CanvasError::AnchorNotInSection {
        anchor: anchor.to_string(),
        section: section.id().to_string(),
    }
}

/// The trimmed text of a note, refusing empty ones.
fn note_text(text: &str) -> Result<&str> {
    let text = text.trim();
    if text.is_empty() {
        Err(CanvasError::EmptyText)
    } else {
        Ok(text)
    }
}

/// Tags without a leading `#` and surrounding space, deduplicated; a tag is
/// one word.
fn normalize_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let t = tag.trim();
        let t = t.strip_prefix('#').unwrap_or(t);
        if t.is_empty() || t.chars().any(char::is_whitespace) {
            return Err(CanvasError::InvalidTag(tag.clone()));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// The rank for a note at `index` among `neighbours` (sorted), and the
/// neighbours that need a new rank to make room.
fn place(neighbours: &[Slot], index: usize) -> (String, Vec<(NoteId, String)>) {
    let ranks: Vec<&str> = neighbours.iter().map(|n| n.rank.as_str()).collect();
    let (own, renamed) = rank::place(&ranks, index);
    let renamed = renamed
        .into_iter()
        .map(|(i, r)| (neighbours[i].id.clone(), r))
        .collect();
    (own, renamed)
}

fn rerank(doc: &mut AutoCommit, notes: &ObjId, renamed: &[(NoteId, String)]) -> Result<()> {
    for (id, rank) in renamed {
        if let Some(note) = get_map(doc, notes, id.as_str()) {
            doc.put(&note, "rank", rank.as_str())?;
        }
    }
    Ok(())
}
