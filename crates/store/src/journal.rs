//! The journal: an append-only copy, outside sled, of every chunk the store
//! writes, so a store whose sled database no longer opens can be rebuilt
//! ([`Store::recover`](crate::Store::recover)) and a database that lost its
//! last writes in a power cut can be rolled forward on open.
//!
//! One file per document (`journal/<id>.log`) plus `journal/settings.kv`:
//!
//! ```text
//! header   "GMJRNL01" (8 bytes) | generation u64 LE
//! record   len u32 LE | crc32 u32 LE | kind u8 | data (len - 1 bytes)
//! ```
//!
//! `len` counts the kind byte and the data; the CRC-32 (IEEE) covers the same
//! bytes. A record that is short or fails its checksum does not end the
//! read: the records after it are found again ([`scan`]), and the bytes no
//! intact record covers are reported, a torn tail (an append cut short by a
//! crash) apart from other damage. The generation changes whenever a file is
//! rewritten (compaction), which lets the store tell "the same file, grown"
//! from "a new file" when it compares the journal with what sled recorded.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) mod scan;

pub(crate) use scan::{Contents, Record};

const MAGIC: &[u8; 8] = b"GMJRNL01";
/// Bytes before the first record.
pub(crate) const HEADER_LEN: u64 = 16;
/// Largest record accepted on read; anything bigger is a torn length field.
const MAX_RECORD: u32 = 1 << 30;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole document, `AutoCommit::save()`.
    Snapshot,
    /// Changes, `AutoCommit::save_after()`.
    Chunk,
    /// The document's index entry, [`DocMeta`](crate::DocMeta) as JSON.
    Meta,
    /// A setting: JSON `[key, value]`, value `null` for a removal.
    Setting,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Snapshot => b'S',
            Kind::Chunk => b'I',
            Kind::Meta => b'M',
            Kind::Setting => b'K',
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            b'S' => Kind::Snapshot,
            b'I' => Kind::Chunk,
            b'M' => Kind::Meta,
            b'K' => Kind::Setting,
            _ => return None,
        })
    }
}

/// Appends one record to `out`.
pub(crate) fn encode(kind: Kind, data: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(data.len() + 1).expect("record larger than 4 GiB");
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind.byte()]);
    crc.update(data);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind.byte());
    out.extend_from_slice(data);
}

fn header(generation: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&generation.to_le_bytes());
    h
}

/// Reads a whole journal file (see [`scan::parse`]).
pub(crate) fn read(path: &Path) -> io::Result<Contents> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    scan::parse(&bytes)
}

