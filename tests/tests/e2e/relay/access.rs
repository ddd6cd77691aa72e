//! The access-control matrix of the relay (DESIGN §6), run twice: over
//! plain ws and over wss (the relay serving TLS itself). Every row is a
//! kind of credential, every column what it may do:
//!
//! | credential                         | upgrade | read | write | other doc   |
//! |------------------------------------|---------|------|-------|-------------|
//! | none, wrong, expired               | 401     | —    | —     | —           |
//! | read token                         | 101     | yes  | refused, never stored or passed on | yes |
//! | write token                        | 101     | yes  | yes   | yes         |
//! | write token for another document   | 101     | no   | no    | unavailable |
//! | removed or expired, then SIGHUP    | open connection closed, then 401 |
//! | expiring while connected           | connection closed at expiry, then 401 |
//! | `--open`: none or any token        | 101     | yes  | yes   | yes         |
//!
//! The relay runs with `-vv` (trace logging) and its whole log is searched
//! for every secret at the end: tokens are never logged.

use std::time::Duration;

use super::harness::{self_signed, Relay, Replica, Until, Why, PATIENCE};

const WRITER: &str = "w-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a";
const READER: &str = "r-2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d";
const SCOPED: &str = "s-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
const EXPIRED: &str = "x-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b";
const TO_REMOVE: &str = "m-5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b";
const TO_EXPIRE: &str = "e-3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f";
/// As long as WRITER and sharing its prefix: a comparison that stopped at
/// the first difference would take longest on this one.
const NEAR_MISS: &str = "w-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0b";

const SECRETS: [&str; 6] = [WRITER, READER, SCOPED, EXPIRED, TO_REMOVE, TO_EXPIRE];

fn token(secret: &str, access: &str, extra: &str) -> String {
    format!("[[token]]\nsecret = \"{secret}\"\naccess = \"{access}\"\n{extra}\n")
}

/// The tokens file; `after_reload` drops TO_REMOVE and makes TO_EXPIRE
/// expired.
fn tokens_file(scoped_doc: &str, after_reload: bool) -> String {
    let mut file = token(WRITER, "write", "")
        + &token(READER, "read", "")
        + &token(SCOPED, "write", &format!("docs = [\"{scoped_doc}\"]"))
        + &token(EXPIRED, "write", "expires = \"2001-01-01T00:00:00Z\"");
    if after_reload {
        file += &token(
            TO_EXPIRE,
            "write",
            "expires = \"2020-06-01T12:00:00+02:00\"",
        );
    } else {
        file += &token(TO_REMOVE, "write", "");
        file += &token(TO_EXPIRE, "write", "expires = \"2999-01-01T00:00:00Z\"");
    }
    file
}

fn start(dir: &std::path::Path, tls: bool, args: &[&str]) -> Relay {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push("-vv".into());
    let client = tls.then(|| {
        let (cert, key, client) = self_signed(dir);
        all.extend([
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ]);
        client
    });
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Relay::start_tls(dir, &all, client)
}

