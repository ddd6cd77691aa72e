//! The load generator: many simulated automerge-repo peers over real
//! websockets, speaking the wire protocol with `gapmap_proto`'s codec and
//! Automerge's own sync.
//!
//! Each simulated client is one websocket connection holding one document:
//! its own Automerge copy, its own actor, one `sync::State` with the server.
//! All the clients of one document live in one task (`DocSim`), so the
//! generator knows exactly when an edit made by one client has reached each
//! of the others; sockets are read and written by small tasks of their own,
//! and the reader stamps each frame with its arrival time, so time spent
//! queueing inside the generator does not count as propagation.
//!
//! An edit by client `i` is one Automerge change setting the root key `c<i>`
//! to its next sequence number; a client has seen edit `s` of client `j`
//! once its copy's `c<j>` is at least `s`. Clients spread round-robin over
//! every URL given, so the same workload can run across several relays.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use automerge::sync::{self, SyncDoc as _};
use automerge::transaction::Transactable as _;
use automerge::{ActorId, AutoCommit, ReadDoc as _, ScalarValue, Value, ROOT};
use futures_util::{SinkExt as _, StreamExt as _};
use gapmap_proto::{handshake, DocumentId, Message, PeerId, PeerMetadata};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Ws;

/// Most connections opened at once while the swarm gathers.
const CONNECT_CONCURRENCY: usize = 64;

/// The shape of a swarm.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Server URLs; client `k` (counted over every document) dials
    /// `urls[k % urls.len()]`.
    pub urls: Vec<String>,
    /// Documents.
    pub docs: usize,
    /// Clients (connections) per document.
    pub clients_per_doc: usize,
    /// Clients of each document that write their marker while gathering
    /// (the first ones); the others only receive. Every client edits in
    /// the throughput, latency and scale loads.
    pub writers_per_doc: usize,
    /// How long gathering (connecting and the first full sync) may take.
    pub ready_timeout: Duration,
}

/// What the documents' tasks are told to do.
#[derive(Clone, Copy, Debug)]
enum Control {
    /// Hold the connections, edit nothing.
    Hold,
    /// Closed loop: every client edits again as soon as its previous edit
    /// reached every other client; figures count from `from` to `until`.
    Closed { from: Instant, until: Instant },
    /// Open loop: each document edits every `period`, its first edit at
    /// `first`, clients taking turns; edits made from `from` to `until`
    /// are measured.
    Rate {
        first: Instant,
        period: Duration,
        from: Instant,
        until: Instant,
    },
    /// Stop and report.
    Stop,
}

/// What one document's task measured.
#[derive(Debug, Default)]
pub struct DocStats {
    /// Edit-to-peer propagation of each measured (edit, receiving client), ms.
    pub latencies_ms: Vec<f64>,
    /// Measured edits that reached every other client inside the window.
    pub edits_delivered: u64,
    /// Measured (edit, receiving client) arrivals inside the window.
    pub deliveries: u64,
    /// Measured edits made.
    pub edits_made: u64,
    /// Measured (edit, receiving client) pairs that never arrived.
    pub lost: u64,
    /// Sync messages the clients received inside the window, and their
    /// bytes (the Automerge sync message each carries).
    pub messages_received: u64,
    /// See `messages_received`.
    pub bytes_received: u64,
    /// Protocol surprises (errors, closes, unavailable documents).
    pub problems: Vec<String>,
}

/// Everything measured, summed over the documents.
#[derive(Debug, Default)]
pub struct SwarmStats {
    /// See [`DocStats`].
    pub latencies_ms: Vec<f64>,
    /// See [`DocStats`].
    pub edits_delivered: u64,
    /// See [`DocStats`].
    pub deliveries: u64,
    /// See [`DocStats`].
    pub edits_made: u64,
    /// See [`DocStats`].
    pub lost: u64,
    /// See [`DocStats`].
    pub messages_received: u64,
    /// See [`DocStats`].
    pub bytes_received: u64,
    /// The first few problems seen, and how many there were.
    pub problems: Vec<String>,
    /// Every problem, counted.
    pub problem_count: usize,
}

