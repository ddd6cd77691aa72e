//! The engine loop: one task owns the [`Engine`] and carries out its
//! [`Output`]s. Sockets, the store and the application talk to it through
//! [`Command`]s; slow work (store reads and writes) runs on blocking threads
//! and reports back as commands, so the loop never waits on disk.

mod storage;
mod storage_down;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use gapmap_proto::{
    Access, Config, ConnId, Credential, DocumentId, Engine, Event, Output, PeerMetadata, Role,
    SyncStatus, Timestamp,
};
use gapmap_store::{DocMeta, Store};

use crate::backend::{Backend, Feed, StoreBackend};
use storage::{load_until_read, now_ms, store_until_durable};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{Metrics, Refusal};
use crate::repo::{Describe, Repo, RepoConfig, RepoEvent};

/// What the loop is asked to do.
pub(crate) enum Command {
    /// A connection's socket is up.
    Opened {
        conn: ConnId,
        role: Role,
        access: Access,
        credential: Credential,
        /// Where its outgoing frames go (bounded).
        outgoing: mpsc::Sender<Vec<u8>>,
        /// Cancelled to drop the connection at once.
        kill: CancellationToken,
        /// Documents to open on it right away (client syncs).
        open: Vec<DocumentId>,
        /// The remote's URL when we dialled it: sync states are saved per
        /// (URL, document) and given back on the next connection.
        remote: Option<String>,
        /// Saved sync states to resume from.
        resume: Vec<(DocumentId, Vec<u8>)>,
    },
    /// A frame arrived.
    Frame {
        conn: ConnId,
        data: Vec<u8>,
        at: Instant,
        /// Counts the frame against the incoming budget until handled.
        held: crate::budget::Held,
    },
    /// The socket closed.
    Closed { conn: ConnId },
    /// The application reads a document held in memory.
    Get {
        id: DocumentId,
        reply: oneshot::Sender<Option<Automerge>>,
    },
    /// The application catches up a copy it holds: the changes after `heads`
    /// of the document in memory, if it is in memory.
    ChangesSince {
        id: DocumentId,
        heads: Vec<ChangeHash>,
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// The application made a durable local change.
    LocalChange { id: DocumentId, changes: Vec<u8> },
    /// The application sends an ephemeral message.
    Broadcast { id: DocumentId, data: Vec<u8> },
    /// A store read finished.
    Loaded {
        id: DocumentId,
        doc: Option<Box<Automerge>>,
    },
    /// A lent document is back from a blocking thread.
    Applied(Box<gapmap_proto::Applied>),
    /// A store write is durable.
    Persisted {
        id: DocumentId,
        heads: Vec<ChangeHash>,
    },
    /// A connection's access changed (tokens re-read).
    AccessChanged { conn: ConnId, access: Access },
    /// Another instance sharing the backend made these changes durable.
    Remote { id: DocumentId, changes: Vec<u8> },
    /// The backend became unreachable or reachable again.
    StorageAvailable { up: bool, reason: Option<String> },
    /// The sync state of documents on a connection.
    Status {
        conn: ConnId,
        ids: Vec<DocumentId>,
        reply: oneshot::Sender<Vec<(DocumentId, Option<SyncStatus>)>>,
    },
}

/// Starts the loop; returns the handle.
pub(crate) fn start(config: RepoConfig) -> Repo {
    let (commands, rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(4096);
    let metrics = Arc::new(Metrics::default());
    let backend: Arc<dyn Backend> = config
        .backend
        .clone()
        .unwrap_or_else(|| Arc::new(StoreBackend::new(config.store.clone())));
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let max = config.limits.decode.max_frame_size;
    let buffer_limits = config.buffer.effective(max);
    // Small buffers: an idle connection should cost kilobytes, not the
    // 2 × 128 KiB tungstenite reserves by default; they grow for big messages.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_mul(2));
    let repo = Repo {
        commands: commands.clone(),
        events: events.clone(),
        store: config.store.clone(),
        backend: backend.clone(),
        metrics: metrics.clone(),
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
        ws_config,
        outgoing_queue: config.outgoing_queue,
        rate_limit: config.rate_limit,
        budget: crate::budget::Budget::new(&buffer_limits, metrics.clone()),
        buffer_limits,
        max_message: max,
        next_conn: Arc::new(AtomicU64::new(1)),
        reload: Arc::new(tokio::sync::watch::channel(0).0),
    };
    let session: [u8; 8] = rand::random();
    let mut engine_config = Config::new(config.peer_id.clone().into(), hex::encode(session));
    engine_config.peer_metadata = PeerMetadata {
        storage_id: config.storage_id.clone(),
        is_ephemeral: false,
    };
    engine_config.limits = config.limits.clone();
    let state = Loop {
        engine: Engine::new(engine_config),
        origin: Instant::now(),
        store: config.store,
        backend: backend.clone(),
        describe: config.describe,
        conns: HashMap::new(),
        loading: HashSet::new(),
        held: HashSet::new(),
        apply_slots: Arc::new(tokio::sync::Semaphore::new(config.apply_workers.max(1))),
        storage_down: None,
        commands: commands.clone(),
        events,
        metrics,
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
    };
    backend.start(Feed { commands });
    tracker.spawn(state.run(rx, shutdown));
    repo
}

/// The setting under which the sync state with a remote URL is kept.
fn sync_state_key(url: &str, id: &DocumentId) -> String {
    format!("sync-state:{url}:{id}")
}

/// Sync states saved for `ids` with the remote at `url`.
pub(crate) fn saved_sync_states(
    store: &Store,
    url: &str,
    ids: &[DocumentId],
) -> Vec<(DocumentId, Vec<u8>)> {
    ids.iter()
        .filter_map(|id| {
            let text = store.setting(&sync_state_key(url, id)).ok()??;
            Some((*id, hex::decode(text).ok()?))
        })
        .collect()
}

/// One connection as the loop sees it.
struct Conn {
    outgoing: mpsc::Sender<Vec<u8>>,
    kill: CancellationToken,
    /// Whether we dialled it: local documents are offered to the remotes we
    /// dialled, including ones created while connected.
    dialled: bool,
    /// The URL we dialled, where sync states are saved.
    remote: Option<String>,
    /// A read-only peer's refused changes were logged (once per connection).
    read_only_logged: bool,
    /// What its token grants; the engine is given less while the storage
    /// is down (read-only).
    granted: Access,
}

struct Loop {
    engine: Engine,
    /// Engine time is milliseconds since this instant.
    origin: Instant,
    /// Settings (saved sync states).
    store: Store,
    /// Documents.
    backend: Arc<dyn Backend>,
    describe: Describe,
    conns: HashMap<ConnId, Conn>,
    /// Documents being loaded.
    loading: HashSet<DocumentId>,
    /// Documents loaded and maybe still in the engine's memory: the backend
    /// is told when the engine has dropped one.
    held: HashSet<DocumentId>,
    /// Why the backend is unreachable, while it is.
    storage_down: Option<String>,
    /// Caps the peers' changes applied at once off the loop.
    apply_slots: Arc<tokio::sync::Semaphore>,
    /// For blocking tasks to report back.
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<RepoEvent>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    /// Ends the retries of failed stores.
    shutdown: CancellationToken,
}

impl Loop {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                command = rx.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                _ = tick.tick() => {
                    self.event(Event::Tick, None);
                    self.release_dropped();
                }
            }
        }
        for conn in self.conns.values() {
            conn.kill.cancel();
        }
        // Let blocking writes already under way report; nothing new starts.
        tracing::debug!("engine loop stopped");
    }

    /// Tells the backend which loaded documents the engine has dropped.
    fn release_dropped(&mut self) {
        let dropped: Vec<DocumentId> = self
            .held
            .iter()
            .filter(|id| !self.loading.contains(id) && self.engine.durable_heads(id).is_none())
            .copied()
            .collect();
        for id in dropped {
            self.held.remove(&id);
            self.backend.release(id);
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    fn event(&mut self, event: Event, received: Option<Instant>) {
        let output = self.engine.handle(self.now(), event);
        if let Some(at) = received {
            if !output.send.is_empty() || !output.store.is_empty() {
                self.metrics.observe_sync_latency(at.elapsed());
            }
        }
        self.carry_out(output);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Opened {
                conn,
                role,
                access,
                credential,
                outgoing,
                kill,
                open,
                remote,
                resume,
            } => {
                self.metrics.connection_opened();
                let dialled = role == Role::Client;
                let granted = access;
                let access = self.effective(&granted);
                self.conns.insert(
                    conn,
                    Conn {
                        outgoing,
                        kill,
                        dialled,
                        remote,
                        read_only_logged: false,
                        granted,
                    },
                );
                self.event(
                    Event::ConnectionOpened {
                        conn,
                        role,
                        access,
                        credential,
                    },
                    None,
                );
                for (document_id, state) in resume {
                    self.event(
                        Event::ResumeSync {
                            conn,
                            document_id,
                            state,
                        },
                        None,
                    );
                }
                for document_id in open {
                    self.event(Event::Open { conn, document_id }, None);
                }
            }
            Command::Frame {
                conn,
                data,
                at,
                held: _held,
            } => {
                self.metrics.message_in(data.len());
                self.event(Event::Frame { conn, data }, Some(at));
                if self.storage_down.is_some() && self.has_changes_to_write(conn) {
                    self.metrics.refused(Refusal::StorageUnavailable);
                    self.refuse_for_storage(conn);
                }
            }
            Command::Closed { conn } => {
                if self.conns.remove(&conn).is_some() || self.engine.peer(conn).is_some() {
                    self.event(Event::ConnectionClosed { conn }, None);
                }
                self.metrics.connection_closed();
                let _ = self.events.send(RepoEvent::Closed(conn, None));
            }
            Command::Get { id, reply } => {
                let _ = reply.send(self.engine.document(&id).cloned());
            }
            Command::ChangesSince { id, heads, reply } => {
                let _ = reply.send(self.engine.document(&id).map(|d| d.save_after(&heads)));
            }
            Command::LocalChange { id, changes } => {
                self.event(
                    Event::LocalChange {
                        document_id: id,
                        changes,
                    },
                    None,
                );
                let _ = self.events.send(RepoEvent::Changed { id, local: true });
                let new_to: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(conn, c)| {
                        c.dialled && !self.engine.documents_of(**conn).any(|d| d == id)
                    })
                    .map(|(conn, _)| *conn)
                    .collect();
                for conn in new_to {
                    self.event(
                        Event::Open {
                            conn,
                            document_id: id,
                        },
                        None,
                    );
                }
            }
            Command::Broadcast { id, data } => {
                self.event(
                    Event::Broadcast {
                        document_id: id,
                        data,
                    },
                    None,
                );
            }
            Command::Loaded { id, doc } => {
                self.loading.remove(&id);
                self.event(
                    Event::Loaded {
                        document_id: id,
                        document: doc,
                    },
                    None,
                );
            }
            Command::Applied(applied) => self.event(Event::Applied(*applied), None),
            Command::Persisted { id, heads } => {
                self.event(
                    Event::Persisted {
                        document_id: id,
                        heads,
                    },
                    None,
                );
            }
            Command::AccessChanged { conn, access } => {
                let effective = self.effective(&access);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.granted = access;
                }
                self.event(
                    Event::AccessChanged {
                        conn,
                        access: effective,
                    },
                    None,
                );
            }
            Command::Remote { id, changes } => {
                // Only into a copy in memory (or loading, which the engine
                // queues): a document not held is read afresh, with these
                // changes, when a peer next wants it. As a "local" change
                // it counts as durable and is not stored again.
                if self.loading.contains(&id) || self.engine.durable_heads(&id).is_some() {
                    self.event(
                        Event::LocalChange {
                            document_id: id,
                            changes,
                        },
                        None,
                    );
                    let _ = self.events.send(RepoEvent::Changed { id, local: false });
                }
            }
            Command::StorageAvailable { up, reason } => self.storage_available(up, reason),
            Command::Status { conn, ids, reply } => {
                let status = ids
                    .into_iter()
                    .map(|id| (id, self.engine.sync_status(conn, &id)))
                    .collect();
                let _ = reply.send(status);
            }
        }
        self.metrics
            .set_documents_loaded(self.engine.documents_in_memory());
    }

    fn carry_out(&mut self, output: Output) {
        for id in output.load {
            self.loading.insert(id);
            self.held.insert(id);
            let (backend, commands) = (self.backend.clone(), self.commands.clone());
            let shutdown = self.shutdown.clone();
            self.tracker
                .spawn(load_until_read(backend, id, commands, shutdown));
        }
        for work in output.apply {
            // A costly message: measured and applied on a blocking thread,
            // while the loop serves every other document and connection.
            let (slots, commands) = (self.apply_slots.clone(), self.commands.clone());
            self.tracker.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                if let Ok(applied) = tokio::task::spawn_blocking(move || work.run()).await {
                    let _ = commands.send(Command::Applied(Box::new(applied)));
                }
            });
        }
        for persist in output.store {
            let id = persist.document_id;
            let (title, notes) = self
                .engine
                .document(&id)
                .map(|d| (self.describe)(d))
                .unwrap_or_default();
            let meta = DocMeta {
                id: id.to_string(),
                title,
                notes,
                updated_ms: now_ms(),
            };
            let (backend, commands) = (self.backend.clone(), self.commands.clone());
            let shutdown = self.shutdown.clone();
            self.tracker.spawn(store_until_durable(
                backend, persist, meta, commands, shutdown,
            ));
        }
        let mut slow = Vec::new();
        for out in output.send {
            let Some(conn) = self.conns.get(&out.conn) else {
                continue;
            };
            let frame = out.message.encode();
            let len = frame.len();
            match conn.outgoing.try_send(frame) {
                Ok(()) => self.metrics.message_out(len),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Automerge sync assumes every message arrives: close
                    // rather than drop, and let the peer resync.
                    tracing::info!(conn = %out.conn, "peer does not read fast enough; closing");
                    self.metrics.refused(Refusal::SlowReader);
                    conn.kill.cancel();
                    self.conns.remove(&out.conn);
                    slow.push(out.conn);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        for conn in slow {
            let output = self
                .engine
                .handle(self.now(), Event::ConnectionClosed { conn });
            self.carry_out(output);
        }
        for id in output.changed {
            let _ = self.events.send(RepoEvent::Changed { id, local: false });
        }
        for (conn, reason) in output.close {
            tracing::info!(%conn, %reason, "closing connection");
            if let gapmap_proto::CloseReason::Protocol(ref e) = reason {
                self.metrics.refused(match e {
                    gapmap_proto::ProtocolError::TooManyDocuments { .. } => {
                        Refusal::TooManyDocuments
                    }
                    gapmap_proto::ProtocolError::Decode(gapmap_proto::DecodeError::TooLarge {
                        ..
                    }) => Refusal::Oversized,
                    _ => Refusal::Malformed,
                });
            } else if let gapmap_proto::CloseReason::Handshake(
                gapmap_proto::handshake::HandshakeError::PeerIdInUse(_),
            ) = reason
            {
                self.metrics.refused(Refusal::PeerIdInUse);
            } else if matches!(
                reason,
                gapmap_proto::CloseReason::HandshakeTimeout
                    | gapmap_proto::CloseReason::IdleTimeout
            ) {
                self.metrics.refused(Refusal::Timeout);
            }
            // The event first: a one-shot sync reads it once its socket
            // closes. Dropping the sender lets the writer send what is
            // queued (the error message) and then close the socket.
            let _ = self.events.send(RepoEvent::Closed(conn, Some(reason)));
            self.conns.remove(&conn);
        }
        let mut storage_refused = Vec::new();
        for notice in output.notices {
            if let gapmap_proto::Notice::ReadOnlyChanges { conn, document_id } = &notice {
                let token_allows = self
                    .conns
                    .get(conn)
                    .is_some_and(|c| c.granted.may_write(document_id));
                if token_allows && self.storage_down.is_some() {
                    self.metrics.refused(Refusal::StorageUnavailable);
                    storage_refused.push(*conn);
                } else {
                    self.metrics.refused(Refusal::ReadOnly);
                    if let Some(c) = self.conns.get_mut(conn) {
                        if !std::mem::replace(&mut c.read_only_logged, true) {
                            tracing::info!(%conn, %document_id, "a read-only peer sent changes; refused (logged once per connection)");
                        }
                    }
                }
            }
            if let gapmap_proto::Notice::InSync {
                conn,
                document_id,
                sync_state,
                ..
            } = &notice
            {
                if let Some(url) = self.conns.get(conn).and_then(|c| c.remote.clone()) {
                    let key = sync_state_key(&url, document_id);
                    let (store, value) = (self.store.clone(), hex::encode(sync_state));
                    self.tracker.spawn_blocking(move || {
                        if let Err(err) = store.set_setting(&key, &value) {
                            tracing::warn!(%err, "cannot save a sync state");
                        }
                    });
                }
            }
            let _ = self.events.send(RepoEvent::Notice(notice));
        }
        for conn in storage_refused {
            self.refuse_for_storage(conn);
        }
    }
}
