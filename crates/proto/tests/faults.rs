//! The harness's network faults, one at a time, on a client and a relay:
//! what each does to a sync, and that a fresh connection always recovers.
//! (The random mix of all of them over canvases is
//! `tests/tests/e2e/convergence.rs`.)

use automerge::transaction::Transactable;
use automerge::ROOT;
use gapmap_proto::harness::{Harness, LinkId, PeerIdx};
use gapmap_proto::{Access, DocumentId};

struct Pair {
    net: Harness,
    relay: PeerIdx,
    alice: PeerIdx,
    link: LinkId,
    doc: DocumentId,
}

/// Alice and a relay, in sync on one document; delivery controlled from here.
fn pair() -> Pair {
    let mut net = Harness::new();
    let relay = net.add_peer("relay");
    let alice = net.add_peer("alice");
    let link = net.connect(alice, relay, Access::full());
    let doc = net.create_doc(alice, |d| {
        d.put(ROOT, "title", "Faults").unwrap();
    });
    net.open(alice, link, doc);
    net.run_until_quiescent();
    assert_eq!(net.stored_heads(relay, doc), net.stored_heads(alice, doc));
    net.control_delivery();
    Pair {
        net,
        relay,
        alice,
        link,
        doc,
    }
}

impl Pair {
    /// Runs the network until a frame is on its way to the relay.
    fn until_in_flight_to_relay(&mut self) {
        while self.net.in_flight(self.link, self.relay) == 0 {
            assert!(self.net.step());
        }
    }

    fn edit(&mut self, key: &str) {
        let (alice, doc) = (self.alice, self.doc);
        self.net.change_doc(alice, doc, |d| {
            d.put(ROOT, key, true).unwrap();
        });
    }

    fn in_sync(&self) -> bool {
        self.net.stored_heads(self.relay, self.doc) == self.net.stored_heads(self.alice, self.doc)
    }

    /// Alice dials again and reopens the document.
    fn redial(&mut self) {
        self.net.disconnect(self.link);
        self.link = self.net.connect(self.alice, self.relay, Access::full());
        self.net.open(self.alice, self.link, self.doc);
        self.net.run_until_quiescent();
    }
}

#[test]
fn frames_wait_on_their_link_until_delivered() {
    let mut p = pair();
    p.edit("one");
    // Process everything but the frames: alice's change waits on the link.
    p.until_in_flight_to_relay();
    assert!(!p.in_sync());
    assert!(p.net.deliver(p.link, p.relay));
    p.net.run_until_quiescent();
    assert!(p.in_sync());
    assert_eq!(p.net.fault_stats().delivered_early, 1);
}

#[test]
fn a_partition_holds_frames_until_it_heals() {
    let mut p = pair();
    p.net.partition(p.link);
    p.edit("one");
    p.net.run_until_quiescent();
    assert!(!p.in_sync());
    assert!(p.net.in_flight(p.link, p.relay) > 0);
    p.net.heal(p.link);
    p.net.run_until_quiescent();
    assert!(p.in_sync());
}

#[test]
fn a_dropped_frame_stalls_the_connection_and_a_fresh_one_recovers() {
    let mut p = pair();
    p.edit("one");
    p.until_in_flight_to_relay();
    assert!(p.net.drop_frame(p.link, p.relay));
    p.net.run_until_quiescent();
    // Automerge's sync assumes every message arrives: this one stalls…
    assert!(!p.in_sync());
    // …until the peers meet on a new connection.
    p.redial();
    assert!(p.in_sync());
    assert_eq!(p.net.fault_stats().dropped, 1);
}

/// Regression: after a lost change, the next change (which depends on it)
/// made the relay ask for the lost one by hash, and alice's automerge,
/// which had "already sent" it, answered without it — forever: the two
/// engines exchanged ~160-byte messages until the harness gave up after a
/// million events. A `need` now makes the engine send those changes again.
#[test]
fn a_peer_that_needs_a_lost_change_gets_it_again() {
    let mut p = pair();
    p.edit("one");
    p.until_in_flight_to_relay();
    assert!(p.net.drop_frame(p.link, p.relay));
    p.net.run_until_quiescent();
    p.edit("two");
    let mut steps = 0;
    while p.net.step() {
        steps += 1;
        assert!(steps < 1_000, "alice and the relay never stop talking");
    }
    assert!(p.in_sync());
}

#[test]
fn duplicated_and_reordered_frames_break_nothing_a_fresh_connection_cannot_fix() {
    let mut p = pair();
    for key in ["one", "two", "three"] {
        p.edit(key);
    }
    while p.net.in_flight(p.link, p.relay) < 2 {
        assert!(p.net.step());
    }
    assert!(p.net.duplicate_frame(p.link, p.relay));
    assert!(p.net.swap_frames(p.link, p.relay));
    p.net.run_until_quiescent();
    p.redial();
    assert!(p.in_sync());
    let stats = p.net.fault_stats();
    assert_eq!((stats.duplicated, stats.reordered), (1, 1));
}

#[test]
fn a_restart_loses_only_what_was_never_acknowledged() {
    let mut p = pair();
    p.net.peer_mut(p.relay).auto_persist = false;
    let before = p.net.stored_heads(p.relay, p.doc);
    p.edit("unstored");
    p.net.run_until_quiescent();
    // The relay applied the change in memory and asked for a store that
    // never happens; it told no one of the new heads.
    assert_eq!(p.net.peer(p.relay).held.len(), 1);
    assert_eq!(p.net.stored_heads(p.relay, p.doc), before);
    p.net.restart(p.relay);
    p.net.run_until_quiescent();
    assert!(!p.net.is_open(p.link));
    let stats = p.net.fault_stats();
    assert_eq!((stats.restarts, stats.lost_stores), (1, 1));
    // Alice still holds her change (it was durable before it was sent) and
    // gives it again on the next connection.
    p.net.peer_mut(p.relay).auto_persist = true;
    p.redial();
    assert!(p.in_sync());
}

#[test]
fn a_close_in_flight_arrives_after_the_frames_before_it() {
    let mut p = pair();
    p.net.partition(p.link);
    // The relay refuses a bad frame: `error`, then the close, both in flight.
    p.net.inject_frame(p.relay, p.link, vec![0xff]);
    p.net.run_until_quiescent();
    assert!(!p.net.is_open(p.link));
    assert_eq!(p.net.in_flight(p.link, p.alice), 2);
    p.net.heal(p.link);
    p.net.run_until_quiescent();
    assert_eq!(
        p.net.peer(p.alice).closed.len(),
        1,
        "alice read the error and closed"
    );
    assert_eq!(p.net.peer(p.alice).engine.connections().count(), 0);
}
