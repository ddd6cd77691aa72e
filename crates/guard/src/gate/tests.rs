use std::io::Write as _;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};

use super::*;

fn uleb_bytes(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb_bytes(mut n: i64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut c = MAGIC.to_vec();
    c.extend([0, 0, 0, 0, kind]);
    uleb_bytes(body.len() as u64, &mut c);
    c.extend_from_slice(body);
    c
}

/// A document chunk with no actors, heads or change columns, and these
/// op columns.
fn document_chunk(ops: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0, 0, 0];
    uleb_bytes(ops.len() as u64, &mut body);
    for (spec, data) in ops {
        uleb_bytes(u64::from(*spec), &mut body);
        uleb_bytes(data.len() as u64, &mut body);
    }
    for (_, data) in ops {
        body.extend_from_slice(data);
    }
    chunk(DOCUMENT, &body)
}

/// A change chunk body with these op columns.
fn change_body(ops: &[(u32, Vec<u8>)]) -> Vec<u8> {
    // no deps, a 1-byte actor, seq 1, start op 1, time 0, no message, no
    // other actors
    let mut body = vec![0, 1, 0xaa, 1, 1, 0, 0, 0];
    uleb_bytes(ops.len() as u64, &mut body);
    for (spec, data) in ops {
        uleb_bytes(u64::from(*spec), &mut body);
        uleb_bytes(data.len() as u64, &mut body);
    }
    for (_, data) in ops {
        body.extend_from_slice(data);
    }
    body
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `len` zeros, deflated (without holding them all).
fn deflated_zeros(len: u64) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        e.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    e.finish().unwrap()
}

/// A run of `n` copies of `value` in an unsigned RLE column.
fn run(n: i64, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    sleb_bytes(n, &mut out);
    uleb_bytes(value, &mut out);
    out
}

const ACTOR_COL: u32 = 1; // column 0, type actor
const RAW_COL: u32 = (9 << 4) | 7; // a value column
const DEFLATED: u32 = DEFLATE;

/// A canvas-like document with enough text that `save` deflates columns.
fn honest_doc() -> AutoCommit {
    let mut doc = AutoCommit::new();
    let notes = doc.put_object(ROOT, "notes", ObjType::Map).unwrap();
    for i in 0..40 {
        let note = doc
            .put_object(&notes, format!("note{i}"), ObjType::Map)
            .unwrap();
        let text = doc.put_object(&note, "text", ObjType::Text).unwrap();
        doc.splice_text(
            &text,
            0,
            0,
            &format!("Customers abandon onboarding at step {i} because the form asks too much"),
        )
        .unwrap();
        doc.put(&note, "section", "now").unwrap();
        doc.commit();
    }
    // One change big enough for Automerge to compress it.
    let transcript = doc.put_object(ROOT, "transcript", ObjType::Text).unwrap();
    let line = "Interviewer: what did you do next? Customer: I gave up and called support. ";
    doc.splice_text(&transcript, 0, 0, &line.repeat(20))
        .unwrap();
    doc.commit();
    doc
}

#[test]
fn honest_documents_changes_and_compressed_changes_pass() {
    let mut doc = honest_doc();
    let incremental = doc.save_incremental();
    let saved = doc.save();
    let cost = check(&saved, Budget::DEFAULT).unwrap();
    assert_eq!(cost.chunks, 1);
    assert!(cost.inflated > 0, "save() deflates big columns: {cost:?}");
    assert!(cost.rows > 1000, "{cost:?}");
    // The document loads as the gate read it.
    AutoCommit::load(&saved).unwrap();

    let cost = check(&incremental, Budget::DEFAULT).unwrap();
    assert!(cost.chunks >= 1, "{cost:?}");
    let compressed: Vec<Vec<u8>> = doc
        .document()
        .get_changes(&[])
        .into_iter()
        .map(|c| c.clone().bytes().into_owned())
        .collect();
    assert!(compressed.iter().any(|c| c[8] == COMPRESSED));
    let cost = check_joined(&compressed, Budget::DEFAULT).unwrap();
    assert!(cost.inflated > 0);
    // Snapshot plus changes, as the store keeps them.
    check(&[saved, incremental].concat(), Budget::DEFAULT).unwrap();
}

