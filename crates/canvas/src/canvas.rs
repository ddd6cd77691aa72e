//! [`Canvas`]: typed reads and writes over the Automerge document.

mod annotations;
mod anonymise;
mod conflicts;
mod erasure;
mod findings;
mod identity;
mod import;
mod interviews;
mod notes;
#[cfg(test)]
mod research_tests;
mod rounds;
mod summary;
mod survey;

pub use annotations::RATING_RANGE;
pub use conflicts::Conflicts;
pub use erasure::Purged;
pub use findings::NewFinding;
pub use survey::{RespondentRating, SurveyError, SurveyImport, SURVEY_MAX_BYTES, SURVEY_MAX_ROWS};

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};

use crate::error::{CanvasError, Result};
use crate::field::{ensure_map, get_map, get_string, put_text};
use crate::history::{self, HistoryEntry};
use crate::job::{Customer, Job};
use crate::member::{self, Member};
use crate::SCHEMA;

/// A Customer Progress Canvas: an Automerge document holding the schema of
/// DESIGN §3, read and changed through typed methods.
///
/// Every write is one Automerge commit carrying a short human message (shown
/// by `gapmap log`) and the time given by the caller; the crate itself never
/// reads a clock. Reads never fail: whatever another client wrote, missing or
/// oddly typed fields read as defaults.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// The document; always holds `schema == SCHEMA`.
    doc: AutoCommit,
}

impl Canvas {
    /// A new canvas with the given title. `author` (when not empty) is
    /// recorded as the member name of this document's actor.
    pub fn create(title: &str, author: &str, now_ms: i64) -> Result<Canvas> {
        let title = title.trim();
        if title.is_empty() {
            return Err(CanvasError::EmptyTitle);
        }
        let mut canvas = Canvas {
            doc: AutoCommit::new(),
        };
        let actor = canvas.actor_hex();
        canvas.write(now_ms, |doc| {
            doc.put(ROOT, "schema", SCHEMA)?;
            put_text(doc, &ROOT, "title", title)?;
            let customer = doc.put_object(ROOT, "customer", ObjType::Map)?;
            doc.put(&customer, "type", "")?;
            put_text(doc, &customer, "description", "")?;
            let job = doc.put_object(ROOT, "job", ObjType::Map)?;
            for key in ["situation", "motivation", "outcome"] {
                put_text(doc, &job, key, "")?;
            }
            for key in ["notes", "interviews", "rounds", "members"] {
                doc.put_object(ROOT, key, ObjType::Map)?;
            }
            if !author.trim().is_empty() {
                put_member(doc, &actor, author.trim(), member::color_for(&actor))?;
            }
            Ok(((), format!("create canvas \"{}\"", excerpt(title))))
        })?;
        Ok(canvas)
    }

    /// Wraps an existing document, checking that it is a canvas.
    pub fn from_doc(doc: AutoCommit) -> Result<Canvas> {
        match get_string(&doc, &ROOT, "schema") {
            Some(schema) if schema == SCHEMA => Ok(Canvas { doc }),
            other => Err(CanvasError::NotACanvas(other.unwrap_or_default())),
        }
    }

    /// Loads a canvas from a saved Automerge document or a run of changes,
    /// as untrusted bytes: measured first by the gate
    /// ([`gapmap_guard::check`], with its default budget), so that a file
    /// that would make Automerge inflate or walk gigabytes is refused
    /// before Automerge reads it.
    pub fn load(bytes: &[u8]) -> Result<Canvas> {
        gapmap_guard::check(bytes, gapmap_guard::Budget::DEFAULT)
            .map_err(|refused| CanvasError::Load(refused.to_string()))?;
        // Automerge panics on some malformed chunks; that is a bad file too.
        let doc = gapmap_guard::catch(|| AutoCommit::load(bytes))
            .map_err(|panic| CanvasError::Load(format!("malformed Automerge data ({panic})")))?
            .map_err(|e| CanvasError::Load(e.to_string()))?;
        Canvas::from_doc(doc)
    }

