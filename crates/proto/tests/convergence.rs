//! Random edits, disconnections and interleavings on a star of peers around
//! a relay: once everyone reconnects and the network settles, every store
//! holds the same document. (The harness also checks on every message that
//! nothing is advertised before it is stored.)

use automerge::transaction::Transactable;
use automerge::ROOT;
use gapmap_proto::harness::{Harness, LinkId, PeerIdx};
use gapmap_proto::Access;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// A peer (0..3) edits its copy.
    Edit(usize, u8),
    /// A peer's link drops.
    Disconnect(usize),
    /// A dropped peer dials again and reopens the document.
    Reconnect(usize),
    /// Some events are processed (the rest stay in flight).
    Steps(u8),
    /// The relay holds or releases its stores.
    RelayStores(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, any::<u8>()).prop_map(|(p, v)| Op::Edit(p, v)),
        1 => (0..3usize).prop_map(Op::Disconnect),
        1 => (0..3usize).prop_map(Op::Reconnect),
        3 => any::<u8>().prop_map(Op::Steps),
        1 => any::<bool>().prop_map(Op::RelayStores),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn everyone_converges(ops in proptest::collection::vec(op(), 1..40)) {
        let mut net = Harness::new();
        let relay = net.add_peer("relay");
        let peers: Vec<PeerIdx> = ["alice", "bob", "carol"].iter().map(|n| net.add_peer(n)).collect();
        let mut links: Vec<Option<LinkId>> = peers
            .iter()
            .map(|&p| Some(net.connect(p, relay, Access::full())))
            .collect();
        let doc = net.create_doc(peers[0], |d| {
            d.put(ROOT, "title", "start").unwrap();
        });
        net.open(peers[0], links[0].unwrap(), doc);
        net.run_until_quiescent();
        for i in 1..3 {
            net.open(peers[i], links[i].unwrap(), doc);
        }
        net.run_until_quiescent();

        for op in ops {
            match op {
                Op::Edit(i, v) => {
                    if net.stored(peers[i], doc).is_some() {
                        net.change_doc(peers[i], doc, |d| {
                            d.put(ROOT, format!("k{i}"), i64::from(v)).unwrap();
                        });
                    }
                }
                Op::Disconnect(i) => {
                    if let Some(link) = links[i].take() {
                        net.disconnect(link);
                    }
                }
                Op::Reconnect(i) => {
                    if links[i].is_none() {
                        let link = net.connect(peers[i], relay, Access::full());
                        net.open(peers[i], link, doc);
                        links[i] = Some(link);
                    }
                }
                Op::Steps(n) => {
                    for _ in 0..n {
                        net.step();
                    }
                }
                Op::RelayStores(auto) => {
                    net.peer_mut(relay).auto_persist = auto;
                    if auto {
                        net.flush_stores(relay);
                    }
                }
            }
        }
        // Heal: everyone reconnects, the relay stores again.
        net.peer_mut(relay).auto_persist = true;
        net.flush_stores(relay);
        for i in 0..3 {
            if links[i].is_none() {
                let link = net.connect(peers[i], relay, Access::full());
                net.open(peers[i], link, doc);
                links[i] = Some(link);
            }
        }
        net.run_until_quiescent();
        net.flush_stores(relay);
        net.run_until_quiescent();

        let heads = net.stored_heads(relay, doc);
        prop_assert!(!heads.is_empty());
        for &p in &peers {
            prop_assert_eq!(net.stored_heads(p, doc), heads.clone());
        }
        prop_assert!(net.peer(relay).held.is_empty());
    }
}
