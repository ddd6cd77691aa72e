//! What a research team actually writes on a Customer Progress Canvas, so the
//! benchmark documents have realistic text sizes, character-level edit
//! histories and section spreads. The canvas studied: independent bakery
//! owners whose job is to keep the shop stocked and every order delivered.

use gapmap_canvas::Section;
use rand::seq::SliceRandom;
use rand::Rng;

/// The canvas title.
pub const TITLE: &str = "Independent bakery owners — keeping orders and stock under control";
/// The job statement: situation, motivation, expected outcome.
pub const JOB: (&str, &str, &str) = (
    "When custom orders, wholesale cafés and walk-in trade all compete for the same ovens",
    "I want to know what to bake, buy and promise each day",
    "so I can keep every promise without working every night",
);
/// The customer type and description.
pub const CUSTOMER: (&str, &str) = (
    "buyer",
    "Owner-operators of one or two bakeries, 3–15 staff, no back-office employee",
);
/// The team writing the canvas.
pub const AUTHORS: [&str; 4] = ["Amira", "Jonas", "Priya", "Tomasz"];

const WHO: &[&str] = &[
    "Owner",
    "Head baker",
    "The shift lead",
    "Her business partner",
    "Weekend staff",
    "The part-time bookkeeper",
    "Front-of-house",
];
const NOW_VERB: &[&str] = &[
    "re-types",
    "tracks",
    "counts by hand",
    "keeps",
    "double-checks",
    "phones in",
    "writes down",
    "guesses",
    "reconciles",
];
const NOW_OBJECT: &[&str] = &[
    "supplier invoices",
    "custom cake orders",
    "flour and butter stock",
    "wholesale café orders",
    "staff hours",
    "allergen labels",
    "daily waste",
    "pre-orders from Instagram DMs",
    "deposits taken over the phone",
    "the Saturday market float",
];
const NOW_WHERE: &[&str] = &[
    "in a paper notebook by the till",
    "every Friday night",
    "on the back of delivery notes",
    "at 5 a.m. before opening",
    "in three different spreadsheets",
    "from memory",
    "after closing, at the kitchen table",
    "on a whiteboard that gets wiped",
];

const TO_BE: &[&str] = &[
    "Knows tomorrow's ingredient needs before closing",
    "Is confident no custom order is ever forgotten",
    "Spends Sunday with family instead of doing the books",
    "Sees at a glance which cafés owe money",
    "Can promise a delivery date without checking three places",
    "Trusts the staff to take orders the same way she would",
    "Throws away less than one tray a day",
    "Gets paid deposits before starting a wedding cake",
    "Hands the accountant one clean export each month",
    "Feels in control of the week by Monday morning",
    "Grows wholesale without a second night shift",
    "Answers 'can you do 40 croissants Thursday?' in seconds",
];
const TO_BE_QUALIFIER: &[&str] = &[
    "",
    " — even on busy Saturdays",
    " without hiring a manager",
    " from her phone",
    " during the Christmas rush",
    " before the second shop opens",
];

const CONSTRAINT: &[&str] = &[
    "Afraid of losing a week of orders during a switch",
    "No time to learn a new tool during the holiday rush",
    "The card-reader contract locks them in until next year",
    "Suppliers only send PDFs by e-mail",
    "Staff turnover: nobody stays long enough to be trained",
    "A previous app cost $60/month and was abandoned",
    "Patchy Wi-Fi in the back kitchen",
    "Flour-covered hands: nobody wants to touch a screen",
    "Partner distrusts anything 'in the cloud'",
    "Custom orders arrive through five channels",
    "The accountant insists on her own spreadsheet",
    "Cash flow too tight for annual subscriptions",
];
const CATALYST: &[&str] = &[
    "A new hire who already uses a tablet POS",
    "The accountant asks for clean monthly exports",
    "A wholesale café contract that doubles volume",
    "A food-safety inspection next month",
    "Her daughter offers to set it up",
    "A forgotten wedding cake last spring — never again",
    "The bank wants figures for the oven loan",
    "A competitor down the road takes online pre-orders",
    "The market organiser moves to card-only payments",
    "Second shop lease signed for September",
];
const EVIDENCE: &[&str] = &[
    "",
    " (interview 3)",
    " — said twice",
    " — 4 of 6 owners",
    " (seen on site)",
    " — needs a follow-up question",
];

const DESIGN: &[&str] = &[
    "Order board that the till, the phone and Instagram all feed",
    "Tomorrow's bake list generated at closing time",
    "Deposit link sent by SMS when a cake is booked",
    "Wholesale statement e-mailed every Monday",
    "Voice entry for flour-covered hands",
    "One-tap export for the accountant",
    "Works offline in the back kitchen, syncs at the till",
];
const FORCES: &[(Section, &[&str])] = &[
    (
        Section::Push,
        &[
            "Missed two custom orders in one month",
            "Working until midnight on invoices",
            "Wholesale customer complained about short deliveries",
        ],
    ),
    (
        Section::Pull,
        &[
            "Evenings back with the kids",
            "A calm Saturday where the board runs itself",
            "Looking professional to the new cafés",
        ],
    ),
    (
        Section::Anxiety,
        &[
            "What if the tablet dies mid-rush?",
            "Will staff actually use it?",
            "Can I get my data out if I stop paying?",
        ],
    ),
    (
        Section::Inertia,
        &[
            "The notebook works, mostly",
            "Everyone knows where the whiteboard is",
            "Switching feels like a project for January",
        ],
    ),
];
const OUTCOMES: &[&str] = &[
    "Minimise the time to confirm a custom order",
    "Minimise the likelihood of baking the wrong quantity",
    "Minimise the time spent reconciling supplier invoices",
    "Increase the share of deposits collected up front",
    "Minimise waste at closing",
];
const JPG: &[&str] = &[
    "Keep the shop stocked",
    "Deliver every promised order",
    "Hates chasing cafés for payment",
    "Dreads the Sunday paperwork",
    "Proud when a regular says 'same as always'",
    "Would love a quiet Monday",
];
const JOB_MAP: &[&str] = &[
    "Decide what to bake tomorrow",
    "Find the pending custom orders",
    "Weigh out ingredients for the first batch",
    "Confirm the wholesale counts with the driver",
    "Bake and box the morning run",
    "Watch what sells out by noon",
    "Adjust the afternoon bake",
    "Close the till and write tomorrow's list",
];

