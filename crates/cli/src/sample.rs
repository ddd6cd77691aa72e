//! The sample canvas offered to a newcomer: a small, complete Customer
//! Progress Canvas in the vocabulary of the canvas's own texts.

use anyhow::Result;
use gapmap_canvas::{Canvas, Section, Status};

/// Title of the sample canvas.
pub const TITLE: &str = "Sample: freelance designers getting paid";

/// Notes of the sample: section, text, status, tags.
const NOTES: &[(Section, &str, Status, &[&str])] = &[
    (
        Section::Now,
        "Sends invoices by hand from a spreadsheet at the end of each project",
        Status::Validated,
        &["billing"],
    ),
    (
        Section::Now,
        "Chases late payments by email every Friday afternoon",
        Status::Hypothesis,
        &["billing"],
    ),
    (
        Section::ToBe,
        "Gets paid on time without chasing anyone",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::ToBe,
        "Feels like a professional studio, not a freelancer asking for favours",
        Status::Hypothesis,
        &["identity"],
    ),
    (
        Section::Constraint,
        "Fears that reminders will upset a good client",
        Status::Hypothesis,
        &["anxiety"],
    ),
    (
        Section::Constraint,
        "Every client wants a different invoice format",
        Status::Validated,
        &[],
    ),
    (
        Section::Catalyst,
        "Clients already approve work in a shared portal",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Design,
        "Invoices sent automatically when the client approves the final design",
        Status::Hypothesis,
        &["idea"],
    ),
    (
        Section::Push,
        "A month without income after a client paid 60 days late",
        Status::Validated,
        &[],
    ),
    (
        Section::Pull,
        "Peers who say they never chase payments any more",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Anxiety,
        "Will automated reminders sound rude?",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Inertia,
        "The spreadsheet works well enough most months",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Goal,
        "Receive payment within 14 days of delivery",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Hazard,
        "Losing a client over a payment dispute",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Define,
        "Decide the price and payment terms of the project",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Execute,
        "Send the invoice with the final files",
        Status::Hypothesis,
        &[],
    ),
    (
        Section::Monitor,
        "Check the bank account for the payment",
        Status::Hypothesis,
        &[],
    ),
];

/// Builds the sample canvas as `author`.
pub fn build(author: &str, now_ms: i64) -> Result<Canvas> {
    let mut canvas = Canvas::create(TITLE, author, now_ms)?;
    canvas.set_job(
        Some("a design project is delivered"),
        Some("get the invoice out and paid without awkward follow-ups"),
        Some("keep cash flowing and keep the client relationship warm"),
        now_ms,
    )?;
    canvas.set_customer(
        Some("user"),
        Some("Solo designers and two-person studios"),
        now_ms,
    )?;
    for (section, text, status, tags) in NOTES {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let id = canvas.add_note(*section, text, &tags, author, now_ms)?;
        if *status != Status::Hypothesis {
            canvas.mark(&id, *status, now_ms)?;
        }
    }
    Ok(canvas)
}