    /// Takes the underlying document out, leaving an empty one: for handing
    /// the document back to whoever lent it, once the canvas is done with.
    pub fn take_doc(&mut self) -> AutoCommit {
        std::mem::take(&mut self.doc)
    }

    /// The underlying document.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    /// The underlying document, to sync or save it. Changes made through it
    /// bypass the schema; commit them before calling a write method.
    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Unwraps the document.
    pub fn into_doc(self) -> AutoCommit {
        self.doc
    }

    /// Sets the Automerge actor id that later changes are made as (one per
    /// person and device, so the history can tell who did what).
    pub fn set_actor(&mut self, actor: &[u8]) {
        self.commit_pending();
        self.doc.set_actor(ActorId::from(actor));
    }

    /// The current actor id, as lowercase hex (the key of [`Canvas::members`]).
    pub fn actor_hex(&self) -> String {
        self.doc.get_actor().to_hex_string()
    }

    /// The whole document, compacted (see `AutoCommit::save`).
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// A copy of this canvas that can change independently, with a fresh
    /// random actor id.
    pub fn fork(&mut self) -> Canvas {
        Canvas {
            doc: self.doc.fork(),
        }
    }

    /// Merges every change of `other` into this canvas.
    pub fn merge(&mut self, other: &mut Canvas) -> Result<()> {
        self.commit_pending();
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// The title.
    pub fn title(&self) -> String {
        get_string(&self.doc, &ROOT, "title").unwrap_or_default()
    }

    /// Changes the title (character by character).
    pub fn set_title(&mut self, title: &str, now_ms: i64) -> Result<()> {
        let title = title.trim();
        if title.is_empty() {
            return Err(CanvasError::EmptyTitle);
        }
        self.write(now_ms, |doc| {
            put_text(doc, &ROOT, "title", title)?;
            Ok(((), format!("set title \"{}\"", excerpt(title))))
        })
    }

    /// The job statement.
    pub fn job(&self) -> Job {
        let Some(job) = get_map(&self.doc, &ROOT, "job") else {
            return Job::default();
        };
        let read = |key| get_string(&self.doc, &job, key).unwrap_or_default();
        Job {
            situation: read("situation"),
            motivation: read("motivation"),
            outcome: read("outcome"),
        }
    }

    /// Changes the given parts of the job statement; `None` leaves a part
    /// as it is, `Some("")` clears it. Nothing given: nothing changes. Lead
    /// words typed along ("When …", "I want to …", "so I can …") are not
    /// stored (see [`Job::without_leads`]).
    pub fn set_job(
        &mut self,
        situation: Option<&str>,
        motivation: Option<&str>,
        outcome: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let parts = [
            ("situation", situation),
            ("motivation", motivation),
            ("outcome", outcome),
        ];
        if parts.iter().all(|(_, v)| v.is_none()) {
            return Ok(());
        }
        let typed = |part: Option<&str>| part.unwrap_or_default().to_string();
        let clean = Job {
            situation: typed(situation),
            motivation: typed(motivation),
            outcome: typed(outcome),
        }
        .without_leads();
        let values = [clean.situation, clean.motivation, clean.outcome];
        self.write(now_ms, |doc| {
            let job = ensure_map(doc, &ROOT, "job")?;
            for ((key, given), value) in parts.iter().zip(&values) {
                if given.is_some() {
                    put_text(doc, &job, key, value)?;
                }
            }
            Ok(((), "set job statement".to_string()))
        })
    }

    /// Who the canvas studies.
    pub fn customer(&self) -> Customer {
        let Some(customer) = get_map(&self.doc, &ROOT, "customer") else {
            return Customer::default();
        };
        Customer {
            kind: get_string(&self.doc, &customer, "type").unwrap_or_default(),
            description: get_string(&self.doc, &customer, "description").unwrap_or_default(),
        }
    }

    /// Changes the customer type and/or description; `None` leaves a part as
    /// it is. Nothing given: nothing changes.
    pub fn set_customer(
        &mut self,
        kind: Option<&str>,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        if kind.is_none() && description.is_none() {
            return Ok(());
        }
        self.write(now_ms, |doc| {
            let customer = ensure_map(doc, &ROOT, "customer")?;
            if let Some(kind) = kind {
                doc.put(&customer, "type", kind.trim())?;
            }
            if let Some(description) = description {
                put_text(doc, &customer, "description", description.trim())?;
            }
            let message = match kind.map(str::trim).filter(|k| !k.is_empty()) {
                Some(kind) => format!("set customer: {}", excerpt(kind)),
                None => "set customer".to_string(),
            };
            Ok(((), message))
        })
    }

    /// Records the name and colour of the person behind an actor id.
    pub fn set_member(
        &mut self,
        actor_hex: &str,
        name: &str,
        color: &str,
        now_ms: i64,
    ) -> Result<()> {
        let actor = actor_hex.trim().to_ascii_lowercase();
        if actor.is_empty() || hex::decode(&actor).is_err() {
            return Err(CanvasError::InvalidActor(actor_hex.to_string()));
        }
        let name = name.trim();
        self.write(now_ms, |doc| {
            put_member(doc, &actor, name, color.trim())?;
            let short = &actor[..actor.len().min(8)];
            Ok(((), format!("set member {short} to \"{}\"", excerpt(name))))
        })
    }

    /// Every member by actor id (lowercase hex).
    pub fn members(&self) -> BTreeMap<String, Member> {
        let Some(members) = get_map(&self.doc, &ROOT, "members") else {
            return BTreeMap::new();
        };
        self.doc
            .keys(&members)
            .filter_map(|actor| {
                let obj = get_map(&self.doc, &members, &actor)?;
                let member = Member {
                    name: get_string(&self.doc, &obj, "name").unwrap_or_default(),
                    color: get_string(&self.doc, &obj, "color").unwrap_or_default(),
                };
                Some((actor, member))
            })
            .collect()
    }

    /// The history of the document, oldest change first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        // AutoCommit::get_changes needs `&mut` (it closes an open
        // transaction); a clone keeps this a read.
        let mut doc = self.doc.clone();
        history::entries(&doc.get_changes(&[]), &self.members())
    }

