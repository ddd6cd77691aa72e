//! The Redis backend (`--backend redis://HOST:PORT`): several relay
//! instances share their documents through one Redis (docs/scaling.md).
//!
//! Keys of document `D` (the `{D}` hash tag keeps them on one Redis Cluster
//! node, and spreads documents over the nodes):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `gapmap:{D}:log` | stream | one entry per accepted write: `c` the Automerge changes, `o` the instance that wrote them |
//! | `gapmap:{D}:snap` | hash | `doc` a whole saved document, `upto` the last stream id it covers |
//! | `gapmap:{D}:lease` | string | the instance compacting the stream now (`SET NX PX`) |
//!
//! - **Writes**: changes a peer sent are `XADD`ed; the engine advertises
//!   their heads only after the reply (with `appendfsync always`, after the
//!   entry is fsynced to Redis's append-only file).
//! - **Fan-out**: one task per relay reads every stream of the documents
//!   the engine holds (`XREAD BLOCK`) and feeds other instances' entries
//!   into the engine, which syncs them to this relay's peers. Its own
//!   entries (`o`) are skipped, and changes it was fed are dropped from what
//!   it appends later, so nothing goes round twice.
//! - **Loading**: the snapshot and the whole stream in one `MULTI`, so a
//!   compaction between the two reads cannot hide entries.
//! - **Compaction**: when a stream is long, one instance at a time (the one
//!   holding the lease) saves snapshot + stream as a new snapshot and trims
//!   the entries it covers, in one script that first checks it still holds
//!   the lease; entries younger than a grace period stay, so a relay whose
//!   reader lags a little still finds them.
//! - **Redis down**: every failure marks the storage unreachable (the engine
//!   then refuses changes and serves what it holds read-only); a probe every
//!   250 ms notices when it is back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use gapmap_repo::backend::{Backend, BackendError, BoxFuture, Feed};
use gapmap_repo::DocumentId;
use gapmap_store::DocMeta;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisError, Value};
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            compact_after: 500,
            grace: Duration::from_secs(60),
            lease: Duration::from_secs(30),
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

/// A stream entry id, `ms-seq`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct EntryId(u64, u64);

impl EntryId {
    fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }

    fn text(self) -> String {
        format!("{}-{}", self.0, self.1)
    }

    /// The smallest id after this one.
    fn next(self) -> EntryId {
        match self.1.checked_add(1) {
            Some(seq) => EntryId(self.0, seq),
            None => EntryId(self.0.saturating_add(1), 0),
        }
    }
}

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

