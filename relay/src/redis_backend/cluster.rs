//! The fan-out on a Redis Cluster.
//!
//! One `XREAD` may only name keys of one hash slot, and every document has
//! its own slot, so one blocking read cannot cover a node's documents.
//! Instead each write also publishes the document's shard channel
//! (`SPUBLISH gapmap:{D}:bell`, served by the node of the document's slot),
//! the relay subscribes (`SSUBSCRIBE`) to the channels of the documents it
//! holds — one RESP3 connection per master node, kept by the cluster client,
//! which re-subscribes after a failover or a slot migration — and reads a
//! document's stream (`XRANGE` after its position) when its bell rings.
//! Notifications are not durable, so the relay also reads every held stream
//! every [`SWEEP`], and everything afresh after a subscription connection
//! dropped (entries may have been trimmed meanwhile).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gapmap_repo::DocumentId;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::entries::{parse_entries, text_of};
use super::reader::{feed_entries, resync};
use super::{is_unreachable, log_key, Inner, PROBE_DOWN};

/// How often every held stream is read whatever the notifications said.
const SWEEP: Duration = Duration::from_secs(5);
/// Entries read per `XRANGE`.
const PAGE: usize = 1000;

pub(super) fn bell_key(id: &DocumentId) -> String {
    format!("gapmap:{{{id}}}:bell")
}

/// The subscription side of a Cluster backend.
pub(super) struct Bells {
    pub(super) conn: ClusterConnection,
    pushes: Mutex<Option<UnboundedReceiver<PushInfo>>>,
    /// Documents whose stream may hold entries not read yet.
    dirty: Mutex<HashSet<DocumentId>>,
    rang: tokio::sync::Notify,
}

impl Bells {
    pub(super) fn new(conn: ClusterConnection, pushes: UnboundedReceiver<PushInfo>) -> Bells {
        Bells {
            conn,
            pushes: Mutex::new(Some(pushes)),
            dirty: Mutex::new(HashSet::new()),
            rang: tokio::sync::Notify::new(),
        }
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, HashSet<DocumentId>> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `id` to be read soon.
    pub(super) fn ring(&self, id: DocumentId) {
        self.dirty().insert(id);
        self.rang.notify_one();
    }

    /// Subscribes to `id`'s bell (before its stream is first read, so no
    /// entry written after that read goes unannounced).
    pub(super) async fn subscribe(&self, id: &DocumentId) -> Result<(), RedisError> {
        let mut conn = self.conn.clone();
        conn.ssubscribe(bell_key(id)).await
    }

    pub(super) fn unsubscribe(&self, id: DocumentId) {
        let mut conn = self.conn.clone();
        tokio::spawn(async move {
            let _ = conn.sunsubscribe(bell_key(&id)).await;
        });
    }
}

/// The document a bell channel name belongs to.
fn bell_document(channel: &Value) -> Option<DocumentId> {
    let name = text_of(channel)?;
    let id = name.strip_prefix("gapmap:{")?.strip_suffix("}:bell")?;
    id.parse().ok()
}

/// Runs the push listener and the reader until the relay stops.
pub(super) fn start(inner: Arc<Inner>, bells: Arc<Bells>) {
    let pushes = bells
        .pushes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(mut pushes) = pushes {
        let listener = inner.clone();
        let listener_bells = bells.clone();
        tokio::spawn(async move {
            loop {
                let push = tokio::select! {
                    push = pushes.recv() => push,
                    _ = listener.stop.cancelled() => return,
                };
                let Some(push) = push else { return };
                match push.kind {
                    PushKind::SMessage => {
                        if let Some(id) = push.data.first().and_then(bell_document) {
                            listener_bells.ring(id);
                        }
                    }
                    PushKind::Disconnection => {
                        tracing::debug!("a Redis Cluster subscription connection dropped; reading every held document afresh");
                        listener.resync.store(true, Ordering::SeqCst);
                        listener_bells.rang.notify_one();
                    }
                    _ => {}
                }
            }
        });
    }
    tokio::spawn(read_rung(inner, bells));
}

async fn read_rung(inner: Arc<Inner>, bells: Arc<Bells>) {
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let all = tokio::select! {
            _ = bells.rang.notified() => false,
            _ = sweep.tick() => true,
            _ = inner.stop.cancelled() => return,
        };
        if inner.resync.swap(false, Ordering::SeqCst) {
            resync(&inner).await;
        }
        let ids: Vec<DocumentId> = if all {
            bells.dirty().clear();
            inner.follows().keys().copied().collect()
        } else {
            bells.dirty().drain().collect()
        };
        let mut reads = tokio::task::JoinSet::new();
        for id in ids {
            let inner = inner.clone();
            reads.spawn(async move { (id, read_tail(&inner, id).await) });
        }
        let mut failed = false;
        while let Some(done) = reads.join_next().await {
            let Ok((id, result)) = done else { continue };
            if let Err(err) = result {
                tracing::debug!(%id, %err, "cannot read a stream; trying again");
                if is_unreachable(&err) {
                    inner.set_up(false, Some(err.to_string()));
                }
                bells.dirty().insert(id);
                failed = true;
            }
        }
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(PROBE_DOWN) => {}
                _ = inner.stop.cancelled() => return,
            }
            bells.rang.notify_one();
        }
    }
}

/// Reads and feeds the entries of `id`'s stream after its position.
async fn read_tail(inner: &Arc<Inner>, id: DocumentId) -> Result<(), RedisError> {
    loop {
        let Some(pos) = inner.follows().get(&id).map(|f| f.pos) else {
            return Ok(()); // released
        };
        let mut conn = inner.conn.clone();
        let reply: Value = redis::cmd("XRANGE")
            .arg(log_key(&id))
            .arg(pos.next().text())
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut conn)
            .await?;
        inner.set_up(true, None);
        let entries = parse_entries(&reply);
        let full = entries.len() >= PAGE;
        feed_entries(inner, id, entries);
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bells_name_their_document() {
        let id = DocumentId::from_bytes([9; 16]);
        let channel = Value::BulkString(bell_key(&id).into_bytes());
        assert_eq!(bell_document(&channel), Some(id));
        assert_eq!(
            bell_document(&Value::BulkString(b"gapmap:{x}:bell".to_vec())),
            None
        );
        assert_eq!(bell_document(&Value::Nil), None);
    }
}
