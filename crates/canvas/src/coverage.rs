//! Links between notes and the gap-coverage checklist: the canvas's last
//! question, "what can you design that fills the gap better than anything
//! else?", as constraints no design note addresses yet and catalysts the
//! design does not use.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::CanvasError;
use crate::note::Note;
use crate::section::Section;
use crate::status::Status;
use crate::Canvas;

/// What a link from one note to another says (`links { <note-id>: kind }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKind {
    /// A design note that removes a constraint or uses a catalyst.
    Addresses,
    /// One note leads to the other.
    Causes,
    /// The two are related.
    Relates,
}

impl LinkKind {
    /// Every kind.
    pub const ALL: [LinkKind; 3] = [LinkKind::Addresses, LinkKind::Causes, LinkKind::Relates];

    /// The string stored in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Addresses => "addresses",
            LinkKind::Causes => "causes",
            LinkKind::Relates => "relates",
        }
    }
}

impl LinkKind {
    /// Whether a link of this kind may go from a note of section `from` to
    /// one of section `to`. `addresses` is what the canvas's last question
    /// asks ("what can you design that fills the GAP?"): it goes from a
    /// design note to what its features remove or build on — a constraint
    /// or catalyst first, also a force, a success outcome, a job, pain or
    /// gain, or a step of the job map — never to the NOW or TO BE states
    /// the design bridges, nor to another design. `causes` and `relates` go
    /// between any two notes.
    pub fn allows(self, from: Section, to: Section) -> bool {
        match self {
            LinkKind::Addresses => from == Section::Design && addressable(to),
            LinkKind::Causes | LinkKind::Relates => true,
        }
    }
}

/// What a design note may address.
fn addressable(to: Section) -> bool {
    !matches!(to, Section::Now | Section::ToBe | Section::Design)
}

/// The message for a link [`LinkKind::allows`] refuses.
pub(crate) fn why_not(kind: LinkKind, from: Section, to: Section) -> String {
    if from != Section::Design {
        return format!(
            "a {from} note cannot address another note: {kind} goes from a design note to the constraint or catalyst it removes or builds on"
        );
    }
    match to {
        Section::Now | Section::ToBe => format!(
            "a design bridges NOW and TO BE through the GAP: link it to the constraint or catalyst it works on, not to a {to} note"
        ),
        _ => format!(
            "a design note cannot address another {to} note: link it to the constraint or catalyst it works on"
        ),
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LinkKind {
    type Err = CanvasError;
    fn from_str(s: &str) -> Result<LinkKind, CanvasError> {
        let given = s.trim().to_lowercase();
        LinkKind::ALL
            .into_iter()
            .find(|k| {
                let full = k.as_str();
                full == given
                    || full.strip_suffix("es") == Some(given.as_str())
                    || full.strip_suffix('s') == Some(given.as_str())
            })
            .ok_or_else(|| CanvasError::UnknownLinkKind(s.to_string()))
    }
}

/// One constraint or catalyst and the design notes that address it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapItem {
    /// The constraint or catalyst.
    pub note: Note,
    /// Live, not invalidated design notes linked to it with `addresses`.
    pub by: Vec<Note>,
}

impl GapItem {
    /// Whether some design note addresses it.
    pub fn is_covered(&self) -> bool {
        !self.by.is_empty()
    }
}

/// The gap-coverage checklist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Every live constraint that is not invalidated, in canvas order.
    pub constraints: Vec<GapItem>,
    /// Every live catalyst that is not invalidated, in canvas order.
    pub catalysts: Vec<GapItem>,
    /// Live design notes that address no constraint or catalyst.
    pub unanchored: Vec<Note>,
}

impl Coverage {
    /// Constraints no design note addresses yet.
    pub fn open_constraints(&self) -> impl Iterator<Item = &GapItem> {
        self.constraints.iter().filter(|i| !i.is_covered())
    }

    /// Catalysts the design does not use yet.
    pub fn unused_catalysts(&self) -> impl Iterator<Item = &GapItem> {
        self.catalysts.iter().filter(|i| !i.is_covered())
    }

    /// Whether every constraint is addressed and every catalyst used.
    pub fn is_complete(&self) -> bool {
        self.open_constraints().next().is_none() && self.unused_catalysts().next().is_none()
    }
}

