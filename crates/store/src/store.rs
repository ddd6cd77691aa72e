//! The [`Store`] handle: opening, documents, settings.

use std::collections::HashMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::Duration;

use automerge::{AutoCommit, ChangeHash};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{IVec, Transactional};

use crate::error::{file_err, Result, StoreError};
use crate::journal::{self, Appender, Kind};
use crate::layout::{self, ChunkKind, DocKey, DocState, JournalPos};
use crate::owner::{not_writable_or, OwnerLock};
use crate::private;
use crate::{DocMeta, Durability, Options};

/// A store directory opened by this process. Cloning gives another handle to
/// the same open store; it closes when the last handle drops.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// The open store. Field order is drop order: sled closes before the lock is
/// released, so the next owner never meets sled's own lock still held.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    pub(crate) db: sled::Db,
    /// Snapshots, chunks and per-document state; see [`layout`].
    pub(crate) docs: sled::Tree,
    /// `DocMeta` per document, so `list` never loads a document.
    pub(crate) index: sled::Tree,
    pub(crate) settings: sled::Tree,
    /// The store's own bookkeeping.
    pub(crate) internal: sled::Tree,
    /// Which documents start from which change (derived, see `origins.rs`).
    pub(crate) origins: sled::Tree,
    /// Writers take it exclusively; `load` shares it, so a load never sees a
    /// compaction half-way (a sled prefix scan is not a snapshot).
    pub(crate) writer: RwLock<Writer>,
    _owner: OwnerLock,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "flushing the store on close failed");
        }
    }
}

/// State only writers touch.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// Open journal files by file name, each checked once for a torn tail.
    pub(crate) journals: HashMap<String, Appender>,
}

impl Store {
    /// Opens (creating) the store rooted at `dir` with default [`Options`].
    ///
    /// Takes the store's lock (`dir/lock`) first, writes `dir/owner.pid`,
    /// removes stale `snap.*.generating` files that a process killed while
    /// opening sled leaves behind, opens sled in `dir/db`, and rolls forward
    /// from `dir/journal` any write sled lost.
    ///
    /// A store held by another process gives [`StoreError::Locked`]; a
    /// directory that cannot be written gives [`StoreError::NotWritable`].
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, Options::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(dir: &Path, opts: Options) -> Result<Store> {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let owner = OwnerLock::acquire(&dir)?;
        let store = Store::open_locked(&dir, owner, opts)?;
        store.roll_forward()?;
        Ok(store)
    }

