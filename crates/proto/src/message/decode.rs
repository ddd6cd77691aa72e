//! The tolerant, bounded decoder.
//!
//! Two passes over the frame. The first walks the top-level map without
//! recursion, checks that the whole frame is well-formed CBOR within the depth
//! limit, and notes where the value of each key we know starts. The second
//! reads, for the message's `type` only, the fields that type has. So a field
//! of a type we do not know never fails decoding however it is shaped, and no
//! input can make the decoder recurse or allocate more than the frame's size.

use minicbor::data::Type;
use minicbor::Decoder;

use super::Message;
use crate::{DocumentId, DocumentIdError, PeerId, PeerMetadata};

/// Bounds on the work one frame may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Frames longer than this are refused before any parsing. automerge-repo
    /// has no limit of its own; a whole large document can ride in one `sync`.
    pub max_frame_size: usize,
    /// How deeply arrays and maps may nest (the message map itself is depth 1).
    /// Messages of protocol "1" need 3.
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_frame_size: 64 * 1024 * 1024,
            max_depth: 16,
        }
    }
}

/// Why a frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is over [`DecodeLimits::max_frame_size`].
    #[error("frame of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Arrays and maps nest deeper than [`DecodeLimits::max_depth`].
    #[error("CBOR nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Not well-formed CBOR (truncated, bad UTF-8, stray break, reserved byte).
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// Bytes left over after the message's map.
    #[error("{0} bytes after the message")]
    TrailingBytes(usize),
    /// Well-formed CBOR, but the frame is not a map.
    #[error("frame is not a CBOR map")]
    NotAMap,
    /// The map has no `type` key (or it is `null`/`undefined`).
    #[error("message has no type")]
    MissingType,
    /// A field this type of message needs is absent.
    #[error("{message_type} message has no {field}")]
    MissingField {
        /// The message's type.
        message_type: &'static str,
        /// The wire name of the field.
        field: &'static str,
    },
    /// A field holds a value of the wrong kind.
    #[error("{field} is not {expected}")]
    WrongType {
        /// The wire name of the field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `documentId` is a string but not a document id.
    #[error("invalid documentId: {0}")]
    InvalidDocumentId(#[from] DocumentIdError),
}

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        DecodeError::Malformed(e.to_string())
    }
}

/// The keys any message of protocol "1" uses; the first pass notes where
/// each one's value starts (the last occurrence wins).
#[derive(Clone, Copy)]
enum Key {
    Type,
    SenderId,
    TargetId,
    PeerMetadata,
    SupportedProtocolVersions,
    SelectedProtocolVersion,
    Message,
    DocumentId,
    Data,
    Count,
    SessionId,
}

const KEYS: usize = 11;

impl Key {
    fn from_wire(name: &str) -> Option<Key> {
        Some(match name {
            "type" => Key::Type,
            "senderId" => Key::SenderId,
            "targetId" => Key::TargetId,
            "peerMetadata" => Key::PeerMetadata,
            "supportedProtocolVersions" => Key::SupportedProtocolVersions,
            "selectedProtocolVersion" => Key::SelectedProtocolVersion,
            "message" => Key::Message,
            "documentId" => Key::DocumentId,
            "data" => Key::Data,
            "count" => Key::Count,
            "sessionId" => Key::SessionId,
            _ => return None,
        })
    }

    fn wire(self) -> &'static str {
        match self {
            Key::Type => "type",
            Key::SenderId => "senderId",
            Key::TargetId => "targetId",
            Key::PeerMetadata => "peerMetadata",
            Key::SupportedProtocolVersions => "supportedProtocolVersions",
            Key::SelectedProtocolVersion => "selectedProtocolVersion",
            Key::Message => "message",
            Key::DocumentId => "documentId",
            Key::Data => "data",
            Key::Count => "count",
            Key::SessionId => "sessionId",
        }
    }
}

