//! Automerge file import on damaged and arbitrary bytes — the proptest
//! equivalent of the `canvas_load` fuzz target (`fuzz/`, `scripts/fuzz`)
//! that runs on every CI run: `Canvas::load` never panics, and whatever it
//! accepts can be read and rendered. Seeds are the canvases the fuzzer
//! starts from (`fuzz/seeds/canvas_load`); inputs the fuzzer once crashed on
//! (`fuzz/regressions/canvas_load-*`) are replayed on every run.

use gapmap_canvas::{render, Canvas, DocId};
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/canvas_load");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("fuzz/seeds/canvas_load")
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3);
    seeds
}

fn exercise(bytes: &[u8]) {
    if let Ok(canvas) = Canvas::load(bytes) {
        let id = DocId::from_bytes([7; 16]);
        let _ = render::to_json(&canvas, &id);
        let _ = render::to_markdown(&canvas, &id);
        let _ = canvas.notes();
        let _ = canvas.interviews();
        let _ = canvas.history();
    }
}

#[test]
fn inputs_the_fuzzer_once_crashed_on_are_refused_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz/regressions") {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("canvas_load-")
        {
            exercise(&std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 2, "no canvas_load inputs in {dir}");
}

#[test]
fn every_seed_loads() {
    for seed in seeds() {
        Canvas::load(&seed).expect("a seed canvas loads");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn damaged_canvas_files_never_panic(
        seed in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed.index(seeds.len())].clone();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        exercise(&bytes);
        exercise(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
        // With Automerge's magic bytes in front, the parser goes further.
        let mut magic = vec![0x85, 0x6f, 0x4a, 0x83];
        magic.extend_from_slice(&bytes);
        exercise(&magic);
    }
}
