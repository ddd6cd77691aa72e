//! `gapmap doctor`: every document's two copies — its journal and sled's —
//! compared, what is damaged said, a damaged copy rebuilt from the other,
//! and, when both are damaged, everything that survives in either brought
//! back and what is lost named.
//!
//! A change is lost when no copy holds it. The store knows a change is
//! missing in three ways: later changes that survived depend on it (they are
//! kept, held back by Automerge until it arrives — from a peer, say); sled
//! recorded it as a head; or journal bytes that no other copy covers are
//! unreadable. What the lost changes meant (which notes) is for the caller,
//! who knows the schema: [`Store::held_changes`] gives the surviving changes
//! that reference them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use automerge::{AutoCommit, ChangeHash};
use serde::Serialize;

use super::salvage::{
    apply_records, doc_id_of_journal, keep_aside, read_journal_file, DbCopy, JournalFile,
    JournalRead,
};
use super::{latest_settings, move_db_aside, pick_entry, rebuilt_entry};
use crate::error::{file_err, Result, StoreError};
use crate::journal;
use crate::layout::{self, DocState, JournalPos};
use crate::owner::OwnerLock;
use crate::store::Store;
use crate::{chunks, Options};

/// How much [`Store::examine`] may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Rewrite a damaged journal from a good database copy, nothing else:
    /// for a store's owner, whose engine holds the documents.
    Journals,
    /// Also rebuild a damaged database copy from whatever survives.
    Everything,
}

/// What `gapmap doctor` found in a store, and what it did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// Why the database did not open, if it did not; it was then moved
    /// aside and every document rebuilt from its journal.
    pub open_error: Option<String>,
    /// Where that database was moved.
    pub moved_aside: Option<PathBuf>,
    /// Every document, by id.
    pub docs: Vec<DocReport>,
    /// The local settings.
    pub settings: SettingsReport,
}

impl DoctorReport {
    /// Whether anything is, or may be, lost.
    pub fn lost_anything(&self) -> bool {
        self.docs.iter().any(|d| !d.lost.is_empty()) || !self.settings.lost.is_empty()
    }

    /// Whether something found is left for the user to do.
    pub fn unrepaired(&self) -> bool {
        self.docs.iter().any(|d| d.unrepaired.is_some())
    }

    /// Whether nothing at all was wrong.
    pub fn healthy(&self) -> bool {
        self.open_error.is_none()
            && self.docs.iter().all(DocReport::healthy)
            && self.settings.healthy()
    }
}

/// One document's two copies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DocReport {
    /// The document id.
    pub id: String,
    /// Its title as the index (or the journal) has it.
    pub title: String,
    /// The journal file.
    pub journal: JournalReport,
    /// What is wrong with the database's copy, if anything.
    pub database: Option<String>,
    /// Changes the journal held that the database's copy lacked.
    pub database_lacked: usize,
    /// What doctor changed, in plain words.
    pub repairs: Vec<String>,
    /// What no copy holds any more.
    pub lost: Loss,
    /// What doctor could not repair here, and what to do.
    pub unrepaired: Option<String>,
}

impl DocReport {
    /// Whether both copies were whole and alike.
    pub fn healthy(&self) -> bool {
        self.journal.healthy()
            && self.database.is_none()
            && self.database_lacked == 0
            && self.lost.is_empty()
    }
}

/// A journal file as found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JournalReport {
    /// Whether the file exists.
    pub present: bool,
    /// Why it could not be read at all.
    pub unusable: Option<String>,
    /// Intact records read (after damage too).
    pub records: usize,
    /// Byte ranges of the file no intact record covers, other than the
    /// unfinished last save of a crash.
    pub damaged: Vec<ByteRange>,
    /// Damaged records whose payload was whole (only their head was hit),
    /// checked by Automerge's own checksums, and used.
    pub recovered: usize,
    /// Bytes of a save a crash interrupted (the save never returned),
    /// dropped from the end of the file.
    pub unfinished_bytes: u64,
    /// Changes the database held that the journal lacked.
    pub lacked: usize,
    /// Where the damaged file was kept when doctor rewrote it.
    pub kept_as: Option<PathBuf>,
}

