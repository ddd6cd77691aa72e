//! Fractional indexes: the `rank` strings that order notes inside a section.
//!
//! A rank is the `generateKeyBetween` format of the `fractional-indexing`
//! npm package (base 62, ASCII order): a variable-length "integer" part whose
//! first character gives its length (`a0`, `a1` … `az`, `b00` …), then an
//! optional fraction that never ends in `0`. Appending yields short keys
//! (`a0`, `a1`, `a2`, …) and there is always a key strictly between two
//! different valid keys, so inserting never needs to touch the neighbours.
//!
//! Ranks written by other clients may be invalid, and concurrent moves can
//! leave two notes with equal ranks. [`place`] copes with both by giving new
//! ranks to the few neighbours in the way.

/// The base-62 digits, in ASCII (and so string comparison) order.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ZERO: u8 = DIGITS[0];
const LAST: u8 = DIGITS[61];
/// The smallest integer part: no key can go before it without a fraction.
const SMALLEST_INTEGER: &[u8] = b"A00000000000000000000000000";

fn digit(c: u8) -> Option<usize> {
    match c {
        b'0'..=b'9' => Some(usize::from(c - b'0')),
        b'A'..=b'Z' => Some(usize::from(c - b'A') + 10),
        b'a'..=b'z' => Some(usize::from(c - b'a') + 36),
        _ => None,
    }
}

/// Length of the integer part announced by its first character.
fn integer_len(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some(usize::from(head - b'a') + 2),
        b'A'..=b'Z' => Some(usize::from(b'Z' - head) + 2),
        _ => None,
    }
}

/// Whether `key` is a rank this module can generate keys around.
pub(crate) fn is_valid(key: &str) -> bool {
    let b = key.as_bytes();
    let Some(&head) = b.first() else {
        return false;
    };
    let Some(int_len) = integer_len(head) else {
        return false;
    };
    b.len() >= int_len
        && b[1..].iter().all(|&c| digit(c).is_some())
        && b != SMALLEST_INTEGER
        && b[int_len..].last() != Some(&ZERO)
}

/// A fraction strictly between `a` and `b` (`None`: 1). Both are digit
/// strings without trailing zeros and `a < b`.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        // Keep the common prefix (a padded with zeros), then recurse.
        let n = b
            .iter()
            .enumerate()
            .take_while(|&(i, &c)| a.get(i).copied().unwrap_or(ZERO) == c)
            .count();
        if n > 0 {
            let mut out = b[..n].to_vec();
            out.extend(midpoint(a.get(n..).unwrap_or(&[]), Some(&b[n..])));
            return out;
        }
    }
    let da = a.first().and_then(|&c| digit(c)).unwrap_or(0);
    let db = b
        .and_then(|b| b.first())
        .and_then(|&c| digit(c))
        .unwrap_or(62);
    if db > da + 1 {
        vec![DIGITS[(da + db).div_ceil(2)]]
    } else if let Some(b) = b.filter(|b| b.len() > 1) {
        vec![b[0]]
    } else {
        let mut out = vec![DIGITS[da]];
        out.extend(midpoint(a.get(1..).unwrap_or(&[]), None));
        out
    }
}

fn increment_integer(int: &[u8]) -> Option<Vec<u8>> {
    let (head, digits) = int.split_first()?;
    let mut digits = digits.to_vec();
    for d in digits.iter_mut().rev() {
        let next = digit(*d)? + 1;
        if next < DIGITS.len() {
            *d = DIGITS[next];
            let mut out = vec![*head];
            out.extend(digits);
            return Some(out);
        }
        *d = ZERO;
    }
    // Carried out of the integer: the next length.
    match *head {
        b'Z' => Some(vec![b'a', ZERO]),
        b'z' => None,
        h => {
            let h = h + 1;
            if h > b'a' {
                digits.push(ZERO);
            } else {
                digits.pop();
            }
            let mut out = vec![h];
            out.extend(digits);
            Some(out)
        }
    }
}

fn decrement_integer(int: &[u8]) -> Option<Vec<u8>> {
    let (head, digits) = int.split_first()?;
    let mut digits = digits.to_vec();
    for d in digits.iter_mut().rev() {
        let value = digit(*d)?;
        if value > 0 {
            *d = DIGITS[value - 1];
            let mut out = vec![*head];
            out.extend(digits);
            return Some(out);
        }
        *d = LAST;
    }
    match *head {
        b'a' => Some(vec![b'Z', LAST]),
        b'A' => None,
        h => {
            let h = h - 1;
            if h < b'Z' {
                digits.push(LAST);
            } else {
                digits.pop();
            }
            let mut out = vec![h];
            out.extend(digits);
            Some(out)
        }
    }
}

fn split(key: &[u8]) -> (&[u8], &[u8]) {
    let n = integer_len(key[0]).unwrap_or(key.len()).min(key.len());
    key.split_at(n)
}

fn to_string(bytes: Vec<u8>) -> String {
    // Only ASCII digits are ever produced.
    String::from_utf8(bytes).unwrap_or_default()
}

