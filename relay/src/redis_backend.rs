//! The Redis backend (`--backend redis://HOST:PORT`, `rediss://…` over TLS,
//! `redis+cluster://HOST:PORT,…` for a Redis Cluster): several relay
//! instances share their documents through Redis (docs/scaling.md).
//!
//! Keys of document `D` (the `{D}` hash tag keeps them on one Redis Cluster
//! node, and spreads documents over the nodes):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `gapmap:{D}:log` | stream | one entry per accepted write: `c` the Automerge changes, `o` the instance that wrote them |
//! | `gapmap:{D}:snap` | hash | `doc` a whole saved document, `upto` the last stream id it covers |
//! | `gapmap:{D}:lease` | string | the instance compacting the stream now (`SET NX PX`) |
//! | `gapmap:{D}:bell` | shard channel | on a Cluster, rung after each write (cluster.rs) |
//!
//! - **Writes**: changes a peer sent are `XADD`ed; the engine advertises
//!   their heads only after the reply (with `appendfsync always`, after the
//!   entry is fsynced to Redis's append-only file).
//! - **Fan-out**: one task per relay reads every stream of the documents
//!   the engine holds (`XREAD BLOCK` on one node; on a Cluster, where one
//!   `XREAD` cannot span slots, when the document's bell rings) and feeds other instances' entries
//!   into the engine, which syncs them to this relay's peers. Its own
//!   entries (`o`) are skipped, and changes it was fed are dropped from what
//!   it appends later, so nothing goes round twice.
//! - **Loading**: the snapshot and the whole stream in one script (atomic,
//!   one slot), so a compaction between the two reads cannot hide entries.
//! - **Compaction**: when a stream is long, one instance at a time (the one
//!   holding the lease) saves snapshot + stream as a new snapshot and trims
//!   the entries it covers, in one script that first checks it still holds
//!   the lease; entries younger than a grace period stay, so a relay whose
//!   reader lags a little still finds them.
//! - **Redis down**: every failure marks the storage unreachable (the engine
//!   then refuses changes and serves what it holds read-only); a probe every
//!   250 ms notices when it is back.

mod cluster;
mod compaction;
mod connect;
mod entries;
mod reader;

pub(crate) use connect::{certificates, is_redis_url, Target};

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use automerge::{Automerge, ChangeHash};
use gapmap_repo::backend::{Backend, BackendError, BoxFuture, Feed};
use gapmap_repo::DocumentId;
use gapmap_store::DocMeta;
use redis::{Client, RedisError, Value};

use cluster::Bells;
use connect::Conn;
use entries::{bytes_of, parse_entries, split_changes, EntryId};
use tokio_util::sync::CancellationToken;

/// How the backend behaves; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Compact a document's stream once it holds this many entries.
    pub compact_after: u64,
    /// Entries younger than this stay in the stream after a compaction.
    pub grace: Duration,
    /// How long a compaction lease lasts (the holder finishes well within).
    pub lease: Duration,
    /// What Automerge may materialise from one snapshot or entry read from
    /// Redis (bytes from outside this process, measured by the gate first).
    pub budget: gapmap_guard::Budget,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            compact_after: 500,
            grace: Duration::from_secs(60),
            lease: Duration::from_secs(30),
            budget: gapmap_guard::Budget::DEFAULT,
        }
    }
}

/// How long one blocking stream read waits.
const BLOCK: Duration = Duration::from_millis(1000);
/// How often reachability is probed while Redis is down (and, slower, up).
const PROBE_DOWN: Duration = Duration::from_millis(250);
const PROBE_UP: Duration = Duration::from_millis(1000);
/// Changes remembered per document as fed from other instances.
const SEEN: usize = 4096;

fn log_key(id: &DocumentId) -> String {
    format!("gapmap:{{{id}}}:log")
}

fn snap_key(id: &DocumentId) -> String {
    format!("gapmap:{{{id}}}:snap")
}

fn lease_key(id: &DocumentId) -> String {
    format!("gapmap:{{{id}}}:lease")
}

/// One document the engine holds: where its stream was read up to, and the
/// changes other instances made that were fed in (not to append them again).
#[derive(Default)]
struct Follow {
    pos: EntryId,
    seen: HashSet<ChangeHash>,
    seen_order: VecDeque<ChangeHash>,
}

