//! Rebuilding from the journal: roll-forward on open, [`Store::recover`],
//! [`Store::check`] / [`Store::verify`], and `gapmap doctor`'s examination
//! of both copies of every document ([`Store::doctor`], in `doctor.rs`).

use std::fs;
use std::io;
use std::path::Path;

use automerge::AutoCommit;
use serde::Serialize;

use crate::error::{file_err, Result, StoreError};
use crate::journal::{self, Kind};
use crate::layout::{self, IndexEntry, JournalPos};
use crate::owner::OwnerLock;
use crate::store::{unix_secs, Store};
use crate::{DocMeta, Options};

mod doctor;
mod salvage;

pub use doctor::{ByteRange, DocReport, DoctorReport, JournalReport, Loss, Repair, SettingsReport};
use salvage::{
    apply_records, cut_torn_tail, doc_id_of_journal, read_journal_file, DbCopy, JournalFile,
};

/// What [`Store::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Where the previous `db/` was moved (`db.broken-<unix seconds>`), if there was one.
    pub moved_aside: Option<std::path::PathBuf>,
    /// Documents rebuilt.
    pub docs: usize,
    /// Snapshot and chunk records applied.
    pub chunks: usize,
    /// Bytes of those records.
    pub bytes: u64,
    /// Journal files that ended in a torn record (ignored).
    pub torn: usize,
    /// Journal files with damage other than a torn tail; the records after
    /// the damage were read too.
    pub damaged: usize,
    /// Settings restored.
    pub settings: usize,
    /// Journals that could not be used, with the reason.
    pub failed: Vec<(String, String)>,
}

impl std::fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |count: usize, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        write!(
            f,
            "rebuilt {} from {} ({} bytes), {}",
            n(self.docs, "document", "documents"),
            n(self.chunks, "journal record", "journal records"),
            self.bytes,
            n(self.settings, "setting", "settings")
        )?;
        if self.torn > 0 {
            write!(
                f,
                "; ignored {}",
                n(self.torn, "torn record", "torn records")
            )?;
        }
        if self.damaged > 0 {
            write!(
                f,
                "; read past the damage in {}",
                n(self.damaged, "journal", "journals")
            )?;
        }
        if !self.failed.is_empty() {
            write!(
                f,
                "; {} unusable",
                n(self.failed.len(), "journal", "journals")
            )?;
        }
        Ok(())
    }
}

/// What [`Store::check`] and [`Store::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Why the store did not open, if it did not; `gapmap doctor` then
    /// runs [`Store::recover`].
    pub open_error: Option<String>,
    /// Documents in the index.
    pub docs: usize,
    /// Documents that do not load, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Documents without a journal file (they get one on their next save;
    /// until then `recover` cannot rebuild them).
    pub unjournaled: Vec<String>,
    /// Documents whose journal file is damaged (beyond a torn tail).
    pub damaged_journals: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn healthy(&self) -> bool {
        self.open_error.is_none()
            && self.unreadable.is_empty()
            && self.unjournaled.is_empty()
            && self.damaged_journals.is_empty()
    }
}

