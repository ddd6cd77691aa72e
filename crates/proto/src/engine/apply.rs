//! Peer changes too costly to apply inside [`Engine::handle`]: the engine
//! lends the document out with the message, the caller runs the work where
//! it likes (a blocking thread), and gives the document back.
//!
//! A sync message from a peer that may write, carrying changes, is first
//! measured by the gate ([`gapmap_guard::check_joined`], on the entries as
//! Automerge joins them) within [`Limits::apply_inline_up_to`]: if
//! Automerge would materialise no more than that, it is applied at once;
//! otherwise the document, the peer's sync state and the message go out
//! as one [`Apply`] in [`Output::apply`](super::Output::apply). While it is
//! out, the document is *lent*: everything about it (other peers'
//! messages, local changes, opens) waits in its queue, as it does while a
//! document loads, and nothing about it is advertised; other documents
//! and connections carry on. [`Apply::run`] measures the message against
//! the whole budget ([`Limits::automerge`]), applies it, and returns an
//! [`Applied`] to hand back with [`Event::Applied`](super::Event::Applied);
//! the engine then goes on exactly as if it had applied the message
//! itself, and replays the queue.
//!
//! [`Limits::apply_inline_up_to`]: super::Limits::apply_inline_up_to
//! [`Limits::automerge`]: super::Limits::automerge
//! [`Engine::handle`]: super::Engine::handle

use std::fmt;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use gapmap_guard::Budget;

use super::ConnId;
use crate::DocumentId;

/// A sync message to measure and apply to a document the engine lent for
/// it. Run it anywhere, once, and give the result back with
/// [`Event::Applied`](super::Event::Applied).
pub struct Apply {
    pub(super) document_id: DocumentId,
    pub(super) conn: ConnId,
    /// Matches the answer to the lending (an answer to an older engine, or
    /// a repeated one, is ignored).
    pub(super) lease: u64,
    pub(super) doc: Box<Automerge>,
    pub(super) sync: sync::State,
    pub(super) message: sync::Message,
    pub(super) budget: Budget,
    pub(super) context: Context,
}

/// What the engine needs, once the work is back, to go on as it would have
/// after applying the message itself.
#[derive(Debug, Clone)]
pub(super) struct Context {
    /// The document's heads before the message.
    pub before: Vec<ChangeHash>,
    /// The peer sent heads: it has the document.
    pub they_have_it: bool,
    /// The changes the peer said it needs.
    pub needed: Vec<ChangeHash>,
}

/// Finished [`Apply`] work: the document and sync state lent, as the
/// message left them, and whether it applied.
pub struct Applied {
    pub(super) document_id: DocumentId,
    pub(super) conn: ConnId,
    pub(super) lease: u64,
    pub(super) doc: Box<Automerge>,
    pub(super) sync: sync::State,
    pub(super) context: Context,
    /// Why the message was refused, if it was.
    pub(super) result: Result<(), String>,
}

impl Apply {
    /// The document lent.
    pub fn document_id(&self) -> DocumentId {
        self.document_id
    }

    /// The connection the message came from.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Measures the message with the gate and applies it. Never panics on
    /// what a peer sent.
    pub fn run(self) -> Applied {
        let Apply {
            document_id,
            conn,
            lease,
            mut doc,
            mut sync,
            message,
            budget,
            context,
        } = self;
        let result = receive(&mut doc, &mut sync, message, Some(budget));
        Applied {
            document_id,
            conn,
            lease,
            doc,
            sync,
            context,
            result,
        }
    }
}

impl Applied {
    /// The document given back.
    pub fn document_id(&self) -> DocumentId {
        self.document_id
    }
}

/// The gate (unless the caller measured the message already: `None`),
/// then Automerge. Automerge panics on some malformed chunks; a message it
/// panics on is refused (its changes did not apply).
pub(super) fn receive(
    doc: &mut Automerge,
    sync: &mut sync::State,
    message: sync::Message,
    budget: Option<Budget>,
) -> Result<(), String> {
    if let Some(budget) = budget.filter(|_| !sync.read_only) {
        let entries: Vec<&[u8]> = message.changes.iter().collect();
        gapmap_guard::check_joined(&entries, budget).map_err(|e| e.to_string())?;
    }
    gapmap_guard::catch(|| doc.receive_sync_message(sync, message))
        .map_err(|panic| format!("malformed Automerge data ({panic})"))?
        .map_err(|e| e.to_string())
}

impl fmt::Debug for Apply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Apply")
            .field("document_id", &self.document_id)
            .field("conn", &self.conn)
            .field("changes", &self.message.changes.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applied")
            .field("document_id", &self.document_id)
            .field("conn", &self.conn)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}
