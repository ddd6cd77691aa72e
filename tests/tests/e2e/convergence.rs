//! Convergence under faults, without sockets: 2–5 gapmap-proto engines
//! (peer to peer, or around a relay) in gapmap-proto's in-memory harness,
//! random canvas operations (adds, concurrent edits of one text, moves,
//! trash and restore, marks, votes, interviews and findings) and a random
//! network: frames delayed, dropped, duplicated and reordered, links
//! partitioned and healed, cut and re-dialled, stores held back, peers
//! restarted from their stores. Then a final full exchange; every store
//! must hold the same heads and render the same canvas, with every note ever
//! added (trashed ones restorable). The harness checks on every message that
//! nothing is advertised before it is stored.
//!
//! Two kinds of case: *honest* networks (what TCP and laptops do: delays,
//! partitions, cuts, restarts; the final exchange re-dials only the links
//! that are down) and *hostile* ones (frames also lost, repeated and
//! reordered inside a connection, which a websocket never does; the final
//! exchange re-dials everything).
//!
//! `GAPMAP_CONVERGENCE_CASES` (default 1,000, half of each kind) and
//! `GAPMAP_CONVERGENCE_SEED` (a failing run prints it) set the run; for a
//! soak: `GAPMAP_CONVERGENCE_CASES=100000 cargo test -p gapmap-tests --test
//! e2e convergence -- --nocapture`.

use std::cell::RefCell;
use std::time::Instant;

use gapmap_canvas::{
    render, Canvas, DocId, FindingTarget, InterviewId, NoteId, Position, Section, Status,
};
use gapmap_proto::harness::{FaultStats, Harness, LinkId, PeerIdx};
use gapmap_proto::{Access, Config as EngineConfig, DocumentId};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const T0: i64 = 1_700_000_000_000;

/// Few sections, so that notes meet in them.
const SECTIONS: [Section; 3] = [Section::Now, Section::ToBe, Section::Constraint];

/// How peers are wired.
#[derive(Debug, Clone, Copy)]
enum Topology {
    /// Every peer dials a relay.
    Star,
    /// Every pair of peers is connected (the lower index dials).
    Mesh,
    /// Peer i dials peer i + 1.
    Chain,
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        peer: usize,
        section: usize,
        text: String,
    },
    Edit {
        peer: usize,
        note: usize,
        text: String,
    },
    Move {
        peer: usize,
        note: usize,
        section: usize,
        anchor: Option<(usize, bool)>,
    },
    Trash {
        peer: usize,
        note: usize,
    },
    Restore {
        peer: usize,
        note: usize,
    },
    Mark {
        peer: usize,
        note: usize,
        status: usize,
    },
    Vote {
        peer: usize,
        note: usize,
        person: usize,
    },
    Interview {
        peer: usize,
    },
    Finding {
        peer: usize,
        interview: usize,
        note: Option<usize>,
        text: String,
    },
    /// Deliver the next frame of one direction of a link now.
    Deliver {
        edge: usize,
        back: bool,
    },
    /// Process this many events in the usual order.
    Steps(u8),
    Partition {
        edge: usize,
    },
    Heal {
        edge: usize,
    },
    Cut {
        edge: usize,
    },
    Redial {
        edge: usize,
    },
    /// The peer (index = number of peers: the relay) dies and restarts.
    Restart {
        node: usize,
    },
    /// The node's store writes wait (or are done again).
    HoldStores {
        node: usize,
        hold: bool,
    },
    // Hostile only:
    Drop {
        edge: usize,
        back: bool,
    },
    Duplicate {
        edge: usize,
        back: bool,
    },
    Swap {
        edge: usize,
        back: bool,
    },
}

fn text() -> impl Strategy<Value = String> {
    "[a-zé]{1,6}( [a-z👋]{1,5}){0,2}"
}

