//! One websocket connection: frames in go to the engine loop, frames the
//! loop queues go out. The same code serves accepted and dialled sockets.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use gapmap_proto::{Access, ConnId, Credential, DocumentId, Notice, Role};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::budget::Account;
use crate::io_loop::Command;
use crate::metrics::Refusal;
use crate::rate::Bucket;
use crate::reader::{self, FrameReader, Incoming, ReadError};
use crate::repo::{Reauth, Repo, RepoEvent, SyncOutcome, SyncReport, SyncWatch};
use crate::Error;

/// How long a one-shot sync may go without progress before it gives up.
const SYNC_QUIET: Duration = Duration::from_secs(5);

/// What a connection is for.
pub(crate) struct Spec {
    /// Which side we are.
    pub role: Role,
    /// What the peer may do.
    pub access: Access,
    /// What the peer presented to be let in (accepted connections).
    pub credential: Credential,
    /// Documents to open at once (client syncs).
    pub open: Vec<DocumentId>,
    /// A one-shot sync: close once every watched document is settled.
    pub watch: Option<SyncWatch>,
    /// The token to re-check on [`Repo::reauthorize`].
    pub auth: Option<Reauth>,
    /// The URL we dialled (sync states are saved per URL).
    pub remote: Option<String>,
}

impl Spec {
    /// An accepted connection.
    pub fn server(access: Access, credential: Credential, auth: Option<Reauth>) -> Spec {
        Spec {
            role: Role::Server,
            access,
            credential,
            open: Vec::new(),
            watch: None,
            auth,
            remote: None,
        }
    }

    /// A connection we dialled to `url`, opening `open`.
    pub fn client(url: &str, open: Vec<DocumentId>, watch: Option<SyncWatch>) -> Spec {
        Spec {
            role: Role::Client,
            access: Access::full(),
            credential: Credential::OPEN,
            open,
            watch,
            auth: None,
            remote: Some(url.to_string()),
        }
    }
}

/// Drives a websocket we dialled until it closes. The remote is one we
/// chose: tungstenite reads its frames, bounded by the message size only.
pub(crate) async fn run_dialled<S>(repo: Repo, socket: WebSocketStream<S>, spec: Spec)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = socket.split();
    run(repo, sink, stream.map(reader::from_tungstenite), spec).await;
}

/// Drives an accepted websocket (already upgraded) until it closes: its
/// frames are read by [`FrameReader`] within the repo's incoming budget and
/// deadline; tungstenite only writes.
pub(crate) async fn run_accepted<S>(repo: Repo, io: S, spec: Spec)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    // Nothing is read through tungstenite: no read buffer for it.
    let config = repo.ws_config.read_buffer_size(0);
    let sink = WebSocketStream::from_raw_socket(
        WriteOnly(write),
        tungstenite::protocol::Role::Server,
        Some(config),
    )
    .await;
    let incoming = FrameReader::new(
        read,
        Account::new(repo.budget.clone()),
        repo.buffer_limits,
        repo.max_message,
        repo.metrics.clone(),
    );
    run(repo, sink, incoming, spec).await;
}

/// The write half of a socket, for tungstenite to write frames to. It is
/// never read from: the frames coming in are [`FrameReader`]'s.
struct WriteOnly<W>(W);

