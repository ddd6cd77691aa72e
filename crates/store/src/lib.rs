//! Persistence for gapmap: every canvas is an Automerge document kept in a
//! local [sled] database, next to an append-only journal that can rebuild it.
//!
//! A store is a directory:
//!
//! ```text
//! lock         flock'ed by the owning process for as long as it has the store open
//! owner.pid    "<pid> <command line>" of that process (secrets masked), for the "in use" message
//! db/          sled: snapshots and change chunks per document, the index, settings
//! journal/     <id>.log per document and settings.kv: a copy of every write
//! ```
//!
//! A document is stored as one snapshot (`AutoCommit::save`) plus the
//! incremental chunks saved since (`AutoCommit::save_after`); once the chunks
//! outgrow the snapshot they are folded into a new one. An index of
//! [`DocMeta`] lets [`Store::list`] answer without loading any document, and
//! an origin index lets [`Store::find_by_origin`] find the copies of a
//! document (the same first change) without loading them either.
//!
//! [`Store::save`] and [`Store::set_setting`] return only once the write is
//! durable: appended to the journal (and fsynced, see [`Durability`]) and
//! flushed by sled. Opening a store repairs what a crash can leave behind and
//! rolls forward from the journal any write sled lost; when sled itself no
//! longer opens, [`Store::recover`] rebuilds it from the journal. See
//! `docs/durability.md` for the guarantees and the measurements behind them.
//!
//! Only one process may have a store open; another gets
//! [`StoreError::Locked`] naming the owner. The directory is private to its
//! user: created `0700` (a wider one is tightened), files `0600`.
//!
//! ```
//! use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
//! use gapmap_store::{DocMeta, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//!
//! let mut doc = AutoCommit::new();
//! doc.put(ROOT, "title", "Commuters")?;
//! let meta = DocMeta { id: "doc1".into(), title: "Commuters".into(), notes: 0, updated_ms: 0 };
//! store.save("doc1", &mut doc, &meta)?; // durable from here on
//!
//! assert_eq!(store.list()?, vec![meta]);
//! let mut loaded = store.load("doc1")?.expect("saved above");
//! assert_eq!(loaded.get_heads(), doc.get_heads());
//!
//! store.set_setting("name", "Ada")?;
//! assert_eq!(store.setting("name")?.as_deref(), Some("Ada"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod chunks;
mod error;
mod journal;
mod layout;
mod origins;
mod owner;
mod private;
mod recovery;
mod settings;
mod store;

use serde::{Deserialize, Serialize};

pub use error::{Result, StoreError};
pub use recovery::{
    ByteRange, CheckReport, DocReport, DoctorReport, JournalReport, Loss, RecoveryReport, Repair,
    SettingsReport,
};
pub use store::Store;

/// A document's entry in the index: what `gapmap list` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMeta {
    /// The document id (base58check text).
    pub id: String,
    /// The canvas title.
    pub title: String,
    /// Notes not in the trash.
    pub notes: usize,
    /// Last save, in ms since the Unix epoch.
    pub updated_ms: i64,
}

/// What a save must survive before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A crash of the process: sled is flushed and the journal written, both
    /// into the operating system. A power cut may lose the last saves.
    Process,
    /// Also a power cut or kernel crash: the journal is fdatasync'ed before a
    /// save returns, and the next open rolls sled forward from it.
    #[default]
    PowerLoss,
}

/// How a store behaves; `Options::default()` suits the CLI and the UI.
#[derive(Clone, Debug)]
pub struct Options {
    durability: Durability,
    compact_min_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::default(),
            compact_min_bytes: 64 * 1024,
        }
    }
}

impl Options {
    /// What a save must survive before it returns (default [`Durability::PowerLoss`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Chunks are folded into a new snapshot once they exceed both the
    /// snapshot and this many bytes (default 64 KiB), so a small document is
    /// not rewritten on every save.
    pub fn compact_min_bytes(mut self, bytes: u64) -> Self {
        self.compact_min_bytes = bytes;
        self
    }
}
