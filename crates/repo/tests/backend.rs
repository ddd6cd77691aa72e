//! The `Backend` seam with a shared in-memory storage: two relay repos
//! over one log, as `gapmap-relay --backend redis://…` runs them — changes
//! accepted by one reach the other's peers, are stored once, and a storage
//! that goes down turns writers away with a clear error while reads go on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::Automerge;
use gapmap_repo::backend::{Backend, BackendError, BoxFuture, Feed};
use gapmap_repo::routes::{sync_routes, Open};
use gapmap_repo::server::{serve, ServerConfig};
use gapmap_repo::{DocumentId, Persist, Repo, RepoConfig};
use gapmap_store::{DocMeta, Store};
use tokio_util::sync::CancellationToken;

mod common;
use common::{read, write};

/// One log of appended changes shared by every instance, and the way into
/// each instance's engine.
#[derive(Default)]
struct Shared {
    log: Mutex<Vec<(usize, DocumentId, Vec<u8>)>>,
    feeds: Mutex<Vec<(usize, Feed)>>,
    down: AtomicBool,
}

impl Shared {
    fn entries(&self, id: DocumentId) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, d, _)| *d == id)
            .count()
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        for (_, feed) in self.feeds.lock().unwrap().iter() {
            feed.available(!down, Some("test".into()));
        }
    }
}

struct MemBackend {
    me: usize,
    shared: Arc<Shared>,
}

impl Backend for MemBackend {
    fn load(&self, id: DocumentId) -> BoxFuture<Result<Option<Automerge>, BackendError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            if shared.down.load(Ordering::SeqCst) {
                return Err(BackendError::Unavailable("down".into()));
            }
            let log = shared.log.lock().unwrap();
            let mut doc = Automerge::new();
            let mut any = false;
            for (_, d, changes) in log.iter() {
                if *d == id {
                    doc.load_incremental(changes).unwrap();
                    any = true;
                }
            }
            Ok(any.then_some(doc))
        })
    }

    fn append(&self, persist: Arc<Persist>, _meta: DocMeta) -> BoxFuture<Result<(), BackendError>> {
        let (me, shared) = (self.me, self.shared.clone());
        Box::pin(async move {
            if shared.down.load(Ordering::SeqCst) {
                return Err(BackendError::Unavailable("down".into()));
            }
            let id = persist.document_id;
            shared
                .log
                .lock()
                .unwrap()
                .push((me, id, persist.changes.clone()));
            for (other, feed) in shared.feeds.lock().unwrap().iter() {
                if *other != me {
                    feed.changes(id, persist.changes.clone());
                }
            }
            Ok(())
        })
    }

    fn start(&self, feed: Feed) {
        self.shared.feeds.lock().unwrap().push((self.me, feed));
    }
}

struct Node {
    _dir: tempfile::TempDir,
    repo: Repo,
}

fn node(name: &str, backend: Option<Arc<dyn Backend>>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut config = RepoConfig::new(store, name);
    config.backend = backend;
    Node {
        _dir: dir,
        repo: Repo::start(config),
    }
}