pub(super) fn decode(frame: &[u8], limits: &DecodeLimits) -> Result<Message, DecodeError> {
    if frame.len() > limits.max_frame_size {
        return Err(DecodeError::TooLarge {
            size: frame.len(),
            max: limits.max_frame_size,
        });
    }
    let max_depth = limits.max_depth.max(1);
    let mut d = Decoder::new(frame);

    // Pass 1: validate everything, remember where known values start.
    skip_tags(&mut d)?;
    let entries = match d.datatype()? {
        Type::Map => d.map()?,
        Type::MapIndef => {
            d.map()?;
            None
        }
        _ => {
            skip(&mut d, 0, max_depth)?;
            check_trailing(&d, frame)?;
            return Err(DecodeError::NotAMap);
        }
    };
    let mut at: [Option<usize>; KEYS] = [None; KEYS];
    let mut remaining = entries;
    loop {
        match remaining {
            Some(0) => break,
            Some(ref mut n) => *n -= 1,
            None => {
                if d.datatype()? == Type::Break {
                    d.set_position(d.position() + 1);
                    break;
                }
            }
        }
        skip_tags(&mut d)?;
        let key = match d.datatype()? {
            Type::String | Type::StringIndef => Key::from_wire(&read_text_raw(&mut d)?),
            _ => {
                skip(&mut d, 1, max_depth)?;
                None
            }
        };
        if let Some(key) = key {
            at[key as usize] = Some(d.position());
        }
        skip(&mut d, 1, max_depth)?;
    }
    check_trailing(&d, frame)?;

    // Pass 2: read the fields of this type of message.
    let fields = Fields {
        frame,
        at,
        max_depth,
    };
    let type_name = fields
        .opt(Key::Type, |d| read_text(d, "type"))?
        .ok_or(DecodeError::MissingType)?;
    Ok(match type_name.as_str() {
        "join" => Message::Join {
            sender_id: fields.peer_id("join", Key::SenderId)?,
            peer_metadata: fields.peer_metadata()?,
            supported_protocol_versions: fields.opt(Key::SupportedProtocolVersions, |d| {
                read_text_array(d, "supportedProtocolVersions")
            })?,
        },
        "peer" => Message::Peer {
            sender_id: fields.peer_id("peer", Key::SenderId)?,
            target_id: fields.peer_id("peer", Key::TargetId)?,
            peer_metadata: fields.peer_metadata()?,
            selected_protocol_version: fields.text("peer", Key::SelectedProtocolVersion)?,
        },
        "error" => Message::Error {
            // automerge-repo always sends one; an error without text is still an error.
            message: fields
                .opt(Key::Message, |d| read_text(d, "message"))?
                .unwrap_or_default(),
        },
        "leave" => Message::Leave {
            sender_id: fields.peer_id("leave", Key::SenderId)?,
        },
        "sync" => Message::Sync {
            sender_id: fields.peer_id("sync", Key::SenderId)?,
            target_id: fields.peer_id("sync", Key::TargetId)?,
            document_id: fields.document_id("sync")?,
            data: fields.bytes("sync", Key::Data)?,
        },
        "request" => Message::Request {
            sender_id: fields.peer_id("request", Key::SenderId)?,
            target_id: fields.peer_id("request", Key::TargetId)?,
            document_id: fields.document_id("request")?,
            data: fields.bytes("request", Key::Data)?,
        },
        "doc-unavailable" => Message::DocUnavailable {
            sender_id: fields.peer_id("doc-unavailable", Key::SenderId)?,
            target_id: fields.peer_id("doc-unavailable", Key::TargetId)?,
            document_id: fields.document_id("doc-unavailable")?,
        },
        "ephemeral" => Message::Ephemeral {
            sender_id: fields.peer_id("ephemeral", Key::SenderId)?,
            target_id: fields.peer_id("ephemeral", Key::TargetId)?,
            document_id: fields.document_id("ephemeral")?,
            data: fields.bytes("ephemeral", Key::Data)?,
            count: fields.required("ephemeral", Key::Count, |d| read_uint(d, "count"))?,
            session_id: fields.text("ephemeral", Key::SessionId)?,
        },
        _ => Message::Unknown { type_name },
    })
}

