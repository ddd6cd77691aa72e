//! The sections of a canvas and the groups (frameworks) they belong to.

use std::fmt;
use std::str::FromStr;

use crate::error::CanvasError;

/// Where a note sits on the canvas.
///
/// The ids (see [`Section::id`]) are stored in the document and typed on the
/// command line; the order of [`Section::ALL`] is the order of DESIGN §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// NOW: the customer's current, observable state.
    Now,
    /// TO BE: the state the customer wants to reach.
    ToBe,
    /// GAP: what stops the customer from moving forward.
    Constraint,
    /// GAP: what would make the progress smooth.
    Catalyst,
    /// What we design to fill the gap.
    Design,
    /// Force of progress: struggles pushing away from the current situation.
    Push,
    /// Force of progress: the attraction of a new solution.
    Pull,
    /// Force of progress: worries about the new solution.
    Anxiety,
    /// Force of progress: habits holding the customer back.
    Inertia,
    /// Success outcome: a goal to achieve.
    Goal,
    /// Success outcome: a known hazard to avoid.
    Hazard,
    /// Success outcome: an unexpected problem to resolve.
    Problem,
    /// Jobs, pains, gains: what the customer is trying to do.
    Job,
    /// Jobs, pains, gains: what makes it hard today.
    Pain,
    /// Jobs, pains, gains: the benefits the customer seeks.
    Gain,
    /// Job map stage 1: define what the job requires.
    Define,
    /// Job map stage 2: locate the inputs needed.
    Locate,
    /// Job map stage 3: prepare the components.
    Prepare,
    /// Job map stage 4: confirm that everything is ready.
    Confirm,
    /// Job map stage 5: execute the task.
    Execute,
    /// Job map stage 6: monitor the results.
    Monitor,
    /// Job map stage 7: make modifications.
    Modify,
    /// Job map stage 8: conclude the job.
    Conclude,
}

impl Section {
    /// Every section, in DESIGN §3 table order.
    pub const ALL: [Section; 23] = [
        Section::Now,
        Section::ToBe,
        Section::Constraint,
        Section::Catalyst,
        Section::Design,
        Section::Push,
        Section::Pull,
        Section::Anxiety,
        Section::Inertia,
        Section::Goal,
        Section::Hazard,
        Section::Problem,
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
    ];

    /// The id stored in the document and used on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Section::Now => "now",
            Section::ToBe => "to-be",
            Section::Constraint => "constraint",
            Section::Catalyst => "catalyst",
            Section::Design => "design",
            Section::Push => "push",
            Section::Pull => "pull",
            Section::Anxiety => "anxiety",
            Section::Inertia => "inertia",
            Section::Goal => "goal",
            Section::Hazard => "hazard",
            Section::Problem => "problem",
            Section::Job => "job",
            Section::Pain => "pain",
            Section::Gain => "gain",
            Section::Define => "define",
            Section::Locate => "locate",
            Section::Prepare => "prepare",
            Section::Confirm => "confirm",
            Section::Execute => "execute",
            Section::Monitor => "monitor",
            Section::Modify => "modify",
            Section::Conclude => "conclude",
        }
    }

    /// The heading shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Section::Now => "NOW",
            Section::ToBe => "TO BE",
            Section::Constraint => "Constraints",
            Section::Catalyst => "Catalysts",
            Section::Design => "Design",
            Section::Push => "Push",
            Section::Pull => "Pull",
            Section::Anxiety => "Anxiety",
            Section::Inertia => "Inertia",
            Section::Goal => "Goals",
            Section::Hazard => "Hazards",
            Section::Problem => "Problems",
            Section::Job => "Jobs",
            Section::Pain => "Pains",
            Section::Gain => "Gains",
            Section::Define => "Define",
            Section::Locate => "Locate",
            Section::Prepare => "Prepare",
            Section::Confirm => "Confirm",
            Section::Execute => "Execute",
            Section::Monitor => "Monitor",
            Section::Modify => "Modify",
            Section::Conclude => "Conclude",
        }
    }

    /// The framework this section belongs to.
    pub fn group(self) -> Group {
        match self {
            Section::Now
            | Section::ToBe
            | Section::Constraint
            | Section::Catalyst
            | Section::Design => Group::Progress,
            Section::Push | Section::Pull | Section::Anxiety | Section::Inertia => Group::Forces,
            Section::Goal | Section::Hazard | Section::Problem => Group::Outcomes,
            Section::Job | Section::Pain | Section::Gain => Group::JobsPainsGains,
            Section::Define
            | Section::Locate
            | Section::Prepare
            | Section::Confirm
            | Section::Execute
            | Section::Monitor
            | Section::Modify
            | Section::Conclude => Group::JobMap,
        }
    }

    /// Every valid id, in canvas order (for error messages and completion).
    pub fn ids() -> Vec<&'static str> {
        Section::ALL.iter().map(|s| s.id()).collect()
    }

    /// The section with exactly this stored id, if any.
    pub(crate) fn from_id(id: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.id() == id)
    }
}