async fn relay(name: &str, me: usize, shared: &Arc<Shared>) -> (Node, String) {
    let backend = Arc::new(MemBackend {
        me,
        shared: shared.clone(),
    });
    let relay = node(name, Some(backend));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let router = sync_routes(relay.repo.clone(), Arc::new(Open), None);
    tokio::spawn(serve(
        listener,
        ServerConfig::default(),
        router,
        relay.repo.tracker().clone(),
        relay.repo.shutdown_token().clone(),
    ));
    (relay, url)
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..250 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_accepted_by_one_instance_reach_the_others_peers_once() {
    let shared = Arc::new(Shared::default());
    let (_r1, one) = relay("relay-1", 1, &shared).await;
    let (_r2, two) = relay("relay-2", 2, &shared).await;
    let (a, b) = (node("a", None), node("b", None));
    let id = DocumentId::from_bytes(rand::random());

    write(&a.repo, id, "title", "from a").await;
    a.repo.sync_with(&one, None, None).await.unwrap();
    assert_eq!(shared.entries(id), 1);
    // A stays connected to relay 1; B writes through relay 2.
    let stop = CancellationToken::new();
    let watching = tokio::spawn({
        let (repo, stop) = (a.repo.clone(), stop.clone());
        async move { repo.stay_connected(one, None, stop, |_| {}).await }
    });
    b.repo.sync_with(&two, None, Some(vec![id])).await.unwrap();
    assert_eq!(read(&b.repo, id, "title").await.as_deref(), Some("from a"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    write(&b.repo, id, "note", "from b").await;
    b.repo.sync_with(&two, None, None).await.unwrap();
    assert!(
        eventually(async || read(&a.repo, id, "note").await.as_deref() == Some("from b")).await,
        "b's change, accepted by relay 2, never reached a through relay 1"
    );
    // Stored once: relay 1 took it from the storage, not as a new write.
    assert_eq!(shared.entries(id), 2);
    stop.cancel();
    let _ = watching.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_storage_down_writers_are_told_and_readers_served() {
    let shared = Arc::new(Shared::default());
    let (r1, one) = relay("relay-1", 1, &shared).await;
    let (a, b, c) = (node("a", None), node("b", None), node("c", None));
    let id = DocumentId::from_bytes(rand::random());
    write(&a.repo, id, "title", "before").await;
    a.repo.sync_with(&one, None, None).await.unwrap();
    // C fetches the document and keeps it open on the relay.
    c.repo.sync_with(&one, None, Some(vec![id])).await.unwrap();
    let stop = CancellationToken::new();
    let watching = tokio::spawn({
        let (repo, stop, url) = (c.repo.clone(), stop.clone(), one.clone());
        async move { repo.stay_connected(url, None, stop, |_| {}).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    shared.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A reader gets what the relay holds.
    b.repo.sync_with(&one, None, Some(vec![id])).await.unwrap();
    assert_eq!(read(&b.repo, id, "title").await.as_deref(), Some("before"));
    // A writer is turned away with the reason.
    write(&a.repo, id, "title", "during").await;
    let err = a.repo.sync_with(&one, None, None).await.unwrap_err();
    assert!(err.to_string().contains("storage is unreachable"), "{err}");
    assert_eq!(shared.entries(id), 1);
    let text = r1.repo.metrics().render();
    assert!(text.contains("gapmap_storage_up 0\n"), "{text}");

    shared.set_down(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.repo.sync_with(&one, None, None).await.unwrap();
    assert_eq!(shared.entries(id), 2);
    assert!(
        eventually(async || read(&c.repo, id, "title").await.as_deref() == Some("during")).await,
        "the write after the outage never reached c"
    );
    stop.cancel();
    let _ = watching.await;
}

/// A local commit on an instance with a shared backend is stored there (not
/// only in the instance's own store, which keeps settings), and the other
/// instances' peers get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_commit_reaches_the_shared_backend_and_the_other_instances() {
    let shared = Arc::new(Shared::default());
    let (r1, _one) = relay("relay-1", 1, &shared).await;
    let (_r2, two) = relay("relay-2", 2, &shared).await;
    let id = DocumentId::from_bytes(rand::random());

    write(&r1.repo, id, "title", "committed on relay 1").await;
    assert_eq!(
        shared.entries(id),
        1,
        "the commit never reached the backend"
    );
    assert!(
        !r1.repo.store().contains(&id.to_string()).unwrap(),
        "the commit went to the instance's own store, beside its backend"
    );
    let b = node("b", None);
    b.repo.sync_with(&two, None, Some(vec![id])).await.unwrap();
    assert_eq!(
        read(&b.repo, id, "title").await.as_deref(),
        Some("committed on relay 1")
    );
}
