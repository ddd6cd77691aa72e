//! Compaction: one instance at a time (the lease holder) folds a long
//! stream into the snapshot and trims what the snapshot covers.

use std::sync::Arc;
use std::time::Instant;

use gapmap_repo::DocumentId;

use super::connect::Conn;
use super::entries::EntryId;
use super::{lease_key, log_key, snap_key, Inner};

impl Inner {
    /// Compacts the stream of `id` (found long) unless another instance
    /// holds the lease.
    pub(super) async fn maybe_compact(self: Arc<Self>, id: DocumentId) {
        let mut conn = self.conn.clone();
        let lease_ms = self.settings.lease.as_millis() as u64;
        let got: Option<String> = redis::cmd("SET")
            .arg(lease_key(&id))
            .arg(&self.me)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        if got.is_none() {
            return; // another instance compacts it
        }
        let started = Instant::now();
        let outcome = self.compact(&id, &mut conn).await;
        match outcome {
            Ok(Some(upto)) => {
                tracing::debug!(%id, upto = %upto.text(), took = ?started.elapsed(), "stream compacted")
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%id, %err, "compaction failed; the stream stays as it is"),
        }
    }

    async fn compact(&self, id: &DocumentId, conn: &mut Conn) -> Result<Option<EntryId>, String> {
        let (doc, last) = self.read(id).await.map_err(|e| e.to_string())?;
        let Some(doc) = doc else {
            self.release_lease(id, conn).await;
            return Ok(None);
        };
        let snapshot = tokio::task::spawn_blocking(move || doc.save())
            .await
            .map_err(|e| e.to_string())?;
        // The clock of the node that names the stream's entries (on a
        // Cluster a bare TIME would go to any node).
        let (secs, micros): (u64, u64) = redis::cmd("EVAL")
            .arg("return redis.call('TIME')")
            .arg(1)
            .arg(log_key(id))
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let now_ms = secs * 1000 + micros / 1000;
        let grace_ms = self.settings.grace.as_millis() as u64;
        let keep_from = EntryId(now_ms.saturating_sub(grace_ms), 0);
        let min_id = last.next().min(keep_from);
        let committed: i64 = redis::cmd("EVAL")
            .arg(COMMIT)
            .arg(3)
            .arg(lease_key(id))
            .arg(snap_key(id))
            .arg(log_key(id))
            .arg(&self.me)
            .arg(snapshot)
            .arg(last.text())
            .arg(min_id.text())
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        if committed == 1 {
            Ok(Some(last))
        } else {
            Err("the lease expired before the snapshot was written".into())
        }
    }

    async fn release_lease(&self, id: &DocumentId, conn: &mut Conn) {
        let _: Result<i64, _> = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(lease_key(id))
            .arg(&self.me)
            .query_async(conn)
            .await;
    }
}

/// Writes the snapshot and trims the stream only if this instance still
/// holds the lease: a holder that stalled past its lease cannot overwrite
/// the work of the one that took over.
const COMMIT: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'doc', ARGV[2], 'upto', ARGV[3])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
redis.call('DEL', KEYS[1])
return 1
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;
