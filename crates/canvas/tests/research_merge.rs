//! Convergence of the research maps: 2–3 forks of a canvas add interviews,
//! findings, questions, transcript lines, ratings, votes, comments, links
//! and rounds concurrently; after every fork merges every other, all
//! replicas agree and nothing anyone added is lost.

use std::collections::BTreeSet;

use gapmap_canvas::{render, Canvas, DocId, FindingTarget, InterviewId, LinkKind, NoteId, Section};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// A new interview with one of a few people.
    Interview { person: usize },
    /// A finding in a known interview about a shared note.
    Finding {
        interview: usize,
        note: usize,
        effect: usize,
        text: String,
    },
    /// A line in a known interview's transcript.
    Transcript { interview: usize, text: String },
    /// A question for a known interview.
    Ask { interview: usize, text: String },
    /// This fork's person rates the shared goal.
    Rate { importance: i64, satisfaction: i64 },
    /// This fork's person votes for a shared note (or takes it back).
    Vote { note: usize, on: bool },
    /// A comment on a shared note.
    Comment { note: usize, text: String },
    /// The shared design note addresses a shared note.
    Link { note: usize },
}

fn text() -> impl Strategy<Value = String> {
    "[a-zé👋]{1,6}( [a-z]{1,6}){0,3}"
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..4).prop_map(|person| Op::Interview { person }),
        (0usize..8, 0usize..3, 0usize..3, text()).prop_map(|(interview, note, effect, text)| {
            Op::Finding {
                interview,
                note,
                effect,
                text,
            }
        }),
        (0usize..8, text()).prop_map(|(interview, text)| Op::Transcript { interview, text }),
        (0usize..8, text()).prop_map(|(interview, text)| Op::Ask { interview, text }),
        (1i64..=10, 1i64..=10).prop_map(|(importance, satisfaction)| Op::Rate {
            importance,
            satisfaction
        }),
        (0usize..3, any::<bool>()).prop_map(|(note, on)| Op::Vote { note, on }),
        (0usize..3, text()).prop_map(|(note, text)| Op::Comment { note, text }),
        (0usize..3).prop_map(|note| Op::Link { note }),
    ]
}

/// What one fork added, to check nothing is lost.
#[derive(Default)]
struct Added {
    interviews: Vec<InterviewId>,
    findings: BTreeSet<String>,
    lines: Vec<(InterviewId, String)>,
    questions: Vec<(InterviewId, String)>,
    comments: BTreeSet<String>,
}

struct Fork {
    canvas: Canvas,
    person: String,
    interviews: Vec<InterviewId>,
    added: Added,
    /// The vote this fork's person last left on each shared note.
    votes: [Option<bool>; 3],
    rating: Option<(i64, i64)>,
}