struct Inner {
    client: Client,
    /// Commands (reconnects by itself).
    conn: ConnectionManager,
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
    /// Connects to `url` (`redis://HOST:PORT[/DB]`); fails when Redis does
    /// not answer, so a misconfigured relay stops at once.
    pub async fn connect(
        url: &str,
        settings: Settings,
        stop: CancellationToken,
    ) -> Result<RedisBackend, String> {
        let client = Client::open(url).map_err(|e| {
            let url = redacted(url);
            format!("bad --backend URL {url}: {e}")
        })?;
        let url = redacted(url);
        let url = url.as_str();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| format!("cannot reach Redis at {url}: {e}"))?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("Redis at {url} does not answer PING: {e}"))?;
        tracing::info!(url, %pong, "connected to Redis");
        warn_about_persistence(&mut conn).await;
        let me = format!("relay-{}", hex::encode(rand::random::<[u8; 6]>()));
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                client,
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
fn redacted(url: &str) -> String {
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
async fn warn_about_persistence(conn: &mut ConnectionManager) {
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
        let reply: Value = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(snap_key(id))
            .arg("doc")
            .arg("upto")
            .cmd("XRANGE")
            .arg(log_key(id))
            .arg("-")
            .arg("+")
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
        let doc = tokio::task::spawn_blocking(move || -> Result<Automerge, String> {
            let mut doc = match snapshot {
                Some(bytes) => Automerge::load(&bytes).map_err(|e| format!("snapshot: {e}"))?,
                None => Automerge::new(),
            };
            for entry in entries {
                if let Some(changes) = entry.changes {
                    if let Err(err) = doc.load_incremental(&changes) {
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

    /// Compacts the stream of `id` (found long) unless another instance
    /// holds the lease.
    async fn maybe_compact(self: Arc<Self>, id: DocumentId) {
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

    async fn compact(
        &self,
        id: &DocumentId,
        conn: &mut ConnectionManager,
    ) -> Result<Option<EntryId>, String> {
        let (doc, last) = self.read(id).await.map_err(|e| e.to_string())?;
        let Some(doc) = doc else {
            self.release_lease(id, conn).await;
            return Ok(None);
        };
        let snapshot = tokio::task::spawn_blocking(move || doc.save())
            .await
            .map_err(|e| e.to_string())?;
        let (secs, micros): (u64, u64) = redis::cmd("TIME")
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

    async fn release_lease(&self, id: &DocumentId, conn: &mut ConnectionManager) {
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

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn text_of(value: &Value) -> Option<String> {
    bytes_of(value).and_then(|b| String::from_utf8(b).ok())
}

/// One stream entry as written by [`RedisBackend::append`].
struct Entry {
    id: EntryId,
    changes: Option<Vec<u8>>,
    origin: Option<String>,
}

/// Entries of an `XRANGE` / one stream of an `XREAD` reply; anything else
/// is skipped, never trusted.
fn parse_entries(value: &Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = EntryId::parse(&text_of(pair.first()?)?)?;
            let mut entry = Entry {
                id,
                changes: None,
                origin: None,
            };
            if let Some(Value::Array(fields)) = pair.get(1) {
                for kv in fields.chunks(2) {
                    match (kv.first().and_then(text_of).as_deref(), kv.get(1)) {
                        (Some("c"), Some(v)) => entry.changes = bytes_of(v),
                        (Some("o"), Some(v)) => entry.origin = text_of(v),
                        _ => {}
                    }
                }
            }
            Some(entry)
        })
        .collect()
}

/// Splits what `Automerge::save_after` returns (change chunks one after the
/// other) into the chunks and their change hashes; `None` when it is
/// anything else (a whole document), which is then appended as it is.
fn split_changes(bytes: &[u8]) -> Option<Vec<(ChangeHash, &[u8])>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let kind = rest[8];
        if kind != 1 && kind != 2 {
            return None; // 0 is a document chunk
        }
        let mut len: u64 = 0;
        let mut at = 9;
        let mut shift = 0;
        loop {
            let byte = *rest.get(at)?;
            at += 1;
            len |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        let chunk = rest.get(..end)?;
        let change = automerge::Change::from_bytes(chunk.to_vec()).ok()?;
        out.push((change.hash(), chunk));
        rest = &rest[end..];
    }
    Some(out)
}

impl Backend for RedisBackend {
    fn read(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.read(&id).await?.0) })
    }

    fn load(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (doc, pos) = inner.read(&id).await?;
            inner.set_up(true, None);
            {
                let mut follows = inner.follows();
                let follow = follows.entry(id).or_default();
                follow.pos = follow.pos.max(pos);
            }
            // The reader may be blocked on the other streams: wake it so it
            // reads this one too.
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
            // XLEN rides along (O(1)) to tell when to compact.
            let (_entry, len): (String, u64) = redis::pipe()
                .cmd("XADD")
                .arg(log_key(&id))
                .arg("*")
                .arg("c")
                .arg(changes)
                .arg("o")
                .arg(&inner.me)
                .cmd("XLEN")
                .arg(log_key(&id))
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
        tokio::spawn(read_streams(self.inner.clone()));
        tokio::spawn(probe(self.inner.clone()));
    }

    fn release(&self, id: DocumentId) {
        self.inner.follows().remove(&id);
    }
}

/// Pings Redis: every 250 ms while it is down (to notice it is back), every
/// second while up (to notice an outage before a write does).
async fn probe(inner: Arc<Inner>) {
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
async fn read_streams(inner: Arc<Inner>) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
    let mut failed = false;
    while !inner.stop.is_cancelled() {
        let conn = inner
            .client
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

/// `(stream key, entries)` of an `XREAD` reply (RESP2 array or RESP3 map;
/// nil when the block timed out or was interrupted).
fn stream_replies(reply: &Value) -> Vec<(String, &Value)> {
    match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) => Some((text_of(pair.first()?)?, pair.get(1)?)),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((text_of(k)?, v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn feed_entries(inner: &Arc<Inner>, id: DocumentId, entries: Vec<Entry>) {
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
async fn resync(inner: &Arc<Inner>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn entry_ids_order_and_step() {
        let a = EntryId::parse("1700000000000-3").unwrap();
        assert_eq!(a.text(), "1700000000000-3");
        assert!(a < EntryId::parse("1700000000000-10").unwrap());
        assert!(a < EntryId::parse("1700000000001-0").unwrap());
        assert_eq!(a.next().text(), "1700000000000-4");
        assert_eq!(EntryId::parse("nonsense"), None);
        assert_eq!(EntryId::parse("1-x"), None);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("redis://:s3cret@10.0.0.5:6379/2"),
            "redis://***@10.0.0.5:6379/2"
        );
        assert_eq!(redacted("redis://user:pw@host:1"), "redis://***@host:1");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn keys_hash_tag_the_document() {
        let id = DocumentId::from_bytes([7; 16]);
        for key in [log_key(&id), snap_key(&id), lease_key(&id)] {
            assert!(key.contains(&format!("{{{id}}}")), "{key}");
        }
    }

    #[test]
    fn changes_split_into_chunks_with_their_hashes() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        doc.commit();
        doc.put(automerge::ROOT, "b", 2).unwrap();
        doc.commit();
        let bytes = doc.save_after(&[]);
        let chunks = split_changes(&bytes).expect("change chunks");
        assert_eq!(chunks.len(), 2);
        let hashes: Vec<ChangeHash> = chunks.iter().map(|(h, _)| *h).collect();
        let mut heads = doc.get_heads();
        heads.sort();
        assert!(heads.iter().all(|h| hashes.contains(h)));
        let joined: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        assert_eq!(joined, bytes);
        // A whole document is not split (it is appended as it is).
        assert!(split_changes(&doc.save()).is_none());
        assert!(split_changes(&[0x85, 0x6f, 0x4a]).is_none());
        assert!(split_changes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).is_none());
    }

    #[test]
    fn replies_of_any_other_shape_are_skipped() {
        assert!(parse_entries(&Value::Nil).is_empty());
        assert!(parse_entries(&Value::Array(vec![Value::Int(3)])).is_empty());
        assert!(stream_replies(&Value::Okay).is_empty());
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"c".to_vec()),
                Value::BulkString(vec![1, 2]),
                Value::BulkString(b"o".to_vec()),
                Value::BulkString(b"relay-x".to_vec()),
                Value::BulkString(b"odd".to_vec()),
            ]),
        ]);
        let parsed = parse_entries(&Value::Array(vec![entry]));
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].id, EntryId(5, 1));
        assert_eq!(parsed[0].changes.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(parsed[0].origin.as_deref(), Some("relay-x"));
    }
}