#[test]
fn honest_data_split_at_every_offset_reads_the_same() {
    let mut doc = honest_doc();
    let incremental = doc.save_incremental();
    let whole = [doc.save(), incremental].concat();
    let expected = check(&whole, Budget::DEFAULT).unwrap();
    for at in 0..=whole.len() {
        let parts = [&whole[..at], &whole[at..]];
        assert_eq!(
            check_joined(&parts, Budget::DEFAULT),
            Ok(expected),
            "split at {at}"
        );
    }
}

#[test]
fn a_bundle_split_over_entries_is_refused_at_every_offset() {
    let regression = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/canvas_load-timeout-babf1ce7.bin"
    );
    let bundle = std::fs::read(regression).unwrap();
    assert_eq!(bundle.len(), 31);
    for at in 0..=bundle.len() {
        let parts = [&bundle[..at], &bundle[at..]];
        assert_eq!(check_joined(&parts, Budget::DEFAULT), Err(Refusal::Bundle));
    }
    // After honest chunks too.
    let honest = honest_doc().save();
    assert_eq!(
        check_joined(&[honest, bundle], Budget::DEFAULT),
        Err(Refusal::Bundle)
    );
}

#[test]
fn a_document_chunk_deflate_bomb_is_refused_at_the_budget() {
    // ~1 MiB sent, 1 GiB of zeros inflated.
    let bomb = document_chunk(&[(RAW_COL | DEFLATED, deflated_zeros(1 << 30))]);
    assert!(bomb.len() < (1100 << 10), "{} bytes", bomb.len());
    let err = check(&bomb, Budget::DEFAULT).unwrap_err();
    assert_eq!(
        err,
        Refusal::OverBudget {
            budget: Budget::DEFAULT.for_len(bomb.len()),
            input: bomb.len() as u64
        }
    );
    assert!(err.to_string().contains("MiB"), "{err}");
}

#[test]
fn the_budget_is_exact_at_its_boundary() {
    let budget = Budget {
        per_input_byte: 1,
        floor: 100_000 * INFLATED_COST,
        max: 100_000 * INFLATED_COST,
    };
    // A raw column has no rows: its inflated bytes are the whole cost.
    let at = |len: usize| document_chunk(&[(RAW_COL | DEFLATED, deflate(&vec![7; len]))]);
    assert_eq!(check(&at(100_000), budget).unwrap().inflated, 100_000);
    assert!(matches!(
        check(&at(100_001), budget),
        Err(Refusal::OverBudget {
            budget: 300_000,
            ..
        })
    ));
    // Two columns share one budget, and so do two chunks.
    let half = deflate(&[7; 50_001]);
    let two = document_chunk(&[
        (RAW_COL | DEFLATED, half.clone()),
        ((10 << 4) | 7 | DEFLATED, half),
    ]);
    assert!(check(&two, budget).is_err());
    assert!(check(&[at(50_000), at(50_000)].concat(), budget).is_ok());
    assert!(check(&[at(50_000), at(50_001)].concat(), budget).is_err());
}