/// A rank strictly between `a` and `b` (`None` meaning the start or the end).
///
/// `None` when either bound is not a valid rank or `a >= b`.
pub(crate) fn between(a: Option<&str>, b: Option<&str>) -> Option<String> {
    if a.is_some_and(|a| !is_valid(a)) || b.is_some_and(|b| !is_valid(b)) {
        return None;
    }
    let (a, b) = (a.map(str::as_bytes), b.map(str::as_bytes));
    let key = match (a, b) {
        (None, None) => vec![b'a', ZERO],
        (None, Some(b)) => {
            let (ib, fb) = split(b);
            if ib == SMALLEST_INTEGER {
                let mut out = ib.to_vec();
                out.extend(midpoint(&[], Some(fb)));
                out
            } else if ib.len() < b.len() {
                ib.to_vec()
            } else {
                decrement_integer(ib)?
            }
        }
        (Some(a), None) => {
            let (ia, fa) = split(a);
            match increment_integer(ia) {
                Some(i) => i,
                None => {
                    let mut out = ia.to_vec();
                    out.extend(midpoint(fa, None));
                    out
                }
            }
        }
        (Some(a), Some(b)) => {
            if a >= b {
                return None;
            }
            let (ia, fa) = split(a);
            let (ib, fb) = split(b);
            if ia == ib {
                let mut out = ia.to_vec();
                out.extend(midpoint(fa, Some(fb)));
                out
            } else {
                let i = increment_integer(ia)?;
                if i.as_slice() < b {
                    i
                } else {
                    let mut out = ia.to_vec();
                    out.extend(midpoint(fa, None));
                    out
                }
            }
        }
    };
    Some(to_string(key))
}

/// `n` increasing ranks strictly between `lo` and `hi` (both valid or
/// `None`, `lo < hi`), kept short: appends count up, inserts bisect.
fn spread(lo: Option<&str>, hi: Option<&str>, n: usize) -> Option<Vec<String>> {
    if n == 0 {
        return Some(Vec::new());
    }
    if hi.is_none() {
        let mut out: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let prev = out.last().map(String::as_str).or(lo);
            out.push(between(prev, None)?);
        }
        return Some(out);
    }
    let mid = between(lo, hi)?;
    let half = n / 2;
    let mut out = spread(lo, Some(&mid), half)?;
    out.push(mid.clone());
    out.extend(spread(Some(&mid), hi, n - half - 1)?);
    Some(out)
}

