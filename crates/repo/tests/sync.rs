//! Real websockets on loopback: repos sync through a relay repo.

use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use gapmap_repo::routes::{sync_routes, Open};
use gapmap_repo::server::{serve, ServerConfig};
use gapmap_repo::{DocumentId, Repo, RepoConfig, SyncOutcome};
use gapmap_store::Store;

mod common;
use common::{meta, read, write};

struct Node {
    _dir: tempfile::TempDir,
    repo: Repo,
}

fn node(name: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    Node {
        _dir: dir,
        repo: Repo::start(RepoConfig::new(store, name)),
    }
}

async fn relay() -> (Node, String) {
    let relay = node("relay");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let router = sync_routes(relay.repo.clone(), Arc::new(Open), None);
    let (tracker, shutdown) = (
        relay.repo.tracker().clone(),
        relay.repo.shutdown_token().clone(),
    );
    tokio::spawn(serve(
        listener,
        ServerConfig::default(),
        router,
        tracker,
        shutdown,
    ));
    (relay, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_converge_through_a_relay() {
    let (relay, url) = relay().await;
    let (a, b) = (node("a"), node("b"));
    let id = DocumentId::from_bytes(rand::random());

    write(&a.repo, id, "title", "from a").await;
    let report = a.repo.sync_with(&url, None, None).await.unwrap();
    assert!(
        matches!(report.documents[&id.to_string()], SyncOutcome::InSync(_)),
        "{report:?}"
    );
    assert_eq!(
        read(&relay.repo, id, "title").await.as_deref(),
        Some("from a")
    );
    // The relay stored it durably.
    assert!(relay.repo.store().contains(&id.to_string()).unwrap());

    // b clones it, both edit offline, both sync: both hold everything.
    b.repo.sync_with(&url, None, Some(vec![id])).await.unwrap();
    assert_eq!(read(&b.repo, id, "title").await.as_deref(), Some("from a"));
    write(&a.repo, id, "a", "1").await;
    write(&b.repo, id, "b", "2").await;
    a.repo.sync_with(&url, None, None).await.unwrap();
    b.repo.sync_with(&url, None, None).await.unwrap();
    a.repo.sync_with(&url, None, None).await.unwrap();
    for repo in [&a.repo, &b.repo, &relay.repo] {
        assert_eq!(read(repo, id, "a").await.as_deref(), Some("1"));
        assert_eq!(read(repo, id, "b").await.as_deref(), Some("2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_missing_document_is_answered() {
    let (_relay, url) = relay().await;
    let c = node("c");
    let id = DocumentId::from_bytes(rand::random());
    let report = c.repo.sync_with(&url, None, Some(vec![id])).await.unwrap();
    assert_eq!(report.documents[&id.to_string()], SyncOutcome::Unavailable);
}

/// Bytes a repo sent (every message, all connections) so far.
fn bytes_out(repo: &Repo) -> f64 {
    let text = repo.metrics().render();
    text.lines()
        .find_map(|l| l.strip_prefix("gapmap_bytes_out_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_after_reconnect_sends_only_what_is_new() {
    let (_relay, url) = relay().await;
    let a = node("a");
    let id = DocumentId::from_bytes(rand::random());
    // A document with a long history.
    let mut doc = AutoCommit::new();
    for i in 0..2_000 {
        doc.put(ROOT, format!("k{}", i % 50), i as i64).unwrap();
        doc.commit();
    }
    a.repo.commit(id, &mut doc, &meta(id), &[]).await.unwrap();
    a.repo.sync_with(&url, None, None).await.unwrap();

    // One edit, then a new connection: with the saved sync state…
    write(&a.repo, id, "after", "1").await;
    let before = bytes_out(&a.repo);
    a.repo.sync_with(&url, None, None).await.unwrap();
    let resumed = bytes_out(&a.repo) - before;

    // …versus the same re-sync from a fresh sync state.
    write(&a.repo, id, "after", "2").await;
    for (key, _) in a.repo.store().settings().unwrap() {
        if key.starts_with("sync-state:") {
            a.repo.store().remove_setting(&key).unwrap();
        }
    }
    let before = bytes_out(&a.repo);
    a.repo.sync_with(&url, None, None).await.unwrap();
    let fresh = bytes_out(&a.repo) - before;
    println!("re-sync after one edit on a 2,000-change document: {resumed} bytes with the saved sync state, {fresh} bytes without");
    assert!(resumed * 4.0 < fresh, "resumed {resumed} vs fresh {fresh}");
}