impl Canvas {
    /// The gap-coverage checklist. A constraint or catalyst counts as
    /// covered when a live design note that is not invalidated links to it
    /// with `addresses`; invalidated or trashed gap notes need no design.
    pub fn coverage(&self) -> Coverage {
        let live: Vec<Note> = self
            .notes()
            .into_iter()
            .filter(|n| !n.is_trashed())
            .collect();
        let designs: Vec<&Note> = live
            .iter()
            .filter(|n| n.section == Section::Design && n.status != Status::Invalidated)
            .collect();
        let mut by: BTreeMap<&str, Vec<Note>> = BTreeMap::new();
        for design in &designs {
            for (target, kind) in &design.links {
                if kind == LinkKind::Addresses.as_str() {
                    by.entry(target.as_str())
                        .or_default()
                        .push((*design).clone());
                }
            }
        }
        let gap = |section: Section| -> Vec<GapItem> {
            live.iter()
                .filter(|n| n.section == section && n.status != Status::Invalidated)
                .map(|n| GapItem {
                    note: n.clone(),
                    by: by.get(n.id.as_str()).cloned().unwrap_or_default(),
                })
                .collect()
        };
        let constraints = gap(Section::Constraint);
        let catalysts = gap(Section::Catalyst);
        let anchored = |d: &Note| {
            constraints
                .iter()
                .chain(&catalysts)
                .any(|g| g.by.iter().any(|b| b.id == d.id))
        };
        let unanchored = designs
            .into_iter()
            .filter(|d| !anchored(d))
            .cloned()
            .collect();
        Coverage {
            constraints,
            catalysts,
            unanchored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn link_kinds_parse() {
        assert_eq!(
            "addresses".parse::<LinkKind>().unwrap(),
            LinkKind::Addresses
        );
        assert_eq!(" Address".parse::<LinkKind>().unwrap(), LinkKind::Addresses);
        assert_eq!("cause".parse::<LinkKind>().unwrap(), LinkKind::Causes);
        let err = "fixes".parse::<LinkKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown link kind \"fixes\"; valid kinds: addresses, causes, relates"
        );
    }

    #[test]
    fn a_design_addresses_the_gap_and_nothing_addresses_a_design() {
        use Section::*;
        let a = LinkKind::Addresses;
        for to in [
            Constraint, Catalyst, Anxiety, Inertia, Pain, Gain, Hazard, Locate,
        ] {
            assert!(a.allows(Design, to), "{to}");
        }
        for to in [Now, ToBe, Design] {
            assert!(!a.allows(Design, to), "{to}");
        }
        for from in [Constraint, Catalyst, Now, Pain] {
            assert!(!a.allows(from, Design), "{from}");
        }
        assert!(LinkKind::Causes.allows(Now, Constraint));
        assert!(LinkKind::Relates.allows(Constraint, Design));
        let msg = why_not(a, Constraint, Design);
        assert!(msg.starts_with("a constraint note cannot address"), "{msg}");
    }

    #[test]
    fn coverage_lists_what_the_design_leaves_open() {
        let mut c = Canvas::create("Gaps", "ana", T0).unwrap();
        let fear = c
            .add_note(
                Section::Constraint,
                "Fears upsetting clients",
                &[],
                "ana",
                T0,
            )
            .unwrap();
        let time = c
            .add_note(Section::Constraint, "No time on Fridays", &[], "ana", T0)
            .unwrap();
        let wrong = c
            .add_note(Section::Constraint, "Hates banks", &[], "ana", T0)
            .unwrap();
        let gone = c
            .add_note(Section::Constraint, "Trashed", &[], "ana", T0)
            .unwrap();
        let portal = c
            .add_note(Section::Catalyst, "Clients use a portal", &[], "ana", T0)
            .unwrap();
        let friendly = c
            .add_note(Section::Design, "Friendly reminders", &[], "ana", T0)
            .unwrap();
        let refuted = c
            .add_note(Section::Design, "Debt collector", &[], "ana", T0)
            .unwrap();
        let floating = c
            .add_note(Section::Design, "Dark mode", &[], "ana", T0)
            .unwrap();
        c.mark(&wrong, Status::Invalidated, T0).unwrap();
        c.mark(&refuted, Status::Invalidated, T0).unwrap();
        c.trash_note(&gone, T0).unwrap();
        c.link(&friendly, LinkKind::Addresses, &fear, T0).unwrap();
        c.link(&refuted, LinkKind::Addresses, &time, T0).unwrap();
        c.link(&floating, LinkKind::Relates, &portal, T0).unwrap();
        // The wrong direction is refused (and would not count).
        let wrong_way = c.link(&portal, LinkKind::Addresses, &friendly, T0);
        assert!(matches!(wrong_way, Err(CanvasError::LinkDirection { .. })));

        let cov = c.coverage();
        let ids = |items: &[GapItem]| items.iter().map(|i| i.note.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&cov.constraints), [fear.clone(), time.clone()]);
        assert_eq!(ids(&cov.catalysts), std::slice::from_ref(&portal));
        let open: Vec<_> = cov.open_constraints().map(|i| i.note.id.clone()).collect();
        assert_eq!(open, [time]);
        let unused: Vec<_> = cov.unused_catalysts().map(|i| i.note.id.clone()).collect();
        assert_eq!(unused, std::slice::from_ref(&portal));
        assert_eq!(cov.constraints[0].by[0].id, friendly);
        assert_eq!(cov.unanchored.len(), 1);
        assert_eq!(cov.unanchored[0].id, floating);
        assert!(!cov.is_complete());

        c.link(&floating, LinkKind::Addresses, &portal, T0).unwrap();
        c.link(&friendly, LinkKind::Addresses, &wrong, T0).unwrap();
        let time2 = c.coverage().constraints[1].note.id.clone();
        c.link(&friendly, LinkKind::Addresses, &time2, T0).unwrap();
        assert!(c.coverage().is_complete());
    }
}
