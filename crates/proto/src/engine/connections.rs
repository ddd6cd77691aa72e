//! Per-connection work: the handshake, dispatching messages, closing, and
//! timeouts.

use std::collections::BTreeSet;

use super::state::Connection;
use super::{Access, CloseReason, ConnId, Credential, Engine, Notice, Output, ProtocolError, Role};
use crate::handshake::{self, HandshakeError, ServerOutcome};
use crate::{DocumentId, Message, PeerId};

impl Engine {
    pub(super) fn connection_opened(
        &mut self,
        conn: ConnId,
        role: Role,
        access: Access,
        credential: Credential,
        out: &mut Output,
    ) {
        if self.connections.contains_key(&conn) {
            return;
        }
        self.connections.insert(
            conn,
            Connection {
                role,
                access,
                credential,
                peer: None,
                opened_at: self.now,
                last_heard: self.now,
                docs: BTreeSet::new(),
                queued_opens: Vec::new(),
                resume: Default::default(),
            },
        );
        if role == Role::Client {
            out.send(
                conn,
                handshake::join(
                    self.config.peer_id.clone(),
                    self.config.peer_metadata.clone(),
                ),
            );
        }
    }

    /// Notes that `conn` was heard from; false if the engine does not know it.
    pub(super) fn touch(&mut self, conn: ConnId) -> bool {
        match self.connections.get_mut(&conn) {
            Some(c) => {
                c.last_heard = self.now;
                true
            }
            None => false,
        }
    }

