//! Journal damage at several offsets — start, middle, last record, inside a
//! record head, inside a payload; flipped bytes, a cut, inserted garbage —
//! with a good database and with the database broken too. Real sled on disk.

use std::fs;
use std::path::Path;

use automerge::{AutoCommit, ReadDoc};

use super::*;
use crate::journal::{self, Kind};
use crate::store::tests::{meta, put};
use crate::DocMeta;

const SAVES: usize = 20;

/// A store with one document saved 20 times, one key per save, never
/// compacted: its journal is 20 change records each followed by an index
/// record. Returns the final document.
fn populate(dir: &Path) -> AutoCommit {
    let store = Store::open_with(dir, Options::default().compact_min_bytes(u64::MAX)).unwrap();
    let mut doc = AutoCommit::new();
    for i in 0..SAVES {
        put(&mut doc, &format!("k{i:02}"), i as i64);
        let meta = DocMeta {
            notes: i + 1,
            ..meta("a", "A")
        };
        store.save("a", &mut doc, &meta).unwrap();
    }
    store.set_setting("name", "Ada").unwrap();
    doc
}

fn journal_path(dir: &Path) -> std::path::PathBuf {
    dir.join("journal/a.log")
}

/// Starts of the journal's records: change records at even indexes.
fn record_starts(dir: &Path) -> Vec<(Kind, usize, usize)> {
    journal::read(&journal_path(dir))
        .unwrap()
        .records
        .iter()
        .map(|r| (r.kind, r.start as usize, r.end as usize))
        .collect()
}

/// The keys a document shows.
fn keys(doc: &AutoCommit) -> Vec<String> {
    doc.keys(automerge::ROOT).collect()
}

#[derive(Clone, Copy, Debug)]
enum Harm {
    /// 4 bytes inverted at this offset.
    Flip(usize),
    /// The file cut at this offset.
    Cut(usize),
    /// 37 bytes of garbage inserted at this offset.
    Insert(usize),
}

fn harm(dir: &Path, harm: Harm) {
    let path = journal_path(dir);
    let mut bytes = fs::read(&path).unwrap();
    match harm {
        Harm::Flip(at) => bytes[at..at + 4].iter_mut().for_each(|b| *b = !*b),
        Harm::Cut(at) => bytes.truncate(at),
        Harm::Insert(at) => {
            bytes.splice(at..at, [0xA5u8; 37]);
        }
    }
    fs::write(&path, bytes).unwrap();
}

/// Every place the issue names, as (label, harm, index of the change
/// record it destroys if any).
fn cases(dir: &Path) -> Vec<(&'static str, Harm, Option<usize>)> {
    let r = record_starts(dir);
    assert_eq!(r.len(), 2 * SAVES);
    let change = |n: usize| r[2 * n];
    let (_, mid, mid_end) = change(SAVES / 2);
    let (_, last, _) = change(SAVES - 1);
    let (_, last_meta, _) = r[2 * SAVES - 1];
    vec![
        ("file header (magic)", Harm::Flip(2), None),
        (
            "first record's payload",
            Harm::Flip(change(0).1 + 20),
            Some(0),
        ),
        (
            "middle record's payload",
            Harm::Flip(mid + 30),
            Some(SAVES / 2),
        ),
        ("middle record's length field", Harm::Flip(mid), None),
        ("middle record's CRC field", Harm::Flip(mid + 4), None),
        (
            "middle record's end",
            Harm::Flip(mid_end - 4),
            Some(SAVES / 2),
        ),
        (
            "last change record's payload",
            Harm::Flip(last + 40),
            Some(SAVES - 1),
        ),
        (
            "last record (an index record)",
            Harm::Flip(last_meta + 12),
            None,
        ),
        (
            "garbage inside the middle record",
            Harm::Insert(mid + 25),
            Some(SAVES / 2),
        ),
        (
            "cut inside the last change record",
            Harm::Cut(last + 30),
            Some(SAVES - 1),
        ),
        ("cut in the middle", Harm::Cut(mid + 30), None),
    ]
}

