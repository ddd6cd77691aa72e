//! What an unreliable network and crashing peers do to the harness.
//!
//! After [`Harness::control_delivery`] every frame waits on its link, per
//! direction, until something takes it off: [`Harness::step`] (and so
//! [`Harness::run_until_quiescent`]) delivers frames in order once no other
//! event is queued, and a test can interfere first:
//!
//! | call | the network |
//! |---|---|
//! | [`Harness::deliver`] | delivers the next frame on one direction of a link now (the rest of the network waits: a delay elsewhere) |
//! | [`Harness::drop_frame`] | loses it |
//! | [`Harness::duplicate_frame`] | delivers a copy and keeps the frame in flight |
//! | [`Harness::swap_frames`] | swaps the next two (reordering) |
//! | [`Harness::partition`] / [`Harness::heal`] | holds every frame on a link, both ways, then lets them go |
//! | [`Harness::disconnect`] | cuts the link; what was in flight is lost |
//! | [`Harness::restart`] | the peer's process dies and starts again on its store |
//!
//! A websocket never drops, repeats or reorders frames inside one
//! connection, so the first three model a broken transport (or a buggy
//! peer): the engines must not panic or corrupt a store, and a fresh
//! connection must bring everyone back together. Delays, partitions, cuts
//! and restarts are what real networks and laptops do; convergence must
//! follow from them alone.

use std::collections::VecDeque;

use crate::{Engine, Event};

use super::{Harness, InFlight, LinkId, PeerIdx};

/// How many faults a harness injected, for the figures a test reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames delivered out of turn ([`Harness::deliver`]): every other link
    /// was delayed behind them.
    pub delivered_early: usize,
    /// Frames lost ([`Harness::drop_frame`]).
    pub dropped: usize,
    /// Frames delivered twice ([`Harness::duplicate_frame`]).
    pub duplicated: usize,
    /// Frame pairs swapped ([`Harness::swap_frames`]).
    pub reordered: usize,
    /// Links partitioned ([`Harness::partition`]).
    pub partitions: usize,
    /// Frames lost because their link was cut or a peer restarted.
    pub lost_in_cuts: usize,
    /// Peers restarted ([`Harness::restart`]).
    pub restarts: usize,
    /// Stores lost in restarts (requested, never done).
    pub lost_stores: usize,
}

impl Harness {
    /// From now on, frames wait on their link until delivered (see the
    /// [module documentation](self)). Frames already queued are delivered
    /// as before.
    pub fn control_delivery(&mut self) {
        self.controlled = true;
    }

    /// What the network did so far.
    pub fn fault_stats(&self) -> FaultStats {
        self.faults
    }

    /// Whether a link is open.
    pub fn is_open(&self, link: LinkId) -> bool {
        self.links[link.0].open
    }

    /// The links `peer` is an end of, open or not, oldest first.
    pub fn links_of(&self, peer: PeerIdx) -> Vec<LinkId> {
        (0..self.links.len())
            .filter(|&i| self.links[i].ends.iter().any(|(p, _)| *p == peer))
            .map(LinkId)
            .collect()
    }

    /// Frames (and closes) in flight on `link` towards `to`.
    pub fn in_flight(&self, link: LinkId, to: PeerIdx) -> usize {
        self.queue_to(link, to).map_or(0, VecDeque::len)
    }

    /// Delivers the next frame on `link` towards `to`, ahead of everything
    /// else in flight; false if there was none.
    pub fn deliver(&mut self, link: LinkId, to: PeerIdx) -> bool {
        let Some(item) = self.queue_to_mut(link, to).and_then(VecDeque::pop_front) else {
            return false;
        };
        self.faults.delivered_early += 1;
        let event = self.arrival(link, to, item);
        let output = self.peers[to.0].engine.handle(self.now, event);
        self.carry_out(to, output);
        true
    }

    /// Loses the next frame on `link` towards `to`; false if there was none
    /// (a close is never lost: the connection still ends).
    pub fn drop_frame(&mut self, link: LinkId, to: PeerIdx) -> bool {
        let Some(q) = self.queue_to_mut(link, to) else {
            return false;
        };
        if !matches!(q.front(), Some(InFlight::Frame(_))) {
            return false;
        }
        q.pop_front();
        self.faults.dropped += 1;
        true
    }

    /// Delivers a copy of the next frame on `link` towards `to` and keeps
    /// the frame in flight; false if there was none.
    pub fn duplicate_frame(&mut self, link: LinkId, to: PeerIdx) -> bool {
        let Some(InFlight::Frame(frame)) = self.queue_to(link, to).and_then(VecDeque::front) else {
            return false;
        };
        let copy = InFlight::Frame(frame.clone());
        self.faults.duplicated += 1;
        let event = self.arrival(link, to, copy);
        let output = self.peers[to.0].engine.handle(self.now, event);
        self.carry_out(to, output);
        true
    }