    /// Opens sled once our own lock is held; nothing else runs this before
    /// the lock, which is what makes deleting sled's leftovers safe.
    pub(crate) fn open_locked(dir: &Path, owner: OwnerLock, opts: Options) -> Result<Store> {
        let db_dir = dir.join(layout::DB_DIR);
        let journal_dir = dir.join(layout::JOURNAL_DIR);
        if !journal_dir.exists() {
            private::create_dir(&journal_dir).map_err(|e| not_writable_or(dir, "create", e))?;
            // The journal's directory entry must outlive a power cut too.
            journal::sync_dir(dir).map_err(file_err("sync", dir))?;
        }
        private::create_dir(&db_dir).map_err(|e| not_writable_or(dir, "create", e))?;
        remove_stale_snapshots(&db_dir)?;
        let db = open_sled(dir, &db_dir)?;
        // sled made its files with the umask.
        private::tighten_tree(&db_dir);
        let inner = Inner {
            dir: dir.to_path_buf(),
            opts,
            docs: db.open_tree(layout::DOCS_TREE)?,
            index: db.open_tree(layout::INDEX_TREE)?,
            settings: db.open_tree(layout::SETTINGS_TREE)?,
            internal: db.open_tree(layout::STORE_TREE)?,
            origins: db.open_tree(layout::ORIGINS_TREE)?,
            db,
            writer: RwLock::new(Writer::default()),
            _owner: owner,
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The store directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Every document's index entry, ordered by id. Reads the index only.
    pub fn list(&self) -> Result<Vec<DocMeta>> {
        self.inner
            .index
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                self.parse_meta(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }

    /// The index entry of document `id`.
    pub fn meta(&self, id: &str) -> Result<Option<DocMeta>> {
        layout::validate_id(id)?;
        self.inner
            .index
            .get(id)?
            .map(|v| self.parse_meta(id, &v))
            .transpose()
    }

    /// Whether the store holds document `id`.
    pub fn contains(&self, id: &str) -> Result<bool> {
        layout::validate_id(id)?;
        Ok(self.inner.docs.contains_key(layout::state_key(id))?)
    }

    /// Loads document `id`: its snapshot, then each incremental chunk.
    pub fn load(&self, id: &str) -> Result<Option<AutoCommit>> {
        layout::validate_id(id)?;
        let _shared = self.inner.writer.read().unwrap_or_else(|e| e.into_inner());
        self.read_doc(id)
    }

    /// The heads the store recorded for document `id` (empty when it has
    /// none): those of the union of every change appended.
    pub fn recorded_heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        layout::validate_id(id)?;
        match self.state(id)? {
            Some(s) => parse_heads(&self.inner.dir, id, &s.heads),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn write_lock(&self) -> RwLockWriteGuard<'_, Writer> {
        self.inner.writer.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }

    pub(crate) fn journal_path(&self, name: &str) -> PathBuf {
        self.inner.dir.join(layout::JOURNAL_DIR).join(name)
    }

    pub(crate) fn doc_journal_name(id: &str) -> String {
        format!("{id}.{}", layout::DOC_JOURNAL_EXT)
    }

    pub(crate) fn state(&self, id: &str) -> Result<Option<DocState>> {
        match self.inner.docs.get(layout::state_key(id))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| self.corrupt(format!("state of document {id}: {e}"))),
        }
    }

    fn parse_meta(&self, id: &str, v: &[u8]) -> Result<DocMeta> {
        serde_json::from_slice(v)
            .map_err(|e| self.corrupt(format!("index entry of document {id}: {e}")))
    }

    pub(crate) fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.dir.join(layout::DB_DIR),
            detail,
        }
    }

    /// The end of a save, after the write lock is released: the journal's
    /// fdatasync (with [`Durability::PowerLoss`]), then sled's flush. Outside
    /// the lock, saves of different documents made at the same time share
    /// their flushes (group commit) instead of queueing one pair of flushes
    /// each behind the lock: the relay's throughput was bounded by exactly
    /// that queue (docs/benchmarks.md). A power cut between the sled
    /// transaction and the journal's sync can leave sled ahead of the
    /// journal; opening the store then rolls forward from sled's copy plus
    /// the journal, losing nothing, and the save had not returned.
    pub(crate) fn make_durable(&self, pending_sync: Option<PendingSync>) -> Result<()> {
        if let Some(pending) = pending_sync {
            pending.sync()?;
        }
        self.flush()
    }

    /// Keys and bytes of a document's snapshot and chunks, snapshot first.
    pub(crate) fn doc_chunks(&self, id: &str) -> Result<Vec<(IVec, ChunkKind, IVec)>> {
        let mut out = Vec::new();
        for kv in self.inner.docs.scan_prefix(layout::doc_prefix(id)) {
            let (k, v) = kv?;
            if let Some(DocKey::Chunk(kind)) = layout::parse_doc_key(id, &k) {
                out.push((k, kind, v));
            }
        }
        out.sort_by_key(|(_, kind, _)| *kind != ChunkKind::Snapshot);
        Ok(out)
    }

    /// Loads a document without taking the writer lock.
    pub(crate) fn read_doc(&self, id: &str) -> Result<Option<AutoCommit>> {
        let chunks = self.doc_chunks(id)?;
        if chunks.is_empty() {
            // A document saved before it had any change is stored as its state alone.
            return Ok(self.state(id)?.map(|_| AutoCommit::new()));
        }
        let mut doc = AutoCommit::new();
        // Chunks are runs of whole changes, so their concatenation is one
        // valid incremental load: much faster than one call per chunk.
        let mut changes = Vec::new();
        for (_, kind, bytes) in &chunks {
            match kind {
                ChunkKind::Snapshot => {
                    doc = AutoCommit::load(bytes)
                        .map_err(|e| self.corrupt(format!("document {id} does not load: {e}")))?;
                }
                ChunkKind::Incremental => changes.extend_from_slice(bytes),
            }
        }
        if !changes.is_empty() {
            doc.load_incremental(&changes)
                .map_err(|e| self.corrupt(format!("document {id} does not load: {e}")))?;
        }
        // Automerge loads what it can of a damaged chunk without an error;
        // the heads recorded at save time tell whether anything is missing.
        if let Some(state) = self.state(id)? {
            let heads = parse_heads(&self.inner.dir, id, &state.heads)?;
            let lost = heads
                .iter()
                .filter(|h| doc.document().get_change_meta_by_hash(h).is_none())
                .count();
            if lost > 0 {
                return Err(self.corrupt(format!("document {id} lacks {lost} of its stored heads")));
            }
        }
        Ok(Some(doc))
    }

    /// A key for a new chunk that does not collide with a different chunk.
    pub(crate) fn free_chunk_key(
        &self,
        id: &str,
        kind: ChunkKind,
        bytes: &[u8],
    ) -> Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            let key = layout::chunk_key(id, kind, bytes, attempt);
            match self.inner.docs.get(&key)? {
                Some(v) if v != bytes => attempt += 1,
                _ => return Ok(key),
            }
        }
    }

    /// Replaces a document's snapshot and chunks with `snapshot`: the journal
    /// first (rewritten atomically), then sled in one transaction.
    pub(crate) fn compact(
        &self,
        w: &mut Writer,
        id: &str,
        snapshot: &[u8],
        heads: &[ChangeHash],
        meta_json: &[u8],
    ) -> Result<()> {
        let name = Store::doc_journal_name(id);
        let path = self.journal_path(&name);
        let mut records = Vec::new();
        journal::encode(Kind::Snapshot, snapshot, &mut records);
        journal::encode(Kind::Meta, meta_json, &mut records);
        // The cached appender points at the file about to be replaced.
        w.journals.remove(&name);
        let generation = journal::new_generation();
        let len = journal::write_atomic(&path, generation, &records)
            .map_err(file_err("rewrite", &path))?;
        tracing::debug!(id, snapshot = snapshot.len(), "compacted");
        self.replace_with_snapshot(
            id,
            snapshot,
            heads,
            meta_json,
            JournalPos { generation, len },
            false,
        )
    }

    /// Writes `snapshot` as the document's only stored bytes.
    pub(crate) fn replace_with_snapshot(
        &self,
        id: &str,
        snapshot: &[u8],
        heads: &[ChangeHash],
        meta_json: &[u8],
        pos: JournalPos,
        from_damaged_journal: bool,
    ) -> Result<()> {
        let old: Vec<IVec> = self
            .doc_chunks(id)?
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        let key = layout::chunk_key(id, ChunkKind::Snapshot, snapshot, 0);
        let state = DocState {
            heads: heads.iter().map(ToString::to_string).collect(),
            snapshot_bytes: snapshot.len() as u64,
            chunk_bytes: 0,
            chunks: 0,
            journal: Some(pos),
            from_damaged_journal,
        };
        self.commit_doc(id, &old, &[(key, snapshot)], &state, meta_json)
    }

    /// One sled transaction over `docs` and `index`, then a flush.
    fn commit_doc(
        &self,
        id: &str,
        removes: &[IVec],
        inserts: &[(Vec<u8>, &[u8])],
        state: &DocState,
        meta_json: &[u8],
    ) -> Result<()> {
        self.write_doc(id, removes, inserts, state, meta_json)?;
        self.flush()
    }

    /// One sled transaction over `docs` and `index`, not yet flushed.
    pub(crate) fn write_doc(
        &self,
        id: &str,
        removes: &[IVec],
        inserts: &[(Vec<u8>, &[u8])],
        state: &DocState,
        meta_json: &[u8],
    ) -> Result<()> {
        let state_json = serde_json::to_vec(state).expect("DocState serializes");
        let state_key = layout::state_key(id);
        let i = &self.inner;
        (&i.docs, &i.index)
            .transaction(|(docs, index)| {
                for k in removes {
                    docs.remove(k.as_ref())?;
                }
                for (k, v) in inserts {
                    docs.insert(k.as_slice(), *v)?;
                }
                docs.insert(state_key.as_slice(), state_json.as_slice())?;
                index.insert(id.as_bytes(), meta_json)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(tx_err)?;
        Ok(())
    }

    /// Appends to a document's journal, creating it from what sled holds when
    /// it does not exist yet.
    pub(crate) fn append_doc_journal(
        &self,
        w: &mut Writer,
        id: &str,
        records: &[u8],
    ) -> Result<(JournalPos, Option<PendingSync>)> {
        self.append_journal_with(
            w,
            &Store::doc_journal_name(id),
            records,
            |store| store.doc_records(id),
            true,
        )
    }

    /// Everything sled holds for a document, as journal records.
    fn doc_records(&self, id: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for (_, kind, bytes) in self.doc_chunks(id)? {
            let kind = match kind {
                ChunkKind::Snapshot => Kind::Snapshot,
                ChunkKind::Incremental => Kind::Chunk,
            };
            journal::encode(kind, &bytes, &mut out);
        }
        if let Some(meta) = self.inner.index.get(id)? {
            journal::encode(Kind::Meta, &meta, &mut out);
        }
        Ok(out)
    }

    pub(crate) fn append_journal(
        &self,
        w: &mut Writer,
        name: &str,
        records: &[u8],
        existing: impl FnOnce(&Store) -> Result<Vec<u8>>,
    ) -> Result<JournalPos> {
        let (pos, _) = self.append_journal_with(w, name, records, existing, false)?;
        Ok(pos)
    }

    /// [`Store::append_journal`]; with `defer_sync` the records are written
    /// but not fdatasync'ed, and the caller gets the file to sync itself
    /// once it has let go of the write lock (see [`PendingSync`]).
    fn append_journal_with(
        &self,
        w: &mut Writer,
        name: &str,
        records: &[u8],
        existing: impl FnOnce(&Store) -> Result<Vec<u8>>,
        defer_sync: bool,
    ) -> Result<(JournalPos, Option<PendingSync>)> {
        let path = self.journal_path(name);
        if !w.journals.contains_key(name) {
            let appender = match Appender::open(&path) {
                Ok(a) => a,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        let aside = path.with_extension(format!("bad-{}", unix_secs()));
                        tracing::warn!(path = %path.display(), aside = %aside.display(),
                            "journal has a bad header; moving it aside and starting a new one");
                        fs::rename(&path, &aside).map_err(file_err("move aside", &path))?;
                    } else if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(file_err("open", &path)(e));
                    }
                    journal::write_atomic(&path, journal::new_generation(), &existing(self)?)
                        .map_err(file_err("create", &path))?;
                    Appender::open(&path).map_err(file_err("open", &path))?
                }
            };
            w.journals.insert(name.to_string(), appender);
        }
        let sync = self.inner.opts.durability == Durability::PowerLoss;
        let appender = w.journals.get_mut(name).expect("inserted above");
        if let Err(e) = appender.append(records, sync && !defer_sync) {
            w.journals.remove(name);
            return Err(file_err("append to", &path)(e));
        }
        let pending = if sync && defer_sync {
            match appender.file_handle() {
                Ok(file) => Some(PendingSync { file, path }),
                Err(e) => {
                    w.journals.remove(name);
                    return Err(file_err("sync", &path)(e));
                }
            }
        } else {
            None
        };
        Ok((
            JournalPos {
                generation: appender.generation(),
                len: appender.len(),
            },
            pending,
        ))
    }
}

