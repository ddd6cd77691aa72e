//! The tokens file from outside: 401s, the header and the query, read-only
//! and per-document grants, expiry, SIGHUP.

use std::time::{Duration, Instant};

use gapmap_proto::DocumentId;

use super::harness::{Relay, Replica, Until, Why, PATIENCE};
use super::open_relay;

const WRITER: &str = "writer-0123456789abcdef0123456789abcdef";
const READER: &str = "reader-0123456789abcdef0123456789abcdef";
const SCOPED: &str = "scoped-0123456789abcdef0123456789abcdef";
const EXPIRED: &str = "expired-0123456789abcdef0123456789abcde";
const REVOKED: &str = "revoked-0123456789abcdef0123456789abcde";

fn tokens_file(scoped_doc: DocumentId, with_revoked: bool) -> String {
    let mut file = format!(
        r#"
[[token]]
secret = "{WRITER}"
access = "write"

[[token]]
secret = "{READER}"
access = "read"

[[token]]
secret = "{SCOPED}"
access = "write"
docs = ["{scoped_doc}"]

[[token]]
secret = "{EXPIRED}"
access = "write"
expires = "2001-01-01T00:00:00Z"
"#
    );
    if with_revoked {
        file.push_str(&format!("\n[[token]]\nsecret = \"{REVOKED}\"\naccess = \"write\"\nexpires = \"2999-01-01T00:00:00+02:00\"\n"));
    }
    file
}

fn token_relay(scoped_doc: DocumentId) -> (tempfile::TempDir, Relay) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, tokens_file(scoped_doc, true)).unwrap();
    let relay = Relay::start(dir.path(), &["--tokens", tokens.to_str().unwrap()]);
    (dir, relay)
}

#[test]
fn upgrades_without_a_valid_token_get_401() {
    let (_dir, mut relay) = token_relay(Replica::random_id());
    assert_eq!(relay.upgrade("/", None).err(), Some(401));
    assert_eq!(
        relay
            .upgrade("/", Some("wrong-0123456789abcdef0123456789abcdef"))
            .err(),
        Some(401)
    );
    assert_eq!(relay.upgrade("/", Some(EXPIRED)).err(), Some(401));
    assert_eq!(
        relay.upgrade("/?token=nope-nope-nope-nope", None).err(),
        Some(401)
    );
    assert_eq!(
        relay.upgrade(&format!("/?token={EXPIRED}"), None).err(),
        Some(401)
    );
    // The header and the query parameter both work.
    let id = Replica::random_id();
    let mut by_header = relay.join("by-header", Some(WRITER));
    Replica::new(id, "k", "v")
        .sync(&mut by_header, Until::InSync, PATIENCE)
        .unwrap();
    let mut by_query = relay.join_at(&format!("/?token={WRITER}"), "by-query", None);
    assert_eq!(
        Replica::fetch(&mut by_query, id)
            .unwrap()
            .get("k")
            .as_deref(),
        Some("v")
    );
    let mut reader_by_query = relay.join_at(
        &format!("/some/path?x=1&token={READER}"),
        "reader-by-query",
        None,
    );
    assert!(Replica::fetch(&mut reader_by_query, id).is_ok());
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"unauthorized\"}"),
        5.0
    );
    relay.assert_healthy();
}

#[test]
fn open_relay_accepts_anyone() {
    let (_dir, mut relay) = open_relay(&[]);
    let id = Replica::random_id();
    let mut anon = relay.join("anonymous", None);
    Replica::new(id, "k", "v")
        .sync(&mut anon, Until::InSync, PATIENCE)
        .unwrap();
    let mut other = relay.join("with-some-token", Some("whatever-it-is"));
    assert_eq!(
        Replica::fetch(&mut other, id).unwrap().get("k").as_deref(),
        Some("v")
    );
    relay.assert_healthy();
}

