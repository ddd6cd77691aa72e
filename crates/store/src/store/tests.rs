use std::fs;
use std::path::Path;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, ROOT};

use super::*;
use crate::layout::DocKey;
use crate::settings::SETTINGS_JOURNAL_MAX;

pub(crate) fn meta(id: &str, title: &str) -> DocMeta {
    DocMeta {
        id: id.into(),
        title: title.into(),
        notes: 0,
        updated_ms: 1,
    }
}

pub(crate) fn put(doc: &mut AutoCommit, key: &str, value: i64) {
    doc.put(ROOT, key, value).unwrap();
}

pub(crate) fn get(doc: &AutoCommit, key: &str) -> Option<i64> {
    match doc.get(ROOT, key).unwrap() {
        Some((automerge::Value::Scalar(s), _)) => s.as_i64(),
        _ => None,
    }
}

fn open_small(dir: &Path, compact_min: u64) -> Store {
    Store::open_with(dir, Options::default().compact_min_bytes(compact_min)).unwrap()
}

fn kinds(store: &Store, id: &str) -> Vec<ChunkKind> {
    store
        .doc_chunks(id)
        .unwrap()
        .into_iter()
        .map(|(_, k, _)| k)
        .collect()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.load("a").unwrap().is_none());
    assert!(!store.contains("a").unwrap());
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", 1);
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    assert!(store.contains("a").unwrap());
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!(get(&loaded, "x"), Some(1));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let mut loaded = store.load("a").unwrap().unwrap();
    assert_eq!(loaded.get_heads(), doc.get_heads());
    assert_eq!(store.meta("a").unwrap(), Some(meta("a", "A")));
}

#[test]
fn many_saves_then_load_equals() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), u64::MAX);
    let mut doc = AutoCommit::new();
    for i in 0..100 {
        put(&mut doc, &format!("k{i}"), i);
        store.save("a", &mut doc, &meta("a", "A")).unwrap();
    }
    let state = store.state("a").unwrap().unwrap();
    assert_eq!(state.chunks, 100);
    let mut loaded = store.load("a").unwrap().unwrap();
    assert_eq!(loaded.get_heads(), doc.get_heads());
    assert_eq!(get(&loaded, "k99"), Some(99));
}

#[test]
fn saving_again_without_changes_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), u64::MAX);
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", 1);
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    assert_eq!(store.state("a").unwrap().unwrap().chunks, 1);
    // A new title alone updates the index without a chunk.
    store.save("a", &mut doc, &meta("a", "B")).unwrap();
    assert_eq!(store.state("a").unwrap().unwrap().chunks, 1);
    assert_eq!(store.meta("a").unwrap().unwrap().title, "B");
}

#[test]
fn a_loaded_document_saves_only_its_new_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), u64::MAX);
    let mut doc = AutoCommit::new();
    for i in 0..50 {
        put(&mut doc, &format!("k{i}"), i);
        doc.commit();
    }
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    let before = store.state("a").unwrap().unwrap().chunk_bytes;

    let mut loaded = store.load("a").unwrap().unwrap();
    // Saving elsewhere (an export) must not hide changes from the store.
    let _export = loaded.save();
    put(&mut loaded, "new", 7);
    store.save("a", &mut loaded, &meta("a", "A")).unwrap();
    let grown = store.state("a").unwrap().unwrap().chunk_bytes - before;
    assert!(grown < before / 4, "a one-key edit wrote {grown} bytes");
    assert_eq!(get(&store.load("a").unwrap().unwrap(), "new"), Some(7));
}

#[test]
fn concurrent_copies_both_survive() {
    for compact_min in [u64::MAX, 0] {
        let dir = tempfile::tempdir().unwrap();
        let store = open_small(dir.path(), compact_min);
        let mut doc = AutoCommit::new();
        put(&mut doc, "base", 0);
        store.save("a", &mut doc, &meta("a", "A")).unwrap();
        let mut a = store.load("a").unwrap().unwrap();
        let mut b = store.load("a").unwrap().unwrap();
        put(&mut a, "from_a", 1);
        store.save("a", &mut a, &meta("a", "A")).unwrap();
        put(&mut b, "from_b", 2);
        store.save("a", &mut b, &meta("a", "A")).unwrap();
        let loaded = store.load("a").unwrap().unwrap();
        assert_eq!(get(&loaded, "from_a"), Some(1), "compact_min {compact_min}");
        assert_eq!(get(&loaded, "from_b"), Some(2), "compact_min {compact_min}");
        // A third save from the stale copy still writes nothing it lacks.
        put(&mut b, "again_b", 3);
        store.save("a", &mut b, &meta("a", "A")).unwrap();
        let loaded = store.load("a").unwrap().unwrap();
        assert_eq!(get(&loaded, "from_a"), Some(1));
        assert_eq!(get(&loaded, "again_b"), Some(3));
    }
}