impl JournalReport {
    /// Whether the journal was whole and complete.
    pub fn healthy(&self) -> bool {
        self.present && self.unusable.is_none() && self.damaged.is_empty() && self.lacked == 0
    }
}

/// A range of bytes in a file, `start..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What no copy holds any more. Empty when nothing is lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// Changes (hex hashes) that surviving changes depend on and no copy
    /// holds.
    pub missing_changes: Vec<String>,
    /// Intact changes kept but held back until those arrive (they apply by
    /// themselves then, e.g. when a peer that has them syncs).
    pub held_changes: usize,
    /// Heads the database recorded that no copy holds (other than the
    /// missing changes).
    pub lost_heads: Vec<String>,
    /// Damaged journal bytes no other copy covers: what they held is lost.
    pub unreadable_bytes: u64,
    /// The journal ends in an unfinished record and no database record
    /// says whether that save had returned: it may be a crash's interrupted
    /// save (nothing lost) or a journal cut short (later changes lost).
    pub unconfirmed_bytes: u64,
}

impl Loss {
    /// Whether nothing is lost.
    pub fn is_empty(&self) -> bool {
        self.missing_changes.is_empty()
            && self.held_changes == 0
            && self.lost_heads.is_empty()
            && self.unreadable_bytes == 0
            && self.unconfirmed_bytes == 0
    }
}

/// The settings' two copies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SettingsReport {
    /// The settings journal.
    pub journal: JournalReport,
    /// What doctor changed.
    pub repairs: Vec<String>,
    /// What may be lost (settings are named by key only inside damaged bytes).
    pub lost: Loss,
}

impl SettingsReport {
    fn healthy(&self) -> bool {
        (self.journal.healthy() || !self.journal.present && self.repairs.is_empty())
            && self.lost.is_empty()
    }
}