#[test]
fn read_tokens_fetch_but_their_changes_go_nowhere() {
    let id = Replica::random_id();
    let (dir, mut relay) = token_relay(Replica::random_id());
    let mut writer = relay.join("writer", Some(WRITER));
    let mut original = Replica::new(id, "title", "Original");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    // Another writer follows the document, to see what the relay forwards.
    let mut follower = relay.join("follower", Some(WRITER));
    let mut followed = Replica::fetch(&mut follower, id).unwrap();

    let mut reader = relay.join("reader", Some(READER));
    let mut copy = Replica::fetch(&mut reader, id).unwrap();
    assert_eq!(copy.get("title").as_deref(), Some("Original"));
    copy.put("title", "Vandalised");
    copy.put("sneaky", "yes");
    // The relay never acknowledges the reader's heads...
    assert_eq!(
        copy.sync(&mut reader, Until::InSync, Duration::from_millis(1500)),
        Err(Why::Timeout)
    );
    // ...nor passes the change on...
    assert_eq!(
        followed.sync(
            &mut follower,
            Until::Has("sneaky"),
            Duration::from_millis(300)
        ),
        Err(Why::Timeout)
    );
    let mut late = relay.join("late", Some(WRITER));
    let fresh = Replica::fetch(&mut late, id).unwrap();
    assert_eq!(
        (fresh.get("title").as_deref(), fresh.get("sneaky")),
        (Some("Original"), None)
    );
    // ...while the reader still receives the writers' changes.
    original.put("status", "edited by a writer");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    copy.sync(&mut reader, Until::Has("status"), PATIENCE)
        .unwrap_or_else(|e| panic!("reader did not get the change: {e:?}"));
    relay.assert_healthy();

    // ...nor stores it.
    let (status, _) = relay.terminate();
    assert!(status.success());
    drop(relay);
    let store = gapmap_store::Store::open(&dir.path().join("data")).unwrap();
    let stored = store
        .load(&id.to_string())
        .unwrap()
        .expect("the relay stored the document");
    use automerge::ReadDoc;
    assert!(stored.get(automerge::ROOT, "sneaky").unwrap().is_none());
    assert!(stored.get(automerge::ROOT, "status").unwrap().is_some());
}

#[test]
fn tokens_scoped_to_other_documents_get_doc_unavailable() {
    let (mine, theirs) = (Replica::random_id(), Replica::random_id());
    let (_dir, mut relay) = token_relay(mine);
    let mut writer = relay.join("writer", Some(WRITER));
    Replica::new(theirs, "k", "theirs")
        .sync(&mut writer, Until::InSync, PATIENCE)
        .unwrap();

    let mut scoped = relay.join("scoped", Some(SCOPED));
    // Asking for a document outside the token's list...
    assert!(scoped.is_unavailable(theirs));
    // ...or pushing changes to it: doc-unavailable, as if the relay lacked it.
    let mut push = Replica::new(theirs, "k", "overwritten");
    assert_eq!(
        push.sync(&mut scoped, Until::InSync, PATIENCE),
        Err(Why::Unavailable)
    );
    // Its own document works.
    Replica::new(mine, "k", "mine")
        .sync(&mut scoped, Until::InSync, PATIENCE)
        .unwrap();
    assert_eq!(
        Replica::fetch(&mut writer, theirs)
            .unwrap()
            .get("k")
            .as_deref(),
        Some("theirs")
    );
    relay.assert_healthy();
}

#[test]
fn sighup_rereads_tokens_and_closes_revoked_connections() {
    let id = Replica::random_id();
    let (dir, mut relay) = token_relay(Replica::random_id());
    let mut revoked = relay.join("soon-revoked", Some(REVOKED));
    Replica::new(id, "k", "v")
        .sync(&mut revoked, Until::InSync, PATIENCE)
        .unwrap();
    let mut writer = relay.join("writer", Some(WRITER));
    let mut followed = Replica::fetch(&mut writer, id).unwrap();

    std::fs::write(
        dir.path().join("tokens.toml"),
        tokens_file(Replica::random_id(), false),
    )
    .unwrap();
    relay.signal(libc::SIGHUP);
    revoked.expect_closed(Duration::from_secs(5));
    assert_eq!(relay.upgrade("/", Some(REVOKED)).err(), Some(401));
    // Valid tokens and their connections carry on.
    followed.put("after", "reload");
    followed.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    let mut again = relay.join("writer-again", Some(WRITER));
    assert_eq!(
        Replica::fetch(&mut again, id)
            .unwrap()
            .get("after")
            .as_deref(),
        Some("reload")
    );

    // A broken file on SIGHUP keeps the tokens in force.
    std::fs::write(dir.path().join("tokens.toml"), "this is [ not toml").unwrap();
    relay.signal(libc::SIGHUP);
    let deadline = Instant::now() + PATIENCE;
    while !relay.stderr().contains("keeping the previous tokens") {
        assert!(
            Instant::now() < deadline,
            "no log of the failed reload:\n{}",
            relay.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(relay.upgrade("/", Some(WRITER)).is_ok());
    relay.assert_healthy();
}
