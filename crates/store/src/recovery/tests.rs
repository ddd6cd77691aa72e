use std::fs;
use std::io::Write;
use std::path::Path;

use automerge::AutoCommit;

use super::*;
use crate::store::tests::{get, meta, put};

/// A store with two documents (one compacted, one not) and two settings.
fn populate(dir: &Path) -> (AutoCommit, AutoCommit) {
    let store = Store::open_with(dir, Options::default().compact_min_bytes(512)).unwrap();
    let mut a = AutoCommit::new();
    let mut b = AutoCommit::new();
    for i in 0..60 {
        put(&mut a, &format!("a{i}"), i);
        store.save("a", &mut a, &meta("a", "A")).unwrap();
    }
    put(&mut b, "b", 1);
    store
        .save(
            "b",
            &mut b,
            &DocMeta {
                notes: 3,
                ..meta("b", "B")
            },
        )
        .unwrap();
    store.set_setting("name", "Ada").unwrap();
    store.set_setting("current", "a").unwrap();
    (a, b)
}

fn assert_restored(dir: &Path, a: &mut AutoCommit, b: &mut AutoCommit) {
    let store = Store::open(dir).unwrap();
    assert_eq!(store.load("a").unwrap().unwrap().get_heads(), a.get_heads());
    assert_eq!(store.load("b").unwrap().unwrap().get_heads(), b.get_heads());
    assert_eq!(
        store.meta("b").unwrap(),
        Some(DocMeta {
            notes: 3,
            ..meta("b", "B")
        })
    );
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(store.setting("name").unwrap().as_deref(), Some("Ada"));
    assert_eq!(store.setting("current").unwrap().as_deref(), Some("a"));
    assert!(store.verify().unwrap().healthy());
}

#[test]
fn recover_after_db_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = populate(dir.path());
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    let report = Store::recover(dir.path()).unwrap();
    assert_eq!(report.docs, 2);
    assert_eq!(report.settings, 2);
    assert!(report.chunks >= 2);
    assert_eq!(report.torn, 0);
    assert!(report.failed.is_empty());
    assert!(report.moved_aside.is_none());
    assert_restored(dir.path(), &mut a, &mut b);
}

#[test]
fn recover_after_db_is_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = populate(dir.path());
    let db = dir.path().join("db");
    for entry in fs::read_dir(&db).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = fs::metadata(&path).unwrap().len() as usize;
            fs::write(&path, vec![0x5a; len.max(64)]).unwrap();
        }
    }
    let check = Store::check(dir.path()).unwrap();
    assert!(check.open_error.is_some(), "{check:?}");
    assert!(!check.healthy());
    let report = Store::recover(dir.path()).unwrap();
    assert_eq!(report.docs, 2);
    let aside = report.moved_aside.clone().unwrap();
    assert!(aside
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("db.broken-"));
    assert!(aside.exists());
    assert!(report.to_string().starts_with("rebuilt 2 documents"));
    assert_restored(dir.path(), &mut a, &mut b);
}

#[test]
fn torn_journal_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = populate(dir.path());
    let journal = dir.path().join("journal/b.log");
    let good_len = fs::metadata(&journal).unwrap().len();
    let mut record = Vec::new();
    journal::encode(Kind::Chunk, b"a change that never finished", &mut record);
    fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap()
        .write_all(&record[..20])
        .unwrap();

    // Open notices the journal changed, replays it and cuts the tail.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(fs::metadata(&journal).unwrap().len(), good_len);
    put(&mut b, "after", 2);
    store
        .save(
            "b",
            &mut b,
            &DocMeta {
                notes: 3,
                ..meta("b", "B")
            },
        )
        .unwrap();
    drop(store);
    assert_eq!(
        get(
            &Store::open(dir.path()).unwrap().load("b").unwrap().unwrap(),
            "after"
        ),
        Some(2)
    );

    // recover counts a torn tail and still rebuilds everything.
    fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap()
        .write_all(&record[..9])
        .unwrap();
    let report = Store::recover(dir.path()).unwrap();
    assert_eq!(report.torn, 1);
    assert_eq!(report.docs, 2);
    assert_restored(dir.path(), &mut a, &mut b);
}

#[test]
fn open_rolls_forward_writes_sled_lost() {
    // What a power cut can do to sled (whose flush is sync_file_range, not
    // fsync): come back with older contents than the journal.
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = populate(dir.path());
    let old_db = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("db"), old_db.path());

    let store = Store::open(dir.path()).unwrap();
    let mut a = store.load("a").unwrap().unwrap();
    put(&mut a, "late", 9);
    store.save("a", &mut a, &meta("a", "A late")).unwrap();
    let mut c = AutoCommit::new();
    put(&mut c, "c", 3);
    store.save("c", &mut c, &meta("c", "C")).unwrap();
    store.set_setting("name", "Grace").unwrap();
    drop(store);

    fs::remove_dir_all(dir.path().join("db")).unwrap();
    copy_dir(old_db.path(), &dir.path().join("db"));
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(get(&store.load("a").unwrap().unwrap(), "late"), Some(9));
    assert_eq!(store.meta("a").unwrap().unwrap().title, "A late");
    assert_eq!(get(&store.load("c").unwrap().unwrap(), "c"), Some(3));
    assert_eq!(store.setting("name").unwrap().as_deref(), Some("Grace"));
}

#[test]
fn a_missing_journal_is_recreated_from_sled() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = populate(dir.path());
    fs::remove_file(dir.path().join("journal/b.log")).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.verify().unwrap().unjournaled, ["b"]);
    put(&mut b, "more", 5);
    store
        .save(
            "b",
            &mut b,
            &DocMeta {
                notes: 3,
                ..meta("b", "B")
            },
        )
        .unwrap();
    drop(store);
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    assert_eq!(Store::recover(dir.path()).unwrap().docs, 2);
    assert_restored(dir.path(), &mut a, &mut b);
}

#[test]
fn a_journal_with_a_bad_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    fs::write(dir.path().join("journal/b.log"), b"nonsense").unwrap();
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    let report = Store::recover(dir.path()).unwrap();
    assert_eq!(report.docs, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "b");
}

#[test]
fn check_reports_a_healthy_store() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let report = Store::check(dir.path()).unwrap();
    assert!(report.healthy(), "{report:?}");
    assert_eq!(report.docs, 2);
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
