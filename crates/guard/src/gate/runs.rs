//! Counting a column's rows from its run encoding, without materialising
//! them. The encodings are Automerge's (the low three bits of a column
//! specification say which):
//!
//! - run-length encoded (actor, integer, delta, string, value metadata and
//!   group columns): a signed count `n`, then for `n > 0` one value that
//!   repeats `n` times, for `n < 0` `-n` literal values, for `n == 0` an
//!   unsigned count of nulls;
//! - boolean: unsigned run lengths, alternately false and true;
//! - raw values: bytes, whose rows the value metadata column counts.
//!
//! A group column's values are the number of rows each of its rows has in
//! the columns it groups (an operation's successors, a change's
//! dependencies): it declares as many rows as the larger of its own rows
//! and the sum of its values, since Automerge reads that many.

use super::{sleb, take, uleb, Refusal};

const GROUP: u32 = 0;
const DELTA: u32 = 3;
const BOOLEAN: u32 = 4;
const STRING: u32 = 5;
const RAW: u32 = 7;

/// Whether a column of specification `spec` holds raw values (no rows).
pub(super) fn is_raw(spec: u32) -> bool {
    spec & 0b111 == RAW
}

/// The rows `data` declares for a column of specification `spec`.
pub(super) fn rows(spec: u32, data: &[u8]) -> Result<u64, Refusal> {
    match spec & 0b111 {
        RAW => Ok(0),
        BOOLEAN => {
            let mut b = data;
            let mut rows = 0u64;
            while !b.is_empty() {
                rows = rows.saturating_add(uleb(&mut b)?);
            }
            Ok(rows)
        }
        GROUP => rle(data, uleb, true),
        DELTA => rle(data, |b| sleb(b).map(|_| 0), false),
        STRING => rle(
            data,
            |b| {
                let len = uleb(b)?;
                take(b, len).map(|_| 0)
            },
            false,
        ),
        // Actor, integer, value metadata: unsigned numbers.
        _ => rle(data, uleb, false),
    }
}

/// Rows of a run-length encoded column whose values `value` reads (and,
/// when `sum`, whose values are row counts of grouped columns).
fn rle(
    mut b: &[u8],
    value: impl Fn(&mut &[u8]) -> Result<u64, Refusal>,
    sum: bool,
) -> Result<u64, Refusal> {
    let (mut rows, mut grouped) = (0u64, 0u64);
    while !b.is_empty() {
        let n = sleb(&mut b)?;
        if n > 0 {
            let v = value(&mut b)?;
            let n = n.unsigned_abs();
            rows = rows.saturating_add(n);
            grouped = grouped.saturating_add(n.saturating_mul(v));
        } else if n < 0 {
            // Each literal takes at least one byte: the data bounds this.
            for _ in 0..n.unsigned_abs() {
                let v = value(&mut b)?;
                rows = rows.saturating_add(1);
                grouped = grouped.saturating_add(v);
            }
        } else {
            rows = rows.saturating_add(uleb(&mut b)?);
        }
    }
    Ok(if sum { rows.max(grouped) } else { rows })
}
