//! The origin index: which documents start from which change, so a file
//! carried in from elsewhere finds the document it is a copy of without
//! loading every document of the store.
//!
//! A document's origins are the hashes of its root changes (those with no
//! dependencies). Tree `origins` holds, per document, `d\0<id>` → its
//! origins (comma-separated hex) and `h\0<hash>\0<id>` → empty, one per
//! origin. It is derived data and not journaled: an entry sled loses, and
//! every document of a store written before the index existed, is filled
//! in the first time [`Store::find_by_origin`] needs it (each document is
//! loaded at most once for that), or when the document is next saved.

use automerge::{AutoCommit, ChangeHash};

use crate::error::Result;
use crate::layout;
use crate::store::Store;

fn doc_key(id: &str) -> Vec<u8> {
    [b"d\0", id.as_bytes()].concat()
}

fn hash_prefix(hash: &ChangeHash) -> Vec<u8> {
    format!("h\0{hash}\0").into_bytes()
}

/// The root changes of `doc`, sorted (change metadata only, no operations).
fn roots(doc: &mut AutoCommit) -> Vec<ChangeHash> {
    let mut roots: Vec<ChangeHash> = doc
        .get_changes_meta(&[])
        .into_iter()
        .filter(|c| c.deps.is_empty())
        .map(|c| c.hash)
        .collect();
    roots.sort();
    roots
}

impl Store {
    /// Records `doc`'s origins under `id` unless they are recorded already.
    pub(crate) fn note_origins(&self, id: &str, doc: &mut AutoCommit) -> Result<()> {
        let origins = &self.inner.origins;
        if origins.contains_key(doc_key(id))? {
            return Ok(());
        }
        let roots = roots(doc);
        if roots.is_empty() {
            return Ok(());
        }
        for hash in &roots {
            origins.insert([hash_prefix(hash), id.as_bytes().to_vec()].concat(), &[])?;
        }
        let list: Vec<String> = roots.iter().map(ToString::to_string).collect();
        origins.insert(doc_key(id), list.join(",").as_bytes())?;
        Ok(())
    }

    /// The documents of this store whose history starts from one of
    /// `hashes` (a copy of the same document), ordered by id. Documents not
    /// yet in the origin index are added to it first.
    pub fn find_by_origin(&self, hashes: &[ChangeHash]) -> Result<Vec<String>> {
        for meta in self.list()? {
            if self.inner.origins.contains_key(doc_key(&meta.id))? {
                continue;
            }
            if let Some(mut doc) = self.load(&meta.id)? {
                self.note_origins(&meta.id, &mut doc)?;
            }
        }
        let mut found = Vec::new();
        for hash in hashes {
            for entry in self.inner.origins.scan_prefix(hash_prefix(hash)) {
                let (key, _) = entry?;
                let id = String::from_utf8_lossy(&key[hash_prefix(hash).len()..]).into_owned();
                if layout::validate_id(&id).is_ok() && !found.contains(&id) && self.contains(&id)? {
                    found.push(id);
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::ROOT;

    use super::*;
    use crate::store::tests::meta;

    fn doc(title: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "title", title).unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn copies_are_found_by_origin() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = doc("a");
        let mut b = doc("b");
        store.save("aaaa", &mut a, &meta("aaaa", "a")).unwrap();
        store.save("bbbb", &mut b, &meta("bbbb", "b")).unwrap();
        let mut copy = a.fork();
        copy.put(ROOT, "more", 1).unwrap();
        copy.commit();
        assert_eq!(store.find_by_origin(&roots(&mut copy)).unwrap(), ["aaaa"]);
        assert!(store
            .find_by_origin(&roots(&mut doc("c")))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn documents_saved_before_the_index_are_found_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = doc("a");
        {
            let store = Store::open(dir.path()).unwrap();
            store.save("aaaa", &mut a, &meta("aaaa", "a")).unwrap();
            // As a store written before the origin index existed.
            store.inner.origins.clear().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.inner.origins.contains_key(doc_key("aaaa")).unwrap());
        assert_eq!(store.find_by_origin(&roots(&mut a)).unwrap(), ["aaaa"]);
        assert!(store.inner.origins.contains_key(doc_key("aaaa")).unwrap());
    }
}