impl<W: Unpin> AsyncRead for WriteOnly<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // tungstenite reads only when its stream half is polled, which it
        // never is.
        Poll::Pending
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for WriteOnly<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Drives one connection: `stream` gives what arrives, `sink` writes.
async fn run<K, I>(repo: Repo, mut sink: K, mut stream: I, spec: Spec)
where
    K: Sink<Message, Error = tungstenite::Error> + Unpin,
    I: Stream<Item = Result<Incoming, ReadError>> + Unpin,
{
    let Spec {
        role,
        access,
        credential,
        open,
        watch,
        auth,
        remote,
    } = spec;
    let conn = ConnId(repo.next_conn.fetch_add(1, Ordering::Relaxed));
    let (outgoing, mut queue) = mpsc::channel::<Vec<u8>>(repo.outgoing_queue);
    let kill = repo.shutdown.child_token();
    // Subscribe before the engine hears of the connection, so no notice is missed.
    let mut events = watch.as_ref().map(|_| repo.subscribe());
    let mut watch = watch.map(|w| Watcher::new(w, conn));
    let resume = match &remote {
        Some(url) => {
            let (store, url, ids) = (repo.store.clone(), url.clone(), open.clone());
            tokio::task::spawn_blocking(move || {
                crate::io_loop::saved_sync_states(&store, &url, &ids)
            })
            .await
            .unwrap_or_default()
        }
        None => Vec::new(),
    };
    if repo
        .send(Command::Opened {
            conn,
            role,
            access,
            credential,
            outgoing,
            kill: kill.clone(),
            open,
            remote,
            resume,
        })
        .is_err()
    {
        return;
    }
    let mut last_progress = Instant::now();
    let mut quiet = tokio::time::interval(Duration::from_millis(500));
    let mut reload = repo.reload.subscribe();
    // An accepted peer over its message rate is not read from until its
    // bucket refills (see `rate`): TCP pushes back, nothing is dropped.
    let mut bucket = repo
        .rate_limit
        .filter(|_| role == Role::Server)
        .map(|limit| Bucket::new(limit, Instant::now()));
    let mut paused: Option<tokio::time::Instant> = None;
    let mut throttle_logged = false;
    let close_reason: Option<String> = loop {
        tokio::select! {
            _ = kill.cancelled() => break None,
            _ = tokio::time::sleep_until(paused.unwrap_or_else(tokio::time::Instant::now)), if paused.is_some() => paused = None,
            frame = stream.next(), if paused.is_none() => match frame {
                // A text frame is not a protocol message either: the engine
                // answers with `error` and closes. `held` counts the bytes
                // against the incoming budget until the loop has handled them.
                Some(Ok(Incoming::Data(data, held))) => {
                    let _ = repo.send(Command::Frame { conn, data, at: Instant::now(), held });
                    paused = throttle(&mut bucket, &repo, conn, &mut throttle_logged);
                }
                Some(Ok(Incoming::Ping(payload))) => {
                    paused = throttle(&mut bucket, &repo, conn, &mut throttle_logged);
                    tokio::select! {
                        sent = sink.send(Message::Pong(payload.into())) => if let Err(err) = sent {
                            tracing::debug!(%conn, %err, "websocket write failed");
                            break Some(err.to_string());
                        },
                        _ = kill.cancelled() => break Some("the peer does not read".into()),
                    }
                }
                Some(Ok(Incoming::Close(reason))) => break reason,
                Some(Ok(Incoming::Other)) => {}
                Some(Err(err)) => {
                    match err {
                        ReadError::TooLarge { .. } => {
                            repo.metrics.refused(Refusal::Oversized);
                            tracing::info!(%conn, %err, "message too large; closing");
                        }
                        ReadError::TooSlow { .. } => {
                            repo.metrics.refused(Refusal::SlowMessage);
                            tracing::info!(%conn, %err, "message not finished within its deadline; closing");
                        }
                        _ => tracing::debug!(%conn, %err, "websocket error"),
                    }
                    break Some(err.to_string());
                }
                None => break None,
            },
            out = queue.recv() => match out {
                Some(frame) => {
                    // A peer that stops reading blocks this write; the loop
                    // then finds the queue full and kills the connection.
                    tokio::select! {
                        sent = sink.send(Message::Binary(frame.into())) => if let Err(err) = sent {
                            tracing::debug!(%conn, %err, "websocket write failed");
                            break Some(err.to_string());
                        },
                        _ = kill.cancelled() => break Some("the peer does not read".into()),
                    }
                }
                // The loop closed this connection; what it queued is sent.
                None => break None,
            },
            event = recv_event(&mut events) => {
                if let (Some(w), Some(event)) = (watch.as_mut(), event) {
                    if w.observe(&event) {
                        last_progress = Instant::now();
                    }
                    if w.settled() {
                        break None;
                    }
                }
            }
            changed = reload.changed(), if auth.is_some() => {
                if changed.is_err() {
                    continue;
                }
                let (authorizer, token) = auth.as_ref().expect("guarded");
                match authorizer.authorize(token.as_deref()) {
                    Some(access) => {
                        let _ = repo.send(Command::AccessChanged { conn, access });
                    }
                    None => {
                        tracing::info!(%conn, "token no longer valid; closing");
                        repo.metrics.refused(Refusal::Unauthorized);
                        break Some("token no longer valid".into());
                    }
                }
            }
            _ = quiet.tick(), if watch.is_some() => {
                if last_progress.elapsed() > SYNC_QUIET {
                    break Some("no progress".into());
                }
            }
        }
    };
    let _ = repo.send(Command::Closed { conn });
    // A polite close, but never waiting long on a peer that does not read.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    })
    .await;
    if let Some(mut w) = watch {
        // The loop may have closed us for a reason it announced in an
        // event not read yet (an `error` from the remote): take it in.
        if let Some(events) = events.as_mut() {
            while let Ok(event) = events.try_recv() {
                w.observe(&event);
            }
        }
        let status = status(&repo, conn, w.pending()).await;
        w.finish(close_reason, status);
    }
}