#[test]
fn compaction_triggers_and_load_still_equals() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), 2048);
    let mut doc = AutoCommit::new();
    let mut compactions = 0;
    let mut last_chunks = 0;
    for i in 0..300 {
        put(&mut doc, &format!("key-{i}"), i);
        store.save("a", &mut doc, &meta("a", "A")).unwrap();
        let state = store.state("a").unwrap().unwrap();
        if state.chunks < last_chunks || (state.chunks == 0 && i > 0) {
            compactions += 1;
        }
        last_chunks = state.chunks;
        assert!(state.chunk_bytes <= state.snapshot_bytes.max(2048));
    }
    assert!(compactions >= 2, "only {compactions} compactions");
    let k = kinds(&store, "a");
    assert_eq!(k.iter().filter(|k| **k == ChunkKind::Snapshot).count(), 1);
    let mut loaded = store.load("a").unwrap().unwrap();
    assert_eq!(loaded.get_heads(), doc.get_heads());
    // The journal was rewritten too: it stays near the size of the data.
    let journal_len = fs::metadata(store.journal_path("a.log")).unwrap().len();
    let state = store.state("a").unwrap().unwrap();
    assert!(
        journal_len < 2 * (state.snapshot_bytes + state.chunk_bytes) + 4096,
        "journal {journal_len}"
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.load("a").unwrap().unwrap().get_heads(),
        doc.get_heads()
    );
}

#[test]
fn load_with_only_incremental_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), u64::MAX);
    let mut doc = AutoCommit::new();
    for i in 0..20 {
        put(&mut doc, "x", i);
        store.save("a", &mut doc, &meta("a", "A")).unwrap();
    }
    assert!(kinds(&store, "a")
        .iter()
        .all(|k| *k == ChunkKind::Incremental));
    let loaded = store.load("a").unwrap().unwrap();
    assert_eq!(get(&loaded, "x"), Some(19));
}

#[test]
fn chunks_load_in_any_order() {
    // Chunks are keyed by hash, so they come back in no particular order,
    // and `read_doc` loads them concatenated in one call.
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", -1);
    let snapshot = doc.save();
    let mut chunks = Vec::new();
    for i in 0..5 {
        put(&mut doc, "x", i);
        chunks.push(doc.save_incremental());
    }
    chunks.reverse();
    let all: Vec<u8> = chunks.concat();
    let mut from_snapshot = AutoCommit::load(&snapshot).unwrap();
    from_snapshot.load_incremental(&all).unwrap();
    assert_eq!(from_snapshot.get_heads(), doc.get_heads());
    let mut alone = AutoCommit::new();
    alone.load_incremental(&[snapshot, all].concat()).unwrap();
    assert_eq!(alone.get_heads(), doc.get_heads());
}

#[test]
fn a_damaged_chunk_is_an_error_not_a_partial_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), u64::MAX);
    let mut doc = AutoCommit::new();
    for i in 0..5 {
        put(&mut doc, "x", i);
        store.save("a", &mut doc, &meta("a", "A")).unwrap();
    }
    let (key, _, bytes) = store.doc_chunks("a").unwrap().pop().unwrap();
    let mut bad = bytes.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    store.inner.docs.insert(key, bad).unwrap();
    assert!(matches!(store.load("a"), Err(StoreError::Corrupt { .. })));
}

#[test]
fn list_reads_the_index_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in ["b", "a"] {
        let mut doc = AutoCommit::new();
        put(&mut doc, "x", 1);
        store
            .save(id, &mut doc, &meta(id, &id.to_uppercase()))
            .unwrap();
    }
    // Break the stored bytes: loading fails, listing does not.
    for (k, _, _) in store.doc_chunks("a").unwrap() {
        store.inner.docs.insert(k, &b"garbage"[..]).unwrap();
    }
    assert!(matches!(store.load("a"), Err(StoreError::Corrupt { .. })));
    let titles: Vec<_> = store.list().unwrap().into_iter().map(|m| m.title).collect();
    assert_eq!(titles, ["A", "B"]);
}

#[test]
fn meta_id_follows_the_saved_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", 1);
    store.save("a", &mut doc, &meta("other", "A")).unwrap();
    assert_eq!(store.meta("a").unwrap().unwrap().id, "a");
}

#[test]
fn settings_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.setting("name").unwrap(), None);
    store.set_setting("name", "Ada").unwrap();
    store.set_setting("name", "Grace").unwrap();
    store.set_setting("current", "abc").unwrap();
    store.set_setting("gone", "x").unwrap();
    store.remove_setting("gone").unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.setting("name").unwrap().as_deref(), Some("Grace"));
    assert_eq!(store.setting("gone").unwrap(), None);
    assert_eq!(
        store.settings().unwrap(),
        [
            ("current".into(), "abc".into()),
            ("name".into(), "Grace".into())
        ]
    );
}