impl Store {
    /// `gapmap doctor` on a store nobody else has open: opens it (rolling
    /// forward), or — when the database does not open — moves it aside and
    /// starts a fresh one; then [`Store::examine`]s every document with
    /// [`Repair::Everything`].
    pub fn doctor(dir: &Path) -> Result<DoctorReport> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let open_error = match Store::open(&dir) {
            Ok(store) => return store.examine_with(Repair::Everything, false),
            Err(
                e @ (StoreError::Locked { .. }
                | StoreError::NotWritable(_)
                | StoreError::NoSpace(_)),
            ) => return Err(e),
            Err(e) => e,
        };
        tracing::warn!(error = %open_error, "the database does not open; rebuilding it");
        let owner = OwnerLock::acquire(&dir)?;
        let moved_aside = move_db_aside(&dir)?;
        let store = Store::open_locked(&dir, owner, Options::default())?;
        let mut report = store.examine_with(Repair::Everything, true)?;
        report.open_error = Some(open_error.to_string());
        report.moved_aside = moved_aside;
        Ok(report)
    }

    /// Compares both copies of every document (and of the settings), says
    /// what is damaged, rebuilds what `repair` allows from what survives,
    /// and names what is lost.
    pub fn examine(&self, repair: Repair) -> Result<DoctorReport> {
        self.examine_with(repair, false)
    }

    /// `fresh_db`: the database was just created empty, so it is no copy
    /// of anything.
    fn examine_with(&self, repair: Repair, fresh_db: bool) -> Result<DoctorReport> {
        let mut report = DoctorReport::default();
        for id in self.all_ids()? {
            report.docs.push(self.examine_doc(&id, repair, fresh_db)?);
        }
        report.settings = self.examine_settings(fresh_db)?;
        Ok(report)
    }

    /// Ids in the index, in sled's documents, or with a journal file.
    fn all_ids(&self) -> Result<Vec<String>> {
        let mut ids = BTreeSet::new();
        for kv in self.inner.index.iter() {
            ids.insert(String::from_utf8_lossy(&kv?.0).into_owned());
        }
        for kv in self.inner.docs.iter() {
            let key = kv?.0;
            if let Some(end) = key.iter().position(|&b| b == 0) {
                ids.insert(String::from_utf8_lossy(&key[..end]).into_owned());
            }
        }
        let dir = self.inner.dir.join(layout::JOURNAL_DIR);
        for entry in std::fs::read_dir(&dir).map_err(file_err("read", &dir))? {
            let name = entry.map_err(file_err("read", &dir))?.file_name();
            if let Some(id) = doc_id_of_journal(&name.to_string_lossy()) {
                ids.insert(id.to_string());
            }
        }
        Ok(ids
            .into_iter()
            .filter(|id| layout::validate_id(id).is_ok())
            .collect())
    }

    fn examine_doc(&self, id: &str, repair: Repair, fresh_db: bool) -> Result<DocReport> {
        let mut w = self.write_lock();
        let path = self.journal_path(&Store::doc_journal_name(id));
        let state: Option<DocState> = self.state(id).ok().flatten();
        let mut report = DocReport {
            id: id.to_string(),
            ..DocReport::default()
        };

        let db = self.db_copy(id)?;
        let journal = read_journal_file(&path)?;
        let mut journal_doc = AutoCommit::new();
        let mut journal_entry = None;
        report.journal.present = !matches!(journal, JournalFile::Missing);
        if let JournalFile::Unusable(why) = &journal {
            report.journal.unusable = Some(why.clone());
        }
        let mut union = match &db {
            DbCopy::Good(doc) | DbCopy::Damaged { doc, .. } => doc.clone(),
            DbCopy::Missing => AutoCommit::new(),
        };
        if let JournalFile::Read(read) = &journal {
            report.journal.records = read.contents.records.len();
            report.journal.recovered = read.recovered.len();
            journal_entry = apply_records(&mut journal_doc, read, id).entry;
            apply_records(&mut union, read, id);
        }
        let db_good = match &db {
            DbCopy::Good(_) => state.as_ref().is_none_or(|s| !s.from_damaged_journal),
            _ => false,
        };
        // (A copy rebuilt from a damaged journal loads; it is no witness
        // of the damaged bytes, but nothing in it needs repair.)
        report.database = match &db {
            DbCopy::Good(_) => None,
            DbCopy::Damaged { why, .. } => Some(format!("does not load: {why}")),
            DbCopy::Missing if fresh_db => None,
            DbCopy::Missing => Some("missing".into()),
        };
        let db_copy_bad = !matches!(db, DbCopy::Good(_));
        if let DbCopy::Good(doc) | DbCopy::Damaged { doc, .. } = &db {
            let mut doc = doc.clone();
            report.database_lacked = doc.get_changes_added(&mut union).len();
        }
        report.journal.lacked = journal_doc.get_changes_added(&mut union).len();

        // Where the journal's damage stands against what sled recorded.
        let recorded = state
            .as_ref()
            .and_then(|s| s.journal)
            .filter(|p| match &journal {
                JournalFile::Read(read) => p.generation == read.contents.generation,
                _ => false,
            });
        if let JournalFile::Read(read) = &journal {
            classify_damage(read, recorded, db_good, &mut report);
        } else if !db_good {
            if let JournalFile::Unusable(_) = journal {
                report.lost.unreadable_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            }
        }

        // What surviving changes wait for, and what sled recorded that no
        // copy holds.
        let missing: Vec<ChangeHash> = union.get_missing_deps(&[]);
        report.lost.missing_changes = missing.iter().map(ToString::to_string).collect();
        let held = if missing.is_empty() {
            Vec::new()
        } else {
            self.held_hashes(id, &mut union, &journal)
        };
        report.lost.held_changes = held.len();
        // The heads sled recorded, and those the journal's last index
        // record was written for when sled is no witness.
        let mut witnessed: Vec<String> = state.iter().flat_map(|s| s.heads.clone()).collect();
        if !db_good {
            if let Some(heads) = journal_entry.as_ref().and_then(|e| e.heads.clone()) {
                witnessed.extend(heads);
            }
        }
        witnessed.sort();
        witnessed.dedup();
        {
            report.lost.lost_heads = witnessed
                .iter()
                .filter(|h| {
                    h.parse::<ChangeHash>().map_or(true, |h| {
                        union.document().get_change_meta_by_hash(&h).is_none()
                            && !missing.contains(&h)
                            && !held.contains(&h)
                    })
                })
                .cloned()
                .collect();
        }

        let found = if db_good {
            [self.index_entry(id), journal_entry]
        } else {
            [journal_entry, self.index_entry(id)]
        };
        let entry = pick_entry(&union.get_heads(), found);
        report.title = entry
            .as_ref()
            .map(|e| e.meta.title.clone())
            .unwrap_or_default();

        let journal_bad = !report.journal.healthy();
        let db_bad = db_copy_bad || report.database_lacked > 0;
        if !journal_bad && !db_bad {
            return Ok(report);
        }
        if union.get_heads().is_empty() && report.lost.held_changes == 0 && entry.is_none() {
            report.unrepaired =
                Some("nothing of this document could be read from either copy".into());
            return Ok(report);
        }
        let may_write_db = repair == Repair::Everything || !db_bad;
        if !may_write_db {
            report.unrepaired = Some(
                "the database's copy is damaged: stop the gapmap process that owns the store, then run gapmap doctor again".into(),
            );
            return Ok(report);
        }
        let damaged_file = report.journal.unusable.is_some() || !report.journal.damaged.is_empty();
        if damaged_file && path.exists() {
            w.journals.remove(&Store::doc_journal_name(id));
            report.journal.kept_as = Some(keep_aside(&path)?);
        }
        let snapshot = union.save();
        let heads = union.get_heads();
        let entry_json = match entry {
            Some(e) if db_good => serde_json::to_vec(&e).expect("IndexEntry serializes"),
            other => rebuilt_entry(id, other),
        };
        self.compact(&mut w, id, &snapshot, &heads, &entry_json)?;
        report.repairs.push(match (journal_bad, db_bad) {
            (true, false) => "rewrote the journal from the database's copy".to_string(),
            (false, true) => "rebuilt the database's copy from the journal".to_string(),
            _ => "rebuilt both copies from what survived in either".to_string(),
        });
        if !report.lost.is_empty() {
            // The rebuilt copy holds no more than what survived; it must
            // not pass for a second copy of what did not.
            self.mark_from_damaged(id)?;
        }
        tracing::info!(id, repairs = ?report.repairs, lost = ?report.lost, "examined a damaged document");
        Ok(report)
    }

    /// Marks the stored copy of `id` as rebuilt from damaged data.
    fn mark_from_damaged(&self, id: &str) -> Result<()> {
        if let Some(mut state) = self.state(id)? {
            state.from_damaged_journal = true;
            let json = serde_json::to_vec(&state).expect("DocState serializes");
            self.inner.docs.insert(layout::state_key(id), json)?;
            self.flush()?;
        }
        Ok(())
    }

    /// The distinct changes in either copy that `union` holds back.
    fn held_hashes(
        &self,
        id: &str,
        union: &mut AutoCommit,
        journal: &JournalFile,
    ) -> Vec<ChangeHash> {
        let mut held = Vec::new();
        if let Ok(stored) = self.doc_chunks(id) {
            for (_, _, bytes) in stored {
                chunks::held(union, &bytes, &mut held);
            }
        }
        if let JournalFile::Read(read) = journal {
            for record in read.records() {
                chunks::held(union, &record.data, &mut held);
            }
        }
        held.iter().map(automerge::Change::hash).collect()
    }

    fn examine_settings(&self, fresh_db: bool) -> Result<SettingsReport> {
        let mut w = self.write_lock();
        let name = layout::SETTINGS_JOURNAL;
        let path = self.journal_path(name);
        let mut report = SettingsReport::default();
        let journal = read_journal_file(&path)?;
        report.journal.present = !matches!(journal, JournalFile::Missing);
        let stored = self.settings()?;
        let latest = match &journal {
            JournalFile::Read(read) => {
                report.journal.records = read.contents.records.len();
                report.journal.recovered = read.recovered.len();
                let mut doc_report = DocReport::default();
                classify_damage(read, None, !fresh_db, &mut doc_report);
                report.journal.damaged = doc_report.journal.damaged;
                report.journal.unfinished_bytes = doc_report.journal.unfinished_bytes;
                report.lost = doc_report.lost;
                latest_settings(read)
            }
            JournalFile::Unusable(why) => {
                report.journal.unusable = Some(why.clone());
                if fresh_db {
                    report.lost.unreadable_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                }
                Default::default()
            }
            JournalFile::Missing => Default::default(),
        };
        if fresh_db {
            // The new database has no settings yet: the journal's are all there is.
            let pos = match &journal {
                JournalFile::Read(read) => JournalPos {
                    generation: read.contents.generation,
                    len: read.contents.file_len,
                },
                _ => JournalPos {
                    generation: 0,
                    len: 0,
                },
            };
            for (k, v) in &latest {
                self.commit_setting(k, v.as_deref(), pos)?;
            }
        }
        let stored = if fresh_db { self.settings()? } else { stored };
        report.journal.lacked = stored
            .iter()
            .filter(|(k, v)| latest.get(k) != Some(&Some(v.clone())))
            .count();
        let needs_rewrite = report.journal.unusable.is_some()
            || !report.journal.damaged.is_empty()
            || report.journal.lacked > 0;
        if !needs_rewrite {
            return Ok(report);
        }
        if report.journal.unusable.is_some() || !report.journal.damaged.is_empty() {
            w.journals.remove(name);
            report.journal.kept_as = Some(keep_aside(&path)?);
        }
        let generation = journal::new_generation();
        let len = journal::write_atomic(&path, generation, &self.settings_records()?)
            .map_err(file_err("rewrite", &path))?;
        self.set_settings_pos(JournalPos { generation, len })?;
        report
            .repairs
            .push("rewrote the settings journal from the database's copy".into());
        Ok(report)
    }
}

