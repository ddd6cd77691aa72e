//! Per-document work: loading, syncing, persisting, asking around for
//! missing documents, and ephemeral messages.

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use gapmap_guard::{Budget, Refusal};

use super::apply::{self, Applied, Apply, Context};
use super::state::{Document, Load, PeerDoc, PeerStatus, Pending};
use super::{
    same_heads, ConnId, Engine, Notice, Output, Persist, ProtocolError, Role, EPHEMERAL_SESSIONS,
};
use crate::{DocumentId, Message};

impl Engine {
    // ---- entry points ----------------------------------------------------

    pub(super) fn receive_sync(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        data: Vec<u8>,
        out: &mut Output,
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if !c.access.may_read(&id) {
            return self.send_unavailable(conn, id, out);
        }
        // Only decoded here; the changes are measured (the gate) when they
        // are about to be applied, off this call if they are costly.
        match sync::Message::decode(&data).map_err(|e| e.to_string()) {
            Ok(message) => self.need_document(id, Pending::Sync { conn, message }, out),
            Err(reason) => self.fail(
                conn,
                ProtocolError::InvalidSyncMessage {
                    document_id: id,
                    reason,
                },
                out,
            ),
        }
    }

    pub(super) fn receive_unavailable(&mut self, conn: ConnId, id: DocumentId, out: &mut Output) {
        if self.documents.contains_key(&id) {
            self.need_document(id, Pending::Unavailable(conn), out);
        } else {
            // Nobody here was waiting for it.
            out.notices.push(Notice::Unavailable {
                conn,
                document_id: id,
            });
        }
    }

    pub(super) fn receive_ephemeral(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        message: Message,
        out: &mut Output,
    ) {
        let Message::Ephemeral {
            sender_id,
            data,
            count,
            session_id,
            ..
        } = message
        else {
            return;
        };
        if !self
            .connections
            .get(&conn)
            .is_some_and(|c| c.access.may_read(&id))
        {
            return;
        }
        let key = (sender_id, session_id);
        if self
            .ephemeral_seen
            .get(&key)
            .is_some_and(|&seen| count <= seen)
        {
            return;
        }
        if self.ephemeral_seen.len() >= EPHEMERAL_SESSIONS
            && !self.ephemeral_seen.contains_key(&key)
        {
            self.ephemeral_seen.clear();
        }
        self.ephemeral_seen.insert(key.clone(), count);
        let (sender_id, session_id) = key;
        out.notices.push(Notice::Ephemeral {
            conn,
            document_id: id,
            sender_id: sender_id.clone(),
            data: data.clone(),
        });
        for (other, target_id) in self.readers_of(id) {
            if other != conn && target_id != sender_id {
                out.send(
                    other,
                    Message::Ephemeral {
                        sender_id: sender_id.clone(),
                        target_id,
                        document_id: id,
                        data: data.clone(),
                        count,
                        session_id: session_id.clone(),
                    },
                );
            }
        }
    }

    pub(super) fn broadcast(&mut self, id: DocumentId, data: Vec<u8>, out: &mut Output) {
        self.ephemeral_count += 1;
        let count = self.ephemeral_count;
        let us = self.config.peer_id.clone();
        // So that our own message, echoed back by a peer, is dropped.
        self.ephemeral_seen
            .insert((us.clone(), self.config.session_id.clone()), count);
        for (conn, target_id) in self.readers_of(id) {
            out.send(
                conn,
                Message::Ephemeral {
                    sender_id: us.clone(),
                    target_id,
                    document_id: id,
                    data: data.clone(),
                    count,
                    session_id: self.config.session_id.clone(),
                },
            );
        }
    }

