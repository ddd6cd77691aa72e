//! Interview guides generated from the canvas: an exploratory, non-leading
//! question for each hypothesis in the sections a round is about, and the
//! forces-of-progress checklist.
//!
//! The questions never read a hypothesis out — that would lead the
//! interviewee. Each one asks about the customer's own recent experience in
//! the area of its section; the hypothesis is shown next to it as what to
//! listen for.

use crate::evidence::Suggestion;
use crate::note::Note;
use crate::section::Section;
use crate::status::Status;
use crate::Canvas;

/// Distinct interviewees the guide takes as enough to decide, as `gapmap
/// review` does by default.
pub const REVIEW_MIN: usize = 2;

/// The sections of the first, exploratory round: the NOW and what it tells
/// about the TO BE (with the frameworks that describe them).
pub const EXPLORE: [Section; 17] = [
    Section::Now,
    Section::ToBe,
    Section::Push,
    Section::Pull,
    Section::Goal,
    Section::Job,
    Section::Pain,
    Section::Gain,
    Section::Define,
    Section::Locate,
    Section::Prepare,
    Section::Confirm,
    Section::Execute,
    Section::Monitor,
    Section::Modify,
    Section::Conclude,
    Section::Hazard,
];

/// The sections of the GAP round: what stops the customer and what would
/// make progress smooth (with the forces that hold them back).
pub const GAP: [Section; 5] = [
    Section::Constraint,
    Section::Catalyst,
    Section::Anxiety,
    Section::Inertia,
    Section::Problem,
];

/// Open questions per section, used in turn for its hypotheses.
fn templates(section: Section) -> &'static [&'static str] {
    match section {
        Section::Now => &[
            "Walk me through the last time you did this. What happened, step by step?",
            "How do you handle this today? Tell me about a recent example.",
            "What did that part of your week look like last time? Who else was involved?",
        ],
        Section::ToBe => &[
            "If this went perfectly, what would be different for you?",
            "What would you like to be able to do that you can't do today?",
            "How would you know that things had got better?",
        ],
        Section::Constraint => &[
            "What stopped you the last time you tried to change how you do this?",
            "What got in the way? Tell me about a time it did.",
            "What would have to be true for you to do it differently?",
        ],
        Section::Catalyst => &[
            "What made it easier the last time it went well?",
            "Who or what helped you move forward? How?",
            "When did it go better than usual, and why?",
        ],
        Section::Design => &[
            "How do you solve this today, and what would you give up to solve it better?",
            "What would a better way have to do for you to switch to it?",
        ],
        Section::Push => &[
            "What happened that made you start looking for something better?",
            "When did this stop being something you could live with?",
        ],
        Section::Pull => &[
            "What did you picture a better way letting you do?",
            "What caught your attention in the alternatives you looked at?",
        ],
        Section::Anxiety => &[
            "What worried you when you thought about changing how you do this?",
            "What could go wrong with a new way of doing it?",
        ],
        Section::Inertia => &[
            "What keeps you doing it the way you do it today?",
            "What would you miss about the way you do it now?",
        ],
        Section::Goal => {
            &["What are you trying to achieve when you do this? How do you tell it went well?"]
        }
        Section::Hazard => &["What do you try hardest to avoid when you do this? Has it happened?"],
        Section::Problem => {
            &["What went wrong unexpectedly the last time? What did you do about it?"]
        }
        Section::Job => &["What are you trying to get done, in your own words?"],
        Section::Pain => &["What is the most frustrating part? When did it last happen?"],
        Section::Gain => &["What would make this worth your while? What would surprise you?"],
        Section::Define => &["How do you decide what this needs before you start?"],
        Section::Locate => {
            &["What do you need to gather before you start, and where do you find it?"]
        }
        Section::Prepare => &["How do you get ready? Walk me through what you set up."],
        Section::Confirm => &["How do you check that everything is ready before you go ahead?"],
        Section::Execute => {
            &["Walk me through doing it the last time. What went smoothly, what did not?"]
        }
        Section::Monitor => &["How do you know it went well? What do you look at?"],
        Section::Modify => &["When something needs adjusting, how do you decide what to change?"],
        Section::Conclude => &["How do you wrap it up, or get ready to do it again?"],
    }
}

