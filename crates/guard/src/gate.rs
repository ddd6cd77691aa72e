//! The gate: what Automerge would materialise from untrusted bytes,
//! measured before Automerge sees them, within a budget decided first.
//!
//! Automerge 0.12 trusts the sizes its input declares. A document chunk's
//! columns may be deflated, and Automerge inflates them without a bound
//! (1 MiB of deflated zeros is a gigabyte); a compressed change chunk the
//! same. A run-length encoded column declares its number of rows in a few
//! bytes, and Automerge walks (and for changes, applies) every row: one
//! 12-byte change can declare 2⁴⁰ operations. A bundle chunk makes it
//! allocate what its columns claim (docs/reliability.md, defect 6).
//!
//! [`check`] reads the bytes as Automerge's loader will (`load` and
//! `load_incremental` take the same run of chunks; a sync message's change
//! entries are joined into one such run before Automerge parses them):
//! every chunk's header, a document's or change's column metadata, every
//! deflated column and compressed change inflated through a counter that
//! stops at the budget, and every column's runs walked to count its rows
//! without materialising one. What it cannot read that way — a bundle, an
//! unknown chunk type, a truncated or malformed chunk, a deflate stream
//! that does not end — is refused, so nothing it did not measure reaches
//! Automerge.
//!
//! The storage format is Automerge's (`automerge/src/storage/` of 0.12:
//! `chunk.rs`, `document.rs`, `change.rs`, `columns/`).

use std::io::Read as _;

mod runs;
#[cfg(test)]
mod tests;

/// The magic bytes that start every Automerge chunk.
pub(crate) const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;
const BUNDLE: u8 = 3;
/// The bit of a column specification that says its data is deflated.
const DEFLATE: u32 = 0b1000;

/// What one row (an operation or a change) costs against the budget, in
/// bytes: what Automerge 0.12 allocates for it at its peak when a sync
/// message applies it to a document that is not empty (4 million
/// operations declared in 115 bytes took 1.77 GB; 1 million typed
/// characters, 509 MB; loading into an empty document costs a fifth of
/// that). Measured in docs/reliability.md.
pub const ROW_COST: u64 = 512;

/// What one inflated byte costs against the budget: Automerge holds the
/// inflated data about three times over while it parses it (64 MiB of
/// inflated column took 195 MB).
pub const INFLATED_COST: u64 = 3;

/// How much Automerge may materialise from a run of bytes, in bytes:
/// inflated column and change data, plus [`ROW_COST`] per row. Decided from
/// the input's length before anything is inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes allowed per input byte.
    pub per_input_byte: u64,
    /// Never less than this, so that a small message declaring many
    /// operations in few bytes (a long text deleted, which run-length
    /// encodes to almost nothing) passes.
    pub floor: u64,
    /// Never more than this, however large the input.
    pub max: u64,
}

impl Budget {
    /// 256 bytes per input byte, at least 64 MiB, at most 256 MiB: what
    /// honest data needs (a 2,000-note canvas of 1.2 MB pushed whole costs
    /// about 200 bytes a byte; deleting a 100,000-character text is one
    /// change of 131 bytes and 100,000 operations, 51 MiB), and within the
    /// 256 MiB a process may grow by for one message (docs/reliability.md).
    pub const DEFAULT: Budget = Budget {
        per_input_byte: 256,
        floor: 64 << 20,
        max: 256 << 20,
    };