fn op(hostile: bool) -> impl Strategy<Value = Op> {
    // Indices are reduced modulo what exists when the op runs.
    let (p, n, e) = (0usize..8, 0usize..12, 0usize..16);
    let canvas = prop_oneof![
        4 => (p.clone(), 0..SECTIONS.len(), text()).prop_map(|(peer, section, text)| Op::Add { peer, section, text }),
        // Low note indices: several peers edit the same text concurrently.
        4 => (p.clone(), 0usize..3, text()).prop_map(|(peer, note, text)| Op::Edit { peer, note, text }),
        2 => (p.clone(), n.clone(), 0..SECTIONS.len(), proptest::option::of((0usize..12, any::<bool>())))
            .prop_map(|(peer, note, section, anchor)| Op::Move { peer, note, section, anchor }),
        1 => (p.clone(), n.clone()).prop_map(|(peer, note)| Op::Trash { peer, note }),
        1 => (p.clone(), n.clone()).prop_map(|(peer, note)| Op::Restore { peer, note }),
        1 => (p.clone(), n.clone(), 0usize..3).prop_map(|(peer, note, status)| Op::Mark { peer, note, status }),
        1 => (p.clone(), n.clone(), 0usize..3).prop_map(|(peer, note, person)| Op::Vote { peer, note, person }),
        1 => p.clone().prop_map(|peer| Op::Interview { peer }),
        1 => (p.clone(), 0usize..4, proptest::option::of(n), text())
            .prop_map(|(peer, interview, note, text)| Op::Finding { peer, interview, note, text }),
    ];
    let network = prop_oneof![
        8 => (e.clone(), any::<bool>()).prop_map(|(edge, back)| Op::Deliver { edge, back }),
        6 => (1u8..16).prop_map(Op::Steps),
        1 => e.clone().prop_map(|edge| Op::Partition { edge }),
        1 => e.clone().prop_map(|edge| Op::Heal { edge }),
        1 => e.clone().prop_map(|edge| Op::Cut { edge }),
        2 => e.clone().prop_map(|edge| Op::Redial { edge }),
        1 => (0usize..9).prop_map(|node| Op::Restart { node }),
        1 => (0usize..9, any::<bool>()).prop_map(|(node, hold)| Op::HoldStores { node, hold }),
    ];
    let hostile_network = prop_oneof![
        (e.clone(), any::<bool>()).prop_map(|(edge, back)| Op::Drop { edge, back }),
        (e.clone(), any::<bool>()).prop_map(|(edge, back)| Op::Duplicate { edge, back }),
        (e, any::<bool>()).prop_map(|(edge, back)| Op::Swap { edge, back }),
    ];
    let hostile_weight = if hostile { 6 } else { 0 };
    prop_oneof![
        10 => canvas,
        12 => network,
        hostile_weight => hostile_network,
    ]
}

#[derive(Debug, Clone)]
struct Case {
    peers: usize,
    topology: Topology,
    hostile: bool,
    /// Every peer's changes are lent out to be applied (`Output::apply`),
    /// answered as events of their own, rather than applied at once.
    lend: bool,
    ops: Vec<Op>,
}

fn case(hostile: bool) -> impl Strategy<Value = Case> {
    (
        2usize..=5,
        prop_oneof![
            Just(Topology::Star),
            Just(Topology::Mesh),
            Just(Topology::Chain)
        ],
        any::<bool>(),
        proptest::collection::vec(op(hostile), 1..100),
    )
        .prop_map(move |(peers, topology, lend, ops)| Case {
            peers,
            topology,
            hostile,
            lend,
            ops,
        })
}

/// The network and what the test knows about it.
struct World {
    net: Harness,
    /// The application peers, then the relay if there is one.
    nodes: Vec<PeerIdx>,
    peers: usize,
    /// (dialler, listener) of each connection the topology wants.
    edges: Vec<(PeerIdx, PeerIdx)>,
    /// The current link of each edge, if it was ever dialled.
    links: Vec<Option<LinkId>>,
    doc: DocumentId,
    canvas_id: DocId,
    /// Every note ever added (by a change its store holds).
    notes: Vec<NoteId>,
    interviews: Vec<InterviewId>,
    /// Each peer's open copy of the canvas (as `gapmap ui` keeps one) and
    /// how many bytes of its store it has read; `None` after a restart.
    apps: Vec<Option<(usize, Canvas)>>,
    clock: i64,
}