/// A journal append whose fdatasync was put off until the write lock is
/// released, so that saves of different documents made at the same time
/// wait on their disk flushes together (the file system commits them in one
/// go) instead of one after the other behind the lock. The save returns
/// only after [`PendingSync::sync`], so it is still durable when it returns.
pub(crate) struct PendingSync {
    /// A second descriptor of the journal file.
    file: std::fs::File,
    path: PathBuf,
}

impl PendingSync {
    /// fdatasyncs the journal.
    pub(crate) fn sync(self) -> Result<()> {
        self.file.sync_data().map_err(file_err("sync", &self.path))
    }
}

pub(crate) fn parse_heads(dir: &Path, id: &str, heads: &[String]) -> Result<Vec<ChangeHash>> {
    heads
        .iter()
        .map(|h| {
            h.parse().map_err(|e| StoreError::Corrupt {
                path: dir.join(layout::DB_DIR),
                detail: format!("state of document {id}: bad head {h:?}: {e}"),
            })
        })
        .collect()
}

pub(crate) fn tx_err(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(()) => unreachable!("no transaction here aborts"),
    }
}

pub(crate) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Removes `snap.*.generating` files: a kill -9 while sled writes its
/// snapshot at open leaves one behind, and sled 0.34.7 then refuses every
/// later open with `Corruption { at: None }` although the data is intact
/// (sled issues #1527, #1533). Only ever called with the store's lock held.
fn remove_stale_snapshots(db_dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(db_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_err("read", db_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(file_err("read", db_dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing a half-written sled snapshot");
            fs::remove_file(entry.path()).map_err(file_err("remove", entry.path()))?;
        }
    }
    Ok(())
}

/// Opens sled, mapping its failures to what the user can do about them.
fn open_sled(dir: &Path, db_dir: &Path) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(db_dir)
        .cache_capacity(64 * 1024 * 1024);
    // sled's own file lock can outlive a dropped handle for a moment (its
    // background flusher finishes first), so a lock conflict while we hold
    // the store's lock is retried briefly before it is reported.
    let mut attempts = 0;
    loop {
        let opened = catch_unwind(AssertUnwindSafe(|| config.open()));
        let err = match opened {
            Ok(Ok(db)) => return Ok(db),
            Ok(Err(e)) => e,
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "sled panicked while opening".into());
                return Err(StoreError::Corrupt {
                    path: db_dir.to_path_buf(),
                    detail,
                });
            }
        };
        match err {
            sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
                attempts += 1;
                if attempts > 40 {
                    return Err(StoreError::Locked {
                        dir: dir.to_path_buf(),
                        pid: None,
                        command: None,
                    });
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            sled::Error::Io(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EACCES | libc::EPERM | libc::EROFS)
                ) =>
            {
                return Err(StoreError::NotWritable(dir.to_path_buf()));
            }
            // sled writes while it opens: on a full disk that is not damage.
            sled::Error::Io(e) if crate::error::is_no_space(&e) => {
                return Err(StoreError::NoSpace(dir.to_path_buf()));
            }
            sled::Error::Io(e) => {
                return Err(StoreError::Corrupt {
                    path: db_dir.to_path_buf(),
                    detail: e.to_string(),
                })
            }
            sled::Error::Corruption { .. }
            | sled::Error::ReportableBug(_)
            | sled::Error::Unsupported(_) => {
                return Err(StoreError::Corrupt {
                    path: db_dir.to_path_buf(),
                    detail: err.to_string(),
                })
            }
            other => return Err(StoreError::Sled(other)),
        }
    }
}

mod append;

#[cfg(test)]
pub(crate) mod tests;
