//! Two note-takers and two researchers working on one interview at once:
//! transcript lines appended concurrently are all kept, each whole and in
//! its writer's order; links added to one finding concurrently all count;
//! every replica agrees on the evidence after merging.

use gapmap_canvas::{Canvas, Effect, EvidenceFilter, NewFinding, NoteId, Scope, Section};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

fn line() -> impl Strategy<Value = String> {
    "[a-zé👋]{1,6}( [a-z]{1,6}){0,3}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_transcripts_and_links_merge(
        a_lines in prop::collection::vec(line(), 0..6),
        b_lines in prop::collection::vec(line(), 0..6),
        a_links in prop::collection::vec((0usize..4, any::<bool>()), 0..4),
        b_links in prop::collection::vec((0usize..4, any::<bool>()), 0..4),
    ) {
        let mut a = Canvas::create("Merge", "ana", T0).unwrap();
        let notes: Vec<NoteId> = (0..4)
            .map(|n| a.add_note(Section::Now, &format!("note {n}"), &[], "ana", T0).unwrap())
            .collect();
        let i = a.add_interview("Maria", "user", None, "ana", T0).unwrap();
        let (f, _) = a.record_finding(&i, &NewFinding::quote("shared quote"), "ana", T0).unwrap();
        let mut b = a.fork();
        b.set_actor(&[0xbb; 16]);
        let apply = |c: &mut Canvas, who: &str, lines: &[String], links: &[(usize, bool)]| {
            for (k, l) in lines.iter().enumerate() {
                c.append_transcript(&i, l, who, T0 + k as i64).unwrap();
            }
            for (n, supports) in links {
                let effect = if *supports { Effect::Supports } else { Effect::Contradicts };
                c.link_finding(&f, &notes[*n], effect, T0).unwrap();
            }
        };
        apply(&mut a, "ana", &a_lines, &a_links);
        apply(&mut b, "bo", &b_lines, &b_links);
        let mut a2 = a.fork();
        a.merge(&mut b).unwrap();
        b.merge(&mut a2).unwrap();

        let ta = a.interview(&i).unwrap().transcript;
        prop_assert_eq!(&ta, &b.interview(&i).unwrap().transcript);
        let lines: Vec<&str> = ta.lines().collect();
        prop_assert_eq!(lines.len(), a_lines.len() + b_lines.len());
        for (who, mine) in [("ana", &a_lines), ("bo", &b_lines)] {
            let got: Vec<&str> = lines
                .iter()
                .filter(|l| l.contains(&format!(" {who}] ")))
                .map(|l| l.split_once("] ").unwrap().1)
                .collect();
            let want: Vec<&str> = mine.iter().map(|s| s.as_str()).collect();
            prop_assert_eq!(got, want, "{}'s lines, whole and in order", who);
        }

        let report = |c: &Canvas| c.evidence_report(EvidenceFilter::All, &Scope::all());
        prop_assert_eq!(report(&a), report(&b));
        // Every note either side linked is linked after the merge.
        let finding = a.findings().into_iter().find(|x| x.id == f).unwrap();
        for (n, _) in a_links.iter().chain(&b_links) {
            prop_assert!(finding.effect_on(&notes[*n]).is_some());
        }
        let linked: usize = report(&a).iter().map(|r| r.supports + r.contradicts).sum();
        prop_assert_eq!(linked, finding.links.len());
    }
}
