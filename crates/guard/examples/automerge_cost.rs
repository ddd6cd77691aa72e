//! What Automerge 0.12 costs on given bytes, and what the gate says of
//! them: the figures behind `ROW_COST`, `INFLATED_COST` and the default
//! budget (docs/reliability.md). Run with `--release`:
//!
//! ```text
//! automerge_cost splice N FILE   a change inserting N `true`s into a list
//! automerge_cost text N FILE     a document of N typed characters (FILE.change: its change)
//! automerge_cost load FILE       Automerge::load: time and peak memory
//! automerge_cost sync FILE       a sync message carrying FILE into a non-empty document
//! automerge_cost check FILE      the gate's measure (without a limit)
//! ```

use automerge::transaction::Transactable;
use automerge::{
    sync::{self, SyncDoc},
    AutoCommit, ROOT,
};
use std::time::Instant;

fn hwm() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("VmHWM:") {
            return v
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<u64>()
                .unwrap()
                / 1024;
        }
    }
    0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "make" => {
            let n: usize = args[2].parse().unwrap();
            let mut doc = AutoCommit::new();
            let list = doc.put_object(ROOT, "l", automerge::ObjType::List).unwrap();
            for i in 0..n {
                doc.insert(&list, i, true).unwrap();
            }
            doc.commit();
            let saved = doc.save();
            std::fs::write(&args[3], &saved).unwrap();
            let c = doc.document().get_changes(&[]);
            std::fs::write(format!("{}.change", args[3]), c[0].raw_bytes()).unwrap();
            println!(
                "{} ops: doc {} bytes, change {} bytes: {:?} / {:?}",
                n,
                saved.len(),
                c[0].raw_bytes().len(),
                gapmap_guard::check(&saved, Default::default()),
                gapmap_guard::check(c[0].raw_bytes(), Default::default())
            );
        }
        "text" => {
            let n: usize = args[2].parse().unwrap();
            let mut doc = AutoCommit::new();
            let t = doc.put_object(ROOT, "t", automerge::ObjType::Text).unwrap();
            let mut x: u64 = 1;
            let s: String = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (b'a' + ((x >> 33) % 26) as u8) as char
                })
                .collect();
            doc.splice_text(&t, 0, 0, &s).unwrap();
            doc.commit();
            if args.len() > 4 {
                doc.splice_text(&t, 0, n as isize, "").unwrap();
                doc.commit();
            }
            let saved = doc.save();
            std::fs::write(&args[3], &saved).unwrap();
            let c = doc.document().get_changes(&[]);
            let last = c.last().unwrap().raw_bytes().to_vec();
            std::fs::write(format!("{}.change", args[3]), &last).unwrap();
            println!(
                "{} chars: doc {} bytes, last change {} bytes: {:?} / {:?}",
                n,
                saved.len(),
                last.len(),
                gapmap_guard::check(&saved, Default::default()),
                gapmap_guard::check(&last, Default::default())
            );
        }
        "splice" => {
            let n: usize = args[2].parse().unwrap();
            let t0 = Instant::now();
            let mut doc = AutoCommit::new();
            let list = doc.put_object(ROOT, "l", automerge::ObjType::List).unwrap();
            doc.splice(
                &list,
                0,
                0,
                std::iter::repeat_n(automerge::ScalarValue::Boolean(true), n),
            )
            .unwrap();
            doc.commit();
            let c = doc.save_incremental();
            std::fs::write(&args[3], &c).unwrap();
            println!(
                "{} ops spliced in {:?}: change {} bytes",
                n,
                t0.elapsed(),
                c.len()
            );
        }
        "load" => {
            let bytes = std::fs::read(&args[2]).unwrap();
            let before = hwm();
            let t = Instant::now();
            let r = AutoCommit::load(&bytes);
            println!(
                "load: {:?} in {:?}, hwm {} -> {} MiB",
                r.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                t.elapsed(),
                before,
                hwm()
            );
        }
        "sync" => {
            // as the relay: an empty document receives a sync message carrying these bytes
            let bytes = std::fs::read(&args[2]).unwrap();
            let mut base = AutoCommit::new();
            base.put(ROOT, "x", 1).unwrap();
            base.commit();
            let mut doc = base.document().clone();
            let mut state = sync::State::new();
            let msg = sync::Message {
                heads: vec![],
                need: vec![],
                have: vec![],
                changes: vec![bytes].into(),
                flags: None,
                version: sync::MessageVersion::V1,
            };
            let before = hwm();
            let t = Instant::now();
            let r = doc.receive_sync_message(&mut state, msg);
            println!(
                "sync: {:?} in {:?}, hwm {} -> {} MiB",
                r.map_err(|e| e.to_string()),
                t.elapsed(),
                before,
                hwm()
            );
        }
        "check" => {
            let bytes = std::fs::read(&args[2]).unwrap();
            let t = Instant::now();
            let r = gapmap_guard::check(
                &bytes,
                gapmap_guard::Budget {
                    per_input_byte: u64::MAX,
                    floor: 0,
                    max: u64::MAX,
                },
            );
            println!(
                "{} bytes: {:?} in {:?}; ratio {:.1}",
                bytes.len(),
                r,
                t.elapsed(),
                r.clone()
                    .map(|c| c.bytes() as f64 / bytes.len() as f64)
                    .unwrap_or(0.0)
            );
        }
        other => eprintln!("unknown command {other}"),
    }
}
