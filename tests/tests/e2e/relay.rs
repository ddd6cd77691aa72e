//! `gapmap-relay` from outside (DESIGN §5, §6): real relay processes on
//! 127.0.0.1, a raw websocket client speaking the protocol frames, signals.

mod access;
mod bad_input;
pub mod harness;
mod takeover;
mod tokens;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use gapmap_proto::DocumentId;
use harness::{parse_metrics, self_signed, Relay, Replica, Until, PATIENCE};

use crate::util::bin;

/// A relay started with `--open` and `args`, in a fresh directory.
fn open_relay(args: &[&str]) -> (tempfile::TempDir, Relay) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["--open"];
    all.extend_from_slice(args);
    let relay = Relay::start(dir.path(), &all);
    (dir, relay)
}

// ---- the command line ------------------------------------------------------

#[test]
fn token_new_prints_a_64_hex_secret() {
    let run = || {
        let out = Command::new(bin("gapmap-relay"))
            .args(["token", "new"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (a, b) = (run(), run());
    for secret in [&a, &b] {
        let line = secret.strip_suffix('\n').expect("one line");
        assert_eq!(line.len(), 64, "{secret:?}");
        assert!(
            line.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{secret:?}"
        );
    }
    assert_ne!(a, b);
}

#[test]
fn missing_required_options_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let bad_tokens = dir.path().join("short.toml");
    std::fs::write(
        &bad_tokens,
        "[[token]]\nsecret = \"short\"\naccess = \"write\"\n",
    )
    .unwrap();
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["--listen", "127.0.0.1:1", "--data", data],
            &["--tokens", "--open"],
        ),
        (&["--data", data, "--open"], &["--listen"]),
        (&["--listen", "127.0.0.1:1", "--open"], &["--data"]),
        (
            &[
                "--listen",
                "127.0.0.1:1",
                "--data",
                data,
                "--tokens",
                bad_tokens.to_str().unwrap(),
            ],
            &["token #1"],
        ),
    ];
    for (args, mentions) in cases {
        let out = Command::new(bin("gapmap-relay"))
            .args(args)
            .env_remove("GAPMAP_RELAY_LISTEN")
            .env_remove("GAPMAP_RELAY_DATA")
            .env_remove("GAPMAP_RELAY_TOKENS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: want one line, got {stderr}");
        for word in mentions {
            assert!(
                lines[0].contains(word),
                "{args:?}: {:?} should mention {word}",
                lines[0]
            );
        }
    }
}

// ---- HTTP face ---------------------------------------------------------------