const APPEND: &[&str] = &[
    " — confirmed in interview 5",
    " (contradicted by the Leeds shop)",
    " — check with Jonas",
    " — mostly on weekends",
    "; worse in December",
    " (2 of 3 owners)",
];
const SWAPS: &[(&str, &str)] = &[
    ("Owner", "Owner-operator"),
    ("every", "nearly every"),
    ("orders", "pre-orders"),
    ("never", "rarely"),
    ("a week", "two weeks"),
    ("staff", "the team"),
    ("phone", "mobile"),
];

/// Tags a team puts on notes.
pub const TAGS: &[&str] = &[
    "round-1",
    "round-2",
    "round-3",
    "pricing",
    "onboarding",
    "wholesale",
    "custom-orders",
    "finance",
    "staff",
    "follow-up",
];

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// Where a new note goes: mostly the progress canvas proper (NOW, TO BE and
/// the gap), some design, forces, outcomes, jobs/pains/gains and job map.
pub fn section<R: Rng + ?Sized>(rng: &mut R) -> Section {
    match rng.gen_range(0..100) {
        0..=24 => Section::Now,
        25..=44 => Section::ToBe,
        45..=64 => Section::Constraint,
        65..=79 => Section::Catalyst,
        80..=84 => Section::Design,
        85..=92 => FORCES.choose(rng).map_or(Section::Push, |f| f.0),
        93..=94 => *[Section::Goal, Section::Hazard, Section::Problem]
            .choose(rng)
            .unwrap_or(&Section::Goal),
        95..=96 => *[Section::Job, Section::Pain, Section::Gain]
            .choose(rng)
            .unwrap_or(&Section::Job),
        _ => *Section::ALL[15..].choose(rng).unwrap_or(&Section::Define),
    }
}

/// The text of a new note in `section`.
pub fn note_text<R: Rng + ?Sized>(rng: &mut R, section: Section) -> String {
    match section {
        Section::Now => format!(
            "{} {} {} {}",
            pick(rng, WHO),
            pick(rng, NOW_VERB),
            pick(rng, NOW_OBJECT),
            pick(rng, NOW_WHERE)
        ),
        Section::ToBe => format!("{}{}", pick(rng, TO_BE), pick(rng, TO_BE_QUALIFIER)),
        Section::Constraint => format!("{}{}", pick(rng, CONSTRAINT), pick(rng, EVIDENCE)),
        Section::Catalyst => format!("{}{}", pick(rng, CATALYST), pick(rng, EVIDENCE)),
        Section::Design => pick(rng, DESIGN).to_string(),
        Section::Push | Section::Pull | Section::Anxiety | Section::Inertia => {
            let lines = FORCES.iter().find(|f| f.0 == section).map_or(JPG, |f| f.1);
            format!("{}{}", pick(rng, lines), pick(rng, EVIDENCE))
        }
        Section::Goal | Section::Hazard | Section::Problem => pick(rng, OUTCOMES).to_string(),
        Section::Job | Section::Pain | Section::Gain => pick(rng, JPG).to_string(),
        _ => pick(rng, JOB_MAP).to_string(),
    }
}

/// A revision of `old` as people make them: add evidence, soften a word,
/// drop a trailing remark, or rewrite the note.
pub fn edited_text<R: Rng + ?Sized>(rng: &mut R, old: &str, section: Section) -> String {
    match rng.gen_range(0..10) {
        0..=3 => {
            let (base, _) = old.split_once(" —").unwrap_or((old, ""));
            format!("{base}{}", pick(rng, APPEND))
        }
        4..=6 => {
            let present: Vec<_> = SWAPS
                .iter()
                .filter(|(from, _)| old.contains(from))
                .collect();
            match present.choose(rng) {
                Some((from, to)) if !old.contains(to) => old.replacen(from, to, 1),
                _ => format!("{old} (?)"),
            }
        }
        7 if old.contains(" —") || old.contains(" (") => {
            let cut = old
                .find(" —")
                .or_else(|| old.find(" ("))
                .unwrap_or(old.len());
            old[..cut].to_string()
        }
        _ => note_text(rng, section),
    }
}

/// A tag from the team's list.
pub fn tag<R: Rng + ?Sized>(rng: &mut R) -> String {
    pick(rng, TAGS).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn texts_are_never_empty() {
        let mut rng = StdRng::seed_from_u64(7);
        for section in Section::ALL {
            let text = note_text(&mut rng, section);
            assert!(!text.trim().is_empty(), "{section}");
            for _ in 0..20 {
                assert!(!edited_text(&mut rng, &text, section).trim().is_empty());
            }
        }
    }
}
