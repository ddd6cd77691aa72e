//! Automerge bytes chunk by chunk, for salvage: loading what can be loaded
//! of damaged bytes, checking a payload whose journal record head was
//! damaged, and listing the changes a document holds back because changes
//! they depend on are missing.
//!
//! Every Automerge chunk starts with a header: the magic bytes, a 4-byte
//! checksum (the first bytes of the SHA-256 of the chunk), a type byte
//! (0 document, 1 change, 2 deflated change, 3 bundle) and the length of the
//! rest as a LEB128 number. Automerge checks the checksum when it loads a
//! chunk; [`verified`] makes sure it was checked for every chunk.

use automerge::{AutoCommit, Change};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;

/// One framed chunk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunk<'a> {
    pub(crate) kind: u8,
    pub(crate) bytes: &'a [u8],
}

/// Splits `bytes` into chunks by their headers; returns the chunks and the
/// number of bytes at the end that do not frame as a chunk.
pub(crate) fn split(bytes: &[u8]) -> (Vec<Chunk<'_>>, usize) {
    let mut chunks = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match frame(&bytes[pos..]) {
            Some((kind, len)) => {
                chunks.push(Chunk {
                    kind,
                    bytes: &bytes[pos..pos + len],
                });
                pos += len;
            }
            None => break,
        }
    }
    (chunks, bytes.len() - pos)
}