/// A gathered swarm: every client connected and in sync.
pub struct Swarm {
    control: watch::Sender<Control>,
    docs: Vec<JoinHandle<DocStats>>,
    sockets: Vec<JoinHandle<()>>,
    /// How long connecting and the first sync took.
    pub gathered_in: Duration,
    /// Connections open.
    pub connections: usize,
}

/// One input of a document's task.
enum Input {
    /// A decoded frame for client `client`, stamped on arrival.
    Frame {
        client: usize,
        at: Instant,
        message: Message,
    },
    /// Client `client`'s connection ended.
    Closed { client: usize, why: String },
}

/// A connected socket, before its document task starts.
struct Dialled {
    server: PeerId,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// Dials `url` and does the handshake as client `peer`.
async fn dial(url: &str, peer: &PeerId) -> Result<Dialled> {
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let join = handshake::join(
        peer.clone(),
        PeerMetadata {
            storage_id: None,
            is_ephemeral: true,
        },
    );
    socket.send(Ws::Binary(join.encode().into())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Ws::Binary(data))) => {
                let reply = Message::decode(&data)?;
                let accepted = handshake::check_peer(&reply)
                    .map_err(|e| anyhow::anyhow!("{url}: handshake: {e}"))?;
                return Ok(Dialled {
                    server: accepted.peer_id,
                    socket,
                });
            }
            Some(Ok(Ws::Close(_))) | None => bail!("{url} closed during the handshake"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("{url}: {e}"),
        }
    }
}

