//! A damaged journal through the real binary: bytes flipped, garbage
//! inserted and the file cut at several places, with the database intact
//! (doctor reports and rewrites it, nothing is lost) and with the database
//! broken too (every intact record comes back, doctor names what is lost
//! and exits 1). `gapmap list` counts what loads.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{note_ids, Store};

const NOTES: usize = 20;

/// A store with one canvas of 20 notes (`note 0` … `note 19`), one save each.
fn canvas() -> Store {
    let s = Store::new("doc");
    s.ok(&["new", "Damaged"]);
    for i in 0..NOTES {
        s.ok(&["add", "now", &format!("note {i}")]);
    }
    s
}

fn journal(s: &Store) -> PathBuf {
    let dir = s.home.join("journal");
    fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a canvas journal")
}

/// (kind, start, end) of every record, by the format in docs/durability.md.
fn records(path: &Path) -> Vec<(u8, usize, usize)> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 16;
    while pos + 9 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((bytes[pos + 8], pos, pos + 8 + len));
        pos += 8 + len;
    }
    out
}

/// The change records (`I`), in order: the first is the canvas's creation,
/// then one per added note.
fn changes(path: &Path) -> Vec<(usize, usize)> {
    records(path)
        .into_iter()
        .filter(|r| r.0 == b'I' || r.0 == b'S')
        .map(|r| (r.1, r.2))
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Harm {
    Flip(usize),
    Insert(usize),
    Cut(usize),
}

fn harm(path: &Path, harm: Harm) {
    let mut bytes = fs::read(path).unwrap();
    match harm {
        Harm::Flip(at) => bytes[at..at + 4].iter_mut().for_each(|b| *b = !*b),
        Harm::Insert(at) => drop(bytes.splice(at..at, *b"garbage! garbage! garbage! garbage!")),
        Harm::Cut(at) => bytes.truncate(at),
    }
    fs::write(path, bytes).unwrap();
}

/// Where to hurt, and which change record it destroys (0 is the canvas's
/// creation, `i + 1` the one that added note `i`).
fn places(path: &Path) -> Vec<(&'static str, Harm, Option<usize>)> {
    let c = changes(path);
    assert_eq!(c.len(), NOTES + 1, "one change record per save");
    let mid = NOTES / 2 + 1;
    let (mid_start, _) = c[mid];
    let (last_start, _) = c[NOTES];
    vec![
        (
            "start: the canvas's first change",
            Harm::Flip(c[0].0 + 24),
            Some(0),
        ),
        (
            "middle: inside a payload",
            Harm::Flip(mid_start + 40),
            Some(mid),
        ),
        (
            "middle: inside a record head",
            Harm::Flip(mid_start + 2),
            None,
        ),
        (
            "last change record",
            Harm::Flip(last_start + 40),
            Some(NOTES),
        ),
        (
            "garbage inserted in the middle",
            Harm::Insert(mid_start + 30),
            Some(mid),
        ),
        (
            "cut inside the last change",
            Harm::Cut(last_start + 30),
            Some(NOTES),
        ),
    ]
}

/// The note texts `show` gives (none when the canvas does not load).
fn texts(s: &Store) -> Vec<String> {
    let run = s.run(&["--json", "show"]);
    if run.code != 0 {
        assert!(run.stderr.contains("gapmap doctor"), "{}", run.stderr);
        return Vec::new();
    }
    crate::util::texts(&serde_json::from_str(&run.stdout).unwrap(), "now")
}

fn listed_notes(s: &Store) -> u64 {
    s.json(&["list"])[0]["notes"].as_u64().unwrap()
}

fn copy_store(from: &Store, name: &str) -> Store {
    let s = Store::new(name);
    copy_dir(&from.home, &s.home);
    s
}

#[test]
fn a_damaged_journal_with_a_good_database_is_rewritten_and_nothing_is_lost() {
    let template = canvas();
    for (label, h, _) in places(&journal(&template)) {
        let s = copy_store(&template, "doc");
        harm(&journal(&s), h);
        let run = s.run(&["doctor"]);
        assert_eq!(run.code, 0, "{label}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("journal: damaged") || run.stdout.contains("journal: lacked"),
            "{label}: damage not reported: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("rewrote the journal"),
            "{label}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("nothing lost"),
            "{label}: {}",
            run.stdout
        );
        assert_eq!(texts(&s).len(), NOTES, "{label}");
        assert_eq!(listed_notes(&s), NOTES as u64, "{label}");
        // The rewritten journal alone rebuilds everything.
        fs::remove_dir_all(s.home.join("db")).unwrap();
        assert_eq!(texts(&s).len(), NOTES, "{label}: journal incomplete");
        let again = s.json(&["doctor"]);
        assert_eq!(again["ok"], true, "{label}: {again}");
        assert_eq!(again["healthy"], true, "{label}: {again}");
    }
}

#[test]
fn with_the_database_broken_too_every_intact_record_is_back_and_the_loss_named() {
    let template = canvas();
    let all = texts(&template);
    let export = template.home.parent().unwrap().join("peer.automerge");
    template.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        export.to_str().unwrap(),
    ]);
    for (label, h, destroyed) in places(&journal(&template)) {
        let s = copy_store(&template, "doc");
        harm(&journal(&s), h);
        break_db(&s.home);
        let run = s.run(&["doctor"]);
        let loads = texts(&s);
        let listed = listed_notes(&s);
        assert_eq!(
            listed,
            loads.len() as u64,
            "{label}: list counts what loads"
        );
        let _ = &run;
        match destroyed {
            None => {
                assert_eq!(run.code, 0, "{label}: {}{}", run.stdout, run.stderr);
                assert_eq!(loads.len(), NOTES, "{label}");
            }
            Some(k) => {
                assert_eq!(
                    run.code, 1,
                    "{label}: a loss must not exit 0: {}",
                    run.stdout
                );
                assert!(
                    run.stderr.contains("data is lost"),
                    "{label}: {}",
                    run.stderr
                );
                assert!(run.stdout.contains("LOST"), "{label}: {}", run.stdout);
                // Notes before the damage load; every note added after it is
                // named, by id and text, from the changes that survived.
                assert_eq!(loads, all[..k.saturating_sub(1)], "{label}");
                for later in &all[k..] {
                    assert!(
                        run.stdout.contains(&format!("\"{later}\"")),
                        "{label}: {later} not named: {}",
                        run.stdout
                    );
                }
                if k < NOTES {
                    assert!(run.stdout.contains("kept but cannot apply"), "{label}");
                }
                if k == 0 {
                    // Nothing of the canvas loads, so `import` cannot find
                    // it: a sync brings it back (the test below).
                    continue;
                }
                // The held changes apply once the lost one comes back.
                s.ok(&["import", export.to_str().unwrap()]);
                assert_eq!(texts(&s), all, "{label}: held changes did not come back");
                assert_eq!(listed_notes(&s), NOTES as u64, "{label}");
                assert_eq!(note_ids(&s.show()).len(), NOTES, "{label}");
            }
        }
    }
}

