//! Small pieces of English for messages: counts with real plurals, and
//! "did you mean" guesses for a mistyped word.

use anyhow::{bail, Result};
use gapmap_canvas::Section;

/// `1 canvas`, `2 canvases`, `0 canvases`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The number of single-character edits between `a` and `b`, a swap of
/// two neighbours counting as one (optimal string alignment distance).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `given` when it is close enough to be a typo
/// (at most a third of its length, and at least one edit, away).
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.trim().to_lowercase();
    let limit = (given.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&given, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Commands people reach for by another name, and gapmap's own.
const COMMAND_WORDS: &[(&[&str], &str)] = &[
    (&["delete", "del", "remove", "trash-note"], "rm"),
    (&["create", "init"], "new"),
    (&["ls"], "list"),
    (&["open", "board", "web", "serve-ui"], "ui"),
    (&["push", "pull", "fetch"], "sync"),
    (&["undelete", "untrash", "recover"], "restore"),
    (&["rename"], "title"),
    (&["checkout", "switch", "select", "open-canvas"], "use"),
    (&["history"], "log"),
    (&["note"], "add"),
    (&["status-of", "validate", "invalidate"], "mark"),
    (&["copy", "download"], "clone"),
];

/// gapmap's name for a command `given` under another name, if known.
pub fn command(given: &str) -> Option<&'static str> {
    let given = given.trim().to_lowercase();
    COMMAND_WORDS
        .iter()
        .find(|(words, _)| words.contains(&given.as_str()))
        .map(|(_, meant)| *meant)
}

/// Words people use for a part of the canvas that is no section id, and
/// the sections they mean (the canvas's own words, docs/user-guide.md).
const SECTION_WORDS: &[(&[&str], &str)] = &[
    (&["gap", "gaps"], "constraint or catalyst (the GAP is both)"),
    (
        &[
            "obstacle",
            "obstacles",
            "barrier",
            "barriers",
            "blocker",
            "blockers",
        ],
        "constraint",
    ),
    (
        &["enabler", "enablers", "accelerator", "accelerators"],
        "catalyst",
    ),
    (&["current", "as-is", "asis", "today", "observation"], "now"),
    (&["future", "desired", "desire", "goal-state"], "to-be"),
    (
        &[
            "solution",
            "solutions",
            "feature",
            "features",
            "idea",
            "ideas",
        ],
        "design",
    ),
    (&["force", "forces"], "push, pull, anxiety or inertia"),
    (&["outcome", "outcomes"], "goal, hazard or problem"),
    (&["habit", "habits"], "inertia"),
    (&["fear", "fears", "worry", "worries"], "anxiety"),
    (
        &["map", "job-map", "step", "steps", "stage", "stages"],
        "define, locate, prepare, confirm, execute, monitor, modify or conclude",
    ),
];

/// Parses a section id as people type it, with a "did you mean" when it is
/// none: a synonym (`gap` → constraint or catalyst) or a typo.
pub fn section(given: &str) -> Result<Section> {
    let err = match given.parse::<Section>() {
        Ok(section) => return Ok(section),
        Err(err) => err,
    };
    let word = given.trim().to_lowercase().replace([' ', '_'], "-");
    let meant = SECTION_WORDS
        .iter()
        .find(|(words, _)| words.contains(&word.as_str()))
        .map(|(_, meant)| meant.to_string())
        .or_else(|| closest(&word, Section::ALL.iter().map(|s| s.id())).map(str::to_string));
    match meant {
        Some(meant) => bail!(
            "unknown section \"{}\": did you mean {meant}?",
            given.trim()
        ),
        None => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_words() {
        assert_eq!(plural(1, "canvas", "canvases"), "1 canvas");
        assert_eq!(plural(0, "canvas", "canvases"), "0 canvases");
        assert_eq!(plural(2, "change", "changes"), "2 changes");
    }

    #[test]
    fn other_names_of_commands_are_known() {
        assert_eq!(command("Delete"), Some("rm"));
        assert_eq!(command("history"), Some("log"));
        assert_eq!(command("show"), None);
    }

    #[test]
    fn sections_suggest_what_was_meant() {
        assert_eq!(section("Constraints").unwrap(), Section::Constraint);
        let gap = section("gap").unwrap_err().to_string();
        assert_eq!(
            gap,
            "unknown section \"gap\": did you mean constraint or catalyst (the GAP is both)?"
        );
        let typo = section("catalist").unwrap_err().to_string();
        assert!(typo.ends_with("did you mean catalyst?"), "{typo}");
        let far = section("zebra").unwrap_err().to_string();
        assert!(far.contains("valid sections: now, to-be"), "{far}");
    }

    #[test]
    fn close_words_are_guessed_and_far_ones_are_not() {
        let words = ["sync", "show", "status", "remote"];
        assert_eq!(closest("shwo", words), Some("show"));
        assert_eq!(closest("remtoe", words), Some("remote"));
        assert_eq!(closest("banana", words), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("shwo", "show"), 1);
    }
}