impl Swarm {
    /// Connects every client, then syncs each document's first state (each
    /// client's marker `c<i> = 0`) until every client has seen every other
    /// one: from then on the server routes every document to every client.
    pub async fn gather(shape: &Shape) -> Result<Swarm> {
        let started = Instant::now();
        let (control, control_rx) = watch::channel(Control::Hold);
        let ready = Arc::new(AtomicUsize::new(0));
        let tag = format!("{:08x}", rand::random::<u32>());
        let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));

        // Dial everything first, a bounded number at a time.
        let mut dials = Vec::with_capacity(shape.docs * shape.clients_per_doc);
        for d in 0..shape.docs {
            for c in 0..shape.clients_per_doc {
                let k = d * shape.clients_per_doc + c;
                let url = shape.urls[k % shape.urls.len()].clone();
                let peer = PeerId::new(format!("bench-{tag}-{d}-{c}"));
                let permits = permits.clone();
                dials.push(tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await?;
                    let dialled = dial(&url, &peer).await?;
                    Ok::<_, anyhow::Error>((peer, dialled))
                }));
            }
        }
        let mut connected = Vec::with_capacity(dials.len());
        let deadline = tokio::time::Instant::now() + shape.ready_timeout;
        for dial in dials {
            let res = tokio::time::timeout_at(deadline, dial)
                .await
                .context("connecting took longer than the ready timeout")??;
            connected.push(res?);
        }
        let connections = connected.len();

        // Then one task per document, with a reader and a writer per socket.
        let mut connected = connected.into_iter();
        let mut docs = Vec::with_capacity(shape.docs);
        let mut sockets = Vec::with_capacity(connections * 2);
        for d in 0..shape.docs {
            let id = DocumentId::from_bytes(rand::random());
            let mut base = AutoCommit::new();
            base.set_actor(ActorId::random());
            base.put(ROOT, "title", format!("bench document {d}"))?;
            base.commit();
            let base = base.save();
            let (input_tx, input_rx) = mpsc::unbounded_channel();
            let mut clients = Vec::with_capacity(shape.clients_per_doc);
            for c in 0..shape.clients_per_doc {
                let (peer, dialled) = connected.next().context("a dialled socket is missing")?;
                let (sink, stream) = dialled.socket.split();
                let (out_tx, out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
                sockets.push(tokio::spawn(write_frames(sink, out_rx)));
                sockets.push(tokio::spawn(read_frames(stream, c, input_tx.clone())));
                let mut doc = AutoCommit::load(&base)?;
                doc.set_actor(ActorId::random());
                if c < shape.writers_per_doc.max(1) {
                    doc.put(ROOT, marker(c), 0_i64)?;
                    doc.commit();
                }
                clients.push(Client {
                    peer,
                    server: dialled.server,
                    doc,
                    state: sync::State::new(),
                    seq: 0,
                    seen: vec![-1; shape.clients_per_doc],
                    out: out_tx,
                });
            }
            drop(input_tx);
            let sim = DocSim {
                id,
                pending: (0..clients.len()).map(|_| VecDeque::new()).collect(),
                clients,
                control: Control::Hold,
                stats: DocStats::default(),
                ready: false,
                ready_count: ready.clone(),
                next_edit: None,
                turn: d,
                index: d,
                writers: shape.writers_per_doc.max(1),
            };
            docs.push(tokio::spawn(sim.run(input_rx, control_rx.clone())));
        }

        let swarm = Swarm {
            control,
            docs,
            sockets,
            gathered_in: Duration::ZERO,
            connections,
        };
        loop {
            let n = ready.load(Ordering::Relaxed);
            if n == shape.docs {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let stats = swarm.stop().await;
                bail!(
                    "only {n} of {} documents reached every client within {:?}; problems: {:?}",
                    shape.docs,
                    shape.ready_timeout,
                    stats.problems
                );
            }
            if swarm.docs.iter().any(|d| d.is_finished()) {
                let stats = swarm.stop().await;
                bail!("a document task ended early: {:?}", stats.problems);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Swarm {
            gathered_in: started.elapsed(),
            ..swarm
        })
    }

    /// Closed loop from now, measured from `from` to `until`; returns when
    /// done.
    pub async fn closed_loop(&self, from: Instant, until: Instant) {
        let _ = self.control.send(Control::Closed { from, until });
        tokio::time::sleep_until((until + Duration::from_millis(50)).into()).await;
        let _ = self.control.send(Control::Hold);
    }

    /// Each document edits every `period` from `first` (documents spread
    /// evenly over one period), measured from `from` to `until`, then
    /// `drain` for the last edits to arrive.
    pub async fn fixed_rate(
        &self,
        period: Duration,
        first: Instant,
        from: Instant,
        until: Instant,
        drain: Duration,
    ) {
        let _ = self.control.send(Control::Rate {
            first,
            period,
            from,
            until,
        });
        tokio::time::sleep_until((until + drain).into()).await;
    }

    /// Stops every document task, closes the sockets, sums the figures.
    pub async fn stop(self) -> SwarmStats {
        let _ = self.control.send(Control::Stop);
        let mut total = SwarmStats::default();
        for doc in self.docs {
            let Ok(stats) = doc.await else { continue };
            total.latencies_ms.extend(stats.latencies_ms);
            total.edits_delivered += stats.edits_delivered;
            total.deliveries += stats.deliveries;
            total.edits_made += stats.edits_made;
            total.lost += stats.lost;
            total.messages_received += stats.messages_received;
            total.bytes_received += stats.bytes_received;
            total.problem_count += stats.problems.len();
            for p in stats.problems {
                if total.problems.len() < 5 {
                    total.problems.push(p);
                }
            }
        }
        for socket in self.sockets {
            socket.abort();
        }
        total
    }
}

/// The root key client `i` writes its sequence number to.
fn marker(i: usize) -> String {
    format!("c{i}")
}

