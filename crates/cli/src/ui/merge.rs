//! Three-way merge of one person's text edit with a concurrent one.
//!
//! The board sends a note's new text together with the text it started
//! from. When someone else changed the note in between (another tab, the
//! CLI, a peer), replacing the whole text would undo their change; instead
//! the person's edit is replayed, as one splice, on the current text. The
//! canvas API then stores the difference as character splices, so the
//! result merges with peers like any other edit.

/// One contiguous change: `removed` characters at `at` replaced by `inserted`.
#[derive(Debug, PartialEq, Eq)]
struct Splice {
    at: usize,
    removed: usize,
    inserted: Vec<char>,
}

/// The single splice turning `from` into `to` (common prefix and suffix kept).
fn splice(from: &[char], to: &[char]) -> Splice {
    let prefix = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let max_suffix = from.len().min(to.len()) - prefix;
    let suffix = from
        .iter()
        .rev()
        .zip(to.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    Splice {
        at: prefix,
        removed: from.len() - prefix - suffix,
        inserted: to[prefix..to.len() - suffix].to_vec(),
    }
}

/// `mine` (an edit of `base`) replayed on `current` (another edit of
/// `base`). Edits of separate parts of the text both survive; when both
/// touched the same characters, `mine` wins there, as the later save.
pub fn rebase(base: &str, mine: &str, current: &str) -> String {
    if base == current {
        return mine.to_string();
    }
    let (base, mine, current): (Vec<char>, Vec<char>, Vec<char>) = (
        base.chars().collect(),
        mine.chars().collect(),
        current.chars().collect(),
    );
    let ours = splice(&base, &mine);
    let theirs = splice(&base, &current);
    if ours.removed == 0 && ours.inserted.is_empty() {
        return current.iter().collect();
    }
    let same_point = ours.at == theirs.at && ours.removed == 0 && theirs.removed == 0;
    // Where our splice lands in `current`; overlapping edits have no such place.
    let at = if same_point {
        // Both inserted at one place: theirs first, then ours.
        ours.at + theirs.inserted.len()
    } else if ours.at + ours.removed <= theirs.at {
        ours.at
    } else if ours.at >= theirs.at + theirs.removed {
        ours.at - theirs.removed + theirs.inserted.len()
    } else {
        return mine.iter().collect();
    };
    let mut out: Vec<char> = current[..at].to_vec();
    out.extend_from_slice(&ours.inserted);
    out.extend_from_slice(&current[at + ours.removed..]);
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_base_takes_mine() {
        assert_eq!(rebase("abc", "abXc", "abc"), "abXc");
    }

    #[test]
    fn separate_edits_both_survive() {
        let base = "Chases late payments by email";
        let mine = "Chases late payments by email every Friday";
        let theirs = "Often chases late payments by email";
        assert_eq!(
            rebase(base, mine, theirs),
            "Often chases late payments by email every Friday"
        );
        // and the other way round
        assert_eq!(
            rebase(base, theirs, mine),
            "Often chases late payments by email every Friday"
        );
    }

    #[test]
    fn deletions_and_multibyte_text() {
        assert_eq!(
            rebase("café au lait ☕", "café ☕", "café au lait ☕ 🚂"),
            "café ☕ 🚂"
        );
        assert_eq!(
            rebase("one two three", "one three", "ONE two three"),
            "ONE three"
        );
    }

    #[test]
    fn overlapping_edits_keep_mine() {
        assert_eq!(
            rebase("the red door", "the blue door", "the green door"),
            "the blue door"
        );
    }

    #[test]
    fn inserts_at_the_same_place_keep_both() {
        assert_eq!(rebase("ab", "aXb", "aYb"), "aYXb");
    }

    #[test]
    fn no_change_of_mine_keeps_theirs() {
        assert_eq!(rebase("ab", "ab", "abc"), "abc");
    }

    #[test]
    fn splice_finds_the_changed_middle() {
        let s = splice(
            &"aaa".chars().collect::<Vec<_>>(),
            &"aaaa".chars().collect::<Vec<_>>(),
        );
        assert_eq!((s.at, s.removed, s.inserted.len()), (3, 0, 1));
    }
}
