//! What the relay tests drive: a real `gapmap-relay` process, plain HTTP(S)
//! requests, and a small blocking websocket client that speaks the protocol
//! frames itself (gapmap-proto's codec, Automerge's sync messages) so the
//! tests see exactly what crosses the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, AutomergeError, ReadDoc, ROOT};
use gapmap_proto::{DocumentId, Message, PeerId, PeerMetadata};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

use crate::util::bin;
use gapmap_tests::free_port;

mod cbor;
pub use cbor::Cbor;

/// How long any single wait in these tests may take before it counts as a hang.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// TLS settings of a client that trusts one certificate.
pub type Tls = Arc<rustls::ClientConfig>;

/// A byte stream to the relay, plain or TLS.
pub trait Stream: Read + Write {
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// A running `gapmap-relay`. Killed (SIGKILL) when dropped if still running.
pub struct Relay {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its stderr, captured to a file.
    log: PathBuf,
    /// Set when it serves TLS: how the tests' clients reach it.
    tls: Option<Tls>,
}

/// Numbers log files so restarts in one directory keep every log.
static STARTS: AtomicUsize = AtomicUsize::new(0);

impl Relay {
    /// Starts `gapmap-relay --listen 127.0.0.1:PORT --data DIR/data ARGS` and
    /// waits until `/healthz` answers.
    pub fn start(dir: &Path, args: &[&str]) -> Relay {
        Relay::start_tls(dir, args, None)
    }

    /// Like [`Relay::start`]; with `tls`, health is checked over HTTPS.
    pub fn start_tls(dir: &Path, args: &[&str], tls: Option<Tls>) -> Relay {
        for _ in 0..5 {
            let port = free_port();
            let log = dir.join(format!(
                "relay-{}.log",
                STARTS.fetch_add(1, Ordering::Relaxed)
            ));
            let child = Command::new(bin("gapmap-relay"))
                .env_remove("RUST_LOG")
                .env("NO_COLOR", "1")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data")
                .arg(dir.join("data"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("relay log file"))
                .spawn()
                .expect("spawn gapmap-relay");
            let mut relay = Relay {
                child,
                port,
                log,
                tls: tls.clone(),
            };
            match relay.wait_healthy() {
                Ok(()) => return relay,
                // Someone took the port between our probe and the relay's bind.
                Err(stderr) if stderr.contains("cannot listen") => continue,
                Err(stderr) => panic!("gapmap-relay {args:?} did not start:\n{stderr}"),
            }
        }
        panic!("no free port for gapmap-relay after 5 tries");
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("exited with {status}:\n{}", self.stderr()));
            }
            if let Ok((200, _)) = self.try_get("/healthz") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no /healthz within {PATIENCE:?}:\n{}",
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the relay wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, for signals.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (`libc::SIGHUP`, `libc::SIGTERM`, …).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// SIGTERM, then waits for the exit; returns the status and how long it took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.signal(libc::SIGTERM);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "gapmap-relay still running 20 s after SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Insists the relay is still up, answers `/healthz`, and never panicked.
    pub fn assert_healthy(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "gapmap-relay exited:\n{}",
            self.stderr()
        );
        assert_eq!(self.get("/healthz"), (200, "ok\n".to_string()));
        self.assert_no_panic();
    }

    /// Insists stderr holds no panic message.
    pub fn assert_no_panic(&self) {
        let stderr = self.stderr();
        assert!(
            !stderr.contains("panicked"),
            "gapmap-relay panicked:\n{stderr}"
        );
    }

