//! The decoder never panics, and encode/decode round-trips.

use gapmap_proto::{
    Access, Config, ConnId, DecodeLimits, DocumentId, Engine, Event, Message, PeerId, PeerMetadata,
    Role, Timestamp,
};
use proptest::prelude::*;

fn peer_id() -> impl Strategy<Value = PeerId> {
    "[a-z0-9-]{0,40}".prop_map(PeerId::from)
}

fn document_id() -> impl Strategy<Value = DocumentId> {
    any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
}

fn metadata() -> impl Strategy<Value = PeerMetadata> {
    (proptest::option::of("[a-f0-9-]{0,36}"), any::<bool>()).prop_map(
        |(storage_id, is_ephemeral)| PeerMetadata {
            storage_id,
            is_ephemeral,
        },
    )
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            peer_id(),
            metadata(),
            proptest::option::of(proptest::collection::vec("[0-9]{1,3}", 0..4))
        )
            .prop_map(|(sender_id, peer_metadata, supported_protocol_versions)| {
                Message::Join {
                    sender_id,
                    peer_metadata,
                    supported_protocol_versions,
                }
            }),
        (peer_id(), peer_id(), metadata(), "[0-9]{1,3}").prop_map(|(s, t, m, v)| Message::Peer {
            sender_id: s,
            target_id: t,
            peer_metadata: m,
            selected_protocol_version: v,
        }),
        ".{0,80}".prop_map(|message| Message::Error { message }),
        peer_id().prop_map(|sender_id| Message::Leave { sender_id }),
        (peer_id(), peer_id(), document_id(), data()).prop_map(|(s, t, d, data)| Message::Sync {
            sender_id: s,
            target_id: t,
            document_id: d,
            data,
        }),
        (peer_id(), peer_id(), document_id(), data()).prop_map(|(s, t, d, data)| {
            Message::Request {
                sender_id: s,
                target_id: t,
                document_id: d,
                data,
            }
        }),
        (peer_id(), peer_id(), document_id()).prop_map(|(s, t, d)| Message::DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d,
        }),
        (
            peer_id(),
            peer_id(),
            document_id(),
            data(),
            any::<u64>(),
            "[a-z0-9]{0,12}"
        )
            .prop_map(|(s, t, d, data, count, session_id)| Message::Ephemeral {
                sender_id: s,
                target_id: t,
                document_id: d,
                data,
                count,
                session_id,
            }),
        "[a-z-]{1,30}"
            .prop_filter("not a known type", |t| Message::decode(
                &Message::Unknown {
                    type_name: t.clone()
                }
                .encode()
            )
            .is_ok_and(|m| matches!(m, Message::Unknown { .. })))
            .prop_map(|type_name| Message::Unknown { type_name }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::decode(&bytes);
        let _ = Message::decode_with(&bytes, &DecodeLimits { max_frame_size: 256, max_depth: 2 });
    }

    #[test]
    fn mutated_real_frames_never_panic(
        message in message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = message.encode();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = Message::decode(&bytes);
        let _ = Message::decode(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn encode_then_decode_is_identity(message in message()) {
        prop_assert_eq!(Message::decode(&message.encode()).unwrap(), message);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever a peer sends after (or instead of) a handshake, the engine
    /// answers without panicking.
    #[test]
    fn an_engine_survives_arbitrary_messages(
        handshake_first in any::<bool>(),
        messages in proptest::collection::vec(message(), 1..6),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut engine = Engine::new(Config::new(PeerId::from("relay"), "s"));
        let now = Timestamp::from_millis(0);
        let conn = ConnId(1);
        let _ = engine.handle(now, Event::ConnectionOpened { conn, role: Role::Server, access: Access::full(), credential: gapmap_proto::Credential::OPEN });
        if handshake_first {
            let join = gapmap_proto::handshake::join(PeerId::from(""), PeerMetadata::default());
            let _ = engine.handle(now, Event::Message { conn, message: join });
        }
        for message in messages {
            let mut out = engine.handle(now, Event::Frame { conn, data: message.encode() });
            for id in std::mem::take(&mut out.load) {
                let _ = engine.handle(now, Event::Loaded { document_id: id, document: None });
            }
        }
        let _ = engine.handle(now, Event::Frame { conn, data: junk });
        let _ = engine.handle(now.plus_millis(60_000), Event::Tick);
    }
}