    /// The budget for `len` bytes of input.
    pub fn for_len(&self, len: usize) -> u64 {
        (len as u64)
            .saturating_mul(self.per_input_byte)
            .max(self.floor)
            .min(self.max)
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// What [`check`] measured of accepted bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Chunks read.
    pub chunks: u64,
    /// Bytes that deflated columns and compressed changes inflate to.
    pub inflated: u64,
    /// Rows (changes and operations) the columns declare: in each set of
    /// columns, the longest column's rows, counting for a group column the
    /// rows it declares in the columns it groups.
    pub rows: u64,
}

impl Cost {
    /// The cost against a [`Budget`], in bytes.
    pub fn bytes(&self) -> u64 {
        self.inflated
            .saturating_mul(INFLATED_COST)
            .saturating_add(self.rows.saturating_mul(ROW_COST))
    }
}

/// Why the gate refused bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A bundle chunk: gapmap never exchanges them, and Automerge allocates
    /// what their columns claim.
    #[error("bundle chunks are not accepted")]
    Bundle,
    /// Automerge would materialise more than the budget.
    #[error(
        "the Automerge data would expand past its budget of {} ({input} bytes in)",
        mib(*budget)
    )]
    OverBudget {
        /// The budget, in bytes.
        budget: u64,
        /// The input's length.
        input: u64,
    },
    /// Not a run of Automerge chunks the gate can measure.
    #[error("malformed Automerge data: {0}")]
    Malformed(&'static str),
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Measures `data` (a saved document, changes, or any run of chunks, as
/// `Automerge::load` and `load_incremental` take them) against `budget`,
/// and refuses it if Automerge would materialise more, or if it is not
/// something the gate can measure. Empty input is accepted.
pub fn check(data: &[u8], budget: Budget) -> Result<Cost, Refusal> {
    let mut meter = Meter {
        budget: budget.for_len(data.len()),
        input: data.len() as u64,
        cost: Cost::default(),
    };
    let mut rest = data;
    while !rest.is_empty() {
        let (kind, body, after) = chunk(rest)?;
        meter.cost.chunks += 1;
        match kind {
            DOCUMENT => document(body, &mut meter)?,
            CHANGE => change(body, &mut meter)?,
            COMPRESSED => {
                let inflated = meter.inflate(body, true)?;
                change(&inflated, &mut meter)?;
            }
            BUNDLE => return Err(Refusal::Bundle),
            _ => return Err(Refusal::Malformed("unknown chunk type")),
        }
        rest = after;
    }
    Ok(meter.cost)
}

/// [`check`] of parts that Automerge reads joined, one after the other: a
/// sync message's change entries, which `receive_sync_message` joins before
/// it parses them, so a chunk may straddle entries. The budget is that of
/// the joined length.
pub fn check_joined<P: AsRef<[u8]>>(parts: &[P], budget: Budget) -> Result<Cost, Refusal> {
    match parts {
        [] => Ok(Cost::default()),
        [one] => check(one.as_ref(), budget),
        _ => check(
            &parts
                .iter()
                .flat_map(|p| p.as_ref())
                .copied()
                .collect::<Vec<_>>(),
            budget,
        ),
    }
}

/// The budget being spent.
struct Meter {
    budget: u64,
    input: u64,
    cost: Cost,
}

impl Meter {
    fn check(&self) -> Result<(), Refusal> {
        if self.cost.bytes() > self.budget {
            Err(Refusal::OverBudget {
                budget: self.budget,
                input: self.input,
            })
        } else {
            Ok(())
        }
    }

    fn rows(&mut self, rows: u64) -> Result<(), Refusal> {
        self.cost.rows = self.cost.rows.saturating_add(rows);
        self.check()
    }

    /// Inflates `deflated` as Automerge will, reading no further than the
    /// budget left (plus one byte, to know it was passed), and returns what
    /// it inflated to when `keep` (else only counts it).
    fn inflate(&mut self, deflated: &[u8], keep: bool) -> Result<Vec<u8>, Refusal> {
        let room = self.budget.saturating_sub(self.cost.bytes()) / INFLATED_COST;
        let mut inflater =
            flate2::bufread::DeflateDecoder::new(deflated).take(room.saturating_add(1));
        let (mut out, mut buf, mut total) = (Vec::new(), [0u8; 32 << 10], 0u64);
        loop {
            let n = inflater
                .read(&mut buf)
                .map_err(|_| Refusal::Malformed("a deflated column or change does not inflate"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if keep {
                out.extend_from_slice(&buf[..n]);
            }
        }
        self.cost.inflated = self.cost.inflated.saturating_add(total);
        self.check()?;
        Ok(out)
    }
}

/// Splits off one chunk: its type, its body, and what follows it.
fn chunk(data: &[u8]) -> Result<(u8, &[u8], &[u8]), Refusal> {
    if data.len() < 10 || data[..4] != MAGIC {
        return Err(Refusal::Malformed("not an Automerge chunk"));
    }
    let kind = data[8];
    let mut rest = &data[9..];
    let len = usize::try_from(uleb(&mut rest)?)
        .ok()
        .filter(|len| *len <= rest.len())
        .ok_or(Refusal::Malformed("a chunk is longer than the data"))?;
    let (body, after) = rest.split_at(len);
    Ok((kind, body, after))
}

/// A document chunk's body: actors, heads, the change and op column
/// metadata, then their data (then head indices, which Automerge reads
/// as numbers only).
fn document(mut body: &[u8], meter: &mut Meter) -> Result<(), Refusal> {
    let b = &mut body;
    for _ in 0..uleb(b)? {
        let len = uleb(b)?;
        take(b, len)?;
    }
    let heads = uleb(b)?;
    take(b, heads.saturating_mul(32))?;
    let change_meta = columns(b)?;
    let op_meta = columns(b)?;
    section(b, &change_meta, meter, true)?;
    section(b, &op_meta, meter, true)?;
    Ok(())
}

/// A change chunk's body (inflated, for a compressed change): dependencies,
/// actor, sequence number, start op, time, message, other actors, then the
/// op column metadata and data (then extra bytes, which are kept as bytes).
fn change(mut body: &[u8], meter: &mut Meter) -> Result<(), Refusal> {
    let b = &mut body;
    let deps = uleb(b)?;
    take(b, deps.saturating_mul(32))?;
    let actor = uleb(b)?;
    take(b, actor)?;
    let _seq = uleb(b)?;
    let _start_op = uleb(b)?;
    let _time = uleb(b)?; // signed: the same bytes
    let message = uleb(b)?;
    take(b, message)?;
    for _ in 0..uleb(b)? {
        let len = uleb(b)?;
        take(b, len)?;
    }
    let meta = columns(b)?;
    // Automerge refuses deflated columns in a change chunk.
    section(b, &meta, meter, false)
}

/// Column metadata: how many columns, then a specification and a data
/// length each.
fn columns(b: &mut &[u8]) -> Result<Vec<(u32, u64)>, Refusal> {
    let n = uleb(b)?;
    let mut out = Vec::new();
    for _ in 0..n {
        // Each column takes at least two bytes of metadata, so the input
        // bounds this loop.
        let spec = u32::try_from(uleb(b)?)
            .map_err(|_| Refusal::Malformed("a column specification is too large"))?;
        out.push((spec, uleb(b)?));
    }
    Ok(out)
}

/// Measures the data of one set of columns (a document's changes, a
/// document's or a change's operations), taken off the front of `b`. Every
/// column of a set has a row per change or operation (Automerge fills an
/// empty one, and refuses one of another length), so the set has as many
/// rows as its longest column: that is what Automerge materialises.
fn section(
    b: &mut &[u8],
    meta: &[(u32, u64)],
    meter: &mut Meter,
    may_deflate: bool,
) -> Result<(), Refusal> {
    let mut rows = 0;
    for &(spec, len) in meta {
        let data = take(b, len)?;
        let column_rows = if spec & DEFLATE == 0 {
            runs::rows(spec, data)?
        } else if may_deflate {
            // A raw column's rows are counted by its metadata column.
            let keep = !runs::is_raw(spec);
            runs::rows(spec, &meter.inflate(data, keep)?)?
        } else {
            return Err(Refusal::Malformed("a change chunk with a deflated column"));
        };
        rows = column_rows.max(rows);
    }
    meter.rows(rows)
}

/// Takes `n` bytes off the front of `b`.
pub(crate) fn take<'a>(b: &mut &'a [u8], n: u64) -> Result<&'a [u8], Refusal> {
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= b.len())
        .ok_or(Refusal::Malformed(
            "a length runs past the end of its chunk",
        ))?;
    let (taken, rest) = b.split_at(n);
    *b = rest;
    Ok(taken)
}

/// An unsigned LEB128 number, as Automerge reads them (at most 64 bits).
pub(crate) fn uleb(b: &mut &[u8]) -> Result<u64, Refusal> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or(Refusal::Malformed(
            "a number runs past the end of its chunk",
        ))?;
        *b = rest;
        if i == 9 && byte > 1 {
            break;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Refusal::Malformed("a number does not fit in 64 bits"))
}

/// A signed LEB128 number (at most 64 bits).
pub(crate) fn sleb(b: &mut &[u8]) -> Result<i64, Refusal> {
    let mut value = 0i64;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or(Refusal::Malformed(
            "a number runs past the end of its chunk",
        ))?;
        *b = rest;
        value |= i64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i < 9 && byte & 0x40 != 0 {
                value |= -1i64 << (7 * (i + 1));
            }
            return Ok(value);
        }
    }
    Err(Refusal::Malformed("a number does not fit in 64 bits"))
}
