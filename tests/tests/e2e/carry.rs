//! A canvas carried by file keeps its identity (docs/user-guide.md,
//! "Carrying a canvas"): the document records its id, `import` says where
//! it went, and copies carried between stores are one canvas on a relay.

use std::path::{Path, PathBuf};

use gapmap_canvas::{Canvas, DocId};
use serde_json::Value;

use crate::relay::harness::Relay;
use crate::util::{texts, Store};

/// `gapmap export --format automerge` run in `dir`, with no `-o`: returns
/// the file it says it wrote.
fn export_here(s: &Store, dir: &Path) -> PathBuf {
    let out = s
        .command(&["export", "--format", "automerge"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn id_of(s: &Store) -> String {
    s.show()["id"].as_str().unwrap().to_string()
}

fn every_note(show: &Value) -> Vec<String> {
    let mut all: Vec<String> = ["now", "to-be", "constraint", "catalyst", "design"]
        .iter()
        .flat_map(|s| texts(show, s))
        .collect();
    all.sort();
    all
}

#[test]
fn a_canvas_carried_between_three_stores_is_one_canvas_on_a_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (ana, ben, cy) = (Store::new("ana"), Store::new("ben"), Store::new("cy"));
    let id = ana.json(&["new", "Carried on a stick"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ana.ok(&["add", "now", "Ana saw this"]);

    // No -o: the file is <id>.automerge here, and gapmap says so.
    let file = export_here(&ana, dir.path());
    assert_eq!(file, dir.path().join(format!("{id}.automerge")));
    // Renamed on the way: the document itself still says which canvas it is.
    let stick = dir.path().join("canvas.automerge");
    std::fs::rename(&file, &stick).unwrap();
    let stick = stick.to_str().unwrap();

    let to_ben = ben.json(&["import", stick]);
    assert_eq!(to_ben["id"], id.as_str());
    assert_eq!(to_ben["merged"], false, "{to_ben}");
    assert_eq!(to_ben["title"], "Carried on a stick");
    ben.ok(&["add", "constraint", "Ben heard this"]);

    // Ben's copy goes on to Cy under another name; Ana gets it back too.
    let from_ben = dir.path().join("from-ben.automerge");
    ben.ok(&[
        "export",
        "--format",
        "automerge",
        "-o",
        from_ben.to_str().unwrap(),
    ]);
    assert_eq!(
        cy.json(&["import", from_ben.to_str().unwrap()])["id"],
        id.as_str()
    );
    cy.ok(&["add", "catalyst", "Cy found this"]);
    let back = ana.json(&["import", from_ben.to_str().unwrap()]);
    assert_eq!(back["merged"], true, "{back}");
    assert_eq!(back["id"], id.as_str());
    assert!(back["changes_added"].as_u64().unwrap() > 0, "{back}");
    let said = ana.ok(&["import", from_ben.to_str().unwrap()]);
    assert!(said.contains("nothing to add"), "{said}");
    ana.ok(&["add", "to-be", "Ana wants this"]);

    // Everyone syncs through one relay: one canvas, every note everywhere.
    let relay = Relay::start(dir.path(), &["--open"]);
    let url = format!("ws://127.0.0.1:{}", relay.port);
    for s in [&ana, &ben, &cy, &ana, &ben] {
        s.ok(&["sync", &url]);
    }
    let want = [
        "Ana saw this",
        "Ana wants this",
        "Ben heard this",
        "Cy found this",
    ];
    for s in [&ana, &ben, &cy] {
        assert_eq!(s.json(&["list"]).as_array().unwrap().len(), 1, "one canvas");
        assert_eq!(id_of(s), id);
        assert_eq!(every_note(&s.show()), want);
    }
}

#[test]
fn files_without_a_recorded_id_find_their_canvas_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    // A document as gapmap wrote them before it recorded ids.
    let mut old = Canvas::create("From before", "ana", 1_700_000_000_000).unwrap();
    assert!(old.recorded_ids().is_empty());
    let legacy = dir.path().join("legacy.automerge");
    std::fs::write(&legacy, old.save()).unwrap();
    let legacy = legacy.to_str().unwrap();

    let s = Store::new("dee");
    let first = s.json(&["import", legacy]);
    assert_eq!(first["merged"], false);
    let id = first["id"].as_str().unwrap().to_string();
    s.ok(&["new", "Another canvas"]);
    // The same old file again: no id, no telling name, found by its origin.
    let again = s.json(&["import", legacy]);
    assert_eq!(again["merged"], true, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(s.json(&["list"]).as_array().unwrap().len(), 2);
    // Once saved here, the document records its id, so its export does too.
    s.ok(&["-c", &id, "add", "now", "later"]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    s.ok(&[
        "-c",
        &id,
        "export",
        "--format",
        "automerge",
        "-o",
        out.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(out.join(format!("{id}.automerge"))).unwrap();
    let recorded = Canvas::load(&bytes).unwrap().recorded_ids();
    assert_eq!(recorded, [DocId::parse(&id).unwrap()]);
    // `-o -` is standard output.
    let raw = s
        .command(&["-c", &id, "export", "--format", "automerge", "-o", "-"])
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert_eq!(Canvas::load(&raw.stdout).unwrap().title(), "From before");
}

#[test]
fn an_id_without_shared_history_never_mixes_two_canvases() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::new("eve");
    let id = s.json(&["new", "Mine"])["id"].as_str().unwrap().to_string();
    s.ok(&["add", "now", "my note"]);
    // Another canvas that claims the same id.
    let mut forged = Canvas::create("Theirs", "mallory", 1_700_000_000_000).unwrap();
    forged
        .record_id(&DocId::parse(&id).unwrap(), 1_700_000_000_000)
        .unwrap();
    let file = dir.path().join(format!("{id}.automerge"));
    std::fs::write(&file, forged.save()).unwrap();
    let file = file.to_str().unwrap();

    let run = s.run(&["import", file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("another history"), "{}", run.stdout);
    let listed = s.json(&["list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(texts(&s.json(&["-c", &id, "show"]), "now"), ["my note"]);
    let err = s.fails(&["-c", &id, "import", file]);
    assert!(err.contains("shares no history"), "{err}");
}