impl Store {
    /// Rebuilds the store from its journal: moves `db/` aside to
    /// `db.broken-<unix seconds>/`, creates a fresh database and replays every
    /// journal file into it (each document is loaded to verify it), restoring
    /// the index and the settings. For `gapmap doctor` when the store does not
    /// open; the store must not be in use.
    pub fn recover(dir: &Path) -> Result<RecoveryReport> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let owner = OwnerLock::acquire(&dir)?;
        let moved_aside = move_db_aside(&dir)?;
        let store = Store::open_locked(&dir, owner, Options::default())?;
        let mut report = store.roll_forward()?;
        report.moved_aside = moved_aside;
        tracing::info!(%report, "recovered the store");
        Ok(report)
    }

    /// Opens the store at `dir` and verifies it. A store that does not open
    /// gives a report with `open_error` set rather than an error, except
    /// when it is in use ([`StoreError::Locked`]) or cannot be written.
    pub fn check(dir: &Path) -> Result<CheckReport> {
        match Store::open(dir) {
            Ok(store) => store.verify(),
            Err(e @ (StoreError::Locked { .. } | StoreError::NotWritable(_))) => Err(e),
            Err(e) => Ok(CheckReport {
                open_error: Some(e.to_string()),
                ..CheckReport::default()
            }),
        }
    }

    /// Loads every document of this open store and checks that it has a
    /// journal and that the journal reads without damage. (A full
    /// comparison of the two copies is [`Store::examine`].)
    pub fn verify(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for meta in self.list()? {
            report.docs += 1;
            if let Err(e) = self.load(&meta.id) {
                report.unreadable.push((meta.id.clone(), e.to_string()));
            }
            let path = self.journal_path(&Store::doc_journal_name(&meta.id));
            match read_journal_file(&path)? {
                JournalFile::Missing => report.unjournaled.push(meta.id),
                JournalFile::Unusable(_) => report.damaged_journals.push(meta.id),
                JournalFile::Read(read) if read.contents.damaged() => {
                    report.damaged_journals.push(meta.id)
                }
                JournalFile::Read(_) => {}
            }
        }
        Ok(report)
    }

    /// Documents whose index entry was computed from another state than
    /// the one stored — after the store rebuilt them from the journal — so
    /// that its counts may not match what [`Store::load`] gives. The caller,
    /// who knows what the counts mean, recomputes them (and a [`Store::save`]
    /// with the new entry clears the disagreement).
    pub fn stale_index(&self) -> Result<Vec<String>> {
        let mut stale = Vec::new();
        for kv in self.inner.index.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let entry: IndexEntry = serde_json::from_slice(&v)
                .map_err(|e| self.corrupt(format!("index entry of document {id}: {e}")))?;
            let fresh = match self.state(&id)? {
                Some(state) => entry.describes(&state.heads),
                None => false,
            };
            if !fresh {
                stale.push(id);
            }
        }
        Ok(stale)
    }

    /// The changes of document `id` that are stored but not applied,
    /// because changes they depend on are missing (lost in damage the
    /// journal and the database both suffered). They are kept: they apply
    /// as soon as the missing changes arrive, e.g. from a peer.
    pub fn held_changes(&self, id: &str) -> Result<Vec<automerge::Change>> {
        layout::validate_id(id)?;
        let _shared = self.inner.writer.read().unwrap_or_else(|e| e.into_inner());
        let Some(mut doc) = self.read_doc(id)? else {
            return Ok(Vec::new());
        };
        let mut held = Vec::new();
        if doc.get_missing_deps(&[]).is_empty() {
            return Ok(held);
        }
        for (_, _, bytes) in self.doc_chunks(id)? {
            crate::chunks::held(&mut doc, &bytes, &mut held);
        }
        Ok(held)
    }

    /// Brings sled up to date with the journal: every journal file whose
    /// generation and length differ from what sled recorded is replayed. That
    /// covers a write the journal got but sled did not (a crash between the
    /// two, or sled losing its last writes in a power cut), and, on an empty
    /// database, rebuilds everything.
    pub(crate) fn roll_forward(&self) -> Result<RecoveryReport> {
        let _w = self.write_lock();
        let journal_dir = self.inner.dir.join(layout::JOURNAL_DIR);
        let mut report = RecoveryReport::default();
        let mut entries: Vec<_> = fs::read_dir(&journal_dir)
            .map_err(file_err("read", &journal_dir))?
            .collect::<io::Result<_>>()
            .map_err(file_err("read", &journal_dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A rewrite interrupted before its rename: the old file is intact.
                fs::remove_file(&path).map_err(file_err("remove", &path))?;
            } else if name == layout::SETTINGS_JOURNAL {
                self.roll_forward_settings(&path, &mut report)?;
            } else if let Some(id) = doc_id_of_journal(&name) {
                self.roll_forward_doc(id, &path, &mut report)?;
            }
        }
        Ok(report)
    }

    fn roll_forward_doc(&self, id: &str, path: &Path, report: &mut RecoveryReport) -> Result<()> {
        // A state sled cannot parse is a copy sled does not have.
        let state = self.state(id).ok().flatten();
        let recorded = state.as_ref().and_then(|s| s.journal);
        if recorded.is_some() && recorded == current_pos(path)? {
            return Ok(());
        }
        let read = match read_journal_file(path)? {
            JournalFile::Read(read) => read,
            JournalFile::Missing => return Ok(()),
            JournalFile::Unusable(reason) => {
                tracing::warn!(id, reason, "journal unusable");
                report.failed.push((id.to_string(), reason));
                return Ok(());
            }
        };
        let len = cut_torn_tail(path, &read.contents)?;
        report.torn += usize::from(read.contents.torn());
        let damaged = read.contents.damaged();
        report.damaged += usize::from(damaged);
        // The journal holds everything sled does; sled's copy (or what of
        // it loads) is the base, so nothing either holds is dropped.
        let (mut doc, sled_good) = match self.db_copy(id)? {
            DbCopy::Good(doc) => (doc, true),
            DbCopy::Damaged { doc, why } => {
                tracing::warn!(id, why, "rebuilding a damaged document from its journal");
                (doc, false)
            }
            DbCopy::Missing => (AutoCommit::new(), false),
        };
        let applied = apply_records(&mut doc, &read, id);
        report.chunks += applied.records;
        report.bytes += applied.bytes;
        let entry = pick_entry(&doc.get_heads(), [applied.entry, self.index_entry(id)]);
        if applied.records == 0 && doc.get_heads().is_empty() && entry.is_none() {
            report.failed.push((
                id.to_string(),
                "the journal holds no loadable change".into(),
            ));
            return Ok(());
        }
        // Verify what is about to be stored loads back.
        let snapshot = doc.save();
        if let Err(e) = AutoCommit::load(&snapshot) {
            report.failed.push((
                id.to_string(),
                format!("rebuilt document does not load: {e}"),
            ));
            return Ok(());
        }
        let entry_json = rebuilt_entry(id, entry);
        let pos = JournalPos {
            generation: read.contents.generation,
            len,
        };
        let from_damaged = (damaged && !sled_good) || state.is_some_and(|s| s.from_damaged_journal);
        self.replace_with_snapshot(
            id,
            &snapshot,
            &doc.get_heads(),
            &entry_json,
            pos,
            from_damaged,
        )?;
        report.docs += 1;
        tracing::info!(
            id,
            records = applied.records,
            "rolled the document forward from its journal"
        );
        Ok(())
    }

    fn roll_forward_settings(&self, path: &Path, report: &mut RecoveryReport) -> Result<()> {
        let recorded: Option<JournalPos> =
            match self.inner.internal.get(layout::SETTINGS_POS_KEY)? {
                Some(v) => serde_json::from_slice(&v).ok(),
                None => None,
            };
        if recorded.is_some() && recorded == current_pos(path)? {
            return Ok(());
        }
        let read = match read_journal_file(path)? {
            JournalFile::Read(read) => read,
            JournalFile::Missing => return Ok(()),
            JournalFile::Unusable(reason) => {
                tracing::warn!(reason, "settings journal unusable");
                report
                    .failed
                    .push((layout::SETTINGS_JOURNAL.to_string(), reason));
                return Ok(());
            }
        };
        let len = cut_torn_tail(path, &read.contents)?;
        report.torn += usize::from(read.contents.torn());
        report.damaged += usize::from(read.contents.damaged());
        let latest = latest_settings(&read);
        report.settings = latest.values().filter(|v| v.is_some()).count();
        let pos = JournalPos {
            generation: read.contents.generation,
            len,
        };
        for (k, v) in &latest {
            self.commit_setting(k, v.as_deref(), pos)?;
        }
        self.set_settings_pos(pos)
    }
}