/// The forces-of-progress checklist (domain: job-map-and-forces), as
/// (what to find out, the question to ask).
pub const FORCES_CHECKLIST: [(&str, &str); 7] = [
    (
        "truly struggling or merely inconvenienced?",
        "How much does this cost you today, in time, money or worry? What happens if you do nothing?",
    ),
    (
        "what they tried before, and what they liked and disliked",
        "What have you tried before? What did you like about it, and what didn't you like?",
    ),
    (
        "what they see as competitors",
        "What else did you consider, including doing it by hand, a spreadsheet or asking someone?",
    ),
    (
        "push: the struggle of the current situation",
        "What was going on when you first thought there must be a better way?",
    ),
    (
        "pull: the attraction of a new way",
        "What would a new way have to let you do to be worth it?",
    ),
    (
        "anxiety: worries about the new",
        "What would make you hesitate before switching?",
    ),
    (
        "inertia: habits of the present",
        "What do you like about how you do it today?",
    ),
];

/// One question of a guide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuideItem {
    /// What to ask.
    pub question: String,
    /// The section it explores, if it comes from one.
    pub section: Option<Section>,
    /// The hypothesis to listen for (not to read out).
    pub note: Option<Note>,
    /// For checklist items, what to find out.
    pub purpose: Option<&'static str>,
}

/// An interview guide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guide {
    /// The sections it is about.
    pub focus: Vec<Section>,
    /// An opening question about the job's situation, when there is one.
    pub opening: Option<GuideItem>,
    /// One question per hypothesis in the focus sections, in canvas order.
    pub questions: Vec<GuideItem>,
    /// The forces-of-progress checklist.
    pub checklist: Vec<GuideItem>,
}

impl Guide {
    /// Every question in the order to ask them, without repeats.
    pub fn all_questions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in self
            .opening
            .iter()
            .chain(&self.questions)
            .chain(&self.checklist)
        {
            if !out.contains(&item.question) {
                out.push(item.question.clone());
            }
        }
        out
    }
}

impl Canvas {
    /// The sections the current round is about: the focus recorded with
    /// the last round, else — judging by the canvas — the GAP when it has
    /// constraints or catalysts, the exploratory sections otherwise.
    pub fn current_focus(&self) -> Vec<Section> {
        if let Some(round) = self.last_round().filter(|r| !r.focus.is_empty()) {
            return round.focus;
        }
        let has_gap = GAP[..2].iter().any(|s| !self.section_notes(*s).is_empty());
        let mut focus = if has_gap {
            GAP.to_vec()
        } else {
            EXPLORE.to_vec()
        };
        focus.sort();
        focus
    }

