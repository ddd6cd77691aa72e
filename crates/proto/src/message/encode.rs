//! The encoder: the bytes cbor-x writes for automerge-repo's messages.
//!
//! cbor-x (`new Encoder({ tagUint8Array: false, useRecords: false })`) writes
//! every object as a map with a 16-bit length header (`0xb9 0x00 0x0N`) and
//! everything else with minimal headers. Keys follow the order in which
//! automerge-repo 2.5 builds each message; the captured fixtures pin both.

use super::Message;
use crate::PeerMetadata;

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAP16: u8 = 0xb9;
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const UNDEFINED: u8 = 0xf7;

pub(super) fn encode(message: &Message) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128 + payload_len(message)));
    match message {
        Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions,
        } => {
            w.map(3 + u16::from(supported_protocol_versions.is_some()));
            w.entry_text("type", "join");
            w.entry_text("senderId", sender_id.as_str());
            w.text("peerMetadata");
            w.peer_metadata(peer_metadata);
            if let Some(versions) = supported_protocol_versions {
                w.text("supportedProtocolVersions");
                w.head(MAJOR_ARRAY, versions.len() as u64);
                for version in versions {
                    w.text(version);
                }
            }
        }
        Message::Peer {
            sender_id,
            target_id,
            peer_metadata,
            selected_protocol_version,
        } => {
            w.map(5);
            w.entry_text("type", "peer");
            w.entry_text("senderId", sender_id.as_str());
            w.text("peerMetadata");
            w.peer_metadata(peer_metadata);
            w.entry_text("selectedProtocolVersion", selected_protocol_version);
            w.entry_text("targetId", target_id.as_str());
        }
        Message::Error { message } => {
            w.map(2);
            w.entry_text("type", "error");
            w.entry_text("message", message);
        }
        Message::Leave { sender_id } => {
            w.map(2);
            w.entry_text("type", "leave");
            w.entry_text("senderId", sender_id.as_str());
        }
        Message::Sync {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            w.map(5);
            w.entry_text("type", "sync");
            w.entry_text("targetId", target_id.as_str());
            w.text("data");
            w.bytes(data);
            w.entry_text("documentId", &document_id.to_string());
            w.entry_text("senderId", sender_id.as_str());
        }
        Message::Request {
            sender_id,
            target_id,
            document_id,
            data,
        } => {
            w.map(5);
            w.entry_text("type", "request");
            w.entry_text("targetId", target_id.as_str());
            w.entry_text("documentId", &document_id.to_string());
            w.text("data");
            w.bytes(data);
            w.entry_text("senderId", sender_id.as_str());
        }
        Message::DocUnavailable {
            sender_id,
            target_id,
            document_id,
        } => {
            w.map(4);
            w.entry_text("type", "doc-unavailable");
            w.entry_text("documentId", &document_id.to_string());
            w.entry_text("targetId", target_id.as_str());
            w.entry_text("senderId", sender_id.as_str());
        }
        Message::Ephemeral {
            sender_id,
            target_id,
            document_id,
            data,
            count,
            session_id,
        } => {
            w.map(7);
            w.entry_text("type", "ephemeral");
            w.entry_text("targetId", target_id.as_str());
            w.entry_text("documentId", &document_id.to_string());
            w.text("data");
            w.bytes(data);
            w.text("count");
            w.head(MAJOR_UNSIGNED, *count);
            w.entry_text("sessionId", session_id);
            w.entry_text("senderId", sender_id.as_str());
        }
        Message::Unknown { type_name } => {
            w.map(1);
            w.entry_text("type", type_name);
        }
    }
    w.0
}

fn payload_len(message: &Message) -> usize {
    match message {
        Message::Sync { data, .. }
        | Message::Request { data, .. }
        | Message::Ephemeral { data, .. } => data.len(),
        _ => 0,
    }
}

struct Writer(Vec<u8>);

impl Writer {
    /// A head with the shortest encoding of `n`.
    fn head(&mut self, major: u8, n: u64) {
        let major = major << 5;
        if n < 24 {
            self.0.push(major | n as u8);
        } else if let Ok(n) = u8::try_from(n) {
            self.0.extend([major | 24, n]);
        } else if let Ok(n) = u16::try_from(n) {
            self.0.push(major | 25);
            self.0.extend(n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.0.push(major | 26);
            self.0.extend(n.to_be_bytes());
        } else {
            self.0.push(major | 27);
            self.0.extend(n.to_be_bytes());
        }
    }

    /// A map header the way cbor-x writes it: always 16-bit.
    fn map(&mut self, entries: u16) {
        self.0.push(MAP16);
        self.0.extend(entries.to_be_bytes());
    }

    fn text(&mut self, s: &str) {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.0.extend(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.0.extend(b);
    }

    fn entry_text(&mut self, key: &str, value: &str) {
        self.text(key);
        self.text(value);
    }

    fn peer_metadata(&mut self, metadata: &PeerMetadata) {
        self.map(2);
        self.text("storageId");
        match &metadata.storage_id {
            Some(id) => self.text(id),
            // automerge-repo sends the key with `undefined` rather than omitting it.
            None => self.0.push(UNDEFINED),
        }
        self.text("isEphemeral");
        self.0
            .push(if metadata.is_ephemeral { TRUE } else { FALSE });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DocumentId, PeerId};

    #[test]
    fn minimal_heads_at_every_boundary() {
        let cases: [(u64, &[u8]); 9] = [
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 24]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 0x01, 0x00]),
            (65535, &[0x19, 0xff, 0xff]),
            (65536, &[0x1a, 0, 1, 0, 0]),
            (u32::MAX as u64 + 1, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
            (
                u64::MAX,
                &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for (n, expected) in cases {
            let mut w = Writer(Vec::new());
            w.head(MAJOR_UNSIGNED, n);
            assert_eq!(w.0, expected, "{n}");
        }
    }

    #[test]
    fn doc_unavailable_bytes() {
        let id = DocumentId::from_bytes([7; 16]);
        let bytes = encode(&Message::DocUnavailable {
            sender_id: PeerId::from("s"),
            target_id: PeerId::from("t"),
            document_id: id,
        });
        let mut expected = vec![0xb9, 0x00, 0x04, 0x64];
        expected.extend(b"type");
        expected.push(0x6f);
        expected.extend(b"doc-unavailable");
        expected.push(0x6a);
        expected.extend(b"documentId");
        expected.push(0x78);
        expected.push(27);
        expected.extend(id.to_string().as_bytes());
        expected.push(0x68);
        expected.extend(b"targetId");
        expected.extend([0x61, b't', 0x68]);
        expected.extend(b"senderId");
        expected.extend([0x61, b's']);
        assert_eq!(bytes, expected);
    }
}