/// The type and total length of the chunk at the start of `bytes`.
fn frame(bytes: &[u8]) -> Option<(u8, usize)> {
    if !bytes.starts_with(&MAGIC) || bytes.len() < 10 {
        return None;
    }
    let kind = bytes[8];
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut pos = 9;
    loop {
        let b = *bytes.get(pos)?;
        pos += 1;
        len |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let total = pos.checked_add(usize::try_from(len).ok()?)?;
    (total <= bytes.len()).then_some((kind, total))
}

/// The change in a change chunk, if it parses and its checksum matches.
pub(crate) fn change(chunk: Chunk<'_>) -> Option<Change> {
    if chunk.kind != CHANGE && chunk.kind != COMPRESSED {
        return None;
    }
    let change = gapmap_guard::catch(|| Change::try_from(chunk.bytes).ok()).ok()??;
    // Change::try_from does not check the header's checksum; the checksum
    // is the start of the hash of the (uncompressed) change.
    (change.hash().0[..4] == chunk.bytes[4..8]).then_some(change)
}

/// Whether every chunk of `bytes` frames, parses and passes its checksum:
/// the bytes are exactly what Automerge wrote.
pub(crate) fn verified(bytes: &[u8]) -> bool {
    let (chunks, rest) = split(bytes);
    rest == 0
        && !chunks.is_empty()
        && chunks.iter().all(|c| match c.kind {
            DOCUMENT => gapmap_guard::catch(|| AutoCommit::load(c.bytes).is_ok()).unwrap_or(false),
            _ => change(*c).is_some(),
        })
}

/// Loads `bytes` into `doc`, chunk by chunk, skipping chunks that do not
/// load; returns how many loaded and how many did not (bytes that do not
/// frame count as one).
pub(crate) fn load_each(doc: &mut AutoCommit, bytes: &[u8]) -> (usize, usize) {
    let (chunks, rest) = split(bytes);
    let (mut ok, mut bad) = (0, usize::from(rest > 0));
    for c in chunks {
        let loaded = match c.kind {
            DOCUMENT => load_whole(doc, c.bytes),
            CHANGE | COMPRESSED => match change(c) {
                Some(change) => {
                    gapmap_guard::catch(|| doc.apply_changes([change]).is_ok()).unwrap_or(false)
                }
                None => false,
            },
            _ => false,
        };
        if loaded {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    (ok, bad)
}

/// Loads `bytes` into `doc` in one call (the fast path for bytes known to
/// be intact); false if Automerge refused them or panicked.
pub(crate) fn load_whole(doc: &mut AutoCommit, bytes: &[u8]) -> bool {
    let mut attempt = doc.clone();
    match gapmap_guard::catch(|| attempt.load_incremental(bytes)) {
        Ok(Ok(_)) => {
            *doc = attempt;
            true
        }
        _ => false,
    }
}

/// The changes in `bytes`' change chunks that `doc` has not applied:
/// those it holds back until the changes they depend on arrive.
pub(crate) fn held(doc: &mut AutoCommit, bytes: &[u8], out: &mut Vec<Change>) {
    for c in split(bytes).0 {
        if let Some(change) = change(c) {
            let hash = change.hash();
            if doc.document().get_change_meta_by_hash(&hash).is_none()
                && !out.iter().any(|h| h.hash() == hash)
            {
                out.push(change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{transaction::Transactable, ROOT};

    fn doc_with(n: i64) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(ROOT, format!("k{i}"), i).unwrap();
            doc.commit();
        }
        doc
    }

    #[test]
    fn splits_a_snapshot_and_changes() {
        let mut doc = doc_with(3);
        let mut bytes = doc.save();
        let heads = doc.get_heads();
        doc.put(ROOT, "more", 1).unwrap();
        bytes.extend(doc.save_after(&heads));
        let (chunks, rest) = split(&bytes);
        assert_eq!(rest, 0);
        assert_eq!(
            chunks.iter().map(|c| c.kind).collect::<Vec<_>>(),
            [DOCUMENT, CHANGE]
        );
        assert!(verified(&bytes));
    }

    #[test]
    fn a_flipped_byte_fails_verification_and_the_rest_still_loads() {
        let mut doc = doc_with(4);
        let bytes = doc.save_after(&[]);
        let (chunks, _) = split(&bytes);
        assert_eq!(chunks.len(), 4);
        let second = chunks[0].bytes.len() + chunks[1].bytes.len() - 3;
        let mut damaged = bytes.clone();
        damaged[second] ^= 0x40;
        assert!(!verified(&damaged));
        let mut rebuilt = AutoCommit::new();
        let (ok, bad) = load_each(&mut rebuilt, &damaged);
        assert_eq!((ok, bad), (3, 1));
        // The two changes after the damaged one wait for it.
        assert_eq!(rebuilt.get_missing_deps(&[]).len(), 1);
        let mut held_back = Vec::new();
        held(&mut rebuilt, &damaged, &mut held_back);
        assert_eq!(held_back.len(), 2);
        // And the snapshot keeps them.
        let saved = rebuilt.save();
        let mut again = AutoCommit::load(&saved).unwrap();
        assert_eq!(again.get_missing_deps(&[]).len(), 1);
        // Once the lost change comes back, everything applies.
        let mut original = doc_with(0);
        original.load_incremental(&bytes).unwrap();
        again.merge(&mut original).unwrap();
        assert_eq!(again.get_heads(), doc.get_heads());
    }
}

#[cfg(test)]
mod held_only {
    use super::*;
    use automerge::{transaction::Transactable, ROOT};

    /// The canvas's first change lost: nothing applies, everything is held.
    #[test]
    fn a_document_of_held_changes_only_keeps_them() {
        let mut doc = AutoCommit::new();
        for i in 0..3 {
            doc.put(ROOT, format!("k{i}"), i).unwrap();
            doc.commit();
        }
        let bytes = doc.save_after(&[]);
        let (chunks, _) = split(&bytes);
        let mut rebuilt = AutoCommit::new();
        for c in &chunks[1..] {
            rebuilt.apply_changes([change(*c).unwrap()]).unwrap();
        }
        assert_eq!(rebuilt.get_missing_deps(&[]).len(), 1);
        let saved = rebuilt.save();
        let mut again = AutoCommit::load(&saved).unwrap();
        assert_eq!(again.get_missing_deps(&[]).len(), 1);
    }
}
