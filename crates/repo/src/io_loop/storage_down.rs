//! The loop while a shared storage is down: every connection is read-only
//! for the engine, and writers are told why.

use std::time::Duration;

use gapmap_proto::{Access, ConnId, Event};

use super::Loop;

/// What a peer that sends changes while the storage is down is told.
const STORAGE_DOWN: &str = "the relay cannot store changes right now (its document storage is unreachable); nothing was stored: try again later";

impl Loop {
    /// Whether the peer on `conn`, which its token lets write, holds heads
    /// of a document that we lack — changes it would send us, were it not
    /// read-only now. (Automerge tells a peer that our side is read-only,
    /// and the peer then does not send its changes at all: this is how we
    /// know it has some.)
    pub(super) fn has_changes_to_write(&self, conn: ConnId) -> bool {
        use automerge::ReadDoc as _;
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        self.engine.documents_of(conn).any(|id| {
            if !c.granted.may_write(&id) {
                return false;
            }
            let Some(theirs) = self.engine.sync_status(conn, &id).and_then(|s| s.theirs) else {
                return false;
            };
            let doc = self.engine.document(&id);
            theirs
                .iter()
                .any(|h| doc.is_none_or(|d| d.get_change_by_hash(h).is_none()))
        })
    }

    /// The access the engine gives a connection: read-only while the
    /// storage is down.
    pub(super) fn effective(&self, granted: &Access) -> Access {
        if self.storage_down.is_some() {
            Access {
                write: false,
                ..granted.clone()
            }
        } else {
            granted.clone()
        }
    }

    /// The backend went down or came back: while it is down every
    /// connection is read-only for the engine, so that no change is taken
    /// that cannot be stored; peers that send one are told (see
    /// [`STORAGE_DOWN`]).
    pub(super) fn storage_available(&mut self, up: bool, reason: Option<String>) {
        let was_down = self.storage_down.is_some();
        if up != was_down {
            return;
        }
        if up {
            tracing::info!("the document storage is reachable again; taking changes");
            self.storage_down = None;
        } else {
            let reason = reason.unwrap_or_else(|| "unreachable".into());
            tracing::error!(%reason, "the document storage is unreachable: refusing changes and serving documents read-only until it is back");
            self.storage_down = Some(reason);
        }
        self.metrics.set_storage_up(up);
        let conns: Vec<(ConnId, Access)> = self
            .conns
            .iter()
            .map(|(conn, c)| (*conn, self.effective(&c.granted)))
            .collect();
        for (conn, access) in conns {
            self.event(Event::AccessChanged { conn, access }, None);
        }
    }

    /// Tells a peer whose changes were refused because the storage is down
    /// why, and closes its connection: its sync cannot finish here, and a
    /// client with other relays to try moves on.
    pub(super) fn refuse_for_storage(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let error = gapmap_proto::Message::Error {
            message: STORAGE_DOWN.into(),
        };
        let _ = c.outgoing.try_send(error.encode());
        // Dropping the sender makes the writer send what is queued and
        // close. A moment later, not at once: the peer is to read the error
        // and close itself, so that it reports the message rather than a
        // connection that merely ended.
        let (outgoing, shutdown) = (c.outgoing, self.shutdown.clone());
        self.tracker.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => {}
            }
            drop(outgoing);
        });
        let output = self
            .engine
            .handle(self.now(), Event::ConnectionClosed { conn });
        self.carry_out(output);
    }
}
