//! What durability costs per save: sled's flush against an fdatasync of the
//! journal, and `Store::save` under each `Durability`. Prints timings; the
//! figures and the decision they support are in `docs/durability.md`.
//!
//! ```sh
//! cargo run -p gapmap-store --example durability_bench [-- DIR [N]]
//! ```
//!
//! DIR defaults to a temporary directory (put it on the disk you care
//! about); N, the saves per case, to 300.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use gapmap_store::{DocMeta, Durability, Options, Store};

fn main() {
    let mut args = std::env::args().skip(1);
    let tmp = tempfile::tempdir_in(
        args.next()
            .unwrap_or_else(|| std::env::temp_dir().display().to_string()),
    )
    .expect("a writable directory");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    println!(
        "dir {}, {n} operations per case; times in microseconds",
        tmp.path().display()
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8}",
        "case", "median", "p90", "p99", "max"
    );

    let record = vec![0x42u8; 300];

    // sled alone: insert a chunk-sized value, flush.
    {
        let db = sled::open(tmp.path().join("sled")).unwrap();
        report("sled insert + flush (sync_file_range)", n, |i| {
            db.insert(format!("k{i}"), &record[..]).unwrap();
            db.flush().unwrap();
        });
        // What a real fsync of sled's file would add on top.
        let file = File::open(tmp.path().join("sled/db")).unwrap();
        report("sled insert + flush + fdatasync(db file)", n, |i| {
            db.insert(format!("j{i}"), &record[..]).unwrap();
            db.flush().unwrap();
            file.sync_data().unwrap();
        });
    }

    // The journal alone: append a record, with and without fdatasync.
    {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(tmp.path().join("j.log"))
            .unwrap();
        report("journal append (write only)", n, |_| {
            f.write_all(&record).unwrap()
        });
        report("journal append + fdatasync", n, |_| {
            f.write_all(&record).unwrap();
            f.sync_data().unwrap();
        });
    }

    // The whole save path, editing one key of a document per save.
    for (name, durability) in [
        ("Process", Durability::Process),
        ("PowerLoss", Durability::PowerLoss),
    ] {
        let dir = tmp.path().join(format!("store-{name}"));
        let store = Store::open_with(&dir, Options::default().durability(durability)).unwrap();
        let mut doc = AutoCommit::new();
        let meta = DocMeta {
            id: "bench".into(),
            title: "bench".into(),
            notes: 0,
            updated_ms: 0,
        };
        report(&format!("Store::save, Durability::{name}"), n, |i| {
            doc.put(
                ROOT,
                format!("note{}", i % 50),
                format!("a short note text, about one line ({i})"),
            )
            .unwrap();
            store.save("bench", &mut doc, &meta).unwrap();
        });
        report(&format!("Store::set_setting, Durability::{name}"), n, |i| {
            store.set_setting("current", &i.to_string()).unwrap();
        });
        drop(store);
        let started = Instant::now();
        let store = Store::open(&dir).unwrap();
        let opened = started.elapsed();
        let started = Instant::now();
        store.load("bench").unwrap().unwrap();
        println!(
            "    open {} us, load {} us",
            opened.as_micros(),
            started.elapsed().as_micros()
        );
    }
}

fn report(name: &str, n: usize, mut op: impl FnMut(usize)) {
    for i in 0..n / 10 {
        op(usize::MAX - i); // warm up
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let started = Instant::now();
            op(i);
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_micros();
    println!(
        "{name:<44} {:>8} {:>8} {:>8} {:>8}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}
