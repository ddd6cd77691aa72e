use super::*;
use crate::render::styled::width as display_width;
use crate::{NoteId, Status};

/// A canvas with notes in every framework, long and non-ASCII texts.
fn rich() -> (Canvas, Vec<NoteId>) {
    let mut c = Canvas::create("Commuters who work on the train", "ana", 0).unwrap();
    c.set_job(
        Some("I commute by train for an hour every day"),
        Some("get real work done on the way"),
        Some("arrive home with the day's work finished"),
        0,
    )
    .unwrap();
    c.set_customer(Some("user"), Some("daily commuter"), 0)
        .unwrap();
    let mut ids = Vec::new();
    let mut add = |c: &mut Canvas, s: Section, text: &str, tags: &[&str]| {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let id = c.add_note(s, text, &tags, "ana", 0).unwrap();
        ids.push(id.clone());
        id
    };
    let a = add(
        &mut c,
        Section::Now,
        "Reads email on a small phone screen",
        &["mobile"],
    );
    add(
        &mut c,
        Section::Now,
        "Carries a heavy laptop bag through crowded stations every morning",
        &[],
    );
    let v = add(
        &mut c,
        Section::Constraint,
        "No power sockets in older trains",
        &["hardware"],
    );
    add(&mut c, Section::Catalyst, "Quiet carriages", &[]);
    add(
        &mut c,
        Section::ToBe,
        "Finishes reports before arriving — café ☕ or not",
        &[],
    );
    add(
        &mut c,
        Section::ToBe,
        "日本語のメモ with wide characters 👋",
        &["intl"],
    );
    add(
        &mut c,
        Section::Design,
        "A foldable desk clipped to the seat back",
        &[],
    );
    add(
        &mut c,
        Section::Push,
        "Evenings eaten by leftover work",
        &[],
    );
    add(&mut c, Section::Pull, "Habit of scrolling news", &[]);
    add(&mut c, Section::Hazard, "Laptop stolen while dozing", &[]);
    add(&mut c, Section::Gain, "Weekends free", &[]);
    add(
        &mut c,
        Section::Monitor,
        "Checks progress at each stop",
        &[],
    );
    add(
        &mut c,
        Section::Now,
        "Supercalifragilisticexpialidocious-unbreakable-word",
        &[],
    );
    c.mark(&a, Status::Validated, 0).unwrap();
    c.mark(&v, Status::Invalidated, 0).unwrap();
    let gone = c
        .add_note(Section::Now, "Trashed note", &[], "ana", 0)
        .unwrap();
    c.trash_note(&gone, 0).unwrap();
    (c, ids)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn check_board(c: &Canvas, ids: &[NoteId], width: usize, color: bool) -> String {
    let board = to_terminal(c, &DocId::random(), width, color);
    let plain = strip_ansi(&board);
    for line in plain.lines() {
        assert!(
            display_width(line) <= width,
            "line wider than {width}: {line:?}\n{plain}"
        );
    }
    for id in ids {
        let note = c.note(id).unwrap();
        for word in note.text.split_whitespace() {
            if display_width(word) < 12 {
                assert!(plain.contains(word), "{word:?} missing at {width}\n{plain}");
            }
        }
        for tag in &note.tags {
            assert!(
                plain.contains(&format!("#{tag}")),
                "#{tag} at {width}\n{plain}"
            );
        }
        if width >= SHORT_ID_MIN_WIDTH {
            assert!(
                plain.contains(id.short()),
                "{} at {width}\n{plain}",
                id.short()
            );
        }
    }
    // Long words are broken, never lost.
    let squashed: String = plain.split_whitespace().collect::<Vec<_>>().join("");
    assert!(squashed.contains("Supercal"));
    assert!(!plain.contains("Trashed note"));
    let flowing = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flowing.contains("1 note in the trash"), "{plain}");
    plain
}

#[test]
fn fits_every_width_and_shows_every_note() {
    let (c, ids) = rich();
    for width in [16, 20, 40, 59, 60, 61, 80, 100, 160] {
        check_board(&c, &ids, width, false);
        check_board(&c, &ids, width, true);
    }
}

#[test]
fn wide_board_has_three_progress_columns() {
    let (c, ids) = rich();
    for width in [60, 80, 160] {
        let plain = check_board(&c, &ids, width, false);
        let head = plain
            .lines()
            .find(|l| l.starts_with("NOW"))
            .unwrap_or_else(|| panic!("{plain}"));
        assert!(head.contains("│ GAP"), "{head}");
        assert!(head.contains("│ TO BE"), "{head}");
        // GAP stacks constraints over catalysts in the middle column.
        let constraints = plain
            .lines()
            .position(|l| l.contains("│ Constraints"))
            .unwrap();
        let catalysts = plain
            .lines()
            .position(|l| l.contains("│ Catalysts"))
            .unwrap();
        assert!(constraints < catalysts);
        // Design comes after the columns, across the whole width.
        let design = plain.lines().position(|l| l == "DESIGN").unwrap();
        assert!(design > catalysts);
        // Forces side by side: Push | Pull.
        assert!(plain
            .lines()
            .any(|l| l.starts_with("Push") && l.contains("│ Pull")));
    }
}

