//! Rebuilding from the journal: roll-forward on open, [`Store::recover`] for
//! `gapmap doctor`, and [`Store::check`] / [`Store::verify`].

use std::fs;
use std::io;
use std::path::Path;

use automerge::AutoCommit;
use serde::Serialize;

use crate::error::{file_err, Result, StoreError};
use crate::journal::{self, Kind};
use crate::layout::{self, JournalPos};
use crate::owner::OwnerLock;
use crate::store::{unix_secs, Store};
use crate::{DocMeta, Options};

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
    /// Settings restored.
    pub settings: usize,
    /// Journals that could not be used, with the reason.
    pub failed: Vec<(String, String)>,
}

impl std::fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rebuilt {} document(s) from {} journal record(s) ({} bytes), {} setting(s)",
            self.docs, self.chunks, self.bytes, self.settings
        )?;
        if self.torn > 0 {
            write!(f, "; ignored {} torn record(s)", self.torn)?;
        }
        if !self.failed.is_empty() {
            write!(f, "; {} journal(s) unusable", self.failed.len())?;
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
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn healthy(&self) -> bool {
        self.open_error.is_none() && self.unreadable.is_empty() && self.unjournaled.is_empty()
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
        let db_dir = dir.join(layout::DB_DIR);
        let mut moved_aside = None;
        if db_dir.exists() {
            let mut aside = dir.join(format!("db.broken-{}", unix_secs()));
            let mut n = 1;
            while aside.exists() {
                aside = dir.join(format!("db.broken-{}-{n}", unix_secs()));
                n += 1;
            }
            fs::rename(&db_dir, &aside).map_err(file_err("move aside", &db_dir))?;
            tracing::warn!(from = %db_dir.display(), to = %aside.display(), "moved the database aside");
            moved_aside = Some(aside);
        }
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

    /// Loads every document of this open store and checks it has a journal.
    pub fn verify(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for meta in self.list()? {
            report.docs += 1;
            if let Err(e) = self.load(&meta.id) {
                report.unreadable.push((meta.id.clone(), e.to_string()));
            }
            if !self
                .journal_path(&Store::doc_journal_name(&meta.id))
                .exists()
            {
                report.unjournaled.push(meta.id);
            }
        }
        Ok(report)
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
            } else if let Some(id) = name.strip_suffix(&format!(".{}", layout::DOC_JOURNAL_EXT)) {
                if layout::validate_id(id).is_ok() {
                    self.roll_forward_doc(id, &path, &mut report)?;
                }
            }
        }
        Ok(report)
    }

    fn roll_forward_doc(&self, id: &str, path: &Path, report: &mut RecoveryReport) -> Result<()> {
        let recorded = self.state(id)?.and_then(|s| s.journal);
        if recorded.is_some() && recorded == current_pos(path)? {
            return Ok(());
        }
        let contents = match read_journal(path)? {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(id, reason, "journal unusable");
                report.failed.push((id.to_string(), reason));
                return Ok(());
            }
        };
        report.torn += usize::from(contents.torn());
        // The journal holds everything sled does, so a document sled cannot
        // load is rebuilt from the journal alone.
        let mut doc = match self.read_doc(id) {
            Ok(doc) => doc.unwrap_or_default(),
            Err(StoreError::Corrupt { detail, .. }) => {
                tracing::warn!(id, detail, "rebuilding a damaged document from its journal");
                AutoCommit::new()
            }
            Err(e) => return Err(e),
        };
        let mut meta: Option<DocMeta> = self.meta(id)?;
        let mut applied = 0;
        for record in &contents.records {
            match record.kind {
                Kind::Snapshot | Kind::Chunk => match doc.load_incremental(&record.data) {
                    Ok(_) => {
                        applied += 1;
                        report.chunks += 1;
                        report.bytes += record.data.len() as u64;
                    }
                    Err(e) => {
                        tracing::warn!(id, error = %e, "skipping a journal record that does not load")
                    }
                },
                Kind::Meta => match serde_json::from_slice(&record.data) {
                    Ok(m) => meta = Some(m),
                    Err(e) => tracing::warn!(id, error = %e, "skipping a bad index record"),
                },
                Kind::Setting => {}
            }
        }
        if applied == 0 && doc.get_heads().is_empty() && meta.is_none() {
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
        let meta = DocMeta {
            id: id.to_string(),
            ..meta.unwrap_or_default()
        };
        let meta_json = serde_json::to_vec(&meta).expect("DocMeta serializes");
        let pos = JournalPos {
            generation: contents.generation,
            len: contents.valid_len,
        };
        self.replace_with_snapshot(id, &snapshot, &doc.get_heads(), &meta_json, pos)?;
        report.docs += 1;
        tracing::info!(
            id,
            records = applied,
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
        let contents = match read_journal(path)? {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(reason, "settings journal unusable");
                report
                    .failed
                    .push((layout::SETTINGS_JOURNAL.to_string(), reason));
                return Ok(());
            }
        };
        report.torn += usize::from(contents.torn());
        let mut latest = std::collections::BTreeMap::new();
        for record in contents.records.iter().filter(|r| r.kind == Kind::Setting) {
            match serde_json::from_slice::<(String, Option<String>)>(&record.data) {
                Ok((k, v)) => {
                    latest.insert(k, v);
                }
                Err(e) => tracing::warn!(error = %e, "skipping a bad settings record"),
            }
        }
        report.settings = latest.values().filter(|v| v.is_some()).count();
        let pos = JournalPos {
            generation: contents.generation,
            len: contents.valid_len,
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

/// Reads a journal and cuts off its torn tail (we own the store, and the
/// bytes past the last whole record are unreadable anyway). The inner error
/// is a journal that cannot be used at all.
fn read_journal(path: &Path) -> Result<Result<journal::Contents, String>> {
    let contents = match journal::read(path) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Err(e.to_string())),
        Err(e) => return Err(file_err("read", path)(e)),
    };
    if contents.torn() {
        tracing::warn!(path = %path.display(), bytes = contents.file_len - contents.valid_len,
            "ignoring the torn tail of a journal");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(file_err("open", path))?;
        f.set_len(contents.valid_len)
            .map_err(file_err("truncate", path))?;
        f.sync_all().map_err(file_err("sync", path))?;
    }
    Ok(Ok(contents))
}

#[cfg(test)]
mod tests;