impl Follow {
    fn remember(&mut self, hash: ChangeHash) {
        if self.seen.insert(hash) {
            self.seen_order.push_back(hash);
            if self.seen_order.len() > SEEN {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }
}

/// The Redis backend. Cheap to clone.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

/// One node, or a Cluster.
enum Mode {
    /// The stream reader opens its own connection from this client.
    Single(Box<Client>),
    /// The shard-channel subscriptions that drive the reader.
    Cluster(Arc<Bells>),
}

struct Inner {
    mode: Mode,
    /// Commands (reconnects by itself).
    conn: Conn,
    /// This instance's name in stream entries and leases.
    me: String,
    settings: Settings,
    follows: Mutex<HashMap<DocumentId, Follow>>,
    /// Documents this instance is compacting now (one task each).
    compacting: Mutex<HashSet<DocumentId>>,
    /// The reader connection's client id, to unblock it when a document is
    /// added (`CLIENT UNBLOCK`); 0 when none.
    reader_id: AtomicI64,
    /// Told when a document is added.
    added: tokio::sync::Notify,
    feed: OnceLock<Feed>,
    up: AtomicBool,
    /// Set to make the reader read every held document afresh (after it
    /// lost its connection, it may have missed entries since trimmed).
    resync: AtomicBool,
    stop: CancellationToken,
}

impl RedisBackend {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`, `rediss://…`,
    /// `redis+cluster://HOST:PORT[,HOST:PORT…]`, `rediss+cluster://…`),
    /// trusting `certs` for TLS instead of the system's roots; fails when
    /// Redis does not answer, so a misconfigured relay stops at once.
    pub async fn connect(
        url: &str,
        certs: Option<redis::TlsCertificates>,
        settings: Settings,
        stop: CancellationToken,
    ) -> Result<RedisBackend, String> {
        let shown = redacted(url);
        let shown = shown.as_str();
        let bad = |e: &dyn std::fmt::Display| format!("bad --backend URL {shown}: {e}");
        let unreachable = |e: RedisError| format!("cannot reach Redis at {shown}: {e}");
        let target = Target::parse(url).map_err(|e| bad(&e))?;
        let (mode, mut conn) = match &target {
            Target::Single(url) => {
                let client = connect::single_client(url, certs).map_err(|e| bad(&e))?;
                let conn = connect::single_manager(&client)
                    .await
                    .map_err(unreachable)?;
                (Mode::Single(Box::new(client)), Conn::Single(conn))
            }
            Target::Cluster(nodes) => {
                let client = connect::cluster_client(nodes, certs.clone()).map_err(|e| bad(&e))?;
                let conn = client.get_async_connection().await.map_err(unreachable)?;
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let bell_client = connect::bell_client(nodes, certs, tx).map_err(|e| bad(&e))?;
                let bell_conn = bell_client
                    .get_async_connection()
                    .await
                    .map_err(unreachable)?;
                let bells = Arc::new(Bells::new(bell_conn, rx));
                (Mode::Cluster(bells), Conn::Cluster(conn))
            }
        };
        let pong: Value = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("Redis at {shown} does not answer PING: {e}"))?;
        let cluster = matches!(mode, Mode::Cluster(_));
        tracing::info!(url = shown, cluster, pong = ?pong, "connected to Redis");
        warn_about_persistence(&mut conn).await;
        let me = format!("relay-{}", hex::encode(rand::random::<[u8; 6]>()));
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                mode,
                conn,
                me,
                settings,
                follows: Mutex::new(HashMap::new()),
                compacting: Mutex::new(HashSet::new()),
                reader_id: AtomicI64::new(0),
                added: tokio::sync::Notify::new(),
                feed: OnceLock::new(),
                up: AtomicBool::new(true),
                resync: AtomicBool::new(false),
                stop,
            }),
        })
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Acknowledged writes survive a Redis restart only with its append-only
/// file fsynced on every write; say so when that is not the setting (and
/// carry on when `CONFIG` is not allowed, as on some hosted Redis).
async fn warn_about_persistence(conn: &mut Conn) {
    let get = |name: &'static str| {
        let mut conn = conn.clone();
        async move {
            let reply: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut conn)
                .await;
            reply.ok().and_then(|v| v.get(1).cloned())
        }
    };
    match (get("appendonly").await, get("appendfsync").await) {
        (Some(a), Some(f)) if a == "yes" && f == "always" => {}
        (Some(a), Some(f)) => tracing::warn!(
            appendonly = %a,
            appendfsync = %f,
            "Redis is not set to fsync every write (appendonly yes, appendfsync always): a Redis crash can lose changes the relays acknowledged"
        ),
        _ => tracing::info!("cannot read Redis's persistence settings (CONFIG GET refused); make sure it runs with appendonly yes and appendfsync always"),
    }
}

