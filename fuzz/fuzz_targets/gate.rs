//! The gate on the bytes a sync message's change entries make, split into
//! entries wherever the fuzzer likes and joined as Automerge joins them:
//! the gate's answer does not depend on where the entries are split, it
//! never panics, and what it accepts Automerge parses within what the
//! budget allowed (a bomb that slipped past the gate shows up as a timeout
//! or as libFuzzer's memory limit), applied to an empty document and to
//! one that is not, as a relay does.
//!
//! Input: one byte, then the data; the byte picks where the data is cut
//! into two entries (its value times the length, over 256).
#![no_main]

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use gapmap_guard::{check, check_joined, Budget};
use libfuzzer_sys::fuzz_target;

/// Small, so that each run stays fast: 256 bytes a byte, 1 to 16 MiB.
const BUDGET: Budget = Budget {
    per_input_byte: 256,
    floor: 1 << 20,
    max: 16 << 20,
};

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else { return };
    let at = data.len() * usize::from(cut) / 256;
    let entries = [&data[..at], &data[at..]];
    let joined = check(data, BUDGET);
    assert_eq!(check_joined(&entries, BUDGET), joined, "the split changed the answer");
    if joined.is_err() {
        return;
    }
    let _ = gapmap_guard::catch(|| automerge::Automerge::load(data));
    let mut base = AutoCommit::new();
    let _ = base.put(ROOT, "title", "Onboarding");
    base.commit();
    for mut doc in [automerge::Automerge::new(), base.document().clone()] {
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: entries.iter().map(|e| e.to_vec()).collect::<Vec<_>>().into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        let mut state = sync::State::new();
        let _ = gapmap_guard::catch(|| doc.receive_sync_message(&mut state, message));
    }
});
