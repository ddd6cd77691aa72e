//! Relays on a real Redis Cluster and on Redis over TLS (docs/scaling.md):
//! `redis-server --cluster-enabled yes` nodes on loopback made into one
//! cluster by `redis-cli --cluster create`, `gapmap-relay --backend
//! redis+cluster://…` and `gapmap` processes. Needs Debian's
//! `redis-server` and `redis-cli` (built with TLS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::relay::harness::Relay;
use crate::util::{bin, note_ids, texts, Store};

use gapmap_tests::{free_port, require_redis_server};

fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw command (inline form) to 127.0.0.1:`port`; the whole reply as text.
fn command(port: u16, line: &str) -> String {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    if tcp.write_all(format!("{line}\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut buf = vec![0u8; 16 * 1024];
    let n = tcp.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

/// One cluster node.
struct Node {
    port: u16,
    bus: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Node {
    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("redis-{}.log", self.starts)))
            .expect("redis log");
        let child = Command::new(require_redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-port", &self.bus.to_string()])
            .arg("--cluster-config-file")
            .arg(self.dir.join("nodes.conf"))
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--protected-mode", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        assert!(
            eventually(Duration::from_secs(10), || command(self.port, "PING")
                .starts_with("+PONG")),
            "cluster node on {} did not answer PING",
            self.port
        );
    }

    /// SIGKILL: only what the append-only file holds survives.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Redis Cluster of `n` masters (no replicas) on loopback.
struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    fn start(dir: &Path, n: usize) -> Cluster {
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let dir = dir.join(format!("node{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                Node {
                    port: free_port(),
                    bus: free_port(),
                    dir,
                    child: None,
                    starts: 0,
                }
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .arg("--cluster-yes")
            .output()
            .expect("redis-cli is not installed (it comes with redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Cluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node sees the cluster whole (`cluster_state:ok`).
    fn wait_ok(&self) {
        assert!(
            eventually(Duration::from_secs(20), || self.nodes.iter().all(|n| {
                command(n.port, "CLUSTER INFO").contains("cluster_state:ok")
            })),
            "the cluster did not reach cluster_state:ok"
        );
    }

    /// `redis+cluster://` naming the first two nodes (the relay finds the third).
    fn url(&self) -> String {
        format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The node holding `key` (the others answer MOVED).
    fn owner(&self, key: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| command(n.port, &format!("EXISTS {key}")).starts_with(":1"))
            .unwrap_or_else(|| panic!("no node holds {key}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

fn relays(dir: &Path, backend: &str, n: usize) -> Vec<Relay> {
    let args = [
        "--open",
        "--backend",
        backend,
        "--redis-compact-after",
        "20",
        "--redis-grace-ms",
        "2000",
    ];
    (0..n)
        .map(|i| {
            let own = dir.join(format!("relay{i}"));
            std::fs::create_dir_all(&own).unwrap();
            Relay::start(&own, &args)
        })
        .collect()
}

fn ws(relay: &Relay) -> String {
    format!("ws://127.0.0.1:{}", relay.port)
}

fn new_canvas(store: &Store, title: &str, url: &str) -> String {
    let id = store.json(&["new", title])["id"]
        .as_str()
        .unwrap()
        .to_string();
    store.ok(&["sync", url]);
    id
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A `gapmap sync --watch TARGET`; SIGTERM when dropped.
struct Watch {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Watch {
    fn start(store: &Store, target: &str) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("watch.log");
        let child = store
            .command(&["sync", "--watch", target])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gapmap sync --watch");
        assert!(
            eventually(Duration::from_secs(10), || std::fs::read_to_string(&log)
                .is_ok_and(|s| s.contains("watching"))),
            "gapmap sync --watch did not start"
        );
        Watch { child, _dir: dir }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !eventually(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn three_relays_on_a_three_master_cluster_converge_and_edits_cross_relays() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&dir.path().join("cluster"), 3);
    let relays = relays(dir.path(), &cluster.url(), 3);
    let urls: Vec<String> = relays.iter().map(ws).collect();
    let names = ["ana", "ben", "cara"];
    let stores: Vec<Store> = names.iter().map(|n| Store::new(n)).collect();
    // Six canvases, so that their slots fall on more than one master.
    let ids: Vec<String> = (0..6)
        .map(|k| new_canvas(&stores[0], &format!("Canvas {k}"), &urls[0]))
        .collect();
    let owners: std::collections::HashSet<usize> = ids
        .iter()
        .map(|id| cluster.owner(&format!("gapmap:{{{id}}}:log")))
        .collect();
    assert!(
        owners.len() >= 2,
        "six canvases all on one master: {owners:?}"
    );
    for (i, store) in stores.iter().enumerate().skip(1) {
        for id in &ids {
            assert_eq!(store.ok(&["clone", id, "--from", &urls[i]]), *id);
        }
    }
    for (i, store) in stores.iter().enumerate() {
        for id in &ids {
            store.ok(&["add", "now", &format!("{} on {id}", names[i]), "-c", id]);
        }
        store.ok(&["sync", &urls[i]]);
    }
    for (i, store) in stores.iter().enumerate() {
        store.ok(&["sync", &urls[i]]);
    }
    for (i, store) in stores.iter().enumerate() {
        for id in &ids {
            let show = store.json(&["show", "-c", id]);
            let want = sorted(names.iter().map(|n| format!("{n} on {id}")).collect());
            assert_eq!(
                sorted(texts(&show, "now")),
                want,
                "{} (relay {i}) differs on {id}",
                names[i]
            );
        }
    }

    // Live: ana watches through relay 1; ben edits through relay 3.
    let id = &ids[0];
    let _watch = Watch::start(&stores[0], &urls[0]);
    let has = |text: &str| {
        texts(&stores[0].json(&["show", "-c", id]), "now")
            .iter()
            .any(|t| t == text)
    };
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let text = format!("live edit {round} via relay 3");
        stores[1].ok(&["add", "now", &text, "-c", id]);
        stores[1].ok(&["sync", &urls[2]]);
        let acked = Instant::now();
        assert!(
            eventually(Duration::from_secs(10), || has(&text)),
            "{text:?} never reached relay 1's client"
        );
        slowest = slowest.max(acked.elapsed());
    }
    // Bells, not the 5 s sweep, carry it.
    assert!(
        slowest < Duration::from_secs(3),
        "an edit took {slowest:?} from relay 3 to relay 1's client"
    );
    for mut relay in relays {
        relay.assert_healthy();
    }
}

#[test]
fn a_master_killed_and_restarted_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(&dir.path().join("cluster"), 3);
    let mut relays = relays(dir.path(), &cluster.url(), 2);
    let urls: Vec<String> = relays.iter().map(ws).collect();
    let ana = Store::new("ana");
    let ben = Store::new("ben");
    let id = new_canvas(&ana, "Restart", &urls[0]);
    assert_eq!(ben.ok(&["clone", &id, "--from", &urls[1]]), id);
    let _watch = Watch::start(&ben, &urls[1]);
    let owner = cluster.owner(&format!("gapmap:{{{id}}}:log"));

    let mut acked = Vec::new();
    let mut refused = 0;
    let edit = |ana: &Store, acked: &mut Vec<String>, refused: &mut usize| {
        let note = ana.ok(&["add", "now", &format!("ana {}", acked.len() + *refused)]);
        if ana.run(&["sync", &urls[0]]).code == 0 {
            acked.push(note);
        } else {
            *refused += 1;
        }
    };
    for _ in 0..5 {
        edit(&ana, &mut acked, &mut refused);
    }
    cluster.nodes[owner].kill();
    // While the master of its slot is down (no replica), writes to the
    // document cannot be stored: they are refused, never acknowledged.
    for _ in 0..3 {
        edit(&ana, &mut acked, &mut refused);
    }
    assert!(
        refused >= 1,
        "writes were acknowledged while the master of their slot was down"
    );
    cluster.nodes[owner].spawn();
    cluster.wait_ok();
    let started = Instant::now();
    let before = acked.len();
    while acked.len() < before + 5 && started.elapsed() < Duration::from_secs(30) {
        edit(&ana, &mut acked, &mut refused);
    }
    assert!(
        acked.len() >= before + 5,
        "the relays did not take writes again after the master came back ({refused} refused)"
    );
    // A fresh client of relay 2 has every acknowledged note, once relay 2
    // has read the stream again: its bell subscription to the restarted
    // master may be gone unnoticed, and then the 5 s sweep brings the edits
    // (docs/scaling.md), so the clone is retried within two sweeps.
    let carl = Store::new("carl");
    assert_eq!(carl.ok(&["clone", &id, "--from", &urls[1]]), id);
    let mut lost: Vec<&String> = Vec::new();
    eventually(Duration::from_secs(12), || {
        carl.run(&["sync", &urls[1]]);
        let present = note_ids(&carl.show());
        lost = acked.iter().filter(|n| !present.contains(n)).collect();
        lost.is_empty()
    });
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged notes lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    // …and so has ben's live connection to relay 2, fed through the cluster.
    let mut missing = acked.len();
    assert!(
        eventually(Duration::from_secs(15), || {
            let present = note_ids(&ben.show());
            missing = acked.iter().filter(|n| !present.contains(n)).count();
            missing == 0
        }),
        "ben's watch on relay 2 lacks {missing} acknowledged notes"
    );
    for relay in &mut relays {
        relay.assert_healthy();
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) PEM files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("rcgen");
    let (cert_path, key_path) = (dir.join("redis.crt"), dir.join("redis.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A `redis-server` answering only TLS on `port`, with a password.
fn tls_redis(dir: &Path, port: u16, cert: &Path, key: &Path) -> Child {
    let log = std::fs::File::create(dir.join("redis-tls.log")).unwrap();
    let child = Command::new(require_redis_server())
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--tls-cert-file")
        .arg(cert)
        .arg("--tls-key-file")
        .arg(key)
        .args(["--tls-auth-clients", "no", "--requirepass", "s3cret-pw"])
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("redis-server is not installed");
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "redis-server --tls-port did not listen (is it built with TLS?)"
    );
    child
}

#[test]
fn relays_reach_redis_over_tls_with_a_given_ca_and_never_log_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let port = free_port();
    let mut redis = tls_redis(dir.path(), port, &cert, &key);
    let url = format!("rediss://:s3cret-pw@127.0.0.1:{port}");
    let secret = dir.path().join("backend");
    std::fs::write(&secret, format!("{url}\n")).unwrap();

    // Without --redis-ca the system's roots do not trust the certificate:
    // the relay stops at once, saying why, without the password.
    let out = Command::new(bin("gapmap-relay"))
        .args(["--listen", "127.0.0.1:0", "--open", "--data"])
        .arg(dir.path().join("refused"))
        .arg("--backend-file")
        .arg(&secret)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a relay started on an untrusted certificate:\n{stderr}"
    );
    assert!(stderr.contains("cannot reach Redis"), "{stderr}");
    assert!(
        !stderr.contains("s3cret-pw"),
        "the password was logged:\n{stderr}"
    );

    // A CA file without a Redis backend is a mistake, said in one line.
    let out = Command::new(bin("gapmap-relay"))
        .args(["--listen", "127.0.0.1:0", "--open", "--data"])
        .arg(dir.path().join("sled"))
        .arg("--redis-ca")
        .arg(&cert)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--backend rediss://"),
        "{stderr}"
    );

    let mut relays: Vec<Relay> = (0..2)
        .map(|i| {
            let own = dir.path().join(format!("relay{i}"));
            std::fs::create_dir_all(&own).unwrap();
            let (secret, cert) = (secret.to_str().unwrap(), cert.to_str().unwrap());
            Relay::start(
                &own,
                &["--open", "--backend-file", secret, "--redis-ca", cert, "-v"],
            )
        })
        .collect();
    let ana = Store::new("ana");
    let ben = Store::new("ben");
    let id = new_canvas(&ana, "Over TLS", &ws(&relays[0]));
    ana.ok(&["add", "now", "sealed in transit"]);
    ana.ok(&["sync", &ws(&relays[0])]);
    // Ben reaches the document through the other relay: it came from Redis.
    assert_eq!(ben.ok(&["clone", &id, "--from", &ws(&relays[1])]), id);
    assert_eq!(
        texts(&ben.show(), "now"),
        vec!["sealed in transit".to_string()]
    );
    for relay in &mut relays {
        assert!(
            !relay.stderr().contains("s3cret-pw"),
            "the password was logged:\n{}",
            relay.stderr()
        );
        relay.assert_healthy();
    }
    let _ = redis.kill();
    let _ = redis.wait();
}