fn check_trailing(d: &Decoder<'_>, frame: &[u8]) -> Result<(), DecodeError> {
    match frame.len() - d.position() {
        0 => Ok(()),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

/// The second pass: typed reads at the positions pass 1 noted.
struct Fields<'f> {
    frame: &'f [u8],
    at: [Option<usize>; KEYS],
    max_depth: usize,
}

impl Fields<'_> {
    /// Reads `key` with `read`; absent, `null` and `undefined` are `None`.
    fn opt<T>(
        &self,
        key: Key,
        read: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        let Some(pos) = self.at[key as usize] else {
            return Ok(None);
        };
        let mut d = Decoder::new(self.frame);
        d.set_position(pos);
        skip_tags(&mut d)?;
        match d.datatype()? {
            Type::Null | Type::Undefined => Ok(None),
            _ => read(&mut d).map(Some),
        }
    }

    fn required<T>(
        &self,
        message_type: &'static str,
        key: Key,
        read: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        self.opt(key, read)?.ok_or(DecodeError::MissingField {
            message_type,
            field: key.wire(),
        })
    }

    fn text(&self, message_type: &'static str, key: Key) -> Result<String, DecodeError> {
        self.required(message_type, key, |d| read_text(d, key.wire()))
    }

    fn peer_id(&self, message_type: &'static str, key: Key) -> Result<PeerId, DecodeError> {
        self.text(message_type, key).map(PeerId::from)
    }

    fn bytes(&self, message_type: &'static str, key: Key) -> Result<Vec<u8>, DecodeError> {
        self.required(message_type, key, |d| read_bytes(d, key.wire()))
    }

    fn document_id(&self, message_type: &'static str) -> Result<DocumentId, DecodeError> {
        let id = self.text(message_type, Key::DocumentId)?;
        Ok(DocumentId::parse(&id)?)
    }

    /// `peerMetadata`: absent, `null` or `undefined` is the default; unknown
    /// keys inside are ignored.
    fn peer_metadata(&self) -> Result<PeerMetadata, DecodeError> {
        let max_depth = self.max_depth;
        Ok(self
            .opt(Key::PeerMetadata, |d| read_peer_metadata(d, max_depth))?
            .unwrap_or_default())
    }
}

fn read_peer_metadata(d: &mut Decoder<'_>, max_depth: usize) -> Result<PeerMetadata, DecodeError> {
    const FIELD: &str = "peerMetadata";
    let mut remaining = match d.datatype()? {
        Type::Map | Type::MapIndef => d.map()?,
        _ => {
            return Err(DecodeError::WrongType {
                field: FIELD,
                expected: "a map",
            })
        }
    };
    let mut metadata = PeerMetadata::default();
    loop {
        match remaining {
            Some(0) => break,
            Some(ref mut n) => *n -= 1,
            None => {
                if d.datatype()? == Type::Break {
                    d.set_position(d.position() + 1);
                    break;
                }
            }
        }
        skip_tags(d)?;
        let key = match d.datatype()? {
            Type::String | Type::StringIndef => Some(read_text_raw(d)?),
            _ => {
                skip(d, 2, max_depth)?;
                None
            }
        };
        skip_tags(d)?;
        let absent = matches!(d.datatype()?, Type::Null | Type::Undefined);
        match key.as_deref() {
            Some("storageId") if !absent => {
                metadata.storage_id = Some(read_text(d, "peerMetadata.storageId")?);
            }
            Some("isEphemeral") if !absent => {
                metadata.is_ephemeral = read_bool(d, "peerMetadata.isEphemeral")?;
            }
            _ => skip(d, 2, max_depth)?,
        }
    }
    Ok(metadata)
}

/// Consumes any tags in front of a value (e.g. tag 64 on a byte string).
fn skip_tags(d: &mut Decoder<'_>) -> Result<(), DecodeError> {
    while d.datatype()? == Type::Tag {
        d.tag()?;
    }
    Ok(())
}

/// Text, definite or indefinite, at the decoder (tags already skipped).
fn read_text_raw(d: &mut Decoder<'_>) -> Result<String, DecodeError> {
    let mut s = String::new();
    for chunk in d.str_iter()? {
        s.push_str(chunk?);
    }
    Ok(s)
}

