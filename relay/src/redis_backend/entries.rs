//! Stream entries as the Redis backend writes and reads them, and the
//! parsing of Redis replies: anything of another shape is skipped, never
//! trusted.

use automerge::ChangeHash;
use redis::Value;

/// A stream entry id, `ms-seq`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct EntryId(pub(super) u64, pub(super) u64);

impl EntryId {
    pub(super) fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }

    pub(super) fn text(self) -> String {
        format!("{}-{}", self.0, self.1)
    }

    /// The smallest id after this one.
    pub(super) fn next(self) -> EntryId {
        match self.1.checked_add(1) {
            Some(seq) => EntryId(self.0, seq),
            None => EntryId(self.0.saturating_add(1), 0),
        }
    }
}

pub(super) fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

pub(super) fn text_of(value: &Value) -> Option<String> {
    bytes_of(value).and_then(|b| String::from_utf8(b).ok())
}

/// One stream entry as written by [`RedisBackend::append`](super::RedisBackend).
pub(super) struct Entry {
    pub(super) id: EntryId,
    pub(super) changes: Option<Vec<u8>>,
    pub(super) origin: Option<String>,
}

/// Entries of an `XRANGE` / one stream of an `XREAD` reply; anything else
/// is skipped, never trusted.
pub(super) fn parse_entries(value: &Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = EntryId::parse(&text_of(pair.first()?)?)?;
            let mut entry = Entry {
                id,
                changes: None,
                origin: None,
            };
            if let Some(Value::Array(fields)) = pair.get(1) {
                for kv in fields.chunks(2) {
                    match (kv.first().and_then(text_of).as_deref(), kv.get(1)) {
                        (Some("c"), Some(v)) => entry.changes = bytes_of(v),
                        (Some("o"), Some(v)) => entry.origin = text_of(v),
                        _ => {}
                    }
                }
            }
            Some(entry)
        })
        .collect()
}

/// Splits what `Automerge::save_after` returns (change chunks one after the
/// other) into the chunks and their change hashes; `None` when it is
/// anything else (a whole document), which is then appended as it is.
pub(super) fn split_changes(bytes: &[u8]) -> Option<Vec<(ChangeHash, &[u8])>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let kind = rest[8];
        if kind != 1 && kind != 2 {
            return None; // 0 is a document chunk
        }
        let mut len: u64 = 0;
        let mut at = 9;
        let mut shift = 0;
        loop {
            let byte = *rest.get(at)?;
            at += 1;
            len |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        let chunk = rest.get(..end)?;
        let change = automerge::Change::from_bytes(chunk.to_vec()).ok()?;
        out.push((change.hash(), chunk));
        rest = &rest[end..];
    }
    Some(out)
}

/// `(stream key, entries)` of an `XREAD` reply (RESP2 array or RESP3 map;
/// nil when the block timed out or was interrupted).
pub(super) fn stream_replies(reply: &Value) -> Vec<(String, &Value)> {
    match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) => Some((text_of(pair.first()?)?, pair.get(1)?)),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((text_of(k)?, v)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn entry_ids_order_and_step() {
        let a = EntryId::parse("1700000000000-3").unwrap();
        assert_eq!(a.text(), "1700000000000-3");
        assert!(a < EntryId::parse("1700000000000-10").unwrap());
        assert!(a < EntryId::parse("1700000000001-0").unwrap());
        assert_eq!(a.next().text(), "1700000000000-4");
        assert_eq!(EntryId::parse("nonsense"), None);
        assert_eq!(EntryId::parse("1-x"), None);
    }

    #[test]
    fn changes_split_into_chunks_with_their_hashes() {
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        doc.commit();
        doc.put(automerge::ROOT, "b", 2).unwrap();
        doc.commit();
        let bytes = doc.save_after(&[]);
        let chunks = split_changes(&bytes).expect("change chunks");
        assert_eq!(chunks.len(), 2);
        let hashes: Vec<ChangeHash> = chunks.iter().map(|(h, _)| *h).collect();
        let mut heads = doc.get_heads();
        heads.sort();
        assert!(heads.iter().all(|h| hashes.contains(h)));
        let joined: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        assert_eq!(joined, bytes);
        // A whole document is not split (it is appended as it is).
        assert!(split_changes(&doc.save()).is_none());
        assert!(split_changes(&[0x85, 0x6f, 0x4a]).is_none());
        assert!(split_changes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).is_none());
    }

    #[test]
    fn replies_of_any_other_shape_are_skipped() {
        assert!(parse_entries(&Value::Nil).is_empty());
        assert!(parse_entries(&Value::Array(vec![Value::Int(3)])).is_empty());
        assert!(stream_replies(&Value::Okay).is_empty());
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"c".to_vec()),
                Value::BulkString(vec![1, 2]),
                Value::BulkString(b"o".to_vec()),
                Value::BulkString(b"relay-x".to_vec()),
                Value::BulkString(b"odd".to_vec()),
            ]),
        ]);
        let parsed = parse_entries(&Value::Array(vec![entry]));
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].id, EntryId(5, 1));
        assert_eq!(parsed[0].changes.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(parsed[0].origin.as_deref(), Some("relay-x"));
    }
}
