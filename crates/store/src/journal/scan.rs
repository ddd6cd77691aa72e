//! Reading a journal file back, damaged or not.
//!
//! An intact journal is a chain: header, then records each starting where
//! the last one ended. Reading follows the chain; when a record fails its
//! check, the reader does not stop there (that would lose every intact
//! record after a damaged one) but tests **every** later byte offset for a
//! record: a plausible length, a known kind byte, a payload that starts the
//! way its kind must (Automerge's magic bytes for changes and snapshots,
//! JSON for the index and settings) and a matching CRC-32. Testing every
//! offset, rather than jumping to the end of the first record found, means a
//! false match — bytes inside a damaged payload that happen to, or were
//! made to, look like a record — cannot hide the real records after it: each
//! real record is still found at its own offset. What the false match holds
//! is applied as well, which is harmless for documents (loading a change
//! twice, or a change a writer put in a note's text, does nothing a writer
//! could not do anyway). The bytes no record covers are reported as damage;
//! an append cut short at the end of the file (a crash in the middle of a
//! save that therefore never returned) is told apart as a torn tail.
//!
//! The scan costs one CRC per candidate offset; candidates are rare in real
//! data (the kind byte and the payload prefix must both match), and the CRC
//! work after the first damage is capped at [`SCAN_BUDGET_FACTOR`] times the
//! file's size, after which the scan jumps over each record it accepts.

use std::io;

use super::{Kind, HEADER_LEN, MAGIC, MAX_RECORD};

/// Bytes of CRC work allowed after the first damage, per byte of file.
const SCAN_BUDGET_FACTOR: u64 = 8;
/// The magic bytes that start every Automerge chunk.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Length field, CRC and kind byte.
const RECORD_HEAD: usize = 9;

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    pub(crate) data: Vec<u8>,
    /// Offset of the record's length field in the file.
    pub(crate) start: u64,
    /// Offset just past the record.
    pub(crate) end: u64,
}

/// A byte range of the file that no intact record covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The last bytes of the file are the start of a record that runs past
    /// the end (or zeros): what an append cut short by a crash leaves.
    pub(crate) torn: bool,
}

/// A journal file read back.
#[derive(Debug)]
pub(crate) struct Contents {
    pub(crate) generation: u64,
    /// Whether the file starts with the journal's magic bytes. A damaged
    /// magic is reported as damage of bytes 0..8; the records are still read.
    pub(crate) magic_ok: bool,
    /// Intact records in file order.
    pub(crate) records: Vec<Record>,
    /// Ranges no intact record covers, in file order.
    pub(crate) damage: Vec<Damage>,
    /// End of the last intact record (the header's end when there is none).
    pub(crate) valid_len: u64,
    /// Length of the file.
    pub(crate) file_len: u64,
}

impl Contents {
    /// Whether the file ends in a torn tail and nothing else is wrong with
    /// it: cutting the file at `valid_len` loses nothing.
    pub(crate) fn torn(&self) -> bool {
        self.damage.last().is_some_and(|d| d.torn)
    }

    /// Whether bytes other than a torn tail are damaged.
    pub(crate) fn damaged(&self) -> bool {
        self.damage.iter().any(|d| !d.torn)
    }

    /// Bytes no intact record covers, torn tail included.
    pub(crate) fn damaged_bytes(&self) -> u64 {
        self.damage.iter().map(|d| d.end - d.start).sum()
    }
}