/// Counts a message against the connection's bucket; when it ran dry,
/// counts and (once per connection) logs it and says until when not to read.
fn throttle(
    bucket: &mut Option<Bucket>,
    repo: &Repo,
    conn: ConnId,
    logged: &mut bool,
) -> Option<tokio::time::Instant> {
    let pause = bucket.as_mut()?.take(Instant::now())?;
    repo.metrics.refused(Refusal::RateLimited);
    if !std::mem::replace(logged, true) {
        tracing::info!(%conn, ?pause, "peer sends too many messages; reading paused (logged once per connection)");
    }
    Some(tokio::time::Instant::now() + pause)
}

async fn recv_event(events: &mut Option<broadcast::Receiver<RepoEvent>>) -> Option<RepoEvent> {
    match events {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        None => std::future::pending().await,
    }
}

async fn status(
    repo: &Repo,
    conn: ConnId,
    ids: Vec<DocumentId>,
) -> Vec<(DocumentId, Option<gapmap_proto::SyncStatus>)> {
    let (reply, rx) = oneshot::channel();
    if ids.is_empty() || repo.send(Command::Status { conn, ids, reply }).is_err() {
        return Vec::new();
    }
    rx.await.unwrap_or_default()
}

/// Tracks a one-shot sync on one connection.
struct Watcher {
    conn: ConnId,
    done: oneshot::Sender<Result<SyncReport, Error>>,
    outcomes: BTreeMap<DocumentId, Option<SyncOutcome>>,
    /// The error the remote sent, if it did.
    remote_error: Option<String>,
    progress: Option<crate::repo::Progress>,
}

impl Watcher {
    fn new(watch: SyncWatch, conn: ConnId) -> Watcher {
        Watcher {
            conn,
            done: watch.done,
            outcomes: watch.ids.into_iter().map(|id| (id, None)).collect(),
            remote_error: None,
            progress: watch.progress,
        }
    }

    /// Takes in an event; true if it was progress on this connection.
    fn observe(&mut self, event: &RepoEvent) -> bool {
        let progressed = self.settle(event);
        if progressed {
            if let Some(report) = &self.progress {
                let settled = self.outcomes.values().filter(|o| o.is_some()).count();
                report(settled, self.outcomes.len());
            }
        }
        progressed
    }

    fn settle(&mut self, event: &RepoEvent) -> bool {
        match event {
            RepoEvent::Notice(Notice::InSync {
                conn,
                document_id,
                heads,
                ..
            }) if *conn == self.conn => {
                if let Some(slot) = self.outcomes.get_mut(document_id) {
                    *slot = Some(SyncOutcome::InSync(heads.clone()));
                }
                true
            }
            RepoEvent::Notice(Notice::Unavailable { conn, document_id }) if *conn == self.conn => {
                if let Some(slot) = self.outcomes.get_mut(document_id) {
                    *slot = Some(SyncOutcome::Unavailable);
                }
                true
            }
            RepoEvent::Notice(Notice::PeerConnected { conn, .. }) => *conn == self.conn,
            RepoEvent::Closed(conn, Some(reason)) if *conn == self.conn => {
                self.remote_error = Some(reason.to_string());
                true
            }
            RepoEvent::Changed { .. } => true,
            _ => false,
        }
    }

    fn settled(&self) -> bool {
        self.outcomes.values().all(Option::is_some) || self.remote_error.is_some()
    }

    fn pending(&self) -> Vec<DocumentId> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn finish(
        self,
        close: Option<String>,
        status: Vec<(DocumentId, Option<gapmap_proto::SyncStatus>)>,
    ) {
        let result = if let Some(err) = self.remote_error {
            Err(Error::Remote(format!(
                "the remote closed the connection: {err}"
            )))
        } else if self.outcomes.values().all(Option::is_some) {
            Ok(SyncReport {
                documents: self
                    .outcomes
                    .into_iter()
                    .map(|(id, o)| (id.to_string(), o.expect("settled")))
                    .collect(),
            })
        } else {
            // Not settled: say why, as precisely as the sync states allow.
            let behind = status.iter().find(|(_, s)| {
                s.as_ref()
                    .and_then(|s| s.theirs.as_ref().map(|theirs| theirs != &s.ours))
                    .unwrap_or(false)
            });
            Err(match (behind, close) {
                (Some((id, _)), _) => Error::Remote(format!(
                    "the remote did not accept our changes to {id} (is the token read-only?)"
                )),
                (None, Some(reason)) if reason != "no progress" => Error::Remote(format!(
                    "the connection closed before the sync finished: {reason}"
                )),
                _ => Error::Timeout(match status.len().max(1) {
                    1 => "the remote stopped answering before the document was in sync".into(),
                    n => format!("the remote stopped answering before {n} documents were in sync"),
                }),
            })
        };
        let _ = self.done.send(result);
    }
}