fn apply(fork: &mut Fork, op: &Op, shared: &[NoteId], design: &NoteId, goal: &NoteId, t: i64) {
    let person = fork.person.clone();
    let c = &mut fork.canvas;
    match op {
        Op::Interview { person: p } => {
            let name = ["Maria Lopez", "Tom", "Zoë", "maria lopez"][*p];
            let id = c.add_interview(name, "user", None, &person, t).unwrap();
            fork.interviews.push(id.clone());
            fork.added.interviews.push(id);
        }
        Op::Finding {
            interview,
            note,
            effect,
            text,
        } => {
            let i = fork.interviews[interview % fork.interviews.len()].clone();
            let n = shared[*note].clone();
            let target = match effect {
                0 => FindingTarget::Supports(n),
                1 => FindingTarget::Contradicts(n),
                _ => FindingTarget::NewNote(Section::Pain),
            };
            let (id, _) = c.add_finding(&i, text, target, &person, t).unwrap();
            fork.added.findings.insert(id.to_string());
        }
        Op::Transcript { interview, text } => {
            let i = fork.interviews[interview % fork.interviews.len()].clone();
            c.append_transcript(&i, text, &person, t).unwrap();
            fork.added.lines.push((i, text.trim().to_string()));
        }
        Op::Ask { interview, text } => {
            let i = fork.interviews[interview % fork.interviews.len()].clone();
            c.ask(&i, text, t).unwrap();
            fork.added.questions.push((i, text.trim().to_string()));
        }
        Op::Rate {
            importance,
            satisfaction,
        } => {
            c.rate(goal, &person, Some(*importance), Some(*satisfaction), t)
                .unwrap();
            fork.rating = Some((*importance, *satisfaction));
        }
        Op::Vote { note, on } => {
            if *on {
                c.vote(&shared[*note], &person, t).unwrap();
            } else {
                c.unvote(&shared[*note], &person, t).unwrap();
            }
            fork.votes[*note] = Some(*on);
        }
        Op::Comment { note, text } => {
            let id = c.add_comment(&shared[*note], text, &person, t).unwrap();
            fork.added.comments.insert(id);
        }
        // A design addresses the GAP: the constraint or the catalyst.
        Op::Link { note } => c
            .link(design, LinkKind::Addresses, &shared[1 + *note % 2], t)
            .unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn research_forks_converge_and_keep_everything(
        forks in prop::collection::vec(prop::collection::vec(op(), 0..12), 2..=3),
    ) {
        let mut base = Canvas::create("Research merge", "base", T0).unwrap();
        let shared: Vec<NoteId> = [Section::Now, Section::Constraint, Section::Catalyst]
            .iter()
            .map(|s| base.add_note(*s, "shared", &[], "base", T0).unwrap())
            .collect();
        let design = base.add_note(Section::Design, "design", &[], "base", T0).unwrap();
        let goal = base.add_note(Section::Goal, "goal", &[], "base", T0).unwrap();
        let common = base.add_interview("Common", "user", None, "base", T0).unwrap();

        let mut state: Vec<Fork> = forks
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let mut canvas = base.fork();
                canvas.set_actor(&[i as u8 + 1; 16]);
                Fork {
                    canvas,
                    person: format!("p{i}"),
                    interviews: vec![common.clone()],
                    added: Added::default(),
                    votes: [None; 3],
                    rating: None,
                }
            })
            .collect();
        for (fork, ops) in state.iter_mut().zip(&forks) {
            for (t, op) in ops.iter().enumerate() {
                apply(fork, op, &shared, &design, &goal, T0 + 1 + t as i64);
            }
        }
        // Everyone starts a round offline, with one label.
        for fork in state.iter_mut() {
            fork.canvas.start_round("r2", &[], &fork.person, T0 + 100).unwrap();
        }

        let n = state.len();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (a, b) = if i < j {
                        let (l, r) = state.split_at_mut(j);
                        (&mut l[i], &mut r[0])
                    } else {
                        let (l, r) = state.split_at_mut(i);
                        (&mut r[0], &mut l[j])
                    };
                    a.canvas.merge(&mut b.canvas).unwrap();
                }
            }
        }

        let id = DocId::from_bytes([9; 16]);
        let exports: Vec<_> = state.iter().map(|f| render::to_export_json(&f.canvas, &id)).collect();
        for e in &exports[1..] {
            prop_assert_eq!(e, &exports[0]);
        }
        let merged = &state[0].canvas;
        prop_assert_eq!(merged.interviews(), state[n - 1].canvas.interviews());

        let interviews = merged.interviews();
        let findings: BTreeSet<String> = merged.findings().iter().map(|f| f.id.to_string()).collect();
        for fork in &state {
            for i in &fork.added.interviews {
                prop_assert!(interviews.iter().any(|m| &m.id == i), "interview {} lost", i);
            }
            for f in &fork.added.findings {
                prop_assert!(findings.contains(f), "finding {} lost", f);
            }
            for (i, line) in &fork.added.lines {
                let transcript = &merged.interview(i).unwrap().transcript;
                let whole = format!("] {line}\n");
                prop_assert!(transcript.contains(&whole), "line {:?} lost or torn in {:?}", line, transcript);
            }
            for (i, q) in &fork.added.questions {
                prop_assert!(merged.interview(i).unwrap().questions.contains(q), "question {:?} lost", q);
            }
            let all_comments: BTreeSet<String> = shared
                .iter()
                .flat_map(|n| merged.note(n).unwrap().comments.into_iter().map(|c| c.id))
                .collect();
            for c in &fork.added.comments {
                prop_assert!(all_comments.contains(c), "comment {} lost", c);
            }
            // Each person votes and rates only on their own fork: their last
            // word stands.
            for (k, vote) in fork.votes.iter().enumerate() {
                if let Some(on) = vote {
                    let votes = merged.note(&shared[k]).unwrap().votes;
                    prop_assert_eq!(votes.contains(&fork.person), *on);
                }
            }
            let ratings = merged.note(&goal).unwrap().ratings;
            match fork.rating {
                Some((i, s)) => {
                    let r = ratings[&fork.person];
                    prop_assert_eq!((r.importance, r.satisfaction), (Some(i), Some(s)));
                }
                None => prop_assert!(!ratings.contains_key(&fork.person)),
            }
        }
        // Concurrent rounds with one label both survive; the label names the
        // earliest, so every replica reads the same round.
        let rounds = merged.rounds();
        prop_assert_eq!(rounds.len(), n);
        prop_assert_eq!(merged.round("r2").unwrap(), rounds[0].clone());
        // The outcome score averages everyone who rated.
        let rated: Vec<(i64, i64)> = state.iter().filter_map(|f| f.rating).collect();
        let score = merged.outcomes().into_iter().find(|o| o.note.id == goal).unwrap();
        prop_assert_eq!(score.raters, rated.len());
        if !rated.is_empty() {
            let mean = rated.iter().map(|r| r.0 as f64).sum::<f64>() / rated.len() as f64;
            prop_assert!((score.importance.unwrap() - mean).abs() < 1e-9);
        }
    }
}
