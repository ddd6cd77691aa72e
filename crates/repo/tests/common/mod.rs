//! Helpers the repo's integration tests share: one key written to and read
//! from a document through a running [`Repo`].

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, ROOT};
use gapmap_repo::{DocumentId, Repo};
use gapmap_store::DocMeta;

pub fn meta(id: DocumentId) -> DocMeta {
    DocMeta {
        id: id.to_string(),
        title: String::new(),
        notes: 0,
        updated_ms: 0,
    }
}

pub async fn write(repo: &Repo, id: DocumentId, key: &str, value: &str) {
    let mut doc = match repo.document(id).await.unwrap() {
        Some(doc) => AutoCommit::load(&doc.save()).unwrap(),
        None => AutoCommit::new(),
    };
    let before = doc.get_heads();
    doc.put(ROOT, key, value).unwrap();
    repo.commit(id, &mut doc, &meta(id), &before).await.unwrap();
}

pub async fn read(repo: &Repo, id: DocumentId, key: &str) -> Option<String> {
    let doc = repo.document(id).await.unwrap()?;
    doc.get(ROOT, key)
        .unwrap()
        .and_then(|(v, _)| v.into_string().ok())
}