impl Inner {
    fn feed(&self) -> Option<&Feed> {
        self.feed.get()
    }

    /// Records whether Redis answered; tells the engine on a change.
    fn set_up(&self, up: bool, reason: Option<String>) {
        if self.up.swap(up, Ordering::SeqCst) != up {
            if let Some(feed) = self.feed() {
                feed.available(up, reason);
            }
        }
    }

    /// A Redis error as the engine sees it; connection trouble marks Redis
    /// down.
    fn fail(&self, id: &DocumentId, err: RedisError) -> BackendError {
        if is_unreachable(&err) {
            self.set_up(false, Some(err.to_string()));
            BackendError::Unavailable(format!("Redis: {err}"))
        } else {
            BackendError::Corrupt {
                id: id.to_string(),
                reason: format!("Redis refused: {err}"),
            }
        }
    }

    fn follows(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, Follow>> {
        self.follows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn compacting(&self) -> std::sync::MutexGuard<'_, HashSet<DocumentId>> {
        self.compacting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads snapshot + stream of `id` in one transaction: the document
    /// (if Redis has any of it) and the last stream id read.
    async fn read(&self, id: &DocumentId) -> Result<(Option<Automerge>, EntryId), BackendError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("EVAL")
            .arg(READ)
            .arg(2)
            .arg(snap_key(id))
            .arg(log_key(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(id, e))?;
        let corrupt = |reason: &str| BackendError::Corrupt {
            id: id.to_string(),
            reason: reason.to_string(),
        };
        let Value::Array(parts) = reply else {
            return Err(corrupt("unexpected reply to the snapshot and stream read"));
        };
        let (snap, entries) = match parts.as_slice() {
            [Value::Array(snap), entries] => (snap, entries),
            _ => return Err(corrupt("unexpected reply to the snapshot and stream read")),
        };
        let snapshot = snap.first().and_then(bytes_of);
        let upto = snap
            .get(1)
            .and_then(bytes_of)
            .and_then(|b| EntryId::parse(std::str::from_utf8(&b).ok()?));
        let entries = parse_entries(entries);
        let mut pos = upto.unwrap_or_default();
        if let Some(last) = entries.last() {
            pos = pos.max(last.id);
        }
        if snapshot.is_none() && entries.is_empty() {
            return Ok((None, pos));
        }
        let id_text = id.to_string();
        let budget = self.settings.budget;
        let doc = tokio::task::spawn_blocking(move || -> Result<Automerge, String> {
            // Redis is outside this process: its bytes pass the gate first,
            // each as Automerge reads it (the snapshot, then each entry).
            let mut doc = match snapshot {
                Some(bytes) => {
                    gapmap_guard::check(&bytes, budget).map_err(|e| format!("snapshot: {e}"))?;
                    gapmap_guard::catch(|| Automerge::load(&bytes))
                        .map_err(|panic| format!("snapshot: {panic}"))?
                        .map_err(|e| format!("snapshot: {e}"))?
                }
                None => Automerge::new(),
            };
            for entry in entries {
                if let Some(changes) = entry.changes {
                    if let Err(err) = gapmap_guard::check(&changes, budget) {
                        tracing::warn!(id = %id_text, entry = %entry.id.text(), %err, "a stream entry is refused by the gate; skipped");
                        continue;
                    }
                    let loaded = gapmap_guard::catch(|| doc.load_incremental(&changes))
                        .map_err(|panic| format!("malformed Automerge data ({panic})"))
                        .and_then(|r| r.map_err(|e| e.to_string()));
                    if let Err(err) = loaded {
                        tracing::warn!(id = %id_text, entry = %entry.id.text(), %err, "a stream entry does not load; skipped");
                    }
                }
            }
            Ok(doc)
        })
        .await
        .map_err(|_| BackendError::Stopped)?
        .map_err(|reason| corrupt(&reason))?;
        Ok((Some(doc), pos))
    }
}

/// Snapshot and stream in one step (a script runs atomically, and touches
/// one slot: both keys carry the document's hash tag).
const READ: &str = r#"
return {redis.call('HMGET', KEYS[1], 'doc', 'upto'), redis.call('XRANGE', KEYS[2], '-', '+')}
"#;

/// Whether Redis cannot take writes now (down, cut off, or refusing them
/// for a while: out of memory, a replica, loading its file…), as opposed to
/// refusing this one command.
fn is_unreachable(err: &RedisError) -> bool {
    const PASSING: [&str; 8] = [
        "LOADING",
        "OOM",
        "READONLY",
        "MASTERDOWN",
        "BUSY",
        "NOREPLICAS",
        "TRYAGAIN",
        "CLUSTERDOWN",
    ];
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.code().is_some_and(|code| PASSING.contains(&code))
}

impl Backend for RedisBackend {
    fn read(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.read(&id).await?.0) })
    }

    fn load(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if let Mode::Cluster(bells) = &inner.mode {
                bells.subscribe(&id).await.map_err(|e| inner.fail(&id, e))?;
            }
            let (doc, pos) = inner.read(&id).await?;
            inner.set_up(true, None);
            {
                let mut follows = inner.follows();
                let follow = follows.entry(id).or_default();
                follow.pos = follow.pos.max(pos);
            }
            match &inner.mode {
                // A bell may have rung between the read and now, before
                // the document was followed: read its tail once.
                Mode::Cluster(bells) => bells.ring(id),
                Mode::Single(_) => {
                    // The reader may be blocked on the other streams: wake
                    // it so it reads this one too.
                    inner.added.notify_one();
                    let reader = inner.reader_id.load(Ordering::SeqCst);
                    if reader > 0 {
                        let mut conn = inner.conn.clone();
                        let _: Result<Value, _> = redis::cmd("CLIENT")
                            .arg("UNBLOCK")
                            .arg(reader)
                            .query_async(&mut conn)
                            .await;
                    }
                }
            }
            Ok(doc)
        })
    }

    fn append(
        &self,
        persist: Arc<gapmap_repo::Persist>,
        _meta: DocMeta,
    ) -> BoxFuture<Result<(), BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let id = persist.document_id;
            // Changes fed from other instances are in the stream already.
            let changes: Vec<u8> = match split_changes(&persist.changes) {
                Some(chunks) => {
                    let follows = inner.follows();
                    let seen = follows.get(&id).map(|f| &f.seen);
                    chunks
                        .into_iter()
                        .filter(|(hash, _)| !seen.is_some_and(|s| s.contains(hash)))
                        .flat_map(|(_, chunk)| chunk.iter().copied())
                        .collect()
                }
                None => persist.changes.clone(),
            };
            if changes.is_empty() {
                return Ok(());
            }
            let mut conn = inner.conn.clone();
            // XLEN rides along (O(1)) to tell when to compact; on a Cluster
            // the bell too (same slot, so the same node and one round trip).
            let mut pipe = redis::pipe();
            pipe.cmd("XADD")
                .arg(log_key(&id))
                .arg("*")
                .arg("c")
                .arg(changes)
                .arg("o")
                .arg(&inner.me)
                .cmd("XLEN")
                .arg(log_key(&id));
            if matches!(inner.mode, Mode::Cluster(_)) {
                pipe.cmd("SPUBLISH")
                    .arg(cluster::bell_key(&id))
                    .arg(&inner.me)
                    .ignore();
            }
            let (_entry, len): (String, u64) = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| inner.fail(&id, e))?;
            inner.set_up(true, None);
            if len >= inner.settings.compact_after && inner.compacting().insert(id) {
                let inner = inner.clone();
                tokio::spawn(async move {
                    inner.clone().maybe_compact(id).await;
                    inner.compacting().remove(&id);
                });
            }
            Ok(())
        })
    }

    fn start(&self, feed: Feed) {
        if self.inner.feed.set(feed).is_err() {
            return;
        }
        match &self.inner.mode {
            Mode::Single(_) => {
                tokio::spawn(reader::read_streams(self.inner.clone()));
            }
            Mode::Cluster(bells) => cluster::start(self.inner.clone(), bells.clone()),
        }
        tokio::spawn(reader::probe(self.inner.clone()));
    }

    fn release(&self, id: DocumentId) {
        self.inner.follows().remove(&id);
        if let Mode::Cluster(bells) = &self.inner.mode {
            bells.unsubscribe(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("redis://:s3cret@10.0.0.5:6379/2"),
            "redis://***@10.0.0.5:6379/2"
        );
        assert_eq!(redacted("redis://user:pw@host:1"), "redis://***@host:1");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redacted("rediss+cluster://:pw@a:1,b:2"),
            "rediss+cluster://***@a:1,b:2"
        );
    }

    #[test]
    fn keys_hash_tag_the_document() {
        let id = DocumentId::from_bytes([7; 16]);
        for key in [log_key(&id), snap_key(&id), lease_key(&id)] {
            assert!(key.contains(&format!("{{{id}}}")), "{key}");
        }
    }
}
