//! Outcome scoring: success outcomes (goals, hazards, problems) ranked by
//! Ulwick's opportunity score, importance + max(importance − satisfaction, 0),
//! from 1–10 ratings averaged: the customers' own (interviewees' and survey
//! respondents') when there are any, the team's estimates otherwise — and
//! the team's estimates always apart.

use crate::note::{Note, Rating};
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
    /// `respondents` when the figures above come from customers' own
    /// ratings, `team` when only team members' estimates exist, `none`.
    pub basis: &'static str,
    /// How many customers (interviewees, survey respondents) rated it.
    pub respondents: usize,
    /// The team members' own estimates, kept apart.
    pub team: TeamEstimate,
}

/// The team members' estimates of an outcome (`gapmap rate`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TeamEstimate {
    /// Mean importance.
    pub importance: Option<f64>,
    /// Mean satisfaction.
    pub satisfaction: Option<f64>,
    /// How many team members rated it.
    pub raters: usize,
    /// Its opportunity score, when both are known.
    pub opportunity: Option<f64>,
}

/// Means and opportunity of a set of ratings.
fn score(ratings: &[Rating]) -> TeamEstimate {
    let valid = |v: Option<i64>| v.filter(|v| (1..=10).contains(v));
    let importance = mean(ratings.iter().filter_map(|r| valid(r.importance)));
    let satisfaction = mean(ratings.iter().filter_map(|r| valid(r.satisfaction)));
    let raters = ratings
        .iter()
        .filter(|r| valid(r.importance).is_some() || valid(r.satisfaction).is_some())
        .count();
    TeamEstimate {
        importance,
        satisfaction,
        raters,
        opportunity: importance.zip(satisfaction).map(|(i, s)| opportunity(i, s)),
    }
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
        let mut scores: Vec<OutcomeScore> = self
            .notes()
            .into_iter()
            .filter(|n| !n.is_trashed() && n.section.group() == Group::Outcomes)
            .map(|note| {
                let team = score(&note.ratings.values().copied().collect::<Vec<_>>());
                let customers = score(&self.respondent_scores(&note.id));
                let (basis, main) = match (customers.raters, team.raters) {
                    (0, 0) => ("none", customers.clone()),
                    (0, _) => ("team", team.clone()),
                    _ => ("respondents", customers.clone()),
                };
                OutcomeScore {
                    note,
                    importance: main.importance,
                    satisfaction: main.satisfaction,
                    raters: main.raters,
                    opportunity: main.opportunity,
                    basis,
                    respondents: customers.raters,
                    team,
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
        assert_eq!(scores[0].basis, "team");
    }

    #[test]
    fn customers_ratings_score_and_the_team_is_kept_apart() {
        let mut c = Canvas::create("Outcomes", "ana", T0).unwrap();
        let paid = c
            .add_note(Section::Goal, "Paid within 30 days", &[], "ana", T0)
            .unwrap();
        let lost = c
            .add_note(Section::Hazard, "Losing a client", &[], "ana", T0)
            .unwrap();
        c.rate(&paid, "ana", Some(2), Some(9), T0).unwrap();
        c.rate_as_respondent(&paid, "Maria", Some(9), Some(3), "interview", T0)
            .unwrap();
        c.rate_as_respondent(&paid, "maria", None, Some(1), "survey", T0)
            .unwrap();
        c.rate_as_respondent(&paid, "Tom", Some(7), Some(3), "survey", T0)
            .unwrap();
        c.rate(&lost, "ana", Some(6), Some(6), T0).unwrap();
        let scores = c.outcomes();
        let p = &scores[0];
        assert_eq!(p.note.id, paid);
        assert_eq!((p.basis, p.respondents, p.raters), ("respondents", 2, 2));
        assert_eq!((p.importance, p.satisfaction), (Some(8.0), Some(2.0)));
        assert_eq!(p.opportunity, Some(14.0));
        assert_eq!(p.team.opportunity, Some(2.0));
        assert_eq!(p.team.raters, 1);
        assert_eq!(scores[1].basis, "team");
        assert_eq!(c.respondent_ratings(&paid)["maria"].name, "Maria");
        assert!(matches!(
            c.rate_as_respondent(&paid, "X", Some(11), None, "survey", T0),
            Err(crate::CanvasError::RatingOutOfRange { .. })
        ));
    }

    #[test]
    fn survey_csv_imports_all_or_nothing_with_line_numbers() {
        let mut c = Canvas::create("Survey", "ana", T0).unwrap();
        let paid = c
            .add_note(Section::Goal, "Paid within 30 days", &[], "ana", T0)
            .unwrap();
        let lost = c
            .add_note(Section::Hazard, "Losing a client", &[], "ana", T0)
            .unwrap();
        let now = c
            .add_note(Section::Now, "Not an outcome", &[], "ana", T0)
            .unwrap();
        let heads = c.doc_mut().get_heads();
        for (csv, want) in [
            ("", "the file is empty"),
            ("who,outcome,importance,satisfaction\n", "line 1: no \"respondent\" column"),
            ("respondent,outcome,importance,satisfaction\n", "no ratings after the header"),
            (
                "respondent,outcome,importance,satisfaction\nMaria,Paid within 30 days,9,3\nTom,Losing a client,11,3\n",
                "line 3: importance must be a whole number from 1 to 10, got \"11\"",
            ),
            (
                &format!("respondent,outcome,importance,satisfaction\nMaria,{},9,3\n", now.as_str()),
                "line 2: ",
            ),
            (
                "respondent,outcome,importance,satisfaction\nMaria,\"Paid within 30 days\",9,3\n\nmaria,PAID WITHIN 30 DAYS,8,2\n",
                "line 4: \"maria\" already rated this outcome on line 2",
            ),
            ("respondent,outcome,importance,satisfaction\n\"Maria,x,1,1\n", "line 2: a quoted field is not closed"),
            ("respondent,outcome,importance,satisfaction\nMaria,Losing a client,,\n", "line 2: neither"),
        ] {
            let err = c.import_ratings_csv(csv, T0).unwrap_err();
            assert!(err.to_string().starts_with(want), "{csv:?}: {err}");
        }
        let many = format!(
            "respondent,outcome,importance,satisfaction\n{}",
            (0..=crate::SURVEY_MAX_ROWS)
                .map(|i| format!("p{i},Losing a client,5,5\n"))
                .collect::<String>()
        );
        assert!(c
            .import_ratings_csv(&many, T0)
            .unwrap_err()
            .to_string()
            .contains("more than"));
        assert_eq!(c.doc_mut().get_heads(), heads, "nothing changed");

        let csv = format!(
            "\u{feff}Satisfaction,Respondent,Outcome,Importance,comment\n3,Maria Lopez,Paid within 30 days,9,\"fine, \"\"really\"\"\"\n2,Tom,{},7,\n5,Tom,losing a client,6,\n",
            &paid.as_str()[..6]
        );
        let report = c.import_ratings_csv(&csv, T0).unwrap();
        assert_eq!(
            (report.rows, report.respondents, report.outcomes),
            (3, 2, 2)
        );
        let scores = c.outcomes();
        assert_eq!(scores[0].note.id, paid);
        assert_eq!(
            (scores[0].importance, scores[0].satisfaction),
            (Some(8.0), Some(2.5))
        );
        assert_eq!(c.respondent_ratings(&lost)["tom"].source, "survey");
    }
}