#[test]
fn a_damaged_journal_with_a_good_database_is_reported_and_rewritten() {
    let template = tempfile::tempdir().unwrap();
    let mut want = populate(template.path());
    for (label, h, _) in cases(template.path()) {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        harm(dir.path(), h);

        let report = Store::doctor(dir.path()).unwrap();
        assert!(report.open_error.is_none(), "{label}");
        let doc = &report.docs[0];
        assert!(
            !doc.journal.healthy(),
            "{label}: damage not reported: {doc:?}"
        );
        assert!(doc.lost.is_empty(), "{label}: {doc:?}");
        assert!(!report.lost_anything(), "{label}");
        assert_eq!(
            doc.repairs,
            ["rewrote the journal from the database's copy"],
            "{label}"
        );

        // Nothing lost, the journal whole again, and alone enough to rebuild.
        fs::remove_dir_all(dir.path().join("db")).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut got = store.load("a").unwrap().unwrap();
        assert_eq!(got.get_heads(), want.get_heads(), "{label}");
        assert!(store.stale_index().unwrap().is_empty(), "{label}");
        drop(store);
        let again = Store::doctor(dir.path()).unwrap();
        assert!(again.healthy(), "{label}: second run {again:?}");
    }
}

#[test]
fn with_the_database_broken_too_every_intact_record_comes_back_and_the_loss_is_named() {
    let template = tempfile::tempdir().unwrap();
    let mut want = populate(template.path());
    let all_changes: Vec<_> = want
        .get_changes(&[])
        .into_iter()
        .map(|c| c.hash())
        .collect();
    for (label, h, destroyed) in cases(template.path()) {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        harm(dir.path(), h);
        break_db(dir.path());

        let report = Store::doctor(dir.path()).unwrap();
        assert!(report.open_error.is_some(), "{label}");
        let doc = &report.docs[0];
        let store = Store::open(dir.path()).unwrap();
        let loaded = store.load("a").unwrap().unwrap();
        let held = store.held_changes("a").unwrap();
        let applied = keys(&loaded).len();
        match (label, destroyed) {
            // A cut at a record boundary leaves no trace in the journal.
            ("cut in the middle", _) => {
                assert_eq!(applied, SAVES / 2, "{label}");
                assert!(
                    report.lost_anything(),
                    "{label}: the cut tail is unconfirmed: {doc:?}"
                );
            }
            (_, Some(n)) => {
                // Every change but the destroyed one is back: applied or held.
                assert_eq!(applied, n, "{label}: {doc:?}");
                assert_eq!(held.len(), SAVES - 1 - n, "{label}");
                assert!(
                    report.lost_anything(),
                    "{label}: loss not reported: {doc:?}"
                );
                let lost = all_changes[n].to_string();
                let named = doc.lost.missing_changes.contains(&lost)
                    || doc.lost.lost_heads.contains(&lost)
                    || doc.lost.unconfirmed_bytes > 0;
                assert!(named, "{label}: {lost} not named: {:?}", doc.lost);
                if n < SAVES - 1 {
                    assert_eq!(
                        doc.lost.missing_changes,
                        std::slice::from_ref(&lost),
                        "{label}"
                    );
                    assert_eq!(doc.lost.held_changes, SAVES - 1 - n, "{label}");
                }
            }
            (_, None) => {
                // Only a record head or an index record was hit: nothing lost.
                assert_eq!(applied, SAVES, "{label}: {doc:?}");
                assert!(held.is_empty(), "{label}");
                assert!(!report.lost_anything(), "{label}: {doc:?}");
            }
        }
        assert_eq!(
            store.setting("name").unwrap().as_deref(),
            Some("Ada"),
            "{label}"
        );
        // The held changes apply as soon as the lost one comes back (a peer).
        let mut merged = store.load("a").unwrap().unwrap();
        merged.merge(&mut want.clone()).unwrap();
        assert_eq!(merged.get_heads(), want.get_heads(), "{label}");
        drop(store);
        // Until then every doctor run still says something is lost.
        if destroyed.is_some_and(|n| n < SAVES - 1) {
            assert!(
                Store::doctor(dir.path()).unwrap().lost_anything(),
                "{label}"
            );
        }
    }
}

