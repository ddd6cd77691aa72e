//! kill -9 crash loop: a child process (this test binary, re-executed with
//! `GAPMAP_CRASH_CHILD` set) opens the store and saves in a loop, printing
//! `acked <n>` after each save returns; the parent SIGKILLs it at random
//! moments, reopens the store and checks that every acknowledged save is
//! there.
//!
//! Half the rounds kill during writes (after the child's first ack of the
//! round), half during start-up (0-30 ms after spawn, while the child is
//! exec'ing or opening sled; those children reopen the store after every save
//! so that most of their time is spent opening).
//!
//! `GAPMAP_CRASH_ITERS` sets the rounds of each kind (default 200),
//! `GAPMAP_CRASH_SEED` the random seed (printed on failure), and
//! `GAPMAP_CRASH_DURABILITY=process` runs the child without journal fsync.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc, ROOT};
use gapmap_store::{DocMeta, Durability, Options, Store};

const CHILD_ENV: &str = "GAPMAP_CRASH_CHILD";
const DOCS: u64 = 3;

fn doc_id(i: u64) -> String {
    format!("crash{}", i % DOCS)
}

fn get(doc: &AutoCommit, key: &str) -> Option<i64> {
    match doc.get(ROOT, key).unwrap() {
        Some((automerge::Value::Scalar(s), _)) => s.as_i64(),
        _ => None,
    }
}

fn open(dir: &Path) -> Store {
    // A small compaction threshold so kills also land in compactions and
    // journal rewrites.
    let mut opts = Options::default().compact_min_bytes(4096);
    if std::env::var("GAPMAP_CRASH_DURABILITY").is_ok_and(|v| v == "process") {
        opts = opts.durability(Durability::Process);
    }
    Store::open_with(dir, opts).unwrap()
}

/// The child: saves forever. Not a real test when the variable is unset.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, dir) = spec.split_once(':').expect("mode:dir");
    let dir = Path::new(dir);
    let reopen = mode == "startup";
    println!("opening");
    let mut store = open(dir);
    println!("opened");
    let mut docs: Vec<AutoCommit> = (0..DOCS)
        .map(|k| store.load(&doc_id(k)).unwrap().unwrap_or_default())
        .collect();
    let mut i = docs
        .iter()
        .filter_map(|d| get(d, "count"))
        .max()
        .unwrap_or(0) as u64
        + 1;
    loop {
        let id = doc_id(i);
        let doc = &mut docs[(i % DOCS) as usize];
        doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
        doc.put(ROOT, "count", i as i64).unwrap();
        let meta = DocMeta {
            id: id.clone(),
            title: format!("t{i}"),
            notes: 0,
            updated_ms: i as i64,
        };
        store.save(&id, doc, &meta).unwrap();
        println!("acked {i}");
        if i.is_multiple_of(5) {
            store.set_setting("last", &i.to_string()).unwrap();
            println!("setting {i}");
        }
        i += 1;
        if reopen {
            drop(store);
            println!("opening");
            store = open(dir);
            println!("opened");
        }
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Default)]
struct Tally {
    write_kills: usize,
    startup_kills: usize,
    /// Start-up kills by the child's last line: before `Store::open`
    /// began, inside it, after it.
    startup_before_open: usize,
    startup_in_open: usize,
    startup_after_open: usize,
    first_ack_ms: Vec<u128>,
    stale_generating: usize,
    acked: usize,
}

#[test]
fn kill9_never_loses_an_acknowledged_save() {
    let iters: usize = std::env::var("GAPMAP_CRASH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("GAPMAP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    // Kept when the test fails, for inspection; removed at the end otherwise.
    let root = tempfile::tempdir().unwrap().keep();
    let dir = root.join("store");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut tally = Tally::default();
    // Acknowledged value per key, and the last acknowledged setting.
    let mut acked: BTreeMap<u64, ()> = BTreeMap::new();
    let mut last_setting = 0u64;

    for round in 0..2 * iters {
        let startup = round % 2 == 1;
        let mode = if startup { "startup" } else { "write" };
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                // A line is only acknowledged once complete.
                if line.ends_with('\n') {
                    let _ = tx.send(line.trim().to_string());
                }
                line.clear();
            }
        });
        let mut lines = Vec::new();
        let spawned = Instant::now();
        if startup {
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        } else {
            // Wait for the child to be writing, then let it write a while.
            loop {
                let line = rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("child never acknowledged a save");
                let is_ack = line.starts_with("acked ");
                lines.push(line);
                if is_ack {
                    tally.first_ack_ms.push(spawned.elapsed().as_millis());
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        if startup {
            tally.startup_kills += 1;
            match lines
                .iter()
                .rev()
                .find(|l| *l == "opening" || *l == "opened")
                .map(String::as_str)
            {
                None => tally.startup_before_open += 1,
                Some("opening") => tally.startup_in_open += 1,
                _ => tally.startup_after_open += 1,
            }
        } else {
            tally.write_kills += 1;
        }
        for line in &lines {
            if let Some(n) = line.strip_prefix("acked ") {
                acked.insert(n.parse().unwrap(), ());
                tally.acked += 1;
            } else if let Some(n) = line.strip_prefix("setting ") {
                last_setting = last_setting.max(n.parse().unwrap());
            }
        }

        if std::fs::read_dir(dir.join("db")).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".generating"))
        }) {
            tally.stale_generating += 1;
        }
        let fail = |what: String| -> ! {
            panic!(
                "round {round} ({mode}), seed {seed}: {what}; store kept at {}",
                dir.display()
            );
        };
        let store = match Store::open(&dir) {
            Ok(store) => store,
            Err(e) => fail(format!("reopen failed: {e}")),
        };
        let docs: Vec<Option<AutoCommit>> =
            (0..DOCS).map(|k| store.load(&doc_id(k)).unwrap()).collect();
        for &i in acked.keys() {
            let doc = docs[(i % DOCS) as usize].as_ref();
            if doc.and_then(|d| get(d, &format!("k{i}"))) != Some(i as i64) {
                fail(format!("acknowledged save {i} is missing"));
            }
        }
        let setting: u64 = store
            .setting("last")
            .unwrap()
            .map_or(0, |v| v.parse().unwrap());
        if setting < last_setting {
            fail(format!(
                "setting {setting} is older than the acknowledged {last_setting}"
            ));
        }
        drop(store);
    }
    tally.first_ack_ms.sort_unstable();
    eprintln!(
        "crash loop: {} kills during writes; {} during start-up ({} before Store::open, {} inside it, \
         {} after it); {} stale snap.*.generating files met; {} acknowledged saves checked; \
         spawn to first ack: median {} ms; {:.1} s; seed {seed}",
        tally.write_kills,
        tally.startup_kills,
        tally.startup_before_open,
        tally.startup_in_open,
        tally.startup_after_open,
        tally.stale_generating,
        tally.acked,
        tally.first_ack_ms.get(tally.first_ack_ms.len() / 2).copied().unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    assert!(tally.acked > 0);
    std::fs::remove_dir_all(root).unwrap();
}
