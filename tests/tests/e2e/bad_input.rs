//! Bad input: one clear line on stderr, exit 1, nothing changed.

use crate::util::{bin, Store};

/// The canvas as `show --json` and `log --json` see it, to prove nothing changed.
fn snapshot(s: &Store) -> (serde_json::Value, usize) {
    (s.show(), s.json(&["log"]).as_array().unwrap().len())
}

fn canvas_with_notes() -> (Store, String, String) {
    let s = Store::new("ivy");
    s.ok(&["new", "Bad input"]);
    let a = s.ok(&["add", "now", "first"]);
    let b = s.ok(&["add", "now", "second"]);
    (s, a, b)
}

#[test]
fn unknown_section_lists_the_valid_ids() {
    let (s, _, _) = canvas_with_notes();
    let before = snapshot(&s);
    let line = s.fails(&["add", "middle", "text"]);
    assert!(line.contains("middle"), "{line}");
    for id in [
        "now",
        "to-be",
        "constraint",
        "catalyst",
        "design",
        "conclude",
    ] {
        assert!(line.contains(id), "{line}");
    }
    assert_eq!(snapshot(&s), before);
}

#[test]
fn empty_text_is_refused() {
    let (s, a, _) = canvas_with_notes();
    let before = snapshot(&s);
    assert!(s.fails(&["add", "now", "  "]).contains("empty"));
    assert!(s.fails(&["edit", &a, ""]).contains("empty"));
    assert_eq!(snapshot(&s), before);
}

/// A canvas whose two notes share the prefix `abcd`, built with Automerge
/// directly as another writer would, and imported.
fn canvas_with_ambiguous_ids() -> Store {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};
    let s = Store::new("lou");
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "schema", "gapmap/canvas/1").unwrap();
    doc.put(ROOT, "title", "Ambiguous").unwrap();
    let notes = doc.put_object(ROOT, "notes", ObjType::Map).unwrap();
    for (id, rank) in [("abcd2222bbbb", "a1"), ("abcd1111aaaa", "a0")] {
        let note = doc.put_object(&notes, id, ObjType::Map).unwrap();
        doc.put(&note, "section", "now").unwrap();
        doc.put(&note, "text", format!("note {id}")).unwrap();
        doc.put(&note, "rank", rank).unwrap();
        doc.put(&note, "status", "hypothesis").unwrap();
    }
    let file = s
        .home
        .parent()
        .unwrap()
        .join(format!("{}.automerge", gapmap_canvas::DocId::random()));
    std::fs::write(&file, doc.save()).unwrap();
    s.ok(&["import", file.to_str().unwrap()]);
    s
}

#[test]
fn unknown_short_and_ambiguous_note_prefixes() {
    let s = canvas_with_ambiguous_ids();
    let before = snapshot(&s);
    // Plain string fields (not Text) are read like Text ones.
    assert_eq!(
        crate::util::texts(&before.0, "now"),
        ["note abcd1111aaaa", "note abcd2222bbbb"]
    );
    assert!(s
        .fails(&["edit", "zzzzzzzz", "x"])
        .contains("no note id starts with"));
    assert!(s
        .fails(&["mark", "abc", "validated"])
        .contains("at least 4"));
    let line = s.fails(&["edit", "abcd", "x"]);
    assert!(
        line.contains("abcd1111aaaa") && line.contains("abcd2222bbbb"),
        "{line}"
    );
    assert!(s.fails(&["mark", "abcd1", "maybe"]).contains("maybe"));
    assert_eq!(snapshot(&s), before);
    s.ok(&["edit", "abcd1", "resolved by a longer prefix"]);
}

#[test]
fn unknown_canvas() {
    let (s, _, _) = canvas_with_notes();
    let before = snapshot(&s);
    assert!(s
        .fails(&["-c", "2Xr9aBcDeFgHiJkLmN", "show"])
        .contains("canvas"));
    assert!(s
        .fails(&["-c", "zzzz", "add", "now", "x"])
        .contains("unknown canvas"));
    assert!(s.fails(&["use", "nope-nope"]).contains("unknown canvas"));
    assert_eq!(snapshot(&s), before);

    let empty = Store::new("jo");
    assert!(empty.fails(&["show"]).contains("gapmap new"));
}

#[test]
fn import_of_garbage_or_truncated_files() {
    let (s, _, _) = canvas_with_notes();
    let before = snapshot(&s);
    let dir = s.home.parent().unwrap();
    let garbage = dir.join("garbage.automerge");
    std::fs::write(&garbage, b"this is not an automerge file").unwrap();
    assert!(s
        .fails(&["import", garbage.to_str().unwrap()])
        .contains("garbage.automerge"));

    let good = dir.join("good.automerge");
    s.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        good.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.automerge");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(s
        .fails(&["import", truncated.to_str().unwrap()])
        .contains("truncated.automerge"));

    let missing = dir.join("missing.automerge");
    assert!(s
        .fails(&["import", missing.to_str().unwrap()])
        .contains("missing.automerge"));
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.json(&["list"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_store_that_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let out = std::process::Command::new(bin("gapmap"))
        .arg("--home")
        .arg(file.join("store"))
        .args(["new", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("a-file"), "{err}");
}

#[test]
fn a_store_held_by_another_process() {
    let (s, _, _) = canvas_with_notes();
    let before = snapshot(&s);
    let held = gapmap_store::Store::open(&s.home).unwrap();
    let line = s.fails(&["add", "now", "while held"]);
    assert!(line.contains(&std::process::id().to_string()), "{line}");
    drop(held);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn bad_usage_exits_2() {
    let s = Store::new("kit");
    for args in [
        &["add"][..],
        &["frobnicate"],
        &["export", "--format", "pdf"],
    ] {
        assert_eq!(s.run(args).code, 2, "{args:?}");
    }
}