async fn write_frames<S>(mut sink: S, mut out: mpsc::UnboundedReceiver<Vec<u8>>)
where
    S: futures_util::Sink<Ws> + Unpin,
{
    while let Some(frame) = out.recv().await {
        if sink.feed(Ws::Binary(frame.into())).await.is_err() {
            return;
        }
        while let Ok(frame) = out.try_recv() {
            if sink.feed(Ws::Binary(frame.into())).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

async fn read_frames<S>(mut stream: S, client: usize, input: mpsc::UnboundedSender<Input>)
where
    S: futures_util::Stream<Item = Result<Ws, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let why = loop {
        match stream.next().await {
            Some(Ok(Ws::Binary(data))) => {
                let at = Instant::now();
                match Message::decode(&data) {
                    Ok(message) => {
                        if input
                            .send(Input::Frame {
                                client,
                                at,
                                message,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => break format!("undecodable frame: {e}"),
                }
            }
            Some(Ok(Ws::Close(frame))) => break format!("closed by the server: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => break format!("socket error: {e}"),
            None => break "socket ended".to_string(),
        }
    };
    let _ = input.send(Input::Closed { client, why });
}

/// One simulated client.
struct Client {
    peer: PeerId,
    /// The server's peer id, from its `peer` answer.
    server: PeerId,
    doc: AutoCommit,
    state: sync::State,
    /// The sequence number of this client's last edit.
    seq: i64,
    /// The highest sequence number of each client seen in `doc` (-1: none).
    seen: Vec<i64>,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

/// An edit not yet seen by every other client.
struct Pending {
    seq: i64,
    made: Instant,
    /// Made inside the measured window.
    measured: bool,
    /// Other clients yet to see it.
    waiting: usize,
}

/// The clients of one document.
struct DocSim {
    id: DocumentId,
    clients: Vec<Client>,
    /// Per author, its edits in flight, oldest first.
    pending: Vec<VecDeque<Pending>>,
    control: Control,
    stats: DocStats,
    ready: bool,
    ready_count: Arc<AtomicUsize>,
    /// In `Rate` mode, when this document edits next.
    next_edit: Option<Instant>,
    /// Whose turn it is to edit in `Rate` mode.
    turn: usize,
    /// This document's place among all, to spread the documents' edits.
    index: usize,
    /// Clients that wrote a marker while gathering.
    writers: usize,
}

impl DocSim {
    async fn run(
        mut self,
        mut input: mpsc::UnboundedReceiver<Input>,
        mut control: watch::Receiver<Control>,
    ) -> DocStats {
        for c in 0..self.clients.len() {
            self.send_sync(c);
        }
        loop {
            let timer = self.next_edit;
            tokio::select! {
                changed = control.changed() => {
                    if changed.is_err() { break; }
                    let next = *control.borrow_and_update();
                    if self.set_control(next) { break; }
                }
                got = input.recv() => match got {
                    Some(Input::Frame { client, at, message }) => self.on_message(client, at, message),
                    Some(Input::Closed { client, why }) => {
                        self.stats.problems.push(format!("client {client}: {why}"));
                        break;
                    }
                    None => break,
                },
                _ = sleep_until_opt(timer) => self.rate_tick(),
            }
        }
        for queue in &self.pending {
            for p in queue {
                if p.measured {
                    self.stats.lost += p.waiting as u64;
                }
            }
        }
        self.stats
    }

    /// Applies a new control; true to stop.
    fn set_control(&mut self, next: Control) -> bool {
        self.control = next;
        self.next_edit = None;
        match next {
            Control::Stop => return true,
            Control::Hold => {}
            Control::Closed { .. } => {
                for c in 0..self.clients.len() {
                    self.edit(c);
                }
            }
            Control::Rate { first, period, .. } => {
                // Documents spread their edits evenly over one period.
                let n = self.ready_count.load(Ordering::Relaxed).max(1);
                let offset = period.mul_f64((self.index % n) as f64 / n as f64);
                self.next_edit = Some(first + offset);
            }
        }
        false
    }

    fn rate_tick(&mut self) {
        let Control::Rate { period, until, .. } = self.control else {
            self.next_edit = None;
            return;
        };
        let now = Instant::now();
        let due = self.next_edit.unwrap_or(now);
        if due >= until {
            self.next_edit = None;
            return;
        }
        let c = self.turn % self.clients.len();
        self.turn += 1;
        self.edit(c);
        self.next_edit = Some(due + period);
    }

    fn window(&self) -> Option<(Instant, Instant)> {
        match self.control {
            Control::Closed { from, until } | Control::Rate { from, until, .. } => {
                Some((from, until))
            }
            _ => None,
        }
    }

    /// Client `c` makes its next edit and offers it to the server.
    fn edit(&mut self, c: usize) {
        let made = Instant::now();
        let measured = self
            .window()
            .is_some_and(|(from, until)| made >= from && made < until);
        let client = &mut self.clients[c];
        client.seq += 1;
        let seq = client.seq;
        if let Err(e) = client.doc.put(ROOT, marker(c), seq) {
            self.stats.problems.push(format!("put: {e}"));
            return;
        }
        client.doc.commit();
        if measured {
            self.stats.edits_made += 1;
        }
        self.pending[c].push_back(Pending {
            seq,
            made,
            measured,
            waiting: self.clients.len() - 1,
        });
        self.send_sync(c);
    }

    fn send_sync(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if let Some(message) = client.doc.sync().generate_sync_message(&mut client.state) {
            let frame = Message::Sync {
                sender_id: client.peer.clone(),
                target_id: client.server.clone(),
                document_id: self.id,
                data: message.encode(),
            }
            .encode();
            let _ = client.out.send(frame);
        }
    }

    fn on_message(&mut self, c: usize, at: Instant, message: Message) {
        match message {
            Message::Sync { data, .. } | Message::Request { data, .. } => {
                if self
                    .window()
                    .is_some_and(|(from, until)| at >= from && at < until)
                {
                    self.stats.messages_received += 1;
                    self.stats.bytes_received += data.len() as u64;
                }
                let client = &mut self.clients[c];
                let applied = sync::Message::decode(&data)
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        client
                            .doc
                            .sync()
                            .receive_sync_message(&mut client.state, m)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = applied {
                    self.stats.problems.push(format!("sync: {e}"));
                    return;
                }
                self.observe(c, at);
                self.send_sync(c);
            }
            Message::DocUnavailable { .. } => {
                self.stats.problems.push("doc-unavailable".into());
            }
            Message::Error { message } => {
                self.stats.problems.push(format!("error: {message}"));
            }
            _ => {}
        }
    }

    /// What client `c` has now seen of the others' edits.
    fn observe(&mut self, c: usize, at: Instant) {
        let window = self.window();
        let mut completed = Vec::new();
        for j in 0..self.clients.len() {
            if j == c {
                continue;
            }
            let now_seen = match self.clients[c].doc.get(ROOT, marker(j)) {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Int(v) => *v,
                    ScalarValue::Uint(v) => *v as i64,
                    _ => -1,
                },
                _ => -1,
            };
            let before = self.clients[c].seen[j];
            if now_seen <= before {
                continue;
            }
            self.clients[c].seen[j] = now_seen;
            let in_window = window.is_some_and(|(from, until)| at >= from && at < until);
            for p in self.pending[j].iter_mut() {
                if p.seq <= before || p.seq > now_seen {
                    continue;
                }
                p.waiting -= 1;
                if p.measured {
                    self.stats
                        .latencies_ms
                        .push(at.saturating_duration_since(p.made).as_secs_f64() * 1e3);
                }
                if in_window {
                    self.stats.deliveries += 1;
                }
                if p.waiting == 0 {
                    if in_window {
                        self.stats.edits_delivered += 1;
                    }
                    completed.push((j, p.seq));
                }
            }
            while self.pending[j].front().is_some_and(|p| p.waiting == 0) {
                self.pending[j].pop_front();
            }
        }
        if !self.ready
            && self.clients.iter().enumerate().all(|(i, cl)| {
                cl.seen
                    .iter()
                    .enumerate()
                    .all(|(j, &s)| i == j || j >= self.writers || s >= 0)
            })
        {
            self.ready = true;
            self.ready_count.fetch_add(1, Ordering::Relaxed);
        }
        if let Control::Closed { until, .. } = self.control {
            for (j, seq) in completed {
                if seq == self.clients[j].seq && Instant::now() < until {
                    self.edit(j);
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