impl FromStr for Section {
    type Err = CanvasError;

    /// Parses a section id. People type these, so case, `_` or a space for
    /// the dash, and a plural (`constraints`, `gains`) are accepted.
    fn from_str(s: &str) -> Result<Section, CanvasError> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '_' | ' ' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        let found = match norm.as_str() {
            "tobe" => Some(Section::ToBe),
            "anxieties" => Some(Section::Anxiety),
            other => Section::from_id(other)
                .or_else(|| other.strip_suffix('s').and_then(Section::from_id)),
        };
        found.ok_or_else(|| CanvasError::UnknownSection {
            given: s.to_string(),
            valid: Section::ids(),
        })
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A framework of the canvas: a group of sections shown together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// NOW, TO BE, GAP (constraints, catalysts) and design.
    Progress,
    /// The four forces of progress.
    Forces,
    /// Success outcomes: goals, hazards, problems.
    Outcomes,
    /// Jobs, pains and gains.
    JobsPainsGains,
    /// The universal job map, eight stages.
    JobMap,
}

impl Group {
    /// Every group, in canvas order.
    pub const ALL: [Group; 5] = [
        Group::Progress,
        Group::Forces,
        Group::Outcomes,
        Group::JobsPainsGains,
        Group::JobMap,
    ];

    /// The heading shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Group::Progress => "Customer progress canvas",
            Group::Forces => "Forces of progress",
            Group::Outcomes => "Success outcomes",
            Group::JobsPainsGains => "Jobs, pains and gains",
            Group::JobMap => "Universal job map",
        }
    }

    /// The sections of this group, in canvas order.
    pub fn sections(self) -> impl Iterator<Item = Section> {
        Section::ALL.into_iter().filter(move |s| s.group() == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_in_design_order() {
        let ids: Vec<_> = Section::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(
            ids,
            [
                "now",
                "to-be",
                "constraint",
                "catalyst",
                "design",
                "push",
                "pull",
                "anxiety",
                "inertia",
                "goal",
                "hazard",
                "problem",
                "job",
                "pain",
                "gain",
                "define",
                "locate",
                "prepare",
                "confirm",
                "execute",
                "monitor",
                "modify",
                "conclude"
            ]
        );
        for s in Section::ALL {
            assert_eq!(s.id().parse::<Section>().unwrap(), s);
            assert_eq!(s.to_string(), s.id());
        }
    }

    #[test]
    fn parsing_is_forgiving_about_case_and_plurals() {
        assert_eq!("TO BE".parse::<Section>().unwrap(), Section::ToBe);
        assert_eq!("to_be".parse::<Section>().unwrap(), Section::ToBe);
        assert_eq!(
            "Constraints".parse::<Section>().unwrap(),
            Section::Constraint
        );
        assert_eq!("anxieties".parse::<Section>().unwrap(), Section::Anxiety);
        assert_eq!(" gains ".parse::<Section>().unwrap(), Section::Gain);
    }

    #[test]
    fn unknown_section_lists_valid_ids() {
        let err = "foo".parse::<Section>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("unknown section \"foo\"; valid sections: now, to-be, constraint,"),
            "{msg}"
        );
        assert!(msg.ends_with("modify, conclude"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn groups_partition_sections() {
        let total: usize = Group::ALL.iter().map(|g| g.sections().count()).sum();
        assert_eq!(total, Section::ALL.len());
        assert_eq!(Group::Forces.sections().count(), 4);
        assert_eq!(Group::JobMap.sections().count(), 8);
        assert_eq!(Section::Catalyst.group(), Group::Progress);
        assert!(!Group::JobsPainsGains.title().is_empty());
    }
}