/// Sorts a journal's damaged ranges into the unfinished save of a crash
/// (harmless), damage another copy covers, and damage that loses data.
/// `recorded` is where sled last recorded the file (same generation);
/// `covered`: sled holds a good copy of everything acknowledged.
fn classify_damage(
    read: &JournalRead,
    recorded: Option<JournalPos>,
    covered: bool,
    report: &mut DocReport,
) {
    for d in &read.contents.damage {
        let range = ByteRange {
            start: d.start,
            end: d.end,
        };
        let bytes = d.end - d.start;
        // The magic bytes hold nothing but the file's type.
        let magic_only = d.start == 0 && d.end <= 8;
        if magic_only || read.is_recovered(d.start) || read.index_only.contains(&d.start) {
            // Damaged, but its payload was whole and is used, or held only
            // an index entry, which is recomputed.
            report.journal.damaged.push(range);
            continue;
        }
        match recorded {
            // Past what sled recorded: a save that had not returned.
            Some(p) if d.start >= p.len => {
                report.journal.unfinished_bytes += bytes;
                continue;
            }
            // A torn tail nobody can date: the usual trace of a crash,
            // unless the file was cut short.
            None if d.torn => {
                report.journal.unfinished_bytes += bytes;
                if !covered {
                    report.lost.unconfirmed_bytes += bytes;
                }
                continue;
            }
            _ => {}
        }
        report.journal.damaged.push(range);
        if !covered {
            report.lost.unreadable_bytes += bytes;
        }
    }
}

#[cfg(test)]
mod tests;