/// Parses a whole journal file. Only a file too short for a header, or one
/// with neither the magic bytes nor any intact record, is an `InvalidData`
/// error: anything else is read as far as it can be.
pub(crate) fn parse(bytes: &[u8]) -> io::Result<Contents> {
    if bytes.len() < HEADER_LEN as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a gapmap journal (shorter than its header)",
        ));
    }
    let magic_ok = &bytes[..8] == MAGIC;
    let generation = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let mut records = Vec::new();
    let mut pos = HEADER_LEN as usize;
    while let Some(record) = parse_record(bytes, pos, false) {
        pos = record.end as usize;
        records.push(record);
    }
    if pos < bytes.len() {
        scan(bytes, pos, &mut records);
    }
    if !magic_ok && records.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a gapmap journal (bad header, no readable record)",
        ));
    }
    let mut damage = Vec::new();
    if !magic_ok {
        damage.push(Damage {
            start: 0,
            end: 8,
            torn: false,
        });
    }
    let mut covered = HEADER_LEN;
    for r in &records {
        if r.start > covered {
            damage.push(Damage {
                start: covered,
                end: r.start,
                torn: false,
            });
        }
        covered = covered.max(r.end);
    }
    let file_len = bytes.len() as u64;
    if covered < file_len {
        damage.push(Damage {
            start: covered,
            end: file_len,
            torn: is_torn(&bytes[covered as usize..]),
        });
    }
    Ok(Contents {
        generation,
        magic_ok,
        records,
        damage,
        valid_len: covered,
        file_len,
    })
}

/// Tests every offset from `from` on for a record (see the module docs).
fn scan(bytes: &[u8], from: usize, records: &mut Vec<Record>) {
    let budget = SCAN_BUDGET_FACTOR * bytes.len() as u64 + (1 << 20);
    let mut spent = 0u64;
    let mut q = from + 1;
    while q + RECORD_HEAD <= bytes.len() {
        let Some(len) = plausible_len(bytes, q) else {
            q += 1;
            continue;
        };
        spent += u64::from(len);
        match parse_record(bytes, q, true) {
            Some(record) => {
                let end = record.end as usize;
                records.push(record);
                if spent > budget {
                    tracing::warn!(
                        offset = q,
                        "journal scan over budget: skipping over records"
                    );
                    q = end;
                } else {
                    q += 1;
                }
            }
            None => q += 1,
        }
    }
}

/// The length field at `pos` if the record it announces fits in the file.
fn plausible_len(bytes: &[u8], pos: usize) -> Option<u32> {
    let head = bytes.get(pos..pos + RECORD_HEAD)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?);
    if len == 0 || len > MAX_RECORD || pos + 8 + len as usize > bytes.len() {
        return None;
    }
    Kind::from_byte(head[8])?;
    Some(len)
}

