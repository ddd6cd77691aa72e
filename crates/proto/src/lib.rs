//! gapmap's sync protocol, without IO: the automerge-repo websocket protocol
//! version "1" (so unmodified automerge-repo 2.5 JavaScript peers and gapmap
//! peers sync with each other), as data and pure state machines.
//!
//! - [`message`]: the wire [`Message`]s and their CBOR codec. The encoder
//!   writes byte-for-byte what automerge-repo writes; the decoder accepts
//!   anything reasonable another encoder sends and is bounded
//!   ([`DecodeLimits`]).
//! - [`DocumentId`]: base58check document ids and `automerge:` URLs.
//! - [`handshake`]: `join` → `peer` / `error`.
//! - [`engine`]: the [`Engine`], one per local repo (relay, peer or client):
//!   connections, per-(peer, document) Automerge sync states, requests for
//!   missing documents, access control, ephemeral messages, and the rule
//!   that no heads are advertised before they are durable. Its module
//!   documentation says how to drive it.
//! - `harness` (feature `harness`): a deterministic in-memory network of
//!   engines for tests.
//!
//! No tokio, no sockets, no clock, no randomness: the caller passes time and
//! random values in and carries out the effects the engine returns.
//!
//! # Example: one frame, decoded and answered
//!
//! ```
//! use gapmap_proto::{Access, Config, ConnId, Credential, Engine, Event, Message, Role, Timestamp};
//!
//! // A join exactly as automerge-repo 2.5's websocket client sends it.
//! let frame = gapmap_proto::handshake::join("browser-tab".into(), Default::default()).encode();
//! assert_eq!(Message::decode(&frame)?.type_name(), "join");
//!
//! let mut relay = Engine::new(Config::new("relay".into(), "a random session id"));
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let conn = ConnId(7);
//! let _ = relay.handle(now, Event::ConnectionOpened { conn, role: Role::Server, access: Access::full(), credential: Credential::OPEN });
//! let output = relay.handle(now, Event::Frame { conn, data: frame });
//!
//! // The relay answers `peer`, selecting protocol "1".
//! let reply = &output.send[0];
//! assert_eq!(reply.conn, conn);
//! let Message::Peer { selected_protocol_version, target_id, .. } = &reply.message else {
//!     panic!("expected peer, got {:?}", reply.message)
//! };
//! assert_eq!((selected_protocol_version.as_str(), target_id.as_str()), ("1", "browser-tab"));
//! let bytes_for_the_socket: Vec<u8> = reply.message.encode();
//! # let _ = bytes_for_the_socket;
//! # Ok::<(), gapmap_proto::DecodeError>(())
//! ```
#![deny(missing_docs)]

mod document_id;
pub mod engine;
pub mod handshake;
#[cfg(any(test, feature = "harness"))]
pub mod harness;
pub mod message;
mod peer;

pub use document_id::{DocumentId, DocumentIdError, URL_PREFIX};
pub use engine::{
    Access, Applied, Apply, CloseReason, Config, ConnId, Credential, Engine, Event, Limits, Notice,
    Outgoing, Output, Persist, ProtocolError, Role, SyncStatus, Timestamp,
};
pub use message::{DecodeError, DecodeLimits, Message, PROTOCOL_V1};
pub use peer::{PeerId, PeerMetadata};
