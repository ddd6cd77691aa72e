//! The opening exchange of a connection: `join` from the client, `peer` (or
//! `error` and a close) from the server.
//!
//! Pure functions; the [`Engine`](crate::Engine) calls them, and they are
//! public for tools that speak the handshake without an engine.
//!
//! ```
//! use gapmap_proto::handshake::{self, ServerOutcome};
//! use gapmap_proto::{PeerId, PeerMetadata};
//!
//! let join = handshake::join(PeerId::from("client"), PeerMetadata::default());
//! let server = PeerId::from("server");
//! let ServerOutcome::Accept { peer, reply } =
//!     handshake::answer_join(&server, &PeerMetadata::default(), &join)
//! else {
//!     panic!("rejected")
//! };
//! assert_eq!(peer.peer_id.as_str(), "client");
//! let accepted = handshake::check_peer(&reply).unwrap();
//! assert_eq!(accepted.peer_id, server);
//! ```

use crate::{Message, PeerId, PeerMetadata, PROTOCOL_V1};

/// The other end, once the handshake succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The remote repo's peer id.
    pub peer_id: PeerId,
    /// What the remote said about its storage.
    pub peer_metadata: PeerMetadata,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A message other than the one the handshake expects at this point.
    #[error("expected a {expected} message, got {got}")]
    Unexpected {
        /// `"join"` (server side) or `"peer"` (client side).
        expected: &'static str,
        /// The type that came instead.
        got: String,
    },
    /// The client offered no version this side speaks.
    #[error("unsupported protocol version (offered {0:?}, this peer speaks \"1\")")]
    UnsupportedVersions(Vec<String>),
    /// The server selected a version the client did not offer.
    #[error("server selected protocol version {0:?}, this peer speaks \"1\"")]
    WrongVersionSelected(String),
    /// The server answered with `error`.
    #[error("server refused: {0}")]
    Refused(String),
    /// An accepted connection with other credentials holds this peer id
    /// (see [`Credential`](crate::Credential)); it stays, the newcomer is
    /// refused.
    #[error(
        "peer id {0} is connected already with other credentials; join with a peer id of your own"
    )]
    PeerIdInUse(PeerId),
}

/// The text automerge-repo's server sends when no offered version fits; kept
/// identical so JavaScript clients see the message they know.
pub const UNSUPPORTED_VERSION_TEXT: &str = "unsupported protocol version";

/// A client's `join`, offering protocol "1".
pub fn join(us: PeerId, metadata: PeerMetadata) -> Message {
    Message::Join {
        sender_id: us,
        peer_metadata: metadata,
        supported_protocol_versions: Some(vec![PROTOCOL_V1.to_owned()]),
    }
}

/// What a server does with a client's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutcome {
    /// Send `reply` (a `peer`); the connection is open.
    Accept {
        /// The client.
        peer: Accepted,
        /// The `peer` message to send back.
        reply: Message,
    },
    /// Send `reply` (an `error`), then close the connection.
    Reject {
        /// Why.
        error: HandshakeError,
        /// The `error` message to send back.
        reply: Message,
    },
}

/// The server side: answers a client's first message.
///
/// A `join` that offers "1" is accepted, as is one that offers no list at
/// all (automerge-repo's server reads a missing list as "1"). Anything else is
/// rejected.
pub fn answer_join(us: &PeerId, our_metadata: &PeerMetadata, message: &Message) -> ServerOutcome {
    let reject = |error: HandshakeError| {
        let text = match &error {
            HandshakeError::UnsupportedVersions(_) => UNSUPPORTED_VERSION_TEXT.to_owned(),
            other => other.to_string(),
        };
        ServerOutcome::Reject {
            error,
            reply: Message::Error { message: text },
        }
    };
    let Message::Join {
        sender_id,
        peer_metadata,
        supported_protocol_versions,
    } = message
    else {
        return reject(HandshakeError::Unexpected {
            expected: "join",
            got: message.type_name().to_owned(),
        });
    };
    if let Some(versions) = supported_protocol_versions {
        if !versions.iter().any(|v| v == PROTOCOL_V1) {
            return reject(HandshakeError::UnsupportedVersions(versions.clone()));
        }
    }
    ServerOutcome::Accept {
        peer: Accepted {
            peer_id: sender_id.clone(),
            peer_metadata: peer_metadata.clone(),
        },
        reply: Message::Peer {
            sender_id: us.clone(),
            target_id: sender_id.clone(),
            peer_metadata: our_metadata.clone(),
            selected_protocol_version: PROTOCOL_V1.to_owned(),
        },
    }
}