/// Writes a complete journal file atomically: a temporary file, fsync,
/// rename, fsync of the directory. Returns the file's length.
pub(crate) fn write_atomic(path: &Path, generation: u64, records: &[u8]) -> io::Result<u64> {
    let tmp = tmp_path(path);
    let mut f = crate::private::create_file(&tmp)?;
    f.write_all(&header(generation))?;
    f.write_all(records)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(HEADER_LEN + records.len() as u64)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Flushes a directory's entries (a rename or a new file) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An open journal file ready for appends.
#[derive(Debug)]
pub(crate) struct Appender {
    file: File,
    generation: u64,
    len: u64,
}

impl Appender {
    /// Opens an existing journal and cuts off a torn tail, so the next record
    /// starts right after the last whole one. Other damage is left in place
    /// (the records after it are still read; `gapmap doctor` repairs it) and
    /// appends go after it. A damaged magic is an `InvalidData` error: the
    /// caller moves the file aside and starts a new one from sled.
    pub(crate) fn open(path: &Path) -> io::Result<Appender> {
        let contents = read(path)?;
        if !contents.magic_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the journal's header is damaged",
            ));
        }
        if contents.damaged() {
            tracing::warn!(path = %path.display(), bytes = contents.damaged_bytes(),
                "journal is damaged; appending after the damage (run `gapmap doctor`)");
        }
        let file = OpenOptions::new().append(true).open(path)?;
        if contents.torn() {
            tracing::warn!(path = %path.display(), bytes = contents.file_len - contents.valid_len,
                "dropping the torn tail of a journal");
            file.set_len(contents.valid_len)?;
            file.sync_all()?;
        }
        Ok(Appender {
            file,
            generation: contents.generation,
            len: if contents.torn() {
                contents.valid_len
            } else {
                contents.file_len
            },
        })
    }

    /// The generation in the file's header.
    /// A second descriptor of the file, to fdatasync it without the
    /// appender (and the lock that guards it).
    pub(crate) fn file_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Length of the file after the last append.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends encoded records, then `fdatasync`s when `sync` is set. On error
    /// the file is cut back to its previous length (best effort) and the
    /// appender must not be used again.
    pub(crate) fn append(&mut self, records: &[u8], sync: bool) -> io::Result<()> {
        let result = self.file.write_all(records).and_then(|()| {
            if sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.len += records.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

/// A fresh generation number: unlikely to repeat for the same file.
pub(crate) fn new_generation() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut h = Fnv64::new();
    h.update(&nanos.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finish()
}

/// 64-bit FNV-1a: names chunks by content.
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    /// Journals written before the CRC came from crc32fast (by gapmap 0.1's
    /// own table-driven CRC-32) read back whole, and encoding their records
    /// again gives the same bytes: the on-disk format did not change.
    #[test]
    fn journals_written_by_earlier_versions_read_back_byte_for_byte() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/journal/testdata");
        for name in ["written-by-0.1.log", "settings-written-by-0.1.kv"] {
            let path = dir.join(name);
            let bytes = fs::read(&path).unwrap();
            let c = read(&path).unwrap();
            assert!(c.magic_ok && c.damage.is_empty() && !c.torn(), "{name}");
            assert!(c.records.len() >= 2, "{name}: {} records", c.records.len());
            assert_eq!(c.valid_len, bytes.len() as u64, "{name}");
            let mut again = header(c.generation).to_vec();
            for record in &c.records {
                encode(record.kind, &record.data, &mut again);
            }
            assert_eq!(again, bytes, "{name}");
        }
    }

    fn two_records() -> Vec<u8> {
        let mut buf = Vec::new();
        encode(Kind::Chunk, b"hello", &mut buf);
        encode(Kind::Meta, b"{}", &mut buf);
        buf
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let len = write_atomic(&path, 7, &two_records()).unwrap();
        let c = read(&path).unwrap();
        assert_eq!(c.generation, 7);
        assert_eq!(c.valid_len, len);
        assert!(!c.torn());
        assert_eq!(
            (c.records[0].kind, &c.records[0].data[..]),
            (Kind::Chunk, &b"hello"[..])
        );
        assert_eq!(
            (c.records[1].kind, &c.records[1].data[..]),
            (Kind::Meta, &b"{}"[..])
        );
    }

    #[test]
    fn torn_tail_is_ignored_then_cut_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_atomic(&path, 1, &two_records()).unwrap();
        let whole = fs::metadata(&path).unwrap().len();
        // Every strict prefix of a third record is a torn tail.
        let mut third = Vec::new();
        encode(Kind::Chunk, b"third record", &mut third);
        for cut in 1..third.len() {
            let mut bytes = fs::read(&path).unwrap();
            bytes.truncate(whole as usize);
            bytes.extend_from_slice(&third[..cut]);
            fs::write(&path, &bytes).unwrap();
            let c = read(&path).unwrap();
            assert_eq!(c.records.len(), 2, "cut at {cut}");
            assert_eq!(c.valid_len, whole);
            assert!(c.torn());
        }
        let mut app = Appender::open(&path).unwrap();
        assert_eq!(app.len(), whole);
        app.append(&third, true).unwrap();
        let c = read(&path).unwrap();
        assert_eq!(c.records.len(), 3);
        assert!(!c.torn());
    }

    #[test]
    fn a_flipped_bit_loses_only_its_record_and_appends_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_atomic(&path, 1, &two_records()).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[HEADER_LEN as usize + 10] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let c = read(&path).unwrap();
        assert_eq!(c.records.len(), 1);
        assert_eq!(c.records[0].kind, Kind::Meta);
        assert!(c.damaged());
        // An append neither cuts the damage off nor hides the record after it.
        let mut app = Appender::open(&path).unwrap();
        assert_eq!(app.len(), bytes.len() as u64);
        // (After damage, a record is only taken if its payload starts as
        // its kind's must: JSON here.)
        let mut third = Vec::new();
        encode(Kind::Meta, b"{\"third\":3}", &mut third);
        app.append(&third, true).unwrap();
        let c = read(&path).unwrap();
        assert_eq!(c.records.len(), 2);
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            (bytes.len() + third.len()) as u64
        );
    }

    #[test]
    fn bad_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