fn tokens_matrix(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (shared, scoped_doc, other) = (
        Replica::random_id(),
        Replica::random_id(),
        Replica::random_id(),
    );
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, tokens_file(&scoped_doc.to_string(), false)).unwrap();
    let mut relay = start(dir.path(), tls, &["--tokens", tokens.to_str().unwrap()]);

    // No token, a wrong one, a near miss, an expired one: 401 on the upgrade,
    // by header and by query parameter.
    for (path, bearer) in [
        ("/".to_string(), None),
        ("/".to_string(), Some("not-a-token")),
        ("/".to_string(), Some(NEAR_MISS)),
        ("/".to_string(), Some(EXPIRED)),
        (format!("/?token={NEAR_MISS}"), None),
        (format!("/?token={EXPIRED}"), None),
    ] {
        assert_eq!(
            relay.upgrade(&path, bearer).err(),
            Some(401),
            "{path} with {bearer:?} was let in (tls: {tls})"
        );
    }

    // A write token reads and writes any document.
    let mut writer = relay.join("writer", Some(WRITER));
    let mut original = Replica::new(shared, "title", "Original");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    Replica::new(other, "k", "other")
        .sync(&mut writer, Until::InSync, PATIENCE)
        .unwrap();

    // A read token reads; its changes are never acknowledged, passed on or
    // stored, while it keeps receiving the writers' changes.
    let mut follower = relay.join("follower", Some(WRITER));
    let mut followed = Replica::fetch(&mut follower, shared).unwrap();
    let mut reader = relay.join("reader", Some(READER));
    let mut copy = Replica::fetch(&mut reader, shared).unwrap();
    assert_eq!(copy.get("title").as_deref(), Some("Original"));
    copy.put("sneaky", "yes");
    assert_eq!(
        copy.sync(&mut reader, Until::InSync, Duration::from_millis(800)),
        Err(Why::Timeout)
    );
    assert_eq!(
        followed.sync(
            &mut follower,
            Until::Has("sneaky"),
            Duration::from_millis(300)
        ),
        Err(Why::Timeout)
    );
    original.put("status", "edited by a writer");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    copy.sync(&mut reader, Until::Has("status"), PATIENCE)
        .unwrap_or_else(|e| panic!("the reader did not get the change: {e:?}"));
    let mut late = relay.join("late", Some(READER));
    assert_eq!(
        Replica::fetch(&mut late, shared).unwrap().get("sneaky"),
        None
    );

    // A write token for another document: doc-unavailable for reading and
    // for writing anything else, its own document works.
    let mut scoped = relay.join("scoped", Some(SCOPED));
    assert!(scoped.is_unavailable(shared));
    assert_eq!(
        Replica::new(other, "k", "overwritten").sync(&mut scoped, Until::InSync, PATIENCE),
        Err(Why::Unavailable)
    );
    Replica::new(scoped_doc, "k", "mine")
        .sync(&mut scoped, Until::InSync, PATIENCE)
        .unwrap();
    assert_eq!(
        Replica::fetch(&mut writer, other)
            .unwrap()
            .get("k")
            .as_deref(),
        Some("other")
    );

    // Removed and expired tokens after SIGHUP: their open connections close,
    // new upgrades get 401; the others carry on.
    let mut removed = relay.join("removed", Some(TO_REMOVE));
    Replica::fetch(&mut removed, shared).unwrap();
    let mut expiring = relay.join_at(&format!("/?token={TO_EXPIRE}"), "expiring", None);
    Replica::fetch(&mut expiring, shared).unwrap();
    std::fs::write(&tokens, tokens_file(&scoped_doc.to_string(), true)).unwrap();
    relay.signal(libc::SIGHUP);
    removed.expect_closed(Duration::from_secs(5));
    expiring.expect_closed(Duration::from_secs(5));
    assert_eq!(relay.upgrade("/", Some(TO_REMOVE)).err(), Some(401));
    assert_eq!(relay.upgrade("/", Some(TO_EXPIRE)).err(), Some(401));
    original.put("after", "reload");
    original.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    let mut reader_again = relay.join("reader-again", Some(READER));
    assert_eq!(
        Replica::fetch(&mut reader_again, shared)
            .unwrap()
            .get("after")
            .as_deref(),
        Some("reload")
    );

    relay.assert_healthy();
    // 6 refused upgrades, 2 connections closed on the reload, 2 upgrades
    // refused after it.
    assert_eq!(
        relay.metric("gapmap_refusals_total{reason=\"unauthorized\"}"),
        10.0
    );
    let log = relay.stderr();
    assert!(log.contains("SIGHUP: tokens re-read"), "{log}");
    for secret in SECRETS.iter().chain([&NEAR_MISS]) {
        assert!(
            !log.contains(secret),
            "the relay logged a secret ({secret}) (tls: {tls})"
        );
    }
}

fn open_matrix(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start(dir.path(), tls, &["--open"]);
    let id = Replica::random_id();
    let mut anonymous = relay.join("anonymous", None);
    let mut mine = Replica::new(id, "k", "v");
    mine.sync(&mut anonymous, Until::InSync, PATIENCE).unwrap();
    // Any token is as good as none, and may write too.
    let mut other = relay.join("any-token", Some(NEAR_MISS));
    let mut theirs = Replica::fetch(&mut other, id).unwrap();
    assert_eq!(theirs.get("k").as_deref(), Some("v"));
    theirs.put("k2", "from another");
    theirs.sync(&mut other, Until::InSync, PATIENCE).unwrap();
    mine.sync(&mut anonymous, Until::Has("k2"), PATIENCE)
        .unwrap();
    relay.assert_healthy();
    assert!(
        !relay.stderr().contains(NEAR_MISS),
        "the relay logged a token"
    );
}

/// `secs` from now as an RFC 3339 UTC time.
fn rfc3339_in(secs: u64) -> String {
    let at = std::time::SystemTime::now() + Duration::from_secs(secs);
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let day = gapmap_canvas::time::format_date(since as i64 * 1000);
    let s = since % 86_400;
    format!("{day}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

#[test]
fn a_token_expiring_while_connected_closes_its_connections_without_a_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let expires = format!("expires = \"{}\"", rfc3339_in(2));
    std::fs::write(
        &tokens,
        token(WRITER, "write", "") + &token(TO_EXPIRE, "write", &expires),
    )
    .unwrap();
    let mut relay = start(dir.path(), false, &["--tokens", tokens.to_str().unwrap()]);
    let id = Replica::random_id();
    let mut expiring = relay.join("expiring", Some(TO_EXPIRE));
    Replica::new(id, "k", "v")
        .sync(&mut expiring, Until::InSync, PATIENCE)
        .unwrap();
    let mut writer = relay.join("writer", Some(WRITER));
    let mut doc = Replica::fetch(&mut writer, id).unwrap();
    expiring.expect_closed(Duration::from_secs(6));
    assert_eq!(relay.upgrade("/", Some(TO_EXPIRE)).err(), Some(401));
    doc.put("k2", "still writing");
    doc.sync(&mut writer, Until::InSync, PATIENCE).unwrap();
    assert!(
        relay.stderr().contains("a token expired"),
        "{}",
        relay.stderr()
    );
    relay.assert_healthy();
}

#[test]
fn access_matrix_over_ws() {
    tokens_matrix(false);
}

#[test]
fn access_matrix_over_wss() {
    tokens_matrix(true);
}

#[test]
fn open_relay_over_ws_and_wss() {
    open_matrix(false);
    open_matrix(true);
}