    /// `GET path`: status and body. Panics if the relay does not answer.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.stderr()))
    }

    fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = self.connect()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut response = Vec::new();
        match stream.read_to_end(&mut response) {
            Ok(_) => {}
            // rustls reports a peer that closes without close_notify; the
            // response is complete by then.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
            Err(e) => return Err(e),
        }
        parse_response(&response)
    }

    /// A fresh byte stream to the relay (TLS when the relay serves TLS).
    pub fn connect(&self) -> std::io::Result<Box<dyn Stream + Send>> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        tcp.set_read_timeout(Some(PATIENCE))?;
        tcp.set_write_timeout(Some(PATIENCE))?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(config) => {
                let name =
                    rustls::pki_types::ServerName::try_from("localhost").expect("server name");
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(std::io::Error::other)?;
                Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        }
    }

    /// Opens a websocket to `path` (which may carry `?token=`) with an
    /// optional bearer token. `Err` holds the HTTP status of a refused upgrade.
    pub fn upgrade(&self, path: &str, bearer: Option<&str>) -> Result<Ws, u16> {
        let stream = self.connect().expect("connect to the relay");
        let mut request = format!("ws://localhost:{}{path}", self.port)
            .into_client_request()
            .expect("request");
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
            request.headers_mut().insert("authorization", value);
        }
        match tungstenite::client::client(request, stream) {
            Ok((ws, _response)) => Ok(ws),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("websocket upgrade to {path} failed: {e}"),
        }
    }

    /// Upgrades and completes the protocol handshake as peer `id`.
    pub fn join(&self, id: &str, bearer: Option<&str>) -> Peer {
        self.join_at("/", id, bearer)
    }

    /// [`Relay::join`] on a given path (for `?token=`).
    pub fn join_at(&self, path: &str, id: &str, bearer: Option<&str>) -> Peer {
        let ws = self
            .upgrade(path, bearer)
            .unwrap_or_else(|status| panic!("upgrade refused with HTTP {status}"));
        Peer::handshake(ws, id)
    }

    /// `GET /metrics`, parsed: `name{labels}` → value.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        parse_metrics(&body)
    }

    /// One figure of `/metrics` by its full name with labels.
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .1
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<(u16, String)> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::other(format!("not an HTTP response: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// Prometheus text → (`name{labels}`, value); checks every line's shape.
pub fn parse_metrics(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (name, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            (name.to_string(), value)
        })
        .collect()
}

/// A websocket to the relay.
pub type Ws = tungstenite::WebSocket<Box<dyn Stream + Send>>;

/// What one read from a websocket gave.
#[derive(Debug)]
pub enum Got {
    /// A protocol message.
    Msg(Message),
    /// The relay closed the connection (close frame, EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Nothing,
}

/// Reads the next binary frame, decoded, within `timeout`.
pub fn recv(ws: &mut Ws, timeout: Duration) -> Got {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Got::Nothing;
        }
        let _ = ws.get_ref().tcp().set_read_timeout(Some(left));
        match ws.read() {
            Ok(tungstenite::Message::Binary(frame)) => {
                let message = Message::decode(&frame)
                    .unwrap_or_else(|e| panic!("the relay sent an undecodable frame: {e}"));
                return Got::Msg(message);
            }
            Ok(tungstenite::Message::Close(_)) => {
                // Let tungstenite answer the close; the next read ends it.
                let _ = ws.flush();
                return Got::Closed;
            }
            Ok(tungstenite::Message::Text(text)) => panic!("the relay sent a text frame: {text}"),
            Ok(_) => {} // ping/pong
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Got::Closed,
        }
    }
}

/// One protocol peer on one websocket.
pub struct Peer {
    pub ws: Ws,
    /// Our peer id.
    pub id: PeerId,
    /// The relay's peer id, from its `peer` message.
    pub relay: PeerId,
}

impl Peer {
    /// Sends `join` offering "1" and expects `peer` back.
    pub fn handshake(mut ws: Ws, id: &str) -> Peer {
        let id = PeerId::from(id);
        let join = gapmap_proto::handshake::join(id.clone(), PeerMetadata::default());
        ws.send(tungstenite::Message::Binary(join.encode().into()))
            .expect("send join");
        match recv(&mut ws, PATIENCE) {
            Got::Msg(Message::Peer {
                sender_id,
                target_id,
                selected_protocol_version,
                ..
            }) => {
                assert_eq!(target_id, id);
                assert_eq!(selected_protocol_version, "1");
                Peer {
                    ws,
                    id,
                    relay: sender_id,
                }
            }
            other => panic!("expected peer, got {other:?}"),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, message: &Message) {
        self.send_frame(tungstenite::Message::Binary(message.encode().into()));
    }

    /// Sends any websocket frame.
    pub fn send_frame(&mut self, frame: tungstenite::Message) {
        self.ws.send(frame).expect("send to the relay");
    }

    /// The next message within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Got {
        recv(&mut self.ws, timeout)
    }

    /// Insists the relay answers with `error` and then closes; returns the
    /// error's text.
    pub fn expect_error_and_close(&mut self) -> String {
        let text = match self.recv(PATIENCE) {
            Got::Msg(Message::Error { message }) => message,
            other => panic!("expected an error message, got {other:?}"),
        };
        self.expect_closed(PATIENCE);
        text
    }

    /// Insists the relay closes the connection within `timeout` (messages
    /// before the close are skipped).
    pub fn expect_closed(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv(deadline.saturating_duration_since(Instant::now())) {
                Got::Closed => return,
                Got::Nothing => panic!("the relay did not close the connection within {timeout:?}"),
                Got::Msg(_) => {}
            }
        }
    }

    /// Asks for a document the relay may lack; true when it answers
    /// `doc-unavailable`.
    pub fn is_unavailable(&mut self, id: DocumentId) -> bool {
        matches!(
            Replica::empty(id).sync(self, Until::InSync, PATIENCE),
            Err(Why::Unavailable)
        )
    }
}

/// Our copy of one document and its sync state with the relay.
pub struct Replica {
    pub id: DocumentId,
    pub doc: Automerge,
    state: sync::State,
    /// Nothing sent yet: the first message of a replica without the
    /// document is a `request`.
    first: bool,
}