    pub(super) fn open(&mut self, conn: ConnId, id: DocumentId, out: &mut Output) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.peer.is_none() {
            if !c.queued_opens.contains(&id) {
                c.queued_opens.push(id);
            }
            return;
        }
        self.need_document(id, Pending::Open(conn), out);
    }

    pub(super) fn local_change(&mut self, id: DocumentId, changes: Vec<u8>, out: &mut Output) {
        // A document not in memory has no peer to tell, and storage already
        // holds the change: whoever opens it next loads it with the change.
        if self.documents.contains_key(&id) {
            self.need_document(id, Pending::Local(changes), out);
        }
    }

    pub(super) fn loaded(
        &mut self,
        id: DocumentId,
        stored: Option<Box<Automerge>>,
        out: &mut Output,
    ) {
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        if !matches!(doc.load, Load::Loading(_)) {
            return; // not asked for, or answered twice (it may be lent now)
        }
        let Load::Loading(queue) = std::mem::replace(&mut doc.load, Load::Ready) else {
            return;
        };
        if let Some(stored) = stored {
            doc.doc = *stored;
        }
        doc.durable = doc.doc.get_heads();
        self.drain(id, queue, out);
        self.forget_if_unused(id);
    }

    /// A lent document is back with what the peer's message did to it.
    pub(super) fn applied(&mut self, applied: Applied, out: &mut Output) {
        let id = applied.document_id;
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        if !matches!(doc.load, Load::Lent { lease, .. } if lease == applied.lease) {
            return; // not lent by this engine, or answered twice
        }
        let Load::Lent {
            conn,
            persisted,
            queue,
            ..
        } = std::mem::replace(&mut doc.load, Load::Ready)
        else {
            return;
        };
        doc.doc = *applied.doc;
        let may_write = self.connections.get(&conn).map(|c| c.access.may_write(&id));
        match (doc.peers.get_mut(&conn), may_write) {
            (Some(peer), Some(may_write)) => {
                peer.sync = applied.sync;
                // Its access may have changed while the document was out.
                if peer.sync.read_only == may_write {
                    peer.sync.set_read_only(!may_write);
                }
                self.after_receive(conn, id, applied.context, applied.result, out);
            }
            // The connection closed meanwhile: what applied is valid.
            _ => self.persist(id, out),
        }
        if persisted && self.documents.get(&id).is_some_and(|d| !d.is_dirty()) {
            self.sync_all(id, out);
        }
        self.drain(id, queue, out);
        self.forget_if_unused(id);
    }

    /// Runs what waited for a document, in order, until the document is
    /// lent (or loading) again; the rest then waits for it.
    fn drain(&mut self, id: DocumentId, queue: Vec<Pending>, out: &mut Output) {
        let mut queue = queue.into_iter();
        while let Some(pending) = queue.next() {
            if self.documents.contains_key(&id) {
                self.run(id, pending, out);
            } else {
                // Dropped meanwhile (its last peer left): load it again.
                self.need_document(id, pending, out);
            }
            if let Some(Document {
                load: Load::Lent { queue: waiting, .. } | Load::Loading(waiting),
                ..
            }) = self.documents.get_mut(&id)
            {
                waiting.extend(queue);
                return;
            }
        }
    }

    pub(super) fn persisted(&mut self, id: DocumentId, heads: Vec<ChangeHash>, out: &mut Output) {
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        if doc.persisting.as_ref() != Some(&heads) {
            return; // not the store in flight
        }
        doc.persisting = None;
        doc.durable = heads;
        out.changed.push(id);
        if let Load::Lent { persisted, .. } = &mut doc.load {
            // Advertised, or stored further, once the document is back.
            *persisted = true;
            return;
        }
        if doc.doc.get_heads() == doc.durable {
            self.sync_all(id, out);
            self.forget_if_unused(id);
        } else {
            self.persist(id, out);
        }
    }

    // ---- loading ---------------------------------------------------------

    /// Runs `pending` now if the document is in memory; otherwise queues it
    /// and asks the caller to load the document.
    fn need_document(&mut self, id: DocumentId, pending: Pending, out: &mut Output) {
        let doc = self.documents.entry(id).or_insert_with(|| {
            out.load.push(id);
            Document::loading()
        });
        let queue = match &mut doc.load {
            Load::Ready => return self.run(id, pending, out),
            Load::Loading(queue) | Load::Lent { queue, .. } => queue,
        };
        let conn = match &pending {
            Pending::Sync { conn, .. } | Pending::Unavailable(conn) | Pending::Open(conn) => {
                Some(*conn)
            }
            Pending::Local(_) => None,
        };
        match conn {
            Some(conn) if queue.len() >= self.config.limits.max_pending_per_document => {
                self.fail(conn, ProtocolError::Backlog { document_id: id }, out)
            }
            _ => queue.push(pending),
        }
    }

    fn run(&mut self, id: DocumentId, pending: Pending, out: &mut Output) {
        match pending {
            Pending::Sync { conn, message } => self.sync_ready(conn, id, message, out),
            Pending::Unavailable(conn) => self.unavailable_ready(conn, id, out),
            Pending::Open(conn) => self.open_ready(conn, id, out),
            Pending::Local(changes) => self.local_ready(id, changes, out),
        }
    }

    // ---- with the document in memory --------------------------------------

    /// A `sync` or `request` (handled alike: a request is a sync from a peer
    /// without the document).
    fn sync_ready(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        message: sync::Message,
        out: &mut Output,
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return; // closed while the document loaded
        };
        let may_write = c.access.may_write(&id);
        if !self.attach(conn, id, may_write, PeerStatus::Active, out) {
            return;
        }
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        let context = Context {
            before: doc.doc.get_heads(),
            they_have_it: !message.heads.is_empty(),
            needed: message.need.clone(),
        };
        if peer.sync.read_only && !message.changes.is_empty() {
            // automerge's read-only state drops them; say so, for metrics.
            out.notices.push(Notice::ReadOnlyChanges {
                conn,
                document_id: id,
            });
        }
        let full = self.config.limits.automerge;
        let inline = self.config.limits.apply_inline_up_to;
        if !peer.sync.read_only && !message.changes.is_empty() {
            let entries: Vec<&[u8]> = message.changes.iter().collect();
            let len = entries.iter().map(|e| e.len()).sum();
            let quick = inline.min(full.for_len(len));
            let quick = Budget {
                per_input_byte: 0,
                floor: quick,
                max: quick,
            };
            match gapmap_guard::check_joined(&entries, quick) {
                Ok(_) => {}
                Err(Refusal::OverBudget { .. }) if quick.max < full.for_len(len) => {
                    return self.lend(conn, id, message, context, out);
                }
                Err(refused) => {
                    return self.fail(
                        conn,
                        ProtocolError::InvalidSyncMessage {
                            document_id: id,
                            reason: refused.to_string(),
                        },
                        out,
                    )
                }
            }
        }
        // Measured already: cheap enough to apply here.
        let received = apply::receive(&mut doc.doc, &mut peer.sync, message, None);
        self.after_receive(conn, id, context, received, out);
    }

    /// Hands the document out with `message` for a caller's thread to
    /// measure and apply ([`Apply`]).
    fn lend(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        message: sync::Message,
        context: Context,
        out: &mut Output,
    ) {
        self.next_lease += 1;
        let lease = self.next_lease;
        let budget = self.config.limits.automerge;
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        let sync = std::mem::replace(&mut peer.sync, sync::State::new());
        let lent = std::mem::replace(&mut doc.doc, Automerge::new());
        doc.load = Load::Lent {
            lease,
            conn,
            context: context.clone(),
            persisted: false,
            queue: Vec::new(),
        };
        out.apply.push(Apply {
            document_id: id,
            conn,
            lease,
            doc: Box::new(lent),
            sync,
            message,
            budget,
            context,
        });
    }

    /// What follows a peer's message applied (here or lent out): on a
    /// refusal, keep what applied and close; else sync on, as the rules say.
    fn after_receive(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        context: Context,
        received: Result<(), String>,
        out: &mut Output,
    ) {
        if let Err(reason) = received {
            // Changes that did apply before the error are valid; keep them.
            self.persist(id, out);
            return self.fail(
                conn,
                ProtocolError::InvalidSyncMessage {
                    document_id: id,
                    reason,
                },
                out,
            );
        }
        let deadline = self.now.plus_millis(self.config.limits.request_timeout_ms);
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        let Context {
            before,
            they_have_it,
            needed,
        } = context;
        // A peer that names changes it needs does not have them, whatever
        // automerge thinks it sent: without this, a message lost on the way
        // leaves both sides asking and answering forever, without the change.
        for hash in &needed {
            peer.sync.sent_hashes.remove(hash);
        }
        // (doc.exists(), borrowing only the document, not its peers)
        let exists = !doc.doc.get_heads().is_empty();
        let wanted_before = peer.status == PeerStatus::Wants;
        peer.status = match peer.status {
            _ if exists => PeerStatus::Active,
            // Still waiting for the rest of the answer to our request.
            asked @ PeerStatus::Asked { .. } => asked,
            // A peer that has it and may write it: fetch it from them.
            _ if they_have_it && !peer.sync.read_only => PeerStatus::Asked { deadline },
            _ => PeerStatus::Wants,
        };
        let fetching = !exists && they_have_it && matches!(peer.status, PeerStatus::Asked { .. });
        let changed = doc.doc.get_heads() != before;
        if exists {
            if changed {
                self.persist(id, out);
            }
            self.sync_peer(id, conn, out);
        } else {
            if fetching {
                // They have it but sent no changes yet: carry on the exchange
                // so they do (our empty heads advertise nothing).
                self.send_sync(conn, id, false, out);
            }
            let wants_now = self
                .documents
                .get(&id)
                .and_then(|d| d.peers.get(&conn))
                .is_some_and(|p| p.status == PeerStatus::Wants);
            if wants_now && !wanted_before {
                // A new request: peers we dialed that lacked the document
                // before may have it by now, so they are asked again.
                self.forget_unavailable_sources(id);
            }
            self.resolve_missing(id, out);
        }
    }

    /// Detaches the dialed peers that said they lack `id`, so that
    /// [`Self::resolve_missing`] asks them again.
    fn forget_unavailable_sources(&mut self, id: DocumentId) {
        let Some(doc) = self.documents.get(&id) else {
            return;
        };
        let sources: Vec<ConnId> = doc
            .peers
            .iter()
            .filter(|(conn, p)| {
                p.status == PeerStatus::Unavailable
                    && self
                        .connections
                        .get(conn)
                        .is_some_and(|c| c.role == Role::Client)
            })
            .map(|(&conn, _)| conn)
            .collect();
        for conn in sources {
            self.detach(conn, id);
        }
    }

    fn unavailable_ready(&mut self, conn: ConnId, id: DocumentId, out: &mut Output) {
        out.notices.push(Notice::Unavailable {
            conn,
            document_id: id,
        });
        if let Some(peer) = self
            .documents
            .get_mut(&id)
            .and_then(|d| d.peers.get_mut(&conn))
        {
            peer.status = PeerStatus::Unavailable;
        }
        self.resolve_missing(id, out);
        self.forget_if_unused(id);
    }

    fn open_ready(&mut self, conn: ConnId, id: DocumentId, out: &mut Output) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if !c.access.may_read(&id) {
            return; // we do not share it with this peer
        }
        let may_write = c.access.may_write(&id);
        let Some(doc) = self.documents.get(&id) else {
            return;
        };
        let exists = doc.exists();
        let deadline = self.now.plus_millis(self.config.limits.request_timeout_ms);
        if let Some(peer) = self
            .documents
            .get_mut(&id)
            .and_then(|d| d.peers.get_mut(&conn))
        {
            if exists {
                return self.sync_peer(id, conn, out);
            }
            if matches!(peer.status, PeerStatus::Asked { .. }) {
                return; // already asking
            }
            // Asking again (a retried clone): from a fresh sync state, since
            // automerge holds back a repeat of a message still "in flight".
            *peer = PeerDoc::new(may_write, PeerStatus::Asked { deadline });
            return self.send_sync(conn, id, true, out);
        }
        let status = if exists {
            PeerStatus::Active
        } else {
            PeerStatus::Asked { deadline }
        };
        if !self.attach(conn, id, may_write, status, out) {
            return;
        }
        if exists {
            self.sync_peer(id, conn, out);
        } else {
            self.send_sync(conn, id, true, out);
        }
    }

    fn local_ready(&mut self, id: DocumentId, changes: Vec<u8>, out: &mut Output) {
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let was_clean = !doc.is_dirty();
        if let Err(e) = doc.doc.load_incremental(&changes) {
            out.notices.push(Notice::InvalidLocalChange {
                document_id: id,
                error: e.to_string(),
            });
            return;
        }
        if was_clean {
            // Local changes arrive durable; so is everything else then.
            doc.durable = doc.doc.get_heads();
            self.sync_all(id, out);
        } else {
            // Remote changes are waiting for storage; the next store carries
            // these too (again), and the sync waits for it.
            self.persist(id, out);
        }
    }

    // ---- the rules -------------------------------------------------------

    /// Starts syncing `id` with `conn`; false if the connection is over its
    /// document limit (and is being closed).
    fn attach(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        may_write: bool,
        status: PeerStatus,
        out: &mut Output,
    ) -> bool {
        let limit = self.config.limits.max_documents_per_connection;
        let Some(c) = self.connections.get_mut(&conn) else {
            return false;
        };
        if !c.docs.contains(&id) {
            if c.docs.len() >= limit {
                self.fail(conn, ProtocolError::TooManyDocuments { limit }, out);
                return false;
            }
            c.docs.insert(id);
        }
        let saved = c.resume.remove(&id);
        if let Some(doc) = self.documents.get_mut(&id) {
            doc.peers
                .entry(conn)
                .or_insert_with(|| PeerDoc::resumed(may_write, status, saved.as_deref()));
        }
        true
    }

    /// Stops syncing `id` with `conn`.
    pub(super) fn detach(&mut self, conn: ConnId, id: DocumentId) {
        if let Some(c) = self.connections.get_mut(&conn) {
            c.docs.remove(&id);
        }
        if let Some(doc) = self.documents.get_mut(&id) {
            doc.peers.remove(&conn);
        }
    }

    /// Drops a document from memory once no peer syncs it and all of it is
    /// durable: storage has it, and the next peer to want it loads it again.
    /// This keeps a relay's memory to the documents in use.
    pub(super) fn forget_if_unused(&mut self, id: DocumentId) {
        if self
            .documents
            .get(&id)
            .is_some_and(|d| d.is_ready() && d.peers.is_empty() && !d.is_dirty())
        {
            self.documents.remove(&id);
        }
    }

    /// For a document we do not have that peers want: asks the peers we
    /// dialed that may write it, or, when there is no one (left) to ask,
    /// tells those who want it that it is unavailable.
    pub(super) fn resolve_missing(&mut self, id: DocumentId, out: &mut Output) {
        let Some(doc) = self.documents.get(&id) else {
            return;
        };
        if !doc.is_ready() || doc.exists() {
            return;
        }
        let wanting: Vec<ConnId> = doc
            .peers
            .iter()
            .filter(|(_, p)| p.status == PeerStatus::Wants)
            .map(|(&conn, _)| conn)
            .collect();
        if wanting.is_empty() {
            return;
        }
        let to_ask: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(conn, c)| {
                c.role == Role::Client
                    && c.peer.is_some()
                    && c.access.may_write(&id)
                    && !doc.peers.contains_key(conn)
            })
            .map(|(&conn, _)| conn)
            .collect();
        let deadline = self.now.plus_millis(self.config.limits.request_timeout_ms);
        for conn in to_ask {
            if self.attach(conn, id, true, PeerStatus::Asked { deadline }, out) {
                self.send_sync(conn, id, true, out);
            }
        }
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let waiting = doc
            .peers
            .values()
            .any(|p| matches!(p.status, PeerStatus::Asked { .. }));
        if waiting {
            return;
        }
        for conn in &wanting {
            if let Some(peer) = doc.peers.get_mut(conn) {
                peer.status = PeerStatus::Unavailable;
            }
        }
        for conn in wanting {
            self.send_unavailable(conn, id, out);
        }
    }

    pub(super) fn expire_requests(&mut self, out: &mut Output) {
        let now = self.now;
        let mut expired: Vec<(DocumentId, ConnId)> = Vec::new();
        for (&id, doc) in &self.documents {
            for (&conn, peer) in &doc.peers {
                if matches!(peer.status, PeerStatus::Asked { deadline } if now >= deadline) {
                    expired.push((id, conn));
                }
            }
        }
        for (id, conn) in expired {
            self.unavailable_ready(conn, id, out);
        }
    }

    /// Stores what is not durable yet, unless a store is already in flight
    /// (its confirmation stores the rest).
    fn persist(&mut self, id: DocumentId, out: &mut Output) {
        let Some(doc) = self.documents.get_mut(&id).filter(|d| d.is_ready()) else {
            return; // (a lent document is stored once it is back)
        };
        let heads = doc.doc.get_heads();
        if doc.persisting.is_some() || heads == doc.durable {
            return;
        }
        out.store.push(Persist {
            document_id: id,
            changes: doc.doc.save_after(&doc.durable),
            heads: heads.clone(),
        });
        doc.persisting = Some(heads);
    }

    fn sync_all(&mut self, id: DocumentId, out: &mut Output) {
        let peers: Vec<ConnId> = self
            .documents
            .get(&id)
            .map(|d| d.peers.keys().copied().collect())
            .unwrap_or_default();
        for conn in peers {
            self.sync_peer(id, conn, out);
        }
    }

    /// Sends the peer on `conn` whatever automerge says it needs of `id` —
    /// only when the document exists here and all of it is durable — and
    /// reports when both sides agree.
    pub(super) fn sync_peer(&mut self, id: DocumentId, conn: ConnId, out: &mut Output) {
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        if !doc.is_ready() || !doc.exists() || doc.is_dirty() {
            return;
        }
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        peer.status = PeerStatus::Active;
        self.send_sync(conn, id, false, out);
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let heads = doc.doc.get_heads();
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        if same_heads(peer.sync.their_heads.as_deref(), &heads)
            && peer.reported_in_sync.as_ref() != Some(&heads)
        {
            peer.reported_in_sync = Some(heads.clone());
            out.notices.push(Notice::InSync {
                conn,
                document_id: id,
                heads,
                sync_state: peer.sync.encode(),
            });
        }
    }

    /// Sends the peer on `conn` the next message automerge generates for
    /// `id`, as a `request` (asking for a document we do not have) or a
    /// `sync`. Callers check durability first.
    fn send_sync(&mut self, conn: ConnId, id: DocumentId, request: bool, out: &mut Output) {
        let Some(target_id) = self
            .connections
            .get(&conn)
            .and_then(|c| c.peer.as_ref())
            .map(|p| p.peer_id.clone())
        else {
            return;
        };
        let Some(doc) = self.documents.get_mut(&id) else {
            return;
        };
        let Some(peer) = doc.peers.get_mut(&conn) else {
            return;
        };
        let Some(message) = doc.doc.generate_sync_message(&mut peer.sync) else {
            return;
        };
        let (sender_id, data) = (self.config.peer_id.clone(), message.encode());
        out.send(
            conn,
            if request {
                Message::Request {
                    sender_id,
                    target_id,
                    document_id: id,
                    data,
                }
            } else {
                Message::Sync {
                    sender_id,
                    target_id,
                    document_id: id,
                    data,
                }
            },
        );
    }

    fn send_unavailable(&mut self, conn: ConnId, id: DocumentId, out: &mut Output) {
        if let Some(target_id) = self
            .connections
            .get(&conn)
            .and_then(|c| c.peer.as_ref())
            .map(|p| p.peer_id.clone())
        {
            out.send(
                conn,
                Message::DocUnavailable {
                    sender_id: self.config.peer_id.clone(),
                    target_id,
                    document_id: id,
                },
            );
        }
    }

    /// The connections syncing `id` that may read it, with their peer ids.
    fn readers_of(&self, id: DocumentId) -> Vec<(ConnId, crate::PeerId)> {
        let Some(doc) = self.documents.get(&id) else {
            return Vec::new();
        };
        doc.peers
            .keys()
            .filter_map(|conn| {
                let c = self.connections.get(conn)?;
                let peer = c.peer.as_ref()?;
                c.access
                    .may_read(&id)
                    .then(|| (*conn, peer.peer_id.clone()))
            })
            .collect()
    }
}