impl World {
    fn new(case: &Case) -> World {
        let mut net = Harness::new();
        let peer = |net: &mut Harness, name: &str| {
            let mut config = EngineConfig::new(name.into(), format!("{name}-session"));
            if case.lend {
                config.limits.apply_inline_up_to = 0;
            }
            net.add_peer_with(config)
        };
        let mut nodes: Vec<PeerIdx> = (0..case.peers)
            .map(|i| peer(&mut net, &format!("peer-{i}")))
            .collect();
        let edges: Vec<(PeerIdx, PeerIdx)> = match case.topology {
            Topology::Star => {
                let relay = peer(&mut net, "relay");
                nodes.push(relay);
                (0..case.peers).map(|i| (nodes[i], relay)).collect()
            }
            Topology::Mesh => (0..case.peers)
                .flat_map(|i| ((i + 1)..case.peers).map(move |j| (i, j)))
                .map(|(i, j)| (nodes[i], nodes[j]))
                .collect(),
            Topology::Chain => (0..case.peers - 1)
                .map(|i| (nodes[i], nodes[i + 1]))
                .collect(),
        };
        let doc = net.create_doc(nodes[0], |d| {
            *d = Canvas::create("Field study", "peer-0", T0)
                .expect("create")
                .into_doc();
        });
        let canvas_id = DocId::parse(&doc.to_string()).expect("same id format");
        let mut world = World {
            net,
            nodes,
            peers: case.peers,
            links: vec![None; edges.len()],
            edges,
            doc,
            canvas_id,
            notes: Vec::new(),
            interviews: Vec::new(),
            apps: (0..case.peers).map(|_| None).collect(),
            clock: T0,
        };
        for edge in 0..world.edges.len() {
            world.redial(edge);
        }
        world.net.run_until_quiescent();
        // From here on, the network misbehaves.
        world.net.control_delivery();
        world
    }

    /// Dials the edge again if its link is down, and opens the document on
    /// it from both ends.
    fn redial(&mut self, edge: usize) {
        if self.links[edge].is_some_and(|l| self.net.is_open(l)) {
            return;
        }
        let (a, b) = self.edges[edge];
        let link = self.net.connect(a, b, Access::full());
        self.links[edge] = Some(link);
        self.net.open(a, link, self.doc);
        self.net.open(b, link, self.doc);
    }

    fn link(&self, edge: usize) -> Option<(LinkId, PeerIdx, PeerIdx)> {
        let i = edge % self.edges.len();
        let (a, b) = self.edges[i];
        self.links[i].map(|l| (l, a, b))
    }

    /// A canvas operation on `peer`'s copy, durably, as gapmap's CLI does.
    /// Errors (a note this peer has not seen yet, nothing to change) are
    /// ordinary and leave the document as it was.
    fn edit<R>(&mut self, peer: usize, f: impl FnOnce(&mut Canvas, i64) -> Option<R>) -> Option<R> {
        let peer = peer % self.peers;
        let node = self.nodes[peer];
        let stored = self.net.peer(node).storage.get(&self.doc)?;
        // Catch the open copy up with what peers brought into the store.
        let (read, canvas) = match &mut self.apps[peer] {
            Some((read, canvas)) => {
                canvas
                    .doc_mut()
                    .load_incremental(&stored[*read..])
                    .expect("stored chunks load");
                *read = stored.len();
                (read, canvas)
            }
            empty => {
                let mut canvas = Canvas::load(stored).expect("a canvas");
                canvas.set_actor(&[peer as u8 + 1; 16]);
                let (read, canvas) = empty.insert((stored.len(), canvas));
                (read, canvas)
            }
        };
        let before = canvas.doc_mut().get_heads();
        self.clock += 1_000;
        let result = f(canvas, self.clock);
        let changes = canvas.doc_mut().save_after(&before);
        if !changes.is_empty() {
            *read += changes.len();
            self.net.commit(node, self.doc, changes);
        }
        result
    }