#[test]
fn settings_journal_is_rewritten_when_large() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        Options::default().durability(Durability::Process),
    )
    .unwrap();
    let value = "v".repeat(1000);
    for i in 0..100 {
        store.set_setting("big", &format!("{i}{value}")).unwrap();
    }
    let len = fs::metadata(store.journal_path(layout::SETTINGS_JOURNAL))
        .unwrap()
        .len();
    assert!(len <= SETTINGS_JOURNAL_MAX + 2048, "settings journal {len}");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.setting("big").unwrap().unwrap().starts_with("99v"));
}

#[test]
fn second_open_is_locked_with_our_pid() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    match &err {
        StoreError::Locked { pid, command, .. } => {
            assert_eq!(*pid, Some(std::process::id()));
            assert!(command.is_some());
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains(&format!("in use by process {}", std::process::id())));
    assert!(matches!(
        Store::recover(dir.path()),
        Err(StoreError::Locked { .. })
    ));
    drop(store);
    // Dropping the only handle releases both locks at once.
    Store::open(dir.path()).unwrap();
}

#[test]
fn clones_share_one_open_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let clone = store.clone();
    drop(store);
    clone.set_setting("k", "v").unwrap();
    assert!(Store::open(dir.path()).is_err());
    drop(clone);
    assert_eq!(
        Store::open(dir.path())
            .unwrap()
            .setting("k")
            .unwrap()
            .as_deref(),
        Some("v")
    );
}

#[test]
fn stale_generating_snapshot_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", 1);
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    drop(store);
    let stale = dir.path().join("db/snap.0000000000000123.generating");
    fs::write(&stale, b"half a snapshot").unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert_eq!(get(&store.load("a").unwrap().unwrap(), "x"), Some(1));
}

#[test]
fn not_writable_dir() {
    let dir = tempfile::tempdir().unwrap();
    // Root ignores permission bits, so make creation impossible instead: a
    // store under a regular file.
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let under_file = file.join("store");
    let err = Store::open(&under_file).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotWritable(p) if p == &under_file),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot be created or written"));

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
        assert!(matches!(Store::open(&ro), Err(StoreError::NotWritable(_))));
        assert!(matches!(
            Store::open(&ro.join("sub")),
            Err(StoreError::NotWritable(_))
        ));
    }
}

#[test]
fn invalid_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut doc = AutoCommit::new();
    for id in ["", "../x", "a\0b"] {
        assert!(matches!(
            store.save(id, &mut doc, &meta(id, "")),
            Err(StoreError::InvalidId(_))
        ));
        assert!(matches!(store.load(id), Err(StoreError::InvalidId(_))));
    }
}

#[test]
fn state_key_is_the_only_non_chunk_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut doc = AutoCommit::new();
    put(&mut doc, "x", 1);
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    let keys: Vec<_> = store
        .inner
        .docs
        .scan_prefix(layout::doc_prefix("a"))
        .keys()
        .map(|k| layout::parse_doc_key("a", &k.unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            Some(DocKey::Chunk(ChunkKind::Incremental)),
            Some(DocKey::State)
        ]
    );
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Store>();
}

#[test]
fn a_document_without_changes_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .save("empty", &mut AutoCommit::new(), &meta("empty", "E"))
        .unwrap();
    assert!(store.contains("empty").unwrap());
    let mut loaded = store.load("empty").unwrap().unwrap();
    assert!(loaded.get_heads().is_empty());
    drop(store);
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    let report = Store::recover(dir.path()).unwrap();
    assert_eq!(report.docs, 1, "{report:?}");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.meta("empty").unwrap().unwrap().title, "E");
    assert!(store.load("empty").unwrap().is_some());
}

#[test]
fn append_changes_from_the_sync_engine() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path(), 256);
    let mut doc = AutoCommit::new();
    let mut saved_heads = Vec::new();
    for i in 0..60 {
        put(&mut doc, &format!("k{i}"), i);
        let changes = doc.save_after(&saved_heads);
        saved_heads = doc.get_heads();
        store
            .append("a", &changes, &saved_heads, &meta("a", "A"))
            .unwrap();
    }
    // Small compaction threshold: some saves compacted, and all is there.
    assert!(kinds(&store, "a").contains(&ChunkKind::Snapshot));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let mut loaded = store.load("a").unwrap().unwrap();
    assert_eq!(loaded.get_heads(), doc.get_heads());
    assert_eq!(get(&loaded, "k59"), Some(59));
    // And a later whole-document save adds nothing twice.
    store.save("a", &mut doc, &meta("a", "A")).unwrap();
    assert_eq!(
        store.load("a").unwrap().unwrap().get_heads(),
        doc.get_heads()
    );
}
