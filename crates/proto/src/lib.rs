//! gapmap-proto (guide written below once the engine lands).
#![deny(missing_docs)]

mod document_id;
pub mod message;
mod peer;

pub use document_id::{DocumentId, DocumentIdError, URL_PREFIX};
pub use message::{DecodeError, DecodeLimits, Message, PROTOCOL_V1};
pub use peer::{PeerId, PeerMetadata};