#[test]
fn narrow_board_is_stacked() {
    let (c, ids) = rich();
    let plain = check_board(&c, &ids, 40, false);
    let lines: Vec<&str> = plain.lines().collect();
    let pos = |h: &str| {
        lines
            .iter()
            .position(|l| *l == h)
            .unwrap_or_else(|| panic!("{h}\n{plain}"))
    };
    assert!(pos("NOW") < pos("GAP · Constraints"));
    assert!(pos("GAP · Constraints") < pos("GAP · Catalysts"));
    assert!(pos("GAP · Catalysts") < pos("TO BE"));
    assert!(pos("TO BE") < pos("DESIGN"));
    assert!(!plain.contains('│'));
}

#[test]
fn markers_and_colours() {
    let (c, ids) = rich();
    let plain = to_terminal(&c, &DocId::random(), 100, false);
    assert!(!plain.contains('\x1b'));
    let validated = c.note(&ids[0]).unwrap();
    assert!(plain.contains(&format!("✓ {} Reads", validated.id.short())));
    assert!(plain.contains(&format!("✗ {} No power", ids[2].short())));
    assert!(plain.contains(&format!("? {} Quiet", ids[3].short())));
    let colored = to_terminal(&c, &DocId::random(), 100, true);
    assert!(colored.contains("\x1b[32m✓\x1b[0m"));
    assert!(colored.contains("\x1b[31m✗\x1b[0m"));
    assert!(colored.contains("\x1b[33m?\x1b[0m"));
    assert!(colored.contains("\x1b[36m#mobile\x1b[0m"));
}

#[test]
fn header_and_group_visibility() {
    let (c, _) = rich();
    let plain = to_terminal(&c, &DocId::random(), 160, false);
    let mut lines = plain.lines();
    assert_eq!(lines.next().unwrap(), "Commuters who work on the train");
    assert!(lines.next().unwrap().starts_with("automerge:"));
    assert!(plain.contains(
        "Job: When I commute by train for an hour every day, I want to get real work done on the way"
    ));
    assert!(plain.contains("Customer: user — daily commuter"));
    // Only non-empty sections of the other frameworks.
    assert!(plain.contains("SUCCESS OUTCOMES"));
    assert!(plain.contains("Hazards"));
    assert!(!plain.contains("Goals"));
    assert!(plain.contains("6. Monitor"));
    assert!(!plain.contains("Define"));
    assert!(
        !plain.contains("Anxiety"),
        "a forces row without notes is left out"
    );
}

#[test]
fn empty_canvas_marks_empty_progress_sections() {
    let c = Canvas::create("Empty", "", 0).unwrap();
    for width in [40, 80] {
        let plain = to_terminal(&c, &DocId::random(), width, false);
        assert!(plain.contains("(no job statement yet)"));
        // NOW, constraints, catalysts, TO BE, design.
        assert_eq!(plain.matches("(empty)").count(), 5, "{plain}");
        assert!(!plain.contains("FORCES"));
        assert!(!plain.contains("trash"));
    }
}

#[test]
fn escape_codes_in_notes_are_neutralised() {
    let mut c = Canvas::create("x", "", 0).unwrap();
    c.add_note(Section::Now, "evil \x1b[2J clear", &[], "", 0)
        .unwrap();
    let plain = to_terminal(&c, &DocId::random(), 80, false);
    assert!(!plain.contains('\x1b'));
    assert!(plain.contains("evil [2J clear"));
}

#[test]
fn concurrent_values_are_shown_under_the_note() {
    let mut a = Canvas::create("Conflicts", "ana", 0).unwrap();
    let n = a
        .add_note(Section::Now, "Pays late", &[], "ana", 0)
        .unwrap();
    let mut b = a.fork();
    a.mark(&n, Status::Validated, 1).unwrap();
    b.mark(&n, Status::Invalidated, 1).unwrap();
    a.merge(&mut b).unwrap();
    // Stacked (narrow) so the line is not wrapped inside a column.
    let board = to_terminal(&a, &DocId::random(), 50, false);
    let shown = a.note(&n).unwrap().status;
    let other = match shown {
        Status::Validated => "invalidated",
        _ => "validated",
    };
    let want = format!("⚠ status: {shown} | {other}");
    assert!(board.contains(&want), "{board}");
    a.mark(&n, Status::Validated, 2).unwrap();
    assert!(!to_terminal(&a, &DocId::random(), 100, false).contains('⚠'));
}