/// When [`Replica::sync`] is done.
#[derive(Clone, Copy)]
pub enum Until<'a> {
    /// The relay has acknowledged (advertised) exactly our heads.
    InSync,
    /// We hold `key` at the root (whether or not the relay has all we hold).
    Has(&'a str),
}

/// Why [`Replica::sync`] did not get there.
#[derive(Debug, PartialEq, Eq)]
pub enum Why {
    /// The relay answered `doc-unavailable`.
    Unavailable,
    /// The relay sent `error` (and will close the connection).
    Error(String),
    /// The relay closed the connection.
    Closed,
    /// The time ran out.
    Timeout,
}

impl Replica {
    /// A document with one change: `key = value` at the root.
    pub fn new(id: DocumentId, key: &str, value: &str) -> Replica {
        let mut replica = Replica::empty(id);
        replica.put(key, value);
        replica
    }

    /// No copy yet (we will ask for it).
    pub fn empty(id: DocumentId) -> Replica {
        Replica {
            id,
            doc: Automerge::new(),
            state: sync::State::new(),
            first: true,
        }
    }

    /// A fresh random document id.
    pub fn random_id() -> DocumentId {
        let mut bytes = [0u8; 16];
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed) as u128;
        let mix = nanos ^ (n << 64) ^ u128::from(std::process::id()) << 32;
        bytes.copy_from_slice(&mix.to_le_bytes());
        DocumentId::from_bytes(bytes)
    }

    /// Forgets the sync state, as a peer must when it syncs over a new
    /// connection (Automerge holds back what it thinks is still in flight).
    pub fn reconnect(&mut self) {
        self.state = sync::State::new();
        self.first = true;
    }

    /// Changes `key` at the root.
    pub fn put(&mut self, key: &str, value: impl Into<automerge::ScalarValue>) {
        self.doc
            .transact::<_, _, AutomergeError>(|tx| {
                use automerge::transaction::Transactable;
                tx.put(ROOT, key, value)?;
                Ok(())
            })
            .expect("automerge change");
    }

    /// The string at `key`, if any.
    pub fn get(&self, key: &str) -> Option<String> {
        let (value, _) = self.doc.get(ROOT, key).ok()??;
        value.into_scalar().ok()?.into_string().ok()
    }

    fn in_sync(&self) -> bool {
        let mut ours = self.doc.get_heads();
        let Some(mut theirs) = self.state.their_heads.clone() else {
            return false;
        };
        ours.sort();
        theirs.sort();
        !ours.is_empty() && ours == theirs
    }

    fn done(&self, until: Until) -> bool {
        match until {
            Until::InSync => self.in_sync(),
            Until::Has(key) => self.get(key).is_some(),
        }
    }

    /// Sends what Automerge says the relay needs, if anything.
    fn send_next(&mut self, peer: &mut Peer) {
        let Some(message) = self.doc.generate_sync_message(&mut self.state) else {
            return;
        };
        let (sender_id, target_id, document_id, data) = (
            peer.id.clone(),
            peer.relay.clone(),
            self.id,
            message.encode(),
        );
        let request = std::mem::take(&mut self.first) && self.doc.get_heads().is_empty();
        peer.send(&if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        });
    }

    /// Runs the sync exchange on `peer` until `until` holds, within `timeout`.
    /// Messages about other documents are ignored.
    pub fn sync(&mut self, peer: &mut Peer, until: Until, timeout: Duration) -> Result<(), Why> {
        let deadline = Instant::now() + timeout;
        loop {
            self.send_next(peer);
            if self.done(until) {
                return Ok(());
            }
            match peer.recv(deadline.saturating_duration_since(Instant::now())) {
                Got::Msg(Message::Sync {
                    document_id, data, ..
                }) if document_id == self.id => {
                    let message =
                        sync::Message::decode(&data).expect("the relay sent a bad sync message");
                    self.doc
                        .receive_sync_message(&mut self.state, message)
                        .expect("the relay's sync message applies");
                }
                Got::Msg(Message::DocUnavailable { document_id, .. }) if document_id == self.id => {
                    return Err(Why::Unavailable)
                }
                Got::Msg(Message::Error { message }) => return Err(Why::Error(message)),
                Got::Msg(_) => {}
                Got::Closed => return Err(Why::Closed),
                Got::Nothing => return Err(Why::Timeout),
            }
        }
    }

    /// Fetches a document the relay holds, as a fresh peer would.
    pub fn fetch(peer: &mut Peer, id: DocumentId) -> Result<Replica, Why> {
        let mut replica = Replica::empty(id);
        replica.sync(peer, Until::InSync, PATIENCE)?;
        Ok(replica)
    }
}

/// A self-signed certificate for `localhost`, its files, and a client
/// configuration that trusts it.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf, Tls) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certified.cert.der().clone())
        .expect("trust the certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (cert, key, Arc::new(config))
}
