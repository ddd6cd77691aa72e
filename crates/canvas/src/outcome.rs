//! Outcome scoring: success outcomes (goals, hazards, problems) ranked by
//! Ulwick's opportunity score, importance + max(importance − satisfaction, 0),
//! from everyone's 1–10 ratings averaged.

use crate::note::Note;
use crate::section::Group;
use crate::Canvas;

/// One success outcome with its averaged ratings.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeScore {
    /// The goal, hazard or problem.
    pub note: Note,
    /// Mean importance over everyone who rated it, if anyone did.
    pub importance: Option<f64>,
    /// Mean satisfaction over everyone who rated it, if anyone did.
    pub satisfaction: Option<f64>,
    /// How many people rated it (importance, satisfaction or both).
    pub raters: usize,
    /// importance + max(importance − satisfaction, 0), when both are known.
    pub opportunity: Option<f64>,
}

impl OutcomeScore {
    /// Ulwick's reading of the score: above 10 underserved (a real
    /// opportunity), below 6 overserved, in between served.
    pub fn verdict(&self) -> &'static str {
        match self.opportunity {
            None => "unrated",
            Some(o) if o > 10.0 => "underserved",
            Some(o) if o < 6.0 => "overserved",
            Some(_) => "served",
        }
    }
}

/// The opportunity score of an importance and a satisfaction.
pub fn opportunity(importance: f64, satisfaction: f64) -> f64 {
    importance + (importance - satisfaction).max(0.0)
}

fn mean(values: impl Iterator<Item = i64>) -> Option<f64> {
    let (sum, n) = values.fold((0i64, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum as f64 / n as f64)
}

impl Canvas {
    /// Every live success outcome, the best opportunities first; outcomes
    /// without both an importance and a satisfaction come last, in canvas
    /// order. Ratings outside 1–10 (from another writer) are ignored.
    pub fn outcomes(&self) -> Vec<OutcomeScore> {
        let valid = |v: Option<i64>| v.filter(|v| (1..=10).contains(v));
        let mut scores: Vec<OutcomeScore> = self
            .notes()
            .into_iter()
            .filter(|n| !n.is_trashed() && n.section.group() == Group::Outcomes)
            .map(|note| {
                let importance = mean(note.ratings.values().filter_map(|r| valid(r.importance)));
                let satisfaction =
                    mean(note.ratings.values().filter_map(|r| valid(r.satisfaction)));
                let raters = note
                    .ratings
                    .values()
                    .filter(|r| valid(r.importance).is_some() || valid(r.satisfaction).is_some())
                    .count();
                let opportunity = importance.zip(satisfaction).map(|(i, s)| opportunity(i, s));
                OutcomeScore {
                    note,
                    importance,
                    satisfaction,
                    raters,
                    opportunity,
                }
            })
            .collect();
        // A stable sort keeps canvas order among equals and the unrated.
        scores.sort_by(|a, b| match (a.opportunity, b.opportunity) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Section;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn the_score_is_ulwicks() {
        assert_eq!(opportunity(9.0, 3.0), 15.0);
        assert_eq!(opportunity(5.0, 8.0), 5.0);
        assert_eq!(opportunity(7.0, 7.0), 7.0);
    }

    #[test]
    fn outcomes_rank_by_opportunity_over_everyone() {
        let mut c = Canvas::create("Outcomes", "ana", T0).unwrap();
        let paid = c
            .add_note(Section::Goal, "Paid within 30 days", &[], "ana", T0)
            .unwrap();
        let lost = c
            .add_note(Section::Hazard, "Losing a client", &[], "ana", T0)
            .unwrap();
        let unrated = c
            .add_note(Section::Problem, "Bank holidays", &[], "ana", T0)
            .unwrap();
        let half = c
            .add_note(Section::Goal, "Fewer emails", &[], "ana", T0)
            .unwrap();
        c.add_note(Section::Now, "Not an outcome", &[], "ana", T0)
            .unwrap();
        c.rate(&paid, "ana", Some(9), Some(2), T0).unwrap();
        c.rate(&paid, "bo", Some(7), Some(4), T0).unwrap();
        c.rate(&lost, "ana", Some(6), Some(8), T0).unwrap();
        c.rate(&half, "bo", Some(10), None, T0).unwrap();

        let scores = c.outcomes();
        let order: Vec<_> = scores.iter().map(|s| s.note.id.clone()).collect();
        assert_eq!(
            order,
            [paid, lost, half, unrated],
            "unrated last, in canvas order"
        );
        assert_eq!(scores[0].importance, Some(8.0));
        assert_eq!(scores[0].satisfaction, Some(3.0));
        assert_eq!(scores[0].opportunity, Some(13.0));
        assert_eq!(scores[0].raters, 2);
        assert_eq!(scores[0].verdict(), "underserved");
        assert_eq!(scores[1].opportunity, Some(6.0));
        assert_eq!(scores[1].verdict(), "served");
        assert_eq!(scores[3].raters, 0);
        assert_eq!(scores[2].importance, Some(10.0));
        assert_eq!(scores[2].opportunity, None);
        assert_eq!(scores[2].verdict(), "unrated");
    }
}