/// The journal's generation and length, without reading it all.
fn current_pos(path: &Path) -> Result<Option<JournalPos>> {
    use std::io::Read;
    let mut f = fs::File::open(path).map_err(file_err("open", path))?;
    let len = f.metadata().map_err(file_err("stat", path))?.len();
    let mut header = [0u8; journal::HEADER_LEN as usize];
    if f.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let generation = u64::from_le_bytes(header[8..].try_into().expect("8 bytes"));
    Ok(Some(JournalPos { generation, len }))
}

/// The last value of every setting in a settings journal.
fn latest_settings(
    read: &salvage::JournalRead,
) -> std::collections::BTreeMap<String, Option<String>> {
    let mut latest = std::collections::BTreeMap::new();
    for record in read.records() {
        if record.kind != Kind::Setting {
            continue;
        }
        match serde_json::from_slice::<(String, Option<String>)>(&record.data) {
            Ok((k, v)) => {
                latest.insert(k, v);
            }
            Err(e) => tracing::warn!(error = %e, "skipping a bad settings record"),
        }
    }
    latest
}

/// The index entry to store for a document the store rebuilt: the given
/// one with its own heads (so a disagreement with the rebuilt document
/// shows in [`Store::stale_index`]), or an empty one marked stale.
fn rebuilt_entry(id: &str, entry: Option<IndexEntry>) -> Vec<u8> {
    let mut entry = entry.unwrap_or_default();
    entry.meta = DocMeta {
        id: id.to_string(),
        ..entry.meta
    };
    entry.heads.get_or_insert_with(Vec::new);
    serde_json::to_vec(&entry).expect("IndexEntry serializes")
}

/// Of the index entries found (most trusted first), the one computed for
/// a document with `heads`, else the first.
fn pick_entry(
    heads: &[automerge::ChangeHash],
    found: impl IntoIterator<Item = Option<IndexEntry>>,
) -> Option<IndexEntry> {
    let found: Vec<IndexEntry> = found.into_iter().flatten().collect();
    let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
    let fits = found
        .iter()
        .position(|e| e.heads.is_some() && e.describes(&heads));
    found.into_iter().nth(fits.unwrap_or(0))
}

/// Moves `dir/db` to `dir/db.broken-<unix seconds>` if it exists.
fn move_db_aside(dir: &Path) -> Result<Option<std::path::PathBuf>> {
    let db_dir = dir.join(layout::DB_DIR);
    if !db_dir.exists() {
        return Ok(None);
    }
    let mut aside = dir.join(format!("db.broken-{}", unix_secs()));
    let mut n = 1;
    while aside.exists() {
        aside = dir.join(format!("db.broken-{}-{n}", unix_secs()));
        n += 1;
    }
    fs::rename(&db_dir, &aside).map_err(file_err("move aside", &db_dir))?;
    tracing::warn!(from = %db_dir.display(), to = %aside.display(), "moved the database aside");
    Ok(Some(aside))
}

#[cfg(test)]
mod tests;