    fn note(&self, i: usize) -> Option<NoteId> {
        (!self.notes.is_empty()).then(|| self.notes[i % self.notes.len()].clone())
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Add {
                peer,
                section,
                text,
            } => {
                if let Some(id) = self.edit(peer, |c, now| {
                    c.add_note(SECTIONS[section], &text, &[], &format!("peer-{peer}"), now)
                        .ok()
                }) {
                    self.notes.push(id);
                }
            }
            Op::Edit { peer, note, text } => {
                if let Some(id) = self.note(note) {
                    self.edit(peer, |c, now| c.edit_note(&id, &text, now).ok());
                }
            }
            Op::Move {
                peer,
                note,
                section,
                anchor,
            } => {
                if let Some(id) = self.note(note) {
                    let at = match anchor.and_then(|(n, before)| Some((self.note(n)?, before))) {
                        Some((n, true)) => Position::Before(n),
                        Some((n, false)) => Position::After(n),
                        None => Position::End,
                    };
                    self.edit(peer, |c, now| {
                        c.move_note(&id, SECTIONS[section], at, now).ok()
                    });
                }
            }
            Op::Trash { peer, note } => {
                if let Some(id) = self.note(note) {
                    self.edit(peer, |c, now| c.trash_note(&id, now).ok());
                }
            }
            Op::Restore { peer, note } => {
                if let Some(id) = self.note(note) {
                    self.edit(peer, |c, now| c.restore_note(&id, now).ok());
                }
            }
            Op::Mark { peer, note, status } => {
                if let Some(id) = self.note(note) {
                    self.edit(peer, |c, now| c.mark(&id, Status::ALL[status], now).ok());
                }
            }
            Op::Vote { peer, note, person } => {
                if let Some(id) = self.note(note) {
                    self.edit(peer, |c, now| {
                        c.vote(&id, &format!("person-{person}"), now).ok()
                    });
                }
            }
            Op::Interview { peer } => {
                if let Some(id) = self.edit(peer, |c, now| {
                    c.add_interview(
                        &format!("customer of peer {peer}"),
                        "user",
                        None,
                        "researcher",
                        now,
                    )
                    .ok()
                }) {
                    self.interviews.push(id);
                }
            }
            Op::Finding {
                peer,
                interview,
                note,
                text,
            } => {
                if self.interviews.is_empty() {
                    return;
                }
                let interview = self.interviews[interview % self.interviews.len()].clone();
                let target = match note.and_then(|n| self.note(n)) {
                    Some(n) if text.len() % 2 == 0 => FindingTarget::Supports(n),
                    Some(n) => FindingTarget::Contradicts(n),
                    None => FindingTarget::NewNote(SECTIONS[text.len() % SECTIONS.len()]),
                };
                if let Some((_, Some(new_note))) = self.edit(peer, |c, now| {
                    c.add_finding(&interview, &text, target, "researcher", now)
                        .ok()
                }) {
                    self.notes.push(new_note);
                }
            }
            Op::Deliver { edge, back } => self.on_link(edge, back, |net, l, to| {
                net.deliver(l, to);
            }),
            Op::Drop { edge, back } => self.on_link(edge, back, |net, l, to| {
                net.drop_frame(l, to);
            }),
            Op::Duplicate { edge, back } => self.on_link(edge, back, |net, l, to| {
                net.duplicate_frame(l, to);
            }),
            Op::Swap { edge, back } => self.on_link(edge, back, |net, l, to| {
                net.swap_frames(l, to);
            }),
            Op::Steps(n) => {
                for _ in 0..n {
                    self.net.step();
                }
            }
            Op::Partition { edge } => {
                if let Some((l, _, _)) = self.link(edge) {
                    self.net.partition(l);
                }
            }
            Op::Heal { edge } => {
                if let Some((l, _, _)) = self.link(edge) {
                    self.net.heal(l);
                }
            }
            Op::Cut { edge } => {
                if let Some((l, _, _)) = self.link(edge) {
                    self.net.disconnect(l);
                }
            }
            Op::Redial { edge } => self.redial(edge % self.edges.len()),
            Op::Restart { node } => {
                let node = node % self.nodes.len();
                self.net.restart(self.nodes[node]);
                if let Some(app) = self.apps.get_mut(node) {
                    *app = None;
                }
            }
            Op::HoldStores { node, hold } => {
                let node = self.nodes[node % self.nodes.len()];
                self.net.peer_mut(node).auto_persist = !hold;
                if !hold {
                    self.net.flush_stores(node);
                }
            }
        }
    }

    fn on_link(&mut self, edge: usize, back: bool, f: impl FnOnce(&mut Harness, LinkId, PeerIdx)) {
        if let Some((l, a, b)) = self.link(edge) {
            f(&mut self.net, l, if back { a } else { b });
        }
    }

    /// The final full exchange: partitions heal, stores are done, links
    /// that are down (all of them, after a hostile network) are dialled
    /// again, and the network runs until it is quiet.
    fn settle(&mut self, redial_all: bool) -> Result<(), TestCaseError> {
        self.net.heal_all();
        for &node in &self.nodes {
            self.net.peer_mut(node).auto_persist = true;
            self.net.flush_stores(node);
        }
        // Whatever the network did, the engines fall quiet on the links
        // they have (a stalled sync is quiet too): no endless exchange.
        prop_assert!(
            self.net.run_at_most(50_000),
            "livelock: the engines never stop talking"
        );
        if redial_all {
            for l in self.links.iter().flatten() {
                self.net.disconnect(*l);
            }
        }
        for edge in 0..self.edges.len() {
            self.redial(edge);
        }
        prop_assert!(
            self.net.run_at_most(50_000),
            "livelock after the final exchange"
        );
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let reference = self.nodes[0];
        let mut heads = self.net.stored_heads(reference, self.doc);
        heads.sort();
        prop_assert!(!heads.is_empty());
        let render = |node: PeerIdx| {
            self.net
                .with_stored(node, self.doc, |doc| {
                    let canvas = Canvas::load(&doc.save()).expect("stored canvas loads");
                    (render::to_json(&canvas, &self.canvas_id), canvas)
                })
                .expect("stored")
        };
        let (json, canvas) = render(reference);
        for &node in &self.nodes[1..] {
            prop_assert!(self.net.peer(node).held.is_empty());
            let mut theirs = self.net.stored_heads(node, self.doc);
            theirs.sort();
            prop_assert_eq!(&theirs, &heads, "node {} differs", node.0);
            prop_assert_eq!(
                &render(node).0,
                &json,
                "node {} renders differently",
                node.0
            );
        }
        for id in &self.notes {
            let note = canvas.note(id);
            prop_assert!(note.is_some(), "note {} was lost", id);
            if note.is_some_and(|n| n.trashed_at.is_some()) {
                let mut fork = Canvas::load(&canvas.doc().clone().save()).unwrap();
                fork.restore_note(id, self.clock + 1).expect("restorable");
                prop_assert!(fork.note(id).unwrap().trashed_at.is_none());
            }
        }
        Ok(())
    }
}