/// Ranks for putting a note at `index` among the `ranks` of its future
/// neighbours (sorted by rank, then id; the note itself not included).
///
/// Returns the note's new rank and the neighbours (by index into `ranks`)
/// that need a new rank too: none in the usual case, the block of equal or
/// invalid ranks around the insertion point otherwise.
pub(crate) fn place(ranks: &[&str], index: usize) -> (String, Vec<(usize, String)>) {
    let index = index.min(ranks.len());
    let mut start = index;
    while start > 0 && !is_valid(ranks[start - 1]) {
        start -= 1;
    }
    let lower = start.checked_sub(1).map(|i| ranks[i]);
    let mut end = index;
    while end < ranks.len() && !(is_valid(ranks[end]) && lower.is_none_or(|l| ranks[end] > l)) {
        end += 1;
    }
    let upper = ranks.get(end).copied();
    let block = end - start + 1;
    let keys = spread(lower, upper, block)
        .or_else(|| {
            // Cannot happen for valid bounds; renumber the whole section.
            start = 0;
            end = ranks.len();
            spread(None, None, ranks.len() + 1)
        })
        .unwrap_or_default();
    let mut keys = keys.into_iter();
    let mut renamed = Vec::new();
    let mut own = String::new();
    for slot in start..=end {
        let key = keys.next().unwrap_or_default();
        match slot.cmp(&index) {
            std::cmp::Ordering::Less => renamed.push((slot, key)),
            std::cmp::Ordering::Equal => own = key,
            std::cmp::Ordering::Greater => renamed.push((slot - 1, key)),
        }
    }
    (own, renamed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn appending_counts_up_with_short_keys() {
        let mut keys = vec![between(None, None).unwrap()];
        for _ in 0..100 {
            keys.push(between(keys.last().map(String::as_str), None).unwrap());
        }
        assert_eq!(&keys[..3], ["a0", "a1", "a2"]);
        assert_eq!(keys[62], "b00");
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.len() <= 3 && is_valid(k)));
    }

    #[test]
    fn known_values_of_the_npm_package() {
        assert_eq!(between(None, Some("a0")).unwrap(), "Zz");
        assert_eq!(between(Some("a0"), Some("a1")).unwrap(), "a0V");
        assert_eq!(between(Some("a1"), Some("a2")).unwrap(), "a1V");
        assert_eq!(between(Some("a0V"), Some("a1")).unwrap(), "a0l");
        assert_eq!(between(Some("Zz"), Some("a0")).unwrap(), "ZzV");
        assert_eq!(between(Some("a0"), Some("a0V")).unwrap(), "a0G");
        assert_eq!(between(Some("az"), None).unwrap(), "b00");
    }

    #[test]
    fn refuses_bad_bounds() {
        assert_eq!(between(Some("a1"), Some("a0")), None);
        assert_eq!(between(Some("a1"), Some("a1")), None);
        assert_eq!(between(Some("a10"), None), None);
        assert_eq!(between(Some("hello"), None), None);
        assert_eq!(between(None, Some("")), None);
        assert!(!is_valid("a"));
        assert!(!is_valid("a0 "));
        assert!(!is_valid("A00000000000000000000000000"));
        assert!(is_valid("A000000000000000000000000001"));
        assert!(is_valid("a0"));
        assert!(is_valid("a0V"));
    }

    #[test]
    fn place_between_distinct_neighbours_touches_nothing_else() {
        let (own, renamed) = place(&["a0", "a1"], 1);
        assert_eq!(own, "a0V");
        assert!(renamed.is_empty());
        let (own, renamed) = place(&["a0", "a1"], 2);
        assert_eq!(own, "a2");
        assert!(renamed.is_empty());
        let (own, renamed) = place(&[], 0);
        assert_eq!(own, "a0");
        assert!(renamed.is_empty());
    }

    #[test]
    fn place_between_equal_ranks_renumbers_the_tie() {
        let ranks = ["a0", "a1", "a1", "a1", "a2"];
        let (own, renamed) = place(&ranks, 2);
        let mut result: Vec<String> = ranks.iter().map(|s| s.to_string()).collect();
        for (i, k) in &renamed {
            result[*i] = k.clone();
        }
        result.insert(2, own);
        assert!(result.windows(2).all(|w| w[0] < w[1]), "{result:?}");
        assert_eq!(result[0], "a0");
        assert_eq!(result[1], "a1");
        assert_eq!(result[5], "a2");
    }

    #[test]
    fn place_among_foreign_ranks_renumbers_them() {
        let ranks = ["", "m", "m", "zz top"];
        let (own, renamed) = place(&ranks, 1);
        assert_eq!(renamed.len(), 4);
        let mut result: Vec<String> = ranks.iter().map(|s| s.to_string()).collect();
        for (i, k) in &renamed {
            result[*i] = k.clone();
        }
        result.insert(1, own);
        assert!(result.windows(2).all(|w| w[0] < w[1]), "{result:?}");
        assert!(result.iter().all(|k| is_valid(k)));
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        // Valid keys built by random inserts from the empty list.
        prop::collection::vec(any::<prop::sample::Index>(), 1..40).prop_map(|picks| {
            let mut keys: Vec<String> = Vec::new();
            for pick in picks {
                let i = pick.index(keys.len() + 1);
                let lo = i.checked_sub(1).map(|j| keys[j].as_str());
                let hi = keys.get(i).map(String::as_str);
                let k = between(lo, hi).unwrap();
                keys.insert(i, k);
            }
            keys[keys.len() / 2].clone()
        })
    }

    proptest! {
        #[test]
        fn between_is_strictly_between(a in key_strategy(), b in key_strategy()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            if lo < hi {
                let k = between(Some(&lo), Some(&hi)).unwrap();
                prop_assert!(lo < k && k < hi, "{lo} < {k} < {hi}");
                prop_assert!(is_valid(&k));
            }
            let before = between(None, Some(&lo)).unwrap();
            prop_assert!(before < lo && is_valid(&before));
            let after = between(Some(&hi), None).unwrap();
            prop_assert!(after > hi && is_valid(&after));
        }

        #[test]
        fn place_always_yields_a_strict_order(
            ranks in prop::collection::vec(
                prop_oneof![
                    Just("a0".to_string()),
                    Just("a1".to_string()),
                    Just("a1V".to_string()),
                    Just("".to_string()),
                    "[a-c][0-9A-Za-z]{1,3}",
                    "[ -~]{0,4}",
                ],
                0..12,
            ),
            index in any::<prop::sample::Index>(),
        ) {
            let mut ranks = ranks;
            ranks.sort();
            let refs: Vec<&str> = ranks.iter().map(String::as_str).collect();
            let i = index.index(ranks.len() + 1);
            let (own, renamed) = place(&refs, i);
            let mut result = ranks.clone();
            for (j, k) in &renamed {
                result[*j] = k.clone();
            }
            result.insert(i, own.clone());
            // The new note sits strictly between its neighbours.
            prop_assert!(is_valid(&own));
            if i > 0 { prop_assert!(result[i - 1] < own, "{result:?}"); }
            if i + 1 < result.len() { prop_assert!(own < result[i + 1], "{result:?}"); }
            // Renamed neighbours keep their relative order.
            let order: Vec<&String> = result.iter().collect();
            for (j, _) in &renamed {
                let pos = if *j < i { *j } else { j + 1 };
                if pos > 0 { prop_assert!(order[pos - 1] < order[pos], "{result:?}"); }
                if pos + 1 < order.len() { prop_assert!(order[pos] < order[pos + 1], "{result:?}"); }
            }
        }
    }
}
