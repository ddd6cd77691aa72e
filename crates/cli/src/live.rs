//! The store as a running engine sees it: [`LiveDocs`] carries commands out
//! against the [`Repo`]'s documents, so a change made by any `gapmap`
//! command while `serve`, `ui` or `sync --watch` owns the store reaches
//! connected peers (and the web board) at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ChangeHash};
use gapmap_repo::{DocumentId, Repo, RepoConfig, RepoEvent};
use gapmap_store::{DocMeta, Store};
use tokio::runtime::Handle;
use tokio::sync::broadcast::error::RecvError;

use crate::context::Docs;

/// A [`Repo`] configured for a gapmap store: index entries come from the
/// canvas schema.
/// `GAPMAP_AUTOMERGE_BUDGET` (MiB) lowers or raises the most memory
/// Automerge may use for one peer message (default 256, as the relay's
/// `--automerge-budget`; docs/reliability.md).
pub fn repo_config(store: Store, peer_id: String) -> RepoConfig {
    let mut config = RepoConfig::new(store, peer_id);
    config.describe = Arc::new(gapmap_canvas::describe::<automerge::Automerge>);
    if let Some(mib) = std::env::var("GAPMAP_AUTOMERGE_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        let max = mib.max(1).saturating_mul(1 << 20);
        let budget = &mut config.limits.automerge;
        budget.max = max;
        budget.floor = budget.floor.min(max);
    }
    config
}

/// Our peer id: random, drawn once per process. Reconnects within the
/// process keep it, so a remote replaces our dead connection rather than
/// keep both; a new process is a new peer. It is not kept in the store: the
/// id travels to every peer of a canvas (in every presence message), and an
/// id that outlives the session would tell them which machine is which
/// across sessions.
pub fn peer_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("gapmap-{}", hex::encode(rand::random::<[u8; 8]>())))
        .clone()
}

/// Documents through a running repo. Commands run on blocking threads and
/// reach the async repo through `handle`.
pub struct LiveDocs {
    repo: Repo,
    handle: Handle,
    /// Copies of documents kept between commands, caught up with the
    /// engine's changes on each use: a command on a big canvas then costs
    /// its change, not a full load.
    cache: Mutex<HashMap<String, AutoCommit>>,
    /// The heads each document had when a command loaded it: what peers may
    /// already know when it commits.
    loaded_heads: Mutex<HashMap<String, Vec<ChangeHash>>>,
    /// The heads of each document lent to a command as last loaded or
    /// saved: a copy handed back with other heads holds changes the engine
    /// never got (a command that failed before saving), and is not kept.
    lent: Mutex<HashMap<String, Vec<ChangeHash>>>,
    /// Documents a peer changed since they were cached: the engine may have
    /// stored and unloaded them, so the cache must be refreshed from the store.
    stale: Arc<Mutex<Stale>>,
    /// Local writers take turns: the owner socket's commands and the
    /// board's pages write as the same actors, and two of them editing
    /// copies of one document at once would make two changes with one
    /// actor and sequence number (the document then refuses the second).
    turn: Arc<Mutex<()>>,
}

/// Which cached copies are out of date.
#[derive(Default)]
struct Stale {
    ids: HashSet<String>,
    /// Events were missed: every copy is suspect.
    all: bool,
}

impl LiveDocs {
    /// Documents of `repo`.
    pub fn new(repo: Repo, handle: Handle) -> LiveDocs {
        let stale = Arc::new(Mutex::new(Stale::default()));
        let mut events = repo.subscribe();
        let marks = stale.clone();
        handle.spawn(async move {
            loop {
                let event = events.recv().await;
                let mut stale = marks.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Ok(RepoEvent::Changed { id, local: false }) => {
                        stale.ids.insert(id.to_string());
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => stale.all = true,
                    Err(RecvError::Closed) => break,
                }
            }
        });
        LiveDocs {
            repo,
            handle,
            cache: Mutex::new(HashMap::new()),
            loaded_heads: Mutex::new(HashMap::new()),
            lent: Mutex::new(HashMap::new()),
            stale,
            turn: Arc::new(Mutex::new(())),
        }
    }

    /// The turn every local reader and writer of these documents takes for
    /// the length of its command (see the field).
    pub fn turn(&self) -> Arc<Mutex<()>> {
        self.turn.clone()
    }

    /// Whether the cached copy of `id` may lack a peer's changes; clears the mark.
    fn take_stale(&self, id: &str) -> bool {
        let mut stale = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        if stale.all {
            stale.all = false;
            stale.ids.clear();
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
            return true;
        }
        stale.ids.remove(id)
    }

    fn doc_id(id: &str) -> Result<DocumentId> {
        DocumentId::parse(id).with_context(|| format!("invalid document id {id}"))
    }
}

impl Docs for LiveDocs {
    fn list(&self) -> Result<Vec<DocMeta>> {
        Ok(self.repo.store().list()?)
    }

    fn contains(&self, id: &str) -> Result<bool> {
        Ok(self.repo.store().contains(id)?)
    }

    fn load(&self, id: &str) -> Result<Option<AutoCommit>> {
        let doc_id = Self::doc_id(id)?;
        let stale = self.take_stale(id);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let cached = cached.filter(|_| !stale);
        let mut doc = match cached {
            Some(doc) => doc,
            None => match self.repo.store().load(id)? {
                Some(doc) => doc,
                None => return Ok(None),
            },
        };
        // The engine may hold changes from peers newer than our copy.
        let heads = doc.get_heads();
        if let Some(changes) = self
            .handle
            .block_on(self.repo.changes_since(doc_id, heads))?
        {
            if !changes.is_empty() {
                doc.load_incremental(&changes)
                    .with_context(|| format!("catching up document {id}"))?;
            }
        }
        let heads = doc.get_heads();
        self.loaded_heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), heads.clone());
        // Lent, not copied (a copy of a big canvas costs more than most
        // commands): it comes back through `release`.
        self.lent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), heads);
        Ok(Some(doc))
    }

    fn save(&self, id: &str, doc: &mut AutoCommit, meta: &DocMeta) -> Result<()> {
        let doc_id = Self::doc_id(id)?;
        let since = self
            .loaded_heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .unwrap_or_default();
        self.handle
            .block_on(self.repo.commit(doc_id, doc, meta, &since))?;
        self.lent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), doc.get_heads());
        Ok(())
    }

    fn release(&self, id: &str, mut doc: AutoCommit) {
        let lent = self
            .lent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if doc.pending_ops() == 0 && lent.is_some_and(|heads| heads == doc.get_heads()) {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.to_string(), doc);
        }
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.repo.store().setting(key)?)
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        Ok(self.repo.store().set_setting(key, value)?)
    }

    fn store(&self) -> Store {
        self.repo.store().clone()
    }

    fn repo(&self) -> Option<(Repo, Handle)> {
        Some((self.repo.clone(), self.handle.clone()))
    }
}
