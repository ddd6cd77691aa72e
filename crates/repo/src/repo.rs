//! The handle the application holds: [`Repo`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use automerge::{AutoCommit, Automerge, ChangeHash};
use gapmap_proto::{
    Access, CloseReason, ConnId, Credential, DocumentId, Limits, Notice, PeerId, Persist,
};
use gapmap_store::{DocMeta, Store};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;
use crate::budget::{Budget, BufferLimits};
use crate::client;
use crate::connection::{self, Spec};
use crate::io_loop::{self, Command};
use crate::metrics::Metrics;
use crate::rate::RateLimit;
use crate::server::RawSocket;
use crate::Error;

/// Reads a document's title and live note count for the store's index, so
/// `gapmap list` works without loading documents. The repo knows nothing of
/// the canvas schema; the application passes this in.
pub type Describe = Arc<dyn Fn(&Automerge) -> (String, usize) + Send + Sync>;

/// How a repo is set up.
pub struct RepoConfig {
    /// Where documents live.
    pub store: Store,
    /// Our peer id on the wire.
    pub peer_id: String,
    /// Bounds per connection (message size, documents, timeouts).
    pub limits: Limits,
    /// Bounds on the bytes of incoming messages accepted connections hold,
    /// and the deadline to finish a message once started.
    pub buffer: BufferLimits,
    /// Messages queued for one connection before it counts as not reading
    /// and is closed (never dropped: Automerge sync assumes every message
    /// arrives).
    pub outgoing_queue: usize,
    /// Index entries for documents received from peers.
    pub describe: Describe,
    /// Our storage id, sent in the handshake: peers that keep storage key
    /// their saved sync states with us by it, so their reconnects resume.
    pub storage_id: Option<String>,
    /// How fast one accepted connection may send messages (`None`: no
    /// limit). Connections we dial are not limited.
    pub rate_limit: Option<RateLimit>,
    /// Where documents live, if not in `store` (which then keeps only
    /// settings such as the storage id): a relay's shared backend.
    pub backend: Option<Arc<dyn Backend>>,
    /// How many peers' costly changes are measured and applied at once, on
    /// blocking threads off the engine loop (`Output::apply`): the rest
    /// wait their turn, so a flood of expensive messages costs at most this
    /// many cores and this many budgets (`Limits::automerge`) of memory.
    pub apply_workers: usize,
}

impl RepoConfig {
    /// Defaults: 8 MiB messages, 256 queued messages per connection,
    /// [`BufferLimits::for_max_message`]; the
    /// storage id is kept in the store (setting `storage-id`), made once.
    pub fn new(store: Store, peer_id: impl Into<String>) -> RepoConfig {
        let mut limits = Limits::default();
        limits.decode.max_frame_size = 8 * 1024 * 1024;
        let storage_id = match store.setting("storage-id") {
            Ok(Some(id)) => Some(id),
            _ => {
                let id = uuid_like(rand::random());
                store.set_setting("storage-id", &id).ok().map(|()| id)
            }
        };
        RepoConfig {
            storage_id,
            store,
            peer_id: peer_id.into(),
            buffer: BufferLimits::for_max_message(limits.decode.max_frame_size),
            limits,
            outgoing_queue: 256,
            describe: Arc::new(|_| (String::new(), 0)),
            rate_limit: Some(RateLimit::default()),
            backend: None,
            apply_workers: default_apply_workers(),
        }
    }
}

/// One fewer than the cores (at least one): a core stays free for the
/// engine loop and the store while peers' changes are applied.
fn default_apply_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// A random id shaped like automerge-repo's storage ids (a v4 UUID).
fn uuid_like(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Something that happened in the repo, for the application (the web board
/// redraws, `sync --watch` logs).
#[derive(Debug, Clone)]
pub enum RepoEvent {
    /// A document changed in memory: by a peer (`local: false`, possibly not
    /// yet durable) or by a local commit (`local: true`, durable).
    Changed {
        /// The document.
        id: DocumentId,
        /// Whether the change came from this process.
        local: bool,
    },
    /// A notice from the protocol engine (peer connected, in sync, …).
    Notice(Notice),
    /// A connection closed; the reason, if the engine gave one.
    Closed(ConnId, Option<CloseReason>),
}

/// How one document ended in a one-shot sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Both sides hold the same heads.
    InSync(Vec<ChangeHash>),
    /// The remote does not have it (and neither do we).
    Unavailable,
}

/// The result of [`Repo::sync_with`].
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Each document and how it ended.
    pub documents: BTreeMap<String, SyncOutcome>,
}

/// The running engine. Cheap to clone; every clone talks to the same loop.
#[derive(Clone)]
pub struct Repo {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) events: broadcast::Sender<RepoEvent>,
    pub(crate) store: Store,
    /// Where the engine loads and stores documents.
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) outgoing_queue: usize,
    /// Messages per second an accepted connection may send.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Bytes of incoming messages held by accepted connections.
    pub(crate) budget: Arc<Budget>,
    /// The limits behind `budget`, and the message deadline.
    pub(crate) buffer_limits: BufferLimits,
    /// The largest message accepted, in bytes.
    pub(crate) max_message: usize,
    /// Bumped to make connections re-check their tokens.
    pub(crate) reload: Arc<tokio::sync::watch::Sender<u64>>,
    /// Numbers connections.
    pub(crate) next_conn: Arc<std::sync::atomic::AtomicU64>,
}