#[test]
fn a_compressed_change_bomb_is_refused_whole_or_split() {
    let mut body = change_body(&[(RAW_COL, vec![0; 1 << 16])]);
    body.resize(1 << 28, 0); // extra bytes: 256 MiB inflated
    let bomb = chunk(COMPRESSED, &deflate(&body));
    drop(body);
    assert!(bomb.len() < 300 << 10, "{} bytes", bomb.len());
    assert!(matches!(
        check(&bomb, Budget::DEFAULT),
        Err(Refusal::OverBudget { .. })
    ));
    for at in [1, 5, 9, 10, bomb.len() / 2, bomb.len() - 1] {
        let parts = [&bomb[..at], &bomb[at..]];
        assert!(matches!(
            check_joined(&parts, Budget::DEFAULT),
            Err(Refusal::OverBudget { .. })
        ));
    }
    // A small one passes, and so does one that does not inflate at all
    // (Automerge's to refuse? No: nothing the gate cannot read passes).
    let small = chunk(
        COMPRESSED,
        &deflate(&change_body(&[(RAW_COL, vec![1; 300])])),
    );
    assert_eq!(check(&small, Budget::DEFAULT).unwrap().inflated, 313);
    assert!(matches!(
        check(&chunk(COMPRESSED, b"not deflate"), Budget::DEFAULT),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn row_bombs_are_refused_in_every_column_kind() {
    let rows_past = (Budget::DEFAULT.floor / ROW_COST + 1) as i64;
    let bombs: Vec<(&str, u32, Vec<u8>)> = vec![
        ("actor run", ACTOR_COL, run(rows_past, 0)),
        ("integer run", 2, run(rows_past, 3)),
        ("delta run", 3, {
            let mut d = Vec::new();
            sleb_bytes(rows_past, &mut d);
            sleb_bytes(1, &mut d);
            d
        }),
        ("boolean run", 4, {
            let mut d = Vec::new();
            uleb_bytes(rows_past as u64, &mut d);
            d
        }),
        ("string run", 5, {
            let mut d = Vec::new();
            sleb_bytes(rows_past, &mut d);
            d.extend([1, b'x']);
            d
        }),
        ("null run", 6, {
            let mut d = vec![0];
            uleb_bytes(rows_past as u64, &mut d);
            d
        }),
        ("group counts", 0, run(1, rows_past as u64)),
        ("2^62 rows", ACTOR_COL, run(1 << 62, 0)),
    ];
    for (what, spec, data) in bombs {
        assert!(data.len() < 16, "{what}");
        let change = chunk(CHANGE, &change_body(&[(spec, data.clone())]));
        assert!(
            matches!(
                check(&change, Budget::DEFAULT),
                Err(Refusal::OverBudget { .. })
            ),
            "{what} in a change"
        );
        let doc = document_chunk(&[(spec, data.clone())]);
        assert!(
            matches!(
                check(&doc, Budget::DEFAULT),
                Err(Refusal::OverBudget { .. })
            ),
            "{what} in a document"
        );
        let deflated = document_chunk(&[(spec | DEFLATED, deflate(&data))]);
        assert!(
            matches!(
                check(&deflated, Budget::DEFAULT),
                Err(Refusal::OverBudget { .. })
            ),
            "{what} deflated"
        );
        let compressed = chunk(COMPRESSED, &deflate(&change_body(&[(spec, data)])));
        assert!(
            matches!(
                check(&compressed, Budget::DEFAULT),
                Err(Refusal::OverBudget { .. })
            ),
            "{what} in a compressed change"
        );
    }
}

#[test]
fn rows_are_counted_as_automerge_declares_them() {
    let rows = |spec, data: &[u8]| runs::rows(spec, data).unwrap();
    assert_eq!(rows(ACTOR_COL, &run(5, 1)), 5);
    // Literals: -3 then three values.
    assert_eq!(rows(ACTOR_COL, &[0x7d, 1, 2, 3]), 3);
    // Nulls: 0 then a count.
    assert_eq!(rows(ACTOR_COL, &[0, 4]), 4);
    assert_eq!(rows(4, &[2, 3, 1]), 6);
    // A group of 2 rows of 3 each declares 6 rows in what it groups.
    assert_eq!(rows(0, &run(2, 3)), 6);
    assert_eq!(rows(0, &run(5, 0)), 5);
    assert_eq!(rows(RAW_COL, &[1, 2, 3]), 0);
    // Literals that run out, and values cut short, are malformed.
    assert!(runs::rows(ACTOR_COL, &[0x7d, 1]).is_err());
    assert!(runs::rows(ACTOR_COL, &[5]).is_err());
    assert!(runs::rows(5, &[1, 9, b'x']).is_err());
}

#[test]
fn what_the_gate_cannot_read_is_refused() {
    let malformed =
        |data: &[u8]| matches!(check(data, Budget::DEFAULT), Err(Refusal::Malformed(_)));
    assert!(malformed(b"not automerge at all"));
    assert!(malformed(&chunk(9, b"x")));
    assert!(malformed(
        &[
            MAGIC.as_slice(),
            &[0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        ]
        .concat()
    ));
    // A deflated column in a change chunk (Automerge refuses it too).
    assert!(malformed(&chunk(
        CHANGE,
        &change_body(&[(RAW_COL | DEFLATED, deflate(b"x"))])
    )));
    // Honest data cut anywhere but between chunks.
    let mut doc = honest_doc();
    let incremental = doc.save_incremental();
    let saved = doc.save();
    for data in [saved, incremental] {
        for at in 1..data.len() {
            let cut = &data[..at];
            if let Err(e) = check(cut, Budget::DEFAULT) {
                assert!(matches!(e, Refusal::Malformed(_)), "cut at {at}: {e}");
            }
        }
    }
    assert_eq!(check(b"", Budget::DEFAULT), Ok(Cost::default()));
}

#[test]
fn the_budget_follows_the_input() {
    let b = Budget::DEFAULT;
    assert_eq!(b.for_len(0), 64 << 20);
    assert_eq!(b.for_len(100 << 10), 64 << 20);
    assert_eq!(b.for_len(512 << 10), 128 << 20);
    assert_eq!(b.for_len(1 << 20), 256 << 20);
    assert_eq!(b.for_len(8 << 20), 256 << 20);
    assert_eq!(b.for_len(usize::MAX), 256 << 20);
}

/// The fuzz target `gate` (fuzz/fuzz_targets/gate.rs) on one input: the
/// answer does not depend on the split.
fn gate_target(input: &[u8]) {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let at = data.len() * usize::from(cut) / 256;
    let small = Budget {
        per_input_byte: 256,
        floor: 1 << 20,
        max: 16 << 20,
    };
    assert_eq!(
        check_joined(&[&data[..at], &data[at..]], small),
        check(data, small),
        "split at {at}"
    );
}

#[test]
fn inputs_of_the_gate_fuzz_target_replay() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
    let mut seen = 0;
    for sub in ["regressions", "seeds/gate"] {
        for entry in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if sub == "seeds/gate" || name.starts_with("gate-") {
                let input = std::fs::read(&path).unwrap();
                gate_target(&input);
                // Every bomb among them is refused, whole.
                if name.contains("bundle")
                    || name.contains("compressed")
                    || name.contains("rows")
                    || name.contains("deflate")
                {
                    assert!(check(&input[1..], Budget::DEFAULT).is_err(), "{name}");
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "{seen}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// The gate fuzz target's proptest equivalent: honest data damaged and
    /// cut anywhere, split anywhere: the same answer, never a panic; and
    /// Automerge, given what the gate accepts, does not panic past catch.
    #[test]
    fn the_gate_answers_alike_however_the_entries_are_split(
        flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..4),
        cut in proptest::prelude::any::<u8>(),
        end in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        static HONEST: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let honest = HONEST.get_or_init(|| {
            let mut doc = honest_doc();
            let incremental = doc.save_incremental();
            [doc.save(), incremental].concat()
        });
        let mut data = honest.clone();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        data.truncate(end.index(data.len() + 1));
        let mut input = vec![cut];
        input.extend_from_slice(&data);
        gate_target(&input);
        if check(&data, Budget::DEFAULT).is_ok() {
            let _ = crate::catch(|| automerge::Automerge::load(&data));
        }
    }
}