    /// A question guide for the hypotheses of `focus` (empty: the
    /// [current focus](Canvas::current_focus)).
    pub fn guide(&self, focus: &[Section]) -> Guide {
        let mut focus = if focus.is_empty() {
            self.current_focus()
        } else {
            focus.to_vec()
        };
        focus.sort();
        focus.dedup();
        let mut questions = Vec::new();
        for section in &focus {
            let options = templates(*section);
            let hypotheses = self
                .section_notes(*section)
                .into_iter()
                .filter(|n| n.status == Status::Hypothesis);
            for (i, note) in hypotheses.enumerate() {
                questions.push(GuideItem {
                    question: options[i % options.len()].to_string(),
                    section: Some(*section),
                    note: Some(note),
                    purpose: None,
                });
            }
        }
        // What review left thin or mixed needs asking again, even when the
        // round's focus has moved on (docs/research-workflow.md).
        let open: Vec<Note> = self
            .review(REVIEW_MIN)
            .into_iter()
            .filter(|i| matches!(i.suggestion, Suggestion::Thin | Suggestion::Mixed))
            .filter(|i| !focus.contains(&i.note.section))
            .map(|i| i.note)
            .collect();
        for section in Section::ALL {
            let options = templates(section);
            for (i, note) in open.iter().filter(|n| n.section == section).enumerate() {
                questions.push(GuideItem {
                    question: options[i % options.len()].to_string(),
                    section: Some(section),
                    note: Some(note.clone()),
                    purpose: Some("review left it thin or mixed: ask again"),
                });
            }
        }
        let situation = self.job().situation;
        let situation = situation.trim().trim_end_matches('.');
        let opening = (!situation.is_empty()).then(|| GuideItem {
            question: format!(
                "Think of the last time you were in this situation: \u{201c}{situation}\u{201d}. Tell me about it from the beginning."
            ),
            section: None,
            note: None,
            purpose: Some("the job's situation, in their own words"),
        });
        let checklist = FORCES_CHECKLIST
            .iter()
            .map(|(purpose, question)| GuideItem {
                question: question.to_string(),
                section: None,
                note: None,
                purpose: Some(purpose),
            })
            .collect();
        Guide {
            focus,
            opening,
            questions,
            checklist,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn thin_or_mixed_hypotheses_come_back_outside_the_focus() {
        let mut c = Canvas::create("Guide", "ana", T0).unwrap();
        let thin = c
            .add_note(Section::Now, "Chases invoices", &[], "ana", T0)
            .unwrap();
        let quiet = c
            .add_note(Section::Now, "Uses a spreadsheet", &[], "ana", T0)
            .unwrap();
        let mixed = c
            .add_note(Section::Pull, "Wants a portal", &[], "ana", T0)
            .unwrap();
        c.add_note(Section::Constraint, "Fears nagging", &[], "ana", T0)
            .unwrap();
        let a = c.add_interview("A", "user", None, "ana", T0).unwrap();
        let b = c.add_interview("B", "user", None, "ana", T0).unwrap();
        use crate::FindingTarget as T;
        c.add_finding(&a, "x", T::Supports(thin.clone()), "ana", T0)
            .unwrap();
        c.add_finding(&a, "y", T::Supports(mixed.clone()), "ana", T0)
            .unwrap();
        c.add_finding(&b, "z", T::Contradicts(mixed.clone()), "ana", T0)
            .unwrap();
        let guide = c.guide(&[Section::Constraint]);
        let about: Vec<_> = guide
            .questions
            .iter()
            .filter_map(|q| q.note.as_ref().map(|n| n.id.clone()))
            .collect();
        assert_eq!(about.len(), 3, "{about:?}");
        assert!(about.contains(&thin) && about.contains(&mixed));
        assert!(
            !about.contains(&quiet),
            "untested notes outside the focus wait for their round"
        );
    }

    #[test]
    fn every_section_has_open_questions() {
        for section in Section::ALL {
            let t = templates(section);
            assert!(!t.is_empty(), "{section}");
            for q in t {
                assert!(q.ends_with('?') || q.ends_with('.'), "{q}");
                // Non-leading: no "don't you", "wouldn't you", "isn't it".
                for leading in ["n't you", "isn't it", "Would you agree", "Do you agree"] {
                    assert!(!q.contains(leading), "{q}");
                }
            }
        }
        let mut seen: Vec<&str> = EXPLORE.iter().chain(&GAP).map(|s| s.id()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            EXPLORE.len() + GAP.len(),
            "the phases do not overlap"
        );
    }

    #[test]
    fn the_guide_follows_the_round() {
        let mut c = Canvas::create("Guide", "ana", T0).unwrap();
        c.set_job(Some("a project ends."), None, None, T0).unwrap();
        let a = c
            .add_note(Section::Now, "Chases invoices by email", &[], "ana", T0)
            .unwrap();
        let b = c
            .add_note(Section::Now, "Keeps a spreadsheet", &[], "ana", T0)
            .unwrap();
        let done = c
            .add_note(Section::Now, "Works alone", &[], "ana", T0)
            .unwrap();
        c.mark(&done, Status::Validated, T0).unwrap();
        c.add_note(Section::ToBe, "Paid without chasing", &[], "ana", T0)
            .unwrap();

        let g = c.guide(&[]);
        assert_eq!(g.focus, {
            let mut e = EXPLORE.to_vec();
            e.sort();
            e
        });
        let about: Vec<_> = g
            .questions
            .iter()
            .map(|q| q.note.as_ref().unwrap().id.clone())
            .collect();
        assert_eq!(about.len(), 3, "validated notes need no question");
        assert_eq!(about[..2], [a, b]);
        assert_ne!(g.questions[0].question, g.questions[1].question);
        assert!(g.questions[0]
            .question
            .starts_with("Walk me through the last time"));
        assert!(g
            .opening
            .as_ref()
            .unwrap()
            .question
            .contains("\u{201c}a project ends\u{201d}"));
        assert_eq!(g.checklist.len(), FORCES_CHECKLIST.len());
        assert!(g.checklist[0]
            .purpose
            .unwrap()
            .contains("merely inconvenienced"));
        for q in &g.questions {
            assert!(
                !q.question.contains(&q.note.as_ref().unwrap().text),
                "non-leading"
            );
        }
        let all = g.all_questions();
        assert_eq!(all.len(), 1 + 3 + FORCES_CHECKLIST.len());

        // A constraint moves the guide to the GAP.
        let k = c
            .add_note(
                Section::Constraint,
                "Fears upsetting clients",
                &[],
                "ana",
                T0,
            )
            .unwrap();
        let g = c.guide(&[]);
        assert_eq!(g.questions.len(), 1);
        assert_eq!(g.questions[0].note.as_ref().unwrap().id, k);
        assert!(g.questions[0].question.starts_with("What stopped you"));

        // A round's focus wins; an explicit focus wins over it.
        c.start_round("r2", &[Section::ToBe], "ana", T0).unwrap();
        assert_eq!(c.guide(&[]).focus, [Section::ToBe]);
        assert_eq!(c.guide(&[Section::Now]).questions.len(), 2);
    }
}