    /// Swaps the next two frames on `link` towards `to`; false if there are
    /// not two frames.
    pub fn swap_frames(&mut self, link: LinkId, to: PeerIdx) -> bool {
        let Some(q) = self.queue_to_mut(link, to) else {
            return false;
        };
        if q.len() < 2 || !q.iter().take(2).all(|i| matches!(i, InFlight::Frame(_))) {
            return false;
        }
        q.swap(0, 1);
        self.faults.reordered += 1;
        true
    }

    /// Holds every frame on `link`, both ways, until [`Harness::heal`].
    pub fn partition(&mut self, link: LinkId) {
        let l = &mut self.links[link.0];
        if !l.partitioned {
            l.partitioned = true;
            self.faults.partitions += 1;
        }
    }

    /// Lets frames on `link` flow again.
    pub fn heal(&mut self, link: LinkId) {
        self.links[link.0].partitioned = false;
    }

    /// Heals every partition.
    pub fn heal_all(&mut self) {
        for l in &mut self.links {
            l.partitioned = false;
        }
    }

    /// `peer`'s process dies and starts again: a fresh engine on the same
    /// configuration and the same store. Stores it had not carried out are
    /// lost; so are the events queued for it and the frames in flight to or
    /// from it. Its connections close (the other ends see them close);
    /// dialing again and reopening documents is the test's business.
    pub fn restart(&mut self, peer: PeerIdx) {
        self.faults.restarts += 1;
        let p = &mut self.peers[peer.0];
        self.faults.lost_stores += p.held.len();
        p.held.clear();
        p.muted = false;
        p.engine = Engine::new(p.config.clone());
        self.queue.retain(|(to, _)| *to != peer);
        let mut closed = Vec::new();
        for l in &mut self.links {
            let Some(ours) = l.ends.iter().position(|(p, _)| *p == peer) else {
                continue;
            };
            // A close already in flight to the other end still arrives.
            let closing = !l.queues[1 - ours].is_empty();
            for q in &mut l.queues {
                self.faults.lost_in_cuts += q.len();
                q.clear();
            }
            if l.open || closing {
                l.open = false;
                closed.push(l.ends[1 - ours]);
            }
        }
        for (other, conn) in closed {
            self.queue
                .push_back((other, Event::ConnectionClosed { conn }));
        }
    }

    // ---- plumbing ----------------------------------------------------------

    /// Puts what `from` sent on `conn` in flight to the other end.
    pub(super) fn enqueue(&mut self, from: super::PeerIdx, conn: crate::ConnId, item: InFlight) {
        let Some(link) = self.link_of(from, conn) else {
            return;
        };
        let l = &mut self.links[link];
        let to = usize::from(l.ends[0] == (from, conn));
        l.queues[to].push_back(item);
    }

    /// The next delivery on a link that is not partitioned, lowest link
    /// first, as an event for its receiver.
    pub(super) fn next_in_flight(&mut self) -> Option<(PeerIdx, Event)> {
        let (link, end) = self.links.iter().enumerate().find_map(|(i, l)| {
            if l.partitioned {
                return None;
            }
            (0..2).find(|&e| !l.queues[e].is_empty()).map(|e| (i, e))
        })?;
        let to = self.links[link].ends[end].0;
        let item = self.links[link].queues[end].pop_front()?;
        Some((to, self.arrival(LinkId(link), to, item)))
    }

    /// The event `to` sees when `item` arrives on `link`.
    fn arrival(&self, link: LinkId, to: PeerIdx, item: InFlight) -> Event {
        let conn = self.conn(to, link);
        match item {
            InFlight::Frame(data) => Event::Frame { conn, data },
            InFlight::Close => Event::ConnectionClosed { conn },
        }
    }

    fn end_index(&self, link: LinkId, to: PeerIdx) -> Option<usize> {
        self.links[link.0].ends.iter().position(|(p, _)| *p == to)
    }

    fn queue_to(&self, link: LinkId, to: PeerIdx) -> Option<&VecDeque<InFlight>> {
        let end = self.end_index(link, to)?;
        Some(&self.links[link.0].queues[end])
    }

    fn queue_to_mut(&mut self, link: LinkId, to: PeerIdx) -> Option<&mut VecDeque<InFlight>> {
        let end = self.end_index(link, to)?;
        Some(&mut self.links[link.0].queues[end])
    }
}
