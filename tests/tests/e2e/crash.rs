//! kill -9 loops against the real binary: the store always opens again and
//! every edit a command acknowledged (exit 0, id printed) is still there.
//!
//! `GAPMAP_CRASH_ITERS` sets the kills per phase (default 200, as CI runs);
//! `scripts/crashloop` runs 1,000.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{count, note_ids, Rng, Store};

/// Outcome of one `gapmap add` that may be killed.
enum Outcome {
    /// It finished and printed the note id: the edit is acknowledged.
    Acked(String),
    /// Killed before it said anything.
    Killed,
}

/// Runs `gapmap add` and kills it with SIGKILL after `delay` unless it
/// finished first.
fn add_and_kill(s: &Store, text: &str, delay: Duration) -> Outcome {
    let mut child = s
        .command(&["add", "now", text])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gapmap");
    let deadline = Instant::now() + delay;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(
                status.success(),
                "gapmap add failed after an earlier kill: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Outcome::Acked(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        if Instant::now() >= deadline {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let out = child.wait_with_output().unwrap();
            // It may have finished between try_wait and kill.
            if out.status.success() {
                return Outcome::Acked(String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
            return Outcome::Killed;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// How long one undisturbed `gapmap add` takes here.
fn typical_add(s: &Store) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|i| {
            let t = Instant::now();
            s.ok(&["add", "now", &format!("warm-up {i}")]);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

#[test]
fn kill_9_during_start_up_and_writes_loses_no_acknowledged_edit() {
    let s = Store::new("crash");
    s.ok(&["new", "Crash loop"]);
    let typical = typical_add(&s);
    let mut rng = Rng::new("crash loop");
    let mut acked = BTreeSet::new();
    let (mut startup_kills, mut write_kills) = (0, 0);
    let n = count("GAPMAP_CRASH_ITERS", 200);
    let mut i = 0;
    // Phase 1: kills in the first milliseconds, while sled opens.
    while startup_kills < n {
        let delay = Duration::from_micros(rng.below(typical.as_micros() as u64 / 3 + 1));
        match add_and_kill(&s, &format!("startup {i}"), delay) {
            Outcome::Acked(id) => drop(acked.insert(id)),
            Outcome::Killed => startup_kills += 1,
        }
        i += 1;
    }
    // Phase 2: kills later in the command, while it writes and flushes.
    while write_kills < n {
        let span = typical.as_micros() as u64;
        let delay = Duration::from_micros(span / 3 + rng.below(span));
        match add_and_kill(&s, &format!("write {i}"), delay) {
            Outcome::Acked(id) => drop(acked.insert(id)),
            Outcome::Killed => write_kills += 1,
        }
        i += 1;
        assert!(
            i < 20 * n,
            "could not kill gapmap mid-write: every add finished first"
        );
    }
    eprintln!(
        "{i} runs: {startup_kills} kills at start-up, {write_kills} during writes, {} acknowledged",
        acked.len()
    );
    let present: BTreeSet<String> = note_ids(&s.show()).into_iter().collect();
    let lost: Vec<_> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged notes lost: {lost:?}");
    let doctor = s.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
}
