//! Where the engine keeps documents, and how it hears of changes other
//! instances made to them: the [`Backend`] seam.
//!
//! The engine loop loads a document through [`Backend::load`] when a peer
//! first wants it and appends what peers send through [`Backend::append`];
//! it advertises heads only once `append` has returned (the durability rule
//! of gapmap-proto). Two implementations exist:
//!
//! - [`StoreBackend`]: the embedded sled [`Store`] — one process, one
//!   directory. The default, and what `gapmap` itself always uses.
//! - the Redis backend of `gapmap-relay` (`--backend redis://…`), shared by
//!   several relay instances: it appends to a stream per document and feeds
//!   the changes other instances append into this engine through the
//!   [`Feed`] given to [`Backend::start`], so they reach this instance's
//!   peers too. It lives in the relay, so that only the relay depends on a
//!   Redis client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use automerge::Automerge;
use gapmap_proto::{DocumentId, Persist};
use gapmap_store::{DocMeta, Store, StoreError};
use tokio::sync::mpsc;

use crate::io_loop::Command;

/// A boxed future, as [`Backend`]'s methods return (the trait is used as a
/// trait object).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a backend could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The storage cannot be reached now (a shared store that is down or
    /// cut off): the engine tries again until it can, and meanwhile refuses
    /// new changes and serves what it holds read-only.
    #[error("the document storage is unreachable: {0}")]
    Unavailable(String),
    /// The embedded store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The process is shutting down; the work was cancelled.
    #[error("the gapmap engine is stopping")]
    Stopped,
    /// The storage holds something unusable for this document.
    #[error("document {id}: {reason}")]
    Corrupt {
        /// The document.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

impl BackendError {
    /// Whether trying again later may work (the storage is down, not
    /// broken).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }
}

/// Document storage (and, for a shared one, fan-out between instances) for
/// the engine loop.
///
/// Methods must not block: slow work runs in the returned futures, which
/// the loop spawns and whose results it reports back to the engine.
pub trait Backend: Send + Sync + 'static {
    /// Reads document `id`: `None` when the storage does not have it. From
    /// this call on, a shared backend follows the document's changes by
    /// other instances (see [`Feed::changes`]) until [`Backend::release`].
    fn load(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>>;

    /// Reads document `id` for the application, without following it (a
    /// one-off read of a document the engine does not hold).
    fn read(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        self.load(id)
    }

    /// Makes `persist.changes` durable (they may repeat changes the storage
    /// has). The engine advertises `persist.heads` only once this returned
    /// `Ok`. `meta` is the document's index entry.
    fn append(&self, persist: Arc<Persist>, meta: DocMeta) -> BoxFuture<Result<(), BackendError>>;

    /// Called once when the engine loop starts, with the way back into it.
    /// A shared backend keeps `feed` to report other instances' changes and
    /// its own reachability; the embedded store has nothing to report.
    fn start(&self, feed: Feed) {
        let _ = feed;
    }

    /// The engine no longer holds `id` in memory: stop following it.
    fn release(&self, id: DocumentId) {
        let _ = id;
    }
}

/// The way for a [`Backend`] to tell the engine loop what happened outside
/// it. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

impl Feed {
    /// Changes to `id` that another instance made durable in the shared
    /// storage (anything `Automerge::load_incremental` accepts). The engine
    /// applies them to its copy, if it holds the document, and syncs them
    /// to its own peers; it does not append them again. False once the
    /// engine has stopped.
    pub fn changes(&self, id: DocumentId, changes: Vec<u8>) -> bool {
        self.commands.send(Command::Remote { id, changes }).is_ok()
    }

    /// The storage became unreachable (`false`, with why) or reachable
    /// again (`true`). While it is unreachable the engine refuses changes
    /// from peers — each peer that sends one gets an `error` message saying
    /// so, and is disconnected — and keeps serving what it holds.
    pub fn available(&self, up: bool, reason: Option<String>) -> bool {
        self.commands
            .send(Command::StorageAvailable { up, reason })
            .is_ok()
    }
}

/// The embedded sled [`Store`] as a [`Backend`]: today's behaviour, one
/// process.
#[derive(Clone)]
pub struct StoreBackend {
    store: Store,
}

impl StoreBackend {
    /// Keeps documents in `store`.
    pub fn new(store: Store) -> StoreBackend {
        StoreBackend { store }
    }
}

impl Backend for StoreBackend {
    fn load(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let store = self.store.clone();
        Box::pin(async move {
            let loaded = tokio::task::spawn_blocking(move || store.load(&id.to_string()))
                .await
                .map_err(|_| BackendError::Stopped)?;
            Ok(loaded?.map(|mut d| d.document().clone()))
        })
    }

    fn append(&self, persist: Arc<Persist>, meta: DocMeta) -> BoxFuture<Result<(), BackendError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                store.append(
                    &persist.document_id.to_string(),
                    &persist.changes,
                    &persist.heads,
                    &meta,
                )
            })
            .await
            .map_err(|_| BackendError::Stopped)??;
            Ok(())
        })
    }
}