#[test]
fn healthz_and_prometheus_metrics() {
    let (_dir, mut relay) = open_relay(&[]);
    assert_eq!(relay.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(relay.get("/nowhere").0, 404);

    // Some traffic so the counters move: a document pushed and fetched.
    let id = Replica::random_id();
    let mut alice = relay.join("alice", None);
    Replica::new(id, "title", "Onboarding")
        .sync(&mut alice, Until::InSync, PATIENCE)
        .unwrap();
    let mut bob = relay.join("bob", None);
    assert_eq!(
        Replica::fetch(&mut bob, id)
            .unwrap()
            .get("title")
            .as_deref(),
        Some("Onboarding")
    );

    let (status, body) = relay.get("/metrics");
    assert_eq!(status, 200);
    for family in [
        "# TYPE gapmap_connections_total counter",
        "# TYPE gapmap_connections_open gauge",
        "# TYPE gapmap_documents_loaded gauge",
        "# TYPE gapmap_messages_in_total counter",
        "# TYPE gapmap_messages_out_total counter",
        "# TYPE gapmap_bytes_in_total counter",
        "# TYPE gapmap_bytes_out_total counter",
        "# TYPE gapmap_refusals_total counter",
        "# TYPE gapmap_sync_latency_seconds histogram",
    ] {
        assert!(body.contains(family), "no {family:?} in\n{body}");
    }
    let metrics = parse_metrics(&body);
    let value = |name: &str| {
        metrics
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
            .1
    };
    assert_eq!(value("gapmap_connections_total"), 2.0);
    assert_eq!(value("gapmap_connections_open"), 2.0);
    assert!(value("gapmap_messages_in_total") >= 4.0, "{body}");
    assert!(value("gapmap_messages_out_total") >= 4.0, "{body}");
    assert!(value("gapmap_bytes_in_total") > 100.0, "{body}");
    assert!(value("gapmap_bytes_out_total") > 100.0, "{body}");
    for reason in [
        "unauthorized",
        "malformed",
        "oversized",
        "too_many_documents",
        "timeout",
        "read_only",
        "slow_reader",
    ] {
        assert_eq!(
            value(&format!("gapmap_refusals_total{{reason=\"{reason}\"}}")),
            0.0
        );
    }
    let count = value("gapmap_sync_latency_seconds_count");
    assert!(count >= 1.0, "{body}");
    assert_eq!(
        value("gapmap_sync_latency_seconds_bucket{le=\"+Inf\"}"),
        count
    );
    assert!(value("gapmap_sync_latency_seconds_sum") > 0.0);
    // Buckets are cumulative.
    let buckets: Vec<f64> = metrics
        .iter()
        .filter(|(n, _)| n.starts_with("gapmap_sync_latency_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(
        buckets.len() >= 10 && buckets.windows(2).all(|w| w[0] <= w[1]),
        "{buckets:?}"
    );
    relay.assert_healthy();
}

// ---- shutdown --------------------------------------------------------------

#[test]
fn sigterm_drains_and_acknowledged_documents_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path(), &["--open"]);
    let id = Replica::random_id();
    let mut alice = relay.join("alice", None);
    let mut doc = Replica::new(id, "title", "Kept");
    for i in 0..20 {
        doc.put(&format!("note-{i}"), "text");
    }
    // In sync = the relay advertised our heads = they are durable there.
    doc.sync(&mut alice, Until::InSync, PATIENCE).unwrap();
    let mut idle = relay.join("idle", None);

    let (status, took) = relay.terminate();
    assert_eq!(status.code(), Some(0), "{}", relay.stderr());
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?} with open connections:\n{}",
        relay.stderr()
    );
    relay.assert_no_panic();
    idle.expect_closed(Duration::from_secs(1));
    drop(relay);

    let mut relay = Relay::start(dir.path(), &["--open"]);
    let mut bob = relay.join("bob", None);
    let copy = Replica::fetch(&mut bob, id).unwrap();
    assert_eq!(copy.doc.get_heads(), doc.doc.get_heads());
    assert_eq!(copy.get("title").as_deref(), Some("Kept"));
    relay.assert_healthy();
}

// ---- TLS -----------------------------------------------------------------

#[test]
fn tls_serves_wss_and_https_and_refuses_plain() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, tls) = self_signed(dir.path());
    let args = [
        "--open",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let mut relay = Relay::start_tls(dir.path(), &args, Some(tls));
    // Started means /healthz answered over HTTPS.
    let id = Replica::random_id();
    let mut alice = relay.join("alice", None);
    Replica::new(id, "k", "over TLS")
        .sync(&mut alice, Until::InSync, PATIENCE)
        .unwrap();
    let mut bob = relay.join("bob", None);
    assert_eq!(
        Replica::fetch(&mut bob, id).unwrap().get("k").as_deref(),
        Some("over TLS")
    );

    // Plain HTTP and plain websocket to the TLS port get nowhere.
    let mut tcp = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP was served on the TLS port"
    );
    let tcp = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let plain = tungstenite::client::client(format!("ws://localhost:{}/", relay.port), tcp);
    assert!(
        plain.is_err(),
        "a plain websocket was accepted on the TLS port"
    );
    relay.assert_healthy();
}

#[test]
fn documents_no_one_syncs_leave_memory() {
    let (_dir, mut relay) = open_relay(&[]);
    let ids: Vec<DocumentId> = (0..3).map(|_| Replica::random_id()).collect();
    let mut alice = relay.join("alice", None);
    for id in &ids {
        Replica::new(*id, "k", "v")
            .sync(&mut alice, Until::InSync, PATIENCE)
            .unwrap();
    }
    assert_eq!(relay.metric("gapmap_documents_loaded"), 3.0);
    drop(alice);
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay.metric("gapmap_documents_loaded") > 0.0 {
        assert!(
            Instant::now() < deadline,
            "documents_loaded stays at {}",
            relay.metric("gapmap_documents_loaded")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And they come back from the store when wanted.
    let mut bob = relay.join("bob", None);
    assert_eq!(
        Replica::fetch(&mut bob, ids[1])
            .unwrap()
            .get("k")
            .as_deref(),
        Some("v")
    );
    assert_eq!(relay.metric("gapmap_documents_loaded"), 1.0);
    relay.assert_healthy();
}
