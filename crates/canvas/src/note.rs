//! Notes: the sticky notes of the canvas, and their ids.

use std::collections::BTreeMap;
use std::fmt;

use automerge::{ObjId, ReadDoc};
use rand::Rng;

use crate::field::{get_bool, get_int, get_map, get_set, get_string};
use crate::section::Section;
use crate::status::Status;

/// The alphabet of note ids: lowercase RFC 4648 base32.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Length of a fresh note id: 60 random bits.
const ID_LEN: usize = 12;
/// Length of the short id shown on boards and in history messages.
pub(crate) const SHORT_LEN: usize = 6;

/// The id of a note: its key in the document's `notes` map.
///
/// Fresh ids are 12 random lowercase base32 characters; ids written by other
/// clients are taken as they are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NoteId(String);

impl NoteId {
    /// A fresh random id.
    pub fn random() -> NoteId {
        let mut rng = rand::thread_rng();
        NoteId(
            (0..ID_LEN)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first six characters, as boards show them.
    pub fn short(&self) -> &str {
        match self.0.char_indices().nth(SHORT_LEN) {
            Some((i, _)) => &self.0[..i],
            None => &self.0,
        }
    }
}

impl fmt::Display for NoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for NoteId {
    /// Wraps an id as it is; use [`Canvas::resolve_note`](crate::Canvas::resolve_note)
    /// to turn what a person typed into an existing note's id.
    fn from(id: String) -> NoteId {
        NoteId(id)
    }
}

impl From<&str> for NoteId {
    /// Wraps an id as it is (see `From<String>`).
    fn from(id: &str) -> NoteId {
        NoteId(id.to_string())
    }
}

impl AsRef<str> for NoteId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Where [`Canvas::move_note`](crate::Canvas::move_note) puts a note inside
/// its target section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// After every live note of the section.
    End,
    /// Just before this live note of the section.
    Before(NoteId),
    /// Just after this live note of the section.
    After(NoteId),
}

/// A comment on a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The comment's key in the note's `comments` map.
    pub id: String,
    /// Who wrote it.
    pub author: String,
    /// When (ms since the epoch; 0 when unknown).
    pub at: i64,
    /// What it says.
    pub text: String,
    /// Whether the discussion is closed.
    pub resolved: bool,
}

/// One person's rating of a success outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rating {
    /// How much the outcome matters, 1–10.
    pub importance: Option<i64>,
    /// How well it is met today, 1–10.
    pub satisfaction: Option<i64>,
}

/// A note as read from the document. Missing fields read as defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Its id.
    pub id: NoteId,
    /// The section it sits in.
    pub section: Section,
    /// What it says.
    pub text: String,
    /// Its fractional index inside the section (order by `(rank, id)`).
    pub rank: String,
    /// How far it has been validated.
    pub status: Status,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Who wrote it.
    pub author: String,
    /// When it was written (ms since the epoch; 0 when unknown).
    pub created_at: i64,
    /// When it was last changed (ms since the epoch; 0 when unknown).
    pub updated_at: i64,
    /// When it went to the trash, if it is there.
    pub trashed_at: Option<i64>,
    /// Who dot-voted for it, sorted.
    pub votes: Vec<String>,
    /// Links to other notes: note id → "addresses", "causes" or "relates".
    pub links: BTreeMap<String, String>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Ratings by person (success outcomes).
    pub ratings: BTreeMap<String, Rating>,
}

impl Note {
    /// Whether the note is in the trash.
    pub fn is_trashed(&self) -> bool {
        self.trashed_at.is_some()
    }

    /// Reads the note stored in map `obj` under id `id`.
    ///
    /// `None` when its section is missing or unknown (a note from a newer
    /// schema this version cannot place).
    pub(crate) fn read<R: ReadDoc>(doc: &R, id: &str, obj: &ObjId) -> Option<Note> {
        let section = Section::from_id(&get_string(doc, obj, "section")?)?;
        let created_at = get_int(doc, obj, "created_at").unwrap_or(0);
        Some(Note {
            id: NoteId(id.to_string()),
            section,
            text: get_string(doc, obj, "text").unwrap_or_default(),
            rank: get_string(doc, obj, "rank").unwrap_or_default(),
            status: get_string(doc, obj, "status")
                .map(|s| Status::from_stored(&s))
                .unwrap_or_default(),
            tags: get_set(doc, obj, "tags"),
            author: get_string(doc, obj, "author").unwrap_or_default(),
            created_at,
            updated_at: get_int(doc, obj, "updated_at").unwrap_or(created_at),
            trashed_at: get_int(doc, obj, "trashed_at"),
            votes: get_set(doc, obj, "votes"),
            links: read_links(doc, obj),
            comments: read_comments(doc, obj),
            ratings: read_ratings(doc, obj),
        })
    }
}

fn read_links<R: ReadDoc>(doc: &R, note: &ObjId) -> BTreeMap<String, String> {
    let Some(map) = get_map(doc, note, "links") else {
        return BTreeMap::new();
    };
    doc.keys(&map)
        .filter_map(|k| {
            let kind = get_string(doc, &map, &k)?;
            Some((k, kind))
        })
        .collect()
}

fn read_comments<R: ReadDoc>(doc: &R, note: &ObjId) -> Vec<Comment> {
    let Some(map) = get_map(doc, note, "comments") else {
        return Vec::new();
    };
    let mut comments: Vec<Comment> = doc
        .keys(&map)
        .filter_map(|k| {
            let obj = get_map(doc, &map, &k)?;
            Some(Comment {
                author: get_string(doc, &obj, "author").unwrap_or_default(),
                at: get_int(doc, &obj, "at").unwrap_or(0),
                text: get_string(doc, &obj, "text").unwrap_or_default(),
                resolved: get_bool(doc, &obj, "resolved").unwrap_or(false),
                id: k,
            })
        })
        .collect();
    comments.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    comments
}