    /// Commits whatever a caller left uncommitted through [`Canvas::doc_mut`],
    /// so it does not end up inside (or rolled back with) our own change.
    fn commit_pending(&mut self) {
        if self.doc.pending_ops() > 0 {
            self.doc.commit();
        }
    }

    /// Runs `f` as one commit with the message it returns, at `now_ms`; on
    /// error nothing of it stays in the document.
    fn write<T>(
        &mut self,
        now_ms: i64,
        f: impl FnOnce(&mut AutoCommit) -> Result<(T, String)>,
    ) -> Result<T> {
        self.commit_pending();
        match f(&mut self.doc) {
            Ok((value, message)) => {
                // Automerge change times are seconds since the epoch (as in
                // JavaScript Automerge); history() converts back to ms.
                self.doc.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(now_ms.div_euclid(1000)),
                );
                Ok(value)
            }
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }
}

fn put_member(doc: &mut AutoCommit, actor: &str, name: &str, color: &str) -> Result<()> {
    let members = ensure_map(doc, &ROOT, "members")?;
    let member = ensure_map(doc, &members, actor)?;
    doc.put(&member, "name", name)?;
    doc.put(&member, "color", color)?;
    Ok(())
}

/// Writes `null` (used for `trashed_at`).
fn null() -> ScalarValue {
    ScalarValue::Null
}

/// The start of a text for a one-line history message.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX {
        flat
    } else {
        let cut: String = flat.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests;
