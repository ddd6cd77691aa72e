//! The stream reader: one per relay, reading the streams of every document
//! the engine holds and feeding other instances' entries into it; and the
//! reachability probe.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use gapmap_repo::DocumentId;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Value};

use super::entries::{parse_entries, split_changes, stream_replies, Entry, EntryId};
use super::{is_unreachable, log_key, Inner, BLOCK, PROBE_DOWN, PROBE_UP};

/// Pings Redis: every 250 ms while it is down (to notice it is back), every
/// second while up (to notice an outage before a write does).
pub(super) async fn probe(inner: Arc<Inner>) {
    loop {
        let wait = if inner.up.load(Ordering::SeqCst) {
            PROBE_UP
        } else {
            PROBE_DOWN
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.stop.cancelled() => return,
        }
        let mut conn = inner.conn.clone();
        let pong: Result<String, RedisError> = redis::cmd("PING").query_async(&mut conn).await;
        match pong {
            Ok(_) => inner.set_up(true, None),
            Err(err) if is_unreachable(&err) => inner.set_up(false, Some(err.to_string())),
            Err(err) => tracing::debug!(%err, "Redis answered PING with an error"),
        }
    }
}

/// Reads the streams of every held document and feeds other instances'
/// entries into the engine. Runs until the relay stops.
pub(super) async fn read_streams(inner: Arc<Inner>) {
    let super::Mode::Single(client) = &inner.mode else {
        return;
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
    let mut failed = false;
    while !inner.stop.is_cancelled() {
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await;
        let mut conn = match conn {
            Ok(conn) => conn,
            Err(err) => {
                if is_unreachable(&err) {
                    inner.set_up(false, Some(err.to_string()));
                }
                failed = true;
                tokio::select! {
                    _ = tokio::time::sleep(PROBE_DOWN) => continue,
                    _ = inner.stop.cancelled() => return,
                }
            }
        };
        let client_id: Result<i64, RedisError> =
            redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await;
        inner
            .reader_id
            .store(client_id.unwrap_or(0), Ordering::SeqCst);
        if failed {
            // Entries may have been trimmed while we could not read: read
            // every held document afresh.
            inner.resync.store(true, Ordering::SeqCst);
            failed = false;
        }
        if let Err(err) = read_loop(&inner, &mut conn).await {
            tracing::debug!(%err, "the stream reader lost Redis; reconnecting");
            if is_unreachable(&err) {
                inner.set_up(false, Some(err.to_string()));
            }
            inner.reader_id.store(0, Ordering::SeqCst);
            failed = true;
            tokio::select! {
                _ = tokio::time::sleep(PROBE_DOWN) => {}
                _ = inner.stop.cancelled() => return,
            }
        }
    }
}

async fn read_loop(inner: &Arc<Inner>, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
    loop {
        if inner.stop.is_cancelled() {
            return Ok(());
        }
        if inner.resync.swap(false, Ordering::SeqCst) {
            resync(inner).await;
        }
        let streams: Vec<(DocumentId, EntryId)> =
            inner.follows().iter().map(|(id, f)| (*id, f.pos)).collect();
        if streams.is_empty() {
            tokio::select! {
                _ = inner.added.notified() => {}
                _ = tokio::time::sleep(BLOCK) => {}
                _ = inner.stop.cancelled() => return Ok(()),
            }
            continue;
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS");
        for (id, _) in &streams {
            cmd.arg(log_key(id));
        }
        for (_, pos) in &streams {
            cmd.arg(pos.text());
        }
        let reply: Value = tokio::select! {
            reply = cmd.query_async(conn) => reply?,
            _ = inner.stop.cancelled() => return Ok(()),
        };
        inner.set_up(true, None);
        let by_key: HashMap<String, DocumentId> =
            streams.iter().map(|(id, _)| (log_key(id), *id)).collect();
        for (key, entries) in stream_replies(&reply) {
            let Some(id) = by_key.get(&key) else {
                continue;
            };
            feed_entries(inner, *id, parse_entries(entries));
        }
    }
}

pub(super) fn feed_entries(inner: &Arc<Inner>, id: DocumentId, entries: Vec<Entry>) {
    let mut to_feed = Vec::new();
    {
        let mut follows = inner.follows();
        let Some(follow) = follows.get_mut(&id) else {
            return; // released meanwhile
        };
        for entry in entries {
            if entry.id <= follow.pos {
                continue;
            }
            follow.pos = entry.id;
            if entry.origin.as_deref() == Some(inner.me.as_str()) {
                continue;
            }
            let Some(changes) = entry.changes else {
                continue;
            };
            // Applied by the engine as they are: refused here if the gate
            // would refuse them from a peer.
            if let Err(err) = gapmap_guard::check(&changes, inner.settings.budget) {
                tracing::warn!(%id, entry = %entry.id.text(), %err, "a stream entry is refused by the gate; not fed");
                continue;
            }
            if let Some(chunks) = split_changes(&changes) {
                for (hash, _) in chunks {
                    follow.remember(hash);
                }
            }
            to_feed.push(changes);
        }
    }
    if let Some(feed) = inner.feed() {
        for changes in to_feed {
            feed.changes(id, changes);
        }
    }
}

/// Reads every held document whole and feeds it in (after the reader was
/// cut off: the entries it missed may have been compacted away).
pub(super) async fn resync(inner: &Arc<Inner>) {
    let ids: Vec<DocumentId> = inner.follows().keys().copied().collect();
    for id in ids {
        match inner.read(&id).await {
            Ok((Some(doc), pos)) => {
                let saved = tokio::task::spawn_blocking(move || doc.save()).await;
                let Ok(saved) = saved else { return };
                if let Some(follow) = inner.follows().get_mut(&id) {
                    follow.pos = follow.pos.max(pos);
                }
                if let Some(feed) = inner.feed() {
                    feed.changes(id, saved);
                }
            }
            Ok((None, _)) => {}
            Err(err) => {
                tracing::debug!(%id, %err, "cannot read a document afresh; trying again");
                inner.resync.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}