fn read_ratings<R: ReadDoc>(doc: &R, note: &ObjId) -> BTreeMap<String, Rating> {
    let Some(map) = get_map(doc, note, "ratings") else {
        return BTreeMap::new();
    };
    doc.keys(&map)
        .filter_map(|k| {
            let obj = get_map(doc, &map, &k)?;
            let rating = Rating {
                importance: get_int(doc, &obj, "importance"),
                satisfaction: get_int(doc, &obj, "satisfaction"),
            };
            Some((k, rating))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ScalarValue, ROOT};

    #[test]
    fn random_ids_are_twelve_base32_chars() {
        let a = NoteId::random();
        assert_eq!(a.as_str().len(), 12);
        assert!(a.as_str().bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(a, NoteId::random());
        assert_eq!(a.short(), &a.as_str()[..6]);
        assert_eq!(NoteId::from("abc").short(), "abc");
        assert_eq!(NoteId::from("abcdefgh".to_string()).to_string(), "abcdefgh");
    }

    /// A note as another client may write it: plain strings, F64 numbers,
    /// extra fields.
    #[test]
    fn reads_a_hand_written_note_with_scalars() {
        let mut doc = AutoCommit::new();
        let n = doc.put_object(&ROOT, "n", ObjType::Map).unwrap();
        doc.put(&n, "section", "to-be").unwrap();
        doc.put(&n, "text", "plain string ✓").unwrap();
        doc.put(&n, "rank", "a3").unwrap();
        doc.put(&n, "status", "validated").unwrap();
        doc.put(&n, "author", "ana").unwrap();
        doc.put(&n, "created_at", ScalarValue::F64(1000.0)).unwrap();
        doc.put(&n, "updated_at", ScalarValue::Uint(2000)).unwrap();
        doc.put(&n, "trashed_at", ScalarValue::Null).unwrap();
        let tags = doc.put_object(&n, "tags", ObjType::Map).unwrap();
        doc.put(&tags, "z", true).unwrap();
        doc.put(&tags, "a", true).unwrap();
        let links = doc.put_object(&n, "links", ObjType::Map).unwrap();
        doc.put(&links, "other", "causes").unwrap();
        let comments = doc.put_object(&n, "comments", ObjType::Map).unwrap();
        let c = doc.put_object(&comments, "c1", ObjType::Map).unwrap();
        doc.put(&c, "author", "bo").unwrap();
        doc.put(&c, "at", 5).unwrap();
        doc.put(&c, "text", "really?").unwrap();
        doc.put(&c, "resolved", true).unwrap();
        let ratings = doc.put_object(&n, "ratings", ObjType::Map).unwrap();
        let r = doc.put_object(&ratings, "bo", ObjType::Map).unwrap();
        doc.put(&r, "importance", 8).unwrap();
        doc.put(&n, "future_field", 42).unwrap();

        let note = Note::read(&doc, "n", &n).unwrap();
        assert_eq!(note.section, Section::ToBe);
        assert_eq!(note.text, "plain string ✓");
        assert_eq!(note.rank, "a3");
        assert_eq!(note.status, Status::Validated);
        assert_eq!(note.tags, ["a", "z"]);
        assert_eq!(note.author, "ana");
        assert_eq!((note.created_at, note.updated_at), (1000, 2000));
        assert_eq!(note.trashed_at, None);
        assert!(!note.is_trashed());
        assert_eq!(note.links["other"], "causes");
        assert_eq!(note.comments.len(), 1);
        assert_eq!(note.comments[0].text, "really?");
        assert!(note.comments[0].resolved);
        assert_eq!(note.ratings["bo"].importance, Some(8));
        assert_eq!(note.ratings["bo"].satisfaction, None);
    }

    /// The same note as JavaScript Automerge 3 writes it: Text objects.
    #[test]
    fn reads_a_hand_written_note_with_text_objects() {
        let mut doc = AutoCommit::new();
        let n = doc.put_object(&ROOT, "n", ObjType::Map).unwrap();
        for (key, value) in [
            ("section", "constraint"),
            ("text", "texte accentué 🚂"),
            ("rank", "a0"),
            ("status", "invalidated"),
            ("author", "zoë"),
        ] {
            let t = doc.put_object(&n, key, ObjType::Text).unwrap();
            doc.splice_text(&t, 0, 0, value).unwrap();
        }
        doc.put(&n, "trashed_at", ScalarValue::Timestamp(77))
            .unwrap();
        let note = Note::read(&doc, "n", &n).unwrap();
        assert_eq!(note.section, Section::Constraint);
        assert_eq!(note.text, "texte accentué 🚂");
        assert_eq!(note.status, Status::Invalidated);
        assert_eq!(note.author, "zoë");
        assert_eq!(note.trashed_at, Some(77));
        assert!(note.is_trashed());
    }

    #[test]
    fn missing_fields_read_as_defaults() {
        let mut doc = AutoCommit::new();
        let n = doc.put_object(&ROOT, "n", ObjType::Map).unwrap();
        doc.put(&n, "section", "now").unwrap();
        doc.put(&n, "status", "someday").unwrap();
        let note = Note::read(&doc, "n", &n).unwrap();
        assert_eq!(note.text, "");
        assert_eq!(note.status, Status::Hypothesis);
        assert!(note.tags.is_empty() && note.votes.is_empty());
        assert_eq!(
            (note.created_at, note.updated_at, note.trashed_at),
            (0, 0, None)
        );

        let m = doc.put_object(&ROOT, "m", ObjType::Map).unwrap();
        doc.put(&m, "section", "somewhere-else").unwrap();
        assert_eq!(Note::read(&doc, "m", &m), None);
    }
}