    pub(super) fn receive(&mut self, conn: ConnId, message: Message, out: &mut Output) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let role = c.role;
        let Some(peer_id) = c.peer.as_ref().map(|p| p.peer_id.clone()) else {
            return self.handshake(conn, role, message, out);
        };
        let from_peer = |sender: &PeerId| *sender == peer_id;
        match message {
            Message::Join { ref sender_id, .. } if role == Role::Server && from_peer(sender_id) => {
                // A repeated join from the same peer: answer it again.
                self.handshake(conn, role, message, out)
            }
            Message::Join { .. } | Message::Peer { .. } => self.fail(
                conn,
                ProtocolError::Unexpected {
                    got: message.type_name().to_owned(),
                },
                out,
            ),
            Message::Error { message } => self.close(conn, CloseReason::PeerError(message), out),
            Message::Leave { sender_id } => {
                if from_peer(&sender_id) {
                    self.close(conn, CloseReason::PeerLeft, out)
                }
            }
            Message::Sync {
                sender_id,
                document_id,
                data,
                ..
            } if from_peer(&sender_id) => self.receive_sync(conn, document_id, data, out),
            Message::Request {
                sender_id,
                document_id,
                data,
                ..
            } if from_peer(&sender_id) => self.receive_sync(conn, document_id, data, out),
            Message::DocUnavailable {
                sender_id,
                document_id,
                ..
            } if from_peer(&sender_id) => self.receive_unavailable(conn, document_id, out),
            Message::Ephemeral {
                ref sender_id,
                document_id,
                ..
            } if role == Role::Client || from_peer(sender_id) => {
                self.receive_ephemeral(conn, document_id, message, out)
            }
            // Wrong sender (as automerge-repo's server, ignore), or a type
            // this protocol version does not act on.
            Message::Sync { .. }
            | Message::Request { .. }
            | Message::DocUnavailable { .. }
            | Message::Ephemeral { .. }
            | Message::Unknown { .. } => {}
        }
    }

    fn handshake(&mut self, conn: ConnId, role: Role, message: Message, out: &mut Output) {
        let accepted = match role {
            Role::Server => {
                match handshake::answer_join(
                    &self.config.peer_id,
                    &self.config.peer_metadata,
                    &message,
                ) {
                    ServerOutcome::Accept { peer, reply } => {
                        if let Some(error) = self.peer_id_taken(conn, &peer.peer_id) {
                            out.send(
                                conn,
                                Message::Error {
                                    message: error.to_string(),
                                },
                            );
                            return self.close(conn, CloseReason::Handshake(error), out);
                        }
                        out.send(conn, reply);
                        peer
                    }
                    ServerOutcome::Reject { error, reply } => {
                        out.send(conn, reply);
                        return self.close(conn, CloseReason::Handshake(error), out);
                    }
                }
            }
            Role::Client => match handshake::check_peer(&message) {
                Ok(peer) => peer,
                Err(error) => {
                    if !matches!(error, HandshakeError::Refused(_)) {
                        out.send(
                            conn,
                            Message::Error {
                                message: error.to_string(),
                            },
                        );
                    }
                    return self.close(conn, CloseReason::Handshake(error), out);
                }
            },
        };
        let already = self
            .connections
            .get(&conn)
            .and_then(|c| c.peer.as_ref())
            .is_some();
        if already {
            return; // a repeated join: answered above, nothing else changes
        }
        // A reconnect: the older connection of this peer id on the same
        // side goes (for accepted ones, `peer_id_taken` made sure it
        // presented the same credential).
        let older: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(&id, c)| {
                id != conn
                    && c.role == role
                    && c.peer
                        .as_ref()
                        .is_some_and(|p| p.peer_id == accepted.peer_id)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in older {
            self.close(id, CloseReason::Replaced, out);
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.peer = Some(accepted.clone());
        let queued = std::mem::take(&mut c.queued_opens);
        out.notices.push(Notice::PeerConnected {
            conn,
            peer: accepted,
        });
        for id in queued {
            self.open(conn, id, out);
        }
    }

    /// Whether another accepted connection holds `peer_id` with a
    /// credential other than `conn`'s: then `conn` may not replace it.
    fn peer_id_taken(&self, conn: ConnId, peer_id: &PeerId) -> Option<HandshakeError> {
        let credential = self.connections.get(&conn)?.credential;
        self.connections
            .iter()
            .any(|(&id, c)| {
                id != conn
                    && c.role == Role::Server
                    && c.credential != credential
                    && c.peer.as_ref().is_some_and(|p| p.peer_id == *peer_id)
            })
            .then(|| HandshakeError::PeerIdInUse(peer_id.clone()))
    }

    /// Sends `error` for a protocol violation, then closes.
    pub(super) fn fail(&mut self, conn: ConnId, error: ProtocolError, out: &mut Output) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        out.send(
            conn,
            Message::Error {
                message: error.to_string(),
            },
        );
        self.close(conn, CloseReason::Protocol(error), out);
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason, out: &mut Output) {
        if self.connections.contains_key(&conn) {
            out.close.push((conn, reason));
            self.forget_connection(conn, out);
        }
    }

    pub(super) fn forget_connection(&mut self, conn: ConnId, out: &mut Output) {
        let Some(c) = self.connections.remove(&conn) else {
            return;
        };
        for id in c.docs {
            if let Some(doc) = self.documents.get_mut(&id) {
                doc.peers.remove(&conn);
            }
            self.resolve_missing(id, out);
            self.forget_if_unused(id);
        }
    }

    pub(super) fn access_changed(&mut self, conn: ConnId, access: Access, out: &mut Output) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.access = access.clone();
        let docs: Vec<DocumentId> = c.docs.iter().copied().collect();
        for id in docs {
            if !access.may_read(&id) {
                self.detach(conn, id);
                self.resolve_missing(id, out);
                self.forget_if_unused(id);
            } else if let Some(peer) = self
                .documents
                .get_mut(&id)
                .and_then(|d| d.peers.get_mut(&conn))
            {
                peer.sync.set_read_only(!access.may_write(&id));
                self.sync_peer(id, conn, out);
            }
        }
    }

    pub(super) fn check_deadlines(&mut self, out: &mut Output) {
        let now = self.now;
        let limits = self.config.limits.clone();
        let expired: Vec<(ConnId, CloseReason)> = self
            .connections
            .iter()
            .filter_map(|(&id, c)| match c.peer {
                None if now >= c.opened_at.plus_millis(limits.handshake_timeout_ms) => {
                    Some((id, CloseReason::HandshakeTimeout))
                }
                Some(_)
                    if limits
                        .idle_timeout_ms
                        .is_some_and(|ms| now >= c.last_heard.plus_millis(ms)) =>
                {
                    Some((id, CloseReason::IdleTimeout))
                }
                _ => None,
            })
            .collect();
        for (id, reason) in expired {
            self.close(id, reason, out);
        }
        self.expire_requests(out);
    }
}