#[test]
fn a_deleted_database_does_not_vouch_for_a_journal_it_was_rebuilt_from() {
    // Opening rebuilds a missing database from the journal; the damage
    // must still be reported as loss, not as covered by that copy.
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let (_, last, _) = record_starts(dir.path())[2 * (SAVES - 1)];
    harm(dir.path(), Harm::Flip(last + 40));
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    drop(Store::open(dir.path()).unwrap());
    let report = Store::doctor(dir.path()).unwrap();
    assert!(report.lost_anything(), "{report:?}");
}

#[test]
fn index_counts_follow_a_rebuilt_document() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let r = record_starts(dir.path());
    harm(dir.path(), Harm::Flip(r[2 * (SAVES - 1)].1 + 40));
    break_db(dir.path());
    Store::doctor(dir.path()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    // The journal's last index record counts 20; 19 saves survive.
    assert_eq!(store.meta("a").unwrap().unwrap().notes, SAVES);
    assert_eq!(store.stale_index().unwrap(), ["a"]);
    let mut doc = store.load("a").unwrap().unwrap();
    let fixed = DocMeta {
        notes: SAVES - 1,
        ..meta("a", "A")
    };
    store.save("a", &mut doc, &fixed).unwrap();
    assert!(store.stale_index().unwrap().is_empty());
}

#[test]
fn a_healthy_store_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let report = Store::doctor(dir.path()).unwrap();
    assert!(report.healthy(), "{report:?}");
    assert_eq!(report.docs.len(), 1);
}

/// What `recover_after_db_is_garbage` does: sled's files overwritten.
fn break_db(dir: &Path) {
    for entry in fs::read_dir(dir.join("db")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let len = fs::metadata(&path).unwrap().len() as usize;
            fs::write(&path, vec![0x5a; len.max(64)]).unwrap();
        }
    }
    assert!(Store::open(dir).is_err(), "sled still opens");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "lock" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_damaged_settings_journal_is_rewritten_or_its_loss_reported() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_setting("current", "a").unwrap();
        store.set_setting("remote:team", "wss://relay").unwrap();
    }
    let path = dir.path().join("journal/settings.kv");
    let records = journal::read(&path).unwrap().records;
    assert_eq!(records.len(), 3);
    let flip = |dir: &Path| {
        let path = dir.join("journal/settings.kv");
        let mut bytes = fs::read(&path).unwrap();
        let at = records[1].start as usize + 12;
        bytes[at..at + 4].iter_mut().for_each(|b| *b = !*b);
        fs::write(&path, bytes).unwrap();
    };

    let good = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), good.path());
    flip(good.path());
    let report = Store::doctor(good.path()).unwrap();
    assert!(
        !report.settings.journal.damaged.is_empty(),
        "{:?}",
        report.settings
    );
    assert!(report.settings.lost.is_empty());
    assert_eq!(report.settings.repairs.len(), 1);
    fs::remove_dir_all(good.path().join("db")).unwrap();
    let store = Store::open(good.path()).unwrap();
    assert_eq!(store.setting("current").unwrap().as_deref(), Some("a"));

    let broken = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), broken.path());
    flip(broken.path());
    break_db(broken.path());
    let report = Store::doctor(broken.path()).unwrap();
    assert!(report.lost_anything(), "{:?}", report.settings);
    let store = Store::open(broken.path()).unwrap();
    // The intact settings after the damaged one are back.
    assert_eq!(store.setting("name").unwrap().as_deref(), Some("Ada"));
    assert_eq!(
        store.setting("remote:team").unwrap().as_deref(),
        Some("wss://relay")
    );
    assert_eq!(store.setting("current").unwrap(), None);
}