/// The record at `pos`, if it is whole and its CRC matches. When
/// `strict`, the payload must also start the way its kind's payloads do.
fn parse_record(bytes: &[u8], pos: usize, strict: bool) -> Option<Record> {
    let head = bytes.get(pos..pos + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let body = bytes.get(pos + 8..pos + 8 + len as usize)?;
    let kind = Kind::from_byte(body[0])?;
    if strict && !payload_fits(kind, &body[1..]) {
        return None;
    }
    let mut check = crc32fast::Hasher::new();
    check.update(body);
    if check.finalize() != crc {
        return None;
    }
    Some(Record {
        kind,
        data: body[1..].to_vec(),
        start: pos as u64,
        end: (pos + 8 + len as usize) as u64,
    })
}

/// Whether `data` starts the way every payload of `kind` does.
fn payload_fits(kind: Kind, data: &[u8]) -> bool {
    match kind {
        Kind::Snapshot | Kind::Chunk => data.starts_with(&AUTOMERGE_MAGIC),
        Kind::Meta => data.first() == Some(&b'{'),
        Kind::Setting => data.first() == Some(&b'['),
    }
}

/// Whether the bytes after the last intact record are an append cut short:
/// too short for a record head, all zeros (a file extended but not yet
/// written when the power went), or a record head announcing more bytes
/// than there are. A whole record that fails its check is damage instead.
fn is_torn(tail: &[u8]) -> bool {
    if tail.len() < 8 || tail.iter().all(|&b| b == 0) {
        return true;
    }
    let len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
    len != 0 && 8 + len as usize > tail.len()
}

/// A record whose head is damaged but whose payload may be whole: the
/// damaged range `[start, end)` read as exactly one record, trusting its
/// kind byte and ignoring its length and CRC fields. The caller must check
/// the payload by other means (Automerge's own checksums) before using it.
pub(crate) fn suspect_record(bytes: &[u8], damage: Damage) -> Option<Record> {
    let (start, end) = (damage.start as usize, damage.end as usize);
    if damage.torn || end > bytes.len() || end < start + RECORD_HEAD + 1 {
        return None;
    }
    let kind = Kind::from_byte(bytes[start + 8])?;
    let data = &bytes[start + RECORD_HEAD..end];
    payload_fits(kind, data).then(|| Record {
        kind,
        data: data.to_vec(),
        start: damage.start,
        end: damage.end,
    })
}

/// The kind of the one record a damaged range is, if the range is exactly
/// one record whose length field and kind byte are intact (its payload or
/// CRC took the damage).
pub(crate) fn whole_record_kind(bytes: &[u8], damage: Damage) -> Option<Kind> {
    let (start, end) = (damage.start as usize, damage.end as usize);
    let head = bytes.get(start..start + RECORD_HEAD)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    (start + 8 + len == end).then_some(())?;
    Kind::from_byte(head[8])
}

#[cfg(test)]
mod tests {
    use super::super::{encode, header};
    use super::*;

    /// A journal of `n` change records (each a fake Automerge chunk) and
    /// index records, alternating; returns the bytes and each record's start.
    fn journal(n: usize) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = header(7).to_vec();
        let mut starts = Vec::new();
        for i in 0..n {
            let mut chunk = AUTOMERGE_MAGIC.to_vec();
            chunk.extend_from_slice(format!("change number {i} with some payload").as_bytes());
            starts.push(bytes.len());
            encode(Kind::Chunk, &chunk, &mut bytes);
            starts.push(bytes.len());
            encode(Kind::Meta, format!("{{\"n\":{i}}}").as_bytes(), &mut bytes);
        }
        (bytes, starts)
    }

    fn kinds_and_starts(c: &Contents) -> Vec<(Kind, u64)> {
        c.records.iter().map(|r| (r.kind, r.start)).collect()
    }

    #[test]
    fn an_intact_journal_reads_as_a_chain() {
        let (bytes, starts) = journal(5);
        let c = parse(&bytes).unwrap();
        assert_eq!(c.records.len(), 10);
        assert!(c.damage.is_empty());
        assert_eq!(c.valid_len, bytes.len() as u64);
        let got: Vec<u64> = c.records.iter().map(|r| r.start).collect();
        assert_eq!(got, starts.iter().map(|&s| s as u64).collect::<Vec<_>>());
    }

    #[test]
    fn records_after_a_flip_are_found_again_at_every_offset() {
        let (bytes, starts) = journal(6);
        let whole = parse(&bytes).unwrap();
        for at in HEADER_LEN as usize..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            let c = parse(&damaged).unwrap();
            // Exactly the record holding the flipped byte is missing.
            let hit = starts.iter().rposition(|&s| s <= at).unwrap();
            let mut want = kinds_and_starts(&whole);
            want.remove(hit);
            assert_eq!(kinds_and_starts(&c), want, "flip at {at}");
            assert_eq!(c.damage.len(), 1, "flip at {at}: {:?}", c.damage);
            assert_eq!(c.damage[0].start, starts[hit] as u64);
            let last = hit == starts.len() - 1;
            // Only a flip in the last record's length can look torn.
            if !last {
                assert!(!c.damage[0].torn, "flip at {at}");
            }
        }
    }

    #[test]
    fn four_bytes_flipped_in_the_middle_lose_one_record() {
        let (mut bytes, starts) = journal(10);
        let mid = starts[9] + 12;
        for b in &mut bytes[mid..mid + 4] {
            *b = !*b;
        }
        let c = parse(&bytes).unwrap();
        assert_eq!(c.records.len(), 19);
        assert!(c.damaged() && !c.torn());
        assert_eq!(c.damage[0].start, starts[9] as u64);
        assert_eq!(c.damage[0].end, starts[10] as u64);
    }

    #[test]
    fn garbage_inserted_loses_only_the_record_it_lands_in() {
        let (bytes, starts) = journal(6);
        for at in [starts[0] + 3, starts[5], starts[7] + 20] {
            let mut damaged = bytes[..at].to_vec();
            damaged.extend_from_slice(&[0xAB; 37]);
            damaged.extend_from_slice(&bytes[at..]);
            let c = parse(&damaged).unwrap();
            let lost = usize::from(!starts.contains(&at));
            assert_eq!(c.records.len(), 12 - lost, "insert at {at}");
            assert!(c.damaged(), "insert at {at}");
        }
    }

    #[test]
    fn a_cut_is_a_torn_tail() {
        let (bytes, starts) = journal(3);
        for cut in starts[4] + 1..starts[5] {
            let c = parse(&bytes[..cut]).unwrap();
            assert_eq!(c.records.len(), 4);
            assert!(c.torn() && !c.damaged(), "cut at {cut}");
            assert_eq!(c.valid_len, starts[4] as u64);
        }
    }

    #[test]
    fn a_whole_last_record_that_fails_its_check_is_damage() {
        let (mut bytes, _) = journal(3);
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        let c = parse(&bytes).unwrap();
        assert_eq!(c.records.len(), 5);
        assert!(c.damaged() && !c.torn());
    }

    #[test]
    fn a_record_hidden_in_a_damaged_payload_does_not_hide_the_real_ones() {
        // A change whose payload carries a forged record (as a note's text
        // could) whose length runs over the next three real records, with
        // the right CRC for those bytes. Jumping to the end of the first
        // record found would swallow them.
        let mut bytes = header(1).to_vec();
        let mut first = AUTOMERGE_MAGIC.to_vec();
        first.extend_from_slice(b"real change 1");
        encode(Kind::Chunk, &first, &mut bytes);
        let mut real_after = Vec::new();
        for i in 0..3 {
            let mut c = AUTOMERGE_MAGIC.to_vec();
            c.extend_from_slice(format!("real change after {i}").as_bytes());
            encode(Kind::Chunk, &c, &mut real_after);
        }
        let mut rest_of_host = vec![b'I'];
        rest_of_host.extend_from_slice(&AUTOMERGE_MAGIC);
        rest_of_host.extend_from_slice(b"tail of host");
        let mut forged_body = rest_of_host.clone();
        forged_body.extend_from_slice(&real_after);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&forged_body);
        let mut host = AUTOMERGE_MAGIC.to_vec();
        host.extend_from_slice(&(forged_body.len() as u32).to_le_bytes());
        host.extend_from_slice(&crc.finalize().to_le_bytes());
        host.extend_from_slice(&rest_of_host);
        let host_start = bytes.len();
        let forged_at = (host_start + RECORD_HEAD + 4) as u64;
        encode(Kind::Chunk, &host, &mut bytes);
        let real_starts: Vec<u64> = {
            let c = parse(&[header(1).to_vec(), real_after.clone()].concat()).unwrap();
            c.records
                .iter()
                .map(|r| r.start - HEADER_LEN + bytes.len() as u64)
                .collect()
        };
        bytes.extend_from_slice(&real_after);
        // Damage the host before the forged record, so the reader scans.
        bytes[host_start + RECORD_HEAD + 1] ^= 0xff;
        let c = parse(&bytes).unwrap();
        let starts: Vec<u64> = c.records.iter().map(|r| r.start).collect();
        assert!(
            starts.contains(&forged_at),
            "the forged record is read: {starts:?}"
        );
        for s in &real_starts {
            assert!(starts.contains(s), "real record at {s} lost: {starts:?}");
        }
        assert_eq!(c.records.len(), 5);
    }

    #[test]
    fn a_damaged_magic_still_reads_the_records() {
        let (mut bytes, _) = journal(2);
        bytes[0] ^= 0xff;
        let c = parse(&bytes).unwrap();
        assert!(!c.magic_ok);
        assert_eq!(c.records.len(), 4);
        assert_eq!(
            c.damage[0],
            Damage {
                start: 0,
                end: 8,
                torn: false
            }
        );
        assert!(parse(b"garbage that is long enough").is_err());
    }

    #[test]
    fn a_damaged_head_leaves_a_suspect_record_with_the_whole_payload() {
        let (bytes, starts) = journal(3);
        for at in starts[2]..starts[2] + 8 {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let c = parse(&damaged).unwrap();
            let d = c.damage[0];
            let suspect = suspect_record(&damaged, d).unwrap();
            let original = parse(&bytes).unwrap().records[2].clone();
            assert_eq!(suspect.data, original.data, "flip at {at}");
            assert_eq!(suspect.kind, Kind::Chunk);
        }
    }
}