impl Repo {
    /// Starts the engine loop on the current tokio runtime.
    pub fn start(config: RepoConfig) -> Repo {
        io_loop::start(config)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The repo's figures.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Tasks to wait for on shutdown (connections spawn here).
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Cancelled when the repo shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Websocket settings (message size limits) for accepted sockets.
    pub fn ws_config(&self) -> WebSocketConfig {
        self.ws_config
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RepoEvent> {
        self.events.subscribe()
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), Error> {
        self.commands.send(command).map_err(|_| Error::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// The document as the repo holds it now (in memory, else from the store).
    pub async fn document(&self, id: DocumentId) -> Result<Option<Automerge>, Error> {
        if let Some(doc) = self.ask(|reply| Command::Get { id, reply }).await? {
            return Ok(Some(doc));
        }
        Ok(self.backend.read(id).await?)
    }

    /// The changes after `heads` of the document as held in memory; `None`
    /// when it is not in memory (then the store is up to date).
    pub async fn changes_since(
        &self,
        id: DocumentId,
        heads: Vec<ChangeHash>,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.ask(|reply| Command::ChangesSince { id, heads, reply })
            .await
    }

    /// Stays connected to `url` until `stop`: syncs every document in the
    /// store (and every one created later is offered on the next
    /// reconnect), applies remote changes as they come, and reconnects with
    /// exponential backoff and jitter when the connection drops. Reports
    /// each connection attempt's failure through `on_error`.
    pub async fn stay_connected(
        &self,
        url: String,
        token: Option<String>,
        stop: CancellationToken,
        on_error: impl Fn(&Error) + Send,
    ) {
        self.stay_connected_any(vec![url], token, stop, on_error)
            .await
    }

    /// [`Repo::stay_connected`] to one remote reachable at several URLs
    /// (relays sharing one storage): connects to the first that answers,
    /// and when a connection drops or a URL cannot be reached moves on to
    /// the next one at once, round and round; it waits (exponential
    /// backoff with jitter) only after every URL failed in a row.
    pub async fn stay_connected_any(
        &self,
        urls: Vec<String>,
        token: Option<String>,
        stop: CancellationToken,
        on_error: impl Fn(&Error) + Send,
    ) {
        if urls.is_empty() {
            return;
        }
        let mut backoff = client::Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        let mut next = 0;
        let mut failed_in_a_row = 0;
        while !stop.is_cancelled() {
            let url = urls[next % urls.len()].clone();
            next = next.wrapping_add(1);
            let attempt = async {
                let socket = client::dial(
                    &url,
                    token.as_deref(),
                    self.ws_config,
                    Duration::from_secs(15),
                )
                .await?;
                let ids = self.stored_ids()?;
                Ok::<_, Error>((socket, ids))
            };
            let started = std::time::Instant::now();
            match attempt.await {
                Ok((socket, ids)) => {
                    tracing::info!(%url, documents = ids.len(), "connected");
                    let run = connection::run_dialled(
                        self.clone(),
                        socket,
                        Spec::client(&url, ids, None),
                    );
                    tokio::select! {
                        _ = run => tracing::info!(%url, "disconnected"),
                        _ = stop.cancelled() => return,
                    }
                    if started.elapsed() > Duration::from_secs(10) {
                        backoff.reset();
                    }
                    // A relay that went away: the next one is tried at once.
                    failed_in_a_row = 0;
                    if urls.len() > 1 {
                        continue;
                    }
                }
                Err(err) => {
                    on_error(&err);
                    failed_in_a_row += 1;
                    if failed_in_a_row < urls.len() {
                        continue;
                    }
                    failed_in_a_row = 0;
                }
            }
            let delay = backoff.next_delay(rand::random::<f64>());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// [`Repo::sync_with_progress`] with one remote reachable at several
    /// URLs: tries them in order and moves on when one cannot be reached or
    /// the connection ends before the sync finished (what was acknowledged
    /// before is durable on the remote side, and the next URL syncs the
    /// rest). Returns the URL that finished the sync, and its report; when
    /// none did, an error naming what each said.
    pub async fn sync_with_any(
        &self,
        urls: &[String],
        token: Option<&str>,
        ids: Option<Vec<DocumentId>>,
        progress: Option<Progress>,
    ) -> Result<(String, SyncReport), Error> {
        let mut progress = progress;
        let mut failures: Vec<Error> = Vec::new();
        for url in urls {
            match self
                .sync_with_progress(url, token, ids.clone(), progress.take())
                .await
            {
                Ok(report) => return Ok((url.clone(), report)),
                Err(err @ (Error::Unreachable(_) | Error::Remote(_) | Error::Timeout(_)))
                    if urls.len() > 1 =>
                {
                    tracing::info!(%url, %err, "sync failed; trying the remote's next URL");
                    failures.push(err);
                }
                Err(err) => return Err(err),
            }
        }
        match failures.len() {
            0 => Err(Error::BadUrl("no URL to sync with".into())),
            1 => Err(failures.remove(0)),
            _ => Err(Error::Remote(format!(
                "none of the remote's {} URLs finished the sync: {}",
                failures.len(),
                failures
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    /// Makes a local change durable and tells every peer: `doc` holds the
    /// document with the change, `since` the heads it had before (what the
    /// peers may already know). The change is persisted exactly as peers'
    /// changes are, through the configured [`Backend`]'s `append` (so on a
    /// shared backend it reaches the other instances too), and the engine
    /// hears of it only once that returned.
    pub async fn commit(
        &self,
        id: DocumentId,
        doc: &mut AutoCommit,
        meta: &DocMeta,
        since: &[ChangeHash],
    ) -> Result<(), Error> {
        // Heads the document does not hold (a stale `since`) would hide
        // nothing but could make `save_after` leave changes out.
        let since: Vec<ChangeHash> = since
            .iter()
            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
            .copied()
            .collect();
        let changes = doc.save_after(&since);
        let persist = Arc::new(Persist {
            document_id: id,
            changes,
            heads: doc.get_heads(),
        });
        let meta = DocMeta {
            id: id.to_string(),
            ..meta.clone()
        };
        self.backend.append(persist.clone(), meta).await?;
        if !persist.changes.is_empty() {
            let changes = Arc::try_unwrap(persist)
                .map(|p| p.changes)
                .unwrap_or_else(|p| p.changes.clone());
            self.send(Command::LocalChange { id, changes })?;
        }
        Ok(())
    }

    /// Sends an ephemeral message (presence) about a document to its peers.
    pub fn broadcast(&self, id: DocumentId, data: Vec<u8>) -> Result<(), Error> {
        self.send(Command::Broadcast { id, data })
    }

    /// Serves an accepted websocket (the upgraded connection) until it
    /// closes. `credential` is what the peer presented (see
    /// [`Credential`]). With `auth`, the connection's token is checked
    /// again on every [`Repo::reauthorize`].
    pub async fn serve_socket(
        &self,
        socket: RawSocket,
        access: Access,
        credential: Credential,
        auth: Option<Reauth>,
    ) {
        connection::run_accepted(self.clone(), socket, Spec::server(access, credential, auth))
            .await;
    }

    /// Re-checks every connection's token (the tokens file was re-read):
    /// narrowed access applies at once, a token no longer valid closes its
    /// connection.
    pub fn reauthorize(&self) {
        self.reload.send_modify(|generation| *generation += 1);
    }

    /// Dials `url` and syncs every document in `ids` (every document in the
    /// store when `None`) once: returns when both sides hold the same heads
    /// for each, or the remote said it lacks one.
    pub async fn sync_with(
        &self,
        url: &str,
        token: Option<&str>,
        ids: Option<Vec<DocumentId>>,
    ) -> Result<SyncReport, Error> {
        self.sync_with_progress(url, token, ids, None).await
    }

    /// [`Repo::sync_with`], telling `progress` (settled, total) as it goes.
    pub async fn sync_with_progress(
        &self,
        url: &str,
        token: Option<&str>,
        ids: Option<Vec<DocumentId>>,
        progress: Option<Progress>,
    ) -> Result<SyncReport, Error> {
        let ids = match ids {
            Some(ids) => ids,
            None => self.stored_ids()?,
        };
        let socket = client::dial(url, token, self.ws_config, Duration::from_secs(15)).await?;
        let (done_tx, done_rx) = oneshot::channel();
        let watch = SyncWatch {
            ids: ids.clone(),
            done: done_tx,
            progress,
        };
        let task = self.tracker.spawn(connection::run_dialled(
            self.clone(),
            socket,
            Spec::client(url, ids, Some(watch)),
        ));
        let result = done_rx
            .await
            .map_err(|_| Error::Remote(format!("{url} closed the connection")))?;
        let _ = task.await;
        result
    }

    fn stored_ids(&self) -> Result<Vec<DocumentId>, Error> {
        Ok(self
            .store
            .list()?
            .into_iter()
            .filter_map(|m| DocumentId::parse(&m.id).ok())
            .collect())
    }

    /// Stops the loop and every connection; waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Our peer id.
    pub fn peer_id_of(config: &RepoConfig) -> PeerId {
        PeerId::new(config.peer_id.clone())
    }
}

/// An authorizer and the token a connection presented, to check again later.
pub type Reauth = (Arc<dyn crate::routes::Authorizer>, Option<String>);

/// What a one-shot sync connection waits for.
pub(crate) struct SyncWatch {
    /// The documents to bring in sync.
    pub ids: Vec<DocumentId>,
    /// Where the result goes.
    pub done: oneshot::Sender<Result<SyncReport, Error>>,
    /// Told (settled, total) as documents settle.
    pub progress: Option<Progress>,
}

/// A callback told how many documents of a sync are settled, of how many.
pub type Progress = Box<dyn Fn(usize, usize) + Send>;