fn read_text(d: &mut Decoder<'_>, field: &'static str) -> Result<String, DecodeError> {
    skip_tags(d)?;
    match d.datatype()? {
        Type::String | Type::StringIndef => read_text_raw(d),
        _ => Err(DecodeError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn read_bytes(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    skip_tags(d)?;
    match d.datatype()? {
        Type::Bytes | Type::BytesIndef => {
            let mut bytes = Vec::new();
            for chunk in d.bytes_iter()? {
                bytes.extend_from_slice(chunk?);
            }
            Ok(bytes)
        }
        _ => Err(DecodeError::WrongType {
            field,
            expected: "a byte string",
        }),
    }
}

fn read_bool(d: &mut Decoder<'_>, field: &'static str) -> Result<bool, DecodeError> {
    skip_tags(d)?;
    match d.datatype()? {
        Type::Bool => Ok(d.bool()?),
        _ => Err(DecodeError::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

fn read_text_array(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<String>, DecodeError> {
    skip_tags(d)?;
    let len = match d.datatype()? {
        Type::Array | Type::ArrayIndef => d.array()?,
        _ => {
            return Err(DecodeError::WrongType {
                field,
                expected: "an array of strings",
            })
        }
    };
    let mut items = Vec::new();
    let mut remaining = len;
    loop {
        match remaining {
            Some(0) => break,
            Some(ref mut n) => *n -= 1,
            None => {
                if d.datatype()? == Type::Break {
                    d.set_position(d.position() + 1);
                    break;
                }
            }
        }
        items.push(read_text(d, field).map_err(|_| DecodeError::WrongType {
            field,
            expected: "an array of strings",
        })?);
    }
    Ok(items)
}

/// A non-negative integer, also when JavaScript sent it as a float (`1.0`).
fn read_uint(d: &mut Decoder<'_>, field: &'static str) -> Result<u64, DecodeError> {
    let wrong = || DecodeError::WrongType {
        field,
        expected: "a non-negative integer",
    };
    skip_tags(d)?;
    let float = match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => return Ok(d.u64()?),
        Type::F16 => {
            let pos = d.position();
            let bits = d
                .input()
                .get(pos + 1..pos + 3)
                .ok_or_else(|| DecodeError::Malformed("truncated half float".into()))?;
            let bits = u16::from_be_bytes([bits[0], bits[1]]);
            d.set_position(pos + 3);
            f16_to_f64(bits)
        }
        Type::F32 => f64::from(d.f32()?),
        Type::F64 => d.f64()?,
        _ => return Err(wrong()),
    };
    // 2^64 is exactly representable; everything below it that is integral fits.
    if float.is_finite()
        && float >= 0.0
        && float.fract() == 0.0
        && float < 18_446_744_073_709_551_616.0
    {
        Ok(float as u64)
    } else {
        Err(wrong())
    }
}

/// IEEE 754 half precision to f64 (minicbor only decodes it with `half`).
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Skips one data item of any shape, iteratively. The item sits inside
/// `depth` open arrays or maps; more than `max_depth` in all is refused.
/// Every step consumes input, so the work is bounded by the frame's length.
fn skip(d: &mut Decoder<'_>, depth: usize, max_depth: usize) -> Result<(), DecodeError> {
    // Items still to read in each open array or map; `None`: until a break.
    let mut open: Vec<Option<u64>> = Vec::new();
    loop {
        let container = match d.datatype()? {
            Type::Tag => {
                d.tag()?;
                continue;
            }
            Type::Break => match open.last() {
                Some(None) => {
                    d.set_position(d.position() + 1);
                    open.pop();
                    false
                }
                _ => return Err(DecodeError::Malformed("unexpected break".into())),
            },
            Type::Array | Type::ArrayIndef => match d.array()? {
                Some(0) => false,
                n => {
                    open.push(n);
                    true
                }
            },
            Type::Map | Type::MapIndef => match d.map()? {
                Some(0) => false,
                n => {
                    open.push(n.map(|n| n.saturating_mul(2)));
                    true
                }
            },
            Type::Bytes | Type::BytesIndef => {
                for chunk in d.bytes_iter()? {
                    chunk?;
                }
                false
            }
            Type::String | Type::StringIndef => {
                for chunk in d.str_iter()? {
                    chunk?;
                }
                false
            }
            Type::F16 => {
                if d.input().len() < d.position() + 3 {
                    return Err(DecodeError::Malformed("truncated half float".into()));
                }
                d.set_position(d.position() + 3);
                false
            }
            Type::Unknown(b) => {
                return Err(DecodeError::Malformed(format!("reserved byte 0x{b:02x}")))
            }
            _ => {
                // Integers, floats, simple values: no nesting.
                d.skip()?;
                false
            }
        };
        if container {
            if depth + open.len() > max_depth {
                return Err(DecodeError::TooDeep { max: max_depth });
            }
            continue;
        }
        // One item is complete: count it against the innermost open
        // container, closing every definite container that is now full.
        loop {
            match open.last_mut() {
                None => return Ok(()),
                Some(None) => break,
                Some(Some(n)) => {
                    *n -= 1;
                    if *n > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