/// Figures over a run.
#[derive(Default)]
struct Figures {
    cases: usize,
    ops: usize,
    notes: usize,
    faults: FaultStats,
}

fn add(total: &mut FaultStats, s: FaultStats) {
    total.delivered_early += s.delivered_early;
    total.dropped += s.dropped;
    total.duplicated += s.duplicated;
    total.reordered += s.reordered;
    total.partitions += s.partitions;
    total.lost_in_cuts += s.lost_in_cuts;
    total.restarts += s.restarts;
    total.lost_stores += s.lost_stores;
}

fn run(hostile: bool, cases: u32) -> Figures {
    let figures = RefCell::new(Figures::default());
    let seed: u64 = std::env::var("GAPMAP_CONVERGENCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand_seed);
    eprintln!(
        "convergence ({}): GAPMAP_CONVERGENCE_SEED={seed}",
        if hostile { "hostile" } else { "honest" }
    );
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let result = runner.run(&case(hostile), |case| {
        let mut world = World::new(&case);
        let n = case.ops.len();
        for op in case.ops {
            world.apply(op);
        }
        world.settle(case.hostile)?;
        world.check()?;
        let mut f = figures.borrow_mut();
        f.cases += 1;
        f.ops += n;
        f.notes += world.notes.len();
        add(&mut f.faults, world.net.fault_stats());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n(replay with GAPMAP_CONVERGENCE_SEED={seed})");
    }
    figures.into_inner()
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn cases() -> u32 {
    std::env::var("GAPMAP_CONVERGENCE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000)
}

fn report(kind: &str, f: &Figures, took: std::time::Duration) {
    let s = f.faults;
    eprintln!(
        "convergence ({kind}): {} cases, {} operations, {} notes, in {took:.1?}; faults: \
         {} frames delivered out of turn, {} dropped, {} duplicated, {} reordered, \
         {} partitions, {} frames lost in cuts and restarts, {} restarts, {} stores lost in restarts; \
         every case converged",
        f.cases, f.ops, f.notes, s.delivered_early, s.dropped, s.duplicated, s.reordered,
        s.partitions, s.lost_in_cuts, s.restarts, s.lost_stores
    );
}

#[test]
fn honest_networks_converge() {
    let started = Instant::now();
    let f = run(false, cases() / 2);
    report("honest", &f, started.elapsed());
}

#[test]
fn hostile_networks_converge_after_a_fresh_exchange() {
    let started = Instant::now();
    let f = run(true, cases() - cases() / 2);
    report("hostile", &f, started.elapsed());
}