#[test]
fn a_canvas_that_lost_its_first_change_comes_back_whole_from_a_peer() {
    let peer = canvas();
    let all = texts(&peer);
    let s = copy_store(&peer, "doc");
    let (first, _) = changes(&journal(&s))[0];
    harm(&journal(&s), Harm::Flip(first + 24));
    break_db(&s.home);
    assert_eq!(s.run(&["doctor"]).code, 1);
    assert_eq!(listed_notes(&s), 0);
    // Every note was held back, nothing applies without the first change;
    // a sync with a peer that has it brings everything back.
    let serving = crate::sync::Serving::start(&peer, &[]);
    s.ok(&["sync", &serving.url]);
    assert_eq!(texts(&s), all);
    assert_eq!(listed_notes(&s), NOTES as u64);
    assert_eq!(s.json(&["doctor"])["ok"], true);
}

#[test]
fn doctor_through_a_running_owner_rewrites_a_damaged_journal() {
    let s = canvas();
    let serving = crate::sync::Serving::start(&s, &[]);
    let path = journal(&s);
    let (mid_start, _) = changes(&path)[NOTES / 2 + 1];
    harm(&path, Harm::Flip(mid_start + 40));
    // `serve` owns the store: doctor is carried out by it.
    let run = s.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("rewrote the journal"), "{}", run.stdout);
    s.ok(&["add", "now", "after the repair"]);
    drop(serving);
    fs::remove_dir_all(s.home.join("db")).unwrap();
    assert_eq!(texts(&s).len(), NOTES + 1, "the journal is whole again");
}

#[test]
fn doctor_json_names_the_lost_change_and_held_notes() {
    let s = canvas();
    let path = journal(&s);
    let (mid_start, _) = changes(&path)[NOTES / 2 + 1];
    harm(&path, Harm::Flip(mid_start + 40));
    // Notes 0..=9 load, note 10 is lost, 11..=19 are held back.
    break_db(&s.home);
    let run = s.run(&["--json", "doctor"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["lost"], true);
    let doc = &report["store"]["docs"][0];
    assert_eq!(
        doc["lost"]["missing_changes"].as_array().unwrap().len(),
        1,
        "{doc}"
    );
    assert_eq!(doc["lost"]["held_changes"], NOTES - NOTES / 2 - 1);
    let held = report["canvases"][0]["held_notes"].as_array().unwrap();
    assert_eq!(held.len(), NOTES - NOTES / 2 - 1, "{report}");
    assert!(held
        .iter()
        .all(|n| n["created"] == true && n["text"].is_string()));
    assert_eq!(report["canvases"][0]["unaccounted_notes"], 1);
}

/// sled's files overwritten with garbage: it no longer opens.
fn break_db(home: &Path) {
    for entry in fs::read_dir(home.join("db")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = fs::metadata(&path).unwrap().len() as usize;
            fs::write(&path, vec![0x5a; len.max(64)]).unwrap();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