/// The client side: checks the server's answer to our `join`.
///
/// The `peer` message's `targetId` is not checked against our id:
/// automerge-repo does not either, and a server behind a proxy may not know
/// the id the client chose.
pub fn check_peer(message: &Message) -> Result<Accepted, HandshakeError> {
    match message {
        Message::Peer {
            sender_id,
            peer_metadata,
            selected_protocol_version,
            ..
        } => {
            if selected_protocol_version != PROTOCOL_V1 {
                return Err(HandshakeError::WrongVersionSelected(
                    selected_protocol_version.clone(),
                ));
            }
            Ok(Accepted {
                peer_id: sender_id.clone(),
                peer_metadata: peer_metadata.clone(),
            })
        }
        Message::Error { message } => Err(HandshakeError::Refused(message.clone())),
        other => Err(HandshakeError::Unexpected {
            expected: "peer",
            got: other.type_name().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> PeerId {
        PeerId::from("server")
    }

    fn join_offering(versions: Option<Vec<&str>>) -> Message {
        Message::Join {
            sender_id: PeerId::from("client"),
            peer_metadata: PeerMetadata::default(),
            supported_protocol_versions: versions
                .map(|v| v.into_iter().map(str::to_owned).collect()),
        }
    }

    #[test]
    fn accepts_a_join_offering_1_among_others() {
        for offer in [Some(vec!["1"]), Some(vec!["2", "1"]), None] {
            match answer_join(&server(), &PeerMetadata::default(), &join_offering(offer)) {
                ServerOutcome::Accept { peer, reply } => {
                    assert_eq!(peer.peer_id.as_str(), "client");
                    assert_eq!(
                        reply,
                        Message::Peer {
                            sender_id: server(),
                            target_id: PeerId::from("client"),
                            peer_metadata: PeerMetadata::default(),
                            selected_protocol_version: "1".into(),
                        }
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rejects_other_versions_with_automerge_repos_text() {
        for offer in [vec!["2"], vec![]] {
            match answer_join(
                &server(),
                &PeerMetadata::default(),
                &join_offering(Some(offer)),
            ) {
                ServerOutcome::Reject { error, reply } => {
                    assert!(matches!(error, HandshakeError::UnsupportedVersions(_)));
                    assert_eq!(
                        reply,
                        Message::Error {
                            message: "unsupported protocol version".into()
                        }
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rejects_anything_but_join_first() {
        let leave = Message::Leave {
            sender_id: PeerId::from("x"),
        };
        assert!(matches!(
            answer_join(&server(), &PeerMetadata::default(), &leave),
            ServerOutcome::Reject {
                error: HandshakeError::Unexpected {
                    expected: "join",
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn client_checks_the_answer() {
        let us = PeerId::from("client");
        let peer = |v: &str| Message::Peer {
            sender_id: server(),
            target_id: us.clone(),
            peer_metadata: PeerMetadata {
                storage_id: Some("s".into()),
                is_ephemeral: false,
            },
            selected_protocol_version: v.into(),
        };
        let accepted = check_peer(&peer("1")).unwrap();
        assert_eq!(accepted.peer_id, server());
        assert_eq!(accepted.peer_metadata.storage_id.as_deref(), Some("s"));
        assert_eq!(
            check_peer(&peer("2")),
            Err(HandshakeError::WrongVersionSelected("2".into()))
        );
        assert_eq!(
            check_peer(&Message::Error {
                message: "no".into()
            }),
            Err(HandshakeError::Refused("no".into()))
        );
        assert!(matches!(
            check_peer(&join(us.clone(), PeerMetadata::default())),
            Err(HandshakeError::Unexpected {
                expected: "peer",
                ..
            })
        ));
    }
}
