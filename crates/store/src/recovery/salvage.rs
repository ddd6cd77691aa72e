//! What survives of a document, from either copy: the journal file read
//! past its damage, and sled's chunks loaded one by one when sled's copy as
//! a whole does not load.

use std::fs;
use std::io;
use std::path::Path;

use automerge::AutoCommit;

use crate::chunks;
use crate::error::{file_err, Result, StoreError};
use crate::journal::{self, scan, Contents, Kind, Record};
use crate::layout::IndexEntry;
use crate::store::Store;

/// A journal file, read for salvage.
pub(crate) enum JournalFile {
    /// There is no file.
    Missing,
    /// It is not a journal at all (too short, or neither magic nor any record).
    Unusable(String),
    /// What could be read.
    Read(JournalRead),
}

/// A journal read past its damage.
pub(crate) struct JournalRead {
    pub(crate) contents: Contents,
    /// Damaged ranges that turned out to be one record with a damaged head
    /// and a payload Automerge's checksums (or JSON) confirm as whole.
    pub(crate) recovered: Vec<Record>,
    /// Starts of damaged ranges that are exactly one index record: only
    /// counts and a title were in them, which are recomputed.
    pub(crate) index_only: Vec<u64>,
}

impl JournalRead {
    /// Intact and recovered records, in file order.
    pub(crate) fn records(&self) -> Vec<&Record> {
        let mut all: Vec<&Record> = self
            .contents
            .records
            .iter()
            .chain(&self.recovered)
            .collect();
        all.sort_by_key(|r| r.start);
        all
    }

    /// Whether the damaged range starting at `start` was recovered.
    pub(crate) fn is_recovered(&self, start: u64) -> bool {
        self.recovered.iter().any(|r| r.start == start)
    }
}

/// Reads the journal at `path` for salvage.
pub(crate) fn read_journal_file(path: &Path) -> Result<JournalFile> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(JournalFile::Missing),
        Err(e) => return Err(file_err("read", path)(e)),
    };
    let contents = match scan::parse(&bytes) {
        Ok(c) => c,
        Err(e) => return Ok(JournalFile::Unusable(e.to_string())),
    };
    let recovered = contents
        .damage
        .iter()
        .filter_map(|d| scan::suspect_record(&bytes, *d))
        .filter(payload_checks_out)
        .collect::<Vec<_>>();
    let index_only = contents
        .damage
        .iter()
        .filter(|d| !d.torn && scan::whole_record_kind(&bytes, **d) == Some(Kind::Meta))
        .map(|d| d.start)
        .collect();
    Ok(JournalFile::Read(JournalRead {
        contents,
        recovered,
        index_only,
    }))
}

/// Whether a record read without its CRC holds what its kind must.
fn payload_checks_out(record: &Record) -> bool {
    match record.kind {
        Kind::Snapshot | Kind::Chunk => chunks::verified(&record.data),
        Kind::Meta => serde_json::from_slice::<IndexEntry>(&record.data).is_ok(),
        Kind::Setting => serde_json::from_slice::<(String, Option<String>)>(&record.data).is_ok(),
    }
}

/// Cuts a torn tail off the file (the bytes of an append a crash cut
/// short; nothing else is touched). Returns the file's length after.
pub(crate) fn cut_torn_tail(path: &Path, contents: &Contents) -> Result<u64> {
    if !contents.torn() {
        return Ok(contents.file_len);
    }
    tracing::warn!(path = %path.display(), bytes = contents.file_len - contents.valid_len,
        "dropping the torn tail of a journal");
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(file_err("open", path))?;
    f.set_len(contents.valid_len)
        .map_err(file_err("truncate", path))?;
    f.sync_all().map_err(file_err("sync", path))?;
    Ok(contents.valid_len)
}

/// What loading a journal's records into a document did.
#[derive(Default)]
pub(crate) struct Applied {
    /// Snapshot and chunk records that loaded (wholly or partly).
    pub(crate) records: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// Records with a chunk Automerge refused.
    pub(crate) refused: usize,
    /// The last index entry in the journal.
    pub(crate) entry: Option<IndexEntry>,
}

/// Loads every snapshot and chunk record of `read` into `doc`, chunk by
/// chunk (a chunk that does not load does not stop the others).
pub(crate) fn apply_records(doc: &mut AutoCommit, read: &JournalRead, id: &str) -> Applied {
    let mut applied = Applied::default();
    for record in read.records() {
        match record.kind {
            Kind::Snapshot | Kind::Chunk => {
                let (ok, bad) = chunks::load_each(doc, &record.data);
                if ok > 0 {
                    applied.records += 1;
                    applied.bytes += record.data.len() as u64;
                }
                if bad > 0 {
                    tracing::warn!(id, bad, "journal record with chunks that do not load");
                    applied.refused += 1;
                }
            }
            Kind::Meta => match serde_json::from_slice::<IndexEntry>(&record.data) {
                Ok(entry) => applied.entry = Some(entry),
                Err(e) => tracing::warn!(id, error = %e, "skipping a bad index record"),
            },
            Kind::Setting => {}
        }
    }
    applied
}

/// sled's copy of a document.
pub(crate) enum DbCopy {
    /// It loads, with every head sled recorded.
    Good(AutoCommit),
    /// It does not load as a whole; `doc` holds what of its chunks did.
    Damaged { doc: AutoCommit, why: String },
    /// sled has no copy.
    Missing,
}

impl Store {
    /// sled's copy of document `id`, salvaged chunk by chunk if need be.
    pub(crate) fn db_copy(&self, id: &str) -> Result<DbCopy> {
        match self.read_doc(id) {
            Ok(Some(doc)) => Ok(DbCopy::Good(doc)),
            Ok(None) => Ok(DbCopy::Missing),
            Err(StoreError::Corrupt { detail, .. }) => {
                let mut doc = AutoCommit::new();
                match self.doc_chunks(id) {
                    Ok(stored) => {
                        for (_, _, bytes) in stored {
                            chunks::load_each(&mut doc, &bytes);
                        }
                    }
                    Err(e) => tracing::warn!(id, error = %e, "cannot read the document's chunks"),
                }
                Ok(DbCopy::Damaged { doc, why: detail })
            }
            Err(e) => Err(e),
        }
    }

    /// The index entry sled holds for `id`, if it parses.
    pub(crate) fn index_entry(&self, id: &str) -> Option<IndexEntry> {
        let bytes = self.inner.index.get(id).ok()??;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Whether `path` names a document journal: `<id>.log` with a valid id.
pub(crate) fn doc_id_of_journal(name: &str) -> Option<&str> {
    let id = name.strip_suffix(&format!(".{}", crate::layout::DOC_JOURNAL_EXT))?;
    crate::layout::validate_id(id).ok().map(|()| id)
}

/// Moves a damaged journal aside (`<name>.damaged-<unix seconds>`) before
/// it is rewritten, so that nothing of it is thrown away.
pub(crate) fn keep_aside(path: &Path) -> Result<std::path::PathBuf> {
    let secs = crate::store::unix_secs();
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut aside = path.with_file_name(format!("{name}.damaged-{secs}"));
    let mut n = 1;
    while aside.exists() {
        aside = path.with_file_name(format!("{name}.damaged-{secs}-{n}"));
        n += 1;
    }
    fs::rename(path, &aside).map_err(file_err("move aside", path))?;
    journal::sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(file_err("sync", path))?;
    Ok(aside)
}
